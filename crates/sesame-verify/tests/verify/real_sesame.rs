//! Against a real Sesame over HTTPS: discovery through its self-signed certificate, its tokens,
//! its key rotation, its introspection, and hostile tokens signed with its real key.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use sesame_core::clients::NewClient;
use sesame_core::sessions::ClientInfo;
use sesame_verify::{AuthError, RemoteVerifier, VerifyError};

use crate::helpers::*;

fn verifier(s: &RealSesame) -> RemoteVerifier {
    RemoteVerifier::builder(&s.issuer)
        .audience("gallery")
        .trust_ca_pem(s.cert_pem.clone())
        .min_refetch_interval(Duration::ZERO)
        .build()
        .unwrap()
}

#[tokio::test]
async fn sesame_tokens_for_the_gallery_verify_with_discovered_keys() {
    let s = RealSesame::start().await;
    let v = verifier(&s);
    assert!(v.refresh().await.unwrap() >= 1);
    let (id, username) = s.register().await;
    let login = s.login(&username, Some("gallery")).await;
    let claims = v.verify(&login.access).await.unwrap();
    assert_eq!(claims.sub, id);
    assert_eq!(claims.iss, s.issuer);
    assert!(claims.aud.contains("gallery"));
    assert!(claims.has_role("customer"));
    assert!(claims.sid.is_some());
    // A login for the default audience (api) is not for the gallery.
    let api = s.login(&username, None).await;
    assert_eq!(
        v.verify(&api.access).await,
        Err(AuthError::Invalid(VerifyError::WrongAudience))
    );
}

#[tokio::test]
async fn without_trusting_the_certificate_nothing_is_fetched() {
    let s = RealSesame::start().await;
    let v = RemoteVerifier::builder(&s.issuer)
        .audience("gallery")
        .build()
        .unwrap();
    assert!(v.refresh().await.is_err());
    let (_, username) = s.register().await;
    let login = s.login(&username, Some("gallery")).await;
    assert_eq!(
        v.verify(&login.access).await,
        Err(AuthError::KeysUnavailable)
    );
}

#[tokio::test]
async fn tokens_keep_verifying_across_key_rotations() {
    let s = RealSesame::start().await;
    let v = verifier(&s);
    let (_, username) = s.register().await;
    let before = s.login(&username, Some("gallery")).await;
    v.verify(&before.access).await.unwrap();
    let first_kid = s.signing_kid();
    for _ in 0..2 {
        s.sesame
            .keys()
            .rotate(None, &ClientInfo::default())
            .await
            .unwrap();
        let after = s.login(&username, Some("gallery")).await;
        assert_ne!(jwt::part(&after.access, 0)["kid"], first_kid.as_str());
        v.verify(&after.access).await.unwrap();
    }
    // Signed by a retired key that Sesame still publishes until its tokens expire.
    v.verify(&before.access).await.unwrap();
}

#[tokio::test]
async fn hostile_tokens_signed_with_sesames_own_key_are_refused() {
    let s = RealSesame::start().await;
    let v = verifier(&s);
    let (_, username) = s.register().await;
    let genuine = s.login(&username, Some("gallery")).await.access;
    v.verify(&genuine).await.unwrap();
    let header = jwt::part(&genuine, 0);
    let payload = jwt::part(&genuine, 1);
    // Re-signing Sesame's own header and claims is fine (the baseline is right)...
    assert!(
        v.verify(&s.sign_with_real_key(&header, &payload))
            .await
            .is_ok()
    );
    // ... but not as another type, another algorithm, another issuer, or after expiry.
    let mut h = header.clone();
    h["typ"] = json!("JWT");
    assert_eq!(
        v.verify(&s.sign_with_real_key(&h, &payload)).await,
        Err(AuthError::Invalid(VerifyError::WrongType))
    );
    let mut h = header.clone();
    h["alg"] = json!("RS256");
    assert_eq!(
        v.verify(&s.sign_with_real_key(&h, &payload)).await,
        Err(AuthError::Invalid(VerifyError::AlgorithmNotAllowed))
    );
    let mut p = payload.clone();
    p["iss"] = json!("https://evil.example.com");
    assert_eq!(
        v.verify(&s.sign_with_real_key(&header, &p)).await,
        Err(AuthError::Invalid(VerifyError::WrongIssuer))
    );
    let mut p = payload.clone();
    p["exp"] = json!(now() - 60);
    assert_eq!(
        v.verify(&s.sign_with_real_key(&header, &p)).await,
        Err(AuthError::Invalid(VerifyError::Expired))
    );
    // HS256 keyed with Sesame's published public key.
    let jwks: serde_json::Value = s
        .client
        .get(format!("{}/.well-known/jwks.json", s.issuer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let x = jwks["keys"][0]["x"].as_str().unwrap();
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    h.kid = header["kid"].as_str().map(str::to_string);
    h.typ = Some("at+jwt".into());
    let confused = jsonwebtoken::encode(
        &h,
        &payload,
        &jsonwebtoken::EncodingKey::from_secret(x.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        v.verify(&confused).await,
        Err(AuthError::Invalid(VerifyError::AlgorithmNotAllowed))
    );
}

#[tokio::test]
async fn introspection_sees_a_logout_that_offline_verification_cannot() {
    let s = RealSesame::start().await;
    let created = s
        .sesame
        .clients()
        .create(
            NewClient {
                name: "gallery".into(),
                audiences: vec!["gallery".into()],
                scopes: vec![],
                delegable_roles: vec![],
                oauth: Default::default(),
            },
            None,
            &ClientInfo::default(),
        )
        .await
        .unwrap();
    let offline = verifier(&s);
    let online = RemoteVerifier::builder(&s.issuer)
        .audience("gallery")
        .trust_ca_pem(s.cert_pem.clone())
        .introspection(
            created.client.client_id.clone(),
            created.secret.expect("a confidential client"),
        )
        .build()
        .unwrap();
    let (_, username) = s.register().await;
    let login = s.login(&username, Some("gallery")).await;
    online.verify(&login.access).await.unwrap();
    offline.verify(&login.access).await.unwrap();

    let res = s
        .post(
            "/auth/logout",
            Some(&login.access),
            json!({"refresh_token": login.refresh}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(online.verify(&login.access).await, Err(AuthError::Inactive));
    // Offline with the status list check turned off, the documented trade-off: the token is
    // accepted until it expires. (With it on, see `status_lists.rs`.)
    let blind = RemoteVerifier::builder(&s.issuer)
        .audience("gallery")
        .trust_ca_pem(s.cert_pem.clone())
        .status_lists(false)
        .build()
        .unwrap();
    assert!(blind.verify(&login.access).await.is_ok());
    drop(offline);

    let wrong = RemoteVerifier::builder(&s.issuer)
        .audience("gallery")
        .trust_ca_pem(s.cert_pem.clone())
        .introspection(created.client.client_id.clone(), "wrong-secret".to_string())
        .build()
        .unwrap();
    let fresh = s.login(&username, Some("gallery")).await;
    assert_eq!(
        wrong.verify(&fresh.access).await,
        Err(AuthError::IntrospectionUnavailable)
    );
}

#[tokio::test]
async fn keys_held_keep_verifying_after_sesame_stops() {
    let mut s = RealSesame::start().await;
    let v = verifier(&s);
    let (_, username) = s.register().await;
    let login = s.login(&username, Some("gallery")).await;
    v.verify(&login.access).await.unwrap();
    s.stop();
    // Wait (bounded) until Sesame really refuses connections.
    let mut down = false;
    for _ in 0..100 {
        if v.refresh().await.is_err() {
            down = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(down, "Sesame stopped");
    v.verify(&login.access).await.unwrap();
}
