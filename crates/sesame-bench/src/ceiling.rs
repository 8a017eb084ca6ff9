//! The ceilings Sesame is compared with, measured by the same generator in the same run:
//! - `hello`: a bare axum server answering "hello" — what the framework, the kernel's loopback
//!   and this generator allow at all on this machine;
//! - `verify`: the same plus one full verification of an Ed25519 access token per request,
//!   exactly as Sesame's `sesame-verify` does it (jsonwebtoken on aws-lc-rs, no cache) — what a
//!   service that checks a signature on every request can reach.
//!
//! Each runs as a child process (`sesame-bench ceiling --mode ...`) on its own multi-threaded
//! runtime, like Sesame, so the generator and the server are separate processes in every row.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use sesame_core::keys::{ActiveKey, KeyState, SigningAlg, generate_key};
use sesame_verify::{Audience, Claims, KeySet, Verifier};

const ISSUER: &str = "https://ceiling.invalid";

struct Issuer {
    key: ActiveKey,
    verifier: Verifier,
}

/// Serves until killed; prints `listening ADDR` on stdout once bound.
pub async fn serve(mode: &str, listen: &str) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let app = match mode {
        "hello" => Router::new().route("/", get(|| async { "hello" })),
        "verify" => {
            let now = chrono::Utc::now();
            let rec = generate_key(SigningAlg::EdDSA, KeyState::Current, now)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let keys = KeySet::from_public_jwks(std::slice::from_ref(&rec.public_jwk))?;
            let issuer = Arc::new(Issuer {
                key: ActiveKey::from_record(&rec).map_err(|e| anyhow::anyhow!("{e}"))?,
                verifier: Verifier::new(ISSUER, ["api"], keys),
            });
            Router::new()
                .route("/token", get(token))
                .route("/verify", get(verify))
                .with_state(issuer)
        }
        other => anyhow::bail!("unknown ceiling mode {other}"),
    };
    println!("listening {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

async fn token(State(issuer): State<Arc<Issuer>>) -> Result<String, StatusCode> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
        .as_secs() as i64;
    let claims = Claims {
        iss: ISSUER.into(),
        sub: uuid::Uuid::new_v4().to_string(),
        aud: Audience::One("api".into()),
        exp: now + 3600,
        iat: now,
        nbf: now,
        jti: uuid::Uuid::new_v4().to_string(),
        client_id: "sesame".into(),
        sid: Some(uuid::Uuid::new_v4().to_string()),
        roles: vec!["customer".into()],
        scope: None,
        email_verified: Some(false),
        act: None,
        status: None,
        amr: None,
        acr: None,
    };
    issuer
        .key
        .sign_jwt(&claims)
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)
}

async fn verify(State(issuer): State<Arc<Issuer>>, headers: HeaderMap) -> StatusCode {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return StatusCode::UNAUTHORIZED;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    match issuer.verifier.verify(token, now) {
        Ok(_) => StatusCode::OK,
        Err(_) => StatusCode::UNAUTHORIZED,
    }
}
