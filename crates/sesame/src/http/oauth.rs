//! OAuth 2.0 endpoints, form-encoded as their RFCs say, answering RFC 6749 §5.2 error bodies.
//!
//! Routes:
//! - POST /oauth/token — client_credentials (RFC 6749 §4.4) and token exchange (RFC 8693)
//! - POST /oauth/introspect — RFC 7662
//! - POST /oauth/revoke — RFC 7009
//!
//! Clients authenticate with HTTP Basic (`client_secret_basic`) or form fields
//! (`client_secret_post`); using both at once is refused, as RFC 6749 §2.3 asks.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use secrecy::SecretString;
use serde::Serialize;
use serde_json::json;
use sesame_core::CoreError;
use sesame_core::error::BoxError;
use sesame_core::store::ClientRecord;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::attach_cause;
use super::extract::Client;
use super::no_store::no_store;
use super::ratelimit::{Limited, TOKEN};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(token))
        .routes(routes!(introspect))
        .routes(routes!(revoke))
}

/// An RFC 6749 §5.2 error, 5xx included (`server_error`, `temporarily_unavailable`): the
/// body of every answer of these endpoints that is not a success is shaped here, and only here.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    retry_after: Option<u64>,
    /// For 5xx: what really happened, logged once with the request id, never sent.
    cause: Option<BoxError>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthErrorBody {
    /// invalid_request, invalid_client, unsupported_grant_type, invalid_scope, invalid_target, ...
    pub error: String,
    pub error_description: String,
}

impl OAuthError {
    pub(super) fn new(
        status: StatusCode,
        error: &'static str,
        description: impl Into<String>,
    ) -> Self {
        OAuthError {
            status,
            error,
            description: description.into(),
            retry_after: None,
            cause: None,
        }
    }

    fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    fn invalid_client() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed.",
        )
    }
}

impl From<CoreError> for OAuthError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::InvalidClient => OAuthError::invalid_client(),
            CoreError::InvalidScope(d) => {
                OAuthError::new(StatusCode::BAD_REQUEST, "invalid_scope", d)
            }
            CoreError::InvalidTarget(d) => {
                OAuthError::new(StatusCode::BAD_REQUEST, "invalid_target", d)
            }
            CoreError::InvalidGrant(d) => {
                OAuthError::new(StatusCode::BAD_REQUEST, "invalid_grant", d)
            }
            CoreError::UnauthorizedClient(d) => {
                OAuthError::new(StatusCode::BAD_REQUEST, "unauthorized_client", d)
            }
            CoreError::Validation(f) => OAuthError::invalid_request(
                f.iter()
                    .map(|(k, v)| format!("{k}: {}", v.join(", ")))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            CoreError::TokenInvalid
            | CoreError::TokenExpired
            | CoreError::TokenRevoked
            | CoreError::Forbidden => OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "The subject token is not valid.",
            ),
            CoreError::Busy { retry_after_secs } => OAuthError {
                retry_after: Some(retry_after_secs),
                ..OAuthError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "The service is busy.",
                )
            },
            CoreError::Unavailable(_) => OAuthError {
                retry_after: Some(1),
                cause: Some(Box::new(e)),
                ..OAuthError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "The service is temporarily unavailable.",
                )
            },
            // Internal errors, and anything these endpoints never expect: the whole error is
            // the logged cause.
            _ => OAuthError {
                cause: Some(Box::new(e)),
                ..OAuthError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "Internal server error.",
                )
            },
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut res = (
            self.status,
            Json(json!({"error": self.error, "error_description": self.description})),
        )
            .into_response();
        no_store(res.headers_mut());
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"sesame\""),
            );
        }
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if let Some(cause) = self.cause {
            attach_cause(&mut res, cause);
        }
        res
    }
}

/// A parsed form body: single-valued parameters, plus the repeatable `audience` and `resource`.
/// `Debug` shows the values of [`super::redact::FORM_SHOWN`] parameters only: the others carry
/// client secrets and tokens.
#[derive(Default)]
pub(super) struct Form {
    single: HashMap<String, String>,
    audiences: Vec<String>,
}

impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut keys: Vec<&String> = self.single.keys().collect();
        keys.sort();
        let mut map = f.debug_map();
        for k in keys {
            if super::redact::FORM_SHOWN.contains(&k.as_str()) {
                map.entry(k, &self.single[k]);
            } else {
                map.entry(k, &"[REDACTED]");
            }
        }
        map.entry(&"audience", &self.audiences).finish()
    }
}

impl Form {
    fn get(&self, key: &str) -> Option<&str> {
        self.single
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// The form body, or an RFC 6749 error: past the 64 KiB limit a 413 (axum's own rejection
/// would be plain text), otherwise 400 `invalid_request`.
fn read_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, OAuthError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            OAuthError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                "The request body is larger than 64 KiB.",
            )
        } else {
            OAuthError::invalid_request("The request body could not be read.")
        }
    })
}

pub(super) fn parse_form(headers: &HeaderMap, body: &[u8]) -> Result<Form, OAuthError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    {
        return Err(OAuthError::invalid_request(
            "The body must be application/x-www-form-urlencoded.",
        ));
    }
    let mut form = Form::default();
    for (k, v) in url::form_urlencoded::parse(body) {
        if k == "audience" || k == "resource" {
            form.audiences.push(v.into_owned());
        } else if form.single.insert(k.to_string(), v.into_owned()).is_some() {
            return Err(OAuthError::invalid_request(format!(
                "The parameter '{k}' appears more than once."
            )));
        }
    }
    Ok(form)
}

/// Authenticates the calling client by Basic or by form fields.
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    form: &Form,
) -> Result<Arc<ClientRecord>, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, creds)| creds.trim().to_string());
    let posted = form.get("client_secret");
    let (id, secret) = match (basic, posted) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(
                "Use one client authentication method, not two.",
            ));
        }
        (Some(b), None) => {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|_| OAuthError::invalid_client())?;
            let raw = String::from_utf8(raw).map_err(|_| OAuthError::invalid_client())?;
            let (id, secret) = raw.split_once(':').ok_or_else(OAuthError::invalid_client)?;
            // RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
            let decode = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            (decode(id), decode(secret))
        }
        (None, Some(secret)) => (
            form.get("client_id").unwrap_or("").to_string(),
            secret.to_string(),
        ),
        (None, None) => return Err(OAuthError::invalid_client()),
    };
    if id.is_empty() || id.len() > 200 {
        return Err(OAuthError::invalid_client());
    }
    Ok(state
        .sesame
        .oauth()
        .authenticate_client(&id, &SecretString::from(secret))
        .await?)
}

/// RFC 8693's grant type and token type identifiers.
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponseBody {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    pub expires_in: u64,
    /// Space-separated scopes granted.
    pub scope: String,
    /// Token exchange only (RFC 8693): the type of the issued token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

/// The grant types `POST /oauth/token` serves.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub enum GrantType {
    #[schema(rename = "client_credentials")]
    ClientCredentials,
    #[schema(rename = "urn:ietf:params:oauth:grant-type:token-exchange")]
    TokenExchange,
}

/// The form of `POST /oauth/token`, for the document only: the handler reads the form itself
/// (to refuse repeated parameters and to take `audience`/`resource` more than once).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct TokenForm {
    grant_type: GrantType,
    /// With `client_secret`, instead of HTTP Basic (not both).
    #[schema(value_type = String, required = false)]
    client_id: Option<String>,
    #[schema(value_type = String, required = false)]
    client_secret: Option<String>,
    /// Repeatable; `resource` is a synonym. Default: the client's first audience.
    #[schema(value_type = String, required = false)]
    audience: Option<String>,
    /// Space-separated; default: all of the client's scopes.
    #[schema(value_type = String, required = false)]
    scope: Option<String>,
    /// Token exchange: the user's access token; its `aud` must include one of the client's
    /// audiences.
    #[schema(value_type = String, required = false)]
    subject_token: Option<String>,
    /// Token exchange: `urn:ietf:params:oauth:token-type:access_token`.
    #[schema(value_type = String, required = false)]
    subject_token_type: Option<String>,
    /// Token exchange: only `urn:ietf:params:oauth:token-type:access_token`.
    #[schema(value_type = String, required = false)]
    requested_token_type: Option<String>,
}

/// The form of `POST /oauth/introspect` and `POST /oauth/revoke` (document only).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct TokenHintForm {
    /// The token to introspect or revoke.
    token: String,
    /// `access_token` or `refresh_token`; a hint, not a constraint (introspection answers
    /// `{active: false}` for refresh tokens whatever the hint).
    #[schema(value_type = String, required = false)]
    token_type_hint: Option<String>,
    /// With `client_secret`, instead of HTTP Basic (not both).
    #[schema(value_type = String, required = false)]
    client_id: Option<String>,
    #[schema(value_type = String, required = false)]
    client_secret: Option<String>,
}

/// Issue a service token (client credentials), or exchange a user's access token issued for one
/// of the client's audiences for a token acting for that user (RFC 8693): the new token carries
/// only the user's roles the client may delegate (`delegable_roles`), keeps `sub`/`sid`, adds
/// `act: {sub: client_id}` and never outlives the subject token. Form-encoded.
#[utoipa::path(post, path = "/oauth/token", tag = "oauth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded",
        description = "grant_type=client_credentials, or grant_type=urn:ietf:params:oauth:grant-type:token-exchange with subject_token and subject_token_type=urn:ietf:params:oauth:token-type:access_token; client_id + client_secret (or HTTP Basic); optional audience (or resource, repeatable) and scope"),
    responses(
        (status = 200, description = "A service access token", body = TokenResponseBody),
        (status = 400, description = "invalid_request, unsupported_grant_type, invalid_scope or invalid_target; token exchange: invalid_grant when the subject token is invalid, expired, revoked, not a user's, or issued for none of the client's audiences", body = OAuthErrorBody),
        (status = 401, description = "invalid_client", body = OAuthErrorBody),
        (status = 429, description = "rate_limited (with Retry-After)", body = super::error::ErrorBody),
    ))]
pub async fn token(
    _limit: Limited<TOKEN>,
    State(state): State<AppState>,
    caller: Client,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OAuthError> {
    let caller = caller.0;
    let form = parse_form(&headers, &read_body(body)?)?;
    let grant = form
        .get("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required."))?;
    let exchange = match grant {
        "client_credentials" => false,
        TOKEN_EXCHANGE => true,
        "authorization_code" | "refresh_token" => {
            return app_grant(&state, &headers, &form, grant, &caller).await;
        }
        other => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("The grant type '{other}' is not supported."),
            ));
        }
    };
    let client = authenticate(&state, &headers, &form).await?;
    let issued = if exchange {
        let subject = form
            .get("subject_token")
            .ok_or_else(|| OAuthError::invalid_request("subject_token is required."))?;
        if form.get("subject_token_type") != Some(ACCESS_TOKEN_TYPE) {
            return Err(OAuthError::invalid_request(format!(
                "subject_token_type must be {ACCESS_TOKEN_TYPE}."
            )));
        }
        if form
            .get("requested_token_type")
            .is_some_and(|t| t != ACCESS_TOKEN_TYPE)
        {
            return Err(OAuthError::invalid_request(format!(
                "Only {ACCESS_TOKEN_TYPE} can be requested."
            )));
        }
        state
            .sesame
            .oauth()
            .exchange_token(&client, subject, form.audiences.clone(), form.get("scope"))
            .await?
    } else {
        state
            .sesame
            .oauth()
            .client_token(&client, form.audiences.clone(), form.get("scope"))
            .await?
    };
    let mut res = Json(TokenResponseBody {
        access_token: issued.access_token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        scope: issued.scope,
        issued_token_type: exchange.then_some(ACCESS_TOKEN_TYPE),
    })
    .into_response();
    no_store(res.headers_mut());
    Ok(res)
}

/// The calling client: a public one by its `client_id` alone (PKCE, or the token it holds, is
/// its proof), any other by its credentials.
async fn client_of(
    state: &AppState,
    headers: &HeaderMap,
    form: &Form,
) -> Result<Arc<ClientRecord>, OAuthError> {
    let has_secret =
        form.get("client_secret").is_some() || headers.contains_key(header::AUTHORIZATION);
    match (has_secret, form.get("client_id")) {
        (false, Some(id)) if id.len() <= 200 => Ok(state.sesame.oauth().public_client(id).await?),
        _ => authenticate(state, headers, form).await,
    }
}

/// The grants of apps people sign in to (issue #18): `authorization_code` and `refresh_token`.
/// A public client names itself with `client_id` and no secret (PKCE is its proof); a
/// confidential one authenticates as for the other grants.
async fn app_grant(
    state: &AppState,
    headers: &HeaderMap,
    form: &Form,
    grant: &str,
    caller: &sesame_core::sessions::ClientInfo,
) -> Result<Response, OAuthError> {
    let has_secret =
        form.get("client_secret").is_some() || headers.contains_key(header::AUTHORIZATION);
    let client = match (has_secret, form.get("client_id")) {
        (false, Some(id)) if id.len() <= 200 => state.sesame.oauth().public_client(id).await?,
        _ => authenticate(state, headers, form).await?,
    };
    let oidc = state.sesame.oidc();
    let tokens = if grant == "authorization_code" {
        let code = form
            .get("code")
            .ok_or_else(|| OAuthError::invalid_request("code is required."))?;
        oidc.exchange_code(
            &client,
            sesame_core::oidc::CodeExchange {
                code,
                redirect_uri: form.get("redirect_uri"),
                code_verifier: form.get("code_verifier"),
                resource: &form.audiences,
            },
            caller,
        )
        .await?
    } else {
        let refresh = form
            .get("refresh_token")
            .ok_or_else(|| OAuthError::invalid_request("refresh_token is required."))?;
        oidc.refresh(&client, refresh, caller).await?
    };
    let mut res = Json(AppTokenBody {
        access_token: tokens.access_token,
        token_type: "Bearer",
        expires_in: tokens.expires_in,
        scope: tokens.scope,
        id_token: tokens.id_token,
        refresh_token: tokens.refresh_token,
    })
    .into_response();
    no_store(res.headers_mut());
    Ok(res)
}

/// The token response of the code and refresh grants.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppTokenBody {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    pub expires_in: u64,
    pub scope: String,
    /// With scope `openid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// With scope `offline_access`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// RFC 7662 introspection: whether an access token is active now (not expired, not revoked, and
/// not issued before its user lost a role). Client authentication required. `{active: false}`
/// also for a token the caller has no business with (RFC 7662 §2.2): a refresh token, or an
/// access token none of whose audiences is the caller's.
#[utoipa::path(post, path = "/oauth/introspect", tag = "oauth",
    request_body(content = TokenHintForm, content_type = "application/x-www-form-urlencoded", description = "token, token_type_hint?; client_id + client_secret (or HTTP Basic)"),
    responses(
        (status = 200, description = "{active: true, sub, client_id, aud, exp, iat, scope, sid, roles, token_type} for a live access token one of whose audiences is the caller's; otherwise {active: false} (also for refresh tokens)", body = Object),
        (status = 400, description = "invalid_request", body = OAuthErrorBody),
        (status = 401, description = "invalid_client", body = OAuthErrorBody),
    ))]
pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OAuthError> {
    let form = parse_form(&headers, &read_body(body)?)?;
    let caller = authenticate(&state, &headers, &form).await?;
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required."))?;
    // `token_type_hint` is accepted and not needed: only access tokens can be active here.
    let answer = state.sesame.oauth().introspect(&caller, token).await?;
    let mut res = Json(answer).into_response();
    no_store(res.headers_mut());
    Ok(res)
}

/// RFC 7009 revocation: a refresh token ends its session, an access token is deny-listed until
/// it expires. Always 200 for an authenticated client, whatever the token.
#[utoipa::path(post, path = "/oauth/revoke", tag = "oauth",
    request_body(content = TokenHintForm, content_type = "application/x-www-form-urlencoded", description = "token, token_type_hint?; client_id + client_secret (or HTTP Basic)"),
    responses(
        (status = 200, description = "Revoked (or nothing to revoke)"),
        (status = 400, description = "invalid_request", body = OAuthErrorBody),
        (status = 401, description = "invalid_client", body = OAuthErrorBody),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    Client(info): Client,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OAuthError> {
    let form = parse_form(&headers, &read_body(body)?)?;
    // A public app (no secret) names itself to revoke its own refresh token (RFC 7009 §2.1).
    let client = client_of(&state, &headers, &form).await?;
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required."))?;
    state
        .sesame
        .oauth()
        .revoke_token(token, &client.client_id, &info)
        .await?;
    let mut res = StatusCode::OK.into_response();
    no_store(res.headers_mut());
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sesame_core::store::StoreError;

    // Issue #16.2: a 503 of the OAuth endpoints is an RFC 6749 body with `Retry-After`, and its
    // cause rides along for the log only. (Provoking a real outage is
    // `replicas/faults.rs`'s business; the 500 is provoked for real in `api/oauth.rs`.)
    #[tokio::test]
    async fn a_database_outage_answers_temporarily_unavailable_in_rfc_6749_form() {
        let outage = StoreError::Unavailable(Box::new(std::io::Error::other("connection refused")));
        let res = OAuthError::from(CoreError::Unavailable(outage)).into_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers()[header::RETRY_AFTER], "1");
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(
            super::super::error::attached_cause(&res).as_deref(),
            Some("the database is unavailable: database unavailable: connection refused"),
            "the whole cause is attached for log_errors"
        );
        let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
            json!({
                "error": "temporarily_unavailable",
                "error_description": "The service is temporarily unavailable."
            })
        );
    }
}
