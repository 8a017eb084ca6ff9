//! Token Status Lists (draft-ietf-oauth-status-list), the verifier's side: checking a signed
//! `statuslist+jwt` against the issuer's keys and reading a token's bit out of it.
//!
//! The `remote` feature fetches and refreshes lists (see `RemoteVerifier`); this part is plain
//! checking, usable with any HTTP client.

use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Validation, decode, decode_header};
use serde::Deserialize;
use thiserror::Error;

use crate::{DEFAULT_LEEWAY_SECS, KeySet};

/// Decompressed lists larger than this are refused (2^27 entries): a hostile or broken server
/// must not make a verifier inflate gigabytes.
pub const MAX_LIST_BYTES: usize = 16 * 1024 * 1024;

/// Why a status list was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StatusListError {
    #[error("the status list is not a well-formed statuslist+jwt: {0}")]
    Malformed(&'static str),
    #[error("the status list names no key, or one the issuer does not publish")]
    UnknownKey,
    #[error("the status list's signature does not verify")]
    BadSignature,
    #[error("the status list is for {found:?}, not {expected:?}")]
    WrongSubject { expected: String, found: String },
    #[error("the status list has expired")]
    Expired,
    #[error("the status list uses {0} bits per entry; only 1 is supported")]
    UnsupportedBits(u8),
}

/// A verified status list: one bit per token (1 = revoked).
#[derive(Debug, Clone)]
pub struct StatusList {
    bytes: Vec<u8>,
    /// The list's `ttl` in seconds, if it gives one: how long it may be used before a refetch.
    pub ttl: Option<u64>,
    /// Its `exp` (Unix seconds), if it gives one: it must not be used after that.
    pub exp: Option<i64>,
    pub iat: i64,
}

#[derive(Deserialize)]
struct ListClaims {
    sub: String,
    iat: i64,
    #[serde(default)]
    exp: Option<i64>,
    #[serde(default)]
    ttl: Option<u64>,
    status_list: ListBody,
}

#[derive(Deserialize)]
struct ListBody {
    bits: u8,
    lst: String,
}

impl StatusList {
    /// Checks a `statuslist+jwt` for the list at `uri`: signed by one of `keys` with that key's
    /// algorithm, `typ: statuslist+jwt`, `sub` = `uri`, not expired at `now` (Unix seconds, with
    /// the contract's leeway), one bit per entry.
    pub fn from_jwt(
        jwt: &str,
        keys: &KeySet,
        uri: &str,
        now: i64,
    ) -> Result<StatusList, StatusListError> {
        if jwt.split('.').count() != 3 || jwt.split('.').any(str::is_empty) {
            return Err(StatusListError::Malformed("not three parts"));
        }
        let header = decode_header(jwt).map_err(|_| StatusListError::Malformed("header"))?;
        let typ_ok = header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case("statuslist+jwt")
                || t.eq_ignore_ascii_case("application/statuslist+jwt")
        });
        if !typ_ok {
            return Err(StatusListError::Malformed("typ is not statuslist+jwt"));
        }
        let kid = header.kid.ok_or(StatusListError::UnknownKey)?;
        let key = keys.get(&kid).ok_or(StatusListError::UnknownKey)?;
        if key.alg != header.alg {
            return Err(StatusListError::BadSignature);
        }
        let mut validation = Validation::new(key.alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = decode::<ListClaims>(jwt, &key.key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => StatusListError::BadSignature,
                _ => StatusListError::Malformed("claims"),
            })?
            .claims;
        if claims.sub != uri {
            return Err(StatusListError::WrongSubject {
                expected: uri.to_string(),
                found: claims.sub,
            });
        }
        if claims
            .exp
            .is_some_and(|exp| exp.saturating_add(DEFAULT_LEEWAY_SECS) <= now)
        {
            return Err(StatusListError::Expired);
        }
        if claims.status_list.bits != 1 {
            return Err(StatusListError::UnsupportedBits(claims.status_list.bits));
        }
        Ok(StatusList {
            bytes: inflate(&claims.status_list.lst)?,
            ttl: claims.ttl,
            exp: claims.exp,
            iat: claims.iat,
        })
    }

    /// A list from its `lst` alone (base64url of zlib), unchecked: for readers that verified
    /// the token around it themselves, and for tests.
    pub fn from_lst(lst: &str) -> Result<StatusList, StatusListError> {
        Ok(StatusList {
            bytes: inflate(lst)?,
            ttl: None,
            exp: None,
            iat: 0,
        })
    }

    /// Whether entry `idx` is set (revoked). An index past the end of the list is not.
    pub fn is_set(&self, idx: u64) -> bool {
        usize::try_from(idx / 8)
            .ok()
            .and_then(|i| self.bytes.get(i))
            .is_some_and(|b| b >> (idx % 8) & 1 == 1)
    }

    /// How many entries the list holds.
    pub fn len(&self) -> u64 {
        self.bytes.len() as u64 * 8
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// `lst`: base64url of the zlib-compressed bytes, at most [`MAX_LIST_BYTES`] once inflated.
fn inflate(lst: &str) -> Result<Vec<u8>, StatusListError> {
    let z = URL_SAFE_NO_PAD
        .decode(lst.trim_end_matches('='))
        .map_err(|_| StatusListError::Malformed("lst is not base64url"))?;
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(&z[..])
        .take(MAX_LIST_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| StatusListError::Malformed("lst is not zlib"))?;
    if out.len() > MAX_LIST_BYTES {
        return Err(StatusListError::Malformed("lst is too large"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Write;

    use super::*;

    fn lst(bytes: &[u8]) -> String {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(bytes).unwrap();
        URL_SAFE_NO_PAD.encode(z.finish().unwrap())
    }

    #[test]
    fn bits_are_read_lowest_first_and_past_the_end_is_clear() {
        let list = StatusList {
            bytes: inflate(&lst(&[0b0000_0010, 0b1000_0000])).unwrap(),
            ttl: None,
            exp: None,
            iat: 0,
        };
        assert!(list.is_set(1));
        assert!(list.is_set(15));
        assert!(!list.is_set(0));
        assert!(!list.is_set(14));
        assert!(!list.is_set(16));
        assert!(!list.is_set(u64::MAX));
        assert_eq!(list.len(), 16);
    }

    #[test]
    fn a_zip_bomb_is_refused() {
        let big = vec![0u8; MAX_LIST_BYTES + 1];
        assert_eq!(
            inflate(&lst(&big)).unwrap_err(),
            StatusListError::Malformed("lst is too large")
        );
        assert!(inflate("not base64!").is_err());
        assert!(inflate(&URL_SAFE_NO_PAD.encode(b"not zlib")).is_err());
    }
}
