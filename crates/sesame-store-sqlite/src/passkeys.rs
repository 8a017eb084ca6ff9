//! passkeys, webauthn_ceremonies: WebAuthn credentials and the ceremonies that add and use
//! them. A ceremony is taken by `DELETE … RETURNING` (one taker); a use of a passkey is one
//! conditional `UPDATE` on its counter.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sesame_core::store::{
    AuditEntry, Ceremony, CeremonyKind, PasskeyRecord, PasskeyStore, PasskeyUse, StoreResult,
};
use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteQueryResult;
use uuid::Uuid;

use crate::audit::insert_audit;
use crate::mfa::{drop_orphans, has_second_factor};
use crate::types::{TextUuid, UnixMs};
use crate::{SqliteStore, map_err};

#[derive(sqlx::FromRow)]
struct PasskeyRow {
    id: TextUuid,
    user_id: TextUuid,
    credential_id: Vec<u8>,
    name: String,
    credential: String,
    sign_count: i64,
    created_at: UnixMs,
    last_used_at: Option<UnixMs>,
}

impl From<PasskeyRow> for PasskeyRecord {
    fn from(r: PasskeyRow) -> Self {
        PasskeyRecord {
            id: r.id.into(),
            user_id: r.user_id.into(),
            credential_id: r.credential_id,
            name: r.name,
            credential: r.credential,
            sign_count: u32::try_from(r.sign_count).unwrap_or(u32::MAX),
            created_at: r.created_at.into(),
            last_used_at: r.last_used_at.map(Into::into),
        }
    }
}

#[derive(sqlx::FromRow)]
struct CeremonyRow {
    hash: Vec<u8>,
    kind: String,
    user_id: Option<TextUuid>,
    mfa_hash: Option<Vec<u8>>,
    name: Option<String>,
    state: String,
    created_at: UnixMs,
    expires_at: UnixMs,
}

const PASSKEY_COLUMNS: &str =
    "id, user_id, credential_id, name, credential, sign_count, created_at, last_used_at";

/// Records a verified assertion (credential, counter, last use) in the caller's transaction,
/// only if the counter moves forward or both are 0; with `user`, only for that user's passkey.
pub(crate) async fn record_use(
    conn: &mut SqliteConnection,
    user: Option<&str>,
    used: &PasskeyUse,
    now: DateTime<Utc>,
) -> StoreResult<SqliteQueryResult> {
    sqlx::query(
        "UPDATE passkeys SET credential = ?1, sign_count = ?2, last_used_at = ?3 \
         WHERE id = ?4 AND (?5 IS NULL OR user_id = ?5) \
         AND (sign_count < ?2 OR (sign_count = 0 AND ?2 = 0))",
    )
    .bind(&used.credential)
    .bind(i64::from(used.sign_count))
    .bind(UnixMs(now))
    .bind(TextUuid::from(used.id))
    .bind(user)
    .execute(&mut *conn)
    .await
    .map_err(map_err)
}

#[async_trait]
impl PasskeyStore for SqliteStore {
    async fn create_ceremony(&self, c: &Ceremony) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO webauthn_ceremonies \
             (hash, kind, user_id, mfa_hash, name, state, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&c.hash)
        .bind(c.kind.as_str())
        .bind(c.user_id.map(TextUuid::from))
        .bind(&c.mfa_hash)
        .bind(&c.name)
        .bind(&c.state)
        .bind(UnixMs(c.created_at))
        .bind(UnixMs(c.expires_at))
        .execute(self.writer())
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
            "DELETE FROM webauthn_ceremonies WHERE hash = ? \
             RETURNING hash, kind, user_id, mfa_hash, name, state, created_at, expires_at",
        )
        .bind(hash)
        .fetch_optional(self.writer())
        .await
        .map_err(map_err)?;
        Ok(row.and_then(|r| {
            let kind = CeremonyKind::parse(&r.kind)?;
            let expires_at: DateTime<Utc> = r.expires_at.into();
            (expires_at > now).then(|| Ceremony {
                hash: r.hash,
                kind,
                user_id: r.user_id.map(Into::into),
                mfa_hash: r.mfa_hash,
                name: r.name,
                state: r.state,
                created_at: r.created_at.into(),
                expires_at,
            })
        }))
    }

    async fn purge_ceremonies(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM webauthn_ceremonies WHERE expires_at < ?")
            .bind(UnixMs(before))
            .execute(self.writer())
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }

    async fn add_passkey(&self, p: &PasskeyRecord, audit: &[AuditEntry]) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        let added = sqlx::query(
            "INSERT INTO passkeys \
             (id, user_id, credential_id, name, credential, sign_count, created_at) \
             SELECT ?, id, ?, ?, ?, ?, ? FROM users WHERE id = ? \
             ON CONFLICT (credential_id) DO NOTHING",
        )
        .bind(TextUuid::from(p.id))
        .bind(&p.credential_id)
        .bind(&p.name)
        .bind(&p.credential)
        .bind(i64::from(p.sign_count))
        .bind(UnixMs(p.created_at))
        .bind(TextUuid::from(p.user_id))
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
            "SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE user_id = ? ORDER BY created_at, id"
        ))
        .bind(TextUuid::from(user_id))
        .fetch_all(self.reader())
        .await
        .map_err(map_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn find_passkey_by_credential(
        &self,
        credential_id: &[u8],
    ) -> StoreResult<Option<PasskeyRecord>> {
        let row: Option<PasskeyRow> = sqlx::query_as(&format!(
            "SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE credential_id = ?"
        ))
        .bind(credential_id)
        .fetch_optional(self.reader())
        .await
        .map_err(map_err)?;
        Ok(row.map(Into::into))
    }

    async fn rename_passkey(&self, user_id: Uuid, id: Uuid, name: &str) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE passkeys SET name = ? WHERE id = ? AND user_id = ?")
            .bind(name)
            .bind(TextUuid::from(id))
            .bind(TextUuid::from(user_id))
            .execute(self.writer())
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
        let user = user_id.to_string();
        let mut tx = self.write_tx().await?;
        let removed = sqlx::query("DELETE FROM passkeys WHERE id = ? AND user_id = ?")
            .bind(TextUuid::from(id))
            .bind(&user)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if removed.rows_affected() != 1 {
            return Ok(false);
        }
        if !has_second_factor(&mut tx, &user).await? {
            drop_orphans(&mut tx, &user).await?;
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn use_passkey(&self, used: &PasskeyUse, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        let done = record_use(&mut tx, None, used, now).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }
}
