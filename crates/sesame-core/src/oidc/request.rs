//! The authorization request (`GET /oauth/authorize`): read, then checked in the order that
//! decides where an error may go. Until the client and the redirect URI are known good, an error
//! is shown on Sesame's own page — redirecting it would make Sesame an open redirect (RFC 9700
//! §4.11) — and only after that is it sent back to the app.

use std::sync::Arc;

use crate::client_metadata::{AUTHORIZATION_CODE, REFRESH_TOKEN};
use crate::domain::RedirectUri;
use crate::store::ClientRecord;

/// Scopes of OpenID Connect itself; an app may ask for them whatever its registration says.
pub const OPENID_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// Longest `state` and `nonce` accepted: apps send a few dozen characters.
const MAX_OPAQUE_LEN: usize = 1024;

/// The request's parameters as sent (query or consent form); each at most once.
#[derive(Debug, Default, Clone)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub nonce: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub login_hint: Option<String>,
    pub acr_values: Option<String>,
    pub response_mode: Option<String>,
    /// Request objects (OpenID Connect Core §6): not supported, refused by name.
    pub request: Option<String>,
    pub request_uri: Option<String>,
    /// RFC 8707; may repeat.
    pub resource: Vec<String>,
    /// A parameter that came more than once (RFC 6749 §3.1 forbids it), if any.
    pub repeated: Option<String>,
}

impl AuthorizeParams {
    /// Reads the parameters from name/value pairs; unknown names are ignored (RFC 6749 §3.1).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut p = AuthorizeParams::default();
        for (k, v) in pairs {
            let slot = match k {
                "response_type" => &mut p.response_type,
                "client_id" => &mut p.client_id,
                "redirect_uri" => &mut p.redirect_uri,
                "scope" => &mut p.scope,
                "state" => &mut p.state,
                "code_challenge" => &mut p.code_challenge,
                "code_challenge_method" => &mut p.code_challenge_method,
                "nonce" => &mut p.nonce,
                "prompt" => &mut p.prompt,
                "max_age" => &mut p.max_age,
                "login_hint" => &mut p.login_hint,
                "acr_values" => &mut p.acr_values,
                "response_mode" => &mut p.response_mode,
                "request" => &mut p.request,
                "request_uri" => &mut p.request_uri,
                "resource" => {
                    p.resource.push(v.to_string());
                    continue;
                }
                _ => continue,
            };
            if slot.is_some() {
                p.repeated.get_or_insert_with(|| k.to_string());
            }
            *slot = Some(v.to_string());
        }
        p
    }

    /// The parameters as query pairs (what a consent form carries back, and where sign-in
    /// returns to), without `prompt=login` and `max_age`: once the person has signed in again,
    /// asking again would loop. The ID token's `auth_time` tells the app when that was.
    pub fn to_pairs_after_sign_in(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut push = |k: &'static str, v: &Option<String>| {
            if let Some(v) = v {
                out.push((k, v.clone()));
            }
        };
        push("response_type", &self.response_type);
        push("client_id", &self.client_id);
        push("redirect_uri", &self.redirect_uri);
        push("scope", &self.scope);
        push("state", &self.state);
        push("code_challenge", &self.code_challenge);
        push("code_challenge_method", &self.code_challenge_method);
        push("nonce", &self.nonce);
        let prompt = self.prompt.as_deref().map(|p| {
            p.split_whitespace()
                .filter(|v| *v != "login")
                .collect::<Vec<_>>()
                .join(" ")
        });
        push("prompt", &prompt.filter(|p| !p.is_empty()));
        push("login_hint", &self.login_hint);
        push("acr_values", &self.acr_values);
        push("response_mode", &self.response_mode);
        for r in &self.resource {
            out.push(("resource", r.clone()));
        }
        out
    }
}

/// `prompt` values (OpenID Connect Core §3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// A request whose client and redirect URI are known good and whose parameters are valid.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    pub params: AuthorizeParams,
    pub client: Arc<ClientRecord>,
    /// As presented (it matched a registered one).
    pub redirect_uri: String,
    pub state: Option<String>,
    /// Sorted, without duplicates.
    pub scopes: Vec<String>,
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// `acr_values`, in the app's order of preference (OpenID Connect Core §3.1.2.1).
    pub acr_values: Vec<String>,
    /// The `aud` of the access tokens: the resources asked for, or the client's first audience.
    pub audience: Vec<String>,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// Unknown client, or a redirect URI it did not register: shown on Sesame's page (400).
    Page(&'static str),
    /// Sent back to the app's redirect URI (RFC 6749 §4.1.2.1).
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: String,
    },
}

impl AuthorizeError {
    pub(crate) fn redirect(
        params: &AuthorizeParams,
        redirect_uri: &str,
        error: &'static str,
        description: impl Into<String>,
    ) -> Self {
        AuthorizeError::Redirect {
            redirect_uri: redirect_uri.to_string(),
            state: params.state.clone(),
            error,
            description: description.into(),
        }
    }
}

/// Checks the parameters against the client (already looked up, `None` if unknown).
pub(crate) fn check(
    params: AuthorizeParams,
    client: Option<Arc<ClientRecord>>,
    default_audience: &str,
) -> Result<AuthorizeRequest, AuthorizeError> {
    // 1. Who is asking and where the answer goes: only then may an error leave Sesame.
    let client = client.ok_or(AuthorizeError::Page("unknown-client"))?;
    if matches!(
        params.repeated.as_deref(),
        Some("client_id" | "redirect_uri")
    ) {
        return Err(AuthorizeError::Page("invalid-redirect-uri"));
    }
    let presented = params
        .redirect_uri
        .clone()
        .ok_or(AuthorizeError::Page("invalid-redirect-uri"))?;
    let registered = client
        .redirect_uris
        .iter()
        .filter_map(|r| RedirectUri::parse(r).ok())
        .any(|r| r.matches(&presented));
    if !registered {
        return Err(AuthorizeError::Page("invalid-redirect-uri"));
    }
    let fail = |error: &'static str, description: &str| {
        AuthorizeError::redirect(&params, &presented, error, description)
    };
    if let Some(name) = &params.repeated {
        return Err(fail(
            "invalid_request",
            &format!("The parameter '{name}' appears more than once."),
        ));
    }
    if params
        .state
        .as_ref()
        .is_some_and(|s| s.len() > MAX_OPAQUE_LEN)
        || params
            .nonce
            .as_ref()
            .is_some_and(|s| s.len() > MAX_OPAQUE_LEN)
    {
        return Err(fail(
            "invalid_request",
            "state and nonce are at most 1024 characters.",
        ));
    }
    // 2. What is asked.
    if params.request.is_some() {
        return Err(fail(
            "request_not_supported",
            "Request objects are not supported.",
        ));
    }
    if params.request_uri.is_some() {
        return Err(fail(
            "request_uri_not_supported",
            "request_uri is not supported.",
        ));
    }
    if params
        .response_mode
        .as_deref()
        .is_some_and(|m| m != "query")
    {
        return Err(fail(
            "invalid_request",
            "Only response_mode=query is supported.",
        ));
    }
    match params.response_type.as_deref() {
        Some("code") => {}
        None => return Err(fail("invalid_request", "response_type is required.")),
        Some(_) => {
            return Err(fail(
                "unsupported_response_type",
                "Only response_type=code is supported.",
            ));
        }
    }
    if !client.may_use(AUTHORIZATION_CODE) {
        return Err(fail(
            "unauthorized_client",
            "The client is not registered for the authorization code grant.",
        ));
    }
    // 3. PKCE, S256 only (OAuth 2.1 §4.1.1; `plain` would hand the proof to whoever sees the URL).
    let code_challenge = match (
        params.code_challenge.as_deref(),
        params.code_challenge_method.as_deref(),
    ) {
        (Some(c), Some("S256")) if is_s256_challenge(c) => c.to_string(),
        (Some(_), Some("S256")) => {
            return Err(fail(
                "invalid_request",
                "code_challenge must be a BASE64URL-encoded SHA-256 (43 characters).",
            ));
        }
        (None, _) => return Err(fail("invalid_request", "PKCE is required: code_challenge.")),
        (Some(_), _) => {
            return Err(fail(
                "invalid_request",
                "code_challenge_method must be S256.",
            ));
        }
    };
    // 4. Scopes: OpenID's own and the client's registered ones.
    let mut scopes: Vec<String> = Vec::new();
    for s in params.scope.as_deref().unwrap_or("").split_whitespace() {
        let known = OPENID_SCOPES.contains(&s) || client.scopes.iter().any(|c| c == s);
        if !known {
            return Err(fail(
                "invalid_scope",
                &format!("The scope '{s}' is not available to this client."),
            ));
        }
        // A refresh token is only for clients registered for the refresh grant; otherwise
        // `offline_access` is ignored (OpenID Connect Core §11), not an error.
        if s == "offline_access" && !client.may_use(REFRESH_TOKEN) {
            continue;
        }
        scopes.push(s.to_string());
    }
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        return Err(fail("invalid_scope", "scope is required (e.g. openid)."));
    }
    // 5. prompt, max_age.
    let mut prompt = Prompt::default();
    for p in params.prompt.as_deref().unwrap_or("").split_whitespace() {
        match p {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            _ => {
                return Err(fail(
                    "invalid_request",
                    &format!("The prompt value '{p}' is not supported."),
                ));
            }
        }
    }
    if prompt.none && (prompt.login || prompt.consent) {
        return Err(fail(
            "invalid_request",
            "prompt=none cannot be combined with other values.",
        ));
    }
    let max_age = match params.max_age.as_deref() {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                return Err(fail(
                    "invalid_request",
                    "max_age must be a non-negative integer.",
                ));
            }
        },
    };
    // 6. Resources (RFC 8707): each one of the client's audiences.
    let audience = if params.resource.is_empty() {
        vec![
            client
                .audiences
                .first()
                .cloned()
                .unwrap_or_else(|| default_audience.to_string()),
        ]
    } else {
        for r in &params.resource {
            if !client.audiences.iter().any(|a| a == r) {
                return Err(fail(
                    "invalid_target",
                    &format!("The resource '{r}' is not one of this client's audiences."),
                ));
            }
        }
        let mut list: Vec<String> = Vec::new();
        for r in &params.resource {
            if !list.contains(r) {
                list.push(r.clone());
            }
        }
        list
    };
    Ok(AuthorizeRequest {
        client,
        redirect_uri: presented.clone(),
        state: params.state.clone(),
        scopes,
        code_challenge,
        nonce: params.nonce.clone(),
        prompt,
        max_age,
        login_hint: params.login_hint.clone().filter(|h| h.len() <= 254),
        acr_values: params
            .acr_values
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        audience,
        params,
    })
}

/// A S256 challenge is BASE64URL(SHA-256(verifier)) without padding: 43 URL-safe characters.
fn is_s256_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// RFC 7636 §4.1: a verifier is 43–128 characters of `[A-Za-z0-9-._~]`.
pub(crate) fn is_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Arc<ClientRecord> {
        Arc::new(ClientRecord {
            client_id: "app".into(),
            name: "App".into(),
            audiences: vec!["api".into(), "gallery".into()],
            scopes: vec!["images:read".into()],
            redirect_uris: vec![
                "https://app.example/cb".into(),
                "http://127.0.0.1/cb".into(),
            ],
            grant_types: vec![AUTHORIZATION_CODE.into(), REFRESH_TOKEN.into()],
            ..Default::default()
        })
    }

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn params(extra: &[(&str, &str)]) -> AuthorizeParams {
        let mut pairs = vec![
            ("response_type", "code"),
            ("client_id", "app"),
            ("redirect_uri", "https://app.example/cb"),
            ("scope", "openid email"),
            ("state", "s1"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ];
        for (k, v) in extra {
            pairs.retain(|(pk, _)| pk != k);
            pairs.push((k, v));
        }
        AuthorizeParams::from_pairs(pairs.into_iter().filter(|(_, v)| !v.is_empty()))
    }

    fn error_of(p: AuthorizeParams) -> AuthorizeError {
        check(p, Some(client()), "sesame").unwrap_err()
    }

    fn redirected(p: AuthorizeParams) -> &'static str {
        match error_of(p) {
            AuthorizeError::Redirect { error, .. } => error,
            other => panic!("expected a redirect, got {other:?}"),
        }
    }

    #[test]
    fn a_good_request_is_accepted_with_sorted_scopes_and_the_default_audience() {
        let r = check(params(&[]), Some(client()), "sesame").unwrap();
        assert_eq!(r.scopes, ["email", "openid"]);
        assert_eq!(r.audience, ["api"]);
        assert_eq!(r.state.as_deref(), Some("s1"));
    }

    #[test]
    fn an_unknown_client_or_unregistered_redirect_uri_never_redirects() {
        assert_eq!(
            check(params(&[]), None, "sesame").unwrap_err(),
            AuthorizeError::Page("unknown-client")
        );
        for uri in [
            "https://app.example/cb/",
            "https://app.example/cb?x=1",
            "https://app.example:444/cb",
            "https://evil.example/cb",
            "http://app.example/cb",
            "",
        ] {
            assert_eq!(
                error_of(params(&[("redirect_uri", uri)])),
                AuthorizeError::Page("invalid-redirect-uri"),
                "{uri:?}"
            );
        }
        let twice = AuthorizeParams::from_pairs([
            ("client_id", "app"),
            ("redirect_uri", "https://app.example/cb"),
            ("redirect_uri", "https://evil.example/cb"),
        ]);
        assert_eq!(
            error_of(twice),
            AuthorizeError::Page("invalid-redirect-uri")
        );
    }

    #[test]
    fn a_loopback_redirect_uri_matches_any_port() {
        let r = check(
            params(&[("redirect_uri", "http://127.0.0.1:51234/cb")]),
            Some(client()),
            "sesame",
        )
        .unwrap();
        assert_eq!(r.redirect_uri, "http://127.0.0.1:51234/cb");
    }

    #[test]
    fn pkce_is_required_and_plain_is_refused() {
        assert_eq!(
            redirected(params(&[("code_challenge", "")])),
            "invalid_request"
        );
        assert_eq!(
            redirected(params(&[("code_challenge_method", "plain")])),
            "invalid_request"
        );
        assert_eq!(
            redirected(params(&[("code_challenge_method", "")])),
            "invalid_request"
        );
        assert_eq!(
            redirected(params(&[("code_challenge", "short")])),
            "invalid_request"
        );
    }

    #[test]
    fn bad_parameters_are_sent_back_with_their_error_codes() {
        assert_eq!(
            redirected(params(&[("response_type", "token")])),
            "unsupported_response_type"
        );
        assert_eq!(
            redirected(params(&[("response_type", "")])),
            "invalid_request"
        );
        assert_eq!(
            redirected(params(&[("scope", "openid admin")])),
            "invalid_scope"
        );
        assert_eq!(redirected(params(&[("scope", "")])), "invalid_scope");
        assert_eq!(
            redirected(params(&[("prompt", "none login")])),
            "invalid_request"
        );
        assert_eq!(
            redirected(params(&[("prompt", "select_account")])),
            "invalid_request"
        );
        assert_eq!(redirected(params(&[("max_age", "-1")])), "invalid_request");
        assert_eq!(
            redirected(params(&[("response_mode", "form_post")])),
            "invalid_request"
        );
        assert_eq!(
            redirected(params(&[("request", "eyJ...")])),
            "request_not_supported"
        );
        assert_eq!(
            redirected(params(&[("request_uri", "urn:x")])),
            "request_uri_not_supported"
        );
        assert_eq!(
            redirected(params(&[("resource", "https://other")])),
            "invalid_target"
        );
        let twice = AuthorizeParams::from_pairs([
            ("client_id", "app"),
            ("redirect_uri", "https://app.example/cb"),
            ("state", "a"),
            ("state", "b"),
        ]);
        assert_eq!(redirected(twice), "invalid_request");
    }

    #[test]
    fn a_resource_named_again_is_one_audience() {
        // Alternating repeats once slipped past a `dedup` of neighbours only: every token of
        // the session carried the list as sent, as long as the URL allowed.
        let mut pairs: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", "app"),
            ("redirect_uri", "https://app.example/cb"),
            ("scope", "openid"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ];
        for _ in 0..50 {
            pairs.push(("resource", "gallery"));
            pairs.push(("resource", "api"));
        }
        let r = check(AuthorizeParams::from_pairs(pairs), Some(client()), "sesame").unwrap();
        assert_eq!(r.audience, ["gallery", "api"], "in the order first named");
    }

    #[test]
    fn offline_access_is_ignored_without_the_refresh_grant() {
        let mut c = (*client()).clone();
        c.grant_types = vec![AUTHORIZATION_CODE.into()];
        let r = check(
            params(&[("scope", "openid offline_access")]),
            Some(Arc::new(c)),
            "sesame",
        )
        .unwrap();
        assert_eq!(r.scopes, ["openid"]);
    }

    #[test]
    fn a_client_without_the_code_grant_is_unauthorized() {
        let mut c = (*client()).clone();
        c.grant_types = vec!["client_credentials".into()];
        match check(params(&[]), Some(Arc::new(c)), "sesame").unwrap_err() {
            AuthorizeError::Redirect { error, .. } => assert_eq!(error, "unauthorized_client"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn after_sign_in_the_request_drops_prompt_login_and_max_age_only() {
        let p = params(&[
            ("prompt", "login consent"),
            ("max_age", "0"),
            ("nonce", "n"),
        ]);
        let pairs = p.to_pairs_after_sign_in();
        assert!(pairs.contains(&("prompt", "consent".to_string())));
        assert!(pairs.contains(&("nonce", "n".to_string())));
        assert!(!pairs.iter().any(|(k, _)| *k == "max_age"));
    }

    #[test]
    fn verifiers_follow_rfc_7636() {
        assert!(is_verifier(&"a".repeat(43)));
        assert!(is_verifier(&"a-._~".repeat(20)));
        assert!(!is_verifier(&"a".repeat(42)));
        assert!(!is_verifier(&"a".repeat(129)));
        assert!(!is_verifier(&format!("{}+", "a".repeat(43))));
    }
}
