//! The verified-token cache: a hit skips the signature check but never the claim checks, only
//! authentic tokens go in, a key that left the key set stops vouching for its entries, and the
//! cache stays within its bound.

use std::sync::Arc;

use sesame_verify::test_util::TestIssuer;
use sesame_verify::{KeySet, TokenCache, Verifier, VerifyError};

use crate::helpers::now;

fn cached(issuer: &TestIssuer, cache: &Arc<TokenCache>) -> Verifier {
    Verifier::new(issuer.issuer(), ["gallery"], issuer.key_set()).with_cache(cache.clone())
}

#[tokio::test]
async fn a_token_seen_again_is_served_from_the_cache() {
    let issuer = TestIssuer::start().await.unwrap();
    let cache = Arc::new(TokenCache::new(100));
    let v = cached(&issuer, &cache);
    let token = issuer.token("alice", "gallery");
    let first = v.verify_shared(&token, now()).unwrap();
    assert_eq!(cache.len(), 1);
    let again = v.verify_shared(&token, now()).unwrap();
    // The very same claims: no signature check, no parse.
    assert!(Arc::ptr_eq(&first, &again));
    assert_eq!(v.verify(&token, now()).unwrap().sub, "alice");
    assert_eq!(cache.len(), 1);
}

#[tokio::test]
async fn every_hit_still_checks_expiry_issuer_and_audience() {
    let issuer = TestIssuer::start().await.unwrap();
    let cache = Arc::new(TokenCache::new(100));
    let v = cached(&issuer, &cache);
    let mut claims = issuer.claims("alice", "gallery");
    claims.exp = now() + 5;
    let token = issuer.sign(&claims);
    v.verify(&token, now()).unwrap();
    assert_eq!(cache.len(), 1);
    // Another verifier sharing the cache, for another audience: the hit is refused.
    let other =
        Verifier::new(issuer.issuer(), ["billing"], issuer.key_set()).with_cache(cache.clone());
    assert_eq!(
        other.verify(&token, now()).unwrap_err(),
        VerifyError::WrongAudience
    );
    // Audience-free checks (introspection, forward-auth) share it, and can still narrow.
    assert!(v.verify_for(&token, now(), None).is_ok());
    assert_eq!(
        v.verify_for(&token, now(), Some("billing")).unwrap_err(),
        VerifyError::WrongAudience
    );
    // Past exp plus the leeway, the cached entry is refused, and dropped.
    let later = claims.exp + sesame_verify::DEFAULT_LEEWAY_SECS + 1;
    assert_eq!(v.verify(&token, later).unwrap_err(), VerifyError::Expired);
    assert_eq!(
        v.verify_for(&token, later, None).unwrap_err(),
        VerifyError::Expired
    );
    assert_eq!(cache.len(), 0);
    // An expired token is never stored in the first place.
    assert_eq!(v.verify(&token, later).unwrap_err(), VerifyError::Expired);
    assert_eq!(cache.len(), 0);
}

#[tokio::test]
async fn tampered_and_forged_tokens_never_hit_and_never_enter() {
    let issuer = TestIssuer::start().await.unwrap();
    let cache = Arc::new(TokenCache::new(100));
    let v = cached(&issuer, &cache);
    let token = issuer.token("alice", "gallery");
    v.verify(&token, now()).unwrap();
    // Same header and signature, another payload (admin role): a different digest, so a full
    // check, which fails.
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = issuer.claims("alice", "gallery");
    claims.roles = vec!["admin".into()];
    let payload = crate::helpers::b64url(serde_json::to_vec(&claims).unwrap());
    let tampered = format!("{}.{}.{}", parts[0], payload, parts[2]);
    assert_eq!(
        v.verify(&tampered, now()).unwrap_err(),
        VerifyError::BadSignature
    );
    // One character changed in the signature.
    let mut sig = parts[2].to_string();
    let last = sig.pop().unwrap();
    sig.push(if last == 'A' { 'B' } else { 'A' });
    let flipped = format!("{}.{}.{}", parts[0], parts[1], sig);
    assert!(v.verify(&flipped, now()).is_err());
    // Signed by another issuer's key under our kid.
    let stranger = TestIssuer::start().await.unwrap();
    let forged = stranger.sign(&issuer.claims("alice", "gallery"));
    assert!(v.verify(&forged, now()).is_err());
    assert_eq!(cache.len(), 1, "only the genuine token is cached");
}

#[tokio::test]
async fn entries_count_only_while_their_key_is_trusted() {
    let issuer = TestIssuer::start().await.unwrap();
    let cache = Arc::new(TokenCache::new(100));
    let v = cached(&issuer, &cache);
    let old_kid = issuer.current_kid();
    let token = issuer.token("alice", "gallery");
    v.verify(&token, now()).unwrap();
    // Rotation: the old key stays published, so its cached tokens stay good.
    issuer.rotate().unwrap();
    let rotated = cached(&issuer, &cache);
    assert!(rotated.verify(&token, now()).is_ok());
    assert_eq!(cache.len(), 1);
    // The old key removed from the set (e.g. compromised): the entry no longer counts.
    let jwks: Vec<_> = [issuer.current_jwk().unwrap()].to_vec();
    let without_old = Verifier::new(
        issuer.issuer(),
        ["gallery"],
        KeySet::from_public_jwks(&jwks).unwrap(),
    )
    .with_cache(cache.clone());
    assert_eq!(
        without_old.verify(&token, now()).unwrap_err(),
        VerifyError::UnknownKey
    );
    assert_eq!(cache.len(), 0);
    // Re-cache it, then replace the old key's material under the same kid: refused too.
    v.verify(&token, now()).unwrap();
    let mut impostor = TestIssuer::start().await.unwrap().current_jwk().unwrap();
    impostor.kid = old_kid;
    let replaced = Verifier::new(
        issuer.issuer(),
        ["gallery"],
        KeySet::from_public_jwks(&[impostor]).unwrap(),
    )
    .with_cache(cache.clone());
    assert_eq!(
        replaced.verify(&token, now()).unwrap_err(),
        VerifyError::BadSignature
    );
}

#[tokio::test]
async fn the_cache_stays_within_its_bound() {
    let issuer = TestIssuer::start().await.unwrap();
    let cache = Arc::new(TokenCache::new(50));
    let v = cached(&issuer, &cache);
    for i in 0..500 {
        v.verify(&issuer.token(&format!("user{i}"), "gallery"), now())
            .unwrap();
        assert!(cache.len() <= 50, "{} entries", cache.len());
    }
    assert!(cache.len() > 10, "it does cache: {}", cache.len());
}

#[tokio::test]
async fn the_remote_verifier_caches_and_can_be_told_not_to() {
    let issuer = TestIssuer::start().await.unwrap();
    let token = issuer.token("alice", "gallery");
    let v = issuer.verifier().audience("gallery").build().unwrap();
    v.verify(&token).await.unwrap();
    v.verify(&token).await.unwrap();
    let off = issuer
        .verifier()
        .audience("gallery")
        .token_cache(0)
        .build()
        .unwrap();
    assert_eq!(off.verify(&token).await.unwrap().sub, "alice");
}
