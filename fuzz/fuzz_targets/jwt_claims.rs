//! Header and payload chosen by the fuzzer, then *signed* with a trusted key, so the verifier's
//! header checks and claim decoding are reached with hostile JSON (what a buggy or hijacked
//! issuer could send). Input: first byte picks the signing key, the rest is `header \0 payload`.
//! Accepted tokens must carry the signing key's alg and kid and `typ: at+jwt`, and their claims
//! must satisfy issuer/audience/time; decoded claims must survive a serde round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame_fuzz::{AUDIENCE, NOW, assert_claims_hold, keys, sign_raw, verifier};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let key = &keys()[pick as usize % keys().len()];
    let (header, payload) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &b""[..]),
    };
    let token = sign_raw(key, header, payload);
    let v = verifier();
    for audience in [None, Some(AUDIENCE)] {
        let result = match audience {
            Some(_) => v.verify(&token, NOW),
            None => v.verify_for(&token, NOW, None),
        };
        let Ok(claims) = result else { continue };
        let h: serde_json::Value = serde_json::from_slice(header).expect("accepted header is JSON");
        assert_eq!(h["alg"].as_str(), Some(key.alg.as_str()), "alg confusion");
        assert_eq!(h["kid"].as_str(), Some(key.kid), "kid confusion");
        let typ = h["typ"].as_str().unwrap_or_default().to_ascii_lowercase();
        assert!(
            typ == "at+jwt" || typ == "application/at+jwt",
            "accepted typ {typ:?}"
        );
        assert_claims_hold(&claims, audience, NOW);
        let again: sesame_verify::Claims =
            serde_json::from_str(&serde_json::to_string(&claims).expect("claims serialise"))
                .expect("serialised claims parse");
        assert_eq!(again, claims, "claims round trip");
    }
});
