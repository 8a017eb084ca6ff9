//! The checks every relying party makes, in an order that never trusts the token's own claims
//! about how to check it.

use std::sync::Arc;

use jsonwebtoken::{Validation, decode, decode_header, errors::ErrorKind};

use crate::cache::{Entry, TokenCache};
use crate::{Claims, KeySet, VerifyError};

/// At most this much clock skew is tolerated on `exp` and `nbf` (the contract's bound).
pub const DEFAULT_LEEWAY_SECS: i64 = 3;

/// Verifies access tokens of one issuer for a set of acceptable audiences.
#[derive(Debug)]
pub struct Verifier {
    issuer: String,
    audiences: Vec<String>,
    keys: KeySet,
    leeway: i64,
    cache: Option<Arc<TokenCache>>,
}

impl Verifier {
    pub fn new<A: Into<String>>(
        issuer: impl Into<String>,
        audiences: impl IntoIterator<Item = A>,
        keys: KeySet,
    ) -> Self {
        Verifier {
            issuer: issuer.into(),
            audiences: audiences.into_iter().map(Into::into).collect(),
            keys,
            leeway: DEFAULT_LEEWAY_SECS,
            cache: None,
        }
    }

    /// Remembers verified tokens in `cache` (see [`TokenCache`] for what a hit still checks).
    /// Share one cache between the verifiers built as keys are reloaded.
    pub fn with_cache(mut self, cache: Arc<TokenCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    pub fn cache(&self) -> Option<&Arc<TokenCache>> {
        self.cache.as_ref()
    }

    /// Leeway on `exp`/`nbf`, clamped to the contract's 3 s at most.
    pub fn with_leeway(mut self, secs: i64) -> Self {
        self.leeway = secs.clamp(0, DEFAULT_LEEWAY_SECS);
        self
    }

    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Verifies `token` at time `now` (Unix seconds). The time is a parameter so callers can
    /// inject a clock; `exp`/`nbf` are checked here, not by the JWT library's own clock.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, VerifyError> {
        self.verify_shared(token, now).map(Arc::unwrap_or_clone)
    }

    /// [`Verifier::verify`], sharing the claims with the cache instead of copying them.
    pub fn verify_shared(&self, token: &str, now: i64) -> Result<Arc<Claims>, VerifyError> {
        self.checked(token, |claims| self.check_claims(claims, now))
    }

    /// The token's claims if authentic (from the cache, or by a full check then cached) and
    /// accepted by `check`, which runs on every call, hit or miss.
    fn checked(
        &self,
        token: &str,
        check: impl Fn(&Claims) -> Result<(), VerifyError>,
    ) -> Result<Arc<Claims>, VerifyError> {
        let Some(cache) = &self.cache else {
            let (claims, _) = self.authentic(token)?;
            check(&claims)?;
            return Ok(Arc::new(claims));
        };
        let digest = TokenCache::digest(token);
        if let Some(hit) = cache.get(&digest) {
            if self.keys.still_holds(&hit.kid, &hit.key_fingerprint) {
                if let Err(e) = check(&hit.claims) {
                    if e == VerifyError::Expired {
                        cache.remove(&digest);
                    }
                    return Err(e);
                }
                return Ok(hit.claims);
            }
            // The key that verified it is no longer trusted: forget it, check in full.
            cache.remove(&digest);
        }
        let (claims, key) = self.authentic(token)?;
        check(&claims)?;
        let claims = Arc::new(claims);
        cache.insert(
            digest,
            Entry {
                claims: claims.clone(),
                kid: key.0.into(),
                key_fingerprint: key.1,
            },
        );
        Ok(claims)
    }

    /// Signature, algorithm and `typ` only: the token is genuine, whatever its times say.
    /// (Never cached.)
    pub fn verify_signature(&self, token: &str) -> Result<Claims, VerifyError> {
        self.authentic(token).map(|(claims, _)| claims)
    }

    /// Signature and algorithm of a JWT of another type signed by the same keys (an OpenID ID
    /// token, `typ: JWT`): the claims as `T`, whatever its times say — for an issuer reading an
    /// `id_token_hint` it issued, which may have expired. Never accepts an access token.
    pub fn verify_signature_typed<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        typ: &str,
    ) -> Result<T, VerifyError> {
        self.authentic_as(token, |t| t.eq_ignore_ascii_case(typ))
            .map(|(claims, _)| claims)
    }

    /// The full signature check; also names the key that vouched for the token.
    fn authentic(&self, token: &str) -> Result<(Claims, (String, [u8; 32])), VerifyError> {
        self.authentic_as(token, |t| {
            t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
        })
    }

    fn authentic_as<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        typ_ok: impl Fn(&str) -> bool,
    ) -> Result<(T, (String, [u8; 32])), VerifyError> {
        // A JWS compact token is exactly three dot-separated parts; refuse anything else early
        // (this also refuses JWE and unsecured tokens with an empty signature part).
        // (Counted without allocating: this runs for every request.)
        let mut parts = 0;
        for part in token.split('.') {
            parts += 1;
            if part.is_empty() || parts > 3 {
                return Err(VerifyError::Malformed);
            }
        }
        if parts != 3 {
            return Err(VerifyError::Malformed);
        }
        let header = decode_header(token).map_err(|e| match e.kind() {
            ErrorKind::InvalidAlgorithmName => VerifyError::AlgorithmNotAllowed,
            _ => VerifyError::Malformed,
        })?;
        let alg_name = format!("{:?}", header.alg);
        if !crate::SUPPORTED_ALGORITHMS.contains(&alg_name.as_str()) {
            return Err(VerifyError::AlgorithmNotAllowed);
        }
        let kid = header.kid.ok_or(VerifyError::UnknownKey)?;
        let key = self.keys.get(&kid).ok_or(VerifyError::UnknownKey)?;
        // The key decides the algorithm; a token claiming another one is refused outright.
        if key.alg != header.alg {
            return Err(VerifyError::AlgorithmNotAllowed);
        }
        if !header.typ.as_deref().is_some_and(typ_ok) {
            return Err(VerifyError::WrongType);
        }
        let mut validation = Validation::new(key.alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let data = decode::<T>(token, &key.key, &validation).map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => VerifyError::BadSignature,
            ErrorKind::InvalidAlgorithm => VerifyError::AlgorithmNotAllowed,
            _ => VerifyError::Malformed,
        })?;
        Ok((data.claims, (kid, key.fingerprint)))
    }

    /// Like [`Verifier::verify`], but for a given audience instead of the configured ones;
    /// `None` accepts any audience (the issuer's own introspection and forward-auth, which then
    /// check what the caller asked for).
    pub fn verify_for(
        &self,
        token: &str,
        now: i64,
        audience: Option<&str>,
    ) -> Result<Claims, VerifyError> {
        self.verify_for_shared(token, now, audience)
            .map(Arc::unwrap_or_clone)
    }

    /// [`Verifier::verify_for`], sharing the claims with the cache instead of copying them.
    pub fn verify_for_shared(
        &self,
        token: &str,
        now: i64,
        audience: Option<&str>,
    ) -> Result<Arc<Claims>, VerifyError> {
        self.checked(token, |claims| {
            // Expiry before audience: an expired token is refused as expired, whatever it is for.
            self.check_issuer_and_times(claims, now)?;
            if let Some(aud) = audience
                && !claims.aud.contains(aud)
            {
                return Err(VerifyError::WrongAudience);
            }
            Ok(())
        })
    }

    /// Issuer, audience and time checks on already-authentic claims.
    pub fn check_claims(&self, claims: &Claims, now: i64) -> Result<(), VerifyError> {
        if !self.audiences.iter().any(|a| claims.aud.contains(a)) {
            return Err(VerifyError::WrongAudience);
        }
        self.check_issuer_and_times(claims, now)
    }

    fn check_issuer_and_times(&self, claims: &Claims, now: i64) -> Result<(), VerifyError> {
        if claims.iss != self.issuer {
            return Err(VerifyError::WrongIssuer);
        }
        if now > claims.exp.saturating_add(self.leeway) {
            return Err(VerifyError::Expired);
        }
        if now < claims.nbf.saturating_sub(self.leeway) {
            return Err(VerifyError::NotYetValid);
        }
        Ok(())
    }
}
