//! The remote key cache: discovery, refetch on a new kid, the issuer being down, introspection.

use std::time::Duration;

use sesame_verify::test_util::{CLIENT_ID, CLIENT_SECRET, TestIssuer};
use sesame_verify::{AuthError, RemoteVerifier, VerifyError};

/// Polls `cond` for at most 10 s.
async fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..200 {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cond()
}

#[tokio::test]
async fn keys_are_discovered_fetched_once_and_cached() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = issuer.verifier().audience("gallery").build().unwrap();
    assert_eq!(issuer.jwks_requests(), 0, "nothing is fetched before use");
    for i in 0..10 {
        let claims = v
            .verify(&issuer.token(&format!("user-{i}"), "gallery"))
            .await
            .unwrap();
        assert_eq!(claims.sub, format!("user-{i}"));
        assert_eq!(claims.roles, vec!["customer".to_string()]);
    }
    assert_eq!(issuer.jwks_requests(), 1);
    assert_eq!(v.refresh().await.unwrap(), 1);
    assert_eq!(issuer.jwks_requests(), 2);
}

#[tokio::test]
async fn a_token_signed_by_a_new_key_triggers_a_refetch() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = issuer
        .verifier()
        .audience("gallery")
        .min_refetch_interval(Duration::ZERO)
        .build()
        .unwrap();
    let old = issuer.token("alice", "gallery");
    v.verify(&old).await.unwrap();
    let new_kid = issuer.rotate().unwrap();
    let new = issuer.token("alice", "gallery");
    assert_eq!(super::helpers::jwt::part(&new, 0)["kid"], new_kid.as_str());
    v.verify(&new).await.unwrap();
    assert_eq!(issuer.jwks_requests(), 2);
    // The old key is still published, so its tokens keep verifying.
    v.verify(&old).await.unwrap();
    assert_eq!(issuer.jwks_requests(), 2);
}

#[tokio::test]
async fn within_the_rate_limit_a_new_kid_waits_for_the_next_window() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = issuer
        .verifier()
        .audience("gallery")
        .min_refetch_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    v.verify(&issuer.token("alice", "gallery")).await.unwrap();
    issuer.rotate().unwrap();
    // Just fetched: an unknown kid does not cause another request yet.
    assert_eq!(
        v.verify(&issuer.token("alice", "gallery")).await,
        Err(AuthError::Invalid(VerifyError::UnknownKey))
    );
    assert_eq!(issuer.jwks_requests(), 1);
    // An explicit refresh is not rate-limited.
    v.refresh().await.unwrap();
    v.verify(&issuer.token("alice", "gallery")).await.unwrap();
}

#[tokio::test]
async fn cached_keys_keep_working_while_the_issuer_is_down() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = issuer
        .verifier()
        .audience("gallery")
        .min_refetch_interval(Duration::ZERO)
        .max_key_age(Duration::ZERO)
        .build()
        .unwrap();
    v.verify(&issuer.token("alice", "gallery")).await.unwrap();
    issuer.set_available(false);
    // Stale keys (max age zero) are refreshed in the background; the refresh fails...
    v.verify(&issuer.token("bob", "gallery")).await.unwrap();
    assert!(v.refresh().await.is_err());
    // ... and the keys held keep verifying.
    v.verify(&issuer.token("carol", "gallery")).await.unwrap();
    // A new kid cannot be fetched now: the token is refused as unknown, not as unavailable.
    issuer.rotate().unwrap();
    assert_eq!(
        v.verify(&issuer.token("dave", "gallery")).await,
        Err(AuthError::Invalid(VerifyError::UnknownKey))
    );
    // Back up: the new key is fetched.
    issuer.set_available(true);
    v.verify(&issuer.token("erin", "gallery")).await.unwrap();
}

#[tokio::test]
async fn stale_keys_are_refreshed_in_the_background() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = issuer
        .verifier()
        .audience("gallery")
        .min_refetch_interval(Duration::ZERO)
        .max_key_age(Duration::ZERO)
        .build()
        .unwrap();
    v.verify(&issuer.token("alice", "gallery")).await.unwrap();
    assert_eq!(issuer.jwks_requests(), 1);
    // This verification uses the keys held and starts a refresh on the side.
    v.verify(&issuer.token("bob", "gallery")).await.unwrap();
    assert!(eventually(|| issuer.jwks_requests() >= 2).await);
}

#[tokio::test]
async fn a_verifier_that_never_got_keys_answers_unavailable() {
    let issuer = TestIssuer::start().await.unwrap();
    issuer.set_available(false);
    let v = issuer.verifier().audience("gallery").build().unwrap();
    let token = issuer.token("alice", "gallery");
    assert_eq!(v.verify(&token).await, Err(AuthError::KeysUnavailable));
    issuer.set_available(true);
    // The cold-start retry waits at most a second.
    let mut ok = false;
    for _ in 0..40 {
        if v.verify(&token).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "keys were fetched once the issuer was back");

    // Nobody listening at all.
    let gone = format!(
        "http://127.0.0.1:{}",
        sesame_testkit::free_port().expect("a free port")
    );
    let v = RemoteVerifier::builder(gone)
        .audience("gallery")
        .build()
        .unwrap();
    assert_eq!(v.verify(&token).await, Err(AuthError::KeysUnavailable));
}

#[tokio::test]
async fn discovery_must_name_the_configured_issuer() {
    let issuer = TestIssuer::start().await.unwrap();
    // Reached at the test issuer's address, but configured for another issuer name.
    let v = RemoteVerifier::builder("https://auth.example.com")
        .backchannel(issuer.issuer())
        .audience("gallery")
        .build()
        .unwrap();
    let err = v.refresh().await.unwrap_err();
    assert!(
        matches!(
            err,
            sesame_verify::remote::FetchError::IssuerMismatch { .. }
        ),
        "{err}"
    );
    assert_eq!(issuer.jwks_requests(), 0);
}

#[tokio::test]
async fn a_fixed_jwks_url_skips_discovery() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = issuer
        .verifier()
        .jwks_url(format!("{}/.well-known/jwks.json", issuer.issuer()))
        .audience("gallery")
        .build()
        .unwrap();
    v.verify(&issuer.token("alice", "gallery")).await.unwrap();
}

#[tokio::test]
async fn the_builder_refuses_nonsense() {
    use sesame_verify::remote::BuildError;
    assert!(matches!(
        RemoteVerifier::builder("not a url").audience("a").build(),
        Err(BuildError::InvalidIssuer(_))
    ));
    assert!(matches!(
        RemoteVerifier::builder("ftp://x.example")
            .audience("a")
            .build(),
        Err(BuildError::InvalidIssuer(_))
    ));
    assert!(matches!(
        RemoteVerifier::builder("https://x.example").build(),
        Err(BuildError::NoAudience)
    ));
    assert!(matches!(
        RemoteVerifier::builder("https://x.example")
            .audience("a")
            .trust_ca_pem(b"not a certificate".to_vec())
            .build(),
        Err(BuildError::InvalidCa(_))
    ));
}

#[tokio::test]
async fn introspection_mode_refuses_revoked_tokens_at_once() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = issuer
        .verifier()
        .audience("gallery")
        .introspection(CLIENT_ID, CLIENT_SECRET.to_string())
        .build()
        .unwrap();
    assert!(v.introspects());
    let claims = issuer.claims("alice", "gallery");
    let token = issuer.sign(&claims);
    v.verify(&token).await.unwrap();
    assert_eq!(issuer.introspections(), 1);
    issuer.revoke(&claims.jti);
    assert_eq!(v.verify(&token).await, Err(AuthError::Inactive));
    // Garbage never reaches the introspection endpoint.
    let before = issuer.introspections();
    assert!(v.verify("garbage").await.is_err());
    assert_eq!(issuer.introspections(), before);
    // Fails closed when the endpoint does not answer.
    issuer.set_available(false);
    assert_eq!(
        v.verify(&issuer.token("bob", "gallery")).await,
        Err(AuthError::IntrospectionUnavailable)
    );
}

#[tokio::test]
async fn introspection_with_wrong_credentials_fails_closed() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = issuer
        .verifier()
        .audience("gallery")
        .introspection(CLIENT_ID, "wrong".to_string())
        .build()
        .unwrap();
    assert_eq!(
        v.verify(&issuer.token("alice", "gallery")).await,
        Err(AuthError::IntrospectionUnavailable)
    );
}

#[tokio::test]
async fn debug_output_shows_no_client_secret() {
    let issuer = TestIssuer::start().await.unwrap();
    let v = issuer
        .verifier()
        .audience("gallery")
        .introspection(CLIENT_ID, "very-secret-value".to_string())
        .build()
        .unwrap();
    let shown = format!("{v:?}");
    assert!(shown.contains("RemoteVerifier"), "{shown}");
    assert!(!shown.contains("very-secret-value"), "{shown}");
}
