//! What Sesame is, without HTTP or SQL: domain types that are valid once parsed, the use-cases,
//! the storage contract the store crates implement, the injected [`Clock`], password hashing off
//! the async runtime, and signing keys.
//!
//! # Where a behaviour lives
//!
//! [`Sesame`] is the composition root: [`Sesame::start`] builds the shared parts once and hands
//! out one capability per area. Each capability is a small struct holding only what it uses, so
//! its type shows a use-case's dependencies.
//!
//! | capability | module | use-cases |
//! |---|---|---|
//! | `sesame.accounts()` | [`accounts`] | register, create a user (CLI, bootstrap admin), profile, update profile (an email change sends a link), change password, delete own account, preferences |
//! | `sesame.sessions()` | [`sessions`] (`login.rs`) | login, refresh, logout, logout-all, list and end own sessions, authenticate a bearer token on Sesame's own API |
//! | `sesame.mfa()` | [`mfa`] | second factors: status, TOTP enrollment and removal, recovery codes, an admin's removal of every factor (the sign-in's second step is `sessions`) |
//! | `sesame.recovery()` | [`recovery`] | email verification (verify, resend, pending address), forgot password, reset password |
//! | `sesame.admin()` | [`admin`] | list/find/get users, disable, unlock, roles, end a user's sessions, delete, audit trail |
//! | `sesame.clients()` | [`clients`] | create, list, delete service clients |
//! | `sesame.oauth()` | [`oauth`] | client authentication, client credentials, token exchange, introspection, revocation, forward-auth's token check |
//! | `sesame.keys()` | [`keys`] | the published key ring, reload, rotation |
//! | `sesame.maintenance()` | [`maintenance`] | periodic purges |
//! | `sesame.outbox()` | [`outbox`] | the mail sender's lease, outcomes and retry backoff |
//! | `sesame.webhooks()` | [`webhooks`] | webhook endpoints (create, list, delete, deliveries); the delivery worker's lease, outcomes and retries |
//! | `sesame.importer(..)` | [`import`] | importing users with their password hashes |
//!
//! Shared pieces, used by several capabilities and never handed out: `audit::Auditor` (stamped
//! audit entries), `revocation::Revoker` (taking revocations into memory, deny-listing a token),
//! `tokens::Issuer` (signing and counting tokens, a user's token pair), `lockout::PasswordCheck`
//! (a typed password under the lockout rules), `email::Mailer` (queueing emailed links) and
//! `clients::ClientSecrets` (client-secret hashes).

pub mod accounts;
pub mod admin;
pub mod audit;
pub mod client_cache;
pub mod client_metadata;
pub mod clients;
pub mod clock;
pub mod domain;
pub mod email;
pub mod error;
pub mod form_tokens;
pub mod hash_format;
pub mod hash_gate;
pub mod hashing;
pub mod import;
pub mod keys;
pub mod lockout;
pub mod maintenance;
pub mod metrics;
pub mod mfa;
pub mod oauth;
pub mod oidc;
pub mod outbox;
pub mod outbox_signal;
pub mod profile_cache;
pub mod recovery;
pub mod refresh_token;
pub mod revocation;
pub mod secret;
pub mod service;
pub mod sessions;
pub mod settings;
pub mod status_list;
pub mod store;
pub mod tokens;
pub mod upstream;
pub mod webhooks;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::CoreError;
pub use service::Sesame;
pub use settings::Settings;
