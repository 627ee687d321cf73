//! Small JSON-RPC 2.0 helpers shared by the mock upstreams and the `mock-stdio-mcp` binary:
//! sorting an incoming message and building responses, plus the MCP version negotiation
//! the mocks perform.
//!
//! The mocks deliberately use `serde_json::Value` instead of the gateway's wire types, so
//! a bug in those types cannot hide behind a mock that shares it.

use serde_json::{Value, json};

/// Invalid JSON was received (JSON-RPC 2.0 §5.1).
pub const PARSE_ERROR: i64 = -32700;
/// The JSON is not a valid request object (JSON-RPC 2.0 §5.1).
pub const INVALID_REQUEST: i64 = -32600;
/// The method does not exist (JSON-RPC 2.0 §5.1).
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Invalid params; MCP also uses it for an unknown tool.
pub const INVALID_PARAMS: i64 = -32602;
/// An implementation-defined code for an unknown session, as the reference SDKs use it.
pub const SESSION_NOT_FOUND: i64 = -32001;

/// The handshake protocol versions the mocks accept in `initialize`, oldest first.
pub const HANDSHAKE_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
/// The version `initialize` answers with when the client asks for one the mocks do not know.
pub const LATEST_HANDSHAKE_VERSION: &str = "2025-11-25";
/// The stateless protocol version; a request naming it in `_meta` needs no session.
pub const MODERN_VERSION: &str = "2026-07-28";
/// The `_meta` key a 2026-07-28 request names its protocol version under.
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";

/// One incoming JSON-RPC message.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A request, which expects one response with the same id.
    Request {
        id: Value,
        method: String,
        params: Value,
    },
    /// A notification: no id, no response.
    Notification { method: String, params: Value },
    /// A response to a request the mock sent: `Ok(result)` or `Err(error)`.
    Response {
        id: Value,
        outcome: Result<Value, Value>,
    },
    /// Not a JSON-RPC message; the string says why.
    Invalid(String),
}

/// Sorts a parsed JSON value into a request, notification or response. Absent `params`
/// read as `{}`.
pub fn classify(value: Value) -> Incoming {
    let Value::Object(mut object) = value else {
        return Incoming::Invalid("the message must be a single JSON object".to_owned());
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Incoming::Invalid("`jsonrpc` must be \"2.0\"".to_owned());
    }
    let params = object.remove("params").unwrap_or_else(|| json!({}));
    match (object.remove("method"), object.remove("id")) {
        (Some(Value::String(method)), None) => Incoming::Notification { method, params },
        (Some(Value::String(method)), Some(id)) if id.is_string() || id.is_number() => {
            Incoming::Request { id, method, params }
        }
        (Some(_), _) => Incoming::Invalid("bad `method` or `id`".to_owned()),
        (None, Some(id)) => match (object.remove("result"), object.remove("error")) {
            (Some(result), None) => Incoming::Response {
                id,
                outcome: Ok(result),
            },
            (None, Some(error)) => Incoming::Response {
                id,
                outcome: Err(error),
            },
            _ => Incoming::Invalid("a response needs one of `result` or `error`".to_owned()),
        },
        (None, None) => Incoming::Invalid("no `method` and no `id`".to_owned()),
    }
}

/// A successful response.
pub fn success(id: &Value, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

/// An error response; `id` is `null` when the request's id could not be read.
pub fn failure(id: Option<&Value>, code: i64, message: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id.cloned().unwrap_or(Value::Null),
        "error": { "code": code, "message": message },
    })
}

/// A notification.
pub fn notification(method: &str, params: Value) -> Value {
    json!({ "jsonrpc": "2.0", "method": method, "params": params })
}

/// The version an `initialize` answer names: the client's when known, else the latest.
pub fn negotiate(params: &Value) -> &'static str {
    let requested = params.get("protocolVersion").and_then(Value::as_str);
    HANDSHAKE_VERSIONS
        .iter()
        .copied()
        .find(|v| Some(*v) == requested)
        .unwrap_or(LATEST_HANDSHAKE_VERSION)
}

/// `params._meta.progressToken`, when the caller asked for progress.
pub fn progress_token(params: &Value) -> Option<&Value> {
    params
        .get("_meta")
        .and_then(|meta| meta.get("progressToken"))
}

/// Whether a request carries 2026-07-28 per-request metadata (and so needs no session).
pub fn is_modern(params: &Value) -> bool {
    params
        .get("_meta")
        .and_then(|meta| meta.get(META_PROTOCOL_VERSION))
        .is_some()
}

/// A `CallToolResult` with one text block.
pub fn text_result(text: &str, is_error: bool) -> Value {
    json!({ "content": [{ "type": "text", "text": text }], "isError": is_error })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_sorts_messages() {
        let check = |value: Value, expect: &str| {
            let got = match classify(value) {
                Incoming::Request { id, method, params } => {
                    format!("request {id} {method} {params}")
                }
                Incoming::Notification { method, .. } => format!("notification {method}"),
                Incoming::Response { id, outcome } => format!("response {id} {outcome:?}"),
                Incoming::Invalid(reason) => format!("invalid {reason}"),
            };
            assert_eq!(got, expect);
        };
        check(
            json!({"jsonrpc":"2.0","id":1,"method":"ping"}),
            "request 1 ping {}",
        );
        check(
            json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
            "notification notifications/initialized",
        );
        check(
            json!({"jsonrpc":"2.0","id":"s-1","result":{"a":1}}),
            "response \"s-1\" Ok(Object {\"a\": Number(1)})",
        );
        check(
            json!({"jsonrpc":"2.0","id":2,"error":{"code":1}}),
            "response 2 Err(Object {\"code\": Number(1)})",
        );
        check(
            json!([1]),
            "invalid the message must be a single JSON object",
        );
        check(
            json!({"id":1,"method":"ping"}),
            "invalid `jsonrpc` must be \"2.0\"",
        );
        check(
            json!({"jsonrpc":"2.0","id":null,"method":"ping"}),
            "invalid bad `method` or `id`",
        );
    }

    #[test]
    fn negotiation_echoes_known_versions() {
        assert_eq!(
            negotiate(&json!({"protocolVersion":"2024-11-05"})),
            "2024-11-05"
        );
        assert_eq!(
            negotiate(&json!({"protocolVersion":"2030-01-01"})),
            "2025-11-25"
        );
        assert_eq!(negotiate(&json!({})), "2025-11-25");
    }
}
