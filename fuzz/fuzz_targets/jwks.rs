//! A JWKS document as a relying service fetches it from the network (`KeySet::from_jwks_json`,
//! used by `RemoteVerifier`): no panic on any input, and keys it trusts are used only for the
//! algorithm they declare — a seed token signed by a fixed key verifies only if that very key
//! (same kid, same algorithm, same public key) is in the set.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame_fuzz::{ISSUER, NOW, assert_genuine, good_claims, keys, sign_claims};
use sesame_verify::{KeySet, Verifier};
use std::sync::OnceLock;

fn tokens() -> &'static [String] {
    static T: OnceLock<Vec<String>> = OnceLock::new();
    T.get_or_init(|| {
        keys()
            .iter()
            .map(|k| sign_claims(k, &good_claims()))
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(json) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(set) = KeySet::from_jwks_json(json) else {
        return;
    };
    let _ = format!("{set:?}");
    let v = Verifier::new(ISSUER, ["api"], set);
    for (token, key) in tokens().iter().zip(keys()) {
        if v.verify(token, NOW).is_ok() {
            // Accepted: the document must hold this key's public half under its kid and alg.
            assert_genuine(token);
            let doc: serde_json::Value = serde_json::from_str(json).expect("parsed before");
            let published = doc["keys"].as_array().is_some_and(|ks| {
                ks.iter().any(|k| {
                    k["kid"].as_str() == Some(key.kid)
                        && k["alg"].as_str() == Some(key.alg.as_str())
                })
            });
            assert!(published, "verified with a key the JWKS does not publish");
        }
    }
});
