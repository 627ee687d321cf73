//! Request ids, structured request logs and HTTP metrics for every request.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::Instrument;

use crate::AppState;

const REQUEST_ID: &str = "x-request-id";
/// Latency buckets from 100 µs to 30 s: relay overheads are sub-millisecond, tools take seconds.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// Installs the process-wide Prometheus recorder (once per process).
pub fn install_metrics() -> Option<PrometheusHandle> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), BUCKETS)
        .ok()?
        .install_recorder()
        .ok()
}

/// Gives each request an id (`X-Request-Id`, kept from a trusted client or made here), logs it
/// in a span, echoes it in the response, and counts the request per route, upstream and status.
pub(crate) async fn track(
    State(_state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("other", |p| route_label(p.as_str()));
    let upstream = (route == "mcp")
        .then(|| {
            request
                .uri()
                .path()
                .strip_prefix("/servers/")
                .and_then(|p| p.split('/').next())
                .map(str::to_owned)
        })
        .flatten()
        .unwrap_or_default();
    let method = request.method().clone();
    if let Ok(v) = HeaderValue::from_str(&id) {
        request.headers_mut().insert(REQUEST_ID, v);
    }
    let span = tracing::info_span!("request", request_id = %id, method = %method, path = %request.uri().path());
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(
                status,
                elapsed_ms = elapsed.as_secs_f64() * 1000.0,
                "request failed"
            );
        } else {
            tracing::debug!(
                status,
                elapsed_ms = elapsed.as_secs_f64() * 1000.0,
                "request"
            );
        }
    });
    if route != "ops" {
        let status_label = status.to_string();
        metrics::counter!("portcullis_http_requests_total", "route" => route, "upstream" => upstream.clone(), "method" => method.to_string(), "status" => status_label).increment(1);
        metrics::histogram!("portcullis_http_request_duration_seconds", "route" => route, "upstream" => upstream).record(elapsed.as_secs_f64());
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, v);
    }
    response
}

fn route_label(path: &str) -> &'static str {
    match path {
        "/servers/{name}/mcp" => "mcp",
        "/healthz" | "/readyz" | "/metrics" => "ops",
        _ => "other",
    }
}
