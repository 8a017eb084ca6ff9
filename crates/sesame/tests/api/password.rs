//! Changing the password: the current session stays, every other session ends, and the policy
//! applies to the new password.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

const NEW_PASSWORD: &str = "a completely different passphrase 42";

async fn change(app: &TestApp, access: &str, body: Value) -> reqwest::Response {
    app.post_auth("/auth/password", access, body).await
}

/// The password was not changed: the old one still logs in.
async fn assert_password_unchanged(app: &TestApp, user: &TestUser) {
    let res = app.login_raw(&user.username, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK, "the old password still works");
}

#[tokio::test]
async fn changing_the_password_keeps_the_current_session_and_ends_the_others() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let other = app.login(&user.username, PASSWORD).await;
    let third = app.login(&user.email, PASSWORD).await;

    let res = change(
        &app,
        &user.tokens.access,
        json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(body(res).await, Value::Null, "204 has no body");

    // The current session keeps working: its access token and its refresh token.
    let res = app.get("/profile", Some(&user.tokens.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.refresh_raw(&user.tokens.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);

    // Every other session ended.
    for s in [&other, &third] {
        assert_error(
            app.refresh_raw(&s.refresh).await,
            StatusCode::UNAUTHORIZED,
            "token_revoked",
        )
        .await;
        assert_error(
            app.get("/profile", Some(&s.access)).await,
            StatusCode::UNAUTHORIZED,
            "token_revoked",
        )
        .await;
    }
}

#[tokio::test]
async fn after_a_change_only_the_new_password_logs_in() {
    let app = spawn_app().await;
    let user = app.new_user().await;

    let res = change(
        &app,
        &user.tokens.access,
        json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    assert_error(
        app.login_raw(&user.username, PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let res = app.login_raw(&user.username, NEW_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.login_raw(&user.email, NEW_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn wrong_current_password_is_refused() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let other = app.login(&user.username, PASSWORD).await;

    assert_error(
        change(
            &app,
            &user.tokens.access,
            json!({"current_password": "not the password at all", "new_password": NEW_PASSWORD}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_current_password",
    )
    .await;

    assert_password_unchanged(&app, &user).await;
    let res = app.refresh_raw(&other.refresh).await;
    assert_eq!(res.status(), StatusCode::OK, "other sessions stay");
}

#[tokio::test]
async fn common_new_password_is_weak() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let b = assert_error(
        change(
            &app,
            &user.tokens.access,
            json!({"current_password": PASSWORD, "new_password": "password"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "weak_password",
    )
    .await;
    assert!(b["fields"]["new_password"].is_array(), "{b}");
    assert_password_unchanged(&app, &user).await;
}

#[tokio::test]
async fn new_password_equal_to_the_email_is_weak() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    assert_error(
        change(
            &app,
            &user.tokens.access,
            json!({"current_password": PASSWORD, "new_password": user.email}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "weak_password",
    )
    .await;
    assert_password_unchanged(&app, &user).await;
}

#[tokio::test]
async fn new_password_equal_to_the_username_is_weak() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    assert_error(
        change(
            &app,
            &user.tokens.access,
            json!({"current_password": PASSWORD, "new_password": user.username.to_uppercase()}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "weak_password",
    )
    .await;
    assert_password_unchanged(&app, &user).await;
}

#[tokio::test]
async fn too_short_new_password_is_invalid_request() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let b = assert_error(
        change(
            &app,
            &user.tokens.access,
            json!({"current_password": PASSWORD, "new_password": "Sh0rt!"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert!(b["fields"]["new_password"].is_array(), "{b}");
    assert_password_unchanged(&app, &user).await;
}

#[tokio::test]
async fn missing_fields_are_invalid_request() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    for (sent, field) in [
        (json!({}), "current_password"),
        (json!({"new_password": NEW_PASSWORD}), "current_password"),
        (json!({"current_password": PASSWORD}), "new_password"),
    ] {
        let b = assert_error(
            change(&app, &user.tokens.access, sent.clone()).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
        assert!(b["fields"][field].is_array(), "{sent} -> {b}");
    }
    assert_password_unchanged(&app, &user).await;
}

#[tokio::test]
async fn password_change_needs_a_token() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let body = json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD});

    assert_error(
        app.post("/auth/password", body.clone()).await,
        StatusCode::UNAUTHORIZED,
        "not_authenticated",
    )
    .await;
    assert_error(
        change(&app, "garbage", body).await,
        StatusCode::UNAUTHORIZED,
        "token_invalid",
    )
    .await;
    assert_password_unchanged(&app, &user).await;
}

#[tokio::test]
async fn password_change_with_a_revoked_token_is_refused() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let res = app
        .post(
            "/auth/logout",
            json!({"refresh_token": user.tokens.refresh}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    assert_error(
        change(
            &app,
            &user.tokens.access,
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    assert_password_unchanged(&app, &user).await;
}
