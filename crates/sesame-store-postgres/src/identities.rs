//! user_identities, upstream_logins: accounts' upstream identities (issue #22) and the sign-ins
//! in flight to a provider. A login is taken by `DELETE … RETURNING` (one callback); "the last
//! way in" is decided inside the unlinking transaction, under the user's row lock.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sesame_core::store::{
    AuditEntry, IdentityRecord, IdentityStore, NO_PASSWORD_HASH, NewUser, StoreResult, Unlink,
    UpstreamLogin, UserRecord,
};
use uuid::Uuid;

use crate::audit::insert_audit;
use crate::users::insert_user;
use crate::{PostgresStore, map_err};

#[derive(sqlx::FromRow)]
struct IdentityRow {
    id: Uuid,
    user_id: Uuid,
    provider: String,
    subject: String,
    email: Option<String>,
    linked_at: DateTime<Utc>,
}

impl From<IdentityRow> for IdentityRecord {
    fn from(r: IdentityRow) -> Self {
        IdentityRecord {
            id: r.id,
            user_id: r.user_id,
            provider: r.provider,
            subject: r.subject,
            email: r.email,
            linked_at: r.linked_at,
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
    link_user_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

async fn insert_identity(conn: &mut sqlx::PgConnection, i: &IdentityRecord) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO user_identities (id, user_id, provider, subject, email, linked_at) \
         SELECT $1, id, $2, $3, $4, $5 FROM users WHERE id = $6 \
         ON CONFLICT (provider, subject) DO NOTHING",
    )
    .bind(i.id)
    .bind(&i.provider)
    .bind(&i.subject)
    .bind(&i.email)
    .bind(i.linked_at)
    .bind(i.user_id)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(done.rows_affected() == 1)
}

#[async_trait]
impl IdentityStore for PostgresStore {
    async fn create_upstream_login(&self, l: &UpstreamLogin) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO upstream_logins \
             (hash, provider, nonce, pkce_verifier, return_to, link_user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&l.hash)
        .bind(&l.provider)
        .bind(&l.nonce)
        .bind(&l.pkce_verifier)
        .bind(&l.return_to)
        .bind(l.link_user_id)
        .bind(l.created_at)
        .bind(l.expires_at)
        .execute(self.pool())
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
            "DELETE FROM upstream_logins WHERE hash = $1 RETURNING hash, provider, nonce, \
             pkce_verifier, return_to, link_user_id, created_at, expires_at",
        )
        .bind(hash)
        .fetch_optional(self.pool())
        .await
        .map_err(map_err)?;
        Ok(row.and_then(|r| {
            (r.expires_at > now).then_some(UpstreamLogin {
                hash: r.hash,
                provider: r.provider,
                nonce: r.nonce,
                pkce_verifier: r.pkce_verifier,
                return_to: r.return_to,
                link_user_id: r.link_user_id,
                created_at: r.created_at,
                expires_at: r.expires_at,
            })
        }))
    }

    async fn purge_upstream_logins(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM upstream_logins WHERE expires_at < $1")
            .bind(before)
            .execute(self.pool())
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
             WHERE provider = $1 AND subject = $2",
        )
        .bind(provider)
        .bind(subject)
        .fetch_optional(self.pool())
        .await
        .map_err(map_err)?;
        Ok(row.map(Into::into))
    }

    async fn list_identities(&self, user_id: Uuid) -> StoreResult<Vec<IdentityRecord>> {
        let rows: Vec<IdentityRow> = sqlx::query_as(
            "SELECT id, user_id, provider, subject, email, linked_at FROM user_identities \
             WHERE user_id = $1 ORDER BY linked_at, id",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await
        .map_err(map_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn link_identity(&self, i: &IdentityRecord, audit: &[AuditEntry]) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
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
        let mut tx = self.begin().await?;
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
        let user = user_id;
        let mut tx = self.begin().await?;
        // The user's row locked: two unlinks of an account's last two ways in run one after
        // the other, and the second sees the first's delete.
        crate::mfa::lock_user(&mut tx, user).await?;
        let removed = sqlx::query("DELETE FROM user_identities WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if removed.rows_affected() != 1 {
            return Ok(Unlink::NotFound);
        }
        // Another way in: a password, a passkey, or another identity.
        let left: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM users WHERE id = $1 AND password_hash <> $2 \
             UNION ALL SELECT 1 FROM passkeys WHERE user_id = $1 \
             UNION ALL SELECT 1 FROM user_identities WHERE user_id = $1 LIMIT 1",
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
