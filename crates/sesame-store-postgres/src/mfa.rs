//! mfa_totp, mfa_recovery_codes, mfa_challenges: second factors and the second step of a
//! sign-in. What two replicas could race for — a time step, a recovery code, a challenge — is
//! decided by conditional `UPDATE`s under READ COMMITTED: the second writer waits for the
//! first's row lock, re-reads the row and finds its condition false. Changes to which factors
//! a user has (here and in `passkeys.rs`) first lock the user's row, so "is a second factor
//! left?" is answered after any concurrent removal has committed.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sesame_core::store::{
    AuditEntry, ChallengeKind, MfaChallengeRecord, MfaCompletion, MfaFactors, MfaProof, MfaStore,
    NewMfaChallenge, OutboxMessage, SealedSecret, StoreResult, TotpRecord,
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::audit::insert_audit;
use crate::email::insert_outbox;
use crate::{PostgresStore, map_err};

#[derive(sqlx::FromRow)]
struct TotpRow {
    secret: Vec<u8>,
    created_at: DateTime<Utc>,
    confirmed_at: Option<DateTime<Utc>>,
    last_step: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct ChallengeRow {
    user_id: Uuid,
    kind: String,
    audience: Vec<String>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// Replaces the user's recovery codes, in the caller's transaction.
async fn put_recovery_codes(
    conn: &mut PgConnection,
    user: Uuid,
    codes: &[Vec<u8>],
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
        .bind(user)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    sqlx::query(
        "INSERT INTO mfa_recovery_codes (user_id, hash, created_at) \
         SELECT $1, hash, $3 FROM UNNEST($2::bytea[]) AS hash",
    )
    .bind(user)
    .bind(codes)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Locks the user's row for the rest of the caller's transaction (see the module comment).
pub(crate) async fn lock_user(conn: &mut PgConnection, user: Uuid) -> StoreResult<bool> {
    let found = sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
        .bind(user)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(found.is_some())
}

/// Whether the user still has a second factor (a confirmed TOTP or a passkey), in the caller's
/// transaction.
pub(crate) async fn has_second_factor(conn: &mut PgConnection, user: Uuid) -> StoreResult<bool> {
    let found: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM mfa_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL \
         UNION ALL SELECT 1 FROM passkeys WHERE user_id = $1 LIMIT 1",
    )
    .bind(user)
    .fetch_optional(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(found.is_some())
}

/// Drops the recovery codes and open challenges of a user left without a second factor.
pub(crate) async fn drop_orphans(conn: &mut PgConnection, user: Uuid) -> StoreResult<u64> {
    let codes = sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
        .bind(user)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    sqlx::query("DELETE FROM mfa_challenges WHERE user_id = $1")
        .bind(user)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(codes.rows_affected())
}

#[async_trait]
impl MfaStore for PostgresStore {
    async fn mfa_factors(&self, user_id: Uuid) -> StoreResult<MfaFactors> {
        let totp: Option<TotpRow> = sqlx::query_as(
            "SELECT secret, created_at, confirmed_at, last_step FROM mfa_totp WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(self.pool())
        .await
        .map_err(map_err)?;
        let left: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(self.pool())
        .await
        .map_err(map_err)?;
        let passkeys: i64 = sqlx::query_scalar("SELECT count(*) FROM passkeys WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(self.pool())
            .await
            .map_err(map_err)?;
        Ok(MfaFactors {
            totp: totp.map(|t| TotpRecord {
                secret: SealedSecret(t.secret),
                created_at: t.created_at,
                confirmed_at: t.confirmed_at,
                last_step: t.last_step,
            }),
            recovery_codes_left: u32::try_from(left.max(0)).unwrap_or(u32::MAX),
            passkeys: u32::try_from(passkeys.max(0)).unwrap_or(u32::MAX),
        })
    }

    async fn begin_totp(
        &self,
        user_id: Uuid,
        secret: &SealedSecret,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO mfa_totp (user_id, secret, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET secret = $2, created_at = $3, last_step = NULL \
             WHERE mfa_totp.confirmed_at IS NULL",
        )
        .bind(user_id)
        .bind(&secret.0)
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn confirm_totp(
        &self,
        user_id: Uuid,
        step: i64,
        recovery_codes: &[Vec<u8>],
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let confirmed = sqlx::query(
            "UPDATE mfa_totp SET confirmed_at = $1, last_step = $2 \
             WHERE user_id = $3 AND confirmed_at IS NULL",
        )
        .bind(now)
        .bind(step)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if confirmed.rows_affected() != 1 {
            return Ok(false);
        }
        put_recovery_codes(&mut tx, user_id, recovery_codes, now).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn remove_totp(&self, user_id: Uuid, audit: &[AuditEntry]) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        lock_user(&mut tx, user_id).await?;
        let removed = sqlx::query("DELETE FROM mfa_totp WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if removed.rows_affected() == 0 {
            return Ok(false);
        }
        // Recovery codes stand in for a second factor: with none left they go too.
        if !has_second_factor(&mut tx, user_id).await? {
            drop_orphans(&mut tx, user_id).await?;
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn replace_recovery_codes(
        &self,
        user_id: Uuid,
        recovery_codes: &[Vec<u8>],
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        // The user's row locked: a removal of the last factor committing meanwhile waits for
        // this transaction, so no set is written for a factor that is gone.
        lock_user(&mut tx, user_id).await?;
        if !has_second_factor(&mut tx, user_id).await? {
            return Ok(false);
        }
        put_recovery_codes(&mut tx, user_id, recovery_codes, now).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn remove_mfa(
        &self,
        user_id: Uuid,
        notice: &OutboxMessage,
        audit: &[AuditEntry],
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        lock_user(&mut tx, user_id).await?;
        let totp = sqlx::query("DELETE FROM mfa_totp WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
        let passkeys = sqlx::query("DELETE FROM passkeys WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
        let codes = drop_orphans(&mut tx, user_id).await?;
        if totp + passkeys + codes == 0 {
            return Ok(false);
        }
        insert_outbox(&mut tx, notice).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn create_mfa_challenge(&self, c: &NewMfaChallenge) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO mfa_challenges (hash, user_id, kind, audience, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&c.hash)
        .bind(c.user_id)
        .bind(c.kind.as_str())
        .bind(&c.audience)
        .bind(c.created_at)
        .bind(c.expires_at)
        .execute(self.pool())
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn find_mfa_challenge(
        &self,
        hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<MfaChallengeRecord>> {
        let row: Option<ChallengeRow> = sqlx::query_as(
            "SELECT user_id, kind, audience, created_at, expires_at FROM mfa_challenges \
             WHERE hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(hash)
        .bind(now)
        .fetch_optional(self.pool())
        .await
        .map_err(map_err)?;
        Ok(row.map(|r| MfaChallengeRecord {
            user_id: r.user_id,
            kind: if r.kind == "browser" {
                ChallengeKind::Browser
            } else {
                ChallengeKind::Api
            },
            audience: r.audience,
            created_at: r.created_at,
            expires_at: r.expires_at,
        }))
    }

    async fn complete_mfa_challenge(
        &self,
        hash: &[u8],
        user_id: Uuid,
        proof: &MfaProof,
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<MfaCompletion> {
        let mut tx = self.begin().await?;
        let spent = sqlx::query(
            "UPDATE mfa_challenges SET used_at = $1 \
             WHERE hash = $2 AND user_id = $3 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(hash)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if spent.rows_affected() != 1 {
            // Dropping the transaction rolls it back: nothing was written.
            return Ok(MfaCompletion::ChallengeGone);
        }
        let factor = match proof {
            MfaProof::TotpStep(step) => sqlx::query(
                "UPDATE mfa_totp SET last_step = $1 WHERE user_id = $2 \
                 AND confirmed_at IS NOT NULL AND (last_step IS NULL OR last_step < $1)",
            )
            .bind(step)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?,
            MfaProof::RecoveryCode(code) => sqlx::query(
                "UPDATE mfa_recovery_codes SET used_at = $1 \
                 WHERE user_id = $2 AND hash = $3 AND used_at IS NULL",
            )
            .bind(now)
            .bind(user_id)
            .bind(code)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?,
            MfaProof::Passkey(used) => {
                crate::passkeys::record_use(&mut tx, Some(user_id), used, now).await?
            }
        };
        if factor.rows_affected() != 1 {
            return Ok(MfaCompletion::FactorRefused);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(MfaCompletion::Completed)
    }

    async fn purge_mfa_challenges(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM mfa_challenges WHERE expires_at < $1")
            .bind(before)
            .execute(self.pool())
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}
