//! The signed-in user's profile, account deletion and preferences.

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

async fn show(app: &TestApp, access: &str) -> Value {
    let res = app.get("/profile", Some(access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    body(res).await
}

async fn update(app: &TestApp, method: Method, access: &str, change: Value) -> reqwest::Response {
    app.request(method, "/profile", Some(access), Some(&change))
        .await
}

async fn delete_profile(app: &TestApp, access: &str, sent: Value) -> reqwest::Response {
    app.request(Method::DELETE, "/profile", Some(access), Some(&sent))
        .await
}

async fn put_prefs(app: &TestApp, path: &str, access: &str, prefs: &Value) -> reqwest::Response {
    app.request(Method::PUT, path, Some(access), Some(prefs))
        .await
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("an RFC 3339 time, got {v}"))
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

// ---- reading -----------------------------------------------------------------------------

#[tokio::test]
async fn profile_without_a_token_is_not_authenticated() {
    let app = spawn_app().await;
    let res = app.get("/profile", None).await;
    let challenge = header(&res, "www-authenticate");
    assert!(challenge.starts_with("Bearer realm="), "{challenge:?}");
    assert_error(res, StatusCode::UNAUTHORIZED, "not_authenticated").await;
}

#[tokio::test]
async fn profile_with_a_garbage_token_is_token_invalid() {
    let app = spawn_app().await;
    let res = app.get("/profile", Some("garbage")).await;
    let challenge = header(&res, "www-authenticate");
    assert!(challenge.starts_with("Bearer realm="), "{challenge:?}");
    assert!(
        challenge.contains("error=\"invalid_token\""),
        "{challenge:?}"
    );
    assert_error(res, StatusCode::UNAUTHORIZED, "token_invalid").await;
}

#[tokio::test]
async fn profile_with_an_expired_token_is_token_expired() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    app.advance(15 * 60 + 10);
    assert_error(
        app.get("/profile", Some(&user.tokens.access)).await,
        StatusCode::UNAUTHORIZED,
        "token_expired",
    )
    .await;
}

#[tokio::test]
async fn profile_shows_the_signed_in_user() {
    let app = spawn_app().await;
    let user = app.new_user().await;

    let res = app.get("/profile", Some(&user.tokens.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.expect("body");
    let b: Value = serde_json::from_str(&text).expect("JSON");
    let mut keys: Vec<&str> = b
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        vec![
            "created_at",
            "display_name",
            "email",
            "email_verified",
            "id",
            "roles",
            "updated_at",
            "username"
        ]
    );
    assert_eq!(b["id"], user.id);
    assert_eq!(b["email"], user.email);
    assert_eq!(b["username"], user.username);
    assert_eq!(b["display_name"], Value::Null);
    assert_eq!(b["roles"], json!(["customer"]));
    assert_eq!(b["email_verified"], false);
    assert_eq!(time(&b["created_at"]), time(&b["updated_at"]));
    for secret in ["password", "hash", "$argon2", "argon2"] {
        assert!(!text.contains(secret), "{secret:?} in {text}");
    }
}

#[tokio::test]
async fn users_me_is_an_alias_of_profile() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let profile = show(&app, &user.tokens.access).await;

    let res = app.get("/users/me", Some(&user.tokens.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await, profile);
    assert_error(
        app.get("/users/me", None).await,
        StatusCode::UNAUTHORIZED,
        "not_authenticated",
    )
    .await;
}

// ---- updating ----------------------------------------------------------------------------

#[tokio::test]
async fn put_profile_changes_the_given_fields_and_keeps_the_others() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let before = show(&app, &user.tokens.access).await;

    app.advance(5);
    let res = update(
        &app,
        Method::PUT,
        &user.tokens.access,
        json!({"display_name": "Alice Liddell"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let after = body(res).await;
    assert_eq!(after["display_name"], "Alice Liddell");
    assert_eq!(after["username"], user.username, "omitted: unchanged");
    assert_eq!(after["email"], user.email);
    assert_eq!(after["id"], user.id);
    assert_eq!(after["roles"], json!(["customer"]));
    assert_eq!(after["created_at"], before["created_at"]);
    assert!(time(&after["updated_at"]) > time(&before["updated_at"]));
    assert_eq!(
        show(&app, &user.tokens.access).await,
        after,
        "the whole stored profile"
    );

    let renamed = unique("renamed");
    let res = update(
        &app,
        Method::PUT,
        &user.tokens.access,
        json!({"username": renamed}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let after = body(res).await;
    assert_eq!(after["username"], renamed);
    assert_eq!(after["display_name"], "Alice Liddell", "omitted: unchanged");
    let res = app.login_raw(&renamed, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK, "the new username logs in");
}

#[tokio::test]
async fn patch_profile_works_too() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let res = update(
        &app,
        Method::PATCH,
        &user.tokens.access,
        json!({"display_name": "Bob"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let b = body(res).await;
    assert_eq!(b["display_name"], "Bob");
    assert_eq!(b["username"], user.username);
    assert_eq!(show(&app, &user.tokens.access).await["display_name"], "Bob");
}

#[tokio::test]
async fn username_taken_by_another_user_in_another_case_conflicts() {
    let app = spawn_app().await;
    let alice = app.new_user().await;
    let bob = app.new_user().await;
    assert_error(
        update(
            &app,
            Method::PUT,
            &bob.tokens.access,
            json!({"username": alice.username.to_uppercase()}),
        )
        .await,
        StatusCode::CONFLICT,
        "username_taken",
    )
    .await;
    assert_eq!(
        show(&app, &bob.tokens.access).await["username"],
        bob.username
    );
}

#[tokio::test]
async fn changing_the_case_of_ones_own_username_is_allowed() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let upper = user.username.to_uppercase();
    let res = update(
        &app,
        Method::PUT,
        &user.tokens.access,
        json!({"username": upper}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await["username"], upper);
}

#[tokio::test]
async fn null_username_clears_it() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let res = update(
        &app,
        Method::PUT,
        &user.tokens.access,
        json!({"username": null}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await["username"], Value::Null);
    assert_eq!(
        show(&app, &user.tokens.access).await["username"],
        Value::Null
    );
    assert_error(
        app.login_raw(&user.username, PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let res = app.login_raw(&user.email, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK, "the email still logs in");
}

#[tokio::test]
async fn invalid_username_is_refused_with_its_field() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    for bad in ["a b c", "ab", "al@ce"] {
        let b = assert_error(
            update(
                &app,
                Method::PUT,
                &user.tokens.access,
                json!({"username": bad}),
            )
            .await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
        assert!(b["fields"]["username"].is_array(), "{bad}: {b}");
    }
    assert_eq!(
        show(&app, &user.tokens.access).await["username"],
        user.username
    );
}

#[tokio::test]
async fn email_change_without_current_password_is_refused() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let b = assert_error(
        update(
            &app,
            Method::PUT,
            &user.tokens.access,
            json!({"email": "new-address@example.com"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert!(b["fields"]["current_password"].is_array(), "{b}");
    assert_eq!(show(&app, &user.tokens.access).await["email"], user.email);
}

#[tokio::test]
async fn email_change_with_a_wrong_current_password_is_refused() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    assert_error(
        update(
            &app,
            Method::PUT,
            &user.tokens.access,
            json!({"email": "new-address@example.com", "current_password": "not the password"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_current_password",
    )
    .await;
    assert_eq!(show(&app, &user.tokens.access).await["email"], user.email);
}

#[tokio::test]
async fn email_change_with_the_current_password() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let new_email = format!("{}@example.org", unique("moved"));

    let res = update(
        &app,
        Method::PUT,
        &user.tokens.access,
        json!({"email": new_email, "current_password": PASSWORD}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let b = body(res).await;
    // The new address must be verified first (tests/api/email.rs follows the link): until
    // then the email stays and the new one is pending.
    assert_eq!(b["email"], user.email);
    assert_eq!(b["pending_email"], new_email);
    assert_eq!(b["username"], user.username);
    assert_eq!(
        show(&app, &user.tokens.access).await["pending_email"],
        new_email
    );

    let res = app.login_raw(&user.email, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK, "the old email still logs in");
    assert_error(
        app.login_raw(&new_email, PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
}

#[tokio::test]
async fn email_taken_by_another_user_conflicts() {
    let app = spawn_app().await;
    let alice = app.new_user().await;
    let bob = app.new_user().await;
    assert_error(
        update(
            &app,
            Method::PUT,
            &bob.tokens.access,
            json!({"email": alice.email.to_uppercase(), "current_password": PASSWORD}),
        )
        .await,
        StatusCode::CONFLICT,
        "email_taken",
    )
    .await;
    assert_eq!(show(&app, &bob.tokens.access).await["email"], bob.email);
}

#[tokio::test]
async fn profile_update_needs_a_token() {
    let app = spawn_app().await;
    assert_error(
        app.request(
            Method::PUT,
            "/profile",
            None,
            Some(&json!({"display_name": "x"})),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "not_authenticated",
    )
    .await;
}

// ---- deleting ----------------------------------------------------------------------------

#[tokio::test]
async fn deleting_the_profile_needs_the_password() {
    let app = spawn_app().await;
    let user = app.new_user().await;

    let b = assert_error(
        delete_profile(&app, &user.tokens.access, json!({})).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert!(b["fields"]["password"].is_array(), "{b}");
    assert_error(
        delete_profile(
            &app,
            &user.tokens.access,
            json!({"password": "not the password"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_current_password",
    )
    .await;

    // Still there.
    show(&app, &user.tokens.access).await;
    let res = app.login_raw(&user.username, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn deleting_the_profile_removes_the_account() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let res = put_prefs(
        &app,
        "/profile/preferences",
        &user.tokens.access,
        &json!({"theme": "dark"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);

    let res = delete_profile(&app, &user.tokens.access, json!({"password": PASSWORD})).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    assert_error(
        app.login_raw(&user.username, PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let res = app.get("/profile", Some(&user.tokens.access)).await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "the old access token"
    );
    let res = app.refresh_raw(&user.tokens.refresh).await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "the old refresh token"
    );

    // The email and username are free again, and nothing of the old account comes back.
    let res = app
        .register(&user.email, PASSWORD, Some(&user.username))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let new_id = body(res).await["id"].clone();
    assert_ne!(new_id, json!(user.id));
    let fresh = app.login(&user.email, PASSWORD).await;
    let res = app.get("/profile/preferences", Some(&fresh.access)).await;
    assert_eq!(body(res).await, json!({}));
}

// ---- preferences -------------------------------------------------------------------------

#[tokio::test]
async fn preferences_are_an_empty_object_at_first() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let res = app
        .get("/profile/preferences", Some(&user.tokens.access))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await, json!({}));
}

#[tokio::test]
async fn preferences_are_stored_and_returned() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let prefs = json!({"theme": "dark", "language": "fr", "nested": {"a": [1, 2, 3], "b": null}});

    let res = put_prefs(&app, "/profile/preferences", &user.tokens.access, &prefs).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await, prefs);
    let res = app
        .get("/profile/preferences", Some(&user.tokens.access))
        .await;
    assert_eq!(body(res).await, prefs);

    // A second PUT replaces the whole object.
    let replaced = json!({"theme": "light"});
    let res = put_prefs(&app, "/profile/preferences", &user.tokens.access, &replaced).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .get("/profile/preferences", Some(&user.tokens.access))
        .await;
    assert_eq!(body(res).await, replaced);
}

#[tokio::test]
async fn preferences_must_be_an_object() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    for bad in [json!(["dark"]), json!("dark"), json!(42), json!(null)] {
        assert_error(
            put_prefs(&app, "/profile/preferences", &user.tokens.access, &bad).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
    }
    let res = app
        .get("/profile/preferences", Some(&user.tokens.access))
        .await;
    assert_eq!(body(res).await, json!({}), "nothing was stored");
}

#[tokio::test]
async fn preferences_over_16_kib_are_refused() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let big = json!({"blob": "x".repeat(20 * 1024)});
    assert_error(
        put_prefs(&app, "/profile/preferences", &user.tokens.access, &big).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;

    // Just under the limit is fine.
    let fits = json!({"blob": "x".repeat(16 * 1024 - 20)});
    let res = put_prefs(&app, "/profile/preferences", &user.tokens.access, &fits).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn bodies_over_64_kib_are_payload_too_large() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let huge = json!({"blob": "x".repeat(70 * 1024)});
    assert_error(
        put_prefs(&app, "/profile/preferences", &user.tokens.access, &huge).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
}

#[tokio::test]
async fn preferences_are_per_user() {
    let app = spawn_app().await;
    let alice = app.new_user().await;
    let bob = app.new_user().await;
    let res = put_prefs(
        &app,
        "/profile/preferences",
        &alice.tokens.access,
        &json!({"owner": "alice"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);

    let res = app
        .get("/profile/preferences", Some(&bob.tokens.access))
        .await;
    assert_eq!(body(res).await, json!({}));
    let res = put_prefs(
        &app,
        "/profile/preferences",
        &bob.tokens.access,
        &json!({"owner": "bob"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .get("/profile/preferences", Some(&alice.tokens.access))
        .await;
    assert_eq!(body(res).await, json!({"owner": "alice"}));
}

#[tokio::test]
async fn users_me_preferences_is_an_alias() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let prefs = json!({"theme": "dark"});
    let res = put_prefs(&app, "/users/me/preferences", &user.tokens.access, &prefs).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await, prefs);

    let res = app
        .get("/profile/preferences", Some(&user.tokens.access))
        .await;
    assert_eq!(body(res).await, prefs);
    let res = app
        .get("/users/me/preferences", Some(&user.tokens.access))
        .await;
    assert_eq!(body(res).await, prefs);
}

#[tokio::test]
async fn preferences_need_a_token() {
    let app = spawn_app().await;
    assert_error(
        app.get("/profile/preferences", None).await,
        StatusCode::UNAUTHORIZED,
        "not_authenticated",
    )
    .await;
    assert_error(
        app.request(
            Method::PUT,
            "/profile/preferences",
            None,
            Some(&json!({"a": 1})),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "not_authenticated",
    )
    .await;
}

/// A disabled user's profile is refused even by a token of theirs that is still accepted (here
/// the account is disabled in the database directly, so no session was ended): the profile
/// cache is told by the feed, and a disabled profile is never shown.
#[tokio::test]
async fn a_disabled_users_profile_is_refused_even_while_their_token_is_accepted() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    assert_eq!(
        show(&app, &user.tokens.access).await["id"],
        user.id.as_str()
    );
    let id = uuid::Uuid::parse_str(&user.id).unwrap();
    app.sesame
        .store()
        .set_disabled(id, true, Utc::now(), &[])
        .await
        .expect("user disabled");
    let disabled = std::time::Instant::now();
    loop {
        let res = app.get("/profile", Some(&user.tokens.access)).await;
        if res.status() == StatusCode::UNAUTHORIZED {
            assert_error(res, StatusCode::UNAUTHORIZED, "token_revoked").await;
            break;
        }
        assert_eq!(res.status(), StatusCode::OK);
        assert!(
            disabled.elapsed() < std::time::Duration::from_secs(5),
            "a disabled user's profile still shown 5 s later"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
