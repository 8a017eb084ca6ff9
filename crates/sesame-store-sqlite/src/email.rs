//! email_tokens, email_outbox.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sesame_core::store::{
    AuditEntry, EmailPurpose, EmailStore, EmailTokenRecord, NewEmailToken, OutboxMessage,
    StoreResult,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use crate::audit::insert_audit;
use crate::{SqliteStore, from_ms, map_err, ms, parse_uuid};

fn purpose(s: &str) -> EmailPurpose {
    if s == "reset" {
        EmailPurpose::Reset
    } else {
        EmailPurpose::Verify
    }
}

fn token_from_row(row: &SqliteRow) -> StoreResult<EmailTokenRecord> {
    Ok(EmailTokenRecord {
        user_id: parse_uuid(&row.try_get::<String, _>("user_id").map_err(map_err)?)?,
        purpose: purpose(&row.try_get::<String, _>("purpose").map_err(map_err)?),
        email: row.try_get("email").map_err(map_err)?,
        email_canonical: row.try_get("email_canonical").map_err(map_err)?,
        created_at: from_ms(row.try_get("created_at").map_err(map_err)?),
        expires_at: from_ms(row.try_get("expires_at").map_err(map_err)?),
    })
}

/// Spends every open reset token of `user`, in the caller's transaction: a reset link must not
/// outlive the password or the address it was sent for (used on reset, password change and
/// email change; see docs/security.md).
pub(crate) async fn spend_reset_tokens(
    conn: &mut SqliteConnection,
    user: &str,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    let spent = sqlx::query(
        "UPDATE email_tokens SET used_at = ? WHERE user_id = ? AND purpose = 'reset' AND used_at IS NULL",
    )
    .bind(ms(now))
    .bind(user)
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(spent.rows_affected())
}

fn message_from_row(row: &SqliteRow) -> StoreResult<OutboxMessage> {
    Ok(OutboxMessage {
        id: parse_uuid(&row.try_get::<String, _>("id").map_err(map_err)?)?,
        recipient: row.try_get("recipient").map_err(map_err)?,
        subject: row.try_get("subject").map_err(map_err)?,
        text_body: row.try_get("text_body").map_err(map_err)?,
        html_body: row.try_get("html_body").map_err(map_err)?,
        created_at: from_ms(row.try_get("created_at").map_err(map_err)?),
        expires_at: from_ms(row.try_get("expires_at").map_err(map_err)?),
        attempts: row.try_get::<i64, _>("attempts").map_err(map_err)?.max(0) as u32,
    })
}

#[async_trait]
impl EmailStore for SqliteStore {
    async fn enqueue_email(
        &self,
        t: &NewEmailToken,
        m: &OutboxMessage,
        limit: Option<(DateTime<Utc>, u64)>,
        audit: &[AuditEntry],
    ) -> StoreResult<bool> {
        // BEGIN IMMEDIATE holds the write lock: the count and the insert cannot interleave
        // with another request's.
        let mut tx = self.write_tx().await?;
        if let Some((since, max)) = limit {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM email_tokens WHERE user_id = ? AND purpose = ? AND created_at >= ?",
            )
            .bind(t.user_id.to_string())
            .bind(t.purpose.as_str())
            .bind(ms(since))
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
            if n.max(0) as u64 >= max {
                return Ok(false);
            }
        }
        sqlx::query(
            "INSERT INTO email_tokens (hash, user_id, purpose, email, email_canonical, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&t.hash)
        .bind(t.user_id.to_string())
        .bind(t.purpose.as_str())
        .bind(&t.email)
        .bind(&t.email_canonical)
        .bind(ms(t.created_at))
        .bind(ms(t.expires_at))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        sqlx::query(
            "INSERT INTO email_outbox (id, recipient, subject, text_body, html_body, created_at, attempts, next_attempt_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(m.id.to_string())
        .bind(&m.recipient)
        .bind(&m.subject)
        .bind(&m.text_body)
        .bind(&m.html_body)
        .bind(ms(m.created_at))
        .bind(i64::from(m.attempts))
        .bind(ms(m.created_at))
        .bind(ms(m.expires_at))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn count_email_tokens(
        &self,
        user_id: Uuid,
        purpose: EmailPurpose,
        since: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM email_tokens WHERE user_id = ? AND purpose = ? AND created_at >= ?",
        )
        .bind(user_id.to_string())
        .bind(purpose.as_str())
        .bind(ms(since))
        .fetch_one(self.reader())
        .await
        .map_err(map_err)?;
        Ok(n.max(0) as u64)
    }

    async fn find_email_token(
        &self,
        hash: &[u8],
        purpose: EmailPurpose,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<EmailTokenRecord>> {
        let row = sqlx::query(
            "SELECT user_id, purpose, email, email_canonical, created_at, expires_at FROM email_tokens \
             WHERE hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?",
        )
        .bind(hash)
        .bind(purpose.as_str())
        .bind(ms(now))
        .fetch_optional(self.reader())
        .await
        .map_err(map_err)?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn reset_password(
        &self,
        hash: &[u8],
        password_hash: &str,
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<Option<(Uuid, u64)>> {
        let mut tx = self.write_tx().await?;
        let user: Option<String> = sqlx::query_scalar(
            "UPDATE email_tokens SET used_at = ?1 \
             WHERE hash = ?2 AND purpose = 'reset' AND used_at IS NULL AND expires_at > ?1 RETURNING user_id",
        )
        .bind(ms(now))
        .bind(hash)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        let Some(user) = user else {
            return Ok(None);
        };
        sqlx::query("UPDATE users SET password_hash = ?, updated_at = ?, failed_logins = 0, locked_until = NULL WHERE id = ?")
            .bind(password_hash)
            .bind(ms(now))
            .bind(&user)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        // The user's other reset links die with this one.
        spend_reset_tokens(&mut tx, &user, now).await?;
        let ended = sqlx::query(
            "UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
        )
        .bind(ms(now))
        .bind(&user)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(Some((parse_uuid(&user)?, ended.rows_affected())))
    }

    async fn verify_email(
        &self,
        hash: &[u8],
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<Option<Uuid>> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(
            "UPDATE email_tokens SET used_at = ?1 \
             WHERE hash = ?2 AND purpose = 'verify' AND used_at IS NULL AND expires_at > ?1 \
             RETURNING user_id, email, email_canonical",
        )
        .bind(ms(now))
        .bind(hash)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let user: String = row.try_get("user_id").map_err(map_err)?;
        let email: String = row.try_get("email").map_err(map_err)?;
        let canonical: String = row.try_get("email_canonical").map_err(map_err)?;
        let before: Option<String> =
            sqlx::query_scalar("SELECT email_canonical FROM users WHERE id = ?")
                .bind(&user)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
        // A taken address fails here on the unique index, and the transaction rolls back.
        sqlx::query(
            "UPDATE users SET email = ?, email_canonical = ?, email_verified = 1, updated_at = ? WHERE id = ?",
        )
        .bind(&email)
        .bind(&canonical)
        .bind(ms(now))
        .bind(&user)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        sqlx::query(
            "UPDATE email_tokens SET used_at = ? WHERE user_id = ? AND purpose = 'verify' AND used_at IS NULL",
        )
        .bind(ms(now))
        .bind(&user)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        // An email change: reset links sent to the old address die.
        if before.as_deref() != Some(canonical.as_str()) {
            spend_reset_tokens(&mut tx, &user, now).await?;
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(Some(parse_uuid(&user)?))
    }

    async fn pending_email(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<String>> {
        // The same rule as GET /profile's one-read query (`users::PENDING_EMAIL`).
        let sql = format!(
            "SELECT {} FROM users WHERE id = ?2",
            crate::users::PENDING_EMAIL
        );
        let pending: Option<Option<String>> = sqlx::query_scalar(&sql)
            .bind(ms(now))
            .bind(user_id.to_string())
            .fetch_optional(self.reader())
            .await
            .map_err(map_err)?;
        Ok(pending.flatten())
    }

    async fn claim_outbox(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<OutboxMessage>> {
        let mut tx = self.write_tx().await?;
        // Links that expired undelivered: given up, and the link goes with the bodies.
        sqlx::query(
            "UPDATE email_outbox SET abandoned_at = ?1, text_body = '', html_body = '' \
             WHERE sent_at IS NULL AND abandoned_at IS NULL AND expires_at <= ?1",
        )
        .bind(ms(now))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        let rows = sqlx::query(
            "UPDATE email_outbox SET next_attempt_at = ?1 WHERE id IN \
             (SELECT id FROM email_outbox WHERE sent_at IS NULL AND abandoned_at IS NULL \
              AND next_attempt_at <= ?2 ORDER BY id LIMIT ?3) \
             RETURNING id, recipient, subject, text_body, html_body, created_at, expires_at, attempts",
        )
        .bind(ms(lease_until))
        .bind(ms(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        let mut out = rows
            .iter()
            .map(message_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        out.sort_by_key(|m| m.id);
        Ok(out)
    }

    async fn outbox_sent(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query(
            "UPDATE email_outbox SET sent_at = ?, text_body = '', html_body = '', last_error = NULL WHERE id = ?",
        )
        .bind(ms(now))
        .bind(id.to_string())
        .execute(self.writer())
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn get_outbox_message(&self, id: Uuid) -> StoreResult<Option<OutboxMessage>> {
        let row = sqlx::query(
            "SELECT id, recipient, subject, text_body, html_body, created_at, expires_at, attempts \
             FROM email_outbox WHERE id = ?",
        )
        .bind(id.to_string())
        .fetch_optional(self.reader())
        .await
        .map_err(map_err)?;
        row.as_ref().map(message_from_row).transpose()
    }

    async fn outbox_failed(
        &self,
        id: Uuid,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE email_outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? \
             WHERE id = ? AND sent_at IS NULL AND abandoned_at IS NULL",
        )
        .bind(ms(next_attempt_at))
        .bind(error)
        .bind(id.to_string())
        .execute(self.writer())
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn purge_email(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let mut tx = self.write_tx().await?;
        let tokens = sqlx::query("DELETE FROM email_tokens WHERE expires_at < ?")
            .bind(ms(before))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        let sent = sqlx::query("DELETE FROM email_outbox WHERE sent_at < ?1 OR abandoned_at < ?1")
            .bind(ms(before))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(tokens.rows_affected() + sent.rows_affected())
    }
}
