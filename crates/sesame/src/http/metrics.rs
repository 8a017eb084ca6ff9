//! Prometheus metrics: requests by matched route template (never the raw path, so label
//! cardinality stays bounded) and status, latency histograms, the core's business counters and
//! the database pool.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sesame_core::Sesame;

use super::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: MethodLabel,
    pub route: RouteLabel,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: MethodLabel,
    pub route: RouteLabel,
}

/// The request method as a label: a cheap clone, no string built per request.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct MethodLabel(pub Method);

impl EncodeLabelValue for MethodLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.0.as_str())
    }
}

/// The matched route template (axum keeps it reference-counted, so labelling a request clones
/// a pointer), or "unmatched".
#[derive(Clone, Debug)]
pub struct RouteLabel(pub Option<MatchedPath>);

impl RouteLabel {
    pub fn as_str(&self) -> &str {
        self.0.as_ref().map_or("unmatched", MatchedPath::as_str)
    }
}

impl PartialEq for RouteLabel {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for RouteLabel {}

impl std::hash::Hash for RouteLabel {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl EncodeLabelValue for RouteLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    pub pool: &'static str,
    pub state: &'static str,
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    pool: Family<PoolLabels, Gauge>,
    status_revoked: Gauge,
}

impl Metrics {
    pub fn new(sesame: &Sesame) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        let pool = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "sesame_http_requests",
            "HTTP requests by route template and status",
            requests.clone(),
        );
        registry.register(
            "sesame_http_request_duration_seconds",
            "HTTP request latency by route template",
            latency.clone(),
        );
        registry.register(
            "sesame_db_pool_connections",
            "Database pool connections by state",
            pool.clone(),
        );
        let status_revoked = Gauge::default();
        registry.register(
            "sesame_status_list_revoked",
            "Status-list entries set (revoked sessions and clients whose tokens may still be live)",
            status_revoked.clone(),
        );
        sesame.metrics().register(&mut registry);
        Metrics {
            registry,
            requests,
            latency,
            pool,
            status_revoked,
        }
    }

    fn encode(&self, sesame: &Sesame) -> String {
        for (name, size, idle) in sesame.pool_stats() {
            let in_use = size.saturating_sub(idle);
            self.pool
                .get_or_create(&PoolLabels {
                    pool: name,
                    state: "in_use",
                })
                .set(i64::from(in_use));
            self.pool
                .get_or_create(&PoolLabels {
                    pool: name,
                    state: "idle",
                })
                .set(i64::from(idle));
        }
        self.status_revoked
            .set(i64::try_from(sesame.status_lists().lists().revoked_count()).unwrap_or(i64::MAX));
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Counts and times every request under its route template.
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = RouteLabel(req.extensions().get::<MatchedPath>().cloned());
    let method = MethodLabel(req.method().clone());
    let started = Instant::now();
    let res = next.run(req).await;
    let elapsed = started.elapsed().as_secs_f64();
    metrics
        .latency
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route: route.clone(),
        })
        .observe(elapsed);
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: res.status().as_u16(),
        })
        .inc();
    res
}

/// GET /metrics — Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", content_type = "application/openmetrics-text", body = String)))]
pub async fn render(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(&state.sesame),
    )
}
