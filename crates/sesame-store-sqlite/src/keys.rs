//! signing_keys, instance_secrets.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sesame_core::keys::{KeyRecord, KeyState, SigningAlg};
use sesame_core::secret::{ExposeSecret, secret_bytes};
use sesame_core::store::{AuditEntry, KeyStore, StoreError, StoreResult};

use crate::audit::insert_audit;
use sqlx::Row;
use sqlx::{Sqlite, Transaction};

use crate::{SqliteStore, from_ms, map_err, ms, opt_ms, other};

async fn insert_key(tx: &mut Transaction<'static, Sqlite>, k: &KeyRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, alg, state, private_der, public_jwk, created_at, activated_at, retire_until) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&k.kid)
    .bind(k.alg.as_str())
    .bind(k.state.as_str())
    .bind(k.private_der.expose_secret().as_slice())
    .bind(serde_json::to_string(&k.public_jwk).map_err(other)?)
    .bind(ms(k.created_at))
    .bind(k.activated_at.map(ms))
    .bind(k.retire_until.map(ms))
    .execute(&mut **tx)
    .await
    .map_err(map_err)?;
    Ok(())
}

fn bad_row(what: &str) -> StoreError {
    StoreError::Other(format!("corrupt signing key row: {what}").into())
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn list_keys(&self) -> StoreResult<Vec<KeyRecord>> {
        let rows = sqlx::query(
            "SELECT kid, alg, state, private_der, public_jwk, created_at, activated_at, retire_until \
             FROM signing_keys ORDER BY created_at",
        )
        .fetch_all(self.reader())
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                let alg: String = r.try_get(1).map_err(map_err)?;
                let state: String = r.try_get(2).map_err(map_err)?;
                let jwk: String = r.try_get(4).map_err(map_err)?;
                Ok(KeyRecord {
                    kid: r.try_get(0).map_err(map_err)?,
                    alg: SigningAlg::parse(&alg).ok_or_else(|| bad_row("alg"))?,
                    state: KeyState::parse(&state).ok_or_else(|| bad_row("state"))?,
                    private_der: secret_bytes(r.try_get(3).map_err(map_err)?),
                    public_jwk: serde_json::from_str(&jwk).map_err(other)?,
                    created_at: from_ms(r.try_get(5).map_err(map_err)?),
                    activated_at: opt_ms(r.try_get(6).map_err(map_err)?),
                    retire_until: opt_ms(r.try_get(7).map_err(map_err)?),
                })
            })
            .collect()
    }

    async fn init_keys(&self, current: &KeyRecord, next: &KeyRecord) -> StoreResult<bool> {
        // BEGIN IMMEDIATE holds the write lock across the check and the inserts.
        let mut tx = self.write_tx().await?;
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM signing_keys")
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
        new_next: &KeyRecord,
        now: DateTime<Utc>,
        retire_until: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "UPDATE signing_keys SET state = 'retired', retire_until = ? WHERE state = 'current'",
        )
        .bind(ms(retire_until))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        sqlx::query(
            "UPDATE signing_keys SET state = 'current', activated_at = ? WHERE state = 'next'",
        )
        .bind(ms(now))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        insert_key(&mut tx, new_next).await?;
        sqlx::query("DELETE FROM signing_keys WHERE state = 'retired' AND retire_until <= ?")
            .bind(ms(now))
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
