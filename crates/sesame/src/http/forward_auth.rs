//! Forward authentication for gateways: nginx `auth_request`, Traefik `forwardAuth` and Envoy
//! `ext_authz` (HTTP mode) ask here whether to let a request through.
//!
//! Route: any method on /auth/verify (and /auth/verify/{*rest}, since Envoy appends the original
//! path to its path prefix). Query `audience=` / `role=` / `acr=` and headers
//! `X-Sesame-Audience` / `X-Sesame-Role` / `X-Sesame-Acr` narrow the check; when several are given, ALL must hold, so a client that
//! manages to add one can only narrow the check, never widen it. On `/auth/verify/{*rest}` the
//! query is ignored: there it is the client's own query string (Envoy appends it). 200 carries
//! `X-Auth-Subject`, `X-Auth-Roles`, `X-Auth-Session`, `X-Auth-Scope`, `X-Auth-Client` for the
//! upstream; 401 for a missing, invalid, expired or revoked token (revoked includes a token
//! issued before its user lost a role: its `roles` are stale); 403 for the wrong audience or a
//! missing role, and 403 `mfa_required` for a sign-in weaker than `acr=` asks (`aal2`: with a
//! second factor) — step-up at the gateway.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::any;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use serde::Deserialize;

use super::extract::{AppQuery, OptionalBearer};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        // Documented as GET, answered for every method: gateways forward the original one.
        .routes(routes!(verify).map(|_| any(verify)))
        // Not in the document: an OpenAPI path template cannot match the several segments of
        // the original path that Envoy appends.
        .route("/auth/verify/{*rest}", any(verify_prefixed))
}

/// The constraints a gateway may put in the query: each may be repeated, and every value must
/// hold.
#[derive(Debug, Default, Deserialize)]
pub struct GateQuery {
    #[serde(default)]
    audience: Vec<String>,
    #[serde(default)]
    role: Vec<String>,
    #[serde(default)]
    acr: Vec<String>,
}

/// Every value of a constraint: from the query (when trusted) and from the header.
fn constraint(query: &[String], headers: &HeaderMap, header: &str) -> Vec<String> {
    query
        .iter()
        .cloned()
        .chain(
            headers
                .get_all(header)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(str::to_string),
        )
        .filter(|v| !v.is_empty())
        .collect()
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
        ("acr" = Option<String>, Query, description = "The token's sign-in must reach this level: aal1, or aal2 (with a second factor)"),
    ),
    responses(
        (status = 200, description = "Allowed; X-Auth-Subject, X-Auth-Roles, X-Auth-Session, X-Auth-Scope, X-Auth-Client headers"),
        (status = 401, description = "not_authenticated, token_invalid, token_expired or token_revoked", body = ErrorBody),
        (status = 403, description = "forbidden (wrong audience or missing role), or mfa_required (a sign-in weaker than `acr` asks)", body = ErrorBody),
    ))]
pub async fn verify(
    State(state): State<AppState>,
    OptionalBearer(token): OptionalBearer,
    headers: HeaderMap,
    AppQuery(query): AppQuery<GateQuery>,
) -> Result<Response, ApiError> {
    decide(&state, token, &headers, &query).await
}

/// Envoy's form: the original path (and the client's query) follow the prefix, so only the
/// headers the gateway adds are trusted for constraints.
pub async fn verify_prefixed(
    State(state): State<AppState>,
    OptionalBearer(token): OptionalBearer,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    decide(&state, token, &headers, &GateQuery::default()).await
}

async fn decide(
    state: &AppState,
    token: Option<String>,
    headers: &HeaderMap,
    query: &GateQuery,
) -> Result<Response, ApiError> {
    let token = token.ok_or_else(ApiError::not_authenticated)?;
    let audiences = constraint(&query.audience, headers, "x-sesame-audience");
    let roles = constraint(&query.role, headers, "x-sesame-role");
    let acrs = constraint(&query.acr, headers, "x-sesame-acr");
    let claims = state
        .sesame
        .oauth()
        .check_access_token(&token, None)
        .await?;
    // Without a constraint the gateway guards Sesame's own audience: a token issued for another
    // service must not pass a gate that never named one.
    let allowed = if audiences.is_empty() {
        claims.aud.contains(state.sesame.sessions().own_audience())
    } else {
        audiences.iter().all(|a| claims.aud.contains(a))
    };
    if !allowed {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "The token is not meant for this audience.",
        ));
    }
    if !roles.iter().all(|r| claims.has_role(r)) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "The token does not carry the required role.",
        ));
    }
    if !acrs.iter().all(|a| claims.meets_acr(a)) {
        return Err(sesame_core::CoreError::StepUpRequired.into());
    }
    // Sized for the five headers here and the request id added on the way out: growing a
    // header map rehashes it, which showed in profiles of this, the busiest route.
    let mut res = Response::new(axum::body::Body::empty());
    *res.headers_mut() = HeaderMap::with_capacity(8);
    let h = res.headers_mut();
    set(h, "x-auth-subject", &claims.sub);
    set(h, "x-auth-roles", &claims.roles.join(","));
    set(h, "x-auth-session", claims.sid.as_deref().unwrap_or(""));
    set(h, "x-auth-scope", claims.scope.as_deref().unwrap_or(""));
    set(h, "x-auth-client", &claims.client_id);
    Ok(res)
}
