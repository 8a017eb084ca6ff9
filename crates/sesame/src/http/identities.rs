//! The signed-in user's upstream identities (issue #22): listing and unlinking.
//!
//! Routes (each also answers with a trailing slash):
//! - GET /auth/identities
//! - DELETE /auth/identities/{id}

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sesame_core::sessions::user_id_of;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{AppPath, AuthUser, Client};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(list))
        .routes(routes!(unlink))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityView {
    pub id: Uuid,
    /// The `[[upstream]]` id.
    #[schema(example = "corp")]
    pub provider: String,
    /// The provider's id of the person.
    pub subject: String,
    /// The email the provider gave when it was linked.
    pub email: Option<String>,
    pub linked_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityList {
    pub identities: Vec<IdentityView>,
}

/// The upstream identities linked to the signed-in user.
#[utoipa::path(get, path = "/auth/identities", tag = "identities", security(("bearer" = [])),
    responses(
        (status = 200, description = "The identities, oldest first", body = IdentityList),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<IdentityList>, ApiError> {
    let user_id = user_id_of(&user.claims)?;
    let identities = state.sesame.upstream().identities(user_id).await?;
    Ok(Json(IdentityList {
        identities: identities
            .into_iter()
            .map(|i| IdentityView {
                id: i.id,
                provider: i.provider,
                subject: i.subject,
                email: i.email,
                linked_at: i.linked_at,
            })
            .collect(),
    }))
}

/// Unlink an upstream identity from the signed-in user.
#[utoipa::path(delete, path = "/auth/identities/{id}", tag = "identities", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Identity id")),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 404, description = "not_found (also for another user's identity)", body = ErrorBody),
        (status = 409, description = "last_sign_in_method: the account has no password, passkey or other identity", body = ErrorBody),
    ))]
pub async fn unlink(
    State(state): State<AppState>,
    Client(client): Client,
    user: AuthUser,
    AppPath(id): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found())?;
    let user_id = user_id_of(&user.claims)?;
    state.sesame.upstream().unlink(user_id, id, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}
