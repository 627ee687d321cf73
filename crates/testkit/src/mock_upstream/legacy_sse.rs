//! The deprecated 2024-11-05 HTTP+SSE transport: GET `/sse` opens a stream whose first
//! event (`event: endpoint`) names where to POST, and every answer to those POSTs arrives
//! on the stream as `event: message`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt as _, future, stream};
use serde_json::Value;
use tokio::sync::mpsc;

use super::Shared;
use super::dispatch::answer;
use crate::jsonrpc::{self, Incoming};

/// Removes the session when its stream goes away (client gone, or the mock stopped), so
/// later POSTs to its endpoint get 404.
struct StreamGuard {
    shared: Arc<Shared>,
    id: String,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.shared.close_legacy_stream(&self.id);
    }
}

pub(crate) async fn open(State(shared): State<Arc<Shared>>) -> Response {
    let id = format!("legacy-{}", shared.next_id());
    let (sender, receiver) = mpsc::unbounded_channel::<Value>();
    shared.open_legacy_stream(&id, sender);
    let endpoint = Event::default()
        .event("endpoint")
        .data(format!("/messages?sessionId={id}"));
    let guard = StreamGuard {
        shared: Arc::clone(&shared),
        id,
    };
    let messages = stream::unfold((receiver, guard), |(mut receiver, guard)| async move {
        let message = receiver.recv().await?;
        let event = Event::default().event("message").data(message.to_string());
        Some((Ok::<_, Infallible>(event), (receiver, guard)))
    });
    Sse::new(stream::once(future::ready(Ok(endpoint))).chain(messages)).into_response()
}

pub(crate) async fn post(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let Some(id) = query.get("sessionId") else {
        return (StatusCode::BAD_REQUEST, "missing sessionId").into_response();
    };
    let Some(stream) = shared.legacy_stream(id) else {
        return (StatusCode::NOT_FOUND, "unknown session").into_response();
    };
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "invalid JSON").into_response();
    };
    match jsonrpc::classify(value) {
        Incoming::Request { id, method, params } => {
            // Answer in the background: the POST is acknowledged at once and the
            // messages follow on the SSE stream, as the transport prescribes.
            tokio::spawn(async move {
                answer(&shared, &id, &method, &params, &stream).await;
            });
        }
        Incoming::Notification { .. } | Incoming::Response { .. } => {}
        Incoming::Invalid(reason) => {
            return (StatusCode::BAD_REQUEST, reason).into_response();
        }
    }
    (StatusCode::ACCEPTED, "Accepted").into_response()
}
