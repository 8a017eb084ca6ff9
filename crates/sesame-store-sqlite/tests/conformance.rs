//! The storage contract (sesame-store-conformance), on SQLite: each check gets its own database
//! file in its own temporary directory, removed when the check ends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use sesame_core::store::Store;
use sesame_store_conformance::{Fixture, conformance_tests};
use sesame_store_sqlite::SqliteStore;

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("sesame.db").display());
    let store = SqliteStore::connect(&url).await.expect("open the database");
    store.migrate().await.expect("migrate");
    // The directory must outlive the store: SQLite creates its -wal and -shm files beside the
    // database as it goes.
    Fixture::new(Arc::new(store)).keeping(dir)
}

conformance_tests!(crate::fixture());
