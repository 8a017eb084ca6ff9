//! The requests to the issuer: discovery (RFC 8414 / OpenID) and the JWKS (RFC 7517).
//!
//! Answers are read with a size cap (a JWKS is a few KiB; a hostile or broken server must not
//! make us buffer megabytes), redirects are not followed (the JWKS is where discovery says), and
//! the discovery document must name the issuer we were configured with (OpenID Discovery §4.3),
//! so a misrouted URL cannot hand us another issuer's keys.

use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

use super::BuildError;
use crate::KeySet;

/// Discovery documents and JWKS larger than this are refused.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// Why the keys could not be fetched (the keys already held stay in use).
#[derive(Debug, Error)]
pub enum FetchError {
    #[error("request to {url} failed: {reason}")]
    Request { url: String, reason: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url} answered more than {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge { url: String },
    #[error("{url} did not answer a valid document: {reason}")]
    InvalidDocument { url: String, reason: String },
    #[error("discovery names issuer {found:?}, expected {expected:?}")]
    IssuerMismatch { expected: String, found: String },
}

/// The HTTP client used when the caller does not bring one.
pub(super) fn client(
    ca_pems: &[Vec<u8>],
    timeout: Duration,
) -> Result<reqwest::Client, BuildError> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("sesame-verify/", env!("CARGO_PKG_VERSION")));
    for pem in ca_pems {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| BuildError::InvalidCa(e.to_string()))?;
        if certs.is_empty() {
            return Err(BuildError::InvalidCa("no certificate in the PEM".into()));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| BuildError::Client(e.to_string()))
}

/// Where the keys come from.
#[derive(Debug)]
pub(super) struct Source {
    /// The issuer tokens must name (no trailing slash).
    pub(super) issuer: String,
    /// Where the issuer is reached: the issuer itself, or a backchannel URL.
    pub(super) base: String,
    /// A fixed JWKS URL (no discovery).
    pub(super) jwks_url: Option<String>,
    pub(super) http: reqwest::Client,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

impl Source {
    pub(super) async fn fetch_keys(&self) -> Result<KeySet, FetchError> {
        let url = match &self.jwks_url {
            Some(u) => u.clone(),
            None => self.discover_jwks_uri().await?,
        };
        let body = self.get(&url).await?;
        let text = String::from_utf8(body).map_err(|_| FetchError::InvalidDocument {
            url: url.clone(),
            reason: "not UTF-8".into(),
        })?;
        KeySet::from_jwks_json(&text).map_err(|e| FetchError::InvalidDocument {
            url,
            reason: e.to_string(),
        })
    }

    async fn discover_jwks_uri(&self) -> Result<String, FetchError> {
        let url = format!("{}/.well-known/openid-configuration", self.base);
        let body = self.get(&url).await?;
        let doc: Discovery =
            serde_json::from_slice(&body).map_err(|e| FetchError::InvalidDocument {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        if doc.issuer.trim_end_matches('/') != self.issuer {
            return Err(FetchError::IssuerMismatch {
                expected: self.issuer.clone(),
                found: doc.issuer,
            });
        }
        Ok(self.rebase(&doc.jwks_uri))
    }

    /// A URL under the public issuer, moved onto the backchannel base when there is one.
    pub(super) fn rebase(&self, url: &str) -> String {
        if self.base != self.issuer
            && let Some(rest) = url.strip_prefix(&self.issuer)
            && (rest.is_empty() || rest.starts_with('/'))
        {
            return format!("{}{rest}", self.base);
        }
        url.to_string()
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let res = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| FetchError::Request {
                url: url.to_string(),
                reason: error_chain(&e),
            })?;
        if !res.status().is_success() {
            return Err(FetchError::Status {
                url: url.to_string(),
                status: res.status().as_u16(),
            });
        }
        read_limited(res, url).await
    }
}

/// The body, or an error once it passes [`MAX_DOCUMENT_BYTES`].
pub(super) async fn read_limited(
    mut res: reqwest::Response,
    url: &str,
) -> Result<Vec<u8>, FetchError> {
    let too_large = || FetchError::TooLarge {
        url: url.to_string(),
    };
    if res
        .content_length()
        .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(|e| FetchError::Request {
        url: url.to_string(),
        reason: error_chain(&e),
    })? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// reqwest's top-level message is vague ("error sending request"); the causes say why.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(base: &str) -> Source {
        Source {
            issuer: "https://auth.example.com".into(),
            base: base.into(),
            jwks_url: None,
            http: reqwest::Client::new(),
        }
    }

    #[test]
    fn urls_under_the_issuer_move_to_the_backchannel() {
        let s = source("http://sesame:8443");
        assert_eq!(
            s.rebase("https://auth.example.com/.well-known/jwks.json"),
            "http://sesame:8443/.well-known/jwks.json"
        );
        // Not under the issuer (another host, or a host that merely starts alike): unchanged.
        assert_eq!(
            s.rebase("https://keys.example.com/jwks.json"),
            "https://keys.example.com/jwks.json"
        );
        assert_eq!(
            s.rebase("https://auth.example.com.evil.test/jwks.json"),
            "https://auth.example.com.evil.test/jwks.json"
        );
        // Without a backchannel nothing moves.
        let s = source("https://auth.example.com");
        assert_eq!(
            s.rebase("https://auth.example.com/.well-known/jwks.json"),
            "https://auth.example.com/.well-known/jwks.json"
        );
    }
}
