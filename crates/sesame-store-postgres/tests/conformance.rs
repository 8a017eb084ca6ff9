//! The storage contract (sesame-store-conformance) on PostgreSQL, plus what only a server
//! database has: concurrent migrations and a server that is down. One throwaway server per test
//! process (sesame-testkit), a fresh database per check.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(
    clippy::disallowed_methods,
    reason = "tests compare with, and stamp records by, the real time"
)]

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

    /// Security review finding 12: a revoking transaction that commits long after writing its
    /// feed row (here it holds the session's row lock for 15 s) is still read by another
    /// replica within one poll of the commit — although that replica polled many times
    /// meanwhile and read newer revocations, committed before it. With the former poll (by
    /// the rows' timestamps, looking back 10 s from the newest seen) the row was never read.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_revocation_committed_late_is_read_by_another_replica() {
        use chrono::Utc;
        use sesame_core::revocation::RevocationCache;
        use sesame_core::store::SessionStore;
        use sqlx::Connection;

        let url = PgCluster::shared()
            .expect("test PostgreSQL server")
            .fresh_database()
            .await
            .expect("fresh database");
        // Replica A revokes; replica B (its own store and cache) follows the feed.
        let a = PostgresStore::connect(&url).await.expect("connect");
        a.migrate().await.expect("migrate");
        let b = PostgresStore::connect(&url).await.expect("connect");
        let cache = RevocationCache::new(Duration::from_secs(900));
        cache.catch_up(&b, Utc::now()).await.unwrap();

        let user = sesame_store_conformance::create_user(&a, "late").await;
        let now = Utc::now();
        let in_an_hour = now + chrono::Duration::hours(1);
        let (slow, _) = sesame_store_conformance::open_session(&a, user, now, in_an_hour).await;
        let claims = |sid: Option<String>, jti: &str| sesame_verify::Claims {
            iss: "https://issuer.test".into(),
            sub: user.to_string(),
            aud: sesame_verify::Audience::One("api".into()),
            exp: in_an_hour.timestamp(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            jti: jti.into(),
            client_id: "sesame".into(),
            sid,
            roles: vec![],
            scope: None,
            email_verified: None,
            act: None,
            status: None,
            amr: None,
            acr: None,
        };
        let slow_token = claims(Some(slow.to_string()), "slow-session-token");

        // The slow revocation: the trigger writes its feed row now; the transaction holds the
        // session's row lock and commits only 15 s later.
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("UPDATE sessions SET revoked_at = now() WHERE id = $1")
            .bind(slow)
            .execute(&mut *tx)
            .await
            .unwrap();
        let written = Instant::now();
        let mut round = 0;
        while written.elapsed() < Duration::from_secs(15) {
            // Meanwhile A revokes other tokens, committed at once; B reads them.
            let jti = format!("fast-{round}");
            a.deny_access_token(&jti, in_an_hour).await.unwrap();
            cache.catch_up(&b, Utc::now()).await.unwrap();
            assert!(cache.is_revoked(&claims(None, &jti)), "{jti} read at once");
            assert!(
                !cache.is_revoked(&slow_token),
                "not committed yet, so not visible"
            );
            round += 1;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        tx.commit().await.unwrap();
        cache.catch_up(&b, Utc::now()).await.unwrap();
        assert!(
            cache.is_revoked(&slow_token),
            "a revocation committed 15 s after its feed row was written was never read"
        );
        // And the session is revoked in the database, of course.
        assert!(
            a.get_session(slow)
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_some()
        );
    }
}
