//! login_attempts, known_sources: the lockout per (account, source) and the account-wide one
//! (users.failed_logins / users.locked_until). The rules are sesame-core's `lockout`; here each
//! step is one write transaction (`BEGIN IMMEDIATE`), so concurrent attempts apply one after the
//! other and every decision is taken on the state the previous one left.

use chrono::{DateTime, Utc};
use sesame_core::store::{
    Admission, AttemptPolicy, AttemptSuccess, AuditEntry, FailedAttempt, StoreResult,
};
use sqlx::SqliteConnection;
use uuid::Uuid;

use crate::audit::insert_audit;
use crate::types::UnixMs;
use crate::{SqliteStore, map_err};

/// Takes a slot unless the source is locked or full. Expired locks, idle rows and abandoned
/// reservations are forgotten in the same statement. ?1 user, ?2 source, ?3 now,
/// ?4 idle_before, ?5 pending_before, ?6 max_failures.
const RESERVE: &str = "INSERT INTO login_attempts (user_id, source, failures, pending, locked_until, updated_at) \
     VALUES (?1, ?2, 0, 1, NULL, ?3) \
     ON CONFLICT (user_id, source) DO UPDATE SET \
       failures = CASE WHEN login_attempts.updated_at <= ?4 OR login_attempts.locked_until <= ?3 \
                       THEN 0 ELSE login_attempts.failures END, \
       pending = CASE WHEN login_attempts.updated_at <= ?5 THEN 1 ELSE login_attempts.pending + 1 END, \
       locked_until = CASE WHEN login_attempts.locked_until <= ?3 THEN NULL ELSE login_attempts.locked_until END, \
       updated_at = ?3 \
     WHERE (login_attempts.locked_until IS NULL OR login_attempts.locked_until <= ?3) \
       AND (CASE WHEN login_attempts.updated_at <= ?4 OR login_attempts.locked_until <= ?3 \
                 THEN 0 ELSE login_attempts.failures END) \
         + (CASE WHEN login_attempts.updated_at <= ?5 THEN 0 ELSE login_attempts.pending END) < ?6 \
     RETURNING 1";

/// The account-wide lock if it holds now for a source that is not known (?1 user, ?2 source,
/// ?3 now). No row: the account is open to this source (or the user is gone).
const ACCOUNT_LOCK: &str = "SELECT u.locked_until FROM users u WHERE u.id = ?1 AND u.locked_until > ?3 \
     AND NOT EXISTS (SELECT 1 FROM known_sources k WHERE k.user_id = u.id AND k.source = ?2)";

async fn account_lock(
    conn: &mut SqliteConnection,
    id: &str,
    source: &str,
    now: UnixMs,
) -> StoreResult<Option<DateTime<Utc>>> {
    let until: Option<Option<UnixMs>> = sqlx::query_scalar(ACCOUNT_LOCK)
        .bind(id)
        .bind(source)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(until.flatten().map(Into::into))
}

pub(crate) async fn reserve(
    store: &SqliteStore,
    id: Uuid,
    source: &str,
    p: &AttemptPolicy,
) -> StoreResult<Admission> {
    let mut tx = store.write_tx().await?;
    let id = id.to_string();
    let now = UnixMs(p.now);
    let exists = sqlx::query("SELECT 1 FROM users WHERE id = ?")
        .bind(&id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?
        .is_some();
    if !exists {
        return Ok(Admission::Admitted);
    }
    if let Some(until) = account_lock(&mut tx, &id, source, now).await? {
        return Ok(Admission::Locked(until));
    }
    let taken = sqlx::query(RESERVE)
        .bind(&id)
        .bind(source)
        .bind(now)
        .bind(UnixMs(p.idle_before))
        .bind(UnixMs(p.pending_before))
        .bind(i64::from(p.max_failures.max(1)))
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?
        .is_some();
    let admission = if taken {
        Admission::Admitted
    } else {
        let locked: Option<UnixMs> = sqlx::query_scalar(
            "SELECT locked_until FROM login_attempts WHERE user_id = ? AND source = ? AND locked_until > ?",
        )
        .bind(&id)
        .bind(source)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?
        .flatten();
        match locked {
            Some(until) => Admission::Locked(until.into()),
            None => Admission::Full,
        }
    };
    tx.commit().await.map_err(map_err)?;
    Ok(admission)
}

pub(crate) async fn failed(
    store: &SqliteStore,
    id: Uuid,
    source: &str,
    p: &AttemptPolicy,
    audit: [&AuditEntry; 3],
) -> StoreResult<FailedAttempt> {
    let [failed, source_locked, account_locked] = audit;
    let mut tx = store.write_tx().await?;
    let id = id.to_string();
    let now = UnixMs(p.now);
    let lock_until = UnixMs(p.lock_until);
    // The account first: it tells whether the user still exists (a deleted user has no row to
    // count on, and inserting one would break the foreign key).
    let account: Option<i64> = sqlx::query_scalar(
        "UPDATE users SET \
           locked_until = CASE WHEN failed_logins + 1 >= ?1 THEN ?2 ELSE locked_until END, \
           failed_logins = CASE WHEN failed_logins + 1 >= ?1 THEN 0 ELSE failed_logins + 1 END \
         WHERE id = ?3 RETURNING failed_logins",
    )
    .bind(i64::from(p.account_max_failures.max(1)))
    .bind(lock_until)
    .bind(&id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(map_err)?;
    let mut result = FailedAttempt::default();
    if let Some(count) = account {
        let max = i64::from(p.max_failures.max(1));
        let failures: i64 = sqlx::query_scalar(
            "INSERT INTO login_attempts (user_id, source, failures, pending, locked_until, updated_at) \
             VALUES (?1, ?2, 1, 0, CASE WHEN 1 >= ?4 THEN ?5 END, ?3) \
             ON CONFLICT (user_id, source) DO UPDATE SET \
               pending = MAX(login_attempts.pending - 1, 0), \
               failures = login_attempts.failures + 1, \
               locked_until = CASE WHEN login_attempts.failures + 1 = ?4 THEN ?5 \
                                   ELSE login_attempts.locked_until END, \
               updated_at = ?3 \
             RETURNING failures",
        )
        .bind(&id)
        .bind(source)
        .bind(now)
        .bind(max)
        .bind(lock_until)
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
        result = FailedAttempt {
            failures: u32::try_from(failures).unwrap_or(u32::MAX),
            // Counts grow by one: the failure that reached the limit is the one that locked.
            source_locked: failures == max,
            // The account count restarts at 0 only when this failure reached its limit.
            account_locked: count == 0,
        };
    }
    insert_audit(&mut tx, std::slice::from_ref(failed)).await?;
    if result.source_locked {
        insert_audit(&mut tx, std::slice::from_ref(source_locked)).await?;
    }
    if result.account_locked {
        insert_audit(&mut tx, std::slice::from_ref(account_locked)).await?;
    }
    tx.commit().await.map_err(map_err)?;
    Ok(result)
}

pub(crate) async fn succeeded(
    store: &SqliteStore,
    id: Uuid,
    source: &str,
    p: &AttemptPolicy,
    success: AttemptSuccess,
    audit: &[AuditEntry],
) -> StoreResult<Admission> {
    let mut tx = store.write_tx().await?;
    let id = id.to_string();
    let now = UnixMs(p.now);
    let restart = success != AttemptSuccess::FirstFactor;
    let login = success == AttemptSuccess::Login;
    // Release the reservation; the count restarts only if no lock holds now (and never for a
    // first factor: the sign-in is not complete).
    let source_lock: Option<UnixMs> = sqlx::query_scalar(
        "UPDATE login_attempts SET pending = MAX(pending - 1, 0), \
           failures = CASE WHEN locked_until > ?1 OR NOT ?4 THEN failures ELSE 0 END, updated_at = ?1 \
         WHERE user_id = ?2 AND source = ?3 RETURNING locked_until",
    )
    .bind(now)
    .bind(&id)
    .bind(source)
    .bind(restart)
    .fetch_optional(&mut *tx)
    .await
    .map_err(map_err)?
    .flatten();
    let refused = match source_lock.filter(|t| t.0 > p.now) {
        Some(until) => Some(until.into()),
        None => account_lock(&mut tx, &id, source, now).await?,
    };
    if let Some(until) = refused {
        tx.commit().await.map_err(map_err)?;
        return Ok(Admission::Locked(until));
    }
    if restart {
        sqlx::query(
            "UPDATE users SET failed_logins = 0, \
               last_login_at = CASE WHEN ?1 THEN ?2 ELSE last_login_at END WHERE id = ?3",
        )
        .bind(login)
        .bind(now)
        .bind(&id)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    }
    if login {
        sqlx::query(
            "INSERT INTO known_sources (user_id, source, last_seen) \
             SELECT id, ?2, ?3 FROM users WHERE id = ?1 \
             ON CONFLICT (user_id, source) DO UPDATE SET last_seen = excluded.last_seen",
        )
        .bind(&id)
        .bind(source)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        sqlx::query(
            "DELETE FROM known_sources WHERE user_id = ?1 AND source NOT IN \
             (SELECT source FROM known_sources WHERE user_id = ?1 \
              ORDER BY last_seen DESC, source LIMIT ?2)",
        )
        .bind(&id)
        .bind(i64::from(p.known_sources))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    }
    insert_audit(&mut tx, audit).await?;
    tx.commit().await.map_err(map_err)?;
    Ok(Admission::Admitted)
}

pub(crate) async fn release(
    store: &SqliteStore,
    id: Uuid,
    source: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE login_attempts SET pending = MAX(pending - 1, 0), updated_at = ? \
         WHERE user_id = ? AND source = ?",
    )
    .bind(UnixMs(now))
    .bind(id.to_string())
    .bind(source)
    .execute(store.writer())
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Forgets every source's count and lock of the user (unlock, password reset).
pub(crate) async fn clear(conn: &mut SqliteConnection, id: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM login_attempts WHERE user_id = ?")
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn purge(store: &SqliteStore, before: DateTime<Utc>) -> StoreResult<u64> {
    let before = UnixMs(before);
    let done = sqlx::query(
        "DELETE FROM login_attempts WHERE updated_at < ?1 \
         AND (locked_until IS NULL OR locked_until < ?1)",
    )
    .bind(before)
    .execute(store.writer())
    .await
    .map_err(map_err)?;
    Ok(done.rows_affected())
}
