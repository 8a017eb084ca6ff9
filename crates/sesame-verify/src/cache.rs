//! A bounded cache of tokens already verified, so a token seen again skips the signature check.
//!
//! Clients send the same access token on every request for its whole lifetime (15 minutes by
//! default), and the signature check (tens of µs for Ed25519, more for RSA and P-256) is most of
//! what verifying costs. The cache maps SHA-256 of the token's exact text to the claims it
//! carries:
//!
//! - **Only authentic tokens go in**, after the full signature check and the claim checks have
//!   passed; a forged, tampered or expired token is never stored, so garbage cannot fill it.
//! - **The key is a 256-bit hash of the whole token**: a token that differs from a cached one in
//!   any byte (a tampered payload, a swapped signature) has another digest — finding two tokens
//!   with the same SHA-256 is a collision, out of reach — so it misses and is checked in full.
//!   The digest is not keyed: nothing is gained by hiding it, since an attacker cannot choose a
//!   token text that lands on a cached entry.
//! - **Every hit re-runs the cheap checks**: `exp`/`nbf` against the caller's clock (an entry is
//!   never served past its expiry, plus the same leeway as a full check), issuer and audience.
//!   Revocation is the caller's business and is untouched: Sesame checks its revocation state on
//!   every request, cached token or not.
//! - **The key that verified it must still be trusted**: each entry remembers the `kid` and a
//!   fingerprint of that key's material; a hit whose key has left the key set (removed,
//!   replaced under the same `kid`) is dropped and the token is checked in full — and fails. A
//!   retired key stays in the set until its tokens have expired, so rotation loses no entries.
//! - **Bounded**: at most `capacity` entries (S3-FIFO eviction by `quick_cache`: entries seen
//!   once leave first, so a scan of one-off tokens does not flush the hot ones). Entries past
//!   their expiry are removed when next looked up and otherwise age out under the eviction
//!   policy. An entry costs under 1 KB (the claims, their strings, the slot): the default
//!   [`DEFAULT_CAPACITY`] of 20,000 tokens — every token of 20,000 users active within one
//!   access-token lifetime — is at most ~16 MB.
//!
//! One cache may be shared by the successive [`Verifier`](crate::Verifier)s built as keys are
//! reloaded, so reloading keys does not empty it.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::Claims;

/// Entries held by [`TokenCache::default`].
pub const DEFAULT_CAPACITY: usize = 20_000;

#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) claims: Arc<Claims>,
    pub(crate) kid: Arc<str>,
    pub(crate) key_fingerprint: [u8; 32],
}

/// Verified tokens by SHA-256 of their text. Cheap to share (`Arc`), safe to use from many
/// threads at once.
pub struct TokenCache {
    entries: quick_cache::sync::Cache<[u8; 32], Entry>,
    capacity: usize,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("len", &self.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl TokenCache {
    /// A cache of at most `capacity` tokens (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        TokenCache {
            entries: quick_cache::sync::Cache::new(capacity),
            capacity,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every entry (e.g. after a key was found compromised).
    pub fn clear(&self) {
        self.entries.clear();
    }

    pub(crate) fn digest(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    pub(crate) fn get(&self, digest: &[u8; 32]) -> Option<Entry> {
        self.entries.get(digest)
    }

    pub(crate) fn insert(&self, digest: [u8; 32], entry: Entry) {
        self.entries.insert(digest, entry);
    }

    pub(crate) fn remove(&self, digest: &[u8; 32]) {
        self.entries.remove(digest);
    }
}
