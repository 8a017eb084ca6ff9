//! users, user_roles, preferences.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sesame_core::store::{
    AuditEntry, FailedLogin, ImportOutcome, ImportedUser, NewUser, ProfileChange, StoreResult,
    UserRecord, UserStore,
};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};
use uuid::Uuid;

use crate::audit::insert_audit;
use crate::{PostgresStore, map_err};

/// Roles come back sorted in byte order (COLLATE "C"), the order Rust's `sort` gives and SQLite
/// uses, whatever locale the database was created with.
const USER_COLUMNS: &str = "id, email, username, display_name, password_hash, email_verified, disabled, \
     failed_logins, locked_until, last_login_at, created_at, updated_at, \
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

fn user_from_row(row: &PgRow) -> StoreResult<UserRecord> {
    Ok(UserRecord {
        id: row.try_get("id").map_err(map_err)?,
        email: row.try_get("email").map_err(map_err)?,
        username: row.try_get("username").map_err(map_err)?,
        display_name: row.try_get("display_name").map_err(map_err)?,
        password_hash: row.try_get("password_hash").map_err(map_err)?,
        email_verified: row.try_get("email_verified").map_err(map_err)?,
        disabled: row.try_get("disabled").map_err(map_err)?,
        // The column has CHECK (failed_logins >= 0).
        failed_logins: row
            .try_get::<i32, _>("failed_logins")
            .map_err(map_err)?
            .unsigned_abs(),
        locked_until: row.try_get("locked_until").map_err(map_err)?,
        last_login_at: row.try_get("last_login_at").map_err(map_err)?,
        roles: row.try_get("roles").map_err(map_err)?,
        created_at: row.try_get("created_at").map_err(map_err)?,
        updated_at: row.try_get("updated_at").map_err(map_err)?,
    })
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
        sqlx::query(
            "INSERT INTO users (id, email, email_canonical, username, username_canonical, password_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(u.id)
        .bind(&u.email)
        .bind(&u.email_canonical)
        .bind(&u.username)
        .bind(&u.username_canonical)
        .bind(&u.password_hash)
        .bind(u.now)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        sqlx::query("INSERT INTO user_roles (user_id, role) SELECT $1, unnest($2::text[])")
            .bind(u.id)
            .bind(&u.roles)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)?;
        let mut roles = u.roles.clone();
        roles.sort();
        Ok(UserRecord {
            id: u.id,
            email: u.email.clone(),
            username: u.username.clone(),
            display_name: None,
            password_hash: u.password_hash.clone(),
            email_verified: false,
            disabled: false,
            failed_logins: 0,
            locked_until: None,
            last_login_at: None,
            roles,
            created_at: u.now,
            updated_at: u.now,
        })
    }

    async fn get_user(&self, id: Uuid) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(map_err)?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn get_profile(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(UserRecord, Option<String>)>> {
        let row = sqlx::query(&PROFILE_SQL)
            .bind(now)
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(map_err)?;
        row.map(|r| {
            Ok((
                user_from_row(&r)?,
                r.try_get("pending_email").map_err(map_err)?,
            ))
        })
        .transpose()
    }

    async fn find_user_by_login(&self, login: &str) -> StoreResult<Option<UserRecord>> {
        // One statement; both unique indexes serve the OR. Should one account's email equal
        // another's username, the email wins, as on SQLite.
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users \
             WHERE email_canonical = $1 OR username_canonical = $1 \
             ORDER BY email_canonical = $1 DESC LIMIT 1"
        ))
        .bind(login)
        .fetch_optional(self.pool())
        .await
        .map_err(map_err)?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn update_profile(
        &self,
        id: Uuid,
        c: &ProfileChange,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<UserRecord>> {
        // One UPDATE setting only the fields that change: atomic without a transaction, and a
        // taken email or username fails it with the constraint's name.
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
        let row = q
            .build()
            .fetch_optional(self.pool())
            .await
            .map_err(map_err)?;
        row.as_ref().map(user_from_row).transpose()
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
        let ended = sqlx::query(
            "UPDATE sessions SET revoked_at = $1 \
             WHERE user_id = $2 AND revoked_at IS NULL AND id IS DISTINCT FROM $3",
        )
        .bind(now)
        .bind(id)
        .bind(keep)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        // A new password: every reset link of the user dies.
        crate::email::spend_reset_tokens(&mut tx, id, now).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(ended.rows_affected())
    }

    async fn import_users(&self, batch: &[ImportedUser]) -> StoreResult<Vec<ImportOutcome>> {
        let mut tx = self.begin().await?;
        let mut outcomes = Vec::with_capacity(batch.len());
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
            insert_audit(&mut tx, std::slice::from_ref(&i.audit)).await?;
            outcomes.push(ImportOutcome::Imported);
        }
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

    async fn delete_user(&self, id: Uuid, audit: &[AuditEntry]) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        // Refresh tokens first, explicitly: the cascade below would lock sessions and then their
        // tokens, the reverse of a rotation (token, then session), so a refresh of this user's
        // session at the same moment could deadlock with it.
        sqlx::query(
            "DELETE FROM refresh_tokens \
             WHERE session_id IN (SELECT id FROM sessions WHERE user_id = $1)",
        )
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        // Roles, preferences, sessions (and any token issued meanwhile) go by ON DELETE CASCADE.
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
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

    async fn record_login_failure(
        &self,
        id: Uuid,
        max: u32,
        lock_until: DateTime<Utc>,
        failed: &AuditEntry,
        locked: &AuditEntry,
    ) -> StoreResult<FailedLogin> {
        let max = i32::try_from(max.max(1)).unwrap_or(i32::MAX);
        let mut tx = self.begin().await?;
        // One statement: concurrent failures queue on the row lock and each re-reads the count
        // the previous one left, so none is lost.
        let row = sqlx::query(
            "UPDATE users SET \
               locked_until = CASE WHEN failed_logins + 1 >= $1 THEN $2 ELSE locked_until END, \
               failed_logins = CASE WHEN failed_logins + 1 >= $1 THEN 0 ELSE failed_logins + 1 END \
             WHERE id = $3 RETURNING failed_logins, locked_until",
        )
        .bind(max)
        .bind(lock_until)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        let (result, locked_now) = match row {
            Some(r) => {
                let count: i32 = r.try_get("failed_logins").map_err(map_err)?;
                let result = FailedLogin {
                    failed_logins: count.unsigned_abs(),
                    locked_until: r.try_get("locked_until").map_err(map_err)?,
                };
                // The count restarts at 0 only when this failure reached the limit (otherwise
                // it is at least 1). Comparing the returned lock time with `lock_until` instead
                // would miss: timestamptz keeps microseconds, the clock gives nanoseconds.
                (result, count == 0)
            }
            None => (
                FailedLogin {
                    failed_logins: 0,
                    locked_until: None,
                },
                false,
            ),
        };
        insert_audit(&mut tx, std::slice::from_ref(failed)).await?;
        if locked_now {
            insert_audit(&mut tx, std::slice::from_ref(locked)).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(result)
    }

    async fn record_login_success(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE users SET failed_logins = 0, locked_until = NULL, last_login_at = $1 WHERE id = $2",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn set_disabled(
        &self,
        id: Uuid,
        disabled: bool,
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
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
        let rows = q.build().fetch_all(self.pool()).await.map_err(map_err)?;
        rows.iter().map(user_from_row).collect()
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

#[cfg(test)]
mod tests {
    use super::like_contains;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(like_contains("A_b%c\\"), "%a\\_b\\%c\\\\%");
    }
}
