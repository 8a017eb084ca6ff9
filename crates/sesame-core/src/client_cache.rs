//! Service clients held in memory, so that authenticating a client on `/oauth/introspect`,
//! `/oauth/token` and `/oauth/revoke` is a hash lookup and an HMAC instead of a database read.
//!
//! Only what the database confirmed is held: a record is inserted after its secret matched,
//! never for an unknown id or a wrong secret (those go to the database every time, as before,
//! and answer the same `invalid_client`). A hit still compares the presented secret's HMAC with
//! the stored one in constant time, so the cache changes where the record comes from, never
//! what is checked.
//!
//! A deleted client must stop authenticating. Three things see to it:
//! - the deletion writes a `client` entry to the revocation feed (a trigger, same transaction);
//!   every process reads it into [`RevocationCache`](crate::revocation::RevocationCache) — at
//!   once on the replica that deleted, within `SYNC_INTERVAL` (1 s) plus a poll elsewhere — and
//!   then evicts the id here. A hit is used only while the id is not in the revoked set, so the
//!   eviction matters for memory, not for correctness;
//! - an insert that raced a deletion is undone by [`ClientCache::admit`] (see there);
//! - entries older than [`TTL`] are read again from the database, so even a feed entry missed
//!   for whatever reason leaves a deleted client usable for at most a minute on one replica.
//!
//! Clients are never changed in place (there is no update; a new secret means a new client), so
//! deletion is the only invalidation needed.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::store::ClientRecord;

/// How long a record read from the database is used before it is read again.
pub const TTL: Duration = Duration::from_secs(60);
/// At most this many clients are held. Service clients are few (tens, hundreds); when the cache
/// is full, expired entries are swept and, if it is still full, the newcomer is simply not
/// held — it authenticates against the database as before, and gets a place once entries
/// expire (within [`TTL`]). Nothing is evicted early, so a flood of distinct valid clients
/// cannot push the busy ones out; and only clients that authenticated get in at all.
pub const CAPACITY: usize = 4096;

struct Entry {
    record: Arc<ClientRecord>,
    /// When the database read that produced it began (by the service's clock).
    fetched_at: DateTime<Utc>,
}

pub struct ClientCache {
    entries: RwLock<HashMap<String, Entry>>,
    ttl: chrono::Duration,
    capacity: usize,
}

// By hand: the records' secret hashes have no business in a log line, nor hundreds of entries.
impl std::fmt::Debug for ClientCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCache")
            .field("len", &self.len())
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl Default for ClientCache {
    fn default() -> Self {
        ClientCache::new(CAPACITY, TTL)
    }
}

impl ClientCache {
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        ClientCache {
            entries: RwLock::default(),
            ttl: chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX),
            capacity,
        }
    }

    fn fresh(&self, e: &Entry, now: DateTime<Utc>) -> bool {
        crate::clock::younger_than(e.fetched_at, now, self.ttl)
    }

    /// The record of `client_id` if held and younger than the TTL at `now`. The caller still
    /// checks the revoked set and the secret.
    pub fn get(&self, client_id: &str, now: DateTime<Utc>) -> Option<Arc<ClientRecord>> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .get(client_id)
            .filter(|e| self.fresh(e, now))
            .map(|e| e.record.clone())
    }

    /// Holds a record the database just confirmed (its secret matched), read by a query that
    /// began at `fetched_at`, unless its client is revoked by then.
    ///
    /// Insert first, check `is_revoked` after — in that order. The feed poll does the opposite:
    /// it adds the client to the revoked set, then evicts it from here. So if a deletion races
    /// this request (our database read saw the client, the deletion committed after), either
    /// the eviction comes after our insert and removes the entry, or it came before — and then
    /// the revoked set was already updated, our check after the insert sees it, and we remove
    /// the entry ourselves. Checking before inserting would leave a window (check, poll adds
    /// and evicts, insert) in which a deleted client stays held until the TTL. Hits check the
    /// revoked set as well, and the revoked set keeps a client longer than the TTL keeps an
    /// entry, so a lost eviction would not let the client in; the ordering keeps the cache
    /// itself right instead of leaning on those.
    pub fn admit(
        &self,
        record: Arc<ClientRecord>,
        fetched_at: DateTime<Utc>,
        is_revoked: impl Fn(&str) -> bool,
    ) {
        let id = record.client_id.clone();
        self.insert(record, fetched_at);
        if is_revoked(&id) {
            self.remove(&id);
        }
    }

    /// Inserts or replaces an entry; returns whether it is held (false when full).
    fn insert(&self, record: Arc<ClientRecord>, fetched_at: DateTime<Utc>) -> bool {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(&record.client_id) {
            // Sweep by the newcomer's time: whatever is stale for it is stale for everyone.
            entries.retain(|_, e| self.fresh(e, fetched_at));
            if entries.len() >= self.capacity {
                return false;
            }
        }
        entries.insert(record.client_id.clone(), Entry { record, fetched_at });
        true
    }

    /// Forgets a client (deleted here, or seen deleted in the revocation feed).
    pub fn remove(&self, client_id: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.remove(client_id);
    }

    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn record(id: &str) -> Arc<ClientRecord> {
        Arc::new(ClientRecord {
            client_id: id.to_string(),
            name: "svc".into(),
            secret_hash: vec![1; 32],
            audiences: vec!["api".into()],
            scopes: Vec::new(),
            delegable_roles: Vec::new(),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            access_until: None,
            status_idx: None,
            ..Default::default()
        })
    }

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(1_700_000_000 + secs)
    }

    /// Stands in for the revocation cache and the poll: `revoke` does what `sync_revocations`
    /// does, in its order — revoked set first, then eviction.
    struct Feed {
        revoked: Mutex<Vec<String>>,
    }

    impl Feed {
        fn is_revoked(&self, id: &str) -> bool {
            self.revoked.lock().unwrap().iter().any(|r| r == id)
        }
        fn revoke(&self, id: &str, cache: &ClientCache) {
            self.revoked.lock().unwrap().push(id.to_string());
            cache.remove(id);
        }
    }

    #[test]
    fn a_deletion_polled_between_the_database_read_and_the_insert_is_not_lost() {
        let cache = ClientCache::default();
        let feed = Feed {
            revoked: Mutex::new(Vec::new()),
        };
        // The request read the client from the database (it still existed) ...
        let fetched = record("svc_a");
        // ... then the deletion committed and this process polled it (nothing to evict yet) ...
        feed.revoke("svc_a", &cache);
        // ... then the request admits what it read.
        cache.admit(fetched, t(0), |id| feed.is_revoked(id));
        assert!(
            cache.get("svc_a", t(1)).is_none(),
            "a client deleted while its record was being read stayed cached"
        );
        assert!(cache.is_empty());
    }

    #[test]
    fn a_deletion_polled_after_the_insert_evicts() {
        let cache = ClientCache::default();
        let feed = Feed {
            revoked: Mutex::new(Vec::new()),
        };
        cache.admit(record("svc_a"), t(0), |id| feed.is_revoked(id));
        assert!(cache.get("svc_a", t(1)).is_some(), "admitted while live");
        feed.revoke("svc_a", &cache);
        assert!(cache.get("svc_a", t(1)).is_none());
    }

    #[test]
    fn entries_expire_after_the_ttl_and_when_the_clock_goes_back() {
        let cache = ClientCache::default();
        cache.admit(record("svc_a"), t(100), |_| false);
        assert!(cache.get("svc_a", t(100)).is_some());
        assert!(cache.get("svc_a", t(159)).is_some(), "59 s old: fresh");
        assert!(cache.get("svc_a", t(160)).is_none(), "60 s old: read again");
        assert!(
            cache.get("svc_a", t(99)).is_none(),
            "clock went back: stale"
        );
        // Read again from the database: fresh again from the new read.
        cache.admit(record("svc_a"), t(160), |_| false);
        assert!(cache.get("svc_a", t(200)).is_some());
    }

    #[test]
    fn a_full_cache_sweeps_expired_entries_and_otherwise_refuses_newcomers() {
        let cache = ClientCache::new(2, TTL);
        cache.admit(record("svc_a"), t(0), |_| false);
        cache.admit(record("svc_b"), t(30), |_| false);
        cache.admit(record("svc_c"), t(40), |_| false);
        assert_eq!(cache.len(), 2);
        assert!(cache.get("svc_c", t(40)).is_none(), "full: not held");
        assert!(cache.get("svc_a", t(40)).is_some(), "nothing evicted early");
        // Refreshing a held entry is not a newcomer.
        cache.admit(record("svc_a"), t(50), |_| false);
        assert!(cache.get("svc_a", t(100)).is_some());
        // svc_b has expired by t(95): swept, svc_c gets its place.
        cache.admit(record("svc_c"), t(95), |_| false);
        assert!(cache.get("svc_c", t(95)).is_some());
        assert!(cache.get("svc_b", t(95)).is_none());
        assert_eq!(cache.len(), 2);
    }
}
