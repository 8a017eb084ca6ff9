//! Who may call what: every `/images` route wants a token for the gallery's audience; the files
//! are public.

use reqwest::{Method, StatusCode};
use serde_json::json;
use sesame_verify::test_util::{CLIENT_ID, CLIENT_SECRET};

use crate::helpers::*;

const ROUTES: [(Method, &str); 6] = [
    (Method::GET, "/images"),
    (Method::POST, "/images"),
    (Method::GET, "/images/0190a1b2-0000-7000-8000-000000000000"),
    (Method::PUT, "/images/0190a1b2-0000-7000-8000-000000000000"),
    (
        Method::PATCH,
        "/images/0190a1b2-0000-7000-8000-000000000000",
    ),
    (
        Method::DELETE,
        "/images/0190a1b2-0000-7000-8000-000000000000",
    ),
];

#[tokio::test]
async fn every_images_route_refuses_a_missing_token_with_a_challenge() {
    let g = spawn_gallery().await;
    for (method, path) in ROUTES {
        let res = g
            .request(method.clone(), path, None, Some(&json!({"title": "x"})))
            .await;
        let challenge = res
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_string());
        assert_error(res, StatusCode::UNAUTHORIZED, "not_authenticated").await;
        // RFC 9728: the challenge names where the gallery's protected-resource metadata is.
        assert_eq!(
            challenge,
            Some(format!(
                "Bearer realm=\"gallery\", resource_metadata=\"{}/.well-known/oauth-protected-resource\"",
                g.base
            )),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn the_gallery_publishes_its_protected_resource_metadata() {
    let g = spawn_gallery().await;
    let res = g.get("/.well-known/oauth-protected-resource", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let doc: serde_json::Value = res.json().await.unwrap();
    assert_eq!(doc["resource"], g.base.as_str());
    assert_eq!(doc["authorization_servers"], json!([g.issuer.issuer()]));
    assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
}

#[tokio::test]
async fn tokens_that_are_not_for_the_gallery_are_refused() {
    let g = spawn_gallery().await;
    let for_api = g.issuer.token("alice", "api");
    let res = g.get("/images", Some(&for_api)).await;
    assert!(res.headers().contains_key("www-authenticate"));
    assert_error(res, StatusCode::UNAUTHORIZED, "token_invalid").await;

    let mut expired = g.issuer.claims("alice", "gallery");
    expired.exp -= 3600;
    let res = g.get("/images", Some(&g.issuer.sign(&expired))).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "token_expired").await;

    let other = sesame_verify::test_util::TestIssuer::start().await.unwrap();
    let res = g
        .get("/images", Some(&other.token("alice", "gallery")))
        .await;
    assert_error(res, StatusCode::UNAUTHORIZED, "token_invalid").await;

    let res = g.get("/images", Some("not-a-jwt")).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "token_invalid").await;

    let res = g.get("/images", Some(&g.token("alice"))).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_gallery_configured_for_another_audience_wants_that_one() {
    let g = spawn_gallery_with(&[("GALLERY_AUDIENCE", "photos")]).await;
    let res = g.get("/images", Some(&g.token("alice"))).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "token_invalid").await;
    let res = g
        .get("/images", Some(&g.issuer.token("alice", "photos")))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_unreachable_issuer_before_any_keys_is_a_503() {
    let g = spawn_gallery().await;
    g.issuer.set_available(false);
    let res = g.get("/images", Some(&g.token("alice"))).await;
    assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
}

#[tokio::test]
async fn introspection_mode_refuses_a_revoked_token_at_once() {
    let g = spawn_gallery_with(&[
        ("GALLERY_INTROSPECTION_CLIENT_ID", CLIENT_ID),
        ("GALLERY_INTROSPECTION_CLIENT_SECRET", CLIENT_SECRET),
    ])
    .await;
    let claims = g.issuer.claims("alice", "gallery");
    let token = g.issuer.sign(&claims);
    let res = g.get("/images", Some(&token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    g.issuer.revoke(&claims.jti);
    let res = g.get("/images", Some(&token)).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "token_revoked").await;
}
