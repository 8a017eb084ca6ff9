//! Operations: liveness, readiness and the OpenAPI document.

use reqwest::{Method, StatusCode};

use crate::helpers::*;

/// Every route of API.md's Auth endpoints, Profile, Tokens and Operations tables (without
/// /metrics, not built yet), as (method, path) in OpenAPI's spelling.
const DOCUMENTED_ROUTES: &[(&str, &str)] = &[
    // Token status lists (issue #20)
    ("get", "/statuslists/{n}"),
    // RFC 7591 registration (issue #18; 404 unless SESAME_DYNAMIC_REGISTRATION=on)
    ("post", "/oauth/register"),
    // Auth endpoints
    ("post", "/auth/register"),
    ("post", "/auth/login"),
    ("post", "/auth/token/refresh"),
    ("post", "/auth/token/verify"),
    ("post", "/auth/logout"),
    ("post", "/auth/logout/all"),
    ("get", "/auth/sessions"),
    ("delete", "/auth/sessions/{id}"),
    ("post", "/auth/password"),
    // Profile
    ("get", "/profile"),
    ("put", "/profile"),
    ("patch", "/profile"),
    ("delete", "/profile"),
    ("get", "/profile/preferences"),
    ("put", "/profile/preferences"),
    // Tokens other services rely on
    ("get", "/.well-known/jwks.json"),
    ("get", "/.well-known/openid-configuration"),
    ("get", "/.well-known/oauth-authorization-server"),
    // Operations
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/openapi.json"),
];

#[tokio::test]
async fn healthz_answers_200() {
    let app = spawn_app().await;
    let res = app.get("/healthz", None).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn readyz_answers_200_when_the_database_answers() {
    let app = spawn_app().await;
    let res = app.get("/readyz", None).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn openapi_document_is_openapi_3_1() {
    let app = spawn_app().await;
    let res = app.get("/openapi.json", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let doc = body(res).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].is_string());
}

// Issue #16.2: the OAuth endpoints' 503 is documented as what they answer, an RFC 6749 body;
// the JSON API's stays `{detail, code}`.
#[tokio::test]
async fn openapi_documents_each_503_in_its_own_body_shape() {
    let app = spawn_app().await;
    let doc = body(app.get("/openapi.json", None).await).await;
    let schema_of_503 = |path: &str| {
        doc["paths"][path]["post"]["responses"]["503"]["content"]["application/json"]["schema"]
            ["$ref"]
            .clone()
    };
    for path in ["/oauth/token", "/oauth/introspect", "/oauth/revoke"] {
        assert_eq!(
            schema_of_503(path),
            "#/components/schemas/OAuthErrorBody",
            "{path}"
        );
    }
    assert_eq!(
        schema_of_503("/auth/login"),
        "#/components/schemas/ErrorBody"
    );
}

#[tokio::test]
async fn openapi_document_describes_every_route_of_the_contract() {
    let app = spawn_app().await;
    let doc = body(app.get("/openapi.json", None).await).await;
    let paths = doc["paths"].as_object().expect("paths");
    let missing: Vec<String> = DOCUMENTED_ROUTES
        .iter()
        .filter(|(method, path)| paths.get(*path).and_then(|p| p.get(*method)).is_none())
        .map(|(method, path)| format!("{} {path}", method.to_uppercase()))
        .collect();
    assert!(missing.is_empty(), "not in /openapi.json: {missing:?}");
}

/// Every operation of the served document reaches a handler: no 404 from the router's fallback
/// and no 405 for its documented method. The requests carry no credentials and no body, so
/// every protected route answers 401 before it could look up the (made-up) id in its path, and
/// a 404 here can only mean the router does not know the route.
#[tokio::test]
async fn every_operation_in_the_openapi_document_is_routed() {
    // Routes that are off by default answer 404 when off: turn them on.
    let app = spawn_app_with(&[("SESAME_DYNAMIC_REGISTRATION", "on")]).await;
    let doc = body(app.get("/openapi.json", None).await).await;
    let id = "00000000-0000-4000-8000-000000000000";
    let mut probed = 0;
    let mut unrouted = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let concrete = path
            .split('/')
            // A status list number must name a list that exists (0 always does).
            .map(|seg| match seg {
                "{n}" => "0",
                s if s.starts_with('{') => id,
                s => s,
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().expect("path item").keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
            let res = app.request(method.clone(), &concrete, None, None).await;
            probed += 1;
            if matches!(
                res.status(),
                StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
            ) {
                unrouted.push(format!("{method} {path}: {}", res.status()));
            }
        }
    }
    assert!(
        unrouted.is_empty(),
        "documented but not routed: {unrouted:?}"
    );
    assert!(probed >= DOCUMENTED_ROUTES.len(), "{probed} operations");
    // The probe tells an unknown route from a known one.
    let res = app.request(Method::GET, "/no/such/route", None, None).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = app.request(Method::PUT, "/healthz", None, None).await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
}
