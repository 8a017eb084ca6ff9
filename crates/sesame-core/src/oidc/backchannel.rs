//! OpenID Back-Channel Logout 1.0: telling an app that a person's session with it ended.
//!
//! The store's triggers write a row in the transaction that ends an app's session (see
//! migration 0017), so every way a session can end is covered and a crash delays a logout,
//! never drops it. The service's sender (`sesame::backchannel`) claims due rows under a lease,
//! POSTs each `logout_token`, and reports back here; this module decides what follows: done on
//! a 2xx, otherwise a retry — the first within 5 s, then doubling — until it gives up after
//! [`MAX_ATTEMPTS`] (about a day and a half of trying).

use std::time::Duration;

use serde::Serialize;

use super::Oidc;
use crate::error::CoreError;
use crate::store::{ClaimedLogout, LogoutOutcome};

/// The event a logout token carries.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// Logouts claimed per round.
pub const LOGOUT_BATCH: u32 = 32;
/// How long one POST may take.
pub const LOGOUT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a claimed row is kept from other workers (longer than an attempt).
const LEASE: chrono::Duration = chrono::Duration::seconds(30);
/// The first retry comes this long after a failure; each later one waits twice as long.
const FIRST_RETRY: chrono::Duration = chrono::Duration::seconds(5);
/// Attempts before a logout is given up (5 s · (2^15 − 1) ≈ 45 h of retries).
pub const MAX_ATTEMPTS: u32 = 16;
/// A logout token is short-lived: it is acted on when it arrives.
const TOKEN_TTL_SECS: i64 = 120;

/// The claims of a logout token (Back-Channel Logout 1.0 §2.4): no `nonce`, ever.
#[derive(Debug, Serialize)]
struct LogoutClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
    sub: String,
    sid: String,
    events: serde_json::Value,
}

/// What an attempt got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogoutAttempt {
    /// The app answered with this status.
    Answered(u16),
    /// No answer (refused, timed out, TLS failed): why.
    NoAnswer(String),
}

impl Oidc {
    /// Due logouts, claimed for this worker.
    pub async fn claim_logouts(&self) -> Result<Vec<ClaimedLogout>, CoreError> {
        let now = self.now();
        Ok(self
            .store
            .claim_backchannel(now, now + LEASE, LOGOUT_BATCH)
            .await?)
    }

    /// The signed `logout_token` for one delivery attempt (`typ: logout+jwt`, a fresh `jti`).
    pub fn logout_token(&self, logout: &ClaimedLogout) -> Result<String, CoreError> {
        let now = self.now().timestamp();
        let claims = LogoutClaims {
            iss: self.issuer.issuer(),
            aud: &logout.client_id,
            iat: now,
            exp: now + TOKEN_TTL_SECS,
            jti: uuid::Uuid::new_v4().to_string(),
            sub: logout.sub.to_string(),
            sid: logout.sid.to_string(),
            events: serde_json::json!({ BACKCHANNEL_LOGOUT_EVENT: {} }),
        };
        self.issuer.sign_logout_token(&claims)
    }

    /// Records an attempt and schedules what follows.
    pub async fn settle_logout(
        &self,
        logout: &ClaimedLogout,
        attempt: LogoutAttempt,
    ) -> Result<(), CoreError> {
        let outcome = match attempt {
            LogoutAttempt::Answered(status) if (200..300).contains(&status) => {
                LogoutOutcome::Delivered
            }
            other => {
                let error = match other {
                    LogoutAttempt::Answered(status) => format!("answered {status}"),
                    LogoutAttempt::NoAnswer(why) => why,
                };
                let attempts = logout.attempts + 1;
                if attempts >= MAX_ATTEMPTS {
                    tracing::warn!(client_id = %logout.client_id, attempts, %error, "back-channel logout given up");
                    LogoutOutcome::Failed { error }
                } else {
                    let wait = FIRST_RETRY * 2i32.pow(attempts - 1);
                    tracing::info!(client_id = %logout.client_id, attempts, %error, "back-channel logout failed; will retry");
                    LogoutOutcome::Retry {
                        at: self.now() + wait,
                        error,
                    }
                }
            }
        };
        Ok(self.store.settle_backchannel(logout.id, &outcome).await?)
    }
}
