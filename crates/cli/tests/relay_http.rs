//! The relay in front of Streamable HTTP upstreams, over real HTTP: what is relayed, what is
//! refused before any upstream sees it, and how upstream failures look to the client.

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
use portcullis_core::config::UpstreamConfig;
use portcullis_testkit::{Behavior, MockConfig, MockUpstream, ResponseMode};
use serde_json::json;

async fn mock() -> MockUpstream {
    MockUpstream::start(MockConfig::default()).await.unwrap()
}

#[tokio::test]
async fn initialize_list_and_call_are_relayed_without_client_credentials() {
    let upstream = mock().await;
    let app = spawn(vec![open_upstream(UpstreamConfig::http(
        "files",
        &upstream.url(),
    ))])
    .await;
    let session = app.initialize("files").await;
    assert!(
        upstream.sessions().contains(&session),
        "the upstream's own session id is relayed"
    );

    let list = app
        .post(
            "files",
            &json!({"jsonrpc": "2.0", "id": "l1", "method": "tools/list"}),
        )
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    let list = read_result(list).await;
    assert_eq!(list["id"], "l1");
    assert!(
        list["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "echo")
    );

    let call = app
        .post("files", &json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "hi"}}}))
        .header("mcp-session-id", &session)
        .header("authorization", "Bearer client-token")
        .header("cookie", "sid=secret")
        .header("origin", app.url(""))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(call.status(), 200);
    assert!(call.headers().get("x-request-id").is_some());
    let call = read_result(call).await;
    assert_eq!(call["id"], 9);
    assert!(
        call["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("hi")
    );

    for request in upstream.requests() {
        for header in ["authorization", "cookie", "origin", "x-forwarded-for"] {
            assert!(
                request.header(header).is_none(),
                "{header} reached the upstream"
            );
        }
    }
    // What the upstream executed is byte for byte what was sent.
    let relayed = upstream
        .requests()
        .into_iter()
        .find(|r| r.rpc_method().as_deref() == Some("tools/call"))
        .unwrap();
    assert_eq!(relayed.json().unwrap()["params"]["arguments"]["text"], "hi");
    assert_eq!(relayed.header("mcp-session-id"), Some(session.as_str()));
}

#[tokio::test]
async fn sse_answers_stream_frame_by_frame() {
    let upstream = MockUpstream::start(MockConfig {
        responses: ResponseMode::Sse,
        slow_ms: 1500,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let app = spawn(vec![open_upstream(UpstreamConfig::http(
        "slow",
        &upstream.url(),
    ))])
    .await;
    let session = app.initialize("slow").await;
    let mut response = app
        .post("slow", &json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "slow", "arguments": {}, "_meta": {"progressToken": "p1"}}}))
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["x-accel-buffering"], "no");
    // The progress notification arrives while the tool is still running: nothing is buffered.
    let first = tokio::time::timeout(Duration::from_millis(1000), response.chunk())
        .await
        .expect("a first event before the tool finishes")
        .unwrap()
        .unwrap();
    let first = String::from_utf8_lossy(&first).to_string();
    assert!(first.contains("notifications/progress"), "{first}");
    let mut rest = String::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        rest.push_str(&String::from_utf8_lossy(&chunk));
    }
    let messages = sse_messages(&format!("{first}{rest}"));
    assert_eq!(messages.last().unwrap()["id"], 3);
}

#[tokio::test]
async fn bad_input_is_refused_before_the_upstream_while_others_keep_serving() {
    let upstream = mock().await;
    let other = mock().await;
    let app = spawn_with(
        vec![
            open_upstream(UpstreamConfig::http("files", &upstream.url())),
            open_upstream(UpstreamConfig::http("other", &other.url())),
        ],
        |c| c.server.max_body_bytes = 4096,
    )
    .await;
    let session = app.initialize("files").await;
    upstream.clear_requests();

    let big = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "x".repeat(5000)}}});
    let (status, code, _) = error_of(
        app.post("files", &big)
            .header("mcp-session-id", &session)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code), (413, -32600));

    let deep = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"echo","arguments":{{"a":{}1{}}}}}}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    let response = app
        .client
        .post(app.mcp("files"))
        .header("content-type", "application/json")
        .header("mcp-session-id", &session)
        .body(deep)
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_of(response).await;
    assert_eq!((status, code), (400, -32700));

    let duplicate =
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"admin"}}"#;
    let response = app
        .client
        .post(app.mcp("files"))
        .header("content-type", "application/json")
        .header("mcp-session-id", &session)
        .body(duplicate)
        .send()
        .await
        .unwrap();
    let (status, code, body) = error_of(response).await;
    assert_eq!((status, code), (400, -32700), "{body}");

    let batch = json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"jsonrpc": "2.0", "id": 2, "method": "ping"}]);
    let (status, code, _) = error_of(
        app.post("files", &batch)
            .header("mcp-session-id", &session)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code), (400, -32600));

    let response = app
        .client
        .post(app.mcp("files"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);

    let (status, _, _) = error_of(
        app.post(
            "nope",
            &json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 404);

    assert!(
        upstream.requests().is_empty(),
        "nothing refused reached the upstream"
    );
    let other_session = app.initialize("other").await;
    assert_eq!(
        app.call(
            "other",
            &other_session,
            "echo",
            json!({"text": "still here"})
        )
        .await["id"],
        7
    );
}

#[tokio::test]
async fn batches_are_relayed_for_revisions_that_had_them() {
    let upstream = mock().await;
    let app = spawn(vec![open_upstream(UpstreamConfig::http(
        "files",
        &upstream.url(),
    ))])
    .await;
    let batch = json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}]);
    let response = app
        .client
        .post(app.mcp("files"))
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2025-03-26")
        .body(batch.to_string())
        .send()
        .await
        .unwrap();
    // Whatever the upstream makes of it, the gateway let it through.
    drop(response);
    assert!(upstream.requests().iter().any(|r| r.body.starts_with(b"[")));
}

#[tokio::test]
async fn upstream_down_is_502_and_hang_is_504_without_affecting_others() {
    let healthy = mock().await;
    let hanging = MockUpstream::start(MockConfig {
        behavior: Behavior::Hang,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let down = closed_port_url("/mcp");
    let mut hang = open_upstream(UpstreamConfig::http("hang", &hanging.url()));
    hang.first_byte_timeout = Duration::from_millis(800);
    let app = spawn(vec![
        open_upstream(UpstreamConfig::http("down", &down)),
        hang,
        open_upstream(UpstreamConfig::http("ok", &healthy.url())),
    ])
    .await;
    let ok_session = app.initialize("ok").await;

    let (status, code, body) = error_of(
        app.post(
            "down",
            &json!({"jsonrpc": "2.0", "id": "d", "method": "ping"}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!((status, code), (502, -32603));
    assert_eq!(body["id"], "d");
    assert_eq!(body["error"]["data"]["upstream"], "down");

    let hung = tokio::spawn({
        let request = app.post(
            "hang",
            &json!({"jsonrpc": "2.0", "id": "h", "method": "ping"}),
        );
        async move { request.send().await.unwrap() }
    });
    // While one upstream hangs, another answers at once.
    for _ in 0..5 {
        assert_eq!(
            app.call("ok", &ok_session, "echo", json!({"text": "x"}))
                .await["id"],
            7
        );
    }
    let (status, code, body) = error_of(hung.await.unwrap()).await;
    assert_eq!((status, code), (504, -32603));
    assert_eq!(body["id"], "h");
}

#[tokio::test]
async fn a_stalled_stream_is_closed_after_the_idle_timeout() {
    let upstream = MockUpstream::start(MockConfig {
        behavior: Behavior::StallBody,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let mut up = open_upstream(UpstreamConfig::http("stall", &upstream.url()));
    up.idle_timeout = Duration::from_millis(300);
    let app = spawn(vec![up]).await;
    let response = app
        .post(
            "stall",
            &json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = tokio::time::timeout(Duration::from_secs(5), response.bytes())
        .await
        .expect("the stream ends");
    assert!(body.is_err() || body.unwrap().is_empty());
}

#[tokio::test]
async fn the_in_flight_cap_answers_503() {
    let upstream = MockUpstream::start(MockConfig {
        slow_ms: 1500,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let mut up = open_upstream(UpstreamConfig::http("one", &upstream.url()));
    up.max_in_flight = 1;
    let app = spawn(vec![up]).await;
    let session = app.initialize("one").await;
    let slow = tokio::spawn({
        let request = app.post("one", &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "slow", "arguments": {}}})).header("mcp-session-id", &session);
        async move { request.send().await.unwrap().status() }
    });
    upstream
        .wait_for_request(
            |r| r.rpc_method().as_deref() == Some("tools/call"),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    let busy = app
        .post("one", &json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}))
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(busy.headers().get("retry-after").unwrap(), "1");
    let (status, code, body) = error_of(busy).await;
    assert_eq!((status, code), (503, -32603));
    assert_eq!(body["id"], 2);
    assert_eq!(slow.await.unwrap(), 200);
}

#[tokio::test]
async fn sessions_are_checked_and_scoped_to_their_upstream() {
    let a = mock().await;
    let b = mock().await;
    let app = spawn(vec![
        open_upstream(UpstreamConfig::http("a", &a.url())),
        open_upstream(UpstreamConfig::http("b", &b.url())),
    ])
    .await;
    let session = app.initialize("a").await;
    b.clear_requests();

    let (status, code, body) = error_of(
        app.post(
            "b",
            &json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"}),
        )
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!((status, code), (404, -32001));
    assert_eq!(body["id"], 5);
    let (status, _, _) = error_of(
        app.post(
            "a",
            &json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"}),
        )
        .header("mcp-session-id", "made-up")
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    assert!(
        b.requests().is_empty(),
        "a foreign session never reaches the upstream"
    );

    let deleted = app
        .client
        .delete(app.mcp("a"))
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    assert!(a.requests().iter().any(|r| r.method == "DELETE"));
    let (status, _, _) = error_of(
        app.post("a", &json!({"jsonrpc": "2.0", "id": 6, "method": "ping"}))
            .header("mcp-session-id", &session)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn get_streams_resume_after_last_event_id() {
    let upstream = MockUpstream::start(MockConfig {
        close_get_stream: true,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let app = spawn(vec![open_upstream(UpstreamConfig::http(
        "s",
        &upstream.url(),
    ))])
    .await;
    let session = app.initialize("s").await;
    let response = app
        .client
        .get(app.mcp("s"))
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .header("last-event-id", "3")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let numbers: Vec<u64> = sse_messages(&text)
        .iter()
        .filter_map(|m| m["params"]["data"]["n"].as_u64())
        .collect();
    assert_eq!(numbers, vec![4, 5]);
    let get = upstream
        .requests()
        .into_iter()
        .find(|r| r.method == "GET")
        .unwrap();
    assert_eq!(get.header("last-event-id"), Some("3"));
}

#[tokio::test]
async fn stateless_requests_must_mirror_the_body_in_headers() {
    let upstream = mock().await;
    let app = spawn(vec![open_upstream(UpstreamConfig::http(
        "w",
        &upstream.url(),
    ))])
    .await;
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "a"}, "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "0"}, "io.modelcontextprotocol/clientCapabilities": {}}}});
    let send = |name: &str| {
        app.client
            .post(app.mcp("w"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", name.to_owned())
            .body(body.to_string())
            .send()
    };
    let (status, code, reply) = error_of(send("admin_tool").await.unwrap()).await;
    assert_eq!((status, code), (400, -32020), "{reply}");
    assert_eq!(reply["id"], 1);
    assert!(
        upstream.requests().is_empty(),
        "a mismatched request never reaches the upstream"
    );
    let ok = send("echo").await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(
        upstream
            .requests()
            .iter()
            .any(|r| r.header("mcp-name") == Some("echo"))
    );

    let unknown = app
        .client
        .post(app.mcp("w"))
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "1999-01-01")
        .body(json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}).to_string())
        .send()
        .await
        .unwrap();
    let (status, code, reply) = error_of(unknown).await;
    assert_eq!((status, code), (400, -32022));
    assert!(
        reply["error"]["data"]["supported"]
            .as_array()
            .unwrap()
            .contains(&json!("2026-07-28"))
    );
}

#[tokio::test]
async fn foreign_hosts_and_origins_are_refused_and_cors_allows_local_browsers() {
    let upstream = mock().await;
    let app = spawn(vec![open_upstream(UpstreamConfig::http(
        "files",
        &upstream.url(),
    ))])
    .await;
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let evil_origin = app
        .post("files", &ping)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(evil_origin.status(), 403);
    let evil_host = app
        .post("files", &ping)
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(evil_host.status(), 403);
    assert!(upstream.requests().is_empty());

    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.mcp("files"))
        .header("origin", "http://localhost:6274")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, mcp-protocol-version, mcp-session-id, authorization",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "http://localhost:6274"
    );
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("mcp-session-id") && allowed.contains("authorization"),
        "{allowed}"
    );

    let from_browser = app
        .post("files", &common::initialize_body())
        .header("origin", "http://localhost:6274")
        .send()
        .await
        .unwrap();
    assert_eq!(from_browser.status(), 200);
    assert_eq!(
        from_browser.headers()["access-control-allow-origin"],
        "http://localhost:6274"
    );
    assert!(
        from_browser.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("mcp-session-id")
    );
}

#[tokio::test]
async fn an_oauth_upstream_refuses_until_credentials_can_be_validated() {
    let upstream = mock().await;
    let app = spawn(vec![UpstreamConfig::http("locked", &upstream.url())]).await;
    let response = app
        .post("locked", &common::initialize_body())
        .header("authorization", "Bearer anything")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert!(upstream.requests().is_empty());
}
