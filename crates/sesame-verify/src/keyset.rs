//! Public keys by `kid`, built from a JWKS document.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, jwk::JwkSet};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One public key as Sesame publishes it in its JWKS (RFC 7517). Only the members for the key's
/// type are set: `x` for OKP; `crv`, `x`, `y` for EC; `n`, `e` for RSA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    pub kty: String,
    pub kid: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub use_: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

pub(crate) struct VerifyingKey {
    pub(crate) alg: Algorithm,
    pub(crate) key: DecodingKey,
    /// SHA-256 of the key's algorithm and public parameters: what the token cache checks an
    /// entry's key against, so a key replaced under the same `kid` does not vouch for tokens
    /// its predecessor verified.
    pub(crate) fingerprint: [u8; 32],
}

/// The keys a verifier trusts. Keys without a supported `alg`, or whose `alg` does not fit the
/// key type, are skipped rather than trusted for any algorithm.
#[derive(Default)]
pub struct KeySet {
    keys: HashMap<String, VerifyingKey>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<_> = self.keys.keys().collect();
        kids.sort();
        f.debug_struct("KeySet").field("kids", &kids).finish()
    }
}

fn parse_alg(alg: &str) -> Option<Algorithm> {
    match alg {
        "EdDSA" => Some(Algorithm::EdDSA),
        "ES256" => Some(Algorithm::ES256),
        "RS256" => Some(Algorithm::RS256),
        _ => None,
    }
}

impl KeySet {
    /// Parses a JWKS document (`{"keys": [...]}`).
    pub fn from_jwks_json(json: &str) -> Result<Self, serde_json::Error> {
        let set: JwkSet = serde_json::from_str(json)?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let (Some(kid), Some(alg)) = (jwk.common.key_id.clone(), jwk.common.key_algorithm)
            else {
                continue;
            };
            let Some(alg) = parse_alg(&alg.to_string()) else {
                continue;
            };
            let fits = matches!(
                (&jwk.algorithm, alg),
                (
                    jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(_),
                    Algorithm::EdDSA
                ) | (
                    jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_),
                    Algorithm::ES256
                ) | (
                    jsonwebtoken::jwk::AlgorithmParameters::RSA(_),
                    Algorithm::RS256
                )
            );
            if !fits {
                continue;
            }
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                let params = serde_json::to_vec(&jwk.algorithm)?;
                let mut h = Sha256::new();
                h.update(format!("{alg:?}").as_bytes());
                h.update([0]);
                h.update(&params);
                let fingerprint = h.finalize().into();
                keys.insert(
                    kid,
                    VerifyingKey {
                        alg,
                        key,
                        fingerprint,
                    },
                );
            }
        }
        Ok(KeySet { keys })
    }

    /// Builds a key set from Sesame's own public keys.
    pub fn from_public_jwks(jwks: &[PublicJwk]) -> Result<Self, serde_json::Error> {
        let doc = serde_json::json!({ "keys": jwks });
        Self::from_jwks_json(&doc.to_string())
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    pub(crate) fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.get(kid)
    }

    /// Whether `kid` is held with exactly this key material.
    pub(crate) fn still_holds(&self, kid: &str, fingerprint: &[u8; 32]) -> bool {
        self.keys
            .get(kid)
            .is_some_and(|k| &k.fingerprint == fingerprint)
    }
}
