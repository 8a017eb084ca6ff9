//! Real peers: a real nginx doing forward-auth through Sesame, and other ecosystems' libraries
//! (Python PyJWT and authlib, Node's jose) verifying Sesame's tokens and speaking its OAuth, the
//! Standard Webhooks libraries (Python and Node) verifying its webhooks, Python's pyotp reading
//! Sesame's otpauth URIs as an authenticator app does, and relying-party libraries (Node's
//! openid-client, Python's Authlib) signing a person in through Sesame in a headless Chromium.
//! Tools come from the package registries at test time: nginx from Debian (`.ci/run` installs it
//! when missing), Python and Node packages into a cache under the target directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(
    clippy::disallowed_methods,
    reason = "tests compare with, and stamp records by, the real time"
)]

#[path = "../api/helpers.rs"]
mod helpers;
mod interop;
mod mfa;
mod nginx;
mod status_lists;
mod tools;

/// The peers talk to Sesame on its embedded default store.
const BACKEND: helpers::Backend = helpers::Backend::Sqlite;

// Issue 20: webhooks, verified by the Standard Webhooks libraries.
#[path = "../api/receiver.rs"]
mod receiver;
mod webhooks;

// Issue 18: relying-party libraries sign a person in through Sesame in a headless Chromium,
// driven by the page tests' WebDriver harness (this binary uses part of it).
#[path = "../api/browser/harness.rs"]
#[allow(dead_code)]
mod harness;
mod relying_parties;
// Issue 22: sign in through a real OpenID provider (Node's oidc-provider).
mod upstream;
