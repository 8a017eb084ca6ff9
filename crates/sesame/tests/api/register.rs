//! POST /auth/register: the created user, normalisation, uniqueness, validation and the
//! password policy.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

/// Asserts a 400 `invalid_request` whose `fields` name exactly `expected`.
async fn assert_invalid_fields(res: reqwest::Response, expected: &[&str]) {
    let b = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    let fields = b["fields"].as_object().expect("fields object");
    let mut names: Vec<&str> = fields.keys().map(String::as_str).collect();
    names.sort_unstable();
    let mut expected = expected.to_vec();
    expected.sort_unstable();
    assert_eq!(names, expected, "fields in {b}");
    for (name, messages) in fields {
        assert!(
            messages
                .as_array()
                .is_some_and(|m| !m.is_empty() && m.iter().all(|s| s.is_string())),
            "{name} has a list of messages in {b}"
        );
    }
}

#[tokio::test]
async fn register_returns_201_with_id_email_username_and_created_at() {
    let app = spawn_app().await;
    let username = unique("alice");
    let email = format!("{username}@example.com");
    let res = app.register(&email, PASSWORD, Some(&username)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let b = body(res).await;
    let mut keys: Vec<&str> = b.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["created_at", "email", "id", "username"]);
    uuid::Uuid::parse_str(b["id"].as_str().unwrap()).expect("id is a UUID");
    assert_eq!(b["email"], email);
    assert_eq!(b["username"], username);
    chrono::DateTime::parse_from_rfc3339(b["created_at"].as_str().unwrap())
        .expect("created_at is RFC 3339");
}

#[tokio::test]
async fn register_without_username_returns_null_username() {
    let app = spawn_app().await;
    let res = app.register("nousername@example.com", PASSWORD, None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(body(res).await["username"], serde_json::Value::Null);
}

#[tokio::test]
async fn register_trims_email_and_lowercases_its_domain() {
    let app = spawn_app().await;
    let res = app.register("  Bob@Example.COM ", PASSWORD, None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(body(res).await["email"], "Bob@example.com");
}

#[tokio::test]
async fn register_rejects_an_email_taken_in_another_case_with_409() {
    let app = spawn_app().await;
    let res = app.register("carol@example.com", PASSWORD, None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app.register("CAROL@EXAMPLE.COM", PASSWORD, None).await;
    assert_error(res, StatusCode::CONFLICT, "email_taken").await;
    let res = app.register("carol@example.com", PASSWORD, None).await;
    assert_error(res, StatusCode::CONFLICT, "email_taken").await;
}

#[tokio::test]
async fn register_rejects_a_username_taken_in_another_case_with_409() {
    let app = spawn_app().await;
    let res = app
        .register("dave1@example.com", PASSWORD, Some("DaveSmith"))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app
        .register("dave2@example.com", PASSWORD, Some("davesmith"))
        .await;
    assert_error(res, StatusCode::CONFLICT, "username_taken").await;
}

#[tokio::test]
async fn register_rejects_an_invalid_email_with_fields_email() {
    let app = spawn_app().await;
    for bad in [
        "not-an-email",
        "a@b",
        "two@@example.com",
        "sp ace@example.com",
    ] {
        let res = app.register(bad, PASSWORD, None).await;
        assert_invalid_fields(res, &["email"]).await;
    }
}

#[tokio::test]
async fn register_without_email_or_password_names_each_missing_field() {
    let app = spawn_app().await;
    let res = app
        .post("/auth/register", json!({"password": PASSWORD}))
        .await;
    assert_invalid_fields(res, &["email"]).await;
    let res = app
        .post("/auth/register", json!({"email": "eve@example.com"}))
        .await;
    assert_invalid_fields(res, &["password"]).await;
    let res = app.post("/auth/register", json!({})).await;
    assert_invalid_fields(res, &["email", "password"]).await;
}

#[tokio::test]
async fn register_rejects_a_password_shorter_than_8_characters() {
    let app = spawn_app().await;
    let res = app.register("frank@example.com", "Xq7#kp2", None).await;
    assert_invalid_fields(res, &["password"]).await;
    // Exactly 8 characters is enough.
    let res = app.register("frank@example.com", "Xq7#kp2m", None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn register_rejects_a_password_over_1024_bytes() {
    let app = spawn_app().await;
    let res = app
        .register("gina@example.com", &"Zx9!".repeat(256), None)
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "1024 bytes is allowed");
    let res = app
        .register(
            "gina2@example.com",
            &format!("{}y", "Zx9!".repeat(256)),
            None,
        )
        .await;
    assert_invalid_fields(res, &["password"]).await;
    // The bound is in bytes, not characters: 513 two-byte characters are 1026 bytes.
    let res = app
        .register("gina3@example.com", &"é".repeat(513), None)
        .await;
    assert_invalid_fields(res, &["password"]).await;
}

#[tokio::test]
async fn register_rejects_common_passwords_as_weak() {
    let app = spawn_app().await;
    for (i, common) in ["password", "qwerty123", "PassWord123"].iter().enumerate() {
        let res = app
            .register(&format!("henry{i}@example.com"), common, None)
            .await;
        let b = assert_error(res, StatusCode::BAD_REQUEST, "weak_password").await;
        assert!(b["fields"]["password"].is_array(), "fields.password in {b}");
    }
}

#[tokio::test]
async fn register_rejects_a_password_equal_to_the_email_ignoring_case() {
    let app = spawn_app().await;
    let res = app
        .register("Ivy.Lane@example.com", "ivy.lane@EXAMPLE.com", None)
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "weak_password").await;
}

#[tokio::test]
async fn register_rejects_a_password_equal_to_the_username_ignoring_case() {
    let app = spawn_app().await;
    let res = app
        .register("jack@example.com", "JACKTHEBUILDER", Some("JackTheBuilder"))
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "weak_password").await;
}

#[tokio::test]
async fn register_rejects_a_username_with_bad_characters_or_under_3_chars() {
    let app = spawn_app().await;
    for (i, bad) in ["bad name", "no@sign", "semi;colon", "ab", "x"]
        .iter()
        .enumerate()
    {
        let res = app
            .register(&format!("kate{i}@example.com"), PASSWORD, Some(bad))
            .await;
        assert_invalid_fields(res, &["username"]).await;
    }
    let res = app
        .register("kate@example.com", PASSWORD, Some("k_8.-x"))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "the allowed alphabet");
}

#[tokio::test]
async fn register_alias_post_register_creates_a_user() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/register",
            json!({"email": "leo@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(body(res).await["email"], "leo@example.com");
    app.login("leo@example.com", PASSWORD).await;
}

#[tokio::test]
async fn register_with_trailing_slash_creates_a_user() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/auth/register/",
            json!({"email": "mia@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    app.login("mia@example.com", PASSWORD).await;
}

#[tokio::test]
async fn a_new_user_has_the_customer_role() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let res = app.get("/profile", Some(&user.tokens.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await["roles"], json!(["customer"]));
    assert_eq!(
        jwt::part(&user.tokens.access, 1)["roles"],
        json!(["customer"])
    );
}
