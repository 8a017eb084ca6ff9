//! A configured provider, its endpoints (OpenID discovery, or GitHub's fixed ones), and who a
//! code says signed in: the ID token of an OpenID provider, GitHub's user and verified
//! primary email.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::{Person, Upstream, id_token};
use crate::error::CoreError;
use crate::store::UpstreamLogin;

/// Discovery documents and key sets are fetched again after this long (a key rotated in
/// between is found at once: an unknown `kid` fetches the key set again).
const KEEP: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamKind {
    /// Any OpenID provider, by discovery.
    Oidc,
    /// GitHub: OAuth 2.0, then its user and emails API.
    Github,
}

/// A rule giving a Sesame role to people whose upstream `claim` is (or contains) `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRule {
    pub claim: String,
    pub value: String,
    pub role: String,
}

/// An `[[upstream]]` of the configuration. `Debug` hides the client secret.
#[derive(Clone)]
pub struct UpstreamProvider {
    pub id: String,
    pub kind: UpstreamKind,
    /// What the button says ("Sign in with {name}").
    pub name: String,
    /// The OpenID issuer (discovery at `{issuer}/.well-known/openid-configuration`); for GitHub
    /// the site (`https://github.com`), whose `/login/oauth/*` it uses.
    pub issuer: String,
    /// GitHub's API (`https://api.github.com`).
    pub api_url: String,
    /// A PEM file of CAs to trust for this provider (a private CA).
    pub ca_file: Option<PathBuf>,
    pub client_id: String,
    pub client_secret: SecretString,
    pub scopes: Vec<String>,
    /// Create accounts on first sign-in.
    pub signup: bool,
    pub roles: Vec<RoleRule>,
}

impl std::fmt::Debug for UpstreamProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamProvider")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// A provider's endpoints.
#[derive(Debug, Clone)]
pub(crate) struct Endpoints {
    /// The OpenID issuer the ID tokens must name (None for GitHub).
    pub(crate) issuer: Option<String>,
    pub(crate) authorization_endpoint: String,
    pub(crate) token_endpoint: String,
    pub(crate) jwks_uri: Option<String>,
}

/// What was fetched of a provider, and when.
#[derive(Debug, Clone)]
pub(crate) struct Fetched {
    endpoints: Endpoints,
    endpoints_at: DateTime<Utc>,
    jwks: Option<(serde_json::Value, DateTime<Utc>)>,
}

fn unavailable(provider: &UpstreamProvider, what: impl std::fmt::Display) -> CoreError {
    tracing::warn!(provider = %provider.id, problem = %what, "an upstream provider is unavailable");
    CoreError::UpstreamUnavailable(provider.name.clone())
}

fn field(doc: &serde_json::Value, name: &str) -> Option<String> {
    doc.get(name).and_then(|v| v.as_str()).map(str::to_string)
}

impl Upstream {
    /// The provider's endpoints: GitHub's fixed ones, or the OpenID discovery document
    /// (fetched when first needed, kept [`KEEP`]; its `issuer` must be the configured one).
    pub(crate) async fn endpoints(&self, p: &UpstreamProvider) -> Result<Endpoints, CoreError> {
        if p.kind == UpstreamKind::Github {
            let site = p.issuer.trim_end_matches('/');
            return Ok(Endpoints {
                issuer: None,
                authorization_endpoint: format!("{site}/login/oauth/authorize"),
                token_endpoint: format!("{site}/login/oauth/access_token"),
                jwks_uri: None,
            });
        }
        let now = self.now();
        if let Some(f) = self.cached(&p.id)
            && now - f.endpoints_at < chrono::Duration::from_std(KEEP).unwrap_or_default()
        {
            return Ok(f.endpoints);
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            p.issuer.trim_end_matches('/')
        );
        let doc = self
            .http
            .get_json(&p.id, &url, None)
            .await
            .map_err(|e| unavailable(p, e))?;
        let issuer =
            field(&doc, "issuer").ok_or_else(|| unavailable(p, "discovery without issuer"))?;
        if issuer.trim_end_matches('/') != p.issuer.trim_end_matches('/') {
            return Err(unavailable(
                p,
                format!("discovery names the issuer {issuer}, not {}", p.issuer),
            ));
        }
        let endpoints = Endpoints {
            issuer: Some(issuer),
            authorization_endpoint: field(&doc, "authorization_endpoint")
                .ok_or_else(|| unavailable(p, "discovery without authorization_endpoint"))?,
            token_endpoint: field(&doc, "token_endpoint")
                .ok_or_else(|| unavailable(p, "discovery without token_endpoint"))?,
            jwks_uri: Some(
                field(&doc, "jwks_uri")
                    .ok_or_else(|| unavailable(p, "discovery without jwks_uri"))?,
            ),
        };
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let jwks = cache.get(&p.id).and_then(|f| f.jwks.clone());
        cache.insert(
            p.id.clone(),
            Fetched {
                endpoints: endpoints.clone(),
                endpoints_at: now,
                jwks,
            },
        );
        Ok(endpoints)
    }

    fn cached(&self, id: &str) -> Option<Fetched> {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    /// The provider's key set: kept [`KEEP`], or fetched again when `refresh` (a `kid` it does
    /// not hold: the provider rotated).
    pub(crate) async fn jwks(
        &self,
        p: &UpstreamProvider,
        endpoints: &Endpoints,
        refresh: bool,
    ) -> Result<serde_json::Value, CoreError> {
        let now = self.now();
        if !refresh
            && let Some((jwks, at)) = self.cached(&p.id).and_then(|f| f.jwks)
            && now - at < chrono::Duration::from_std(KEEP).unwrap_or_default()
        {
            return Ok(jwks);
        }
        let url = endpoints
            .jwks_uri
            .as_deref()
            .ok_or_else(|| unavailable(p, "no jwks_uri"))?;
        let jwks = self
            .http
            .get_json(&p.id, url, None)
            .await
            .map_err(|e| unavailable(p, e))?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = cache.get_mut(&p.id) {
            f.jwks = Some((jwks.clone(), now));
        }
        Ok(jwks)
    }

    /// Exchanges the code and says who signed in.
    pub(crate) async fn identify(
        &self,
        p: &UpstreamProvider,
        endpoints: &Endpoints,
        code: &str,
        login: &UpstreamLogin,
    ) -> Result<Person, CoreError> {
        let redirect_uri = self.redirect_uri(&p.id);
        let secret = p.client_secret.expose_secret();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", login.pkce_verifier.as_str()),
            ("client_id", p.client_id.as_str()),
        ];
        let tokens = match p.kind {
            // RFC 6749 §2.3.1: Basic is what every OpenID provider must take.
            UpstreamKind::Oidc => {
                self.http
                    .post_form(
                        &p.id,
                        &endpoints.token_endpoint,
                        &form,
                        Some((&p.client_id, secret)),
                    )
                    .await
            }
            // GitHub takes the secret in the form.
            UpstreamKind::Github => {
                let mut with_secret = form.to_vec();
                with_secret.push(("client_secret", secret));
                self.http
                    .post_form(&p.id, &endpoints.token_endpoint, &with_secret, None)
                    .await
            }
        }
        .map_err(|e| {
            tracing::info!(provider = %p.id, error = %e, "an upstream code exchange failed");
            CoreError::UpstreamRefused("the provider did not take the code".into())
        })?;
        if let Some(error) = field(&tokens, "error") {
            return Err(CoreError::UpstreamRefused(format!(
                "the provider refused the code: {}",
                error.chars().take(64).collect::<String>()
            )));
        }
        match p.kind {
            UpstreamKind::Oidc => {
                let raw = field(&tokens, "id_token").ok_or_else(|| {
                    CoreError::UpstreamRefused("the provider sent no ID token".into())
                })?;
                let issuer = endpoints.issuer.clone().unwrap_or_default();
                let mut jwks = self.jwks(p, endpoints, false).await?;
                let claims = match id_token::verify(&raw, &jwks, &issuer, &p.client_id, &login.nonce, self.now()) {
                    Err(id_token::Refusal::UnknownKey) => {
                        jwks = self.jwks(p, endpoints, true).await?;
                        id_token::verify(&raw, &jwks, &issuer, &p.client_id, &login.nonce, self.now())
                    }
                    other => other,
                }
                .map_err(|r| {
                    tracing::info!(provider = %p.id, refusal = %r, "an upstream ID token was refused");
                    CoreError::UpstreamRefused(format!("the ID token was refused: {r}"))
                })?;
                Ok(id_token::person(claims))
            }
            UpstreamKind::Github => {
                let access = field(&tokens, "access_token").ok_or_else(|| {
                    CoreError::UpstreamRefused("GitHub sent no access token".into())
                })?;
                let api = p.api_url.trim_end_matches('/');
                let user = self
                    .http
                    .get_json(&p.id, &format!("{api}/user"), Some(&access))
                    .await
                    .map_err(|e| unavailable(p, e))?;
                let emails = self
                    .http
                    .get_json(&p.id, &format!("{api}/user/emails"), Some(&access))
                    .await
                    .map_err(|e| unavailable(p, e))?;
                github_person(user, &emails)
            }
        }
    }
}

/// GitHub's user: its numeric id is the subject (a login can be renamed); the email is the
/// primary one, verified by GitHub or not.
fn github_person(user: serde_json::Value, emails: &serde_json::Value) -> Result<Person, CoreError> {
    let subject = match user.get("id") {
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => return Err(CoreError::UpstreamRefused("GitHub's user has no id".into())),
    };
    let primary = emails
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e.get("primary").and_then(|v| v.as_bool()) == Some(true));
    let email = primary.and_then(|e| field(e, "email"));
    let email_verified = primary
        .and_then(|e| e.get("verified"))
        .and_then(|v| v.as_bool())
        == Some(true);
    Ok(Person {
        subject,
        email,
        email_verified,
        claims: user,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn githubs_subject_is_the_numeric_id_and_only_the_primary_email_counts() {
        let user = serde_json::json!({"id": 583231, "login": "octocat", "name": null});
        let emails = serde_json::json!([
            {"email": "old@example.com", "primary": false, "verified": true},
            {"email": "octo@example.com", "primary": true, "verified": false},
        ]);
        let p = github_person(user, &emails).unwrap();
        assert_eq!(p.subject, "583231");
        assert_eq!(p.email.as_deref(), Some("octo@example.com"));
        assert!(!p.email_verified, "the primary one is not verified");
        let no_id = serde_json::json!({"login": "x"});
        assert!(github_person(no_id, &emails).is_err());
    }
}
