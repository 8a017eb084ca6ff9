//! `RefreshToken::parse`, the gate in front of every refresh, logout, introspection and
//! revocation: it accepts exactly Sesame's shapes (43 characters of base64url from before tokens
//! named their session, or 87 that decode to a version-1 token), keeps the input as is, and what
//! it accepts hashes and derives a successor that parses again and is authentic — while the
//! input itself is authentic only if it is of the legacy shape (the fuzzer cannot forge a tag).
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use libfuzzer_sys::fuzz_target;
use sesame_core::refresh_token::{Names, RefreshKeys, RefreshToken};
use sesame_core::secret::secret_bytes;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let alphabet = raw
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let current = raw.len() == 87
        && B64
            .decode(raw)
            .is_ok_and(|b| b.len() == 65 && b[0] == 1);
    let shape_ok = alphabet && (raw.len() == 43 || current);
    let keys = RefreshKeys::new(&secret_bytes(vec![7; 32]));
    match RefreshToken::parse(raw) {
        Some(t) => {
            assert!(shape_ok, "accepted {raw:?}");
            assert_eq!(t.as_str(), raw);
            assert_eq!(t.hash().len(), 32);
            assert!(!format!("{t:?}").contains(raw), "Debug shows the token");
            let session = match t.names() {
                Names::Session(id) => {
                    assert!(!keys.authentic(&t), "a made-up tag passed: {raw:?}");
                    id
                }
                Names::Legacy => uuid::Uuid::nil(),
            };
            let next = keys.successor(&t, session);
            assert_eq!(RefreshToken::parse(next.as_str()), Some(next.clone()));
            assert!(keys.authentic(&next));
            assert_eq!(next.names(), Names::Session(session));
            assert_ne!(next, t);
        }
        None => assert!(!shape_ok, "refused {raw:?}"),
    }
});
