//! The operator's API, behind the `admin` role (checked against the store at each request, so
//! a revoked admin role takes effect at once, not when the token expires).
//!
//! Routes:
//! - GET /admin/users?q=&limit=&cursor=, GET/PATCH/DELETE /admin/users/{id}
//! - POST /admin/users/{id}/unlock, PUT /admin/users/{id}/roles, DELETE /admin/users/{id}/sessions
//! - DELETE /admin/users/{id}/mfa
//! - GET /admin/keys, POST /admin/keys/rotate
//! - GET /admin/audit?user_id=&event=&limit=&cursor=
//! - POST/GET /admin/clients, DELETE /admin/clients/{client_id}
//! - POST/GET /admin/webhooks, DELETE /admin/webhooks/{id}, GET /admin/webhooks/{id}/deliveries
//!

//! One module per resource: [`users`], [`keys`], [`audit`], [`clients`], [`webhooks`]; the
//! routes of all of them are listed here, and the [`AdminUser`] extractor every handler declares.

pub mod audit;
pub mod clients;
pub mod keys;
pub mod users;
pub mod webhooks;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sesame_core::admin::Actor;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::ApiError;
use super::extract::{AuthUser, Client};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(users::list_users))
        .routes(routes!(
            users::get_user,
            users::patch_user,
            users::delete_user
        ))
        .routes(routes!(users::unlock))
        .routes(routes!(users::set_roles))
        .routes(routes!(users::revoke_sessions))
        .routes(routes!(users::remove_mfa))
        .routes(routes!(keys::list_keys))
        .routes(routes!(keys::rotate_keys))
        .routes(routes!(audit::audit))
        .routes(routes!(clients::create_client, clients::list_clients))
        .routes(routes!(clients::delete_client))
        .routes(routes!(webhooks::create_webhook, webhooks::list_webhooks))
        .routes(routes!(webhooks::delete_webhook))
        .routes(routes!(webhooks::list_deliveries))
}

/// An authenticated caller who currently holds `admin`: 401 without a valid token, 403
/// `forbidden` without the role, 403 `mfa_required` when the admin holds a role of
/// `SESAME_MFA_REQUIRED_ROLES` and the token's sign-in had no second factor (`acr` `aal1`).
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
        let actor = state.sesame.admin().authorize(&user.claims, client).await?;
        Ok(AdminUser(actor))
    }
}

/// `limit` of a paged list: empty means the default; the range (1–200) is the core's to check.
fn page_limit<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    super::query::non_empty_parsed(d, "must be a whole number from 1 to 200")
}
