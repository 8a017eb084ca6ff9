//! Recovery: proving an email address (verification links, an email change's pending address)
//! and getting back into an account whose password is lost (reset links).
//!
//! Nothing here tells a caller whether an address has an account: `forgot_password` does the
//! same work and answers the same way for both, and is meant to run off the request path.

use std::sync::Arc;

use secrecy::SecretString;
use uuid::Uuid;

use crate::accounts::{password_error, profile};
use crate::audit::{AuditEvent, Auditor};
use crate::clock::Clock;
use crate::domain::{Email, Password};
use crate::email::{EmailToken, Mailer};
use crate::error::CoreError;
use crate::hashing::PasswordHasher;
use crate::revocation::Revoker;
use crate::sessions::ClientInfo;
use crate::store::{EmailPurpose, Store, UserRecord};

/// Email verification and password reset.
#[derive(Debug, Clone)]
pub struct Recovery {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    hasher: Arc<PasswordHasher>,
    audit: Auditor,
    mailer: Mailer,
    revoker: Revoker,
}

impl Recovery {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        hasher: Arc<PasswordHasher>,
        audit: Auditor,
        mailer: Mailer,
        revoker: Revoker,
    ) -> Self {
        Recovery {
            store,
            clock,
            hasher,
            audit,
            mailer,
            revoker,
        }
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }
}

impl Recovery {
    /// POST /auth/email/verify/resend: a new link for the current address (or for the pending
    /// one, when an email change waits for its proof).
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn resend_verification(
        &self,
        user_id: Uuid,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        let user = profile(self.store.as_ref(), user_id).await?;
        let pending = self.store.pending_email(user_id, self.now()).await?;
        let address = match pending {
            Some(p) => p,
            None if user.email_verified => return Ok(()),
            None => user.email.clone(),
        };
        let email = Email::parse(&address).map_err(CoreError::internal)?;
        self.mailer.send_verification(&user, &email, client).await
    }

    /// The address an email change waits to verify, if any.
    pub async fn pending_email(&self, user_id: Uuid) -> Result<Option<String>, CoreError> {
        Ok(self.store.pending_email(user_id, self.now()).await?)
    }

    /// POST /auth/email/verify: the address the token was sent to becomes the user's verified
    /// email.
    #[tracing::instrument(skip_all)]
    pub async fn verify_email(
        &self,
        token: &str,
        client: &ClientInfo,
    ) -> Result<UserRecord, CoreError> {
        let token = EmailToken::parse(token).ok_or(CoreError::EmailTokenInvalid)?;
        let record = self
            .store
            .find_email_token(&token.hash(), EmailPurpose::Verify, self.now())
            .await?
            .ok_or(CoreError::EmailTokenInvalid)?;
        // Whether the address changes (an email change proven), for the `user.updated` webhook.
        // The store decides the change itself; this read only labels it.
        let email_changed = self
            .store
            .get_user(record.user_id)
            .await?
            .is_some_and(|u| u.email.to_lowercase() != record.email_canonical);
        let entry = self.audit.entry(
            AuditEvent::EmailVerified,
            Some(record.user_id),
            client,
            serde_json::json!({"email": record.email, "email_changed": email_changed}),
        );
        let user_id = self
            .store
            .verify_email(&token.hash(), self.now(), &[entry])
            .await?
            .ok_or(CoreError::EmailTokenInvalid)?;
        self.revoker.profile_changed(user_id);
        profile(self.store.as_ref(), user_id).await
    }

    /// POST /auth/password/forgot. Answers nothing either way: run it off the request path so
    /// the response and its timing are the same for known and unknown addresses. Work that
    /// depends on the account is limited to a store read and, when it exists, one write.
    #[tracing::instrument(skip_all)]
    pub async fn forgot_password(&self, email: &str, client: &ClientInfo) -> Result<(), CoreError> {
        // The token is made in both branches, so both cost the same CPU.
        let token = EmailToken::generate();
        let _ = token.hash();
        let Ok(email) = Email::parse(email) else {
            return Ok(());
        };
        let Some(user) = self.store.find_user_by_login(&email.canonical()).await? else {
            tracing::debug!("password reset asked for an unknown address");
            return Ok(());
        };
        if user.disabled {
            return Ok(());
        }
        // The message goes to the address on record (it may differ in case from the one typed).
        let to = Email::parse(&user.email).map_err(CoreError::internal)?;
        self.mailer
            .queue_email(
                &user,
                EmailPurpose::Reset,
                &to,
                &token,
                Some((AuditEvent::PasswordResetRequested, client)),
            )
            .await
    }

    /// POST /auth/password/reset: sets the password and ends every session of the user.
    #[tracing::instrument(skip_all)]
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: &SecretString,
        client: &ClientInfo,
    ) -> Result<u64, CoreError> {
        let token = EmailToken::parse(token).ok_or(CoreError::EmailTokenInvalid)?;
        let record = self
            .store
            .find_email_token(&token.hash(), EmailPurpose::Reset, self.now())
            .await?
            .ok_or(CoreError::EmailTokenInvalid)?;
        let user = self
            .store
            .get_user(record.user_id)
            .await?
            .ok_or(CoreError::EmailTokenInvalid)?;
        let ids = [user.email.as_str(), user.username.as_deref().unwrap_or("")];
        let password =
            Password::parse(new_password, &ids).map_err(|p| password_error(p, "new_password"))?;
        let hash = self.hasher.hash(password.secret()).await?;
        let entry = self.audit.entry(
            AuditEvent::PasswordReset,
            Some(user.id),
            client,
            serde_json::json!({}),
        );
        let (_, ended) = self
            .store
            .reset_password(&token.hash(), &hash, self.now(), &[entry])
            .await?
            .ok_or(CoreError::EmailTokenInvalid)?;
        self.revoker.profile_changed(user.id);
        self.revoker.revoked().await;
        Ok(ended)
    }
}
