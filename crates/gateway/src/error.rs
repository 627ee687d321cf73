//! Why the relay refused or failed a request. `portcullis-server` turns these into HTTP
//! responses (its `error` module is the one place that does), with a JSON-RPC error body.

use std::sync::Arc;

use serde_json::value::RawValue;

use crate::auth::{AuthFailure, ResourceChallenge};

/// A relay failure, carrying the JSON-RPC id of the request when it is known.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// No `[[upstreams]]` entry has this name: HTTP 404.
    #[error("no MCP server named {0:?}")]
    UnknownUpstream(String),
    /// The `Origin` or `Host` header is not allowed: HTTP 403 (DNS-rebinding protection).
    #[error("{0}")]
    ForbiddenOrigin(&'static str),
    /// The body is larger than `server.max_body_bytes`: HTTP 413.
    #[error("the request body is larger than {0} bytes")]
    BodyTooLarge(usize),
    /// The body could not be read from the client.
    #[error("the request body could not be read")]
    BodyUnreadable,
    /// The `Content-Type` is not JSON: HTTP 415.
    #[error("the request body must be application/json")]
    UnsupportedMediaType,
    /// Invalid JSON or an invalid JSON-RPC message: HTTP 400 with -32700 or -32600.
    #[error("{message}")]
    BadMessage {
        code: i64,
        message: String,
        id: Option<Box<RawValue>>,
    },
    /// `Mcp-Method`, `Mcp-Name` or `MCP-Protocol-Version` disagree with the body or are missing
    /// (MCP 2026-07-28 HeaderMismatch): HTTP 400 with -32020.
    #[error("header mismatch: {message}")]
    HeaderMismatch {
        message: String,
        id: Option<Box<RawValue>>,
    },
    /// The `MCP-Protocol-Version` is not one Portcullis knows, or not one this upstream
    /// speaks: HTTP 400 with -32022, listing the versions that would work (`None`: every
    /// version Portcullis relays).
    #[error("unsupported protocol version {version:?}")]
    UnsupportedVersion {
        version: String,
        supported: Option<Vec<String>>,
        id: Option<Box<RawValue>>,
    },
    /// The `Mcp-Session-Id` is not a live session of this upstream: HTTP 404 with -32001.
    #[error("session not found")]
    SessionNotFound { id: Option<Box<RawValue>> },
    /// A request needs a session but carries none: HTTP 400.
    #[error("{message}")]
    SessionRequired {
        message: &'static str,
        id: Option<Box<RawValue>>,
    },
    /// The HTTP method is not allowed here: HTTP 405.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The client must accept the media types the transport uses: HTTP 406.
    #[error("{0}")]
    NotAcceptable(&'static str),
    /// The upstream has `max_in_flight` requests (or `max_streams` streams) open: HTTP 503.
    #[error("the MCP server {upstream:?} is busy")]
    Busy {
        upstream: String,
        id: Option<Box<RawValue>>,
    },
    /// The upstream could not be reached or answered badly: HTTP 502.
    #[error("the MCP server {upstream:?} is unavailable")]
    Unavailable {
        upstream: String,
        reason: &'static str,
        id: Option<Box<RawValue>>,
    },
    /// The upstream did not answer in time: HTTP 504.
    #[error("the MCP server {upstream:?} did not answer in time")]
    Timeout {
        upstream: String,
        id: Option<Box<RawValue>>,
    },
    /// The caller is not authenticated: HTTP 401 with a Bearer challenge pointing at the
    /// upstream's protected resource metadata, or 503 when the credential could not be checked.
    #[error("{failure}")]
    Unauthenticated {
        failure: AuthFailure,
        challenge: Arc<ResourceChallenge>,
    },
    /// The credential lacks scopes the operation needs: HTTP 403 with an `insufficient_scope`
    /// challenge listing every scope the operation needs (MCP: one challenge, all scopes).
    #[error("the access token lacks a scope this operation needs")]
    InsufficientScope {
        scopes: Vec<String>,
        challenge: Arc<ResourceChallenge>,
        id: Option<Box<RawValue>>,
    },
    /// The caller may not make this request: it gets the JSON-RPC error the upstream would
    /// give for something that does not exist (HTTP 200), or, for a notification or a batch,
    /// HTTP 403. The upstream is not called.
    #[error("{message}")]
    Refused {
        code: i64,
        message: String,
        id: Option<Box<RawValue>>,
    },
    /// The upstream acts as the user at an identity provider (`pass_provider_token`) and the
    /// caller has no usable token from it (never signed in with it, or it expired and could
    /// not be refreshed): HTTP 403; or the provider could not be asked: HTTP 503.
    #[error("{}", if *unavailable { format!("the identity provider {provider:?} could not be reached to refresh the caller's token") } else { format!("this MCP server acts as you at {provider:?}: sign in with {provider:?} (your token from it is missing or expired)") })]
    ProviderToken {
        upstream: String,
        provider: String,
        unavailable: bool,
        id: Option<Box<RawValue>>,
    },
    /// A rate limit refused the request (`limit` names it: `mcp_per_user`, `mcp_per_client`,
    /// `mcp_per_tenant` or `tool`): HTTP 429 with `Retry-After` and a JSON-RPC error with code
    /// -32029. The upstream is not called.
    #[error("rate limit exceeded: try again in {retry_after_secs} s")]
    RateLimited {
        limit: &'static str,
        retry_after_secs: u64,
        id: Option<Box<RawValue>>,
    },
    /// Portcullis could not sign the identity token the upstream asks for: HTTP 503.
    #[error("Portcullis cannot vouch for the caller to {upstream:?} right now")]
    Signing { upstream: String },
    /// The store failed: HTTP 503.
    #[error("the session store is unavailable")]
    Store(#[from] portcullis_store::StoreError),
}

impl RelayError {
    /// The id of the JSON-RPC request this error answers, when known.
    pub fn request_id(&self) -> Option<&RawValue> {
        match self {
            RelayError::BadMessage { id, .. }
            | RelayError::HeaderMismatch { id, .. }
            | RelayError::UnsupportedVersion { id, .. }
            | RelayError::SessionNotFound { id }
            | RelayError::SessionRequired { id, .. }
            | RelayError::Busy { id, .. }
            | RelayError::Unavailable { id, .. }
            | RelayError::Timeout { id, .. }
            | RelayError::InsufficientScope { id, .. }
            | RelayError::Refused { id, .. }
            | RelayError::ProviderToken { id, .. }
            | RelayError::RateLimited { id, .. } => id.as_deref(),
            _ => None,
        }
    }

    /// Attaches the request id to errors that carry one.
    pub(crate) fn with_id(mut self, request: Option<&RawValue>) -> Self {
        let owned = request.map(|r| r.to_owned());
        match &mut self {
            RelayError::BadMessage { id, .. }
            | RelayError::HeaderMismatch { id, .. }
            | RelayError::UnsupportedVersion { id, .. }
            | RelayError::SessionNotFound { id }
            | RelayError::SessionRequired { id, .. }
            | RelayError::Busy { id, .. }
            | RelayError::Unavailable { id, .. }
            | RelayError::Timeout { id, .. }
            | RelayError::InsufficientScope { id, .. }
            | RelayError::Refused { id, .. }
            | RelayError::ProviderToken { id, .. }
            | RelayError::RateLimited { id, .. } => *id = owned,
            _ => {}
        }
        self
    }
}
