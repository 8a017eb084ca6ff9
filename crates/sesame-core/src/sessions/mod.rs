//! Sessions: a login (`login.rs`) opens one; its refresh token rotates on every refresh; reuse of a spent
//! token past the grace window ends it; logout, logout-all and "end that session" revoke.
//! Also authentication of bearer access tokens on Sesame's own endpoints, which — unlike a
//! relying service verifying offline — also honours revocation at once.

use chrono::{DateTime, Utc};
use sesame_verify::{Claims, VerifyError};
use std::sync::Arc;
use uuid::Uuid;

use crate::audit::{AuditEvent, Auditor};
use crate::clock::Clock;
use crate::error::CoreError;
use crate::hashing::PasswordHasher;
use crate::lockout::PasswordCheck;
use crate::metrics::CoreMetrics;
use crate::mfa::SecondFactors;
use crate::refresh_token::RefreshKeys;
use crate::revocation::Revoker;
use crate::secret::SecretBytes;
use crate::settings::{Settings, ttl};
use crate::store::{
    Assurance, ClientRecord, NewSession, SessionRecord, Store, TokenSubject, UserRecord,
};
use crate::tokens::{Issuer, KeyRing, TokenSession};

mod browser;
mod login;
mod passkey;
mod refresh;
mod second_factor;

/// The `client_id` of tokens issued to users through Sesame's own login (RFC 9068 requires one).
pub const FIRST_PARTY_CLIENT_ID: &str = "sesame";

/// Who is calling, recorded on the session.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

pub use crate::tokens::TokenPair;
pub use browser::{BrowserLogin, BrowserSession, BrowserSignIn};
pub use login::Login;
pub use passkey::PasskeySignIn;
pub(crate) use refresh::session_named;
pub use second_factor::MfaVerification;

/// Signing in, refreshing, signing out, and the bearer tokens of Sesame's own API.
#[derive(Debug, Clone)]
pub struct Sessions {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    hasher: Arc<PasswordHasher>,
    audit: Auditor,
    passwords: PasswordCheck,
    issuer: Issuer,
    keys: Arc<KeyRing>,
    revoker: Revoker,
    metrics: Arc<CoreMetrics>,
    /// Second factors: the second step of a sign-in checks them.
    factors: SecondFactors,
    /// The instance secret: keys the audit's login-name hashes (derived).
    refresh_mac_key: Arc<SecretBytes>,
    /// Refresh tokens' successors and tags.
    refresh_keys: Arc<RefreshKeys>,
    /// Audiences a login may ask for; the first is the default and Sesame's own.
    audiences: Vec<String>,
    refresh_reuse_grace: std::time::Duration,
    require_verified_email: bool,
    browser_session_idle: std::time::Duration,
    browser_session_ttl: std::time::Duration,
    /// See `login::WrongPasswordTime`.
    wrong_password_time: Arc<login::WrongPasswordTime>,
}

/// How a logout was asked for.
#[derive(Debug)]
pub struct Logout {
    pub client: ClientInfo,
    pub refresh: String,
    /// The access token sent along, if any: deny-listed until it expires.
    pub access: Option<String>,
}

impl Sessions {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        hasher: Arc<PasswordHasher>,
        audit: Auditor,
        passwords: PasswordCheck,
        issuer: Issuer,
        keys: Arc<KeyRing>,
        revoker: Revoker,
        metrics: Arc<CoreMetrics>,
        factors: SecondFactors,
        refresh_mac_key: Arc<SecretBytes>,
        settings: &Settings,
    ) -> Self {
        Sessions {
            store,
            clock,
            hasher,
            audit,
            passwords,
            issuer,
            keys,
            revoker,
            metrics,
            factors,
            refresh_keys: Arc::new(RefreshKeys::new(&refresh_mac_key)),
            refresh_mac_key,
            audiences: settings.audiences.clone(),
            refresh_reuse_grace: settings.refresh_reuse_grace,
            require_verified_email: settings.require_verified_email,
            browser_session_idle: settings.browser_session_idle,
            browser_session_ttl: settings.browser_session_ttl,
            wrong_password_time: Arc::default(),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// `read_at`: when `user` was read (before it, by this process's clock) — the access
    /// token's issue time as far as its roles go (see `Issuer::jti_at`). `assurance`: how the
    /// user signed in, kept on the session for every token of it.
    pub(crate) async fn open_session(
        &self,
        user: &UserRecord,
        audience: Vec<String>,
        client: ClientInfo,
        read_at: DateTime<Utc>,
        assurance: Assurance,
    ) -> Result<TokenPair, CoreError> {
        let now = self.now();
        let id = Uuid::now_v7();
        let refresh = self.issue_refresh(id);
        let expires_at = now + ttl(self.issuer.refresh_ttl());
        let session = NewSession {
            id,
            user_id: user.id,
            audience: audience.clone(),
            refresh_hash: refresh.hash(),
            now,
            expires_at,
            access_until: self.issuer.access_until(now),
            ip: client.ip,
            user_agent: client.user_agent.map(|ua| ua.chars().take(512).collect()),
            status_reuse_before: self.issuer.status_reuse_before(now),
            assurance,
            app: None,
        };
        let status_idx = self.store.create_session(&session).await?;
        self.issuer.token_pair(
            &TokenSubject::from(user),
            TokenSession {
                id: session.id,
                status_idx: Some(status_idx),
                assurance: session.assurance.clone(),
            },
            None,
            &audience,
            refresh,
            now,
            read_at.min(now),
        )
    }

    /// Ends every session of the user. Returns how many were live.
    pub async fn logout_all(&self, claims: &Claims, client: &ClientInfo) -> Result<u64, CoreError> {
        let user_id = user_id_of(claims)?;
        let entry = self.audit.entry(
            AuditEvent::Logout,
            Some(user_id),
            client,
            serde_json::json!({"all_sessions": true}),
        );
        let n = self
            .store
            .revoke_user_sessions(user_id, self.now(), &[entry])
            .await?;
        self.revoker.revoked().await;
        self.revoker.deny(claims).await?;
        Ok(n)
    }

    /// The user's live sessions.
    pub async fn list(&self, user_id: Uuid) -> Result<Vec<SessionRecord>, CoreError> {
        Ok(self.store.list_active_sessions(user_id, self.now()).await?)
    }

    /// Ends one of the user's own sessions; another user's session is "not found".
    pub async fn end_session(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        let now = self.now();
        match self.store.get_session(session_id).await? {
            Some(s) if s.user_id == user_id && s.revoked_at.is_none() && s.expires_at > now => {
                let entry = self.audit.entry(
                    AuditEvent::Logout,
                    Some(user_id),
                    client,
                    serde_json::json!({"session_id": session_id}),
                );
                self.store.revoke_session(session_id, now, &[entry]).await?;
                self.revoker.revoked().await;
                Ok(())
            }
            _ => Err(CoreError::NotFound),
        }
    }

    /// Signature, issuer, audience and times — no revocation check.
    /// The claims are shared with the verified-token cache (no copy on a hit).
    pub fn verify_access(&self, token: &str) -> Result<Arc<Claims>, CoreError> {
        let ring = self.keys.current();
        ring.verifier
            .verify_shared(token, self.now().timestamp())
            .map_err(|e| match e {
                VerifyError::Expired => CoreError::TokenExpired,
                _ => CoreError::TokenInvalid,
            })
    }

    /// A bearer token on Sesame's own API: verified, and refused once its session or the token
    /// itself was revoked.
    pub async fn authenticate(&self, token: &str) -> Result<Arc<Claims>, CoreError> {
        let claims = self.verify_access(token)?;
        // Only tokens from Sesame's own login act on its user API: a service token, or a user's
        // token obtained by a client through exchange, must not reach /profile or /admin even
        // when its audience is one of Sesame's.
        if claims.client_id != FIRST_PARTY_CLIENT_ID || claims.act.is_some() || claims.sid.is_none()
        {
            return Err(CoreError::TokenInvalid);
        }
        // A token a user asked for another service (`"audience": "gallery"`) is that service's:
        // Sesame refuses it exactly as the gallery refuses a token not meant for it, so a token
        // leaked by (or replayed from) one service cannot act on the user's account or /admin.
        if !claims.aud.contains(self.own_audience()) {
            return Err(CoreError::TokenInvalid);
        }
        self.revoker.ensure_not_revoked(&claims)?;
        Ok(claims)
    }

    /// Sesame's own audience: the first configured one, the default `aud` of a login. Its own
    /// API and forward-auth without an `audience=` constraint accept only tokens that carry it.
    pub fn own_audience(&self) -> &str {
        self.audiences
            .first()
            .map(String::as_str)
            .unwrap_or_default()
    }
}

/// The subject of an app's tokens (`app`: its client; `None` for Sesame's own login): only the
/// user's roles the app may delegate (`delegable_roles`, empty by default), as for token
/// exchange. An app the person merely signed in to must not hold their roles: a self-registered
/// app gets Sesame's own audience, and an admin's token in its hands would pass every
/// `/auth/verify?role=admin` gate and every service that trusts `roles`.
pub(crate) fn app_subject(mut user: TokenSubject, app: Option<&ClientRecord>) -> TokenSubject {
    if let Some(client) = app {
        user.roles.retain(|r| client.delegable_roles.contains(r));
    }
    user
}

/// The user id in `sub`; tokens of service clients have none and are refused here.
pub fn user_id_of(claims: &Claims) -> Result<Uuid, CoreError> {
    if claims.sid.is_none() {
        return Err(CoreError::Forbidden);
    }
    Uuid::parse_str(&claims.sub).map_err(|_| CoreError::TokenInvalid)
}

/// The session id in `sid`.
pub fn session_id_of(claims: &Claims) -> Option<Uuid> {
    claims.sid.as_deref().and_then(|s| Uuid::parse_str(s).ok())
}
