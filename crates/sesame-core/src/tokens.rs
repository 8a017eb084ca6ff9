//! The key ring that signs access and ID tokens and verifies access tokens, and the token pair
//! a session hands out (refresh tokens themselves: `refresh_token`).

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use sesame_verify::{Audience, Claims, KeySet, PublicJwk, TokenCache, Verifier};

use crate::error::CoreError;
use crate::keys::{ActiveKey, KeyPurpose, KeyRecord, KeyState};
use crate::metrics::CoreMetrics;
use crate::sessions::FIRST_PARTY_CLIENT_ID;
use crate::settings::Settings;
use crate::status_list::StatusLists;
use crate::store::{Assurance, Store, TokenSubject};

pub use crate::refresh_token::{RefreshKeys, RefreshToken};

/// What is published and what signs, swapped as a whole when keys change.
#[derive(Debug)]
pub struct KeyRingState {
    /// Signs access tokens (and status lists): the current access key.
    pub active: ActiveKey,
    /// Signs ID tokens: the current ID-token key.
    pub id_token: ActiveKey,
    /// Verifies access tokens against every published key, of both families: an ID token can
    /// still not pass for an access token, as it never carries `typ: at+jwt` (which the
    /// verifier requires), and relying parties verify with the whole JWKS just the same.
    pub verifier: Verifier,
    /// Access keys first, then ID-token keys, each in the store's order (oldest first).
    pub published: Vec<PublishedKey>,
}

#[derive(Debug, Clone)]
pub struct PublishedKey {
    pub jwk: PublicJwk,
    pub purpose: KeyPurpose,
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

/// The session a user's access token belongs to: its `sid`, status-list index and assurance.
#[derive(Debug, Clone)]
pub(crate) struct TokenSession {
    pub(crate) id: uuid::Uuid,
    pub(crate) status_idx: Option<i64>,
    /// How the person signed in to the session: its tokens' `amr` and `acr`.
    pub(crate) assurance: Assurance,
}

impl From<&crate::store::SessionRecord> for TokenSession {
    fn from(s: &crate::store::SessionRecord) -> Self {
        TokenSession {
            id: s.id,
            status_idx: s.status_idx,
            assurance: s.assurance.clone(),
        }
    }
}

/// A user's access and refresh token, as a login or a refresh hands them out.
#[derive(Debug)]
pub struct TokenPair {
    pub access: String,
    pub refresh: RefreshToken,
    pub expires_in: u64,
    pub refresh_expires_in: u64,
    pub user_id: uuid::Uuid,
    /// The session's id (`sid` of the access token).
    pub session_id: uuid::Uuid,
    /// Set when the session is an app's (issue #18): the token is the app's.
    pub app: Option<crate::store::AppLink>,
    /// How the person signed in to the session (the access token's `amr`/`acr`; an app's ID
    /// token says the same).
    pub assurance: Assurance,
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

    /// Signs an OpenID back-channel logout token (`typ: logout+jwt`) with the ID-token key.
    pub(crate) fn sign_logout_token(
        &self,
        claims: &impl serde::Serialize,
    ) -> Result<String, CoreError> {
        let token = self
            .keys
            .current()
            .id_token
            .sign_jwt_typed("logout+jwt", claims)?;
        self.metrics.issued("logout");
        Ok(token)
    }

    /// The algorithm ID tokens are signed with (its hash makes `at_hash`).
    pub(crate) fn id_token_alg(&self) -> crate::keys::SigningAlg {
        self.keys.current().id_token.alg
    }

    /// Signs `claims` and counts the token under `kind` (`access`, `client`, `exchange`).
    pub(crate) fn sign(&self, claims: &Claims, kind: &'static str) -> Result<String, CoreError> {
        let token = self.keys.current().active.sign_jwt(claims)?;
        self.metrics.issued(kind);
        Ok(token)
    }

    /// Signs an OpenID Connect ID token (`typ: JWT`) with the current ID-token key and counts it
    /// under `id_token`. The caller builds the claims (`iss, sub, aud, exp, iat, nonce, ...`).
    pub(crate) fn sign_id_token(
        &self,
        claims: &impl serde::Serialize,
    ) -> Result<String, CoreError> {
        let token = self.keys.current().id_token.sign_jwt_typed("JWT", claims)?;
        self.metrics.issued("id_token");
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

    /// A user's access token for `session`, paired with `refresh`. The token of an app's
    /// session (`app`) names the app as `client_id` and carries the scopes granted to it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn token_pair(
        &self,
        user: &TokenSubject,
        session: TokenSession,
        app: Option<&crate::store::AppLink>,
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
            client_id: app
                .map_or(FIRST_PARTY_CLIENT_ID, |a| a.client_id.as_str())
                .into(),
            sid: Some(session.id.to_string()),
            roles: user.roles.clone(),
            scope: app.map(|a| a.scope.clone()),
            email_verified: Some(user.email_verified),
            act: None,
            status: self.status(session.status_idx),
            amr: Some(session.assurance.amr.clone()),
            acr: Some(session.assurance.acr.clone()),
        };
        let access = self.sign(&claims, "access")?;
        self.metrics.issued("refresh");
        Ok(TokenPair {
            access,
            refresh,
            expires_in: access_ttl,
            refresh_expires_in: self.refresh_ttl.as_secs(),
            user_id: user.id,
            session_id: session.id,
            app: app.cloned(),
            assurance: session.assurance,
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
    let current = |purpose: KeyPurpose| {
        records
            .iter()
            .filter(|r| r.purpose == purpose && r.state == KeyState::Current)
            .max_by_key(|r| r.activated_at)
            .ok_or_else(|| {
                CoreError::internal(format!("no current {} signing key", purpose.as_str()))
            })
    };
    let access = current(KeyPurpose::Access)?;
    let id_token = current(KeyPurpose::IdToken)?;
    let mut published: Vec<PublishedKey> = records
        .iter()
        .filter(|r| r.state != KeyState::Retired || r.retire_until.is_some_and(|t| t > now))
        .map(|r| PublishedKey {
            jwk: r.public_jwk.clone(),
            purpose: r.purpose,
            state: r.state,
            created_at: r.created_at,
            activated_at: r.activated_at,
            retire_until: r.retire_until,
        })
        .collect();
    // Access keys first (a stable sort keeps the store's order within a family): a relying
    // party that naively takes the first key of the JWKS still gets an access-token key.
    published.sort_by_key(|p| p.purpose);
    let jwks: Vec<PublicJwk> = published.iter().map(|p| p.jwk.clone()).collect();
    let keys = KeySet::from_public_jwks(&jwks).map_err(CoreError::internal)?;
    Ok(KeyRingState {
        active: ActiveKey::from_record(access)?,
        id_token: ActiveKey::from_record(id_token)?,
        verifier: Verifier::new(issuer, audiences.iter().cloned(), keys).with_cache(cache.clone()),
        published,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{SigningAlg, generate_key_for};
    use sesame_verify::VerifyError;

    const ISS: &str = "https://issuer.test";

    /// A ring over both families: EdDSA access keys, `id_alg` ID-token keys; and the Issuer.
    fn ring_and_issuer(id_alg: SigningAlg, now: DateTime<Utc>) -> (Arc<KeyRing>, Issuer) {
        let records: Vec<KeyRecord> = [
            (KeyPurpose::Access, SigningAlg::EdDSA, KeyState::Current),
            (KeyPurpose::Access, SigningAlg::EdDSA, KeyState::Next),
            (KeyPurpose::IdToken, id_alg, KeyState::Current),
            (KeyPurpose::IdToken, id_alg, KeyState::Next),
        ]
        .into_iter()
        .map(|(purpose, alg, state)| generate_key_for(purpose, alg, state, now).unwrap())
        .collect();
        let ring = Arc::new(KeyRing::new(&records, ISS, &["api".into()], now).unwrap());
        let settings = Settings {
            issuer: ISS.into(),
            ..Settings::default()
        };
        let status = Arc::new(StatusLists::new(ISS, std::time::Duration::from_secs(5)));
        let issuer = Issuer::new(ring.clone(), Arc::default(), status, &settings);
        (ring, issuer)
    }

    /// What a relying party does: fetch the JWKS (as served: every published key), pick the
    /// key the token's `kid` names, and verify with it.
    #[test]
    fn id_tokens_verify_with_the_published_key_of_each_algorithm() {
        let now = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        for (alg, jwt_alg) in [
            (SigningAlg::RS256, jsonwebtoken::Algorithm::RS256),
            (SigningAlg::ES256, jsonwebtoken::Algorithm::ES256),
            (SigningAlg::EdDSA, jsonwebtoken::Algorithm::EdDSA),
        ] {
            let (ring, issuer) = ring_and_issuer(alg, now);
            let claims = serde_json::json!({
                "iss": ISS, "sub": "user-1", "aud": "app-1", "iat": now.timestamp(),
                "exp": now.timestamp() + 300, "nonce": "n-0S6_WzA2Mj",
            });
            let token = issuer.sign_id_token(&claims).unwrap();

            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(header.alg, jwt_alg);
            assert_eq!(header.typ.as_deref(), Some("JWT"));
            let state = ring.current();
            assert_eq!(header.kid.as_deref(), Some(state.id_token.kid.as_str()));
            let named = state
                .published
                .iter()
                .find(|k| Some(&k.jwk.kid) == header.kid.as_ref())
                .expect("the signing key is published");
            assert_eq!(named.purpose, KeyPurpose::IdToken);
            assert_eq!(named.state, KeyState::Current);

            let jwks = serde_json::json!({
                "keys": state.published.iter().map(|k| &k.jwk).collect::<Vec<_>>()
            });
            let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks).unwrap();
            let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("by kid");
            let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
            let mut v = jsonwebtoken::Validation::new(jwt_alg);
            v.set_audience(&["app-1"]);
            v.set_issuer(&[ISS]);
            // The fixed `now` above is long past: the signature and claims are the point here.
            v.validate_exp = false;
            let got = jsonwebtoken::decode::<serde_json::Value>(&token, &key, &v)
                .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
            assert_eq!(got.claims, claims, "{alg:?}");
        }
    }

    /// An ID token is signed by a published key, but is no access token: Sesame's verifier (and
    /// sesame-verify's, for relying services) requires `typ: at+jwt`.
    #[test]
    fn an_id_token_is_refused_as_an_access_token() {
        let now = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let (ring, issuer) = ring_and_issuer(SigningAlg::RS256, now);
        // Even with every claim an access token has, for an audience the verifier accepts.
        let claims = Claims {
            iss: ISS.into(),
            sub: "user-1".into(),
            aud: Audience::One("api".into()),
            exp: now.timestamp() + 60,
            iat: now.timestamp(),
            nbf: now.timestamp(),
            jti: "j1".into(),
            client_id: "app-1".into(),
            sid: None,
            roles: vec!["admin".into()],
            scope: None,
            email_verified: None,
            act: None,
            status: None,
            amr: None,
            acr: None,
        };
        let id_token = issuer.sign_id_token(&claims).unwrap();
        let state = ring.current();
        assert_eq!(
            state.verifier.verify(&id_token, now.timestamp()),
            Err(VerifyError::WrongType)
        );
        // The same claims signed as an access token pass: the refusal is the type's doing.
        let access = issuer.sign(&claims, "access").unwrap();
        assert_eq!(state.verifier.verify(&access, now.timestamp()), Ok(claims));
        assert_eq!(
            issuer
                .metrics
                .tokens_issued
                .get_or_create(&crate::metrics::KindLabel { kind: "id_token" })
                .get(),
            1,
            "an ID token is counted as one"
        );
    }

    #[test]
    fn the_ring_needs_a_current_key_of_each_purpose_and_publishes_access_keys_first() {
        let now = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let make =
            |purpose, state| generate_key_for(purpose, SigningAlg::EdDSA, state, now).unwrap();
        let only_access = [
            make(KeyPurpose::Access, KeyState::Current),
            make(KeyPurpose::Access, KeyState::Next),
        ];
        let err = KeyRing::new(&only_access, ISS, &[], now).unwrap_err();
        let CoreError::Internal(cause) = err else {
            panic!("{err:?}")
        };
        assert_eq!(cause.to_string(), "no current id_token signing key");
        // ID-token keys stored first still come after the access keys.
        let records = [
            make(KeyPurpose::IdToken, KeyState::Current),
            make(KeyPurpose::IdToken, KeyState::Next),
            make(KeyPurpose::Access, KeyState::Current),
            make(KeyPurpose::Access, KeyState::Next),
        ];
        let ring = KeyRing::new(&records, ISS, &[], now).unwrap();
        let state = ring.current();
        let order: Vec<&str> = state.published.iter().map(|k| k.purpose.as_str()).collect();
        assert_eq!(order, ["access", "access", "id_token", "id_token"]);
        assert_eq!(state.active.kid, records[2].kid);
        assert_eq!(state.id_token.kid, records[0].kid);
    }
}
