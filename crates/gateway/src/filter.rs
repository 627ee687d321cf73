//! Filtering of list results (`tools/list`, `prompts/list`, `resources/list`,
//! `resources/templates/list`): items the caller may not use are removed from the answer,
//! whether the upstream answers with JSON or an SSE stream, with any status and any spelling
//! of the media type. An answer that cannot be filtered (another media type, a compressed
//! body, one too large to hold) is not relayed: the caller gets a 502 (fail closed).

use std::collections::VecDeque;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Response};
use http_body_util::BodyExt;
use portcullis_policy::ListKind;
use serde_json::Value;

use crate::authorize::Rights;
use crate::error::RelayError;

/// The most a JSON answer or one SSE event may hold when it has to be filtered.
const MAX_FILTERED_BYTES: usize = 16 * 1024 * 1024;

/// Which JSON-RPC responses to filter.
#[derive(Debug, Clone)]
pub(crate) enum Targets {
    /// The answers to these requests (by id) are these lists.
    Ids(Vec<(Value, ListKind)>),
    /// Any response whose result holds one of these lists (streams that may carry answers to
    /// earlier requests: the GET stream, resumptions).
    Shape(Vec<ListKind>),
}

/// A filter for one answer.
#[derive(Debug, Clone)]
pub(crate) struct ListFilter {
    pub rights: Rights,
    pub targets: Targets,
    pub upstream: String,
}

enum Media {
    Json,
    EventStream,
    Other,
}

fn media(response: &Response<Body>) -> Media {
    let Some(value) = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return Media::Other;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case("text/event-stream") {
        Media::EventStream
    } else if essence.eq_ignore_ascii_case("application/json")
        || essence
            .rsplit_once('+')
            .is_some_and(|(_, suffix)| suffix.eq_ignore_ascii_case("json"))
    {
        Media::Json
    } else {
        Media::Other
    }
}

impl ListFilter {
    fn unavailable(&self, reason: &'static str) -> RelayError {
        tracing::warn!(upstream = %self.upstream, reason, "a list answer could not be filtered: not relayed");
        RelayError::Unavailable {
            upstream: self.upstream.clone(),
            reason,
            id: None,
        }
    }

    /// Filters `response`.
    pub async fn apply(self, response: Response<Body>) -> Result<Response<Body>, RelayError> {
        let encoded = response
            .headers()
            .get(CONTENT_ENCODING)
            .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
        let media = media(&response);
        if encoded && !matches!(media, Media::Other) {
            return Err(self.unavailable("compressed list answer"));
        }
        match media {
            Media::Json => self.json(response).await,
            Media::EventStream => Ok(self.event_stream(response)),
            // An error page is not a list; a successful answer of an unknown kind might be one.
            Media::Other if !response.status().is_success() => Ok(response),
            Media::Other => Err(self.unavailable("list answer of an unexpected media type")),
        }
    }

    async fn json(self, response: Response<Body>) -> Result<Response<Body>, RelayError> {
        let (mut parts, body) = response.into_parts();
        let bytes = match http_body_util::Limited::new(body, MAX_FILTERED_BYTES)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return Err(self.unavailable("list answer too large or cut short")),
        };
        let filtered = match self.filter_payload(&bytes) {
            Some(filtered) => Bytes::from(filtered),
            None => bytes,
        };
        parts.headers.remove(CONTENT_LENGTH);
        parts
            .headers
            .insert(CONTENT_LENGTH, HeaderValue::from(filtered.len()));
        Ok(Response::from_parts(parts, Body::from(filtered)))
    }

    /// The payload with its lists filtered, or `None` when nothing in it is a target (the
    /// bytes go on unchanged). A payload that is not JSON holds no list.
    fn filter_payload(&self, payload: &[u8]) -> Option<Vec<u8>> {
        let mut value: Value = serde_json::from_slice(payload).ok()?;
        let changed = match &mut value {
            Value::Array(batch) => batch
                .iter_mut()
                .map(|m| self.filter_message(m))
                .fold(false, |a, b| a | b),
            message => self.filter_message(message),
        };
        changed.then(|| serde_json::to_vec(&value).unwrap_or_default())
    }

    /// Filters one JSON-RPC response in place; returns whether it was a target.
    fn filter_message(&self, message: &mut Value) -> bool {
        let Some(object) = message.as_object_mut() else {
            return false;
        };
        let kinds: Vec<ListKind> = match &self.targets {
            Targets::Ids(ids) => match object.get("id") {
                Some(id) => ids
                    .iter()
                    .filter(|(wanted, _)| wanted == id)
                    .map(|(_, kind)| *kind)
                    .collect(),
                None => return false,
            },
            Targets::Shape(kinds) => kinds.clone(),
        };
        let Some(result) = object.get_mut("result").and_then(Value::as_object_mut) else {
            return false;
        };
        let mut changed = false;
        for kind in kinds {
            if let Some(Value::Array(items)) = result.get_mut(kind.result_key()) {
                items.retain(|item| {
                    let Some(name) = item.get(kind.name_key()).and_then(Value::as_str) else {
                        return false;
                    };
                    let hints = (kind == ListKind::Tools).then(|| {
                        let hints = crate::authorize::hints_of(item);
                        self.rights.learn_hints(name, hints);
                        hints
                    });
                    self.rights.shows(kind, name, hints)
                });
                changed = true;
            }
        }
        changed
    }

    fn event_stream(self, response: Response<Body>) -> Response<Body> {
        let (mut parts, body) = response.into_parts();
        parts.headers.remove(CONTENT_LENGTH);
        let mut events = EventSplitter::default();
        let mut failed = false;
        let stream = body.into_data_stream().map(move |chunk| {
            if failed {
                return Err(std::io::Error::other("list filter stopped"));
            }
            let chunk = chunk.map_err(std::io::Error::other)?;
            events.push(&chunk);
            let mut out = BytesMut::new();
            while let Some(event) = events.next_event() {
                out.extend_from_slice(&self.filter_event(&event));
            }
            if events.pending() > MAX_FILTERED_BYTES {
                failed = true;
                tracing::warn!(upstream = %self.upstream, "an SSE event too large to filter: stream ended");
                return Err(std::io::Error::other("SSE event too large to filter"));
            }
            Ok(out.freeze())
        });
        Response::from_parts(parts, Body::from_stream(stream))
    }

    /// One SSE event (its lines, terminator included) with its data filtered when it is a
    /// target; otherwise the bytes as they came.
    fn filter_event(&self, event: &[u8]) -> Vec<u8> {
        let mut data = Vec::new();
        let mut other_lines = Vec::new();
        let mut has_data = false;
        for line in lines(event) {
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = field(line, b"data") {
                if has_data {
                    data.push(b'\n');
                }
                data.extend_from_slice(rest);
                has_data = true;
            } else {
                other_lines.push(line);
            }
        }
        if !has_data {
            return event.to_vec();
        }
        let Some(filtered) = self.filter_payload(&data) else {
            return event.to_vec();
        };
        let mut out = Vec::with_capacity(filtered.len() + 64);
        for line in other_lines {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&filtered);
        out.extend_from_slice(b"\n\n");
        out
    }
}

/// The notifications an open stream gets when what its caller may use changed.
const LIST_CHANGED: &[u8] = b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n\
event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/prompts/list_changed\"}\n\n\
event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/resources/list_changed\"}\n\n";

/// Guards a long-lived SSE stream (the GET stream, a resumption) of an authenticated caller:
/// lists in it are filtered with the caller's rights *now* (the policy may change while the
/// stream is open), and when the caller's rights change the stream carries
/// `notifications/{tools,prompts,resources}/list_changed`, between two events, so the client
/// lists again. Answers of other media types pass unchanged.
pub(crate) fn guard_stream(
    response: Response<Body>,
    rights: Rights,
    policy: tokio::sync::watch::Receiver<std::sync::Arc<portcullis_policy::Policy>>,
    upstream: String,
    liveness: Liveness,
) -> Response<Body> {
    if !matches!(media(&response), Media::EventStream) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    parts.headers.remove(CONTENT_LENGTH);
    let fingerprint = rights.fingerprint();
    let state = Guard {
        body: body.into_data_stream(),
        events: EventSplitter::default(),
        filter: ListFilter {
            rights,
            targets: Targets::Shape(ListKind::ALL.to_vec()),
            upstream,
        },
        policy: Some(policy),
        fingerprint,
        liveness,
        done: false,
    };
    let stream = futures_util::stream::unfold(state, |mut guard| async move {
        if guard.done {
            return None;
        }
        guard.next().await.map(|item| (item, guard))
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

struct Guard {
    body: axum::body::BodyDataStream,
    events: EventSplitter,
    filter: ListFilter,
    /// `None` once the policy's sender is gone (the gateway is shutting down).
    policy: Option<tokio::sync::watch::Receiver<std::sync::Arc<portcullis_policy::Policy>>>,
    fingerprint: u64,
    liveness: Liveness,
    done: bool,
}

/// What ends a guarded stream before its upstream does: its caller's credential revoked (the
/// access token, its grant, the API key) or expired. The client reconnects with a valid one, or
/// is refused.
pub(crate) struct Liveness {
    pub(crate) caller: std::sync::Arc<portcullis_core::auth::Principal>,
    pub(crate) revocations: std::sync::Arc<portcullis_core::auth::RevocationList>,
    /// Moves whenever revocations reach this process.
    pub(crate) revoked: tokio::sync::watch::Receiver<u64>,
    /// When the credential expires.
    pub(crate) expires: Option<tokio::time::Instant>,
}

impl Liveness {
    /// Returns when the stream must end: the credential revoked or expired.
    async fn ended(&mut self) -> &'static str {
        let expiry = async {
            match self.expires {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let revoked = async {
            loop {
                if self.revoked.changed().await.is_err() {
                    // The gateway is gone: nothing will be revoked any more.
                    std::future::pending::<()>().await;
                }
                if self.revocations.revokes(&self.caller) {
                    return;
                }
            }
        };
        tokio::select! {
            () = expiry => "the credential expired",
            () = revoked => "the credential was revoked",
        }
    }
}

impl Guard {
    async fn next(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        loop {
            let changed = async {
                match &mut self.policy {
                    Some(policy) => policy.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                why = self.liveness.ended() => {
                    tracing::info!(upstream = %self.filter.upstream, subject = %self.liveness.caller.subject, reason = why, "stream ended");
                    self.done = true;
                    return None;
                }
                alive = changed => {
                    if !alive {
                        self.policy = None;
                        continue;
                    }
                    let Some(policy) = self.policy.as_mut().map(|p| p.borrow_and_update().clone()) else {
                        continue;
                    };
                    self.filter.rights = self.filter.rights.with_policy(policy);
                    let fingerprint = self.filter.rights.fingerprint();
                    if fingerprint != self.fingerprint {
                        self.fingerprint = fingerprint;
                        return Some(Ok(Bytes::from_static(LIST_CHANGED)));
                    }
                }
                chunk = self.body.next() => {
                    let chunk = match chunk {
                        None => {
                            self.done = true;
                            return None;
                        }
                        Some(Err(e)) => {
                            self.done = true;
                            return Some(Err(std::io::Error::other(e)));
                        }
                        Some(Ok(chunk)) => chunk,
                    };
                    self.events.push(&chunk);
                    let kinds: Vec<ListKind> = ListKind::ALL
                        .into_iter()
                        .filter(|kind| self.filter.rights.filters(*kind))
                        .collect();
                    self.filter.targets = Targets::Shape(kinds);
                    let mut out = BytesMut::new();
                    while let Some(event) = self.events.next_event() {
                        if matches!(&self.filter.targets, Targets::Shape(k) if k.is_empty()) {
                            out.extend_from_slice(&event);
                        } else {
                            out.extend_from_slice(&self.filter.filter_event(&event));
                        }
                    }
                    if self.events.pending() > MAX_FILTERED_BYTES {
                        self.done = true;
                        tracing::warn!(upstream = %self.filter.upstream, "an SSE event too large to filter: stream ended");
                        return Some(Err(std::io::Error::other("SSE event too large to filter")));
                    }
                    if !out.is_empty() {
                        return Some(Ok(out.freeze()));
                    }
                }
            }
        }
    }
}

/// The value of an SSE line of field `name` (`name:value`, one leading space dropped).
fn field<'a>(line: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let rest = line.strip_prefix(name)?;
    if rest.is_empty() {
        return Some(rest);
    }
    let rest = rest.strip_prefix(b":")?;
    Some(rest.strip_prefix(b" ").unwrap_or(rest))
}

/// The lines of an event, without their terminators (CRLF, LF or CR).
fn lines(event: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = event;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest
            .iter()
            .position(|b| *b == b'\n' || *b == b'\r')
            .unwrap_or(rest.len());
        let (line, after) = rest.split_at(end);
        rest = match after {
            [b'\r', b'\n', tail @ ..] | [b'\r' | b'\n', tail @ ..] => tail,
            tail => tail,
        };
        Some(line)
    })
}

/// Splits an SSE byte stream into whole events (each ending with an empty line), whatever the
/// chunking and line terminators.
#[derive(Debug, Default)]
struct EventSplitter {
    buffer: BytesMut,
    /// How far `buffer` has been scanned for an event end.
    scanned: usize,
    ready: VecDeque<Bytes>,
}

impl EventSplitter {
    fn push(&mut self, chunk: &[u8]) {
        self.buffer.extend_from_slice(chunk);
        loop {
            match event_end(&self.buffer, self.scanned) {
                Ok(end) => {
                    let event = self.buffer.split_to(end).freeze();
                    self.ready.push_back(event);
                    self.scanned = 0;
                }
                Err(resume) => {
                    self.scanned = resume;
                    break;
                }
            }
        }
    }

    fn next_event(&mut self) -> Option<Bytes> {
        self.ready.pop_front()
    }

    fn pending(&self) -> usize {
        self.buffer.len()
    }
}

/// The end (exclusive) of the first complete event in `buffer`, just after the empty line that
/// ends it; or, when there is none yet, where to resume the search (the start of the last,
/// unfinished line). `from` is the start of a line.
fn event_end(buffer: &[u8], from: usize) -> Result<usize, usize> {
    let mut line_start = from;
    let mut i = from;
    while let Some(&b) = buffer.get(i) {
        if b != b'\n' && b != b'\r' {
            i += 1;
            continue;
        }
        let after = match (b, buffer.get(i + 1)) {
            // Perhaps the first half of a CRLF: wait for the next byte.
            (b'\r', None) => return Err(line_start),
            (b'\r', Some(b'\n')) => i + 2,
            _ => i + 1,
        };
        if i == line_start && i > 0 {
            return Ok(after);
        }
        i = after;
        line_start = after;
    }
    Err(line_start)
}

#[cfg(test)]
mod tests;
