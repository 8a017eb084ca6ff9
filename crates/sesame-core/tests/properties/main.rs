//! Property tests (proptest): the session state machine against a reference model, and the
//! domain parsers; plus a few exact cases on the real store that fit no other binary (clock
//! skew, the client cache, lifetimes changed across a restart). One binary, one module per subject.
//!
//! Case counts are small by default so the suite stays fast; `PROPTEST_CASES=1000 cargo test
//! -p sesame-core --test properties` explores more.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(
    clippy::disallowed_methods,
    reason = "tests compare with, and stamp records by, the real time"
)]

mod client_cache;
mod clock_skew;
mod lifetimes;
mod parsers;
mod sessions;

/// Cases per property: `PROPTEST_CASES` when set, else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A migrated SQLite store in a temporary directory (kept alive by the caller: SQLite writes its
/// -wal and -shm files beside the database as it goes).
pub async fn sqlite_store() -> (
    std::sync::Arc<dyn sesame_core::store::Store>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let store = sesame_store_sqlite::SqliteStore::connect(
        &dir.path().join("sesame.db").display().to_string(),
    )
    .await
    .unwrap();
    sesame_core::store::Store::migrate(&store).await.unwrap();
    (std::sync::Arc::new(store), dir)
}

/// Default settings with cheap hashing (the hash cost is under test elsewhere), one worker, and
/// EdDSA ID-token keys: the default RS256 costs 0.1–0.5 s of CPU per key at every start, and
/// these properties start many systems and sign no ID token.
pub fn cheap_settings() -> sesame_core::settings::Settings {
    sesame_core::settings::Settings {
        argon2: sesame_core::settings::Argon2Cost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        },
        hash_workers: 1,
        id_token_alg: sesame_core::keys::SigningAlg::EdDSA,
        ..sesame_core::settings::Settings::default()
    }
}
