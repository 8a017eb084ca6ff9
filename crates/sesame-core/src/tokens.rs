//! Refresh tokens (opaque, random, stored as SHA-256) and the key ring that signs and verifies
//! access tokens.
//!
//! A refresh token's successor is `HMAC-SHA256(instance key, token)`: rotation stores only its
//! hash, and a client that presents the just-spent token again within the grace window can be
//! handed the very same successor — recomputed, on any replica — instead of a second live token.

use std::sync::{Arc, RwLock};

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use rand::RngCore;
use secrecy::ExposeSecret;
use sesame_verify::{Audience, Claims, KeySet, PublicJwk, TokenCache, Verifier};
use sha2::{Digest, Sha256};

use crate::error::CoreError;
use crate::keys::{ActiveKey, KeyRecord, KeyState};
use crate::metrics::CoreMetrics;
use crate::secret::SecretBytes;
use crate::sessions::FIRST_PARTY_CLIENT_ID;
use crate::settings::Settings;
use crate::status_list::StatusLists;
use crate::store::{Assurance, Store, TokenSubject};

/// 32 random bytes, base64url without padding: 43 characters.
const REFRESH_LEN: usize = 43;

/// A refresh token as handed to a client. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshToken([REDACTED])")
    }
}

impl RefreshToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        RefreshToken(B64.encode(bytes))
    }

    /// Accepts only the shape Sesame issues, so garbage never reaches the database.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = raw.len() == REFRESH_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| RefreshToken(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the store keeps. A fast hash is right here: the token has 256 bits of entropy, so
    /// there is nothing to brute-force.
    pub fn hash(&self) -> Vec<u8> {
        Sha256::digest(self.0.as_bytes()).to_vec()
    }

    pub fn successor(&self, mac_key: &SecretBytes) -> RefreshToken {
        let key = hmac::Key::new(hmac::HMAC_SHA256, mac_key.expose_secret());
        RefreshToken(B64.encode(hmac::sign(&key, self.0.as_bytes()).as_ref()))
    }
}

/// What is published and what signs, swapped as a whole when keys change.
#[derive(Debug)]
pub struct KeyRingState {
    pub active: ActiveKey,
    pub verifier: Verifier,
    pub published: Vec<PublishedKey>,
}

#[derive(Debug, Clone)]
pub struct PublishedKey {
    pub jwk: PublicJwk,
    pub state: KeyState,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub retire_until: Option<DateTime<Utc>>,
}

/// The keys this instance signs with and accepts, reloaded from the store.
#[derive(Debug)]
pub struct KeyRing {
    state: RwLock<Arc<KeyRingState>>,
    issuer: String,
    audiences: Vec<String>,
    /// Tokens already verified, shared by every verifier built as keys are reloaded (entries
    /// whose key leaves the set stop counting; see `sesame_verify::TokenCache`).
    cache: Arc<TokenCache>,
}

impl KeyRing {
    pub fn new(
        records: &[KeyRecord],
        issuer: &str,
        audiences: &[String],
        now: DateTime<Utc>,
    ) -> Result<Self, CoreError> {
        Self::with_cache(records, issuer, audiences, now, Arc::default())
    }

    /// A key ring whose verifiers remember verified tokens in `cache`.
    pub fn with_cache(
        records: &[KeyRecord],
        issuer: &str,
        audiences: &[String],
        now: DateTime<Utc>,
        cache: Arc<TokenCache>,
    ) -> Result<Self, CoreError> {
        let state = build_state(records, issuer, audiences, now, &cache)?;
        Ok(KeyRing {
            state: RwLock::new(Arc::new(state)),
            issuer: issuer.into(),
            audiences: audiences.to_vec(),
            cache,
        })
    }

    pub fn token_cache(&self) -> &Arc<TokenCache> {
        &self.cache
    }

    pub fn current(&self) -> Arc<KeyRingState> {
        self.state.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Rereads keys from the store (another replica or the CLI may have changed them).
    pub async fn reload(&self, store: &dyn Store, now: DateTime<Utc>) -> Result<(), CoreError> {
        let records = store.list_keys().await?;
        self.replace(&records, now)
    }

    pub fn replace(&self, records: &[KeyRecord], now: DateTime<Utc>) -> Result<(), CoreError> {
        let state = build_state(records, &self.issuer, &self.audiences, now, &self.cache)?;
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(state);
        Ok(())
    }
}

/// A user's access and refresh token, as a login or a refresh hands them out.
#[derive(Debug)]
pub struct TokenPair {
    pub access: String,
    pub refresh: RefreshToken,
    pub expires_in: u64,
    pub refresh_expires_in: u64,
}

/// Signs access tokens with the current key and counts each under its kind; shared by sessions
/// (user tokens) and OAuth (client and exchanged tokens). Signing and counting are one call, so
/// a token is counted once, under the kind it was issued as.
#[derive(Debug, Clone)]
pub(crate) struct Issuer {
    keys: Arc<KeyRing>,
    metrics: Arc<CoreMetrics>,
    status: Arc<StatusLists>,
    issuer: String,
    access_ttl: std::time::Duration,
    refresh_ttl: std::time::Duration,
}

impl Issuer {
    pub(crate) fn new(
        keys: Arc<KeyRing>,
        metrics: Arc<CoreMetrics>,
        status: Arc<StatusLists>,
        settings: &Settings,
    ) -> Self {
        Issuer {
            keys,
            metrics,
            status,
            issuer: settings.issuer.clone(),
            access_ttl: settings.access_ttl,
            refresh_ttl: settings.refresh_ttl,
        }
    }

    /// The `status` claim of a token carrying status-list index `idx`.
    pub(crate) fn status(&self, idx: Option<i64>) -> Option<sesame_verify::TokenStatus> {
        idx.and_then(|i| self.status.claim(i))
    }

    /// See [`StatusLists::reuse_before`].
    pub(crate) fn status_reuse_before(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.status.reuse_before(now)
    }

    /// `iss` of every token.
    pub(crate) fn issuer(&self) -> &str {
        &self.issuer
    }

    pub(crate) fn access_ttl(&self) -> std::time::Duration {
        self.access_ttl
    }

    pub(crate) fn refresh_ttl(&self) -> std::time::Duration {
        self.refresh_ttl
    }

    /// Signs `claims` and counts the token under `kind` (`access`, `client`, `exchange`).
    pub(crate) fn sign(&self, claims: &Claims, kind: &'static str) -> Result<String, CoreError> {
        let token = self.keys.current().active.sign_jwt(claims)?;
        self.metrics.issued(kind);
        Ok(token)
    }

    /// The latest moment an access token issued at `now` can be accepted: its `exp` (whole
    /// seconds, as `token_pair` sets it) plus the verifiers' leeway. Recorded on the session
    /// before the token is issued, so a revocation of the session is kept that long whatever
    /// the access lifetime is later configured to (see `revocation`).
    pub(crate) fn access_until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let exp = now
            .timestamp()
            .saturating_add(self.access_ttl.as_secs() as i64)
            .saturating_add(sesame_verify::DEFAULT_LEEWAY_SECS);
        DateTime::<Utc>::from_timestamp(exp, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// A `jti` that also says when the token's contents were read, to the millisecond, by
    /// Sesame's clock: a UUIDv7 made from `read_at` (no later than the read of the user whose
    /// roles it carries). A role removal refuses the user's tokens issued before it (see
    /// `revocation`); the whole-second `iat` could not tell a token issued just after it.
    pub(crate) fn jti_at(read_at: DateTime<Utc>) -> String {
        let ts = uuid::Timestamp::from_unix(
            uuid::NoContext,
            read_at.timestamp().max(0).unsigned_abs(),
            read_at.timestamp_subsec_nanos(),
        );
        uuid::Uuid::new_v7(ts).to_string()
    }

    /// A user's access token for session `sid`, paired with `refresh`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn token_pair(
        &self,
        user: &TokenSubject,
        sid: uuid::Uuid,
        status_idx: Option<i64>,
        assurance: &Assurance,
        audience: &[String],
        refresh: RefreshToken,
        now: DateTime<Utc>,
        read_at: DateTime<Utc>,
    ) -> Result<TokenPair, CoreError> {
        let access_ttl = self.access_ttl.as_secs();
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: user.id.to_string(),
            aud: Audience::from_list(audience.to_vec()),
            exp: now.timestamp() + access_ttl as i64,
            iat: now.timestamp(),
            nbf: now.timestamp(),
            jti: Self::jti_at(read_at),
            client_id: FIRST_PARTY_CLIENT_ID.into(),
            sid: Some(sid.to_string()),
            roles: user.roles.clone(),
            scope: None,
            email_verified: Some(user.email_verified),
            act: None,
            status: self.status(status_idx),
            amr: Some(assurance.amr.clone()),
            acr: Some(assurance.acr.clone()),
        };
        let access = self.sign(&claims, "access")?;
        self.metrics.issued("refresh");
        Ok(TokenPair {
            access,
            refresh,
            expires_in: access_ttl,
            refresh_expires_in: self.refresh_ttl.as_secs(),
        })
    }
}

fn build_state(
    records: &[KeyRecord],
    issuer: &str,
    audiences: &[String],
    now: DateTime<Utc>,
    cache: &Arc<TokenCache>,
) -> Result<KeyRingState, CoreError> {
    let current = records
        .iter()
        .filter(|r| r.state == KeyState::Current)
        .max_by_key(|r| r.activated_at)
        .ok_or_else(|| CoreError::internal("no current signing key"))?;
    let published: Vec<PublishedKey> = records
        .iter()
        .filter(|r| r.state != KeyState::Retired || r.retire_until.is_some_and(|t| t > now))
        .map(|r| PublishedKey {
            jwk: r.public_jwk.clone(),
            state: r.state,
            created_at: r.created_at,
            activated_at: r.activated_at,
            retire_until: r.retire_until,
        })
        .collect();
    let jwks: Vec<PublicJwk> = published.iter().map(|p| p.jwk.clone()).collect();
    let keys = KeySet::from_public_jwks(&jwks).map_err(CoreError::internal)?;
    Ok(KeyRingState {
        active: ActiveKey::from_record(current)?,
        verifier: Verifier::new(issuer, audiences.iter().cloned(), keys).with_cache(cache.clone()),
        published,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::secret_bytes;

    #[test]
    fn refresh_tokens_are_256_bit_and_parse_back() {
        let t = RefreshToken::generate();
        assert_eq!(t.as_str().len(), 43);
        assert_eq!(RefreshToken::parse(t.as_str()), Some(t.clone()));
        assert_ne!(t, RefreshToken::generate());
        assert!(RefreshToken::parse("short").is_none());
        assert!(RefreshToken::parse(&"!".repeat(43)).is_none());
        assert_eq!(t.hash().len(), 32);
        assert!(!format!("{t:?}").contains(t.as_str()));
    }

    #[test]
    fn successor_is_deterministic_per_key_and_well_formed() {
        let k1 = secret_bytes(vec![1; 32]);
        let k2 = secret_bytes(vec![2; 32]);
        let t = RefreshToken::generate();
        let s = t.successor(&k1);
        assert_eq!(s, t.successor(&k1));
        assert_ne!(s, t.successor(&k2));
        assert_ne!(s, t);
        assert!(RefreshToken::parse(s.as_str()).is_some());
    }
}
