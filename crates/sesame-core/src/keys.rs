//! Signing keys: generated here, stored (private part as PKCS#8) by the store, published as JWKs.
//!
//! Two families live side by side, each with its own next/current/retired life: access-token
//! keys (`SESAME_SIGNING_ALG`) and ID-token keys (`SESAME_ID_TOKEN_ALG`, RS256 by default because
//! every OpenID client supports it, while access tokens default to EdDSA). A rotation moves both
//! at once, so an operator has one key schedule to think about.
//!
//! Tokens are signed with aws-lc-rs key pairs parsed once at load, not per token: re-parsing an
//! RSA or P-256 key on every signature would dominate the cost of issuing tokens.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use sesame_verify::PublicJwk;
use sha2::{Digest, Sha256};

use crate::error::CoreError;
use crate::secret::{SecretBytes, secret_bytes};

mod lifecycle;

pub use lifecycle::Keys;
pub(crate) use lifecycle::ensure_keys;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlg {
    EdDSA,
    ES256,
    RS256,
}

impl SigningAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::EdDSA => "EdDSA",
            SigningAlg::ES256 => "ES256",
            SigningAlg::RS256 => "RS256",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "EdDSA" => Some(SigningAlg::EdDSA),
            "ES256" => Some(SigningAlg::ES256),
            "RS256" => Some(SigningAlg::RS256),
            _ => None,
        }
    }
}

/// What a key signs. Each purpose has its own current and next key; the JWKS publishes both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyPurpose {
    /// RFC 9068 access tokens (`typ: at+jwt`), status lists: `SESAME_SIGNING_ALG`.
    Access,
    /// OpenID Connect ID tokens (`typ: JWT`): `SESAME_ID_TOKEN_ALG`.
    IdToken,
}

impl KeyPurpose {
    /// Every purpose, access first (the order keys are published and rotated in).
    pub const ALL: [KeyPurpose; 2] = [KeyPurpose::Access, KeyPurpose::IdToken];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyPurpose::Access => "access",
            KeyPurpose::IdToken => "id_token",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "access" => Some(KeyPurpose::Access),
            "id_token" => Some(KeyPurpose::IdToken),
            _ => None,
        }
    }
}

/// Where a key is in its life: published ahead (`Next`), signing (`Current`), or kept published
/// only until the tokens it signed have expired (`Retired`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Next,
    Current,
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Current => "current",
            KeyState::Retired => "retired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "next" => Some(KeyState::Next),
            "current" => Some(KeyState::Current),
            "retired" => Some(KeyState::Retired),
            _ => None,
        }
    }
}

/// A key as stored.
#[derive(Debug)]
pub struct KeyRecord {
    pub kid: String,
    pub purpose: KeyPurpose,
    pub alg: SigningAlg,
    pub state: KeyState,
    /// PKCS#8 DER of the private key.
    pub private_der: SecretBytes,
    pub public_jwk: PublicJwk,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    /// For a retired key: when the last token it signed expires, after which it is dropped.
    pub retire_until: Option<DateTime<Utc>>,
}

/// A private key parsed once, ready to sign.
pub enum Signer {
    Ed(Ed25519KeyPair),
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer([REDACTED])")
    }
}

impl Signer {
    pub fn from_pkcs8(alg: SigningAlg, der: &[u8]) -> Result<Self, CoreError> {
        let bad = |e: aws_lc_rs::error::KeyRejected| CoreError::internal_because("bad key", e);
        Ok(match alg {
            SigningAlg::EdDSA => Signer::Ed(Ed25519KeyPair::from_pkcs8(der).map_err(bad)?),
            SigningAlg::ES256 => Signer::Ec(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der).map_err(bad)?,
            ),
            SigningAlg::RS256 => Signer::Rsa(RsaKeyPair::from_pkcs8(der).map_err(bad)?),
        })
    }

    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CoreError> {
        let failed =
            |e: aws_lc_rs::error::Unspecified| CoreError::internal_because("signing failed", e);
        match self {
            Signer::Ed(k) => Ok(k.sign(message).as_ref().to_vec()),
            Signer::Ec(k) => Ok(k
                .sign(&SystemRandom::new(), message)
                .map_err(failed)?
                .as_ref()
                .to_vec()),
            Signer::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut sig)
                    .map_err(failed)?;
                Ok(sig)
            }
        }
    }

    fn public_jwk(&self, alg: SigningAlg) -> Result<PublicJwk, CoreError> {
        let mut jwk = PublicJwk {
            kty: String::new(),
            kid: String::new(),
            alg: alg.as_str().to_string(),
            use_: "sig".into(),
            crv: None,
            x: None,
            y: None,
            n: None,
            e: None,
        };
        let fingerprint_source: Vec<u8>;
        match self {
            Signer::Ed(k) => {
                let raw = k.public_key().as_ref();
                jwk.kty = "OKP".into();
                jwk.crv = Some("Ed25519".into());
                jwk.x = Some(B64.encode(raw));
                fingerprint_source = raw.to_vec();
            }
            Signer::Ec(k) => {
                // Uncompressed point: 0x04 || X (32) || Y (32).
                let point = k.public_key().as_ref();
                if point.len() != 65 {
                    return Err(CoreError::internal("unexpected P-256 point encoding"));
                }
                jwk.kty = "EC".into();
                jwk.crv = Some("P-256".into());
                jwk.x = Some(B64.encode(&point[1..33]));
                jwk.y = Some(B64.encode(&point[33..]));
                fingerprint_source = point.to_vec();
            }
            Signer::Rsa(k) => {
                let public = k.public_key();
                let n = public.modulus().big_endian_without_leading_zero().to_vec();
                let e = public.exponent().big_endian_without_leading_zero().to_vec();
                jwk.kty = "RSA".into();
                jwk.n = Some(B64.encode(&n));
                jwk.e = Some(B64.encode(&e));
                fingerprint_source = [n, e].concat();
            }
        }
        // kid: a short fingerprint of the public key, so it names the key and nothing else.
        let digest = Sha256::digest(&fingerprint_source);
        jwk.kid = B64.encode(&digest[..12]);
        Ok(jwk)
    }
}

/// Makes a new access-token key pair of `alg` (see [`generate_key_for`]).
pub fn generate_key(
    alg: SigningAlg,
    state: KeyState,
    now: DateTime<Utc>,
) -> Result<KeyRecord, CoreError> {
    generate_key_for(KeyPurpose::Access, alg, state, now)
}

/// Makes a new key pair of `alg` for `purpose`. An RSA key takes 0.1–0.5 s of CPU: async code
/// calls [`generate_key_blocking`] instead.
pub fn generate_key_for(
    purpose: KeyPurpose,
    alg: SigningAlg,
    state: KeyState,
    now: DateTime<Utc>,
) -> Result<KeyRecord, CoreError> {
    let failed =
        |e: aws_lc_rs::error::Unspecified| CoreError::internal_because("key generation failed", e);
    let der: Vec<u8> = match alg {
        SigningAlg::EdDSA => Ed25519KeyPair::generate()
            .map_err(failed)?
            .to_pkcs8()
            .map_err(failed)?
            .as_ref()
            .to_vec(),
        SigningAlg::ES256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(failed)?
            .to_pkcs8v1()
            .map_err(failed)?
            .as_ref()
            .to_vec(),
        SigningAlg::RS256 => {
            let kp = aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048).map_err(failed)?;
            let der: aws_lc_rs::encoding::Pkcs8V1Der = kp.as_der().map_err(failed)?;
            der.as_ref().to_vec()
        }
    };
    let signer = Signer::from_pkcs8(alg, &der)?;
    let public_jwk = signer.public_jwk(alg)?;
    Ok(KeyRecord {
        kid: public_jwk.kid.clone(),
        purpose,
        alg,
        state,
        private_der: secret_bytes(der),
        public_jwk,
        created_at: now,
        activated_at: (state == KeyState::Current).then_some(now),
        retire_until: None,
    })
}

/// The signing key in use, parsed.
#[derive(Debug)]
pub struct ActiveKey {
    pub kid: String,
    pub alg: SigningAlg,
    pub signer: Signer,
}

impl ActiveKey {
    pub fn from_record(rec: &KeyRecord) -> Result<Self, CoreError> {
        Ok(ActiveKey {
            kid: rec.kid.clone(),
            alg: rec.alg,
            signer: Signer::from_pkcs8(rec.alg, rec.private_der.expose_secret())?,
        })
    }

    /// A JWS compact serialisation of `claims` with `typ: at+jwt`.
    pub fn sign_jwt(&self, claims: &impl serde::Serialize) -> Result<String, CoreError> {
        self.sign_jwt_typed("at+jwt", claims)
    }

    /// A JWS compact serialisation of `claims` with the given `typ`.
    pub fn sign_jwt_typed(
        &self,
        typ: &str,
        claims: &impl serde::Serialize,
    ) -> Result<String, CoreError> {
        let header = serde_json::json!({"alg": self.alg.as_str(), "kid": self.kid, "typ": typ});
        let mut out = B64.encode(header.to_string());
        out.push('.');
        out.push_str(&B64.encode(serde_json::to_vec(claims).map_err(CoreError::internal)?));
        let sig = self.signer.sign(out.as_bytes())?;
        out.push('.');
        out.push_str(&B64.encode(sig));
        Ok(out)
    }
}

/// [`generate_key_for`] on the blocking pool: RSA key generation would otherwise hold an async
/// worker (and every request queued on it) for up to half a second (STYLE.md §11).
pub async fn generate_key_blocking(
    purpose: KeyPurpose,
    alg: SigningAlg,
    state: KeyState,
    now: DateTime<Utc>,
) -> Result<KeyRecord, CoreError> {
    tokio::task::spawn_blocking(move || generate_key_for(purpose, alg, state, now))
        .await
        .map_err(|e| CoreError::internal_because("key generation did not finish", e))?
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "tests stamp records with the real time"
)]
mod tests {
    use super::*;
    use sesame_verify::{Audience, Claims, KeySet, Verifier, VerifyError};

    fn claims(now: i64) -> Claims {
        Claims {
            iss: "https://issuer.test".into(),
            sub: "user-1".into(),
            aud: Audience::One("api".into()),
            exp: now + 60,
            iat: now,
            nbf: now,
            jti: "j1".into(),
            client_id: "sesame".into(),
            sid: Some("s1".into()),
            roles: vec!["customer".into()],
            scope: None,
            email_verified: Some(false),
            act: None,
            status: None,
            amr: None,
            acr: None,
        }
    }

    #[test]
    fn every_algorithm_signs_what_the_verifier_accepts() {
        let now = Utc::now();
        for alg in [SigningAlg::EdDSA, SigningAlg::ES256, SigningAlg::RS256] {
            let rec = generate_key(alg, KeyState::Current, now).unwrap();
            let active = ActiveKey::from_record(&rec).unwrap();
            let token = active.sign_jwt(&claims(now.timestamp())).unwrap();
            let keys = KeySet::from_public_jwks(std::slice::from_ref(&rec.public_jwk)).unwrap();
            assert_eq!(keys.len(), 1, "{alg:?} JWK must be usable");
            let v = Verifier::new("https://issuer.test", ["api"], keys);
            assert_eq!(
                v.verify(&token, now.timestamp()).unwrap(),
                claims(now.timestamp())
            );
            // Another key of the same algorithm does not verify it.
            let other = generate_key(alg, KeyState::Current, now).unwrap();
            let mut jwk = other.public_jwk.clone();
            jwk.kid = rec.kid.clone();
            let v2 = Verifier::new(
                "https://issuer.test",
                ["api"],
                KeySet::from_public_jwks(&[jwk]).unwrap(),
            );
            assert_eq!(
                v2.verify(&token, now.timestamp()).unwrap_err(),
                VerifyError::BadSignature
            );
        }
    }

    #[test]
    fn debug_output_hides_private_keys() {
        let rec = generate_key(SigningAlg::EdDSA, KeyState::Current, Utc::now()).unwrap();
        let shown = format!("{rec:?} {:?}", ActiveKey::from_record(&rec).unwrap());
        assert!(shown.contains("REDACTED"));
        assert!(!shown.contains(&format!("{:?}", rec.private_der.expose_secret())));
    }
}
