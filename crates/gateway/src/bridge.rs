//! Upstreams that do not speak Streamable HTTP, presented to clients as if they did.
//!
//! A bridge is the Streamable HTTP server the client talks to. Behind it is a message link:
//! one stdio child process shared by every caller (`stdio`), or one HTTP+SSE connection per
//! client session (`legacy`). Because callers share a child, the bridge gives every request its
//! own id (and progress token) on the way in and restores the client's on the way out, so no
//! caller can see or answer another's traffic. Messages the upstream starts itself (requests,
//! notifications) go to the one session they can belong to, or nowhere.
//!
//! Sessions are the bridge's own: it mints the `Mcp-Session-Id` at `initialize`. Every SSE event
//! carries an id `<stream>-<seq>`, and a recent window of events is kept per session so a client
//! can resume a broken stream with `GET` and `Last-Event-ID`.

mod legacy;
mod sse;
mod stdio;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use portcullis_core::config::UpstreamConfig;
use portcullis_proto::jsonrpc::{Kind, Message};
use portcullis_proto::mcp::{self, header};
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio_util::sync::CancellationToken;

use crate::RelayError;

/// The most sessions one bridged upstream keeps open; more `initialize` requests get 502.
const MAX_SESSIONS: usize = 10_000;

/// The most events kept per session for `Last-Event-ID` resumption.
const EVENT_LOG_LIMIT: usize = 512;

/// A POST the gateway has already checked.
pub(crate) struct Post<'a> {
    pub bytes: Bytes,
    pub message: &'a Message<'a>,
    pub session_id: Option<&'a str>,
    pub stateless: bool,
    pub accepts_sse: bool,
    pub version: &'a str,
    /// What Portcullis adds to requests for the caller (identity headers, the upstream's own
    /// credential); a legacy SSE session created by this request sends them on every request.
    pub added: &'a HeaderMap,
}

/// The answer to a POST, and the session it created, if any.
pub(crate) struct PostOutcome {
    pub response: Response<Body>,
    pub created_session: Option<String>,
}

/// What the router hands to whoever waits for a request.
#[derive(Debug)]
enum Out {
    /// A message related to the request (progress, log, a server request); with its event id.
    Note {
        event_id: Option<String>,
        bytes: Bytes,
    },
    /// The response; the stream ends after it.
    Final {
        event_id: Option<String>,
        bytes: Bytes,
    },
    /// The link died before the response came.
    Failed(&'static str),
}

struct Pending {
    session: Option<String>,
    original_id: Box<RawValue>,
    sink: mpsc::UnboundedSender<Out>,
    /// Next sequence number of this request's stream (event ids `<gid>-<seq>`).
    seq: u64,
}

/// The link to the upstream that a session uses.
#[derive(Clone)]
enum Link {
    Stdio(Arc<stdio::Supervisor>),
    Legacy(Arc<legacy::Connection>),
}

impl Link {
    async fn send(&self, bytes: Bytes) -> Result<(), &'static str> {
        match self {
            Link::Stdio(s) => s.send(bytes),
            Link::Legacy(c) => c.send(bytes).await,
        }
    }
}

struct Session {
    link: Link,
    /// The stdio child generation the session was created on; a restart ends the session.
    generation: u64,
    standalone: Mutex<Option<mpsc::UnboundedSender<Out>>>,
    standalone_seq: AtomicU64,
    log: Mutex<VecDeque<(u64, u64, Bytes)>>,
    last_used: Mutex<std::time::Instant>,
}

/// Message routing shared by the bridge and its links.
pub(crate) struct Core {
    name: String,
    next_id: AtomicU64,
    pending: Mutex<HashMap<u64, Pending>>,
    /// Progress tokens the bridge minted → (request gid, the client's token).
    progress: Mutex<HashMap<String, (u64, Value)>>,
    /// Requests the upstream sent, by raw id → the session they were routed to.
    server_requests: Mutex<HashMap<String, String>>,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain maps behind; keep serving.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

enum Source {
    Stdio(Arc<stdio::Supervisor>),
    Legacy(Box<legacy::Connector>),
}

/// A bridged upstream.
pub(crate) struct Bridge {
    name: String,
    source: Source,
    core: Arc<Core>,
    first_byte_timeout: Duration,
    idle_timeout: Duration,
    /// What the stdio child said of the stateless form, for its process generation.
    stateless: tokio::sync::Mutex<Option<(u64, Option<Vec<String>>)>>,
}

impl Bridge {
    pub(crate) fn stdio(
        up: &UpstreamConfig,
        command: &[String],
        shutdown: CancellationToken,
    ) -> Result<Bridge, String> {
        let core = Core::new(&up.name);
        let supervisor = stdio::Supervisor::new(up, command, core.clone(), shutdown)?;
        Ok(Bridge {
            name: up.name.clone(),
            source: Source::Stdio(supervisor),
            core,
            first_byte_timeout: up.first_byte_timeout,
            idle_timeout: up.idle_timeout,
            stateless: tokio::sync::Mutex::new(None),
        })
    }

    pub(crate) fn legacy_sse(
        up: &UpstreamConfig,
        url: &str,
        shutdown: CancellationToken,
    ) -> Result<Bridge, String> {
        let core = Core::new(&up.name);
        let connector = legacy::Connector::new(up, url, core.clone(), shutdown)?;
        Ok(Bridge {
            name: up.name.clone(),
            source: Source::Legacy(Box::new(connector)),
            core,
            first_byte_timeout: up.first_byte_timeout,
            idle_timeout: up.idle_timeout,
            stateless: tokio::sync::Mutex::new(None),
        })
    }

    pub(crate) fn describe(&self) -> String {
        match &self.source {
            Source::Stdio(s) => format!("stdio {}", s.program()),
            Source::Legacy(c) => format!("sse {}", c.url()),
        }
    }

    pub(crate) async fn start(&self) {
        if let Source::Stdio(s) = &self.source {
            s.clone().start().await;
        }
    }

    pub(crate) async fn stop(&self) {
        match &self.source {
            Source::Stdio(s) => s.stop().await,
            Source::Legacy(_) => {
                let sessions: Vec<Arc<Session>> =
                    lock(&self.core.sessions).drain().map(|(_, s)| s).collect();
                for s in sessions {
                    if let Link::Legacy(c) = &s.link {
                        c.close();
                    }
                }
            }
        }
    }

    /// The protocol versions of the stateless form the upstream speaks, asked once per stdio
    /// child with `server/discover`; `None` if it does not speak that form (legacy SSE servers
    /// never do).
    async fn stateless_versions(&self) -> Option<Vec<String>> {
        let Source::Stdio(supervisor) = &self.source else {
            return None;
        };
        let generation = supervisor.generation();
        // Held across the probe: concurrent first requests wait for one answer.
        let mut known = self.stateless.lock().await;
        if let Some((g, versions)) = &*known
            && *g == generation
        {
            return versions.clone();
        }
        let gid = self.core.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let original_id = RawValue::from_string("0".to_owned()).ok()?;
        lock(&self.core.pending).insert(
            gid,
            Pending {
                session: None,
                original_id,
                sink: tx,
                seq: 1,
            },
        );
        let probe = serde_json::json!({
            "jsonrpc": "2.0",
            "id": gid,
            "method": "server/discover",
            "params": {"_meta": {
                mcp::META_PROTOCOL_VERSION: mcp::STATELESS_VERSION,
                "io.modelcontextprotocol/clientInfo": {"name": "portcullis", "version": env!("CARGO_PKG_VERSION")},
                "io.modelcontextprotocol/clientCapabilities": {}
            }}
        });
        let bytes = Bytes::from(serde_json::to_vec(&probe).ok()?);
        if supervisor.send(bytes).is_err() {
            self.core.forget(gid);
            return None;
        }
        let answer = tokio::time::timeout(self.first_byte_timeout, rx.recv()).await;
        self.core.forget(gid);
        let versions = match answer {
            Ok(Some(Out::Final { bytes, .. })) => {
                serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| {
                    let list = v.pointer("/result/supportedVersions")?.as_array()?;
                    Some(
                        list.iter()
                            .filter_map(|x| x.as_str().map(str::to_owned))
                            .collect::<Vec<_>>(),
                    )
                })
            }
            // No answer is not an answer: ask again next time.
            Err(_) | Ok(None) | Ok(Some(Out::Failed(_))) => return None,
            Ok(Some(Out::Note { .. })) => None,
        };
        *known = Some((generation, versions.clone()));
        versions
    }

    /// Ends sessions unused for `idle` (closing their legacy connections); returns how many.
    /// How many bridged sessions are open.
    pub(crate) fn session_count(&self) -> usize {
        lock(&self.core.sessions).len()
    }

    pub(crate) fn sweep(&self, idle: Duration) -> usize {
        let now = std::time::Instant::now();
        let stale: Vec<(String, Arc<Session>)> = {
            let mut sessions = lock(&self.core.sessions);
            let ids: Vec<String> = sessions
                .iter()
                .filter(|(_, s)| now.duration_since(*lock(&s.last_used)) >= idle)
                .map(|(id, _)| id.clone())
                .collect();
            ids.into_iter()
                .filter_map(|id| sessions.remove(&id).map(|s| (id, s)))
                .collect()
        };
        for (id, session) in &stale {
            if let Link::Legacy(c) = &session.link {
                c.close();
            }
            self.core.fail_session(id, "the session expired");
        }
        stale.len()
    }

    fn live_session(&self, id: &str) -> Option<Arc<Session>> {
        let session = lock(&self.core.sessions).get(id).cloned()?;
        let alive = match (&session.link, &self.source) {
            (Link::Stdio(s), _) => s.generation() == session.generation,
            (Link::Legacy(c), _) => c.is_alive(),
        };
        if alive {
            *lock(&session.last_used) = std::time::Instant::now();
            Some(session)
        } else {
            lock(&self.core.sessions).remove(id);
            None
        }
    }

    pub(crate) async fn post(
        &self,
        post: Post<'_>,
        permit: OwnedSemaphorePermit,
    ) -> Result<PostOutcome, RelayError> {
        let m = post.message;
        let request_id = m.id;
        let is_initialize = m.method.as_deref() == Some("initialize");
        let (session_id, session, created) = if post.stateless {
            // A stateless request reaches the upstream only if it speaks that revision;
            // otherwise the client learns which versions to fall back to.
            let speaks = self.stateless_versions().await;
            if !speaks
                .as_ref()
                .is_some_and(|v| v.iter().any(|x| x == post.version))
            {
                return Err(RelayError::UnsupportedVersion {
                    version: post.version.to_owned(),
                    supported: Some(speaks.unwrap_or_else(session_versions)),
                    id: None,
                }
                .with_id(request_id));
            }
            (None, None, false)
        } else if is_initialize {
            let (id, session) = self
                .create_session(post.added)
                .await
                .map_err(|reason| self.unavailable(reason, request_id))?;
            (Some(id), Some(session), true)
        } else if let Some(sid) = post.session_id {
            let session = self
                .live_session(sid)
                .ok_or_else(|| RelayError::SessionNotFound { id: None }.with_id(request_id))?;
            (Some(sid.to_owned()), Some(session), false)
        } else {
            return Err(RelayError::SessionRequired {
                message: "this request needs an Mcp-Session-Id: send initialize first",
                id: None,
            }
            .with_id(request_id));
        };
        let link = match (&session, &self.source) {
            (Some(s), _) => s.link.clone(),
            (None, Source::Stdio(s)) => Link::Stdio(s.clone()),
            (None, Source::Legacy(_)) => return Err(self.unavailable("no session", request_id)),
        };
        let created_session = if created { session_id.clone() } else { None };

        match m.kind {
            Kind::Notification => {
                let bytes = self
                    .core
                    .rewrite_notification(&post.bytes, session_id.as_deref())
                    .unwrap_or(post.bytes);
                link.send(bytes)
                    .await
                    .map_err(|reason| self.unavailable(reason, None))?;
                Ok(PostOutcome {
                    response: accepted(),
                    created_session,
                })
            }
            Kind::Response => {
                // Keys are the id as serde_json writes it, whatever spacing the client used.
                let id_text = request_id
                    .and_then(|r| serde_json::from_str::<Value>(r.get()).ok())
                    .map(|v| v.to_string())
                    .unwrap_or_default();
                {
                    let mut requests = lock(&self.core.server_requests);
                    if session_id.is_none() || requests.get(&id_text) != session_id.as_ref() {
                        return Err(RelayError::BadMessage {
                            code: mcp::code::INVALID_REQUEST,
                            message: "no request of this session has that id".to_owned(),
                            id: None,
                        });
                    }
                    requests.remove(&id_text);
                }
                link.send(post.bytes)
                    .await
                    .map_err(|reason| self.unavailable(reason, None))?;
                Ok(PostOutcome {
                    response: accepted(),
                    created_session,
                })
            }
            Kind::Request => {
                let original_id =
                    m.id.map(ToOwned::to_owned)
                        .ok_or_else(|| self.unavailable("request without id", None))?;
                let gid = self.core.next_id.fetch_add(1, Ordering::Relaxed);
                let bytes = self
                    .core
                    .rewrite_request(&post.bytes, gid, m.progress_token.is_some())
                    .map_err(|_| self.unavailable("unreadable request", request_id))?;
                let (tx, rx) = mpsc::unbounded_channel();
                lock(&self.core.pending).insert(
                    gid,
                    Pending {
                        session: session_id.clone(),
                        original_id,
                        sink: tx,
                        seq: 1,
                    },
                );
                if let Err(reason) = link.send(bytes).await {
                    self.core.forget(gid);
                    return Err(self.unavailable(reason, request_id));
                }
                let response = self
                    .answer(gid, rx, &post, session_id.as_deref(), &link, permit)
                    .await;
                if response.is_err()
                    && created
                    && let Some(id) = &session_id
                {
                    lock(&self.core.sessions).remove(id);
                }
                let mut response = response?;
                if let Some(id) = &created_session
                    && let Ok(v) = HeaderValue::from_str(id)
                {
                    response
                        .headers_mut()
                        .insert(HeaderName::from_static(header::SESSION_ID), v);
                }
                Ok(PostOutcome {
                    response,
                    created_session,
                })
            }
        }
    }

    /// Waits for the first message about request `gid` and answers with JSON (if it is the
    /// response) or an SSE stream (if notifications come first and the client accepts SSE).
    async fn answer(
        &self,
        gid: u64,
        mut rx: mpsc::UnboundedReceiver<Out>,
        post: &Post<'_>,
        session: Option<&str>,
        link: &Link,
        permit: OwnedSemaphorePermit,
    ) -> Result<Response<Body>, RelayError> {
        let request_id = post.message.id;
        let mut first = match tokio::time::timeout(self.first_byte_timeout, rx.recv()).await {
            Err(_) => {
                self.core.forget(gid);
                cancel_upstream(link, gid, "timed out").await;
                return Err(RelayError::Timeout {
                    upstream: self.name.clone(),
                    id: request_id.map(ToOwned::to_owned),
                });
            }
            Ok(None) => return Err(self.unavailable("the upstream went away", request_id)),
            Ok(Some(out)) => out,
        };
        if !post.accepts_sse {
            // A client that only takes JSON gets the response alone.
            while let Out::Note { .. } = first {
                first = match tokio::time::timeout(self.idle_timeout, rx.recv()).await {
                    Ok(Some(out)) => out,
                    Ok(None) => return Err(self.unavailable("the upstream went away", request_id)),
                    Err(_) => {
                        self.core.forget(gid);
                        return Err(RelayError::Timeout {
                            upstream: self.name.clone(),
                            id: request_id.map(ToOwned::to_owned),
                        });
                    }
                };
            }
        }
        match first {
            Out::Failed(reason) => Err(self.unavailable(reason, request_id)),
            // The stateless form, and clients that only take JSON, get a bare response; a
            // 2025-era session gets an SSE stream, as Streamable HTTP servers usually answer,
            // so the client can resume it after a broken connection.
            Out::Final { bytes, .. } if !post.accepts_sse || session.is_none() => {
                Ok(json_response(bytes))
            }
            out => {
                let priming = (session.is_some() && post.version >= "2025-11-25")
                    .then(|| sse::priming_event(&format!("{gid}-0")));
                let cancel = (post.stateless).then(|| (link.clone(), gid, self.core.clone()));
                Ok(sse_response(
                    priming,
                    Some(out),
                    rx,
                    self.idle_timeout,
                    Some(permit),
                    cancel,
                ))
            }
        }
    }

    async fn create_session(
        &self,
        added: &HeaderMap,
    ) -> Result<(String, Arc<Session>), &'static str> {
        let id = new_session_id();
        let (link, generation) = match &self.source {
            Source::Stdio(s) => {
                if !s.is_running() {
                    return Err("the MCP server process is not running");
                }
                (Link::Stdio(s.clone()), s.generation())
            }
            Source::Legacy(connector) => (Link::Legacy(connector.connect(&id, added).await?), 0),
        };
        let session = Arc::new(Session {
            link,
            generation,
            standalone: Mutex::new(None),
            standalone_seq: AtomicU64::new(1),
            log: Mutex::new(VecDeque::new()),
            last_used: Mutex::new(std::time::Instant::now()),
        });
        {
            let mut sessions = lock(&self.core.sessions);
            if sessions.len() >= MAX_SESSIONS {
                if let Link::Legacy(c) = &session.link {
                    c.close();
                }
                return Err("too many open sessions");
            }
            sessions.insert(id.clone(), session.clone());
        }
        Ok((id, session))
    }

    /// GET: the standalone stream, or the resumption of a broken stream after `last_event_id`.
    pub(crate) async fn get(
        &self,
        session_id: &str,
        last_event_id: Option<&str>,
        permit: OwnedSemaphorePermit,
        cut: CancellationToken,
    ) -> Result<Response<Body>, RelayError> {
        let session = self
            .live_session(session_id)
            .ok_or(RelayError::SessionNotFound { id: None })?;
        let (tx, rx) = mpsc::unbounded_channel();
        let resume = last_event_id.and_then(parse_event_id);
        if let Some((stream, seq)) = resume {
            // Replay what the client missed, then follow the stream if it is still going.
            for (_, s, bytes) in lock(&session.log)
                .iter()
                .filter(|(st, s, _)| *st == stream && *s > seq)
            {
                let _ = tx.send(Out::Note {
                    event_id: Some(format!("{stream}-{s}")),
                    bytes: bytes.clone(),
                });
            }
            if stream != 0 {
                let mut pending = lock(&self.core.pending);
                match pending.get_mut(&stream) {
                    Some(p) if p.session.as_deref() == Some(session_id) => p.sink = tx,
                    // The request finished (its events were replayed above): the stream ends.
                    _ => drop(tx),
                }
                drop(pending);
                return Ok(sse_response(
                    None,
                    None,
                    rx,
                    self.idle_timeout,
                    Some(permit),
                    None,
                ));
            }
        }
        {
            let mut standalone = lock(&session.standalone);
            if standalone.as_ref().is_some_and(|s| !s.is_closed()) {
                return Err(RelayError::BadMessage {
                    code: mcp::code::INVALID_REQUEST,
                    message: "this session already has an open GET stream".to_owned(),
                    id: None,
                });
            }
            *standalone = Some(tx);
        }
        let stream_cut = cut;
        let mut response = sse_response(None, None, rx, Duration::MAX, Some(permit), None);
        // The standalone stream has no end of its own: it closes when a shutdown starts.
        let body = std::mem::replace(response.body_mut(), Body::empty());
        *response.body_mut() = Body::new(crate::body::RelayBody::new(
            body,
            Duration::from_secs(365 * 24 * 3600),
            None,
            Some(stream_cut),
            None,
        ));
        Ok(response)
    }

    /// DELETE: ends the session (and, for a legacy upstream, its SSE connection).
    pub(crate) async fn delete(&self, session_id: &str) -> Result<Response<Body>, RelayError> {
        let session = lock(&self.core.sessions)
            .remove(session_id)
            .ok_or(RelayError::SessionNotFound { id: None })?;
        if let Link::Legacy(c) = &session.link {
            c.close();
        }
        self.core.fail_session(session_id, "the session ended");
        Ok(Response::builder()
            .status(StatusCode::OK)
            .body(Body::empty())
            .unwrap_or_default())
    }

    fn unavailable(&self, reason: &'static str, id: Option<&RawValue>) -> RelayError {
        RelayError::Unavailable {
            upstream: self.name.clone(),
            reason,
            id: id.map(ToOwned::to_owned),
        }
    }
}

impl Core {
    fn new(name: &str) -> Arc<Core> {
        Arc::new(Core {
            name: name.to_owned(),
            next_id: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
            progress: Mutex::new(HashMap::new()),
            server_requests: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
        })
    }

    fn forget(&self, gid: u64) {
        lock(&self.pending).remove(&gid);
        lock(&self.progress).retain(|_, (g, _)| *g != gid);
    }

    /// Gives a client request the bridge's id (and progress token).
    fn rewrite_request(
        &self,
        bytes: &[u8],
        gid: u64,
        has_progress: bool,
    ) -> Result<Bytes, serde_json::Error> {
        let mut v: Value = serde_json::from_slice(bytes)?;
        if let Some(obj) = v.as_object_mut() {
            obj.insert("id".to_owned(), Value::from(gid));
        }
        if has_progress
            && let Some(meta) = v
                .pointer_mut("/params/_meta")
                .and_then(Value::as_object_mut)
            && let Some(token) = meta.get("progressToken").cloned()
        {
            let minted = format!("portcullis-{gid}");
            meta.insert("progressToken".to_owned(), Value::from(minted.clone()));
            lock(&self.progress).insert(minted, (gid, token));
        }
        serde_json::to_vec(&v).map(Bytes::from)
    }

    /// `notifications/cancelled` names the client's request id: translate it to the bridge's.
    fn rewrite_notification(&self, bytes: &[u8], session: Option<&str>) -> Option<Bytes> {
        let mut v: Value = serde_json::from_slice(bytes).ok()?;
        if v.get("method").and_then(Value::as_str) != Some("notifications/cancelled") {
            return None;
        }
        let request_id = v.pointer("/params/requestId")?.to_string();
        let gid = lock(&self.pending)
            .iter()
            .find(|(_, p)| p.session.as_deref() == session && p.original_id.get() == request_id)
            .map(|(gid, _)| *gid)?;
        if let Some(slot) = v.pointer_mut("/params/requestId") {
            *slot = Value::from(gid);
        }
        serde_json::to_vec(&v).ok().map(Bytes::from)
    }

    /// Routes one message from the upstream. `link_session` is the session of a per-session
    /// link (legacy); `None` for the shared stdio child.
    pub(crate) fn inbound(&self, line: &[u8], link_session: Option<&str>) -> Option<Bytes> {
        let mut v: Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(_) => {
                tracing::warn!(upstream = %self.name, "the upstream sent a line that is not JSON; ignored");
                return None;
            }
        };
        let method = v.get("method").and_then(Value::as_str).map(str::to_owned);
        let id = v.get("id").filter(|i| !i.is_null()).cloned();
        match (method, id) {
            (None, Some(id)) => {
                let gid = id.as_u64()?;
                let pending = lock(&self.pending).remove(&gid)?;
                lock(&self.progress).retain(|_, (g, _)| *g != gid);
                if let (Some(obj), Ok(original)) = (
                    v.as_object_mut(),
                    serde_json::from_str::<Value>(pending.original_id.get()),
                ) {
                    obj.insert("id".to_owned(), original);
                }
                let bytes = Bytes::from(serde_json::to_vec(&v).ok()?);
                let event_id = self.log_event(pending.session.as_deref(), gid, pending.seq, &bytes);
                let _ = pending.sink.send(Out::Final { event_id, bytes });
                None
            }
            (Some(method), None) => {
                if method == "notifications/progress" {
                    let token = v
                        .pointer("/params/progressToken")
                        .and_then(Value::as_str)?
                        .to_owned();
                    let (gid, original) = lock(&self.progress).get(&token).cloned()?;
                    if let Some(slot) = v.pointer_mut("/params/progressToken") {
                        *slot = original;
                    }
                    let bytes = Bytes::from(serde_json::to_vec(&v).ok()?);
                    self.deliver_to_request(gid, bytes);
                    return None;
                }
                let bytes = Bytes::from(line.to_vec());
                let broadcast = method.ends_with("/list_changed");
                match self.route_target(link_session) {
                    Some(session) => {
                        self.deliver_to_session(&session, bytes);
                    }
                    None if broadcast => {
                        let sessions: Vec<String> = lock(&self.sessions).keys().cloned().collect();
                        for s in sessions {
                            self.deliver_to_session(&s, bytes.clone());
                        }
                    }
                    None => {
                        tracing::debug!(upstream = %self.name, %method, "notification with no session to route to; dropped")
                    }
                }
                None
            }
            (Some(method), Some(id)) => {
                let Some(session) = self.route_target(link_session) else {
                    tracing::warn!(upstream = %self.name, %method, "server request with no client session to route to; refused");
                    return Some(error_reply(
                        &id,
                        "no client session to route this request to",
                    ));
                };
                lock(&self.server_requests).insert(id.to_string(), session.clone());
                if !self.deliver_to_session(&session, Bytes::from(line.to_vec())) {
                    lock(&self.server_requests).remove(&id.to_string());
                    return Some(error_reply(
                        &id,
                        "the client has no open stream for this request",
                    ));
                }
                None
            }
            (None, None) => None,
        }
    }

    /// The one session a message the upstream started can belong to.
    fn route_target(&self, link_session: Option<&str>) -> Option<String> {
        if let Some(s) = link_session {
            return Some(s.to_owned());
        }
        let pending = lock(&self.pending);
        let mut busy = pending.values().filter_map(|p| p.session.as_deref());
        if let Some(first) = busy.next() {
            return busy.all(|s| s == first).then(|| first.to_owned());
        }
        drop(pending);
        let sessions = lock(&self.sessions);
        (sessions.len() == 1)
            .then(|| sessions.keys().next().cloned())
            .flatten()
    }

    fn deliver_to_request(&self, gid: u64, bytes: Bytes) -> bool {
        let mut pending = lock(&self.pending);
        let Some(p) = pending.get_mut(&gid) else {
            return false;
        };
        let seq = p.seq;
        p.seq += 1;
        let session = p.session.clone();
        let sink = p.sink.clone();
        drop(pending);
        let event_id = self.log_event(session.as_deref(), gid, seq, &bytes);
        sink.send(Out::Note { event_id, bytes }).is_ok()
    }

    /// Sends a message to a session: on its newest request's stream, else its GET stream.
    fn deliver_to_session(&self, session: &str, bytes: Bytes) -> bool {
        let newest = lock(&self.pending)
            .iter()
            .filter(|(_, p)| p.session.as_deref() == Some(session))
            .map(|(gid, _)| *gid)
            .max();
        if let Some(gid) = newest
            && self.deliver_to_request(gid, bytes.clone())
        {
            return true;
        }
        let Some(s) = lock(&self.sessions).get(session).cloned() else {
            return false;
        };
        let seq = s.standalone_seq.fetch_add(1, Ordering::Relaxed);
        let event_id = self.log_event(Some(session), 0, seq, &bytes);
        lock(&s.standalone)
            .as_ref()
            .is_some_and(|tx| tx.send(Out::Note { event_id, bytes }).is_ok())
    }

    fn log_event(
        &self,
        session: Option<&str>,
        stream: u64,
        seq: u64,
        bytes: &Bytes,
    ) -> Option<String> {
        let s = lock(&self.sessions).get(session?).cloned()?;
        let mut log = lock(&s.log);
        if log.len() >= EVENT_LOG_LIMIT {
            log.pop_front();
        }
        log.push_back((stream, seq, bytes.clone()));
        Some(format!("{stream}-{seq}"))
    }

    /// Fails every request waiting on `session` (`None`: every request).
    pub(crate) fn fail_session(&self, session: &str, reason: &'static str) {
        let failed: Vec<Pending> = {
            let mut pending = lock(&self.pending);
            let gids: Vec<u64> = pending
                .iter()
                .filter(|(_, p)| p.session.as_deref() == Some(session))
                .map(|(g, _)| *g)
                .collect();
            gids.into_iter()
                .filter_map(|g| pending.remove(&g))
                .collect()
        };
        for p in failed {
            let _ = p.sink.send(Out::Failed(reason));
        }
        lock(&self.sessions).remove(session);
    }

    /// The stdio child exited: every request and every session on it is over.
    pub(crate) fn fail_all(&self, reason: &'static str) {
        let failed: Vec<Pending> = lock(&self.pending).drain().map(|(_, p)| p).collect();
        for p in failed {
            let _ = p.sink.send(Out::Failed(reason));
        }
        lock(&self.progress).clear();
        lock(&self.server_requests).clear();
        lock(&self.sessions).clear();
    }
}

async fn cancel_upstream(link: &Link, gid: u64, reason: &str) {
    let note = serde_json::json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": gid, "reason": reason}});
    if let Ok(bytes) = serde_json::to_vec(&note) {
        let _ = link.send(Bytes::from(bytes)).await;
    }
}

fn error_reply(id: &Value, message: &str) -> Bytes {
    let reply = serde_json::json!({"jsonrpc": "2.0", "id": id, "error": {"code": mcp::code::INTERNAL_ERROR, "message": message}});
    Bytes::from(serde_json::to_vec(&reply).unwrap_or_default())
}

/// The revisions with sessions (`initialize`), which any upstream may speak.
fn session_versions() -> Vec<String> {
    mcp::PROTOCOL_VERSIONS
        .iter()
        .filter(|v| !mcp::is_stateless(v))
        .map(|v| (*v).to_owned())
        .collect()
}

fn parse_event_id(id: &str) -> Option<(u64, u64)> {
    let (stream, seq) = id.split_once('-')?;
    Some((stream.parse().ok()?, seq.parse().ok()?))
}

fn new_session_id() -> String {
    use rand::RngCore as _;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn accepted() -> Response<Body> {
    Response::builder()
        .status(StatusCode::ACCEPTED)
        .body(Body::empty())
        .unwrap_or_default()
}

fn json_response(bytes: Bytes) -> Response<Body> {
    let mut response = Response::new(Body::from(bytes));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// An SSE response fed by `rx`, ending after the final response (or when `rx` closes).
fn sse_response(
    priming: Option<Bytes>,
    first: Option<Out>,
    rx: mpsc::UnboundedReceiver<Out>,
    idle: Duration,
    permit: Option<OwnedSemaphorePermit>,
    cancel_on_drop: Option<(Link, u64, Arc<Core>)>,
) -> Response<Body> {
    struct State {
        priming: Option<Bytes>,
        first: Option<Out>,
        rx: mpsc::UnboundedReceiver<Out>,
        idle: Duration,
        done: bool,
        _permit: Option<OwnedSemaphorePermit>,
        guard: Option<CancelGuard>,
    }
    let state = State {
        priming,
        first,
        rx,
        idle,
        done: false,
        _permit: permit,
        guard: cancel_on_drop.map(|(link, gid, core)| CancelGuard {
            link,
            gid,
            core,
            armed: true,
        }),
    };
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        if let Some(p) = st.priming.take() {
            return Some((Ok::<Bytes, std::io::Error>(p), st));
        }
        let next = match st.first.take() {
            Some(out) => Some(out),
            None => tokio::time::timeout(st.idle, st.rx.recv())
                .await
                .ok()
                .flatten(),
        };
        match next {
            Some(Out::Note { event_id, bytes }) => {
                Some((Ok(sse::message_event(event_id.as_deref(), &bytes)), st))
            }
            Some(Out::Final { event_id, bytes }) => {
                st.done = true;
                if let Some(g) = st.guard.as_mut() {
                    g.armed = false;
                }
                Some((Ok(sse::message_event(event_id.as_deref(), &bytes)), st))
            }
            Some(Out::Failed(_)) | None => None,
        }
    });
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    response
}

/// On the stateless wire form, closing the response stream cancels the request.
struct CancelGuard {
    link: Link,
    gid: u64,
    core: Arc<Core>,
    armed: bool,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        self.core.forget(self.gid);
        let (link, gid) = (self.link.clone(), self.gid);
        tokio::spawn(
            async move { cancel_upstream(&link, gid, "the client closed the stream").await },
        );
    }
}
