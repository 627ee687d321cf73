//! The one place errors become HTTP responses.
//!
//! MCP endpoints answer in JSON-RPC's shape: a JSON-RPC error object (with the request's id when
//! it is known) and the HTTP status the MCP transport and our fail-closed rules call for.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::{ALLOW, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use portcullis_gateway::RelayError;
use portcullis_proto::jsonrpc::error_body;
use portcullis_proto::mcp::{self, code};
use serde_json::json;

/// An error on its way to the client.
#[derive(Debug)]
pub enum ApiError {
    Relay(RelayError),
}

impl From<RelayError> for ApiError {
    fn from(e: RelayError) -> Self {
        ApiError::Relay(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Relay(e) => relay_error(e),
        }
    }
}

fn relay_error(e: RelayError) -> Response {
    let message = e.to_string();
    let (status, code, data) = match &e {
        RelayError::UnknownUpstream(_) => (StatusCode::NOT_FOUND, code::INVALID_REQUEST, None),
        RelayError::ForbiddenOrigin(_) => (StatusCode::FORBIDDEN, code::INVALID_REQUEST, None),
        RelayError::BodyTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, code::INVALID_REQUEST, None),
        RelayError::BodyUnreadable => (StatusCode::BAD_REQUEST, code::PARSE_ERROR, None),
        RelayError::UnsupportedMediaType => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code::INVALID_REQUEST,
            None,
        ),
        RelayError::BadMessage { code, .. } => (StatusCode::BAD_REQUEST, *code, None),
        RelayError::HeaderMismatch { .. } => (StatusCode::BAD_REQUEST, code::HEADER_MISMATCH, None),
        RelayError::UnsupportedVersion {
            version, supported, ..
        } => (
            StatusCode::BAD_REQUEST,
            code::UNSUPPORTED_PROTOCOL_VERSION,
            Some(match supported {
                Some(list) => json!({ "supported": list, "requested": version }),
                None => json!({ "supported": mcp::PROTOCOL_VERSIONS, "requested": version }),
            }),
        ),
        RelayError::SessionNotFound { .. } => {
            (StatusCode::NOT_FOUND, code::SESSION_NOT_FOUND, None)
        }
        RelayError::SessionRequired { .. } => {
            (StatusCode::BAD_REQUEST, code::INVALID_REQUEST, None)
        }
        RelayError::MethodNotAllowed => {
            (StatusCode::METHOD_NOT_ALLOWED, code::INVALID_REQUEST, None)
        }
        RelayError::NotAcceptable(_) => (StatusCode::NOT_ACCEPTABLE, code::INVALID_REQUEST, None),
        RelayError::Busy { upstream, .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            code::INTERNAL_ERROR,
            Some(json!({ "upstream": upstream, "reason": "busy" })),
        ),
        RelayError::Unavailable {
            upstream, reason, ..
        } => (
            StatusCode::BAD_GATEWAY,
            code::INTERNAL_ERROR,
            Some(json!({ "upstream": upstream, "reason": reason })),
        ),
        RelayError::Timeout { upstream, .. } => (
            StatusCode::GATEWAY_TIMEOUT,
            code::INTERNAL_ERROR,
            Some(json!({ "upstream": upstream, "reason": "timeout" })),
        ),
        RelayError::Unauthorized => (StatusCode::UNAUTHORIZED, code::INVALID_REQUEST, None),
        RelayError::Store(err) => {
            tracing::error!(error = %err, "store failure on the MCP path");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                code::INTERNAL_ERROR,
                Some(json!({ "reason": "store unavailable" })),
            )
        }
    };
    let body = error_body(e.request_id(), code, &message, data);
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    match &e {
        RelayError::Busy { .. } | RelayError::Store(_) => {
            headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        RelayError::MethodNotAllowed => {
            headers.insert(ALLOW, HeaderValue::from_static("POST"));
        }
        RelayError::Unauthorized => {
            headers.insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static(
                    "Bearer error=\"invalid_token\", error_description=\"no accepted credential\"",
                ),
            );
        }
        _ => {}
    }
    response
}
