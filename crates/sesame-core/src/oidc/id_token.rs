//! OpenID Connect ID tokens (Core §2) and the `at_hash` that binds one to its access token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

use crate::keys::SigningAlg;

/// An ID token's claims. Profile claims appear only when their scope was granted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    /// The client id.
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The browser session: what back-channel logout names.
    pub sid: String,
    pub amr: Vec<String>,
    pub acr: String,
    pub azp: String,
    pub at_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `at_hash`: the left half of the hash of the access token's ASCII, with the hash of the ID
/// token's signing algorithm — SHA-256 for RS256 and ES256, SHA-512 for EdDSA on Ed25519.
pub fn at_hash(access_token: &str, alg: SigningAlg) -> String {
    match alg {
        SigningAlg::RS256 | SigningAlg::ES256 => {
            let d = Sha256::digest(access_token.as_bytes());
            B64.encode(&d[..16])
        }
        SigningAlg::EdDSA => {
            let d = Sha512::digest(access_token.as_bytes());
            B64.encode(&d[..32])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_is_the_left_half_of_the_algorithms_hash() {
        // OpenID Connect Core's example is for RS256 over this access token.
        assert_eq!(
            at_hash(
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y",
                SigningAlg::RS256
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(at_hash("x", SigningAlg::EdDSA).len(), 43);
        assert_ne!(
            at_hash("x", SigningAlg::ES256),
            at_hash("y", SigningAlg::ES256)
        );
    }
}
