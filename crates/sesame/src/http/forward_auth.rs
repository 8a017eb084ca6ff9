//! Forward authentication for gateways: nginx `auth_request`, Traefik `forwardAuth` and Envoy
//! `ext_authz` (HTTP mode) ask here whether to let a request through.
//!
//! Route: any method on /auth/verify (and /auth/verify/{*rest}, since Envoy appends the original
//! path to its path prefix). Query `audience=` / `role=` (or headers `X-Sesame-Audience` /
//! `X-Sesame-Role`, for gateways that cannot add a query) narrow the check. 200 carries
//! `X-Auth-Subject`, `X-Auth-Roles`, `X-Auth-Session`, `X-Auth-Scope` for the upstream; 401 for
//! a missing, invalid, expired or revoked token; 403 for the wrong audience or a missing role.

use axum::Router;
use axum::extract::{FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use sesame_core::CoreError;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::bearer_token;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/verify", any(verify))
        .route("/auth/verify/{*rest}", any(verify))
}

/// The bearer token, taken from the request's parts without consuming the body.
#[derive(Debug)]
pub struct Bearer(Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Bearer(bearer_token(parts).map(str::to_string)))
    }
}

fn param(
    query: &[(String, String)],
    headers: &HeaderMap,
    name: &str,
    header: &str,
) -> Option<String> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .or_else(|| {
            headers
                .get(header)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .filter(|v| !v.is_empty())
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

/// Decide whether a gateway should let a request through.
#[utoipa::path(get, path = "/auth/verify", tag = "gateway", security(("bearer" = [])),
    params(
        ("audience" = Option<String>, Query, description = "The token's aud must contain this"),
        ("role" = Option<String>, Query, description = "The token must carry this role"),
    ),
    responses(
        (status = 200, description = "Allowed; X-Auth-Subject, X-Auth-Roles, X-Auth-Session, X-Auth-Scope headers"),
        (status = 401, description = "not_authenticated, token_invalid, token_expired or token_revoked", body = ErrorBody),
        (status = 403, description = "forbidden: wrong audience or missing role", body = ErrorBody),
    ))]
pub async fn verify(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let token = token.ok_or_else(ApiError::not_authenticated)?;
    let audience = param(&query, &headers, "audience", "x-sesame-audience");
    let role = param(&query, &headers, "role", "x-sesame-role");
    let claims = state
        .sesame
        .check_access_token(&token, audience.as_deref())
        .await
        .map_err(|e| match e {
            CoreError::Forbidden => ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "The token is not meant for this audience.",
            ),
            other => other.into(),
        })?;
    if let Some(role) = role
        && !claims.has_role(&role)
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "The token does not carry the required role.",
        ));
    }
    let mut res = StatusCode::OK.into_response();
    let h = res.headers_mut();
    set(h, "x-auth-subject", &claims.sub);
    set(h, "x-auth-roles", &claims.roles.join(","));
    set(h, "x-auth-session", claims.sid.as_deref().unwrap_or(""));
    set(h, "x-auth-scope", claims.scope.as_deref().unwrap_or(""));
    set(h, "x-auth-client", &claims.client_id);
    Ok(res)
}
