//! users, user_roles, preferences.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sesame_core::store::{
    Admission, AttemptPolicy, AttemptSuccess, AuditEntry, Constraint, FailedAttempt, ImportOutcome,
    ImportedUser, NewUser, ProfileChange, StoreError, StoreResult, UserRecord, UserStore,
};
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::audit::{insert_audit, record_changes};
use crate::webhooks::{ENDED_COLUMNS, EndedRow, ended};
use crate::{PostgresStore, map_err};

/// Roles come back sorted in byte order (COLLATE "C"), the order Rust's `sort` gives and SQLite
/// uses, whatever locale the database was created with.
/// `failed_logins` and `locked_until` as admins see them: the highest count and the latest lock
/// of the account-wide state and of any source (lockout, 0005).
const USER_COLUMNS: &str = "id, email, username, display_name, password_hash, email_verified, disabled, \
     GREATEST(users.failed_logins, (SELECT MAX(a.failures) FROM login_attempts a WHERE a.user_id = users.id)) AS failed_logins, \
     GREATEST(users.locked_until, (SELECT MAX(a.locked_until) FROM login_attempts a WHERE a.user_id = users.id)) AS locked_until, \
     last_login_at, created_at, updated_at, \
     ARRAY(SELECT role FROM user_roles r WHERE r.user_id = users.id ORDER BY role COLLATE \"C\") AS roles";

/// The pending email change of the user in the enclosing `users` row: the newest live
/// verification token for another address than the current one ($1: now).
pub(crate) const PENDING_EMAIL: &str = "(SELECT t.email FROM email_tokens t \
     WHERE t.user_id = users.id AND t.purpose = 'verify' AND t.used_at IS NULL \
       AND t.expires_at > $1 AND t.email_canonical <> users.email_canonical \
     ORDER BY t.created_at DESC LIMIT 1)";

/// A user with its pending email change, in one read.
static PROFILE_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("SELECT {USER_COLUMNS}, {PENDING_EMAIL} AS pending_email FROM users WHERE id = $2")
});

#[derive(sqlx::FromRow)]
struct UserRow {
    id: Uuid,
    email: String,
    username: Option<String>,
    display_name: Option<String>,
    password_hash: String,
    email_verified: bool,
    disabled: bool,
    failed_logins: i32,
    locked_until: Option<DateTime<Utc>>,
    last_login_at: Option<DateTime<Utc>>,
    roles: Vec<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<UserRow> for UserRecord {
    fn from(r: UserRow) -> Self {
        UserRecord {
            id: r.id,
            email: r.email,
            username: r.username,
            display_name: r.display_name,
            password_hash: r.password_hash,
            email_verified: r.email_verified,
            disabled: r.disabled,
            // The column has CHECK (failed_logins >= 0).
            failed_logins: r.failed_logins.unsigned_abs(),
            locked_until: r.locked_until,
            last_login_at: r.last_login_at,
            roles: r.roles,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct ProfileRow {
    #[sqlx(flatten)]
    user: UserRow,
    pending_email: Option<String>,
}

/// Serialises every change that may take away an admin (role changes, disabling, deletion),
/// for the transaction's length: without it, two admins demoting each other at once would each
/// count the other as the admin that remains.
const ADMIN_CHANGE_LOCK: i64 = 0x5345_5341_4d45_4144; // "SESAMEAD"

/// Users who hold `admin` and are not disabled, counted after taking [`ADMIN_CHANGE_LOCK`].
async fn active_admins(conn: &mut PgConnection) -> StoreResult<i64> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(ADMIN_CHANGE_LOCK)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    admins_now(conn).await
}

async fn admins_now(conn: &mut PgConnection) -> StoreResult<i64> {
    sqlx::query_scalar(
        "SELECT count(*) FROM user_roles r JOIN users u ON u.id = r.user_id \
         WHERE r.role = 'admin' AND NOT u.disabled",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(map_err)
}

/// Refuses (and so rolls back) a change that took the last active admin away.
async fn keeps_an_admin(conn: &mut PgConnection, before: i64) -> StoreResult<()> {
    if before > 0 && admins_now(conn).await? == 0 {
        return Err(StoreError::Conflict(Constraint::LastAdmin));
    }
    Ok(())
}

/// Escapes LIKE's wildcards so a search for `a_b%` matches those characters literally.
fn like_contains(text: &str) -> String {
    format!(
        "%{}%",
        text.to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    )
}

#[async_trait]
impl UserStore for PostgresStore {
    async fn create_user(&self, u: &NewUser, audit: &[AuditEntry]) -> StoreResult<UserRecord> {
        let mut tx = self.begin().await?;
        // A duplicate email or username fails here with the constraint's name: no prior check.
        let user = insert_user(&mut tx, u, false).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(user)
    }

    async fn get_user(&self, id: Uuid) -> StoreResult<Option<UserRecord>> {
        let user: Option<UserRow> =
            sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
                .bind(id)
                .fetch_optional(self.pool())
                .await
                .map_err(map_err)?;
        Ok(user.map(Into::into))
    }

    async fn get_profile(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(UserRecord, Option<String>)>> {
        let profile: Option<ProfileRow> = sqlx::query_as(&PROFILE_SQL)
            .bind(now)
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(map_err)?;
        Ok(profile.map(|p| (p.user.into(), p.pending_email)))
    }

    async fn find_user_by_login(&self, login: &str) -> StoreResult<Option<UserRecord>> {
        // One statement, which can use both unique indexes for the OR. Should one account's
        // email equal another's username, the email wins.
        let user: Option<UserRow> = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users \
             WHERE email_canonical = $1 OR username_canonical = $1 \
             ORDER BY email_canonical = $1 DESC LIMIT 1"
        ))
        .bind(login)
        .fetch_optional(self.pool())
        .await
        .map_err(map_err)?;
        Ok(user.map(Into::into))
    }

    async fn update_profile(
        &self,
        id: Uuid,
        c: &ProfileChange,
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<Option<UserRecord>> {
        // One UPDATE setting only the fields that change, in a transaction with its audit entry:
        // a taken email or username fails it with the constraint's name.
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new("UPDATE users SET updated_at = ");
        q.push_bind(now);
        if let Some((email, canonical)) = &c.email {
            // A new address is unproven until verified again.
            q.push(", email = ").push_bind(email.clone());
            q.push(", email_canonical = ").push_bind(canonical.clone());
            q.push(", email_verified = false");
        }
        if let Some(username) = &c.username {
            let (shown, canonical) = match username {
                Some((u, c)) => (Some(u.clone()), Some(c.clone())),
                None => (None, None),
            };
            q.push(", username = ").push_bind(shown);
            q.push(", username_canonical = ").push_bind(canonical);
        }
        if let Some(display_name) = &c.display_name {
            q.push(", display_name = ").push_bind(display_name.clone());
        }
        q.push(" WHERE id = ").push_bind(id);
        q.push(format!(" RETURNING {USER_COLUMNS}"));
        let mut tx = self.begin().await?;
        let user: Option<UserRow> = q
            .build_query_as()
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
        if user.is_some() {
            insert_audit(&mut tx, audit).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(user.map(Into::into))
    }

    async fn set_password(
        &self,
        id: Uuid,
        hash: &str,
        keep: Option<Uuid>,
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        // A new password: guessers start from zero (source rows first: the attempts' lock order).
        crate::lockout::clear(&mut tx, id).await?;
        sqlx::query(
            "UPDATE users SET password_hash = $1, updated_at = $2, failed_logins = 0, locked_until = NULL \
             WHERE id = $3",
        )
        .bind(hash)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        // IS DISTINCT FROM: with no session to keep ($3 NULL) every session ends.
        let sql = format!(
            "UPDATE sessions SET revoked_at = $1 \
             WHERE user_id = $2 AND revoked_at IS NULL AND id IS DISTINCT FROM $3 RETURNING {ENDED_COLUMNS}"
        );
        let revoked: Vec<EndedRow> = sqlx::query_as(&sql)
            .bind(now)
            .bind(id)
            .bind(keep)
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
        let n = revoked.len() as u64;
        // A new password: every reset link of the user dies.
        crate::email::spend_reset_tokens(&mut tx, id, now).await?;
        record_changes(&mut tx, audit, &ended(revoked, now)).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(n)
    }

    async fn import_users(&self, batch: &[ImportedUser]) -> StoreResult<Vec<ImportOutcome>> {
        let mut tx = self.begin().await?;
        let mut outcomes = Vec::with_capacity(batch.len());
        // The entries of the users inserted, written at the end: one webhook fan-out for the
        // batch rather than one statement per user.
        let mut audit = Vec::new();
        for i in batch {
            let u = &i.user;
            // A taken email or username makes this insert nothing (no error, which would abort
            // the batch's transaction); the constraints decide, concurrent importers included.
            let inserted = sqlx::query(
                "INSERT INTO users (id, email, email_canonical, username, username_canonical, password_hash, \
                 email_verified, disabled, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
            )
            .bind(u.id)
            .bind(&u.email)
            .bind(&u.email_canonical)
            .bind(&u.username)
            .bind(&u.username_canonical)
            .bind(&u.password_hash)
            .bind(i.email_verified)
            .bind(i.disabled)
            .bind(i.created_at)
            .bind(u.now)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
            if inserted == 0 {
                let email_taken = sqlx::query("SELECT 1 FROM users WHERE email_canonical = $1")
                    .bind(&u.email_canonical)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(map_err)?
                    .is_some();
                outcomes.push(if email_taken {
                    ImportOutcome::EmailExists
                } else {
                    ImportOutcome::UsernameTaken
                });
                continue;
            }
            sqlx::query(
                "INSERT INTO user_roles (user_id, role) SELECT DISTINCT $1, unnest($2::text[]) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(u.id)
            .bind(&u.roles)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            audit.push(i.audit.clone());
            outcomes.push(ImportOutcome::Imported);
        }
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(outcomes)
    }

    async fn rehash_password(
        &self,
        id: Uuid,
        old_hash: &str,
        new_hash: &str,
        audit: &[AuditEntry],
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        // Conditional: a password change committed meanwhile makes this update nothing.
        let done =
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3")
                .bind(new_hash)
                .bind(id)
                .bind(old_hash)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn delete_user(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let admins = active_admins(&mut tx).await?;
        // The user's row first: no session can be opened for it from here on (a new session's
        // foreign key check waits for this lock), so the live sessions read next are all that
        // the cascade below ends, reported as ended. (Users, then their sessions: the order a
        // password change locks them in.)
        sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        let sql = format!(
            "SELECT {ENDED_COLUMNS} FROM sessions WHERE user_id = $1 AND revoked_at IS NULL"
        );
        let live: Vec<EndedRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
        crate::oidc::logouts_of_deleted_user(&mut tx, id, now).await?;
        // Roles, preferences, sessions (and any token issued meanwhile) go by ON DELETE CASCADE.
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        keeps_an_admin(&mut tx, admins).await?;
        record_changes(&mut tx, audit, &ended(live, now)).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn reserve_attempt(
        &self,
        id: Uuid,
        source: &str,
        policy: &AttemptPolicy,
    ) -> StoreResult<Admission> {
        crate::lockout::reserve(self, id, source, policy).await
    }

    async fn attempt_failed(
        &self,
        id: Uuid,
        source: &str,
        policy: &AttemptPolicy,
        failed: &AuditEntry,
        source_locked: &AuditEntry,
        account_locked: &AuditEntry,
    ) -> StoreResult<FailedAttempt> {
        let audit = [failed, source_locked, account_locked];
        crate::lockout::failed(self, id, source, policy, audit).await
    }

    async fn attempt_succeeded(
        &self,
        id: Uuid,
        source: &str,
        policy: &AttemptPolicy,
        success: AttemptSuccess,
        audit: &[AuditEntry],
    ) -> StoreResult<Admission> {
        crate::lockout::succeeded(self, id, source, policy, success, audit).await
    }

    async fn release_attempt(&self, id: Uuid, source: &str, now: DateTime<Utc>) -> StoreResult<()> {
        crate::lockout::release(self, id, source, now).await
    }

    async fn purge_login_attempts(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        crate::lockout::purge(self, before).await
    }

    async fn set_disabled(
        &self,
        id: Uuid,
        disabled: bool,
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let admins = active_admins(&mut tx).await?;
        let done = sqlx::query("UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3")
            .bind(disabled)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        keeps_an_admin(&mut tx, admins).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn unlock(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        // The source rows first: the lock order of every attempt (source row, then user row).
        crate::lockout::clear(&mut tx, id).await?;
        let done = sqlx::query(
            "UPDATE users SET failed_logins = 0, locked_until = NULL, updated_at = $1 WHERE id = $2",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn set_roles(
        &self,
        id: Uuid,
        roles: &[String],
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<Option<Vec<String>>> {
        let mut tx = self.begin().await?;
        let admins = active_admins(&mut tx).await?;
        // Touching the user first also locks its row, so two concurrent role changes apply one
        // after the other instead of interleaving their deletes and inserts.
        let done = sqlx::query("UPDATE users SET updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        let mut sorted = roles.to_vec();
        sorted.sort();
        sorted.dedup();
        sqlx::query("INSERT INTO user_roles (user_id, role) SELECT $1, unnest($2::text[])")
            .bind(id)
            .bind(&sorted)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        keeps_an_admin(&mut tx, admins).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(Some(sorted))
    }

    async fn list_users(
        &self,
        query: Option<&str>,
        limit: u32,
        after: Option<Uuid>,
    ) -> StoreResult<Vec<UserRecord>> {
        let mut q: QueryBuilder<Postgres> =
            QueryBuilder::new(format!("SELECT {USER_COLUMNS} FROM users WHERE true"));
        if let Some(text) = query.map(str::trim).filter(|t| !t.is_empty()) {
            // The canonical columns are lower-cased already, so a plain LIKE on a lower-cased
            // pattern is the case-insensitive substring match.
            let pattern = like_contains(text);
            q.push(" AND (email_canonical LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR username_canonical LIKE ")
                .push_bind(pattern)
                .push(" ESCAPE '\\')");
        }
        if let Some(a) = after {
            q.push(" AND id > ").push_bind(a);
        }
        q.push(" ORDER BY id LIMIT ").push_bind(i64::from(limit));
        let users: Vec<UserRow> = q
            .build_query_as()
            .fetch_all(self.pool())
            .await
            .map_err(map_err)?;
        Ok(users.into_iter().map(Into::into).collect())
    }

    async fn get_preferences(&self, id: Uuid) -> StoreResult<Option<serde_json::Value>> {
        let row: Option<(serde_json::Value,)> =
            sqlx::query_as("SELECT data FROM preferences WHERE user_id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await
                .map_err(map_err)?;
        Ok(row.map(|(data,)| data))
    }

    async fn put_preferences(
        &self,
        id: Uuid,
        prefs: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO preferences (user_id, data, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
        )
        .bind(id)
        .bind(prefs)
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(map_err)?;
        Ok(())
    }
}

/// Inserts a new user with its roles in the caller's transaction; the record as stored.
pub(crate) async fn insert_user(
    conn: &mut sqlx::PgConnection,
    u: &NewUser,
    email_verified: bool,
) -> StoreResult<UserRecord> {
    sqlx::query(
        "INSERT INTO users (id, email, email_canonical, username, username_canonical, password_hash, email_verified, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(u.id)
    .bind(&u.email)
    .bind(&u.email_canonical)
    .bind(&u.username)
    .bind(&u.username_canonical)
    .bind(&u.password_hash)
    .bind(email_verified)
    .bind(u.now)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    sqlx::query("INSERT INTO user_roles (user_id, role) SELECT $1, unnest($2::text[])")
        .bind(u.id)
        .bind(&u.roles)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    let mut roles = u.roles.clone();
    roles.sort();
    Ok(UserRecord {
        id: u.id,
        email: u.email.clone(),
        username: u.username.clone(),
        display_name: None,
        password_hash: u.password_hash.clone(),
        email_verified,
        disabled: false,
        failed_logins: 0,
        locked_until: None,
        last_login_at: None,
        roles,
        created_at: u.now,
        updated_at: u.now,
    })
}

#[cfg(test)]
mod tests {
    use super::like_contains;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(like_contains("A_b%c\\"), "%a\\_b\\%c\\\\%");
    }
}
