//! The signed-in user's sessions.
//!
//! Routes:
//! - GET /auth/sessions
//! - DELETE /auth/sessions/{id}

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sesame_core::sessions::{session_id_of, user_id_of};
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
        .routes(routes!(end))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Whether this is the session of the token making the request.
    pub current: bool,
    /// How the session is carried: `api` (refresh and access tokens) or `browser` (the
    /// `__Host-sesame` cookie of Sesame's own pages).
    #[schema(example = "api")]
    pub kind: &'static str,
    /// For an app's session (Sign in with Sesame): the app's client id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionView>,
}

/// List the signed-in user's live sessions, newest first.
#[utoipa::path(get, path = "/auth/sessions", tag = "sessions", security(("bearer" = [])),
    responses(
        (status = 200, description = "Live sessions", body = SessionList),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<SessionList>, ApiError> {
    let user_id = user_id_of(&user.claims)?;
    let current = session_id_of(&user.claims);
    let sessions = state
        .sesame
        .sessions()
        .list(user_id)
        .await?
        .into_iter()
        .map(|s| SessionView {
            current: Some(s.id) == current,
            kind: s.kind.as_str(),
            client_id: s.app.map(|a| a.client_id),
            id: s.id,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            expires_at: s.expires_at,
            ip: s.ip,
            user_agent: s.user_agent,
        })
        .collect();
    Ok(Json(SessionList { sessions }))
}

/// End one of the signed-in user's sessions.
#[utoipa::path(delete, path = "/auth/sessions/{id}", tag = "sessions", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Session id")),
    responses(
        (status = 204, description = "Ended"),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 404, description = "not_found (also for another user's session)", body = ErrorBody),
    ))]
pub async fn end(
    State(state): State<AppState>,
    Client(client): Client,
    user: AuthUser,
    AppPath(id): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found())?;
    state
        .sesame
        .sessions()
        .end_session(user_id_of(&user.claims)?, id, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
