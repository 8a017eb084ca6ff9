//! mfa_totp, mfa_recovery_codes, mfa_challenges: second factors and the second step of a
//! sign-in (passkeys, the other second factor, are in `passkeys.rs`). Each write is one `BEGIN IMMEDIATE` transaction, so the conditional updates that
//! spend a time step, a recovery code or a challenge are decided one after the other.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sesame_core::store::{
    AuditEntry, ChallengeKind, MfaChallengeRecord, MfaCompletion, MfaFactors, MfaProof, MfaStore,
    NewMfaChallenge, OutboxMessage, SealedSecret, StoreResult, TotpRecord,
};
use sqlx::SqliteConnection;
use sqlx::types::Json;
use uuid::Uuid;

use crate::audit::insert_audit;
use crate::email::insert_outbox;
use crate::types::UnixMs;
use crate::{SqliteStore, map_err};

#[derive(sqlx::FromRow)]
struct TotpRow {
    secret: Vec<u8>,
    created_at: UnixMs,
    confirmed_at: Option<UnixMs>,
    last_step: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct ChallengeRow {
    user_id: crate::types::TextUuid,
    kind: String,
    #[sqlx(json)]
    audience: Vec<String>,
    created_at: UnixMs,
    expires_at: UnixMs,
}

/// Replaces the user's recovery codes, in the caller's transaction.
async fn put_recovery_codes(
    conn: &mut SqliteConnection,
    user: &str,
    codes: &[Vec<u8>],
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = ?")
        .bind(user)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    for hash in codes {
        sqlx::query("INSERT INTO mfa_recovery_codes (user_id, hash, created_at) VALUES (?, ?, ?)")
            .bind(user)
            .bind(hash)
            .bind(UnixMs(now))
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    }
    Ok(())
}

/// Whether the user still has a second factor (a confirmed TOTP or a passkey), in the caller's
/// transaction.
pub(crate) async fn has_second_factor(
    conn: &mut SqliteConnection,
    user: &str,
) -> StoreResult<bool> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM mfa_totp WHERE user_id = ?1 AND confirmed_at IS NOT NULL \
         UNION ALL SELECT 1 FROM passkeys WHERE user_id = ?1 LIMIT 1",
    )
    .bind(user)
    .fetch_optional(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(found.is_some())
}

/// Drops the recovery codes and open challenges of a user left without a second factor.
pub(crate) async fn drop_orphans(conn: &mut SqliteConnection, user: &str) -> StoreResult<u64> {
    let codes = sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = ?")
        .bind(user)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    sqlx::query("DELETE FROM mfa_challenges WHERE user_id = ?")
        .bind(user)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(codes.rows_affected())
}

#[async_trait]
impl MfaStore for SqliteStore {
    async fn mfa_factors(&self, user_id: Uuid) -> StoreResult<MfaFactors> {
        let user = user_id.to_string();
        let totp: Option<TotpRow> = sqlx::query_as(
            "SELECT secret, created_at, confirmed_at, last_step FROM mfa_totp WHERE user_id = ?",
        )
        .bind(&user)
        .fetch_optional(self.reader())
        .await
        .map_err(map_err)?;
        let left: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM mfa_recovery_codes WHERE user_id = ? AND used_at IS NULL",
        )
        .bind(&user)
        .fetch_one(self.reader())
        .await
        .map_err(map_err)?;
        let passkeys: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM passkeys WHERE user_id = ?")
            .bind(&user)
            .fetch_one(self.reader())
            .await
            .map_err(map_err)?;
        Ok(MfaFactors {
            totp: totp.map(|t| TotpRecord {
                secret: SealedSecret(t.secret),
                created_at: t.created_at.into(),
                confirmed_at: t.confirmed_at.map(Into::into),
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
            "INSERT INTO mfa_totp (user_id, secret, created_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (user_id) DO UPDATE SET secret = ?2, created_at = ?3, last_step = NULL \
             WHERE mfa_totp.confirmed_at IS NULL",
        )
        .bind(user_id.to_string())
        .bind(&secret.0)
        .bind(UnixMs(now))
        .execute(self.writer())
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
        let user = user_id.to_string();
        let mut tx = self.write_tx().await?;
        let confirmed = sqlx::query(
            "UPDATE mfa_totp SET confirmed_at = ?, last_step = ? \
             WHERE user_id = ? AND confirmed_at IS NULL",
        )
        .bind(UnixMs(now))
        .bind(step)
        .bind(&user)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if confirmed.rows_affected() != 1 {
            return Ok(false);
        }
        put_recovery_codes(&mut tx, &user, recovery_codes, now).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn remove_totp(&self, user_id: Uuid, audit: &[AuditEntry]) -> StoreResult<bool> {
        let user = user_id.to_string();
        let mut tx = self.write_tx().await?;
        let removed = sqlx::query("DELETE FROM mfa_totp WHERE user_id = ?")
            .bind(&user)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if removed.rows_affected() == 0 {
            return Ok(false);
        }
        // Recovery codes stand in for a second factor: with none left they go too.
        if !has_second_factor(&mut tx, &user).await? {
            drop_orphans(&mut tx, &user).await?;
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
        let user = user_id.to_string();
        let mut tx = self.write_tx().await?;
        if !has_second_factor(&mut tx, &user).await? {
            return Ok(false);
        }
        put_recovery_codes(&mut tx, &user, recovery_codes, now).await?;
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
        let user = user_id.to_string();
        let mut tx = self.write_tx().await?;
        let totp = sqlx::query("DELETE FROM mfa_totp WHERE user_id = ?")
            .bind(&user)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
        let passkeys = sqlx::query("DELETE FROM passkeys WHERE user_id = ?")
            .bind(&user)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
        let codes = drop_orphans(&mut tx, &user).await?;
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
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&c.hash)
        .bind(c.user_id.to_string())
        .bind(c.kind.as_str())
        .bind(Json(&c.audience))
        .bind(UnixMs(c.created_at))
        .bind(UnixMs(c.expires_at))
        .execute(self.writer())
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
             WHERE hash = ? AND used_at IS NULL AND expires_at > ?",
        )
        .bind(hash)
        .bind(UnixMs(now))
        .fetch_optional(self.reader())
        .await
        .map_err(map_err)?;
        Ok(row.map(|r| MfaChallengeRecord {
            user_id: r.user_id.into(),
            kind: if r.kind == "browser" {
                ChallengeKind::Browser
            } else {
                ChallengeKind::Api
            },
            audience: r.audience,
            created_at: r.created_at.into(),
            expires_at: r.expires_at.into(),
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
        let user = user_id.to_string();
        let mut tx = self.write_tx().await?;
        let spent = sqlx::query(
            "UPDATE mfa_challenges SET used_at = ?1 \
             WHERE hash = ?2 AND user_id = ?3 AND used_at IS NULL AND expires_at > ?1",
        )
        .bind(UnixMs(now))
        .bind(hash)
        .bind(&user)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if spent.rows_affected() != 1 {
            // Dropping the transaction rolls it back: nothing was written.
            return Ok(MfaCompletion::ChallengeGone);
        }
        let factor = match proof {
            MfaProof::TotpStep(step) => sqlx::query(
                "UPDATE mfa_totp SET last_step = ?1 WHERE user_id = ?2 \
                 AND confirmed_at IS NOT NULL AND (last_step IS NULL OR last_step < ?1)",
            )
            .bind(step)
            .bind(&user)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?,
            MfaProof::RecoveryCode(code) => sqlx::query(
                "UPDATE mfa_recovery_codes SET used_at = ? \
                 WHERE user_id = ? AND hash = ? AND used_at IS NULL",
            )
            .bind(UnixMs(now))
            .bind(&user)
            .bind(code)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?,
            MfaProof::Passkey(used) => {
                crate::passkeys::record_use(&mut tx, Some(&user), used, now).await?
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
        let done = sqlx::query("DELETE FROM mfa_challenges WHERE expires_at < ?")
            .bind(UnixMs(before))
            .execute(self.writer())
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}
