//! Passkeys (WebAuthn): adding, listing, renaming and removing the signed-in user's, and
//! signing in with one — username-less, for a named user, or as the second step of a login.
//!
//! Routes (each also answers with a trailing slash):
//! - POST /auth/passkeys/register/start, POST /auth/passkeys/register/finish
//! - GET /auth/passkeys, PATCH /auth/passkeys/{id}, DELETE /auth/passkeys/{id}
//! - POST /auth/passkeys/login/start, POST /auth/passkeys/login/finish
//!
//! `options` are WebAuthn's JSON forms of `PublicKeyCredentialCreationOptions` and
//! `PublicKeyCredentialRequestOptions` (binary values base64url), ready for
//! `PublicKeyCredential.parseCreationOptionsFromJSON` / `parseRequestOptionsFromJSON`; a
//! `credential` is the browser's `PublicKeyCredential` as JSON (`credential.toJSON()`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sesame_core::mfa::passkeys::{PasskeyChallenge, PasskeyInfo};
use sesame_core::sessions::{PasskeySignIn, user_id_of};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::AppState;
use super::auth::TokenResponse;
use super::error::{ApiError, ErrorBody};
use super::extract::{AppJson, AppPath, AuthUser, Client};
use super::no_store::NoStore;
use super::ratelimit::{LOGIN, Limited};
use super::redact::Redacted;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(register_start))
        .routes(routes!(register_finish))
        .routes(routes!(list))
        .routes(routes!(rename, remove))
        .routes(routes!(login_start))
        .routes(routes!(login_finish))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RegisterStartRequest {
    /// What to call the passkey ("Laptop"); "Passkey N" when left out. At most 64 characters.
    pub name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ChallengeView {
    /// Send it back with the browser's answer; works once, for five minutes.
    pub challenge_id: String,
    /// For `navigator.credentials.create()` / `.get()`, in WebAuthn's JSON form.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
    /// A username-less sign-in: may be offered in the browser's autofill
    /// (`mediation: "conditional"`).
    pub conditional: bool,
}

impl std::fmt::Debug for ChallengeView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChallengeView")
            .field("challenge_id", &"[REDACTED]")
            .field("conditional", &self.conditional)
            .finish_non_exhaustive()
    }
}

impl From<PasskeyChallenge> for ChallengeView {
    fn from(c: PasskeyChallenge) -> Self {
        ChallengeView {
            challenge_id: c.challenge_id,
            options: c.options,
            conditional: c.conditional,
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct FinishRequest {
    #[schema(value_type = String)]
    pub challenge_id: Option<String>,
    /// The browser's `PublicKeyCredential` as JSON.
    #[schema(value_type = Object)]
    pub credential: Option<serde_json::Value>,
}

impl std::fmt::Debug for FinishRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FinishRequest")
            .field("challenge_id", &Redacted(&self.challenge_id))
            .field("credential", &self.credential.is_some())
            .finish()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyView {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// The last sign-in with it; `null` when never used.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<PasskeyInfo> for PasskeyView {
    fn from(p: PasskeyInfo) -> Self {
        PasskeyView {
            id: p.id,
            name: p.name,
            created_at: p.created_at,
            last_used_at: p.last_used_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyList {
    pub passkeys: Vec<PasskeyView>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RenameRequest {
    #[schema(value_type = String, example = "Work laptop")]
    pub name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct LoginStartRequest {
    /// A username or email: a sign-in with that account's passkeys.
    pub username: Option<String>,
    /// The `mfa_token` of a login's `mfa_required`: a passkey as its second factor.
    #[schema(value_type = String)]
    pub mfa_token: Option<String>,
}

impl std::fmt::Debug for LoginStartRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginStartRequest")
            .field("username", &self.username.is_some())
            .field("mfa_token", &Redacted(&self.mfa_token))
            .finish()
    }
}

fn finish_fields(body: FinishRequest) -> Result<(String, serde_json::Value), ApiError> {
    let challenge_id = body
        .challenge_id
        .ok_or_else(|| ApiError::required("challenge_id"))?;
    let credential = body
        .credential
        .ok_or_else(|| ApiError::required("credential"))?;
    Ok((challenge_id, credential))
}

/// Start adding a passkey to the signed-in user.
#[utoipa::path(post, path = "/auth/passkeys/register/start", tag = "passkeys", security(("bearer" = [])), request_body = RegisterStartRequest,
    responses(
        (status = 200, description = "The creation options and the id to finish with", body = ChallengeView),
        (status = 400, description = "invalid_request (a name too long or with control characters)", body = ErrorBody),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
    ))]
pub async fn register_start(
    State(state): State<AppState>,
    user: AuthUser,
    body: Option<AppJson<RegisterStartRequest>>,
) -> Result<NoStore<ChallengeView>, ApiError> {
    let body = body.map(|AppJson(b)| b).unwrap_or_default();
    let user_id = user_id_of(&user.claims)?;
    let challenge = state
        .sesame
        .mfa()
        .begin_passkey(user_id, body.name.as_deref())
        .await?;
    Ok(NoStore(challenge.into()))
}

/// Finish adding a passkey with the browser's answer to `navigator.credentials.create()`.
#[utoipa::path(post, path = "/auth/passkeys/register/finish", tag = "passkeys", security(("bearer" = [])), request_body = FinishRequest,
    responses(
        (status = 201, description = "Added", body = PasskeyView),
        (status = 400, description = "invalid_passkey (unknown, expired or used challenge; an answer that does not verify — wrong origin, RP id or challenge; a passkey registered already) or invalid_request", body = ErrorBody),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
    ))]
pub async fn register_finish(
    State(state): State<AppState>,
    Client(client): Client,
    user: AuthUser,
    AppJson(body): AppJson<FinishRequest>,
) -> Result<(StatusCode, Json<PasskeyView>), ApiError> {
    let (challenge_id, credential) = finish_fields(body)?;
    let user_id = user_id_of(&user.claims)?;
    let added = state
        .sesame
        .mfa()
        .finish_passkey(user_id, &challenge_id, &credential, &client)
        .await?;
    Ok((StatusCode::CREATED, Json(added.into())))
}

/// The signed-in user's passkeys, oldest first.
#[utoipa::path(get, path = "/auth/passkeys", tag = "passkeys", security(("bearer" = [])),
    responses(
        (status = 200, description = "The passkeys", body = PasskeyList),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<PasskeyList>, ApiError> {
    let user_id = user_id_of(&user.claims)?;
    let passkeys = state.sesame.mfa().passkeys(user_id).await?;
    Ok(Json(PasskeyList {
        passkeys: passkeys.into_iter().map(Into::into).collect(),
    }))
}

/// Rename a passkey of the signed-in user.
#[utoipa::path(patch, path = "/auth/passkeys/{id}", tag = "passkeys", security(("bearer" = [])), request_body = RenameRequest,
    params(("id" = Uuid, Path, description = "Passkey id")),
    responses(
        (status = 200, description = "Renamed", body = PasskeyView),
        (status = 400, description = "invalid_request (no name, too long, control characters)", body = ErrorBody),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 404, description = "not_found (also for another user's passkey)", body = ErrorBody),
    ))]
pub async fn rename(
    State(state): State<AppState>,
    user: AuthUser,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<RenameRequest>,
) -> Result<Json<PasskeyView>, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found())?;
    let name = body.name.ok_or_else(|| ApiError::required("name"))?;
    let user_id = user_id_of(&user.claims)?;
    let renamed = state
        .sesame
        .mfa()
        .rename_passkey(user_id, id, &name)
        .await?;
    Ok(Json(renamed.into()))
}

/// Remove a passkey of the signed-in user. With their last second factor go the recovery codes.
#[utoipa::path(delete, path = "/auth/passkeys/{id}", tag = "passkeys", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Passkey id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 404, description = "not_found (also for another user's passkey)", body = ErrorBody),
    ))]
pub async fn remove(
    State(state): State<AppState>,
    Client(client): Client,
    user: AuthUser,
    AppPath(id): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found())?;
    let user_id = user_id_of(&user.claims)?;
    state
        .sesame
        .mfa()
        .remove_passkey(user_id, id, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Start a passkey sign-in: `{}` for a username-less one (discoverable credentials, the
/// browser's autofill), `{username}` for that account's passkeys, or `{mfa_token}` for the
/// second step of a login that answered `mfa_required`.
#[utoipa::path(post, path = "/auth/passkeys/login/start", tag = "passkeys", request_body = LoginStartRequest,
    responses(
        (status = 200, description = "The request options and the id to finish with", body = ChallengeView),
        (status = 400, description = "invalid_request (both username and mfa_token; the mfa_token's account has no passkey)", body = ErrorBody),
        (status = 401, description = "token_invalid (unknown, used or expired mfa_token)", body = ErrorBody),
        (status = 429, description = "rate_limited (with Retry-After)", body = ErrorBody),
    ))]
pub async fn login_start(
    _limit: Limited<LOGIN>,
    State(state): State<AppState>,
    body: Option<AppJson<LoginStartRequest>>,
) -> Result<NoStore<ChallengeView>, ApiError> {
    let (username, mfa_token) = match body {
        Some(AppJson(b)) => (b.username, b.mfa_token),
        None => (None, None),
    };
    let how = match (username, mfa_token) {
        (None, None) => PasskeySignIn::Discoverable,
        (Some(name), None) if name.trim().is_empty() => PasskeySignIn::Discoverable,
        (Some(name), None) => PasskeySignIn::Named(name),
        (None, Some(token)) => PasskeySignIn::SecondFactor(token),
        (Some(_), Some(_)) => {
            let mut fields = std::collections::BTreeMap::new();
            fields.insert(
                "mfa_token".to_string(),
                vec!["send either username or mfa_token, not both".to_string()],
            );
            return Err(ApiError::invalid_request("The request is invalid.", fields));
        }
    };
    let challenge = state.sesame.sessions().begin_passkey_sign_in(how).await?;
    Ok(NoStore(challenge.into()))
}

/// Finish a passkey sign-in with the browser's answer to `navigator.credentials.get()`: the
/// login body (`acr` `aal2`: a user-verified passkey is two factors).
#[utoipa::path(post, path = "/auth/passkeys/login/finish", tag = "passkeys", request_body = FinishRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 400, description = "invalid_request", body = ErrorBody),
        (status = 401, description = "invalid_passkey (unknown, expired or used challenge; unknown credential; wrong signature, origin or RP id; no user verification; signature counter gone backwards — counts toward the lockout once the account is known) or token_invalid (the second step's mfa_token was spent meanwhile)", body = ErrorBody),
        (status = 403, description = "account_locked (with Retry-After), account_disabled or email_not_verified", body = ErrorBody),
        (status = 429, description = "rate_limited (with Retry-After)", body = ErrorBody),
    ))]
pub async fn login_finish(
    _limit: Limited<LOGIN>,
    State(state): State<AppState>,
    Client(client): Client,
    AppJson(body): AppJson<FinishRequest>,
) -> Result<NoStore<TokenResponse>, ApiError> {
    let (challenge_id, credential) = finish_fields(body)?;
    let pair = state
        .sesame
        .sessions()
        .finish_passkey_sign_in(&challenge_id, &credential, client)
        .await?;
    Ok(NoStore(pair.into()))
}
