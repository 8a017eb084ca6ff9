//! RFC 7591 dynamic client registration: an app (an MCP client, a CLI) registers itself as a
//! public client of the code flow, when the operator allows it (`SESAME_DYNAMIC_REGISTRATION`).
//!
//! Routes:
//! - POST /oauth/register

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sesame_core::CoreError;
use sesame_core::clients::DynamicRegistration;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::ApiError;
use super::extract::Client;
use super::no_store::no_store;
use super::oauth::{OAuthError, OAuthErrorBody};
use super::ratelimit::{Limited, REGISTER};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default().routes(routes!(register))
}

/// Client metadata (RFC 7591 §2). Members Sesame does not use are ignored, as the RFC asks.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegistrationRequest {
    pub redirect_uris: Option<Vec<String>>,
    pub client_name: Option<String>,
    /// Only `none`: self-registered clients are public (PKCE is their proof).
    pub token_endpoint_auth_method: Option<String>,
    /// `authorization_code` (the default) and `refresh_token`.
    pub grant_types: Option<Vec<String>>,
    /// Only `code`.
    pub response_types: Option<Vec<String>>,
    /// Space-separated, from `openid profile email offline_access` (default `openid`).
    pub scope: Option<String>,
}

/// The registered metadata (RFC 7591 §3.2.1).
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationResponse {
    pub client_id: String,
    pub client_id_issued_at: i64,
    pub client_name: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub response_types: Vec<String>,
    pub token_endpoint_auth_method: String,
    pub scope: String,
}

/// Register a public client (RFC 7591). 404 unless `SESAME_DYNAMIC_REGISTRATION=on`.
#[utoipa::path(post, path = "/oauth/register", tag = "oauth", request_body = RegistrationRequest,
    responses(
        (status = 201, description = "Registered", body = RegistrationResponse),
        (status = 400, description = "invalid_redirect_uri or invalid_client_metadata", body = OAuthErrorBody),
        (status = 404, description = "Dynamic registration is off", body = super::error::ErrorBody),
        (status = 429, description = "rate_limited", body = super::error::ErrorBody),
    ))]
pub async fn register(
    State(state): State<AppState>,
    _limit: Limited<REGISTER>,
    client: Client,
    body: Bytes,
) -> Response {
    let clients = state.sesame.clients();
    if !clients.dynamic_registration() {
        return ApiError::not_found().into_response();
    }
    let req: RegistrationRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return metadata_error(format!("the body is not client metadata as JSON: {e}"))
                .into_response();
        }
    };
    let input = DynamicRegistration {
        client_name: req.client_name,
        redirect_uris: req.redirect_uris.unwrap_or_default(),
        token_endpoint_auth_method: req.token_endpoint_auth_method,
        grant_types: req.grant_types,
        response_types: req.response_types,
        scope: req.scope,
    };
    match clients.register_dynamic(input, &client.0).await {
        Ok(created) => {
            let c = created.client;
            let mut res = (
                StatusCode::CREATED,
                Json(RegistrationResponse {
                    client_id: c.client_id,
                    client_id_issued_at: c.created_at.timestamp(),
                    client_name: c.name,
                    redirect_uris: c.redirect_uris,
                    grant_types: c.grant_types,
                    response_types: vec!["code".into()],
                    token_endpoint_auth_method: "none".into(),
                    scope: c.scopes.join(" "),
                }),
            )
                .into_response();
            no_store(res.headers_mut());
            res
        }
        // RFC 7591 §3.2.2: bad redirect URIs have their own code — when they are what is wrong;
        // a refusal that names other fields too is about the metadata as a whole.
        Err(CoreError::Validation(fields)) => {
            let text = fields
                .iter()
                .map(|(k, v)| format!("{k}: {}", v.join(", ")))
                .collect::<Vec<_>>()
                .join("; ");
            if fields.keys().all(|k| k == "redirect_uris") {
                OAuthError::new(StatusCode::BAD_REQUEST, "invalid_redirect_uri", text)
                    .into_response()
            } else {
                metadata_error(text).into_response()
            }
        }
        Err(e) => OAuthError::from(e).into_response(),
    }
}

fn metadata_error(text: String) -> OAuthError {
    OAuthError::new(StatusCode::BAD_REQUEST, "invalid_client_metadata", text)
}
