//! The JSON side of "Sign in with Sesame" (issue #18): userinfo and the person's app grants.
//! (The authorization endpoint and RP logout are pages, see `pages::authorize`; the code and
//! refresh grants are `/oauth/token`, see `oauth`.)
//!
//! Routes:
//! - GET/POST /oauth/userinfo — OpenID Connect Core §5.3
//! - GET /auth/grants, DELETE /auth/grants/{client_id}

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sesame_core::CoreError;
use sesame_core::sessions::user_id_of;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{AppPath, AuthUser, Client, OptionalBearer};
use super::no_store::no_store;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(userinfo_get, userinfo_post))
        .routes(routes!(grants))
        .routes(routes!(revoke_grant))
}

async fn userinfo(state: &AppState, bearer: OptionalBearer) -> Response {
    let challenge = |error: &str, description: &str| {
        let mut res = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "token_invalid",
            description.to_string(),
        )
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&format!(
            "Bearer realm=\"sesame\", error=\"{error}\", error_description=\"{description}\""
        )) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        res
    };
    let Some(token) = bearer.0 else {
        let mut res = ApiError::not_authenticated().into_response();
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"sesame\""),
        );
        return res;
    };
    match state.sesame.oidc().userinfo(&token).await {
        Ok(claims) => {
            let mut res = Json(claims).into_response();
            no_store(res.headers_mut());
            res
        }
        Err(CoreError::Forbidden) => challenge(
            "insufficient_scope",
            "The token was not issued with scope openid.",
        ),
        Err(CoreError::TokenExpired) => challenge("invalid_token", "The token has expired."),
        Err(CoreError::TokenInvalid | CoreError::TokenRevoked | CoreError::NotFound) => {
            challenge("invalid_token", "The token is invalid or revoked.")
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// OpenID Connect userinfo: `sub`, plus `email`, `email_verified` (scope `email`) and
/// `preferred_username`, `name`, `updated_at` (scope `profile`). Any live access token Sesame
/// issued with scope `openid`, whatever its audience.
#[utoipa::path(get, path = "/oauth/userinfo", tag = "oidc", security(("bearer" = [])),
    responses(
        (status = 200, description = "The person's claims the token's scopes allow", body = Object),
        (status = 401, description = "No token, or not a live access token with scope openid (WWW-Authenticate: Bearer error=…)", body = ErrorBody),
    ))]
pub async fn userinfo_get(State(state): State<AppState>, bearer: OptionalBearer) -> Response {
    userinfo(&state, bearer).await
}

/// The same as `GET /oauth/userinfo` (OpenID Connect Core §5.3.1 allows both).
#[utoipa::path(post, path = "/oauth/userinfo", tag = "oidc", security(("bearer" = [])),
    responses(
        (status = 200, description = "The person's claims the token's scopes allow", body = Object),
        (status = 401, description = "No token, or not a live access token with scope openid", body = ErrorBody),
    ))]
pub async fn userinfo_post(State(state): State<AppState>, bearer: OptionalBearer) -> Response {
    userinfo(&state, bearer).await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GrantView {
    pub client_id: String,
    pub client_name: String,
    pub scopes: Vec<String>,
    pub granted_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GrantList {
    pub grants: Vec<GrantView>,
}

/// The apps the signed-in person allowed, newest first.
#[utoipa::path(get, path = "/auth/grants", tag = "oidc", security(("bearer" = [])),
    responses(
        (status = 200, description = "Consent given to apps", body = GrantList),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
    ))]
pub async fn grants(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<GrantList>, ApiError> {
    let user_id = user_id_of(&user.claims)?;
    let grants = state
        .sesame
        .oidc()
        .grants(user_id)
        .await?
        .into_iter()
        .map(|g| GrantView {
            client_id: g.client_id,
            client_name: g.client_name,
            scopes: g.scopes,
            granted_at: g.granted_at,
        })
        .collect();
    Ok(Json(GrantList { grants }))
}

/// Withdraws consent from an app and revokes every token issued to it for this person.
#[utoipa::path(delete, path = "/auth/grants/{client_id}", tag = "oidc", security(("bearer" = [])),
    params(("client_id" = String, Path, description = "The app")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 404, description = "not_found: no grant and no tokens for that app", body = ErrorBody),
    ))]
pub async fn revoke_grant(
    State(state): State<AppState>,
    user: AuthUser,
    client: Client,
    AppPath(client_id): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    let user_id = user_id_of(&user.claims)?;
    state
        .sesame
        .oidc()
        .revoke_grant(user_id, &client_id, &client.0)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
