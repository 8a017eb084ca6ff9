//! The one place where errors become the contract's `{detail, code}` bodies. 5xx bodies say
//! nothing about the cause; the cause rides along as a response extension and is logged once,
//! with the request id, by [`log_errors`]. (401s come from `sesame_verify::axum`, which already
//! speaks this shape and sends `WWW-Authenticate`.)

use std::collections::BTreeMap;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::gallery::GalleryError;
use crate::image::DataError;

pub type FieldErrors = BTreeMap<String, Vec<String>>;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    fields: Option<FieldErrors>,
    cause: Option<String>,
}

#[derive(Debug, Clone)]
struct ErrorCause(String);

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
            fields: None,
            cause: None,
        }
    }

    pub fn invalid_request(fields: FieldErrors) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The request is invalid.",
        );
        if !fields.is_empty() {
            e.fields = Some(fields);
        }
        e
    }

    pub fn field(name: &str, problem: impl Into<String>) -> Self {
        let mut f = FieldErrors::new();
        f.insert(name.to_string(), vec![problem.into()]);
        Self::invalid_request(f)
    }

    pub fn invalid_json(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_json", detail)
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

    pub fn body_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "The request body is too large (the image may be at most 500 KiB).",
        )
    }

    pub fn image_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "The image is larger than 500 KiB.",
        )
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Expected a body of type application/json.",
        )
    }

    pub fn unavailable(cause: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "The service is temporarily unavailable.",
        );
        e.cause = Some(cause.into());
        e
    }

    pub fn internal(cause: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal server error.",
        );
        e.cause = Some(cause.into());
        e
    }

    /// `data` refused: too large is a 413, anything else a field error.
    pub fn from_data(e: DataError) -> Self {
        match e {
            DataError::TooLarge => Self::image_too_large(),
            other => Self::field("data", other.to_string()),
        }
    }
}

impl From<GalleryError> for ApiError {
    fn from(e: GalleryError) -> Self {
        match e {
            GalleryError::NotFound => ApiError::not_found(),
            GalleryError::Forbidden => ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "You do not have permission to perform this action.",
            ),
            GalleryError::Store(e) => ApiError::unavailable(e.to_string()),
            GalleryError::Files(e) => ApiError::internal(e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"detail": self.detail, "code": self.code});
        if let Some(f) = self.fields {
            body["fields"] = json!(f);
        }
        let mut res = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            res.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                HeaderValue::from_static("1"),
            );
        }
        if let Some(cause) = self.cause {
            res.extensions_mut().insert(ErrorCause(cause));
        }
        res
    }
}

/// Logs the cause of every 5xx once, with the request id, and puts the id into the body so an
/// operator can find the log line from a user's report.
pub async fn log_errors(req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let mut res = next.run(req).await;
    if let Some(ErrorCause(cause)) = res.extensions_mut().remove::<ErrorCause>() {
        let status = res.status();
        tracing::error!(%request_id, %method, %path, status = status.as_u16(), %cause, "request failed");
        let code = if status == StatusCode::SERVICE_UNAVAILABLE {
            "unavailable"
        } else {
            "internal_error"
        };
        let detail = if status == StatusCode::SERVICE_UNAVAILABLE {
            "The service is temporarily unavailable."
        } else {
            "Internal server error."
        };
        let mut opaque = (
            status,
            axum::Json(json!({"detail": detail, "code": code, "request_id": request_id})),
        )
            .into_response();
        for (name, value) in res.headers() {
            if name != axum::http::header::CONTENT_LENGTH
                && name != axum::http::header::CONTENT_TYPE
            {
                opaque.headers_mut().insert(name.clone(), value.clone());
            }
        }
        return opaque;
    }
    res
}
