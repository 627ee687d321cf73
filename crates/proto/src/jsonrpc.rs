//! JSON-RPC 2.0 envelopes: the one place that parses a client's message, and error bodies.
//!
//! [`inspect`] reads a request body once, in a single pass, enforcing the limits every later
//! decision relies on (nesting depth, no duplicate object keys anywhere, a well-formed envelope),
//! and returns only what the relay and authorization need: the kind of message, its id, method,
//! target name or URI, and the protocol version it claims. The body itself is relayed unchanged,
//! so what the upstream executes is byte for byte what was inspected.

mod inspect;

pub use inspect::{Body, InspectError, Kind, Limits, Message, inspect};

use serde::Serialize;
use serde_json::value::RawValue;

/// A JSON-RPC error object.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorObject<'a> {
    pub code: i64,
    pub message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct ErrorResponse<'a> {
    jsonrpc: &'static str,
    id: Option<&'a RawValue>,
    error: ErrorObject<'a>,
}

/// Serializes a JSON-RPC error response. `id` is `null` when the request's id is unknown.
pub fn error_body(
    id: Option<&RawValue>,
    code: i64,
    message: &str,
    data: Option<serde_json::Value>,
) -> Vec<u8> {
    let response = ErrorResponse {
        jsonrpc: "2.0",
        id,
        error: ErrorObject {
            code,
            message,
            data,
        },
    };
    // Serializing these types cannot fail: every field is a plain JSON value.
    serde_json::to_vec(&response).unwrap_or_else(|_| {
        br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"internal error"}}"#
            .to_vec()
    })
}

#[cfg(test)]
mod tests;
