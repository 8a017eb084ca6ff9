//! Hostile tokens: every one is refused, with the reason the verifier gives, and none of them
//! makes the verifier fetch keys from anywhere it was not told to (or more than the rate limit).

use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};
use sesame_verify::test_util::TestIssuer;
use sesame_verify::{AuthError, RemoteVerifier, VerifyError};

use crate::helpers::*;

/// A verifier whose refetch window (an hour) cannot pass during a test: every request the
/// issuer sees after the warm-up would be one a hostile token caused despite the rate limit.
async fn setup() -> (TestIssuer, RemoteVerifier) {
    let issuer = TestIssuer::start().await.unwrap();
    let verifier = issuer
        .verifier()
        .audience("gallery")
        .min_refetch_interval(std::time::Duration::from_secs(3600))
        .build()
        .unwrap();
    // Warm the cache, so that every later fetch is one a token caused.
    let good = issuer.token("alice", "gallery");
    verifier.verify(&good).await.unwrap();
    assert_eq!(issuer.jwks_requests(), 1);
    (issuer, verifier)
}

fn invalid(e: VerifyError) -> Result<sesame_verify::Claims, AuthError> {
    Err(AuthError::Invalid(e))
}

fn header(issuer: &TestIssuer) -> Value {
    json!({"alg": "EdDSA", "kid": issuer.current_kid(), "typ": "at+jwt"})
}

fn payload(issuer: &TestIssuer) -> Value {
    serde_json::to_value(issuer.claims("alice", "gallery")).unwrap()
}

#[tokio::test]
async fn alg_none_and_unsigned_tokens_are_refused() {
    let (issuer, v) = setup().await;
    let mut h = header(&issuer);
    h["alg"] = json!("none");
    let p = payload(&issuer);
    // The classic: no signature at all.
    let unsigned = format!("{}.{}.", b64url(h.to_string()), b64url(p.to_string()));
    assert_eq!(v.verify(&unsigned).await, invalid(VerifyError::Malformed));
    // `none` (any spelling) with something in the signature part: a header naming no
    // algorithm we know does not even parse.
    for alg in ["none", "None", "NONE", "nOnE"] {
        h["alg"] = json!(alg);
        let result = v.verify(&jwt::forge(&h, &p, |_| b"x".to_vec())).await;
        assert!(
            result == invalid(VerifyError::AlgorithmNotAllowed)
                || result == invalid(VerifyError::Malformed),
            "{alg}: {result:?}"
        );
    }
    assert_eq!(issuer.jwks_requests(), 1);
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    let (issuer, v) = setup().await;
    let jwk = issuer.current_jwk().unwrap();
    let claims = issuer.claims("alice", "gallery");
    // Key confusion: the attacker HMACs with what the verifier would use as the public key,
    // in each form a careless verifier might feed to HMAC.
    let secrets: Vec<Vec<u8>> = vec![
        jwk.x.clone().unwrap().into_bytes(),
        base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            jwk.x.clone().unwrap(),
        )
        .unwrap(),
        issuer.jwks_json().into_bytes(),
    ];
    for secret in secrets {
        for alg in [
            jsonwebtoken::Algorithm::HS256,
            jsonwebtoken::Algorithm::HS384,
            jsonwebtoken::Algorithm::HS512,
        ] {
            let mut h = Header::new(alg);
            h.kid = Some(jwk.kid.clone());
            h.typ = Some("at+jwt".into());
            let token =
                jsonwebtoken::encode(&h, &claims, &EncodingKey::from_secret(&secret)).unwrap();
            assert_eq!(
                v.verify(&token).await,
                invalid(VerifyError::AlgorithmNotAllowed)
            );
        }
    }
    assert_eq!(issuer.jwks_requests(), 1);
}

#[tokio::test]
async fn an_allowed_algorithm_other_than_the_keys_own_is_refused() {
    let (issuer, v) = setup().await;
    for alg in ["ES256", "RS256"] {
        let mut h = header(&issuer);
        h["alg"] = json!(alg);
        let token = issuer.sign_raw(&h, &payload(&issuer));
        assert_eq!(
            v.verify(&token).await,
            invalid(VerifyError::AlgorithmNotAllowed),
            "{alg}"
        );
    }
}

#[tokio::test]
async fn keys_offered_by_the_token_itself_are_never_used_or_fetched() {
    let (issuer, v) = setup().await;
    let attacker = TestIssuer::start().await.unwrap();
    let mut claims = attacker.claims("mallory", "gallery");
    claims.iss = issuer.issuer().to_string();
    // Signed by the attacker's key, which the header offers by URL (jku, x5u) and inline (jwk).
    let h = json!({
        "alg": "EdDSA",
        "typ": "at+jwt",
        "kid": attacker.current_kid(),
        "jku": format!("{}/.well-known/jwks.json", attacker.issuer()),
        "x5u": format!("{}/.well-known/jwks.json", attacker.issuer()),
        "jwk": attacker.current_jwk().unwrap(),
    });
    let token = attacker.sign_raw(&h, &serde_json::to_value(&claims).unwrap());
    assert_eq!(v.verify(&token).await, invalid(VerifyError::UnknownKey));
    // Naming the victim's kid instead: the victim's key does not verify the attacker's signature.
    let mut h = h;
    h["kid"] = json!(issuer.current_kid());
    let token = attacker.sign_raw(&h, &serde_json::to_value(&claims).unwrap());
    assert_eq!(v.verify(&token).await, invalid(VerifyError::BadSignature));
    assert_eq!(
        attacker.jwks_requests(),
        0,
        "the attacker's URL was fetched"
    );
}

#[tokio::test]
async fn a_tampered_payload_or_signature_is_refused() {
    let (issuer, v) = setup().await;
    let token = issuer.token("alice", "gallery");
    let parts: Vec<&str> = token.split('.').collect();
    // Promote ourselves: same header and signature, edited payload.
    let mut p = jwt::part(&token, 1);
    p["sub"] = json!("admin");
    p["roles"] = json!(["admin"]);
    let forged = format!("{}.{}.{}", parts[0], b64url(p.to_string()), parts[2]);
    assert_eq!(v.verify(&forged).await, invalid(VerifyError::BadSignature));
    // A flipped signature byte.
    let mut sig =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, parts[2])
            .unwrap();
    sig[0] ^= 1;
    let forged = format!("{}.{}.{}", parts[0], parts[1], b64url(&sig));
    assert_eq!(v.verify(&forged).await, invalid(VerifyError::BadSignature));
    // Another issuer's genuine token for the same audience.
    let other = TestIssuer::start().await.unwrap();
    assert_eq!(
        v.verify(&other.token("alice", "gallery")).await,
        invalid(VerifyError::UnknownKey)
    );
}

#[tokio::test]
async fn tokens_that_are_not_access_tokens_are_refused() {
    let (issuer, v) = setup().await;
    let p = payload(&issuer);
    for typ in [json!("JWT"), json!("id_token+jwt"), json!(null), json!(7)] {
        let mut h = header(&issuer);
        h["typ"] = typ.clone();
        let token = issuer.sign_raw(&h, &p);
        let result = v.verify(&token).await;
        assert!(
            result == invalid(VerifyError::WrongType) || result == invalid(VerifyError::Malformed),
            "typ {typ}: {result:?}"
        );
    }
    let mut h = header(&issuer);
    h.as_object_mut().unwrap().remove("typ");
    assert_eq!(
        v.verify(&issuer.sign_raw(&h, &p)).await,
        invalid(VerifyError::WrongType)
    );
    // RFC 9068 also allows the full media type.
    let mut h = header(&issuer);
    h["typ"] = json!("application/at+jwt");
    assert!(v.verify(&issuer.sign_raw(&h, &p)).await.is_ok());
}

#[tokio::test]
async fn issuer_audience_and_times_are_checked_with_at_most_3s_of_leeway() {
    let (issuer, v) = setup().await;
    let t = now();
    let sign = |f: &dyn Fn(&mut sesame_verify::Claims)| {
        let mut c = issuer.claims("alice", "gallery");
        c.iat = t;
        c.nbf = t;
        c.exp = t + 60;
        f(&mut c);
        issuer.sign(&c)
    };
    assert!(v.verify_at(&sign(&|_| {}), t).await.is_ok());
    let wrong_iss = sign(&|c| c.iss = "https://evil.example.com".into());
    assert_eq!(
        v.verify_at(&wrong_iss, t).await,
        invalid(VerifyError::WrongIssuer)
    );
    let other_aud = sign(&|c| c.aud = sesame_verify::Audience::One("api".into()));
    assert_eq!(
        v.verify_at(&other_aud, t).await,
        invalid(VerifyError::WrongAudience)
    );
    let many =
        sign(&|c| c.aud = sesame_verify::Audience::Many(vec!["api".into(), "gallery".into()]));
    assert!(v.verify_at(&many, t).await.is_ok());
    let token = sign(&|_| {});
    assert!(v.verify_at(&token, t + 63).await.is_ok(), "3 s after exp");
    assert_eq!(
        v.verify_at(&token, t + 64).await,
        invalid(VerifyError::Expired)
    );
    let later = sign(&|c| c.nbf = t + 10);
    assert!(v.verify_at(&later, t + 7).await.is_ok(), "3 s before nbf");
    assert_eq!(
        v.verify_at(&later, t + 6).await,
        invalid(VerifyError::NotYetValid)
    );
}

#[tokio::test]
async fn malformed_tokens_are_refused_without_fetching() {
    let (issuer, v) = setup().await;
    let good = issuer.token("alice", "gallery");
    let five_parts = format!("{good}.x.y");
    let wrong_types = {
        let mut p = payload(&issuer);
        p["exp"] = json!("tomorrow");
        issuer.sign_raw(&header(&issuer), &p)
    };
    let no_sub = {
        let mut p = payload(&issuer);
        p.as_object_mut().unwrap().remove("sub");
        issuer.sign_raw(&header(&issuer), &p)
    };
    for token in [
        "",
        "garbage",
        "a.b",
        "..",
        "a.b.c",
        five_parts.as_str(),
        wrong_types.as_str(),
        no_sub.as_str(),
        "eyJhbGciOiJFZERTQSJ9.e30.",
    ] {
        let result = v.verify(token).await;
        assert!(
            matches!(result, Err(AuthError::Invalid(_))),
            "{token:?}: {result:?}"
        );
    }
    assert_eq!(issuer.jwks_requests(), 1);
}

#[tokio::test]
async fn made_up_kids_cost_the_issuer_nothing_within_the_refetch_window() {
    let (issuer, v) = setup().await;
    let p = payload(&issuer);
    // Many tokens with unknown kids, sequential and concurrent, plus an absurdly long one.
    for i in 0..20 {
        let mut h = header(&issuer);
        h["kid"] = json!(format!("made-up-{i}"));
        assert_eq!(
            v.verify(&issuer.sign_raw(&h, &p)).await,
            invalid(VerifyError::UnknownKey)
        );
    }
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let mut h = header(&issuer);
            h["kid"] = json!(format!("concurrent-{i}"));
            let token = issuer.sign_raw(&h, &p);
            let v = v.clone();
            tokio::spawn(async move { v.verify(&token).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), invalid(VerifyError::UnknownKey));
    }
    let mut h = header(&issuer);
    h["kid"] = json!("k".repeat(10_000));
    assert_eq!(
        v.verify(&issuer.sign_raw(&h, &p)).await,
        invalid(VerifyError::UnknownKey)
    );
    // Only the warm-up fetch: within the window, made-up kids cost the issuer nothing.
    assert_eq!(issuer.jwks_requests(), 1);
}
