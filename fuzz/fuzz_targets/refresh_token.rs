//! `RefreshToken::parse`, the gate in front of every refresh, logout, introspection and
//! revocation: it accepts exactly Sesame's shape (43 characters of base64url), keeps the input
//! as is, and what it accepts hashes and derives a successor that parses again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame_core::secret::secret_bytes;
use sesame_core::tokens::RefreshToken;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let shape_ok = raw.len() == 43
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    match RefreshToken::parse(raw) {
        Some(t) => {
            assert!(shape_ok, "accepted {raw:?}");
            assert_eq!(t.as_str(), raw);
            assert_eq!(t.hash().len(), 32);
            assert!(!format!("{t:?}").contains(raw), "Debug shows the token");
            let next = t.successor(&secret_bytes(vec![7; 32]));
            assert_eq!(RefreshToken::parse(next.as_str()), Some(next.clone()));
            assert_ne!(next, t);
        }
        None => assert!(!shape_ok, "refused {raw:?}"),
    }
});
