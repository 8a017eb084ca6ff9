//! Service clients and OAuth 2.0: client credentials (RFC 6749 §4.4), introspection (RFC 7662)
//! and revocation (RFC 7009), plus the checks behind gateway forward-auth.
//!
//! Client secrets are 256-bit random strings shown once; the store keeps HMAC-SHA-256 of them
//! under an instance key. With that much entropy a slow hash adds nothing, and a fast keyed hash
//! keeps service-token issuance cheap; comparison is constant-time.

use std::sync::Arc;

use aws_lc_rs::{constant_time, hmac};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sesame_verify::{Audience, Claims, VerifyError};
use uuid::Uuid;

use crate::error::{CoreError, FieldErrors};
use crate::service::Sesame;
use crate::sessions::ClientInfo;
use crate::store::ClientRecord;
use crate::tokens::RefreshToken;

/// How far ahead of need a client's `access_until` is raised (see `cover_client_tokens`).
const CLIENT_ACCESS_STEP: chrono::Duration = chrono::Duration::seconds(60);
/// Room between checking a client's `access_until` and signing its token.
const CLIENT_ACCESS_SLACK: chrono::Duration = chrono::Duration::seconds(30);

#[derive(Debug)]
pub struct NewClient {
    pub name: String,
    pub audiences: Vec<String>,
    pub scopes: Vec<String>,
}

/// A client just created: the only time its secret exists in clear.
#[derive(Debug)]
pub struct CreatedClient {
    pub client: ClientRecord,
    pub secret: SecretString,
}

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

fn valid_name_part(s: &str, max: usize, extra: &[char]) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
}

/// RFC 6749 §3.3 scope-token: printable ASCII except space, `"` and `\`.
fn valid_scope(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

fn valid_audience(s: &str) -> bool {
    valid_name_part(s, 200, &['_', '-', '.', ':', '/'])
}

impl Sesame {
    fn client_secret_hash(&self, secret: &str) -> Vec<u8> {
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.client_mac_key.expose_secret());
        hmac::sign(&key, secret.as_bytes()).as_ref().to_vec()
    }

    /// Creates a service client. The secret is returned once and stored only as a keyed hash.
    pub async fn create_client(
        &self,
        input: NewClient,
        by: Option<Uuid>,
        client: &ClientInfo,
    ) -> Result<CreatedClient, CoreError> {
        let mut fields = FieldErrors::new();
        let name = input.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 100 {
            fields
                .entry("name".into())
                .or_default()
                .push("must be 1 to 100 characters".into());
        }
        if input.audiences.is_empty() {
            fields
                .entry("audiences".into())
                .or_default()
                .push("at least one audience is required".into());
        }
        for a in input.audiences.iter().filter(|a| !valid_audience(a)) {
            fields
                .entry("audiences".into())
                .or_default()
                .push(format!("'{a}' is not a valid audience"));
        }
        for s in input.scopes.iter().filter(|s| !valid_scope(s)) {
            fields
                .entry("scopes".into())
                .or_default()
                .push(format!("'{s}' is not a valid scope"));
        }
        if !fields.is_empty() {
            return Err(CoreError::Validation(fields));
        }
        let mut id = [0u8; 16];
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut id);
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let secret = B64.encode(secret);
        // Order kept: the first audience is the client's default.
        let dedup = |v: Vec<String>| {
            let mut out: Vec<String> = Vec::new();
            for x in v {
                if !out.contains(&x) {
                    out.push(x);
                }
            }
            out
        };
        let record = ClientRecord {
            client_id: format!("svc_{}", B64.encode(id)),
            name,
            secret_hash: self.client_secret_hash(&secret),
            audiences: dedup(input.audiences),
            scopes: dedup(input.scopes),
            created_at: self.now(),
            access_until: None,
        };
        let entry = self.audit(
            "client_created",
            by,
            client,
            serde_json::json!({"client_id": record.client_id, "name": record.name, "audiences": record.audiences, "scopes": record.scopes, "by": by}),
        );
        self.store.create_client(&record, &[entry]).await?;
        Ok(CreatedClient {
            client: record,
            secret: SecretString::from(secret),
        })
    }

    pub async fn list_clients(&self) -> Result<Vec<ClientRecord>, CoreError> {
        Ok(self.store.list_clients().await?)
    }

    pub async fn delete_client(
        &self,
        client_id: &str,
        by: Option<Uuid>,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        let entry = self.audit(
            "client_deleted",
            by,
            client,
            serde_json::json!({"client_id": client_id, "by": by}),
        );
        if !self.store.delete_client(client_id, &[entry]).await? {
            // Not there (any more): if another replica deleted it, this one may still hold it
            // until its next poll; dropping it now costs nothing.
            self.clients.remove(client_id);
            return Err(CoreError::NotFound);
        }
        // The store recorded the deletion in the revocation feed (same transaction); reading
        // it now refuses the client's tokens on this replica at once, and evicts it again in
        // case a request raced this one (see `ClientCache::admit`). Other replicas follow
        // within their next poll.
        self.clients.remove(client_id);
        self.revoked().await;
        Ok(())
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
        let candidate = self.client_secret_hash(secret.expose_secret());
        let matches = |c: &ClientRecord| {
            constant_time::verify_slices_are_equal(&c.secret_hash, &candidate).is_ok()
        };
        // Taken before the database read, so an entry's age counts from before the read.
        let now = self.now();
        if let Some(c) = self.clients.get(client_id, now)
            && !self.revocations.is_client_revoked(client_id)
            && matches(&c)
        {
            return Ok(c);
        }
        // A wrong secret for a held client reads the database too: every failure costs what
        // it did before the cache, so its timing tells nothing about what is held.
        match self.store.get_client(client_id).await? {
            Some(c) if matches(&c) => {
                let c = Arc::new(c);
                self.clients
                    .admit(c.clone(), now, |id| self.revocations.is_client_revoked(id));
                Ok(c)
            }
            _ => Err(CoreError::InvalidClient),
        }
    }

    /// A client-credentials access token for the requested audiences and scopes, each limited
    /// to what the client may ask for. No audience requested → the client's first; no scope
    /// requested → all of the client's scopes.
    pub async fn client_token(
        &self,
        client: &ClientRecord,
        audience: Vec<String>,
        scope: Option<&str>,
    ) -> Result<ClientToken, CoreError> {
        self.cover_client_tokens(client).await?;
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
        let now = self.now().timestamp();
        let ttl = self.settings.access_ttl.as_secs();
        let scope = scopes.join(" ");
        let claims = Claims {
            iss: self.settings.issuer.clone(),
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
        };
        let access_token = self.keys.current().active.sign_jwt(&claims)?;
        self.metrics.issued("client");
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
        let needed = self.access_until(now + CLIENT_ACCESS_SLACK);
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
        self.clients.admit(Arc::new(record), now, |id| {
            self.revocations.is_client_revoked(id)
        });
        Ok(())
    }

    /// RFC 8693 token exchange: a client holding a user's access token obtains a token for one
    /// of its own audiences for the same user. The new token keeps the user's `sub`, `sid`,
    /// roles and `email_verified`, names the client in `act` (nesting any earlier actor), and
    /// never outlives the token it was exchanged for. Revoking the user's session revokes it.
    pub async fn exchange_token(
        &self,
        client: &ClientRecord,
        subject_token: &str,
        audience: Vec<String>,
        scope: Option<&str>,
    ) -> Result<ClientToken, CoreError> {
        let subject = self
            .check_access_token(subject_token, None)
            .await
            .map(Arc::unwrap_or_clone)
            .map_err(|e| match e {
                CoreError::Unavailable(s) => CoreError::Unavailable(s),
                _ => CoreError::field("subject_token", "not a valid, unrevoked access token"),
            })?;
        if subject.sid.is_none() {
            return Err(CoreError::field(
                "subject_token",
                "not a user's access token",
            ));
        }
        let subject_read_at =
            DateTime::<Utc>::from_timestamp_millis(crate::revocation::issued_at_ms(&subject))
                .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
        let mut issued = self.client_token(client, audience, scope).await?;
        let now = self.now().timestamp();
        let ttl = self.settings.access_ttl.as_secs() as i64;
        let mut act = serde_json::json!({ "sub": client.client_id });
        if let Some(prior) = subject.act.clone() {
            act["act"] = prior;
        }
        let claims = Claims {
            iss: self.settings.issuer.clone(),
            sub: subject.sub,
            aud: Audience::from_list(issued.audience.clone()),
            exp: (now + ttl).min(subject.exp),
            iat: now,
            nbf: now,
            // As old as the subject token's roles it copies (see `Sesame::jti_at`), so a role
            // removal after the subject was issued refuses this token too.
            jti: Self::jti_at(subject_read_at),
            client_id: client.client_id.clone(),
            sid: subject.sid,
            roles: subject.roles,
            scope: (!issued.scope.is_empty()).then(|| issued.scope.clone()),
            email_verified: subject.email_verified,
            act: Some(act),
        };
        issued.expires_in = (claims.exp - now).max(0) as u64;
        issued.access_token = self.keys.current().active.sign_jwt(&claims)?;
        Ok(issued)
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
        self.ensure_not_revoked(&claims)?;
        // These callers act on the token's `roles` (forward-auth's `role=`, introspection's
        // answer, the roles an exchange delegates): a token issued before its user lost a role
        // is refused, and a refresh gets one with the roles as they are now.
        if self.revocations.has_stale_roles(&claims) {
            return Err(CoreError::TokenRevoked);
        }
        Ok(claims)
    }

    /// RFC 7662: whether a token (access or refresh) is active now, and what it says.
    pub async fn introspect(
        &self,
        token: &str,
        hint: Option<&str>,
    ) -> Result<Introspection, CoreError> {
        let looks_refresh = RefreshToken::parse(token.trim()).is_some();
        if looks_refresh || hint == Some("refresh_token") {
            return self.introspect_refresh(token).await;
        }
        match self
            .check_access_token(token, None)
            .await
            .map(Arc::unwrap_or_clone)
        {
            Ok(c) => Ok(Introspection {
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
            }),
            Err(CoreError::Unavailable(e)) => Err(CoreError::Unavailable(e)),
            Err(_) => Ok(Introspection::default()),
        }
    }

    async fn introspect_refresh(&self, token: &str) -> Result<Introspection, CoreError> {
        let Some(t) = RefreshToken::parse(token.trim()) else {
            return Ok(Introspection::default());
        };
        let now = self.now();
        let Some(rec) = self.store.find_refresh(&t.hash()).await? else {
            return Ok(Introspection::default());
        };
        let Some(session) = self.store.get_session(rec.session_id).await? else {
            return Ok(Introspection::default());
        };
        if rec.spent_at.is_some() || rec.expires_at <= now || session.revoked_at.is_some() {
            return Ok(Introspection::default());
        }
        Ok(Introspection {
            active: true,
            sub: Some(session.user_id.to_string()),
            client_id: Some(crate::sessions::FIRST_PARTY_CLIENT_ID.to_string()),
            aud: Some(Audience::from_list(session.audience.clone())),
            exp: Some(rec.expires_at.timestamp()),
            iat: Some(rec.issued_at.timestamp()),
            iss: Some(self.settings.issuer.clone()),
            sid: Some(session.id.to_string()),
            token_type: Some("refresh_token"),
            ..Default::default()
        })
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
            if let Some(rec) = self.store.find_refresh(&t.hash()).await? {
                let user_id = self
                    .store
                    .get_session(rec.session_id)
                    .await?
                    .map(|s| s.user_id);
                let entry = self.audit("logout", user_id, client, serde_json::json!({"session_id": rec.session_id, "revoked_by_client": by_client}));
                self.store
                    .revoke_session(rec.session_id, now, &[entry])
                    .await?;
                self.revoked().await;
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
                self.deny_claims(&claims).await?;
            }
        }
        Ok(())
    }
}
