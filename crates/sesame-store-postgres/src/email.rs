//! email_tokens, email_outbox.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sesame_core::store::{
    AuditEntry, EmailPurpose, EmailStore, EmailTokenRecord, NewEmailToken, OutboxMessage,
    StoreResult,
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::audit::insert_audit;
use crate::{PostgresStore, map_err};

fn purpose(s: &str) -> EmailPurpose {
    if s == "reset" {
        EmailPurpose::Reset
    } else {
        EmailPurpose::Verify
    }
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    user_id: Uuid,
    purpose: String,
    email: String,
    email_canonical: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl From<TokenRow> for EmailTokenRecord {
    fn from(r: TokenRow) -> Self {
        EmailTokenRecord {
            user_id: r.user_id,
            purpose: purpose(&r.purpose),
            email: r.email,
            email_canonical: r.email_canonical,
            created_at: r.created_at,
            expires_at: r.expires_at,
        }
    }
}

/// Spends every open reset token of `user`, in the caller's transaction: a reset link must not
/// outlive the password or the address it was sent for (used on reset, password change and
/// email change; see docs/security.md).
pub(crate) async fn spend_reset_tokens(
    conn: &mut PgConnection,
    user: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    let spent = sqlx::query(
        "UPDATE email_tokens SET used_at = $1 WHERE user_id = $2 AND purpose = 'reset' AND used_at IS NULL",
    )
    .bind(now)
    .bind(user)
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(spent.rows_affected())
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: Uuid,
    recipient: String,
    subject: String,
    text_body: String,
    html_body: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    attempts: i32,
}

impl From<MessageRow> for OutboxMessage {
    fn from(r: MessageRow) -> Self {
        OutboxMessage {
            id: r.id,
            recipient: r.recipient,
            subject: r.subject,
            text_body: r.text_body,
            html_body: r.html_body,
            created_at: r.created_at,
            expires_at: r.expires_at,
            attempts: r.attempts.unsigned_abs(),
        }
    }
}

/// Queues a message in the caller's transaction (the change it tells of commits with it).
pub(crate) async fn insert_outbox(conn: &mut PgConnection, m: &OutboxMessage) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO email_outbox (id, recipient, subject, text_body, html_body, created_at, attempts, next_attempt_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $6, $8)",
    )
    .bind(m.id)
    .bind(&m.recipient)
    .bind(&m.subject)
    .bind(&m.text_body)
    .bind(&m.html_body)
    .bind(m.created_at)
    .bind(i32::try_from(m.attempts).unwrap_or(i32::MAX))
    .bind(m.expires_at)
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

#[async_trait]
impl EmailStore for PostgresStore {
    async fn enqueue_email(
        &self,
        t: &NewEmailToken,
        m: &OutboxMessage,
        limit: Option<(DateTime<Utc>, u64)>,
        audit: &[AuditEntry],
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        if let Some((since, max)) = limit {
            // Locking the user's row serialises concurrent requests for one account, so the
            // count below cannot be overtaken.
            sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
                .bind(t.user_id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM email_tokens WHERE user_id = $1 AND purpose = $2 AND created_at >= $3",
            )
            .bind(t.user_id)
            .bind(t.purpose.as_str())
            .bind(since)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
            if n.max(0) as u64 >= max {
                return Ok(false);
            }
        }
        sqlx::query(
            "INSERT INTO email_tokens (hash, user_id, purpose, email, email_canonical, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&t.hash)
        .bind(t.user_id)
        .bind(t.purpose.as_str())
        .bind(&t.email)
        .bind(&t.email_canonical)
        .bind(t.created_at)
        .bind(t.expires_at)
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
            "SELECT COUNT(*) FROM email_tokens WHERE user_id = $1 AND purpose = $2 AND created_at >= $3",
        )
        .bind(user_id)
        .bind(purpose.as_str())
        .bind(since)
        .fetch_one(self.pool())
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
             WHERE hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
        )
        .bind(hash)
        .bind(purpose.as_str())
        .bind(now)
        .fetch_optional(self.pool())
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
        let mut tx = self.begin().await?;
        let user: Option<Uuid> = sqlx::query_scalar(
            "UPDATE email_tokens SET used_at = $1 \
             WHERE hash = $2 AND purpose = 'reset' AND used_at IS NULL AND expires_at > $1 RETURNING user_id",
        )
        .bind(now)
        .bind(hash)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        let Some(user) = user else {
            return Ok(None);
        };
        // Whoever holds the mailbox is the owner: every lock of the account ends (lockout;
        // source rows before the user row, the lock order of every attempt).
        crate::lockout::clear(&mut tx, user).await?;
        sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2, failed_logins = 0, locked_until = NULL WHERE id = $3")
            .bind(password_hash)
            .bind(now)
            .bind(user)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        // The user's other reset links die with this one.
        spend_reset_tokens(&mut tx, user, now).await?;
        let sql = format!(
            "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL RETURNING {}",
            crate::webhooks::ENDED_COLUMNS
        );
        let revoked: Vec<crate::webhooks::EndedRow> = sqlx::query_as(&sql)
            .bind(now)
            .bind(user)
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
        let n = revoked.len() as u64;
        crate::audit::record_changes(&mut tx, audit, &crate::webhooks::ended(revoked, now)).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(Some((user, n)))
    }

    async fn verify_email(
        &self,
        hash: &[u8],
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<Option<Uuid>> {
        let mut tx = self.begin().await?;
        let row: Option<(Uuid, String, String)> = sqlx::query_as(
            "UPDATE email_tokens SET used_at = $1 \
             WHERE hash = $2 AND purpose = 'verify' AND used_at IS NULL AND expires_at > $1 \
             RETURNING user_id, email, email_canonical",
        )
        .bind(now)
        .bind(hash)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        let Some((user, email, canonical)) = row else {
            return Ok(None);
        };
        let before: Option<String> =
            sqlx::query_scalar("SELECT email_canonical FROM users WHERE id = $1")
                .bind(user)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
        // A taken address fails here on users_email_key, and the transaction rolls back.
        sqlx::query(
            "UPDATE users SET email = $1, email_canonical = $2, email_verified = true, updated_at = $3 WHERE id = $4",
        )
        .bind(&email)
        .bind(&canonical)
        .bind(now)
        .bind(user)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        sqlx::query(
            "UPDATE email_tokens SET used_at = $1 WHERE user_id = $2 AND purpose = 'verify' AND used_at IS NULL",
        )
        .bind(now)
        .bind(user)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        // An email change: reset links sent to the old address die.
        if before.as_deref() != Some(canonical.as_str()) {
            spend_reset_tokens(&mut tx, user, now).await?;
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(Some(user))
    }

    async fn pending_email(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<String>> {
        // The same rule as GET /profile's one-read query (`users::PENDING_EMAIL`).
        let sql = format!(
            "SELECT {} FROM users WHERE id = $2",
            crate::users::PENDING_EMAIL
        );
        let pending: Option<Option<String>> = sqlx::query_scalar(&sql)
            .bind(now)
            .bind(user_id)
            .fetch_optional(self.pool())
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
        let mut tx = self.begin().await?;
        // Links that expired undelivered: given up, and the link goes with the bodies. (SKIP
        // LOCKED: a row another replica is claiming right now is left to its next round.)
        sqlx::query(
            "UPDATE email_outbox SET abandoned_at = $1, text_body = '', html_body = '' WHERE id IN \
             (SELECT id FROM email_outbox WHERE sent_at IS NULL AND abandoned_at IS NULL \
              AND expires_at <= $1 FOR UPDATE SKIP LOCKED)",
        )
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        // SKIP LOCKED: replicas polling together each take different rows.
        let messages: Vec<MessageRow> = sqlx::query_as(
            "UPDATE email_outbox SET next_attempt_at = $1 WHERE id IN \
             (SELECT id FROM email_outbox WHERE sent_at IS NULL AND abandoned_at IS NULL \
              AND next_attempt_at <= $2 ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) \
             RETURNING id, recipient, subject, text_body, html_body, created_at, expires_at, attempts",
        )
        .bind(lease_until)
        .bind(now)
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
            "UPDATE email_outbox SET sent_at = $1, text_body = '', html_body = '', last_error = NULL WHERE id = $2",
        )
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn get_outbox_message(&self, id: Uuid) -> StoreResult<Option<OutboxMessage>> {
        let message: Option<MessageRow> = sqlx::query_as(
            "SELECT id, recipient, subject, text_body, html_body, created_at, expires_at, attempts \
             FROM email_outbox WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
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
            "UPDATE email_outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 \
             WHERE id = $3 AND sent_at IS NULL AND abandoned_at IS NULL",
        )
        .bind(next_attempt_at)
        .bind(error)
        .bind(id)
        .execute(self.pool())
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn purge_email(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        let tokens = sqlx::query("DELETE FROM email_tokens WHERE expires_at < $1")
            .bind(before)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        let sent = sqlx::query("DELETE FROM email_outbox WHERE sent_at < $1 OR abandoned_at < $1")
            .bind(before)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(tokens.rows_affected() + sent.rows_affected())
    }
}
