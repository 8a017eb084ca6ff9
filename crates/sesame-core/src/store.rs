//! The storage contract. Each store crate implements these traits against its database; the
//! service picks one at start-up (`Arc<dyn Store>`) and never branches on the backend again.
//!
//! Rules every implementation keeps:
//! - uniqueness conflicts come from the database's constraints, reported as
//!   [`StoreError::Conflict`] — never "check, then insert";
//! - a refresh token is spent by one conditional update, so of two concurrent presentations at
//!   most one can win;
//! - multi-row changes (user + roles, password + sessions) are one transaction;
//! - wherever audit entries are written, the webhook deliveries of the change go with them, in
//!   the same transaction: the events `crate::webhooks::events_for` makes of those entries and of
//!   the sessions the change ended ([`EndedSession`]), one row per subscribed endpoint.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use thiserror::Error;
use uuid::Uuid;

use crate::keys::KeyRecord;

pub mod group_commit;
mod webhooks;
pub use webhooks::{
    ClaimedDelivery, DeliveryOutcome, DeliveryRecord, DeliveryStatus, EndedSession,
    NewWebhookEndpoint, WebhookEndpoint, WebhookStatus, WebhookStore,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint {
    Email,
    Username,
    /// The change would leave no active (not disabled) user with the `admin` role, where there
    /// was one: refused by the store inside the changing transaction, so two admins demoting
    /// each other at once cannot both win.
    LastAdmin,
    /// The upstream identity (provider, subject) is linked to an account already.
    Identity,
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

/// An audit event, written by the store in the same transaction as the change it records (so
/// there is no change without its record, and no record without its change).
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    /// register, login_succeeded, login_failed, account_locked, refresh_reused, logout,
    /// password_changed, user_deleted, role_changed, key_rotated, client_created, ...
    pub event: String,
    pub user_id: Option<Uuid>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub user_id: Option<Uuid>,
    pub event: Option<String>,
    pub limit: u32,
    /// Keyset cursor: entries older than this id (ids are time-ordered UUIDv7).
    pub before: Option<Uuid>,
}

/// What kind of thing was revoked (or changed) — the feed's `kind` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationKind {
    /// A session (`sid`): every access token of it is refused.
    Session,
    /// One access token (`jti`).
    Token,
    /// A deleted service client (`client_id`): every access token issued to it is refused.
    Client,
    /// The signing keys changed (rotation by any replica or the CLI): every process reloads
    /// them. Revokes nothing.
    Key,
    /// A user lost a role (`sub`): their access tokens issued before
    /// [`Revocation::issued_before`] carry stale roles and are refused by forward-auth,
    /// introspection and token exchange; a refresh gets a token with the new roles.
    User,
    /// What a user's profile shows changed, or the user was deleted (`sub`): every process
    /// drops the user from its profile cache. Revokes nothing.
    Profile,
}

impl RevocationKind {
    /// The feed's `kind` column: `'session'`, `'token'`, `'client'`, `'key'`, `'user'` or `'profile'`. `None` for
    /// anything else — a kind written by a newer version of Sesame during a rolling upgrade.
    /// Stores skip such entries (with a warning) rather than fail the read: an error would stop
    /// this replica from learning the revocations it does understand, while skipping loses only
    /// an entry this version could not act on anyway.
    pub fn from_feed(kind: &str) -> Option<Self> {
        match kind {
            "session" => Some(RevocationKind::Session),
            "token" => Some(RevocationKind::Token),
            "client" => Some(RevocationKind::Client),
            "key" => Some(RevocationKind::Key),
            "user" => Some(RevocationKind::User),
            "profile" => Some(RevocationKind::Profile),
            _ => None,
        }
    }
}

/// One entry of the revocation feed (written by the store whenever a session is revoked or a
/// live one deleted, an access token deny-listed, a client deleted, or the signing keys
/// changed — by triggers, in the same transaction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub kind: RevocationKind,
    pub subject: String,
    /// The latest moment a token this entry covers can still be accepted (its expiry plus the
    /// verifiers' leeway, by Sesame's clock): for a token its own; for a session the newest
    /// access token issued in it; for a client the newest issued to it. Kept until then,
    /// whatever the access lifetime is now. `None` only for entries written before migration
    /// 0007 and for a client that got no token since.
    pub until: Option<DateTime<Utc>>,
    /// When it was recorded, by the database's clock.
    pub at: DateTime<Utc>,
    /// For a [`RevocationKind::User`] entry: tokens of the user issued before this instant
    /// (Sesame's clock) are refused. `None` for the other kinds.
    pub issued_before: Option<DateTime<Utc>>,
    /// For a session or client entry: the status-list index its tokens carry (`None` for rows
    /// from before migration 0011, whose tokens carry none).
    pub status_idx: Option<i64>,
}

/// A read of the feed: the entries at or after the cursor given, and the cursor for the next
/// read. Positions are commit-ordered (SQLite: the row id, one writer at a time; PostgreSQL: the
/// writing transaction's id, the next cursor held back at the reader snapshot's xmin), so an
/// entry committed after a read is never behind the cursor it returned, however late its
/// transaction commits. An entry may come back in the next read; readers treat entries as sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedPage {
    pub entries: Vec<Revocation>,
    pub next: i64,
}

/// What a purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub sessions: u64,
    pub refresh_tokens: u64,
    pub denied_tokens: u64,
}

#[derive(Clone)]
pub struct UserRecord {
    pub id: Uuid,
    pub email: String,
    pub username: Option<String>,
    pub display_name: Option<String>,
    /// An argon2id PHC string, or an imported hash of another format (`hash_format`) until
    /// the user's first login replaces it. Never leaves the core.
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

/// What a user's access token says of them (`sub`, `roles`, `email_verified`), and whether
/// they may have one at all (`disabled`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSubject {
    pub id: Uuid,
    /// Sorted.
    pub roles: Vec<String>,
    pub email_verified: bool,
    pub disabled: bool,
}

impl From<&UserRecord> for TokenSubject {
    fn from(u: &UserRecord) -> Self {
        TokenSubject {
            id: u.id,
            roles: u.roles.clone(),
            email_verified: u.email_verified,
            disabled: u.disabled,
        }
    }
}

/// A refresh token rotated: its session as slid, and the session's user as read in the same
/// transaction (`None` if the user is gone).
#[derive(Debug, Clone)]
pub struct Rotated {
    pub session: SessionRecord,
    pub user: Option<TokenSubject>,
}

#[derive(Clone)]
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

// Debug by hand: a password hash is offline-crackable material and must not reach a log line
// through a `{:?}` of the record that carries it.
impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("username", &self.username)
            .field("password_hash", &"[redacted]")
            .field("email_verified", &self.email_verified)
            .field("disabled", &self.disabled)
            .field("failed_logins", &self.failed_logins)
            .field("locked_until", &self.locked_until)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("username", &self.username)
            .field("password_hash", &"[redacted]")
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

/// A user brought in by `sesame user import`, with the password hash they already had.
#[derive(Debug, Clone)]
pub struct ImportedUser {
    /// `now` is the time of the import (`updated_at`); the id is time-ordered by `created_at`.
    pub user: NewUser,
    /// When the account was made on the system it comes from.
    pub created_at: DateTime<Utc>,
    pub email_verified: bool,
    pub disabled: bool,
    /// Written with the user, and only when the user is inserted.
    pub audit: AuditEntry,
}

/// What became of one user of an import batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportOutcome {
    Imported,
    /// An account with this email exists already: left as it is.
    EmailExists,
    /// Another account has this username: nothing inserted.
    UsernameTaken,
}

/// Fields a profile update sets; `None` leaves a field unchanged. For `username` and
/// `display_name`, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ProfileChange {
    pub email: Option<(String, String)>,
    pub username: Option<Option<(String, String)>>,
    pub display_name: Option<Option<String>>,
}

/// The lockout policy a store applies to one password attempt (rules: `crate::lockout`).
#[derive(Debug, Clone, Copy)]
pub struct AttemptPolicy {
    pub now: DateTime<Utc>,
    /// Wrong passwords, plus attempts being checked, allowed per (account, source) before the
    /// source is locked.
    pub max_failures: u32,
    /// Wrong passwords from any sources before the account-wide lock.
    pub account_max_failures: u32,
    /// When a lock set now ends.
    pub lock_until: DateTime<Utc>,
    /// A source untouched since before this starts counting from zero again.
    pub idle_before: DateTime<Utc>,
    /// Reservations of a source untouched since before this were abandoned (a crash, a dropped
    /// request): they no longer count.
    pub pending_before: DateTime<Utc>,
    /// Known sources kept per user (the most recent ones).
    pub known_sources: u32,
}

/// Whether an attempt may go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Reserved (before hashing) or accepted (after a right password).
    Admitted,
    /// The source is locked until then — or the account is, and the source is not a known one.
    Locked(DateTime<Utc>),
    /// `max_failures` attempts from this source are failed or being checked right now.
    Full,
}

/// What a right password (or code) of a reserved attempt leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptSuccess {
    /// A sign-in is complete: the counts restart, the time is recorded as the last login and
    /// the source becomes a known one.
    Login,
    /// The current password of a signed-in user (a change, a deletion): the counts restart.
    CurrentPassword,
    /// The password of a user with a second factor: the sign-in is not complete, so the counts
    /// stay (else every right password would give a guesser of codes a fresh budget) and the
    /// source does not become known. Only the lock is checked and the reservation released.
    FirstFactor,
}

/// What a wrong password did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailedAttempt {
    /// Wrong passwords of this source now (0 when the user no longer exists).
    pub failures: u32,
    /// This failure locked the source.
    pub source_locked: bool,
    /// This failure set the account-wide lock.
    pub account_locked: bool,
}

/// How a session is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// Refresh and access tokens (`POST /auth/login`).
    Api,
    /// The `__Host-sesame` cookie of Sesame's own pages.
    Browser,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Api => "api",
            SessionKind::Browser => "browser",
        }
    }
}

/// How a session's user signed in, carried by every access token of the session (`amr`,
/// `acr`) and kept across refreshes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assurance {
    /// RFC 8176 authentication method references: `pwd`, `otp`, `mfa`, ...
    pub amr: Vec<String>,
    /// `aal1` (one factor) or `aal2` (two factors).
    pub acr: String,
}

impl Assurance {
    pub const AAL1: &'static str = "aal1";
    pub const AAL2: &'static str = "aal2";

    /// A user-verified passkey alone: something the person has (the authenticator, `hwk`)
    /// unlocked by something they know or are (`user`: its PIN or biometric) — two factors.
    pub fn passkey() -> Self {
        Assurance {
            amr: vec!["hwk".into(), "user".into(), "mfa".into()],
            acr: Self::AAL2.into(),
        }
    }

    /// A password, then a passkey.
    pub fn password_and_passkey() -> Self {
        Assurance {
            amr: vec!["pwd".into(), "hwk".into(), "mfa".into()],
            acr: Self::AAL2.into(),
        }
    }

    /// A sign-in at an upstream provider (its own factors unknown here): `fed`, one factor as
    /// far as Sesame can vouch.
    pub fn federated() -> Self {
        Assurance {
            amr: vec!["fed".into()],
            acr: Self::AAL1.into(),
        }
    }

    /// A password alone.
    pub fn password() -> Self {
        Assurance {
            amr: vec!["pwd".into()],
            acr: Self::AAL1.into(),
        }
    }

    /// A password, then a one-time code (TOTP, or a recovery code: both are one-time
    /// passwords in RFC 8176's sense, and NIST SP 800-63B counts a look-up secret with a
    /// password as AAL2).
    pub fn password_and_otp() -> Self {
        Assurance {
            amr: vec!["pwd".into(), "otp".into(), "mfa".into()],
            acr: Self::AAL2.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub id: Uuid,
    pub kind: SessionKind,
    pub user_id: Uuid,
    pub audience: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Its index in the token status list (see `status_list`); `None` for a browser session,
    /// which issues no access tokens.
    pub status_idx: Option<i64>,
    /// How its user signed in.
    pub assurance: Assurance,
    /// For an app's session (authorization code flow): the app, scopes and sign-in it holds.
    pub app: Option<AppLink>,
}

/// What ties a session to an app a person signed in to through Sesame (issue #18): its refresh
/// token works for that client only, its tokens carry the scopes granted, and it ends with the
/// browser session it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppLink {
    pub client_id: String,
    /// The browser session it now hangs from: ending that ends this one. A sign-in again by the
    /// same person moves the app under the new browser session (see `create_browser_session`).
    pub parent_id: Uuid,
    /// The `sid` of the app's ID tokens and logout tokens: the browser session that approved it,
    /// kept when `parent_id` moves, so that the app can still match a logout to its session.
    pub sid: Uuid,
    /// Space-separated scopes granted.
    pub scope: String,
    /// When the person last signed in (the ID token's `auth_time`).
    pub auth_time: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: Uuid,
    pub user_id: Uuid,
    pub audience: Vec<String>,
    pub refresh_hash: Vec<u8>,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Expiry plus leeway of the access token issued with it (see `Revocation::until`).
    pub access_until: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// A freed status-list index is taken only if every token that carried it expired before
    /// this instant; otherwise a never-used one is.
    pub status_reuse_before: DateTime<Utc>,
    /// How the user signed in.
    pub assurance: Assurance,
    /// Set for an app's session (an authorization code exchanged).
    pub app: Option<AppLink>,
}

/// A session opened by signing in on a page: no refresh token, a cookie known by its hash.
#[derive(Debug, Clone)]
pub struct NewBrowserSession {
    pub id: Uuid,
    pub user_id: Uuid,
    /// SHA-256 of the cookie value.
    pub cookie_hash: Vec<u8>,
    pub now: DateTime<Utc>,
    /// The absolute end (`SESAME_BROWSER_SESSION_TTL`); it does not slide.
    pub expires_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The browser's previous session, revoked in the same transaction (a new id at every
    /// sign-in, and no orphan left behind).
    pub replacing: Option<Uuid>,
    /// How the user signed in.
    pub assurance: Assurance,
}

/// A session's refresh tokens as the store remembers them: the hashes of its live token and of
/// the one spent last (tokens name their session; see `refresh_token`).
#[derive(Debug, Clone)]
pub struct RefreshState {
    pub session: SessionRecord,
    /// The live token; it expires with the session (`session.expires_at`). None for a browser
    /// session, which has no refresh token.
    pub live: Option<Vec<u8>>,
    /// The token spent by the last rotation, and when: presented again within the grace
    /// window it is answered with the live one.
    pub spent: Option<(Vec<u8>, DateTime<Utc>)>,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Inserts the user and its roles in one transaction.
    async fn create_user(&self, user: &NewUser, audit: &[AuditEntry]) -> StoreResult<UserRecord>;
    async fn get_user(&self, id: Uuid) -> StoreResult<Option<UserRecord>>;
    /// The user and the address waiting for verification (as `EmailStore::pending_email`), in
    /// one read: GET /profile needs both, and one round trip instead of two is most of its cost.
    async fn get_profile(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(UserRecord, Option<String>)>>;
    /// Finds a user by canonical email or canonical username.
    async fn find_user_by_login(&self, login_canonical: &str) -> StoreResult<Option<UserRecord>>;
    /// Applies the change in one statement, with `audit` (written only when the user exists).
    async fn update_profile(
        &self,
        id: Uuid,
        change: &ProfileChange,
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<Option<UserRecord>>;
    /// Sets a new password hash, revokes every session of the user except `keep`, spends every
    /// open reset token of the user (a reset link dies when the password changes) and clears
    /// every lockout count and lock of the user (a new password) — one transaction. Returns how
    /// many sessions ended.
    async fn set_password(
        &self,
        id: Uuid,
        password_hash: &str,
        keep: Option<Uuid>,
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<u64>;
    /// Inserts each user with its roles and audit entry unless its email or username is taken
    /// (decided by the unique constraints, not a prior check), reporting one outcome per user in
    /// order. The whole batch is one transaction: a store error inserts none of it.
    async fn import_users(&self, batch: &[ImportedUser]) -> StoreResult<Vec<ImportOutcome>>;
    /// Replaces the password hash by `new_hash` only while it still is `old_hash` (one
    /// conditional update: a password changed meanwhile is never overwritten). Sessions, lockout
    /// and `updated_at` are left alone: it is the same password. `audit` is written only when
    /// the hash was replaced. Returns whether it was.
    async fn rehash_password(
        &self,
        id: Uuid,
        old_hash: &str,
        new_hash: &str,
        audit: &[AuditEntry],
    ) -> StoreResult<bool>;
    /// Deletes the user; roles, sessions, refresh tokens and preferences go with it. Sessions
    /// still in force at `now` are reported as ended (webhooks' `session.revoked`).
    async fn delete_user(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<bool>;
    /// Reserves a password attempt of (`id`, `source`) BEFORE the password is hashed — one
    /// conditional write: admitted only while the source is not locked, its failures plus the
    /// attempts in flight stay below `max_failures`, and the account is not locked (or the
    /// source is a known one). A source idle since `idle_before` or whose lock ended starts
    /// from zero. Every admitted reservation ends in exactly one of [`attempt_failed`],
    /// [`attempt_succeeded`] or [`release_attempt`]. Admitted for a user that does not exist.
    ///
    /// [`attempt_failed`]: UserStore::attempt_failed
    /// [`attempt_succeeded`]: UserStore::attempt_succeeded
    /// [`release_attempt`]: UserStore::release_attempt
    async fn reserve_attempt(
        &self,
        id: Uuid,
        source: &str,
        policy: &AttemptPolicy,
    ) -> StoreResult<Admission>;
    /// A reserved attempt had a wrong password: counts it for the source (locking it until
    /// `lock_until` at `max_failures`) and for the account (account-wide lock at
    /// `account_max_failures`, and that count restarts). `failed` is recorded always,
    /// `source_locked` / `account_locked` when this failure set that lock.
    async fn attempt_failed(
        &self,
        id: Uuid,
        source: &str,
        policy: &AttemptPolicy,
        failed: &AuditEntry,
        source_locked: &AuditEntry,
        account_locked: &AuditEntry,
    ) -> StoreResult<FailedAttempt>;
    /// A reserved attempt had the right password (or code): accepted only if, now, the source
    /// is not locked and the account is not (or the source is known) — one transaction with the
    /// reservation's release, so a lock set while the password was being hashed holds. When
    /// accepted, what follows depends on `success` ([`AttemptSuccess`]): the counts restart
    /// (not for a first factor), and for a `Login` the time is recorded and the source becomes
    /// known (keeping the `known_sources` most recent); `audit` is written only when accepted.
    async fn attempt_succeeded(
        &self,
        id: Uuid,
        source: &str,
        policy: &AttemptPolicy,
        success: AttemptSuccess,
        audit: &[AuditEntry],
    ) -> StoreResult<Admission>;
    /// Ends a reservation without an outcome (the account is disabled, hashing failed, ...).
    async fn release_attempt(&self, id: Uuid, source: &str, now: DateTime<Utc>) -> StoreResult<()>;
    /// Deletes per-source rows untouched since `before` whose lock (if any) has ended.
    async fn purge_login_attempts(&self, before: DateTime<Utc>) -> StoreResult<u64>;
    async fn set_disabled(
        &self,
        id: Uuid,
        disabled: bool,
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<bool>;
    /// Clears every lock and failure count of the user: each source's and the account-wide one.
    async fn unlock(&self, id: Uuid, now: DateTime<Utc>, audit: &[AuditEntry])
    -> StoreResult<bool>;
    /// Replaces the user's roles. `None` when the user does not exist. Like `set_disabled` and
    /// `delete_user`, refuses with `Conflict(LastAdmin)` a change that leaves no active admin.
    async fn set_roles(
        &self,
        id: Uuid,
        roles: &[String],
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<Option<Vec<String>>>;
    /// Users in id (creation) order after `after`, optionally matching `query` in the email or
    /// username (case-insensitive substring).
    async fn list_users(
        &self,
        query: Option<&str>,
        limit: u32,
        after: Option<Uuid>,
    ) -> StoreResult<Vec<UserRecord>>;
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
    /// Opens a session with its first refresh token; returns the status-list index it was
    /// given (a freed one only past `session.status_reuse_before`, see migration 0011).
    async fn create_session(&self, session: &NewSession) -> StoreResult<i64>;
    /// The lowest status-list index never handed out: lists `0..=(bound - 1) / size` exist.
    async fn status_index_bound(&self) -> StoreResult<i64>;
    /// Spends `presented`, the live refresh token of the active, unexpired `session`, and makes
    /// `next` its live token, extending the session to `expires_at` and its `access_until` to
    /// at least `access_until` (the access token about to be issued); the spent token's hash is
    /// kept as the session's last spent one. One winner per token. The session's user comes
    /// back read in the same transaction, so the new access token carries the roles as of the
    /// rotation without a second read. `None`, and nothing changed, otherwise.
    async fn rotate_refresh(
        &self,
        session: Uuid,
        presented: &[u8],
        next: &[u8],
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        access_until: DateTime<Utc>,
    ) -> StoreResult<Option<Rotated>>;
    /// Raises the session's `access_until` to at least `until` before an access token is issued
    /// in it without a rotation (the refresh grace path). False, and nothing changed, when the
    /// session is revoked or gone: then no token may be issued (a revocation committed first
    /// recorded the older expiry).
    async fn extend_session_access(&self, id: Uuid, until: DateTime<Utc>) -> StoreResult<bool>;
    /// The session and the hashes of its live and last spent refresh tokens.
    async fn refresh_state(&self, session: Uuid) -> StoreResult<Option<RefreshState>>;
    /// The session of a refresh token of the previous shape (issued before tokens named their
    /// session), found by its hash while it has not expired.
    async fn legacy_refresh_session(&self, hash: &[u8]) -> StoreResult<Option<Uuid>>;
    /// Opens a browser session (and revokes `replacing`, if live), with its audit entries, in
    /// one transaction.
    async fn create_browser_session(
        &self,
        session: &NewBrowserSession,
        audit: &[AuditEntry],
    ) -> StoreResult<()>;
    /// The session whose cookie hashes to `cookie_hash`, revoked and expired ones included (the
    /// caller judges).
    async fn find_browser_session(&self, cookie_hash: &[u8]) -> StoreResult<Option<SessionRecord>>;
    /// Records that the session was used at `now` (its idle timeout restarts).
    async fn touch_session(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<()>;
    async fn get_session(&self, id: Uuid) -> StoreResult<Option<SessionRecord>>;
    /// Sessions of a user that are neither revoked nor expired, newest first.
    async fn list_active_sessions(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<SessionRecord>>;
    /// Revokes one active session. False when it was already revoked or does not exist (and
    /// then no audit entry is written).
    async fn revoke_session(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<bool>;
    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<u64>;
    /// Revokes every session of the user in force (as [`SessionStore::revoke_user_sessions`])
    /// except `keep`, in one transaction with its audit entries ("sign out everywhere else").
    async fn revoke_other_sessions(
        &self,
        user_id: Uuid,
        keep: Uuid,
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<u64>;
    /// Records in the feed that the user's access tokens issued before `issued_before` carry
    /// stale roles ([`RevocationKind::User`]), kept until the newest access token of the
    /// user's sessions expires. Nothing when the user has no session.
    async fn feed_user_change(
        &self,
        user_id: Uuid,
        issued_before: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Feed entries at or after `cursor` (0: all), in commit order (see [`FeedPage`]).
    async fn revocations_after(&self, cursor: i64) -> StoreResult<FeedPage>;
    /// Deletes feed entries whose `until` is before `before`, and entries without one (written
    /// before migration 0007) recorded before `legacy_before`.
    async fn purge_revocations(
        &self,
        before: DateTime<Utc>,
        legacy_before: DateTime<Utc>,
    ) -> StoreResult<u64>;
    /// Deletes sessions whose refresh token and newest access token have both expired by `now`
    /// (with their refresh tokens), refresh tokens past expiry, and deny-list entries past
    /// expiry. A session whose access token is still alive stays, so that ending "every
    /// session" of its user still revokes it.
    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<Purged>;
    /// Deny-lists an access token's `jti` until it would expire anyway.
    async fn deny_access_token(&self, jti: &str, expires_at: DateTime<Utc>) -> StoreResult<()>;
    async fn is_access_token_denied(&self, jti: &str) -> StoreResult<bool>;
}

/// One key family's step in a rotation: its next key signs from now on, its current key is
/// retired until `retire_until`, and `new_next` (of the same purpose) is published as next.
#[derive(Debug)]
pub struct KeyRotation {
    pub new_next: KeyRecord,
    pub retire_until: DateTime<Utc>,
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn list_keys(&self) -> StoreResult<Vec<KeyRecord>>;
    /// Stores the first key of `current.purpose` and its successor (`next`, same purpose),
    /// unless keys of that purpose exist already (another replica won the race). Returns whether
    /// these were stored.
    async fn init_keys(&self, current: &KeyRecord, next: &KeyRecord) -> StoreResult<bool>;
    /// For each rotation, in the purpose of its `new_next`: promotes the next key to signing,
    /// retires the signing key until `retire_until`, publishes `new_next`. Then drops retired
    /// keys (of every purpose) whose tokens have all expired, and writes `audit` — one
    /// transaction.
    async fn rotate_keys(
        &self,
        rotations: &[KeyRotation],
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<()>;
    /// A named instance-wide secret, created with `candidate` if absent; every replica gets the
    /// same value.
    async fn instance_secret(&self, name: &str, candidate: &[u8]) -> StoreResult<Vec<u8>>;
}

/// An OAuth client: a service (client credentials, token exchange) or an app people sign in to
/// through Sesame (authorization code). `Debug` leaves the secret's hash out.
#[derive(Clone, Default)]
pub struct ClientRecord {
    pub client_id: String,
    pub name: String,
    /// HMAC-SHA-256 of the secret under an instance key: secrets are 256-bit random, so a fast
    /// keyed hash is as safe as argon2 here and keeps token issuance cheap.
    pub secret_hash: Vec<u8>,
    pub audiences: Vec<String>,
    pub scopes: Vec<String>,
    /// The user roles a token this client obtains by exchange may carry (only those the user
    /// has); empty, the default, carries none.
    pub delegable_roles: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// At least the expiry plus leeway of every access token issued to the client (raised
    /// ahead of issuance, see `Sesame::authenticate_client`); what its deletion's feed entry is
    /// kept until. `None` before its first token.
    pub access_until: Option<DateTime<Utc>>,
    /// Its index in the token status list, allocated by the store at creation (whatever the
    /// caller puts here is ignored by `create_client`).
    pub status_idx: Option<i64>,
    /// OAuth (issue #18): where authorization responses may go, each compared exactly (see
    /// `domain::RedirectUri`).
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser afterwards.
    pub post_logout_redirect_uris: Vec<String>,
    /// The grants it may use (`client_credentials`, `authorization_code`, `refresh_token`,
    /// `urn:ietf:params:oauth:grant-type:token-exchange`).
    pub grant_types: Vec<String>,
    /// No secret (a SPA, a native app): PKCE is its proof; it never authenticates.
    pub public: bool,
    /// Skips the consent screen (the operator's own apps).
    pub first_party: bool,
    /// OpenID back-channel logout: where logout tokens are POSTed.
    pub backchannel_logout_uri: Option<String>,
}

impl ClientRecord {
    /// Whether the client is registered for grant type `grant`.
    pub fn may_use(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }
}

impl std::fmt::Debug for ClientRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRecord")
            .field("client_id", &self.client_id)
            .field("name", &self.name)
            .field("secret_hash", &"[redacted]")
            .field("audiences", &self.audiences)
            .field("scopes", &self.scopes)
            .field("delegable_roles", &self.delegable_roles)
            .field("created_at", &self.created_at)
            .field("access_until", &self.access_until)
            .field("status_idx", &self.status_idx)
            .field("redirect_uris", &self.redirect_uris)
            .field("post_logout_redirect_uris", &self.post_logout_redirect_uris)
            .field("grant_types", &self.grant_types)
            .field("public", &self.public)
            .field("first_party", &self.first_party)
            .field("backchannel_logout_uri", &self.backchannel_logout_uri)
            .finish()
    }
}

#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Creates the client and gives it a status-list index (as `create_session` does); returns
    /// the index.
    async fn create_client(
        &self,
        client: &ClientRecord,
        status_reuse_before: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<i64>;
    async fn get_client(&self, client_id: &str) -> StoreResult<Option<ClientRecord>>;
    async fn list_clients(&self) -> StoreResult<Vec<ClientRecord>>;
    /// Deletes the client and, in the same transaction, records it in the revocation feed
    /// ([`RevocationKind::Client`]) so every replica refuses the tokens issued to it. False
    /// (and nothing written) when it does not exist.
    async fn delete_client(&self, client_id: &str, audit: &[AuditEntry]) -> StoreResult<bool>;
    /// Raises the client's `access_until` to at least `until`; returns the stored value, or
    /// `None` when the client does not exist (deleted meanwhile: issue nothing).
    async fn extend_client_access(
        &self,
        client_id: &str,
        until: DateTime<Utc>,
    ) -> StoreResult<Option<DateTime<Utc>>>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends entries that record no change of their own (e.g. a failed login for an unknown
    /// account).
    async fn append_audit(&self, entries: &[AuditEntry]) -> StoreResult<()>;
    /// Newest first.
    async fn list_audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditEntry>>;
    /// Deletes entries older than `before`.
    async fn purge_audit(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

/// What the console's overview counts, read at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OverviewCounts {
    pub users: u64,
    /// Not revoked, not expired.
    pub active_sessions: u64,
    /// Emails written to the outbox and not sent yet.
    pub email_backlog: u64,
    /// Webhook deliveries pending to active endpoints.
    pub webhook_backlog: u64,
}

/// Events per bucket of time: `(event, bucket, count)`, the bucket counted from `since` in steps
/// of `bucket_secs`; empty buckets are absent.
pub type EventCounts = Vec<(String, i64, u64)>;

/// The console's read-only figures.
#[async_trait]
pub trait ConsoleStore: Send + Sync {
    async fn overview_counts(&self, now: DateTime<Utc>) -> StoreResult<OverviewCounts>;
    /// How many audit entries of each of `events` fell in each `bucket_secs`-long bucket from
    /// `since` on (served by an index on `(event, at)`, migration 0021).
    async fn audit_counts(
        &self,
        events: &[&str],
        since: DateTime<Utc>,
        bucket_secs: i64,
    ) -> StoreResult<EventCounts>;
}

/// What an emailed token proves when it comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailPurpose {
    /// The address `email` belongs to the user (registration, resend, or an email change).
    Verify,
    /// The user may set a new password.
    Reset,
}

impl EmailPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            EmailPurpose::Verify => "verify",
            EmailPurpose::Reset => "reset",
        }
    }
}

/// A single-use emailed token, stored by its SHA-256 only.
#[derive(Debug, Clone)]
pub struct NewEmailToken {
    pub hash: Vec<u8>,
    pub user_id: Uuid,
    pub purpose: EmailPurpose,
    /// The address the message goes to (for `Verify`: the address it proves).
    pub email: String,
    pub email_canonical: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct EmailTokenRecord {
    pub user_id: Uuid,
    pub purpose: EmailPurpose,
    pub email: String,
    pub email_canonical: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A message to deliver, written to the outbox in the same transaction as its token.
#[derive(Clone)]
pub struct OutboxMessage {
    pub id: Uuid,
    pub recipient: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub created_at: DateTime<Utc>,
    /// When the link in the message stops working: an undelivered message is given up then
    /// (never sent, its bodies cleared) instead of being retried forever.
    pub expires_at: DateTime<Utc>,
    /// Delivery attempts made so far (0 for a new message).
    pub attempts: u32,
}

/// The bodies carry a one-time link: `Debug` shows neither.
impl std::fmt::Debug for OutboxMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxMessage")
            .field("id", &self.id)
            .field("subject", &self.subject)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// Emailed tokens and the outbox that delivers them.
#[async_trait]
pub trait EmailStore: Send + Sync {
    /// Stores the token and queues its message — one transaction, so a message exists exactly
    /// when its token does. With `limit = Some((since, n))`, does so only while fewer than `n`
    /// tokens of the same purpose were issued to the user since `since`, counted inside the
    /// transaction so concurrent requests cannot overshoot. Returns whether it was queued.
    async fn enqueue_email(
        &self,
        token: &NewEmailToken,
        message: &OutboxMessage,
        limit: Option<(DateTime<Utc>, u64)>,
        audit: &[AuditEntry],
    ) -> StoreResult<bool>;
    /// Tokens of `purpose` issued to the user at or after `since` (per-account send limits).
    async fn count_email_tokens(
        &self,
        user_id: Uuid,
        purpose: EmailPurpose,
        since: DateTime<Utc>,
    ) -> StoreResult<u64>;
    /// The unused, unexpired token of `purpose` with this hash.
    async fn find_email_token(
        &self,
        hash: &[u8],
        purpose: EmailPurpose,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<EmailTokenRecord>>;
    /// Spends an unused, unexpired reset token (one winner), sets the password hash, revokes
    /// every session of its user, spends the user's other open reset tokens and ends every
    /// lock of the account (lockout: whoever holds the mailbox is the owner) — one
    /// transaction. Returns the user and the sessions ended.
    async fn reset_password(
        &self,
        hash: &[u8],
        password_hash: &str,
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<Option<(Uuid, u64)>>;
    /// Spends an unused, unexpired verification token (one winner), makes its address the
    /// user's verified email, and spends the user's other open verification tokens — one
    /// transaction. When the address changes, the user's open reset tokens are spent too (a
    /// reset link dies with the address it was sent to). A taken address is a
    /// `Conflict(Email)` and changes nothing.
    async fn verify_email(
        &self,
        hash: &[u8],
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<Option<Uuid>>;
    /// The address of the newest open verification token that differs from the user's
    /// current email: an email change waiting for its proof.
    async fn pending_email(&self, user_id: Uuid, now: DateTime<Utc>)
    -> StoreResult<Option<String>>;
    /// Up to `limit` unsent messages due at `now` whose link still works, leased until
    /// `lease_until` (another sender skips them until then), oldest first. In the same
    /// transaction, unsent messages whose link expired by `now` are given up: never handed out
    /// again, their bodies (which hold the link) cleared.
    async fn claim_outbox(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<OutboxMessage>>;
    /// The SMTP server accepted the message: it is never sent again, and its bodies (which
    /// hold the link) are cleared.
    async fn outbox_sent(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<()>;
    /// The message as stored, for support and tests: its bodies are empty once it was sent or
    /// given up.
    async fn get_outbox_message(&self, id: Uuid) -> StoreResult<Option<OutboxMessage>>;
    /// A delivery attempt failed: counts it and schedules the next one.
    async fn outbox_failed(
        &self,
        id: Uuid,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> StoreResult<()>;
    /// Deletes tokens that expired, and messages sent or given up, before `before`.
    async fn purge_email(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

/// A TOTP secret as stored: encrypted (see `mfa::totp::SecretCipher`). `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret(pub Vec<u8>);

impl std::fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealedSecret([REDACTED])")
    }
}

/// A user's authenticator app as stored.
#[derive(Debug, Clone)]
pub struct TotpRecord {
    pub secret: SealedSecret,
    pub created_at: DateTime<Utc>,
    /// `None` while the enrollment waits for its first code.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// The newest time step whose code was accepted.
    pub last_step: Option<i64>,
}

/// A user's second factors, as one read.
#[derive(Debug, Clone, Default)]
pub struct MfaFactors {
    /// Confirmed or pending.
    pub totp: Option<TotpRecord>,
    /// Recovery codes not used yet.
    pub recovery_codes_left: u32,
    /// Registered passkeys.
    pub passkeys: u32,
}

impl MfaFactors {
    /// A confirmed TOTP.
    pub fn has_totp(&self) -> bool {
        self.totp.as_ref().is_some_and(|t| t.confirmed_at.is_some())
    }

    /// A confirmed TOTP or a passkey: the password alone no longer signs in.
    pub fn has_second_factor(&self) -> bool {
        self.has_totp() || self.passkeys > 0
    }
}

/// Where the second step of a sign-in is finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeKind {
    /// `POST /auth/mfa/verify`: tokens.
    Api,
    /// The sign-in page: a browser session.
    Browser,
}

impl ChallengeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeKind::Api => "api",
            ChallengeKind::Browser => "browser",
        }
    }
}

/// The second step of a sign-in, waiting for a code: stored by the `mfa_token`'s hash.
#[derive(Debug, Clone)]
pub struct NewMfaChallenge {
    /// SHA-256 of the `mfa_token`.
    pub hash: Vec<u8>,
    pub user_id: Uuid,
    pub kind: ChallengeKind,
    /// The audiences the login asked for.
    pub audience: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// An open challenge (unused, unexpired).
#[derive(Debug, Clone)]
pub struct MfaChallengeRecord {
    pub user_id: Uuid,
    pub kind: ChallengeKind,
    pub audience: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What finishes a challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MfaProof {
    /// A TOTP code matched this time step; it is accepted only if the step is newer than the
    /// last one accepted.
    TotpStep(i64),
    /// The keyed hash of a presented recovery code; accepted only if it names an unused code
    /// of the user.
    RecoveryCode(Vec<u8>),
    /// A passkey assertion that verified: accepted only if the passkey is still the user's
    /// and its signature counter moves forward (see [`PasskeyUse`]).
    Passkey(PasskeyUse),
}

/// How finishing a challenge went. Nothing was changed unless `Completed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaCompletion {
    /// The challenge and the factor are spent.
    Completed,
    /// The challenge is unknown, used, expired, or another user's.
    ChallengeGone,
    /// The step was not newer than the last accepted one (a replay), the code is not an
    /// unused one of the user, or the user has no confirmed TOTP.
    FactorRefused,
}

/// Second factors: TOTP, recovery codes, and the second step of a sign-in. Every decision
/// that two replicas could race for (a time step, a recovery code, a challenge) is one
/// conditional write.
#[async_trait]
pub trait MfaStore: Send + Sync {
    /// The user's TOTP (if any) and how many recovery codes are left.
    async fn mfa_factors(&self, user_id: Uuid) -> StoreResult<MfaFactors>;
    /// Stores a pending TOTP secret, replacing a pending one. False (nothing written) when the
    /// user has a confirmed TOTP already — decided by the database, not a prior read.
    async fn begin_totp(
        &self,
        user_id: Uuid,
        secret: &SealedSecret,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Confirms the pending TOTP whose code matched `step` (recorded as the last step used, so
    /// that code cannot sign in afterwards) and replaces the user's recovery codes by
    /// `recovery_codes` (keyed hashes) — one transaction with `audit`. False (nothing written)
    /// when no TOTP is pending.
    async fn confirm_totp(
        &self,
        user_id: Uuid,
        step: i64,
        recovery_codes: &[Vec<u8>],
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<bool>;
    /// Deletes the user's TOTP (confirmed or pending); when no second factor remains, the
    /// recovery codes and open challenges go too. `audit` is written only when a TOTP was
    /// deleted. Returns whether one was.
    async fn remove_totp(&self, user_id: Uuid, audit: &[AuditEntry]) -> StoreResult<bool>;
    /// Replaces the user's recovery codes by a new set, the old set dying in the same
    /// transaction. False (nothing written) when the user has no confirmed second factor.
    async fn replace_recovery_codes(
        &self,
        user_id: Uuid,
        recovery_codes: &[Vec<u8>],
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<bool>;
    /// Deletes every factor of the user (TOTP, passkeys, recovery codes, open challenges) and, when there
    /// was one, queues `notice` to the outbox and writes `audit` — one transaction. Returns
    /// whether anything was removed.
    async fn remove_mfa(
        &self,
        user_id: Uuid,
        notice: &OutboxMessage,
        audit: &[AuditEntry],
    ) -> StoreResult<bool>;
    async fn create_mfa_challenge(&self, challenge: &NewMfaChallenge) -> StoreResult<()>;
    /// The unused, unexpired challenge with this hash.
    async fn find_mfa_challenge(
        &self,
        hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<MfaChallengeRecord>>;
    /// Finishes a challenge of `user_id` with `proof`: spends the challenge (unused, unexpired)
    /// and the factor (the TOTP step becomes the last one used, or the recovery code is
    /// marked used), and writes `audit` — one transaction; when either cannot be spent nothing
    /// is written. Of two concurrent completions of one challenge, or two uses of one step or
    /// code, one wins.
    async fn complete_mfa_challenge(
        &self,
        hash: &[u8],
        user_id: Uuid,
        proof: &MfaProof,
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<MfaCompletion>;
    /// Deletes challenges that expired before `before`.
    async fn purge_mfa_challenges(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

/// A passkey as stored: the credential webauthn-rs keeps (public key, counter, flags) as its
/// own JSON, beside what Sesame shows.
#[derive(Debug, Clone)]
pub struct PasskeyRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    /// The WebAuthn credential id (raw bytes): unique across all users.
    pub credential_id: Vec<u8>,
    pub name: String,
    /// webauthn-rs's `Passkey`, serialised.
    pub credential: String,
    /// The signature counter last accepted (0 for authenticators without one).
    pub sign_count: u32,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A verified passkey assertion to record: the credential as updated and its counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyUse {
    pub id: Uuid,
    pub credential: String,
    /// Accepted only if greater than the stored one, or both are 0 (no counter).
    pub sign_count: u32,
}

/// What a WebAuthn ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyKind {
    /// Adding a passkey to the signed-in user.
    Register,
    /// Signing in with a passkey of a named user, or of whoever the authenticator says
    /// (discoverable credentials): `user_id` is `None` then.
    Login,
    /// The second step of a password sign-in: `mfa_hash` names the challenge it finishes.
    SecondFactor,
}

impl CeremonyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CeremonyKind::Register => "register",
            CeremonyKind::Login => "login",
            CeremonyKind::SecondFactor => "second_factor",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "register" => Some(CeremonyKind::Register),
            "login" => Some(CeremonyKind::Login),
            "second_factor" => Some(CeremonyKind::SecondFactor),
            _ => None,
        }
    }
}

/// A started WebAuthn ceremony, kept (by the SHA-256 of its `challenge_id`) so that any replica
/// can finish what another started.
#[derive(Debug, Clone)]
pub struct Ceremony {
    pub hash: Vec<u8>,
    pub kind: CeremonyKind,
    pub user_id: Option<Uuid>,
    /// The sign-in challenge a second-factor ceremony finishes.
    pub mfa_hash: Option<Vec<u8>>,
    /// The name a registration gives the new passkey.
    pub name: Option<String>,
    /// webauthn-rs's ceremony state, serialised.
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Passkeys and the WebAuthn ceremonies that add and use them.
#[async_trait]
pub trait PasskeyStore: Send + Sync {
    async fn create_ceremony(&self, ceremony: &Ceremony) -> StoreResult<()>;
    /// Deletes and returns the unexpired ceremony with this hash: a ceremony is finished (or
    /// failed) once; of two concurrent takers one gets it.
    async fn take_ceremony(&self, hash: &[u8], now: DateTime<Utc>)
    -> StoreResult<Option<Ceremony>>;
    /// Deletes ceremonies that expired before `before`.
    async fn purge_ceremonies(&self, before: DateTime<Utc>) -> StoreResult<u64>;
    /// Stores a new passkey with `audit`, one transaction. False (nothing written) when its
    /// credential id is registered already (to anyone), or the user is gone.
    async fn add_passkey(&self, passkey: &PasskeyRecord, audit: &[AuditEntry])
    -> StoreResult<bool>;
    /// The user's passkeys, oldest first.
    async fn list_passkeys(&self, user_id: Uuid) -> StoreResult<Vec<PasskeyRecord>>;
    async fn find_passkey_by_credential(
        &self,
        credential_id: &[u8],
    ) -> StoreResult<Option<PasskeyRecord>>;
    /// Renames a passkey of the user; false when there is no such passkey of theirs.
    async fn rename_passkey(&self, user_id: Uuid, id: Uuid, name: &str) -> StoreResult<bool>;
    /// Deletes a passkey of the user with `audit`; when no second factor remains, the recovery
    /// codes and open sign-in challenges go too (as for [`MfaStore::remove_totp`]). False
    /// (nothing written) when there is no such passkey of theirs.
    async fn remove_passkey(
        &self,
        user_id: Uuid,
        id: Uuid,
        audit: &[AuditEntry],
    ) -> StoreResult<bool>;
    /// Records a verified assertion of a sign-in with the passkey alone: the credential, the
    /// counter and the last use — only if the counter moves forward (or both are 0), decided by
    /// one conditional write, so a cloned authenticator racing the real one is refused once.
    async fn use_passkey(&self, used: &PasskeyUse, now: DateTime<Utc>) -> StoreResult<bool>;
}

/// The `password_hash` of an account made by an upstream sign-in: matches no password (no
/// hash format starts with `!`), until the person sets one through a reset.
pub const NO_PASSWORD_HASH: &str = "!upstream-no-password";

/// An upstream identity (provider, subject) linked to a Sesame account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    /// The `[[upstream]]` id.
    pub provider: String,
    /// The provider's stable id of the person (`sub`; GitHub's numeric user id).
    pub subject: String,
    /// The email the provider gave at linking, for display.
    pub email: Option<String>,
    pub linked_at: DateTime<Utc>,
}

/// A sign-in sent to an upstream provider, waiting for its callback: stored by the SHA-256 of
/// its `state`. `Debug` hides the PKCE verifier.
#[derive(Clone)]
pub struct UpstreamLogin {
    pub hash: Vec<u8>,
    pub provider: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// Where the sign-in goes afterwards (a same-origin path).
    pub return_to: Option<String>,
    /// Linking from `/account/security`: the signed-in account the identity joins.
    pub link_user_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for UpstreamLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamLogin")
            .field("provider", &self.provider)
            .field("link_user_id", &self.link_user_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// How an unlink went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unlink {
    Unlinked,
    /// No such identity of the user.
    NotFound,
    /// It is the account's only way in (no password, no passkey, no other identity).
    LastWayIn,
}

/// Upstream identities and the sign-ins in flight to upstream providers.
#[async_trait]
pub trait IdentityStore: Send + Sync {
    async fn create_upstream_login(&self, login: &UpstreamLogin) -> StoreResult<()>;
    /// Deletes and returns the login of this `state` hash, unless expired: a callback works
    /// once.
    async fn take_upstream_login(
        &self,
        hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<UpstreamLogin>>;
    async fn purge_upstream_logins(&self, before: DateTime<Utc>) -> StoreResult<u64>;
    async fn find_identity(
        &self,
        provider: &str,
        subject: &str,
    ) -> StoreResult<Option<IdentityRecord>>;
    /// The user's identities, oldest first.
    async fn list_identities(&self, user_id: Uuid) -> StoreResult<Vec<IdentityRecord>>;
    /// Links `identity` with `audit`, one transaction. False (nothing written) when the
    /// (provider, subject) is linked already, or the user is gone.
    async fn link_identity(
        &self,
        identity: &IdentityRecord,
        audit: &[AuditEntry],
    ) -> StoreResult<bool>;
    /// Creates the user (its email verified or not, as the provider said) and links
    /// `identity` to it, with `audit` — one transaction. `Constraint` errors as
    /// [`UserStore::create_user`] (an email or username taken).
    async fn create_user_with_identity(
        &self,
        user: &NewUser,
        email_verified: bool,
        identity: &IdentityRecord,
        audit: &[AuditEntry],
    ) -> StoreResult<UserRecord>;
    /// Unlinks an identity of the user, with `audit`, unless it is their last way in
    /// (decided in the same transaction as the delete).
    async fn unlink_identity(
        &self,
        user_id: Uuid,
        id: Uuid,
        audit: &[AuditEntry],
    ) -> StoreResult<Unlink>;
}

/// An authorization code as issued: known by its SHA-256 only.
#[derive(Debug, Clone)]
pub struct NewCode {
    pub hash: Vec<u8>,
    pub client_id: String,
    pub user_id: Uuid,
    /// The browser session that approved it.
    pub parent_id: Uuid,
    /// As presented in the authorization request: the token request must repeat it exactly.
    pub redirect_uri: String,
    pub scope: String,
    pub audience: Vec<String>,
    /// PKCE S256 challenge.
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub auth_time: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A stored code: as issued, plus whether (and for what session) it was exchanged.
#[derive(Debug, Clone)]
pub struct CodeRecord {
    pub code: NewCode,
    pub used_at: Option<DateTime<Utc>>,
    pub session_id: Option<Uuid>,
}

/// What exchanging a code did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed {
    /// The code was unused: it is spent now, and the session was created with this status index.
    Issued { status_idx: i64 },
    /// The code had been exchanged before: the session that exchange created (if any) is
    /// revoked now, in the same transaction.
    Replayed,
    /// The browser session that approved the code has ended (or is gone): nothing was spent
    /// or created. Checked in the redeeming transaction, so a sign-out racing the exchange
    /// either ends the new app session with it or keeps it from being created.
    SignInEnded,
    /// No such code.
    Unknown,
}

/// Consent a person gave an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRecord {
    pub user_id: Uuid,
    pub client_id: String,
    /// The app's name, as it is now (lists show it).
    pub client_name: String,
    /// Sorted, no duplicates.
    pub scopes: Vec<String>,
    pub granted_at: DateTime<Utc>,
}

/// Authorization codes and consent (issue #18).
#[async_trait]
pub trait OidcStore: Send + Sync {
    async fn create_code(&self, code: &NewCode) -> StoreResult<()>;
    async fn find_code(&self, hash: &[u8]) -> StoreResult<Option<CodeRecord>>;
    /// Spends the code and creates `session` (with its refresh token) in one transaction; a
    /// code spent before instead revokes the session it was exchanged for (with `replay_audit`).
    async fn redeem_code(
        &self,
        hash: &[u8],
        session: &NewSession,
        audit: &[AuditEntry],
        replay_audit: &[AuditEntry],
    ) -> StoreResult<Redeemed>;
    async fn get_grant(&self, user_id: Uuid, client_id: &str) -> StoreResult<Option<GrantRecord>>;
    /// Records consent to `scopes` (replacing what was granted before).
    async fn save_grant(
        &self,
        user_id: Uuid,
        client_id: &str,
        scopes: &[String],
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<()>;
    async fn list_grants(&self, user_id: Uuid) -> StoreResult<Vec<GrantRecord>>;
    /// Deletes the grant and revokes every live session of the user with that app, in one
    /// transaction. `false` when there was no grant and no such session.
    async fn delete_grant(
        &self,
        user_id: Uuid,
        client_id: &str,
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<bool>;
    /// Deletes codes that expired before `before`.
    async fn purge_codes(&self, before: DateTime<Utc>) -> StoreResult<u64>;
    /// Takes up to `limit` due back-channel logouts of apps that still have a
    /// `backchannel_logout_uri`, pushing their due time to `lease_until` so no other worker
    /// takes them meanwhile.
    async fn claim_backchannel(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedLogout>>;
    /// Records an attempt's outcome (and counts the attempt).
    async fn settle_backchannel(&self, id: i64, outcome: &LogoutOutcome) -> StoreResult<()>;
}

/// A back-channel logout to deliver (written by the store's triggers as a session ends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedLogout {
    pub id: i64,
    pub client_id: String,
    /// The app's `backchannel_logout_uri`, as it is now.
    pub uri: String,
    pub sub: Uuid,
    pub sid: Uuid,
    pub created_at: DateTime<Utc>,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// What became of a back-channel logout attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogoutOutcome {
    Delivered,
    /// Try again at `at`.
    Retry {
        at: DateTime<Utc>,
        error: String,
    },
    /// Given up.
    Failed {
        error: String,
    },
}

#[async_trait]
pub trait Store:
    UserStore
    + ConsoleStore
    + SessionStore
    + KeyStore
    + AuditStore
    + ClientStore
    + EmailStore
    + MfaStore
    + PasskeyStore
    + IdentityStore
    + OidcStore
    + WebhookStore
    + std::fmt::Debug
{
    /// Applies pending migrations.
    async fn migrate(&self) -> StoreResult<()>;
    /// Cheap round trip for readiness.
    async fn ping(&self) -> StoreResult<()>;
    /// Connection pools as (name, open connections, idle connections), for metrics.
    fn pool_stats(&self) -> Vec<(&'static str, u32, u32)> {
        Vec::new()
    }
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "tests stamp records with the real time"
)]
mod tests {
    use super::*;

    #[test]
    fn password_hashes_never_show_in_debug_output() {
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
        let now = Utc::now();
        let new = NewUser {
            id: Uuid::now_v7(),
            email: "a@example.com".into(),
            email_canonical: "a@example.com".into(),
            username: None,
            username_canonical: None,
            password_hash: hash.into(),
            roles: vec!["customer".into()],
            now,
        };
        let record = UserRecord {
            id: new.id,
            email: new.email.clone(),
            username: None,
            display_name: None,
            password_hash: hash.into(),
            email_verified: false,
            disabled: false,
            failed_logins: 0,
            locked_until: None,
            last_login_at: None,
            roles: new.roles.clone(),
            created_at: now,
            updated_at: now,
        };
        for shown in [format!("{new:?}"), format!("{record:?}")] {
            assert!(!shown.contains("c2FsdHNhbHQ"), "{shown}");
            assert!(
                shown.contains("[redacted]") && shown.contains("a@example.com"),
                "{shown}"
            );
        }
    }

    #[test]
    fn client_secret_hashes_never_show_in_debug_output() {
        let record = ClientRecord {
            client_id: "svc_abc".into(),
            name: "billing".into(),
            secret_hash: b"keyed-hash-of-the-secret".to_vec(),
            audiences: vec!["billing".into()],
            scopes: vec![],
            delegable_roles: vec![],
            created_at: Utc::now(),
            access_until: None,
            status_idx: None,
            ..Default::default()
        };
        let shown = format!("{record:?}");
        // Debug of a Vec<u8> prints its bytes as numbers: look for the first few.
        assert!(!shown.contains("107, 101, 121"), "{shown}");
        assert!(
            shown.contains("[redacted]") && shown.contains("svc_abc"),
            "{shown}"
        );
    }
}
