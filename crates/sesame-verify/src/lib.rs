//! Verify Sesame access tokens offline.
//!
//! Sesame issues RFC 9068 access tokens (`typ: at+jwt`) signed with EdDSA, ES256 or RS256 and
//! publishes the public keys as a JWKS. This crate holds the token format ([`Claims`]) and the
//! checks every relying service must make ([`Verifier`]): the algorithm is pinned to an
//! allow-list and to the algorithm of the key named by `kid` (never taken from the token alone,
//! which defeats `alg=none` and HS256-with-a-public-key confusion), then signature, `typ`,
//! `iss`, `aud`, `exp` and `nbf` with a small leeway.
//!
//! ```
//! use sesame_verify::{KeySet, Verifier};
//! let jwks = r#"{"keys": []}"#;
//! let keys = KeySet::from_jwks_json(jwks).unwrap();
//! let verifier = Verifier::new("https://auth.example.com", ["api"], keys);
//! assert!(verifier.verify("not.a.token", 1_700_000_000).is_err());
//! ```

mod claims;
mod error;
mod keyset;
mod verifier;

pub use claims::{Audience, Claims};
pub use error::VerifyError;
pub use keyset::{KeySet, PublicJwk};
pub use verifier::{DEFAULT_LEEWAY_SECS, Verifier};

/// The algorithms Sesame signs with. Anything else is refused before a key is even looked up.
pub const SUPPORTED_ALGORITHMS: [&str; 3] = ["EdDSA", "ES256", "RS256"];
