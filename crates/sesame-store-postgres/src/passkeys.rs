//! passkeys, webauthn_ceremonies: WebAuthn credentials and the ceremonies that add and use
//! them. A ceremony is taken by `DELETE … RETURNING` (one taker: the second waits for the
//! first's row lock and finds nothing); a use of a passkey is one conditional `UPDATE` on its
//! counter.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sesame_core::store::{
    AuditEntry, Ceremony, CeremonyKind, PasskeyRecord, PasskeyStore, PasskeyUse, StoreResult,
};
use sqlx::PgConnection;
use sqlx::postgres::PgQueryResult;
use uuid::Uuid;

use crate::audit::insert_audit;
use crate::mfa::{drop_orphans, has_second_factor, lock_user};
use crate::{PostgresStore, map_err};

#[derive(sqlx::FromRow)]
struct PasskeyRow {
    id: Uuid,
    user_id: Uuid,
    credential_id: Vec<u8>,
    name: String,
    credential: String,
    sign_count: i64,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
}

impl From<PasskeyRow> for PasskeyRecord {
    fn from(r: PasskeyRow) -> Self {
        PasskeyRecord {
            id: r.id,
            user_id: r.user_id,
            credential_id: r.credential_id,
            name: r.name,
            credential: r.credential,
            sign_count: u32::try_from(r.sign_count).unwrap_or(u32::MAX),
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct CeremonyRow {
    hash: Vec<u8>,
    kind: String,
    user_id: Option<Uuid>,
    mfa_hash: Option<Vec<u8>>,
    name: Option<String>,
    state: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

const PASSKEY_COLUMNS: &str =
    "id, user_id, credential_id, name, credential, sign_count, created_at, last_used_at";

/// Records a verified assertion (credential, counter, last use) in the caller's transaction,
/// only if the counter moves forward or both are 0; with `user`, only for that user's passkey.
pub(crate) async fn record_use(
    conn: &mut PgConnection,
    user: Option<Uuid>,
    used: &PasskeyUse,
    now: DateTime<Utc>,
) -> StoreResult<PgQueryResult> {
    sqlx::query(
        "UPDATE passkeys SET credential = $1, sign_count = $2, last_used_at = $3 \
         WHERE id = $4 AND ($5::uuid IS NULL OR user_id = $5) \
         AND (sign_count < $2 OR (sign_count = 0 AND $2 = 0))",
    )
    .bind(&used.credential)
    .bind(i64::from(used.sign_count))
    .bind(now)
    .bind(used.id)
    .bind(user)
    .execute(&mut *conn)
    .await
    .map_err(map_err)
}

#[async_trait]
impl PasskeyStore for PostgresStore {
    async fn create_ceremony(&self, c: &Ceremony) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO webauthn_ceremonies \
             (hash, kind, user_id, mfa_hash, name, state, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&c.hash)
        .bind(c.kind.as_str())
        .bind(c.user_id)
        .bind(&c.mfa_hash)
        .bind(&c.name)
        .bind(&c.state)
        .bind(c.created_at)
        .bind(c.expires_at)
        .execute(self.pool())
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn take_ceremony(
        &self,
        hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Ceremony>> {
        let row: Option<CeremonyRow> = sqlx::query_as(
            "DELETE FROM webauthn_ceremonies WHERE hash = $1 \
             RETURNING hash, kind, user_id, mfa_hash, name, state, created_at, expires_at",
        )
        .bind(hash)
        .fetch_optional(self.pool())
        .await
        .map_err(map_err)?;
        Ok(row.and_then(|r| {
            let kind = CeremonyKind::parse(&r.kind)?;
            (r.expires_at > now).then_some(Ceremony {
                hash: r.hash,
                kind,
                user_id: r.user_id,
                mfa_hash: r.mfa_hash,
                name: r.name,
                state: r.state,
                created_at: r.created_at,
                expires_at: r.expires_at,
            })
        }))
    }

    async fn purge_ceremonies(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM webauthn_ceremonies WHERE expires_at < $1")
            .bind(before)
            .execute(self.pool())
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }

    async fn add_passkey(&self, p: &PasskeyRecord, audit: &[AuditEntry]) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        if !lock_user(&mut tx, p.user_id).await? {
            return Ok(false);
        }
        let added = sqlx::query(
            "INSERT INTO passkeys \
             (id, user_id, credential_id, name, credential, sign_count, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (credential_id) DO NOTHING",
        )
        .bind(p.id)
        .bind(p.user_id)
        .bind(&p.credential_id)
        .bind(&p.name)
        .bind(&p.credential)
        .bind(i64::from(p.sign_count))
        .bind(p.created_at)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if added.rows_affected() != 1 {
            return Ok(false);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn list_passkeys(&self, user_id: Uuid) -> StoreResult<Vec<PasskeyRecord>> {
        let rows: Vec<PasskeyRow> = sqlx::query_as(&format!(
            "SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE user_id = $1 ORDER BY created_at, id"
        ))
        .bind(user_id)
        .fetch_all(self.pool())
        .await
        .map_err(map_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn find_passkey_by_credential(
        &self,
        credential_id: &[u8],
    ) -> StoreResult<Option<PasskeyRecord>> {
        let row: Option<PasskeyRow> = sqlx::query_as(&format!(
            "SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE credential_id = $1"
        ))
        .bind(credential_id)
        .fetch_optional(self.pool())
        .await
        .map_err(map_err)?;
        Ok(row.map(Into::into))
    }

    async fn rename_passkey(&self, user_id: Uuid, id: Uuid, name: &str) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE passkeys SET name = $1 WHERE id = $2 AND user_id = $3")
            .bind(name)
            .bind(id)
            .bind(user_id)
            .execute(self.pool())
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn remove_passkey(
        &self,
        user_id: Uuid,
        id: Uuid,
        audit: &[AuditEntry],
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        lock_user(&mut tx, user_id).await?;
        let removed = sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if removed.rows_affected() != 1 {
            return Ok(false);
        }
        if !has_second_factor(&mut tx, user_id).await? {
            drop_orphans(&mut tx, user_id).await?;
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn use_passkey(&self, used: &PasskeyUse, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let done = record_use(&mut tx, None, used, now).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }
}
