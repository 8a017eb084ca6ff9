//! user_identities, upstream_logins: accounts' upstream identities (issue #22) and the sign-ins
//! in flight to a provider. A login is taken by `DELETE … RETURNING` (one callback); "the last
//! way in" is decided inside the unlinking transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sesame_core::store::{
    AuditEntry, IdentityRecord, IdentityStore, NO_PASSWORD_HASH, NewUser, StoreResult, Unlink,
    UpstreamLogin, UserRecord,
};
use uuid::Uuid;

use crate::audit::insert_audit;
use crate::types::{TextUuid, UnixMs};
use crate::users::insert_user;
use crate::{SqliteStore, map_err};

#[derive(sqlx::FromRow)]
struct IdentityRow {
    id: TextUuid,
    user_id: TextUuid,
    provider: String,
    subject: String,
    email: Option<String>,
    linked_at: UnixMs,
}

impl From<IdentityRow> for IdentityRecord {
    fn from(r: IdentityRow) -> Self {
        IdentityRecord {
            id: r.id.into(),
            user_id: r.user_id.into(),
            provider: r.provider,
            subject: r.subject,
            email: r.email,
            linked_at: r.linked_at.into(),
        }
    }
}

#[derive(sqlx::FromRow)]
struct LoginRow {
    hash: Vec<u8>,
    provider: String,
    nonce: String,
    pkce_verifier: String,
    return_to: Option<String>,
    link_user_id: Option<TextUuid>,
    created_at: UnixMs,
    expires_at: UnixMs,
}

async fn insert_identity(
    conn: &mut sqlx::SqliteConnection,
    i: &IdentityRecord,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO user_identities (id, user_id, provider, subject, email, linked_at) \
         SELECT ?, id, ?, ?, ?, ? FROM users WHERE id = ? \
         ON CONFLICT (provider, subject) DO NOTHING",
    )
    .bind(TextUuid::from(i.id))
    .bind(&i.provider)
    .bind(&i.subject)
    .bind(&i.email)
    .bind(UnixMs(i.linked_at))
    .bind(TextUuid::from(i.user_id))
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(done.rows_affected() == 1)
}

#[async_trait]
impl IdentityStore for SqliteStore {
    async fn create_upstream_login(&self, l: &UpstreamLogin) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO upstream_logins \
             (hash, provider, nonce, pkce_verifier, return_to, link_user_id, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&l.hash)
        .bind(&l.provider)
        .bind(&l.nonce)
        .bind(&l.pkce_verifier)
        .bind(&l.return_to)
        .bind(l.link_user_id.map(TextUuid::from))
        .bind(UnixMs(l.created_at))
        .bind(UnixMs(l.expires_at))
        .execute(self.writer())
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn take_upstream_login(
        &self,
        hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<UpstreamLogin>> {
        let row: Option<LoginRow> = sqlx::query_as(
            "DELETE FROM upstream_logins WHERE hash = ? RETURNING hash, provider, nonce, \
             pkce_verifier, return_to, link_user_id, created_at, expires_at",
        )
        .bind(hash)
        .fetch_optional(self.writer())
        .await
        .map_err(map_err)?;
        Ok(row.and_then(|r| {
            let expires_at: DateTime<Utc> = r.expires_at.into();
            (expires_at > now).then(|| UpstreamLogin {
                hash: r.hash,
                provider: r.provider,
                nonce: r.nonce,
                pkce_verifier: r.pkce_verifier,
                return_to: r.return_to,
                link_user_id: r.link_user_id.map(Into::into),
                created_at: r.created_at.into(),
                expires_at,
            })
        }))
    }

    async fn purge_upstream_logins(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM upstream_logins WHERE expires_at < ?")
            .bind(UnixMs(before))
            .execute(self.writer())
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }

    async fn find_identity(
        &self,
        provider: &str,
        subject: &str,
    ) -> StoreResult<Option<IdentityRecord>> {
        let row: Option<IdentityRow> = sqlx::query_as(
            "SELECT id, user_id, provider, subject, email, linked_at FROM user_identities \
             WHERE provider = ? AND subject = ?",
        )
        .bind(provider)
        .bind(subject)
        .fetch_optional(self.reader())
        .await
        .map_err(map_err)?;
        Ok(row.map(Into::into))
    }

    async fn list_identities(&self, user_id: Uuid) -> StoreResult<Vec<IdentityRecord>> {
        let rows: Vec<IdentityRow> = sqlx::query_as(
            "SELECT id, user_id, provider, subject, email, linked_at FROM user_identities \
             WHERE user_id = ? ORDER BY linked_at, id",
        )
        .bind(TextUuid::from(user_id))
        .fetch_all(self.reader())
        .await
        .map_err(map_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn link_identity(&self, i: &IdentityRecord, audit: &[AuditEntry]) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        if !insert_identity(&mut tx, i).await? {
            return Ok(false);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn create_user_with_identity(
        &self,
        user: &NewUser,
        email_verified: bool,
        identity: &IdentityRecord,
        audit: &[AuditEntry],
    ) -> StoreResult<UserRecord> {
        let mut tx = self.write_tx().await?;
        let record = insert_user(&mut tx, user, email_verified).await?;
        if !insert_identity(&mut tx, identity).await? {
            // Linked to another account meanwhile: nothing is kept.
            return Err(sesame_core::store::StoreError::Conflict(
                sesame_core::store::Constraint::Identity,
            ));
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(record)
    }

    async fn unlink_identity(
        &self,
        user_id: Uuid,
        id: Uuid,
        audit: &[AuditEntry],
    ) -> StoreResult<Unlink> {
        let user = TextUuid::from(user_id);
        let mut tx = self.write_tx().await?;
        let removed = sqlx::query("DELETE FROM user_identities WHERE id = ? AND user_id = ?")
            .bind(TextUuid::from(id))
            .bind(user)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if removed.rows_affected() != 1 {
            return Ok(Unlink::NotFound);
        }
        // Another way in: a password, a passkey, or another identity.
        let left: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM users WHERE id = ?1 AND password_hash <> ?2 \
             UNION ALL SELECT 1 FROM passkeys WHERE user_id = ?1 \
             UNION ALL SELECT 1 FROM user_identities WHERE user_id = ?1 LIMIT 1",
        )
        .bind(user)
        .bind(NO_PASSWORD_HASH)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        if left.is_none() {
            // Dropping the transaction rolls the delete back.
            return Ok(Unlink::LastWayIn);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(Unlink::Unlinked)
    }
}
