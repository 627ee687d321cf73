//! `MockUpstream`: a loopback MCP server that records every request it receives and
//! answers as configured, so the gateway's tests can see exactly what Portcullis relays
//! and provoke every upstream failure the relay must survive.
//!
//! Two transports, one per constructor:
//! - [`MockUpstream::start`] serves Streamable HTTP on `/mcp` ([`MockUpstream::url`]):
//!   POST for messages, GET for a numbered SSE stream, DELETE to end a session.
//! - [`MockUpstream::start_legacy_sse`] serves the 2024-11-05 HTTP+SSE transport:
//!   GET `/sse` ([`MockUpstream::sse_url`]) opens a stream whose first event is
//!   `endpoint`, and POSTs to that endpoint are answered on the stream.
//!
//! Both answer the same MCP methods (see [`MockConfig`] for the knobs):
//! - `initialize`: echoes a known protocol version (else `2025-11-25`); in
//!   [`SessionMode::Stateful`] the Streamable HTTP answer carries `Mcp-Session-Id`.
//! - `ping`, `server/discover`, `tools/list` (tools `echo`, `slow` and any
//!   [`MockConfig::extra_tools`]).
//! - `tools/call`: `echo` returns `arguments.message` as text; `slow` waits
//!   `arguments.ms` or [`MockConfig::slow_ms`] milliseconds first; an extra tool returns
//!   `called <name> with <arguments>`; an unknown tool is JSON-RPC -32602. Where the
//!   answer is a stream (SSE responses, legacy SSE), every `tools/call` first sends one
//!   notification: `notifications/progress` when the request has
//!   `_meta.progressToken`, else `notifications/message`.
//! - Any other method is -32601; notifications and responses get 202.
//!
//! A request whose `params._meta` names `io.modelcontextprotocol/protocolVersion` is
//! treated as 2026-07-28 (stateless): it needs no session and its results carry
//! `resultType: "complete"`.

mod dispatch;
mod legacy_sse;
mod streamable;

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use crate::jsonrpc;
use crate::serve::Server;

/// The largest request body the mock reads; larger ones get 413.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Whether `initialize` opens a protocol session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionMode {
    /// `initialize` answers with `Mcp-Session-Id`; later 2025-era requests without it
    /// get 400, with an unknown or deleted one 404.
    #[default]
    Stateful,
    /// No session ids are issued or checked (a stateless 2025 server); DELETE gets 405.
    Stateless,
}

/// How Streamable HTTP POST requests are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResponseMode {
    /// One `application/json` object per request.
    #[default]
    Json,
    /// A `text/event-stream` per request: any notifications, then the response, each an
    /// `event: message` with an `id:` of the form `r<stream>-<index>`, then the stream ends.
    Sse,
}

/// A way for the mock to misbehave, applied after the request has been recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Behavior {
    /// Answer as an MCP server should.
    #[default]
    Normal,
    /// Accept the request and never send response headers.
    Hang,
    /// Send `200` and headers (`text/event-stream` for GET or in [`ResponseMode::Sse`],
    /// else `application/json`), then never send a body byte nor end the body.
    StallBody,
    /// Answer with this HTTP status and a JSON-RPC error body (code -32000).
    Status(u16),
}

/// What a [`MockUpstream`] does. `MockConfig::default()` is a well-behaved stateful
/// server answering with JSON.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Whether `initialize` opens a session (default [`SessionMode::Stateful`]).
    pub sessions: SessionMode,
    /// JSON or SSE answers to POSTs (default [`ResponseMode::Json`]).
    pub responses: ResponseMode,
    /// How long the `slow` tool waits when the call does not say (default 200 ms).
    pub slow_ms: u64,
    /// How every request is answered (default [`Behavior::Normal`]); see
    /// [`MockUpstream::set_behavior`] to change it while running.
    pub behavior: Behavior,
    /// Behaviours for POSTs of particular JSON-RPC methods (e.g. `"tools/call"`), which
    /// take precedence over [`MockConfig::behavior`].
    pub method_behaviors: HashMap<String, Behavior>,
    /// Whether GET `/mcp` opens an SSE stream (default `true`); when `false` GET gets 405.
    pub get_stream: bool,
    /// How many numbered events the GET stream sends (default 5): `id: 1` to `id: N`,
    /// each a `notifications/message` whose `params.data.n` is the number. A GET with
    /// `Last-Event-ID: k` resumes with event `k + 1`.
    pub get_stream_events: u64,
    /// The pause before each GET-stream event (default 20 ms).
    pub get_stream_interval: Duration,
    /// Whether the GET stream ends after its last event (default `false`: it stays open
    /// and silent).
    pub close_get_stream: bool,
    /// More tool names to list and accept, each answering `called <name> with <args>`;
    /// useful for per-tool permission tests.
    pub extra_tools: Vec<String>,
    /// `serverInfo.name` (default `"mock-upstream"`).
    pub server_name: String,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            sessions: SessionMode::Stateful,
            responses: ResponseMode::Json,
            slow_ms: 200,
            behavior: Behavior::Normal,
            method_behaviors: HashMap::new(),
            get_stream: true,
            get_stream_events: 5,
            get_stream_interval: Duration::from_millis(20),
            close_get_stream: false,
            extra_tools: Vec::new(),
            server_name: "mock-upstream".to_owned(),
        }
    }
}

/// One HTTP request as the mock received it, recorded before any behaviour applies.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: Method,
    /// The request target's path and query, e.g. `/messages?sessionId=legacy-1`.
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl RecordedRequest {
    /// A header's value, when present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body parsed as JSON, when it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The JSON-RPC `method` of the body, when there is one.
    pub fn rpc_method(&self) -> Option<String> {
        self.json()?.get("method")?.as_str().map(str::to_owned)
    }
}

/// A running mock upstream; see the module documentation for what it answers.
///
/// Dropping it (or [`MockUpstream::stop`]) closes the listener and every open connection.
#[derive(Debug)]
pub struct MockUpstream {
    shared: Arc<Shared>,
    server: Server,
}

impl MockUpstream {
    /// Starts a Streamable HTTP mock on `http://127.0.0.1:<free port>/mcp`.
    pub async fn start(config: MockConfig) -> io::Result<Self> {
        let shared = Shared::new(config);
        let router = Router::new()
            .route(
                "/mcp",
                post(streamable::post)
                    .get(streamable::get)
                    .delete(streamable::delete),
            )
            .with_state(Arc::clone(&shared));
        Self::serve(shared, router).await
    }

    /// Starts a legacy HTTP+SSE (2024-11-05) mock: GET `/sse` and POST `/messages`.
    pub async fn start_legacy_sse(config: MockConfig) -> io::Result<Self> {
        let shared = Shared::new(config);
        let router = Router::new()
            .route("/sse", get(legacy_sse::open))
            .route("/messages", post(legacy_sse::post))
            .with_state(Arc::clone(&shared));
        Self::serve(shared, router).await
    }

    async fn serve(shared: Arc<Shared>, router: Router) -> io::Result<Self> {
        let router = router.layer(middleware::from_fn_with_state(
            Arc::clone(&shared),
            record_then_behave,
        ));
        let server = Server::start(router).await?;
        Ok(Self { shared, server })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The Streamable HTTP endpoint, `http://127.0.0.1:<port>/mcp`.
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr())
    }

    /// The legacy SSE endpoint, `http://127.0.0.1:<port>/sse`.
    pub fn sse_url(&self) -> String {
        format!("http://{}/sse", self.addr())
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Forgets the requests recorded so far.
    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
    }

    /// Waits until a request matching `predicate` has been received (including ones
    /// received before the call) and returns it, or `None` after `timeout`.
    pub async fn wait_for_request(
        &self,
        predicate: impl Fn(&RecordedRequest) -> bool,
        timeout: Duration,
    ) -> Option<RecordedRequest> {
        let mut recorded = self.shared.recorded.subscribe();
        tokio::time::timeout(timeout, async {
            loop {
                if let Some(found) = lock(&self.shared.requests)
                    .iter()
                    .find(|r| predicate(r))
                    .cloned()
                {
                    return Some(found);
                }
                if recorded.changed().await.is_err() {
                    return None;
                }
            }
        })
        .await
        .ok()
        .flatten()
    }

    /// The live Streamable HTTP session ids, or the live legacy SSE session ids.
    pub fn sessions(&self) -> Vec<String> {
        let mut sessions: Vec<String> = lock(&self.shared.sessions).iter().cloned().collect();
        sessions.extend(lock(&self.shared.legacy_streams).keys().cloned());
        sessions.sort();
        sessions
    }

    /// Ends a session from the server side, as an upstream restart would: later requests
    /// naming it get 404. Returns whether it existed.
    pub fn end_session(&self, id: &str) -> bool {
        lock(&self.shared.sessions).remove(id)
            || lock(&self.shared.legacy_streams).remove(id).is_some()
    }

    /// Changes how every request is answered from now on.
    pub fn set_behavior(&self, behavior: Behavior) {
        lock(&self.shared.config).behavior = behavior;
    }

    /// Changes how POSTs of one JSON-RPC method are answered from now on;
    /// [`Behavior::Normal`] here overrides a misbehaving [`MockUpstream::set_behavior`].
    pub fn set_method_behavior(&self, method: &str, behavior: Behavior) {
        lock(&self.shared.config)
            .method_behaviors
            .insert(method.to_owned(), behavior);
    }

    /// Stops the server: closes the listener and every open connection, hung or not.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}

/// State shared by the mock's handlers.
#[derive(Debug)]
pub(crate) struct Shared {
    config: Mutex<MockConfig>,
    requests: Mutex<Vec<RecordedRequest>>,
    /// Bumped after each recorded request, to wake [`MockUpstream::wait_for_request`].
    recorded: watch::Sender<usize>,
    sessions: Mutex<HashSet<String>>,
    /// Legacy SSE sessions: where to send the messages for each open `/sse` stream.
    legacy_streams: Mutex<HashMap<String, mpsc::UnboundedSender<Value>>>,
    next_id: AtomicU64,
}

impl Shared {
    fn new(config: MockConfig) -> Arc<Self> {
        Arc::new(Self {
            config: Mutex::new(config),
            requests: Mutex::new(Vec::new()),
            recorded: watch::channel(0).0,
            sessions: Mutex::new(HashSet::new()),
            legacy_streams: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        })
    }

    pub(crate) fn config(&self) -> MockConfig {
        lock(&self.config).clone()
    }

    /// A number unique within this mock, for session and stream ids.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn record(&self, request: RecordedRequest) {
        lock(&self.requests).push(request);
        self.recorded.send_modify(|count| *count += 1);
    }

    pub(crate) fn new_session(&self) -> String {
        let id = format!("mock-session-{}", self.next_id());
        lock(&self.sessions).insert(id.clone());
        id
    }

    pub(crate) fn has_session(&self, id: &str) -> bool {
        lock(&self.sessions).contains(id)
    }

    pub(crate) fn remove_session(&self, id: &str) -> bool {
        lock(&self.sessions).remove(id)
    }

    pub(crate) fn open_legacy_stream(&self, id: &str, sender: mpsc::UnboundedSender<Value>) {
        lock(&self.legacy_streams).insert(id.to_owned(), sender);
    }

    pub(crate) fn legacy_stream(&self, id: &str) -> Option<mpsc::UnboundedSender<Value>> {
        lock(&self.legacy_streams).get(id).cloned()
    }

    pub(crate) fn close_legacy_stream(&self, id: &str) {
        lock(&self.legacy_streams).remove(id);
    }
}

/// Locks a mutex, still usable after a panic elsewhere: every critical section here is a
/// single read or write that cannot leave the data half-changed.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Records the request, then answers it as the configured [`Behavior`] says.
async fn record_then_behave(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let recorded = RecordedRequest {
        method: parts.method.clone(),
        path_and_query: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        headers: parts.headers.clone(),
        body: bytes.clone(),
    };
    let rpc_method = recorded.rpc_method();
    let rpc_id = recorded.json().and_then(|v| v.get("id").cloned());
    shared.record(recorded);

    let config = shared.config();
    let behavior = rpc_method
        .as_deref()
        .and_then(|m| config.method_behaviors.get(m).copied())
        .unwrap_or(config.behavior);
    match behavior {
        Behavior::Normal => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Behavior::Hang => std::future::pending::<Response>().await,
        Behavior::StallBody => {
            let content_type =
                if parts.method == Method::GET || config.responses == ResponseMode::Sse {
                    "text/event-stream"
                } else {
                    "application/json"
                };
            let body = Body::from_stream(futures_util::stream::pending::<
                Result<Bytes, std::convert::Infallible>,
            >());
            ([(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        Behavior::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = jsonrpc::failure(
                rpc_id.as_ref(),
                -32000,
                &format!("mock upstream configured to answer with HTTP {code}"),
            );
            (status, axum::Json(body)).into_response()
        }
    }
}
