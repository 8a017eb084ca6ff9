//! OAuth 2.0 for service clients: client credentials (RFC 6749 §4.4), token exchange (RFC 8693),
//! introspection (RFC 7662) and revocation (RFC 7009), plus the checks behind gateway
//! forward-auth. (Creating and deleting clients is `clients`.)
//!
//! A client's audiences say which tokens are its business: it may exchange only a user's token
//! issued for one of them, and introspection tells it about no other token (RFC 7662 §2.2). An
//! exchanged token carries only the user's roles the client may delegate (`delegable_roles`,
//! none by default), so holding a user's token never hands a client more than the admin granted.
//! Every token is signed once and counted once, under its own kind (`client` or `exchange`).

use std::sync::Arc;

use aws_lc_rs::constant_time;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use sesame_verify::{Audience, Claims, VerifyError};
use uuid::Uuid;

use crate::audit::{AuditEvent, Auditor};
use crate::client_cache::ClientCache;
use crate::clients::ClientSecrets;
use crate::clock::Clock;
use crate::error::CoreError;
use crate::revocation::Revoker;
use crate::sessions::ClientInfo;
use crate::store::{ClientRecord, Store};
use crate::tokens::{Issuer, KeyRing, RefreshKeys, RefreshToken};

/// How far ahead of need a client's `access_until` is raised (see `cover_client_tokens`).
const CLIENT_ACCESS_STEP: chrono::Duration = chrono::Duration::seconds(60);
/// Room between checking a client's `access_until` and signing its token.
const CLIENT_ACCESS_SLACK: chrono::Duration = chrono::Duration::seconds(30);

#[derive(Debug)]
pub struct ClientToken {
    pub access_token: String,
    pub expires_in: u64,
    pub scope: String,
    pub audience: Vec<String>,
}

/// RFC 7662's answer. `None` fields are omitted.
#[derive(Debug, Default, serde::Serialize)]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
}

/// What a service client does with its credentials.
#[derive(Debug, Clone)]
pub struct OAuth {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    audit: Auditor,
    secrets: ClientSecrets,
    cache: Arc<ClientCache>,
    revoker: Revoker,
    issuer: Issuer,
    keys: Arc<KeyRing>,
    /// Tells Sesame's refresh tokens from made-up ones (revocation).
    refresh_keys: Arc<RefreshKeys>,
}

impl OAuth {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        audit: Auditor,
        secrets: ClientSecrets,
        cache: Arc<ClientCache>,
        revoker: Revoker,
        issuer: Issuer,
        keys: Arc<KeyRing>,
        refresh_keys: Arc<RefreshKeys>,
    ) -> Self {
        OAuth {
            store,
            clock,
            audit,
            secrets,
            cache,
            revoker,
            issuer,
            keys,
            refresh_keys,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// A public client (no secret; PKCE is its proof) presenting only its `client_id`.
    /// `InvalidClient` for an unknown or confidential one: a confidential client must
    /// authenticate.
    pub async fn public_client(&self, client_id: &str) -> Result<Arc<ClientRecord>, CoreError> {
        match self.store.get_client(client_id).await? {
            Some(c) if c.public => Ok(Arc::new(c)),
            _ => Err(CoreError::InvalidClient),
        }
    }

    /// Checks a client's credentials; the same error whether the id or the secret is wrong.
    ///
    /// From memory when the client authenticated here within the last minute and is not
    /// deleted as far as this process knows (see `client_cache`); from the database otherwise.
    /// Either way the presented secret's HMAC is compared with the stored one in constant time.
    /// Failures are never cached: an unknown id or a wrong secret reads the database each time.
    pub async fn authenticate_client(
        &self,
        client_id: &str,
        secret: &SecretString,
    ) -> Result<Arc<ClientRecord>, CoreError> {
        let candidate = self.secrets.hash(secret.expose_secret());
        // A public client has no secret (PKCE is its proof): it never authenticates.
        let matches = |c: &ClientRecord| {
            !c.public && constant_time::verify_slices_are_equal(&c.secret_hash, &candidate).is_ok()
        };
        // Taken before the database read, so an entry's age counts from before the read.
        let now = self.now();
        if let Some(c) = self.cache.get(client_id, now)
            && !self.revoker.cache().is_client_revoked(client_id)
            && matches(&c)
        {
            return Ok(c);
        }
        // A wrong secret for a held client reads the database too: every failure costs what
        // it did before the cache, so its timing tells nothing about what is held.
        match self.store.get_client(client_id).await? {
            Some(c) if matches(&c) => {
                let c = Arc::new(c);
                self.cache.admit(c.clone(), now, |id| {
                    self.revoker.cache().is_client_revoked(id)
                });
                Ok(c)
            }
            _ => Err(CoreError::InvalidClient),
        }
    }

    /// The audiences and scopes a token request of `client` gets, each limited to what the
    /// client may ask for. No audience requested → the client's first; no scope requested → all
    /// of the client's scopes.
    fn grant(
        client: &ClientRecord,
        audience: Vec<String>,
        scope: Option<&str>,
    ) -> Result<(Vec<String>, Vec<String>), CoreError> {
        let audience = if audience.is_empty() {
            client
                .audiences
                .first()
                .cloned()
                .into_iter()
                .collect::<Vec<_>>()
        } else {
            if let Some(bad) = audience.iter().find(|a| !client.audiences.contains(a)) {
                return Err(CoreError::InvalidTarget(format!(
                    "the client may not request audience '{bad}'"
                )));
            }
            let mut a: Vec<String> = Vec::new();
            for x in audience {
                if !a.contains(&x) {
                    a.push(x);
                }
            }
            a
        };
        let scopes: Vec<String> = match scope.map(str::trim).filter(|s| !s.is_empty()) {
            None => client.scopes.clone(),
            Some(s) => {
                let requested: Vec<String> = s
                    .split(' ')
                    .filter(|x| !x.is_empty())
                    .map(str::to_string)
                    .collect();
                if let Some(bad) = requested.iter().find(|x| !client.scopes.contains(x)) {
                    return Err(CoreError::InvalidScope(format!(
                        "the client may not request scope '{bad}'"
                    )));
                }
                requested
            }
        };
        Ok((audience, scopes))
    }

    /// A client-credentials access token for the requested audiences and scopes (see `grant`).
    pub async fn client_token(
        &self,
        client: &ClientRecord,
        audience: Vec<String>,
        scope: Option<&str>,
    ) -> Result<ClientToken, CoreError> {
        may_use(client, crate::client_metadata::CLIENT_CREDENTIALS)?;
        let (audience, scopes) = Self::grant(client, audience, scope)?;
        self.cover_client_tokens(client).await?;
        let now = self.now().timestamp();
        let ttl = self.issuer.access_ttl().as_secs();
        let scope = scopes.join(" ");
        let claims = Claims {
            iss: self.issuer.issuer().to_string(),
            sub: client.client_id.clone(),
            aud: Audience::from_list(audience.clone()),
            exp: now + ttl as i64,
            iat: now,
            nbf: now,
            jti: Uuid::new_v4().to_string(),
            client_id: client.client_id.clone(),
            sid: None,
            roles: Vec::new(),
            scope: (!scope.is_empty()).then(|| scope.clone()),
            email_verified: None,
            act: None,
            // Dies with the client: its deletion sets this bit.
            status: self.issuer.status(client.status_idx),
            // No person signed in.
            amr: None,
            acr: None,
        };
        let access_token = self.issuer.sign(&claims, "client")?;
        Ok(ClientToken {
            access_token,
            expires_in: ttl,
            scope,
            audience,
        })
    }

    /// Makes sure the client's `access_until` (what its deletion's feed entry is kept until)
    /// covers a token issued now, before one is. Raised in steps of [`CLIENT_ACCESS_STEP`], so
    /// the database is written about once a minute per client and replica, not per token; a
    /// record read from this process's cache that already covers it costs nothing. A client
    /// deleted meanwhile gets `invalid_client`: no token is issued past its deletion's entry.
    async fn cover_client_tokens(&self, client: &ClientRecord) -> Result<(), CoreError> {
        let now = self.now();
        // Room for the time between this check and the token's signing.
        let needed = self.issuer.access_until(now + CLIENT_ACCESS_SLACK);
        if client.access_until.is_some_and(|u| u >= needed) {
            return Ok(());
        }
        let until = self
            .store
            .extend_client_access(&client.client_id, needed + CLIENT_ACCESS_STEP)
            .await?
            .ok_or(CoreError::InvalidClient)?;
        let mut record = client.clone();
        record.access_until = Some(until);
        self.cache.admit(Arc::new(record), now, |id| {
            self.revoker.cache().is_client_revoked(id)
        });
        Ok(())
    }

    /// RFC 8693 token exchange: a client holding a user's access token obtains a token for one
    /// of its own audiences for the same user.
    ///
    /// Only a user's token (it has a session) issued for one of the client's own audiences is
    /// exchanged — a token the user gave to some other service is not this client's to use —
    /// and the new token carries only the user's roles the client may delegate: without that,
    /// any client holding an admin's token would mint an admin token for its own audiences.
    /// Every refusal of the subject token is `InvalidGrant` (RFC 6749 §5.2: the grant is
    /// invalid, expired, revoked or not this client's). The new token keeps the user's `sub`,
    /// `sid` and `email_verified`, names the client in `act` (nesting any earlier actor), and
    /// never outlives the token it was exchanged for. Revoking the user's session revokes it.
    pub async fn exchange_token(
        &self,
        client: &ClientRecord,
        subject_token: &str,
        audience: Vec<String>,
        scope: Option<&str>,
    ) -> Result<ClientToken, CoreError> {
        may_use(client, crate::client_metadata::TOKEN_EXCHANGE)?;
        // The request's own allowances first: they cost no signature check.
        let (audience, scopes) = Self::grant(client, audience, scope)?;
        let subject = self
            .check_access_token(subject_token, None)
            .await
            .map(Arc::unwrap_or_clone)
            .map_err(|e| match e {
                CoreError::Unavailable(s) => CoreError::Unavailable(s),
                _ => CoreError::InvalidGrant(
                    "the subject token is not a valid, unexpired, unrevoked access token".into(),
                ),
            })?;
        if subject.sid.is_none() {
            return Err(CoreError::InvalidGrant(
                "the subject token is not a user's access token".into(),
            ));
        }
        if !client.audiences.iter().any(|a| subject.aud.contains(a)) {
            return Err(CoreError::InvalidGrant(
                "the subject token was not issued for any of the client's audiences".into(),
            ));
        }
        let subject_read_at =
            DateTime::<Utc>::from_timestamp_millis(crate::revocation::issued_at_ms(&subject))
                .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
        self.cover_client_tokens(client).await?;
        let now = self.now().timestamp();
        let ttl = self.issuer.access_ttl().as_secs() as i64;
        let mut act = serde_json::json!({ "sub": client.client_id });
        if let Some(prior) = subject.act {
            act["act"] = prior;
        }
        let roles = subject
            .roles
            .into_iter()
            .filter(|r| client.delegable_roles.contains(r))
            .collect();
        let scope = scopes.join(" ");
        let claims = Claims {
            iss: self.issuer.issuer().to_string(),
            sub: subject.sub,
            aud: Audience::from_list(audience.clone()),
            exp: (now + ttl).min(subject.exp),
            iat: now,
            nbf: now,
            // As old as the subject token's roles it copies (see `Issuer::jti_at`), so a role
            // removal after the subject was issued refuses this token too.
            jti: Issuer::jti_at(subject_read_at),
            client_id: client.client_id.clone(),
            sid: subject.sid,
            roles,
            scope: (!scope.is_empty()).then(|| scope.clone()),
            email_verified: subject.email_verified,
            act: Some(act),
            // The subject's session's entry: it dies with the user's session (logout, reuse,
            // password change, disable), which is what acting on the user's behalf rests on.
            status: subject.status,
            // The same sign-in: how the user got in does not change by delegation.
            amr: subject.amr,
            acr: subject.acr,
        };
        let access_token = self.issuer.sign(&claims, "exchange")?;
        Ok(ClientToken {
            access_token,
            expires_in: (claims.exp - now).max(0) as u64,
            scope,
            audience,
        })
    }

    /// Verifies an access token for `audience` (any audience when `None`) and refuses it once
    /// revoked. Used by introspection and forward-auth.
    pub async fn check_access_token(
        &self,
        token: &str,
        audience: Option<&str>,
    ) -> Result<Arc<Claims>, CoreError> {
        let ring = self.keys.current();
        let claims = ring
            .verifier
            .verify_for_shared(token, self.now().timestamp(), audience)
            .map_err(|e| match e {
                VerifyError::Expired => CoreError::TokenExpired,
                VerifyError::WrongAudience => CoreError::Forbidden,
                _ => CoreError::TokenInvalid,
            })?;
        self.revoker.ensure_not_revoked(&claims)?;
        // These callers act on the token's `roles` (forward-auth's `role=`, introspection's
        // answer, the roles an exchange delegates): a token issued before its user lost a role
        // is refused, and a refresh gets one with the roles as they are now.
        if self.revoker.cache().has_stale_roles(&claims) {
            return Err(CoreError::TokenRevoked);
        }
        Ok(claims)
    }

    /// RFC 7662: whether an access token is active now, and what it says — for a `caller` whose
    /// business the token is: one of the token's audiences is among the caller's. Anything else
    /// answers only `active: false` (RFC 7662 §2.2), as does a refresh token, which is only ever
    /// its user's business: a client must not learn who holds a session, or for whom a token was
    /// minted, from a token that merely passed through it.
    pub async fn introspect(
        &self,
        caller: &ClientRecord,
        token: &str,
    ) -> Result<Introspection, CoreError> {
        if RefreshToken::parse(token.trim()).is_some() {
            return Ok(Introspection::default());
        }
        // The caller's audience is checked before the claims are copied out of the shared
        // cache entry: a token the caller has no business with costs no copy.
        match self.check_access_token(token, None).await.map(|c| {
            caller
                .audiences
                .iter()
                .any(|a| c.aud.contains(a))
                .then_some(c)
        }) {
            Ok(Some(c)) => {
                let c = Arc::unwrap_or_clone(c);
                Ok(Introspection {
                    active: true,
                    sub: Some(c.sub),
                    client_id: Some(c.client_id),
                    aud: Some(c.aud),
                    exp: Some(c.exp),
                    iat: Some(c.iat),
                    nbf: Some(c.nbf),
                    iss: Some(c.iss),
                    jti: Some(c.jti),
                    scope: c.scope,
                    sid: c.sid,
                    roles: Some(c.roles),
                    token_type: Some("access_token"),
                })
            }
            Err(CoreError::Unavailable(e)) => Err(CoreError::Unavailable(e)),
            Ok(_) | Err(_) => Ok(Introspection::default()),
        }
    }

    /// RFC 7009: a refresh token ends its session; an access token is deny-listed until it
    /// expires. Unknown or invalid tokens are not an error (the answer is the same 200).
    pub async fn revoke_token(
        &self,
        token: &str,
        by_client: &str,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        let now = self.now();
        if let Some(t) = RefreshToken::parse(token.trim()) {
            // Any token Sesame issued in the session, live or spent, ends it.
            let named =
                crate::sessions::session_named(self.store.as_ref(), &self.refresh_keys, &t).await?;
            if let Some(session_id) = named
                && let Some(session) = self.store.get_session(session_id).await?
            {
                // An app's refresh token is the app's (RFC 7009 §2.1): another client's request
                // changes nothing, and is answered like any token it may not revoke.
                if let Some(app) = session.app.as_ref()
                    && app.client_id != by_client
                {
                    return Ok(());
                }
                let entry = self.audit.entry(
                    AuditEvent::Logout,
                    Some(session.user_id),
                    client,
                    serde_json::json!({"session_id": session_id, "revoked_by_client": by_client}),
                );
                self.store.revoke_session(session_id, now, &[entry]).await?;
                self.revoker.revoked().await;
            }
            return Ok(());
        }
        let ring = self.keys.current();
        if let Ok(claims) = ring.verifier.verify_for(token, now.timestamp(), None) {
            // RFC 7009 §2.1: a client revokes only what was issued to it. Users' tokens from
            // Sesame's own login may be revoked by any authenticated (trusted backend) client,
            // as seed 001's main project does; a service token only by its own client.
            let first_party = claims.client_id == crate::sessions::FIRST_PARTY_CLIENT_ID;
            if first_party || claims.client_id == by_client {
                self.revoker.deny(&claims).await?;
            }
        }
        Ok(())
    }
}

/// RFC 6749 §5.2 `unauthorized_client` unless `client` is registered for `grant`.
fn may_use(client: &ClientRecord, grant: &str) -> Result<(), CoreError> {
    if client.may_use(grant) {
        Ok(())
    } else {
        Err(CoreError::UnauthorizedClient(format!(
            "the client is not registered for the {grant} grant"
        )))
    }
}
