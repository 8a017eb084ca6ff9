//! The gallery's API, as a client sees it, with sesame-verify's TestIssuer standing in for
//! Sesame. Every test gets its own issuer, data directory and port.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod auth;
mod files;
mod helpers;
mod images;
