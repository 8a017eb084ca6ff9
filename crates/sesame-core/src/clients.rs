//! Service clients, administered: created (the secret shown once), listed, deleted. What a
//! client does with its credentials — tokens, exchange, introspection, revocation — is `oauth`.
//!
//! Client secrets are 256-bit random strings shown once; the store keeps HMAC-SHA-256 of them
//! under an instance key. With that much entropy a slow hash adds nothing, and a fast keyed hash
//! keeps service-token issuance cheap; comparison is constant-time.

use std::sync::Arc;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use crate::audit::{AuditEvent, Auditor};
use crate::client_cache::ClientCache;
use crate::client_metadata::{OAuthFields, dedup};
use crate::clock::Clock;
use crate::domain::Role;
use crate::error::{CoreError, FieldErrors};
use crate::revocation::Revoker;
use crate::secret::SecretBytes;
use crate::sessions::ClientInfo;
use crate::store::{ClientRecord, Store};

#[derive(Debug)]
pub struct NewClient {
    pub name: String,
    pub audiences: Vec<String>,
    pub scopes: Vec<String>,
    /// Roles a token obtained by exchange may carry (each only if the user has it). Empty: none.
    pub delegable_roles: Vec<String>,
    /// Its OAuth registration (redirect URIs, grant types...); the default is a service.
    pub oauth: OAuthFields,
}

/// A client just created: the only time its secret exists in clear. A public client has none.
#[derive(Debug)]
pub struct CreatedClient {
    pub client: ClientRecord,
    pub secret: Option<SecretString>,
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

/// A new client's id: 128 random bits.
fn new_client_id() -> String {
    let mut id = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut id);
    format!("svc_{}", B64.encode(id))
}

/// Hashes client secrets under the instance key; shared by client administration (a new
/// secret's hash) and OAuth (checking a presented secret).
#[derive(Debug, Clone)]
pub(crate) struct ClientSecrets {
    /// Built once: every client authentication hashes under it. (ring's `Debug` names only the
    /// algorithm, never the key.)
    mac_key: hmac::Key,
}

impl ClientSecrets {
    pub(crate) fn new(mac_key: Arc<SecretBytes>) -> Self {
        ClientSecrets {
            mac_key: hmac::Key::new(hmac::HMAC_SHA256, mac_key.expose_secret()),
        }
    }

    pub(crate) fn hash(&self, secret: &str) -> Vec<u8> {
        hmac::sign(&self.mac_key, secret.as_bytes())
            .as_ref()
            .to_vec()
    }
}

/// Client administration (the admin API's `/admin/clients` and `sesame client`), and apps
/// registering themselves (RFC 7591) when that is allowed.
#[derive(Debug, Clone)]
pub struct Clients {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    audit: Auditor,
    secrets: ClientSecrets,
    cache: Arc<ClientCache>,
    revoker: Revoker,
    /// `SESAME_DYNAMIC_REGISTRATION`.
    dynamic_registration: bool,
    /// The resources a self-registered app may ask tokens for (RFC 8707) besides itself:
    /// `SESAME_DYNAMIC_AUDIENCES`, which the operator names (never Sesame's own audience: a
    /// gateway that names none guards it, and anyone's app, once a person consents, must not
    /// pass it as that person — issue #18 review).
    dynamic_audiences: Vec<String>,
}

/// What an app sends to register itself (RFC 7591 §2), as far as Sesame uses it.
#[derive(Debug, Clone, Default)]
pub struct DynamicRegistration {
    pub client_name: Option<String>,
    pub redirect_uris: Vec<String>,
    /// RFC 7591's default is `client_secret_basic`; Sesame registers only public clients.
    pub token_endpoint_auth_method: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub response_types: Option<Vec<String>>,
    /// Space-separated.
    pub scope: Option<String>,
}

/// The scopes a self-registered app may ask for: OpenID Connect's, none of an API's — those
/// an operator grants by registering the client.
pub const DYNAMIC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

impl Clients {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        audit: Auditor,
        secrets: ClientSecrets,
        cache: Arc<ClientCache>,
        revoker: Revoker,
        settings: &crate::settings::Settings,
    ) -> Self {
        Clients {
            store,
            clock,
            audit,
            secrets,
            cache,
            revoker,
            dynamic_registration: settings.dynamic_registration,
            dynamic_audiences: settings.dynamic_audiences.clone(),
        }
    }

    /// Whether apps may register themselves (`SESAME_DYNAMIC_REGISTRATION`).
    pub fn dynamic_registration(&self) -> bool {
        self.dynamic_registration
    }

    /// An app registers itself (RFC 7591): always a public client of the code flow, for the
    /// OpenID scopes, with Sesame's own audience, never first-party. `NotFound` when dynamic
    /// registration is off; `Validation` names the fields at fault.
    pub async fn register_dynamic(
        &self,
        input: DynamicRegistration,
        client: &ClientInfo,
    ) -> Result<CreatedClient, CoreError> {
        if !self.dynamic_registration {
            return Err(CoreError::NotFound);
        }
        let mut fields = FieldErrors::new();
        let mut problem = |field: &str, text: &str| {
            fields.entry(field.into()).or_default().push(text.into());
        };
        if input
            .token_endpoint_auth_method
            .as_deref()
            .is_some_and(|m| m != "none")
        {
            problem(
                "token_endpoint_auth_method",
                "only public clients (none) may register themselves",
            );
        }
        if input
            .response_types
            .as_ref()
            .is_some_and(|r| r.iter().any(|t| t != "code"))
        {
            problem("response_types", "only code is supported");
        }
        if input.redirect_uris.is_empty() {
            problem("redirect_uris", "at least one redirect URI is required");
        }
        let scopes: Vec<String> = input
            .scope
            .as_deref()
            .unwrap_or("openid")
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if scopes.iter().any(|s| !DYNAMIC_SCOPES.contains(&s.as_str())) {
            problem(
                "scope",
                "a self-registered app may ask for openid, profile, email and offline_access only",
            );
        }
        if !fields.is_empty() {
            return Err(CoreError::Validation(fields));
        }
        let name = input
            .client_name
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "Unnamed app".into());
        let client_id = new_client_id();
        // Its tokens are for itself unless it names one of the other services (`resource`).
        let audiences = std::iter::once(client_id.clone())
            .chain(self.dynamic_audiences.iter().cloned())
            .collect();
        self.insert(
            client_id,
            NewClient {
                name,
                audiences,
                scopes,
                delegable_roles: Vec::new(),
                oauth: OAuthFields {
                    redirect_uris: input.redirect_uris,
                    grant_types: Some(input.grant_types.unwrap_or_else(|| {
                        vec![crate::client_metadata::AUTHORIZATION_CODE.into()]
                    })),
                    public: true,
                    ..Default::default()
                },
            },
            None,
            client,
        )
        .await
    }

    /// Creates a service client. The secret is returned once and stored only as a keyed hash.
    pub async fn create(
        &self,
        input: NewClient,
        by: Option<Uuid>,
        client: &ClientInfo,
    ) -> Result<CreatedClient, CoreError> {
        self.insert(new_client_id(), input, by, client).await
    }

    async fn insert(
        &self,
        client_id: String,
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
        for r in input.delegable_roles.iter() {
            if let Err(problem) = Role::parse(r) {
                fields
                    .entry("delegable_roles".into())
                    .or_default()
                    .push(format!("'{r}': {problem}"));
            }
        }
        let oauth = input.oauth.check(&mut fields);
        if !fields.is_empty() {
            return Err(CoreError::Validation(fields));
        }
        // A public client gets no secret, and its stored hash is empty: nothing ever matches it.
        let secret = (!oauth.public).then(|| {
            let mut secret = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut secret);
            B64.encode(secret)
        });
        let record = ClientRecord {
            client_id,
            name,
            secret_hash: secret
                .as_deref()
                .map(|s| self.secrets.hash(s))
                .unwrap_or_default(),
            audiences: dedup(input.audiences),
            scopes: dedup(input.scopes),
            delegable_roles: dedup(input.delegable_roles),
            created_at: self.clock.now(),
            access_until: None,
            status_idx: None,
            redirect_uris: oauth.redirect_uris,
            post_logout_redirect_uris: oauth.post_logout_redirect_uris,
            grant_types: oauth.grant_types.unwrap_or_default(),
            public: oauth.public,
            first_party: oauth.first_party,
            backchannel_logout_uri: oauth.backchannel_logout_uri,
        };
        let entry = self.audit.entry(
            AuditEvent::ClientCreated,
            by,
            client,
            serde_json::json!({"client_id": record.client_id, "name": record.name, "audiences": record.audiences, "scopes": record.scopes, "delegable_roles": record.delegable_roles, "redirect_uris": record.redirect_uris, "grant_types": record.grant_types, "public": record.public, "first_party": record.first_party, "by": by}),
        );
        let now = self.clock.now();
        let reuse_before = self.revoker.status_lists().reuse_before(now);
        let status_idx = self
            .store
            .create_client(&record, reuse_before, &[entry])
            .await?;
        Ok(CreatedClient {
            client: ClientRecord {
                status_idx: Some(status_idx),
                ..record
            },
            secret: secret.map(SecretString::from),
        })
    }

    pub async fn list(&self) -> Result<Vec<ClientRecord>, CoreError> {
        Ok(self.store.list_clients().await?)
    }

    pub async fn delete(
        &self,
        client_id: &str,
        by: Option<Uuid>,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        let entry = self.audit.entry(
            AuditEvent::ClientDeleted,
            by,
            client,
            serde_json::json!({"client_id": client_id, "by": by}),
        );
        if !self.store.delete_client(client_id, &[entry]).await? {
            // Not there (any more): if another replica deleted it, this one may still hold it
            // until its next poll; dropping it now costs nothing.
            self.cache.remove(client_id);
            return Err(CoreError::NotFound);
        }
        // The store recorded the deletion in the revocation feed (same transaction); reading
        // it now refuses the client's tokens on this replica at once, and evicts it again in
        // case a request raced this one (see `ClientCache::admit`). Other replicas follow
        // within their next poll.
        self.cache.remove(client_id);
        self.revoker.revoked().await;
        Ok(())
    }
}
