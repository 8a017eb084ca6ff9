//! The status-list check of [`RemoteVerifier`](super::RemoteVerifier): a token that names a
//! status list (its `status` claim) is refused once its bit is set — a logout, a revoked session,
//! a deleted client — within the list's `ttl`, with no request to the issuer per token.
//!
//! Each list is fetched once and then kept fresh: a request that finds it past 80 % of its `ttl`
//! starts a refetch in the background (with `If-None-Match`, so an unchanged list costs a 304)
//! and goes on with the list held, so a busy service never waits. A list found past its whole
//! `ttl` (the service was idle) is refetched before the check: an old list would otherwise
//! accept a token revoked long ago. When the issuer cannot be reached the list held keeps being
//! used, with a warning per failed refetch, until it is `max_stale` old (ten `ttl`s unless
//! configured) or past its `exp`; then tokens naming it are refused with
//! [`AuthError::StatusUnavailable`] (fail closed) until a refetch succeeds.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::{AuthError, Inner, fetch};
use crate::status_list::{StatusList, StatusListError};
use crate::{Claims, VerifyError};

/// A list without a `ttl` is refetched this often.
const DEFAULT_TTL: Duration = Duration::from_secs(60);
/// After a failed fetch, the next one made while a request waits is at least this much later.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// The longest a request waits for a list to be fetched before the check.
const SYNC_FETCH_WAIT: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub(super) struct Settings {
    pub(super) enabled: bool,
    pub(super) require: bool,
    pub(super) max_stale: Option<Duration>,
}

#[derive(Debug)]
pub(super) struct StatusCache {
    pub(super) settings: Settings,
    lists: RwLock<HashMap<String, Arc<Held>>>,
    /// Lists being refetched in the background.
    refreshing: Mutex<HashSet<String>>,
    /// Last failed fetch per list.
    failed_at: Mutex<HashMap<String, Instant>>,
    /// One fetch at a time.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct Held {
    list: StatusList,
    etag: Option<String>,
    /// When the issuer last said this is the list (a 200 or a 304).
    confirmed_at: Instant,
    ttl: Duration,
}

/// What a status list looks like to an operator (see `RemoteVerifier::status_lists`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusListState {
    pub uri: String,
    /// Since the issuer last confirmed it.
    pub age: Duration,
    pub ttl: Duration,
    /// Past `max_stale`: tokens naming it are refused until a refetch succeeds.
    pub stale: bool,
}

enum Fetched {
    New(StatusList, Option<String>),
    Unchanged,
}

impl StatusCache {
    pub(super) fn new(settings: Settings) -> Self {
        StatusCache {
            settings,
            lists: RwLock::default(),
            refreshing: Mutex::default(),
            failed_at: Mutex::default(),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    fn held(&self, uri: &str) -> Option<Arc<Held>> {
        self.lists
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(uri)
            .cloned()
    }

    fn max_stale(&self, ttl: Duration) -> Duration {
        self.settings
            .max_stale
            .unwrap_or_else(|| ttl.saturating_mul(10))
    }

    fn failed_recently(&self, uri: &str) -> bool {
        self.failed_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(uri)
            .is_some_and(|t| t.elapsed() < RETRY_INTERVAL)
    }

    pub(super) fn states(&self) -> Vec<StatusListState> {
        let lists = self.lists.read().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<StatusListState> = lists
            .iter()
            .map(|(uri, h)| StatusListState {
                uri: uri.clone(),
                age: h.confirmed_at.elapsed(),
                ttl: h.ttl,
                stale: h.confirmed_at.elapsed() > self.max_stale(h.ttl),
            })
            .collect();
        out.sort_by(|a, b| a.uri.cmp(&b.uri));
        out
    }
}

impl Inner {
    /// Refuses `claims` if the status list it names says it was revoked (see the module docs).
    pub(super) async fn check_status(
        self: &Arc<Self>,
        claims: &Claims,
        now: i64,
    ) -> Result<(), AuthError> {
        let cache = &self.status;
        if !cache.settings.enabled {
            return Ok(());
        }
        let Some(status) = &claims.status else {
            return if cache.settings.require {
                Err(AuthError::Invalid(VerifyError::Malformed))
            } else {
                Ok(())
            };
        };
        let uri = status.status_list.uri.as_str();
        // Only the issuer's own lists: a token is signed by it, but a verifier must never be
        // pointed at arbitrary URLs by what it is handed.
        let under_issuer = uri
            .strip_prefix(&self.issuer)
            .and_then(|rest| rest.strip_prefix("/statuslists/"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !under_issuer {
            return Err(AuthError::Invalid(VerifyError::Malformed));
        }
        let held = match cache.held(uri) {
            Some(h) if h.confirmed_at.elapsed() < h.ttl => {
                if h.confirmed_at.elapsed() >= h.ttl.mul_f32(0.8) {
                    self.refresh_status_in_background(uri);
                }
                h
            }
            // Never fetched, or older than its ttl (an idle service): fetch before checking.
            other => self.fetch_status_now(uri, other, now).await?,
        };
        let expired = held
            .list
            .exp
            .is_some_and(|exp| exp.saturating_add(crate::DEFAULT_LEEWAY_SECS) <= now);
        if expired || held.confirmed_at.elapsed() > cache.max_stale(held.ttl) {
            tracing::error!(
                list = uri,
                age_secs = held.confirmed_at.elapsed().as_secs(),
                "status list too old and cannot be refreshed: refusing the tokens that name it"
            );
            return Err(AuthError::StatusUnavailable);
        }
        if held.list.is_set(status.status_list.idx) {
            return Err(AuthError::Inactive);
        }
        Ok(())
    }

    /// Fetches the list now (one fetch at a time; a fetch that failed less than a second ago
    /// is not repeated), or keeps using the one held when the fetch fails. A request waits at
    /// most [`SYNC_FETCH_WAIT`] for it: an issuer that hangs must not hang the service — the
    /// fetch then goes on in the background, and the list held (or nothing: fail closed)
    /// decides.
    async fn fetch_status_now(
        self: &Arc<Self>,
        uri: &str,
        held: Option<Arc<Held>>,
        now: i64,
    ) -> Result<Arc<Held>, AuthError> {
        if let Some(h) = &held
            && self.status.failed_recently(uri)
        {
            return Ok(h.clone());
        }
        let attempt = async {
            let _one = self.status.fetching.lock().await;
            if let Some(h) = self.status.held(uri)
                && h.confirmed_at.elapsed() < h.ttl
            {
                return Some(h); // fetched while we waited
            }
            if self.status.failed_recently(uri) {
                return None;
            }
            self.refresh_status(uri, now).await
        };
        match tokio::time::timeout(SYNC_FETCH_WAIT, attempt).await {
            Ok(Some(h)) => Ok(h),
            Ok(None) => held.ok_or(AuthError::StatusUnavailable),
            Err(_) => {
                self.refresh_status_in_background(uri);
                held.ok_or(AuthError::StatusUnavailable)
            }
        }
    }

    fn refresh_status_in_background(self: &Arc<Self>, uri: &str) {
        {
            let mut busy = self
                .status
                .refreshing
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if !busy.insert(uri.to_string()) {
                return;
            }
        }
        let inner = self.clone();
        let uri = uri.to_string();
        tokio::spawn(async move {
            {
                let _one = inner.status.fetching.lock().await;
                inner.refresh_status(&uri, super::unix_now()).await;
            }
            inner
                .status
                .refreshing
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&uri);
        });
    }

    /// One fetch of the list; the list held afterwards, or `None` (logged) when it failed.
    /// The caller holds `status.fetching`.
    async fn refresh_status(self: &Arc<Self>, uri: &str, now: i64) -> Option<Arc<Held>> {
        let started = Instant::now();
        let previous = self.status.held(uri);
        let etag = previous.as_ref().and_then(|h| h.etag.clone());
        let result = match self.fetch_status(uri, etag.as_deref(), now).await {
            Ok(Fetched::Unchanged) => previous.map(|p| (p.list.clone(), p.etag.clone())),
            // Never backwards: an older list than the one held (a stale cache or replica on
            // the way) must not unset bits already seen.
            Ok(Fetched::New(list, _))
                if previous.as_ref().is_some_and(|p| list.iat < p.list.iat) =>
            {
                previous.map(|p| (p.list.clone(), p.etag.clone()))
            }
            Ok(Fetched::New(list, etag)) => Some((list, etag)),
            Err(e) => {
                tracing::warn!(list = uri, error = %e, "cannot refresh a status list; keeping the one held");
                None
            }
        };
        let Some((list, etag)) = result else {
            self.status
                .failed_at
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(uri.to_string(), Instant::now());
            return None;
        };
        let ttl = list
            .ttl
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_TTL)
            .max(Duration::from_secs(1));
        let held = Arc::new(Held {
            list,
            etag,
            confirmed_at: started,
            ttl,
        });
        self.status
            .lists
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(uri.to_string(), held.clone());
        Some(held)
    }

    async fn fetch_status(
        self: &Arc<Self>,
        uri: &str,
        etag: Option<&str>,
        now: i64,
    ) -> Result<Fetched, String> {
        let url = self.source.rebase(uri);
        let mut req = self
            .http
            .get(&url)
            .header(reqwest::header::ACCEPT, "application/statuslist+jwt");
        if let Some(tag) = etag {
            req = req.header(reqwest::header::IF_NONE_MATCH, tag);
        }
        let res = req.send().await.map_err(|e| e.to_string())?;
        if res.status() == reqwest::StatusCode::NOT_MODIFIED && etag.is_some() {
            return Ok(Fetched::Unchanged);
        }
        if !res.status().is_success() {
            return Err(format!("{url} answered HTTP {}", res.status().as_u16()));
        }
        let new_etag = res
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = fetch::read_limited(res, &url)
            .await
            .map_err(|e| e.to_string())?;
        let jwt = String::from_utf8(body).map_err(|_| format!("{url}: not UTF-8"))?;
        let list = match self.verify_list(&jwt, uri, now) {
            Err(StatusListError::UnknownKey) => {
                // Signed with a key published since we fetched ours (rotation): refetch the
                // keys, at most as often as an unknown `kid` in a token may.
                let _keys = self.fetching.lock().await;
                if !self.attempted_within(self.min_refetch) {
                    let _ = self.fetch_and_store().await;
                }
                self.verify_list(&jwt, uri, now)
            }
            other => other,
        }
        .map_err(|e| format!("{url}: {e}"))?;
        Ok(Fetched::New(list, new_etag))
    }

    fn verify_list(&self, jwt: &str, uri: &str, now: i64) -> Result<StatusList, StatusListError> {
        let verifier = self
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .verifier
            .clone()
            .ok_or(StatusListError::UnknownKey)?;
        StatusList::from_jwt(jwt, verifier.keys(), uri, now)
    }
}
