//! Logout: one session by its refresh token (and the bearer access token sent along), or every
//! session of the user.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

const BLACKLISTED: &str = "Token is invalid or already blacklisted";

/// SimpleJWT's logout failure body, in the contract's shape, exactly.
async fn assert_logout_invalid(res: reqwest::Response) {
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        body(res).await,
        json!({"error": BLACKLISTED, "detail": BLACKLISTED, "code": "token_invalid"})
    );
}

async fn logout(app: &TestApp, refresh: &str) -> reqwest::Response {
    app.post("/auth/logout", json!({"refresh_token": refresh}))
        .await
}

async fn assert_profile_revoked(app: &TestApp, access: &str) {
    assert_error(
        app.get("/profile", Some(access)).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = spawn_app().await;
    let user = app.new_user().await;

    let res = logout(&app, &user.tokens.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        body(res).await,
        json!({"message": "Logged out successfully"})
    );

    assert_error(
        app.refresh_raw(&user.tokens.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    assert_profile_revoked(&app, &user.tokens.access).await;
}

#[tokio::test]
async fn logout_ends_only_that_session() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let other = app.login(&user.username, PASSWORD).await;

    let res = logout(&app, &user.tokens.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);

    let res = app.get("/profile", Some(&other.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.refresh_raw(&other.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn logout_accepts_the_refresh_field() {
    let app = spawn_app().await;
    let user = app.new_user().await;

    let res = app
        .post("/auth/logout", json!({"refresh": user.tokens.refresh}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        body(res).await,
        json!({"message": "Logged out successfully"})
    );
    assert_error(
        app.refresh_raw(&user.tokens.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
}

#[tokio::test]
async fn logout_with_the_rotated_token_ends_the_session() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let res = app.refresh_raw(&user.tokens.refresh).await;
    let next = tokens(&body(res).await);

    let res = logout(&app, &next.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_profile_revoked(&app, &next.access).await;
    assert_error(
        app.refresh_raw(&next.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
}

#[tokio::test]
async fn logging_out_twice_is_token_invalid() {
    let app = spawn_app().await;
    let user = app.new_user().await;

    let res = logout(&app, &user.tokens.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_logout_invalid(logout(&app, &user.tokens.refresh).await).await;
}

#[tokio::test]
async fn logout_with_a_garbage_token_is_token_invalid() {
    let app = spawn_app().await;
    assert_logout_invalid(logout(&app, "garbage").await).await;
    // Well-formed (43 characters of the token alphabet) but never issued.
    let unknown = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdE";
    assert_logout_invalid(logout(&app, unknown).await).await;
}

#[tokio::test]
async fn logout_with_an_expired_token_is_token_invalid() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    app.advance(7 * 24 * 60 * 60 + 1);
    assert_logout_invalid(logout(&app, &user.tokens.refresh).await).await;
}

#[tokio::test]
async fn logout_without_a_token_field_is_invalid_request() {
    let app = spawn_app().await;
    let b = assert_error(
        app.post("/auth/logout", json!({})).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert!(b["fields"].is_object(), "{b}");
}

#[tokio::test]
async fn logout_revokes_the_bearer_token_of_another_session_of_the_user() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let other = app.login(&user.username, PASSWORD).await;

    // Log out the first session, sending the second session's access token along.
    let res = app
        .post_auth(
            "/auth/logout",
            &other.access,
            json!({"refresh_token": user.tokens.refresh}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // That access token is deny-listed ...
    assert_profile_revoked(&app, &other.access).await;
    // ... but its session lives on: its refresh token works, and so do new access tokens.
    let res = app.refresh_raw(&other.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    let fresh = tokens(&body(res).await);
    let res = app.get("/profile", Some(&fresh.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn logout_revokes_the_bearer_token_of_the_same_session() {
    let app = spawn_app().await;
    let user = app.new_user().await;

    let res = app
        .post_auth(
            "/auth/logout",
            &user.tokens.access,
            json!({"refresh_token": user.tokens.refresh}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_profile_revoked(&app, &user.tokens.access).await;
}

#[tokio::test]
async fn failed_logout_does_not_revoke_the_bearer_token() {
    let app = spawn_app().await;
    let user = app.new_user().await;

    let res = app
        .post_auth(
            "/auth/logout",
            &user.tokens.access,
            json!({"refresh_token": "garbage"}),
        )
        .await;
    assert_logout_invalid(res).await;
    let res = app.get("/profile", Some(&user.tokens.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn logout_all_ends_every_session_of_the_user() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let second = app.login(&user.username, PASSWORD).await;
    let third = app.login(&user.email, PASSWORD).await;
    let bystander = app.new_user().await;

    let res = app
        .post_auth("/auth/logout/all", &second.access, json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let b = body(res).await;
    assert!(b["message"].as_str().is_some_and(|m| !m.is_empty()), "{b}");
    assert_eq!(b["revoked"], 3, "{b}");

    for refresh in [&user.tokens.refresh, &second.refresh, &third.refresh] {
        assert_error(
            app.refresh_raw(refresh).await,
            StatusCode::UNAUTHORIZED,
            "token_revoked",
        )
        .await;
    }
    for access in [&user.tokens.access, &second.access, &third.access] {
        assert_profile_revoked(&app, access).await;
    }

    // Another user's session is untouched.
    let res = app.get("/profile", Some(&bystander.tokens.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.refresh_raw(&bystander.tokens.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn logout_all_counts_only_live_sessions() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let second = app.login(&user.username, PASSWORD).await;
    let res = logout(&app, &user.tokens.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);

    let res = app
        .post_auth("/auth/logout/all", &second.access, json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await["revoked"], 1);
}

#[tokio::test]
async fn logout_all_without_a_bearer_is_not_authenticated() {
    let app = spawn_app().await;
    let res = app
        .request(Method::POST, "/auth/logout/all", None, None)
        .await;
    let challenge = res
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(challenge.starts_with("Bearer"), "{challenge:?}");
    assert_error(res, StatusCode::UNAUTHORIZED, "not_authenticated").await;
}

#[tokio::test]
async fn logout_all_with_a_revoked_bearer_is_refused() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let res = logout(&app, &user.tokens.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);

    let res = app
        .post_auth("/auth/logout/all", &user.tokens.access, json!({}))
        .await;
    let b: Value = assert_error(res, StatusCode::UNAUTHORIZED, "token_revoked").await;
    assert!(b.get("revoked").is_none());
}

#[tokio::test]
async fn a_cached_access_token_is_still_refused_once_revoked() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let cache = app.sesame.key_ring().token_cache().clone();
    // Seen once: verified in full and remembered; seen again: served from the cache.
    for _ in 0..2 {
        let res = app.get("/profile", Some(&user.tokens.access)).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = app.get("/auth/verify", Some(&user.tokens.access)).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert!(!cache.is_empty(), "the token is cached");
    let res = logout(&app, &user.tokens.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    // The revocation check runs on every request, cached token or not.
    assert_profile_revoked(&app, &user.tokens.access).await;
    assert_error(
        app.get("/auth/verify", Some(&user.tokens.access)).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    // And a cached token past its expiry is refused as expired, never served from the cache.
    let other = app.new_user().await;
    assert_eq!(
        app.get("/profile", Some(&other.tokens.access))
            .await
            .status(),
        StatusCode::OK
    );
    app.advance(15 * 60 + 4);
    assert_error(
        app.get("/profile", Some(&other.tokens.access)).await,
        StatusCode::UNAUTHORIZED,
        "token_expired",
    )
    .await;
}

/// A refresh lifetime shorter than the access lifetime starts (it is odd but valid), and a
/// session whose refresh token expired while its access token lives is still ended by
/// logout-all: its access token is refused at once, not accepted until it expires.
#[tokio::test]
async fn logout_all_ends_sessions_whose_refresh_token_expired_before_their_access_token() {
    let app = spawn_app_with(&[("SESAME_ACCESS_TTL", "15m"), ("SESAME_REFRESH_TTL", "1m")]).await;
    let user = app.new_user().await;
    app.advance(120);
    // The first session's refresh token is dead, its access token alive.
    assert_error(
        app.refresh_raw(&user.tokens.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_expired",
    )
    .await;
    let res = app.get("/profile", Some(&user.tokens.access)).await;
    assert_eq!(res.status(), StatusCode::OK);

    let second = app.login(&user.username, PASSWORD).await;
    let res = app
        .post_auth("/auth/logout/all", &second.access, json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await["revoked"], 2);
    assert_profile_revoked(&app, &user.tokens.access).await;
}
