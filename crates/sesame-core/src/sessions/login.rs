//! Signing in: the password check under the lockout rules, the audit of every outcome, and a
//! new session for the right password — or, for a user with a second factor, a challenge that
//! the second step (`second_factor.rs`) finishes.

use secrecy::SecretString;

use crate::audit::AuditEvent;
use crate::domain::{Email, Username};
use crate::error::{Chain, CoreError};
use crate::hashing::Upgrade;
use crate::lockout::Purpose;
use crate::sessions::{ClientInfo, Sessions, TokenPair};
use crate::store::{Assurance, AttemptSuccess, ChallengeKind, UserRecord};

/// What a right password leads to.
#[derive(Debug)]
pub(crate) enum Credentials {
    /// Signed in: the user, and when it was read (for the roles' freshness).
    SignedIn(UserRecord, chrono::DateTime<chrono::Utc>),
    /// The user has a second factor: the sign-in is not complete (no count restarted, no
    /// success audited); a challenge follows.
    SecondFactorNeeded(UserRecord),
}

#[derive(Debug)]
pub struct Login {
    /// A username or an email.
    pub login: String,
    pub password: SecretString,
    /// Requested audiences; `None` means the default one.
    pub audience: Option<Vec<String>>,
    pub client: ClientInfo,
}

impl Sessions {
    /// Logs in: answers the same 401 for an unknown account and a wrong password (the unknown
    /// account is checked against a dummy hash, so it costs the same time). Wrong passwords are
    /// counted per source under the lockout rules of [`crate::lockout`].
    #[tracing::instrument(skip_all)]
    pub async fn login(&self, input: Login) -> Result<TokenPair, CoreError> {
        let result = self.login_inner(input).await;
        self.count_login(result.as_ref().map(|_| ()));
        result
    }

    /// The `sesame_logins_total` outcome of a sign-in, by API or by page.
    pub(crate) fn count_login(&self, result: Result<(), &CoreError>) {
        self.metrics.login(match result {
            Ok(()) => "success",
            Err(CoreError::InvalidCredentials) => "invalid_credentials",
            Err(CoreError::MfaRequired(_)) => "mfa_required",
            Err(CoreError::MfaCodeInvalid) => "invalid_mfa_code",
            Err(CoreError::AccountLocked { .. }) => "locked",
            Err(CoreError::AccountDisabled) => "disabled",
            Err(CoreError::EmailNotVerified) => "email_not_verified",
            Err(CoreError::InvalidAudience(_) | CoreError::Validation(_)) => "invalid_request",
            Err(_) => "error",
        });
    }

    async fn login_inner(&self, input: Login) -> Result<TokenPair, CoreError> {
        let audience = self.resolve_audience(input.audience)?;
        match self
            .check_credentials(
                &input.login,
                &input.password,
                &input.client,
                serde_json::json!({"audience": audience}),
            )
            .await?
        {
            Credentials::SignedIn(user, read_at) => {
                self.open_session(
                    &user,
                    audience,
                    input.client,
                    read_at,
                    Assurance::password(),
                )
                .await
            }
            Credentials::SecondFactorNeeded(user) => Err(CoreError::MfaRequired(Box::new(
                self.challenge(&user, ChallengeKind::Api, audience).await?,
            ))),
        }
    }

    /// The password check of every sign-in, JSON or page: the same 401 for an unknown account
    /// and a wrong password (the unknown account is checked against a dummy hash, so it costs
    /// the same time), wrong passwords counted per source under the lockout rules of
    /// [`crate::lockout`], every outcome audited (`succeeded` is the detail of the success
    /// entry). A user with a second factor is not signed in by the password alone: the counts
    /// stay and the caller opens a challenge ([`Credentials::SecondFactorNeeded`]).
    pub(crate) async fn check_credentials(
        &self,
        login: &str,
        password: &SecretString,
        client: &ClientInfo,
        succeeded: serde_json::Value,
    ) -> Result<Credentials, CoreError> {
        let canonical = canonical_login(login);
        // Before the read: the token's roles are no fresher than this (see `Issuer::jti_at`).
        let read_at = self.now();
        let user = match canonical {
            Some(c) => self.store.find_user_by_login(&c).await?,
            None => None,
        };
        let Some(user) = user else {
            let started = std::time::Instant::now();
            // Same cost as a wrong password: a check against a dummy hash.
            self.hasher.check(password, None).await?;
            // The typed name may be a password typed in the wrong field: only a keyed hash of
            // it is kept, enough to see the same unknown name tried again.
            let entry = self.audit.entry(
                AuditEvent::LoginFailed,
                None,
                client,
                serde_json::json!({
                    "reason": "unknown_account",
                    "login_hmac": self.login_name_mac(login),
                }),
            );
            self.store.append_audit(&[entry]).await?;
            // A wrong password also reserves an attempt and records the failure (two writes the
            // unknown account has no row for): answering without them would tell, by a few
            // milliseconds on a database that syncs each commit, which accounts exist. The
            // answer waits until a wrong password's usual time has passed.
            self.wrong_password_time.pad(started.elapsed()).await;
            return Err(CoreError::InvalidCredentials);
        };
        let started = std::time::Instant::now();
        // Reserved before hashing: a locked source is refused without a check.
        let attempt = self
            .passwords
            .begin_attempt(user.id, client, Purpose::Login)
            .await?;
        let Some(checked) = self
            .passwords
            .check_in_attempt(&attempt, &user, password, client)
            .await?
        else {
            self.wrong_password_time.note(started.elapsed());
            return Err(CoreError::InvalidCredentials);
        };
        if user.disabled {
            self.passwords.release_attempt(attempt).await?;
            let entry = self.audit.entry(
                AuditEvent::LoginFailed,
                Some(user.id),
                client,
                serde_json::json!({"reason": "account_disabled"}),
            );
            self.store.append_audit(&[entry]).await?;
            return Err(CoreError::AccountDisabled);
        }
        if self.require_verified_email && !user.email_verified {
            self.passwords.release_attempt(attempt).await?;
            let entry = self.audit.entry(
                AuditEvent::LoginFailed,
                Some(user.id),
                client,
                serde_json::json!({"reason": "email_not_verified"}),
            );
            self.store.append_audit(&[entry]).await?;
            return Err(CoreError::EmailNotVerified);
        }
        // Read after the password proved right: an unknown or wrong login costs no extra read.
        let second_factor = match self.store.mfa_factors(user.id).await {
            Ok(factors) => factors.has_second_factor(),
            Err(e) => {
                self.passwords.release_attempt(attempt).await?;
                return Err(e.into());
            }
        };
        let outcome = if second_factor {
            // Accepted only if no lock was set while the password was being hashed; the
            // counts stay until the second factor is right too.
            self.passwords
                .accept_attempt(attempt, AttemptSuccess::FirstFactor, &[])
                .await?;
            Credentials::SecondFactorNeeded(user.clone())
        } else {
            let entry =
                self.audit
                    .entry(AuditEvent::LoginSucceeded, Some(user.id), client, succeeded);
            // Accepted only if no lock was set while the password was being hashed.
            self.passwords
                .accept_attempt(attempt, AttemptSuccess::Login, &[entry])
                .await?;
            Credentials::SignedIn(user.clone(), read_at)
        };
        if let Some(upgrade) = checked.upgrade {
            self.upgrade_hash(&user, password, upgrade, client).await;
        }
        Ok(outcome)
    }

    /// A keyed hash (HMAC-SHA-256 under an instance secret, truncated to 128 bits, hex) of a
    /// login name as typed: it links repeated attempts on the same unknown name in the audit
    /// trail without keeping the text, which may be a password typed in the wrong field.
    fn login_name_mac(&self, login: &str) -> String {
        use aws_lc_rs::hmac;
        use secrecy::ExposeSecret;
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.refresh_mac_key.expose_secret());
        // A key of its own, derived from the instance secret, so this MAC never equals a
        // refresh-token successor.
        let derived = hmac::sign(&key, b"sesame audit login name v1");
        let key = hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref());
        let tag = hmac::sign(&key, login.trim().as_bytes());
        tag.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Replaces a hash that just verified by argon2id at the configured cost (transparent
    /// upgrade of imported hashes, and of argon2 hashes once the configured cost rises),
    /// audited `password_rehashed` with the old scheme and cost — never the hash. Best effort:
    /// the login succeeds whatever happens here, and a failed upgrade is tried again at the
    /// next login. The update is conditional on the old hash, so a password changed meanwhile
    /// is never overwritten.
    async fn upgrade_hash(
        &self,
        user: &UserRecord,
        password: &SecretString,
        upgrade: Upgrade,
        client: &ClientInfo,
    ) {
        let new_hash = match self.hasher.hash(password).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(user_id = %user.id, error = %Chain(&e), "password hash upgrade postponed");
                return;
            }
        };
        let entry = self.audit.entry(
            AuditEvent::PasswordRehashed,
            Some(user.id),
            client,
            serde_json::json!({
                "from": upgrade.from.scheme.as_str(),
                "from_cost": upgrade.from.cost.to_string(),
                "to": "argon2id",
                "to_cost": self.hasher.configured_cost(),
                "reason": upgrade.reason.as_str(),
            }),
        );
        match self
            .store
            .rehash_password(user.id, &user.password_hash, &new_hash, &[entry])
            .await
        {
            Ok(true) => {
                tracing::info!(user_id = %user.id, from = upgrade.from.scheme.as_str(), "password hash upgraded to argon2id")
            }
            Ok(false) => {
                tracing::info!(user_id = %user.id, "password changed meanwhile; hash upgrade skipped")
            }
            Err(e) => {
                tracing::warn!(user_id = %user.id, error = %Chain(&e), "password hash upgrade postponed")
            }
        }
    }

    /// The audiences of a token: each requested one must be configured; none means the default.
    pub(crate) fn resolve_audience(
        &self,
        requested: Option<Vec<String>>,
    ) -> Result<Vec<String>, CoreError> {
        let allowed = &self.audiences;
        match requested {
            None => Ok(vec![allowed.first().cloned().unwrap_or_default()]),
            Some(list) if list.is_empty() => {
                Err(CoreError::InvalidAudience("no audience requested".into()))
            }
            Some(list) => {
                if let Some(bad) = list.iter().find(|a| !allowed.contains(a)) {
                    return Err(CoreError::InvalidAudience(format!(
                        "audience '{bad}' is not allowed"
                    )));
                }
                let mut list = list;
                list.dedup();
                Ok(list)
            }
        }
    }
}

/// The canonical form of a login name: an email when it has an `@`, else a username.
pub(super) fn canonical_login(login: &str) -> Option<String> {
    let login = login.trim();
    if login.contains('@') {
        Email::parse(login).ok().map(|e| e.canonical())
    } else {
        Username::parse(login).ok().map(|u| u.canonical())
    }
}

/// How long a wrong password for a known account takes to answer (hash and lockout writes), as a
/// moving average: what an unknown account's answer is padded to, so the two cannot be told
/// apart by their timing. Starts at zero (no padding until a wrong password has been seen).
#[derive(Debug, Default)]
pub(crate) struct WrongPasswordTime {
    nanos: std::sync::atomic::AtomicU64,
}

impl WrongPasswordTime {
    /// Adds one wrong password's time (weight 1/8: a few recent ones dominate).
    pub(crate) fn note(&self, took: std::time::Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        let took = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let _ = self.nanos.fetch_update(Relaxed, Relaxed, |avg| {
            Some(if avg == 0 {
                took
            } else {
                avg - avg / 8 + took / 8
            })
        });
    }

    /// Waits until the average has passed since the answer started (`spent` ago).
    pub(crate) async fn pad(&self, spent: std::time::Duration) {
        let avg =
            std::time::Duration::from_nanos(self.nanos.load(std::sync::atomic::Ordering::Relaxed));
        if let Some(rest) = avg.checked_sub(spent) {
            tokio::time::sleep(rest).await;
        }
    }
}

#[cfg(test)]
mod wrong_password_time_tests {
    use super::WrongPasswordTime;
    use std::time::Duration;

    #[test]
    fn the_average_follows_wrong_passwords() {
        let t = WrongPasswordTime::default();
        t.note(Duration::from_millis(40));
        assert_eq!(
            t.nanos.load(std::sync::atomic::Ordering::Relaxed),
            40_000_000
        );
        for _ in 0..40 {
            t.note(Duration::from_millis(8));
        }
        let avg = t.nanos.load(std::sync::atomic::Ordering::Relaxed);
        assert!((8_000_000..9_000_000).contains(&avg), "{avg}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_unknown_account_waits_out_the_rest_of_the_average() {
        let t = WrongPasswordTime::default();
        t.note(Duration::from_millis(30));
        let started = tokio::time::Instant::now();
        t.pad(Duration::from_millis(10)).await;
        assert_eq!(started.elapsed(), Duration::from_millis(20));
        let started = tokio::time::Instant::now();
        t.pad(Duration::from_millis(50)).await;
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "never longer than needed"
        );
    }
}
