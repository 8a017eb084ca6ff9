//! Sign in with Sesame: the OAuth 2.1 / OpenID Connect provider (issue #18, API.md "Sign in
//! with Sesame").
//!
//! An app sends the browser to `/oauth/authorize`; the person signs in on Sesame's page (a
//! browser session), consents when the app is a third party's, and the browser goes back with
//! a one-time code (≤ 60 s, bound to the client, redirect URI, PKCE challenge, nonce and
//! browser session). The app exchanges it for an access token, an ID token and — with
//! `offline_access` — a refresh token in a session of its own, which rotates and detects reuse
//! exactly as Sesame's own refresh does, and ends with the browser session it came from. The
//! app's session says how the person signed in (`amr`/`acr`, in its access and ID tokens) as
//! that browser session does; `acr_values=aal2` asks for a second factor first (`assurance`).
//!
//! This module holds every rule; the page and JSON handlers only extract and render.

mod assurance;
pub mod backchannel;
mod id_token;
mod request;
mod web_origins;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub use id_token::{IdTokenClaims, at_hash};
pub use request::{AuthorizeError, AuthorizeParams, AuthorizeRequest, OPENID_SCOPES, Prompt};

use crate::audit::{AuditEvent, Auditor};
use crate::clock::Clock;
use crate::domain::identifies_the_app;
use crate::error::CoreError;
use crate::mfa::MfaToken;
use crate::revocation::Revoker;
use crate::sessions::{BrowserSession, ClientInfo, Sessions};
use crate::settings::{Settings, ttl};
use crate::store::{
    AppLink, Assurance, ClientRecord, GrantRecord, NewCode, NewSession, Redeemed, Store,
    TokenSubject, UserRecord,
};
use crate::tokens::{Issuer, KeyRing, TokenPair, TokenSession};

/// How long a code may wait for its exchange (API.md: ≤ 60 s).
pub const CODE_TTL: chrono::Duration = chrono::Duration::seconds(60);
/// A used code is kept this long past its expiry, so a late replay still revokes.
pub const CODE_KEPT_AFTER_EXPIRY: chrono::Duration = chrono::Duration::minutes(10);

/// What the authorization endpoint does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Show the sign-in page (again, when `force`), then come back.
    SignIn { force: bool },
    /// The app asked for a second factor (`acr_values=aal2`) that the browser session lacks:
    /// the second step of a sign-in, with this challenge (`/signin/mfa`), then come back.
    SecondFactor { token: MfaToken },
    /// Ask the person to allow the app these scopes.
    Consent {
        client_name: String,
        scopes: Vec<String>,
    },
    /// Send the browser here: the app's redirect URI with a code or an error.
    Redirect(String),
}

/// What the token endpoint hands an app.
#[derive(Debug)]
pub struct AppTokens {
    pub access_token: String,
    pub expires_in: u64,
    pub scope: String,
    pub id_token: Option<String>,
    pub refresh_token: Option<String>,
}

/// The code grant's parameters (RFC 6749 §4.1.3, RFC 7636 §4.5).
#[derive(Debug)]
pub struct CodeExchange<'a> {
    pub code: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub code_verifier: Option<&'a str>,
    pub resource: &'a [String],
}

/// Where RP-initiated logout sends the browser afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterLogout {
    /// The app's registered `post_logout_redirect_uri`, with `state`.
    Redirect(String),
    /// Sesame's signed-out page.
    SignedOut,
}

/// The signature-checked parts of an `id_token_hint` that logout uses.
#[derive(Debug, serde::Deserialize)]
struct IdTokenHint {
    iss: String,
    sub: String,
    aud: String,
}

#[derive(Debug, Clone)]
pub struct Oidc {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    audit: Auditor,
    issuer: Issuer,
    keys: Arc<KeyRing>,
    revoker: Revoker,
    sessions: Sessions,
    default_audience: String,
    web_origins: Arc<web_origins::WebOrigins>,
}

impl Oidc {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        audit: Auditor,
        issuer: Issuer,
        keys: Arc<KeyRing>,
        revoker: Revoker,
        sessions: Sessions,
        settings: &Settings,
    ) -> Self {
        Oidc {
            store,
            clock,
            audit,
            issuer,
            keys,
            revoker,
            sessions,
            default_audience: settings.audiences.first().cloned().unwrap_or_default(),
            web_origins: Arc::default(),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Checks an authorization request (see `request` for the order and where errors go).
    pub async fn check(&self, params: AuthorizeParams) -> Result<AuthorizeRequest, AuthorizeError> {
        let client = match params.client_id.as_deref() {
            Some(id) if !id.is_empty() && id.len() <= 200 => self
                .store
                .get_client(id)
                .await
                .map_err(|_| AuthorizeError::Page("unavailable"))?
                .map(Arc::new),
            _ => None,
        };
        request::check(params, client, &self.default_audience)
    }

    /// The URL of an error response (RFC 6749 §4.1.2.1 with RFC 9207's `iss`).
    pub fn error_location(&self, e: &AuthorizeError) -> Option<String> {
        match e {
            AuthorizeError::Page(_) => None,
            AuthorizeError::Redirect {
                redirect_uri,
                state,
                error,
                description,
            } => Some(self.response_location(
                redirect_uri,
                &[("error", error), ("error_description", description)],
                state.as_deref(),
            )),
        }
    }

    fn response_location(
        &self,
        redirect_uri: &str,
        pairs: &[(&str, &str)],
        state: Option<&str>,
    ) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
        if let Some(s) = state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", self.issuer.issuer());
        let sep = if redirect_uri.contains('?') { '&' } else { '?' };
        format!("{redirect_uri}{sep}{}", q.finish())
    }

    fn error_redirect(
        &self,
        req: &AuthorizeRequest,
        error: &'static str,
        description: &str,
    ) -> Step {
        Step::Redirect(self.error_to(req, error, description))
    }

    fn error_to(&self, req: &AuthorizeRequest, error: &'static str, description: &str) -> String {
        self.response_location(
            &req.redirect_uri,
            &[("error", error), ("error_description", description)],
            req.state.as_deref(),
        )
    }

    /// What happens to a checked request for this browser: sign in, consent, or the answer.
    pub async fn next_step(
        &self,
        req: &AuthorizeRequest,
        session: Option<&BrowserSession>,
    ) -> Result<Step, CoreError> {
        let now = self.now();
        let Some(session) = session else {
            return Ok(if req.prompt.none {
                self.error_redirect(req, "login_required", "The person is not signed in.")
            } else {
                Step::SignIn { force: false }
            });
        };
        let too_old = req
            .max_age
            .is_some_and(|max| (now - session.created_at).num_seconds() > max);
        if req.prompt.login || too_old {
            return Ok(if req.prompt.none {
                self.error_redirect(req, "login_required", "A fresh sign-in is required.")
            } else {
                Step::SignIn { force: true }
            });
        }
        // Authentication before consent (OpenID Connect Core §3.1.2.3-4). Under prompt=none
        // no page may be shown, so the challenge is not even opened.
        if req.prompt.none {
            if self.step_up_needed(req, session).await? {
                return Ok(self.error_redirect(
                    req,
                    "login_required",
                    "A sign-in with a second factor is required.",
                ));
            }
        } else if let Some(token) = self.step_up(req, session).await? {
            return Ok(Step::SecondFactor { token });
        }
        if self.needs_consent(req, session.user.id).await? {
            return Ok(if req.prompt.none {
                self.error_redirect(
                    req,
                    "consent_required",
                    "The person has not allowed this app.",
                )
            } else {
                Step::Consent {
                    client_name: req.client.name.clone(),
                    scopes: req.scopes.clone(),
                }
            });
        }
        self.issue_code(req, session).await.map(Step::Redirect)
    }

    /// The person's answer on the consent page.
    pub async fn decide(
        &self,
        req: &AuthorizeRequest,
        session: &BrowserSession,
        allow: bool,
        client: &ClientInfo,
    ) -> Result<String, CoreError> {
        if !allow {
            return Ok(self.error_to(req, "access_denied", "The person did not allow the app."));
        }
        let now = self.now();
        let mut scopes = self
            .store
            .get_grant(session.user.id, &req.client.client_id)
            .await?
            .map(|g| g.scopes)
            .unwrap_or_default();
        scopes.extend(req.scopes.iter().cloned());
        scopes.sort();
        scopes.dedup();
        let entry = self.audit.entry(
            AuditEvent::ConsentGranted,
            Some(session.user.id),
            client,
            serde_json::json!({"client_id": req.client.client_id, "scopes": scopes}),
        );
        self.store
            .save_grant(
                session.user.id,
                &req.client.client_id,
                &scopes,
                now,
                &[entry],
            )
            .await?;
        self.issue_code(req, session).await
    }

    async fn needs_consent(
        &self,
        req: &AuthorizeRequest,
        user_id: Uuid,
    ) -> Result<bool, CoreError> {
        // RFC 8252 §8.6: a public client answering at a loopback port or a private-use scheme
        // may be any app on the device using its client id, so the person is asked every time,
        // even by a first-party app and after an earlier approval.
        if req.client.public && !identifies_the_app(&req.redirect_uri) {
            return Ok(true);
        }
        if req.client.first_party {
            return Ok(false);
        }
        if req.prompt.consent {
            return Ok(true);
        }
        let granted = self
            .store
            .get_grant(user_id, &req.client.client_id)
            .await?
            .map(|g| g.scopes)
            .unwrap_or_default();
        Ok(!req.scopes.iter().all(|s| granted.contains(s)))
    }

    async fn issue_code(
        &self,
        req: &AuthorizeRequest,
        session: &BrowserSession,
    ) -> Result<String, CoreError> {
        let now = self.now();
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let code = B64.encode(bytes);
        self.store
            .create_code(&NewCode {
                hash: Sha256::digest(code.as_bytes()).to_vec(),
                client_id: req.client.client_id.clone(),
                user_id: session.user.id,
                parent_id: session.session_id,
                redirect_uri: req.redirect_uri.clone(),
                scope: req.scopes.join(" "),
                audience: req.audience.clone(),
                code_challenge: req.code_challenge.clone(),
                nonce: req.nonce.clone(),
                auth_time: session.created_at,
                created_at: now,
                expires_at: now + CODE_TTL,
            })
            .await?;
        Ok(self.response_location(&req.redirect_uri, &[("code", &code)], req.state.as_deref()))
    }

    /// The authorization code grant (RFC 6749 §4.1.3) for an authenticated (or public) client.
    pub async fn exchange_code(
        &self,
        client: &ClientRecord,
        input: CodeExchange<'_>,
        caller: &ClientInfo,
    ) -> Result<AppTokens, CoreError> {
        let bad = |why: &str| CoreError::InvalidGrant(why.to_string());
        if !client.may_use(crate::client_metadata::AUTHORIZATION_CODE) {
            return Err(CoreError::UnauthorizedClient(
                "The client is not registered for the authorization code grant.".into(),
            ));
        }
        let now = self.now();
        let hash = Sha256::digest(input.code.as_bytes()).to_vec();
        let record = self
            .store
            .find_code(&hash)
            .await?
            .ok_or_else(|| bad("The code is invalid."))?;
        let code = &record.code;
        // The browser session that approved the code: the app's session signs in as it did
        // (`amr`/`acr`), and only while it lives (checked below, in the order of the checks).
        let parent = self.store.get_session(code.parent_id).await?;
        let session_id = Uuid::now_v7();
        let refresh = self.sessions.issue_refresh(session_id);
        let offline = code.scope.split_whitespace().any(|s| s == "offline_access");
        // Without offline_access the session lives as long as its access token; its refresh
        // token is never handed out.
        let expires_at = if offline {
            now + ttl(self.issuer.refresh_ttl())
        } else {
            self.issuer.access_until(now)
        };
        let app = AppLink {
            client_id: code.client_id.clone(),
            parent_id: code.parent_id,
            sid: code.parent_id,
            scope: code.scope.clone(),
            auth_time: code.auth_time,
        };
        let new_session = NewSession {
            id: session_id,
            user_id: code.user_id,
            audience: code.audience.clone(),
            refresh_hash: refresh.hash(),
            now,
            expires_at,
            access_until: self.issuer.access_until(now),
            ip: caller.ip.clone(),
            user_agent: caller
                .user_agent
                .as_ref()
                .map(|ua| ua.chars().take(512).collect()),
            status_reuse_before: self.issuer.status_reuse_before(now),
            // A parent that is gone fails the check below: no session is made with this.
            assurance: parent
                .as_ref()
                .map_or_else(Assurance::password, |p| p.assurance.clone()),
            app: Some(app.clone()),
        };
        if record.used_at.is_some() {
            // A second presentation: whoever holds it, what the first one issued is revoked.
            self.replayed(&hash, &new_session, code, client, caller)
                .await?;
            return Err(bad("The code was used before."));
        }
        if code.expires_at <= now {
            return Err(bad("The code has expired."));
        }
        if code.client_id != client.client_id {
            return Err(bad("The code was issued to another client."));
        }
        if input.redirect_uri != Some(code.redirect_uri.as_str()) {
            return Err(bad(
                "redirect_uri differs from the authorization request's.",
            ));
        }
        let verifier = input
            .code_verifier
            .filter(|v| request::is_verifier(v))
            .ok_or_else(|| bad("code_verifier is missing or malformed."))?;
        let computed = B64.encode(Sha256::digest(verifier.as_bytes()));
        if aws_lc_rs::constant_time::verify_slices_are_equal(
            computed.as_bytes(),
            code.code_challenge.as_bytes(),
        )
        .is_err()
        {
            return Err(bad("code_verifier does not match the code_challenge."));
        }
        if !input.resource.is_empty() && !input.resource.iter().all(|r| code.audience.contains(r)) {
            return Err(CoreError::InvalidTarget(
                "resource must be one the authorization request named.".into(),
            ));
        }
        // Bound to the browser session that approved it: signed out since, no tokens.
        let parent_live = parent.is_some_and(|s| s.revoked_at.is_none() && s.expires_at > now);
        if !parent_live {
            return Err(bad("The sign-in that approved the code has ended."));
        }
        let user = match self.store.get_user(code.user_id).await? {
            Some(u) if !u.disabled => u,
            _ => return Err(bad("The account is not active.")),
        };
        let entry = self.audit.entry(
            AuditEvent::AppAuthorized,
            Some(user.id),
            caller,
            serde_json::json!({"client_id": client.client_id, "session_id": session_id, "scope": code.scope}),
        );
        let status_idx = match self
            .store
            .redeem_code(&hash, &new_session, &[entry], &[])
            .await?
        {
            Redeemed::Issued { status_idx } => status_idx,
            Redeemed::Replayed => {
                // Another exchange won the race: the store revoked what it issued.
                self.revoker.revoked().await;
                return Err(bad("The code was used before."));
            }
            Redeemed::SignInEnded => {
                return Err(bad("The sign-in that approved the code has ended."));
            }
            Redeemed::Unknown => return Err(bad("The code is invalid.")),
        };
        let pair = self.issuer.token_pair(
            &crate::sessions::app_subject(TokenSubject::from(&user), Some(client)),
            TokenSession {
                id: session_id,
                status_idx: Some(status_idx),
                assurance: new_session.assurance.clone(),
            },
            Some(&app),
            &code.audience,
            refresh,
            now,
            now,
        )?;
        self.app_tokens(pair, Some(&user), code.nonce.clone(), offline, now)
    }

    async fn replayed(
        &self,
        hash: &[u8],
        probe: &NewSession,
        code: &NewCode,
        client: &ClientRecord,
        caller: &ClientInfo,
    ) -> Result<(), CoreError> {
        let entry = self.audit.entry(
            AuditEvent::CodeReplayed,
            Some(code.user_id),
            caller,
            serde_json::json!({"client_id": code.client_id, "presented_by": client.client_id}),
        );
        if self.store.redeem_code(hash, probe, &[], &[entry]).await? == Redeemed::Replayed {
            self.revoker.revoked().await;
            tracing::warn!(client_id = %code.client_id, "authorization code replayed; what it issued is revoked");
        }
        Ok(())
    }

    /// The refresh grant for an app: rotation, grace and reuse detection as Sesame's own
    /// refresh, bound to the client.
    pub async fn refresh(
        &self,
        client: &ClientRecord,
        refresh_token: &str,
        caller: &ClientInfo,
    ) -> Result<AppTokens, CoreError> {
        if !client.may_use(crate::client_metadata::REFRESH_TOKEN) {
            return Err(CoreError::UnauthorizedClient(
                "The client is not registered for the refresh token grant.".into(),
            ));
        }
        let pair = self
            .sessions
            .refresh(refresh_token, Some(client), caller)
            .await
            .map_err(|e| match e {
                CoreError::TokenInvalid | CoreError::TokenExpired | CoreError::TokenRevoked => {
                    CoreError::InvalidGrant("The refresh token is not valid.".into())
                }
                other => other,
            })?;
        let now = self.now();
        self.app_tokens(pair, None, None, true, now)
    }

    /// The token response: the access token, an ID token when `openid` was granted, the refresh
    /// token when `offline_access` was.
    fn app_tokens(
        &self,
        pair: TokenPair,
        user: Option<&UserRecord>,
        nonce: Option<String>,
        offline: bool,
        now: DateTime<Utc>,
    ) -> Result<AppTokens, CoreError> {
        let app = pair
            .app
            .clone()
            .ok_or_else(|| CoreError::internal("an app's tokens without its link"))?;
        let scopes: Vec<&str> = app.scope.split_whitespace().collect();
        let id_token = if scopes.contains(&"openid") {
            let has = |s: &str| scopes.contains(&s);
            let claims = IdTokenClaims {
                iss: self.issuer.issuer().to_string(),
                sub: pair.user_id.to_string(),
                aud: app.client_id.clone(),
                exp: now.timestamp() + pair.expires_in as i64,
                iat: now.timestamp(),
                auth_time: app.auth_time.timestamp(),
                nonce,
                sid: app.sid.to_string(),
                amr: pair.assurance.amr.clone(),
                acr: pair.assurance.acr.clone(),
                azp: app.client_id.clone(),
                at_hash: at_hash(&pair.access, self.issuer.id_token_alg()),
                email: user.filter(|_| has("email")).map(|u| u.email.clone()),
                email_verified: user.filter(|_| has("email")).map(|u| u.email_verified),
                preferred_username: user
                    .filter(|_| has("profile"))
                    .and_then(|u| u.username.clone()),
                name: user
                    .filter(|_| has("profile"))
                    .and_then(|u| u.display_name.clone()),
            };
            Some(self.issuer.sign_id_token(&claims)?)
        } else {
            None
        };
        Ok(AppTokens {
            access_token: pair.access,
            expires_in: pair.expires_in,
            scope: app.scope.clone(),
            id_token,
            refresh_token: offline.then(|| pair.refresh.as_str().to_string()),
        })
    }

    /// `/oauth/userinfo`: any live access token Sesame issued with scope `openid`, whatever its
    /// audience; the claims its scopes allow.
    pub async fn userinfo(&self, token: &str) -> Result<serde_json::Value, CoreError> {
        let claims = self
            .keys
            .current()
            .verifier
            .verify_for_shared(token, self.now().timestamp(), None)
            .map_err(|e| match e {
                sesame_verify::VerifyError::Expired => CoreError::TokenExpired,
                _ => CoreError::TokenInvalid,
            })?;
        let scopes: Vec<&str> = claims
            .scope
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        if !scopes.contains(&"openid") || claims.sid.is_none() {
            return Err(CoreError::Forbidden);
        }
        self.revoker.ensure_not_revoked(&claims)?;
        let id = Uuid::parse_str(&claims.sub).map_err(|_| CoreError::TokenInvalid)?;
        let user = match self.store.get_user(id).await? {
            Some(u) if !u.disabled => u,
            _ => return Err(CoreError::TokenRevoked),
        };
        let mut out = serde_json::json!({"sub": user.id.to_string()});
        if scopes.contains(&"email") {
            out["email"] = user.email.clone().into();
            out["email_verified"] = user.email_verified.into();
        }
        if scopes.contains(&"profile") {
            out["preferred_username"] = user.username.clone().into();
            out["name"] = user.display_name.clone().into();
            out["updated_at"] = user.updated_at.timestamp().into();
        }
        Ok(out)
    }

    /// The apps a person has allowed (`GET /auth/grants`, `/account/apps`).
    pub async fn grants(&self, user_id: Uuid) -> Result<Vec<GrantRecord>, CoreError> {
        Ok(self.store.list_grants(user_id).await?)
    }

    /// Withdraws consent from an app and revokes every token issued under it.
    pub async fn revoke_grant(
        &self,
        user_id: Uuid,
        client_id: &str,
        caller: &ClientInfo,
    ) -> Result<(), CoreError> {
        let entry = self.audit.entry(
            AuditEvent::ConsentRevoked,
            Some(user_id),
            caller,
            serde_json::json!({"client_id": client_id}),
        );
        if !self
            .store
            .delete_grant(user_id, client_id, self.now(), &[entry])
            .await?
        {
            return Err(CoreError::NotFound);
        }
        self.revoker.revoked().await;
        Ok(())
    }

    /// RP-initiated logout 1.0: where to send the browser once its session has ended, and whom
    /// a genuine `id_token_hint` names (the hint is checked once, here). A
    /// `post_logout_redirect_uri` must be registered, exactly, by the app that `client_id` or a
    /// genuine `id_token_hint` names; otherwise an error (a 400 page, never a redirect).
    pub async fn after_logout(
        &self,
        id_token_hint: Option<&str>,
        client_id: Option<&str>,
        post_logout_redirect_uri: Option<&str>,
        state: Option<&str>,
    ) -> Result<LogoutPlan, LogoutError> {
        let hint = match id_token_hint {
            Some(t) => Some(
                self.keys
                    .current()
                    .verifier
                    .verify_signature_typed::<IdTokenHint>(t, "JWT")
                    .ok()
                    .filter(|h| h.iss == self.issuer.issuer())
                    .ok_or(LogoutError::BadHint)?,
            ),
            None => None,
        };
        let hinted = hint.as_ref().and_then(|h| Uuid::parse_str(&h.sub).ok());
        let client_id = match (client_id, hint.as_ref()) {
            (Some(c), Some(h)) if c != h.aud => return Err(LogoutError::BadHint),
            (Some(c), _) => Some(c.to_string()),
            (None, Some(h)) => Some(h.aud.clone()),
            (None, None) => None,
        };
        let Some(uri) = post_logout_redirect_uri else {
            return Ok(LogoutPlan {
                after: AfterLogout::SignedOut,
                hinted,
            });
        };
        let client = match client_id {
            Some(id) => self
                .store
                .get_client(&id)
                .await
                .map_err(|_| LogoutError::Unavailable)?,
            None => None,
        };
        let registered =
            client.is_some_and(|c| c.post_logout_redirect_uris.iter().any(|r| r == uri));
        if !registered {
            return Err(LogoutError::UnregisteredRedirect);
        }
        let mut to = url::Url::parse(uri).map_err(|_| LogoutError::UnregisteredRedirect)?;
        if let Some(s) = state {
            to.query_pairs_mut().append_pair("state", s);
        }
        Ok(LogoutPlan {
            after: AfterLogout::Redirect(to.to_string()),
            hinted,
        })
    }
}

/// What RP-initiated logout does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutPlan {
    pub after: AfterLogout,
    /// The person a genuine `id_token_hint` names: when it is the one signed in, the logout
    /// needs no confirmation.
    pub hinted: Option<Uuid>,
}

/// Why RP-initiated logout refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutError {
    /// The `id_token_hint` is not an ID token of this issuer, or names another client.
    BadHint,
    /// The `post_logout_redirect_uri` is not registered by the app.
    UnregisteredRedirect,
    Unavailable,
}
