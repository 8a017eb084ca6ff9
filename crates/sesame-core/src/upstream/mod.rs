//! Sign in with another provider (issue #22): an upstream OpenID provider (any, by discovery:
//! Google, Entra ID, Keycloak, another Sesame) or GitHub (OAuth 2.0 and its user API).
//!
//! A sign-in leaves with `state` (stored by its hash, taken once by the callback), `nonce` and
//! PKCE S256; the callback exchanges the code and, for OpenID, verifies the ID token fully
//! ([`id_token`]). Who the person is then follows [`account`]'s rules: an identity is
//! (provider, subject), never an email alone. HTTP to the providers is the [`UpstreamHttp`]
//! the binary gives (reqwest, with each provider's own CA if set).

mod account;
mod id_token;
mod provider;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::audit::Auditor;
use crate::clock::Clock;
use crate::error::CoreError;
use crate::metrics::CoreMetrics;
use crate::sessions::ClientInfo;
use crate::store::{Store, UpstreamLogin, UserRecord};

pub use provider::{RoleRule, UpstreamKind, UpstreamProvider};

/// How long a sign-in may stay at the provider.
pub const LOGIN_TTL_SECS: i64 = 10 * 60;

/// Why a call to a provider failed (network, status, body): the page says the provider is
/// unavailable; the log has this.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UpstreamHttpError(pub String);

/// HTTP to upstream providers, by provider id (each may trust its own CA).
#[async_trait]
pub trait UpstreamHttp: Send + Sync + std::fmt::Debug {
    /// GET `url` (with a bearer token if given): the JSON body of a 2xx.
    async fn get_json(
        &self,
        provider: &str,
        url: &str,
        bearer: Option<&str>,
    ) -> Result<serde_json::Value, UpstreamHttpError>;
    /// POST a form to `url`, with HTTP Basic client authentication if given: the JSON body.
    async fn post_form(
        &self,
        provider: &str,
        url: &str,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Result<serde_json::Value, UpstreamHttpError>;
}

/// The client before the binary gives one: every call fails (the provider is "unavailable").
#[derive(Debug)]
pub struct NoHttp;

#[async_trait]
impl UpstreamHttp for NoHttp {
    async fn get_json(
        &self,
        _provider: &str,
        _url: &str,
        _bearer: Option<&str>,
    ) -> Result<serde_json::Value, UpstreamHttpError> {
        Err(UpstreamHttpError(
            "no HTTP client for upstream providers".into(),
        ))
    }

    async fn post_form(
        &self,
        _provider: &str,
        _url: &str,
        _form: &[(&str, &str)],
        _basic: Option<(&str, &str)>,
    ) -> Result<serde_json::Value, UpstreamHttpError> {
        Err(UpstreamHttpError(
            "no HTTP client for upstream providers".into(),
        ))
    }
}

/// Who signed in through a provider, and where they go next.
#[derive(Debug)]
pub struct UpstreamSignIn {
    pub user: UserRecord,
    pub provider: String,
    pub return_to: Option<String>,
    /// The identity was linked to a signed-in account (from `/account/security`).
    pub linked: bool,
}

/// What the callback brought.
#[derive(Debug, Default)]
pub struct Callback {
    pub state: Option<String>,
    pub code: Option<String>,
    /// The provider's `error` (the person declined, say).
    pub error: Option<String>,
    /// RFC 9207 `iss`, when the provider sends it: must be the provider's own (mix-up defence).
    pub iss: Option<String>,
}

/// Sign-in through upstream providers.
#[derive(Debug, Clone)]
pub struct Upstream {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    audit: Auditor,
    metrics: Arc<CoreMetrics>,
    http: Arc<dyn UpstreamHttp>,
    providers: Arc<Vec<UpstreamProvider>>,
    /// Where providers send people back: `{public_url}/signin/{id}/callback`.
    public_url: String,
    signup_enabled: bool,
    /// Discovery documents and key sets, fetched when first needed and kept a while.
    cache: Arc<Mutex<HashMap<String, provider::Fetched>>>,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn state_hash(state: &str) -> Vec<u8> {
    Sha256::digest(state.as_bytes()).to_vec()
}

impl Upstream {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        audit: Auditor,
        metrics: Arc<CoreMetrics>,
        http: Arc<dyn UpstreamHttp>,
        providers: Vec<UpstreamProvider>,
        public_url: String,
        signup_enabled: bool,
    ) -> Self {
        Upstream {
            store,
            clock,
            audit,
            metrics,
            http,
            providers: Arc::new(providers),
            public_url,
            signup_enabled,
            cache: Arc::default(),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub(crate) fn set_http(&mut self, http: Arc<dyn UpstreamHttp>) {
        self.http = http;
    }

    /// The configured providers, in order: (id, name).
    pub fn providers(&self) -> Vec<(String, String)> {
        self.providers
            .iter()
            .map(|p| (p.id.clone(), p.name.clone()))
            .collect()
    }

    fn provider(&self, id: &str) -> Result<&UpstreamProvider, CoreError> {
        self.providers
            .iter()
            .find(|p| p.id == id)
            .ok_or(CoreError::NotFound)
    }

    /// The name of provider `id`, for messages.
    pub fn provider_name(&self, id: &str) -> Option<String> {
        self.provider(id).ok().map(|p| p.name.clone())
    }

    fn redirect_uri(&self, id: &str) -> String {
        format!(
            "{}/signin/{id}/callback",
            self.public_url.trim_end_matches('/')
        )
    }

    /// Starts a sign-in at provider `id`: the URL to send the browser to, and the `state` (the
    /// page binds it to the browser with a cookie, so a callback URL planted in another
    /// browser signs no one in there). `return_to` is where
    /// the sign-in goes afterwards; `link_user` links the identity to that signed-in account
    /// instead of signing in. `NotFound` for no such provider; `UpstreamUnavailable` when its
    /// discovery cannot be read.
    #[tracing::instrument(skip_all, fields(provider = %id))]
    pub async fn begin(
        &self,
        id: &str,
        return_to: Option<String>,
        link_user: Option<Uuid>,
    ) -> Result<(String, String), CoreError> {
        let provider = self.provider(id)?;
        let endpoints = self.endpoints(provider).await?;
        let state = random_token();
        let nonce = random_token();
        let verifier = random_token();
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let now = self.now();
        self.store
            .create_upstream_login(&UpstreamLogin {
                hash: state_hash(&state),
                provider: id.to_string(),
                nonce: nonce.clone(),
                pkce_verifier: verifier,
                return_to,
                link_user_id: link_user,
                created_at: now,
                expires_at: now + chrono::Duration::seconds(LOGIN_TTL_SECS),
            })
            .await?;
        let mut url = url::Url::parse(&endpoints.authorization_endpoint)
            .map_err(|e| CoreError::internal_because("an upstream authorization endpoint", e))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &provider.client_id)
                .append_pair("redirect_uri", &self.redirect_uri(id))
                .append_pair("scope", &provider.scopes.join(" "))
                .append_pair("state", &state)
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256");
            if provider.kind == UpstreamKind::Oidc {
                q.append_pair("nonce", &nonce);
            }
        }
        self.metrics.upstream(id, "started");
        Ok((url.into(), state))
    }

    /// The callback of a sign-in at provider `id`: checks `state` (taken once: a replay, a
    /// tampered or expired one is `UpstreamStateInvalid`), exchanges the code, verifies who the
    /// person is, and finds, links or creates their account ([`account`]). The browser session
    /// is the caller's to open (through `Sessions::upstream_sign_in`, which asks for a second
    /// factor the account has).
    #[tracing::instrument(skip_all, fields(provider = %id))]
    pub async fn finish(
        &self,
        id: &str,
        callback: Callback,
        client: &ClientInfo,
    ) -> Result<UpstreamSignIn, CoreError> {
        let result = self.finish_inner(id, callback, client).await;
        self.metrics.upstream(
            id,
            match &result {
                Ok(_) => "succeeded",
                Err(CoreError::UpstreamUnavailable(_)) => "unavailable",
                Err(_) => "refused",
            },
        );
        result
    }

    async fn finish_inner(
        &self,
        id: &str,
        callback: Callback,
        client: &ClientInfo,
    ) -> Result<UpstreamSignIn, CoreError> {
        let provider = self.provider(id)?;
        let state = callback.state.ok_or(CoreError::UpstreamStateInvalid)?;
        let login = self
            .store
            .take_upstream_login(&state_hash(&state), self.now())
            .await?
            .filter(|l| l.provider == id)
            .ok_or(CoreError::UpstreamStateInvalid)?;
        if let Some(error) = callback.error {
            return Err(CoreError::UpstreamRefused(format!(
                "the provider answered {}",
                error.chars().take(64).collect::<String>()
            )));
        }
        let endpoints = self.endpoints(provider).await?;
        if let (Some(iss), Some(expected)) = (&callback.iss, &endpoints.issuer)
            && iss != expected
        {
            return Err(CoreError::UpstreamRefused(
                "the callback's iss is not this provider's".into(),
            ));
        }
        let code = callback
            .code
            .ok_or_else(|| CoreError::UpstreamRefused("the callback carries no code".into()))?;
        let person = self.identify(provider, &endpoints, &code, &login).await?;
        self.settle(provider, person, login, client).await
    }
}

/// Who the provider says signed in.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub(crate) subject: String,
    pub(crate) email: Option<String>,
    pub(crate) email_verified: bool,
    /// Every claim, for the role rules.
    pub(crate) claims: serde_json::Value,
}
