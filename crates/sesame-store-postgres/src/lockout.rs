//! login_attempts, known_sources: the lockout per (account, source) and the account-wide one
//! (users.failed_logins / users.locked_until). The rules are sesame-core's `lockout`; here each
//! step is one transaction whose first write takes the row lock of the (account, source) row,
//! so concurrent attempts from one source apply one after the other, each on the state the
//! previous one committed (READ COMMITTED re-reads a row after waiting for its lock; an
//! `ON CONFLICT DO UPDATE` whose WHERE is false still locks the row).

use chrono::{DateTime, Utc};
use sesame_core::store::{
    Admission, AttemptPolicy, AttemptSuccess, AuditEntry, FailedAttempt, StoreResult,
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::audit::insert_audit;
use crate::{PostgresStore, map_err};

/// Takes a slot unless the source is locked or full. Expired locks, idle rows and abandoned
/// reservations are forgotten in the same statement. $1 user, $2 source, $3 now,
/// $4 idle_before, $5 pending_before, $6 max_failures.
const RESERVE: &str = "INSERT INTO login_attempts (user_id, source, failures, pending, locked_until, updated_at) \
     VALUES ($1, $2, 0, 1, NULL, $3) \
     ON CONFLICT (user_id, source) DO UPDATE SET \
       failures = CASE WHEN login_attempts.updated_at <= $4 OR login_attempts.locked_until <= $3 \
                       THEN 0 ELSE login_attempts.failures END, \
       pending = CASE WHEN login_attempts.updated_at <= $5 THEN 1 ELSE login_attempts.pending + 1 END, \
       locked_until = CASE WHEN login_attempts.locked_until <= $3 THEN NULL ELSE login_attempts.locked_until END, \
       updated_at = $3 \
     WHERE (login_attempts.locked_until IS NULL OR login_attempts.locked_until <= $3) \
       AND (CASE WHEN login_attempts.updated_at <= $4 OR login_attempts.locked_until <= $3 \
                 THEN 0 ELSE login_attempts.failures END) \
         + (CASE WHEN login_attempts.updated_at <= $5 THEN 0 ELSE login_attempts.pending END) < $6 \
     RETURNING 1";

/// The account-wide lock if it holds now for a source that is not known ($1 user, $2 source,
/// $3 now). No row: the account is open to this source (or the user is gone).
const ACCOUNT_LOCK: &str = "SELECT u.locked_until FROM users u WHERE u.id = $1 AND u.locked_until > $3 \
     AND NOT EXISTS (SELECT 1 FROM known_sources k WHERE k.user_id = u.id AND k.source = $2)";

async fn account_lock(
    conn: &mut PgConnection,
    id: Uuid,
    source: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<DateTime<Utc>>> {
    sqlx::query_scalar(ACCOUNT_LOCK)
        .bind(id)
        .bind(source)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)
        .map(Option::flatten)
}

fn count(max: u32) -> i32 {
    i32::try_from(max.max(1)).unwrap_or(i32::MAX)
}

pub(crate) async fn reserve(
    store: &PostgresStore,
    id: Uuid,
    source: &str,
    p: &AttemptPolicy,
) -> StoreResult<Admission> {
    let mut tx = store.begin().await?;
    let exists = sqlx::query("SELECT 1 FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?
        .is_some();
    if !exists {
        return Ok(Admission::Admitted);
    }
    if let Some(until) = account_lock(&mut tx, id, source, p.now).await? {
        return Ok(Admission::Locked(until));
    }
    let taken = sqlx::query(RESERVE)
        .bind(id)
        .bind(source)
        .bind(p.now)
        .bind(p.idle_before)
        .bind(p.pending_before)
        .bind(count(p.max_failures))
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?
        .is_some();
    let admission = if taken {
        Admission::Admitted
    } else {
        // The upsert above locked the row even though it changed nothing: this reads the
        // state that refused it.
        let locked: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT locked_until FROM login_attempts WHERE user_id = $1 AND source = $2 AND locked_until > $3",
        )
        .bind(id)
        .bind(source)
        .bind(p.now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?
        .flatten();
        match locked {
            Some(until) => Admission::Locked(until),
            None => Admission::Full,
        }
    };
    tx.commit().await.map_err(map_err)?;
    Ok(admission)
}

pub(crate) async fn failed(
    store: &PostgresStore,
    id: Uuid,
    source: &str,
    p: &AttemptPolicy,
    audit: [&AuditEntry; 3],
) -> StoreResult<FailedAttempt> {
    let [failed, source_locked, account_locked] = audit;
    let mut tx = store.begin().await?;
    // The source row first (the lock order of every attempt: source row, then user row). An
    // upsert for a deleted user breaks the foreign key: check the user exists in the same
    // statement by inserting from it.
    let max = count(p.max_failures);
    let failures: Option<i32> = sqlx::query_scalar(
        "INSERT INTO login_attempts (user_id, source, failures, pending, locked_until, updated_at) \
         SELECT u.id, $2, 1, 0, CASE WHEN 1 >= $4 THEN $5::timestamptz END, $3 FROM users u WHERE u.id = $1 \
         ON CONFLICT (user_id, source) DO UPDATE SET \
           pending = GREATEST(login_attempts.pending - 1, 0), \
           failures = login_attempts.failures + 1, \
           locked_until = CASE WHEN login_attempts.failures + 1 = $4 THEN $5 \
                               ELSE login_attempts.locked_until END, \
           updated_at = $3 \
         RETURNING failures",
    )
    .bind(id)
    .bind(source)
    .bind(p.now)
    .bind(max)
    .bind(p.lock_until)
    .fetch_optional(&mut *tx)
    .await
    .map_err(map_err)?;
    let mut result = FailedAttempt::default();
    if let Some(failures) = failures {
        let account: Option<i32> = sqlx::query_scalar(
            "UPDATE users SET \
               locked_until = CASE WHEN failed_logins + 1 >= $1 THEN $2 ELSE locked_until END, \
               failed_logins = CASE WHEN failed_logins + 1 >= $1 THEN 0 ELSE failed_logins + 1 END \
             WHERE id = $3 RETURNING failed_logins",
        )
        .bind(count(p.account_max_failures))
        .bind(p.lock_until)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        result = FailedAttempt {
            failures: failures.unsigned_abs(),
            // Counts grow by one: the failure that reached the limit is the one that locked.
            source_locked: failures == max,
            // The account count restarts at 0 only when this failure reached its limit.
            account_locked: account == Some(0),
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
    store: &PostgresStore,
    id: Uuid,
    source: &str,
    p: &AttemptPolicy,
    success: AttemptSuccess,
    audit: &[AuditEntry],
) -> StoreResult<Admission> {
    let mut tx = store.begin().await?;
    let restart = success != AttemptSuccess::FirstFactor;
    let login = success == AttemptSuccess::Login;
    // Release the reservation; the count restarts only if no lock holds now (and never for a
    // first factor: the sign-in is not complete). The row lock taken here orders this decision
    // after any failure of the same source committed before.
    let source_lock: Option<DateTime<Utc>> = sqlx::query_scalar(
        "UPDATE login_attempts SET pending = GREATEST(pending - 1, 0), \
           failures = CASE WHEN locked_until > $1 OR NOT $4 THEN failures ELSE 0 END, updated_at = $1 \
         WHERE user_id = $2 AND source = $3 RETURNING locked_until",
    )
    .bind(p.now)
    .bind(id)
    .bind(source)
    .bind(restart)
    .fetch_optional(&mut *tx)
    .await
    .map_err(map_err)?
    .flatten();
    let refused = match source_lock.filter(|t| *t > p.now) {
        Some(until) => Some(until),
        None => account_lock(&mut tx, id, source, p.now).await?,
    };
    if let Some(until) = refused {
        tx.commit().await.map_err(map_err)?;
        return Ok(Admission::Locked(until));
    }
    if restart {
        sqlx::query(
            "UPDATE users SET failed_logins = 0, \
               last_login_at = CASE WHEN $1 THEN $2 ELSE last_login_at END WHERE id = $3",
        )
        .bind(login)
        .bind(p.now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    }
    if login {
        sqlx::query(
            "INSERT INTO known_sources (user_id, source, last_seen) \
             SELECT id, $2, $3 FROM users WHERE id = $1 \
             ON CONFLICT (user_id, source) DO UPDATE SET last_seen = excluded.last_seen",
        )
        .bind(id)
        .bind(source)
        .bind(p.now)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        sqlx::query(
            "DELETE FROM known_sources WHERE user_id = $1 AND source NOT IN \
             (SELECT source FROM known_sources WHERE user_id = $1 \
              ORDER BY last_seen DESC, source LIMIT $2)",
        )
        .bind(id)
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
    store: &PostgresStore,
    id: Uuid,
    source: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE login_attempts SET pending = GREATEST(pending - 1, 0), updated_at = $1 \
         WHERE user_id = $2 AND source = $3",
    )
    .bind(now)
    .bind(id)
    .bind(source)
    .execute(store.pool())
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Forgets every source's count and lock of the user (unlock, password reset).
pub(crate) async fn clear(conn: &mut PgConnection, id: Uuid) -> StoreResult<()> {
    sqlx::query("DELETE FROM login_attempts WHERE user_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn purge(store: &PostgresStore, before: DateTime<Utc>) -> StoreResult<u64> {
    let done = sqlx::query(
        "DELETE FROM login_attempts WHERE updated_at < $1 \
         AND (locked_until IS NULL OR locked_until < $1)",
    )
    .bind(before)
    .execute(store.pool())
    .await
    .map_err(map_err)?;
    Ok(done.rows_affected())
}
