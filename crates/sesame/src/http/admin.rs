//! The operator's API, behind the `admin` role (checked against the store at each request, so
//! a revoked admin role takes effect at once, not when the token expires).
//!
//! Routes:
//! - GET /admin/users?q=&limit=&cursor=, GET/PATCH/DELETE /admin/users/{id}
//! - POST /admin/users/{id}/unlock, PUT /admin/users/{id}/roles, DELETE /admin/users/{id}/sessions
//! - GET /admin/keys, POST /admin/keys/rotate
//! - GET /admin/audit?user_id=&event=&limit=&cursor=

use std::collections::HashMap;

use axum::extract::{FromRequestParts, RawQuery, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sesame_core::admin::Actor;
use sesame_core::sessions::user_id_of;
use sesame_core::store::{AuditEntry, UserRecord};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{AppJson, AppPath, AuthUser, Client};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(list_users))
        .route(
            "/admin/users/{id}",
            get(get_user).patch(patch_user).delete(delete_user),
        )
        .route("/admin/users/{id}/unlock", post(unlock))
        .route("/admin/users/{id}/roles", put(set_roles))
        .route(
            "/admin/users/{id}/sessions",
            axum::routing::delete(revoke_sessions),
        )
        .route("/admin/keys", get(list_keys))
        .route("/admin/keys/rotate", post(rotate_keys))
        .route("/admin/audit", get(audit))
        .route("/admin/clients", post(create_client).get(list_clients))
        .route(
            "/admin/clients/{client_id}",
            axum::routing::delete(delete_client),
        )
}

/// An authenticated caller who currently holds `admin`: 401 without a valid token, 403
/// `forbidden` without the role.
#[derive(Debug)]
pub struct AdminUser(pub Actor);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        let Client(client) = Client::from_request_parts(parts, state).await?;
        let admin_id = user_id_of(&user.claims)?;
        if !state.sesame.admin().is_admin(admin_id).await? {
            return Err(sesame_core::CoreError::Forbidden.into());
        }
        Ok(AdminUser(Actor { admin_id, client }))
    }
}

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
#[allow(dead_code)]
pub struct UserQuery {
    /// Case-insensitive substring of the email or username.
    q: Option<String>,
    /// 1–200, default 50.
    limit: Option<u32>,
    cursor: Option<String>,
}

/// Query parameters; parsing never fails (unknown or repeated keys: the last one wins).
fn query_map(raw: Option<String>) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn user_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found())
}

fn limit_param(q: &HashMap<String, String>) -> Result<Option<u32>, ApiError> {
    q.get("limit")
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.parse::<u32>().map_err(|_| {
                let mut f = std::collections::BTreeMap::new();
                f.insert(
                    "limit".to_string(),
                    vec!["must be a whole number from 1 to 200".to_string()],
                );
                ApiError::invalid_request("The request is invalid.", f)
            })
        })
        .transpose()
}

/// List users, oldest first, with keyset pagination.
#[utoipa::path(get, path = "/admin/users", tag = "admin", security(("bearer" = [])), params(UserQuery),
    responses(
        (status = 200, description = "A page of users", body = UserPage),
        (status = 400, description = "invalid_request (limit or cursor)", body = ErrorBody),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 403, description = "forbidden: not an admin", body = ErrorBody),
    ))]
pub async fn list_users(
    State(state): State<AppState>,
    _admin: AdminUser,
    RawQuery(raw): RawQuery,
) -> Result<Json<UserPage>, ApiError> {
    let q = query_map(raw);
    let page = state
        .sesame
        .admin()
        .list_users(
            q.get("q").map(String::as_str),
            limit_param(&q)?,
            q.get("cursor").map(String::as_str),
        )
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
        (status = 403, description = "forbidden", body = ErrorBody),
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
        (status = 403, description = "forbidden", body = ErrorBody),
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
        (status = 403, description = "forbidden", body = ErrorBody),
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
        (status = 403, description = "forbidden", body = ErrorBody),
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
        (status = 403, description = "forbidden", body = ErrorBody),
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
        (status = 403, description = "forbidden", body = ErrorBody),
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

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub kid: String,
    pub alg: String,
    /// next | current | retired
    pub state: String,
    pub created_at: DateTime<Utc>,
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
                alg: k.jwk.alg.clone(),
                state: k.state.as_str().to_string(),
                created_at: k.created_at,
                activated_at: k.activated_at,
                retire_until: k.retire_until,
            })
            .collect(),
    }
}

/// Published signing keys and their states (never private material).
#[utoipa::path(get, path = "/admin/keys", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "Keys", body = KeyList),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody),
    ))]
pub async fn list_keys(State(state): State<AppState>, _admin: AdminUser) -> Json<KeyList> {
    Json(key_list(&state))
}

/// Promote the published next key to signing and publish a fresh next key.
#[utoipa::path(post, path = "/admin/keys/rotate", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "Keys after the rotation", body = KeyList),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody),
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

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub event: String,
    pub user_id: Option<Uuid>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl From<AuditEntry> for AuditView {
    fn from(e: AuditEntry) -> Self {
        AuditView {
            id: e.id,
            at: e.at,
            event: e.event,
            user_id: e.user_id,
            ip: e.ip,
            user_agent: e.user_agent,
            detail: e.detail,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub events: Vec<AuditView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[allow(dead_code)]
pub struct AuditQuery {
    user_id: Option<Uuid>,
    event: Option<String>,
    /// 1–200, default 50.
    limit: Option<u32>,
    cursor: Option<String>,
}

/// The audit trail, newest first.
#[utoipa::path(get, path = "/admin/audit", tag = "admin", security(("bearer" = [])), params(AuditQuery),
    responses(
        (status = 200, description = "A page of events", body = AuditPage),
        (status = 400, description = "invalid_request", body = ErrorBody),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody),
    ))]
pub async fn audit(
    State(state): State<AppState>,
    _admin: AdminUser,
    RawQuery(raw): RawQuery,
) -> Result<Json<AuditPage>, ApiError> {
    let q = query_map(raw);
    let user = match q.get("user_id").filter(|u| !u.is_empty()) {
        Some(u) => Some(Uuid::parse_str(u).map_err(|_| {
            let mut f = std::collections::BTreeMap::new();
            f.insert("user_id".to_string(), vec!["not a user id".to_string()]);
            ApiError::invalid_request("The request is invalid.", f)
        })?),
        None => None,
    };
    let event = q.get("event").filter(|e| !e.is_empty()).cloned();
    let page = state
        .sesame
        .admin()
        .audit_trail(
            user,
            event,
            limit_param(&q)?,
            q.get("cursor").map(String::as_str),
        )
        .await?;
    Ok(Json(AuditPage {
        events: page.items.into_iter().map(AuditView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewClientRequest {
    #[schema(value_type = String)]
    pub name: Option<String>,
    /// Audiences the client may request tokens for (the first is its default).
    pub audiences: Option<Vec<String>>,
    /// Scopes the client may request.
    pub scopes: Option<Vec<String>>,
    /// User roles a token the client obtains by token exchange may carry (each only if the user
    /// has it); roles are `[a-z0-9_:-]{1,50}`. Default: none — exchanged tokens carry no roles.
    pub delegable_roles: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    pub audiences: Vec<String>,
    pub scopes: Vec<String>,
    /// User roles a token obtained by token exchange may carry (empty: none).
    pub delegable_roles: Vec<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedClientView {
    #[serde(flatten)]
    pub client: ClientView,
    /// Shown this once; only a keyed hash is stored.
    pub client_secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientList {
    pub clients: Vec<ClientView>,
}

fn client_view(c: sesame_core::store::ClientRecord) -> ClientView {
    ClientView {
        client_id: c.client_id,
        name: c.name,
        audiences: c.audiences,
        scopes: c.scopes,
        delegable_roles: c.delegable_roles,
        created_at: c.created_at,
    }
}

/// Create a service client; the secret is in this response only.
#[utoipa::path(post, path = "/admin/clients", tag = "admin", security(("bearer" = [])), request_body = NewClientRequest,
    responses(
        (status = 201, description = "Created", body = CreatedClientView),
        (status = 400, description = "invalid_request", body = ErrorBody),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody),
    ))]
pub async fn create_client(
    State(state): State<AppState>,
    AdminUser(actor): AdminUser,
    AppJson(body): AppJson<NewClientRequest>,
) -> Result<(StatusCode, Json<CreatedClientView>), ApiError> {
    let name = body.name.ok_or_else(|| ApiError::required("name"))?;
    let input = sesame_core::clients::NewClient {
        name,
        audiences: body.audiences.unwrap_or_default(),
        scopes: body.scopes.unwrap_or_default(),
        delegable_roles: body.delegable_roles.unwrap_or_default(),
    };
    let created = state
        .sesame
        .clients()
        .create(input, Some(actor.admin_id), &actor.client)
        .await?;
    use secrecy::ExposeSecret;
    let client_secret = created.secret.expose_secret().to_string();
    Ok((
        StatusCode::CREATED,
        Json(CreatedClientView {
            client: client_view(created.client),
            client_secret,
        }),
    ))
}

/// Service clients (never their secrets).
#[utoipa::path(get, path = "/admin/clients", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "Clients", body = ClientList),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody),
    ))]
pub async fn list_clients(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<ClientList>, ApiError> {
    let clients = state
        .sesame
        .clients()
        .list()
        .await?
        .into_iter()
        .map(client_view)
        .collect();
    Ok(Json(ClientList { clients }))
}

/// Delete a service client; its tokens stop being issued (issued ones expire on their own).
#[utoipa::path(delete, path = "/admin/clients/{client_id}", tag = "admin", security(("bearer" = [])),
    params(("client_id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
    ))]
pub async fn delete_client(
    State(state): State<AppState>,
    AdminUser(actor): AdminUser,
    AppPath(client_id): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    state
        .sesame
        .clients()
        .delete(&client_id, Some(actor.admin_id), &actor.client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
