//! Sesame's storage contract on PostgreSQL, for deployments with several replicas.
//!
//! One pool, READ COMMITTED (PostgreSQL's default). Races between replicas are decided by the
//! database, never by a check in Rust followed by a write: unique constraints report conflicts,
//! a conditional `UPDATE` spends a refresh token, a conditional `UPDATE` revokes a session, and
//! the signing-key table is locked for the length of the transactions that initialise or rotate
//! it. Audit entries are inserted in the transaction of the change they record.

mod audit;
mod clients;
mod console;
mod email;
mod identities;
mod keys;
mod lockout;
mod mfa;
mod oidc;
mod passkeys;
mod rotation;
mod sessions;
mod status;
mod users;
mod webhooks;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sesame_core::store::{Constraint, Store, StoreError, StoreResult};
use sqlx::migrate::MigrateError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How long a request waits for a pooled connection. Short on purpose: when the database is down
/// the service should answer 503 within a few seconds, not hold the client until its own timeout.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Connections per replica. Each request holds one for a few short statements, so a handful
/// serves hundreds of requests per second, while ten replicas stay well under PostgreSQL's
/// default `max_connections` of 100.
pub const MAX_CONNECTIONS: u32 = 10;

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// Refresh rotations, committed in groups (see `rotation`).
    rotations: std::sync::Arc<rotation::Rotations>,
}

impl PostgresStore {
    /// Connects to a `postgres://` URL, with [`MAX_CONNECTIONS`] and [`ACQUIRE_TIMEOUT`].
    /// Fails with `Unavailable` when the server cannot be reached within the timeout.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(other)?
            .application_name("sesame");
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(map_err)?;
        Ok(Self::from_pool(pool))
    }

    /// Wraps a pool built by the caller (other sizes or timeouts).
    pub fn from_pool(pool: PgPool) -> Self {
        PostgresStore {
            rotations: rotation::rotations(pool.clone()),
            pool,
        }
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Opens a transaction on a task of its own. A caller that goes away while `BEGIN` is in
    /// flight would otherwise drop the connection back into the pool inside a transaction with
    /// no rollback queued (sqlx queues one only for a `Transaction` that exists): the next user
    /// of that connection then runs, and never commits, inside it, holding its row locks for
    /// good. On its own task, `begin` always completes; if the caller is gone, the finished
    /// `Transaction` is dropped there, which queues the rollback. Found by the conformance
    /// check `cancellation::writes_dropped_at_any_await_leave_the_store_usable`, which hung with
    /// a connection "idle in transaction" after a `BEGIN`.
    pub(crate) async fn begin(&self) -> StoreResult<Transaction<'static, Postgres>> {
        let pool = self.pool.clone();
        tokio::spawn(async move { pool.begin().await })
            .await
            .map_err(|e| StoreError::Other(Box::new(e)))?
            .map_err(map_err)
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn migrate(&self) -> StoreResult<()> {
        // Several replicas may start at once. sqlx's PostgreSQL migrator serialises them itself:
        // `Migrator::run` (sqlx-core 0.8.6, src/migrate/migrator.rs, `run_direct`) calls
        // `conn.lock()` first because `locking` defaults to true, and the PostgreSQL `lock`
        // (sqlx-postgres 0.8.6, src/migrate.rs) is `SELECT pg_advisory_lock($1)` with an id
        // derived from the database name. The replicas that wait then find every migration
        // applied and do nothing. (Each migration also runs in its own transaction.)
        //
        // The lock is session-level and sqlx skips the unlock when a migration fails, so the
        // migration runs on a connection of its own, closed afterwards: ending the session
        // releases the lock, where a connection back in the shared pool would keep holding it.
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with((*self.pool.connect_options()).clone())
            .await
            .map_err(map_err)?;
        let result = MIGRATOR.run(&pool).await;
        pool.close().await;
        result.map_err(migrate_err)
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    fn pool_stats(&self) -> Vec<(&'static str, u32, u32)> {
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
        vec![("postgres", self.pool.size(), idle)]
    }
}

pub(crate) fn other(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Other(Box::new(e))
}

/// Maps a driver error: unique violations by the constraint they name, connection trouble to
/// `Unavailable` (the caller answers 503), everything else to `Other`.
pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    if let Some(constraint) = conflict(&e) {
        StoreError::Conflict(constraint)
    } else if is_unavailable(&e) {
        StoreError::Unavailable(Box::new(e))
    } else {
        other(e)
    }
}

fn conflict(e: &sqlx::Error) -> Option<Constraint> {
    let sqlx::Error::Database(db) = e else {
        return None;
    };
    if !db.is_unique_violation() {
        return None;
    }
    match db.constraint() {
        Some("users_email_key") => Some(Constraint::Email),
        Some("users_username_key") => Some(Constraint::Username),
        _ => None,
    }
}

pub(crate) fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db.code().is_some_and(|code| is_connection_trouble(&code)),
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
}

/// A migration that failed because the server went away is `Unavailable` like any query; one
/// that failed on its own (bad SQL, a checksum mismatch) is `Other`, with the version in its
/// message.
fn migrate_err(e: MigrateError) -> StoreError {
    match &e {
        MigrateError::Execute(inner) | MigrateError::ExecuteMigration(inner, _)
            if is_unavailable(inner) =>
        {
            StoreError::Unavailable(Box::new(e))
        }
        _ => other(e),
    }
}

/// SQLSTATEs that say the server, not the statement, is the problem: class 08 (connection
/// exception) and 57P01-57P03 (admin shutdown, crash shutdown, cannot connect now — a server that
/// is stopping, restarting or still starting up).
fn is_connection_trouble(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
}

#[cfg(test)]
mod tests {
    use super::is_connection_trouble;

    #[test]
    fn connection_classes_are_recognised() {
        assert!(is_connection_trouble("08006"));
        assert!(is_connection_trouble("57P01"));
        assert!(is_connection_trouble("57P03"));
        assert!(!is_connection_trouble("57014")); // query_canceled: the statement, not the server
        assert!(!is_connection_trouble("23505"));
    }
}
