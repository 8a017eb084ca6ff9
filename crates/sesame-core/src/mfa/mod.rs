//! Second factors: an authenticator app (TOTP, [`totp`]) and recovery codes
//! ([`recovery_codes`]), what a user does with them ([`Mfa`]: enroll, confirm, remove, new
//! codes; an admin removes them all), and the pieces the sign-in's second step shares with it
//! (`sessions/second_factor.rs`): the sealed secrets, the code checks, the `mfa_token`.
//!
//! Passkeys ([`passkeys`], the user's own in `own_passkeys.rs`) sit beside TOTP: a second
//! factor is "a confirmed TOTP or a passkey" ([`MfaFactors::has_second_factor`]), a challenge
//! lists the methods the user has, and recovery codes stand in for any of them.

mod own_passkeys;
pub mod passkeys;
pub mod recovery_codes;
pub mod totp;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::admin::Actor;
use crate::audit::{AuditEvent, Auditor};
use crate::clock::Clock;
use crate::email::Mailer;
use crate::error::CoreError;
use crate::lockout::{PasswordCheck, Purpose};
use crate::metrics::CoreMetrics;
use crate::secret::SecretBytes;
use crate::sessions::ClientInfo;
use crate::store::{MfaFactors, MfaProof, Store, UserRecord};

pub use recovery_codes::RecoveryCode;
pub use totp::{SecretCipher, TotpSecret};

/// How long the second step of a sign-in may take.
pub const CHALLENGE_TTL_SECS: i64 = 5 * 60;
/// How long a started enrollment waits for its first code. Bounded so that a pending secret does
/// not stay open for guessing (with a stolen access token) for ever; starting again is cheap.
pub const ENROLLMENT_TTL_SECS: i64 = 15 * 60;
/// 32 random bytes, base64url without padding.
const TOKEN_LEN: usize = 43;

/// The `mfa_token` of a sign-in waiting for its second factor. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct MfaToken(String);

impl std::fmt::Debug for MfaToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MfaToken([REDACTED])")
    }
}

impl MfaToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        MfaToken(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Accepts only the shape Sesame issues, so garbage never reaches the database.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        let ok = raw.len() == TOKEN_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| MfaToken(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the store keeps: 256 random bits leave nothing to brute-force, so SHA-256 is enough.
    pub fn hash(&self) -> Vec<u8> {
        Sha256::digest(self.0.as_bytes()).to_vec()
    }
}

/// A second factor a sign-in may be finished with (`methods` of `mfa_required`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaMethod {
    Totp,
    RecoveryCode,
    Passkey,
}

impl MfaMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            MfaMethod::Totp => "totp",
            MfaMethod::RecoveryCode => "recovery_code",
            MfaMethod::Passkey => "passkey",
        }
    }
}

/// The methods `factors` offer for the second step.
pub fn methods_of(factors: &MfaFactors) -> Vec<MfaMethod> {
    let mut methods = Vec::new();
    if factors.has_totp() {
        methods.push(MfaMethod::Totp);
    }
    if factors.passkeys > 0 {
        methods.push(MfaMethod::Passkey);
    }
    if factors.has_second_factor() && factors.recovery_codes_left > 0 {
        methods.push(MfaMethod::RecoveryCode);
    }
    methods
}

/// A password was right and a second factor is needed: the token that finishes the sign-in
/// and the methods that may.
#[derive(Debug, Clone)]
pub struct MfaChallenge {
    pub token: MfaToken,
    pub methods: Vec<MfaMethod>,
    pub expires_at: DateTime<Utc>,
}

/// A second-factor code as typed. `Debug` hides it: a code may still be good for a few seconds.
#[derive(Clone)]
pub enum SecondFactorCode {
    /// The six digits of an authenticator app.
    Totp(String),
    /// A recovery code.
    Recovery(String),
}

impl std::fmt::Debug for SecondFactorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SecondFactorCode::Totp(_) => "Totp([REDACTED])",
            SecondFactorCode::Recovery(_) => "Recovery([REDACTED])",
        })
    }
}

impl SecondFactorCode {
    pub fn method(&self) -> MfaMethod {
        match self {
            SecondFactorCode::Totp(_) => MfaMethod::Totp,
            SecondFactorCode::Recovery(_) => MfaMethod::RecoveryCode,
        }
    }
}

/// The keys and checks of second factors, shared by [`Mfa`] (enrollment) and the sign-in's
/// second step.
#[derive(Debug, Clone)]
pub(crate) struct SecondFactors {
    cipher: Arc<SecretCipher>,
    recovery_key: Arc<SecretBytes>,
    /// `None` when the issuer's host is an IP address and no RP id is set: WebAuthn binds
    /// credentials to a domain, so passkeys are unavailable (everything else works).
    relying_party: Option<passkeys::RelyingParty>,
}

impl SecondFactors {
    pub(crate) fn new(
        cipher: SecretCipher,
        recovery_key: SecretBytes,
        relying_party: Option<passkeys::RelyingParty>,
    ) -> Self {
        SecondFactors {
            cipher: Arc::new(cipher),
            recovery_key: Arc::new(recovery_key),
            relying_party,
        }
    }

    pub(crate) fn relying_party(&self) -> Result<&passkeys::RelyingParty, CoreError> {
        self.relying_party
            .as_ref()
            .ok_or(CoreError::PasskeysUnavailable)
    }

    pub(crate) fn cipher(&self) -> &SecretCipher {
        &self.cipher
    }

    /// A new set of recovery codes: to show, and to store.
    pub(crate) fn new_recovery_codes(&self) -> (Vec<RecoveryCode>, Vec<Vec<u8>>) {
        recovery_codes::new_set(&self.recovery_key)
    }

    /// What `code` would spend, if it can spend anything: the matching time step of the
    /// user's confirmed TOTP, or a recovery code's hash. `None` is a wrong code.
    pub(crate) fn proof(
        &self,
        user_id: Uuid,
        factors: &MfaFactors,
        code: &SecondFactorCode,
        now: DateTime<Utc>,
    ) -> Result<Option<MfaProof>, CoreError> {
        match code {
            SecondFactorCode::Totp(typed) => {
                let Some(totp) = factors.totp.as_ref().filter(|t| t.confirmed_at.is_some()) else {
                    return Ok(None);
                };
                let secret = self.cipher.open(user_id, &totp.secret)?;
                Ok(secret.matching_step(typed, now).map(MfaProof::TotpStep))
            }
            SecondFactorCode::Recovery(typed) => {
                if factors.recovery_codes_left == 0 {
                    return Ok(None);
                }
                Ok(recovery_codes::hash(&self.recovery_key, typed).map(MfaProof::RecoveryCode))
            }
        }
    }
}

/// What `GET /auth/mfa` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaStatus {
    /// A confirmed authenticator app.
    pub totp: bool,
    pub passkeys: u32,
    pub recovery_codes_left: u32,
}

/// A TOTP enrollment waiting for its first code: shown this once.
#[derive(Debug)]
pub struct TotpEnrollment {
    /// Base32, for typing into an app.
    pub secret: SecretString,
    /// For a QR code.
    pub otpauth_uri: SecretString,
}

/// A user's own second factors, and an admin's removal of them.
#[derive(Debug, Clone)]
pub struct Mfa {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    audit: Auditor,
    passwords: PasswordCheck,
    factors: SecondFactors,
    mailer: Mailer,
    metrics: Arc<CoreMetrics>,
    /// The issuer an authenticator app shows beside the code.
    product_name: String,
    /// `SESAME_MFA_REQUIRED_ROLES`: people with one of these are asked to enroll at sign-in.
    required_roles: Vec<String>,
}

impl Mfa {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        audit: Auditor,
        passwords: PasswordCheck,
        factors: SecondFactors,
        mailer: Mailer,
        metrics: Arc<CoreMetrics>,
        product_name: String,
        required_roles: Vec<String>,
    ) -> Self {
        Mfa {
            store,
            clock,
            audit,
            passwords,
            factors,
            mailer,
            metrics,
            product_name,
            required_roles,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    async fn user(&self, user_id: Uuid) -> Result<UserRecord, CoreError> {
        crate::accounts::profile(self.store.as_ref(), user_id).await
    }

    pub async fn status(&self, user_id: Uuid) -> Result<MfaStatus, CoreError> {
        let factors = self.store.mfa_factors(user_id).await?;
        Ok(MfaStatus {
            totp: factors.has_totp(),
            passkeys: factors.passkeys,
            recovery_codes_left: if factors.has_second_factor() {
                factors.recovery_codes_left
            } else {
                0
            },
        })
    }

    /// Whether the person must set up a second factor before going on: a role of theirs is in
    /// `SESAME_MFA_REQUIRED_ROLES` and they have none (the sign-in page sends them to enroll).
    pub async fn must_enroll(&self, user_id: Uuid) -> Result<bool, CoreError> {
        let user = self.user(user_id).await?;
        if !user.roles.iter().any(|r| self.required_roles.contains(r)) {
            return Ok(false);
        }
        Ok(!self.store.mfa_factors(user.id).await?.has_second_factor())
    }

    /// The enrollment started by [`Mfa::begin_totp`] and not yet confirmed, shown again to the
    /// same signed-in person (the page asks again after a mistyped code); `None` when there is
    /// none or it ran out ([`ENROLLMENT_TTL_SECS`]). A confirmed secret is never shown again.
    pub async fn pending_totp(&self, user_id: Uuid) -> Result<Option<TotpEnrollment>, CoreError> {
        let factors = self.store.mfa_factors(user_id).await?;
        let Some(pending) = factors.totp.as_ref().filter(|t| t.confirmed_at.is_none()) else {
            return Ok(None);
        };
        if self.now() - pending.created_at > chrono::Duration::seconds(ENROLLMENT_TTL_SECS) {
            return Ok(None);
        }
        let user = self.user(user_id).await?;
        let secret = self.factors.cipher().open(user_id, &pending.secret)?;
        Ok(Some(TotpEnrollment {
            otpauth_uri: totp::otpauth_uri(&secret, &self.product_name, &user.email),
            secret: secret.base32(),
        }))
    }

    /// Starts enrolling an authenticator app, after the password (checked under the lockout
    /// rules): a new secret, pending until a first code confirms it (a pending one is replaced).
    /// `MfaAlreadyEnrolled` when one is confirmed already.
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn begin_totp(
        &self,
        user_id: Uuid,
        password: &SecretString,
        client: &ClientInfo,
    ) -> Result<TotpEnrollment, CoreError> {
        let user = self.user(user_id).await?;
        self.passwords
            .check_current_password(&user, password, client, Purpose::SecondFactorChange)
            .await?;
        let secret = TotpSecret::generate();
        let sealed = self.factors.cipher().seal(user_id, &secret)?;
        if !self.store.begin_totp(user_id, &sealed, self.now()).await? {
            return Err(CoreError::MfaAlreadyEnrolled);
        }
        Ok(TotpEnrollment {
            otpauth_uri: totp::otpauth_uri(&secret, &self.product_name, &user.email),
            secret: secret.base32(),
        })
    }

    /// Confirms the pending authenticator app with a code from it; returns the recovery codes,
    /// to be shown this once (only their hashes are kept). The code's step is recorded as used,
    /// so the same code cannot sign in afterwards. A wrong code counts toward the lockout like a
    /// wrong password (whoever holds a stolen token must not get unlimited guesses at a pending
    /// secret, whose confirmation would hand them recovery codes); an enrollment not confirmed
    /// within [`ENROLLMENT_TTL_SECS`] must be started again (`MfaNotEnrolled`).
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn confirm_totp(
        &self,
        user_id: Uuid,
        code: &str,
        client: &ClientInfo,
    ) -> Result<Vec<RecoveryCode>, CoreError> {
        let now = self.now();
        let factors = self.store.mfa_factors(user_id).await?;
        let Some(pending) = factors.totp.as_ref().filter(|t| t.confirmed_at.is_none()) else {
            return Err(if factors.has_totp() {
                CoreError::MfaAlreadyEnrolled
            } else {
                CoreError::MfaNotEnrolled
            });
        };
        if now - pending.created_at > chrono::Duration::seconds(ENROLLMENT_TTL_SECS) {
            return Err(CoreError::MfaNotEnrolled);
        }
        let attempt = self
            .passwords
            .begin_attempt(user_id, client, Purpose::SecondFactorChange)
            .await?;
        let secret = self.factors.cipher().open(user_id, &pending.secret)?;
        let Some(step) = secret.matching_step(code, now) else {
            let failed = self.audit.entry(
                AuditEvent::MfaFailed,
                Some(user_id),
                client,
                serde_json::json!({"method": "totp", "reason": "wrong_code", "via": "enrollment"}),
            );
            self.passwords.code_failed(&attempt, failed, client).await?;
            return Err(CoreError::EnrollmentCodeInvalid);
        };
        // A right code proves the app, not the person: the counts stay as they are.
        self.passwords.release_attempt(attempt).await?;
        let (codes, hashes) = self.factors.new_recovery_codes();
        let entry = self.audit.entry(
            AuditEvent::MfaEnrolled,
            Some(user_id),
            client,
            serde_json::json!({"method": "totp", "recovery_codes": hashes.len()}),
        );
        if !self
            .store
            .confirm_totp(user_id, step, &hashes, now, &[entry])
            .await?
        {
            // Confirmed (or removed) by a request that raced this one.
            return Err(CoreError::MfaNotEnrolled);
        }
        self.metrics.mfa("enrolled");
        Ok(codes)
    }

    /// Removes the authenticator app, after the password; with it go the recovery codes when
    /// no passkey is left. Nothing to remove is not an error.
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn remove_totp(
        &self,
        user_id: Uuid,
        password: &SecretString,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        let user = self.user(user_id).await?;
        self.passwords
            .check_current_password(&user, password, client, Purpose::SecondFactorChange)
            .await?;
        let entry = self.audit.entry(
            AuditEvent::MfaRemoved,
            Some(user_id),
            client,
            serde_json::json!({"method": "totp", "by": "user"}),
        );
        if self.store.remove_totp(user_id, &[entry]).await? {
            self.metrics.mfa("removed");
        }
        Ok(())
    }

    /// A new set of recovery codes, after the password; the old set dies. `MfaNotEnrolled`
    /// without a second factor (codes would stand in for nothing).
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn new_recovery_codes(
        &self,
        user_id: Uuid,
        password: &SecretString,
        client: &ClientInfo,
    ) -> Result<Vec<RecoveryCode>, CoreError> {
        let user = self.user(user_id).await?;
        self.passwords
            .check_current_password(&user, password, client, Purpose::SecondFactorChange)
            .await?;
        let (codes, hashes) = self.factors.new_recovery_codes();
        let entry = self.audit.entry(
            AuditEvent::RecoveryCodesRegenerated,
            Some(user_id),
            client,
            serde_json::json!({"recovery_codes": hashes.len()}),
        );
        if !self
            .store
            .replace_recovery_codes(user_id, &hashes, self.now(), &[entry])
            .await?
        {
            return Err(CoreError::MfaNotEnrolled);
        }
        Ok(codes)
    }

    /// An admin removes every second factor of a user (the help desk's recovery for a lost
    /// phone): audited under the admin's id, and the user is emailed that it happened, in the
    /// same transaction — social engineering of a help desk is how second factors usually
    /// fail, and the mail is how the owner learns of it. `NotFound` for no such user; nothing
    /// enrolled is not an error (and sends nothing).
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn remove_all(&self, user_id: Uuid, actor: &Actor) -> Result<bool, CoreError> {
        let user = self
            .store
            .get_user(user_id)
            .await?
            .ok_or(CoreError::NotFound)?;
        let notice = self.mailer.mfa_removed_notice(&user);
        let by = if actor.admin_id.is_nil() {
            serde_json::json!("command_line")
        } else {
            serde_json::json!(actor.admin_id)
        };
        let entry = self.audit.entry(
            AuditEvent::MfaRemoved,
            Some(user_id),
            &actor.client,
            serde_json::json!({"method": "all", "by": by, "message_id": notice.id}),
        );
        let removed = self.store.remove_mfa(user_id, &notice, &[entry]).await?;
        if removed {
            self.mailer.queued();
            self.metrics.mfa("removed");
            tracing::info!(%user_id, by = %by, "every second factor removed by an admin");
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mfa_tokens_are_256_bit_and_hidden() {
        let t = MfaToken::generate();
        assert_eq!(t.as_str().len(), TOKEN_LEN);
        assert_eq!(MfaToken::parse(t.as_str()), Some(t.clone()));
        assert!(MfaToken::parse("short").is_none());
        assert!(MfaToken::parse(&"+".repeat(TOKEN_LEN)).is_none());
        assert!(!format!("{t:?}").contains(t.as_str()));
        let code = SecondFactorCode::Totp("123456".into());
        assert!(!format!("{code:?}").contains("123456"));
    }
}
