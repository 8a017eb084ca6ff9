//! The storage contract (sesame-store-conformance) on PostgreSQL, plus what only a server
//! database has: concurrent migrations and a server that is down. One throwaway server per test
//! process (sesame-testkit), a fresh database per check.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use sesame_core::store::Store;
use sesame_store_conformance::{Fixture, conformance_tests};
use sesame_store_postgres::PostgresStore;
use sesame_testkit::PgCluster;

async fn fixture() -> Fixture {
    let cluster = PgCluster::shared().expect("test PostgreSQL server");
    let url = cluster.fresh_database().await.expect("fresh database");
    let store = PostgresStore::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    Fixture::new(Arc::new(store))
}

conformance_tests!(crate::fixture());

mod postgres {
    use std::time::{Duration, Instant};

    use sesame_core::store::{Store, StoreError, UserStore};
    use sesame_store_postgres::PostgresStore;
    use sesame_testkit::PgCluster;

    /// Replicas starting together: every one migrates successfully, each migration is applied
    /// once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_migrations_apply_once() {
        let url = PgCluster::shared()
            .expect("test PostgreSQL server")
            .fresh_database()
            .await
            .expect("fresh database");
        let mut replicas = Vec::new();
        for _ in 0..6 {
            let url = url.clone();
            replicas.push(tokio::spawn(async move {
                let store = PostgresStore::connect(&url).await.expect("connect");
                store.migrate().await
            }));
        }
        for replica in replicas {
            replica.await.unwrap().expect("every replica migrates");
        }
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        let (applied,): (i64,) = sqlx::query_as("SELECT count(*) FROM _sqlx_migrations")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
            .unwrap()
            .count();
        assert_eq!(applied, files as i64);
    }

    /// Nothing listens: `Unavailable` (503), and within the acquire timeout, not a hang.
    #[tokio::test]
    async fn unreachable_server_is_unavailable_quickly() {
        let started = Instant::now();
        let err = PostgresStore::connect("postgres://postgres@127.0.0.1:1/sesame")
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    /// The server stops under a connected store: its next query is `Unavailable`, promptly.
    #[tokio::test]
    async fn stopped_server_is_unavailable() {
        let cluster = PgCluster::start().expect("a server of this test's own");
        let url = cluster.fresh_database().await.expect("fresh database");
        let store = PostgresStore::connect(&url).await.expect("connect");
        store.migrate().await.expect("migrate");
        store.ping().await.expect("up");
        drop(cluster);

        let started = Instant::now();
        let err = store.ping().await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        let err = store.get_user(uuid::Uuid::nil()).await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
