//! sesame-verify's integration tests: hostile tokens, the remote key cache, the axum extractors
//! (all against the crate's own `TestIssuer`), and a real Sesame over HTTPS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(
    clippy::disallowed_methods,
    reason = "tests compare with, and stamp records by, the real time"
)]

mod cache;
mod extract;
mod helpers;
mod hostile;
mod real_sesame;
mod remote;
mod status_lists;
