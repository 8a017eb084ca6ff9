//! HTTP integration tests: each test starts the real application (production wiring) on its own
//! port over real HTTPS, with its own fresh SQLite database and a manual clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;
mod smoke;
