//! The operator's API, behind the `admin` role (checked against the store at each request, so
//! a revoked admin role takes effect at once, not when the token expires).
//!
//! Routes:
//! - GET /admin/users?q=&limit=&cursor=, GET/PATCH/DELETE /admin/users/{id}
//! - POST /admin/users/{id}/unlock, PUT /admin/users/{id}/roles, DELETE /admin/users/{id}/sessions
//! - GET /admin/keys, POST /admin/keys/rotate
//! - GET /admin/audit?user_id=&event=&limit=&cursor=
//! - POST/GET /admin/clients, DELETE /admin/clients/{client_id}
//!

//! One module per resource: [`users`], [`keys`], [`audit`], [`clients`]; the routes of all four
//! are listed here, and the [`AdminUser`] extractor every handler declares.

pub mod audit;
pub mod clients;
pub mod keys;
pub mod users;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::routing::{delete, get, post, put};
use sesame_core::admin::Actor;
use sesame_core::sessions::user_id_of;

use super::AppState;
use super::error::ApiError;
use super::extract::{AuthUser, Client};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(users::list_users))
        .route(
            "/admin/users/{id}",
            get(users::get_user)
                .patch(users::patch_user)
                .delete(users::delete_user),
        )
        .route("/admin/users/{id}/unlock", post(users::unlock))
        .route("/admin/users/{id}/roles", put(users::set_roles))
        .route("/admin/users/{id}/sessions", delete(users::revoke_sessions))
        .route("/admin/keys", get(keys::list_keys))
        .route("/admin/keys/rotate", post(keys::rotate_keys))
        .route("/admin/audit", get(audit::audit))
        .route(
            "/admin/clients",
            post(clients::create_client).get(clients::list_clients),
        )
        .route("/admin/clients/{client_id}", delete(clients::delete_client))
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
        if !state.sesame.is_admin(admin_id).await? {
            return Err(sesame_core::CoreError::Forbidden.into());
        }
        Ok(AdminUser(Actor { admin_id, client }))
    }
}

/// `limit` of a paged list: empty means the default; the range (1–200) is the core's to check.
fn page_limit<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    super::query::non_empty_parsed(d, "must be a whole number from 1 to 200")
}
