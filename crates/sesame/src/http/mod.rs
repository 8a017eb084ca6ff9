//! The HTTP edge: one router per resource, merged here, wrapped in the layers every request
//! goes through (request id, tracing, error logging, body read whole and limited, trailing-slash
//! tolerance).

pub mod admin;
pub mod auth;
pub mod body;
mod cors;
pub mod email;
pub mod error;
pub mod extract;
pub mod forward_auth;
mod identities;
pub mod metrics;
pub mod mfa;
pub mod no_store;
pub mod oauth;
pub mod oauth_register;
mod oidc;
pub mod openapi;
pub mod ops;
mod passkeys;
pub mod profile;
pub mod query;
pub mod ratelimit;
mod redact;
pub mod sessions;
pub mod status_lists;
pub mod wellknown;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::HeaderName;
use axum::{Router, middleware};
use sesame_core::Sesame;
use tower::ServiceBuilder;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use error::ApiError;

/// Request bodies larger than this answer 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The handlers' shared state. One `Arc` around all of it: axum clones the state for every
/// request, and one reference count is cheaper than five (the clone and drop of the five
/// showed up at ~5 % of /auth/verify in a profile). Fields are reached through `Deref`.
#[derive(Clone, Debug)]
pub struct AppState(Arc<AppStateInner>);

#[derive(Debug)]
pub struct AppStateInner {
    pub sesame: Arc<Sesame>,
    pub openapi: Arc<String>,
    pub http: Arc<HttpSettings>,
    pub limits: Arc<ratelimit::RateLimits>,
    pub metrics: Arc<metrics::Metrics>,
    /// Templates and settings of the browser pages (`crate::pages`).
    pub pages: Arc<crate::pages::Pages>,
}

impl AppState {
    pub fn new(inner: AppStateInner) -> Self {
        AppState(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppStateInner;

    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

/// What the HTTP edge needs from the configuration.
#[derive(Debug, Clone, Default)]
pub struct HttpSettings {
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `/metrics` has a listener of its own (`SESAME_METRICS_LISTEN`): the main one answers 404.
    pub metrics_elsewhere: bool,
}

/// The router of the metrics listener (`SESAME_METRICS_LISTEN`): `/metrics` and nothing else.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(metrics::render))
        .fallback(|| async { ApiError::not_found() })
        .with_state(state)
}

/// Every route of the API with its OpenAPI description: each resource's router lists its
/// handlers once, and `routes!` registers a handler for exactly the path and method of its
/// `#[utoipa::path]`, so the document and the router cannot disagree. `/metrics` is left out when
/// it has a listener of its own.
pub fn api(metrics_here: bool) -> OpenApiRouter<AppState> {
    let mut api = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi());
    if metrics_here {
        api = api.routes(routes!(metrics::render));
    }
    api.merge(auth::router())
        .merge(mfa::router())
        .merge(passkeys::router())
        .merge(identities::router())
        .merge(sessions::router())
        .merge(email::router())
        .merge(profile::router())
        .merge(wellknown::router())
        .merge(ops::router())
        .merge(admin::router())
        .merge(oauth::router())
        .merge(oauth_register::router())
        .merge(oidc::router())
        .merge(forward_auth::router())
        .merge(status_lists::router())
}

pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let metrics = state.metrics.clone();
    let (routes, _) = api(!state.http.metrics_elsewhere).split_for_parts();
    routes
        .merge(crate::pages::router())
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .with_state(state.clone())
        .layer(middleware::from_fn_with_state(state, cors::cors))
        .layer(middleware::from_fn(body::read_body_first))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(metrics, metrics::track))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), FastRequestId))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
                    let route = req
                        .extensions()
                        .get::<MatchedPath>()
                        .map_or("-", MatchedPath::as_str);
                    let id = req
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("request", method = %req.method(), route, request_id = %id)
                }))
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(middleware::from_fn(error::log_errors)),
        )
}

/// Request ids: random UUIDs like tower-http's `MakeRequestUuid`, drawn from the thread's
/// userspace CSPRNG instead of a `getrandom` system call per request.
#[derive(Clone, Copy, Debug)]
struct FastRequestId;

impl MakeRequestId for FastRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let bytes: [u8; 16] = rand::random();
        let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        axum::http::HeaderValue::from_str(id.hyphenated().encode_lower(&mut buf))
            .ok()
            .map(RequestId::new)
    }
}
