//! Verify Sesame access tokens.
//!
//! Sesame issues RFC 9068 access tokens (`typ: at+jwt`) signed with EdDSA, ES256 or RS256 and
//! publishes the public keys as a JWKS. This crate holds the token format ([`Claims`]) and the
//! checks every relying service must make ([`Verifier`]): the algorithm is pinned to an
//! allow-list and to the algorithm of the key named by `kid` (never taken from the token alone,
//! which defeats `alg=none` and HS256-with-a-public-key confusion), then signature, `typ`,
//! `iss`, `aud`, `exp` and `nbf` with a small leeway.
//!
//! A service usually wants more than the checks, and opts in with features:
//!
//! | feature | gives |
//! |---|---|
//! | (none) | [`Claims`], [`KeySet`], [`Verifier`]: offline checks against keys you supply |
//! | `remote` | `RemoteVerifier`: JWKS discovered from the issuer URL, cached by `kid`, refetched on an unknown `kid` (rate-limited), kept while the issuer is down; optional RFC 7662 introspection |
//! | `axum` | `axum::Authenticated` and `axum::RequireRole` extractors (401/403 in the contract's `{detail, code}` shape, `WWW-Authenticate` on 401) |
//! | `test-util` | `test_util::TestIssuer`: mints tokens with its own key and serves discovery, JWKS and introspection |
//!
//! With features `remote` and `axum`, a service that trusts Sesame is ten lines:
//!
//! ```no_run
//! # #[cfg(feature = "axum")]
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::{Router, routing::get};
//! use sesame_verify::{RemoteVerifier, axum::Authenticated};
//!
//! async fn whoami(Authenticated(claims): Authenticated) -> String {
//!     format!("hello {} with roles {:?}", claims.sub, claims.roles)
//! }
//!
//! let verifier = RemoteVerifier::builder("https://auth.example.com").audience("gallery").build()?;
//! let app = Router::new().route("/whoami", get(whoami)).with_state(verifier);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8081").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! Without features, verify against a JWKS you hold:
//!
//! ```
//! use sesame_verify::{KeySet, Verifier};
//! let jwks = r#"{"keys": []}"#;
//! let keys = KeySet::from_jwks_json(jwks).unwrap();
//! let verifier = Verifier::new("https://auth.example.com", ["api"], keys);
//! assert!(verifier.verify("not.a.token", 1_700_000_000).is_err());
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

mod cache;
mod claims;
mod error;
mod keyset;
mod verifier;

#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "remote")]
pub mod remote;
pub mod status_list;
#[cfg(feature = "test-util")]
pub mod test_util;

pub use cache::{DEFAULT_CAPACITY as DEFAULT_CACHE_CAPACITY, TokenCache};
pub use claims::{Audience, Claims, StatusListRef, TokenStatus};
pub use error::VerifyError;
pub use keyset::{KeySet, PublicJwk};
pub use status_list::{StatusList, StatusListError};
pub use verifier::{DEFAULT_LEEWAY_SECS, Verifier};

#[cfg(feature = "remote")]
pub use remote::{AuthError, RemoteVerifier};

/// The algorithms Sesame signs with. Anything else is refused before a key is even looked up.
pub const SUPPORTED_ALGORITHMS: [&str; 3] = ["EdDSA", "ES256", "RS256"];
