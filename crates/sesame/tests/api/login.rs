//! POST /auth/login: login names, body shapes, the response, the uniform failure, lockout,
//! disabled accounts and audiences.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

const LOGIN_FAILED: &str = "No active account found with the given credentials";

#[tokio::test]
async fn login_by_username_returns_tokens() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let res = app.login_raw(&user.username, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    let t = tokens(&body(res).await);
    assert_eq!(jwt::part(&t.access, 1)["sub"], user.id);
}

#[tokio::test]
async fn login_by_email_ignores_case() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let res = app.login_raw(&user.email.to_uppercase(), PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        jwt::part(&tokens(&body(res).await).access, 1)["sub"],
        user.id
    );
}

#[tokio::test]
async fn login_by_username_ignores_case() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let res = app.login_raw(&user.username.to_uppercase(), PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn login_accepts_an_email_and_password_body() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let res = app
        .post(
            "/auth/login",
            json!({"email": user.email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        jwt::part(&tokens(&body(res).await).access, 1)["sub"],
        user.id
    );
}

#[tokio::test]
async fn login_alias_post_login_returns_tokens() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let res = app
        .post(
            "/login",
            json!({"username": user.username, "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    tokens(&body(res).await);
}

#[tokio::test]
async fn login_with_trailing_slash_returns_tokens() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let res = app
        .post(
            "/auth/login/",
            json!({"username": user.username, "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    tokens(&body(res).await);
}

#[tokio::test]
async fn login_response_has_bearer_type_and_lifetimes() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let res = app.login_raw(&user.username, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    let b = body(res).await;
    let mut keys: Vec<&str> = b.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "access",
            "expires_in",
            "refresh",
            "refresh_expires_in",
            "token_type"
        ]
    );
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["expires_in"], 900);
    assert_eq!(b["refresh_expires_in"], 604_800);
    assert_eq!(b["access"].as_str().unwrap().split('.').count(), 3);
    assert!(b["refresh"].as_str().unwrap().len() >= 43, "≥ 256 bits");
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_401() {
    let app = spawn_app().await;
    let user = app.new_user().await;

    let wrong = app
        .login_raw(&user.username, "not the password at all")
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let wrong_body = body(wrong).await;

    let unknown = app.login_raw("nobody-here", PASSWORD).await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let unknown_body = body(unknown).await;

    let unknown_email = app.login_raw("nobody@example.com", PASSWORD).await;
    assert_eq!(unknown_email.status(), StatusCode::UNAUTHORIZED);
    let unknown_email_body = body(unknown_email).await;

    assert_eq!(
        wrong_body,
        json!({"detail": LOGIN_FAILED, "code": "invalid_credentials"})
    );
    assert_eq!(unknown_body, wrong_body);
    assert_eq!(unknown_email_body, wrong_body);
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_account_with_retry_after() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    for i in 1..=5 {
        let res = app.login_raw(&user.username, "wrong password here").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "failure {i}");
        assert_eq!(body(res).await["code"], "invalid_credentials");
    }
    let res = app.login_raw(&user.username, PASSWORD).await;
    let retry_after: u64 = res
        .headers()
        .get("retry-after")
        .expect("Retry-After on a lockout")
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After is seconds");
    assert!(
        retry_after > 0 && retry_after <= 900,
        "Retry-After {retry_after}"
    );
    assert_error(res, StatusCode::FORBIDDEN, "account_locked").await;
    // Logging in by email hits the same lock.
    let res = app.login_raw(&user.email, PASSWORD).await;
    assert_error(res, StatusCode::FORBIDDEN, "account_locked").await;
}

#[tokio::test]
async fn a_lock_ends_after_the_lockout_duration() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    for _ in 0..5 {
        let res = app.login_raw(&user.username, "wrong password here").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = app.login_raw(&user.username, PASSWORD).await;
    assert_error(res, StatusCode::FORBIDDEN, "account_locked").await;
    app.advance(15 * 60 + 1);
    let res = app.login_raw(&user.username, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_successful_login_resets_the_failure_count() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    for _ in 0..4 {
        let res = app.login_raw(&user.username, "wrong password here").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = app.login_raw(&user.username, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    for _ in 0..4 {
        let res = app.login_raw(&user.username, "wrong password here").await;
        assert_error(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    let res = app.login_raw(&user.username, PASSWORD).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "8 failures in two runs of 4 do not lock"
    );
}

#[tokio::test]
async fn a_disabled_user_gets_403_with_the_right_password_and_401_with_a_wrong_one() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    app.disable_user(&user.id).await;
    let res = app.login_raw(&user.username, PASSWORD).await;
    assert_error(res, StatusCode::FORBIDDEN, "account_disabled").await;
    let res = app.login_raw(&user.username, "wrong password here").await;
    let b = assert_error(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(b["detail"], LOGIN_FAILED);
}

#[tokio::test]
async fn the_default_audience_is_api() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    assert_eq!(jwt::part(&user.tokens.access, 1)["aud"], "api");
}

#[tokio::test]
async fn login_can_ask_for_a_configured_audience() {
    let app = spawn_app_with(&[("SESAME_AUDIENCES", "api,gallery")]).await;
    let user = app.new_user().await;
    assert_eq!(
        jwt::part(&user.tokens.access, 1)["aud"],
        "api",
        "the first configured audience is the default"
    );
    let res = app
        .post(
            "/auth/login",
            json!({"username": user.username, "password": PASSWORD, "audience": "gallery"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let access = tokens(&body(res).await).access;
    assert_eq!(jwt::part(&access, 1)["aud"], "gallery");
    // The gallery's token is the gallery's: Sesame's own API refuses it, as the gallery refuses
    // a token that is not for it.
    assert_error(
        app.get("/profile", Some(&access)).await,
        StatusCode::UNAUTHORIZED,
        "token_invalid",
    )
    .await;
    assert_eq!(
        app.get("/profile", Some(&user.tokens.access))
            .await
            .status(),
        StatusCode::OK,
        "a token for Sesame's own audience works"
    );
}

#[tokio::test]
async fn an_admins_token_for_another_service_does_not_open_admin_or_account_routes() {
    let app = spawn_app_with(&[("SESAME_AUDIENCES", "api,gallery")]).await;
    let admin = app.new_admin().await;
    let res = app
        .post(
            "/auth/login",
            json!({"username": admin.username, "password": PASSWORD, "audience": "gallery"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let gallery = tokens(&body(res).await).access;
    for path in [
        "/admin/users",
        "/admin/keys",
        "/profile",
        "/users/me",
        "/auth/sessions",
    ] {
        assert_error(
            app.get(path, Some(&gallery)).await,
            StatusCode::UNAUTHORIZED,
            "token_invalid",
        )
        .await;
    }
    assert_error(
        app.post_auth("/auth/logout/all", &gallery, json!({})).await,
        StatusCode::UNAUTHORIZED,
        "token_invalid",
    )
    .await;
    // A token naming both audiences carries Sesame's own: it works on both sides.
    let res = app
        .post(
            "/auth/login",
            json!({"username": admin.username, "password": PASSWORD, "audience": ["gallery", "api"]}),
        )
        .await;
    let both = tokens(&body(res).await).access;
    assert_eq!(
        app.get("/admin/users", Some(&both)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get("/admin/users", Some(&admin.tokens.access))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn forward_auth_without_an_audience_checks_sesames_own() {
    let app = spawn_app_with(&[("SESAME_AUDIENCES", "api,gallery")]).await;
    let user = app.new_user().await;
    let res = app
        .post(
            "/auth/login",
            json!({"username": user.username, "password": PASSWORD, "audience": "gallery"}),
        )
        .await;
    let gallery = tokens(&body(res).await).access;
    assert_error(
        app.get("/auth/verify", Some(&gallery)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(
        app.get("/auth/verify?audience=gallery", Some(&gallery))
            .await
            .status(),
        StatusCode::OK,
        "a gate that names the gallery lets the gallery's token through"
    );
    assert_eq!(
        app.get("/auth/verify", Some(&user.tokens.access))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn login_can_ask_for_several_audiences() {
    let app = spawn_app_with(&[("SESAME_AUDIENCES", "api,gallery")]).await;
    let user = app.new_user().await;
    let res = app
        .post(
            "/auth/login",
            json!({"username": user.username, "password": PASSWORD, "audience": ["api", "gallery"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let access = tokens(&body(res).await).access;
    assert_eq!(jwt::part(&access, 1)["aud"], json!(["api", "gallery"]));
}

#[tokio::test]
async fn login_refuses_an_audience_that_is_not_configured() {
    let app = spawn_app_with(&[("SESAME_AUDIENCES", "api,gallery")]).await;
    let user = app.new_user().await;
    let res = app
        .post(
            "/auth/login",
            json!({"username": user.username, "password": PASSWORD, "audience": "other"}),
        )
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_audience").await;
    let res = app
        .post(
            "/auth/login",
            json!({"username": user.username, "password": PASSWORD, "audience": ["api", "other"]}),
        )
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_audience").await;
}

#[tokio::test]
async fn login_without_password_is_invalid_request() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let res = app
        .post("/auth/login", json!({"username": user.username}))
        .await;
    let b = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(b["fields"]["password"].is_array(), "fields.password in {b}");
}

#[tokio::test]
async fn login_without_username_or_email_is_invalid_request() {
    let app = spawn_app().await;
    let res = app.post("/auth/login", json!({"password": PASSWORD})).await;
    let b = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(b["fields"]["username"].is_array(), "fields.username in {b}");
}

#[tokio::test]
async fn responses_that_carry_tokens_are_never_cached() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let login = app.login_raw(&user.username, PASSWORD).await;
    assert_eq!(login.status(), StatusCode::OK);
    assert_eq!(login.headers()["cache-control"], "no-store");
    assert_eq!(login.headers()["pragma"], "no-cache");
    let refresh = app.refresh_raw(&user.tokens.refresh).await;
    assert_eq!(refresh.status(), StatusCode::OK);
    assert_eq!(refresh.headers()["cache-control"], "no-store");
    let alias = app
        .post(
            "/refresh",
            json!({"refresh": tokens(&body(login).await).refresh}),
        )
        .await;
    assert_eq!(alias.status(), StatusCode::OK);
    assert_eq!(alias.headers()["cache-control"], "no-store");
}
