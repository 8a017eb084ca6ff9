//! The axum extractors: what a service's clients see when they are refused.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use serde_json::Value;
use sesame_verify::RemoteVerifier;
use sesame_verify::axum::{Authenticated, RequireRole, RoleName};
use sesame_verify::test_util::TestIssuer;
use tower::ServiceExt;

struct Admin;
impl RoleName for Admin {
    const NAME: &'static str = "admin";
}

async fn me(Authenticated(claims): Authenticated) -> String {
    claims.sub
}

async fn panel(guard: RequireRole<Admin>, again: Authenticated) -> String {
    assert_eq!(guard.claims.jti, again.0.jti);
    format!("admin {}", guard.claims.sub)
}

fn app(verifier: RemoteVerifier) -> Router {
    Router::new()
        .route("/me", get(me))
        .route("/admin", get(panel))
        .with_state(verifier)
}

struct Answer {
    status: StatusCode,
    challenge: Option<String>,
    body: Value,
    text: String,
}

async fn call(app: &Router, path: &str, auth: Option<&str>) -> Answer {
    let mut req = Request::get(path);
    if let Some(a) = auth {
        req = req.header(header::AUTHORIZATION, a);
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let challenge = res
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    Answer {
        status,
        challenge,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

fn assert_error(a: &Answer, status: StatusCode, code: &str) {
    assert_eq!(a.status, status, "{}", a.text);
    assert_eq!(a.body["code"], code, "{}", a.text);
    assert!(a.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
}

#[tokio::test]
async fn missing_and_bad_tokens_get_401_with_a_challenge() {
    let issuer = TestIssuer::start().await.unwrap();
    let app = app(issuer.verifier().audience("gallery").build().unwrap());

    let a = call(&app, "/me", None).await;
    assert_error(&a, StatusCode::UNAUTHORIZED, "not_authenticated");
    assert_eq!(a.challenge.as_deref(), Some("Bearer realm=\"gallery\""));

    let a = call(&app, "/me", Some("Basic dXNlcjpwYXNz")).await;
    assert_error(&a, StatusCode::UNAUTHORIZED, "not_authenticated");

    for bad in ["Bearer garbage", "Bearer ", "Bearer a b"] {
        let a = call(&app, "/me", Some(bad)).await;
        assert_error(&a, StatusCode::UNAUTHORIZED, "token_invalid");
        let c = a.challenge.unwrap();
        assert!(c.starts_with("Bearer realm=\"gallery\""), "{c}");
        assert!(c.contains("error=\"invalid_token\""), "{c}");
    }

    let mut expired = issuer.claims("alice", "gallery");
    expired.exp -= 3600;
    let a = call(
        &app,
        "/me",
        Some(&format!("Bearer {}", issuer.sign(&expired))),
    )
    .await;
    assert_error(&a, StatusCode::UNAUTHORIZED, "token_expired");
    assert!(a.challenge.is_some());

    let for_api = issuer.token("alice", "api");
    let a = call(&app, "/me", Some(&format!("Bearer {for_api}"))).await;
    assert_error(&a, StatusCode::UNAUTHORIZED, "token_invalid");
}

#[tokio::test]
async fn a_valid_token_gets_through_and_roles_are_guarded() {
    let issuer = TestIssuer::start().await.unwrap();
    let app = app(issuer.verifier().audience("gallery").build().unwrap());

    let token = issuer.token("alice", "gallery");
    let a = call(&app, "/me", Some(&format!("Bearer {token}"))).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.text, "alice");
    // The scheme is case-insensitive.
    let a = call(&app, "/me", Some(&format!("bearer {token}"))).await;
    assert_eq!(a.status, StatusCode::OK);

    let a = call(&app, "/admin", Some(&format!("Bearer {token}"))).await;
    assert_error(&a, StatusCode::FORBIDDEN, "forbidden");
    assert!(a.challenge.is_none());

    let boss = issuer.token_with_roles("boss", "gallery", &["customer", "admin"]);
    let a = call(&app, "/admin", Some(&format!("Bearer {boss}"))).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.text, "admin boss");

    // No token on a guarded route is still a 401, not a 403.
    let a = call(&app, "/admin", None).await;
    assert_error(&a, StatusCode::UNAUTHORIZED, "not_authenticated");
}

#[tokio::test]
async fn an_unreachable_issuer_is_a_503_not_a_401() {
    let issuer = TestIssuer::start().await.unwrap();
    issuer.set_available(false);
    let app = app(issuer.verifier().audience("gallery").build().unwrap());
    let token = issuer.token("alice", "gallery");
    let a = call(&app, "/me", Some(&format!("Bearer {token}"))).await;
    assert_error(&a, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
}

#[tokio::test]
async fn a_service_with_a_resource_publishes_its_metadata_and_names_it_in_challenges() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = issuer
        .verifier()
        .audience("gallery")
        .resource("https://photos.example.com/api/")
        .build()
        .unwrap();
    assert_eq!(
        v.resource_metadata_url().as_deref(),
        Some("https://photos.example.com/.well-known/oauth-protected-resource/api"),
        "RFC 9728 §3.1: the well-known path goes before the resource's path"
    );
    let router = app(v.clone()).merge(
        Router::new()
            .merge(sesame_verify::axum::protected_resource(&v))
            .with_state(v.clone()),
    );
    let doc = call(&router, "/.well-known/oauth-protected-resource/api", None).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(doc.body["resource"], "https://photos.example.com/api");
    assert_eq!(
        doc.body["authorization_servers"],
        serde_json::json!([issuer.issuer()])
    );
    assert_eq!(
        doc.body["bearer_methods_supported"],
        serde_json::json!(["header"])
    );

    for auth in [None, Some("Bearer not-a-token")] {
        let refused = call(&router, "/me", auth).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        let challenge = refused.challenge.unwrap();
        assert!(
            challenge.ends_with(
                ", resource_metadata=\"https://photos.example.com/.well-known/oauth-protected-resource/api\""
            ),
            "{challenge}"
        );
    }

    // Without a resource: no metadata route, and challenges as before.
    let plain = issuer.verifier().audience("gallery").build().unwrap();
    assert!(plain.resource_metadata_url().is_none());
    let refused = call(&app(plain), "/me", None).await;
    assert!(!refused.challenge.unwrap().contains("resource_metadata"));
    assert!(
        issuer
            .verifier()
            .audience("gallery")
            .resource("not a url")
            .build()
            .is_err()
    );
}
