//! The second step of a sign-in: a right password of a user with a second factor opens a
//! challenge (stored by the hash of its `mfa_token`, five minutes, this user only, so any
//! replica can finish it), and a right code finishes it with a session whose tokens say
//! `amr: [pwd, otp, mfa]`, `acr: aal2`.
//!
//! Codes count toward the very same lockout as passwords (`lockout`): each check is a reserved
//! attempt of the (account, source); a wrong or replayed code is a failure of it, and a right
//! one the success that restarts the counts. A wrong code leaves the challenge as it was; the
//! challenge and the factor (a time step, a recovery code) are spent together, in one
//! transaction, so neither is used up by a sign-in that did not happen.

use chrono::Duration;

use crate::audit::AuditEvent;
use crate::error::CoreError;
use crate::lockout::Purpose;
use crate::mfa::{CHALLENGE_TTL_SECS, MfaChallenge, MfaToken, SecondFactorCode, methods_of};
use crate::sessions::{ClientInfo, Sessions, TokenPair};
use crate::store::{
    Assurance, AttemptSuccess, ChallengeKind, MfaCompletion, MfaProof, NewMfaChallenge, UserRecord,
};

/// The second step, as `POST /auth/mfa/verify` asks for it.
#[derive(Debug)]
pub struct MfaVerification {
    /// The `mfa_token` of `mfa_required`, as sent.
    pub token: String,
    pub code: SecondFactorCode,
    pub client: ClientInfo,
}

/// A finished second step: the user, and the audiences the sign-in asked for.
#[derive(Debug)]
pub(crate) struct SecondStep {
    pub(crate) user: UserRecord,
    pub(crate) audience: Vec<String>,
    pub(crate) read_at: chrono::DateTime<chrono::Utc>,
}

impl Sessions {
    /// Opens the second step of `user`'s sign-in: a fresh `mfa_token`, stored by its hash.
    pub(crate) async fn challenge(
        &self,
        user: &UserRecord,
        kind: ChallengeKind,
        audience: Vec<String>,
    ) -> Result<MfaChallenge, CoreError> {
        let factors = self.store.mfa_factors(user.id).await?;
        let token = MfaToken::generate();
        let now = self.now();
        let expires_at = now + Duration::seconds(CHALLENGE_TTL_SECS);
        self.store
            .create_mfa_challenge(&NewMfaChallenge {
                hash: token.hash(),
                user_id: user.id,
                kind,
                audience,
                created_at: now,
                expires_at,
            })
            .await?;
        Ok(MfaChallenge {
            token,
            methods: methods_of(&factors),
            expires_at,
        })
    }

    /// Finishes a sign-in with its second factor: the login body's tokens, in a new session
    /// whose tokens carry `acr: aal2`. `TokenInvalid` for an unknown, used or expired
    /// `mfa_token` (nothing counted: no account is named); `MfaCodeInvalid` for a wrong or
    /// replayed code (counted toward the lockout; the token stays usable);
    /// `AccountLocked` once the lock holds, even for the right code.
    #[tracing::instrument(skip_all)]
    pub async fn verify_mfa(&self, input: MfaVerification) -> Result<TokenPair, CoreError> {
        let result = async {
            let step = self
                .second_step(&input.token, ChallengeKind::Api, &input.code, &input.client)
                .await?;
            self.open_session(
                &step.user,
                step.audience,
                input.client,
                step.read_at,
                Assurance::password_and_otp(),
            )
            .await
        }
        .await;
        self.count_login(result.as_ref().map(|_| ()));
        result
    }

    /// Checks `code` against the challenge of `token` under the lockout rules and spends both
    /// when it is right (see the module comment).
    pub(crate) async fn second_step(
        &self,
        token: &str,
        kind: ChallengeKind,
        code: &SecondFactorCode,
        client: &ClientInfo,
    ) -> Result<SecondStep, CoreError> {
        let token = MfaToken::parse(token).ok_or(CoreError::TokenInvalid)?;
        let hash = token.hash();
        let read_at = self.now();
        let challenge = self
            .store
            .find_mfa_challenge(&hash, read_at)
            .await?
            .filter(|c| c.kind == kind)
            .ok_or(CoreError::TokenInvalid)?;
        let user = self
            .store
            .get_user(challenge.user_id)
            .await?
            .ok_or(CoreError::TokenInvalid)?;
        if user.disabled {
            return Err(CoreError::AccountDisabled);
        }
        // Reserved before the code is checked: a locked source is refused without a check,
        // and no more codes than passwords are ever checked before the lock holds.
        let attempt = self
            .passwords
            .begin_attempt(user.id, client, Purpose::SecondFactor)
            .await?;
        let now = self.now();
        let method = code.method().as_str();
        let factors = self.store.mfa_factors(user.id).await?;
        let proof = self.factors.proof(user.id, &factors, code, now)?;
        let failed = |reason: &str| {
            self.audit.entry(
                AuditEvent::MfaFailed,
                Some(user.id),
                client,
                serde_json::json!({"method": method, "reason": reason}),
            )
        };
        let Some(proof) = proof else {
            self.passwords
                .code_failed(&attempt, failed("wrong_code"), client)
                .await?;
            self.metrics.mfa("failed");
            return Err(CoreError::MfaCodeInvalid);
        };
        let mut audit = Vec::new();
        if let MfaProof::RecoveryCode(_) = proof {
            audit.push(self.audit.entry(
                AuditEvent::RecoveryCodeUsed,
                Some(user.id),
                client,
                serde_json::json!({"left": factors.recovery_codes_left.saturating_sub(1)}),
            ));
        }
        match self
            .store
            .complete_mfa_challenge(&hash, user.id, &proof, now, &audit)
            .await?
        {
            MfaCompletion::Completed => {}
            MfaCompletion::ChallengeGone => {
                // Finished (or expired) while this code was being checked: no code was judged.
                self.passwords.release_attempt(attempt).await?;
                return Err(CoreError::TokenInvalid);
            }
            MfaCompletion::FactorRefused => {
                // The code was right once: its step (or the recovery code) is used already.
                self.passwords
                    .code_failed(&attempt, failed("already_used"), client)
                    .await?;
                self.metrics.mfa("failed");
                return Err(CoreError::MfaCodeInvalid);
            }
        }
        let success = self.audit.entry(
            AuditEvent::LoginSucceeded,
            Some(user.id),
            client,
            serde_json::json!({
                "audience": challenge.audience,
                "second_factor": method,
                "via": kind.as_str(),
            }),
        );
        // Accepted only if no lock was set while the code was being checked.
        self.passwords
            .accept_attempt(attempt, AttemptSuccess::Login, &[success])
            .await?;
        self.metrics.mfa("verified");
        if matches!(proof, MfaProof::RecoveryCode(_)) {
            self.metrics.mfa("recovery_code_used");
        }
        Ok(SecondStep {
            user,
            audience: challenge.audience,
            read_at,
        })
    }
}
