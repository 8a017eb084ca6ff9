//! Tokens taken apart and forged: what the security and verifier tests need to look inside
//! what Sesame issued and to build what it must refuse. Nothing here verifies anything.

// Test code that lives in a library (publish = false): panicking is how it reports.
#![allow(clippy::expect_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// base64url without padding, as JWS uses.
pub fn b64url(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The JSON of a compact token's part (0 the header, 1 the claims), unverified.
pub fn part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("a JWT part");
    let bytes = URL_SAFE_NO_PAD.decode(part).expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}

/// The `kid` in a token's header.
pub fn kid(token: &str) -> String {
    part(token, 0)["kid"].as_str().expect("a kid").to_string()
}

/// A compact token from `header` and `claims`, signed by `sign` over `header.claims` (which may
/// ignore its input and return any bytes at all).
pub fn forge(header: &Value, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let signing_input = format!(
        "{}.{}",
        b64url(header.to_string()),
        b64url(claims.to_string())
    );
    let sig = sign(signing_input.as_bytes());
    format!("{signing_input}.{}", b64url(sig))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_forged_token_comes_apart_into_what_went_in() {
        let header = json!({"alg": "EdDSA", "kid": "k1"});
        let claims = json!({"sub": "someone"});
        let mut signed = Vec::new();
        let token = forge(&header, &claims, |input| {
            signed = input.to_vec();
            b"sig".to_vec()
        });
        assert_eq!(part(&token, 0), header);
        assert_eq!(part(&token, 1), claims);
        assert_eq!(kid(&token), "k1");
        let (input, sig) = token.rsplit_once('.').expect("three parts");
        assert_eq!(signed, input.as_bytes());
        assert_eq!(sig, b64url(b"sig"));
        assert!(!token.contains('='), "no padding");
    }
}
