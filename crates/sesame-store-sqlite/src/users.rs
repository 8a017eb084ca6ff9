//! users, user_roles, preferences.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sesame_core::store::{
    Admission, AttemptPolicy, AttemptSuccess, AuditEntry, Constraint, FailedAttempt, ImportOutcome,
    ImportedUser, NewUser, ProfileChange, StoreError, StoreResult, UserRecord, UserStore,
};
use sqlx::{QueryBuilder, Sqlite};

use sqlx::SqliteConnection;
use uuid::Uuid;

use crate::audit::{insert_audit, record_changes};
use crate::types::{TextUuid, UnixMs};
use crate::webhooks::{ENDED_COLUMNS, EndedRow, ended};
use crate::{SqliteStore, map_err, other};

/// `failed_logins` and `locked_until` as admins see them: the highest count and the latest lock
/// of the account-wide state and of any source (lockout, 0005).
const USER_COLUMNS: &str = "id, email, username, display_name, password_hash, email_verified, disabled, \
     MAX(users.failed_logins, COALESCE((SELECT MAX(a.failures) FROM login_attempts a WHERE a.user_id = users.id), 0)) AS failed_logins, \
     (SELECT MAX(t) FROM (SELECT users.locked_until AS t UNION ALL \
        SELECT a.locked_until FROM login_attempts a WHERE a.user_id = users.id)) AS locked_until, \
     last_login_at, created_at, updated_at, \
     (SELECT group_concat(role, ' ') FROM (SELECT role FROM user_roles r WHERE r.user_id = users.id ORDER BY role)) AS roles";

/// The pending email change of the user in the enclosing `users` row: the newest live
/// verification token for another address than the current one (?1: now, as ms).
pub(crate) const PENDING_EMAIL: &str = "(SELECT t.email FROM email_tokens t \
     WHERE t.user_id = users.id AND t.purpose = 'verify' AND t.used_at IS NULL \
       AND t.expires_at > ?1 AND t.email_canonical <> users.email_canonical \
     ORDER BY t.created_at DESC LIMIT 1)";

/// A user with its pending email change, in one read.
static PROFILE_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("SELECT {USER_COLUMNS}, {PENDING_EMAIL} AS pending_email FROM users WHERE id = ?2")
});

#[derive(sqlx::FromRow)]
struct UserRow {
    id: TextUuid,
    email: String,
    username: Option<String>,
    display_name: Option<String>,
    password_hash: String,
    email_verified: bool,
    disabled: bool,
    failed_logins: i64,
    locked_until: Option<UnixMs>,
    last_login_at: Option<UnixMs>,
    /// Space-separated, sorted; NULL without roles.
    roles: Option<String>,
    created_at: UnixMs,
    updated_at: UnixMs,
}

impl From<UserRow> for UserRecord {
    fn from(r: UserRow) -> Self {
        UserRecord {
            id: r.id.into(),
            email: r.email,
            username: r.username,
            display_name: r.display_name,
            password_hash: r.password_hash,
            email_verified: r.email_verified,
            disabled: r.disabled,
            failed_logins: r.failed_logins as u32,
            locked_until: r.locked_until.map(Into::into),
            last_login_at: r.last_login_at.map(Into::into),
            roles: r
                .roles
                .map(|r| r.split(' ').map(str::to_string).collect())
                .unwrap_or_default(),
            created_at: r.created_at.into(),
            updated_at: r.updated_at.into(),
        }
    }
}

#[derive(sqlx::FromRow)]
struct ProfileRow {
    #[sqlx(flatten)]
    user: UserRow,
    pending_email: Option<String>,
}

/// Users who hold `admin` and are not disabled.
async fn active_admins(conn: &mut SqliteConnection) -> StoreResult<i64> {
    sqlx::query_scalar(
        "SELECT count(*) FROM user_roles r JOIN users u ON u.id = r.user_id \
         WHERE r.role = 'admin' AND u.disabled = 0",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(map_err)
}

/// Refuses (and so rolls back) a change that took the last active admin away. Inside the write
/// transaction, which SQLite runs one at a time: two concurrent demotions cannot both pass.
async fn keeps_an_admin(conn: &mut SqliteConnection, before: i64) -> StoreResult<()> {
    if before > 0 && active_admins(conn).await? == 0 {
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
impl UserStore for SqliteStore {
    async fn create_user(&self, u: &NewUser, audit: &[AuditEntry]) -> StoreResult<UserRecord> {
        let mut tx = self.write_tx().await?;
        let user = insert_user(&mut tx, u, false).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(user)
    }

    async fn get_user(&self, id: Uuid) -> StoreResult<Option<UserRecord>> {
        let user: Option<UserRow> =
            sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))
                .bind(id.to_string())
                .fetch_optional(self.reader())
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
            .bind(UnixMs(now))
            .bind(id.to_string())
            .fetch_optional(self.reader())
            .await
            .map_err(map_err)?;
        Ok(profile.map(|p| (p.user.into(), p.pending_email)))
    }

    async fn find_user_by_login(&self, login: &str) -> StoreResult<Option<UserRecord>> {
        // One statement, which can use both unique indexes for the OR (SQLite plans it as a
        // MULTI-INDEX OR). Should one account's email equal another's username, the email wins.
        let user: Option<UserRow> = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users \
             WHERE email_canonical = ?1 OR username_canonical = ?1 \
             ORDER BY email_canonical = ?1 DESC LIMIT 1"
        ))
        .bind(login)
        .fetch_optional(self.reader())
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
        // a taken email or username fails it on the unique index.
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("UPDATE users SET updated_at = ");
        q.push_bind(UnixMs(now));
        if let Some((email, canonical)) = &c.email {
            // A new address is unproven until verified again.
            q.push(", email = ").push_bind(email.clone());
            q.push(", email_canonical = ").push_bind(canonical.clone());
            q.push(", email_verified = 0");
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
        q.push(" WHERE id = ").push_bind(id.to_string());
        q.push(format!(" RETURNING {USER_COLUMNS}"));
        let mut tx = self.write_tx().await?;
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
        let mut tx = self.write_tx().await?;
        // A new password: guessers start from zero.
        crate::lockout::clear(&mut tx, &id.to_string()).await?;
        sqlx::query("UPDATE users SET password_hash = ?, updated_at = ?, failed_logins = 0, locked_until = NULL WHERE id = ?")
            .bind(hash)
            .bind(UnixMs(now))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        let sql = format!(
            "UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL AND id IS NOT ? \
             RETURNING {ENDED_COLUMNS}"
        );
        let revoked: Vec<EndedRow> = sqlx::query_as(&sql)
            .bind(UnixMs(now))
            .bind(id.to_string())
            .bind(keep.map(|k| k.to_string()))
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
        let n = revoked.len() as u64;
        // A new password: every reset link of the user dies.
        crate::email::spend_reset_tokens(&mut tx, &id.to_string(), now).await?;
        record_changes(&mut tx, audit, &ended(revoked, now)).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(n)
    }

    async fn import_users(&self, batch: &[ImportedUser]) -> StoreResult<Vec<ImportOutcome>> {
        let mut tx = self.write_tx().await?;
        let mut outcomes = Vec::with_capacity(batch.len());
        // The entries of the users inserted, written at the end: one webhook fan-out for the
        // batch rather than one statement per user.
        let mut audit = Vec::new();
        for i in batch {
            let u = &i.user;
            let id = u.id.to_string();
            // A taken email or username makes this insert nothing; the constraints decide.
            let inserted = sqlx::query(
                "INSERT INTO users (id, email, email_canonical, username, username_canonical, password_hash, \
                 email_verified, disabled, created_at, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(&id)
            .bind(&u.email)
            .bind(&u.email_canonical)
            .bind(&u.username)
            .bind(&u.username_canonical)
            .bind(&u.password_hash)
            .bind(i.email_verified)
            .bind(i.disabled)
            .bind(UnixMs(i.created_at))
            .bind(UnixMs(u.now))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
            if inserted == 0 {
                let email_taken = sqlx::query("SELECT 1 FROM users WHERE email_canonical = ?")
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
            for role in &u.roles {
                sqlx::query("INSERT OR IGNORE INTO user_roles (user_id, role) VALUES (?, ?)")
                    .bind(&id)
                    .bind(role)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
            }
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
        let mut tx = self.write_tx().await?;
        let done =
            sqlx::query("UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?")
                .bind(new_hash)
                .bind(id.to_string())
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
        let mut tx = self.write_tx().await?;
        let admins = active_admins(&mut tx).await?;
        // The sessions go with the user (ON DELETE CASCADE): the live ones end here.
        let sql = format!(
            "SELECT {ENDED_COLUMNS} FROM sessions WHERE user_id = ? AND revoked_at IS NULL"
        );
        let live: Vec<EndedRow> = sqlx::query_as(&sql)
            .bind(id.to_string())
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
        crate::oidc::logouts_of_deleted_user(&mut tx, id, now).await?;
        let done = sqlx::query("DELETE FROM users WHERE id = ?")
            .bind(id.to_string())
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
        let mut tx = self.write_tx().await?;
        let admins = active_admins(&mut tx).await?;
        let done = sqlx::query("UPDATE users SET disabled = ?, updated_at = ? WHERE id = ?")
            .bind(disabled)
            .bind(UnixMs(now))
            .bind(id.to_string())
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
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE users SET failed_logins = 0, locked_until = NULL, updated_at = ? WHERE id = ?",
        )
        .bind(UnixMs(now))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        crate::lockout::clear(&mut tx, &id.to_string()).await?;
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
        let mut tx = self.write_tx().await?;
        let admins = active_admins(&mut tx).await?;
        let id_s = id.to_string();
        let done = sqlx::query("UPDATE users SET updated_at = ? WHERE id = ?")
            .bind(UnixMs(now))
            .bind(&id_s)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        sqlx::query("DELETE FROM user_roles WHERE user_id = ?")
            .bind(&id_s)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        let mut sorted = roles.to_vec();
        sorted.sort();
        sorted.dedup();
        for r in &sorted {
            sqlx::query("INSERT INTO user_roles (user_id, role) VALUES (?, ?)")
                .bind(&id_s)
                .bind(r)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
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
        let mut q: QueryBuilder<Sqlite> =
            QueryBuilder::new(format!("SELECT {USER_COLUMNS} FROM users WHERE 1 = 1"));
        if let Some(text) = query.map(str::trim).filter(|t| !t.is_empty()) {
            // The canonical columns are lower-cased already, so a LIKE on a lower-cased pattern
            // is the case-insensitive substring match (SQLite's LIKE folds ASCII case anyway).
            let pattern = like_contains(text);
            q.push(" AND (email_canonical LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR username_canonical LIKE ")
                .push_bind(pattern)
                .push(" ESCAPE '\\')");
        }
        if let Some(a) = after {
            q.push(" AND id > ").push_bind(a.to_string());
        }
        q.push(" ORDER BY id LIMIT ").push_bind(i64::from(limit));
        let users: Vec<UserRow> = q
            .build_query_as()
            .fetch_all(self.reader())
            .await
            .map_err(map_err)?;
        Ok(users.into_iter().map(Into::into).collect())
    }

    async fn get_preferences(&self, id: Uuid) -> StoreResult<Option<serde_json::Value>> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT data FROM preferences WHERE user_id = ?")
                .bind(id.to_string())
                .fetch_optional(self.reader())
                .await
                .map_err(map_err)?;
        row.map(|(d,)| serde_json::from_str(&d).map_err(other))
            .transpose()
    }

    async fn put_preferences(
        &self,
        id: Uuid,
        prefs: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO preferences (user_id, data, updated_at) VALUES (?, ?, ?) \
             ON CONFLICT (user_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
        )
        .bind(id.to_string())
        .bind(prefs.to_string())
        .bind(UnixMs(now))
        .execute(self.writer())
        .await
        .map_err(map_err)?;
        Ok(())
    }
}

/// Inserts a new user with its roles in the caller's transaction; the record as stored.
pub(crate) async fn insert_user(
    conn: &mut sqlx::SqliteConnection,
    u: &NewUser,
    email_verified: bool,
) -> StoreResult<UserRecord> {
    sqlx::query(
        "INSERT INTO users (id, email, email_canonical, username, username_canonical, password_hash, email_verified, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(u.id.to_string())
    .bind(&u.email)
    .bind(&u.email_canonical)
    .bind(&u.username)
    .bind(&u.username_canonical)
    .bind(&u.password_hash)
    .bind(email_verified)
    .bind(UnixMs(u.now))
    .bind(UnixMs(u.now))
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    for role in &u.roles {
        sqlx::query("INSERT INTO user_roles (user_id, role) VALUES (?, ?)")
            .bind(u.id.to_string())
            .bind(role)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    }
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
