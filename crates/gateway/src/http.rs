//! Streamable HTTP upstreams: the request is forwarded as it came (same bytes, an allowlist of
//! headers, never the client's credentials) and the answer streams back frame by frame.

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::value::RawValue;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use crate::body::RelayBody;
use crate::pool::{Pool, PoolError, PoolSettings, RequestBody};
use crate::{Added, RelayError};

pub(crate) type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// Request headers relayed to an upstream. Everything else (credentials, cookies, `Origin`,
/// forwarding headers, hop-by-hop headers) stays at the gateway.
const REQUEST_HEADERS: &[&str] = &[
    "content-type",
    "accept",
    "mcp-session-id",
    "mcp-protocol-version",
    "mcp-method",
    "mcp-name",
    "last-event-id",
    "user-agent",
    "traceparent",
    "tracestate",
];

/// Response headers relayed to the client. `Set-Cookie` and `WWW-Authenticate` belong to the
/// upstream's own origin and would mislead the client about Portcullis's.
const RESPONSE_HEADERS: &[&str] = &[
    "content-type",
    "mcp-session-id",
    "mcp-protocol-version",
    "cache-control",
    "retry-after",
    "allow",
];

/// One Streamable HTTP upstream with its own connection pool.
#[derive(Debug)]
pub struct HttpUpstream {
    name: String,
    uri: Uri,
    pool: Pool,
    first_byte_timeout: Duration,
    idle_timeout: Duration,
    metrics: UpstreamMetrics,
}

/// Metric handles resolved once, so the request path does no label work.
#[derive(Debug)]
pub(crate) struct UpstreamMetrics {
    pub first_byte: metrics::Histogram,
    pub timeout: metrics::Counter,
    pub connect: metrics::Counter,
    pub protocol: metrics::Counter,
}

impl UpstreamMetrics {
    pub(crate) fn new(upstream: &str) -> Self {
        let error = |reason: &'static str| metrics::counter!("portcullis_upstream_errors_total", "upstream" => upstream.to_owned(), "reason" => reason);
        UpstreamMetrics {
            first_byte: metrics::histogram!("portcullis_upstream_first_byte_seconds", "upstream" => upstream.to_owned()),
            timeout: error("timeout"),
            connect: error("connect"),
            protocol: error("protocol"),
        }
    }
}

impl HttpUpstream {
    pub fn new(
        name: &str,
        url: &str,
        connect_timeout: Duration,
        first_byte_timeout: Duration,
        idle_timeout: Duration,
    ) -> Result<Self, String> {
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("invalid upstream URL: {e}"))?;
        let pool = Pool::new(&uri, connector(connect_timeout)?, PoolSettings::default())?;
        Ok(HttpUpstream {
            name: name.to_owned(),
            uri,
            pool,
            first_byte_timeout,
            idle_timeout,
            metrics: UpstreamMetrics::new(name),
        })
    }

    /// The upstream's URL, for logs.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    #[cfg(test)]
    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Relays one request and streams the answer back. `added` are headers Portcullis itself
    /// sends (identity, the upstream's own credential), after the client's allowed ones.
    #[allow(clippy::too_many_arguments)]
    pub async fn send(
        &self,
        method: Method,
        client_headers: &HeaderMap,
        added: &Added<'_>,
        body: Bytes,
        request_id: Option<&RawValue>,
        permit: Option<OwnedSemaphorePermit>,
        cut: Option<CancellationToken>,
    ) -> Result<Response<Body>, RelayError> {
        let mut request = Request::new(RequestBody::new(body));
        *request.method_mut() = method;
        let headers = request.headers_mut();
        headers.reserve(REQUEST_HEADERS.len() + added.len() + 1);
        copy_headers(client_headers, headers, REQUEST_HEADERS);
        for (name, value) in added.iter() {
            headers.insert(name.clone(), value.clone());
        }
        let started = std::time::Instant::now();
        let (response, lease) = match tokio::time::timeout(
            self.first_byte_timeout,
            self.pool.send(request),
        )
        .await
        {
            Err(_) => {
                self.metrics.timeout.increment(1);
                tracing::warn!(upstream = %self.name, timeout = ?self.first_byte_timeout, "upstream did not answer in time");
                return Err(RelayError::Timeout {
                    upstream: self.name.clone(),
                    id: request_id.map(ToOwned::to_owned),
                });
            }
            Ok(Err(e)) => {
                let connect = matches!(e, PoolError::Connect(_));
                if connect {
                    self.metrics.connect.increment(1);
                } else {
                    self.metrics.protocol.increment(1);
                }
                tracing::warn!(upstream = %self.name, error = %e, "upstream request failed");
                return Err(self.unavailable(
                    if connect {
                        "connection refused or failed"
                    } else {
                        "the upstream closed the connection"
                    },
                    request_id,
                ));
            }
            Ok(Ok(answer)) => answer,
        };
        self.metrics
            .first_byte
            .record(started.elapsed().as_secs_f64());
        let (parts, incoming) = response.into_parts();
        let mut out = Response::builder().status(parts.status);
        if let Some(headers) = out.headers_mut() {
            headers.reserve(parts.headers.len().min(RESPONSE_HEADERS.len()) + 2);
            copy_headers(&parts.headers, headers, RESPONSE_HEADERS);
            let is_sse = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/event-stream"));
            if is_sse {
                headers.insert(
                    HeaderName::from_static("x-accel-buffering"),
                    HeaderValue::from_static("no"),
                );
                headers
                    .entry(header::CACHE_CONTROL)
                    .or_insert(HeaderValue::from_static("no-cache"));
            }
        }
        let body = Body::new(RelayBody::new(
            incoming,
            self.idle_timeout,
            permit,
            cut,
            lease,
        ));
        out.body(body)
            .map_err(|_| self.unavailable("bad response", request_id))
    }

    fn unavailable(&self, reason: &'static str, id: Option<&RawValue>) -> RelayError {
        RelayError::Unavailable {
            upstream: self.name.clone(),
            reason,
            id: id.map(ToOwned::to_owned),
        }
    }
}

/// The connector every upstream client uses: plain TCP with a connect timeout and no Nagle
/// delay, TLS through rustls with the system's roots, HTTP/1.1 and HTTP/2.
pub(crate) fn connector(connect_timeout: Duration) -> Result<Connector, String> {
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);
    http.enforce_http(false);
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| format!("cannot load the system's TLS roots: {e}"))?
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http))
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap, allowed: &[&str]) {
    for (name, value) in from {
        let name_str = name.as_str();
        if allowed.contains(&name_str)
            || name_str.starts_with(portcullis_proto::mcp::header::PARAM_PREFIX)
        {
            to.append(name.clone(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_forwarding_headers_are_not_relayed() {
        let mut from = HeaderMap::new();
        for (k, v) in [
            ("authorization", "Bearer secret"),
            ("cookie", "a=b"),
            ("origin", "http://localhost"),
            ("host", "gw"),
            ("x-forwarded-for", "1.2.3.4"),
            ("connection", "keep-alive"),
            ("content-type", "application/json"),
            ("mcp-session-id", "s1"),
            ("mcp-param-region", "eu"),
        ] {
            from.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        let mut to = HeaderMap::new();
        copy_headers(&from, &mut to, REQUEST_HEADERS);
        let names: Vec<&str> = to.keys().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            ["content-type", "mcp-session-id", "mcp-param-region"]
        );
    }
}
