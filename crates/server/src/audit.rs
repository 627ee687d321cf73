//! Who and where for the audit log: each request's id and client address are put in its
//! extensions when it is tracked ([`origin_of`]), and handlers that record events take
//! [`Audit`], the request's [`AuditContext`] with nobody acting yet.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use http::Extensions;
use http::request::Parts;
use portcullis_core::audit::AuditContext;
use portcullis_gateway::audit::RequestOrigin;

use crate::AppState;

/// The origin of a request with `id` and these headers from `peer`: its id, and its client
/// address as `trusted_proxies` reads it (none when served without peer addresses).
pub(crate) fn origin_of(
    state: &AppState,
    id: Option<&str>,
    headers: &http::HeaderMap,
    peer: Option<SocketAddr>,
) -> RequestOrigin {
    let source = peer.map(|addr| state.trusted_proxies.client_address(addr.ip(), headers));
    RequestOrigin {
        request_id: id.map(str::to_owned),
        source,
    }
}

/// The peer of a request the router serves.
pub(crate) fn peer_of(extensions: &Extensions) -> Option<SocketAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr)
}

/// The audit context of a request: its id and source, recording on when `[audit] enabled`.
pub(crate) fn context(state: &AppState, extensions: &Extensions) -> AuditContext {
    let origin = extensions.get::<RequestOrigin>();
    AuditContext {
        enabled: state.gateway.decisions().enabled(),
        request_id: origin.and_then(|o| o.request_id.clone()),
        source: origin.and_then(|o| o.source).map(|ip| ip.to_string()),
        ..AuditContext::default()
    }
}

/// The request's [`AuditContext`], for handlers that record events.
#[derive(Debug, Clone)]
pub(crate) struct Audit(pub AuditContext);

impl FromRequestParts<AppState> for Audit {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        Ok(Audit(context(state, &parts.extensions)))
    }
}
