//! Signing in with a passkey: alone (username-less from the browser's autofill, or for a named
//! user), or as the second step of a password sign-in (the `mfa_token` of `mfa_required`).
//!
//! The same lockout as passwords and codes holds: once the credential names the account, the
//! attempt is reserved under the (account, source) counts, so a locked account stays locked
//! whatever is presented, and an assertion that does not verify counts as a failure. An
//! unknown credential names no account and counts for none (as an unknown username).

use uuid::Uuid;

use crate::audit::AuditEvent;
use crate::error::CoreError;
use crate::lockout::{Attempt, Purpose};
use crate::mfa::MfaToken;
use crate::mfa::passkeys::{self, PasskeyChallenge};
use crate::sessions::{BrowserSignIn, ClientInfo, Sessions, TokenPair};
use crate::store::{
    Assurance, AttemptSuccess, Ceremony, CeremonyKind, ChallengeKind, MfaCompletion, MfaProof,
    PasskeyRecord, UserRecord,
};

/// How a passkey sign-in is started.
#[derive(Debug)]
pub enum PasskeySignIn {
    /// Username-less: whoever the authenticator's discoverable credential names.
    Discoverable,
    /// The passkeys of this username or email. An unknown one gets a username-less ceremony,
    /// so the answer never tells whether an account exists.
    Named(String),
    /// The second step of a password sign-in: the `mfa_token` of `mfa_required`.
    SecondFactor(String),
}

/// Who a finished ceremony signed in, and how.
#[derive(Debug)]
struct Finished {
    user: UserRecord,
    audience: Vec<String>,
    assurance: Assurance,
    read_at: chrono::DateTime<chrono::Utc>,
}

impl Sessions {
    /// The methods that may finish the open sign-in challenge of `token` (the second page
    /// shows only those), or `None` for an unknown, used or expired token.
    pub async fn challenge_methods(
        &self,
        token: &str,
    ) -> Result<Option<Vec<crate::mfa::MfaMethod>>, CoreError> {
        let Some(token) = MfaToken::parse(token) else {
            return Ok(None);
        };
        let Some(challenge) = self
            .store
            .find_mfa_challenge(&token.hash(), self.now())
            .await?
        else {
            return Ok(None);
        };
        let factors = self.store.mfa_factors(challenge.user_id).await?;
        Ok(Some(crate::mfa::methods_of(&factors)))
    }

    /// Whether passkeys work on this server (see `SecondFactors::relying_party`).
    pub fn passkeys_available(&self) -> bool {
        self.factors.relying_party().is_ok()
    }

    /// Starts a passkey sign-in: the options for `navigator.credentials.get()` and the id to
    /// finish with. `TokenInvalid` for an unknown, used or expired `mfa_token`; `Validation`
    /// when its user has no passkey.
    #[tracing::instrument(skip_all)]
    pub async fn begin_passkey_sign_in(
        &self,
        how: PasskeySignIn,
    ) -> Result<PasskeyChallenge, CoreError> {
        let rp = self.factors.relying_party()?;
        let now = self.now();
        let (kind, user_id, mfa_hash, (options, state)) = match how {
            PasskeySignIn::Discoverable => {
                (CeremonyKind::Login, None, None, rp.start_discoverable()?)
            }
            PasskeySignIn::Named(login) => {
                let user = match super::login::canonical_login(&login) {
                    Some(c) => self.store.find_user_by_login(&c).await?,
                    None => None,
                };
                let keys = match &user {
                    Some(u) => self.store.list_passkeys(u.id).await?,
                    None => Vec::new(),
                };
                match user.filter(|_| !keys.is_empty()) {
                    Some(u) => (
                        CeremonyKind::Login,
                        Some(u.id),
                        None,
                        rp.start_login(&keys)?,
                    ),
                    None => (CeremonyKind::Login, None, None, rp.start_discoverable()?),
                }
            }
            PasskeySignIn::SecondFactor(token) => {
                let token = MfaToken::parse(&token).ok_or(CoreError::TokenInvalid)?;
                let hash = token.hash();
                let challenge = self
                    .store
                    .find_mfa_challenge(&hash, now)
                    .await?
                    .ok_or(CoreError::TokenInvalid)?;
                let keys = self.store.list_passkeys(challenge.user_id).await?;
                if keys.is_empty() {
                    return Err(CoreError::field("mfa_token", "this account has no passkey"));
                }
                (
                    CeremonyKind::SecondFactor,
                    Some(challenge.user_id),
                    Some(hash),
                    rp.start_login(&keys)?,
                )
            }
        };
        let conditional = kind == CeremonyKind::Login && user_id.is_none();
        let (ceremony, challenge_id) =
            passkeys::new_ceremony(kind, user_id, mfa_hash, None, state, now);
        self.store.create_ceremony(&ceremony).await?;
        Ok(PasskeyChallenge {
            challenge_id,
            options,
            conditional,
        })
    }

    /// Finishes a passkey sign-in of the JSON API with the browser's answer: the login body's
    /// tokens. `PasskeyInvalid` when the passkey is not accepted; `TokenInvalid` when the
    /// second step's `mfa_token` was spent meanwhile; `AccountLocked`, `AccountDisabled`,
    /// `EmailNotVerified` as for a password.
    #[tracing::instrument(skip_all)]
    pub async fn finish_passkey_sign_in(
        &self,
        challenge_id: &str,
        credential: &serde_json::Value,
        client: ClientInfo,
    ) -> Result<TokenPair, CoreError> {
        let result = async {
            let done = self
                .finish_ceremony(challenge_id, credential, &client, ChallengeKind::Api)
                .await?;
            let audience = if done.audience.is_empty() {
                self.resolve_audience(None)?
            } else {
                done.audience
            };
            self.open_session(&done.user, audience, client, done.read_at, done.assurance)
                .await
        }
        .await;
        self.count_login(result.as_ref().map(|_| ()));
        result
    }

    /// The same, from the sign-in pages: a browser session.
    #[tracing::instrument(skip_all)]
    pub async fn finish_browser_passkey(
        &self,
        challenge_id: &str,
        credential: &serde_json::Value,
        client: &ClientInfo,
        replacing: Option<Uuid>,
    ) -> Result<BrowserSignIn, CoreError> {
        let result = async {
            let done = self
                .finish_ceremony(challenge_id, credential, client, ChallengeKind::Browser)
                .await?;
            self.open_browser_session(&done.user, client, replacing, None, done.assurance)
                .await
        }
        .await;
        self.count_login(result.as_ref().map(|_| ()));
        result
    }

    async fn finish_ceremony(
        &self,
        challenge_id: &str,
        credential: &serde_json::Value,
        client: &ClientInfo,
        via: ChallengeKind,
    ) -> Result<Finished, CoreError> {
        let hash = passkeys::ceremony_hash(challenge_id).ok_or(CoreError::PasskeyInvalid)?;
        let read_at = self.now();
        let ceremony = self
            .store
            .take_ceremony(&hash, read_at)
            .await?
            .filter(|c| c.kind != CeremonyKind::Register)
            .ok_or(CoreError::PasskeyInvalid)?;
        let assertion = passkeys::parse_assertion(credential)?;
        let passkey = self
            .store
            .find_passkey_by_credential(assertion.get_credential_id())
            .await?;
        // The credential must be one Sesame knows, of the user the ceremony was for, and —
        // when the authenticator names a user (discoverable credentials) — of that user.
        let named_by_authenticator = assertion
            .get_user_unique_id()
            .map(|h| Uuid::from_slice(h).ok());
        let Some(passkey) = passkey.filter(|p| {
            ceremony.user_id.is_none_or(|u| u == p.user_id)
                && named_by_authenticator.is_none_or(|u| u == Some(p.user_id))
        }) else {
            let entry = self.audit.entry(
                AuditEvent::LoginFailed,
                ceremony.user_id,
                client,
                serde_json::json!({"reason": "unknown_passkey", "via": via.as_str()}),
            );
            self.store.append_audit(&[entry]).await?;
            self.metrics.mfa("passkey_failed");
            return Err(CoreError::PasskeyInvalid);
        };
        let user = self
            .store
            .get_user(passkey.user_id)
            .await?
            .ok_or(CoreError::PasskeyInvalid)?;
        if user.disabled {
            return Err(CoreError::AccountDisabled);
        }
        match ceremony.kind {
            CeremonyKind::SecondFactor => {
                self.passkey_second_step(
                    &ceremony, &assertion, &passkey, user, client, via, read_at,
                )
                .await
            }
            _ => {
                self.passkey_first_step(&ceremony, &assertion, &passkey, user, client, via, read_at)
                    .await
            }
        }
    }

    /// A sign-in with the passkey alone.
    #[allow(clippy::too_many_arguments)]
    async fn passkey_first_step(
        &self,
        ceremony: &Ceremony,
        assertion: &webauthn_rs::prelude::PublicKeyCredential,
        passkey: &PasskeyRecord,
        user: UserRecord,
        client: &ClientInfo,
        via: ChallengeKind,
        read_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<Finished, CoreError> {
        if self.require_verified_email && !user.email_verified {
            return Err(CoreError::EmailNotVerified);
        }
        let attempt = self
            .passwords
            .begin_attempt(user.id, client, Purpose::Login)
            .await?;
        let used = self
            .verified_use(ceremony, assertion, passkey, &attempt, client, "login")
            .await?;
        if !self.store.use_passkey(&used, self.now()).await? {
            return Err(self
                .passkey_failed(&attempt, user.id, client, "counter_regressed", "login")
                .await);
        }
        let success = self.audit.entry(
            AuditEvent::LoginSucceeded,
            Some(user.id),
            client,
            serde_json::json!({"method": "passkey", "passkey_id": passkey.id, "via": via.as_str()}),
        );
        self.passwords
            .accept_attempt(attempt, AttemptSuccess::Login, &[success])
            .await?;
        self.metrics.mfa("passkey_sign_in");
        Ok(Finished {
            user,
            audience: Vec::new(),
            assurance: Assurance::passkey(),
            read_at,
        })
    }

    /// The second step of a password sign-in, finished with a passkey: the challenge and the
    /// passkey's counter are spent together.
    #[allow(clippy::too_many_arguments)]
    async fn passkey_second_step(
        &self,
        ceremony: &Ceremony,
        assertion: &webauthn_rs::prelude::PublicKeyCredential,
        passkey: &PasskeyRecord,
        user: UserRecord,
        client: &ClientInfo,
        via: ChallengeKind,
        read_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<Finished, CoreError> {
        let Some(mfa_hash) = ceremony.mfa_hash.as_deref() else {
            return Err(CoreError::PasskeyInvalid);
        };
        let challenge = self
            .store
            .find_mfa_challenge(mfa_hash, read_at)
            .await?
            .filter(|c| c.kind == via && c.user_id == user.id)
            .ok_or(CoreError::TokenInvalid)?;
        let attempt = self
            .passwords
            .begin_attempt(user.id, client, Purpose::SecondFactor)
            .await?;
        let used = self
            .verified_use(
                ceremony,
                assertion,
                passkey,
                &attempt,
                client,
                "second_factor",
            )
            .await?;
        match self
            .store
            .complete_mfa_challenge(mfa_hash, user.id, &MfaProof::Passkey(used), self.now(), &[])
            .await?
        {
            MfaCompletion::Completed => {}
            MfaCompletion::ChallengeGone => {
                self.passwords.release_attempt(attempt).await?;
                return Err(CoreError::TokenInvalid);
            }
            MfaCompletion::FactorRefused => {
                return Err(self
                    .passkey_failed(
                        &attempt,
                        user.id,
                        client,
                        "counter_regressed",
                        "second_factor",
                    )
                    .await);
            }
        }
        let success = self.audit.entry(
            AuditEvent::LoginSucceeded,
            Some(user.id),
            client,
            serde_json::json!({
                "audience": challenge.audience,
                "second_factor": "passkey",
                "passkey_id": passkey.id,
                "via": via.as_str(),
            }),
        );
        self.passwords
            .accept_attempt(attempt, AttemptSuccess::Login, &[success])
            .await?;
        self.metrics.mfa("verified");
        Ok(Finished {
            user,
            audience: challenge.audience,
            assurance: Assurance::password_and_passkey(),
            read_at,
        })
    }

    /// Verifies the assertion inside a reserved attempt; a refusal is counted as a failure.
    async fn verified_use(
        &self,
        ceremony: &Ceremony,
        assertion: &webauthn_rs::prelude::PublicKeyCredential,
        passkey: &PasskeyRecord,
        attempt: &Attempt,
        client: &ClientInfo,
        step: &str,
    ) -> Result<crate::store::PasskeyUse, CoreError> {
        match self
            .factors
            .relying_party()?
            .finish_login(assertion, &ceremony.state, passkey)
        {
            Ok(used) => Ok(used),
            Err(CoreError::PasskeyInvalid) => Err(self
                .passkey_failed(attempt, passkey.user_id, client, "assertion_refused", step)
                .await),
            Err(e) => Err(e),
        }
    }

    /// Counts a refused passkey toward the lockout (audited `mfa_failed`) and returns the
    /// error to answer with: `PasskeyInvalid`, or the store's error if the count failed.
    async fn passkey_failed(
        &self,
        attempt: &Attempt,
        user_id: Uuid,
        client: &ClientInfo,
        reason: &str,
        step: &str,
    ) -> CoreError {
        let failed = self.audit.entry(
            AuditEvent::MfaFailed,
            Some(user_id),
            client,
            serde_json::json!({"method": "passkey", "reason": reason, "step": step}),
        );
        self.metrics.mfa("failed");
        match self.passwords.code_failed(attempt, failed, client).await {
            Ok(()) => CoreError::PasskeyInvalid,
            Err(e) => e,
        }
    }
}
