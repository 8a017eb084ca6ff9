//! Ports for servers a test starts itself.

use std::net::TcpListener;

use anyhow::{Context, Result};

/// A port nothing listens on right now (the OS picks it). Another process may take it before
/// the caller binds it: callers that can, bind port 0 themselves instead; the others (a child
/// process told its port, an issuer URL fixed before the server starts) retry on failure.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_free_port_can_be_bound() {
        let port = free_port().unwrap();
        assert_ne!(port, 0);
        TcpListener::bind(("127.0.0.1", port)).unwrap();
    }
}
