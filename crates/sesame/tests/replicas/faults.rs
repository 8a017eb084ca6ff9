//! The database goes away while Sesame serves, and comes back. Meanwhile every request that
//! needs it answers 503 `unavailable` within a bounded time (the pool's acquire timeout is 3 s),
//! /readyz says 503, /healthz 200, and the process stays up; afterwards it serves again by
//! itself, without a restart.
//!
//! The outage is a real one: the PostgreSQL server is stopped (fast shutdown, connections cut)
//! and started again on the same port. That takes a server of this test's own, not the shared
//! one the other tests use.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use sesame_testkit::PgCluster;

use crate::process::*;

/// How long any answer may take while the database is down.
const ANSWER_BOUND: Duration = Duration::from_secs(10);
/// How long the service may take to notice that the database is back.
const RECOVERY_BOUND: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_database_outage_answers_503_and_the_service_recovers_by_itself() {
    let mut cluster = tokio::task::spawn_blocking(PgCluster::start)
        .await
        .unwrap()
        .expect("a PostgreSQL server of this test's own");
    let url = cluster.fresh_database().await.expect("database");
    let mut server = Server::start("sesame", &url, &[]).await;
    let email = server.new_user().await;
    let session = server.login(&email).await;
    assert_eq!(server.get("/readyz", None).await.status(), StatusCode::OK);

    cluster = tokio::task::spawn_blocking(move || {
        cluster.stop().expect("PostgreSQL stops");
        cluster
    })
    .await
    .unwrap();

    // Every request that needs the database, all at once (each waits for a connection).
    let c = &server.client;
    let requests = [
        (
            "login",
            c.post(server.url("/auth/login"))
                .json(&json!({"username": email, "password": PASSWORD})),
        ),
        (
            "register",
            c.post(server.url("/auth/register")).json(&json!({
                "email": format!("{}@example.com", unique("late")),
                "password": PASSWORD
            })),
        ),
        (
            "refresh",
            c.post(server.url("/auth/token/refresh"))
                .json(&json!({"refresh": session.refresh})),
        ),
        (
            "profile",
            c.get(server.url("/profile")).bearer_auth(&session.access),
        ),
        ("readyz", c.get(server.url("/readyz"))),
    ];
    let answers = futures::future::join_all(requests.into_iter().map(|(name, req)| async move {
        let started = Instant::now();
        let res = req.send().await;
        (name, started.elapsed(), res)
    }))
    .await;
    for (name, took, res) in answers {
        let res =
            res.unwrap_or_else(|e| panic!("{name}: no answer while the database is down: {e}"));
        assert!(
            took < ANSWER_BOUND,
            "{name} answered after {took:?}, over {ANSWER_BOUND:?}"
        );
        let b = assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
        let text = b.to_string().to_lowercase();
        for leak in ["sqlx", "postgres", "refused", "127.0.0.1", "pool"] {
            assert!(
                !text.contains(leak),
                "{name}: the 503 body says {leak:?}: {b}"
            );
        }
    }
    // The OAuth endpoints answer the same outage in their own RFC 6749 form (issue #16.2): a
    // client not held in memory needs the database to be authenticated.
    let started = Instant::now();
    let res = c
        .post(server.url("/oauth/token"))
        .basic_auth("no-such-client", Some("no-such-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("/oauth/token answers while the database is down");
    assert!(started.elapsed() < ANSWER_BOUND);
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "1");
    assert_eq!(
        body(res).await,
        json!({
            "error": "temporarily_unavailable",
            "error_description": "The service is temporarily unavailable."
        })
    );
    let started = Instant::now();
    let res = server.get("/healthz", None).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "alive while the database is down"
    );
    assert!(started.elapsed() < ANSWER_BOUND);
    assert!(server.is_running(), "still running:\n{}", server.log());

    cluster = tokio::task::spawn_blocking(move || {
        cluster.restart().expect("PostgreSQL starts again");
        cluster
    })
    .await
    .unwrap();

    // Recovery by itself: the pool reconnects, nothing restarts Sesame.
    let back = Instant::now();
    loop {
        let res = server.login_raw(&email, PASSWORD).await;
        if res.status() == StatusCode::OK {
            break;
        }
        assert_eq!(
            res.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            body(res).await
        );
        assert!(
            back.elapsed() < RECOVERY_BOUND,
            "login still fails {RECOVERY_BOUND:?} after the database came back\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(server.get("/readyz", None).await.status(), StatusCode::OK);
    // Nothing written before the outage was lost, and sessions go on.
    let res = server.refresh_raw(&session.refresh).await;
    assert_eq!(res.status(), StatusCode::OK, "{}", body(res).await);

    let log = server.log();
    assert!(
        !log.contains("panicked"),
        "a panic while the database was down:\n{log}"
    );
    let status = server.stop().await;
    assert!(
        status.success(),
        "graceful exit after the outage: {status}\n{log}"
    );
    drop(cluster);
}
