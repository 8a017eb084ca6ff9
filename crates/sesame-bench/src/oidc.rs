//! The OpenID provider scenarios (issue #18), the same against Sesame and against any provider
//! with a discovery document (scripts/bench-oidc.sh runs them against panva's `oidc-provider`):
//!
//! - `code-flow`: per iteration, `GET` the authorization endpoint with an existing browser
//!   session (consent already given), read the code from the redirect's `Location` (not
//!   followed), `POST` it to the token endpoint with its PKCE verifier, and verify the ID token
//!   as a relying party does: signature with the provider's JWKS (fetched once, key by `kid`,
//!   algorithm from the key), `iss`, `aud`, `exp` and the `nonce` this iteration sent. One
//!   success is one whole flow; its latency is the two requests'.
//!
//! Endpoints come from `/.well-known/openid-configuration`. The browser sessions are made at
//! set-up, one per connection, by [`Browser`]: it follows the provider's redirects and fills
//! the forms it is shown — a sign-in form (an identifier and a password field) and a consent
//! form (a `decision=allow` button) — which both Sesame's pages and the interaction pages of
//! bench/peers/oidc-provider are.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Arc;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HeaderValue, LOCATION};
use hyper::{HeaderMap, Method, Request, StatusCode};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::load::{Script, Target, request};
use crate::scenario::Setup;

/// The scopes every authorization asks for.
pub const SCOPE: &str = "openid email profile";

/// What the benchmark reads from a provider's discovery document: endpoints as paths on the
/// server under test (the issuer may name another host, e.g. Sesame's default issuer).
#[derive(Debug, Clone)]
pub struct Discovery {
    pub issuer: String,
    pub authorization: String,
    pub token: String,
    pub introspection: Option<String>,
    pub jwks: String,
}

fn path_of(url: &str) -> anyhow::Result<String> {
    let u = url::Url::parse(url).with_context(|| format!("not a URL: {url}"))?;
    Ok(match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    })
}

impl Discovery {
    pub async fn fetch(setup: &Setup) -> anyhow::Result<Self> {
        let doc: Value = setup
            .http
            .get(format!("{}/.well-known/openid-configuration", setup.base))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
            .context("discovery document")?;
        let field = |k: &str| -> anyhow::Result<String> {
            doc[k]
                .as_str()
                .map(str::to_string)
                .with_context(|| format!("the discovery document has no {k}"))
        };
        Ok(Discovery {
            issuer: field("issuer")?,
            authorization: path_of(&field("authorization_endpoint")?)?,
            token: path_of(&field("token_endpoint")?)?,
            introspection: field("introspection_endpoint")
                .ok()
                .map(|u| path_of(&u))
                .transpose()?,
            jwks: path_of(&field("jwks_uri")?)?,
        })
    }
}

/// The relying party: a confidential client (`client_secret_basic`) with one redirect URI.
#[derive(Debug, Clone)]
pub struct App {
    pub client_id: String,
    pub basic: HeaderValue,
    pub redirect_uri: String,
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A fresh PKCE verifier (64 characters) and its S256 challenge.
fn pkce() -> (String, String) {
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

impl App {
    /// The authorization request's path and query, with this iteration's values.
    fn authorize_path(&self, d: &Discovery, state: &str, nonce: &str, challenge: &str) -> String {
        let sep = if d.authorization.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{sep}response_type=code&client_id={}&redirect_uri={}&scope={}&state={state}&nonce={nonce}&code_challenge={challenge}&code_challenge_method=S256",
            d.authorization,
            enc(&self.client_id),
            enc(&self.redirect_uri),
            enc(SCOPE),
        )
    }

    fn token_body(&self, code: &str, verifier: &str) -> String {
        format!(
            "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={verifier}",
            enc(code),
            enc(&self.redirect_uri)
        )
    }

    /// The code (and state) of an authorization response `Location`, if it is one for this
    /// app that carries a code.
    fn code_of(&self, location: &str) -> Option<(String, String)> {
        let query = location
            .strip_prefix(self.redirect_uri.as_str())?
            .strip_prefix('?')?;
        let (mut code, mut state) = (None, None);
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            match &*k {
                "code" => code = Some(v.into_owned()),
                "state" => state = Some(v.into_owned()),
                _ => {}
            }
        }
        Some((code?, state?))
    }
}

/// A relying party's check of ID tokens: the provider's keys by `kid`, each with the one
/// algorithm it is for (its `alg`, else the one its type and curve imply).
pub struct IdTokens {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    validations: HashMap<Algorithm, Validation>,
}

impl IdTokens {
    pub async fn fetch(setup: &Setup, d: &Discovery, client_id: &str) -> anyhow::Result<Self> {
        let jwks: JwkSet = setup
            .http
            .get(format!("{}{}", setup.base, d.jwks))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
            .context("JWKS")?;
        let mut keys = HashMap::new();
        let mut validations = HashMap::new();
        for jwk in &jwks.keys {
            let implied = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
                AlgorithmParameters::OctetKeyPair(_) => Some(Algorithm::EdDSA),
                AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                    Some(Algorithm::ES256)
                }
                _ => None,
            };
            let alg = match jwk.common.key_algorithm {
                Some(a) => Algorithm::from_str(&a.to_string()).ok(),
                None => implied,
            };
            let (Some(kid), Some(alg)) = (jwk.common.key_id.clone(), alg) else {
                continue;
            };
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            validations.entry(alg).or_insert_with(|| {
                let mut v = Validation::new(alg);
                v.set_issuer(&[&d.issuer]);
                v.set_audience(&[client_id]);
                v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
                v
            });
            keys.insert(kid, (key, alg));
        }
        if keys.is_empty() {
            bail!("the provider's JWKS has no signing key the benchmark can use");
        }
        Ok(IdTokens { keys, validations })
    }

    /// Whether `token` is an ID token from this provider for this app, with `nonce`.
    pub fn check(&self, token: &str, nonce: &str) -> bool {
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return false;
        };
        let Some((key, alg)) = header.kid.as_deref().and_then(|k| self.keys.get(k)) else {
            return false;
        };
        if header.alg != *alg {
            return false;
        }
        let Some(validation) = self.validations.get(alg) else {
            return false;
        };
        jsonwebtoken::decode::<Value>(token, key, validation)
            .is_ok_and(|d| d.claims["nonce"].as_str() == Some(nonce))
    }
}

/// What every connection's [`CodeFlow`] shares.
pub struct Flow {
    pub discovery: Discovery,
    pub app: App,
    pub id_tokens: IdTokens,
}

/// `code-flow`: authorization with this connection's browser session, then the token
/// request, then the ID token's check.
pub struct CodeFlow {
    pub target: Target,
    pub flow: Arc<Flow>,
    pub cookie: HeaderValue,
    n: u64,
    state: String,
    nonce: String,
    verifier: String,
    /// The code to exchange next; none: the next request is an authorization.
    code: Option<String>,
}

impl CodeFlow {
    pub fn new(target: &Target, flow: Arc<Flow>, cookie: HeaderValue) -> Self {
        CodeFlow {
            target: target.clone(),
            flow,
            cookie,
            n: 0,
            state: String::new(),
            nonce: String::new(),
            verifier: String::new(),
            code: None,
        }
    }
}

impl Script for CodeFlow {
    fn request(&mut self) -> Request<Full<Bytes>> {
        let f = &self.flow;
        match &self.code {
            None => {
                self.n += 1;
                self.state = self.n.to_string();
                self.nonce = uuid::Uuid::new_v4().simple().to_string();
                let challenge;
                (self.verifier, challenge) = pkce();
                let path = f
                    .app
                    .authorize_path(&f.discovery, &self.state, &self.nonce, &challenge);
                request(&self.target, Method::GET, &path)
                    .header(COOKIE, self.cookie.clone())
                    .body(Full::new(Bytes::new()))
                    .unwrap_or_default()
            }
            Some(code) => request(&self.target, Method::POST, &f.discovery.token)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(AUTHORIZATION, f.app.basic.clone())
                .body(Full::new(Bytes::from(
                    f.app.token_body(code, &self.verifier),
                )))
                .unwrap_or_default(),
        }
    }

    fn response(&mut self, status: StatusCode, headers: &HeaderMap, body: &Bytes) -> bool {
        match self.code.take() {
            None => {
                if !status.is_redirection() {
                    return false;
                }
                let got = headers
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| self.flow.app.code_of(l));
                match got {
                    Some((code, state)) if state == self.state => {
                        self.code = Some(code);
                        true
                    }
                    _ => false,
                }
            }
            Some(_) => {
                status == StatusCode::OK
                    && serde_json::from_slice::<Value>(body).is_ok_and(|t| {
                        t["access_token"].is_string()
                            && t["id_token"]
                                .as_str()
                                .is_some_and(|id| self.flow.id_tokens.check(id, &self.nonce))
                    })
            }
        }
    }

    fn pending(&self) -> bool {
        self.code.is_some()
    }
}

/// A browser for the set-up: keeps cookies, follows redirects one at a time, and fills the
/// sign-in and consent forms it meets.
pub struct Browser<'a> {
    setup: &'a Setup,
    jar: BTreeMap<String, String>,
}

/// One `<form method="post">`: where it goes and what a person filling it in sends.
#[derive(Debug, PartialEq)]
struct Form {
    action: String,
    fields: Vec<(String, String)>,
    /// It has a password field (a sign-in form) or an allow button (a consent form).
    answerable: bool,
}

impl<'a> Browser<'a> {
    pub fn new(setup: &'a Setup) -> Self {
        Browser {
            setup,
            jar: BTreeMap::new(),
        }
    }

    /// The `Cookie` header a request of this browser carries.
    pub fn cookie(&self) -> String {
        self.jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, headers: &reqwest::header::HeaderMap) {
        for c in headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
        {
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let Some((k, v)) = pair.split_once('=') else {
                continue;
            };
            let attrs = attrs.to_ascii_lowercase();
            if v.is_empty() || attrs.contains("max-age=0") || attrs.contains("1970") {
                self.jar.remove(k.trim());
            } else {
                self.jar.insert(k.trim().to_string(), v.to_string());
            }
        }
    }

    /// Authorizes `app` from scratch: signs in as `email` (with `password`) and allows
    /// consent if asked. Returns the PKCE verifier and the code the app received.
    pub async fn authorize(
        &mut self,
        d: &Discovery,
        app: &App,
        email: &str,
        password: &str,
    ) -> anyhow::Result<(String, String)> {
        let (verifier, challenge) = pkce();
        let mut next: (String, Option<Vec<(String, String)>>) =
            (app.authorize_path(d, "setup", "setup", &challenge), None);
        for _ in 0..12 {
            let (path, form) = next;
            let url = format!("{}{path}", self.setup.base);
            let mut req = match &form {
                None => self.setup.nofollow.get(&url),
                Some(fields) => self.setup.nofollow.post(&url).form(fields),
            };
            if !self.jar.is_empty() {
                req = req.header(COOKIE.as_str(), self.cookie());
            }
            let res = req.send().await?;
            let status = res.status();
            self.keep_cookies(res.headers());
            if status.is_redirection() {
                let to = res
                    .headers()
                    .get(LOCATION.as_str())
                    .and_then(|l| l.to_str().ok())
                    .context("a redirect without Location")?
                    .to_string();
                if to.starts_with(&app.redirect_uri) {
                    let (code, _) = app
                        .code_of(&to)
                        .with_context(|| format!("the authorization failed: {to}"))?;
                    return Ok((verifier, code));
                }
                next = (
                    if to.starts_with('/') {
                        to
                    } else {
                        path_of(&to)?
                    },
                    None,
                );
                continue;
            }
            let html = res.text().await?;
            let Some(form) = forms(&html).into_iter().find(|f| f.answerable) else {
                bail!(
                    "{path}: {status} without a sign-in or consent form: {}",
                    &html[..html.len().min(400)]
                );
            };
            let fields = form
                .fields
                .into_iter()
                .map(|(k, v)| match k.as_str() {
                    "identifier" | "login" | "username" | "email" => (k, email.to_string()),
                    "password" => (k, password.to_string()),
                    _ => (k, v),
                })
                .collect();
            next = (form.action, Some(fields));
        }
        bail!("the authorization did not come back to the app within 12 steps")
    }
}

/// Exchanges a code once (at set-up): the token response.
pub async fn exchange(
    setup: &Setup,
    d: &Discovery,
    app: &App,
    code: &str,
    verifier: &str,
) -> anyhow::Result<Value> {
    let res = setup
        .http
        .post(format!("{}{}", setup.base, d.token))
        .header(AUTHORIZATION.as_str(), app.basic.as_bytes())
        .header(CONTENT_TYPE.as_str(), "application/x-www-form-urlencoded")
        .body(app.token_body(code, verifier))
        .send()
        .await?;
    let status = res.status();
    let v: Value = res.json().await.unwrap_or(Value::Null);
    if status != reqwest::StatusCode::OK {
        bail!("token request: {status}: {v}");
    }
    Ok(v)
}

/// The post forms of a page.
fn forms(html: &str) -> Vec<Form> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<form") {
        let after = &rest[start..];
        let end = after.find("</form>").unwrap_or(after.len());
        let inner = &after[..end];
        rest = &after[end..];
        let tag_end = inner.find('>').unwrap_or(inner.len());
        let attrs = attributes(&inner[..tag_end]);
        if !attrs
            .get("method")
            .is_some_and(|m| m.eq_ignore_ascii_case("post"))
        {
            continue;
        }
        let mut form = Form {
            action: attrs.get("action").cloned().unwrap_or_default(),
            fields: Vec::new(),
            answerable: false,
        };
        for (i, _) in inner.match_indices('<') {
            let tag = &inner[i..];
            let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
            let a = attributes(tag);
            let Some(name) = a.get("name") else {
                continue;
            };
            let value = a.get("value").cloned().unwrap_or_default();
            if tag.starts_with("<input") {
                if a.get("type").is_some_and(|t| t == "password") {
                    form.answerable = true;
                }
                form.fields.push((name.clone(), value));
            } else if tag.starts_with("<button") && name == "decision" && value == "allow" {
                form.answerable = true;
                form.fields.push((name.clone(), value));
            }
        }
        out.push(form);
    }
    out
}

/// The double-quoted attributes of one tag, entities decoded.
fn attributes(tag: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = tag;
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq]
            .rsplit(|c: char| c.is_whitespace())
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let value_start = &rest[eq + 2..];
        let Some(close) = value_start.find('"') else {
            break;
        };
        out.insert(name, unescape(&value_start[..close]));
        rest = &value_start[close + 1..];
    }
    out
}

/// HTML character references: the named five and numeric ones.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp..];
        let Some(semi) = after.find(';').filter(|&i| i <= 10) else {
            out.push('&');
            rest = &after[1..];
            continue;
        };
        let entity = &after[1..semi];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &after[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_consent_form_keeps_its_hidden_fields_and_allows() {
        let html = r#"<form method="get" action="/x"><input name="q"></form>
<form method="post" action="/oauth/authorize">
<input type="hidden" name="csrf_token" value="t&#x2f;k">
<input type="hidden" name="redirect_uri" value="https:&#x2f;&#x2f;app.example&#x2f;cb?a=1&amp;b=2">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
</form>"#;
        let f = forms(html);
        assert_eq!(f.len(), 1, "the GET form is not one to post");
        assert_eq!(
            f[0],
            Form {
                action: "/oauth/authorize".into(),
                fields: vec![
                    ("csrf_token".into(), "t/k".into()),
                    (
                        "redirect_uri".into(),
                        "https://app.example/cb?a=1&b=2".into()
                    ),
                    ("decision".into(), "allow".into()),
                ],
                answerable: true,
            }
        );
    }

    #[test]
    fn a_sign_in_form_is_answerable_and_a_bare_button_form_is_not() {
        let html = r#"<form method="post" action="/signin">
<input type="hidden" name="csrf_token" value="abc">
<input id="identifier" name="identifier" type="text" autocomplete="username" required>
<input id="password" name="password" type="password" autocomplete="current-password" required>
</form><form method="post" action="/signin/upstream/gh"><button type="submit">GitHub</button></form>"#;
        let f = forms(html);
        assert_eq!(f.len(), 2);
        assert!(f[0].answerable);
        assert_eq!(
            f[0].fields,
            vec![
                ("csrf_token".to_string(), "abc".to_string()),
                ("identifier".into(), String::new()),
                ("password".into(), String::new()),
            ]
        );
        assert!(!f[1].answerable);
    }

    #[test]
    fn unescape_decodes_references_and_leaves_a_bare_ampersand() {
        assert_eq!(
            unescape("a&amp;b&#39;c&#x2F;d & e&bogus;"),
            "a&b'c/d & e&bogus;"
        );
    }

    #[test]
    fn a_code_is_read_only_from_this_apps_redirect() {
        let app = App {
            client_id: "c".into(),
            basic: HeaderValue::from_static("Basic x"),
            redirect_uri: "https://app.example/cb".into(),
        };
        assert_eq!(
            app.code_of("https://app.example/cb?code=a%2Bb&state=7&iss=x"),
            Some(("a+b".into(), "7".into()))
        );
        assert_eq!(
            app.code_of("https://app.example/cb?error=access_denied&state=7"),
            None
        );
        assert_eq!(app.code_of("https://app.example/cb2?code=a&state=7"), None);
    }
}
