//! Refresh tokens: rotation within one session, the grace window for racing clients, reuse
//! detection after it, expiry, and re-reading the user on every refresh.

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

const DAY: i64 = 24 * 60 * 60;

/// The `sid` claim of an access token.
fn sid(access: &str) -> Value {
    let sid = jwt::part(access, 1)["sid"].clone();
    assert!(sid.is_string(), "access tokens carry a sid: {sid}");
    sid
}

/// Refreshes and expects success.
async fn refresh_ok(app: &TestApp, refresh: &str) -> Tokens {
    let res = app.refresh_raw(refresh).await;
    assert_eq!(res.status(), StatusCode::OK, "refresh should succeed");
    tokens(&body(res).await)
}

/// Moves the manual clock back to a whole millisecond. The store keeps times in milliseconds,
/// so without this a clock with a sub-millisecond part makes "the same instant" look like a
/// fraction of a millisecond later once stored, and a zero grace window would pass by luck.
fn align_to_millisecond(app: &TestApp) {
    let sub_ms = app.sesame.now().timestamp_subsec_nanos() % 1_000_000;
    app.clock
        .advance(-chrono::Duration::nanoseconds(i64::from(sub_ms)));
    assert_eq!(app.sesame.now().timestamp_subsec_nanos() % 1_000_000, 0);
}

/// Fires `n` refreshes of the same token at once.
async fn concurrent_refreshes(app: &TestApp, refresh: &str, n: usize) -> Vec<(StatusCode, Value)> {
    let requests = (0..n).map(|_| async {
        let res = app.refresh_raw(refresh).await;
        let status = res.status();
        (status, body(res).await)
    });
    futures::future::join_all(requests).await
}

#[tokio::test]
async fn refresh_returns_a_new_refresh_token_in_the_same_session() {
    let app = spawn_app().await;
    let user = app.new_user().await;

    let res = app.refresh_raw(&user.tokens.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    let b = body(res).await;
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["expires_in"], 15 * 60);
    assert_eq!(b["refresh_expires_in"], 7 * DAY);
    let next = tokens(&b);

    assert_ne!(next.refresh, user.tokens.refresh, "a NEW refresh token");
    assert!(next.refresh.len() >= 43, "at least 256 bits");
    assert_ne!(next.access, user.tokens.access);
    assert_eq!(sid(&next.access), sid(&user.tokens.access), "same session");
    assert_eq!(jwt::part(&next.access, 1)["sub"], user.id);
    let res = app.get("/profile", Some(&next.access)).await;
    assert_eq!(res.status(), StatusCode::OK, "the new access token works");
}

#[tokio::test]
async fn refresh_alias_route_works() {
    let app = spawn_app().await;
    let user = app.new_user().await;

    let res = app
        .post("/refresh", json!({"refresh": user.tokens.refresh}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let next = tokens(&body(res).await);
    assert_ne!(next.refresh, user.tokens.refresh);
    assert_eq!(sid(&next.access), sid(&user.tokens.access));
    // The alias spent the token just like the main route does: the successor works.
    refresh_ok(&app, &next.refresh).await;
}

#[tokio::test]
async fn spent_token_within_grace_returns_the_same_successor() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let first = refresh_ok(&app, &user.tokens.refresh).await;

    app.advance(5);
    let again = refresh_ok(&app, &user.tokens.refresh).await;
    assert_eq!(again.refresh, first.refresh, "the SAME successor");
    assert_ne!(again.access, first.access, "a fresh access token");
    assert_eq!(sid(&again.access), sid(&first.access));

    // One live refresh token: the successor keeps working, and both access tokens too.
    for access in [&first.access, &again.access] {
        let res = app.get("/profile", Some(access)).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let third = refresh_ok(&app, &first.refresh).await;
    assert_eq!(sid(&third.access), sid(&user.tokens.access));
    refresh_ok(&app, &third.refresh).await;
}

#[tokio::test]
async fn spent_token_after_grace_revokes_the_whole_session() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let next = refresh_ok(&app, &user.tokens.refresh).await;

    app.advance(11);
    assert_error(
        app.refresh_raw(&user.tokens.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    // The session's newest refresh token stops working too ...
    assert_error(
        app.refresh_raw(&next.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    // ... and so do its access tokens, old and new.
    for access in [&user.tokens.access, &next.access] {
        assert_error(
            app.get("/profile", Some(access)).await,
            StatusCode::UNAUTHORIZED,
            "token_revoked",
        )
        .await;
    }
}

#[tokio::test]
async fn spent_token_reuse_leaves_other_sessions_alone() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let other = app.login(&user.username, PASSWORD).await;
    refresh_ok(&app, &user.tokens.refresh).await;

    app.advance(11);
    assert_error(
        app.refresh_raw(&user.tokens.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    refresh_ok(&app, &other.refresh).await;
}

#[tokio::test]
async fn token_two_rotations_old_is_reuse_even_within_grace() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let second = refresh_ok(&app, &user.tokens.refresh).await;
    let third = refresh_ok(&app, &second.refresh).await;

    // No time passes: the first token is not the just-spent one, so this is reuse.
    assert_error(
        app.refresh_raw(&user.tokens.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    assert_error(
        app.refresh_raw(&third.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    assert_error(
        app.get("/profile", Some(&third.access)).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
}

#[tokio::test]
async fn token_two_rotations_old_is_reuse_after_grace() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let second = refresh_ok(&app, &user.tokens.refresh).await;
    app.advance(11);
    let third = refresh_ok(&app, &second.refresh).await;

    app.advance(11);
    assert_error(
        app.refresh_raw(&user.tokens.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    assert_error(
        app.refresh_raw(&third.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
}

#[tokio::test]
async fn concurrent_refreshes_without_grace_have_exactly_one_winner() {
    let app = spawn_app_with(&[("SESAME_REFRESH_REUSE_GRACE", "0s")]).await;
    let user = app.new_user().await;
    align_to_millisecond(&app);

    let results = concurrent_refreshes(&app, &user.tokens.refresh, 8).await;
    let winners = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    let codes: Vec<String> = results
        .iter()
        .map(|(s, b)| format!("{} {}", s.as_u16(), b["code"]))
        .collect();
    assert_eq!(winners, 1, "exactly one refresh may win: {codes:?}");
    for (status, b) in results.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_eq!(*status, StatusCode::UNAUTHORIZED, "{b}");
        assert_eq!(b["code"], "token_revoked", "{b}");
    }
}

#[tokio::test]
async fn zero_grace_refuses_a_spent_token_at_the_same_instant() {
    let app = spawn_app_with(&[("SESAME_REFRESH_REUSE_GRACE", "0s")]).await;
    let user = app.new_user().await;
    align_to_millisecond(&app);
    let next = refresh_ok(&app, &user.tokens.refresh).await;

    // No clock movement at all: with no grace window, a spent token is reuse at once.
    assert_error(
        app.refresh_raw(&user.tokens.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    assert_error(
        app.refresh_raw(&next.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
}

#[tokio::test]
async fn zero_grace_refuses_a_spent_token_a_second_later() {
    let app = spawn_app_with(&[("SESAME_REFRESH_REUSE_GRACE", "0s")]).await;
    let user = app.new_user().await;
    let next = refresh_ok(&app, &user.tokens.refresh).await;

    app.advance(1);
    assert_error(
        app.refresh_raw(&user.tokens.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    assert_error(
        app.refresh_raw(&next.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
}

#[tokio::test]
async fn concurrent_refreshes_within_grace_all_get_the_same_successor() {
    let app = spawn_app().await;
    let user = app.new_user().await;

    let results = concurrent_refreshes(&app, &user.tokens.refresh, 8).await;
    for (status, b) in &results {
        assert_eq!(
            *status,
            StatusCode::OK,
            "every racing refresh succeeds: {b}"
        );
    }
    let successors: std::collections::BTreeSet<String> =
        results.iter().map(|(_, b)| tokens(b).refresh).collect();
    assert_eq!(successors.len(), 1, "one and the same refresh token");
    let successor = successors.into_iter().next().unwrap();
    assert_ne!(successor, user.tokens.refresh);
    // The session was not revoked: its single live token works.
    refresh_ok(&app, &successor).await;
}

#[tokio::test]
async fn garbage_refresh_token_is_invalid() {
    let app = spawn_app().await;
    for garbage in ["garbage", "", "a.b.c", &"!".repeat(43)] {
        assert_error(
            app.refresh_raw(garbage).await,
            StatusCode::UNAUTHORIZED,
            "token_invalid",
        )
        .await;
    }
}

#[tokio::test]
async fn unknown_well_formed_refresh_token_is_invalid() {
    let app = spawn_app().await;
    app.new_user().await;
    let unknown = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdE";
    assert_eq!(unknown.len(), 43);
    assert_error(
        app.refresh_raw(unknown).await,
        StatusCode::UNAUTHORIZED,
        "token_invalid",
    )
    .await;
}

#[tokio::test]
async fn access_token_is_not_a_refresh_token() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    assert_error(
        app.refresh_raw(&user.tokens.access).await,
        StatusCode::UNAUTHORIZED,
        "token_invalid",
    )
    .await;
}

#[tokio::test]
async fn expired_refresh_token_is_refused() {
    let app = spawn_app().await;
    let user = app.new_user().await;

    app.advance(7 * DAY + 1);
    assert_error(
        app.refresh_raw(&user.tokens.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_expired",
    )
    .await;
}

#[tokio::test]
async fn refresh_token_works_until_just_before_expiry() {
    let app = spawn_app().await;
    let user = app.new_user().await;

    app.advance(7 * DAY - 60);
    refresh_ok(&app, &user.tokens.refresh).await;
}

#[tokio::test]
async fn rotation_slides_the_refresh_expiry() {
    let app = spawn_app().await;
    let user = app.new_user().await;

    app.advance(6 * DAY);
    let next = refresh_ok(&app, &user.tokens.refresh).await;
    app.advance(6 * DAY);
    // Day 12: past the first token's 7 days, within the rotated one's.
    let later = refresh_ok(&app, &next.refresh).await;
    assert_eq!(sid(&later.access), sid(&user.tokens.access));
}

#[tokio::test]
async fn missing_refresh_field_is_invalid_request() {
    let app = spawn_app().await;
    let b = assert_error(
        app.post("/auth/token/refresh", json!({})).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert!(b["fields"]["refresh"].is_array(), "{b}");
}

#[tokio::test]
async fn refresh_rereads_roles() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    assert_eq!(
        jwt::part(&user.tokens.access, 1)["roles"],
        json!(["customer"])
    );

    let id = Uuid::parse_str(&user.id).unwrap();
    app.sesame
        .store()
        .set_roles(id, &["admin".into(), "customer".into()], Utc::now(), &[])
        .await
        .expect("roles set");

    let next = refresh_ok(&app, &user.tokens.refresh).await;
    let roles = jwt::part(&next.access, 1)["roles"].clone();
    let roles: Vec<&str> = roles
        .as_array()
        .expect("roles is a list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(roles.contains(&"admin"), "{roles:?}");
    assert!(roles.contains(&"customer"), "{roles:?}");
}

#[tokio::test]
async fn disabled_user_cannot_refresh() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let id = Uuid::parse_str(&user.id).unwrap();
    app.sesame
        .store()
        .set_disabled(id, true, Utc::now(), &[])
        .await
        .expect("user disabled");

    assert_error(
        app.refresh_raw(&user.tokens.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
}

#[tokio::test]
async fn deleted_user_cannot_refresh() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let id = Uuid::parse_str(&user.id).unwrap();
    app.sesame
        .store()
        .delete_user(id, Utc::now(), &[])
        .await
        .expect("user deleted");

    let b = assert_error_status(app.refresh_raw(&user.tokens.refresh).await, 401).await;
    assert!(
        b["code"] == "token_invalid" || b["code"] == "token_revoked",
        "{b}"
    );
}

/// Status and the contract's error shape, for cases where more than one code is acceptable.
async fn assert_error_status(res: reqwest::Response, status: u16) -> Value {
    assert_eq!(res.status().as_u16(), status);
    let b = body(res).await;
    assert!(b["detail"].is_string() && b["code"].is_string(), "{b}");
    b
}

/// The black-box suite starts Sesame with `SESAME_ACCESS_TTL=2s SESAME_REFRESH_TTL=4s`; start-up
/// used to refuse it (refresh below access + grace + 3 s, exit code 2). Any positive pair starts,
/// and login, refresh and logout work with it.
#[tokio::test]
async fn two_second_access_and_four_second_refresh_tokens_work() {
    let app = spawn_app_with(&[("SESAME_ACCESS_TTL", "2s"), ("SESAME_REFRESH_TTL", "4s")]).await;
    let user = app.new_user().await;
    let res = app.get("/profile", Some(&user.tokens.access)).await;
    assert_eq!(res.status(), StatusCode::OK);

    app.advance(3);
    let res = app.refresh_raw(&user.tokens.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    let b = body(res).await;
    assert_eq!(b["expires_in"], 2);
    assert_eq!(b["refresh_expires_in"], 4);
    let next = tokens(&b);
    let res = app.get("/profile", Some(&next.access)).await;
    assert_eq!(res.status(), StatusCode::OK);

    let res = app
        .post_auth(
            "/auth/logout",
            &next.access,
            json!({"refresh_token": next.refresh}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_error(
        app.get("/profile", Some(&next.access)).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    assert_error(
        app.refresh_raw(&next.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    // And the lifetimes hold: a refresh token dies after 4 s.
    let fresh = app.login(&user.username, PASSWORD).await;
    app.advance(5);
    assert_error(
        app.refresh_raw(&fresh.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_expired",
    )
    .await;
}

/// A refresh token's bytes: version, session id, secret, tag (see `sesame_core::refresh_token`).
fn token_bytes(refresh: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(refresh)
        .expect("base64url")
}

fn encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn refresh_tokens_name_their_session_and_stay_so_through_rotation() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let session = Uuid::parse_str(sid(&user.tokens.access).as_str().unwrap()).unwrap();
    let next = refresh_ok(&app, &user.tokens.refresh).await;
    for refresh in [&user.tokens.refresh, &next.refresh] {
        let bytes = token_bytes(refresh);
        assert_eq!(bytes.len(), 65, "version, session, 256-bit secret, tag");
        assert_eq!(bytes[0], 1);
        assert_eq!(&bytes[1..17], session.as_bytes(), "names its session");
    }
    assert_ne!(
        token_bytes(&user.tokens.refresh)[17..49],
        token_bytes(&next.refresh)[17..49]
    );
}

/// Anyone who saw an access token knows its session id (`sid`). A token made up around it —
/// a random secret, a tag copied from a real token, or a real token with a bit changed — is
/// invalid, and must not pass for reuse: the session lives on.
#[tokio::test]
async fn a_token_made_up_for_a_known_session_is_invalid_and_ends_nothing() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let real = token_bytes(&user.tokens.refresh);
    let mut random_secret = real.clone();
    for b in &mut random_secret[17..49] {
        *b = rand::random();
    }
    let mut flipped_tag = real.clone();
    flipped_tag[64] ^= 1;
    for forged in [encode(&random_secret), encode(&flipped_tag)] {
        assert_error(
            app.refresh_raw(&forged).await,
            StatusCode::UNAUTHORIZED,
            "token_invalid",
        )
        .await;
        let res = app
            .post("/auth/logout", json!({"refresh_token": forged}))
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // Still the session's live token, and its access token still works.
    assert_eq!(
        app.get("/profile", Some(&user.tokens.access))
            .await
            .status(),
        StatusCode::OK
    );
    refresh_ok(&app, &user.tokens.refresh).await;
}

/// Sets a 43-character token of the shape issued before tokens named their session as the
/// session's live token, with its row in `refresh_tokens` — what migration 0024 leaves behind
/// for a session open at the upgrade.
async fn plant_legacy_token(app: &TestApp, session: Uuid) -> String {
    use sha2::Digest;
    use sqlx::Connection;
    let bytes: [u8; 32] = rand::random();
    let legacy = encode(&bytes);
    assert_eq!(legacy.len(), 43);
    let hash = sha2::Sha256::digest(legacy.as_bytes()).to_vec();
    let now = app.sesame.now();
    let expires = now + chrono::Duration::days(7);
    if app.database_url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(&app.database_url)
            .await
            .unwrap();
        sqlx::query("UPDATE sessions SET refresh_hash = $1 WHERE id = $2")
            .bind(&hash)
            .bind(session)
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("INSERT INTO refresh_tokens (hash, session_id, issued_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(&hash)
            .bind(session)
            .bind(now)
            .bind(expires)
            .execute(&mut conn)
            .await
            .unwrap();
    } else {
        let opts: sqlx::sqlite::SqliteConnectOptions = app.database_url.parse().unwrap();
        let opts = opts.busy_timeout(std::time::Duration::from_secs(10));
        let mut conn = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
        sqlx::query("UPDATE sessions SET refresh_hash = ? WHERE id = ?")
            .bind(&hash)
            .bind(session.to_string())
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("INSERT INTO refresh_tokens (hash, session_id, issued_at, expires_at) VALUES (?, ?, ?, ?)")
            .bind(&hash)
            .bind(session.to_string())
            .bind(now.timestamp_millis())
            .bind(expires.timestamp_millis())
            .execute(&mut conn)
            .await
            .unwrap();
    }
    legacy
}

/// A session open at the upgrade keeps working: its 43-character token rotates into a token of
/// the new shape in the same session, the grace window and reuse detection hold for it, and a
/// made-up token of the old shape is merely invalid.
#[tokio::test]
async fn a_token_issued_before_the_upgrade_rotates_and_its_reuse_is_detected() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let session = Uuid::parse_str(sid(&user.tokens.access).as_str().unwrap()).unwrap();
    let legacy_unknown = encode(&rand::random::<[u8; 32]>());
    let legacy = plant_legacy_token(&app, session).await;
    assert_error(
        app.refresh_raw(&legacy_unknown).await,
        StatusCode::UNAUTHORIZED,
        "token_invalid",
    )
    .await;
    let next = refresh_ok(&app, &legacy).await;
    assert_eq!(next.refresh.len(), 87, "the successor has the new shape");
    assert_eq!(&token_bytes(&next.refresh)[1..17], session.as_bytes());
    assert_eq!(sid(&next.access), sid(&user.tokens.access), "same session");
    app.advance(5);
    let again = refresh_ok(&app, &legacy).await;
    assert_eq!(again.refresh, next.refresh, "grace: the same successor");
    app.advance(11);
    assert_error(
        app.refresh_raw(&legacy).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    assert_error(
        app.refresh_raw(&next.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
}
