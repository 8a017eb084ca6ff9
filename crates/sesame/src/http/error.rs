//! The one place where domain errors become the contract's `{detail, code}` bodies.
//!
//! 401s carry `WWW-Authenticate`, 403 lockouts and 429/503 carry `Retry-After`, and 5xx bodies
//! say nothing about the cause: the cause is attached to the response as an extension and
//! logged once, with the request id, by [`log_errors`].
//!
//! Each kind of error body is shaped in one place: this module's [`ApiError`] for the JSON API,
//! `oauth::OAuthError` for the RFC 6749 endpoints. [`log_errors`] never rebuilds a body (it
//! once rebuilt every 5xx into `{detail, code}`, which turned the OAuth endpoints' 5xx away
//! from RFC 6749, issue #16.2): it logs, and lends the request id to the error being rendered
//! ([`request_id`]) so that an `ApiError`'s 5xx body names it.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use sesame_core::CoreError;
use sesame_core::error::{BoxError, Chain};
use utoipa::ToSchema;

/// The error body of every non-OAuth endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A sentence for people.
    pub detail: String,
    /// Stable, for programs.
    pub code: String,
    /// Per-field problems, on validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<String, Vec<String>>>,
    /// On 5xx: the request's id (also in `x-request-id`), which names the logged cause.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// Boxed: handlers return `Result<_, ApiError>` everywhere, and the parts are large.
#[derive(Debug)]
pub struct ApiError(Box<Parts>);

#[derive(Debug)]
struct Parts {
    status: StatusCode,
    code: &'static str,
    detail: String,
    fields: Option<BTreeMap<String, Vec<String>>>,
    headers: HeaderMap,
    /// Extra members merged into the body (the logout error keeps SimpleJWT's `error`).
    extra: Option<Value>,
    /// For 5xx: what really happened, logged by the middleware, never sent.
    cause: Option<BoxError>,
}

/// What `log_errors` logs for a 5xx: the error itself, whose `source()` chain it walks. An
/// `Arc` because response extensions must be `Clone` and errors are not.
#[derive(Debug, Clone)]
struct ErrorCause(Arc<dyn std::error::Error + Send + Sync>);

const BEARER_REALM: &str = "Bearer realm=\"sesame\"";

tokio::task_local! {
    /// The id of the request being answered, set by [`log_errors`] around everything inside it.
    static REQUEST_ID: Option<HeaderValue>;
}

/// The id of the request being answered (`-` when it has none that is text), or `None`
/// outside [`log_errors`] (the metrics listener).
fn request_id() -> Option<String> {
    REQUEST_ID
        .try_with(|id| {
            id.as_ref()
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_string()
        })
        .ok()
}

/// Attaches the cause of a 5xx to its response, for [`log_errors`] to log (never sent).
pub fn attach_cause(res: &mut Response, cause: BoxError) {
    res.extensions_mut().insert(ErrorCause(Arc::from(cause)));
}

/// The cause attached to `res`, as [`log_errors`] would log it.
#[cfg(test)]
pub(crate) fn attached_cause(res: &Response) -> Option<String> {
    res.extensions()
        .get::<ErrorCause>()
        .map(|ErrorCause(cause)| Chain(&**cause).to_string())
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError(Box::new(Parts {
            status,
            code,
            detail: detail.into(),
            fields: None,
            headers: HeaderMap::new(),
            extra: None,
            cause: None,
        }))
    }

    fn header(mut self, name: header::HeaderName, value: String) -> Self {
        if let Ok(v) = HeaderValue::from_str(&value) {
            self.0.headers.insert(name, v);
        }
        self
    }

    fn retry_after(self, secs: u64) -> Self {
        self.header(header::RETRY_AFTER, secs.max(1).to_string())
    }

    /// A 401 for a bearer-protected resource, with the RFC 6750 challenge.
    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        let challenge = if code == "not_authenticated" {
            BEARER_REALM.to_string()
        } else {
            format!(
                "{BEARER_REALM}, error=\"invalid_token\", error_description=\"{}\"",
                detail.replace('"', "'")
            )
        };
        Self::new(StatusCode::UNAUTHORIZED, code, detail)
            .header(header::WWW_AUTHENTICATE, challenge)
    }

    pub fn not_authenticated() -> Self {
        Self::unauthorized(
            "not_authenticated",
            "Authentication credentials were not provided.",
        )
    }

    pub fn invalid_json(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_json", detail)
    }

    pub fn invalid_request(
        detail: impl Into<String>,
        fields: BTreeMap<String, Vec<String>>,
    ) -> Self {
        let mut e = Self::new(StatusCode::BAD_REQUEST, "invalid_request", detail);
        if !fields.is_empty() {
            e.0.fields = Some(fields);
        }
        e
    }

    pub fn required(field: &str) -> Self {
        let mut f = BTreeMap::new();
        f.insert(
            field.to_string(),
            vec!["this field is required".to_string()],
        );
        Self::invalid_request("The request is invalid.", f)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "Not found.")
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Method not allowed.",
        )
    }

    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "The request body is larger than 64 KiB.",
        )
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Expected a body of type application/json.",
        )
    }

    /// SimpleJWT's logout failure, kept for seed 004 clients (`error`), in the contract's shape.
    pub fn logout_invalid() -> Self {
        let msg = "Token is invalid or already blacklisted";
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "token_invalid", msg);
        e.0.extra = Some(json!({ "error": msg }));
        e
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many requests. Try again later.",
        )
        .retry_after(retry_after_secs)
    }

    /// A 500 whose cause (an error, with its sources, or a sentence) is logged, never sent.
    pub fn internal(cause: impl Into<BoxError>) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal server error.",
        );
        e.0.cause = Some(cause.into());
        e
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        use StatusCode as S;
        match e {
            CoreError::Validation(f) => ApiError::invalid_request("The request is invalid.", f),
            CoreError::WeakPassword(f) => {
                let mut e =
                    ApiError::new(S::BAD_REQUEST, "weak_password", "The password is too weak.");
                e.0.fields = Some(f);
                e
            }
            CoreError::InvalidCurrentPassword => ApiError::new(
                S::BAD_REQUEST,
                "invalid_current_password",
                "The current password is not correct.",
            ),
            CoreError::InvalidAudience(d) => {
                ApiError::new(S::BAD_REQUEST, "invalid_audience", capitalise(&d))
            }
            CoreError::EmailTaken => ApiError::new(
                S::CONFLICT,
                "email_taken",
                "A user with that email already exists.",
            ),
            CoreError::UsernameTaken => ApiError::new(
                S::CONFLICT,
                "username_taken",
                "A user with that username already exists.",
            ),
            CoreError::InvalidCredentials => ApiError::new(
                S::UNAUTHORIZED,
                "invalid_credentials",
                "No active account found with the given credentials",
            )
            .header(header::WWW_AUTHENTICATE, BEARER_REALM.to_string()),
            CoreError::AccountLocked { retry_after_secs } => ApiError::new(
                S::FORBIDDEN,
                "account_locked",
                "The account is locked after too many failed logins. Try again later.",
            )
            .retry_after(retry_after_secs),
            CoreError::AccountDisabled => {
                ApiError::new(S::FORBIDDEN, "account_disabled", "The account is disabled.")
            }
            CoreError::SignupDisabled => ApiError::new(
                S::FORBIDDEN,
                "signup_disabled",
                "Sign-up is disabled here. Ask an administrator for an account.",
            ),
            CoreError::EmailNotVerified => ApiError::new(
                S::FORBIDDEN,
                "email_not_verified",
                "The email address is not verified yet. Follow the link in the verification email.",
            ),
            // A body field, not a bearer credential: 400, without a challenge.
            CoreError::EmailTokenInvalid => ApiError::new(
                S::BAD_REQUEST,
                "token_invalid",
                "The link is invalid, already used or expired.",
            ),
            CoreError::TokenInvalid => ApiError::unauthorized("token_invalid", "Token is invalid."),
            CoreError::TokenExpired => {
                ApiError::unauthorized("token_expired", "Token has expired.")
            }
            CoreError::TokenRevoked => {
                ApiError::unauthorized("token_revoked", "Token has been revoked.")
            }
            CoreError::NotFound => ApiError::not_found(),
            CoreError::LastAdmin => ApiError::new(
                S::CONFLICT,
                "last_admin",
                "This would leave no active admin. Give another user the admin role first.",
            ),
            CoreError::Forbidden => ApiError::new(
                S::FORBIDDEN,
                "forbidden",
                "You do not have permission to perform this action.",
            ),
            CoreError::MfaRequired(challenge) => {
                let mut e = ApiError::new(
                    S::UNAUTHORIZED,
                    "mfa_required",
                    "The password is right; a second factor is required. Send a code with the \
                     mfa_token to /auth/mfa/verify.",
                )
                .header(header::WWW_AUTHENTICATE, BEARER_REALM.to_string())
                // It carries the mfa_token: as a token response, not to be stored by any cache.
                .header(header::CACHE_CONTROL, "no-store".to_string());
                let methods: Vec<&str> = challenge.methods.iter().map(|m| m.as_str()).collect();
                e.0.extra = Some(json!({
                    "mfa_token": challenge.token.as_str(),
                    "methods": methods,
                }));
                e
            }
            CoreError::MfaCodeInvalid => ApiError::new(
                S::UNAUTHORIZED,
                "invalid_mfa_code",
                "The code is wrong or was used already.",
            )
            .header(header::WWW_AUTHENTICATE, BEARER_REALM.to_string()),
            CoreError::EnrollmentCodeInvalid => ApiError::new(
                S::BAD_REQUEST,
                "invalid_mfa_code",
                "The code does not match the authenticator app being set up. Check the app's \
                 clock, or start again.",
            ),
            CoreError::PasskeyRejected => ApiError::new(
                S::BAD_REQUEST,
                "invalid_passkey",
                "The passkey could not be registered: the ceremony is unknown, expired or used, \
                 the answer does not verify, or this passkey is registered already. Start again.",
            ),
            CoreError::PasskeyInvalid => ApiError::new(
                S::UNAUTHORIZED,
                "invalid_passkey",
                "The passkey was not accepted.",
            )
            .header(header::WWW_AUTHENTICATE, BEARER_REALM.to_string()),
            CoreError::UpstreamStateInvalid => ApiError::new(
                S::BAD_REQUEST,
                "invalid_state",
                "The sign-in with the provider is unknown, used or expired. Start it again.",
            ),
            CoreError::UpstreamUnavailable(name) => ApiError::new(
                S::BAD_GATEWAY,
                "upstream_unavailable",
                format!("{name} cannot be reached now. Try again later, or sign in another way."),
            ),
            CoreError::UpstreamRefused(_) => ApiError::new(
                S::UNAUTHORIZED,
                "upstream_refused",
                "The provider's answer was not accepted.",
            ),
            CoreError::UpstreamLinkRequired => ApiError::new(
                S::CONFLICT,
                "link_required",
                "An account has this email. Sign in to it, then link the provider from the \
                 account's security page.",
            ),
            CoreError::UpstreamEmailUnverified => ApiError::new(
                S::FORBIDDEN,
                "email_not_verified",
                "The provider has not verified the email address; no account is made from it.",
            ),
            CoreError::IdentityTaken => ApiError::new(
                S::CONFLICT,
                "identity_taken",
                "This identity of the provider is linked to another account.",
            ),
            CoreError::LastSignInMethod => ApiError::new(
                S::CONFLICT,
                "last_sign_in_method",
                "This is the account's only way to sign in. Set a password or add a passkey first.",
            ),
            CoreError::PasskeysUnavailable => ApiError::new(
                S::BAD_REQUEST,
                "passkeys_unavailable",
                "Passkeys are not available on this server: its address is an IP address. \
                 The operator sets SESAME_WEBAUTHN_RP_ID to a domain to use them.",
            ),
            CoreError::MfaAlreadyEnrolled => ApiError::new(
                S::CONFLICT,
                "mfa_already_enrolled",
                "An authenticator app is set up already. Remove it first to set up another.",
            ),
            CoreError::MfaNotEnrolled => ApiError::new(
                S::BAD_REQUEST,
                "mfa_not_enrolled",
                "No authenticator app is set up (or waiting for its first code).",
            ),
            CoreError::StepUpRequired => ApiError::new(
                S::FORBIDDEN,
                "mfa_required",
                "This needs a sign-in with a second factor (acr aal2). Sign in again with your \
                 authenticator app.",
            ),
            CoreError::Busy { retry_after_secs } => ApiError::new(
                S::SERVICE_UNAVAILABLE,
                "unavailable",
                "The service is busy. Try again shortly.",
            )
            .retry_after(retry_after_secs),
            CoreError::Unavailable(_) => {
                let mut unavailable = ApiError::new(
                    S::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "The service is temporarily unavailable.",
                )
                .retry_after(1);
                unavailable.0.cause = Some(Box::new(e));
                unavailable
            }
            // OAuth endpoints answer these in RFC 6749 form themselves; elsewhere they read as:
            CoreError::InvalidClient => {
                ApiError::unauthorized("invalid_client", "Client authentication failed.")
            }
            CoreError::InvalidScope(d) => {
                ApiError::new(S::BAD_REQUEST, "invalid_scope", capitalise(&d))
            }
            CoreError::InvalidTarget(d) => {
                ApiError::new(S::BAD_REQUEST, "invalid_audience", capitalise(&d))
            }
            CoreError::InvalidGrant(d) => {
                ApiError::new(S::BAD_REQUEST, "invalid_grant", capitalise(&d))
            }
            CoreError::UnauthorizedClient(d) => {
                ApiError::new(S::BAD_REQUEST, "unauthorized_client", capitalise(&d))
            }
            // The whole error, so the log reads `internal error: <what>: <its causes>`.
            CoreError::Internal(_) => ApiError::internal(e),
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str() + ".",
        None => String::new(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let Parts {
            status,
            code,
            detail,
            fields,
            headers,
            extra,
            cause,
        } = *self.0;
        let mut body = json!({ "detail": detail, "code": code });
        if let Some(f) = fields {
            body["fields"] = json!(f);
        }
        if let (Some(Value::Object(extra)), Some(obj)) = (extra, body.as_object_mut()) {
            obj.extend(extra);
        }
        // A 5xx names its request, so an operator finds the logged cause from a user's report.
        if status.is_server_error()
            && let Some(id) = request_id()
        {
            body["request_id"] = json!(id);
        }
        let mut res = (status, headers, axum::Json(body)).into_response();
        if let Some(cause) = cause {
            attach_cause(&mut res, cause);
        }
        res
    }
}

/// Logs every 5xx once, with the request id, method, path, status and the whole cause chain
/// its error attached ([`attach_cause`]). The body is the error's own, as its type shaped it:
/// this only lends the request id to the errors rendered inside it ([`request_id`]).
pub async fn log_errors(req: Request, next: Next) -> Response {
    // Cheap handles (reference-counted), formatted only when there is an error to log.
    let id = req.headers().get("x-request-id").cloned();
    let method = req.method().clone();
    let uri = req.uri().clone();
    REQUEST_ID
        .scope(id, async move {
            let mut res = next.run(req).await;
            if res.status().is_server_error() {
                let request_id = request_id().unwrap_or_default();
                let path = uri.path();
                let status = res.status().as_u16();
                // The cause's whole `source()` chain, down to the driver's words; here and
                // only here.
                match res.extensions_mut().remove::<ErrorCause>() {
                    Some(ErrorCause(cause)) => {
                        tracing::error!(%request_id, %method, %path, status, cause = %Chain(&*cause), "request failed");
                    }
                    None => {
                        tracing::error!(%request_id, %method, %path, status, cause = "unknown", "request failed");
                    }
                }
            }
            res
        })
        .await
}
