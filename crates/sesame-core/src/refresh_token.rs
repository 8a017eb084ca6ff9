//! Refresh tokens: opaque to clients, stored only as SHA-256, and naming their session.
//!
//! A token is `base64url(version ‖ session id ‖ secret ‖ tag)`, 65 bytes, 87 characters:
//! - `secret` is 256 random bits for a session's first token; every later one is
//!   `HMAC-SHA256(instance key, presented token)`, so a client that presents the just-spent token
//!   again within the grace window is handed the very same successor, recomputed on any replica;
//! - the session id lets a rotation update that one session row in place (its live token's hash
//!   and the one spent before it) instead of inserting a row per token into an indexed table —
//!   half the write volume of a refresh (docs/performance.md, issue #23);
//! - `tag` is `HMAC-SHA256(tag key, version ‖ session ‖ secret)` truncated to 128 bits: only Sesame
//!   makes tokens that pass it. An older token of a session that passes it was issued by Sesame and
//!   spent long ago, so presenting it is reuse (its session ends) — while a token made up from a
//!   session id seen in an access token's `sid` is merely invalid and ends nothing.
//!
//! Tokens of the previous shape (43 characters, 256 random bits, one row each in
//! `refresh_tokens`) are still accepted until they expire; their successors have the new shape.

use aws_lc_rs::{constant_time, hmac};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rand::RngCore;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::secret::SecretBytes;

/// Tokens issued before they named their session: 32 random bytes, base64url, 43 characters.
const LEGACY_LEN: usize = 43;
const VERSION: u8 = 1;
const SECRET_LEN: usize = 32;
const TAG_LEN: usize = 16;
/// version, session id, secret, tag.
const RAW_LEN: usize = 1 + 16 + SECRET_LEN + TAG_LEN;
/// 65 bytes in base64url without padding.
const LEN: usize = 87;

/// A refresh token as handed to a client. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshToken([REDACTED])")
    }
}

/// Whom a well-formed token names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    /// Its session (the tag is checked by [`RefreshKeys::authentic`], not here).
    Session(Uuid),
    /// A token of the previous shape: found by its hash in `refresh_tokens`.
    Legacy,
}

impl RefreshToken {
    /// Accepts only the shapes Sesame issues, so garbage never reaches the database. Says nothing
    /// about authenticity: see [`RefreshKeys::authentic`].
    pub fn parse(raw: &str) -> Option<Self> {
        let alphabet = raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let ok = alphabet
            && match raw.len() {
                LEGACY_LEN => true,
                LEN => B64
                    .decode(raw)
                    .is_ok_and(|b| b.len() == RAW_LEN && b[0] == VERSION),
                _ => false,
            };
        ok.then(|| RefreshToken(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the store keeps. A fast hash is right here: the token has 256 bits of entropy, so
    /// there is nothing to brute-force.
    pub fn hash(&self) -> Vec<u8> {
        Sha256::digest(self.0.as_bytes()).to_vec()
    }

    pub fn names(&self) -> Names {
        match self.bytes() {
            Some(b) => {
                let mut id = [0u8; 16];
                id.copy_from_slice(&b[1..17]);
                Names::Session(Uuid::from_bytes(id))
            }
            None => Names::Legacy,
        }
    }

    /// The decoded bytes of a token of the current shape.
    fn bytes(&self) -> Option<Vec<u8>> {
        (self.0.len() == LEN)
            .then(|| B64.decode(&self.0).ok())
            .flatten()
            .filter(|b| b.len() == RAW_LEN)
    }
}

/// The instance key's two uses for refresh tokens, keyed once.
pub struct RefreshKeys {
    successor: hmac::Key,
    tag: hmac::Key,
}

impl std::fmt::Debug for RefreshKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshKeys([REDACTED])")
    }
}

impl RefreshKeys {
    /// `mac_key`: the instance secret every replica shares. The successor key is that secret
    /// itself (as before tokens named their session, so a token of the previous shape gets the
    /// successor it always had); the tag key is derived from it for that purpose alone.
    pub fn new(mac_key: &SecretBytes) -> Self {
        let successor = hmac::Key::new(hmac::HMAC_SHA256, mac_key.expose_secret());
        let tag_key = hmac::sign(&successor, b"sesame refresh-token tag v1");
        RefreshKeys {
            successor,
            tag: hmac::Key::new(hmac::HMAC_SHA256, tag_key.as_ref()),
        }
    }

    /// A session's first token: 256 random bits.
    pub fn issue(&self, session: Uuid) -> RefreshToken {
        let mut secret = [0u8; SECRET_LEN];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        self.make(session, &secret)
    }

    /// The token that follows `token` in `session`: the same on every replica, every time.
    pub fn successor(&self, token: &RefreshToken, session: Uuid) -> RefreshToken {
        let secret = hmac::sign(&self.successor, token.0.as_bytes());
        self.make(session, secret.as_ref())
    }

    /// The successor a token of the previous shape had before tokens named their session: what
    /// a session spent just before the upgrade holds as its live token.
    pub fn legacy_successor(&self, token: &RefreshToken) -> RefreshToken {
        RefreshToken(B64.encode(hmac::sign(&self.successor, token.0.as_bytes())))
    }

    /// Whether Sesame made this token (its tag). A legacy token passes here; it is genuine only
    /// if the store knows its hash.
    pub fn authentic(&self, token: &RefreshToken) -> bool {
        match token.bytes() {
            Some(b) => {
                let (body, tag) = b.split_at(RAW_LEN - TAG_LEN);
                let expected = hmac::sign(&self.tag, body);
                constant_time::verify_slices_are_equal(&expected.as_ref()[..TAG_LEN], tag).is_ok()
            }
            None => true,
        }
    }

    fn make(&self, session: Uuid, secret: &[u8]) -> RefreshToken {
        let mut raw = Vec::with_capacity(RAW_LEN);
        raw.push(VERSION);
        raw.extend_from_slice(session.as_bytes());
        raw.extend_from_slice(&secret[..SECRET_LEN]);
        let tag = hmac::sign(&self.tag, &raw);
        raw.extend_from_slice(&tag.as_ref()[..TAG_LEN]);
        RefreshToken(B64.encode(raw))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::secret::secret_bytes;

    fn keys(byte: u8) -> RefreshKeys {
        RefreshKeys::new(&secret_bytes(vec![byte; 32]))
    }

    #[test]
    fn tokens_name_their_session_carry_256_bits_and_parse_back() {
        let k = keys(1);
        let sid = Uuid::now_v7();
        let t = k.issue(sid);
        assert_eq!(t.as_str().len(), LEN);
        assert_eq!(RefreshToken::parse(t.as_str()), Some(t.clone()));
        assert_eq!(t.names(), Names::Session(sid));
        assert!(k.authentic(&t));
        assert_ne!(t, k.issue(sid), "the first secret is random");
        assert_eq!(t.hash().len(), 32);
        assert!(!format!("{t:?}").contains(t.as_str()));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let t = keys(1).issue(Uuid::now_v7());
        let mut wrong_version = B64.decode(t.as_str()).unwrap();
        wrong_version[0] = 2;
        for raw in [
            "short".to_string(),
            "!".repeat(LEGACY_LEN),
            "!".repeat(LEN),
            B64.encode(wrong_version),
            format!("{}A", t.as_str()),
            t.as_str()[1..].to_string(),
        ] {
            assert!(RefreshToken::parse(&raw).is_none(), "{raw}");
        }
        let legacy = RefreshToken::parse(&"A".repeat(LEGACY_LEN)).unwrap();
        assert_eq!(legacy.names(), Names::Legacy);
    }

    #[test]
    fn successors_are_deterministic_per_key_and_authentic() {
        let (k1, k2) = (keys(1), keys(2));
        let sid = Uuid::now_v7();
        let t = k1.issue(sid);
        let s = k1.successor(&t, sid);
        assert_eq!(s, k1.successor(&t, sid));
        assert_ne!(s, k2.successor(&t, sid));
        assert_ne!(s, t);
        assert_eq!(s.names(), Names::Session(sid));
        assert!(k1.authentic(&s));
        assert!(!k2.authentic(&s), "another instance's key");
        assert!(RefreshToken::parse(s.as_str()).is_some());
    }

    #[test]
    fn a_token_made_up_for_a_known_session_is_not_authentic() {
        let k = keys(1);
        let sid = Uuid::now_v7();
        let genuine = B64.decode(k.issue(sid).as_str()).unwrap();
        // Another session's id under a genuine secret and tag.
        let mut moved = genuine.clone();
        moved[1..17].copy_from_slice(Uuid::now_v7().as_bytes());
        // A secret changed, the tag kept.
        let mut flipped = genuine.clone();
        flipped[20] ^= 1;
        // The tag changed.
        let mut retagged = genuine;
        retagged[RAW_LEN - 1] ^= 1;
        for raw in [moved, flipped, retagged] {
            let t = RefreshToken::parse(&B64.encode(raw)).unwrap();
            assert!(!k.authentic(&t));
        }
    }

    #[test]
    fn legacy_tokens_keep_the_successor_they_had_and_move_to_the_new_shape() {
        let k = keys(1);
        let legacy = RefreshToken::parse(&"A".repeat(LEGACY_LEN)).unwrap();
        let old = k.legacy_successor(&legacy);
        assert_eq!(old.as_str().len(), LEGACY_LEN);
        assert_eq!(RefreshToken::parse(old.as_str()), Some(old.clone()));
        let sid = Uuid::now_v7();
        let next = k.successor(&legacy, sid);
        assert_eq!(next.names(), Names::Session(sid));
        assert!(k.authentic(&next));
    }
}
