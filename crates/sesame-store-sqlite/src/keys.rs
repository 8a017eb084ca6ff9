//! signing_keys, instance_secrets.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sesame_core::keys::{KeyPurpose, KeyRecord, KeyState, SigningAlg};
use sesame_core::secret::{ExposeSecret, secret_bytes};
use sesame_core::store::{AuditEntry, KeyRotation, KeyStore, StoreError, StoreResult};
use sesame_verify::PublicJwk;

use sqlx::types::Json;
use sqlx::{Sqlite, Transaction};

use crate::audit::insert_audit;
use crate::types::UnixMs;
use crate::{SqliteStore, map_err};

async fn insert_key(tx: &mut Transaction<'static, Sqlite>, k: &KeyRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, purpose, alg, state, private_der, public_jwk, created_at, activated_at, retire_until) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&k.kid)
    .bind(k.purpose.as_str())
    .bind(k.alg.as_str())
    .bind(k.state.as_str())
    .bind(k.private_der.expose_secret().as_slice())
    .bind(Json(&k.public_jwk))
    .bind(UnixMs(k.created_at))
    .bind(k.activated_at.map(UnixMs))
    .bind(k.retire_until.map(UnixMs))
    .execute(&mut **tx)
    .await
    .map_err(map_err)?;
    Ok(())
}

fn bad_row(what: &str) -> StoreError {
    StoreError::Other(format!("corrupt signing key row: {what}").into())
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    kid: String,
    purpose: String,
    alg: String,
    state: String,
    private_der: Vec<u8>,
    #[sqlx(json)]
    public_jwk: PublicJwk,
    created_at: UnixMs,
    activated_at: Option<UnixMs>,
    retire_until: Option<UnixMs>,
}

impl TryFrom<KeyRow> for KeyRecord {
    type Error = StoreError;

    fn try_from(r: KeyRow) -> StoreResult<Self> {
        Ok(KeyRecord {
            kid: r.kid,
            purpose: KeyPurpose::parse(&r.purpose).ok_or_else(|| bad_row("purpose"))?,
            alg: SigningAlg::parse(&r.alg).ok_or_else(|| bad_row("alg"))?,
            state: KeyState::parse(&r.state).ok_or_else(|| bad_row("state"))?,
            private_der: secret_bytes(r.private_der),
            public_jwk: r.public_jwk,
            created_at: r.created_at.into(),
            activated_at: r.activated_at.map(Into::into),
            retire_until: r.retire_until.map(Into::into),
        })
    }
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn list_keys(&self) -> StoreResult<Vec<KeyRecord>> {
        let keys: Vec<KeyRow> = sqlx::query_as(
            "SELECT kid, purpose, alg, state, private_der, public_jwk, created_at, activated_at, retire_until \
             FROM signing_keys ORDER BY created_at",
        )
        .fetch_all(self.reader())
        .await
        .map_err(map_err)?;
        keys.into_iter().map(KeyRecord::try_from).collect()
    }

    async fn init_keys(&self, current: &KeyRecord, next: &KeyRecord) -> StoreResult<bool> {
        if current.purpose != next.purpose {
            return Err(StoreError::Other(
                "init_keys: the current and the next key differ in purpose".into(),
            ));
        }
        // BEGIN IMMEDIATE holds the write lock across the check and the inserts, so of replicas
        // starting together exactly one stores this purpose's pair.
        let mut tx = self.write_tx().await?;
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM signing_keys WHERE purpose = ?")
            .bind(current.purpose.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
        if n > 0 {
            return Ok(false);
        }
        insert_key(&mut tx, current).await?;
        insert_key(&mut tx, next).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn rotate_keys(
        &self,
        rotations: &[KeyRotation],
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        for r in rotations {
            let purpose = r.new_next.purpose.as_str();
            // Retire before promoting: at most one `current` key per purpose at any statement's
            // end (the signing_keys_one_current index checks it).
            sqlx::query(
                "UPDATE signing_keys SET state = 'retired', retire_until = ? \
                 WHERE state = 'current' AND purpose = ?",
            )
            .bind(UnixMs(r.retire_until))
            .bind(purpose)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            sqlx::query(
                "UPDATE signing_keys SET state = 'current', activated_at = ? \
                 WHERE state = 'next' AND purpose = ?",
            )
            .bind(UnixMs(now))
            .bind(purpose)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            insert_key(&mut tx, &r.new_next).await?;
        }
        sqlx::query("DELETE FROM signing_keys WHERE state = 'retired' AND retire_until <= ?")
            .bind(UnixMs(now))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn instance_secret(&self, name: &str, candidate: &[u8]) -> StoreResult<Vec<u8>> {
        let mut tx = self.write_tx().await?;
        // `created_at` is only informational: the database's clock stamps it, as PostgreSQL's
        // column default does, so the store never reads the wall clock itself (clippy.toml).
        sqlx::query("INSERT INTO instance_secrets (name, value, created_at) VALUES (?, ?, CAST(strftime('%s', 'now') AS INTEGER) * 1000) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(candidate)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        let (value,): (Vec<u8>,) =
            sqlx::query_as("SELECT value FROM instance_secrets WHERE name = ?")
                .bind(name)
                .fetch_one(&mut *tx)
                .await
                .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(value)
    }
}
