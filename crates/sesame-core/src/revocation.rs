//! Revocation state in memory, so that checking a valid token never touches the database.
//!
//! The store records every revocation (session revoked or deleted while live, access token
//! deny-listed, service client deleted) in a feed, in the same transaction as the revocation
//! (triggers). Each process keeps the revoked sids, jtis and client ids in hash maps — a check
//! costs a hash lookup or two whatever the number of tokens ever issued — and catches up with
//! the feed: at once after it revokes something itself, and every [`SYNC_INTERVAL`] for what
//! other replicas revoked. That interval (plus the time a poll takes) is the staleness bound
//! across replicas; on the replica that revoked, revocation is immediate.
//!
//! Each entry is kept until its own `until`: the latest moment a token it covers can still be
//! accepted, recorded from the tokens actually issued (by Sesame's clock, which stamped them).
//! Neither the access lifetime configured now nor the database's clock decides it, so a restart
//! with a shorter lifetime, or a database clock behind ours, cannot make a revoked token valid
//! again. Memory is bounded by the revocations of live tokens.
//!
//! Polls read from a commit-ordered cursor the store hands back (see `store::FeedPage`): an
//! entry whose transaction commits late — after newer entries were read, however much later —
//! is still read, and no timestamp (of either clock) moves the cursor. This replaced a look-back
//! window of 10 s by timestamp, which missed commits later than that.
//!
//! The feed also says when the signing keys changed; [`FeedNews::keys_changed`] tells the
//! caller to reload them.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sesame_verify::Claims;

use crate::client_cache::ClientCache;
use crate::clock::Clock;
use crate::error::{Chain, CoreError};
use crate::profile_cache::ProfileCache;
use crate::status_list::StatusLists;
use crate::store::{RevocationKind, Store, StoreResult};
use crate::tokens::KeyRing;

/// How often each process polls the feed for other replicas' revocations.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
struct State {
    /// sid → until (ms).
    sessions: HashMap<String, i64>,
    /// jti → until (ms).
    tokens: HashMap<String, i64>,
    /// Deleted client id → until (ms).
    clients: HashMap<String, i64>,
    /// User id (`sub`) who lost a role → (tokens issued before this are stale (ms), until (ms)).
    users: HashMap<String, (i64, i64)>,
    /// Where the next poll reads from; `None` before the first.
    cursor: Option<i64>,
}

/// What a poll read besides revocations.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FeedNews {
    /// Ids of the deleted clients read (again, for entries read twice), already in the revoked
    /// set, so the caller can drop them from its credentials cache.
    pub deleted_clients: Vec<String>,
    /// The signing keys changed somewhere: reload them.
    pub keys_changed: bool,
    /// Users whose profile changed (or who were deleted): drop them from the profile cache.
    pub changed_profiles: Vec<uuid::Uuid>,
    /// Status-list indices of revoked or deleted sessions and deleted clients, each with the
    /// moment its last token expires (read again, for entries read twice).
    pub status_revoked: Vec<(i64, DateTime<Utc>)>,
}

#[derive(Debug)]
pub struct RevocationCache {
    state: RwLock<State>,
    /// Serialises polls, so two concurrent catch-ups do not both read the feed.
    poll: tokio::sync::Mutex<()>,
    /// For entries without `until` only (written before migration 0007, or a client deleted
    /// before it got a token since): this process's access-token lifetime plus leeway, from
    /// the later of the entry's stamp and this process's clock — the rule before `until`.
    legacy_horizon: chrono::Duration,
    /// The same for a deleted client, plus the client cache's TTL — a replica that missed the
    /// feed may authenticate the client from its cache, and mint a token, for up to that long
    /// after the deletion.
    legacy_client_horizon: chrono::Duration,
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
            legacy_horizon: horizon,
            legacy_client_horizon: client_horizon,
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

    /// Whether the token carries roles a user has lost since it was issued: issued (see
    /// [`issued_at_ms`]) before the newest role removal of its `sub` read from the feed. Only
    /// tokens of a user's session (`sid`) carry their roles. Checked by forward-auth,
    /// introspection and token exchange, which act on the token's `roles`; Sesame's own API
    /// reads roles from the database instead.
    pub fn has_stale_roles(&self, claims: &Claims) -> bool {
        if claims.sid.is_none() {
            return false;
        }
        let s = self.state.read().unwrap_or_else(|e| e.into_inner());
        s.users
            .get(&claims.sub)
            .is_some_and(|(before, _)| issued_at_ms(claims) < *before)
    }

    /// Whether this client was deleted (while tokens of it may live) as far as this process
    /// has read the feed.
    pub fn is_client_revoked(&self, client_id: &str) -> bool {
        let s = self.state.read().unwrap_or_else(|e| e.into_inner());
        s.clients.contains_key(client_id)
    }

    /// Reads the feed from where this process left off (all of it on the first call) and
    /// forgets entries whose tokens have all expired.
    pub async fn catch_up(&self, store: &dyn Store, now: DateTime<Utc>) -> StoreResult<FeedNews> {
        let _one_at_a_time = self.poll.lock().await;
        let cursor = self.state.read().unwrap_or_else(|e| e.into_inner()).cursor;
        let page = store.revocations_after(cursor.unwrap_or(0)).await?;
        let mut news = FeedNews::default();
        let mut s = self.state.write().unwrap_or_else(|e| e.into_inner());
        // Entries without `until` (see `legacy_horizon`): judged by the later of the feed's stamp
        // and our clock — from the stamp alone, a database clock behind ours would let the entry
        // go before the tokens (stamped by our clock) expire.
        let legacy = |at: DateTime<Utc>, horizon: chrono::Duration| {
            at.max(now)
                .checked_add_signed(horizon)
                .unwrap_or(DateTime::<Utc>::MAX_UTC)
        };
        for r in page.entries {
            match r.kind {
                RevocationKind::Session => {
                    let until = r.until.unwrap_or_else(|| legacy(r.at, self.legacy_horizon));
                    if let Some(idx) = r.status_idx {
                        news.status_revoked.push((idx, until));
                    }
                    keep_longest(&mut s.sessions, r.subject, until);
                }
                RevocationKind::Token => {
                    let until = r.until.unwrap_or_else(|| legacy(r.at, self.legacy_horizon));
                    keep_longest(&mut s.tokens, r.subject, until);
                }
                RevocationKind::Client => {
                    let until = r
                        .until
                        .unwrap_or_else(|| legacy(r.at, self.legacy_client_horizon));
                    news.deleted_clients.push(r.subject.clone());
                    if let Some(idx) = r.status_idx {
                        news.status_revoked.push((idx, until));
                    }
                    keep_longest(&mut s.clients, r.subject, until);
                }
                RevocationKind::Key => news.keys_changed = true,
                RevocationKind::Profile => {
                    // Written by Sesame's triggers from a user id: always a UUID.
                    if let Ok(id) = uuid::Uuid::parse_str(&r.subject) {
                        news.changed_profiles.push(id);
                    }
                }
                RevocationKind::User => {
                    let (Some(before), Some(until)) = (r.issued_before, r.until) else {
                        continue;
                    };
                    let entry = (before.timestamp_millis(), until.timestamp_millis());
                    let held = s.users.entry(r.subject).or_insert(entry);
                    *held = (held.0.max(entry.0), held.1.max(entry.1));
                }
            }
        }
        s.cursor = Some(page.next);
        let now_ms = now.timestamp_millis();
        s.sessions.retain(|_, until| *until > now_ms);
        s.tokens.retain(|_, until| *until > now_ms);
        s.clients.retain(|_, until| *until > now_ms);
        s.users.retain(|_, (_, until)| *until > now_ms);
        Ok(news)
    }

    /// How many revocations are held (for tests and metrics).
    pub fn len(&self) -> usize {
        let s = self.state.read().unwrap_or_else(|e| e.into_inner());
        s.sessions.len() + s.tokens.len() + s.clients.len() + s.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// When a token was issued, to the millisecond: the timestamp of its `jti` when that is a
/// UUIDv7 (Sesame's user tokens; see `Sesame::jti_at`), else its whole-second `iat` — a token
/// of an older version issued in the same second just after a role removal is then taken as
/// issued before it (refused once more, never accepted wrongly).
pub fn issued_at_ms(claims: &Claims) -> i64 {
    uuid::Uuid::parse_str(&claims.jti)
        .ok()
        .filter(|id| id.get_version_num() == 7)
        .and_then(|id| id.get_timestamp())
        .map(|ts| {
            let (secs, nanos) = ts.to_unix();
            (secs as i64).saturating_mul(1000) + i64::from(nanos / 1_000_000)
        })
        .unwrap_or_else(|| claims.iat.saturating_mul(1000))
}

/// Takes revocations into this process's state: shared by every capability that revokes
/// something, by the periodic catch-up, and by the checks of tokens.
#[derive(Debug, Clone)]
pub(crate) struct Revoker {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    cache: Arc<RevocationCache>,
    clients: Arc<ClientCache>,
    profiles: Arc<ProfileCache>,
    keys: Arc<KeyRing>,
    status: Arc<StatusLists>,
}

impl Revoker {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        cache: Arc<RevocationCache>,
        clients: Arc<ClientCache>,
        profiles: Arc<ProfileCache>,
        keys: Arc<KeyRing>,
        status: Arc<StatusLists>,
    ) -> Self {
        Revoker {
            store,
            clock,
            cache,
            clients,
            profiles,
            keys,
            status,
        }
    }

    pub(crate) fn cache(&self) -> &RevocationCache {
        &self.cache
    }

    pub(crate) fn status_lists(&self) -> &StatusLists {
        &self.status
    }

    pub(crate) fn profiles(&self) -> &ProfileCache {
        &self.profiles
    }

    /// After a write of this process that changed what `user`'s profile shows has committed:
    /// drops the held profile at once (other replicas read the feed entry the write's trigger
    /// made).
    pub(crate) fn profile_changed(&self, user: uuid::Uuid) {
        self.profiles.forget(user);
    }

    /// Catches up with revocations made anywhere (run periodically, and after every revocation
    /// made here so it takes effect at once on this replica). Deleted clients leave the client
    /// cache after they entered the revoked set (the order `ClientCache::admit` relies on).
    /// A key change anywhere (another replica, the CLI) reloads the keys, so every replica signs
    /// with and publishes the same set within a poll.
    pub(crate) async fn sync(&self) -> Result<(), CoreError> {
        let news = self
            .cache
            .catch_up(self.store.as_ref(), self.clock.now())
            .await?;
        for client_id in &news.deleted_clients {
            self.clients.remove(client_id);
        }
        for user in &news.changed_profiles {
            self.profiles.forget(*user);
        }
        apply_status(&self.status, &news, self.clock.now());
        if news.keys_changed {
            self.keys
                .reload(self.store.as_ref(), self.clock.now())
                .await?;
        }
        Ok(())
    }

    /// After a revocation made here: take it into the in-memory state at once. If the feed
    /// cannot be read now, the periodic catch-up will (the revocation itself is committed).
    pub(crate) async fn revoked(&self) {
        if let Err(e) = self.sync().await {
            tracing::warn!(error = %Chain(&e), "cannot read the revocation feed now; the next poll will");
        }
    }

    /// Deny-lists an access token until it expires (plus the verifiers' leeway).
    pub(crate) async fn deny(&self, claims: &Claims) -> Result<(), CoreError> {
        let exp =
            DateTime::<Utc>::from_timestamp(claims.exp, 0).unwrap_or_else(|| self.clock.now());
        let until = exp + chrono::Duration::seconds(sesame_verify::DEFAULT_LEEWAY_SECS);
        self.store.deny_access_token(&claims.jti, until).await?;
        self.revoked().await;
        Ok(())
    }

    /// Refuses a token whose `jti` is deny-listed or whose session was revoked — from memory:
    /// the hot path never waits for the database.
    pub(crate) fn ensure_not_revoked(&self, claims: &Claims) -> Result<(), CoreError> {
        if self.cache.is_revoked(claims) {
            return Err(CoreError::TokenRevoked);
        }
        Ok(())
    }
}

/// Sets the status-list bits a feed read names and clears those whose tokens all expired.
pub(crate) fn apply_status(status: &StatusLists, news: &FeedNews, now: DateTime<Utc>) {
    for (idx, until) in &news.status_revoked {
        status.revoke(*idx, *until);
    }
    status.expire(now);
}

/// Records `subject` as revoked until `until`, or later if it already was.
fn keep_longest(map: &mut HashMap<String, i64>, subject: String, until: DateTime<Utc>) {
    let until = until.timestamp_millis();
    let held = map.entry(subject).or_insert(until);
    *held = (*held).max(until);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;
    use sesame_verify::Audience;

    use super::*;
    use crate::tokens::Issuer;

    fn claims(jti: String, iat: i64) -> Claims {
        Claims {
            iss: "https://issuer.test".into(),
            sub: "user".into(),
            aud: Audience::One("api".into()),
            exp: iat + 60,
            iat,
            nbf: iat,
            jti,
            client_id: "sesame".into(),
            sid: Some("s".into()),
            roles: vec![],
            scope: None,
            email_verified: None,
            act: None,
            status: None,
            amr: None,
            acr: None,
        }
    }

    #[test]
    fn issue_time_comes_from_a_v7_jti_to_the_millisecond_else_from_iat() {
        let at = Utc.timestamp_millis_opt(1_900_000_000_123).unwrap();
        let v7 = claims(Issuer::jti_at(at), at.timestamp());
        assert_eq!(issued_at_ms(&v7), 1_900_000_000_123);
        // Tokens of older versions (UUIDv4 jti): whole seconds.
        let v4 = claims(uuid::Uuid::new_v4().to_string(), at.timestamp());
        assert_eq!(issued_at_ms(&v4), 1_900_000_000_000);
        let odd = claims("not-a-uuid".into(), at.timestamp());
        assert_eq!(issued_at_ms(&odd), 1_900_000_000_000);
    }
}
