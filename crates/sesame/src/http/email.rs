//! Email verification and password reset.
//!
//! Routes (each also answers with a trailing slash):
//! - POST /auth/password/forgot      `{email}` → 202, the same whether or not the account exists
//! - POST /auth/password/reset       `{token, new_password}` → 204
//! - POST /auth/email/verify         `{token}` → 200 `{email_verified: true}`
//! - POST /auth/email/verify/resend  bearer → 202
//!
//! `forgot` answers before it looks anything up: the work (find the account, queue the email)
//! runs in a task of its own, so neither the answer nor its timing says whether the address
//! has an account.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sesame_core::error::Chain;
use sesame_core::sessions::user_id_of;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::MessageResponse;
use super::error::{ApiError, ErrorBody};
use super::extract::{AppJson, AuthUser, Client};
use super::ratelimit::{FORGOT, LOGIN, Limited};
use super::redact::Redacted;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(forgot_password))
        .routes(routes!(reset_password))
        .routes(routes!(verify_email))
        .routes(routes!(resend_verification))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ForgotPasswordRequest {
    #[schema(value_type = String, example = "alice@example.com")]
    pub email: Option<String>,
}

// `Debug` of the two below by hand (`super::redact`): the emailed token lets someone in.
#[derive(Deserialize, ToSchema)]
pub struct ResetPasswordRequest {
    /// The token from the emailed link (`?token=...`).
    #[schema(value_type = String)]
    pub token: Option<String>,
    #[schema(value_type = String)]
    pub new_password: Option<SecretString>,
}

#[derive(Deserialize, ToSchema)]
pub struct VerifyEmailRequest {
    /// The token from the emailed link (`?token=...`).
    #[schema(value_type = String)]
    pub token: Option<String>,
}

impl std::fmt::Debug for ResetPasswordRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResetPasswordRequest")
            .field("token", &Redacted(&self.token))
            .field("new_password", &Redacted(&self.new_password))
            .finish()
    }
}

impl std::fmt::Debug for VerifyEmailRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyEmailRequest")
            .field("token", &Redacted(&self.token))
            .finish()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmailVerified {
    pub email_verified: bool,
    /// The verified address (after an email change: the new one).
    pub email: String,
}

const FORGOT_MESSAGE: &str =
    "If an account with that email address exists, a link to reset its password has been sent.";

/// Ask for a password-reset link. The answer is the same whether or not the account exists.
#[utoipa::path(post, path = "/auth/password/forgot", tag = "email", request_body = ForgotPasswordRequest,
    responses(
        (status = 202, description = "Accepted; a link is mailed if the account exists (at most a few per account and hour)", body = MessageResponse),
        (status = 400, description = "invalid_request or invalid_json", body = ErrorBody),
        (status = 429, description = "rate_limited (with Retry-After)", body = ErrorBody),
    ))]
pub async fn forgot_password(
    _limit: Limited<FORGOT>,
    State(state): State<AppState>,
    Client(client): Client,
    AppJson(body): AppJson<ForgotPasswordRequest>,
) -> Result<(StatusCode, Json<MessageResponse>), ApiError> {
    let email = body.email.ok_or_else(|| ApiError::required("email"))?;
    if let Err(problem) = sesame_core::domain::Email::parse(&email) {
        let mut f = std::collections::BTreeMap::new();
        f.insert("email".to_string(), vec![problem.to_string()]);
        return Err(ApiError::invalid_request("The request is invalid.", f));
    }
    let sesame = state.sesame.clone();
    // Taken before the answer, so a flush of the outbox asked for after it waits for the task.
    let queueing = sesame.outbox().signal().queueing();
    tokio::spawn(async move {
        let _queueing = queueing;
        if let Err(e) = sesame.recovery().forgot_password(&email, &client).await {
            tracing::warn!(error = %Chain(&e), "could not queue a password-reset email");
        }
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(MessageResponse {
            message: FORGOT_MESSAGE.into(),
        }),
    ))
}

/// Set a new password with the token of a reset link; every session of the user ends, and so
/// does every other reset link of the user. A reset link also dies when the password or the
/// email changes.
#[utoipa::path(post, path = "/auth/password/reset", tag = "email", request_body = ResetPasswordRequest,
    responses(
        (status = 204, description = "Password set; every session and every other reset link ended"),
        (status = 400, description = "token_invalid (unknown, used, expired, or dead since another reset link was used, the password changed or the email changed), weak_password or invalid_request", body = ErrorBody),
        (status = 429, description = "rate_limited (with Retry-After)", body = ErrorBody),
    ))]
pub async fn reset_password(
    _limit: Limited<LOGIN>,
    State(state): State<AppState>,
    Client(client): Client,
    AppJson(body): AppJson<ResetPasswordRequest>,
) -> Result<StatusCode, ApiError> {
    let token = body.token.ok_or_else(|| ApiError::required("token"))?;
    let new = body
        .new_password
        .ok_or_else(|| ApiError::required("new_password"))?;
    state
        .sesame
        .recovery()
        .reset_password(&token, &new, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Verify an email address with the token of a verification link. After an email change, the
/// new address replaces the old one now.
#[utoipa::path(post, path = "/auth/email/verify", tag = "email", request_body = VerifyEmailRequest,
    responses(
        (status = 200, description = "Verified", body = EmailVerified),
        (status = 400, description = "token_invalid (unknown, used or expired) or invalid_request", body = ErrorBody),
        (status = 409, description = "email_taken: the new address was registered by someone else meanwhile", body = ErrorBody),
    ))]
pub async fn verify_email(
    State(state): State<AppState>,
    Client(client): Client,
    AppJson(body): AppJson<VerifyEmailRequest>,
) -> Result<Json<EmailVerified>, ApiError> {
    let token = body.token.ok_or_else(|| ApiError::required("token"))?;
    let user = state
        .sesame
        .recovery()
        .verify_email(&token, &client)
        .await?;
    Ok(Json(EmailVerified {
        email_verified: user.email_verified,
        email: user.email,
    }))
}

/// Send a new verification link to the signed-in user's address (or to the pending new
/// address of an email change). Nothing is sent when the address is verified already.
#[utoipa::path(post, path = "/auth/email/verify/resend", tag = "email", security(("bearer" = [])),
    responses(
        (status = 202, description = "Accepted", body = MessageResponse),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 429, description = "rate_limited (with Retry-After)", body = ErrorBody),
    ))]
pub async fn resend_verification(
    _limit: Limited<FORGOT>,
    State(state): State<AppState>,
    Client(client): Client,
    user: AuthUser,
) -> Result<(StatusCode, Json<MessageResponse>), ApiError> {
    let user_id = user_id_of(&user.claims)?;
    state
        .sesame
        .recovery()
        .resend_verification(user_id, &client)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(MessageResponse {
            message: "If the address still needs verifying, a new link has been sent.".into(),
        }),
    ))
}
