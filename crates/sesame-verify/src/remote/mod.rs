//! Verifying against a live issuer (feature `remote`): the keys come from the issuer's JWKS,
//! discovered from its URL, cached by `kid` and refreshed in the background.
//!
//! The cache is built for an issuer that rotates keys the way Sesame does (the next key is
//! published a rotation before it signs), so a token naming a `kid` we do not hold is almost
//! always garbage. A refetch for an unknown `kid` therefore happens at most once per
//! [`DEFAULT_MIN_REFETCH_INTERVAL`]: a flood of made-up kids costs the issuer one request, not one
//! per token. When the issuer is down, the keys already held keep verifying; only a process that
//! has never obtained keys answers [`AuthError::KeysUnavailable`].

mod fetch;
mod introspect;
mod status;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use thiserror::Error;

use crate::{Claims, DEFAULT_LEEWAY_SECS, Verifier, VerifyError};

pub use fetch::FetchError;
use introspect::Introspector;
pub use status::StatusListState;

/// After a fetch (successful or not), the next refetch for an unknown `kid` waits this long.
pub const DEFAULT_MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// Keys older than this are refreshed in the background (retired keys disappear from the cache).
pub const DEFAULT_MAX_KEY_AGE: Duration = Duration::from_secs(300);
/// Each request to the issuer gives up after this long.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// A process without any keys retries the issuer at most this often.
const COLD_RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// Longer `kid`s are refused without a refetch: no issuer we know makes them.
const MAX_KID_LEN: usize = 128;

/// Why a request's token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    /// The token itself fails a check (signature, algorithm, type, issuer, audience, times).
    #[error(transparent)]
    Invalid(#[from] VerifyError),
    /// Introspection says the token is no longer active (revoked, logged out).
    #[error("the token is no longer active")]
    Inactive,
    /// No keys have ever been obtained from the issuer, and it cannot be reached now.
    #[error("the issuer's keys cannot be fetched")]
    KeysUnavailable,
    /// Introspection mode is on and the introspection endpoint did not give an answer.
    #[error("the issuer's introspection endpoint did not answer")]
    IntrospectionUnavailable,
    /// The token names a status list that could not be fetched, or not refreshed for too
    /// long (see [`RemoteVerifierBuilder::status_list_max_stale`]): refused, failing closed.
    #[error("the token's status list cannot be fetched")]
    StatusUnavailable,
}

/// A configuration the builder refuses.
#[derive(Debug, Error)]
pub enum BuildError {
    #[error("the issuer must be an absolute http(s) URL: {0}")]
    InvalidIssuer(String),
    #[error("{0} must be an absolute http(s) URL")]
    InvalidUrl(&'static str),
    #[error("at least one audience is required")]
    NoAudience,
    #[error("the trusted CA certificate is not valid PEM: {0}")]
    InvalidCa(String),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// Configures a [`RemoteVerifier`]. Nothing is fetched until the first token (or
/// [`RemoteVerifier::refresh`]).
#[derive(Debug)]
pub struct RemoteVerifierBuilder {
    issuer: String,
    audiences: Vec<String>,
    leeway: i64,
    ca_pems: Vec<Vec<u8>>,
    client: Option<reqwest::Client>,
    jwks_url: Option<String>,
    backchannel: Option<String>,
    min_refetch: Duration,
    max_age: Duration,
    timeout: Duration,
    introspection: Option<(String, SecretString)>,
    token_cache: usize,
    status_lists: bool,
    require_status: bool,
    status_max_stale: Option<Duration>,
    resource: Option<String>,
}

impl RemoteVerifierBuilder {
    /// This service's resource identifier (its public base URL, RFC 9728): the axum feature then
    /// serves its protected-resource metadata and names it in every 401's `WWW-Authenticate`,
    /// so OAuth clients (MCP clients among them) discover which authorization server to ask.
    pub fn resource(mut self, url: impl Into<String>) -> Self {
        self.resource = Some(url.into());
        self
    }

    /// Whether tokens that name a status list (their `status` claim, IETF Token Status List)
    /// are checked against it (default: yes). The list is fetched once per its `ttl` and kept
    /// fresh in the background, so a revoked session's tokens are refused within about `ttl`
    /// without a request per token. Off, revocation reaches this service only by expiry (or by
    /// introspection).
    pub fn status_lists(mut self, check: bool) -> Self {
        self.status_lists = check;
        self
    }

    /// Refuse tokens that carry no `status` claim (default: accept them — tokens issued before
    /// the issuer published status lists have none).
    pub fn require_status_claim(mut self, require: bool) -> Self {
        self.require_status = require;
        self
    }

    /// How long a status list may go without being confirmed by the issuer before the tokens
    /// that name it are refused (default: ten times the list's `ttl`). The list's own `exp`
    /// applies too.
    pub fn status_list_max_stale(mut self, max: Duration) -> Self {
        self.status_max_stale = Some(max);
        self
    }

    /// How many verified tokens to remember, so a token seen again skips the signature check
    /// (default [`crate::DEFAULT_CACHE_CAPACITY`]; 0 turns the cache off). Expiry, issuer and
    /// audience are still checked on every hit; see [`crate::TokenCache`].
    pub fn token_cache(mut self, capacity: usize) -> Self {
        self.token_cache = capacity;
        self
    }

    /// A token must carry at least one of the audiences given (call once per audience).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Leeway on `exp`/`nbf`, clamped to the contract's 3 s at most.
    pub fn leeway_secs(mut self, secs: i64) -> Self {
        self.leeway = secs.clamp(0, DEFAULT_LEEWAY_SECS);
        self
    }

    /// Trusts this PEM certificate (or bundle) for the issuer's TLS, e.g. Sesame's self-signed
    /// development certificate. The system's roots stay trusted too.
    pub fn trust_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pems.push(pem.into());
        self
    }

    /// Uses this HTTP client instead of building one (then `trust_ca_pem` and `timeout` are
    /// the caller's business).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Fetches keys from this URL instead of discovering `jwks_uri` from the issuer.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks_url = Some(url.into());
        self
    }

    /// Reaches the issuer at another base URL than the public one (inside a container network,
    /// say): discovery and introspection go there, and discovered URLs under the issuer are
    /// rebased onto it. Tokens must still name the public issuer.
    pub fn backchannel(mut self, base_url: impl Into<String>) -> Self {
        self.backchannel = Some(base_url.into());
        self
    }

    /// The least time between two fetches triggered by unknown `kid`s.
    pub fn min_refetch_interval(mut self, interval: Duration) -> Self {
        self.min_refetch = interval;
        self
    }

    /// How long fetched keys are used before a background refresh.
    pub fn max_key_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    /// Timeout of each request to the issuer.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Introspection mode: after the local checks, every token is also sent to
    /// `{issuer}/oauth/introspect` (RFC 7662) with these client credentials and accepted only
    /// when the answer is `active: true`. Revocation then takes effect at once, at the price of
    /// one request to the issuer per verification.
    pub fn introspection(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<SecretString>,
    ) -> Self {
        self.introspection = Some((client_id.into(), client_secret.into()));
        self
    }

    pub fn build(self) -> Result<RemoteVerifier, BuildError> {
        let issuer = self.issuer.trim_end_matches('/').to_string();
        if !is_http_url(&issuer) {
            return Err(BuildError::InvalidIssuer(issuer));
        }
        if self.audiences.is_empty() {
            return Err(BuildError::NoAudience);
        }
        let resource = match self.resource {
            Some(r) => {
                let url = url::Url::parse(&r)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                    .filter(|u| u.query().is_none() && u.fragment().is_none())
                    .ok_or(BuildError::InvalidUrl("the resource"))?;
                Some(url.as_str().trim_end_matches('/').to_string())
            }
            None => None,
        };
        if let Some(u) = &self.jwks_url
            && !is_http_url(u)
        {
            return Err(BuildError::InvalidUrl("the JWKS URL"));
        }
        let base = match self.backchannel {
            Some(b) if is_http_url(&b) => b.trim_end_matches('/').to_string(),
            Some(_) => return Err(BuildError::InvalidUrl("the backchannel URL")),
            None => issuer.clone(),
        };
        let http = match self.client {
            Some(c) => c,
            None => fetch::client(&self.ca_pems, self.timeout)?,
        };
        let introspector = self
            .introspection
            .map(|(id, secret)| Introspector::new(format!("{base}/oauth/introspect"), id, secret));
        Ok(RemoteVerifier {
            inner: Arc::new(Inner {
                source: fetch::Source {
                    issuer: issuer.clone(),
                    base,
                    jwks_url: self.jwks_url,
                    http: http.clone(),
                },
                issuer,
                audiences: self.audiences,
                leeway: self.leeway,
                http,
                min_refetch: self.min_refetch,
                max_age: self.max_age,
                cache: RwLock::new(Cache::default()),
                fetching: tokio::sync::Mutex::new(()),
                refreshing: AtomicBool::new(false),
                introspector,
                token_cache: (self.token_cache > 0)
                    .then(|| Arc::new(crate::TokenCache::new(self.token_cache))),
                resource,
                status: status::StatusCache::new(status::Settings {
                    enabled: self.status_lists,
                    require: self.require_status,
                    max_stale: self.status_max_stale,
                }),
            }),
        })
    }
}

fn is_http_url(s: &str) -> bool {
    url::Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

/// Verifies tokens of one issuer for one or more audiences, with keys fetched from the issuer.
/// Cheap to clone (one shared cache); put it in your application state.
#[derive(Clone)]
pub struct RemoteVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: String,
    audiences: Vec<String>,
    leeway: i64,
    http: reqwest::Client,
    source: fetch::Source,
    min_refetch: Duration,
    max_age: Duration,
    cache: RwLock<Cache>,
    /// Held while fetching, so concurrent misses make one request, not one each.
    fetching: tokio::sync::Mutex<()>,
    /// A background refresh is under way.
    refreshing: AtomicBool,
    introspector: Option<Introspector>,
    /// Verified tokens, shared by the verifiers of successive key fetches.
    token_cache: Option<Arc<crate::TokenCache>>,
    /// Status lists fetched so far.
    status: status::StatusCache,
    /// This service's resource identifier (RFC 9728), if configured.
    resource: Option<String>,
}

#[derive(Default)]
struct Cache {
    verifier: Option<Arc<Verifier>>,
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
}

impl std::fmt::Debug for RemoteVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = self.current().map(|v| format!("{:?}", v.keys()));
        f.debug_struct("RemoteVerifier")
            .field("issuer", &self.inner.issuer)
            .field("audiences", &self.inner.audiences)
            .field("keys", &keys)
            .field("introspection", &self.inner.introspector.is_some())
            .finish_non_exhaustive()
    }
}

/// The verifier runs inside other services, which have no Sesame `Clock`: a token's `exp` and
/// `nbf` are checked against the system time.
#[allow(
    clippy::disallowed_methods,
    reason = "sesame-verify runs in other services; their system time is the clock"
)]
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The `kid` a token's header names, if it parses at all.
fn kid_of(token: &str) -> Option<String> {
    jsonwebtoken::decode_header(token).ok()?.kid
}

impl RemoteVerifier {
    /// Starts configuring a verifier for tokens issued by `issuer` (Sesame's `SESAME_ISSUER`).
    pub fn builder(issuer: impl Into<String>) -> RemoteVerifierBuilder {
        RemoteVerifierBuilder {
            issuer: issuer.into(),
            audiences: Vec::new(),
            leeway: DEFAULT_LEEWAY_SECS,
            ca_pems: Vec::new(),
            client: None,
            jwks_url: None,
            backchannel: None,
            min_refetch: DEFAULT_MIN_REFETCH_INTERVAL,
            max_age: DEFAULT_MAX_KEY_AGE,
            timeout: DEFAULT_HTTP_TIMEOUT,
            introspection: None,
            token_cache: crate::DEFAULT_CACHE_CAPACITY,
            status_lists: true,
            require_status: false,
            status_max_stale: None,
            resource: None,
        }
    }

    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    pub fn audiences(&self) -> &[String] {
        &self.inner.audiences
    }

    /// This service's resource identifier, if configured (see [`RemoteVerifierBuilder::resource`]).
    pub fn resource(&self) -> Option<&str> {
        self.inner.resource.as_deref()
    }

    /// Where this service's protected-resource metadata is (RFC 9728 §3.1: the well-known path
    /// goes between the host and the resource's own path).
    pub fn resource_metadata_url(&self) -> Option<String> {
        let resource = self.inner.resource.as_deref()?;
        let url = url::Url::parse(resource).ok()?;
        let path = url.path().trim_end_matches('/');
        let mut origin = url.origin().ascii_serialization();
        origin.push_str("/.well-known/oauth-protected-resource");
        origin.push_str(path);
        Some(origin)
    }

    /// Whether tokens are also checked by introspection.
    pub fn introspects(&self) -> bool {
        self.inner.introspector.is_some()
    }

    /// Fetches the keys now, whatever the rate limit (e.g. at start-up, to fail early or warm
    /// the cache). Returns how many usable keys the issuer publishes. On failure the keys
    /// already held are kept.
    pub async fn refresh(&self) -> Result<usize, FetchError> {
        let _guard = self.inner.fetching.lock().await;
        let v = self.inner.fetch_and_store().await?;
        Ok(v.keys().len())
    }

    /// Verifies a token now (system clock). See [`RemoteVerifier::verify_at`].
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        self.verify_at(token, unix_now()).await
    }

    /// Verifies a token at `now` (Unix seconds): every check of [`Verifier::verify`] with the
    /// issuer's current keys, then introspection when configured, else the token's status list
    /// (see [`RemoteVerifierBuilder::status_lists`]).
    pub async fn verify_at(&self, token: &str, now: i64) -> Result<Claims, AuthError> {
        let claims = self.verify_locally(token, now).await?;
        if let Some(introspector) = &self.inner.introspector {
            introspector.check(&self.inner.http, token, &claims).await?;
        } else {
            self.inner.check_status(&claims, now).await?;
        }
        Ok(claims)
    }

    /// The status lists held, their age and whether they are too old to be used (for metrics
    /// and health checks).
    pub fn status_lists(&self) -> Vec<StatusListState> {
        self.inner.status.states()
    }

    fn current(&self) -> Option<Arc<Verifier>> {
        self.inner
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .verifier
            .clone()
    }

    async fn verify_locally(&self, token: &str, now: i64) -> Result<Claims, AuthError> {
        let verifier = match self.current() {
            Some(v) => {
                self.refresh_in_background_if_stale();
                v
            }
            None => self.first_fetch().await?,
        };
        match verifier.verify(token, now) {
            Err(VerifyError::UnknownKey) => {
                // Only well-formed tokens with an allowed algorithm get here (the verifier
                // checks those before looking the key up), so `alg: none` and friends never
                // cause a request to the issuer.
                let Some(kid) = kid_of(token).filter(|k| !k.is_empty() && k.len() <= MAX_KID_LEN)
                else {
                    return Err(VerifyError::UnknownKey.into());
                };
                match self.refetch_for(&kid).await {
                    Some(v) => Ok(v.verify(token, now)?),
                    None => Err(VerifyError::UnknownKey.into()),
                }
            }
            other => Ok(other?),
        }
    }

    /// No keys yet: fetch them, retrying the issuer at most once a second while it is down.
    async fn first_fetch(&self) -> Result<Arc<Verifier>, AuthError> {
        let _guard = self.inner.fetching.lock().await;
        if let Some(v) = self.current() {
            return Ok(v);
        }
        let interval = self.inner.min_refetch.min(COLD_RETRY_INTERVAL);
        if self.inner.attempted_within(interval) {
            return Err(AuthError::KeysUnavailable);
        }
        self.inner
            .fetch_and_store()
            .await
            .map_err(|_| AuthError::KeysUnavailable)
    }

    /// A token names a key we do not hold: refetch, unless that happened too recently.
    async fn refetch_for(&self, kid: &str) -> Option<Arc<Verifier>> {
        let _guard = self.inner.fetching.lock().await;
        // Someone else may have fetched while we waited for the lock.
        if let Some(v) = self.current().filter(|v| v.keys().contains(kid)) {
            return Some(v);
        }
        if self.inner.attempted_within(self.inner.min_refetch) {
            return None;
        }
        let v = self.inner.fetch_and_store().await.ok()?;
        v.keys().contains(kid).then_some(v)
    }

    fn refresh_in_background_if_stale(&self) {
        let due = {
            let cache = self.inner.cache.read().unwrap_or_else(|e| e.into_inner());
            let stale = cache
                .fetched_at
                .is_none_or(|t| t.elapsed() >= self.inner.max_age);
            let recently_tried = cache
                .attempted_at
                .is_some_and(|t| t.elapsed() < self.inner.min_refetch);
            stale && !recently_tried
        };
        if !due || self.inner.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = self.inner.clone();
        tokio::spawn(async move {
            {
                let _guard = inner.fetching.lock().await;
                // A failure is logged by fetch_and_store; the old keys stay in use.
                let _ = inner.fetch_and_store().await;
            }
            inner.refreshing.store(false, Ordering::Release);
        });
    }
}

impl Inner {
    fn attempted_within(&self, interval: Duration) -> bool {
        self.cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .attempted_at
            .is_some_and(|t| t.elapsed() < interval)
    }

    /// Fetches the key set and makes it current. The caller holds `fetching`.
    async fn fetch_and_store(&self) -> Result<Arc<Verifier>, FetchError> {
        let started = Instant::now();
        self.cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .attempted_at = Some(started);
        match self.source.fetch_keys().await {
            Ok(keys) => {
                let mut v = Verifier::new(self.issuer.clone(), self.audiences.clone(), keys)
                    .with_leeway(self.leeway);
                if let Some(c) = &self.token_cache {
                    v = v.with_cache(c.clone());
                }
                let v = Arc::new(v);
                let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
                cache.verifier = Some(v.clone());
                cache.fetched_at = Some(started);
                Ok(v)
            }
            Err(e) => {
                tracing::warn!(issuer = %self.issuer, error = %e, "cannot fetch the issuer's keys; keeping the keys already held");
                Err(e)
            }
        }
    }
}
