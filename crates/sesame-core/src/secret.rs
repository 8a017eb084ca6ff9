//! Secrets as types: whatever holds one prints `[REDACTED]` in `Debug`, so it cannot reach a log
//! by accident.

pub use secrecy::{ExposeSecret, SecretBox, SecretString};

/// Raw secret bytes (private keys, MAC keys).
pub type SecretBytes = SecretBox<Vec<u8>>;

pub fn secret_bytes(bytes: Vec<u8>) -> SecretBytes {
    SecretBox::new(Box::new(bytes))
}
