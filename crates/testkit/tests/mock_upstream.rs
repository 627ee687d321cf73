//! Proves each `MockUpstream` behaviour does what its documentation says, over real HTTP.

// Test code: a failed unwrap or index is a failed assertion. Clippy's test exemptions only
// cover `#[test]` functions, not the helpers of an integration-test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use portcullis_testkit::{
    Behavior, MockConfig, MockUpstream, ResponseMode, SessionMode, SseEvent, SseParser,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(5);

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

fn rpc(id: i64, method: &str, params: Value) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":method,"params":params})
}

async fn post(url: &str, session: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = client()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .json(body);
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    request.send().await.unwrap()
}

async fn initialize(mock: &MockUpstream) -> String {
    let response = post(
        &mock.url(),
        None,
        &rpc(0, "initialize", json!({"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["result"]["protocolVersion"], "2025-06-18");
    session
}

/// Reads SSE events from a response until `count` have arrived.
async fn read_events(response: &mut reqwest::Response, count: usize) -> Vec<SseEvent> {
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    while events.len() < count {
        let chunk = tokio::time::timeout(WAIT, response.chunk())
            .await
            .expect("timed out waiting for an SSE event")
            .unwrap()
            .expect("the stream ended early");
        events.extend(parser.push(&chunk));
    }
    events
}

/// Reads a whole SSE body.
async fn read_all_events(response: reqwest::Response) -> Vec<SseEvent> {
    let body = tokio::time::timeout(WAIT, response.bytes())
        .await
        .unwrap()
        .unwrap();
    let mut parser = SseParser::new();
    parser.push(&body)
}

#[tokio::test]
async fn json_mode_records_requests_and_enforces_sessions() {
    let mock = MockUpstream::start(MockConfig::default()).await.unwrap();
    let session = initialize(&mock).await;
    assert_eq!(mock.sessions(), vec![session.clone()]);

    let list = rpc(1, "tools/list", json!({}));
    assert_eq!(
        post(&mock.url(), None, &list).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post(&mock.url(), Some("nope"), &list).await.status(),
        StatusCode::NOT_FOUND
    );
    let tools: Value = post(&mock.url(), Some(&session), &list)
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["echo", "slow"]);

    let initialized = post(
        &mock.url(),
        Some(&session),
        &json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
    )
    .await;
    assert_eq!(initialized.status(), StatusCode::ACCEPTED);

    let echo = client()
        .post(mock.url())
        .header("mcp-session-id", &session)
        .header("authorization", "Bearer should-not-be-here")
        .json(&rpc(
            2,
            "tools/call",
            json!({"name":"echo","arguments":{"message":"hi there"}}),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        echo.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let echo: Value = echo.json().await.unwrap();
    assert_eq!(echo["id"], 2);
    assert_eq!(echo["result"]["content"][0]["text"], "hi there");

    let unknown: Value = post(
        &mock.url(),
        Some(&session),
        &rpc(3, "tools/call", json!({"name":"nope"})),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(unknown["error"]["code"], -32602);

    // Every request is recorded with its method, target, headers and body.
    let requests = mock.requests();
    assert_eq!(requests.len(), 7);
    let call = requests
        .iter()
        .find(|r| r.rpc_method().as_deref() == Some("tools/call"))
        .unwrap();
    assert_eq!(call.method, reqwest::Method::POST);
    assert_eq!(call.path_and_query, "/mcp");
    assert_eq!(
        call.header("authorization"),
        Some("Bearer should-not-be-here")
    );
    assert_eq!(
        call.json().unwrap()["params"]["arguments"]["message"],
        "hi there"
    );

    let delete = client()
        .delete(mock.url())
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), StatusCode::OK);
    assert!(mock.sessions().is_empty());
    assert_eq!(
        post(&mock.url(), Some(&session), &list).await.status(),
        StatusCode::NOT_FOUND
    );
    assert!(
        mock.requests()
            .iter()
            .any(|r| r.method == reqwest::Method::DELETE)
    );
    mock.clear_requests();
    assert!(mock.requests().is_empty());
    mock.stop().await;
}

#[tokio::test]
async fn stateless_mode_issues_no_sessions() {
    let mock = MockUpstream::start(MockConfig {
        sessions: SessionMode::Stateless,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let init = post(
        &mock.url(),
        None,
        &rpc(0, "initialize", json!({"protocolVersion":"2025-11-25"})),
    )
    .await;
    assert!(init.headers().get("mcp-session-id").is_none());
    let list = post(&mock.url(), None, &rpc(1, "tools/list", json!({}))).await;
    assert_eq!(list.status(), StatusCode::OK);
    let delete = client().delete(mock.url()).send().await.unwrap();
    assert_eq!(delete.status(), StatusCode::METHOD_NOT_ALLOWED);
    mock.stop().await;
}

#[tokio::test]
async fn modern_requests_need_no_session() {
    let mock = MockUpstream::start(MockConfig::default()).await.unwrap();
    let meta = json!({"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}});
    let discover: Value = post(
        &mock.url(),
        None,
        &rpc(1, "server/discover", json!({"_meta": meta})),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(discover["result"]["resultType"], "complete");
    assert_eq!(discover["result"]["supportedVersions"][0], "2026-07-28");
    let call: Value = post(
        &mock.url(),
        None,
        &rpc(
            2,
            "tools/call",
            json!({"name":"echo","arguments":{"message":"m"},"_meta": meta}),
        ),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(call["result"]["resultType"], "complete");
    assert_eq!(call["result"]["content"][0]["text"], "m");
    mock.stop().await;
}

#[tokio::test]
async fn sse_mode_streams_a_notification_then_the_result_with_ids() {
    let mock = MockUpstream::start(MockConfig {
        responses: ResponseMode::Sse,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let session = initialize_sse(&mock).await;

    let call = post(
        &mock.url(),
        Some(&session),
        &rpc(
            7,
            "tools/call",
            json!({"name":"echo","arguments":{"message":"streamed"},"_meta":{"progressToken":"tok"}}),
        ),
    )
    .await;
    assert_eq!(call.status(), StatusCode::OK);
    assert!(
        call.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let events = read_all_events(call).await;
    assert_eq!(events.len(), 2, "{events:?}");
    let progress = events[0].json().unwrap();
    assert_eq!(progress["method"], "notifications/progress");
    assert_eq!(progress["params"]["progressToken"], "tok");
    let result = events[1].json().unwrap();
    assert_eq!(result["id"], 7);
    assert_eq!(result["result"]["content"][0]["text"], "streamed");
    for event in &events {
        assert_eq!(event.event.as_deref(), Some("message"));
        assert!(event.id.as_deref().is_some_and(|id| id.starts_with('r')));
    }
    assert_ne!(events[0].id, events[1].id);

    // Without a progress token the notification is a log message.
    let call = post(
        &mock.url(),
        Some(&session),
        &rpc(
            8,
            "tools/call",
            json!({"name":"echo","arguments":{"message":"x"}}),
        ),
    )
    .await;
    let events = read_all_events(call).await;
    assert_eq!(events[0].json().unwrap()["method"], "notifications/message");
    assert_eq!(events[1].json().unwrap()["id"], 8);
    mock.stop().await;
}

async fn initialize_sse(mock: &MockUpstream) -> String {
    let response = post(
        &mock.url(),
        None,
        &rpc(0, "initialize", json!({"protocolVersion":"2025-11-25"})),
    )
    .await;
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let events = read_all_events(response).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].json().unwrap()["result"]["protocolVersion"],
        "2025-11-25"
    );
    session
}

#[tokio::test]
async fn slow_tool_waits_and_progress_arrives_first() {
    let mock = MockUpstream::start(MockConfig {
        responses: ResponseMode::Sse,
        slow_ms: 300,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let session = initialize_sse(&mock).await;
    let started = Instant::now();
    let mut call = post(
        &mock.url(),
        Some(&session),
        &rpc(
            1,
            "tools/call",
            json!({"name":"slow","_meta":{"progressToken":1}}),
        ),
    )
    .await;
    let first = read_events(&mut call, 1).await;
    assert_eq!(first[0].json().unwrap()["method"], "notifications/progress");
    assert!(started.elapsed() < Duration::from_millis(300));
    let rest = read_all_events(call).await;
    assert_eq!(
        rest[0].json().unwrap()["result"]["content"][0]["text"],
        "slept 300 ms"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));

    // The call can choose its own delay.
    let started = Instant::now();
    let quick = post(
        &mock.url(),
        Some(&session),
        &rpc(
            2,
            "tools/call",
            json!({"name":"slow","arguments":{"ms":10}}),
        ),
    )
    .await;
    let events = read_all_events(quick).await;
    assert_eq!(
        events[1].json().unwrap()["result"]["content"][0]["text"],
        "slept 10 ms"
    );
    assert!(started.elapsed() < Duration::from_millis(300));
    mock.stop().await;
}

#[tokio::test]
async fn get_stream_sends_numbered_events_and_resumes_after_last_event_id() {
    let mock = MockUpstream::start(MockConfig {
        get_stream_events: 6,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let session = initialize(&mock).await;
    let open = |last_event_id: Option<&str>| {
        let mut request = client()
            .get(mock.url())
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &session);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        request.send()
    };
    let mut first = open(None).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let events = read_events(&mut first, 3).await;
    let ids: Vec<_> = events.iter().map(|e| e.id.clone().unwrap()).collect();
    assert_eq!(ids, ["1", "2", "3"]);
    assert_eq!(events[2].json().unwrap()["params"]["data"]["n"], 3);
    drop(first);

    let mut resumed = open(Some("3")).await.unwrap();
    let events = read_events(&mut resumed, 3).await;
    let ids: Vec<_> = events.iter().map(|e| e.id.clone().unwrap()).collect();
    assert_eq!(ids, ["4", "5", "6"]);
    // After the last event the stream stays open and silent.
    let more = tokio::time::timeout(Duration::from_millis(200), resumed.chunk()).await;
    assert!(more.is_err(), "the stream should stay open: {more:?}");

    let missing_session = client()
        .get(mock.url())
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(missing_session.status(), StatusCode::BAD_REQUEST);
    mock.stop().await;
}

#[tokio::test]
async fn get_stream_can_close_after_its_events_or_be_refused() {
    let mock = MockUpstream::start(MockConfig {
        sessions: SessionMode::Stateless,
        get_stream_events: 2,
        close_get_stream: true,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let stream = client()
        .get(mock.url())
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let events = read_all_events(stream).await;
    assert_eq!(events.len(), 2);
    mock.stop().await;

    let refused = MockUpstream::start(MockConfig {
        get_stream: false,
        sessions: SessionMode::Stateless,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let response = client()
        .get(refused.url())
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    refused.stop().await;
}

#[tokio::test]
async fn hang_records_the_request_and_never_answers() {
    let mock = MockUpstream::start(MockConfig {
        behavior: Behavior::Hang,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let url = mock.url();
    let pending = tokio::spawn(async move {
        post(&url, None, &rpc(1, "initialize", json!({}))).await;
    });
    let seen = mock
        .wait_for_request(|r| r.rpc_method().as_deref() == Some("initialize"), WAIT)
        .await;
    assert!(seen.is_some());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!pending.is_finished(), "no response headers should arrive");

    // Stopping the mock cuts the hung connection.
    mock.stop().await;
    let outcome = tokio::time::timeout(WAIT, pending).await.unwrap();
    assert!(
        outcome.is_err(),
        "the client sees the connection close as an error"
    );
}

#[tokio::test]
async fn stall_body_sends_headers_then_nothing() {
    let mock = MockUpstream::start(MockConfig::default()).await.unwrap();
    let session = initialize(&mock).await;
    mock.set_method_behavior("tools/call", Behavior::StallBody);
    let mut response = post(
        &mock.url(),
        Some(&session),
        &rpc(1, "tools/call", json!({"name":"echo"})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = tokio::time::timeout(Duration::from_millis(300), response.chunk()).await;
    assert!(body.is_err(), "no body byte should arrive");

    // Other methods are still answered.
    let list = post(
        &mock.url(),
        Some(&session),
        &rpc(2, "tools/list", json!({})),
    )
    .await;
    assert_eq!(list.status(), StatusCode::OK);
    mock.set_method_behavior("tools/call", Behavior::Normal);
    let call = post(
        &mock.url(),
        Some(&session),
        &rpc(
            3,
            "tools/call",
            json!({"name":"echo","arguments":{"message":"ok"}}),
        ),
    )
    .await;
    let call: Value = call.json().await.unwrap();
    assert_eq!(call["result"]["content"][0]["text"], "ok");
    mock.stop().await;
}

#[tokio::test]
async fn status_behaviour_answers_with_the_configured_status() {
    let mock = MockUpstream::start(MockConfig::default()).await.unwrap();
    mock.set_behavior(Behavior::Status(503));
    let response = post(&mock.url(), None, &rpc(9, "initialize", json!({}))).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], 9);
    assert_eq!(body["error"]["code"], -32000);
    mock.set_behavior(Behavior::Normal);
    initialize(&mock).await;
    assert_eq!(mock.requests().len(), 2);
    mock.stop().await;
}

#[tokio::test]
async fn extra_tools_are_listed_and_callable() {
    let mock = MockUpstream::start(MockConfig {
        sessions: SessionMode::Stateless,
        extra_tools: vec!["read_file".to_owned(), "admin".to_owned()],
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let tools: Value = post(&mock.url(), None, &rpc(1, "tools/list", json!({})))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tools["result"]["tools"].as_array().unwrap().len(), 4);
    let call: Value = post(
        &mock.url(),
        None,
        &rpc(2, "tools/call", json!({"name":"admin","arguments":{"x":1}})),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        call["result"]["content"][0]["text"],
        r#"called admin with {"x":1}"#
    );
    mock.stop().await;
}

#[tokio::test]
async fn end_session_makes_the_session_unknown() {
    let mock = MockUpstream::start(MockConfig::default()).await.unwrap();
    let session = initialize(&mock).await;
    assert!(mock.end_session(&session));
    let response = post(&mock.url(), Some(&session), &rpc(1, "ping", json!({}))).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    mock.stop().await;
}

#[tokio::test]
async fn legacy_sse_announces_its_endpoint_and_answers_on_the_stream() {
    let mock = MockUpstream::start_legacy_sse(MockConfig {
        slow_ms: 50,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let mut stream = client()
        .get(mock.sse_url())
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let endpoint = read_events(&mut stream, 1).await.remove(0);
    assert_eq!(endpoint.event.as_deref(), Some("endpoint"));
    assert!(
        endpoint.data.starts_with("/messages?sessionId="),
        "{endpoint:?}"
    );
    let session = endpoint
        .data
        .trim_start_matches("/messages?sessionId=")
        .to_owned();
    assert_eq!(mock.sessions(), vec![session.clone()]);
    let post_url = format!("http://{}{}", mock.addr(), endpoint.data);

    let mut parser = SseParser::new();
    let mut next = async |stream: &mut reqwest::Response, count: usize| {
        let mut events = Vec::new();
        while events.len() < count {
            let chunk = tokio::time::timeout(WAIT, stream.chunk())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            events.extend(parser.push(&chunk));
        }
        events
    };

    let accepted = client()
        .post(&post_url)
        .json(&rpc(
            1,
            "initialize",
            json!({"protocolVersion":"2024-11-05"}),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let init = next(&mut stream, 1).await.remove(0);
    assert_eq!(init.event.as_deref(), Some("message"));
    let init = init.json().unwrap();
    assert_eq!(init["id"], 1);
    assert_eq!(init["result"]["protocolVersion"], "2024-11-05");

    let accepted = client()
        .post(&post_url)
        .json(&rpc(
            2,
            "tools/call",
            json!({"name":"slow","_meta":{"progressToken":"p"}}),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let events = next(&mut stream, 2).await;
    assert_eq!(
        events[0].json().unwrap()["method"],
        "notifications/progress"
    );
    assert_eq!(events[1].json().unwrap()["id"], 2);
    assert_eq!(
        events[1].json().unwrap()["result"]["content"][0]["text"],
        "slept 50 ms"
    );
    assert!(
        mock.requests()
            .iter()
            .any(|r| r.path_and_query == endpoint.data)
    );

    let unknown = client()
        .post(format!("http://{}/messages?sessionId=nope", mock.addr()))
        .json(&rpc(3, "ping", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    // Closing the stream ends the session.
    drop(stream);
    let mut gone = false;
    for _ in 0..50 {
        let response = client()
            .post(&post_url)
            .json(&rpc(4, "ping", json!({})))
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::NOT_FOUND {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "the session should end with its stream");
    mock.stop().await;
}
