//! Arbitrary bytes as an access token, through every entry point of `sesame_verify::Verifier`
//! over a real key set (EdDSA, ES256, RS256). Whatever the input: no panic, and anything
//! accepted is genuine — it names a trusted key, carries that key's algorithm, its signature
//! checks in an independent implementation, and its claims satisfy issuer/audience/time.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame_fuzz::{AUDIENCE, NOW, assert_claims_hold, assert_genuine, verifier};

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let v = verifier();
    if let Ok(claims) = v.verify(token, NOW) {
        assert_genuine(token);
        assert_claims_hold(&claims, Some(AUDIENCE), NOW);
    }
    for audience in [None, Some(AUDIENCE), Some("gallery")] {
        if let Ok(claims) = v.verify_for(token, NOW, audience) {
            assert_genuine(token);
            assert_claims_hold(&claims, audience, NOW);
        }
    }
    if v.verify_signature(token).is_ok() {
        assert_genuine(token);
    }
});
