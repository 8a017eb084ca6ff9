//! The error contract at the edge: content types, malformed bodies, size limit, unknown routes
//! and methods, no leaks, and request ids.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_json_endpoint_refuses_text_plain_with_415() {
    let app = spawn_app().await;
    let res = app
        .post_bytes(
            "/auth/register",
            "text/plain",
            br#"{"email":"a@example.com","password":"correct horse battery staple"}"#.to_vec(),
        )
        .await;
    assert_error(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let res = app
        .post_bytes("/auth/login", "text/plain", b"{}".to_vec())
        .await;
    assert_error(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
}

#[tokio::test]
async fn malformed_json_is_invalid_json() {
    let app = spawn_app().await;
    let bad_bodies: [&[u8]; 4] = [b"{\"email\": ", b"not json", b"{\"a\":1} trailing", b""];
    for bad in bad_bodies {
        let res = app
            .post_bytes("/auth/login", "application/json", bad.to_vec())
            .await;
        assert_error(res, StatusCode::BAD_REQUEST, "invalid_json").await;
    }
}

#[tokio::test]
async fn a_field_of_the_wrong_type_is_invalid_request_naming_it() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/auth/register",
            json!({"email": 123, "password": "correct horse battery staple"}),
        )
        .await;
    let b = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(b["fields"]["email"].is_array(), "fields.email in {b}");
    let res = app
        .post("/auth/login", json!({"username": "x", "password": ["a"]}))
        .await;
    let b = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(b["fields"]["password"].is_array(), "fields.password in {b}");
}

#[tokio::test]
async fn a_body_over_64_kib_is_413() {
    let app = spawn_app().await;
    let big = json!({"email": "big@example.com", "password": "x".repeat(70 * 1024)});
    let res = app.post("/auth/register", big).await;
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

#[tokio::test]
async fn a_body_of_exactly_64_kib_is_read() {
    let app = spawn_app().await;
    // Valid JSON padded with an unknown field to exactly the limit: read, then judged on its fields.
    let mut b = json!({"email": "big@example.com", "password": "short", "pad": ""});
    let len = b.to_string().len();
    b["pad"] = json!("p".repeat(64 * 1024 - len));
    assert_eq!(b.to_string().len(), 64 * 1024);
    let res = app.post("/auth/register", b).await;
    let body = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(body["fields"]["password"].is_array(), "{body}");
}

#[tokio::test]
async fn an_unknown_route_is_a_json_404() {
    let app = spawn_app().await;
    let res = app.get("/no/such/route", None).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app.post("/auth/nothing", json!({})).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn a_wrong_method_is_a_json_405() {
    let app = spawn_app().await;
    let res = app.get("/auth/login", None).await;
    assert_error(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    let res = app.request(Method::DELETE, "/healthz", None, None).await;
    assert_error(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
}

#[tokio::test]
async fn error_bodies_never_leak_internals() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut responses = vec![
        app.login_raw(&user.username, "wrong password here").await,
        app.login_raw("nobody", "wrong password here").await,
        app.register(&user.email, PASSWORD, None).await,
        app.register("x@example.com", PASSWORD, Some(&user.username))
            .await,
        app.register("weak@example.com", "password", None).await,
        app.register("bad", "x", Some("!")).await,
        app.post_bytes("/auth/login", "application/json", b"{\"".to_vec())
            .await,
        app.post_bytes("/auth/login", "text/plain", b"{}".to_vec())
            .await,
        app.post("/auth/register", json!({"email": 1})).await,
        app.get("/profile", Some("not-a-token")).await,
        app.get("/profile", None).await,
        app.refresh_raw("x").await,
        app.refresh_raw(&"A".repeat(43)).await,
        app.post("/auth/token/verify", json!({"token": "a.b.c"}))
            .await,
        app.get("/nope", None).await,
        app.request(Method::PUT, "/auth/login", None, None).await,
        app.post(
            "/auth/register",
            json!({"email": "big@example.com", "password": "x".repeat(70 * 1024)}),
        )
        .await,
    ];
    // A locked account too.
    for _ in 0..5 {
        app.login_raw(&user.username, "wrong password here").await;
    }
    responses.push(app.login_raw(&user.username, PASSWORD).await);
    for res in responses {
        let status = res.status();
        assert!(status.is_client_error(), "{status} for {}", res.url());
        let text = res.text().await.unwrap();
        let lower = text.to_lowercase();
        for needle in [
            "sqlx", "select", "$argon2", "panicked", "stack", "sqlite", "postgres",
        ] {
            assert!(
                !lower.contains(needle),
                "{needle:?} leaked in {status}: {text}"
            );
        }
        assert!(
            !text.contains(PASSWORD),
            "password echoed in {status}: {text}"
        );
        let b: serde_json::Value = serde_json::from_str(&text).expect("JSON error body");
        assert!(b["code"].is_string() && b["detail"].is_string(), "{b}");
    }
}

// Issue #16: a 500 keeps the contract's shape, with the request id that names its log line,
// and says nothing of its cause (the driver's message is logged: api/logs.rs). The database is
// broken for real, behind the service's back.
#[tokio::test]
async fn a_500_is_internal_error_with_the_request_id_and_nothing_of_its_cause() {
    let app = spawn_app().await;
    app.rename_table("users", "users_gone").await;
    let res = app
        .register("five-hundred@example.com", PASSWORD, None)
        .await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let id = res.headers()["x-request-id"]
        .to_str()
        .expect("an ASCII request id")
        .to_string();
    assert!(
        res.headers()["content-type"]
            .to_str()
            .is_ok_and(|ct| ct.starts_with("application/json")),
        "{:?}",
        res.headers()
    );
    assert_eq!(
        body(res).await,
        json!({"detail": "Internal server error.", "code": "internal_error", "request_id": id})
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let responses = vec![
        app.get("/healthz", None).await,
        app.get("/profile", Some(&user.tokens.access)).await,
        app.register("rid@example.com", PASSWORD, None).await,
        app.login_raw("nobody", "wrong password here").await,
        app.get("/nope", None).await,
        app.get("/auth/login", None).await,
        app.post_bytes("/auth/login", "text/plain", b"{}".to_vec())
            .await,
        app.get("/profile", None).await,
    ];
    for res in responses {
        let id = res
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(
            !id.is_empty(),
            "x-request-id on {} {}",
            res.status(),
            res.url()
        );
    }
}

#[tokio::test]
async fn each_response_gets_its_own_request_id() {
    let app = spawn_app().await;
    let a = app.get("/healthz", None).await;
    let b = app.get("/healthz", None).await;
    assert_ne!(a.headers()["x-request-id"], b.headers()["x-request-id"]);
}

#[tokio::test]
async fn a_sent_request_id_is_echoed_back() {
    let app = spawn_app().await;
    for path in ["/healthz", "/nope", "/profile"] {
        let res = app
            .client
            .get(app.url(path))
            .header("x-request-id", "trace-me-42")
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()["x-request-id"], "trace-me-42", "{path}");
    }
}
