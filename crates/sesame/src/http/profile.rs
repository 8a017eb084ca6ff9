//! The signed-in user's profile and preferences.
//!
//! Routes (`/users/me` is an alias of `/profile`):
//! - GET, PUT, PATCH, DELETE /profile
//! - GET, PUT /profile/preferences

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize};
use sesame_core::accounts::ProfileUpdate;
use sesame_core::profile_cache::Profile;
use sesame_core::sessions::user_id_of;
use sesame_core::store::UserRecord;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{AppJson, AuthUser, Client};
use super::openapi::with_alias;
use super::ratelimit::{LOGIN, Limited};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .merge(with_alias(
            routes!(show, update, update_patch, remove),
            "/users/me",
        ))
        .merge(with_alias(
            routes!(preferences, set_preferences),
            "/users/me/preferences",
        ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileView {
    pub id: Uuid,
    pub email: String,
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub roles: Vec<String>,
    pub email_verified: bool,
    /// A new address waiting for its verification link to be used; `email` changes to it
    /// then. Absent when no change is pending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Profile> for ProfileView {
    fn from(p: &Profile) -> Self {
        ProfileView {
            id: p.id,
            email: p.email.clone(),
            username: p.username.clone(),
            display_name: p.display_name.clone(),
            roles: p.roles.clone(),
            email_verified: p.email_verified,
            pending_email: p.pending_email.clone(),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// The profile with its pending email change, if any.
async fn view(state: &AppState, user: UserRecord) -> Result<ProfileView, ApiError> {
    let pending = state.sesame.recovery().pending_email(user.id).await?;
    Ok(ProfileView::from(&Profile::new(user, pending)))
}

/// Absent → `None` (unchanged); `null` → `Some(None)` (cleared); a value → `Some(Some(v))`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ProfileUpdateRequest {
    /// `null` removes the username.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub username: Option<Option<String>>,
    /// `null` removes the display name.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub display_name: Option<Option<String>>,
    /// Changing the email needs `current_password`. The new address is not used at once: it
    /// is mailed a verification link and shows as `pending_email` until that link is used,
    /// when it replaces `email` (and `email_verified` is true).
    pub email: Option<String>,
    #[schema(value_type = Option<String>)]
    pub current_password: Option<SecretString>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DeleteProfileRequest {
    #[schema(value_type = String)]
    pub password: Option<SecretString>,
}

/// The signed-in user's profile.
#[utoipa::path(get, path = "/profile", tag = "profile", security(("bearer" = [])),
    responses(
        (status = 200, description = "The profile", body = ProfileView),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<ProfileView>, ApiError> {
    let profile = state
        .sesame
        .accounts()
        .profile_view(user_id_of(&user.claims)?)
        .await?;
    Ok(Json(ProfileView::from(&*profile)))
}

/// Update the profile; omitted fields stay as they are.
#[utoipa::path(put, path = "/profile", tag = "profile", security(("bearer" = [])), request_body = ProfileUpdateRequest,
    responses(
        (status = 200, description = "The updated profile; after an email change, `email` is unchanged and `pending_email` holds the new address until its verification link is used", body = ProfileView),
        (status = 400, description = "invalid_request, invalid_current_password (a wrong current password counts toward the lockout)", body = ErrorBody),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 403, description = "account_locked (with Retry-After): too many wrong passwords from this source; the current password was not checked", body = ErrorBody),
        (status = 409, description = "email_taken or username_taken", body = ErrorBody),
        (status = 429, description = "rate_limited (with Retry-After)", body = ErrorBody),
    ))]
pub async fn update(
    _limit: Limited<LOGIN>,
    State(state): State<AppState>,
    Client(client): Client,
    user: AuthUser,
    AppJson(body): AppJson<ProfileUpdateRequest>,
) -> Result<Json<ProfileView>, ApiError> {
    let change = ProfileUpdate {
        username: body.username.map(|u| u.filter(|s| !s.trim().is_empty())),
        display_name: body.display_name,
        email: body.email,
        current_password: body.current_password,
    };
    let record = state
        .sesame
        .accounts()
        .update_profile(user_id_of(&user.claims)?, change, &client)
        .await?;
    Ok(Json(view(&state, record).await?))
}

/// Update the profile (same as PUT: omitted fields stay as they are).
#[utoipa::path(patch, path = "/profile", tag = "profile", security(("bearer" = [])), request_body = ProfileUpdateRequest,
    responses(
        (status = 200, description = "The updated profile; after an email change, `email` is unchanged and `pending_email` holds the new address until its verification link is used", body = ProfileView),
        (status = 400, description = "invalid_request, invalid_current_password (a wrong current password counts toward the lockout)", body = ErrorBody),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 403, description = "account_locked (with Retry-After): too many wrong passwords from this source; the current password was not checked", body = ErrorBody),
        (status = 409, description = "email_taken or username_taken", body = ErrorBody),
        (status = 429, description = "rate_limited (with Retry-After)", body = ErrorBody),
    ))]
pub async fn update_patch(
    limit: Limited<LOGIN>,
    state: State<AppState>,
    client: Client,
    user: AuthUser,
    body: AppJson<ProfileUpdateRequest>,
) -> Result<Json<ProfileView>, ApiError> {
    update(limit, state, client, user, body).await
}

/// Delete the account: the user, its roles, sessions and preferences.
#[utoipa::path(delete, path = "/profile", tag = "profile", security(("bearer" = [])), request_body = DeleteProfileRequest,
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "invalid_request or invalid_current_password (a wrong password counts toward the lockout)", body = ErrorBody),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 403, description = "account_locked (with Retry-After): too many wrong passwords from this source; the password was not checked", body = ErrorBody),
        (status = 409, description = "last_admin: the user is the last active admin", body = ErrorBody),
        (status = 429, description = "rate_limited (with Retry-After)", body = ErrorBody),
    ))]
pub async fn remove(
    _limit: Limited<LOGIN>,
    State(state): State<AppState>,
    Client(client): Client,
    user: AuthUser,
    AppJson(body): AppJson<DeleteProfileRequest>,
) -> Result<StatusCode, ApiError> {
    let password = body
        .password
        .ok_or_else(|| ApiError::required("password"))?;
    state
        .sesame
        .accounts()
        .delete_account(user_id_of(&user.claims)?, &password, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The user's stored preferences (`{}` at first).
#[utoipa::path(get, path = "/profile/preferences", tag = "profile", security(("bearer" = [])),
    responses(
        (status = 200, description = "A JSON object", body = Object),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
    ))]
pub async fn preferences(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(
        state
            .sesame
            .accounts()
            .preferences(user_id_of(&user.claims)?)
            .await?,
    ))
}

/// Replace the stored preferences with a JSON object of at most 16 KiB.
#[utoipa::path(put, path = "/profile/preferences", tag = "profile", security(("bearer" = [])), request_body = Object,
    responses(
        (status = 200, description = "The stored object", body = Object),
        (status = 400, description = "invalid_request: not an object or over 16 KiB", body = ErrorBody),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
    ))]
pub async fn set_preferences(
    State(state): State<AppState>,
    user: AuthUser,
    AppJson(body): AppJson<serde_json::Value>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(
        state
            .sesame
            .accounts()
            .set_preferences(user_id_of(&user.claims)?, body)
            .await?,
    ))
}
