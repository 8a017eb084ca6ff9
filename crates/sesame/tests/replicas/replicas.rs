//! Two replicas, A and B, on one PostgreSQL database: whatever one of them does, the other
//! honours — tokens, signing keys (within a feed poll), lockout counts, the one winner of a
//! refresh race, and logout.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use sesame_testkit::PgCluster;

use crate::process::*;

/// A database nobody else uses on this process's shared test server.
async fn fresh_database() -> String {
    PgCluster::fresh_shared_database()
        .await
        .expect("a fresh database on the test PostgreSQL server")
}

/// How long a revocation made at one replica may take to be seen by the other's own endpoints.
/// Each replica holds revocations (and authenticated clients) in memory and reads the feed
/// every second (`SYNC_INTERVAL`); the rest is room for a slow poll on a busy machine.
const REVOCATION_BOUND: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_token_issued_by_one_replica_verifies_and_refreshes_at_the_other() {
    let (a, b) = Server::start_pair(&fresh_database().await, &[]).await;
    let email = a.new_user().await;
    let issued = a.login(&email).await;

    let res = b.get("/profile", Some(&issued.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await["email"], email);
    let res = b
        .post("/auth/token/verify", None, json!({"token": issued.access}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let res = b.refresh_raw(&issued.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    let next = tokens(&body(res).await);
    // And back: B's successor works at A.
    let res = a.get("/profile", Some(&next.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = a.refresh_raw(&next.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn replicas_publish_the_same_jwks() {
    let (a, b) = Server::start_pair(&fresh_database().await, &[]).await;
    let jwks = a.jwks().await;
    assert_eq!(
        jwks.as_array().unwrap().len(),
        4,
        "the signing key and the next one, of access and ID-token keys: {jwks}"
    );
    assert_eq!(b.jwks().await, jwks);
    // Both sign with the same key.
    let email = a.new_user().await;
    assert_eq!(
        kid(&a.login(&email).await.access),
        kid(&b.login(&email).await.access)
    );
}

#[tokio::test]
async fn a_key_rotated_through_one_replica_is_published_and_used_by_the_other() {
    let url = fresh_database().await;
    let (a, b) = Server::start_pair(&url, &[]).await;
    let admin_email = tokio::task::spawn_blocking({
        let url = url.clone();
        move || create_admin(&url)
    })
    .await
    .unwrap();
    let admin = a.login(&admin_email).await;
    let before = b.jwks().await;
    let old_kid = kid(&admin.access);

    let res = a
        .post("/admin/keys/rotate", Some(&admin.access), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{}", body(res).await);
    let rotated_at = Instant::now();
    let published = a.jwks().await;
    // Both families: retired, current, next.
    assert_eq!(published.as_array().unwrap().len(), 6, "{published}");
    let email = a.new_user().await;
    let from_a = a.login(&email).await;
    let new_kid = kid(&from_a.access);
    assert_ne!(new_kid, old_kid, "A signs with the promoted key");
    assert!(
        before.to_string().contains(&new_kid),
        "the promoted key was published before it signed"
    );
    // So B accepts A's new tokens at once, before it has reread the keys.
    let res = b.get("/profile", Some(&from_a.access)).await;
    assert_eq!(res.status(), StatusCode::OK);

    // The rotation wrote a 'key' entry to the feed (a trigger): B reloads its keys within a
    // poll — not at its 30 s periodic reload — and publishes the same set as A and signs with
    // the new key.
    let bound = REVOCATION_BOUND;
    loop {
        if b.jwks().await == published {
            break;
        }
        assert!(
            rotated_at.elapsed() < bound,
            "B still publishes {} {bound:?} after the rotation; A publishes {published}",
            b.jwks().await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let from_b = b.login(&email).await;
    assert_eq!(kid(&from_b.access), new_kid, "B signs with the new key");
    // Tokens signed by the retired key keep verifying everywhere until they expire.
    for server in [&a, &b] {
        let res = server.get("/profile", Some(&admin.access)).await;
        assert_eq!(res.status(), StatusCode::OK, "at {}", server.name);
    }
}

/// `sesame keys rotate` (the CLI, a process of its own) reaches both running replicas through
/// the feed within a poll: both publish the new set and sign with the promoted key.
#[tokio::test]
async fn a_key_rotated_from_the_cli_reaches_both_replicas_within_a_poll() {
    let url = fresh_database().await;
    let (a, b) = Server::start_pair(&url, &[]).await;
    let email = a.new_user().await;
    let old_kid = kid(&a.login(&email).await.access);
    let before = a.jwks().await;

    let out = tokio::task::spawn_blocking({
        let url = url.clone();
        move || {
            let dir = tempfile::tempdir().expect("temp dir");
            sesame(dir.path(), &url)
                .args(["keys", "rotate"])
                .output()
                .expect("sesame runs")
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "keys rotate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rotated_at = Instant::now();
    for server in [&a, &b] {
        loop {
            let jwks = server.jwks().await;
            let signed = kid(&server.login(&email).await.access);
            if jwks != before && signed != old_kid {
                assert_eq!(jwks.as_array().unwrap().len(), 6, "two families: {jwks}");
                assert!(before.to_string().contains(&signed), "promoted next key");
                break;
            }
            assert!(
                rotated_at.elapsed() < REVOCATION_BOUND,
                "{} still publishes {jwks} and signs with {signed} {REVOCATION_BOUND:?} after \
                 the rotation",
                server.name
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    assert_eq!(a.jwks().await, b.jwks().await);
}

#[tokio::test]
async fn lockout_counts_failures_made_at_either_replica() {
    let (a, b) = Server::start_pair(
        &fresh_database().await,
        &[("SESAME_LOCKOUT_MAX_FAILURES", "4")],
    )
    .await;
    let email = a.new_user().await;
    // Two failures at each: neither replica alone has seen enough to lock.
    for server in [&a, &b, &a, &b] {
        let res = server.login_raw(&email, "wrong password here").await;
        assert_error(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    for server in [&a, &b] {
        let res = server.login_raw(&email, PASSWORD).await;
        assert!(
            res.headers().contains_key("retry-after"),
            "Retry-After at {}",
            server.name
        );
        assert_error(res, StatusCode::FORBIDDEN, "account_locked").await;
    }
}

#[tokio::test]
async fn a_refresh_token_raced_at_both_replicas_is_spent_exactly_once() {
    let grace = [("SESAME_REFRESH_REUSE_GRACE", "0s")];
    let (a, b) = Server::start_pair(&fresh_database().await, &grace).await;
    let email = a.new_user().await;
    // A few rounds: each race is one shot at the window where both read the token unspent.
    for round in 0..5 {
        let session = a.login(&email).await;
        let (at_a, at_b) = tokio::join!(
            a.refresh_raw(&session.refresh),
            b.refresh_raw(&session.refresh)
        );
        let (status_a, status_b) = (at_a.status(), at_b.status());
        let (body_a, body_b) = (body(at_a).await, body(at_b).await);
        let winners = [status_a, status_b]
            .iter()
            .filter(|s| **s == StatusCode::OK)
            .count();
        assert_eq!(
            winners,
            1,
            "round {round}: exactly one refresh may win: A {status_a} {}, B {status_b} {}{}",
            body_a["code"],
            body_b["code"],
            if winners == 2 && body_a["refresh"] == body_b["refresh"] {
                " (both got the same successor: the grace path ran with a zero grace)"
            } else {
                ""
            }
        );
        let loser = if status_a == StatusCode::OK {
            (status_b, body_b)
        } else {
            (status_a, body_a)
        };
        assert_eq!(
            loser.0,
            StatusCode::UNAUTHORIZED,
            "round {round}: {}",
            loser.1
        );
        assert_eq!(
            loser.1["code"], "token_revoked",
            "round {round}: {}",
            loser.1
        );
    }
}

#[tokio::test]
async fn logout_at_one_replica_revokes_at_the_other() {
    let (a, b) = Server::start_pair(&fresh_database().await, &[]).await;
    let email = a.new_user().await;
    let session = a.login(&email).await;
    let res = b.get("/profile", Some(&session.access)).await;
    assert_eq!(res.status(), StatusCode::OK);

    let res = a
        .post(
            "/auth/logout",
            Some(&session.access),
            json!({"refresh_token": session.refresh}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let logged_out = Instant::now();

    let res = b.refresh_raw(&session.refresh).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "token_revoked").await;
    loop {
        let res = b.get("/profile", Some(&session.access)).await;
        if res.status() == StatusCode::UNAUTHORIZED {
            assert_error(res, StatusCode::UNAUTHORIZED, "token_revoked").await;
            break;
        }
        assert_eq!(res.status(), StatusCode::OK, "{}", body(res).await);
        assert!(
            logged_out.elapsed() < REVOCATION_BOUND,
            "B still accepts the access token {REVOCATION_BOUND:?} after logout at A"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A service client created through `server`'s admin API: (id, secret).
async fn create_client(server: &Server, admin: &str, audience: &str) -> (String, String) {
    let res = server
        .post(
            "/admin/clients",
            Some(admin),
            json!({"name": "cart service", "audiences": [audience]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let b = body(res).await;
    (
        b["client_id"].as_str().unwrap().to_string(),
        b["client_secret"].as_str().unwrap().to_string(),
    )
}

/// An OAuth form POST with HTTP Basic client credentials.
async fn oauth(
    server: &Server,
    path: &str,
    (id, secret): (&str, &str),
    fields: &[(&str, &str)],
) -> reqwest::Response {
    server
        .client
        .post(server.url(path))
        .basic_auth(id, Some(secret))
        .form(fields)
        .send()
        .await
        .expect("request sent")
}

#[tokio::test]
async fn a_client_deleted_at_one_replica_is_refused_at_the_other() {
    let (a, b, admin) = pair_with_admin().await;
    let gone = create_client(&a, &admin, "cart_service").await;
    // Introspection answers only a client whose audience the token is for: the auditor is
    // another client of the cart service.
    let auditor = create_client(&a, &admin, "cart_service").await;
    let gone = (gone.0.as_str(), gone.1.as_str());
    let auditor = (auditor.0.as_str(), auditor.1.as_str());
    let credentials = [("grant_type", "client_credentials")];

    // The client gets its token at B (so B holds it in memory from then on).
    let res = oauth(&b, "/oauth/token", gone, &credentials).await;
    assert_eq!(res.status(), StatusCode::OK);
    let token = body(res).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let introspect = |server: &'static str| {
        let server = if server == "a" { &a } else { &b };
        let token = token.clone();
        async move {
            body(oauth(server, "/oauth/introspect", auditor, &[("token", &token)]).await).await
        }
    };
    for server in ["a", "b"] {
        assert_eq!(introspect(server).await["active"], true, "at {server}");
    }
    assert_eq!(
        b.get("/auth/verify?audience=cart_service", Some(&token))
            .await
            .status(),
        StatusCode::OK
    );

    let res = a
        .client
        .delete(a.url(&format!("/admin/clients/{}", gone.0)))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("request sent");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let deleted = Instant::now();

    // At A, which deleted it: at once.
    let res = oauth(&a, "/oauth/token", gone, &credentials).await;
    assert_error_oauth(res, "invalid_client").await;
    assert_eq!(introspect("a").await, json!({"active": false}));
    assert_eq!(
        a.get("/auth/verify?audience=cart_service", Some(&token))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // At B: within the revocation bound.
    loop {
        let secret = oauth(&b, "/oauth/token", gone, &credentials).await.status();
        let active = introspect("b").await["active"] == true;
        let verify = b
            .get("/auth/verify?audience=cart_service", Some(&token))
            .await
            .status();
        if secret == StatusCode::UNAUTHORIZED && !active && verify == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            deleted.elapsed() < REVOCATION_BOUND,
            "{REVOCATION_BOUND:?} after the deletion at A, B still answers: token {secret}, \
             introspection active {active}, forward-auth {verify}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And it stays so (no stale entry comes back).
    assert_error_oauth(
        oauth(&b, "/oauth/token", gone, &credentials).await,
        "invalid_client",
    )
    .await;
    assert_eq!(introspect("b").await, json!({"active": false}));
}

async fn assert_error_oauth(res: reqwest::Response, error: &str) {
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body(res).await["error"], error);
}

/// Reads `/profile` at `server` until `done` holds for it, failing after [`REVOCATION_BOUND`]
/// counted from `since`; returns the profile that satisfied it.
async fn profile_until(
    server: &Server,
    token: &str,
    since: Instant,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    loop {
        let res = server.get("/profile", Some(token)).await;
        assert_eq!(res.status(), StatusCode::OK);
        let profile = body(res).await;
        if done(&profile) {
            return profile;
        }
        assert!(
            since.elapsed() < REVOCATION_BOUND,
            "{what}: still not seen {REVOCATION_BOUND:?} later: {profile}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Two replicas on a fresh database and an admin's access token (the admin made by the CLI).
async fn pair_with_admin() -> (Server, Server, String) {
    let url = fresh_database().await;
    let (a, b) = Server::start_pair(&url, &[]).await;
    let admin_email = tokio::task::spawn_blocking(move || create_admin(&url))
        .await
        .unwrap();
    let admin = a.login(&admin_email).await.access;
    (a, b, admin)
}

/// [`pair_with_admin`] and a signed-in user's email and access token.
async fn pair_with_admin_and_user() -> (Server, Server, String, String, String) {
    let (a, b, admin) = pair_with_admin().await;
    let email = a.new_user().await;
    let user = a.login(&email).await.access;
    (a, b, admin, email, user)
}

#[tokio::test]
async fn a_profile_changed_at_one_replica_is_read_changed_at_the_other_within_a_poll() {
    let (a, b, admin, email, user) = pair_with_admin_and_user().await;
    // Both replicas read (and so hold) the profile before it changes.
    for server in [&a, &b] {
        for _ in 0..3 {
            let res = server.get("/profile", Some(&user)).await;
            assert_eq!(res.status(), StatusCode::OK);
            assert_eq!(body(res).await["display_name"], serde_json::Value::Null);
        }
    }

    // A change by the user at A: A answers with it at once, B within a poll.
    let res = a
        .send(
            reqwest::Method::PATCH,
            "/profile",
            Some(&user),
            json!({"display_name": "Ann at A"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let changed = Instant::now();
    let res = a.get("/profile", Some(&user)).await;
    assert_eq!(body(res).await["display_name"], "Ann at A", "A at once");
    let seen = profile_until(&b, &user, changed, "the new name at B", |p| {
        p["display_name"] == "Ann at A"
    })
    .await;
    assert_eq!(seen["email"], email);

    // A change by an admin at B (roles): B at once, A within a poll.
    let id = seen["id"].as_str().unwrap().to_string();
    let res = b
        .send(
            reqwest::Method::PUT,
            &format!("/admin/users/{id}/roles"),
            Some(&admin),
            json!({"roles": ["customer", "auditor"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let changed = Instant::now();
    let res = b.get("/profile", Some(&user)).await;
    assert_eq!(
        body(res).await["roles"],
        json!(["auditor", "customer"]),
        "B at once"
    );
    profile_until(&a, &user, changed, "the new roles at A", |p| {
        p["roles"] == json!(["auditor", "customer"])
    })
    .await;

    // An email change waiting for its link shows as `pending_email` on both.
    let res = a
        .send(
            reqwest::Method::PATCH,
            "/profile",
            Some(&user),
            json!({"email": format!("new.{email}"), "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let changed = Instant::now();
    let res = a.get("/profile", Some(&user)).await;
    assert_eq!(body(res).await["pending_email"], format!("new.{email}"));
    profile_until(&b, &user, changed, "the pending address at B", |p| {
        p["pending_email"] == format!("new.{email}").as_str()
    })
    .await;
}

#[tokio::test]
async fn a_disabled_user_is_refused_at_once_by_the_replica_that_disabled_them() {
    let (a, b, admin, _, user) = pair_with_admin_and_user().await;
    let mut id = String::new();
    for server in [&a, &b] {
        let res = server.get("/profile", Some(&user)).await;
        assert_eq!(res.status(), StatusCode::OK);
        id = body(res).await["id"].as_str().unwrap().to_string();
    }

    let res = a
        .send(
            reqwest::Method::PATCH,
            &format!("/admin/users/{id}"),
            Some(&admin),
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let disabled = Instant::now();
    // No wait at all at A.
    let res = a.get("/profile", Some(&user)).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "token_revoked").await;
    // B within a poll.
    loop {
        let res = b.get("/profile", Some(&user)).await;
        if res.status() == StatusCode::UNAUTHORIZED {
            assert_error(res, StatusCode::UNAUTHORIZED, "token_revoked").await;
            break;
        }
        assert_eq!(res.status(), StatusCode::OK);
        assert!(
            disabled.elapsed() < REVOCATION_BOUND,
            "B still shows a disabled user's profile {REVOCATION_BOUND:?} later"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `lst` of `server`'s status list 0 (its JSON form).
async fn status_lst(server: &Server) -> String {
    let res = server
        .client
        .get(server.url("/statuslists/0"))
        .header("accept", "application/statuslist+json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    body(res).await["lst"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn both_replicas_serve_the_same_status_bits_within_a_poll() {
    let (a, b) = Server::start_pair(&fresh_database().await, &[]).await;
    let email = a.new_user().await;
    let at_a = a.login(&email).await;
    let at_b = b.login(&email).await;
    let idx = |token: &str| {
        sesame_testkit::jwt::part(token, 1)["status"]["status_list"]["idx"]
            .as_u64()
            .unwrap()
    };
    let (ia, ib) = (idx(&at_a.access), idx(&at_b.access));
    assert_ne!(ia, ib, "the replicas hand out different indices");

    // A logout at A: A's list has the bit at once, B's within a poll — the same bits.
    let res = a
        .post("/auth/logout", None, json!({"refresh_token": at_a.refresh}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let out = Instant::now();
    let lst = status_lst(&a).await;
    assert!(sesame_core::status_list::bit_of(&lst, ia).unwrap());
    assert!(!sesame_core::status_list::bit_of(&lst, ib).unwrap());
    while status_lst(&b).await != lst {
        assert!(
            out.elapsed() < REVOCATION_BOUND,
            "B's bits still differ {REVOCATION_BOUND:?} after the logout at A"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // And the other way round, for the session B opened.
    let res = b
        .post("/auth/logout", None, json!({"refresh_token": at_b.refresh}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let out = Instant::now();
    let lst = status_lst(&b).await;
    assert!(sesame_core::status_list::bit_of(&lst, ib).unwrap());
    while status_lst(&a).await != lst {
        assert!(out.elapsed() < REVOCATION_BOUND, "A's bits still differ");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
