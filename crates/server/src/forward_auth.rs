//! `/forward-auth`: authentication for MCP servers published by a reverse proxy (Traefik
//! `forwardAuth`, nginx `auth_request`, Caddy `forward_auth`) instead of Portcullis's relay.
//!
//! The proxy sends each request's headers here; the answer is 200 with the caller's identity
//! headers (which the proxy copies onto the request it forwards), 401 with the same Bearer
//! challenge the relay would give, or 403. Which upstream is meant comes from `?upstream=NAME`
//! on the ForwardAuth URL, or else from the original request's scheme, host and path
//! (`X-Forwarded-Proto`, `X-Forwarded-Host`, `X-Forwarded-Uri`) matched against each upstream's
//! resource URL. Those headers are believed only from `server.trusted_proxies`; from anyone else
//! they are ignored, so a client that reaches Portcullis directly cannot choose what is checked.
//! The path is normalised (RFC 3986 §6.2.2: percent-encoded unreserved characters decoded, dot
//! segments removed) before it is matched, so `/servers/a/../b/mcp` is checked as the `/servers/b/mcp`
//! the upstream will see; a path that still names no upstream is refused with 403.

use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use http::{HeaderMap, StatusCode};
use ipnet::IpNet;

use crate::{ApiError, AppState};

pub(crate) const ROUTE: &str = "/forward-auth";

const X_FORWARDED_PROTO: &str = "x-forwarded-proto";
const X_FORWARDED_HOST: &str = "x-forwarded-host";
const X_FORWARDED_URI: &str = "x-forwarded-uri";

pub(crate) fn router() -> Router<AppState> {
    Router::new().route(ROUTE, any(forward_auth))
}

/// The peers whose `X-Forwarded-*` headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// From `server.trusted_proxies` (validated by the configuration: networks or addresses).
    pub fn new(entries: &[String]) -> Self {
        TrustedProxies(
            entries
                .iter()
                .filter_map(|e| {
                    e.parse::<IpNet>()
                        .ok()
                        .or_else(|| e.parse::<IpAddr>().ok().map(IpNet::from))
                })
                .collect(),
        )
    }

    pub fn trusts(&self, peer: IpAddr) -> bool {
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            v4 => v4,
        };
        self.0.iter().any(|net| net.contains(&peer))
    }

    /// The address of the client behind `peer`: `peer` itself, unless it is a trusted proxy;
    /// then the nearest `X-Forwarded-For` entry (from the right) that is not a trusted proxy,
    /// since entries to its left were written by the client and can be anything.
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|entry| entry.trim().parse::<IpAddr>().ok())
            .collect();
        forwarded
            .iter()
            .rev()
            .find(|ip| !self.trusts(**ip))
            .or(forwarded.first())
            .copied()
            .unwrap_or(peer)
    }
}

async fn forward_auth(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    let headers = request.headers();
    // Absent only when served without peer addresses: then no proxy is trusted.
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>();
    let trusted = peer.is_some_and(|ConnectInfo(addr)| state.trusted_proxies.trusts(addr.ip()));
    let name = match upstream_param(request.uri().query()) {
        Some(name) => name,
        None if trusted => match forwarded_resource(headers) {
            Some(resource) => state
                .gateway
                .resources()
                .find(|(_, url)| *url == resource)
                .map(|(name, _)| name.to_owned())
                .ok_or(ApiError::Forbidden(
                    "no MCP server is published at this address",
                ))?,
            None => {
                return Err(ApiError::Forbidden(
                    "X-Forwarded-Proto, X-Forwarded-Host and X-Forwarded-Uri are required without ?upstream=",
                ));
            }
        },
        None => {
            return Err(ApiError::Forbidden(
                "say which MCP server to check with ?upstream=NAME (X-Forwarded-* headers are believed only from trusted_proxies)",
            ));
        }
    };
    // The original request's Origin travels with its headers: the same DNS-rebinding rule as
    // the relay's applies to it.
    if let Some(origin) = headers.get(http::header::ORIGIN)
        && !origin
            .to_str()
            .is_ok_and(|o| state.gateway.origin_policy().origin_allowed(o))
    {
        return Err(ApiError::Forbidden("the Origin is not allowed"));
    }
    // The original request's query is in X-Forwarded-Uri (from a trusted proxy): a token there
    // is refused just as on the relay.
    let original_query = trusted
        .then(|| header(headers, X_FORWARDED_URI))
        .flatten()
        .and_then(|uri| uri.split_once('?').map(|(_, q)| q));
    let address =
        peer.map(|ConnectInfo(addr)| state.trusted_proxies.client_address(addr.ip(), headers));
    let principal = state
        .gateway
        .authenticate(&name, headers, original_query, address)
        .await?;
    let mut response = StatusCode::OK.into_response();
    if let Some(principal) = principal {
        portcullis_gateway::identity::insert(&principal, response.headers_mut());
    }
    Ok(response)
}

/// The `upstream` parameter of the ForwardAuth URL's query.
fn upstream_param(query: Option<&str>) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (name == "upstream" && !value.is_empty()).then(|| value.to_owned())
    })
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    // Two copies means someone appended to the proxy's header: believe neither.
    if values.next().is_some() {
        return None;
    }
    value.to_str().ok()
}

/// `{proto}://{host}{normalised path}` of the original request, as a resource URL.
fn forwarded_resource(headers: &HeaderMap) -> Option<String> {
    let proto = header(headers, X_FORWARDED_PROTO)?
        .trim()
        .to_ascii_lowercase();
    if proto != "http" && proto != "https" {
        return None;
    }
    let host = header(headers, X_FORWARDED_HOST)?
        .trim()
        .to_ascii_lowercase();
    if host.is_empty() || host.contains(['/', '?', '#', '@', ' ']) {
        return None;
    }
    let uri = header(headers, X_FORWARDED_URI)?;
    let path = uri.split(['?', '#']).next().unwrap_or_default();
    let path = normalize_path(path)?;
    // A default port is not part of a resource URL.
    let host = match (proto.as_str(), host.rsplit_once(':')) {
        ("http", Some((h, "80"))) | ("https", Some((h, "443"))) => h.to_owned(),
        _ => host,
    };
    Some(format!("{proto}://{host}{path}"))
}

/// RFC 3986 §6.2.2 normalisation of an absolute path: percent-encodings of unreserved
/// characters decoded (so `%2e%2e` is `..`), others upper-cased, dot segments removed (§5.2.4).
/// `None` when the path is not absolute or holds a malformed percent-encoding.
pub(crate) fn normalize_path(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return None;
    }
    let bytes = path.as_bytes();
    let mut decoded = String::with_capacity(path.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = path.get(i + 1..i + 3)?;
            let value = u8::from_str_radix(hex, 16).ok()?;
            if value.is_ascii_alphanumeric() || b"-._~".contains(&value) {
                decoded.push(char::from(value));
            } else {
                decoded.push('%');
                decoded.push_str(&hex.to_ascii_uppercase());
            }
            i += 3;
        } else {
            decoded.push(char::from(b));
            i += 1;
        }
    }
    let mut segments: Vec<&str> = Vec::new();
    let mut parts = decoded.split('/').skip(1).peekable();
    while let Some(segment) = parts.next() {
        let last = parts.peek().is_none();
        match segment {
            "." => {
                if last {
                    segments.push("");
                }
            }
            ".." => {
                segments.pop();
                if last {
                    segments.push("");
                }
            }
            s => segments.push(s),
        }
    }
    Some(format!("/{}", segments.join("/")))
}

#[cfg(test)]
mod tests;
