//! Sesame's storage contract on embedded SQLite.
//!
//! WAL mode, one writer connection and a small pool of readers: SQLite allows one writer at a
//! time anyway, and funnelling writes through one connection avoids SQLITE_BUSY retries under
//! load while readers never block. Write transactions start with `BEGIN IMMEDIATE` so that a
//! second process on the same file (the CLI) waits for the lock instead of failing mid-way.
//! `synchronous=NORMAL` in WAL mode keeps every committed transaction across a process crash
//! (`kill -9`); only an OS crash or power loss could drop the last commits.
//!
//! Cancellation: a request's future is dropped wherever it waits when its client goes away
//! (wrk closing its connections at the end of a run does it to dozens at once). sqlx's
//! `begin_with` has one await after the `BEGIN IMMEDIATE` has run — it checks that the statement
//! opened a transaction — and a future dropped there leaves the connection inside a transaction
//! that no `Transaction` owns, so nothing ever rolls it back. With one writer connection that
//! was every later write: `begin_with` refuses to nest ("attempted to call begin_with at
//! non-zero transaction depth"), each answered 500, until a restart (issue #16.1). So
//! [`SqliteStore::write_tx`] begins in a task of its own, which a dropped caller cannot cut
//! short (a `Transaction` that was opened for nobody is rolled back when the task's output is
//! dropped), and the writer pool hands out no connection still inside a transaction, whatever
//! left it there: it is closed instead, which rolls back, and a fresh one opened. Everything
//! after `BEGIN` is cancellation-safe already: a dropped `Transaction` queues its `ROLLBACK`,
//! which runs before the connection is pinged back into the pool.

mod audit;
mod checkpoint;
mod clients;
mod console;
mod email;
mod identities;
mod keys;
mod lockout;
mod mfa;
mod oidc;
mod passkeys;
mod private_files;
mod rotation;
mod sessions;
mod status;
mod types;
mod users;
mod webhooks;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sesame_core::store::{Constraint, Store, StoreError, StoreResult};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, Sqlite, SqlitePool, Transaction};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// Refresh rotations waiting for the writer, committed in groups (see `rotation`).
    rotations: std::sync::Arc<rotation::Rotations>,
    /// WAL checkpoints off the writer's path (see `checkpoint`); none for `:memory:`.
    _checkpointer: Option<std::sync::Arc<checkpoint::Checkpointer>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at a `sqlite://PATH` URL or a plain path.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        let path = path.split('?').next().unwrap_or(path);
        if let Some(dir) = Path::new(path).parent()
            && !dir.as_os_str().is_empty()
        {
            private_files::create_dir(dir).map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        }
        if path != ":memory:" && !path.is_empty() {
            private_files::create_db_file(Path::new(path))
                .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        }
        let base = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
            .map_err(other)?
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let opts = base
            .clone()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal);
        let in_memory = path == ":memory:" || path.is_empty();
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            // Never hand out a connection inside a transaction nobody owns (see the module
            // comment): closing it rolls the transaction back. Cheap: a counter read, and the
            // release before it has already run any ROLLBACK a dropped `Transaction` queued.
            .before_acquire(|conn, _| {
                let idle_in_transaction = conn.is_in_transaction();
                Box::pin(async move {
                    if idle_in_transaction {
                        tracing::warn!(
                            "the SQLite writer connection was returned inside a transaction; \
                             closing it (which rolls back) and opening another"
                        );
                    }
                    Ok(!idle_in_transaction)
                })
            })
            // The checkpointer does this work; the writer only falls back to it (see
            // `checkpoint`).
            .connect_with(opts.clone().pragma(
                "wal_autocheckpoint",
                checkpoint::WRITER_FALLBACK_PAGES.to_string(),
            ))
            .await
            .map_err(map_err)?;
        let readers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(2, 8) as u32;
        let reader = SqlitePoolOptions::new()
            .max_connections(readers)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(base.clone().read_only(true))
            .await
            .map_err(map_err)?;
        let checkpointer = if in_memory {
            None
        } else {
            let conn = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(base.clone())
                .await
                .map_err(map_err)?;
            Some(std::sync::Arc::new(checkpoint::Checkpointer::start(conn)))
        };
        Ok(SqliteStore {
            rotations: rotation::rotations(writer.clone()),
            writer,
            reader,
            _checkpointer: checkpointer,
        })
    }

    /// Opens a write transaction on the writer connection. The `BEGIN` runs in a task of its
    /// own, so a caller dropped while it waits cannot leave the connection inside a
    /// transaction that nobody owns (see the module comment).
    pub(crate) async fn write_tx(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        let writer = self.writer.clone();
        tokio::spawn(async move { writer.begin_with("BEGIN IMMEDIATE").await })
            .await
            // The task panicked or the runtime is shutting down: nothing was begun for us.
            .map_err(|e| StoreError::Unavailable(Box::new(e)))?
            .map_err(map_err)
    }

    pub(crate) fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    pub(crate) fn writer(&self) -> &SqlitePool {
        &self.writer
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR
            .run(&self.writer)
            .await
            .map_err(|e| StoreError::Other(Box::new(e)))
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    fn pool_stats(&self) -> Vec<(&'static str, u32, u32)> {
        vec![
            ("writer", self.writer.size(), self.writer.num_idle() as u32),
            ("reader", self.reader.size(), self.reader.num_idle() as u32),
        ]
    }
}

pub(crate) fn other(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Other(Box::new(e))
}

/// Maps a driver error: unique violations by the column they name, connection trouble to
/// `Unavailable`, everything else to `Other`.
pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let msg = db.message();
            if msg.contains("users.email_canonical") {
                StoreError::Conflict(Constraint::Email)
            } else if msg.contains("users.username_canonical") {
                StoreError::Conflict(Constraint::Username)
            } else {
                other(e)
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(Box::new(e)),
        _ => other(e),
    }
}
