//! OAuth clients — services (client credentials, token exchange) and apps people sign in to
//! (authorization code): create, list, delete.
//!
//! Routes: POST/GET /admin/clients, DELETE /admin/clients/{client_id}

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AdminUser;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{AppJson, AppPath};

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
    /// Redirect URIs for the authorization code flow, each compared exactly: `https://`, a
    /// loopback `http://127.0.0.1/…` or `http://[::1]/…` (any port when registered without
    /// one), or a native app's reverse-domain scheme (`com.example.app:/cb`).
    pub redirect_uris: Option<Vec<String>>,
    /// Where RP-initiated logout may send the browser afterwards.
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// `client_credentials`, `authorization_code`, `refresh_token`,
    /// `urn:ietf:params:oauth:grant-type:token-exchange`. Default: `authorization_code` and
    /// `refresh_token` with redirect URIs or `public`, else the two service grants.
    pub grant_types: Option<Vec<String>>,
    /// No secret (a SPA or native app): PKCE is its proof.
    pub public: Option<bool>,
    /// The operator's own app: no consent screen.
    pub first_party: Option<bool>,
    /// Where OpenID back-channel logout tokens are POSTed (`https://`, or loopback `http://`).
    pub backchannel_logout_uri: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    pub audiences: Vec<String>,
    pub scopes: Vec<String>,
    /// User roles a token obtained by token exchange may carry (empty: none).
    pub delegable_roles: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub public: bool,
    pub first_party: bool,
    pub backchannel_logout_uri: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedClientView {
    #[serde(flatten)]
    pub client: ClientView,
    /// Shown this once; only a keyed hash is stored. Absent for a public client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
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
        redirect_uris: c.redirect_uris,
        post_logout_redirect_uris: c.post_logout_redirect_uris,
        grant_types: c.grant_types,
        public: c.public,
        first_party: c.first_party,
        backchannel_logout_uri: c.backchannel_logout_uri,
        created_at: c.created_at,
    }
}

/// Create a service client; the secret is in this response only.
#[utoipa::path(post, path = "/admin/clients", tag = "admin", security(("bearer" = [])), request_body = NewClientRequest,
    responses(
        (status = 201, description = "Created", body = CreatedClientView),
        (status = 400, description = "invalid_request", body = ErrorBody),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 403, description = "forbidden (not an admin), or mfa_required (SESAME_MFA_REQUIRED_ROLES: sign in with a second factor)", body = ErrorBody),
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
        oauth: sesame_core::client_metadata::OAuthFields {
            redirect_uris: body.redirect_uris.unwrap_or_default(),
            post_logout_redirect_uris: body.post_logout_redirect_uris.unwrap_or_default(),
            grant_types: body.grant_types,
            public: body.public.unwrap_or(false),
            first_party: body.first_party.unwrap_or(false),
            backchannel_logout_uri: body.backchannel_logout_uri,
        },
    };
    let created = state
        .sesame
        .clients()
        .create(input, Some(actor.admin_id), &actor.client)
        .await?;
    use secrecy::ExposeSecret;
    let client_secret = created.secret.map(|s| s.expose_secret().to_string());
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
        (status = 403, description = "forbidden (not an admin), or mfa_required (SESAME_MFA_REQUIRED_ROLES: sign in with a second factor)", body = ErrorBody),
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
        (status = 403, description = "forbidden (not an admin), or mfa_required (SESAME_MFA_REQUIRED_ROLES: sign in with a second factor)", body = ErrorBody),
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
