//! Token Status Lists (draft-ietf-oauth-status-list): the revocation of sessions and clients
//! published as signed bit arrays, so services that verify tokens offline learn of a logout
//! within the list's `ttl` without a call per request.
//!
//! Every session that issues access tokens, and every service client, holds one index (handed
//! out by the store, see migration 0011); each of its tokens carries it in the `status` claim.
//! Index `i` is bit `i % LIST_SIZE` of list `i / LIST_SIZE`.
//!
//! The bits are not read from the sessions table per request, nor rebuilt by scanning it: the
//! revocation feed every replica already reads (`revocation`) carries the index of each revoked
//! or deleted session and deleted client, with the moment its last token expires. A replica
//! starts by reading the whole feed, so every replica sets the same bits within a poll (~1 s).
//! A bit is cleared once that moment has passed — no token carrying it can be accepted any more —
//! and the store reuses an index only well after that (`REUSE_MARGIN`).
//!
//! A list is rendered (zlib, signed: a few hundred microseconds) when asked for and kept:
//! rendered again on the first request after its bits changed, or once half of its validity has
//! passed, so requests are served from memory and `ETag`s stay stable between changes.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sesame_verify::{StatusListRef, TokenStatus};
use sha2::{Digest, Sha256};

use crate::clock::Clock;
use crate::error::CoreError;
use crate::store::Store;
use crate::tokens::KeyRing;

/// Entries per list: 131,072 (16 KiB of bits), the herd size the draft suggests (§12.5), so one
/// fetch covers many users and tells nothing about any one of them.
pub const LIST_SIZE: u64 = 1 << 17;

/// How long after its last token expired an index may be handed out again. A verifier holds a
/// list for up to `ttl` (and keeps using a stale one for up to ten `ttl`s): a reused index must
/// not meet an old list that still has its bit set.
pub const REUSE_MARGIN: Duration = Duration::from_secs(3600);

/// How often an unknown list number may make this replica ask the store whether it exists now
/// (another replica may have handed out the first index of a new list).
const BOUND_REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// A list as served: both forms, with their `ETag`s.
#[derive(Debug)]
pub struct RenderedList {
    /// The `statuslist+jwt` (a `Bytes` each response shares: a list is served thousands of
    /// times a second, and copying 16 KB per response churns the allocator).
    pub jwt: bytes::Bytes,
    /// The unsigned JSON form.
    pub json: bytes::Bytes,
    pub jwt_etag: String,
    pub json_etag: String,
    /// The `ttl` it was rendered with (seconds), for `Cache-Control`.
    pub ttl: u64,
    version: u64,
    rendered_at_ms: i64,
    exp_ms: i64,
}

#[derive(Debug, Default)]
struct Bits {
    /// Global index → until (ms): revoked, and some token carrying it may still be accepted.
    revoked: HashMap<u64, i64>,
    /// Per list: bumped whenever one of its bits changes.
    versions: HashMap<u64, u64>,
    /// The lowest index never handed out, as far as this replica knows.
    bound: u64,
    bound_checked_ms: Option<i64>,
}

/// The status lists of this process, kept in step with the revocation feed.
#[derive(Debug)]
pub struct StatusLists {
    issuer: String,
    ttl: Duration,
    bits: RwLock<Bits>,
    rendered: RwLock<HashMap<u64, Arc<RenderedList>>>,
    /// One rendering at a time: a burst of requests after a change renders once.
    rendering: Mutex<()>,
}

#[derive(Serialize)]
struct ListClaims<'a> {
    sub: &'a str,
    iat: i64,
    exp: i64,
    ttl: u64,
    status_list: ListBody<'a>,
}

#[derive(Serialize)]
struct ListBody<'a> {
    bits: u8,
    lst: &'a str,
}

impl StatusLists {
    pub fn new(issuer: &str, ttl: Duration) -> Self {
        StatusLists {
            issuer: issuer.trim_end_matches('/').to_string(),
            ttl: ttl.max(Duration::from_secs(1)),
            bits: RwLock::default(),
            rendered: RwLock::default(),
            rendering: Mutex::new(()),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A freed index may be handed out again only if every token that carried it expired
    /// before this instant: [`REUSE_MARGIN`] ago, or twenty list lifetimes if that is longer
    /// (a verifier may use a list for ten).
    pub fn reuse_before(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let margin = REUSE_MARGIN.max(self.ttl.saturating_mul(20));
        now - crate::settings::ttl(margin)
    }

    /// The URI of list `n`.
    pub fn uri(&self, n: u64) -> String {
        format!("{}/statuslists/{n}", self.issuer)
    }

    /// The `status` claim of a token carrying global index `idx`.
    pub fn claim(&self, idx: i64) -> Option<TokenStatus> {
        let idx = u64::try_from(idx).ok()?;
        self.note_index(idx);
        Some(TokenStatus {
            status_list: StatusListRef {
                idx: idx % LIST_SIZE,
                uri: self.uri(idx / LIST_SIZE),
            },
        })
    }

    /// The store's lowest never-handed-out index (`SessionStore::status_index_bound`): every
    /// list below it exists.
    pub fn note_bound(&self, bound: i64) {
        if let Ok(bound) = u64::try_from(bound)
            && bound > 0
        {
            self.note_index(bound - 1);
        }
    }

    /// An index handed out (here or, read from the feed, elsewhere): its list exists.
    fn note_index(&self, idx: u64) {
        let known = self.bits.read().unwrap_or_else(|e| e.into_inner()).bound;
        if idx >= known {
            let mut b = self.bits.write().unwrap_or_else(|e| e.into_inner());
            b.bound = b.bound.max(idx + 1);
        }
    }

    /// Sets the bit of `idx` until `until` (from a feed entry; read again, it is kept longest).
    pub fn revoke(&self, idx: i64, until: DateTime<Utc>) {
        let Ok(idx) = u64::try_from(idx) else { return };
        let until = until.timestamp_millis();
        let mut b = self.bits.write().unwrap_or_else(|e| e.into_inner());
        b.bound = b.bound.max(idx + 1);
        let changed = match b.revoked.get_mut(&idx) {
            Some(held) => {
                *held = (*held).max(until);
                false
            }
            None => {
                b.revoked.insert(idx, until);
                true
            }
        };
        if changed {
            *b.versions.entry(idx / LIST_SIZE).or_default() += 1;
        }
    }

    /// Clears the bits whose tokens have all expired.
    pub fn expire(&self, now: DateTime<Utc>) {
        let now = now.timestamp_millis();
        let mut b = self.bits.write().unwrap_or_else(|e| e.into_inner());
        let gone: Vec<u64> = b
            .revoked
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(idx, _)| *idx)
            .collect();
        for idx in gone {
            b.revoked.remove(&idx);
            *b.versions.entry(idx / LIST_SIZE).or_default() += 1;
        }
    }

    /// How many bits are set (for tests and metrics).
    pub fn revoked_count(&self) -> usize {
        self.bits
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .revoked
            .len()
    }

    /// Whether global index `idx` is revoked here now (tests).
    pub fn is_revoked(&self, idx: i64) -> bool {
        u64::try_from(idx).is_ok_and(|i| {
            self.bits
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .revoked
                .contains_key(&i)
        })
    }

    fn exists(&self, n: u64) -> bool {
        let bound = self.bits.read().unwrap_or_else(|e| e.into_inner()).bound;
        n == 0 || n.saturating_mul(LIST_SIZE) < bound
    }

    /// List `n` as served now, rendered if its bits changed or it is getting old; `None` when no
    /// index of it was ever handed out (as far as this replica knows).
    pub fn get(
        &self,
        n: u64,
        keys: &KeyRing,
        now: DateTime<Utc>,
    ) -> Result<Option<Arc<RenderedList>>, CoreError> {
        if !self.exists(n) {
            return Ok(None);
        }
        let now_ms = now.timestamp_millis();
        if let Some(r) = self.fresh(n, now_ms) {
            return Ok(Some(r));
        }
        let _one = self.rendering.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = self.fresh(n, now_ms) {
            return Ok(Some(r));
        }
        let r = Arc::new(self.render(n, keys, now)?);
        self.rendered
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(n, r.clone());
        Ok(Some(r))
    }

    /// The rendering held for `n`, if it is still good to serve.
    fn fresh(&self, n: u64, now_ms: i64) -> Option<Arc<RenderedList>> {
        let r = self
            .rendered
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&n)
            .cloned()?;
        let version = self.version(n);
        let age = now_ms - r.rendered_at_ms;
        let half_life = (r.exp_ms - r.rendered_at_ms) / 2;
        (r.version == version && age >= 0 && age < half_life).then_some(r)
    }

    fn version(&self, n: u64) -> u64 {
        self.bits
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .versions
            .get(&n)
            .copied()
            .unwrap_or(0)
    }

    fn render(
        &self,
        n: u64,
        keys: &KeyRing,
        now: DateTime<Utc>,
    ) -> Result<RenderedList, CoreError> {
        let (bytes, version) = {
            let b = self.bits.read().unwrap_or_else(|e| e.into_inner());
            let mut bytes = vec![0u8; (LIST_SIZE / 8) as usize];
            let first = n * LIST_SIZE;
            for idx in b
                .revoked
                .keys()
                .filter(|i| (first..first + LIST_SIZE).contains(i))
            {
                let at = idx - first;
                bytes[(at / 8) as usize] |= 1 << (at % 8);
            }
            (bytes, b.versions.get(&n).copied().unwrap_or(0))
        };
        let lst = B64.encode(compress(&bytes)?);
        let ttl = self.ttl.as_secs();
        let iat = now.timestamp();
        // Valid for the ten `ttl`s a verifier may keep using it when it cannot get a newer one.
        let exp = iat.saturating_add(ttl.saturating_mul(10) as i64);
        let uri = self.uri(n);
        let claims = ListClaims {
            sub: &uri,
            iat,
            exp,
            ttl,
            status_list: ListBody { bits: 1, lst: &lst },
        };
        let jwt = keys
            .current()
            .active
            .sign_jwt_typed("statuslist+jwt", &claims)?;
        // The draft's JSON status list (`bits`, `lst`) with the token's claims beside it.
        let json = serde_json::json!({
            "sub": uri,
            "iat": iat,
            "exp": exp,
            "ttl": ttl,
            "bits": 1,
            "lst": lst,
            "status_list": {"bits": 1, "lst": lst},
        })
        .to_string();
        Ok(RenderedList {
            jwt_etag: etag(&jwt),
            json_etag: etag(&json),
            jwt: jwt.into(),
            json: json.into(),
            ttl,
            version,
            rendered_at_ms: now.timestamp_millis(),
            exp_ms: exp.saturating_mul(1000),
        })
    }
}

fn compress(bytes: &[u8]) -> Result<Vec<u8>, CoreError> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(bytes).map_err(CoreError::internal)?;
    z.finish().map_err(CoreError::internal)
}

/// A strong validator of one representation: the first 128 bits of its SHA-256.
fn etag(body: &str) -> String {
    let d = Sha256::digest(body.as_bytes());
    format!("\"{}\"", B64.encode(&d[..16]))
}

/// The status lists as a capability: serving a list by number.
#[derive(Debug, Clone)]
pub struct StatusListService {
    lists: Arc<StatusLists>,
    keys: Arc<KeyRing>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl StatusListService {
    pub(crate) fn new(
        lists: Arc<StatusLists>,
        keys: Arc<KeyRing>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        StatusListService {
            lists,
            keys,
            store,
            clock,
        }
    }

    pub fn lists(&self) -> &StatusLists {
        &self.lists
    }

    /// List `n`; `NotFound` when no index of it was ever handed out. A list this replica has not
    /// seen an index of yet is looked up in the store, at most once per second, so another
    /// replica's new list is served here too while made-up numbers cost no query each.
    pub async fn get(&self, n: u64) -> Result<Arc<RenderedList>, CoreError> {
        let now = self.clock.now();
        if let Some(r) = self.lists.get(n, &self.keys, now)? {
            return Ok(r);
        }
        if n > (i64::MAX as u64) / LIST_SIZE || !self.may_check_bound(now) {
            return Err(CoreError::NotFound);
        }
        self.lists
            .note_bound(self.store.status_index_bound().await?);
        self.lists
            .get(n, &self.keys, self.clock.now())?
            .ok_or(CoreError::NotFound)
    }

    fn may_check_bound(&self, now: DateTime<Utc>) -> bool {
        let now = now.timestamp_millis();
        let mut b = self.lists.bits.write().unwrap_or_else(|e| e.into_inner());
        let due = b
            .bound_checked_ms
            .is_none_or(|t| now - t >= BOUND_REFRESH_INTERVAL.as_millis() as i64 || now < t);
        if due {
            b.bound_checked_ms = Some(now);
        }
        due
    }
}

/// Reads bit `idx` of a served list's `lst` (the verifier's own reader: tests use it).
pub fn bit_of(lst: &str, idx: u64) -> Result<bool, CoreError> {
    sesame_verify::StatusList::from_lst(lst)
        .map(|l| l.is_set(idx))
        .map_err(CoreError::internal)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;

    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(ms).unwrap()
    }

    #[test]
    fn a_claim_names_the_list_and_the_index_within_it() {
        let lists = StatusLists::new("https://id.example/", Duration::from_secs(5));
        let c = lists.claim(LIST_SIZE as i64 + 7).unwrap();
        assert_eq!(c.status_list.idx, 7);
        assert_eq!(c.status_list.uri, "https://id.example/statuslists/1");
        assert!(lists.exists(1));
        assert!(!lists.exists(2));
        assert!(lists.claim(-1).is_none());
        // The store's bound: every list below it exists.
        let fresh = StatusLists::new("https://id.example", Duration::from_secs(5));
        fresh.note_bound(0);
        assert!(
            fresh.exists(0) && !fresh.exists(1),
            "list 0 always, nothing else"
        );
        fresh.note_bound(2 * LIST_SIZE as i64 + 1);
        assert!(fresh.exists(2) && !fresh.exists(3));
    }

    #[test]
    fn bits_are_set_until_their_tokens_expire_and_versions_move() {
        let lists = StatusLists::new("https://id.example", Duration::from_secs(5));
        lists.revoke(3, at(10_000));
        assert!(lists.is_revoked(3));
        let v = lists.version(0);
        // Read again with a later until: kept longest, the bits did not change.
        lists.revoke(3, at(20_000));
        assert_eq!(lists.version(0), v);
        lists.expire(at(15_000));
        assert!(lists.is_revoked(3));
        lists.expire(at(20_000));
        assert!(!lists.is_revoked(3));
        assert!(lists.version(0) > v);
    }

    #[test]
    fn lst_is_zlib_of_the_bits_lowest_bit_first() {
        let bytes = {
            let mut b = vec![0u8; 4];
            b[1] = 0b0000_0100; // index 10
            b
        };
        let lst = B64.encode(compress(&bytes).unwrap());
        assert!(bit_of(&lst, 10).unwrap());
        assert!(!bit_of(&lst, 9).unwrap());
        assert!(!bit_of(&lst, 11).unwrap());
        assert!(!bit_of(&lst, 10_000).unwrap());
    }
}
