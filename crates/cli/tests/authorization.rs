//! Authorization of MCP traffic over real HTTP: what a caller's grants and a token's scopes let
//! through, list filtering for JSON and SSE answers, the bypasses of the security reference
//! (header/body mismatch, duplicate keys, unicode escapes, case variants, batches, unknown
//! methods), step-up challenges, and grants taking effect while Portcullis runs.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use portcullis_core::auth::api_key::new_api_key;
use portcullis_core::config::{RoleConfig, UpstreamConfig};
use portcullis_store::{ApiKey, ApiKeyKind, GrantScopeKind, GranteeKind, Store, StoredRoleGrant};
use portcullis_testkit::{MockConfig, MockUpstream, ResponseMode, SessionMode};
use serde_json::{Value, json};
use time::OffsetDateTime;

const TOOLS: [&str; 3] = ["read_a", "write_a", "delete_all"];

async fn mock(responses: ResponseMode) -> MockUpstream {
    MockUpstream::start(MockConfig {
        sessions: SessionMode::Stateless,
        responses,
        extra_tools: TOOLS.iter().map(|t| (*t).to_owned()).collect(),
        ..MockConfig::default()
    })
    .await
    .unwrap()
}

fn upstream(name: &str, url: &str) -> UpstreamConfig {
    let mut up = UpstreamConfig::http(name, url);
    up.accept = vec!["api_key".to_owned()];
    up
}

fn reader_role(config: &mut portcullis_core::config::Config) {
    config.roles = vec![RoleConfig {
        name: "files-reader".into(),
        inherits: vec![],
        permissions: vec![
            "mcp.tools.list".into(),
            "mcp.tools.call:files/read_*".into(),
        ],
        description: None,
    }];
}

/// Stores an API key for the service `subject` with `scopes`; returns the bearer value.
async fn key(app: &App, subject: &str, scopes: &str) -> String {
    key_until(app, subject, scopes, None).await.1
}

/// Stores an API key for `subject` with `scopes`, expiring at `expires_at`; returns its id and
/// the bearer value.
async fn key_until(
    app: &App,
    subject: &str,
    scopes: &str,
    expires_at: Option<OffsetDateTime>,
) -> (String, String) {
    let key = new_api_key(&mut rand::rng());
    let id = format!("key-{subject}-{}", &key.secret[4..12]);
    app.store
        .api_key_insert(&ApiKey {
            id: id.clone(),
            secret_hash: key.hash,
            subject: subject.to_owned(),
            name: "test".to_owned(),
            kind: ApiKeyKind::ApiKey,
            scopes: scopes.to_owned(),
            created_at: OffsetDateTime::now_utc(),
            expires_at,
            last_used_at: None,
            revoked_at: None,
        })
        .await
        .unwrap();
    (id, format!("Bearer {}", key.secret))
}

async fn grant(app: &App, service: &str, role: &str, upstream: Option<&str>) -> String {
    let id = format!("rgr_{service}_{role}_{}", upstream.unwrap_or("all"));
    app.store
        .role_grant_insert(&StoredRoleGrant {
            id: id.clone(),
            grantee_kind: GranteeKind::Service,
            grantee: service.to_owned(),
            role: role.to_owned(),
            scope_kind: if upstream.is_some() {
                GrantScopeKind::Upstream
            } else {
                GrantScopeKind::All
            },
            scope: upstream.unwrap_or_default().to_owned(),
            created_at: OffsetDateTime::now_utc(),
        })
        .await
        .unwrap();
    id
}

fn call(name: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": name, "arguments": {}}})
}

fn list() -> Value {
    json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"})
}

/// Sends `body` to upstream `name` as `bearer`; returns status, `WWW-Authenticate` and the
/// JSON-RPC message of the answer (JSON, or the last `data:` of an SSE stream).
async fn send(app: &App, name: &str, bearer: &str, body: &Value) -> (u16, Option<String>, Value) {
    send_raw(app, name, bearer, &body.to_string(), &[]).await
}

async fn send_raw(
    app: &App,
    name: &str,
    bearer: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (u16, Option<String>, Value) {
    let mut request = app
        .client
        .post(app.mcp(name))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("authorization", bearer)
        .body(body.to_owned());
    let mut version = "2025-11-25";
    for (k, v) in headers {
        if k.eq_ignore_ascii_case("mcp-protocol-version") {
            version = v;
        } else {
            request = request.header(*k, *v);
        }
    }
    let response = request
        .header("mcp-protocol-version", version)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let sse = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap().starts_with("text/event-stream"));
    let text = response.text().await.unwrap();
    let value = if sse {
        text.lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .find(|m| m.get("id").is_some())
            .unwrap_or(Value::Null)
    } else {
        serde_json::from_str(&text).unwrap_or(Value::Null)
    };
    (status, challenge, value)
}

fn tool_names(message: &Value) -> Vec<String> {
    message["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools in {message}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

/// How many requests the upstream received with `method`.
fn received(upstream: &MockUpstream, method: &str) -> usize {
    upstream
        .requests()
        .iter()
        .filter(|r| {
            serde_json::from_slice::<Value>(&r.body)
                .ok()
                .is_some_and(|b| b["method"] == method)
        })
        .count()
}

#[tokio::test]
async fn a_caller_sees_and_calls_only_what_its_grants_allow_json_and_sse() {
    for mode in [ResponseMode::Json, ResponseMode::Sse] {
        let files = mock(mode).await;
        let app = spawn_with(vec![upstream("files", &files.url())], reader_role).await;
        let bearer = key(&app, "svc:ci", "").await;
        grant(&app, "svc:ci", "files-reader", Some("files")).await;
        let ok = wait_until(|| async {
            send(&app, "files", &bearer, &call("read_a")).await.2["result"].is_object()
        })
        .await;
        assert!(ok, "{mode:?}: the grant never took effect");

        let (status, _, listed) = send(&app, "files", &bearer, &list()).await;
        assert_eq!(status, 200);
        assert_eq!(tool_names(&listed), ["read_a"], "{mode:?}");

        let before = received(&files, "tools/call");
        for tool in ["write_a", "delete_all", "echo", "READ_A"] {
            let (status, _, answer) = send(&app, "files", &bearer, &call(tool)).await;
            assert_eq!(status, 200, "{tool}");
            assert_eq!(answer["error"]["code"], -32602, "{tool}: {answer}");
            assert_eq!(answer["error"]["message"], format!("Unknown tool: {tool}"));
            assert_eq!(answer["id"], 2);
        }
        assert_eq!(
            received(&files, "tools/call"),
            before,
            "{mode:?}: refused calls reached the upstream"
        );
    }
}

#[tokio::test]
async fn without_a_grant_nothing_but_the_handshake_passes() {
    let files = mock(ResponseMode::Json).await;
    let app = spawn(vec![upstream("files", &files.url())]).await;
    let bearer = key(&app, "svc:nobody", "").await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let (status, _, answer) = send(&app, "files", &bearer, &init).await;
    assert_eq!(status, 200);
    assert!(answer["result"].is_object(), "{answer}");
    let (_, _, listed) = send(&app, "files", &bearer, &list()).await;
    assert_eq!(listed["error"]["code"], -32601, "{listed}");
    let (_, _, called) = send(&app, "files", &bearer, &call("read_a")).await;
    assert_eq!(called["error"]["code"], -32602);
    for method in [
        "resources/read",
        "prompts/get",
        "completion/complete",
        "logging/setLevel",
    ] {
        let body = json!({"jsonrpc": "2.0", "id": 4, "method": method, "params": {"name": "x", "uri": "file:///x"}});
        let (status, _, answer) = send(&app, "files", &bearer, &body).await;
        assert_eq!(status, 200, "{method}");
        assert!(answer["error"]["code"].is_i64(), "{method}: {answer}");
    }
    assert_eq!(
        received(&files, "tools/call") + received(&files, "tools/list"),
        0
    );
}

#[tokio::test]
async fn bypass_attempts_fail_and_never_reach_the_upstream() {
    let files = mock(ResponseMode::Json).await;
    let app = spawn_with(vec![upstream("files", &files.url())], reader_role).await;
    let bearer = key(&app, "svc:ci", "").await;
    grant(&app, "svc:ci", "files-reader", None).await;
    assert!(
        wait_until(|| async {
            send(&app, "files", &bearer, &call("read_a")).await.2["result"].is_object()
        })
        .await
    );
    let calls_before = received(&files, "tools/call");
    let refused = |(status, _, answer): (u16, Option<String>, Value)| {
        status >= 400 || answer["error"].is_object()
    };
    // A unicode escape spelling a forbidden tool.
    let escaped = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"\u0077rite_a","arguments":{}}}"#;
    assert!(refused(
        send_raw(&app, "files", &bearer, escaped, &[]).await
    ));
    // Duplicate name keys: the allowed one first, then the forbidden one.
    let duplicated = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"read_a","name":"write_a"}}"#;
    let (status, _, _) = send_raw(&app, "files", &bearer, duplicated, &[]).await;
    assert_eq!(status, 400);
    // A method spelt another way.
    for method in ["Tools/Call", "tools/call ", "tools/CALL", "tools//call"] {
        let body =
            json!({"jsonrpc": "2.0", "id": 2, "method": method, "params": {"name": "write_a"}});
        let (_, _, answer) = send(&app, "files", &bearer, &body).await;
        assert_eq!(answer["error"]["code"], -32601, "{method:?}");
    }
    // The 2026-07-28 headers say an allowed tool, the body a forbidden one.
    let stateless = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "write_a", "arguments": {}, "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}});
    let (status, _, answer) = send_raw(
        &app,
        "files",
        &bearer,
        &stateless.to_string(),
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "read_a"),
        ],
    )
    .await;
    assert_eq!(
        (status, answer["error"]["code"].as_i64()),
        (400, Some(-32020))
    );
    // The same with the headers telling the truth is refused as an unknown tool.
    let (_, _, answer) = send_raw(
        &app,
        "files",
        &bearer,
        &stateless.to_string(),
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "write_a"),
        ],
    )
    .await;
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
    // A batch (2025-03-26) hiding a forbidden call behind an allowed one.
    let batch = json!([call("read_a"), {"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "delete_all"}}]);
    let (status, _, _) = send_raw(
        &app,
        "files",
        &bearer,
        &batch.to_string(),
        &[("mcp-protocol-version", "2025-03-26")],
    )
    .await;
    assert_eq!(status, 403);
    // Not JSON as the content type.
    let response = app
        .client
        .post(app.mcp("files"))
        .header("content-type", "text/plain")
        .header("authorization", &bearer)
        .body(call("write_a").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    assert_eq!(
        received(&files, "tools/call"),
        calls_before,
        "a bypass reached the upstream"
    );
}

#[tokio::test]
async fn a_missing_scope_gets_one_step_up_challenge_with_every_scope_needed() {
    let files = mock(ResponseMode::Json).await;
    let mut up = upstream("files", &files.url());
    up.scopes = vec!["files:read".into(), "files:write".into()];
    up.scope_permissions = BTreeMap::from([
        (
            "files:read".to_owned(),
            "mcp.tools.list mcp.tools.call:files/read_*".to_owned(),
        ),
        ("files:write".to_owned(), "mcp.tools.*".to_owned()),
    ]);
    up.authenticated_roles = vec!["service".into()];
    let app = spawn(vec![up]).await;
    let reader = key(&app, "svc:reader", "files:read").await;
    let (status, _, answer) = send(&app, "files", &reader, &call("read_a")).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["result"].is_object());
    let (status, challenge, answer) = send(&app, "files", &reader, &call("write_a")).await;
    assert_eq!(status, 403, "{answer}");
    let challenge = challenge.unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(
        challenge.contains("scope=\"files:read files:write\""),
        "{challenge}"
    );
    assert!(challenge.contains("resource_metadata=\""), "{challenge}");
    // A broader scope satisfies the narrower one.
    let writer = key(&app, "svc:writer", "files:write").await;
    for tool in ["read_a", "write_a"] {
        let (status, _, answer) = send(&app, "files", &writer, &call(tool)).await;
        assert_eq!(status, 200);
        assert!(answer["result"].is_object(), "{tool}: {answer}");
    }
    // A token without any of the upstream's scopes may list nothing either: a step-up.
    let bare = key(&app, "svc:bare", "").await;
    let (status, challenge, _) = send(&app, "files", &bare, &list()).await;
    assert_eq!(status, 403);
    assert!(challenge.unwrap().contains("scope=\"files:read\""));
    assert_eq!(received(&files, "tools/call"), 3);
}

#[tokio::test]
async fn a_grant_and_its_revocation_take_effect_within_a_second() {
    let files = mock(ResponseMode::Json).await;
    let other = mock(ResponseMode::Json).await;
    let app = spawn(vec![
        upstream("files", &files.url()),
        upstream("notes", &other.url()),
    ])
    .await;
    let bearer = key(&app, "svc:deploy", "").await;
    let allowed = |name: &'static str| {
        let app = &app;
        let bearer = bearer.clone();
        async move { send(app, name, &bearer, &call("echo")).await.2["result"].is_object() }
    };
    assert!(!allowed("files").await);
    let id = grant(&app, "svc:deploy", "service", Some("files")).await;
    let started = Instant::now();
    assert!(wait_until(|| allowed("files")).await);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // Granted on one upstream only.
    assert!(!allowed("notes").await);
    assert!(app.store.role_grant_delete(&id).await.unwrap());
    let started = Instant::now();
    assert!(wait_until(|| async { !allowed("files").await }).await);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

/// Polls `check` every 25 ms for up to two seconds.
async fn wait_until<F, Fut>(check: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

/// Portcullis in front of `files`, a server whose GET streams stay open and silent.
async fn quiet_streams() -> (MockUpstream, App) {
    let files = MockUpstream::start(MockConfig {
        get_stream_events: 0,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let app = spawn(vec![upstream("files", &files.url())]).await;
    (files, app)
}

#[tokio::test]
async fn an_open_stream_is_told_when_its_callers_rights_change() {
    let (_files, app) = quiet_streams().await;
    let bearer = key(&app, "svc:watcher", "").await;
    let other = key(&app, "svc:other", "").await;
    grant(&app, "svc:watcher", "service", Some("files")).await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let response = app
        .post("files", &init)
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let echo = call("echo").to_string();
    let in_session = [("mcp-session-id", session.as_str())];
    assert!(
        wait_until(|| async {
            send_raw(&app, "files", &bearer, &echo, &in_session).await.2["result"].is_object()
        })
        .await
    );
    let mut stream = app
        .client
        .get(app.mcp("files"))
        .header("accept", "text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .header("mcp-session-id", &session)
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    // A change for somebody else says nothing to this stream.
    grant(&app, "svc:other", "service", None).await;
    let other_session = app
        .post("files", &init)
        .header("authorization", &other)
        .send()
        .await
        .unwrap()
        .headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let theirs = [("mcp-session-id", other_session.as_str())];
    assert!(
        wait_until(|| async {
            send_raw(&app, "files", &other, &echo, &theirs).await.2["result"].is_object()
        })
        .await
    );
    let quiet = tokio::time::timeout(Duration::from_millis(600), stream.chunk()).await;
    assert!(quiet.is_err(), "the stream spoke: {quiet:?}");
    // A change of this caller's rights does, within a second.
    let id = "rgr_svc:watcher_service_files";
    assert!(app.store.role_grant_delete(id).await.unwrap());
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(1);
    while !seen.contains("notifications/tools/list_changed") {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, stream.chunk())
            .await
            .expect("told within a second")
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n"), "{seen}");
}

/// Opens a session and its GET stream for `bearer` at upstream `files`.
async fn open_stream(app: &App, bearer: &str) -> reqwest::Response {
    let (session, _) = open_session(app, "files", bearer).await;
    let stream = app
        .client
        .get(app.mcp("files"))
        .header("accept", "text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .header("mcp-session-id", &session)
        .header("authorization", bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    stream
}

/// Reads `stream` until it ends; `Err` if it is still open after `within`.
async fn ends_within(stream: &mut reqwest::Response, within: Duration) -> Result<(), ()> {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.chunk()).await {
            Err(_) => return Err(()),
            Ok(Ok(None) | Err(_)) => return Ok(()),
            Ok(Ok(Some(_))) => {}
        }
    }
}

#[tokio::test]
async fn an_open_stream_ends_when_its_credential_is_revoked_or_expires() {
    let (_files, app) = quiet_streams().await;
    portcullis_server::spawn_revocation_watch(
        app.gateway.clone(),
        app.store.clone(),
        std::sync::Arc::new(portcullis_store::ChangeSignals::default()),
        Duration::from_millis(250),
    );
    let (revoked_id, revoked) = key_until(&app, "svc:revoked", "", None).await;
    let (_, expiring) = key_until(
        &app,
        "svc:expiring",
        "",
        Some(OffsetDateTime::now_utc() + time::Duration::seconds(3)),
    )
    .await;
    let (_, staying) = key_until(&app, "svc:staying", "", None).await;
    for service in ["svc:revoked", "svc:expiring", "svc:staying"] {
        grant(&app, service, "service", Some("files")).await;
    }
    let mut streams = Vec::new();
    for bearer in [&revoked, &expiring, &staying] {
        streams.push(open_stream(&app, bearer).await);
    }
    let [revoked_stream, expiring_stream, staying_stream] = &mut streams[..] else {
        unreachable!()
    };
    assert!(
        app.store
            .api_key_revoke(&revoked_id, OffsetDateTime::now_utc())
            .await
            .unwrap()
    );
    assert_eq!(
        ends_within(revoked_stream, Duration::from_secs(1)).await,
        Ok(()),
        "the revoked key's stream ends within a second"
    );
    assert_eq!(send(&app, "files", &revoked, &call("echo")).await.0, 401);
    assert_eq!(
        ends_within(expiring_stream, Duration::from_secs(5)).await,
        Ok(()),
        "the expired key's stream ends"
    );
    assert_eq!(
        ends_within(staying_stream, Duration::from_millis(300)).await,
        Err(()),
        "the other caller's stream stays open"
    );
}

#[tokio::test]
async fn read_only_roles_call_only_tools_the_server_annotates_read_only() {
    let files = mock(ResponseMode::Sse).await;
    let app = spawn_with(vec![upstream("files", &files.url())], |config| {
        config.roles = vec![RoleConfig {
            name: "looker".into(),
            inherits: vec![],
            permissions: vec![
                "mcp.tools.list".into(),
                "mcp.tools.call:files/*#readOnly".into(),
            ],
            description: None,
        }];
    })
    .await;
    let bearer = key(&app, "svc:looker", "").await;
    grant(&app, "svc:looker", "looker", None).await;
    // Nothing is known to be read-only before a list says so.
    assert!(
        wait_until(|| async {
            send(&app, "files", &bearer, &list()).await.2["result"].is_object()
        })
        .await
    );
    let (_, _, listed) = send(&app, "files", &bearer, &list()).await;
    assert_eq!(tool_names(&listed), ["echo", "slow"]);
    let (_, _, answer) = send(&app, "files", &bearer, &call("echo")).await;
    assert!(answer["result"].is_object(), "{answer}");
    let before = received(&files, "tools/call");
    for tool in TOOLS {
        let (_, _, answer) = send(&app, "files", &bearer, &call(tool)).await;
        assert_eq!(answer["error"]["code"], -32602, "{tool}: {answer}");
    }
    assert_eq!(received(&files, "tools/call"), before);
}

fn isolated(name: &str, isolation: portcullis_core::config::Isolation) -> UpstreamConfig {
    let path = portcullis_testkit::mock_stdio_mcp_path()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let mut up = UpstreamConfig::stdio(
        name,
        vec![path, "--name".into(), "srv-{subject_hash}".into()],
    );
    up.accept = vec!["api_key".into()];
    up.authenticated_roles = vec!["service".into()];
    up.isolation = isolation;
    up
}

/// Opens a session as `bearer`; returns its id and the server's name.
async fn open_session(app: &App, name: &str, bearer: &str) -> (String, String) {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let response = app
        .post(name, &init)
        .header("authorization", bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let text = response.text().await.unwrap();
    let data = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .find(|d| !d.is_empty())
        .unwrap_or(&text)
        .to_owned();
    let value: Value = serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {text:?}"));
    let server = value["result"]["serverInfo"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    (session, server)
}

async fn pid(app: &App, name: &str, bearer: &str, session: &str) -> u64 {
    let whoami = call("whoami").to_string();
    let (_, _, answer) = send_raw(app, name, bearer, &whoami, &[("mcp-session-id", session)]).await;
    answer["result"]["structuredContent"]["pid"]
        .as_u64()
        .unwrap_or_else(|| panic!("{answer}"))
}

#[tokio::test]
async fn each_user_of_an_isolated_stdio_server_gets_a_process_of_their_own() {
    use portcullis_core::config::Isolation;
    let app = spawn(vec![
        isolated("mine", Isolation::User),
        isolated("ours", Isolation::Tenant),
    ])
    .await;
    let alice = key(&app, "svc:alice", "").await;
    let bob = key(&app, "svc:bob", "").await;
    assert_eq!(
        app.gateway.running_instances("mine").await,
        0,
        "started lazily"
    );
    let (a1, alice_server) = open_session(&app, "mine", &alice).await;
    let (a2, _) = open_session(&app, "mine", &alice).await;
    let (b1, bob_server) = open_session(&app, "mine", &bob).await;
    // The command line was filled per user, with a digest of the subject, not the subject.
    assert!(
        alice_server.starts_with("srv-") && alice_server.len() == 20,
        "{alice_server}"
    );
    assert_ne!(alice_server, bob_server);
    assert!(!alice_server.contains("alice"));
    let (pa1, pa2, pb1) = (
        pid(&app, "mine", &alice, &a1).await,
        pid(&app, "mine", &alice, &a2).await,
        pid(&app, "mine", &bob, &b1).await,
    );
    assert_eq!(pa1, pa2, "one process per user");
    assert_ne!(pa1, pb1, "users do not share a process");
    assert_eq!(app.gateway.running_instances("mine").await, 2);
    // Bob cannot use Alice's session (it belongs to her principal).
    let whoami = call("whoami").to_string();
    let (status, _, _) = send_raw(&app, "mine", &bob, &whoami, &[("mcp-session-id", &a1)]).await;
    assert_eq!(status, 404);
    // A process per tenant needs a tenant: an API key has none.
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let (status, _, answer) = send(&app, "ours", &alice, &init).await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tenant"),
        "{answer}"
    );
    assert_eq!(app.gateway.running_instances("ours").await, 0);
    // Idle processes with open sessions stay; nothing is stopped while they are open.
    assert_eq!(app.gateway.stop_idle_instances(Duration::ZERO).await, 0);
}

/// Callers with a tenant: `Bearer tenant-{name}` is a person `tenants:{name}` in tenant `{name}`.
#[derive(Debug)]
struct TenantValidator;

#[async_trait::async_trait]
impl portcullis_core::auth::Validator for TenantValidator {
    fn id(&self) -> &str {
        "tenants"
    }

    fn cache_ttl(&self) -> Duration {
        Duration::ZERO
    }

    async fn validate(
        &self,
        credential: portcullis_core::auth::Credential<'_>,
        _: portcullis_core::auth::Context<'_>,
    ) -> Result<portcullis_core::auth::Principal, portcullis_core::auth::Rejection> {
        let portcullis_core::auth::Credential::Bearer(token) = credential else {
            return Err(portcullis_core::auth::Rejection::invalid(
                "not a bearer token",
            ));
        };
        let Some(tenant) = token.strip_prefix("tenant-") else {
            return Err(portcullis_core::auth::Rejection::invalid(
                "not a tenant token",
            ));
        };
        let mut principal = portcullis_core::auth::Principal::new("tenants", tenant);
        principal.tenant = Some(tenant.to_owned());
        Ok(principal)
    }
}

fn call_with(id: u64, name: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": arguments}})
}

#[tokio::test]
async fn conditions_take_away_what_the_roles_allow_before_the_upstream_hears_of_it() {
    let files = mock(ResponseMode::Json).await;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("conditions.cedar");
    std::fs::write(
        &policies,
        format!(
            r#"
            @id("no-etc")
            forbid (principal, action == Action::"tools/call", resource)
            when {{ context.arguments.hasTag("path") && context.arguments.getTag("path") like "/etc/*" }};

            @id("acme-writes")
            forbid (principal, action == Action::"tools/call", resource == Tool::"write_a")
            unless {{ principal has tenant && principal.tenant == "acme" }};

            @id("maintenance-now")
            forbid (principal, action == Action::"tools/call", resource == Tool::"delete_all")
            when {{ context.unix_time > {} && context.unix_time < {} }};

            @id("maintenance-last-year")
            forbid (principal, action == Action::"tools/call", resource == Tool::"read_a")
            when {{ context.unix_time < {} }};
            "#,
            now - 3600,
            now + 3600,
            now - 365 * 86400,
        ),
    )
    .unwrap();
    let mut files_upstream = upstream("files", &files.url());
    files_upstream.accept = vec!["tenants".to_owned()];
    files_upstream.authenticated_roles = vec!["files-all".to_owned()];
    let app = spawn_setup(
        vec![files_upstream],
        |config| {
            config.roles = vec![RoleConfig {
                name: "files-all".into(),
                inherits: vec![],
                permissions: vec!["mcp.tools.list".into(), "mcp.tools.call".into()],
                description: None,
            }];
            config.authorization.cedar_policies = Some(policies.display().to_string());
        },
        Setup {
            validators: vec![std::sync::Arc::new(TenantValidator)],
            ..Setup::default()
        },
    )
    .await;
    let (acme, globex) = ("Bearer tenant-acme", "Bearer tenant-globex");

    // A forbidden argument: refused in the JSON-RPC shape of every refusal, naming no policy.
    let (status, _, answer) = send(
        &app,
        "files",
        acme,
        &call_with(5, "read_a", json!({"path": "/etc/passwd"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        json!({"jsonrpc": "2.0", "id": 5, "error": {"code": -32600, "message": "Request refused by an authorization policy"}})
    );
    assert_eq!(received(&files, "tools/call"), 0, "the upstream was called");

    // An allowed argument is relayed, and so is a request the time conditions do not match.
    let (_, _, answer) = send(
        &app,
        "files",
        acme,
        &call_with(6, "read_a", json!({"path": "/srv/notes", "limit": 3})),
    )
    .await;
    assert!(answer["result"].is_object(), "{answer}");
    assert_eq!(received(&files, "tools/call"), 1);

    // The tenant decides who may write.
    let (_, _, answer) = send(&app, "files", acme, &call_with(7, "write_a", json!({}))).await;
    assert!(answer["result"].is_object(), "{answer}");
    let (_, _, answer) = send(&app, "files", globex, &call_with(8, "write_a", json!({}))).await;
    assert_eq!(answer["error"]["code"], -32600, "{answer}");
    assert_eq!(answer["id"], 8);

    // The time: a window around now forbids, one last year did not forbid `read_a` above.
    let (_, _, answer) = send(&app, "files", acme, &call_with(9, "delete_all", json!({}))).await;
    assert_eq!(answer["error"]["code"], -32600, "{answer}");
    assert_eq!(received(&files, "tools/call"), 2);

    // A batch holding a forbidden request is refused whole.
    let batch = json!([
        call_with(10, "read_a", json!({"path": "/srv/a"})),
        call_with(11, "read_a", json!({"path": "/etc/shadow"})),
    ]);
    let (_, _, answer) = send_raw(
        &app,
        "files",
        acme,
        &batch.to_string(),
        &[("mcp-protocol-version", "2025-03-26")],
    )
    .await;
    assert_eq!(answer["error"]["code"], -32600, "{answer}");
    assert_eq!(received(&files, "tools/call"), 2);

    // Conditions decide requests, not lists: the tools are still listed.
    let (_, _, listed) = send(&app, "files", globex, &list()).await;
    let mut names = tool_names(&listed);
    names.retain(|n| TOOLS.contains(&n.as_str()));
    names.sort();
    assert_eq!(names, ["delete_all", "read_a", "write_a"]);
}
