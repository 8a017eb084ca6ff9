//! signing_keys, instance_secrets.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sesame_core::keys::{KeyPurpose, KeyRecord, KeyState, SigningAlg};
use sesame_core::secret::{ExposeSecret, secret_bytes};
use sesame_core::store::{AuditEntry, KeyRotation, KeyStore, StoreError, StoreResult};
use sesame_verify::PublicJwk;
use sqlx::PgConnection;
use sqlx::types::Json;

use crate::audit::insert_audit;
use crate::{PostgresStore, map_err};

async fn insert_key(conn: &mut PgConnection, k: &KeyRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO signing_keys \
           (kid, purpose, alg, state, private_der, public_jwk, created_at, activated_at, retire_until) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&k.kid)
    .bind(k.purpose.as_str())
    .bind(k.alg.as_str())
    .bind(k.state.as_str())
    .bind(k.private_der.expose_secret().as_slice())
    .bind(Json(&k.public_jwk))
    .bind(k.created_at)
    .bind(k.activated_at)
    .bind(k.retire_until)
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Serialises the transactions that change the key set. EXCLUSIVE conflicts with itself and with
/// every write to the table, but not with plain reads, so the JWKS keeps being served meanwhile.
/// Held until the transaction ends.
async fn lock_keys(conn: &mut PgConnection) -> StoreResult<()> {
    sqlx::query("LOCK TABLE signing_keys IN EXCLUSIVE MODE")
        .execute(conn)
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
    created_at: DateTime<Utc>,
    activated_at: Option<DateTime<Utc>>,
    retire_until: Option<DateTime<Utc>>,
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
            created_at: r.created_at,
            activated_at: r.activated_at,
            retire_until: r.retire_until,
        })
    }
}

#[async_trait]
impl KeyStore for PostgresStore {
    async fn list_keys(&self) -> StoreResult<Vec<KeyRecord>> {
        let keys: Vec<KeyRow> = sqlx::query_as(
            "SELECT kid, purpose, alg, state, private_der, public_jwk, created_at, activated_at, retire_until \
             FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(self.pool())
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
        let mut tx = self.begin().await?;
        // Replicas starting together queue on the lock; under READ COMMITTED the check below
        // takes its snapshot after the lock is granted, so it sees the winner's committed keys.
        lock_keys(&mut tx).await?;
        let (exists,): (bool,) =
            sqlx::query_as("SELECT EXISTS (SELECT 1 FROM signing_keys WHERE purpose = $1)")
                .bind(current.purpose.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(map_err)?;
        if exists {
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
        let mut tx = self.begin().await?;
        // Two replicas rotating at once would otherwise both promote and insert; queued, the
        // second rotates the key set the first left.
        lock_keys(&mut tx).await?;
        for r in rotations {
            let purpose = r.new_next.purpose.as_str();
            // Retire before promoting: at most one `current` key per purpose at any statement's
            // end (the signing_keys_one_current index checks it).
            sqlx::query(
                "UPDATE signing_keys SET state = 'retired', retire_until = $1 \
                 WHERE state = 'current' AND purpose = $2",
            )
            .bind(r.retire_until)
            .bind(purpose)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            sqlx::query(
                "UPDATE signing_keys SET state = 'current', activated_at = $1 \
                 WHERE state = 'next' AND purpose = $2",
            )
            .bind(now)
            .bind(purpose)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            insert_key(&mut tx, &r.new_next).await?;
        }
        sqlx::query("DELETE FROM signing_keys WHERE state = 'retired' AND retire_until <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn instance_secret(&self, name: &str, candidate: &[u8]) -> StoreResult<Vec<u8>> {
        // Two statements, not one: a single INSERT ... SELECT would read with the snapshot taken
        // before it waited on a concurrent replica's insert, and so miss the winner's row. The
        // SELECT here starts after the INSERT finished, so it sees whichever value won.
        sqlx::query(
            "INSERT INTO instance_secrets (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .execute(self.pool())
        .await
        .map_err(map_err)?;
        let (value,): (Vec<u8>,) =
            sqlx::query_as("SELECT value FROM instance_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(self.pool())
                .await
                .map_err(map_err)?;
        Ok(value)
    }
}
