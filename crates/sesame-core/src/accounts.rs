//! Accounts: registration, login, the profile and preferences, password change, deletion.

use secrecy::SecretString;
use uuid::Uuid;

use crate::domain::{Email, Password, PasswordProblem, Role, Username};
use crate::error::{Chain, CoreError, FieldErrors};
use crate::hashing::Upgrade;
use crate::lockout::Purpose;
use crate::service::Sesame;
use crate::sessions::{ClientInfo, TokenPair};
use crate::store::{NewUser, ProfileChange, UserRecord};

/// Preferences are a JSON object of at most this many bytes (serialised).
pub const MAX_PREFERENCES_BYTES: usize = 16 * 1024;
const MAX_DISPLAY_NAME: usize = 200;

#[derive(Debug)]
pub struct Registration {
    pub email: String,
    pub password: SecretString,
    pub username: Option<String>,
    pub client: ClientInfo,
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

#[derive(Debug, Default)]
pub struct ProfileUpdate {
    pub username: Option<Option<String>>,
    pub display_name: Option<Option<String>>,
    pub email: Option<String>,
    pub current_password: Option<SecretString>,
}

fn push(fields: &mut FieldErrors, name: &str, msg: impl Into<String>) {
    fields.entry(name.to_string()).or_default().push(msg.into());
}

pub(crate) fn password_error(problem: PasswordProblem, field: &str) -> CoreError {
    let mut f = FieldErrors::new();
    push(&mut f, field, problem.message());
    if problem.is_weak() {
        CoreError::WeakPassword(f)
    } else {
        CoreError::Validation(f)
    }
}

impl Sesame {
    #[tracing::instrument(skip_all)]
    pub async fn register(&self, input: Registration) -> Result<UserRecord, CoreError> {
        let client = input.client.clone();
        let user = self.create_user(input, vec![Role::customer()]).await?;
        // The account exists whatever happens to its first message: a failure here is logged,
        // and `POST /auth/email/verify/resend` sends another.
        match Email::parse(&user.email) {
            Ok(email) => {
                if let Err(e) = self.send_verification(&user, &email, &client).await {
                    tracing::warn!(user_id = %user.id, error = %Chain(&e), "could not queue the verification email");
                }
            }
            Err(e) => tracing::warn!(user_id = %user.id, error = %e, "stored email does not parse"),
        }
        Ok(user)
    }

    /// Creates a user with the given roles (the CLI and the bootstrap admin use this); the
    /// password policy applies as for registration.
    #[tracing::instrument(skip_all)]
    pub async fn create_user(
        &self,
        input: Registration,
        roles: Vec<Role>,
    ) -> Result<UserRecord, CoreError> {
        let mut fields = FieldErrors::new();
        let email = Email::parse(&input.email)
            .map_err(|m| push(&mut fields, "email", m))
            .ok();
        let username = match input.username.as_deref() {
            None => None,
            Some(u) => Username::parse(u)
                .map_err(|m| push(&mut fields, "username", m))
                .ok(),
        };
        if !fields.is_empty() {
            return Err(CoreError::Validation(fields));
        }
        let email = email.ok_or_else(|| CoreError::internal("email parse lost"))?;
        let ids = [
            email.as_str(),
            username.as_ref().map(|u| u.as_str()).unwrap_or(""),
        ];
        let password =
            Password::parse(&input.password, &ids).map_err(|p| password_error(p, "password"))?;
        let password_hash = self.hasher.hash(password.secret()).await?;
        let now = self.now();
        let user = NewUser {
            id: Uuid::now_v7(),
            email_canonical: email.canonical(),
            email: email.as_str().to_string(),
            username_canonical: username.as_ref().map(|u| u.canonical()),
            username: username.map(|u| u.as_str().to_string()),
            password_hash,
            roles: {
                let mut r: Vec<String> = roles.iter().map(|r| r.as_str().to_string()).collect();
                r.sort();
                r.dedup();
                r
            },
            now,
        };
        let audit = self.audit(
            "register",
            Some(user.id),
            &input.client,
            serde_json::json!({}),
        );
        Ok(self.store.create_user(&user, &[audit]).await?)
    }

    /// Logs in: answers the same 401 for an unknown account and a wrong password (the unknown
    /// account is checked against a dummy hash, so it costs the same time). Wrong passwords are
    /// counted per source under the lockout rules of [`crate::lockout`].
    #[tracing::instrument(skip_all)]
    pub async fn login(&self, input: Login) -> Result<TokenPair, CoreError> {
        let result = self.login_inner(input).await;
        self.metrics.login(match &result {
            Ok(_) => "success",
            Err(CoreError::InvalidCredentials) => "invalid_credentials",
            Err(CoreError::AccountLocked { .. }) => "locked",
            Err(CoreError::AccountDisabled) => "disabled",
            Err(CoreError::EmailNotVerified) => "email_not_verified",
            Err(CoreError::InvalidAudience(_) | CoreError::Validation(_)) => "invalid_request",
            Err(_) => "error",
        });
        result
    }

    async fn login_inner(&self, input: Login) -> Result<TokenPair, CoreError> {
        let audience = self.resolve_audience(input.audience)?;
        let canonical = canonical_login(&input.login);
        // Before the read: the token's roles are no fresher than this (see `Sesame::jti_at`).
        let read_at = self.now();
        let user = match canonical {
            Some(c) => self.store.find_user_by_login(&c).await?,
            None => None,
        };
        let Some(user) = user else {
            // Same cost as a wrong password: a check against a dummy hash.
            self.hasher.check(&input.password, None).await?;
            // The typed name may be a password typed in the wrong field: only a keyed hash of
            // it is kept, enough to see the same unknown name tried again.
            let entry = self.audit(
                "login_failed",
                None,
                &input.client,
                serde_json::json!({
                    "reason": "unknown_account",
                    "login_hmac": self.login_name_mac(&input.login),
                }),
            );
            self.store.append_audit(&[entry]).await?;
            return Err(CoreError::InvalidCredentials);
        };
        // Reserved before hashing: a locked source is refused without a check.
        let attempt = self
            .begin_attempt(user.id, &input.client, Purpose::Login)
            .await?;
        let Some(checked) = self
            .check_in_attempt(&attempt, &user, &input.password, &input.client)
            .await?
        else {
            return Err(CoreError::InvalidCredentials);
        };
        if user.disabled {
            self.release_attempt(attempt).await?;
            let entry = self.audit(
                "login_failed",
                Some(user.id),
                &input.client,
                serde_json::json!({"reason": "account_disabled"}),
            );
            self.store.append_audit(&[entry]).await?;
            return Err(CoreError::AccountDisabled);
        }
        if self.settings.require_verified_email && !user.email_verified {
            self.release_attempt(attempt).await?;
            let entry = self.audit(
                "login_failed",
                Some(user.id),
                &input.client,
                serde_json::json!({"reason": "email_not_verified"}),
            );
            self.store.append_audit(&[entry]).await?;
            return Err(CoreError::EmailNotVerified);
        }
        let entry = self.audit(
            "login_succeeded",
            Some(user.id),
            &input.client,
            serde_json::json!({"audience": audience}),
        );
        // Accepted only if no lock was set while the password was being hashed.
        self.accept_attempt(attempt, &[entry]).await?;
        if let Some(upgrade) = checked.upgrade {
            self.upgrade_hash(&user, &input.password, upgrade, &input.client)
                .await;
        }
        self.open_session(&user, audience, input.client, read_at)
            .await
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
        let entry = self.audit(
            "password_rehashed",
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
        let allowed = &self.settings.audiences;
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

    pub async fn profile(&self, user_id: Uuid) -> Result<UserRecord, CoreError> {
        self.store
            .get_user(user_id)
            .await?
            .ok_or(CoreError::TokenRevoked)
    }

    /// The profile with the address waiting for verification, if any, in one read.
    pub async fn profile_with_pending_email(
        &self,
        user_id: Uuid,
    ) -> Result<(UserRecord, Option<String>), CoreError> {
        self.store
            .get_profile(user_id, self.now())
            .await?
            .ok_or(CoreError::TokenRevoked)
    }

    /// Updates the profile. A new email address does not replace the current one at once: it
    /// is sent a verification link, and becomes the account's email when that link is used
    /// (until then [`Sesame::pending_email`] shows it).
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn update_profile(
        &self,
        user_id: Uuid,
        input: ProfileUpdate,
        client: &ClientInfo,
    ) -> Result<UserRecord, CoreError> {
        let user = self.profile(user_id).await?;
        let mut fields = FieldErrors::new();
        let mut change = ProfileChange::default();
        let mut new_email = None;
        if let Some(u) = input.username {
            change.username = Some(match u {
                None => None,
                Some(u) => Username::parse(&u)
                    .map_err(|m| push(&mut fields, "username", m))
                    .ok()
                    .map(|u| (u.as_str().to_string(), u.canonical())),
            });
        }
        if let Some(d) = input.display_name {
            let d = d.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
            if d.as_ref()
                .is_some_and(|s| s.chars().count() > MAX_DISPLAY_NAME)
            {
                push(
                    &mut fields,
                    "display_name",
                    "must be at most 200 characters",
                );
            }
            change.display_name = Some(d);
        }
        if let Some(e) = input.email {
            match Email::parse(&e) {
                Err(m) => push(&mut fields, "email", m),
                Ok(email) if email.canonical() == user.email.to_lowercase() => {}
                Ok(email) => {
                    if input.current_password.is_none() {
                        push(
                            &mut fields,
                            "current_password",
                            "required to change the email address",
                        );
                    }
                    new_email = Some(email);
                }
            }
        }
        if !fields.is_empty() {
            return Err(CoreError::Validation(fields));
        }
        if let Some(email) = &new_email {
            let pw = input
                .current_password
                .as_ref()
                .ok_or(CoreError::InvalidCurrentPassword)?;
            self.check_current_password(&user, pw, client, Purpose::EmailChange)
                .await?;
            // The unique constraint decides when the link is used; this early answer only
            // spares the user a link that could not work (and says no more than registration).
            if self
                .store
                .find_user_by_login(&email.canonical())
                .await?
                .is_some_and(|other| other.id != user_id)
            {
                return Err(CoreError::EmailTaken);
            }
        }
        let updated = self
            .store
            .update_profile(user_id, &change, self.now())
            .await?
            .ok_or(CoreError::TokenRevoked)?;
        if let Some(email) = &new_email {
            self.send_verification(&updated, email, client).await?;
        }
        Ok(updated)
    }

    /// Changes the password after checking the current one; every other session ends.
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn change_password(
        &self,
        user_id: Uuid,
        current_session: Option<Uuid>,
        current: &SecretString,
        new: &SecretString,
        client: &ClientInfo,
    ) -> Result<u64, CoreError> {
        let user = self.profile(user_id).await?;
        self.check_current_password(&user, current, client, Purpose::PasswordChange)
            .await?;
        let ids = [user.email.as_str(), user.username.as_deref().unwrap_or("")];
        let password = Password::parse(new, &ids).map_err(|p| password_error(p, "new_password"))?;
        let hash = self.hasher.hash(password.secret()).await?;
        let entry = self.audit(
            "password_changed",
            Some(user_id),
            client,
            serde_json::json!({}),
        );
        let ended = self
            .store
            .set_password(user_id, &hash, current_session, self.now(), &[entry])
            .await?;
        self.revoked().await;
        Ok(ended)
    }

    /// Deletes the signed-in user after checking the password.
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn delete_account(
        &self,
        user_id: Uuid,
        password: &SecretString,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        let user = self.profile(user_id).await?;
        self.check_current_password(&user, password, client, Purpose::AccountDeletion)
            .await?;
        let entry = self.audit(
            "user_deleted",
            Some(user_id),
            client,
            serde_json::json!({"by": "self"}),
        );
        self.store.delete_user(user_id, &[entry]).await?;
        self.revoked().await;
        Ok(())
    }

    pub async fn preferences(&self, user_id: Uuid) -> Result<serde_json::Value, CoreError> {
        Ok(self
            .store
            .get_preferences(user_id)
            .await?
            .unwrap_or_else(|| serde_json::Value::Object(Default::default())))
    }

    pub async fn set_preferences(
        &self,
        user_id: Uuid,
        prefs: serde_json::Value,
    ) -> Result<serde_json::Value, CoreError> {
        if !prefs.is_object() {
            return Err(CoreError::field("preferences", "must be a JSON object"));
        }
        if serde_json::to_vec(&prefs)
            .map(|v| v.len())
            .unwrap_or(usize::MAX)
            > MAX_PREFERENCES_BYTES
        {
            return Err(CoreError::field("preferences", "must be at most 16 KiB"));
        }
        self.profile(user_id).await?;
        self.store
            .put_preferences(user_id, &prefs, self.now())
            .await?;
        Ok(prefs)
    }
}

/// The canonical form of a login name: an email when it has an `@`, else a username.
fn canonical_login(login: &str) -> Option<String> {
    let login = login.trim();
    if login.contains('@') {
        Email::parse(login).ok().map(|e| e.canonical())
    } else {
        Username::parse(login).ok().map(|u| u.canonical())
    }
}
