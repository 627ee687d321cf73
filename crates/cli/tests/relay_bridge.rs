//! stdio and legacy HTTP+SSE upstreams, presented as Streamable HTTP.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::time::Duration;

use common::*;
use portcullis_core::config::{HttpTransport, UpstreamConfig};
use portcullis_testkit::{MockConfig, MockUpstream, mock_stdio_mcp_path};
use serde_json::{Value, json};

fn stdio(name: &str) -> UpstreamConfig {
    let path = mock_stdio_mcp_path()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let mut up = open_upstream(UpstreamConfig::stdio(name, vec![path]));
    up.restart_backoff_max = Duration::from_millis(200);
    up
}

fn pid_of(result: &Value) -> u64 {
    result["result"]["structuredContent"]["pid"]
        .as_u64()
        .unwrap_or_else(|| panic!("{result}"))
}

#[tokio::test]
async fn stdio_sessions_call_tools_with_their_own_ids() {
    let app = spawn(vec![stdio("local")]).await;
    let a = app.initialize("local").await;
    let b = app.initialize("local").await;
    assert_ne!(a, b);
    // Both sessions use id 7 at once; each gets its own answer back under its own id.
    let (ra, rb) = tokio::join!(
        app.call("local", &a, "echo", json!({"message": "from a"})),
        app.call("local", &b, "echo", json!({"message": "from b"}))
    );
    assert_eq!(ra["id"], 7);
    assert_eq!(rb["id"], 7);
    assert_eq!(ra["result"]["content"][0]["text"], "from a");
    assert_eq!(rb["result"]["content"][0]["text"], "from b");

    let list = read_result(
        app.post(
            "local",
            &json!({"jsonrpc": "2.0", "id": "x", "method": "tools/list"}),
        )
        .header("mcp-session-id", &a)
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(list["id"], "x");
    assert!(list["result"]["tools"].as_array().unwrap().len() >= 4);

    let (status, code, _) = error_of(
        app.post(
            "local",
            &json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!((status, code), (400, -32600), "a request without a session");
    let (status, code, _) = error_of(
        app.post(
            "local",
            &json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        )
        .header("mcp-session-id", "nope")
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!((status, code), (404, -32001));
}

#[tokio::test]
async fn stdio_progress_streams_as_sse_with_the_clients_token() {
    let app = spawn(vec![stdio("local")]).await;
    let s = app.initialize("local").await;
    let response = app
        .post("local", &json!({"jsonrpc": "2.0", "id": 11, "method": "tools/call", "params": {"name": "slow", "arguments": {"ms": 300}, "_meta": {"progressToken": "mine"}}}))
        .header("mcp-session-id", &s)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.unwrap();
    let messages = sse_messages(&text);
    assert_eq!(messages[0]["method"], "notifications/progress");
    assert_eq!(messages[0]["params"]["progressToken"], "mine");
    assert_eq!(messages.last().unwrap()["id"], 11);
    assert!(text.contains("id: "), "events carry ids: {text}");

    // A client that only accepts JSON gets the response alone.
    let json_only = app
        .client
        .post(app.mcp("local"))
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("mcp-session-id", &s)
        .body(json!({"jsonrpc": "2.0", "id": 12, "method": "tools/call", "params": {"name": "slow", "arguments": {"ms": 50}, "_meta": {"progressToken": 1}}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(json_only.headers()["content-type"], "application/json");
    assert_eq!(json_only.json::<Value>().await.unwrap()["id"], 12);
}

#[tokio::test]
async fn stdio_server_requests_reach_the_right_session_and_its_answer_goes_back() {
    let app = spawn(vec![stdio("local")]).await;
    let s = app.initialize("local").await;
    let mut response = app
        .post("local", &json!({"jsonrpc": "2.0", "id": 21, "method": "tools/call", "params": {"name": "ask", "arguments": {"question": "colour?"}}}))
        .header("mcp-session-id", &s)
        .send()
        .await
        .unwrap();
    let mut seen = String::new();
    let request = loop {
        let chunk = response
            .chunk()
            .await
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if let Some(r) = sse_messages(&seen)
            .into_iter()
            .find(|m| m["method"] == "elicitation/create")
        {
            break r;
        }
    };
    assert!(
        seen.starts_with("id: "),
        "a priming event with an id comes first: {seen}"
    );
    // Another session cannot answer it.
    let other = app.initialize("local").await;
    let answer = json!({"jsonrpc": "2.0", "id": request["id"], "result": {"action": "accept", "content": {"answer": "blue"}}});
    let refused = app
        .post("local", &answer)
        .header("mcp-session-id", &other)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let accepted = app
        .post("local", &answer)
        .header("mcp-session-id", &s)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    let mut rest = String::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        rest.push_str(&String::from_utf8_lossy(&chunk));
    }
    let last = sse_messages(&rest).pop().unwrap();
    assert_eq!(last["id"], 21);
    assert!(
        last["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("blue"),
        "{last}"
    );
}

#[tokio::test]
async fn a_crashed_stdio_child_is_restarted_and_its_sessions_end() {
    let app = spawn(vec![stdio("local")]).await;
    let s = app.initialize("local").await;
    let before = pid_of(&app.call("local", &s, "whoami", json!({})).await);
    let crash = app.post("local", &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "crash", "arguments": {}}})).header("mcp-session-id", &s).send().await.unwrap();
    let (status, code, body) = error_of(crash).await;
    assert_eq!((status, code), (502, -32603), "{body}");
    assert_eq!(body["id"], 1);

    // The old session is gone; a new one works on a new process.
    let mut restarted = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let old = app
            .post(
                "local",
                &json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}),
            )
            .header("mcp-session-id", &s)
            .send()
            .await
            .unwrap();
        assert_eq!(old.status(), 404);
        let init = app
            .client
            .post(app.mcp("local"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(initialize_body().to_string())
            .send()
            .await
            .unwrap();
        if init.status() == 200 {
            restarted = init
                .headers()
                .get("mcp-session-id")
                .map(|v| v.to_str().unwrap().to_owned());
            break;
        }
    }
    let fresh = restarted.expect("the child came back");
    let after = pid_of(&app.call("local", &fresh, "whoami", json!({})).await);
    assert_ne!(before, after);
}

#[tokio::test]
async fn stdio_serves_stateless_requests() {
    let app = spawn(vec![stdio("local")]).await;
    let body = json!({"jsonrpc": "2.0", "id": "s1", "method": "tools/call", "params": {"name": "echo", "arguments": {"message": "stateless"}, "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}});
    let response = app
        .client
        .post(app.mcp("local"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "echo")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let reply = read_result(response).await;
    assert_eq!(reply["id"], "s1");
    assert_eq!(reply["result"]["content"][0]["text"], "stateless");
    let get = app
        .client
        .get(app.mcp("local"))
        .header("accept", "text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
}

#[tokio::test]
async fn a_child_that_only_speaks_sessions_refuses_stateless_requests_with_its_versions() {
    let mut up = stdio("old");
    up.command
        .as_mut()
        .unwrap()
        .push("--sessions-only".to_owned());
    let app = spawn(vec![up]).await;
    let body = json!({"jsonrpc": "2.0", "id": "s1", "method": "tools/list", "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}});
    let response = app
        .client
        .post(app.mcp("old"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/list")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let (status, code, reply) = error_of(response).await;
    assert_eq!((status, code), (400, -32022), "{reply}");
    assert_eq!(reply["id"], "s1");
    let supported = reply["error"]["data"]["supported"].as_array().unwrap();
    assert!(
        supported.contains(&json!("2025-11-25")) && !supported.contains(&json!("2026-07-28")),
        "{reply}"
    );
    // The client falls back to a session, which works.
    let s = app.initialize("old").await;
    assert_eq!(
        app.call("old", &s, "echo", json!({"message": "fallback"}))
            .await["result"]["content"][0]["text"],
        "fallback"
    );
}

#[tokio::test]
async fn legacy_sse_upstreams_are_presented_as_streamable_http() {
    let upstream = MockUpstream::start_legacy_sse(MockConfig {
        slow_ms: 200,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let mut up = open_upstream(UpstreamConfig::http("old", &upstream.sse_url()));
    up.transport = HttpTransport::Sse;
    let app = spawn(vec![up]).await;
    let s = app.initialize("old").await;
    assert_eq!(
        upstream.sessions().len(),
        1,
        "one SSE connection for the session"
    );
    let echo = app.call("old", &s, "echo", json!({"text": "legacy"})).await;
    assert_eq!(echo["id"], 7);
    assert!(echo.to_string().contains("legacy"));

    let response = app
        .post("old", &json!({"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {"name": "slow", "arguments": {}, "_meta": {"progressToken": 5}}}))
        .header("mcp-session-id", &s)
        .send()
        .await
        .unwrap();
    let reply = read_result(response).await;
    assert_eq!(reply["id"], 8);

    let second = app.initialize("old").await;
    assert_ne!(s, second);
    assert_eq!(
        upstream.sessions().len(),
        2,
        "sessions never share a connection"
    );
    let deleted = app
        .client
        .delete(app.mcp("old"))
        .header("mcp-session-id", &s)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    let (status, _, _) = error_of(
        app.post("old", &json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
            .header("mcp-session-id", &s)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_legacy_upstream_that_is_down_gives_502() {
    let down = closed_port_url("/sse");
    let mut up = open_upstream(UpstreamConfig::http("old", &down));
    up.transport = HttpTransport::Sse;
    let app = spawn(vec![up]).await;
    let response = app
        .client
        .post(app.mcp("old"))
        .header("content-type", "application/json")
        .body(initialize_body().to_string())
        .send()
        .await
        .unwrap();
    let (status, code, body) = error_of(response).await;
    assert_eq!((status, code), (502, -32603), "{body}");
    assert_eq!(body["id"], 0);
}

#[tokio::test]
async fn a_broken_stream_resumes_with_last_event_id() {
    let app = spawn(vec![stdio("local")]).await;
    let s = app.initialize("local").await;
    for wait_for_final in [false, true] {
        let mut response = app
            .post("local", &json!({"jsonrpc": "2.0", "id": 31, "method": "tools/call", "params": {"name": "slow", "arguments": {"ms": 400}, "_meta": {"progressToken": "r"}}}))
            .header("mcp-session-id", &s)
            .send()
            .await
            .unwrap();
        // Read up to the progress event, note its id, then drop the connection.
        let mut seen = String::new();
        let last_id = loop {
            let chunk = response
                .chunk()
                .await
                .unwrap()
                .expect("events before the end");
            seen.push_str(&String::from_utf8_lossy(&chunk));
            let mut parser = portcullis_testkit::SseParser::new();
            let events = parser.push(seen.as_bytes());
            if let Some(e) = events.iter().find(|e| {
                e.json()
                    .is_some_and(|m| m["method"] == "notifications/progress")
            }) {
                break e.id.clone().expect("events carry ids");
            }
        };
        drop(response);
        if wait_for_final {
            // The response is produced while nobody listens; it waits in the session's log.
            tokio::time::sleep(Duration::from_millis(600)).await;
        }
        let resumed = app
            .client
            .get(app.mcp("local"))
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &s)
            .header("mcp-protocol-version", "2025-11-25")
            .header("last-event-id", &last_id)
            .send()
            .await
            .unwrap();
        assert_eq!(resumed.status(), 200);
        let text = tokio::time::timeout(Duration::from_secs(5), resumed.text())
            .await
            .expect("the resumed stream ends after the response")
            .unwrap();
        let messages = sse_messages(&text);
        assert_eq!(messages.len(), 1, "only what was missed: {text}");
        assert_eq!(messages[0]["id"], 31);
    }
}

#[tokio::test]
async fn idle_bridged_sessions_are_swept() {
    let upstream = MockUpstream::start_legacy_sse(MockConfig::default())
        .await
        .unwrap();
    let mut old = open_upstream(UpstreamConfig::http("old", &upstream.sse_url()));
    old.transport = HttpTransport::Sse;
    let app = spawn(vec![stdio("local"), old]).await;
    let a = app.initialize("local").await;
    let b = app.initialize("old").await;
    assert_eq!(app.gateway.sweep_bridges(Duration::from_secs(3600)), 0);
    assert_eq!(app.gateway.sweep_bridges(Duration::ZERO), 2);
    for (name, session) in [("local", &a), ("old", &b)] {
        let (status, _, _) = error_of(
            app.post(name, &json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
                .header("mcp-session-id", session)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 404);
    }
    // The legacy connection was closed too.
    for _ in 0..50 {
        if upstream.sessions().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(upstream.sessions().is_empty());
}
