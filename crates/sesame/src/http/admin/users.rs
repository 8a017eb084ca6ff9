//! Users, as operators see them: list and search, detail with lockout state, disable, delete,
//! unlock, roles, sessions.
//!
//! Routes:
//! - GET /admin/users?q=&limit=&cursor=, GET/PATCH/DELETE /admin/users/{id}
//! - POST /admin/users/{id}/unlock, PUT /admin/users/{id}/roles, DELETE /admin/users/{id}/sessions

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sesame_core::store::UserRecord;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{AdminUser, page_limit};
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{AppJson, AppPath, AppQuery};

#[derive(Debug, Serialize, ToSchema)]
pub struct UserSummary {
    pub id: Uuid,
    pub email: String,
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub roles: Vec<String>,
    pub email_verified: bool,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserDetail {
    #[serde(flatten)]
    pub user: UserSummary,
    /// The latest lock of the account: of any source (IPv4 address or IPv6 /64) that reached
    /// `lockout.max_failures` wrong passwords, or account-wide. May be in the past.
    pub locked_until: Option<DateTime<Utc>>,
    /// The highest count of wrong passwords, of any source or account-wide.
    pub failed_logins: u32,
    pub last_login_at: Option<DateTime<Utc>>,
}

fn summary(u: &UserRecord) -> UserSummary {
    UserSummary {
        id: u.id,
        email: u.email.clone(),
        username: u.username.clone(),
        display_name: u.display_name.clone(),
        roles: u.roles.clone(),
        email_verified: u.email_verified,
        disabled: u.disabled,
        created_at: u.created_at,
        updated_at: u.updated_at,
    }
}

fn detail(u: UserRecord) -> UserDetail {
    UserDetail {
        user: summary(&u),
        locked_until: u.locked_until,
        failed_logins: u.failed_logins,
        last_login_at: u.last_login_at,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    pub users: Vec<UserSummary>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct UserQuery {
    /// Case-insensitive substring of the email or username.
    q: Option<String>,
    /// 1–200, default 50.
    #[serde(default, deserialize_with = "page_limit")]
    limit: Option<u32>,
    cursor: Option<String>,
}

fn user_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found())
}

/// List users, oldest first, with keyset pagination.
#[utoipa::path(get, path = "/admin/users", tag = "admin", security(("bearer" = [])), params(UserQuery),
    responses(
        (status = 200, description = "A page of users", body = UserPage),
        (status = 400, description = "invalid_request (limit or cursor)", body = ErrorBody),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 403, description = "forbidden (not an admin), or mfa_required (SESAME_MFA_REQUIRED_ROLES: sign in with a second factor)", body = ErrorBody),
    ))]
pub async fn list_users(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppQuery(query): AppQuery<UserQuery>,
) -> Result<Json<UserPage>, ApiError> {
    let page = state
        .sesame
        .admin()
        .list_users(query.q.as_deref(), query.limit, query.cursor.as_deref())
        .await?;
    Ok(Json(UserPage {
        users: page.items.iter().map(summary).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One user, with lockout and login state.
#[utoipa::path(get, path = "/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The user", body = UserDetail),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 403, description = "forbidden (not an admin), or mfa_required (SESAME_MFA_REQUIRED_ROLES: sign in with a second factor)", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
    ))]
pub async fn get_user(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppPath(id): AppPath<String>,
) -> Result<Json<UserDetail>, ApiError> {
    Ok(Json(detail(
        state.sesame.admin().get_user(user_id(&id)?).await?,
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PatchUserRequest {
    /// Disabling ends every session of the user; a disabled user cannot log in or refresh.
    pub disabled: Option<bool>,
}

/// Disable or enable a user.
#[utoipa::path(patch, path = "/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = PatchUserRequest,
    responses(
        (status = 200, description = "The user", body = UserDetail),
        (status = 400, description = "invalid_request", body = ErrorBody),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 403, description = "forbidden (not an admin), or mfa_required (SESAME_MFA_REQUIRED_ROLES: sign in with a second factor)", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
        (status = 409, description = "last_admin: disabling the last active admin is refused", body = ErrorBody),
    ))]
pub async fn patch_user(
    State(state): State<AppState>,
    AdminUser(actor): AdminUser,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<PatchUserRequest>,
) -> Result<Json<UserDetail>, ApiError> {
    let id = user_id(&id)?;
    let user = match body.disabled {
        Some(d) => state.sesame.admin().set_disabled(id, d, &actor).await?,
        None => state.sesame.admin().get_user(id).await?,
    };
    Ok(Json(detail(user)))
}

/// Delete a user with its roles, sessions and preferences.
#[utoipa::path(delete, path = "/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 403, description = "forbidden (not an admin), or mfa_required (SESAME_MFA_REQUIRED_ROLES: sign in with a second factor)", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
        (status = 409, description = "last_admin: deleting the last active admin is refused", body = ErrorBody),
    ))]
pub async fn delete_user(
    State(state): State<AppState>,
    AdminUser(actor): AdminUser,
    AppPath(id): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    state
        .sesame
        .admin()
        .delete_user(user_id(&id)?, &actor)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Clear every lock and failure count of the user: each source's and the account-wide one.
#[utoipa::path(post, path = "/admin/users/{id}/unlock", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The user", body = UserDetail),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 403, description = "forbidden (not an admin), or mfa_required (SESAME_MFA_REQUIRED_ROLES: sign in with a second factor)", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
    ))]
pub async fn unlock(
    State(state): State<AppState>,
    AdminUser(actor): AdminUser,
    AppPath(id): AppPath<String>,
) -> Result<Json<UserDetail>, ApiError> {
    Ok(Json(detail(
        state.sesame.admin().unlock(user_id(&id)?, &actor).await?,
    )))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct RolesBody {
    #[schema(value_type = Vec<String>)]
    pub roles: Option<Vec<String>>,
}

/// Replace a user's roles; they appear in the user's next refreshed access token. Removing a
/// role also makes forward-auth and introspection refuse the user's tokens issued before it.
#[utoipa::path(put, path = "/admin/users/{id}/roles", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = RolesBody,
    responses(
        (status = 200, description = "The roles now held", body = RolesBody),
        (status = 400, description = "invalid_request", body = ErrorBody),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 403, description = "forbidden (not an admin), or mfa_required (SESAME_MFA_REQUIRED_ROLES: sign in with a second factor)", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
        (status = 409, description = "last_admin: taking `admin` from the last active admin (yourself included) is refused", body = ErrorBody),
    ))]
pub async fn set_roles(
    State(state): State<AppState>,
    AdminUser(actor): AdminUser,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<RolesBody>,
) -> Result<Json<RolesBody>, ApiError> {
    let roles = body.roles.ok_or_else(|| ApiError::required("roles"))?;
    let roles = state
        .sesame
        .admin()
        .set_roles(user_id(&id)?, &roles, &actor)
        .await?;
    Ok(Json(RolesBody { roles: Some(roles) }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedBody {
    pub revoked: u64,
}

/// End every session of a user.
#[utoipa::path(delete, path = "/admin/users/{id}/sessions", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "How many sessions ended", body = RevokedBody),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 403, description = "forbidden (not an admin), or mfa_required (SESAME_MFA_REQUIRED_ROLES: sign in with a second factor)", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
    ))]
pub async fn revoke_sessions(
    State(state): State<AppState>,
    AdminUser(actor): AdminUser,
    AppPath(id): AppPath<String>,
) -> Result<Json<RevokedBody>, ApiError> {
    let revoked = state
        .sesame
        .admin()
        .revoke_sessions(user_id(&id)?, &actor)
        .await?;
    Ok(Json(RevokedBody { revoked }))
}

/// Remove every second factor of a user (a lost phone): the authenticator app and the recovery
/// codes. Audited under the acting admin; the user is emailed that it happened.
#[utoipa::path(delete, path = "/admin/users/{id}/mfa", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Removed (or there was none: then nothing is sent)"),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 403, description = "forbidden (not an admin), or mfa_required (SESAME_MFA_REQUIRED_ROLES: sign in with a second factor)", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
    ))]
pub async fn remove_mfa(
    State(state): State<AppState>,
    AdminUser(actor): AdminUser,
    AppPath(id): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    state.sesame.mfa().remove_all(user_id(&id)?, &actor).await?;
    Ok(StatusCode::NO_CONTENT)
}
