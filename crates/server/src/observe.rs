//! Request ids, structured request logs and HTTP metrics for every request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, Method};
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

/// HTTP metric handles, resolved once per (route, upstream) and (method, status), so the
/// request path does no label formatting, registry lookup or allocation after the first
/// request of each kind.
#[derive(Debug, Default)]
pub(crate) struct HttpMetrics {
    series: RwLock<HashMap<&'static str, HashMap<String, Arc<Series>>>>,
}

#[derive(Debug)]
pub(crate) struct Series {
    route: &'static str,
    upstream: String,
    duration: Histogram,
    counts: RwLock<HashMap<(Method, u16), Counter>>,
}

impl HttpMetrics {
    fn series(&self, route: &'static str, upstream: &str) -> Arc<Series> {
        let found = self
            .series
            .read()
            .ok()
            .and_then(|m| m.get(route)?.get(upstream).cloned());
        if let Some(series) = found {
            return series;
        }
        let series = Arc::new(Series {
            route,
            upstream: upstream.to_owned(),
            duration: metrics::histogram!("portcullis_http_request_duration_seconds", "route" => route, "upstream" => upstream.to_owned()),
            counts: RwLock::new(HashMap::new()),
        });
        match self.series.write() {
            Ok(mut m) => m
                .entry(route)
                .or_default()
                .entry(upstream.to_owned())
                .or_insert(series)
                .clone(),
            Err(_) => series,
        }
    }
}

impl Series {
    fn record(&self, method: &Method, status: u16, seconds: f64) {
        self.duration.record(seconds);
        let key = (method.clone(), status);
        let counter = self.counts.read().ok().and_then(|c| c.get(&key).cloned());
        let counter = counter.unwrap_or_else(|| {
            let c = metrics::counter!("portcullis_http_requests_total", "route" => self.route, "upstream" => self.upstream.clone(), "method" => method.to_string(), "status" => status.to_string());
            if let Ok(mut m) = self.counts.write() {
                m.insert(key, c.clone());
            }
            c
        });
        counter.increment(1);
    }
}

/// A request id unique across restarts and replicas: a random per-process prefix and a counter
/// (cheaper than a UUID per request, which costs a trip to the kernel's random source), written
/// in hex without the formatting machinery.
fn next_request_id() -> HeaderValue {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| uuid::Uuid::new_v4().as_u64_pair().0);
    let counter = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut id = bytes::BytesMut::with_capacity(33);
    push_hex(&mut id, prefix, 16);
    id.extend_from_slice(b"-");
    let digits = (64 - counter.leading_zeros()).div_ceil(4).max(1) as usize;
    push_hex(&mut id, counter, digits);
    HeaderValue::from_maybe_shared(id.freeze()).unwrap_or(HeaderValue::from_static("-"))
}

/// The low `digits` hex digits of `value`, most significant first, zero-padded.
fn push_hex(out: &mut bytes::BytesMut, value: u64, digits: usize) {
    for i in (0..digits).rev() {
        let nibble = ((value >> (i * 4)) & 0xf) as u32;
        let digit = char::from_digit(nibble, 16).unwrap_or('0');
        out.extend_from_slice(&[digit as u8]);
    }
}

/// The request id a response will carry: the client's `X-Request-Id` when it is short and plain,
/// a new one otherwise.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers
        .get(REQUEST_ID)
        .filter(|v| {
            v.len() <= 64
                && v.as_bytes()
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        })
        .cloned()
        .unwrap_or_else(next_request_id)
}

/// One request being tracked: what [`Tracked::finish`] needs to log it, count it and give its
/// response the request id.
pub(crate) struct Tracked {
    started: Instant,
    id: HeaderValue,
    series: Option<Arc<Series>>,
    method: Method,
    span: tracing::Span,
}

impl Tracked {
    /// Starts tracking a request on `route` (a label of [`route_label`]'s); `upstream` is the
    /// upstream label of MCP requests (a configured name or `unknown`), empty elsewhere.
    pub(crate) fn begin(
        state: &AppState,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        route: &'static str,
        upstream: &str,
    ) -> Tracked {
        let id = request_id(headers);
        let series = (route != "ops").then(|| state.http_metrics.series(route, upstream));
        let span = tracing::info_span!("request", request_id = id.to_str().unwrap_or("-"), method = %method, path = %path);
        Tracked {
            started: Instant::now(),
            id,
            series,
            method: method.clone(),
            span,
        }
    }

    /// The request's id.
    pub(crate) fn id(&self) -> Option<&str> {
        self.id.to_str().ok()
    }

    /// The request's span, for the future that answers it.
    pub(crate) fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// Logs and counts the answer and gives it the request id.
    pub(crate) fn finish(self, response: &mut Response) {
        let status = response.status().as_u16();
        let elapsed = self.started.elapsed();
        if status >= 500 {
            self.span.in_scope(|| {
                tracing::warn!(
                    status,
                    elapsed_ms = elapsed.as_secs_f64() * 1000.0,
                    "request failed"
                );
            });
        } else if tracing::enabled!(tracing::Level::DEBUG) {
            self.span.in_scope(|| {
                tracing::debug!(
                    status,
                    elapsed_ms = elapsed.as_secs_f64() * 1000.0,
                    "request"
                );
            });
        }
        if let Some(series) = self.series {
            series.record(&self.method, status, elapsed.as_secs_f64());
        }
        response.headers_mut().insert(REQUEST_ID, self.id);
    }
}

/// Gives each request an id (`X-Request-Id`, kept from the client when it is short and plain,
/// made here otherwise), logs it in a span, echoes it in the response, and counts the request
/// per route and method and status. (MCP requests are tracked the same way by `mcp::Front`,
/// which answers them before the router.)
pub(crate) async fn track(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("other", |p| route_label(p.as_str()));
    let tracked = Tracked::begin(
        &state,
        request.method(),
        request.uri().path(),
        request.headers(),
        route,
        "",
    );
    let origin = crate::audit::origin_of(
        &state,
        tracked.id(),
        request.headers(),
        crate::audit::peer_of(request.extensions()),
    );
    request.extensions_mut().insert(origin);
    let span = tracked.span().clone();
    let mut response = next.run(request).instrument(span).await;
    tracked.finish(&mut response);
    response
}

fn route_label(path: &str) -> &'static str {
    match path {
        "/healthz" | "/readyz" | "/metrics" => "ops",
        crate::resource_metadata::ROUTE => "resource_metadata",
        crate::forward_auth::ROUTE => "forward_auth",
        crate::jwks::ROUTE => "jwks",
        _ => "other",
    }
}
