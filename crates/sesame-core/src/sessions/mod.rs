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
use crate::revocation::Revoker;
use crate::secret::SecretBytes;
use crate::settings::{Settings, ttl};
use crate::store::{
    Assurance, ClientRecord, NewSession, Rotated, SessionRecord, Store, TokenSubject, UserRecord,
};
use crate::tokens::{Issuer, KeyRing, RefreshToken, TokenSession};

mod browser;
mod login;
mod passkey;
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
    /// Keys refresh-token successors (and, derived, the audit's login-name hashes).
    refresh_mac_key: Arc<SecretBytes>,
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
        let refresh = RefreshToken::generate();
        let expires_at = now + ttl(self.issuer.refresh_ttl());
        let session = NewSession {
            id: Uuid::now_v7(),
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

    /// Spends a refresh token and returns a new pair in the same session.
    ///
    /// Within the grace window, the just-spent token returns the *same* successor (racing tabs);
    /// after it, presenting a spent token revokes the whole session (RFC 9700 §4.14.2).
    ///
    /// `for_client`: the app presenting it (`/oauth/token`), `None` for Sesame's own refresh. A
    /// token of another client's session (or an app's token at Sesame's own endpoint) is taken
    /// as stolen: its session ends, as on reuse. An app's tokens carry only the roles it may
    /// delegate (see [`app_subject`]).
    #[tracing::instrument(skip_all)]
    pub async fn refresh(
        &self,
        presented: &str,
        for_client: Option<&ClientRecord>,
        client: &ClientInfo,
    ) -> Result<TokenPair, CoreError> {
        let token = RefreshToken::parse(presented.trim()).ok_or(CoreError::TokenInvalid)?;
        let now = self.now();
        let next = token.successor(&self.refresh_mac_key);
        let expires_at = now + ttl(self.issuer.refresh_ttl());
        if let Some(Rotated { session, user }) = self
            .store
            .rotate_refresh(
                &token.hash(),
                &next.hash(),
                now,
                expires_at,
                self.issuer.access_until(now),
            )
            .await?
        {
            // The user as of the rotation's own transaction: no second read.
            let user = match user {
                Some(u) if !u.disabled => u,
                _ => return Err(self.end_for_user(&session, now).await),
            };
            self.check_bound_to(&session, for_client, client, now)
                .await?;
            return self.issuer.token_pair(
                &app_subject(user, for_client),
                TokenSession::from(&session),
                session.app.as_ref(),
                &session.audience,
                next,
                now,
                now,
            );
        }
        // Not rotated: unknown, expired, spent, or its session is gone.
        let record = self
            .store
            .find_refresh(&token.hash())
            .await?
            .ok_or(CoreError::TokenInvalid)?;
        let session = self
            .store
            .get_session(record.session_id)
            .await?
            .ok_or(CoreError::TokenRevoked)?;
        if session.revoked_at.is_some() {
            return Err(CoreError::TokenRevoked);
        }
        let Some(spent_at) = record.spent_at else {
            return Err(if record.expires_at <= now {
                CoreError::TokenExpired
            } else {
                CoreError::TokenRevoked
            });
        };
        let grace = ttl(self.refresh_reuse_grace);
        // Strictly inside the window: a zero grace turns the grace path off entirely. Another
        // replica may have spent it a moment "after" our clock reading: clamp at zero.
        if (now - spent_at).max(chrono::Duration::zero()) < grace
            && let Some(successor) = self.store.find_refresh(&next.hash()).await?
            && successor.spent_at.is_none()
            && successor.expires_at > now
        {
            self.check_bound_to(&session, for_client, client, now)
                .await?;
            let user = app_subject(
                TokenSubject::from(&self.live_user(&session, now).await?),
                for_client,
            );
            // No rotation records this token's expiry: record it before issuing, under the
            // session's row lock, so a revocation that wins the race refuses it instead.
            if !self
                .store
                .extend_session_access(session.id, self.issuer.access_until(now))
                .await?
            {
                return Err(CoreError::TokenRevoked);
            }
            return self.issuer.token_pair(
                &user,
                TokenSession::from(&session),
                session.app.as_ref(),
                &session.audience,
                next,
                now,
                now,
            );
        }
        // A spent token came back after the grace window: someone holds a stolen copy.
        self.metrics.refresh_reuse.inc();
        let entry = self.audit.entry(
            AuditEvent::RefreshReused,
            Some(session.user_id),
            client,
            serde_json::json!({"session_id": session.id, "spent_at": spent_at}),
        );
        self.store.revoke_session(session.id, now, &[entry]).await?;
        self.revoker.revoked().await;
        tracing::warn!(session_id = %session.id, user_id = %session.user_id, "refresh token reuse detected; session revoked");
        Err(CoreError::TokenRevoked)
    }

    /// Refuses (and ends) a session whose refresh token came from a client it is not bound to.
    async fn check_bound_to(
        &self,
        session: &SessionRecord,
        for_client: Option<&ClientRecord>,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<(), CoreError> {
        let for_client = for_client.map(|c| c.client_id.as_str());
        if session.app.as_ref().map(|a| a.client_id.as_str()) == for_client {
            return Ok(());
        }
        let entry = self.audit.entry(
            AuditEvent::SessionRevoked,
            Some(session.user_id),
            client,
            serde_json::json!({"session_id": session.id, "reason": "refresh_token_of_another_client", "presented_by": for_client}),
        );
        self.store.revoke_session(session.id, now, &[entry]).await?;
        self.revoker.revoked().await;
        tracing::warn!(session_id = %session.id, "refresh token presented by a client it is not bound to; session revoked");
        Err(CoreError::TokenInvalid)
    }

    /// The session's user, re-read so role changes and disabling take effect at refresh.
    async fn live_user(
        &self,
        session: &SessionRecord,
        now: DateTime<Utc>,
    ) -> Result<UserRecord, CoreError> {
        match self.store.get_user(session.user_id).await? {
            Some(u) if !u.disabled => Ok(u),
            _ => Err(self.end_for_user(session, now).await),
        }
    }

    /// Ends a session whose user is disabled or gone; the error to answer with.
    async fn end_for_user(&self, session: &SessionRecord, now: DateTime<Utc>) -> CoreError {
        let entry = self.audit.entry(
            AuditEvent::SessionRevoked,
            Some(session.user_id),
            &ClientInfo::default(),
            serde_json::json!({"session_id": session.id, "reason": "user_disabled_or_deleted"}),
        );
        if let Err(e) = self.store.revoke_session(session.id, now, &[entry]).await {
            return e.into();
        }
        self.revoker.revoked().await;
        CoreError::TokenRevoked
    }

    /// Ends the session of a refresh token (the live one, or the one just spent within the
    /// grace window), and deny-lists the access token sent along.
    #[tracing::instrument(skip_all)]
    pub async fn logout(&self, input: Logout) -> Result<(), CoreError> {
        let now = self.now();
        let token = RefreshToken::parse(input.refresh.trim()).ok_or(CoreError::TokenInvalid)?;
        let record = self
            .store
            .find_refresh(&token.hash())
            .await?
            .ok_or(CoreError::TokenInvalid)?;
        let grace = ttl(self.refresh_reuse_grace);
        let usable = record.expires_at > now && record.spent_at.is_none_or(|t| now - t <= grace);
        if !usable {
            return Err(CoreError::TokenInvalid);
        }
        let user_id = self
            .store
            .get_session(record.session_id)
            .await?
            .map(|s| s.user_id);
        let entry = self.audit.entry(
            AuditEvent::Logout,
            user_id,
            &input.client,
            serde_json::json!({"session_id": record.session_id}),
        );
        if !self
            .store
            .revoke_session(record.session_id, now, &[entry])
            .await?
        {
            return Err(CoreError::TokenInvalid);
        }
        self.revoker.revoked().await;
        if let Some(access) = input.access.as_deref()
            && let Ok(claims) = self.verify_access(access)
        {
            self.revoker.deny(&claims).await?;
        }
        Ok(())
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
