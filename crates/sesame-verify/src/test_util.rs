//! A stand-in for Sesame in a service's own tests (feature `test-util`).
//!
//! [`TestIssuer::start`] serves, on `http://127.0.0.1:<random port>`, what a relying service
//! reads from Sesame: discovery, a JWKS and RFC 7662 introspection. It signs tokens exactly as
//! Sesame does (EdDSA, `typ: at+jwt`, the same claims) with a key it generates, so a service
//! tests its real verification path without a running Sesame:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use sesame_verify::test_util::TestIssuer;
//! let issuer = TestIssuer::start().await?;
//! let verifier = issuer.verifier().audience("gallery").build()?;
//! let token = issuer.token("user-1", "gallery");
//! assert_eq!(verifier.verify(&token).await?.sub, "user-1");
//! # Ok(()) }
//! ```
//!
//! Knobs for the unhappy paths: [`TestIssuer::rotate`] (a new signing key), [`TestIssuer::revoke`]
//! (introspection then answers `active: false`), [`TestIssuer::set_available`] (answer 503, as a
//! Sesame that is down), [`TestIssuer::jwks_requests`] (how often keys were fetched), and
//! [`TestIssuer::sign_raw`] to forge any header and payload with the real key.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use ::axum::extract::State;
use ::axum::http::{HeaderMap, StatusCode, header};
use ::axum::response::{IntoResponse, Response};
use ::axum::routing::{get, post};
use ::axum::{Form, Json, Router};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::remote::{RemoteVerifier, RemoteVerifierBuilder};
use crate::{Audience, Claims, KeySet, PublicJwk, Verifier};

/// The client credentials the test issuer's introspection endpoint accepts.
pub const CLIENT_ID: &str = "test-client";
pub const CLIENT_SECRET: &str = "test-client-secret";

/// Access tokens minted by [`TestIssuer::claims`] live this long, like Sesame's default.
pub const TOKEN_TTL_SECS: i64 = 900;

struct TestKey {
    pair: Ed25519KeyPair,
    jwk: PublicJwk,
}

struct Shared {
    issuer: String,
    /// Every published key; the last one signs.
    keys: Mutex<Vec<TestKey>>,
    revoked: Mutex<HashSet<String>>,
    available: AtomicBool,
    jwks_requests: AtomicUsize,
    introspections: AtomicUsize,
}

/// A fake Sesame: see the module documentation. Stops serving when dropped.
pub struct TestIssuer {
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl std::fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIssuer")
            .field("issuer", &self.shared.issuer)
            .field("kid", &self.current_kid())
            .finish_non_exhaustive()
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[allow(
    clippy::disallowed_methods,
    reason = "the test issuer mints tokens for the real verifiers, which read the system time"
)]
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn new_key() -> std::io::Result<TestKey> {
    let pair = Ed25519KeyPair::generate()
        .map_err(|_| std::io::Error::other("cannot generate an Ed25519 key"))?;
    let x = B64.encode(pair.public_key().as_ref());
    let kid = format!("test-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let jwk = PublicJwk {
        kty: "OKP".into(),
        kid,
        alg: "EdDSA".into(),
        use_: "sig".into(),
        crv: Some("Ed25519".into()),
        x: Some(x),
        y: None,
        n: None,
        e: None,
    };
    Ok(TestKey { pair, jwk })
}

impl TestIssuer {
    /// Generates a key and starts serving on a random local port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let issuer = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
        let shared = Arc::new(Shared {
            issuer,
            keys: Mutex::new(vec![new_key()?]),
            revoked: Mutex::default(),
            available: AtomicBool::new(true),
            jwks_requests: AtomicUsize::new(0),
            introspections: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/.well-known/jwks.json", get(jwks))
            .route("/oauth/introspect", post(introspect))
            .with_state(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = ::axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(TestIssuer {
            shared,
            shutdown: Some(tx),
        })
    }

    /// The issuer URL (`iss` of its tokens, base of discovery).
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    /// A [`RemoteVerifier`] builder for this issuer; add the audience and build.
    pub fn verifier(&self) -> RemoteVerifierBuilder {
        RemoteVerifier::builder(self.issuer())
    }

    /// Claims as Sesame would issue them to a user who logged in for `audience`, valid from
    /// now for [`TOKEN_TTL_SECS`], with the role `customer`. Change any field, then [`Self::sign`].
    pub fn claims(&self, sub: &str, audience: &str) -> Claims {
        let now = unix_now();
        Claims {
            iss: self.shared.issuer.clone(),
            sub: sub.to_string(),
            aud: Audience::One(audience.to_string()),
            exp: now + TOKEN_TTL_SECS,
            iat: now,
            nbf: now,
            jti: uuid::Uuid::new_v4().to_string(),
            client_id: "sesame".into(),
            sid: Some(uuid::Uuid::new_v4().to_string()),
            roles: vec!["customer".into()],
            scope: None,
            email_verified: None,
            act: None,
            status: None,
            amr: None,
            acr: None,
        }
    }

    /// Signs claims with the current key, with Sesame's header.
    pub fn sign(&self, claims: &Claims) -> String {
        let header = json!({"alg": "EdDSA", "kid": self.current_kid(), "typ": "at+jwt"});
        let payload = serde_json::to_value(claims).unwrap_or(Value::Null);
        self.sign_raw(&header, &payload)
    }

    /// A fresh, valid token for `sub` and `audience`.
    pub fn token(&self, sub: &str, audience: &str) -> String {
        self.sign(&self.claims(sub, audience))
    }

    /// A fresh, valid token with these roles.
    pub fn token_with_roles(&self, sub: &str, audience: &str, roles: &[&str]) -> String {
        let mut claims = self.claims(sub, audience);
        claims.roles = roles.iter().map(|r| r.to_string()).collect();
        self.sign(&claims)
    }

    /// Any header and payload, signed (EdDSA) with the current key: for hostile-token tests.
    pub fn sign_raw(&self, header: &Value, payload: &Value) -> String {
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(payload.to_string())
        );
        let keys = lock(&self.shared.keys);
        let sig = keys
            .last()
            .map(|k| k.pair.sign(input.as_bytes()).as_ref().to_vec())
            .unwrap_or_default();
        format!("{input}.{}", B64.encode(sig))
    }

    /// The `kid` that signs now.
    pub fn current_kid(&self) -> String {
        lock(&self.shared.keys)
            .last()
            .map(|k| k.jwk.kid.clone())
            .unwrap_or_default()
    }

    /// The public key that signs now.
    pub fn current_jwk(&self) -> Option<PublicJwk> {
        lock(&self.shared.keys).last().map(|k| k.jwk.clone())
    }

    /// A new signing key, published from now on; the old keys stay published. Returns its kid.
    pub fn rotate(&self) -> std::io::Result<String> {
        let key = new_key()?;
        let kid = key.jwk.kid.clone();
        lock(&self.shared.keys).push(key);
        Ok(kid)
    }

    /// The published JWKS document.
    pub fn jwks_json(&self) -> String {
        jwks_document(&self.shared).to_string()
    }

    /// The published keys, for an offline [`Verifier`].
    pub fn key_set(&self) -> KeySet {
        let jwks: Vec<PublicJwk> = lock(&self.shared.keys)
            .iter()
            .map(|k| k.jwk.clone())
            .collect();
        KeySet::from_public_jwks(&jwks).unwrap_or_default()
    }

    /// Introspection answers `active: false` for this `jti` from now on (a logout).
    pub fn revoke(&self, jti: &str) {
        lock(&self.shared.revoked).insert(jti.to_string());
    }

    /// `false`: every endpoint answers 503, as an issuer that is down.
    pub fn set_available(&self, available: bool) {
        self.shared.available.store(available, Ordering::SeqCst);
    }

    /// How many JWKS requests were answered or refused so far.
    pub fn jwks_requests(&self) -> usize {
        self.shared.jwks_requests.load(Ordering::SeqCst)
    }

    /// How many introspection requests arrived so far.
    pub fn introspections(&self) -> usize {
        self.shared.introspections.load(Ordering::SeqCst)
    }
}

fn jwks_document(shared: &Shared) -> Value {
    let keys: Vec<PublicJwk> = lock(&shared.keys).iter().map(|k| k.jwk.clone()).collect();
    json!({ "keys": keys })
}

fn down() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"detail": "The test issuer is down.", "code": "unavailable"})),
    )
        .into_response()
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Response {
    if !shared.available.load(Ordering::SeqCst) {
        return down();
    }
    let iss = &shared.issuer;
    Json(json!({
        "issuer": iss,
        "jwks_uri": format!("{iss}/.well-known/jwks.json"),
        "introspection_endpoint": format!("{iss}/oauth/introspect"),
        "access_token_signing_alg_values_supported": ["EdDSA"],
    }))
    .into_response()
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Response {
    shared.jwks_requests.fetch_add(1, Ordering::SeqCst);
    if !shared.available.load(Ordering::SeqCst) {
        return down();
    }
    Json(jwks_document(&shared)).into_response()
}

#[derive(Deserialize)]
struct IntrospectForm {
    token: String,
}

fn client_authenticated(headers: &HeaderMap) -> bool {
    let Some(encoded) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    else {
        return false;
    };
    let Ok(decoded) = STANDARD.decode(encoded.trim()) else {
        return false;
    };
    decoded == format!("{CLIENT_ID}:{CLIENT_SECRET}").as_bytes()
}

async fn introspect(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<IntrospectForm>,
) -> Response {
    shared.introspections.fetch_add(1, Ordering::SeqCst);
    if !shared.available.load(Ordering::SeqCst) {
        return down();
    }
    if !client_authenticated(&headers) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"test-issuer\"")],
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let keys: Vec<PublicJwk> = lock(&shared.keys).iter().map(|k| k.jwk.clone()).collect();
    let verifier = match KeySet::from_public_jwks(&keys) {
        Ok(set) => Verifier::new(shared.issuer.clone(), Vec::<String>::new(), set),
        Err(_) => return Json(json!({"active": false})).into_response(),
    };
    match verifier.verify_for(&form.token, unix_now(), None) {
        Ok(c) if !lock(&shared.revoked).contains(&c.jti) => Json(json!({
            "active": true,
            "sub": c.sub,
            "client_id": c.client_id,
            "aud": c.aud,
            "exp": c.exp,
            "iat": c.iat,
            "scope": c.scope,
            "sid": c.sid,
            "roles": c.roles,
            "token_type": "access_token",
        }))
        .into_response(),
        _ => Json(json!({"active": false})).into_response(),
    }
}
