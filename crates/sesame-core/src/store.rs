//! The storage contract. Each store crate implements these traits against its database; the
//! service picks one at start-up (`Arc<dyn Store>`) and never branches on the backend again.
//!
//! Rules every implementation keeps:
//! - uniqueness conflicts come from the database's constraints, reported as
//!   [`StoreError::Conflict`] — never "check, then insert";
//! - a refresh token is spent by one conditional update, so of two concurrent presentations at
//!   most one can win;
//! - multi-row changes (user + roles, password + sessions) are one transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use thiserror::Error;
use uuid::Uuid;

use crate::keys::KeyRecord;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint {
    Email,
    Username,
}

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("unique constraint violated: {0:?}")]
    Conflict(Constraint),
    /// The database cannot be reached (or timed out): the caller answers 503 and retries later.
    #[error("database unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("database error")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: Uuid,
    pub email: String,
    pub username: Option<String>,
    pub display_name: Option<String>,
    /// An argon2id PHC string. Never leaves the core.
    pub password_hash: String,
    pub email_verified: bool,
    pub disabled: bool,
    pub failed_logins: u32,
    pub locked_until: Option<DateTime<Utc>>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub roles: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: Uuid,
    pub email: String,
    pub email_canonical: String,
    pub username: Option<String>,
    pub username_canonical: Option<String>,
    pub password_hash: String,
    pub roles: Vec<String>,
    pub now: DateTime<Utc>,
}

/// Fields a profile update sets; `None` leaves a field unchanged. For `username` and
/// `display_name`, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ProfileChange {
    pub email: Option<(String, String)>,
    pub username: Option<Option<(String, String)>>,
    pub display_name: Option<Option<String>>,
}

#[derive(Debug, Clone)]
pub struct FailedLogin {
    pub failed_logins: u32,
    pub locked_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub audience: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: Uuid,
    pub user_id: Uuid,
    pub audience: Vec<String>,
    pub refresh_hash: Vec<u8>,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// One refresh token as the store remembers it (by hash only).
#[derive(Debug, Clone)]
pub struct RefreshRecord {
    pub session_id: Uuid,
    pub issued_at: DateTime<Utc>,
    pub spent_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Inserts the user and its roles in one transaction.
    async fn create_user(&self, user: &NewUser) -> StoreResult<UserRecord>;
    async fn get_user(&self, id: Uuid) -> StoreResult<Option<UserRecord>>;
    /// Finds a user by canonical email or canonical username.
    async fn find_user_by_login(&self, login_canonical: &str) -> StoreResult<Option<UserRecord>>;
    async fn update_profile(
        &self,
        id: Uuid,
        change: &ProfileChange,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<UserRecord>>;
    /// Sets a new password hash and revokes every session of the user except `keep` — one
    /// transaction. Returns how many sessions ended.
    async fn set_password(
        &self,
        id: Uuid,
        password_hash: &str,
        keep: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> StoreResult<u64>;
    /// Deletes the user; roles, sessions, refresh tokens and preferences go with it.
    async fn delete_user(&self, id: Uuid) -> StoreResult<bool>;
    /// Counts a wrong password; once `max_failures` is reached the account locks until
    /// `lock_until` and the count starts again.
    async fn record_login_failure(
        &self,
        id: Uuid,
        max_failures: u32,
        lock_until: DateTime<Utc>,
    ) -> StoreResult<FailedLogin>;
    async fn record_login_success(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<()>;
    async fn get_preferences(&self, id: Uuid) -> StoreResult<Option<serde_json::Value>>;
    async fn put_preferences(
        &self,
        id: Uuid,
        prefs: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Opens a session with its first refresh token.
    async fn create_session(&self, session: &NewSession) -> StoreResult<()>;
    /// Spends the unspent, unexpired refresh token `presented` of an active session and records
    /// its successor `next`, extending the session to `expires_at`. One winner per token.
    async fn rotate_refresh(
        &self,
        presented: &[u8],
        next: &[u8],
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<Option<SessionRecord>>;
    async fn find_refresh(&self, hash: &[u8]) -> StoreResult<Option<RefreshRecord>>;
    async fn get_session(&self, id: Uuid) -> StoreResult<Option<SessionRecord>>;
    /// Sessions of a user that are neither revoked nor expired, newest first.
    async fn list_active_sessions(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<SessionRecord>>;
    /// Revokes one active session. False when it was already revoked or does not exist.
    async fn revoke_session(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<bool>;
    async fn revoke_user_sessions(&self, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<u64>;
    /// Deny-lists an access token's `jti` until it would expire anyway.
    async fn deny_access_token(&self, jti: &str, expires_at: DateTime<Utc>) -> StoreResult<()>;
    async fn is_access_token_denied(&self, jti: &str) -> StoreResult<bool>;
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn list_keys(&self) -> StoreResult<Vec<KeyRecord>>;
    /// Stores the first signing key and its successor, unless keys exist already (another
    /// replica won the race). Returns whether these were stored.
    async fn init_keys(&self, current: &KeyRecord, next: &KeyRecord) -> StoreResult<bool>;
    /// Promotes the next key to signing, retires the signing key until `retire_until`, publishes
    /// `new_next`, and drops retired keys whose tokens have all expired — one transaction.
    async fn rotate_keys(
        &self,
        new_next: &KeyRecord,
        now: DateTime<Utc>,
        retire_until: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// A named instance-wide secret, created with `candidate` if absent; every replica gets the
    /// same value.
    async fn instance_secret(&self, name: &str, candidate: &[u8]) -> StoreResult<Vec<u8>>;
}

#[async_trait]
pub trait Store: UserStore + SessionStore + KeyStore + std::fmt::Debug {
    /// Applies pending migrations.
    async fn migrate(&self) -> StoreResult<()>;
    /// Cheap round trip for readiness.
    async fn ping(&self) -> StoreResult<()>;
}
