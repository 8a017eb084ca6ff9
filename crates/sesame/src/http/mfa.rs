//! Second factors of the signed-in user, and the second step of a sign-in.
//!
//! Routes (each also answers with a trailing slash):
//! - GET /auth/mfa
//! - POST /auth/mfa/totp, DELETE /auth/mfa/totp
//! - POST /auth/mfa/totp/confirm
//! - POST /auth/mfa/recovery-codes
//! - POST /auth/mfa/verify
//!
//! Answers that carry a secret (the TOTP secret, recovery codes, tokens) are `no-store`; the
//! secret and the codes are shown once and never again (only sealed or hashed copies are kept).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sesame_core::mfa::{MfaStatus, SecondFactorCode};
use sesame_core::sessions::{MfaVerification, user_id_of};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::TokenResponse;
use super::error::{ApiError, ErrorBody};
use super::extract::{AppJson, AuthUser, Client};
use super::no_store::NoStore;
use super::ratelimit::{LOGIN, Limited};
use super::redact::Redacted;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(status))
        .routes(routes!(begin_totp, remove_totp))
        .routes(routes!(confirm_totp))
        .routes(routes!(recovery_codes))
        .routes(routes!(verify))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MfaStatusView {
    /// An authenticator app is set up (and confirmed).
    pub totp: bool,
    /// Passkeys registered.
    pub passkeys: u32,
    /// Unused recovery codes.
    pub recovery_codes_left: u32,
}

impl From<MfaStatus> for MfaStatusView {
    fn from(s: MfaStatus) -> Self {
        MfaStatusView {
            totp: s.totp,
            passkeys: s.passkeys,
            recovery_codes_left: s.recovery_codes_left,
        }
    }
}

/// The password, for a change of second factors.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordRequest {
    #[schema(value_type = String)]
    pub password: Option<SecretString>,
}

#[derive(Serialize, ToSchema)]
pub struct TotpEnrollmentView {
    /// The secret, base32 (RFC 4648, no padding), for typing into an app. Shown this once.
    #[schema(example = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")]
    pub secret: String,
    /// `otpauth://totp/...` for a QR code (SHA1, 6 digits, 30 s).
    pub otpauth_uri: String,
}

#[derive(Deserialize, ToSchema)]
pub struct ConfirmRequest {
    /// The 6-digit code the app shows now.
    #[schema(value_type = String, example = "123456")]
    pub code: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RecoveryCodesView {
    /// Ten single-use codes (`xxxx-xxxx-xxxx-xxxx`). Shown this once: only their hashes are kept.
    pub recovery_codes: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct VerifyRequest {
    /// The `mfa_token` of the login's `mfa_required` answer.
    #[schema(value_type = String)]
    pub mfa_token: Option<String>,
    /// A 6-digit code of the authenticator app; or send `recovery_code`.
    #[schema(value_type = String)]
    pub code: Option<String>,
    /// One of the recovery codes, instead of `code`.
    #[schema(value_type = String)]
    pub recovery_code: Option<String>,
}

// `Debug` by hand (`super::redact`): each of these carries a secret or a code that works.
impl std::fmt::Debug for TotpEnrollmentView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpEnrollmentView").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ConfirmRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfirmRequest")
            .field("code", &Redacted(&self.code))
            .finish()
    }
}

impl std::fmt::Debug for RecoveryCodesView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecoveryCodesView")
            .field("recovery_codes", &self.recovery_codes.len())
            .finish()
    }
}

impl std::fmt::Debug for VerifyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyRequest")
            .field("mfa_token", &Redacted(&self.mfa_token))
            .field("code", &Redacted(&self.code))
            .field("recovery_code", &Redacted(&self.recovery_code))
            .finish()
    }
}

fn codes_view(codes: Vec<sesame_core::mfa::RecoveryCode>) -> RecoveryCodesView {
    RecoveryCodesView {
        recovery_codes: codes.iter().map(|c| c.as_str().to_string()).collect(),
    }
}

/// The signed-in user's second factors.
#[utoipa::path(get, path = "/auth/mfa", tag = "mfa", security(("bearer" = [])),
    responses(
        (status = 200, description = "What is set up", body = MfaStatusView),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
    ))]
pub async fn status(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<MfaStatusView>, ApiError> {
    let user_id = user_id_of(&user.claims)?;
    Ok(Json(state.sesame.mfa().status(user_id).await?.into()))
}

/// Start setting up an authenticator app (TOTP, RFC 6238: SHA-1, 6 digits, 30 s). Pending until
/// confirmed with a first code; starting again replaces a pending secret.
#[utoipa::path(post, path = "/auth/mfa/totp", tag = "mfa", security(("bearer" = [])), request_body = PasswordRequest,
    responses(
        (status = 200, description = "The secret, shown this once", body = TotpEnrollmentView),
        (status = 400, description = "invalid_current_password (counts toward the lockout) or invalid_request", body = ErrorBody),
        (status = 403, description = "account_locked (with Retry-After): too many wrong passwords from this source", body = ErrorBody),
        (status = 409, description = "mfa_already_enrolled", body = ErrorBody),
        (status = 429, description = "rate_limited (with Retry-After)", body = ErrorBody),
    ))]
pub async fn begin_totp(
    _limit: Limited<LOGIN>,
    State(state): State<AppState>,
    Client(client): Client,
    user: AuthUser,
    AppJson(body): AppJson<PasswordRequest>,
) -> Result<NoStore<TotpEnrollmentView>, ApiError> {
    let password = body
        .password
        .ok_or_else(|| ApiError::required("password"))?;
    let user_id = user_id_of(&user.claims)?;
    let enrollment = state
        .sesame
        .mfa()
        .begin_totp(user_id, &password, &client)
        .await?;
    Ok(NoStore(TotpEnrollmentView {
        secret: enrollment.secret.expose_secret().to_string(),
        otpauth_uri: enrollment.otpauth_uri.expose_secret().to_string(),
    }))
}

/// Confirm the pending authenticator app with a code from it; returns ten recovery codes,
/// shown this once.
#[utoipa::path(post, path = "/auth/mfa/totp/confirm", tag = "mfa", security(("bearer" = [])), request_body = ConfirmRequest,
    responses(
        (status = 200, description = "Set up; the recovery codes", body = RecoveryCodesView),
        (status = 400, description = "invalid_mfa_code, mfa_not_enrolled (nothing pending) or invalid_request", body = ErrorBody),
        (status = 409, description = "mfa_already_enrolled", body = ErrorBody),
        (status = 429, description = "rate_limited (with Retry-After)", body = ErrorBody),
    ))]
pub async fn confirm_totp(
    _limit: Limited<LOGIN>,
    State(state): State<AppState>,
    Client(client): Client,
    user: AuthUser,
    AppJson(body): AppJson<ConfirmRequest>,
) -> Result<NoStore<RecoveryCodesView>, ApiError> {
    let code = body.code.ok_or_else(|| ApiError::required("code"))?;
    let user_id = user_id_of(&user.claims)?;
    let codes = state
        .sesame
        .mfa()
        .confirm_totp(user_id, &code, &client)
        .await?;
    Ok(NoStore(codes_view(codes)))
}

/// Remove the authenticator app (and with it the recovery codes).
#[utoipa::path(delete, path = "/auth/mfa/totp", tag = "mfa", security(("bearer" = [])), request_body = PasswordRequest,
    responses(
        (status = 204, description = "Removed (or there was none)"),
        (status = 400, description = "invalid_current_password (counts toward the lockout) or invalid_request", body = ErrorBody),
        (status = 403, description = "account_locked (with Retry-After)", body = ErrorBody),
        (status = 429, description = "rate_limited (with Retry-After)", body = ErrorBody),
    ))]
pub async fn remove_totp(
    _limit: Limited<LOGIN>,
    State(state): State<AppState>,
    Client(client): Client,
    user: AuthUser,
    AppJson(body): AppJson<PasswordRequest>,
) -> Result<StatusCode, ApiError> {
    let password = body
        .password
        .ok_or_else(|| ApiError::required("password"))?;
    let user_id = user_id_of(&user.claims)?;
    state
        .sesame
        .mfa()
        .remove_totp(user_id, &password, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new set of ten recovery codes; the old set stops working.
#[utoipa::path(post, path = "/auth/mfa/recovery-codes", tag = "mfa", security(("bearer" = [])), request_body = PasswordRequest,
    responses(
        (status = 200, description = "The new codes, shown this once", body = RecoveryCodesView),
        (status = 400, description = "invalid_current_password (counts toward the lockout), mfa_not_enrolled or invalid_request", body = ErrorBody),
        (status = 403, description = "account_locked (with Retry-After)", body = ErrorBody),
        (status = 429, description = "rate_limited (with Retry-After)", body = ErrorBody),
    ))]
pub async fn recovery_codes(
    _limit: Limited<LOGIN>,
    State(state): State<AppState>,
    Client(client): Client,
    user: AuthUser,
    AppJson(body): AppJson<PasswordRequest>,
) -> Result<NoStore<RecoveryCodesView>, ApiError> {
    let password = body
        .password
        .ok_or_else(|| ApiError::required("password"))?;
    let user_id = user_id_of(&user.claims)?;
    let codes = state
        .sesame
        .mfa()
        .new_recovery_codes(user_id, &password, &client)
        .await?;
    Ok(NoStore(codes_view(codes)))
}

/// Finish a login that answered `mfa_required`: the `mfa_token` with a code of the app or a
/// recovery code. The token works once, for five minutes; a wrong code does not spend it but
/// counts toward the lockout like a wrong password.
#[utoipa::path(post, path = "/auth/mfa/verify", tag = "mfa", request_body = VerifyRequest,
    responses(
        (status = 200, description = "Logged in (acr aal2)", body = TokenResponse),
        (status = 400, description = "invalid_request: no mfa_token, or not exactly one of code and recovery_code", body = ErrorBody),
        (status = 401, description = "invalid_mfa_code (wrong or used code; counts toward the lockout) or token_invalid (unknown, used or expired mfa_token)", body = ErrorBody),
        (status = 403, description = "account_locked (with Retry-After) or account_disabled", body = ErrorBody),
        (status = 429, description = "rate_limited (with Retry-After)", body = ErrorBody),
    ))]
pub async fn verify(
    _limit: Limited<LOGIN>,
    State(state): State<AppState>,
    Client(client): Client,
    AppJson(body): AppJson<VerifyRequest>,
) -> Result<NoStore<TokenResponse>, ApiError> {
    let token = body
        .mfa_token
        .ok_or_else(|| ApiError::required("mfa_token"))?;
    let code = match (body.code, body.recovery_code) {
        (Some(code), None) => SecondFactorCode::Totp(code),
        (None, Some(code)) => SecondFactorCode::Recovery(code),
        (None, None) => return Err(ApiError::required("code")),
        (Some(_), Some(_)) => {
            let mut fields = std::collections::BTreeMap::new();
            fields.insert(
                "recovery_code".to_string(),
                vec!["send either code or recovery_code, not both".to_string()],
            );
            return Err(ApiError::invalid_request("The request is invalid.", fields));
        }
    };
    let pair = state
        .sesame
        .sessions()
        .verify_mfa(MfaVerification {
            token,
            code,
            client,
        })
        .await?;
    Ok(NoStore(pair.into()))
}
