//! The MCP endpoint `/mcp` over Streamable HTTP, in both wire forms the gateway relays.
//!
//! A request is served in the 2026-07-28 ("modern") form when its `MCP-Protocol-Version`
//! header says `2026-07-28`: it is stateless, carries its version in
//! `_meta["io.modelcontextprotocol/protocolVersion"]` and mirrors its method and tool name
//! into `Mcp-Method` / `Mcp-Name`, which must agree with the body. Anything else is served
//! in the 2025 ("legacy") form: `initialize` opens a session named by `Mcp-Session-Id`,
//! every later request must carry it, GET opens an idle SSE stream and DELETE ends the
//! session. Every response to a request is a single `application/json` object.
//!
//! The endpoint does not check `Origin`: it listens on loopback behind Portcullis, which
//! is where the DNS-rebinding check belongs (the gateway may legitimately forward a
//! browser client's `Origin`, and the demo has no way to know the gateway's public
//! origin).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use futures_util::{StreamExt as _, future, stream};
use serde_json::{Map, Value, json};
use tokio::sync::watch;

use crate::jsonrpc::{
    self, HEADER_MISMATCH, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, Message, PARSE_ERROR,
    SESSION_NOT_FOUND, UNSUPPORTED_PROTOCOL_VERSION,
};
use crate::session::{Lookup, Sessions};
use crate::{Clock, LEGACY_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSION, SERVER_NAME, tools};

const PROTOCOL_VERSION_HEADER: &str = "mcp-protocol-version";
const SESSION_ID_HEADER: &str = "mcp-session-id";
const METHOD_HEADER: &str = "mcp-method";
const NAME_HEADER: &str = "mcp-name";
/// The `_meta` key a 2026-07-28 request names its protocol version under.
const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// The `_meta` key a 2026-07-28 result names the server under.
const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
/// Stands in for a header value that is not visible ASCII, so it matches nothing.
const UNREADABLE_HEADER: &str = "(not visible ASCII)";

/// How often an idle GET stream sends a comment, so proxies and clients do not time it out.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How long a client may cache `tools/list` and `server/discover` (2026-07-28
/// `CacheableResult.ttlMs`): the demo's tools never change while it runs.
const CACHE_TTL_MS: u64 = 60 * 60 * 1000;

const INSTRUCTIONS: &str = "Portcullis demo server. Small, read-only utility tools for trying out \
     Portcullis: echo a message, add two numbers, hash a string with SHA-256, count words, \
     read the current time, generate UUIDs. All tools are safe to call repeatedly.";

/// What every request handler shares.
pub(crate) struct DemoState {
    sessions: Sessions,
    clock: Clock,
    /// Set to `true` when the server shuts down, so open GET streams end and graceful
    /// shutdown does not wait for them forever.
    shutdown: watch::Sender<bool>,
}

impl DemoState {
    pub(crate) fn new(clock: Clock) -> Arc<Self> {
        Arc::new(Self {
            sessions: Sessions::default(),
            clock,
            shutdown: watch::channel(false).0,
        })
    }

    /// Ends every open GET stream; called once the server starts shutting down.
    pub(crate) fn close_streams(&self) {
        self.shutdown.send_replace(true);
    }
}

pub(crate) fn router(state: Arc<DemoState>) -> Router {
    Router::new()
        .route("/mcp", post(mcp_post).get(mcp_get).delete(mcp_delete))
        .with_state(state)
}

fn server_info() -> Value {
    json!({
        "name": SERVER_NAME,
        "title": "Portcullis demo",
        "version": env!("CARGO_PKG_VERSION"),
    })
}

/// Every version the endpoint serves, newest first, as `server/discover` and the
/// unsupported-version error list them.
fn supported_versions() -> Vec<&'static str> {
    let mut versions = vec![MODERN_PROTOCOL_VERSION];
    versions.extend(LEGACY_PROTOCOL_VERSIONS.iter().rev());
    versions
}

async fn mcp_post(
    State(state): State<Arc<DemoState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !content_type_is_json(&headers) {
        return rpc_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
            INVALID_REQUEST,
            "Content-Type must be application/json",
            None,
        );
    }
    if accept_allows(&headers, "application/json") == Some(false) {
        return rpc_error(
            StatusCode::NOT_ACCEPTABLE,
            None,
            INVALID_REQUEST,
            "the Accept header must allow application/json",
            None,
        );
    }
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            PARSE_ERROR,
            "parse error: the body is not valid JSON",
            None,
        );
    };
    let header_version = header_str(&headers, PROTOCOL_VERSION_HEADER);
    let meta_version = meta_protocol_version(&value);
    // The header and the body's `_meta` must agree whenever both are present; a modern
    // body without the header is a modern request missing a required header.
    match (header_version, meta_version) {
        (Some(header), Some(meta)) if header != meta => {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                request_id(&value),
                HEADER_MISMATCH,
                &format!(
                    "header mismatch: MCP-Protocol-Version header value '{header}' does not match _meta value '{meta}'"
                ),
                None,
            );
        }
        (None, Some(_)) => {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                request_id(&value),
                HEADER_MISMATCH,
                "header mismatch: the MCP-Protocol-Version header is required",
                None,
            );
        }
        _ => {}
    }
    match header_version {
        Some(MODERN_PROTOCOL_VERSION) => modern_post(&state, &headers, value),
        Some(version) if !LEGACY_PROTOCOL_VERSIONS.contains(&version) => rpc_error(
            StatusCode::BAD_REQUEST,
            request_id(&value),
            UNSUPPORTED_PROTOCOL_VERSION,
            "Unsupported protocol version",
            Some(json!({ "supported": supported_versions(), "requested": version })),
        ),
        // No header at all is 2025-03-26 or a first `initialize`; both are legacy.
        _ => legacy_post(&state, &headers, value),
    }
}

/// A 2026-07-28 request: stateless, validated against its mirrored headers.
fn modern_post(state: &DemoState, headers: &HeaderMap, value: Value) -> Response {
    let (id, method, params) = match jsonrpc::classify(value) {
        Ok(Message::Request { id, method, params }) => (id, method, params),
        // The 2026-07-28 core defines no client notifications on HTTP; accepting them
        // as the transport's mechanics describe is harmless.
        Ok(Message::Notification { method }) => {
            tracing::debug!(%method, "demo: notification accepted");
            return StatusCode::ACCEPTED.into_response();
        }
        Ok(Message::Response) => {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                None,
                INVALID_REQUEST,
                "clients must not send JSON-RPC responses under protocol version 2026-07-28",
                None,
            );
        }
        Err(invalid) => return invalid_message(invalid),
    };
    let Some(params) = jsonrpc::params_object(params.as_ref()) else {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            Some(&id),
            INVALID_PARAMS,
            "invalid params: `params` must be an object",
            None,
        );
    };
    // The header was checked against `_meta` on the way in when both were present; a
    // modern request must also carry the `_meta` side.
    let meta_version = params
        .get("_meta")
        .and_then(|meta| meta.get(META_PROTOCOL_VERSION));
    if meta_version.is_none() {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            Some(&id),
            HEADER_MISMATCH,
            "header mismatch: _meta[\"io.modelcontextprotocol/protocolVersion\"] is required with MCP-Protocol-Version 2026-07-28",
            None,
        );
    }
    if let Err(message) = check_mirrored_headers(headers, &method, &params) {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            Some(&id),
            HEADER_MISMATCH,
            &message,
            None,
        );
    }
    let result = match method.as_str() {
        "server/discover" => json!({
            "supportedVersions": supported_versions(),
            "capabilities": { "tools": {} },
            "serverInfo": server_info(),
            "instructions": INSTRUCTIONS,
            "ttlMs": CACHE_TTL_MS,
            "cacheScope": "public",
        }),
        "ping" => json!({}),
        "tools/list" => json!({
            "tools": tools::definitions(),
            "ttlMs": CACHE_TTL_MS,
            "cacheScope": "public",
        }),
        "tools/call" => match tools::call(&params, (state.clock)()) {
            Ok(result) => result,
            Err(e) => {
                return rpc_error(
                    StatusCode::OK,
                    Some(&id),
                    INVALID_PARAMS,
                    &e.message(),
                    None,
                );
            }
        },
        // The 2026-07-28 transport answers an unimplemented method with 404 and a
        // JSON-RPC body, which tells it apart from a server without the endpoint.
        other => {
            return rpc_error(
                StatusCode::NOT_FOUND,
                Some(&id),
                METHOD_NOT_FOUND,
                &format!("method not found: {other}"),
                None,
            );
        }
    };
    let mut result = match result {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    result.insert("resultType".to_owned(), json!("complete"));
    result.insert(
        "_meta".to_owned(),
        json!({ META_SERVER_INFO: server_info() }),
    );
    (
        StatusCode::OK,
        Json(jsonrpc::success(&id, Value::Object(result))),
    )
        .into_response()
}

/// Checks `Mcp-Method` and, for the methods that name a target, `Mcp-Name` against the
/// body, as the 2026-07-28 transport's server validation requires.
fn check_mirrored_headers(
    headers: &HeaderMap,
    method: &str,
    params: &Map<String, Value>,
) -> Result<(), String> {
    match header_str(headers, METHOD_HEADER) {
        None => return Err("header mismatch: the Mcp-Method header is required".to_owned()),
        Some(header) if header != method => {
            return Err(format!(
                "header mismatch: Mcp-Method header value '{header}' does not match body value '{method}'"
            ));
        }
        Some(_) => {}
    }
    let name_field = match method {
        "tools/call" | "prompts/get" => "name",
        "resources/read" => "uri",
        _ => return Ok(()),
    };
    let body_value = params.get(name_field).and_then(Value::as_str);
    let Some(header) = header_str(headers, NAME_HEADER) else {
        return Err(format!(
            "header mismatch: the Mcp-Name header is required for {method}"
        ));
    };
    let decoded = decode_sentinel(header);
    if decoded.as_deref() != body_value {
        return Err(format!(
            "header mismatch: Mcp-Name header value '{header}' does not match body value '{}'",
            body_value.unwrap_or("(missing)")
        ));
    }
    Ok(())
}

/// Decodes the `=?base64?…?=` sentinel form the 2026-07-28 transport uses for header values
/// that are not plain ASCII; a plain value is returned as it is. `None` when the sentinel
/// does not hold valid base64 of UTF-8.
fn decode_sentinel(value: &str) -> Option<String> {
    match value
        .strip_prefix("=?base64?")
        .and_then(|rest| rest.strip_suffix("?="))
    {
        Some(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok()),
        None => Some(value.to_owned()),
    }
}

/// A 2025-era request: `initialize` opens a session, everything else needs one.
fn legacy_post(state: &DemoState, headers: &HeaderMap, value: Value) -> Response {
    let message = match jsonrpc::classify(value) {
        Ok(message) => message,
        Err(invalid) => return invalid_message(invalid),
    };
    if let Message::Request { id, method, params } = &message
        && method == "initialize"
    {
        return initialize(state, id, params.as_ref());
    }
    match state.sessions.touch(header_str(headers, SESSION_ID_HEADER)) {
        Lookup::Missing => {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                message_id(&message),
                INVALID_REQUEST,
                "bad request: the Mcp-Session-Id header is required; send initialize first",
                None,
            );
        }
        Lookup::Unknown => {
            return rpc_error(
                StatusCode::NOT_FOUND,
                message_id(&message),
                SESSION_NOT_FOUND,
                "session not found: it has ended or never existed; send initialize again",
                None,
            );
        }
        Lookup::Found { .. } => {}
    }
    let (id, method, params) = match message {
        Message::Request { id, method, params } => (id, method, params),
        // `notifications/initialized`, cancellations and responses need no answer.
        Message::Notification { method } => {
            tracing::debug!(%method, "demo: notification accepted");
            return StatusCode::ACCEPTED.into_response();
        }
        Message::Response => return StatusCode::ACCEPTED.into_response(),
    };
    let Some(params) = jsonrpc::params_object(params.as_ref()) else {
        return rpc_error(
            StatusCode::OK,
            Some(&id),
            INVALID_PARAMS,
            "invalid params: `params` must be an object",
            None,
        );
    };
    let result = match method.as_str() {
        "ping" => json!({}),
        "tools/list" => json!({ "tools": tools::definitions() }),
        "tools/call" => match tools::call(&params, (state.clock)()) {
            Ok(result) => result,
            Err(e) => {
                return rpc_error(
                    StatusCode::OK,
                    Some(&id),
                    INVALID_PARAMS,
                    &e.message(),
                    None,
                );
            }
        },
        other => {
            return rpc_error(
                StatusCode::OK,
                Some(&id),
                METHOD_NOT_FOUND,
                &format!("method not found: {other}"),
                None,
            );
        }
    };
    (StatusCode::OK, Json(jsonrpc::success(&id, result))).into_response()
}

fn initialize(state: &DemoState, id: &Value, params: Option<&Value>) -> Response {
    let requested = params
        .and_then(|p| p.get("protocolVersion"))
        .and_then(Value::as_str);
    let Some(requested) = requested else {
        return rpc_error(
            StatusCode::OK,
            Some(id),
            INVALID_PARAMS,
            "invalid params: initialize needs a `protocolVersion` string",
            None,
        );
    };
    // Answer with the client's version when the demo speaks it, else with the latest
    // handshake version; the client then decides whether it can continue.
    let negotiated = LEGACY_PROTOCOL_VERSIONS
        .iter()
        .copied()
        .find(|v| *v == requested)
        .unwrap_or(crate::LATEST_LEGACY_PROTOCOL_VERSION);
    let session_id = state.sessions.create(negotiated);
    let body = jsonrpc::success(
        id,
        json!({
            "protocolVersion": negotiated,
            "capabilities": { "tools": {} },
            "serverInfo": server_info(),
            "instructions": INSTRUCTIONS,
        }),
    );
    let mut response = (StatusCode::OK, Json(body)).into_response();
    match header::HeaderValue::from_str(&session_id) {
        Ok(value) => {
            response.headers_mut().insert(SESSION_ID_HEADER, value);
            response
        }
        // Hex ids are always valid header values; refuse rather than answer without one.
        Err(_) => rpc_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            Some(id),
            jsonrpc::INTERNAL_ERROR,
            "internal error: could not issue a session id",
            None,
        ),
    }
}

/// GET opens the 2025-era standalone SSE stream. The demo never sends server-initiated
/// messages, so the stream stays idle with keep-alive comments until the session ends,
/// the server shuts down or the client leaves.
async fn mcp_get(State(state): State<Arc<DemoState>>, headers: HeaderMap) -> Response {
    if header_str(&headers, PROTOCOL_VERSION_HEADER) == Some(MODERN_PROTOCOL_VERSION) {
        return method_not_allowed_for_modern("GET");
    }
    let mut closed = match state
        .sessions
        .touch(header_str(&headers, SESSION_ID_HEADER))
    {
        Lookup::Missing => return missing_session(),
        Lookup::Unknown => return unknown_session(),
        Lookup::Found { closed } => closed,
    };
    if accept_allows(&headers, "text/event-stream") != Some(true) {
        return rpc_error(
            StatusCode::NOT_ACCEPTABLE,
            None,
            INVALID_REQUEST,
            "the Accept header must allow text/event-stream",
            None,
        );
    }
    let mut shutdown = state.shutdown.subscribe();
    // A first comment puts the response head and a byte of body on the wire at once, so
    // the client knows the stream is open before the first keep-alive.
    let opened = stream::once(future::ready(Ok::<_, Infallible>(
        Event::default().comment("stream open"),
    )));
    let until_closed = stream::once(async move {
        tokio::select! {
            // The session's sender is dropped, never used, so any wake-up means it ended.
            _ = closed.changed() => {}
            _ = shutdown.wait_for(|stop| *stop) => {}
        }
    })
    .filter_map(|()| future::ready(None::<Result<Event, Infallible>>));
    let sse =
        Sse::new(opened.chain(until_closed)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE));
    // Asks nginx-style proxies not to buffer the stream.
    ([("x-accel-buffering", "no")], sse).into_response()
}

/// DELETE ends a 2025-era session.
async fn mcp_delete(State(state): State<Arc<DemoState>>, headers: HeaderMap) -> Response {
    if header_str(&headers, PROTOCOL_VERSION_HEADER) == Some(MODERN_PROTOCOL_VERSION) {
        return method_not_allowed_for_modern("DELETE");
    }
    match header_str(&headers, SESSION_ID_HEADER) {
        None => missing_session(),
        Some(id) if state.sessions.remove(id) => StatusCode::OK.into_response(),
        Some(_) => unknown_session(),
    }
}

fn method_not_allowed_for_modern(method: &str) -> Response {
    let mut response = rpc_error(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        METHOD_NOT_FOUND,
        &format!("{method} is not part of MCP 2026-07-28; send each request as a POST"),
        None,
    );
    response
        .headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
    response
}

fn missing_session() -> Response {
    rpc_error(
        StatusCode::BAD_REQUEST,
        None,
        INVALID_REQUEST,
        "bad request: the Mcp-Session-Id header is required",
        None,
    )
}

fn unknown_session() -> Response {
    rpc_error(
        StatusCode::NOT_FOUND,
        None,
        SESSION_NOT_FOUND,
        "session not found: it has ended or never existed",
        None,
    )
}

fn invalid_message(invalid: jsonrpc::InvalidMessage) -> Response {
    rpc_error(
        StatusCode::BAD_REQUEST,
        invalid.id.as_ref(),
        INVALID_REQUEST,
        &format!("invalid request: {}", invalid.reason),
        None,
    )
}

fn rpc_error(
    status: StatusCode,
    id: Option<&Value>,
    code: i64,
    message: &str,
    data: Option<Value>,
) -> Response {
    (status, Json(jsonrpc::failure(id, code, message, data))).into_response()
}

fn message_id(message: &Message) -> Option<&Value> {
    match message {
        Message::Request { id, .. } => Some(id),
        Message::Notification { .. } | Message::Response => None,
    }
}

/// The id of a parsed body, when it has a usable one, for correlating early errors.
fn request_id(value: &Value) -> Option<&Value> {
    value
        .get("id")
        .filter(|id| id.is_string() || id.is_i64() || id.is_u64())
}

fn meta_protocol_version(value: &Value) -> Option<&str> {
    value
        .get("params")?
        .get("_meta")?
        .get(META_PROTOCOL_VERSION)?
        .as_str()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .map(|v| v.to_str().unwrap_or(UNREADABLE_HEADER).trim())
}

fn content_type_is_json(headers: &HeaderMap) -> bool {
    header_str(headers, header::CONTENT_TYPE.as_str()).is_some_and(|value| {
        value
            .split(';')
            .next()
            .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
    })
}

/// Whether the `Accept` header allows `wanted` (directly or through a wildcard); `None`
/// when the request has no `Accept` header at all.
fn accept_allows(headers: &HeaderMap, wanted: &str) -> Option<bool> {
    let accept = header_str(headers, header::ACCEPT.as_str())?;
    let wanted_type = wanted.split('/').next().unwrap_or(wanted);
    Some(accept.split(',').any(|range| {
        let media = range.split(';').next().unwrap_or("").trim();
        media.eq_ignore_ascii_case(wanted)
            || media == "*/*"
            || media
                .strip_suffix("/*")
                .is_some_and(|t| t.eq_ignore_ascii_case(wanted_type))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_values_decode() {
        assert_eq!(decode_sentinel("echo").as_deref(), Some("echo"));
        assert_eq!(
            decode_sentinel("=?base64?SGVsbG8sIOS4lueVjA==?=").as_deref(),
            Some("Hello, 世界")
        );
        assert_eq!(decode_sentinel("=?base64?!!!?="), None);
    }

    #[test]
    fn accept_header_matching() {
        let check = |accept: Option<&str>, wanted: &str, expect: Option<bool>| {
            let mut headers = HeaderMap::new();
            if let Some(accept) = accept {
                headers.insert(header::ACCEPT, accept.parse().unwrap());
            }
            assert_eq!(
                accept_allows(&headers, wanted),
                expect,
                "{accept:?} {wanted}"
            );
        };
        check(None, "application/json", None);
        check(
            Some("application/json, text/event-stream"),
            "text/event-stream",
            Some(true),
        );
        check(Some("text/*;q=0.5"), "text/event-stream", Some(true));
        check(Some("*/*"), "application/json", Some(true));
        check(Some("text/html"), "application/json", Some(false));
    }
}
