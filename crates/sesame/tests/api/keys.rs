//! The JWKS, key rotation as relying services see it, and the discovery documents.

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::json;

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
    let all = jwks["keys"].as_array().expect("keys");
    assert_eq!(all.len(), 4, "access and ID-token keys: {jwks}");
    let keys = app.jwks_of("access").await;
    assert_eq!(keys.len(), 2, "current + next: {jwks}");
    assert_eq!(&all[..2], &keys[..], "access keys come first");
    for k in &keys {
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

/// By default ID tokens are RS256 (every OpenID client supports it) beside EdDSA access tokens:
/// the JWKS publishes a current and a next RSA key too.
#[tokio::test]
async fn jwks_publishes_rs256_id_token_keys_beside_the_access_keys() {
    let app = spawn_app().await;
    let keys = app.jwks_of("id_token").await;
    assert_eq!(keys.len(), 2, "current + next");
    for k in &keys {
        assert_eq!(k["alg"], "RS256", "{k}");
        assert_eq!(k["kty"], "RSA", "{k}");
        assert_eq!(k["use"], "sig", "{k}");
        assert_eq!(k["e"], "AQAB", "{k}");
        // A 2048-bit modulus: 256 bytes, 342 base64url characters.
        assert_eq!(k["n"].as_str().map(str::len), Some(342), "{k}");
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(k.get(private).is_none(), "no private part: {k}");
        }
    }
    assert_ne!(keys[0]["kid"], keys[1]["kid"]);
    let ring = app.sesame.key_ring().current();
    assert!(keys.iter().any(|k| k["kid"] == ring.id_token.kid.as_str()));
    let access = app.jwks_kids_of("access").await;
    assert!(
        !access.contains(&ring.id_token.kid),
        "families share no key"
    );
    assert_eq!(ring.id_token.alg.as_str(), "RS256");
}

/// An ID token signed by the app's ID-token key verifies, as an OpenID client verifies it, with
/// the key of that `kid` in the JWKS served over HTTP: for the default RS256 and for ES256 and
/// EdDSA chosen by `SESAME_ID_TOKEN_ALG` (which leaves the access keys alone).
#[tokio::test]
async fn id_tokens_verify_with_the_served_jwks_for_each_id_token_alg() {
    for (setting, alg, kty) in [
        (None, jsonwebtoken::Algorithm::RS256, "RSA"),
        (Some("ES256"), jsonwebtoken::Algorithm::ES256, "EC"),
        (Some("EdDSA"), jsonwebtoken::Algorithm::EdDSA, "OKP"),
    ] {
        let env: Vec<(&str, &str)> = setting
            .map(|a| ("SESAME_ID_TOKEN_ALG", a))
            .into_iter()
            .collect();
        let app = spawn_app_with(&env).await;
        let keys = app.jwks_of("id_token").await;
        assert_eq!(keys.len(), 2, "{alg:?}");
        assert!(keys.iter().all(|k| k["kty"] == kty), "{alg:?}: {keys:?}");
        let access = app.jwks_of("access").await;
        assert!(access.iter().all(|k| k["alg"] == "EdDSA"), "{access:?}");

        let now = app.sesame.now().timestamp();
        let claims = json!({"iss": "https://localhost:8443", "sub": "u1", "aud": "app-1",
                            "iat": now, "exp": now + 300, "nonce": "abc"});
        let token = app
            .sesame
            .key_ring()
            .current()
            .id_token
            .sign_jwt_typed("JWT", &claims)
            .expect("signs");
        let header = jwt::part(&token, 0);
        assert_eq!(header["typ"], "JWT");
        let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(app.jwks().await).unwrap();
        let jwk = jwks
            .find(header["kid"].as_str().unwrap())
            .expect("the kid is published");
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
        let mut v = jsonwebtoken::Validation::new(alg);
        v.set_audience(&["app-1"]);
        v.set_issuer(&["https://localhost:8443"]);
        let got = jsonwebtoken::decode::<serde_json::Value>(&token, &key, &v)
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!(got.claims, claims, "{alg:?}");
        // It is no access token: Sesame's API refuses it (typ is not at+jwt).
        let res = app.get("/profile", Some(&token)).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{alg:?}");
    }
}

/// Discovery advertises each family's algorithms: those of the published keys.
#[tokio::test]
async fn discovery_lists_the_algorithms_of_each_key_family() {
    for (extra, access, id_token) in [
        (vec![], "EdDSA", "RS256"),
        (
            vec![
                ("SESAME_SIGNING_ALG", "RS256"),
                ("SESAME_ID_TOKEN_ALG", "ES256"),
            ],
            "RS256",
            "ES256",
        ),
    ] {
        let app = spawn_app_with(&extra).await;
        for path in [
            "/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server",
        ] {
            let doc = body(app.get(path, None).await).await;
            assert_eq!(
                doc["access_token_signing_alg_values_supported"],
                json!([access]),
                "{path}: {doc}"
            );
            assert_eq!(
                doc["id_token_signing_alg_values_supported"],
                json!([id_token]),
                "{path}: {doc}"
            );
        }
    }
}

/// One rotation moves both families: each promotes its published next key and publishes a
/// fresh one; a changed `SESAME_ID_TOKEN_ALG` reaches the ID-token family from the next key
/// made on, exactly as `SESAME_SIGNING_ALG` does for access keys.
#[tokio::test]
async fn a_rotation_rotates_both_families() {
    let app = spawn_app().await;
    let state = |app: &TestApp| {
        let ring = app.sesame.key_ring().current();
        let of = |purpose: &str, state: &str| -> Vec<String> {
            ring.published
                .iter()
                .filter(|k| k.purpose.as_str() == purpose && k.state.as_str() == state)
                .map(|k| k.jwk.kid.clone())
                .collect()
        };
        [
            of("access", "current"),
            of("access", "next"),
            of("id_token", "current"),
            of("id_token", "next"),
            of("access", "retired"),
            of("id_token", "retired"),
        ]
    };
    let [access, access_next, id, id_next, retired, id_retired] = state(&app);
    assert_eq!((access.len(), access_next.len()), (1, 1));
    assert_eq!((id.len(), id_next.len()), (1, 1));
    assert!(retired.is_empty() && id_retired.is_empty());
    let signing_id = app.sesame.key_ring().current().id_token.kid.clone();
    assert_eq!(signing_id, id[0]);

    rotate(&app).await;
    let [access2, access_next2, id2, id_next2, retired2, id_retired2] = state(&app);
    assert_eq!(access2, access_next, "the access next key signs");
    assert_eq!(retired2, access, "the access key retired");
    assert_eq!(id2, id_next, "the ID-token next key signs");
    assert_eq!(id_retired2, id, "the ID-token key retired");
    assert_eq!((access_next2.len(), id_next2.len()), (1, 1));
    assert!(!access_next.contains(&access_next2[0]) && !id_next.contains(&id_next2[0]));
    assert_eq!(app.sesame.key_ring().current().id_token.kid, id_next[0]);
    assert_eq!(app.jwks_kids().await.len(), 6, "two families of three");
    // Both new next keys are of the configured algorithms.
    for (kid, alg) in [(&access_next2[0], "EdDSA"), (&id_next2[0], "RS256")] {
        let jwks = app.jwks().await;
        let k = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid.as_str())
            .cloned()
            .expect("published");
        assert_eq!(k["alg"], alg, "{k}");
    }
}

/// A deployment upgraded from a version with access-token keys only gets its ID-token pair on
/// its first start, and keeps its access keys as they were.
#[tokio::test]
async fn an_upgraded_store_with_only_access_keys_gets_id_token_keys_on_start() {
    use sesame_core::keys::{KeyState, SigningAlg, generate_key};
    let fresh = fresh_store().await;
    // Made long before this start, by the previous version.
    let then = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
    let current = generate_key(SigningAlg::EdDSA, KeyState::Current, then).unwrap();
    let next = generate_key(SigningAlg::EdDSA, KeyState::Next, then).unwrap();
    assert!(fresh.store.init_keys(&current, &next).await.unwrap());
    let app = fresh.spawn_app().await;

    let mut access_kids = app.jwks_kids_of("access").await;
    access_kids.sort();
    let mut kept = vec![current.kid.clone(), next.kid.clone()];
    kept.sort();
    assert_eq!(access_kids, kept, "the access keys are kept");
    let user = app.new_user().await;
    assert_eq!(kid_of(&user.tokens.access), current.kid, "and still sign");
    let id_keys = app.jwks_of("id_token").await;
    assert_eq!(id_keys.len(), 2, "{id_keys:?}");
    assert!(id_keys.iter().all(|k| k["alg"] == "RS256"), "{id_keys:?}");
    let ring = app.sesame.key_ring().current();
    let mut states: Vec<(&str, Option<_>)> = ring
        .published
        .iter()
        .filter(|k| k.purpose.as_str() == "id_token")
        .map(|k| (k.state.as_str(), k.activated_at))
        .collect();
    states.sort();
    // The first ID-token key has no activated_at: replicas of the previous version, still
    // running during a rolling upgrade, pick the current key activated last to sign access
    // tokens, and must keep picking the access key.
    assert_eq!(states, vec![("current", None), ("next", None)]);
    let access = ring.published.iter().find(|k| k.jwk.kid == current.kid);
    assert_eq!(access.map(|k| k.activated_at), Some(Some(then)));
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
    let before = app.jwks_kids_of("access").await;
    let next: Vec<&String> = before.iter().filter(|k| **k != first).collect();
    assert_eq!(next.len(), 1, "one next key besides the signing key");
    let next = next[0].clone();

    rotate(&app).await;
    let after_login = app.login(&user.username, PASSWORD).await;
    assert_eq!(kid_of(&after_login.access), next, "the next key now signs");

    let after = app.jwks_kids_of("access").await;
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
        app.jwks_kids_of("access").await.len(),
        4,
        "two retired keys still in their horizon, current, next: {kids:?}"
    );
    // The ID-token family kept the same horizon: its first retired key went too.
    assert_eq!(app.jwks_kids_of("id_token").await.len(), 4, "{kids:?}");
    assert_eq!(kids.len(), 8, "{kids:?}");
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
