//! What Sesame is, without HTTP or SQL: domain types that are valid once parsed, the use-cases
//! (accounts, sessions, tokens, keys), the storage contract the store crates implement, the
//! injected [`Clock`], password hashing off the async runtime, and signing keys.

pub mod accounts;
pub mod admin;
pub mod client_cache;
pub mod clients;
pub mod clock;
pub mod domain;
pub mod email;
pub mod error;
pub mod hash_format;
pub mod hash_gate;
pub mod hashing;
pub mod import;
pub mod keys;
pub mod lockout;
pub mod maintenance;
pub mod metrics;
pub mod outbox;
pub mod revocation;
pub mod secret;
pub mod service;
pub mod sessions;
pub mod settings;
pub mod store;
pub mod tokens;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::CoreError;
pub use service::Sesame;
pub use settings::Settings;
