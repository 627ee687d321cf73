//! `/servers/{name}/mcp`: POST, GET (and HEAD) and DELETE relayed by the gateway, CORS for
//! browser clients.
//!
//! [`Front`] answers these requests itself, in front of the axum router, which gets every other
//! path. The relay path is the one every MCP call takes, and the router's general machinery
//! (route matching and extraction, per-route service clones, a CORS layer that builds a header
//! map for every request) cost more than the hop's own work. `Front` matches the path by hand and
//! answers exactly as the router did: the same methods (405 with `Allow` otherwise, HEAD as GET
//! without a body), the same percent-decoding of the name and the same refusal of a name that
//! is not UTF-8, no trailing slash, and the same CORS headers, computed only when there is an
//! `Origin` to judge. `crates/cli/tests/mcp_route.rs` holds it to that, answer by answer.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::{IntoResponse, Response};
use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS, ALLOW,
    CONTENT_LENGTH, CONTENT_TYPE, ORIGIN, VARY,
};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use portcullis_gateway::{RelayError, UpstreamRef};
use tracing::Instrument;

use crate::observe::Tracked;
use crate::{ApiError, AppState};

/// The methods the MCP endpoint serves, as its 405 answers list them.
const ALLOWED: HeaderValue = HeaderValue::from_static("POST,GET,HEAD,DELETE");
/// What a preflight may ask for.
const PREFLIGHT_METHODS: HeaderValue = HeaderValue::from_static("GET,POST,DELETE,OPTIONS");
/// Headers a browser client may read from an answer.
const EXPOSED: HeaderValue =
    HeaderValue::from_static("mcp-session-id,mcp-protocol-version,www-authenticate");
/// The CORS answer depends on the `Origin` and, for preflights, on the headers asked for.
const VARY_CORS: HeaderValue = HeaderValue::from_static("origin, access-control-request-headers");
/// Ten minutes of preflight caching.
const MAX_AGE: HeaderValue = HeaderValue::from_static("600");

/// The whole HTTP surface: the MCP endpoint answered here, everything else by `router`.
#[derive(Clone)]
pub struct Front {
    shared: Arc<Shared>,
    /// The peer of the connection this service serves (ForwardAuth needs it).
    remote: Option<SocketAddr>,
}

struct Shared {
    state: AppState,
    router: Router,
}

impl std::fmt::Debug for Front {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Front")
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

impl Front {
    pub(crate) fn new(state: AppState, router: Router) -> Self {
        Front {
            shared: Arc::new(Shared { state, router }),
            remote: None,
        }
    }

    /// The same service for one connection from `remote`.
    pub(crate) fn for_peer(&self, remote: SocketAddr) -> Self {
        Front {
            shared: self.shared.clone(),
            remote: Some(remote),
        }
    }
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl tower::Service<Request> for Front {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The router is always ready; each call below uses a fresh clone of it.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request) -> BoxFuture {
        match name_segment(request.uri().path()) {
            Some(segment) => Box::pin(serve_mcp(
                self.shared.clone(),
                request,
                segment,
                self.remote,
            )),
            None => {
                if let Some(remote) = self.remote {
                    request.extensions_mut().insert(ConnectInfo(remote));
                }
                let mut router = self.shared.router.clone();
                Box::pin(async move { tower::Service::call(&mut router, request).await })
            }
        }
    }
}

/// Where the `{name}` segment of `/servers/{name}/mcp` is in `path`, when `path` is exactly that
/// (the segment may be empty; no trailing slash, case-sensitive, no normalisation).
fn name_segment(path: &str) -> Option<std::ops::Range<usize>> {
    const PREFIX: &str = "/servers/";
    const SUFFIX: &str = "/mcp";
    let name = path.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if name.contains('/') {
        return None;
    }
    Some(PREFIX.len()..PREFIX.len() + name.len())
}

/// Answers one request to `/servers/{name}/mcp`, `segment` being where `{name}` is in its path.
async fn serve_mcp(
    shared: Arc<Shared>,
    request: Request,
    segment: std::ops::Range<usize>,
    remote: Option<SocketAddr>,
) -> Result<Response, Infallible> {
    let state = &shared.state;
    let (mut parts, body) = request.into_parts();
    let raw = parts.uri.path().get(segment).unwrap_or_default();
    let name = decode(raw);
    let upstream = match &name {
        Ok(name) => state.gateway.find(name),
        Err(()) => None,
    };
    // Metric labels are configured names only, read from the path as it came, so no client can
    // create series at will; an encoded name counts as `unknown`.
    let label = match (&name, upstream) {
        (Ok(std::borrow::Cow::Borrowed(_)), Some(upstream)) => upstream.name(),
        (Ok(std::borrow::Cow::Borrowed(_)), None) => "unknown",
        _ if state.gateway.has_upstream(raw) => raw,
        _ => "unknown",
    };
    let tracked = Tracked::begin(
        state,
        &parts.method,
        parts.uri.path(),
        &parts.headers,
        "mcp",
        label,
    );
    // The request id and client address, for the audit log and the per-address limit on
    // credential checks.
    let origin = crate::audit::origin_of(state, tracked.id(), &parts.headers, remote);
    parts.extensions.insert(origin);
    let mut response = if parts.method == Method::OPTIONS {
        preflight(state, &parts)
    } else {
        let mut response = match name {
            _ if !matches!(
                parts.method,
                Method::POST | Method::GET | Method::HEAD | Method::DELETE
            ) =>
            {
                method_not_allowed()
            }
            Err(()) => invalid_name(),
            Ok(name) => relay(state, upstream, &name, &parts, body)
                .instrument(tracked.span().clone())
                .await
                .unwrap_or_else(|e| ApiError::Relay(e).into_response()),
        };
        cors(state, &parts.headers, response.headers_mut());
        response
    };
    tracked.finish(&mut response);
    Ok(response)
}

/// The percent-decoded name, borrowed when there was nothing to decode; `Err` when it is not
/// UTF-8.
fn decode(raw: &str) -> Result<std::borrow::Cow<'_, str>, ()> {
    if raw.contains('%') {
        percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| ())
    } else {
        Ok(std::borrow::Cow::Borrowed(raw))
    }
}

async fn relay(
    state: &AppState,
    upstream: Option<UpstreamRef<'_>>,
    name: &str,
    parts: &Parts,
    body: Body,
) -> Result<Response, RelayError> {
    let Some(upstream) = upstream else {
        return Err(RelayError::UnknownUpstream(name.to_owned()));
    };
    let gateway = &state.gateway;
    match parts.method {
        Method::POST => gateway.post(upstream, parts, body).await,
        // HEAD is GET without the body, which hyper leaves out (keeping its length).
        Method::GET | Method::HEAD => gateway.get(upstream, parts).await,
        _ => gateway.delete(upstream, parts).await,
    }
}

fn method_not_allowed() -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    let headers = response.headers_mut();
    headers.insert(ALLOW, ALLOWED);
    headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    response
}

/// A name that is not UTF-8 once decoded, answered as the router's path extraction did.
fn invalid_name() -> Response {
    let mut response = Response::new(Body::from("Invalid URL: Invalid UTF-8 in `name`"));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The CORS headers of an actual (not preflight) request's answer.
fn cors(state: &AppState, request: &HeaderMap, response: &mut HeaderMap) {
    if let Some(origin) = allowed_origin(state, request) {
        response.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    }
    response.append(VARY, VARY_CORS);
    response.insert(ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED);
}

/// The answer to any OPTIONS request: a preflight, whatever the name, with the origin allowed
/// only when the policy allows it and the requested headers mirrored (`Mcp-Param-*` names are
/// open-ended).
fn preflight(state: &AppState, parts: &Parts) -> Response {
    let mut response = Response::new(Body::empty());
    let headers = response.headers_mut();
    if let Some(origin) = allowed_origin(state, &parts.headers) {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    }
    headers.insert(VARY, VARY_CORS);
    headers.insert(ACCESS_CONTROL_ALLOW_METHODS, PREFLIGHT_METHODS);
    if let Some(asked) = parts.headers.get(ACCESS_CONTROL_REQUEST_HEADERS) {
        headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
    }
    headers.insert(ACCESS_CONTROL_MAX_AGE, MAX_AGE);
    headers.insert(ALLOW, ALLOWED);
    headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    response
}

/// The request's `Origin`, when there is one and the policy allows it.
fn allowed_origin<'r>(state: &AppState, request: &'r HeaderMap) -> Option<&'r HeaderValue> {
    let origin = request.get(ORIGIN)?;
    origin
        .to_str()
        .is_ok_and(|o| state.gateway.origin_policy().origin_allowed(o))
        .then_some(origin)
}

#[cfg(test)]
mod tests {
    use super::name_segment;

    #[test]
    fn only_the_exact_path_shape_is_the_mcp_endpoint() {
        for (path, name) in [
            ("/servers/files/mcp", Some("files")),
            ("/servers/fil%65s/mcp", Some("fil%65s")),
            ("/servers//mcp", Some("")),
            ("/servers/mcp/mcp", Some("mcp")),
            ("/servers/files/mcp/", None),
            ("/servers/files/MCP", None),
            ("/Servers/files/mcp", None),
            ("/servers/files", None),
            ("/servers/mcp", None),
            ("/servers/a/b/mcp", None),
            ("//servers/files/mcp", None),
            ("/servers/files/mcp/../mcp", None),
        ] {
            assert_eq!(name_segment(path).and_then(|r| path.get(r)), name, "{path}");
        }
    }
}
