//! email_tokens, email_outbox.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sesame_core::store::{
    AuditEntry, EmailPurpose, EmailStore, EmailTokenRecord, NewEmailToken, OutboxMessage,
    StoreResult,
};
use sqlx::SqliteConnection;
use uuid::Uuid;

use crate::audit::insert_audit;
use crate::types::{TextUuid, UnixMs};
use crate::{SqliteStore, map_err};

fn purpose(s: &str) -> EmailPurpose {
    if s == "reset" {
        EmailPurpose::Reset
    } else {
        EmailPurpose::Verify
    }
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    user_id: TextUuid,
    purpose: String,
    email: String,
    email_canonical: String,
    created_at: UnixMs,
    expires_at: UnixMs,
}

impl From<TokenRow> for EmailTokenRecord {
    fn from(r: TokenRow) -> Self {
        EmailTokenRecord {
            user_id: r.user_id.into(),
            purpose: purpose(&r.purpose),
            email: r.email,
            email_canonical: r.email_canonical,
            created_at: r.created_at.into(),
            expires_at: r.expires_at.into(),
        }
    }
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
    .bind(UnixMs(now))
    .bind(user)
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(spent.rows_affected())
}

/// Queues a message in the caller's transaction (the change it tells of commits with it).
pub(crate) async fn insert_outbox(
    conn: &mut SqliteConnection,
    m: &OutboxMessage,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO email_outbox (id, recipient, subject, text_body, html_body, created_at, attempts, next_attempt_at, expires_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(m.id.to_string())
    .bind(&m.recipient)
    .bind(&m.subject)
    .bind(&m.text_body)
    .bind(&m.html_body)
    .bind(UnixMs(m.created_at))
    .bind(i64::from(m.attempts))
    .bind(UnixMs(m.created_at))
    .bind(UnixMs(m.expires_at))
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: TextUuid,
    recipient: String,
    subject: String,
    text_body: String,
    html_body: String,
    created_at: UnixMs,
    expires_at: UnixMs,
    attempts: i64,
}

impl From<MessageRow> for OutboxMessage {
    fn from(r: MessageRow) -> Self {
        OutboxMessage {
            id: r.id.into(),
            recipient: r.recipient,
            subject: r.subject,
            text_body: r.text_body,
            html_body: r.html_body,
            created_at: r.created_at.into(),
            expires_at: r.expires_at.into(),
            attempts: r.attempts.max(0) as u32,
        }
    }
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
            .bind(UnixMs(since))
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
        .bind(UnixMs(t.created_at))
        .bind(UnixMs(t.expires_at))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        insert_outbox(&mut tx, m).await?;
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
        .bind(UnixMs(since))
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
        let token: Option<TokenRow> = sqlx::query_as(
            "SELECT user_id, purpose, email, email_canonical, created_at, expires_at FROM email_tokens \
             WHERE hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?",
        )
        .bind(hash)
        .bind(purpose.as_str())
        .bind(UnixMs(now))
        .fetch_optional(self.reader())
        .await
        .map_err(map_err)?;
        Ok(token.map(Into::into))
    }

    async fn reset_password(
        &self,
        hash: &[u8],
        password_hash: &str,
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<Option<(Uuid, u64)>> {
        let mut tx = self.write_tx().await?;
        let user_id: Option<TextUuid> = sqlx::query_scalar(
            "UPDATE email_tokens SET used_at = ?1 \
             WHERE hash = ?2 AND purpose = 'reset' AND used_at IS NULL AND expires_at > ?1 RETURNING user_id",
        )
        .bind(UnixMs(now))
        .bind(hash)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        let Some(user_id) = user_id else {
            return Ok(None);
        };
        let user = user_id.to_string();
        // Whoever holds the mailbox is the owner: every lock of the account ends (lockout).
        crate::lockout::clear(&mut tx, &user).await?;
        sqlx::query("UPDATE users SET password_hash = ?, updated_at = ?, failed_logins = 0, locked_until = NULL WHERE id = ?")
            .bind(password_hash)
            .bind(UnixMs(now))
            .bind(&user)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        // The user's other reset links die with this one.
        spend_reset_tokens(&mut tx, &user, now).await?;
        let sql = format!(
            "UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL RETURNING {}",
            crate::webhooks::ENDED_COLUMNS
        );
        let revoked: Vec<crate::webhooks::EndedRow> = sqlx::query_as(&sql)
            .bind(UnixMs(now))
            .bind(&user)
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
        let n = revoked.len() as u64;
        crate::audit::record_changes(&mut tx, audit, &crate::webhooks::ended(revoked, now)).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(Some((user_id.into(), n)))
    }

    async fn verify_email(
        &self,
        hash: &[u8],
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<Option<Uuid>> {
        let mut tx = self.write_tx().await?;
        let row: Option<(TextUuid, String, String)> = sqlx::query_as(
            "UPDATE email_tokens SET used_at = ?1 \
             WHERE hash = ?2 AND purpose = 'verify' AND used_at IS NULL AND expires_at > ?1 \
             RETURNING user_id, email, email_canonical",
        )
        .bind(UnixMs(now))
        .bind(hash)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        let Some((user_id, email, canonical)) = row else {
            return Ok(None);
        };
        let user = user_id.to_string();
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
        .bind(UnixMs(now))
        .bind(&user)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        sqlx::query(
            "UPDATE email_tokens SET used_at = ? WHERE user_id = ? AND purpose = 'verify' AND used_at IS NULL",
        )
        .bind(UnixMs(now))
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
        Ok(Some(user_id.into()))
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
            .bind(UnixMs(now))
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
        .bind(UnixMs(now))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        let messages: Vec<MessageRow> = sqlx::query_as(
            "UPDATE email_outbox SET next_attempt_at = ?1 WHERE id IN \
             (SELECT id FROM email_outbox WHERE sent_at IS NULL AND abandoned_at IS NULL \
              AND next_attempt_at <= ?2 ORDER BY id LIMIT ?3) \
             RETURNING id, recipient, subject, text_body, html_body, created_at, expires_at, attempts",
        )
        .bind(UnixMs(lease_until))
        .bind(UnixMs(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        let mut out: Vec<OutboxMessage> = messages.into_iter().map(Into::into).collect();
        out.sort_by_key(|m| m.id);
        Ok(out)
    }

    async fn outbox_sent(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query(
            "UPDATE email_outbox SET sent_at = ?, text_body = '', html_body = '', last_error = NULL WHERE id = ?",
        )
        .bind(UnixMs(now))
        .bind(id.to_string())
        .execute(self.writer())
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn get_outbox_message(&self, id: Uuid) -> StoreResult<Option<OutboxMessage>> {
        let message: Option<MessageRow> = sqlx::query_as(
            "SELECT id, recipient, subject, text_body, html_body, created_at, expires_at, attempts \
             FROM email_outbox WHERE id = ?",
        )
        .bind(id.to_string())
        .fetch_optional(self.reader())
        .await
        .map_err(map_err)?;
        Ok(message.map(Into::into))
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
        .bind(UnixMs(next_attempt_at))
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
            .bind(UnixMs(before))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        let sent = sqlx::query("DELETE FROM email_outbox WHERE sent_at < ?1 OR abandoned_at < ?1")
            .bind(UnixMs(before))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(tokens.rows_affected() + sent.rows_affected())
    }
}
