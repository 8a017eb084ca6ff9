//! Threat-model checks that no other module makes (docs/security.md names the tests of each
//! threat): an unknown account costs a login the same password hash as a known one, and no
//! response opens the API to other origins' scripts.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};

use crate::helpers::*;

/// Median time of `n` runs of `f`.
async fn median<F, Fut>(n: usize, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        f().await;
        times.push(started.elapsed());
    }
    times.sort();
    times[n / 2]
}

#[tokio::test]
async fn an_unknown_account_costs_a_login_a_password_hash_too() {
    // A hash cost that dominates a request's time (a debug build's argon2 is slow), and no
    // lockout to get in the way of repeated wrong passwords.
    let app = spawn_app_with(&[
        ("SESAME_ARGON2_MEMORY_KIB", "1024"),
        ("SESAME_ARGON2_ITERATIONS", "2"),
        ("SESAME_LOCKOUT_MAX_FAILURES", "1000"),
    ])
    .await;
    let user = app.new_user().await;
    let wrong_password = median(7, || async {
        let res = app
            .login_raw(&user.username, "not the password at all")
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    })
    .await;
    let unknown_user = median(7, || async {
        let res = app
            .login_raw("nobody-at-all", "not the password at all")
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    })
    .await;
    let no_hash = median(7, || async {
        // The cheapest request that still goes through the login handler: no hashing at all.
        let res = app.post("/auth/login", serde_json::json!({})).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    })
    .await;
    assert!(
        wrong_password > no_hash * 3,
        "the hash must dominate for this test to mean anything: {wrong_password:?} vs {no_hash:?}"
    );
    // Without the dummy hash an unknown account would answer in about `no_hash`. (The margin
    // is wide because tests run in parallel on a busy machine.)
    assert!(
        unknown_user * 4 > wrong_password,
        "unknown account {unknown_user:?}, wrong password {wrong_password:?}, no hash {no_hash:?}"
    );
}

#[tokio::test]
async fn no_response_grants_other_origins_access() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let origin = "https://evil.example";
    let preflight = app
        .client
        .request(Method::OPTIONS, app.url("/auth/login"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, authorization",
        )
        .send()
        .await
        .unwrap();
    let profile = app
        .client
        .get(app.url("/profile"))
        .bearer_auth(&user.tokens.access)
        .header("origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(profile.status(), StatusCode::OK);
    for res in [preflight, profile] {
        let cors: Vec<_> = res
            .headers()
            .keys()
            .filter(|k| k.as_str().starts_with("access-control-"))
            .collect();
        assert!(cors.is_empty(), "{} answered {cors:?}", res.url());
    }
}

/// The data dir holds the TLS key and, on SQLite, the database with the password hashes and the
/// private signing keys: what Sesame creates there is owner-only whatever the umask.
#[cfg(unix)]
#[tokio::test]
async fn the_data_dir_it_creates_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let outer = tempfile::tempdir().unwrap();
    let data = outer.path().join("fresh/data");
    let app = spawn_app_with(&[("SESAME_DATA_DIR", data.to_str().unwrap())]).await;
    app.new_user().await;
    assert_eq!(mode(&outer.path().join("fresh")), 0o700);
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("tls")), 0o700);
    assert_eq!(mode(&data.join("tls/key.pem")), 0o600);
    if crate::BACKEND == Backend::Sqlite {
        for file in ["sesame.db", "sesame.db-wal", "sesame.db-shm"] {
            assert_eq!(mode(&data.join(file)), 0o600, "{file}");
        }
    }
}
