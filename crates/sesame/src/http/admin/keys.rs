//! The signing keys, as operators see them: what is published, and rotation on demand.
//!
//! Routes: GET /admin/keys, POST /admin/keys/rotate

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::AdminUser;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub kid: String,
    /// access (access tokens, status lists) | id_token (OpenID Connect ID tokens)
    pub purpose: String,
    pub alg: String,
    /// next | current | retired
    pub state: String,
    pub created_at: DateTime<Utc>,
    /// When it started signing (none yet for a next key, nor for the first ID-token key: see
    /// docs/decisions.md).
    pub activated_at: Option<DateTime<Utc>>,
    /// For a retired key: when it leaves the JWKS.
    pub retire_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyView>,
}

fn key_list(state: &AppState) -> KeyList {
    let ring = state.sesame.key_ring().current();
    KeyList {
        keys: ring
            .published
            .iter()
            .map(|k| KeyView {
                kid: k.jwk.kid.clone(),
                purpose: k.purpose.as_str().to_string(),
                alg: k.jwk.alg.clone(),
                state: k.state.as_str().to_string(),
                created_at: k.created_at,
                activated_at: k.activated_at,
                retire_until: k.retire_until,
            })
            .collect(),
    }
}

/// Published signing keys of both families and their states (never private material).
#[utoipa::path(get, path = "/admin/keys", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "Keys", body = KeyList),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 403, description = "forbidden (not an admin), or mfa_required (SESAME_MFA_REQUIRED_ROLES: sign in with a second factor)", body = ErrorBody),
    ))]
pub async fn list_keys(State(state): State<AppState>, _admin: AdminUser) -> Json<KeyList> {
    Json(key_list(&state))
}

/// Rotate both key families (access and ID-token): each promotes its published next key to
/// signing and publishes a fresh next key.
#[utoipa::path(post, path = "/admin/keys/rotate", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "Keys after the rotation", body = KeyList),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 403, description = "forbidden (not an admin), or mfa_required (SESAME_MFA_REQUIRED_ROLES: sign in with a second factor)", body = ErrorBody),
    ))]
pub async fn rotate_keys(
    State(state): State<AppState>,
    AdminUser(actor): AdminUser,
) -> Result<Json<KeyList>, ApiError> {
    state
        .sesame
        .keys()
        .rotate(Some(actor.admin_id), &actor.client)
        .await?;
    Ok(Json(key_list(&state)))
}
