//! The upstream ID token, checked as OpenID Connect Core §3.1.3.7 says: signed with a key of
//! the provider's key set (asymmetric algorithms only — never `none`, never an HMAC keyed by
//! the public client id), `iss` the provider's, `aud` this client (and `azp` this client when
//! there are several audiences), `nonce` this sign-in's, `exp` not passed.

use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use super::Person;

/// Clock difference tolerated with the provider.
const LEEWAY_SECS: i64 = 60;

/// Why an ID token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    #[error("it does not parse")]
    Malformed,
    #[error("its algorithm {0} is not accepted")]
    Algorithm(String),
    /// Its `kid` is not in the key set (fetch it again: the provider may have rotated).
    #[error("its key is not in the provider's key set")]
    UnknownKey,
    #[error("its signature or claims do not verify: {0}")]
    Invalid(String),
    #[error("its nonce is not this sign-in's")]
    Nonce,
    #[error("it is for another client (azp)")]
    AuthorizedParty,
    #[error("it has expired")]
    Expired,
    #[error("it has no subject")]
    Subject,
}

const ACCEPTED: [Algorithm; 7] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The verified claims of `raw`.
pub(crate) fn verify(
    raw: &str,
    jwks: &serde_json::Value,
    issuer: &str,
    client_id: &str,
    nonce: &str,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, Refusal> {
    let header = jsonwebtoken::decode_header(raw).map_err(|_| Refusal::Malformed)?;
    if !ACCEPTED.contains(&header.alg) {
        return Err(Refusal::Algorithm(format!("{:?}", header.alg)));
    }
    let set: JwkSet = serde_json::from_value(jwks.clone()).map_err(|_| Refusal::UnknownKey)?;
    let jwk = match &header.kid {
        Some(kid) => set.find(kid),
        // No kid: only a set of one key says which.
        None if set.keys.len() == 1 => set.keys.first(),
        None => None,
    }
    .ok_or(Refusal::UnknownKey)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| Refusal::Invalid(e.to_string()))?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[client_id]);
    // Time is checked below against Sesame's clock, not the process's.
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["iss", "aud", "exp", "sub"]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(raw, &key, &validation)
        .map_err(|e| Refusal::Invalid(e.to_string()))?
        .claims;
    if claims.get("nonce").and_then(|v| v.as_str()) != Some(nonce) {
        return Err(Refusal::Nonce);
    }
    let several_audiences = claims
        .get("aud")
        .and_then(|a| a.as_array())
        .is_some_and(|a| a.len() > 1);
    match claims.get("azp").and_then(|v| v.as_str()) {
        Some(azp) if azp != client_id => return Err(Refusal::AuthorizedParty),
        None if several_audiences => return Err(Refusal::AuthorizedParty),
        _ => {}
    }
    let exp = claims
        .get("exp")
        .and_then(|v| v.as_i64())
        .ok_or(Refusal::Expired)?;
    if exp + LEEWAY_SECS < now.timestamp() {
        return Err(Refusal::Expired);
    }
    match claims.get("sub").and_then(|v| v.as_str()) {
        Some(sub) if !sub.is_empty() && sub.len() <= 255 => Ok(claims),
        _ => Err(Refusal::Subject),
    }
}

/// Who the claims name. `email_verified` counts only as `true` (or the string `"true"`, which
/// some providers send).
pub(crate) fn person(claims: serde_json::Value) -> Person {
    let text = |name: &str| {
        claims
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let email_verified = match claims.get("email_verified") {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => s == "true",
        _ => false,
    };
    Person {
        subject: text("sub").unwrap_or_default(),
        email: text("email"),
        email_verified,
        claims,
    }
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "tests sign tokens valid at the real time"
)]
mod tests {
    use super::*;
    use crate::keys::{KeyPurpose, KeyState, SigningAlg, generate_key_for};

    fn signed(claims: serde_json::Value, alg: SigningAlg) -> (String, serde_json::Value) {
        let key =
            generate_key_for(KeyPurpose::IdToken, alg, KeyState::Current, Utc::now()).unwrap();
        let signer = crate::keys::Signer::from_pkcs8(
            alg,
            secrecy::ExposeSecret::expose_secret(&key.private_der),
        )
        .unwrap();
        let header = serde_json::json!({"alg": alg.as_str(), "kid": key.kid, "typ": "JWT"});
        let b64 = |v: &serde_json::Value| {
            base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                v.to_string(),
            )
        };
        let input = format!("{}.{}", b64(&header), b64(&claims));
        let sig = signer.sign(input.as_bytes()).unwrap();
        let token = format!(
            "{input}.{}",
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, sig)
        );
        let jwks = serde_json::json!({"keys": [serde_json::to_value(&key.public_jwk).unwrap()]});
        (token, jwks)
    }

    fn claims(now: i64) -> serde_json::Value {
        serde_json::json!({
            "iss": "https://op.example", "aud": "sesame", "sub": "u-1", "nonce": "n-1",
            "exp": now + 300, "iat": now, "email": "a@example.com", "email_verified": true,
        })
    }

    #[test]
    fn a_good_token_verifies_and_every_wrong_claim_is_refused() {
        let now = Utc::now();
        let t = now.timestamp();
        let check = |c: serde_json::Value| {
            let (token, jwks) = signed(c, SigningAlg::RS256);
            verify(&token, &jwks, "https://op.example", "sesame", "n-1", now)
        };
        assert!(check(claims(t)).is_ok());
        let person = person(check(claims(t)).unwrap());
        assert_eq!(
            (person.subject.as_str(), person.email_verified),
            ("u-1", true)
        );
        let with = |k: &str, v: serde_json::Value| {
            let mut c = claims(t);
            c[k] = v;
            c
        };
        assert!(matches!(
            check(with("aud", "other".into())),
            Err(Refusal::Invalid(_))
        ));
        assert!(matches!(
            check(with("iss", "https://evil".into())),
            Err(Refusal::Invalid(_))
        ));
        assert_eq!(check(with("nonce", "n-2".into())), Err(Refusal::Nonce));
        assert_eq!(check(with("exp", (t - 120).into())), Err(Refusal::Expired));
        assert_eq!(
            check(with("aud", serde_json::json!(["sesame", "other"]))),
            Err(Refusal::AuthorizedParty)
        );
        assert_eq!(
            check(with("azp", "other".into())),
            Err(Refusal::AuthorizedParty)
        );
        // Signed by a key the set does not hold.
        let (token, _) = signed(claims(t), SigningAlg::ES256);
        let (_, other_jwks) = signed(claims(t), SigningAlg::ES256);
        assert_eq!(
            verify(
                &token,
                &other_jwks,
                "https://op.example",
                "sesame",
                "n-1",
                now
            ),
            Err(Refusal::UnknownKey)
        );
    }

    #[test]
    fn none_and_hmac_tokens_are_refused() {
        let b64 =
            |s: &str| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, s);
        let jwks = serde_json::json!({"keys": []});
        let none = format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(r#"{"sub":"x"}"#));
        assert!(verify(&none, &jwks, "i", "c", "n", Utc::now()).is_err());
        let hs = format!(
            "{}.{}.AAAA",
            b64(r#"{"alg":"HS256"}"#),
            b64(r#"{"sub":"x"}"#)
        );
        assert_eq!(
            verify(&hs, &jwks, "i", "c", "n", Utc::now()),
            Err(Refusal::Algorithm("HS256".into()))
        );
        assert!(person(serde_json::json!({"email_verified": "true"})).email_verified);
        assert!(!person(serde_json::json!({"email_verified": "yes"})).email_verified);
    }
}
