//! Access tokens: what Sesame issues (RFC 9068 header and claims), POST /auth/token/verify, and
//! the forgeries every verifier must refuse — each checked at a bearer-protected endpoint
//! (GET /profile) and at /auth/token/verify.

use aws_lc_rs::hmac;
use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sesame_core::keys::{ActiveKey, KeyState, SigningAlg, generate_key};
use sesame_verify::{Audience, Claims};

use crate::helpers::*;

/// Asserts `token` is refused with 401 `code` both as a bearer token and by the verify endpoint,
/// each time with a `WWW-Authenticate: Bearer ...` challenge.
async fn assert_refused(app: &TestApp, token: &str, code: &str) {
    let res = app.get("/profile", Some(token)).await;
    assert_bearer_challenge(&res);
    assert_error(res, StatusCode::UNAUTHORIZED, code).await;
    let res = app
        .post("/auth/token/verify", json!({ "token": token }))
        .await;
    assert_bearer_challenge(&res);
    assert_error(res, StatusCode::UNAUTHORIZED, code).await;
}

fn assert_bearer_challenge(res: &reqwest::Response) {
    let challenge = res
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        challenge.starts_with("Bearer"),
        "WWW-Authenticate {challenge:?} on {}",
        res.url()
    );
}

/// Asserts `token` is accepted at both places.
async fn assert_accepted(app: &TestApp, token: &str) {
    let res = app.get("/profile", Some(token)).await;
    assert_eq!(res.status(), StatusCode::OK, "/profile accepts the token");
    let res = app
        .post("/auth/token/verify", json!({ "token": token }))
        .await;
    assert_eq!(res.status(), StatusCode::OK, "verify accepts the token");
    assert_eq!(body(res).await, json!({}));
}

fn hs256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), msg)
        .as_ref()
        .to_vec()
}

fn claims_of(token: &str) -> Claims {
    serde_json::from_value(jwt::part(token, 1)).expect("Sesame's claims")
}

#[tokio::test]
async fn access_token_header_is_eddsa_with_a_published_kid_and_at_jwt_type() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let header = jwt::part(&user.tokens.access, 0);
    let mut keys: Vec<&str> = header
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["alg", "kid", "typ"]);
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], "at+jwt");
    let kid = header["kid"].as_str().unwrap();
    assert!(
        app.jwks_kids().await.iter().any(|k| k == kid),
        "kid is published"
    );
}

#[tokio::test]
async fn access_token_claims_follow_rfc_9068() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let c = jwt::part(&user.tokens.access, 1);
    assert_eq!(c["iss"], "https://localhost:8443");
    assert_eq!(c["sub"], user.id);
    assert_eq!(c["aud"], "api");
    let iat = c["iat"].as_i64().unwrap();
    assert_eq!(
        iat,
        app.sesame.now().timestamp(),
        "iat is the server's clock"
    );
    assert_eq!(c["exp"].as_i64().unwrap() - iat, 900);
    assert!(c["nbf"].as_i64().unwrap() <= iat, "nbf is not after iat");
    assert_eq!(c["client_id"], "sesame");
    assert_eq!(c["roles"], json!(["customer"]));
    uuid::Uuid::parse_str(c["sid"].as_str().unwrap()).expect("sid is a session id");
    assert!(!c["jti"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn every_access_token_has_a_unique_jti_and_each_login_its_own_sid() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let second = app.login(&user.username, PASSWORD).await;
    let (a, b) = (
        jwt::part(&user.tokens.access, 1),
        jwt::part(&second.access, 1),
    );
    assert_ne!(a["jti"], b["jti"]);
    assert_ne!(a["sid"], b["sid"]);
    let res = app.refresh_raw(&second.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    let refreshed = jwt::part(&tokens(&body(res).await).access, 1);
    assert_ne!(refreshed["jti"], b["jti"]);
    assert_eq!(refreshed["sid"], b["sid"], "a refresh stays in its session");
}

#[tokio::test]
async fn verify_accepts_a_valid_access_token_with_an_empty_object() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    assert_accepted(&app, &user.tokens.access).await;
}

#[tokio::test]
async fn verify_refuses_garbage_with_token_invalid() {
    let app = spawn_app().await;
    for garbage in ["garbage", "a.b.c", "", "eyJhbGciOiJFZERTQSJ9..."] {
        let res = app
            .post("/auth/token/verify", json!({ "token": garbage }))
            .await;
        assert_error(res, StatusCode::UNAUTHORIZED, "token_invalid").await;
    }
}

#[tokio::test]
async fn a_refresh_token_is_not_an_access_token() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    assert_refused(&app, &user.tokens.refresh, "token_invalid").await;
}

#[tokio::test]
async fn alg_none_is_refused() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let real = &user.tokens.access;
    let kid = jwt::part(real, 0)["kid"].clone();
    let header = json!({"alg": "none", "typ": "at+jwt", "kid": kid});
    let payload = real.split('.').nth(1).unwrap();
    let unsigned = format!("{}.{payload}.", jwt::b64url(header.to_string()));
    assert_refused(&app, &unsigned, "token_invalid").await;
    // The same with the claims upgraded to admin.
    let mut claims = jwt::part(real, 1);
    claims["roles"] = json!(["admin"]);
    let forged = jwt::forge(&header, &claims, |_| Vec::new());
    assert_refused(&app, &forged, "token_invalid").await;
}

#[tokio::test]
async fn hs256_keyed_with_the_public_key_bytes_is_refused() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let kid = jwt::part(&user.tokens.access, 0)["kid"].clone();
    let jwks = app.jwks().await;
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .expect("signing key published");
    let x = jwk["x"].as_str().expect("OKP x");
    let raw = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(x)
            .unwrap()
    };
    let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": kid});
    let claims = jwt::part(&user.tokens.access, 1);
    for key in [raw.as_slice(), x.as_bytes()] {
        let forged = jwt::forge(&header, &claims, |msg| hs256(key, msg));
        assert_refused(&app, &forged, "token_invalid").await;
    }
}

#[tokio::test]
async fn hs256_keyed_with_the_jwks_text_is_refused() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let kid = jwt::part(&user.tokens.access, 0)["kid"]
        .as_str()
        .unwrap()
        .to_string();
    let jwks_text = app
        .get("/.well-known/jwks.json", None)
        .await
        .text()
        .await
        .unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid);
    header.typ = Some("at+jwt".into());
    let claims = jwt::part(&user.tokens.access, 1);
    let forged = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(jwks_text.as_bytes()),
    )
    .unwrap();
    assert_refused(&app, &forged, "token_invalid").await;
}

#[tokio::test]
async fn a_tampered_payload_with_the_original_signature_is_refused() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let real = &user.tokens.access;
    let parts: Vec<&str> = real.split('.').collect();
    let mut claims = jwt::part(real, 1);
    claims["roles"] = json!(["admin"]);
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        jwt::b64url(claims.to_string()),
        parts[2]
    );
    assert_refused(&app, &tampered, "token_invalid").await;
}

#[tokio::test]
async fn an_unknown_kid_is_refused_even_when_signed_by_the_real_key() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "no-such-key"});
    let forged = app.sign_with_current_key(&header, &jwt::part(&user.tokens.access, 1));
    assert_refused(&app, &forged, "token_invalid").await;
    // Without a kid at all.
    let header = json!({"alg": "EdDSA", "typ": "at+jwt"});
    let forged = app.sign_with_current_key(&header, &jwt::part(&user.tokens.access, 1));
    assert_refused(&app, &forged, "token_invalid").await;
}

#[tokio::test]
async fn a_token_from_another_issuer_is_refused() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut claims = claims_of(&user.tokens.access);
    claims.iss = "https://evil.example.com".into();
    let forged = app
        .sesame
        .key_ring()
        .current()
        .active
        .sign_jwt(&claims)
        .unwrap();
    assert_refused(&app, &forged, "token_invalid").await;
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut claims = claims_of(&user.tokens.access);
    claims.aud = Audience::One("gallery".into());
    let forged = app
        .sesame
        .key_ring()
        .current()
        .active
        .sign_jwt(&claims)
        .unwrap();
    assert_refused(&app, &forged, "token_invalid").await;
}

#[tokio::test]
async fn an_expired_token_is_refused_with_token_expired_past_the_3s_leeway() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    app.advance(900 + 4);
    assert_refused(&app, &user.tokens.access, "token_expired").await;
}

#[tokio::test]
async fn a_token_2s_past_its_expiry_is_still_accepted_within_the_leeway() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    app.advance(900 + 2);
    assert_accepted(&app, &user.tokens.access).await;
}

#[tokio::test]
async fn a_token_not_yet_valid_is_refused() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let now = app.sesame.now().timestamp();
    let mut claims = claims_of(&user.tokens.access);
    claims.nbf = now + 60;
    claims.iat = now + 60;
    claims.exp = now + 960;
    let forged = app
        .sesame
        .key_ring()
        .current()
        .active
        .sign_jwt(&claims)
        .unwrap();
    assert_refused(&app, &forged, "token_invalid").await;
}

#[tokio::test]
async fn a_token_whose_nbf_is_2s_ahead_is_accepted_within_the_leeway() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let now = app.sesame.now().timestamp();
    let mut claims = claims_of(&user.tokens.access);
    claims.nbf = now + 2;
    let forged = app
        .sesame
        .key_ring()
        .current()
        .active
        .sign_jwt(&claims)
        .unwrap();
    assert_accepted(&app, &forged).await;
}

#[tokio::test]
async fn a_token_whose_typ_is_not_at_jwt_is_refused() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let kid = jwt::part(&user.tokens.access, 0)["kid"].clone();
    let claims = jwt::part(&user.tokens.access, 1);
    for typ in [json!("JWT"), json!("id+jwt"), Value::Null] {
        let mut header = json!({"alg": "EdDSA", "kid": kid});
        if !typ.is_null() {
            header["typ"] = typ;
        }
        let forged = app.sign_with_current_key(&header, &claims);
        assert_refused(&app, &forged, "token_invalid").await;
    }
}

#[tokio::test]
async fn a_token_signed_by_another_key_reusing_the_real_kid_is_refused() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let real_kid = jwt::part(&user.tokens.access, 0)["kid"]
        .as_str()
        .unwrap()
        .to_string();
    let other = generate_key(SigningAlg::EdDSA, KeyState::Current, Utc::now()).unwrap();
    let impostor = ActiveKey {
        kid: real_kid,
        ..ActiveKey::from_record(&other).unwrap()
    };
    let mut claims = claims_of(&user.tokens.access);
    claims.roles = vec!["admin".into()];
    let forged = impostor.sign_jwt(&claims).unwrap();
    assert_eq!(
        jwt::part(&forged, 0)["kid"],
        jwt::part(&user.tokens.access, 0)["kid"]
    );
    assert_refused(&app, &forged, "token_invalid").await;
}

/// Logs in on an app signing with `alg` and checks the header, the JWKS and that the token works.
async fn signs_with(alg: &str, kty: &str) {
    let app = spawn_app_with(&[("SESAME_SIGNING_ALG", alg)]).await;
    let user = app.new_user().await;
    let header = jwt::part(&user.tokens.access, 0);
    assert_eq!(header["alg"], alg);
    assert_eq!(header["typ"], "at+jwt");
    let keys = app.jwks_of("access").await;
    assert_eq!(keys.len(), 2);
    for k in &keys {
        assert_eq!(k["kty"], kty, "{k}");
        assert_eq!(k["alg"], alg, "{k}");
        assert_eq!(k["use"], "sig", "{k}");
    }
    assert!(keys.iter().any(|k| k["kid"] == header["kid"]));
    // SESAME_SIGNING_ALG is the access keys' alone: ID-token keys keep their own (RS256).
    let id_keys = app.jwks_of("id_token").await;
    assert_eq!(id_keys.len(), 2);
    assert!(id_keys.iter().all(|k| k["alg"] == "RS256"), "{id_keys:?}");
    assert_accepted(&app, &user.tokens.access).await;
}

#[tokio::test]
async fn es256_signing_publishes_ec_keys_and_its_tokens_work() {
    signs_with("ES256", "EC").await;
}

#[tokio::test]
async fn rs256_signing_publishes_rsa_keys_and_its_tokens_work() {
    signs_with("RS256", "RSA").await;
}

#[tokio::test]
async fn on_an_es256_app_a_token_claiming_another_algorithm_is_refused() {
    let app = spawn_app_with(&[("SESAME_SIGNING_ALG", "ES256")]).await;
    let user = app.new_user().await;
    let kid = jwt::part(&user.tokens.access, 0)["kid"]
        .as_str()
        .unwrap()
        .to_string();
    // An EdDSA key of the attacker's, under the real ES256 key's kid.
    let other = generate_key(SigningAlg::EdDSA, KeyState::Current, Utc::now()).unwrap();
    let impostor = ActiveKey {
        kid,
        ..ActiveKey::from_record(&other).unwrap()
    };
    let forged = impostor.sign_jwt(&claims_of(&user.tokens.access)).unwrap();
    assert_eq!(jwt::part(&forged, 0)["alg"], "EdDSA");
    assert_refused(&app, &forged, "token_invalid").await;
}
