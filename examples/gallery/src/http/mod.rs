//! The HTTP edge: one router per resource, merged here, wrapped in the layers every request goes
//! through (request id, tracing, error logging, body limit).

pub mod error;
pub mod extract;
pub mod files;
pub mod images;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRef, MatchedPath, Request, State};
use axum::http::HeaderName;
use axum::routing::get;
use axum::{Json, Router, middleware};
use serde_json::{Value, json};
use sesame_verify::RemoteVerifier;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::gallery::Gallery;
use crate::image::MAX_BASE64_CHARS;
use error::ApiError;

/// Room for the largest image in base64 (~683 KB) plus a title, a description (even fully
/// `\u`-escaped) and the JSON around them — and not much more.
pub const BODY_LIMIT: usize = MAX_BASE64_CHARS + 32 * 1024;

#[derive(Debug, Clone, FromRef)]
pub struct AppState {
    pub gallery: Arc<Gallery>,
    pub verifier: RemoteVerifier,
    /// Base of every `image_url`, without a trailing slash.
    pub public_url: Arc<str>,
}

pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .merge(images::router())
        .merge(files::router())
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(ready))
        // RFC 9728: where OAuth clients learn which authorization server this gallery trusts.
        .merge(sesame_verify::axum::protected_resource(&state.verifier))
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .with_state(state)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
                    let route = req
                        .extensions()
                        .get::<MatchedPath>()
                        .map(|m| m.as_str().to_string());
                    let id = req
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("request", method = %req.method(), route = route.as_deref().unwrap_or("-"), request_id = %id)
                }))
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(middleware::from_fn(error::log_errors)),
        )
}

/// 200 when the metadata database answers (Sesame's reachability is not required: cached keys
/// keep working, and a cold cache answers 503 per request).
async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state
        .gallery
        .store()
        .ping()
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok(Json(json!({"status": "ok"})))
}
