//! The mock's Streamable HTTP endpoint `/mcp`: POST answered as JSON or as a per-request
//! SSE stream, GET as a numbered, resumable SSE stream, DELETE ending the session.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt as _, stream};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::dispatch::answer;
use super::{ResponseMode, SessionMode, Shared};
use crate::jsonrpc::{
    self, INVALID_REQUEST, Incoming, MODERN_VERSION, PARSE_ERROR, SESSION_NOT_FOUND,
};

const SESSION_HEADER: &str = "mcp-session-id";

pub(crate) async fn post(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return rpc_error(StatusCode::BAD_REQUEST, None, PARSE_ERROR, "parse error");
    };
    let stateful = shared.config().sessions == SessionMode::Stateful;
    let (id, method, params) = match jsonrpc::classify(value) {
        Incoming::Request { id, method, params } => (id, method, params),
        Incoming::Notification { params, .. } => {
            if stateful
                && !jsonrpc::is_modern(&params)
                && let Some(response) = session_rejection(&shared, &headers)
            {
                return response;
            }
            return StatusCode::ACCEPTED.into_response();
        }
        Incoming::Response { .. } => return StatusCode::ACCEPTED.into_response(),
        Incoming::Invalid(reason) => {
            return rpc_error(StatusCode::BAD_REQUEST, None, INVALID_REQUEST, &reason);
        }
    };

    let mut new_session = None;
    if method == "initialize" {
        if stateful {
            new_session = Some(shared.new_session());
        }
    } else if stateful
        && !jsonrpc::is_modern(&params)
        && let Some(response) = session_rejection(&shared, &headers)
    {
        return response;
    }

    let (sender, mut receiver) = mpsc::unbounded_channel();
    let mut response = match shared.config().responses {
        ResponseMode::Json => {
            answer(&shared, &id, &method, &params, &sender).await;
            drop(sender);
            // A JSON answer can only hold the response, the last message sent.
            let mut last = None;
            while let Ok(message) = receiver.try_recv() {
                last = Some(message);
            }
            Json(last.unwrap_or(Value::Null)).into_response()
        }
        ResponseMode::Sse => {
            let stream_id = shared.next_id();
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                answer(&shared, &id, &method, &params, &sender).await;
            });
            let events = stream::unfold(receiver, |mut receiver| async move {
                let message = receiver.recv().await?;
                Some((message, receiver))
            })
            .enumerate()
            .map(move |(index, message)| {
                Ok::<_, Infallible>(
                    Event::default()
                        .id(format!("r{stream_id}-{index}"))
                        .event("message")
                        .data(message.to_string()),
                )
            });
            Sse::new(events).into_response()
        }
    };
    if let Some(session) = new_session
        && let Ok(value) = HeaderValue::from_str(&session)
    {
        response.headers_mut().insert(SESSION_HEADER, value);
    }
    response
}

pub(crate) async fn get(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let config = shared.config();
    if header_str(&headers, "mcp-protocol-version") == Some(MODERN_VERSION) || !config.get_stream {
        return method_not_allowed();
    }
    if config.sessions == SessionMode::Stateful
        && let Some(response) = session_rejection(&shared, &headers)
    {
        return response;
    }
    let accepts_sse = header_str(&headers, "accept")
        .is_some_and(|accept| accept.contains("text/event-stream") || accept.contains("*/*"));
    if !accepts_sse {
        return rpc_error(
            StatusCode::NOT_ACCEPTABLE,
            None,
            INVALID_REQUEST,
            "GET needs Accept: text/event-stream",
        );
    }
    // Resume after the last event the client saw; an unreadable id starts from the top.
    let first = header_str(&headers, "last-event-id")
        .and_then(|id| id.parse::<u64>().ok())
        .map_or(1, |last| last.saturating_add(1));
    let total = config.get_stream_events;
    let interval = config.get_stream_interval;
    let close = config.close_get_stream;
    let logger = config.server_name;
    let events = stream::unfold(first, move |n| {
        let logger = logger.clone();
        async move {
            if n > total {
                if !close {
                    // Stay open and silent until the client leaves or the mock stops.
                    std::future::pending::<()>().await;
                }
                return None;
            }
            tokio::time::sleep(interval).await;
            let message = jsonrpc::notification(
                "notifications/message",
                json!({ "level": "info", "logger": logger, "data": { "n": n } }),
            );
            let event = Event::default()
                .id(n.to_string())
                .event("message")
                .data(message.to_string());
            Some((Ok::<_, Infallible>(event), n.saturating_add(1)))
        }
    });
    Sse::new(events).into_response()
}

pub(crate) async fn delete(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if shared.config().sessions == SessionMode::Stateless
        || header_str(&headers, "mcp-protocol-version") == Some(MODERN_VERSION)
    {
        return method_not_allowed();
    }
    match header_str(&headers, SESSION_HEADER) {
        None => rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            INVALID_REQUEST,
            "missing Mcp-Session-Id",
        ),
        Some(id) if shared.remove_session(id) => StatusCode::OK.into_response(),
        Some(_) => rpc_error(
            StatusCode::NOT_FOUND,
            None,
            SESSION_NOT_FOUND,
            "session not found",
        ),
    }
}

/// The answer for a request without a live session: 400 without a session id, 404 with an
/// unknown one; `None` when the session is live.
fn session_rejection(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    match header_str(headers, SESSION_HEADER) {
        None => Some(rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            INVALID_REQUEST,
            "missing Mcp-Session-Id",
        )),
        Some(id) if shared.has_session(id) => None,
        Some(_) => Some(rpc_error(
            StatusCode::NOT_FOUND,
            None,
            SESSION_NOT_FOUND,
            "session not found",
        )),
    }
}

fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, "POST")],
        Json(jsonrpc::failure(
            None,
            INVALID_REQUEST,
            "method not allowed",
        )),
    )
        .into_response()
}

fn rpc_error(status: StatusCode, id: Option<&Value>, code: i64, message: &str) -> Response {
    (status, Json(jsonrpc::failure(id, code, message))).into_response()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
