//! Micro-benchmarks of what a request costs in CPU: signing and verifying an access token per
//! algorithm, the verified-token cache (hit and miss), refresh-token hashing, and one argon2id
//! hash at the default cost. `cargo bench -p sesame-core` (add a filter to run one group).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark stamps its fixtures with the real time"
)]

use std::hint::black_box;
use std::sync::Arc;

use chrono::Utc;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use secrecy::SecretString;
use sesame_core::hashing::PasswordHasher;
use sesame_core::keys::{ActiveKey, KeyState, SigningAlg, generate_key};
use sesame_core::refresh_token::RefreshKeys;
use sesame_core::secret::secret_bytes;
use sesame_core::settings::Argon2Cost;
use sesame_verify::{Audience, Claims, KeySet, TokenCache, Verifier};

const ISSUER: &str = "https://bench.invalid";

fn claims(now: i64) -> Claims {
    Claims {
        iss: ISSUER.into(),
        sub: uuid::Uuid::new_v4().to_string(),
        aud: Audience::One("api".into()),
        exp: now + 900,
        iat: now,
        nbf: now,
        jti: uuid::Uuid::new_v4().to_string(),
        client_id: "sesame".into(),
        sid: Some(uuid::Uuid::new_v4().to_string()),
        roles: vec!["customer".into()],
        scope: None,
        email_verified: Some(true),
        act: None,
        status: None,
        amr: None,
        acr: None,
    }
}

fn key(alg: SigningAlg) -> (ActiveKey, KeySet) {
    let rec = generate_key(alg, KeyState::Current, Utc::now()).unwrap();
    let keys = KeySet::from_public_jwks(std::slice::from_ref(&rec.public_jwk)).unwrap();
    (ActiveKey::from_record(&rec).unwrap(), keys)
}

fn sign_and_verify(c: &mut Criterion) {
    let now = Utc::now().timestamp();
    for alg in [SigningAlg::EdDSA, SigningAlg::ES256, SigningAlg::RS256] {
        let (signer, keys) = key(alg);
        let verifier = Verifier::new(ISSUER, ["api"], keys);
        let token = signer.sign_jwt(&claims(now)).unwrap();
        let mut g = c.benchmark_group(format!("token/{}", alg.as_str()));
        g.bench_function("sign", |b| {
            let cl = claims(now);
            b.iter(|| signer.sign_jwt(black_box(&cl)).unwrap())
        });
        g.bench_function("verify (no cache)", |b| {
            b.iter(|| verifier.verify(black_box(&token), now).unwrap())
        });
        g.finish();
    }
}

fn cache(c: &mut Criterion) {
    let now = Utc::now().timestamp();
    let (signer, keys) = key(SigningAlg::EdDSA);
    let cache = Arc::new(TokenCache::default());
    let verifier = Verifier::new(ISSUER, ["api"], keys).with_cache(cache.clone());
    let token = signer.sign_jwt(&claims(now)).unwrap();
    verifier.verify(&token, now).unwrap();
    let mut g = c.benchmark_group("token cache (EdDSA)");
    g.bench_function("hit (shared claims)", |b| {
        b.iter(|| verifier.verify_shared(black_box(&token), now).unwrap())
    });
    g.bench_function("hit (owned claims)", |b| {
        b.iter(|| verifier.verify(black_box(&token), now).unwrap())
    });
    // A miss: a token never seen, verified in full and inserted (the cache is full and evicts).
    g.bench_function("miss (verify + insert)", |b| {
        b.iter_batched(
            || signer.sign_jwt(&claims(now)).unwrap(),
            |t| verifier.verify_shared(&t, now).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn refresh_tokens(c: &mut Criterion) {
    let keys = RefreshKeys::new(&secret_bytes(vec![7; 32]));
    let session = uuid::Uuid::now_v7();
    let t = keys.issue(session);
    let mut g = c.benchmark_group("refresh token");
    g.bench_function("issue", |b| b.iter(|| keys.issue(black_box(session))));
    g.bench_function("hash (SHA-256, what the store keeps)", |b| {
        b.iter(|| black_box(&t).hash())
    });
    g.bench_function("successor (HMAC-SHA256 + tag)", |b| {
        b.iter(|| keys.successor(black_box(&t), session))
    });
    g.bench_function("authentic (tag check)", |b| {
        b.iter(|| keys.authentic(black_box(&t)))
    });
    g.finish();
}

fn argon2(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let hasher = PasswordHasher::new(&Argon2Cost::default(), 1, 4).unwrap();
    let pw = SecretString::from("correct horse battery staple".to_string());
    let phc = rt.block_on(hasher.hash(&pw)).unwrap();
    let mut g = c.benchmark_group("argon2id (default cost)");
    g.sample_size(10);
    g.bench_function("hash", |b| {
        b.iter(|| rt.block_on(hasher.hash(&pw)).unwrap())
    });
    g.bench_function("verify", |b| {
        b.iter(|| rt.block_on(hasher.verify(&pw, Some(&phc))).unwrap())
    });
    g.finish();
}

criterion_group!(benches, sign_and_verify, cache, refresh_tokens, argon2);
criterion_main!(benches);
