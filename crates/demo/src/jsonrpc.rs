//! JSON-RPC 2.0 envelopes as the demo server reads and writes them: classifying an
//! incoming message, and building result and error responses with the codes MCP uses.
//!
//! The demo keeps its own small types here rather than borrowing `portcullis-proto`, so the
//! demo stays a plain MCP server that knows nothing of the gateway in front of it.

use serde_json::{Map, Value, json};

/// Invalid JSON was received (JSON-RPC 2.0 §5.1).
pub(crate) const PARSE_ERROR: i64 = -32700;
/// The JSON sent is not a valid request object (JSON-RPC 2.0 §5.1).
pub(crate) const INVALID_REQUEST: i64 = -32600;
/// The method does not exist or is not available (JSON-RPC 2.0 §5.1).
pub(crate) const METHOD_NOT_FOUND: i64 = -32601;
/// Invalid method parameters; MCP also uses it for an unknown tool name.
pub(crate) const INVALID_PARAMS: i64 = -32602;
/// The server hit an unexpected condition (JSON-RPC 2.0 §5.1).
pub(crate) const INTERNAL_ERROR: i64 = -32603;
/// An implementation-defined code (MCP leaves -32000..-32019 to implementations) for a
/// session id the server does not know, as the reference SDKs use it.
pub(crate) const SESSION_NOT_FOUND: i64 = -32001;
/// MCP 2026-07-28 `HeaderMismatch`: mirrored headers are missing or disagree with the body.
pub(crate) const HEADER_MISMATCH: i64 = -32020;
/// MCP 2026-07-28 `UnsupportedProtocolVersion`, with `data: {supported, requested}`.
pub(crate) const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;

/// One incoming JSON-RPC message, sorted by what the server owes the sender.
#[derive(Debug)]
pub(crate) enum Message {
    /// A request: it carries an id and expects exactly one response.
    Request {
        id: Value,
        method: String,
        params: Option<Value>,
    },
    /// A notification: no id, no response.
    Notification { method: String },
    /// A response to a request the server sent. The demo never sends requests, so these
    /// are accepted and dropped.
    Response,
}

/// Why a parsed JSON value is not a usable JSON-RPC message; always answered with
/// [`INVALID_REQUEST`].
#[derive(Debug)]
pub(crate) struct InvalidMessage {
    /// The request id when one could be read, so the error can still be correlated.
    pub(crate) id: Option<Value>,
    pub(crate) reason: &'static str,
}

/// Sorts a parsed body into a request, a notification or a response.
pub(crate) fn classify(value: Value) -> Result<Message, InvalidMessage> {
    let Value::Object(mut object) = value else {
        // Batches were removed in MCP 2025-06-18, so an array is as invalid as a scalar.
        return Err(InvalidMessage {
            id: None,
            reason: "the body must be a single JSON-RPC object (batches are not supported)",
        });
    };
    let id = object.remove("id");
    let valid_id = match &id {
        Some(Value::String(_)) => true,
        Some(Value::Number(n)) => n.is_i64() || n.is_u64(),
        _ => false,
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(InvalidMessage {
            id: id.filter(|_| valid_id),
            reason: "`jsonrpc` must be \"2.0\"",
        });
    }
    match object.remove("method") {
        Some(Value::String(method)) => {
            let params = object.remove("params");
            match id {
                None => Ok(Message::Notification { method }),
                Some(id) if valid_id => Ok(Message::Request { id, method, params }),
                Some(_) => Err(InvalidMessage {
                    id: None,
                    reason: "`id` must be a string or an integer",
                }),
            }
        }
        Some(_) => Err(InvalidMessage {
            id: id.filter(|_| valid_id),
            reason: "`method` must be a string",
        }),
        None if object.contains_key("result") || object.contains_key("error") => {
            Ok(Message::Response)
        }
        None => Err(InvalidMessage {
            id: id.filter(|_| valid_id),
            reason: "a JSON-RPC message needs a `method`, or a `result` or `error`",
        }),
    }
}

/// A successful response.
pub(crate) fn success(id: &Value, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

/// An error response. Without a readable request id the `id` member is `null`, as
/// JSON-RPC 2.0 §5 asks for parse errors and unreadable requests.
pub(crate) fn failure(id: Option<&Value>, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut error = Map::new();
    error.insert("code".to_owned(), Value::from(code));
    error.insert("message".to_owned(), Value::from(message));
    if let Some(data) = data {
        error.insert("data".to_owned(), data);
    }
    json!({ "jsonrpc": "2.0", "id": id.cloned().unwrap_or(Value::Null), "error": error })
}

/// The `params` object of a request; absent params read as an empty object because every
/// MCP request's params are optional at the envelope level.
pub(crate) fn params_object(params: Option<&Value>) -> Option<Map<String, Value>> {
    match params {
        None | Some(Value::Null) => Some(Map::new()),
        Some(Value::Object(map)) => Some(map.clone()),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: Value, expect: &str) {
        let got = match classify(input) {
            Ok(Message::Request { id, method, .. }) => format!("request {id} {method}"),
            Ok(Message::Notification { method }) => format!("notification {method}"),
            Ok(Message::Response) => "response".to_owned(),
            Err(e) => format!("invalid {:?}: {}", e.id, e.reason),
        };
        assert_eq!(got, expect);
    }

    #[test]
    fn classifies_messages() {
        check(
            json!({"jsonrpc":"2.0","id":1,"method":"ping"}),
            "request 1 ping",
        );
        check(
            json!({"jsonrpc":"2.0","id":"a","method":"tools/list"}),
            "request \"a\" tools/list",
        );
        check(
            json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
            "notification notifications/initialized",
        );
        check(json!({"jsonrpc":"2.0","id":1,"result":{}}), "response");
        check(
            json!([{"jsonrpc":"2.0","id":1,"method":"ping"}]),
            "invalid None: the body must be a single JSON-RPC object (batches are not supported)",
        );
        check(
            json!({"jsonrpc":"1.0","id":1,"method":"ping"}),
            "invalid Some(Number(1)): `jsonrpc` must be \"2.0\"",
        );
        check(
            json!({"jsonrpc":"2.0","id":null,"method":"ping"}),
            "invalid None: `id` must be a string or an integer",
        );
        check(
            json!({"jsonrpc":"2.0","id":1.5,"method":"ping"}),
            "invalid None: `id` must be a string or an integer",
        );
        check(
            json!({"jsonrpc":"2.0","id":2,"method":7}),
            "invalid Some(Number(2)): `method` must be a string",
        );
    }
}
