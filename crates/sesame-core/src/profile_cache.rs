//! Profiles held in memory, so that `GET /profile` — the busiest read of a signed-in user — is
//! a hash lookup instead of a database read on a connection thread.
//!
//! What is held is only what the profile shows ([`Profile`]): no password hash, no lockout
//! counters. A profile with an email change waiting for verification is never held, because the
//! pending address expires by time, not by a write; it is read from the database each time.
//!
//! A change must show at once on the replica that made it, and within a poll of the revocation
//! feed (≈ 1 s) everywhere else:
//! - every statement that changes what a profile shows writes a `profile` entry to the feed, by
//!   triggers in the same transaction (migration 0010); each process reads the feed and drops
//!   the user here ([`ProfileCache::forget`]) — the replica that wrote at once, because its
//!   use-cases call `forget` themselves right after the write commits;
//! - a read that raced a change cannot put the old row back: a reader takes a [`Ticket`] before
//!   its database read, and [`ProfileCache::admit`] refuses the row if the user was forgotten
//!   since (or if so many users were forgotten since that it can no longer tell);
//! - entries older than [`TTL`] are read again, so even a feed entry missed for whatever reason
//!   leaves a profile stale for at most that long.
//!
//! Memory is bounded: at most [`CAPACITY`] profiles; when full, expired entries are swept and,
//! if it is still full, the newcomer is simply not held (it is read from the database as before).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::clock::younger_than;
use crate::store::UserRecord;

/// How long a profile read from the database is used before it is read again.
pub const TTL: Duration = Duration::from_secs(60);
/// At most this many profiles are held (a few hundred bytes each: about 10 MB when full).
pub const CAPACITY: usize = 32_768;
/// A full cache is swept for expired entries at most this often.
const SWEEP_EVERY: chrono::Duration = chrono::Duration::seconds(1);
/// How many of the latest forgotten users are remembered to judge racing reads by. A read whose
/// ticket is older than all of them is not admitted (it is served, just not held).
const RECENT: usize = 1024;

/// What a profile shows: the user without secrets and counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub id: Uuid,
    pub email: String,
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub roles: Vec<String>,
    pub email_verified: bool,
    pub disabled: bool,
    /// An address waiting for its verification link (never set on a held profile).
    pub pending_email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Profile {
    pub fn new(u: UserRecord, pending_email: Option<String>) -> Self {
        Profile {
            id: u.id,
            email: u.email,
            username: u.username,
            display_name: u.display_name,
            roles: u.roles,
            email_verified: u.email_verified,
            disabled: u.disabled,
            pending_email,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// Taken before a database read; says which forgets happened since.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

struct Entry {
    profile: Arc<Profile>,
    fetched_at: DateTime<Utc>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Uuid, Entry>,
    /// Bumped by every forget.
    epoch: u64,
    /// (epoch of the forget, user) for the latest [`RECENT`] forgets, oldest first.
    recent: VecDeque<(u64, Uuid)>,
    /// When a full cache was last swept for expired entries.
    swept_at: Option<DateTime<Utc>>,
    /// Sweeps run, for the test that checks they are rationed.
    #[cfg(test)]
    sweeps: usize,
}

pub struct ProfileCache {
    inner: RwLock<Inner>,
    ttl: chrono::Duration,
    capacity: usize,
}

// By hand: hundreds of people's addresses have no business in a log line.
impl std::fmt::Debug for ProfileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileCache")
            .field("len", &self.len())
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl Default for ProfileCache {
    fn default() -> Self {
        ProfileCache::new(CAPACITY, TTL)
    }
}

impl ProfileCache {
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        ProfileCache {
            inner: RwLock::default(),
            ttl: chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX),
            capacity,
        }
    }

    /// The held profile of `id`, if younger than the TTL at `now`.
    pub fn get(&self, id: Uuid, now: DateTime<Utc>) -> Option<Arc<Profile>> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner
            .entries
            .get(&id)
            .filter(|e| younger_than(e.fetched_at, now, self.ttl))
            .map(|e| e.profile.clone())
    }

    /// To be taken before the database read whose row may be admitted.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.inner.read().unwrap_or_else(|e| e.into_inner()).epoch)
    }

    /// Holds a profile read by a query that began after `ticket` was taken and at `fetched_at`,
    /// unless its user was forgotten since (the row may be older than the change), it has an
    /// email change pending, or the cache is full of fresh entries. Returns whether it is held.
    pub fn admit(&self, ticket: Ticket, profile: Arc<Profile>, fetched_at: DateTime<Utc>) -> bool {
        if profile.pending_email.is_some() {
            return false;
        }
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if inner.epoch != ticket.0 {
            // Forgets since the ticket: epochs ticket+1 ..= epoch. All of them must still be in
            // `recent` to know this user is not among them.
            let complete = inner
                .recent
                .front()
                .is_some_and(|(first, _)| *first <= ticket.0 + 1);
            let forgotten = inner
                .recent
                .iter()
                .any(|(at, id)| *at > ticket.0 && *id == profile.id);
            if !complete || forgotten {
                return false;
            }
        }
        if inner.entries.len() >= self.capacity && !inner.entries.contains_key(&profile.id) {
            // A sweep walks every entry under the write lock: at most one a second, or a flood
            // of users beyond the capacity would make every miss pay for one.
            let due = inner
                .swept_at
                .is_none_or(|at| fetched_at - at >= SWEEP_EVERY || fetched_at < at);
            if !due {
                return false;
            }
            inner.swept_at = Some(fetched_at);
            #[cfg(test)]
            {
                inner.sweeps += 1;
            }
            // Sweep by the newcomer's time: whatever is stale for it is stale for everyone.
            let ttl = self.ttl;
            inner
                .entries
                .retain(|_, e| younger_than(e.fetched_at, fetched_at, ttl));
            if inner.entries.len() >= self.capacity {
                return false;
            }
        }
        inner.entries.insert(
            profile.id,
            Entry {
                profile,
                fetched_at,
            },
        );
        true
    }

    /// Drops a user's profile: it changed (here, or as read from the feed), or was deleted.
    pub fn forget(&self, id: Uuid) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        inner.entries.remove(&id);
        inner.epoch += 1;
        let epoch = inner.epoch;
        if inner.recent.len() == RECENT {
            inner.recent.pop_front();
        }
        inner.recent.push_back((epoch, id));
    }

    pub fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .entries
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;

    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_900_000_000 + secs, 0).unwrap()
    }

    fn profile(id: Uuid, name: &str) -> Arc<Profile> {
        Arc::new(Profile {
            id,
            email: format!("{name}@example.com"),
            username: None,
            display_name: Some(name.into()),
            roles: vec!["customer".into()],
            email_verified: true,
            disabled: false,
            pending_email: None,
            created_at: at(0),
            updated_at: at(0),
        })
    }

    #[test]
    fn a_held_profile_is_served_until_its_ttl() {
        let cache = ProfileCache::new(8, Duration::from_secs(60));
        let id = Uuid::now_v7();
        assert!(cache.admit(cache.ticket(), profile(id, "ann"), at(0)));
        assert_eq!(
            cache.get(id, at(59)).unwrap().display_name.as_deref(),
            Some("ann")
        );
        assert!(cache.get(id, at(60)).is_none(), "expired at the TTL");
        // A clock that went back does not make an entry young.
        assert!(cache.get(id, at(-1)).is_none());
    }

    #[test]
    fn forget_drops_the_profile_at_once() {
        let cache = ProfileCache::default();
        let id = Uuid::now_v7();
        cache.admit(cache.ticket(), profile(id, "ann"), at(0));
        cache.forget(id);
        assert!(cache.get(id, at(1)).is_none());
    }

    #[test]
    fn a_read_that_raced_a_change_of_its_user_is_not_held() {
        let cache = ProfileCache::default();
        let id = Uuid::now_v7();
        let other = Uuid::now_v7();
        // The reader takes its ticket, reads the old row; the change commits and is forgotten.
        let ticket = cache.ticket();
        cache.forget(id);
        assert!(!cache.admit(ticket, profile(id, "old"), at(0)));
        assert!(cache.get(id, at(0)).is_none());
        // Another user's change in between does not stop an unrelated read being held.
        let ticket = cache.ticket();
        cache.forget(other);
        assert!(cache.admit(ticket, profile(id, "new"), at(0)));
    }

    #[test]
    fn a_read_older_than_the_remembered_forgets_is_not_held() {
        let cache = ProfileCache::default();
        let id = Uuid::now_v7();
        let ticket = cache.ticket();
        for _ in 0..=RECENT {
            cache.forget(Uuid::now_v7());
        }
        // This user is not among the remembered forgets, but the oldest were pushed out: it
        // cannot be told whether it was among them.
        assert!(!cache.admit(ticket, profile(id, "maybe-old"), at(0)));
        assert!(cache.admit(cache.ticket(), profile(id, "fresh"), at(0)));
    }

    #[test]
    fn a_pending_email_change_is_never_held() {
        let cache = ProfileCache::default();
        let id = Uuid::now_v7();
        let mut p = (*profile(id, "ann")).clone();
        p.pending_email = Some("new@example.com".into());
        assert!(!cache.admit(cache.ticket(), Arc::new(p), at(0)));
        assert!(cache.is_empty());
    }

    #[test]
    fn a_full_cache_sweeps_expired_entries_and_never_grows_past_its_capacity() {
        let cache = ProfileCache::new(2, Duration::from_secs(60));
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        assert!(cache.admit(cache.ticket(), profile(a, "a"), at(0)));
        assert!(cache.admit(cache.ticket(), profile(b, "b"), at(30)));
        // Full of fresh entries: the newcomer is not held.
        assert!(!cache.admit(cache.ticket(), profile(c, "c"), at(40)));
        assert_eq!(cache.len(), 2);
        // `a` has expired by 61 s: swept, and `c` takes its place.
        assert!(cache.admit(cache.ticket(), profile(c, "c"), at(61)));
        assert_eq!(cache.len(), 2);
        assert!(cache.get(a, at(61)).is_none());
        assert!(cache.get(b, at(61)).is_some());
    }

    #[test]
    fn a_full_cache_is_swept_at_most_once_a_second() {
        let cache = ProfileCache::new(2, Duration::from_secs(60));
        cache.admit(cache.ticket(), profile(Uuid::now_v7(), "a"), at(0));
        cache.admit(cache.ticket(), profile(Uuid::now_v7(), "b"), at(0));
        let sweeps = || cache.inner.read().unwrap().sweeps;
        // A flood of newcomers while every entry is fresh: one sweep, not one per newcomer.
        for _ in 0..100 {
            assert!(!cache.admit(cache.ticket(), profile(Uuid::now_v7(), "x"), at(10)));
        }
        assert_eq!(sweeps(), 1);
        assert!(!cache.admit(cache.ticket(), profile(Uuid::now_v7(), "y"), at(11)));
        assert_eq!(sweeps(), 2, "a second later, another");
    }
}
