//! The HTTP client of upstream sign-ins (`sesame_core::upstream::UpstreamHttp`): one reqwest
//! client per provider, trusting the system's roots plus the provider's `ca_file` (a private
//! CA), with a timeout, no redirects followed, and answers read as JSON (at most 1 MiB).

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use sesame_core::upstream::{UpstreamHttp, UpstreamHttpError, UpstreamProvider};

/// A provider that does not answer within this is unavailable (the page says so).
const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read (discovery documents and key sets are a few KiB).
const MAX_BODY: usize = 1024 * 1024;

#[derive(Debug)]
pub struct ReqwestUpstream {
    clients: HashMap<String, reqwest::Client>,
}

impl ReqwestUpstream {
    /// A client per provider; a CA file that does not parse stops the start.
    pub fn new(providers: &[UpstreamProvider]) -> anyhow::Result<Self> {
        let mut clients = HashMap::new();
        for p in providers {
            let mut builder = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(TIMEOUT)
                .user_agent(concat!("Sesame/", env!("CARGO_PKG_VERSION")));
            if let Some(path) = &p.ca_file {
                let pem = std::fs::read(path).with_context(|| {
                    format!("upstream {}: cannot read {}", p.id, path.display())
                })?;
                for cert in reqwest::Certificate::from_pem_bundle(&pem)
                    .with_context(|| format!("upstream {}: {} is no PEM", p.id, path.display()))?
                {
                    builder = builder.add_root_certificate(cert);
                }
            }
            let client = builder
                .build()
                .with_context(|| format!("upstream {}: cannot build its HTTP client", p.id))?;
            clients.insert(p.id.clone(), client);
        }
        Ok(ReqwestUpstream { clients })
    }

    fn client(&self, provider: &str) -> Result<&reqwest::Client, UpstreamHttpError> {
        self.clients
            .get(provider)
            .ok_or_else(|| UpstreamHttpError(format!("no client for {provider}")))
    }
}

async fn json_of(res: reqwest::Response) -> Result<serde_json::Value, UpstreamHttpError> {
    let status = res.status();
    let bytes = res
        .bytes()
        .await
        .map_err(|e| UpstreamHttpError(format!("reading the answer: {e}")))?;
    if bytes.len() > MAX_BODY {
        return Err(UpstreamHttpError("the answer is too large".into()));
    }
    let body: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| UpstreamHttpError(format!("{status}: the answer is not JSON ({e})")))?;
    // A token endpoint's 400 carries an OAuth error the caller reports; other failures are
    // the provider's.
    if status.is_success() || (status.as_u16() == 400 && body.get("error").is_some()) {
        Ok(body)
    } else {
        Err(UpstreamHttpError(format!("answered {status}")))
    }
}

#[async_trait]
impl UpstreamHttp for ReqwestUpstream {
    async fn get_json(
        &self,
        provider: &str,
        url: &str,
        bearer: Option<&str>,
    ) -> Result<serde_json::Value, UpstreamHttpError> {
        let mut req = self
            .client(provider)?
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        let res = req
            .send()
            .await
            .map_err(|e| UpstreamHttpError(format!("GET {url}: {e}")))?;
        json_of(res).await
    }

    async fn post_form(
        &self,
        provider: &str,
        url: &str,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Result<serde_json::Value, UpstreamHttpError> {
        let mut req = self
            .client(provider)?
            .post(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(form);
        if let Some((id, secret)) = basic {
            // RFC 6749 §2.3.1: both form-urlencoded before the Basic encoding.
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            req = req.basic_auth(enc(id), Some(enc(secret)));
        }
        let res = req
            .send()
            .await
            .map_err(|e| UpstreamHttpError(format!("POST {url}: {e}")))?;
        json_of(res).await
    }
}
