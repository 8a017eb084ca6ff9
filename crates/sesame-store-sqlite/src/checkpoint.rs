//! WAL checkpoints on a connection of their own, off the writer's path.
//!
//! In WAL mode with `synchronous=NORMAL` a commit writes its pages to the WAL and syncs
//! nothing; the syncs happen when the WAL is copied back into the database (a checkpoint: one
//! fsync of the WAL, one of the database file). SQLite runs that checkpoint, by default, inside
//! the commit that takes the WAL past 1,000 pages — on the one writer connection, so every
//! refresh queued behind it waits out two fsyncs. On this project's VMs that was tens of
//! milliseconds every few hundred commits: the writer thread sat idle in `fsync` for much of a
//! refresh benchmark, its p99 was 30 ms, and the CPU was two-thirds unused (issue #23).
//!
//! So a task checkpoints every [`INTERVAL`] from its own connection (its own thread), in
//! PASSIVE mode, which never blocks the writer or the readers: the writer keeps appending while
//! the checkpointer copies and syncs. The writer restarts the WAL from its beginning once a
//! checkpoint has copied all of it, so the file stays small. The writer's own automatic
//! checkpoint stays on as a fallback with a higher threshold ([`WRITER_FALLBACK_PAGES`]): if the
//! task stalls or fails, the WAL is still bounded, as before.
//!
//! Durability is unchanged: a commit is acknowledged once it is in the WAL, as before; a
//! checkpoint moves committed pages and never decides what is committed.

use std::time::Duration;

use sqlx::SqlitePool;
use tokio::task::JoinHandle;

/// How often the checkpointer runs.
pub(crate) const INTERVAL: Duration = Duration::from_millis(100);
/// The writer checkpoints by itself past this many WAL pages (4 KiB each: 16 MiB), which only
/// happens when the checkpointer has not kept up.
pub(crate) const WRITER_FALLBACK_PAGES: u32 = 4_000;

/// The checkpointer task; stops when the store's last clone is dropped.
#[derive(Debug)]
pub(crate) struct Checkpointer(JoinHandle<()>);

impl Checkpointer {
    pub(crate) fn start(conn: SqlitePool) -> Self {
        Checkpointer(tokio::spawn(async move {
            let mut tick = tokio::time::interval(INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            loop {
                tick.tick().await;
                match checkpoint(&conn).await {
                    Ok(()) => failing = false,
                    // Said once per run of failures: the writer's fallback keeps the WAL
                    // bounded meanwhile.
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(error = %e, "WAL checkpoint failed; the writer checkpoints by itself meanwhile");
                    }
                    Err(_) => {}
                }
            }
        }))
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One PASSIVE checkpoint: copies what it can without waiting for anyone.
async fn checkpoint(conn: &SqlitePool) -> Result<(), sqlx::Error> {
    sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .execute(conn)
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::time::Instant;

    use sesame_core::store::Store;
    use sesame_store_conformance::create_user;

    use super::*;
    use crate::SqliteStore;

    #[tokio::test]
    async fn the_wal_is_copied_back_off_the_writer_long_before_its_own_threshold() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db");
        let store = SqliteStore::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        // The writer checkpoints by itself only past the fallback threshold.
        let (pages,): (i64,) = sqlx::query_as("PRAGMA wal_autocheckpoint")
            .fetch_one(store.writer())
            .await
            .unwrap();
        assert_eq!(pages, i64::from(WRITER_FALLBACK_PAGES));

        // Wait for the migration's pages to be copied back, then write far fewer pages than
        // any automatic checkpoint needs: in WAL mode the database file changes only when a
        // checkpoint copies pages into it, so its growth is the checkpointer's work.
        tokio::time::sleep(INTERVAL * 3).await;
        let before = std::fs::metadata(&db).unwrap().len();
        for i in 0..200 {
            create_user(&store, &format!("checkpoint_user_{i}")).await;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = std::fs::metadata(&db).unwrap().len();
            if now > before {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the database file stayed at {before} bytes: nothing was checkpointed"
            );
            tokio::time::sleep(INTERVAL).await;
        }
    }

    #[tokio::test]
    async fn the_checkpointer_stops_with_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("d.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        let task = store
            ._checkpointer
            .as_ref()
            .map(|c| c.0.abort_handle())
            .expect("a file database has a checkpointer");
        assert!(!task.is_finished());
        drop(store);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !task.is_finished() {
            assert!(
                Instant::now() < deadline,
                "the checkpointer outlived its store"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
