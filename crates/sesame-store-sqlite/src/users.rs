//! users, user_roles, preferences.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sesame_core::store::{
    AuditEntry, FailedLogin, ImportOutcome, ImportedUser, NewUser, ProfileChange, StoreResult,
    UserRecord, UserStore,
};
use sqlx::{QueryBuilder, Sqlite};

use crate::audit::insert_audit;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use crate::{SqliteStore, from_ms, map_err, ms, opt_ms, other, parse_uuid};

const USER_COLUMNS: &str = "id, email, username, display_name, password_hash, email_verified, disabled, \
     failed_logins, locked_until, last_login_at, created_at, updated_at, \
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

fn user_from_row(row: &SqliteRow) -> StoreResult<UserRecord> {
    let roles: Option<String> = row.try_get("roles").map_err(map_err)?;
    Ok(UserRecord {
        id: parse_uuid(&row.try_get::<String, _>("id").map_err(map_err)?)?,
        email: row.try_get("email").map_err(map_err)?,
        username: row.try_get("username").map_err(map_err)?,
        display_name: row.try_get("display_name").map_err(map_err)?,
        password_hash: row.try_get("password_hash").map_err(map_err)?,
        email_verified: row.try_get("email_verified").map_err(map_err)?,
        disabled: row.try_get("disabled").map_err(map_err)?,
        failed_logins: row.try_get::<i64, _>("failed_logins").map_err(map_err)? as u32,
        locked_until: opt_ms(row.try_get("locked_until").map_err(map_err)?),
        last_login_at: opt_ms(row.try_get("last_login_at").map_err(map_err)?),
        roles: roles
            .map(|r| r.split(' ').map(str::to_string).collect())
            .unwrap_or_default(),
        created_at: from_ms(row.try_get("created_at").map_err(map_err)?),
        updated_at: from_ms(row.try_get("updated_at").map_err(map_err)?),
    })
}

impl SqliteStore {
    async fn user_where(&self, clause: &str, arg: &str) -> StoreResult<Option<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {clause}");
        let row = sqlx::query(&sql)
            .bind(arg)
            .fetch_optional(self.reader())
            .await
            .map_err(map_err)?;
        row.as_ref().map(user_from_row).transpose()
    }
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, u: &NewUser, audit: &[AuditEntry]) -> StoreResult<UserRecord> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO users (id, email, email_canonical, username, username_canonical, password_hash, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(u.id.to_string())
        .bind(&u.email)
        .bind(&u.email_canonical)
        .bind(&u.username)
        .bind(&u.username_canonical)
        .bind(&u.password_hash)
        .bind(ms(u.now))
        .bind(ms(u.now))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        for role in &u.roles {
            sqlx::query("INSERT INTO user_roles (user_id, role) VALUES (?, ?)")
                .bind(u.id.to_string())
                .bind(role)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
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
        self.user_where("id = ?", &id.to_string()).await
    }

    async fn get_profile(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(UserRecord, Option<String>)>> {
        let row = sqlx::query(&PROFILE_SQL)
            .bind(ms(now))
            .bind(id.to_string())
            .fetch_optional(self.reader())
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
        // Two indexed look-ups rather than one OR, which SQLite may not serve from both indexes.
        if let Some(u) = self.user_where("email_canonical = ?", login).await? {
            return Ok(Some(u));
        }
        self.user_where("username_canonical = ?", login).await
    }

    async fn update_profile(
        &self,
        id: Uuid,
        c: &ProfileChange,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<UserRecord>> {
        let mut tx = self.write_tx().await?;
        let id_s = id.to_string();
        if let Some((email, canonical)) = &c.email {
            sqlx::query(
                "UPDATE users SET email = ?, email_canonical = ?, email_verified = 0 WHERE id = ?",
            )
            .bind(email)
            .bind(canonical)
            .bind(&id_s)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        if let Some(username) = &c.username {
            let (u, canon) = match username {
                Some((u, c)) => (Some(u.as_str()), Some(c.as_str())),
                None => (None, None),
            };
            sqlx::query("UPDATE users SET username = ?, username_canonical = ? WHERE id = ?")
                .bind(u)
                .bind(canon)
                .bind(&id_s)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        if let Some(d) = &c.display_name {
            sqlx::query("UPDATE users SET display_name = ? WHERE id = ?")
                .bind(d)
                .bind(&id_s)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        let done = sqlx::query("UPDATE users SET updated_at = ? WHERE id = ?")
            .bind(ms(now))
            .bind(&id_s)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?");
        let row = sqlx::query(&sql)
            .bind(&id_s)
            .fetch_optional(self.writer())
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
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE users SET password_hash = ?, updated_at = ?, failed_logins = 0, locked_until = NULL WHERE id = ?")
            .bind(hash)
            .bind(ms(now))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        let ended = sqlx::query(
            "UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL AND id IS NOT ?",
        )
        .bind(ms(now))
        .bind(id.to_string())
        .bind(keep.map(|k| k.to_string()))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        // A new password: every reset link of the user dies.
        crate::email::spend_reset_tokens(&mut tx, &id.to_string(), now).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(ended.rows_affected())
    }

    async fn import_users(&self, batch: &[ImportedUser]) -> StoreResult<Vec<ImportOutcome>> {
        let mut tx = self.write_tx().await?;
        let mut outcomes = Vec::with_capacity(batch.len());
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
            .bind(ms(i.created_at))
            .bind(ms(u.now))
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

    async fn delete_user(&self, id: Uuid, audit: &[AuditEntry]) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("DELETE FROM users WHERE id = ?")
            .bind(id.to_string())
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
        let mut tx = self.write_tx().await?;
        // One statement: concurrent failures cannot lose a count.
        let row = sqlx::query(
            "UPDATE users SET \
               locked_until = CASE WHEN failed_logins + 1 >= ?1 THEN ?2 ELSE locked_until END, \
               failed_logins = CASE WHEN failed_logins + 1 >= ?1 THEN 0 ELSE failed_logins + 1 END \
             WHERE id = ?3 RETURNING failed_logins, locked_until",
        )
        .bind(i64::from(max.max(1)))
        .bind(ms(lock_until))
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        let result = match row {
            Some(r) => FailedLogin {
                failed_logins: r.try_get::<i64, _>(0).map_err(map_err)? as u32,
                locked_until: opt_ms(r.try_get(1).map_err(map_err)?),
            },
            None => FailedLogin {
                failed_logins: 0,
                locked_until: None,
            },
        };
        insert_audit(&mut tx, std::slice::from_ref(failed)).await?;
        // Compared at storage precision (milliseconds): did this failure set the lock?
        if result.locked_until.map(ms) == Some(ms(lock_until)) {
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
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL, last_login_at = ? WHERE id = ?")
            .bind(ms(now))
            .bind(id.to_string())
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
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("UPDATE users SET disabled = ?, updated_at = ? WHERE id = ?")
            .bind(disabled)
            .bind(ms(now))
            .bind(id.to_string())
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
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE users SET failed_logins = 0, locked_until = NULL, updated_at = ? WHERE id = ?",
        )
        .bind(ms(now))
        .bind(id.to_string())
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
        let mut tx = self.write_tx().await?;
        let id_s = id.to_string();
        let done = sqlx::query("UPDATE users SET updated_at = ? WHERE id = ?")
            .bind(ms(now))
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
            let pattern = format!(
                "%{}%",
                text.to_lowercase()
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            );
            q.push(" AND (email_canonical LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\'");
            q.push(" OR username_canonical LIKE ")
                .push_bind(pattern)
                .push(" ESCAPE '\\')");
        }
        if let Some(a) = after {
            q.push(" AND id > ").push_bind(a.to_string());
        }
        q.push(" ORDER BY id LIMIT ").push_bind(i64::from(limit));
        let rows = q.build().fetch_all(self.reader()).await.map_err(map_err)?;
        rows.iter().map(user_from_row).collect()
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
        .bind(ms(now))
        .execute(self.writer())
        .await
        .map_err(map_err)?;
        Ok(())
    }
}
