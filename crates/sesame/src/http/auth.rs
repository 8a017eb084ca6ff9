//! Registration, login, token refresh/verify, logout and password change.
//!
//! Routes (each also answers with a trailing slash):
//! - POST /auth/register  (alias POST /register)
//! - POST /auth/login     (alias POST /login)
//! - POST /auth/token/refresh (alias POST /refresh)
//! - POST /auth/token/verify
//! - POST /auth/logout, POST /auth/logout/all
//! - POST /auth/password

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sesame_core::accounts::Registration;
use sesame_core::sessions::Login;
use sesame_core::sessions::{Logout, TokenPair, session_id_of, user_id_of};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::extract::{AppJson, AuthUser, Client, OptionalBearer};
use super::no_store::NoStore;
use super::openapi::with_alias;
use super::ratelimit::{LOGIN, Limited, REFRESH, REGISTER};
use super::redact::Redacted;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .merge(with_alias(routes!(register), "/register"))
        .merge(with_alias(routes!(login), "/login"))
        .merge(with_alias(routes!(refresh), "/refresh"))
        .routes(routes!(verify))
        .routes(routes!(logout))
        .routes(routes!(logout_all))
        .routes(routes!(change_password))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// Required (an `Option` so that a missing field is reported in `fields`).
    #[schema(value_type = String, example = "alice@example.com")]
    pub email: Option<String>,
    #[schema(value_type = String, example = "correct horse battery staple")]
    pub password: Option<SecretString>,
    /// 3–100 characters of `[A-Za-z0-9_.-]`.
    #[schema(example = "alice")]
    pub username: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserCreated {
    pub id: Uuid,
    pub email: String,
    pub username: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// One audience or several.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum AudienceParam {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// A username or an email address.
    #[schema(example = "alice")]
    pub username: Option<String>,
    /// Accepted instead of `username`.
    pub email: Option<String>,
    #[schema(value_type = String)]
    pub password: Option<SecretString>,
    /// Audience(s) for the access token, from the configured allowed audiences.
    pub audience: Option<AudienceParam>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// A signed JWT access token (RFC 9068).
    pub access: String,
    /// An opaque refresh token; each refresh spends it and returns a new one.
    pub refresh: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: u64,
}

impl From<TokenPair> for TokenResponse {
    fn from(p: TokenPair) -> Self {
        TokenResponse {
            access: p.access,
            refresh: p.refresh.as_str().to_string(),
            token_type: "Bearer",
            expires_in: p.expires_in,
            refresh_expires_in: p.refresh_expires_in,
        }
    }
}

// `Debug` of the three below by hand (`super::redact`): each carries a token that works.
#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    #[schema(value_type = String)]
    pub refresh: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct VerifyRequest {
    /// An access token.
    #[schema(value_type = String)]
    pub token: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct LogoutRequest {
    pub refresh_token: Option<String>,
    /// Accepted instead of `refresh_token`.
    pub refresh: Option<String>,
}

impl std::fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshRequest")
            .field("refresh", &Redacted(&self.refresh))
            .finish()
    }
}

impl std::fmt::Debug for VerifyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyRequest")
            .field("token", &Redacted(&self.token))
            .finish()
    }
}

impl std::fmt::Debug for LogoutRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogoutRequest")
            .field("refresh_token", &Redacted(&self.refresh_token))
            .field("refresh", &Redacted(&self.refresh))
            .finish()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageResponse {
    #[schema(example = "Logged out successfully")]
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogoutAllResponse {
    pub message: String,
    /// How many sessions ended.
    pub revoked: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordChangeRequest {
    #[schema(value_type = String)]
    pub current_password: Option<SecretString>,
    #[schema(value_type = String)]
    pub new_password: Option<SecretString>,
}

/// Register a new user (role `customer`).
#[utoipa::path(post, path = "/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 201, description = "Created", body = UserCreated),
        (status = 400, description = "invalid_request, invalid_json or weak_password", body = ErrorBody),
        (status = 403, description = "signup_disabled (SESAME_SIGNUP=off: operators create users with the CLI or the admin API)", body = ErrorBody),
        (status = 409, description = "email_taken or username_taken", body = ErrorBody),
        (status = 429, description = "rate_limited (with Retry-After)", body = ErrorBody),
        (status = 413, description = "payload_too_large", body = ErrorBody),
        (status = 415, description = "unsupported_media_type", body = ErrorBody),
    ))]
pub async fn register(
    _limit: Limited<REGISTER>,
    State(state): State<AppState>,
    Client(client): Client,
    AppJson(body): AppJson<RegisterRequest>,
) -> Result<(StatusCode, Json<UserCreated>), ApiError> {
    let mut missing = std::collections::BTreeMap::new();
    if body.email.is_none() {
        missing.insert(
            "email".to_string(),
            vec!["this field is required".to_string()],
        );
    }
    if body.password.is_none() {
        missing.insert(
            "password".to_string(),
            vec!["this field is required".to_string()],
        );
    }
    let (Some(email), Some(password)) = (body.email, body.password) else {
        return Err(ApiError::invalid_request(
            "The request is invalid.",
            missing,
        ));
    };
    let username = body.username.filter(|u| !u.trim().is_empty());
    let user = state
        .sesame
        .accounts()
        .register(Registration {
            email,
            password,
            username,
            client,
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(UserCreated {
            id: user.id,
            email: user.email,
            username: user.username,
            created_at: user.created_at,
        }),
    ))
}

/// Log in with a username or email and a password; returns an access and a refresh token.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 400, description = "invalid_request, invalid_json or invalid_audience", body = ErrorBody),
        (status = 401, description = "invalid_credentials", body = ErrorBody),
        (status = 403, description = "account_locked (with Retry-After: too many wrong passwords from this address, or from many addresses and this one is not a known one; the password was not checked), account_disabled, or email_not_verified (when verified email is required)", body = ErrorBody),
        (status = 429, description = "rate_limited (with Retry-After)", body = ErrorBody),
        (status = 503, description = "unavailable: the password hashing queue is full (Retry-After)", body = ErrorBody),
    ))]
pub async fn login(
    _limit: Limited<LOGIN>,
    State(state): State<AppState>,
    Client(client): Client,
    AppJson(body): AppJson<LoginRequest>,
) -> Result<NoStore<TokenResponse>, ApiError> {
    let login = body
        .username
        .or(body.email)
        .ok_or_else(|| ApiError::required("username"))?;
    let password = body
        .password
        .ok_or_else(|| ApiError::required("password"))?;
    let audience = body.audience.map(|a| match a {
        AudienceParam::One(a) => vec![a],
        AudienceParam::Many(list) => list,
    });
    let pair = state
        .sesame
        .sessions()
        .login(Login {
            login,
            password,
            audience,
            client,
        })
        .await?;
    Ok(NoStore(pair.into()))
}

/// Spend a refresh token for a new access token and a new refresh token in the same session.
#[utoipa::path(post, path = "/auth/token/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 400, description = "invalid_request", body = ErrorBody),
        (status = 401, description = "token_invalid, token_expired or token_revoked", body = ErrorBody),
        (status = 429, description = "rate_limited (with Retry-After)", body = ErrorBody),
    ))]
pub async fn refresh(
    _limit: Limited<REFRESH>,
    State(state): State<AppState>,
    Client(client): Client,
    AppJson(body): AppJson<RefreshRequest>,
) -> Result<NoStore<TokenResponse>, ApiError> {
    let token = body.refresh.ok_or_else(|| ApiError::required("refresh"))?;
    Ok(NoStore(
        state
            .sesame
            .sessions()
            .refresh(&token, None, &client)
            .await?
            .into(),
    ))
}

/// Check an access token: signature, issuer, audience, expiry and revocation.
#[utoipa::path(post, path = "/auth/token/verify", tag = "auth", request_body = VerifyRequest,
    responses(
        (status = 200, description = "The token is valid", body = Object),
        (status = 400, description = "invalid_request: no `token`", body = ErrorBody),
        (status = 401, description = "token_invalid, token_expired or token_revoked", body = ErrorBody),
    ))]
pub async fn verify(
    State(state): State<AppState>,
    AppJson(body): AppJson<VerifyRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let token = body.token.ok_or_else(|| ApiError::required("token"))?;
    state.sesame.sessions().authenticate(&token).await?;
    Ok(Json(serde_json::json!({})))
}

/// End the session of a refresh token; a bearer access token sent along is revoked too.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", request_body = LogoutRequest,
    responses(
        (status = 200, description = "Logged out", body = MessageResponse),
        (status = 400, description = "invalid_request: neither `refresh_token` nor `refresh`", body = ErrorBody),
        (status = 401, description = "token_invalid: invalid or already blacklisted (also carries `error`)", body = ErrorBody),
    ))]
pub async fn logout(
    State(state): State<AppState>,
    Client(client): Client,
    OptionalBearer(access): OptionalBearer,
    AppJson(body): AppJson<LogoutRequest>,
) -> Result<Json<MessageResponse>, ApiError> {
    let refresh = body
        .refresh_token
        .or(body.refresh)
        .ok_or_else(|| ApiError::required("refresh_token"))?;
    match state
        .sesame
        .sessions()
        .logout(Logout {
            client,
            refresh,
            access,
        })
        .await
    {
        Ok(()) => Ok(Json(MessageResponse {
            message: "Logged out successfully".into(),
        })),
        Err(sesame_core::CoreError::TokenInvalid) => Err(ApiError::logout_invalid()),
        Err(e) => Err(e.into()),
    }
}

/// End every session of the signed-in user.
#[utoipa::path(post, path = "/auth/logout/all", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "All sessions ended", body = LogoutAllResponse),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
    ))]
pub async fn logout_all(
    State(state): State<AppState>,
    Client(client): Client,
    user: AuthUser,
) -> Result<Json<LogoutAllResponse>, ApiError> {
    let revoked = state
        .sesame
        .sessions()
        .logout_all(&user.claims, &client)
        .await?;
    Ok(Json(LogoutAllResponse {
        message: "Logged out of all sessions".into(),
        revoked,
    }))
}

/// Change the password; every other session of the user ends.
#[utoipa::path(post, path = "/auth/password", tag = "auth", security(("bearer" = [])), request_body = PasswordChangeRequest,
    responses(
        (status = 204, description = "Changed"),
        (status = 400, description = "invalid_current_password (counts toward the lockout), weak_password or invalid_request", body = ErrorBody),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 403, description = "account_locked (with Retry-After): too many wrong passwords from this source; the current password was not checked", body = ErrorBody),
        (status = 429, description = "rate_limited (with Retry-After)", body = ErrorBody),
    ))]
pub async fn change_password(
    _limit: Limited<LOGIN>,
    State(state): State<AppState>,
    Client(client): Client,
    user: AuthUser,
    AppJson(body): AppJson<PasswordChangeRequest>,
) -> Result<StatusCode, ApiError> {
    let current = body
        .current_password
        .ok_or_else(|| ApiError::required("current_password"))?;
    let new = body
        .new_password
        .ok_or_else(|| ApiError::required("new_password"))?;
    let user_id = user_id_of(&user.claims)?;
    state
        .sesame
        .accounts()
        .change_password(
            user_id,
            session_id_of(&user.claims),
            &current,
            &new,
            &client,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
