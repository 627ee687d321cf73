//! Black-box tests of the demo MCP server over real HTTP: `serve` on 127.0.0.1:0 driven by
//! reqwest, in both the 2025 session form and the 2026-07-28 stateless form.

// Test code: a failed unwrap or index is a failed assertion. Clippy's test exemptions only
// cover `#[test]` functions, not the helpers of an integration-test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const MODERN: &str = "2026-07-28";

struct Demo {
    url: String,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

/// One HTTP exchange, with the body parsed as JSON (`Null` when empty).
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    fn error_code(&self) -> i64 {
        self.body["error"]["code"].as_i64().unwrap_or_default()
    }
}

impl Demo {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(portcullis_demo::serve(listener, async move {
            let _ = stopped.await;
        }));
        Self {
            url,
            client: reqwest::Client::new(),
            stop: Some(stop),
            task,
        }
    }

    async fn post(&self, headers: &[(&str, &str)], body: Value) -> Reply {
        let mut request = self
            .client
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        reply(request.send().await.unwrap()).await
    }

    /// Runs `initialize` and `notifications/initialized`; returns the session id.
    async fn initialize(&self, version: &str) -> String {
        let reply = self
            .post(
                &[],
                json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
                    "protocolVersion": version,
                    "capabilities": {},
                    "clientInfo": {"name": "demo-test", "version": "0"}
                }}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        let session = reply.headers["mcp-session-id"].to_str().unwrap().to_owned();
        let initialized = self
            .post(
                &[
                    ("mcp-session-id", &session),
                    ("mcp-protocol-version", version),
                ],
                json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
            )
            .await;
        assert_eq!(initialized.status, StatusCode::ACCEPTED);
        assert_eq!(initialized.body, Value::Null);
        session
    }

    /// A legacy-session request.
    async fn call(&self, session: &str, id: i64, method: &str, params: Value) -> Reply {
        self.post(
            &[
                ("mcp-session-id", session),
                ("mcp-protocol-version", "2025-11-25"),
            ],
            json!({"jsonrpc":"2.0","id":id,"method":method,"params":params}),
        )
        .await
    }

    /// A well-formed 2026-07-28 request, with its mirrored headers.
    async fn modern(&self, id: i64, method: &str, mut params: Value) -> Reply {
        params["_meta"] = modern_meta();
        let name = params
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut headers = vec![("mcp-protocol-version", MODERN), ("mcp-method", method)];
        if let Some(name) = name.as_deref() {
            headers.push(("mcp-name", name));
        }
        self.post(
            &headers,
            json!({"jsonrpc":"2.0","id":id,"method":method,"params":params}),
        )
        .await
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("the demo did not shut down")
            .unwrap()
            .unwrap();
    }
}

fn modern_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientInfo": {"name": "demo-test", "version": "0"},
        "io.modelcontextprotocol/clientCapabilities": {}
    })
}

async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// The text and structured content of a successful tool result.
fn tool_ok(reply: &Reply) -> (String, Value) {
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let result = &reply.body["result"];
    assert_eq!(result["isError"], false, "{reply:?}");
    (
        result["content"][0]["text"].as_str().unwrap().to_owned(),
        result["structuredContent"].clone(),
    )
}

#[tokio::test]
async fn legacy_session_lists_and_calls_every_tool() {
    let demo = Demo::start().await;
    let init = demo
        .post(
            &[],
            json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
                "protocolVersion":"2025-06-18","capabilities":{},
                "clientInfo":{"name":"t","version":"0"}}}),
        )
        .await;
    assert_eq!(init.status, StatusCode::OK);
    assert!(
        init.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let result = &init.body["result"];
    assert_eq!(result["protocolVersion"], "2025-06-18");
    assert_eq!(result["serverInfo"]["name"], "portcullis-demo");
    assert_eq!(result["capabilities"], json!({"tools": {}}));
    assert!(
        result["instructions"]
            .as_str()
            .unwrap()
            .contains("Portcullis")
    );
    let session_id = init.headers["mcp-session-id"].to_str().unwrap();
    assert!(session_id.len() >= 32);
    assert!(session_id.bytes().all(|b| (0x21..=0x7e).contains(&b)));

    let session = demo.initialize("2025-11-25").await;
    assert_ne!(session, session_id, "each initialize opens a new session");

    let ping = demo.call(&session, 2, "ping", json!({})).await;
    assert_eq!(ping.body, json!({"jsonrpc":"2.0","id":2,"result":{}}));

    let list = demo.call(&session, 3, "tools/list", json!({})).await;
    let tools = list.body["result"]["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "echo",
            "add",
            "current_time",
            "generate_uuid",
            "sha256",
            "word_count"
        ]
    );
    for tool in tools {
        assert_eq!(tool["inputSchema"]["type"], "object");
        assert_eq!(tool["annotations"]["readOnlyHint"], true);
    }
    assert!(
        list.body["result"].get("resultType").is_none(),
        "2025 results carry no 2026 fields"
    );

    let call = |id, name: &str, arguments: Value| {
        let session = session.clone();
        let demo = &demo;
        let name = name.to_owned();
        async move {
            demo.call(
                &session,
                id,
                "tools/call",
                json!({"name": name, "arguments": arguments}),
            )
            .await
        }
    };
    let (text, _) = tool_ok(&call(10, "echo", json!({"message": "hello"})).await);
    assert_eq!(text, "hello");
    let (text, structured) = tool_ok(&call(11, "add", json!({"a": 40, "b": 2})).await);
    assert_eq!((text.as_str(), structured), ("42", json!({"sum": 42})));
    let (_, structured) = tool_ok(&call(12, "current_time", json!({"offset_minutes": 60})).await);
    let utc = structured["utc"].as_str().unwrap();
    assert!(utc.ends_with('Z'), "{utc}");
    assert!(structured["local"].as_str().unwrap().ends_with("+01:00"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((structured["unix_seconds"].as_i64().unwrap() - now).abs() < 60);
    let (text, _) = tool_ok(&call(13, "generate_uuid", json!({})).await);
    assert_eq!(text.len(), 36);
    assert_eq!(text.as_bytes()[14], b'4', "a version 4 UUID: {text}");
    let (text, _) = tool_ok(&call(14, "sha256", json!({"text": "abc"})).await);
    assert_eq!(
        text,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let (_, structured) = tool_ok(&call(15, "word_count", json!({"text": "a b\nc"})).await);
    assert_eq!(
        structured,
        json!({"words": 3, "lines": 2, "characters": 5, "bytes": 5})
    );

    // Bad arguments are a tool result the model can read, not a protocol error.
    let bad = call(16, "add", json!({"a": "one", "b": 2})).await;
    assert_eq!(bad.status, StatusCode::OK);
    assert_eq!(bad.body["result"]["isError"], true);
    assert_eq!(
        bad.body["result"]["content"][0]["text"],
        "invalid arguments for add: `a` must be a number"
    );
    // An unknown tool is a protocol error naming the tool.
    let unknown = call(17, "rm_rf", json!({})).await;
    assert_eq!(unknown.error_code(), -32602);
    assert_eq!(unknown.body["id"], 17);
    assert!(
        unknown.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rm_rf")
    );
    demo.stop().await;
}

#[tokio::test]
async fn initialize_negotiates_the_protocol_version() {
    let demo = Demo::start().await;
    for (asked, answered) in [
        ("2025-03-26", "2025-03-26"),
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        ("2024-11-05", "2025-11-25"),
        ("2099-01-01", "2025-11-25"),
    ] {
        let init = demo
            .post(
                &[],
                json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
                    "protocolVersion": asked, "capabilities":{},
                    "clientInfo":{"name":"t","version":"0"}}}),
            )
            .await;
        assert_eq!(init.body["result"]["protocolVersion"], answered, "{asked}");
    }
    demo.stop().await;
}

#[tokio::test]
async fn sessions_are_required_and_end_with_delete() {
    let demo = Demo::start().await;
    let session = demo.initialize("2025-11-25").await;
    let list = json!({"jsonrpc":"2.0","id":1,"method":"tools/list"});

    let missing = demo.post(&[], list.clone()).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.body["id"], 1);
    let unknown = demo
        .post(&[("mcp-session-id", "no-such-session")], list.clone())
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let notification_without_session = demo
        .post(
            &[],
            json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        )
        .await;
    assert_eq!(notification_without_session.status, StatusCode::BAD_REQUEST);

    let ok = demo
        .post(&[("mcp-session-id", &session)], list.clone())
        .await;
    assert_eq!(ok.status, StatusCode::OK);

    let delete = |session: Option<String>| {
        let mut request = demo.client.delete(&demo.url);
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(delete(None).await, StatusCode::BAD_REQUEST);
    assert_eq!(delete(Some(session.clone())).await, StatusCode::OK);
    assert_eq!(delete(Some(session.clone())).await, StatusCode::NOT_FOUND);
    let after = demo.post(&[("mcp-session-id", &session)], list).await;
    assert_eq!(after.status, StatusCode::NOT_FOUND);
    assert_eq!(after.error_code(), -32001);
    demo.stop().await;
}

#[tokio::test]
async fn get_opens_an_sse_stream_that_ends_with_the_session() {
    let demo = Demo::start().await;
    let session = demo.initialize("2025-11-25").await;

    let no_accept = demo
        .client
        .get(&demo.url)
        .header("accept", "application/json")
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(no_accept.status(), StatusCode::NOT_ACCEPTABLE);
    let no_session = demo
        .client
        .get(&demo.url)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(no_session.status(), StatusCode::BAD_REQUEST);

    let mut stream = demo
        .client
        .get(&demo.url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let first = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&first).starts_with(':'),
        "{first:?}"
    );

    let deleted = demo
        .client
        .delete(&demo.url)
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(_chunk) = stream.chunk().await.unwrap() {}
    })
    .await;
    assert!(end.is_ok(), "the stream must end with its session");
    demo.stop().await;
}

#[tokio::test]
async fn shutdown_ends_open_streams() {
    let demo = Demo::start().await;
    let session = demo.initialize("2025-11-25").await;
    let mut stream = demo
        .client
        .get(&demo.url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let _ = stream.chunk().await.unwrap();
    // `stop` fails the test if graceful shutdown waits on the stream.
    demo.stop().await;
}

#[tokio::test]
async fn modern_requests_are_stateless() {
    let demo = Demo::start().await;

    let discover = demo.modern(1, "server/discover", json!({})).await;
    assert_eq!(discover.status, StatusCode::OK, "{discover:?}");
    assert!(discover.headers.get("mcp-session-id").is_none());
    let result = &discover.body["result"];
    assert_eq!(result["resultType"], "complete");
    assert_eq!(result["supportedVersions"][0], MODERN);
    assert!(
        result["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("2025-11-25"))
    );
    assert_eq!(result["capabilities"], json!({"tools": {}}));
    assert_eq!(result["serverInfo"]["name"], "portcullis-demo");
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "portcullis-demo"
    );
    assert!(result["ttlMs"].as_u64().is_some());
    assert_eq!(result["cacheScope"], "public");

    let list = demo.modern(2, "tools/list", json!({})).await;
    assert_eq!(list.body["result"]["resultType"], "complete");
    assert_eq!(list.body["result"]["tools"].as_array().unwrap().len(), 6);
    assert!(list.body["result"]["ttlMs"].as_u64().is_some());

    let call = demo
        .modern(
            3,
            "tools/call",
            json!({"name": "echo", "arguments": {"message": "stateless"}}),
        )
        .await;
    assert_eq!(call.body["result"]["resultType"], "complete");
    assert_eq!(call.body["result"]["content"][0]["text"], "stateless");

    let ping = demo.modern(4, "ping", json!({})).await;
    assert_eq!(ping.body["result"]["resultType"], "complete");

    // A stray session id is ignored rather than checked.
    let mut params = json!({"_meta": modern_meta()});
    params["name"] = json!("sha256");
    params["arguments"] = json!({"text": ""});
    let stray = demo
        .post(
            &[
                ("mcp-protocol-version", MODERN),
                ("mcp-method", "tools/call"),
                ("mcp-name", "sha256"),
                ("mcp-session-id", "whatever"),
            ],
            json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":params}),
        )
        .await;
    assert_eq!(stray.status, StatusCode::OK, "{stray:?}");

    let unknown_tool = demo
        .modern(6, "tools/call", json!({"name": "nope", "arguments": {}}))
        .await;
    assert_eq!(unknown_tool.error_code(), -32602);

    // Unknown methods are 404 with a JSON-RPC body on the 2026-07-28 transport.
    let unknown = demo.modern(7, "resources/list", json!({})).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.error_code(), -32601);
    let initialize = demo.modern(8, "initialize", json!({})).await;
    assert_eq!(initialize.status, StatusCode::NOT_FOUND);

    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let response = demo
            .client
            .request(method.clone(), &demo.url)
            .header("accept", "text/event-stream")
            .header("mcp-protocol-version", MODERN)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}"
        );
        assert_eq!(response.headers()["allow"], "POST");
    }
    demo.stop().await;
}

#[tokio::test]
async fn modern_headers_must_match_the_body() {
    let demo = Demo::start().await;
    let body = |method: &str, params: Value| {
        let mut params = params;
        params["_meta"] = modern_meta();
        json!({"jsonrpc":"2.0","id":1,"method":method,"params":params})
    };
    let echo = json!({"name": "echo", "arguments": {"message": "x"}});

    let check = async |headers: &[(&str, &str)], body: Value, status: StatusCode, code: i64| {
        let reply = demo.post(headers, body).await;
        assert_eq!(reply.status, status, "{headers:?} {reply:?}");
        assert_eq!(reply.error_code(), code, "{headers:?} {reply:?}");
        reply
    };
    let missing_method = check(
        &[("mcp-protocol-version", MODERN)],
        body("tools/list", json!({})),
        StatusCode::BAD_REQUEST,
        -32020,
    )
    .await;
    assert_eq!(missing_method.body["id"], 1);
    check(
        &[
            ("mcp-protocol-version", MODERN),
            ("mcp-method", "tools/call"),
        ],
        body("tools/list", json!({})),
        StatusCode::BAD_REQUEST,
        -32020,
    )
    .await;
    check(
        &[
            ("mcp-protocol-version", MODERN),
            ("mcp-method", "tools/call"),
        ],
        body("tools/call", echo.clone()),
        StatusCode::BAD_REQUEST,
        -32020,
    )
    .await;
    let mismatch = check(
        &[
            ("mcp-protocol-version", MODERN),
            ("mcp-method", "tools/call"),
            ("mcp-name", "sha256"),
        ],
        body("tools/call", echo.clone()),
        StatusCode::BAD_REQUEST,
        -32020,
    )
    .await;
    assert!(
        mismatch.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Mcp-Name")
    );
    // The base64 sentinel form is decoded before comparing ("echo").
    let encoded = demo
        .post(
            &[
                ("mcp-protocol-version", MODERN),
                ("mcp-method", "tools/call"),
                ("mcp-name", "=?base64?ZWNobw==?="),
            ],
            body("tools/call", echo.clone()),
        )
        .await;
    assert_eq!(encoded.status, StatusCode::OK, "{encoded:?}");
    assert_eq!(encoded.body["result"]["content"][0]["text"], "x");

    // `_meta` and the header must name the same version.
    let mut other_meta = body("ping", json!({}));
    other_meta["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2025-11-25");
    check(
        &[("mcp-protocol-version", MODERN), ("mcp-method", "ping")],
        other_meta,
        StatusCode::BAD_REQUEST,
        -32020,
    )
    .await;
    check(
        &[("mcp-protocol-version", MODERN), ("mcp-method", "ping")],
        json!({"jsonrpc":"2.0","id":1,"method":"ping","params":{}}),
        StatusCode::BAD_REQUEST,
        -32020,
    )
    .await;
    // A modern body without the version header.
    check(
        &[("mcp-method", "ping")],
        body("ping", json!({})),
        StatusCode::BAD_REQUEST,
        -32020,
    )
    .await;

    let mut future = body("ping", json!({}));
    future["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2099-01-01");
    let unsupported = check(
        &[
            ("mcp-protocol-version", "2099-01-01"),
            ("mcp-method", "ping"),
        ],
        future,
        StatusCode::BAD_REQUEST,
        -32022,
    )
    .await;
    assert_eq!(unsupported.body["error"]["data"]["requested"], "2099-01-01");
    assert_eq!(unsupported.body["error"]["data"]["supported"][0], MODERN);
    demo.stop().await;
}

#[tokio::test]
async fn malformed_requests_get_json_rpc_errors() {
    let demo = Demo::start().await;
    let raw = |content_type: &str, body: &'static str| {
        demo.client
            .post(&demo.url)
            .header("content-type", content_type)
            .header("accept", "application/json, text/event-stream")
            .body(body)
            .send()
    };
    let parse = reply(raw("application/json", "{not json").await.unwrap()).await;
    assert_eq!(parse.status, StatusCode::BAD_REQUEST);
    assert_eq!(parse.error_code(), -32700);
    assert_eq!(parse.body["id"], Value::Null);

    let batch = reply(
        raw(
            "application/json",
            r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(batch.status, StatusCode::BAD_REQUEST);
    assert_eq!(batch.error_code(), -32600);

    let not_json = raw("text/plain", "{}").await.unwrap();
    assert_eq!(not_json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let no_version = demo
        .post(&[], json!({"id": 1, "method": "initialize"}))
        .await;
    assert_eq!(no_version.status, StatusCode::BAD_REQUEST);
    assert_eq!(no_version.error_code(), -32600);

    let session = demo.initialize("2025-11-25").await;
    let unknown = demo.call(&session, 9, "prompts/list", json!({})).await;
    assert_eq!(unknown.status, StatusCode::OK);
    assert_eq!(unknown.error_code(), -32601);
    assert_eq!(unknown.body["id"], 9);

    let bad_version = demo
        .post(
            &[
                ("mcp-session-id", &session),
                ("mcp-protocol-version", "1999-01-01"),
            ],
            json!({"jsonrpc":"2.0","id":1,"method":"ping"}),
        )
        .await;
    assert_eq!(bad_version.status, StatusCode::BAD_REQUEST);

    let initialize_without_version = demo
        .post(
            &[],
            json!({"jsonrpc":"2.0","id":3,"method":"initialize","params":{}}),
        )
        .await;
    assert_eq!(initialize_without_version.error_code(), -32602);

    let wrong_accept = demo
        .client
        .post(&demo.url)
        .header("accept", "text/html")
        .json(&json!({"jsonrpc":"2.0","id":1,"method":"ping"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_accept.status(), StatusCode::NOT_ACCEPTABLE);
    demo.stop().await;
}

#[tokio::test]
async fn a_fixed_clock_makes_current_time_deterministic() {
    let clock: portcullis_demo::Clock =
        std::sync::Arc::new(|| time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, portcullis_demo::router_with_clock(clock))
            .await
            .unwrap();
    });
    let reply = reply(
        reqwest::Client::new()
            .post(&url)
            .header("mcp-protocol-version", MODERN)
            .header("mcp-method", "tools/call")
            .header("mcp-name", "current_time")
            .json(
                &json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{
                "name":"current_time","arguments":{},"_meta":modern_meta()}}),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        reply.body["result"]["structuredContent"]["utc"],
        "2027-01-15T08:00:00Z"
    );
    server.abort();
}
