//! Request ids, structured request logs and HTTP metrics for every request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderValue, Method};
use metrics::{Counter, Histogram};
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

/// HTTP metric handles, resolved once per (upstream, method, status) so the request path does
/// no label formatting or registry lookups after the first request of each kind.
#[derive(Debug, Default)]
pub(crate) struct HttpMetrics {
    series: RwLock<HashMap<(&'static str, String), Arc<Series>>>,
}

#[derive(Debug)]
struct Series {
    route: &'static str,
    upstream: String,
    duration: Histogram,
    counts: RwLock<HashMap<(Method, u16), Counter>>,
}

impl HttpMetrics {
    fn record(
        &self,
        route: &'static str,
        upstream: &str,
        method: &Method,
        status: u16,
        seconds: f64,
    ) {
        let found = self
            .series
            .read()
            .ok()
            .and_then(|m| m.get(&(route, upstream.to_owned())).cloned());
        let series = match found {
            Some(s) => s,
            None => {
                let s = Arc::new(Series {
                    route,
                    upstream: upstream.to_owned(),
                    duration: metrics::histogram!("portcullis_http_request_duration_seconds", "route" => route, "upstream" => upstream.to_owned()),
                    counts: RwLock::new(HashMap::new()),
                });
                if let Ok(mut m) = self.series.write() {
                    m.entry((route, upstream.to_owned()))
                        .or_insert_with(|| s.clone())
                        .clone()
                } else {
                    s
                }
            }
        };
        series.duration.record(seconds);
        let counter = series
            .counts
            .read()
            .ok()
            .and_then(|c| c.get(&(method.clone(), status)).cloned());
        let counter = counter.unwrap_or_else(|| {
            let c = metrics::counter!("portcullis_http_requests_total", "route" => series.route, "upstream" => series.upstream.clone(), "method" => method.to_string(), "status" => status.to_string());
            if let Ok(mut m) = series.counts.write() {
                m.insert((method.clone(), status), c.clone());
            }
            c
        });
        counter.increment(1);
    }
}

/// A request id unique across restarts and replicas: a random per-process prefix and a counter
/// (cheaper than a UUID per request, which costs a trip to the kernel's random source).
fn next_request_id() -> String {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| uuid::Uuid::new_v4().as_u64_pair().0);
    format!(
        "{prefix:016x}-{:x}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Gives each request an id (`X-Request-Id`, kept from a trusted client or made here), logs it
/// in a span, echoes it in the response, and counts the request per route, upstream and status.
pub(crate) async fn track(
    State(state): State<AppState>,
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
        .unwrap_or_else(next_request_id);
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("other", |p| route_label(p.as_str()));
    // Only configured names become label values, so no client can create metric series at will.
    let upstream = (route == "mcp")
        .then(|| {
            request
                .uri()
                .path()
                .strip_prefix("/servers/")
                .and_then(|p| p.split('/').next())
        })
        .flatten()
        .map(|name| {
            if state.gateway.has_upstream(name) {
                name.to_owned()
            } else {
                "unknown".to_owned()
            }
        })
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
        state
            .http_metrics
            .record(route, &upstream, &method, status, elapsed.as_secs_f64());
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
