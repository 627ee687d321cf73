//! The MCP answers both mock transports share: what to send for each request, as a
//! sequence of messages (notifications first, the response last) on a channel, so each
//! transport can deliver them its own way or keep only the response.

use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::mpsc::UnboundedSender;

use super::Shared;
use crate::jsonrpc::{self, INVALID_PARAMS, METHOD_NOT_FOUND, MODERN_VERSION};

/// Answers one request: sends any notifications to `out`, then the response.
///
/// Send errors are ignored: they only mean the client stopped listening.
pub(crate) async fn answer(
    shared: &Shared,
    id: &Value,
    method: &str,
    params: &Value,
    out: &UnboundedSender<Value>,
) {
    let config = shared.config();
    let modern = jsonrpc::is_modern(params);
    let result = match method {
        "initialize" => Ok(json!({
            "protocolVersion": jsonrpc::negotiate(params),
            "capabilities": { "tools": {} },
            "serverInfo": { "name": config.server_name, "version": "0.0.0" },
        })),
        "ping" => Ok(json!({})),
        "server/discover" => {
            let mut versions = vec![MODERN_VERSION];
            versions.extend(jsonrpc::HANDSHAKE_VERSIONS.iter().rev());
            Ok(json!({
                "supportedVersions": versions,
                "capabilities": { "tools": {} },
                "serverInfo": { "name": config.server_name, "version": "0.0.0" },
                "ttlMs": 0,
                "cacheScope": "private",
            }))
        }
        "tools/list" => {
            let mut result = json!({ "tools": tool_definitions(&config.extra_tools) });
            if modern {
                // 2026-07-28 list results are cacheable; 0 keeps tests free of caching.
                set(&mut result, "ttlMs", json!(0));
                set(&mut result, "cacheScope", json!("private"));
            }
            Ok(result)
        }
        "tools/call" => call_tool(shared, params, out).await,
        other => Err((METHOD_NOT_FOUND, format!("method not found: {other}"))),
    };
    let response = match result {
        Ok(mut result) => {
            if modern {
                set(&mut result, "resultType", json!("complete"));
            }
            jsonrpc::success(id, result)
        }
        Err((code, message)) => jsonrpc::failure(Some(id), code, &message),
    };
    let _ = out.send(response);
}

/// Sets a member of a result object (every result built here is an object).
fn set(result: &mut Value, key: &str, value: Value) {
    if let Some(object) = result.as_object_mut() {
        object.insert(key.to_owned(), value);
    }
}

async fn call_tool(
    shared: &Shared,
    params: &Value,
    out: &UnboundedSender<Value>,
) -> Result<Value, (i64, String)> {
    let config = shared.config();
    let Some(name) = params.get("name").and_then(Value::as_str) else {
        return Err((
            INVALID_PARAMS,
            "tools/call needs a `name` string".to_owned(),
        ));
    };
    let known = name == "echo" || name == "slow" || config.extra_tools.iter().any(|t| t == name);
    if !known {
        return Err((INVALID_PARAMS, format!("unknown tool: {name}")));
    }
    let empty = Value::Object(Map::new());
    let arguments = params.get("arguments").unwrap_or(&empty);

    // One notification before every result, so stream relays always carry two events.
    let notification = match jsonrpc::progress_token(params) {
        Some(token) => jsonrpc::notification(
            "notifications/progress",
            json!({
                "progressToken": token,
                "progress": 0,
                "total": 1,
                "message": format!("{name} started"),
            }),
        ),
        None => jsonrpc::notification(
            "notifications/message",
            json!({
                "level": "info",
                "logger": config.server_name,
                "data": { "tool": name, "status": "started" },
            }),
        ),
    };
    let _ = out.send(notification);

    let text = match name {
        "echo" => match arguments.get("message").and_then(Value::as_str) {
            Some(message) => message.to_owned(),
            None => arguments.to_string(),
        },
        "slow" => {
            let ms = arguments
                .get("ms")
                .and_then(Value::as_u64)
                .unwrap_or(config.slow_ms);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            format!("slept {ms} ms")
        }
        other => format!("called {other} with {arguments}"),
    };
    Ok(jsonrpc::text_result(&text, false))
}

fn tool_definitions(extra_tools: &[String]) -> Vec<Value> {
    let mut tools = vec![
        json!({
            "name": "echo",
            "description": "Returns arguments.message as text.",
            "inputSchema": {
                "type": "object",
                "properties": { "message": { "type": "string" } },
                "required": ["message"]
            },
            "annotations": { "readOnlyHint": true }
        }),
        json!({
            "name": "slow",
            "description": "Waits `ms` milliseconds (or the mock's default) before answering.",
            "inputSchema": {
                "type": "object",
                "properties": { "ms": { "type": "integer", "minimum": 0 } }
            },
            "annotations": { "readOnlyHint": true }
        }),
    ];
    tools.extend(extra_tools.iter().map(|name| {
        json!({
            "name": name,
            "description": format!("Mock tool {name}: answers with its name and arguments."),
            "inputSchema": { "type": "object" }
        })
    }));
    tools
}
