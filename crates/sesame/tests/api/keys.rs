//! The JWKS, key rotation as relying services see it, and the discovery documents.

use reqwest::StatusCode;

use crate::helpers::*;

fn kid_of(access: &str) -> String {
    jwt::part(access, 0)["kid"]
        .as_str()
        .expect("kid")
        .to_string()
}

async fn rotate(app: &TestApp) {
    app.sesame
        .keys()
        .rotate(None, &Default::default())
        .await
        .expect("rotation works");
}

#[tokio::test]
async fn jwks_publishes_the_signing_key_and_the_next_key() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let jwks = app.jwks().await;
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 2, "current + next: {jwks}");
    for k in keys {
        assert!(k["kid"].as_str().is_some_and(|s| !s.is_empty()), "{k}");
        assert_eq!(k["alg"], "EdDSA", "{k}");
        assert_eq!(k["use"], "sig", "{k}");
        assert_eq!(k["kty"], "OKP", "{k}");
        assert_eq!(k["crv"], "Ed25519", "{k}");
        assert!(k.get("d").is_none(), "no private part: {k}");
    }
    assert_ne!(keys[0]["kid"], keys[1]["kid"]);
    let signing = kid_of(&user.tokens.access);
    assert!(keys.iter().any(|k| k["kid"] == signing.as_str()));
}

#[tokio::test]
async fn jwks_is_cacheable() {
    let app = spawn_app().await;
    let res = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let cache = res
        .headers()
        .get("cache-control")
        .expect("Cache-Control on the JWKS")
        .to_str()
        .unwrap()
        .to_string();
    assert!(cache.contains("max-age="), "{cache}");
    assert!(!cache.contains("no-store"), "{cache}");
}

#[tokio::test]
async fn tokens_signed_before_a_rotation_keep_working() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    rotate(&app).await;
    let res = app.get("/profile", Some(&user.tokens.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_rotation_promotes_the_already_published_next_key() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let first = kid_of(&user.tokens.access);
    let before = app.jwks_kids().await;
    let next: Vec<&String> = before.iter().filter(|k| **k != first).collect();
    assert_eq!(next.len(), 1, "one next key besides the signing key");
    let next = next[0].clone();

    rotate(&app).await;
    let after_login = app.login(&user.username, PASSWORD).await;
    assert_eq!(kid_of(&after_login.access), next, "the next key now signs");

    let after = app.jwks_kids().await;
    assert_eq!(
        after.len(),
        3,
        "retired, current and a fresh next: {after:?}"
    );
    assert!(after.contains(&first), "the retired key stays published");
    assert!(after.contains(&next));
    assert!(
        after.iter().any(|k| !before.contains(k)),
        "a fresh next key is published"
    );
}

#[tokio::test]
async fn a_retired_key_leaves_the_jwks_once_its_tokens_have_expired() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let first = kid_of(&user.tokens.access);
    rotate(&app).await;
    assert!(app.jwks_kids().await.contains(&first));

    // Retired keys stay for an access-token lifetime + 3 s leeway + 60 s for replicas that
    // have not reloaded keys yet (they reload every 30 s).
    app.advance(900 + 3 + 60 - 5);
    rotate(&app).await;
    assert!(
        app.jwks_kids().await.contains(&first),
        "still published just before its horizon"
    );
    app.advance(5 + 1);
    rotate(&app).await;
    let kids = app.jwks_kids().await;
    assert!(!kids.contains(&first), "first key gone: {kids:?}");
    assert_eq!(
        kids.len(),
        4,
        "two retired keys still in their horizon, current, next: {kids:?}"
    );
    // Its tokens are long expired anyway; they are now refused.
    let res = app.get("/profile", Some(&user.tokens.access)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

async fn assert_discovery(path: &str) {
    let app = spawn_app().await;
    let res = app.get(path, None).await;
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    let doc = body(res).await;
    assert_eq!(doc["issuer"], "https://localhost:8443", "{doc}");
    let jwks_uri = doc["jwks_uri"].as_str().expect("jwks_uri");
    assert!(jwks_uri.ends_with("/.well-known/jwks.json"), "{jwks_uri}");
    assert!(jwks_uri.starts_with("https://localhost:8443"), "{jwks_uri}");
}

#[tokio::test]
async fn openid_configuration_names_the_issuer_and_jwks_uri() {
    assert_discovery("/.well-known/openid-configuration").await;
}

#[tokio::test]
async fn oauth_authorization_server_metadata_names_the_issuer_and_jwks_uri() {
    assert_discovery("/.well-known/oauth-authorization-server").await;
}
