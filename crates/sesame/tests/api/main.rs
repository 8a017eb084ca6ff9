//! HTTP integration tests: each test starts the real application (production wiring) on its own
//! port over real HTTPS, with its own fresh SQLite database and a manual clock (`tests/api_pg`
//! runs the same modules on PostgreSQL).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(
    clippy::disallowed_methods,
    reason = "tests compare with, and stamp records by, the real time"
)]

mod helpers;

/// This binary runs the suite on SQLite; `tests/api_pg` runs the same modules on PostgreSQL.
const BACKEND: helpers::Backend = helpers::Backend::Sqlite;

mod smoke;
// Signing up and in: registration, login, tokens, keys, error bodies, operations, the
// seed-compatible aliases.
mod compat_aliases;
mod errors;
mod keys;
mod login;
mod ops;
mod register;
mod tokens;
// Living with an account: refresh, logout, sessions, password, profile, admin, OAuth, email,
// lockout; the binary itself (command line, logs, durability under kill -9).
mod admin;
mod cli;
mod durability;
mod email;
mod last_admin;
mod lockout;
mod logout;
mod logs;
mod oauth;
mod oauth_clients;
mod oidc;
mod password;
mod profile;
mod refresh;
mod security;
mod sessions;
// Issue 20: token status lists.
mod status_lists;
// Issue 19: second factors.
mod mfa;
mod passkeys;
// Issue 22: sign in with another provider.
mod upstream;
// Moving in with existing password hashes.
mod import;
// Issue 16.1: storms of requests cut short, then storms of registrations.
mod storms;
// Issue 17: the browser pages, form by form over HTTP, and in a real Chromium.
mod browser;
mod pages;
// Issue 20: webhooks, delivered to a real receiver.
mod receiver;
mod webhooks;
