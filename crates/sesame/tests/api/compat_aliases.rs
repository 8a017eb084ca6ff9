//! The seed-compatible aliases (`POST /register`, `/login`, `/refresh`) and `GET /profile`:
//! what a client written against the seed's paths relies on — registration, login, profile and
//! refresh, and their refusals. One test per line of the unit-test list of seed 002, the seed
//! document these paths come from.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

async fn alias_register(app: &TestApp, email: &str) -> reqwest::Response {
    app.post("/register", json!({"email": email, "password": PASSWORD}))
        .await
}

async fn alias_login(app: &TestApp, login: &str, password: &str) -> reqwest::Response {
    app.post("/login", json!({"username": login, "password": password}))
        .await
}

async fn alias_refresh(app: &TestApp, refresh: &str) -> reqwest::Response {
    app.post("/refresh", json!({ "refresh": refresh })).await
}

// Register

#[tokio::test]
async fn register_should_create_a_new_user_201_created() {
    let app = spawn_app().await;
    let res = alias_register(&app, "seed@example.com").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let b = body(res).await;
    uuid::Uuid::parse_str(b["id"].as_str().expect("user id")).expect("a UUID");
    assert_eq!(b["email"], "seed@example.com");
}

#[tokio::test]
async fn register_should_fail_on_duplicate_email_409_conflict() {
    let app = spawn_app().await;
    assert_eq!(
        alias_register(&app, "twice@example.com").await.status(),
        StatusCode::CREATED
    );
    let res = alias_register(&app, "twice@example.com").await;
    assert_error(res, StatusCode::CONFLICT, "email_taken").await;
}

// Login

#[tokio::test]
async fn login_should_succeed_with_valid_credentials_200_ok_returns_jwt() {
    let app = spawn_app().await;
    alias_register(&app, "in@example.com").await;
    let res = alias_login(&app, "in@example.com", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    let t = tokens(&body(res).await);
    assert_eq!(t.access.split('.').count(), 3, "a JWS compact JWT");
    assert_eq!(jwt::part(&t.access, 0)["alg"], "EdDSA");
    assert!(jwt::part(&t.access, 1)["sub"].is_string());
    assert!(!t.refresh.is_empty());
}

#[tokio::test]
async fn login_should_fail_with_the_wrong_password_401_unauthorized() {
    let app = spawn_app().await;
    alias_register(&app, "wrong@example.com").await;
    let res = alias_login(&app, "wrong@example.com", "not the password").await;
    assert_error(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

#[tokio::test]
async fn login_should_fail_if_the_account_is_disabled_or_locked_403_forbidden() {
    let app = spawn_app().await;
    let disabled = app.new_user().await;
    app.disable_user(&disabled.id).await;
    let res = alias_login(&app, &disabled.username, PASSWORD).await;
    assert_error(res, StatusCode::FORBIDDEN, "account_disabled").await;

    let locked = app.new_user().await;
    for _ in 0..5 {
        alias_login(&app, &locked.username, "not the password").await;
    }
    let res = alias_login(&app, &locked.username, PASSWORD).await;
    assert_error(res, StatusCode::FORBIDDEN, "account_locked").await;
}

// Profile

#[tokio::test]
async fn profile_should_fail_without_a_token_401_unauthorized() {
    let app = spawn_app().await;
    let res = app.get("/profile", None).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "not_authenticated").await;
    let res = app.get("/profile", Some("invalid.token.here")).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "token_invalid").await;
}

#[tokio::test]
async fn profile_should_succeed_with_a_valid_token_200_ok_returns_user_details() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let res = app.get("/profile", Some(&user.tokens.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let b = body(res).await;
    assert_eq!(b["id"], user.id);
    assert_eq!(b["email"], user.email);
    assert_eq!(b["username"], user.username);
    assert_eq!(b["roles"], json!(["customer"]));
    for field in ["display_name", "email_verified", "created_at", "updated_at"] {
        assert!(b.get(field).is_some(), "{field} in {b}");
    }
    assert!(b.get("password_hash").is_none() && !b.to_string().contains("argon2"));
}

// Refresh

#[tokio::test]
async fn refresh_should_succeed_with_a_valid_refresh_token_200_ok_returns_new_access_token() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    app.advance(60);
    let res = alias_refresh(&app, &user.tokens.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    let next = tokens(&body(res).await);
    assert_ne!(next.access, user.tokens.access);
    assert_eq!(
        jwt::part(&next.access, 1)["iat"].as_i64().unwrap(),
        jwt::part(&user.tokens.access, 1)["iat"].as_i64().unwrap() + 60
    );
    let res = app.get("/profile", Some(&next.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn refresh_should_fail_with_an_invalid_or_expired_refresh_token_401_unauthorized() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let res = alias_refresh(&app, "not-a-refresh-token").await;
    assert_error(res, StatusCode::UNAUTHORIZED, "token_invalid").await;
    app.advance(7 * 24 * 3600 + 1);
    let res = alias_refresh(&app, &user.tokens.refresh).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "token_expired").await;
}
