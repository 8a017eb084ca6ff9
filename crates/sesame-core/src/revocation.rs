//! Revocation state in memory, so that checking a valid token never touches the database.
//!
//! The store records every revocation (session revoked or deleted while live, access token
//! deny-listed, service client deleted) in a feed, in the same transaction as the revocation.
//! Each process keeps the revoked sids, jtis and client ids of the last access-token lifetime
//! in hash maps — a check costs a hash lookup or two whatever the number of tokens ever issued
//! — and catches up with the feed:
//! at once after it revokes something itself, and every [`SYNC_INTERVAL`] for what other
//! replicas revoked. That interval (plus the time a poll takes) is the staleness bound across
//! replicas; on the replica that revoked, revocation is immediate.
//!
//! Polls read from the newest entry seen (or this process's clock, if earlier) minus
//! [`LOOKBACK`], so an entry whose transaction committed a little after its timestamp is still
//! picked up; re-reading is harmless (sets).
//! Memory is bounded by the revocations of one access-token lifetime: older entries are
//! dropped, since every token they could refuse has expired.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sesame_verify::Claims;

use crate::store::{RevocationKind, Store, StoreResult};

/// How often each process polls the feed for other replicas' revocations.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// How far before the newest entry seen each poll reads again.
pub const LOOKBACK: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
struct State {
    /// sid → when its last access token expires at the latest (ms).
    sessions: HashMap<String, i64>,
    /// jti → when the token expires (ms).
    tokens: HashMap<String, i64>,
    /// Deleted client id → when the last access token issued to it expires at the latest (ms).
    clients: HashMap<String, i64>,
    /// Newest feed timestamp seen (database clock).
    newest: Option<DateTime<Utc>>,
}

#[derive(Debug)]
pub struct RevocationCache {
    state: RwLock<State>,
    /// Serialises polls, so two concurrent catch-ups do not both read the feed.
    poll: tokio::sync::Mutex<()>,
    /// How long a revoked session stays relevant: the access-token lifetime plus leeway.
    session_horizon: chrono::Duration,
    /// How long a deleted client stays relevant: as a session, plus the client cache's TTL —
    /// a replica that missed the feed may authenticate the client from its cache, and mint a
    /// token, for up to that long after the deletion.
    client_horizon: chrono::Duration,
}

impl RevocationCache {
    pub fn new(access_ttl: Duration) -> Self {
        // Saturating: an absurd configured lifetime must not panic here.
        let horizon = chrono::Duration::from_std(access_ttl)
            .ok()
            .and_then(|ttl| {
                ttl.checked_add(&chrono::Duration::seconds(
                    sesame_verify::DEFAULT_LEEWAY_SECS + 1,
                ))
            })
            .unwrap_or(chrono::Duration::MAX);
        let client_horizon = chrono::Duration::from_std(crate::client_cache::TTL)
            .ok()
            .and_then(|ttl| horizon.checked_add(&ttl))
            .unwrap_or(horizon);
        RevocationCache {
            state: RwLock::default(),
            poll: tokio::sync::Mutex::new(()),
            session_horizon: horizon,
            client_horizon,
        }
    }

    /// Whether the token's session, the token itself, or the client it was issued to is
    /// revoked (memory only). The client check covers service tokens and tokens a client got by
    /// exchange (both carry its `client_id`); first-party tokens carry `sesame`, never a
    /// deleted client's id. Client ids are random (`svc_` + 128 bits) and never reused, so a
    /// deleted id cannot catch a later client's tokens.
    pub fn is_revoked(&self, claims: &Claims) -> bool {
        let s = self.state.read().unwrap_or_else(|e| e.into_inner());
        s.tokens.contains_key(&claims.jti)
            || s.clients.contains_key(&claims.client_id)
            || claims
                .sid
                .as_ref()
                .is_some_and(|sid| s.sessions.contains_key(sid))
    }

    /// Whether this client was deleted (within the last access-token lifetime plus the client
    /// cache's TTL) as far as this process has read the feed.
    pub fn is_client_revoked(&self, client_id: &str) -> bool {
        let s = self.state.read().unwrap_or_else(|e| e.into_inner());
        s.clients.contains_key(client_id)
    }

    /// Reads the feed from where this process left off (all of the last access-token lifetime
    /// on the first call) and forgets entries that can no longer matter. Returns the ids of
    /// the deleted clients it read (again, for those inside the look-back), already in the
    /// revoked set when this returns, so the caller can drop them from its credentials cache.
    pub async fn catch_up(
        &self,
        store: &dyn Store,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<String>> {
        let _one_at_a_time = self.poll.lock().await;
        let newest = self.state.read().unwrap_or_else(|e| e.into_inner()).newest;
        let lookback = chrono::Duration::from_std(LOOKBACK).unwrap_or_default();
        let since = match newest {
            // Never from past this process's own clock: an entry stamped while the database
            // clock stood ahead (then corrected) would otherwise move the cursor past every
            // revocation stamped after the correction, until real time caught up. Entries from
            // the future are read again on each poll until then, which is harmless (sets).
            Some(t) => t.min(now) - lookback,
            None => now - self.client_horizon - lookback,
        };
        let feed = store.revocations_since(since).await?;
        let mut clients = Vec::new();
        let mut s = self.state.write().unwrap_or_else(|e| e.into_inner());
        for r in feed {
            match r.kind {
                RevocationKind::Session => {
                    // Judged by this process's clock, which stamped the tokens: from the
                    // feed's stamp alone, a database clock running behind ours would let the
                    // entry go before the session's last token expires.
                    let until = (r.at.max(now) + self.session_horizon).timestamp_millis();
                    s.sessions.insert(r.subject, until);
                }
                RevocationKind::Token => {
                    let until = r
                        .until
                        .unwrap_or(r.at.max(now) + self.session_horizon)
                        .timestamp_millis();
                    s.tokens.insert(r.subject, until);
                }
                RevocationKind::Client => {
                    // As for a session, by our clock, with room for a token minted from a stale
                    // cache entry after the deletion (see `client_horizon`).
                    let until = (r.at.max(now) + self.client_horizon).timestamp_millis();
                    clients.push(r.subject.clone());
                    s.clients.insert(r.subject, until);
                }
            }
            s.newest = Some(s.newest.map_or(r.at, |n| n.max(r.at)));
        }
        let now_ms = now.timestamp_millis();
        s.sessions.retain(|_, until| *until > now_ms);
        s.tokens.retain(|_, until| *until > now_ms);
        s.clients.retain(|_, until| *until > now_ms);
        Ok(clients)
    }

    /// How many revocations are held (for tests and metrics).
    pub fn len(&self) -> usize {
        let s = self.state.read().unwrap_or_else(|e| e.into_inner());
        s.sessions.len() + s.tokens.len() + s.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
