//! Accounts: registration, the profile and preferences, password change, deletion — what a
//! person does with their own account once it exists. (Signing in is `sessions`; a lost
//! password and email proofs are `recovery`.)

use std::sync::Arc;

use secrecy::SecretString;
use uuid::Uuid;

use crate::audit::{AuditEvent, Auditor};
use crate::clock::Clock;
use crate::domain::{Email, Password, PasswordProblem, Role, Username};
use crate::email::Mailer;
use crate::error::{Chain, CoreError, FieldErrors};
use crate::hashing::PasswordHasher;
use crate::lockout::{PasswordCheck, Purpose};
use crate::profile_cache::Profile;
use crate::revocation::Revoker;
use crate::sessions::ClientInfo;
use crate::store::{NewUser, ProfileChange, Store, UserRecord};

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

/// A user's own account: everything but signing in.
#[derive(Debug, Clone)]
pub struct Accounts {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    hasher: Arc<PasswordHasher>,
    audit: Auditor,
    passwords: PasswordCheck,
    mailer: Mailer,
    revoker: Revoker,
    /// `SESAME_SIGNUP`.
    signup_enabled: bool,
}

/// The user, or `TokenRevoked` when the account is gone (its token outlived it).
pub(crate) async fn profile(store: &dyn Store, user_id: Uuid) -> Result<UserRecord, CoreError> {
    store
        .get_user(user_id)
        .await?
        .ok_or(CoreError::TokenRevoked)
}

impl Accounts {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        hasher: Arc<PasswordHasher>,
        audit: Auditor,
        passwords: PasswordCheck,
        mailer: Mailer,
        revoker: Revoker,
        signup_enabled: bool,
    ) -> Self {
        Accounts {
            store,
            clock,
            hasher,
            audit,
            passwords,
            mailer,
            revoker,
            signup_enabled,
        }
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    #[tracing::instrument(skip_all)]
    pub async fn register(&self, input: Registration) -> Result<UserRecord, CoreError> {
        // Self-registration only: `create_user` (the CLI, the bootstrap admin, the admin API)
        // is how operators add people when sign-up is off.
        if !self.signup_enabled {
            return Err(CoreError::SignupDisabled);
        }
        let client = input.client.clone();
        let user = self.create_user(input, vec![Role::customer()]).await?;
        // The account exists whatever happens to its first message: a failure here is logged,
        // and `POST /auth/email/verify/resend` sends another.
        match Email::parse(&user.email) {
            Ok(email) => {
                if let Err(e) = self.mailer.send_verification(&user, &email, &client).await {
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
        let audit = self.audit.entry(
            AuditEvent::Register,
            Some(user.id),
            &input.client,
            serde_json::json!({}),
        );
        Ok(self.store.create_user(&user, &[audit]).await?)
    }

    pub async fn profile(&self, user_id: Uuid) -> Result<UserRecord, CoreError> {
        profile(self.store.as_ref(), user_id).await
    }

    /// What the user's profile shows, with the address waiting for verification, if any: from
    /// memory when held (see [`crate::profile_cache`]), else in one database read. A disabled
    /// or deleted user has no profile to show: `TokenRevoked`, as for their tokens.
    pub async fn profile_view(&self, user_id: Uuid) -> Result<Arc<Profile>, CoreError> {
        let cache = self.revoker.profiles();
        let now = self.now();
        let profile = match cache.get(user_id, now) {
            Some(p) => p,
            None => {
                // Before the read: a change committed after it is then seen by `admit`.
                let ticket = cache.ticket();
                let (user, pending) = self
                    .store
                    .get_profile(user_id, now)
                    .await?
                    .ok_or(CoreError::TokenRevoked)?;
                let profile = Arc::new(Profile::new(user, pending));
                cache.admit(ticket, profile.clone(), now);
                profile
            }
        };
        if profile.disabled {
            return Err(CoreError::TokenRevoked);
        }
        Ok(profile)
    }

    /// Updates the profile. A new email address does not replace the current one at once: it
    /// is sent a verification link, and becomes the account's email when that link is used
    /// (until then [`crate::recovery::Recovery::pending_email`] shows it).
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
            self.passwords
                .check_current_password(&user, pw, client, Purpose::EmailChange)
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
        // Audited (and so a `user.updated` webhook) only when something the user shows changes;
        // an email change waits for its link (`recovery::verify_email`).
        let mut changed = Vec::new();
        if change
            .username
            .as_ref()
            .is_some_and(|u| u.as_ref().map(|(shown, _)| shown) != user.username.as_ref())
        {
            changed.push("username");
        }
        if change
            .display_name
            .as_ref()
            .is_some_and(|d| *d != user.display_name)
        {
            changed.push("display_name");
        }
        let audit: Vec<_> = (!changed.is_empty())
            .then(|| {
                self.audit.entry(
                    AuditEvent::ProfileUpdated,
                    Some(user_id),
                    client,
                    serde_json::json!({"fields": changed}),
                )
            })
            .into_iter()
            .collect();
        let updated = self
            .store
            .update_profile(user_id, &change, self.now(), &audit)
            .await?
            .ok_or(CoreError::TokenRevoked)?;
        self.revoker.profile_changed(user_id);
        if let Some(email) = &new_email {
            let sent = self.mailer.send_verification(&updated, email, client).await;
            // The link makes a pending change, which the profile shows.
            self.revoker.profile_changed(user_id);
            sent?;
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
        self.passwords
            .check_current_password(&user, current, client, Purpose::PasswordChange)
            .await?;
        let ids = [user.email.as_str(), user.username.as_deref().unwrap_or("")];
        let password = Password::parse(new, &ids).map_err(|p| password_error(p, "new_password"))?;
        let hash = self.hasher.hash(password.secret()).await?;
        let entry = self.audit.entry(
            AuditEvent::PasswordChanged,
            Some(user_id),
            client,
            serde_json::json!({}),
        );
        let ended = self
            .store
            .set_password(user_id, &hash, current_session, self.now(), &[entry])
            .await?;
        self.revoker.profile_changed(user_id);
        self.revoker.revoked().await;
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
        self.passwords
            .check_current_password(&user, password, client, Purpose::AccountDeletion)
            .await?;
        let entry = self.audit.entry(
            AuditEvent::UserDeleted,
            Some(user_id),
            client,
            serde_json::json!({"by": "self"}),
        );
        self.store
            .delete_user(user_id, self.now(), &[entry])
            .await?;
        self.revoker.profile_changed(user_id);
        self.revoker.revoked().await;
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
