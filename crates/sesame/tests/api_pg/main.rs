//! The HTTP integration suite of `tests/api` on PostgreSQL: the same modules, included by path,
//! each test on its own fresh database of one PostgreSQL server shared by this test process
//! (`sesame_testkit::PgCluster`). Only the modules about the SQLite binary itself (command line,
//! logs, `kill -9` durability) are left out.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(
    clippy::disallowed_methods,
    reason = "tests compare with, and stamp records by, the real time"
)]

#[path = "../api/helpers.rs"]
mod helpers;

/// Every app this binary spawns runs on PostgreSQL.
const BACKEND: helpers::Backend = helpers::Backend::Postgres;

#[path = "../api/smoke.rs"]
mod smoke;
// Signing up and in: registration, login, tokens, keys, error bodies, operations, the
// seed-compatible aliases.
#[path = "../api/compat_aliases.rs"]
mod compat_aliases;
#[path = "../api/errors.rs"]
mod errors;
#[path = "../api/keys.rs"]
mod keys;
#[path = "../api/login.rs"]
mod login;
#[path = "../api/ops.rs"]
mod ops;
#[path = "../api/register.rs"]
mod register;
#[path = "../api/tokens.rs"]
mod tokens;
// Living with an account: refresh, logout, sessions, password, profile, admin, OAuth, email,
// lockout.
#[path = "../api/admin.rs"]
mod admin;
#[path = "../api/email.rs"]
mod email;
#[path = "../api/last_admin.rs"]
mod last_admin;
#[path = "../api/lockout.rs"]
mod lockout;
#[path = "../api/logout.rs"]
mod logout;
#[path = "../api/oauth.rs"]
mod oauth;
#[path = "../api/oauth_clients.rs"]
mod oauth_clients;
#[path = "../api/oidc.rs"]
mod oidc;
#[path = "../api/password.rs"]
mod password;
#[path = "../api/profile.rs"]
mod profile;
#[path = "../api/refresh.rs"]
mod refresh;
#[path = "../api/security.rs"]
mod security;
#[path = "../api/sessions.rs"]
mod sessions;
// Issue 20: token status lists.
#[path = "../api/status_lists.rs"]
mod status_lists;
// Issue 19: second factors (the admin's removal mails through the email module's SMTP sink).
#[path = "../api/mfa.rs"]
mod mfa;
#[path = "../api/passkeys.rs"]
mod passkeys;
#[path = "../api/upstream.rs"]
mod upstream;
// Moving in with existing password hashes.
#[path = "../api/import.rs"]
mod import;
// Issue 16.1: storms of requests cut short, then storms of registrations.
#[path = "../api/storms.rs"]
mod storms;
// Issue 17: the pages, form by form (their browser sessions on PostgreSQL). The real-Chromium
// journeys run once, on SQLite (tests/api).
#[path = "../api/pages/mod.rs"]
mod pages;
// Issue 20: webhooks, delivered to a real receiver.
#[path = "../api/receiver.rs"]
mod receiver;
#[path = "../api/webhooks.rs"]
mod webhooks;
