//! Rate limits over real HTTP: each limit of `[rate_limits]` and `tool_rate_limits` holds,
//! answers 429 with `Retry-After` in its endpoint's shape, keeps callers and addresses apart, and
//! (on MCP) never lets a limited request reach the upstream; and, with Redis, two `portcullis
//! serve` processes share each limit under a bounded load sent to both.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use common::browser::{Browser, create_user};
use common::{App, Setup, free_port, portcullis, spawn_setup, spawn_with};
use portcullis_core::accounts::Password;
use portcullis_core::admin::users::InitialPassword;
use portcullis_core::auth::{Context, Credential, Principal, Rejection, Validator};
use portcullis_core::config::{Config, UpstreamConfig};
use portcullis_core::rate_limit::Rate;
use portcullis_testkit::{MockConfig, MockUpstream, SessionMode};
use serde_json::{Value, json};

const TOOLS: [&str; 3] = ["read_a", "read_b", "write_a"];

fn rate(text: &str) -> Option<Rate> {
    Some(Rate::parse(text).unwrap())
}

/// Accepts `Bearer user-<sub>.tenant-<t>.client-<c>` (tenant and client optional): callers
/// with whatever tenant and client a test needs.
#[derive(Debug, Default)]
struct Directory {
    /// How many credentials it was asked to check.
    calls: AtomicUsize,
}

#[async_trait]
impl Validator for Directory {
    fn id(&self) -> &str {
        "directory"
    }
    fn cache_ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(60)
    }
    async fn validate(
        &self,
        credential: Credential<'_>,
        _: Context<'_>,
    ) -> Result<Principal, Rejection> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let Credential::Bearer(token) = credential else {
            return Err(Rejection::NotApplicable);
        };
        let fields: BTreeMap<&str, &str> = token
            .split('.')
            .filter_map(|field| field.split_once('-'))
            .collect();
        let user = fields.get("user").ok_or(Rejection::NotApplicable)?;
        let mut principal = Principal::new("directory", user);
        principal.tenant = fields.get("tenant").map(|t| (*t).to_owned());
        principal.client_id = fields.get("client").map(|c| (*c).to_owned());
        Ok(principal)
    }
}

async fn mock() -> MockUpstream {
    MockUpstream::start(MockConfig {
        sessions: SessionMode::Stateless,
        extra_tools: TOOLS.iter().map(|t| (*t).to_owned()).collect(),
        ..MockConfig::default()
    })
    .await
    .unwrap()
}

/// An app relaying `files` to `upstream` for the directory's callers, every one of whom may
/// use everything on it.
async fn mcp_app(upstream: &MockUpstream, tweak: impl FnOnce(&mut Config)) -> App {
    mcp_app_with(upstream, Arc::new(Directory::default()), tweak).await
}

async fn mcp_app_with(
    upstream: &MockUpstream,
    directory: Arc<Directory>,
    tweak: impl FnOnce(&mut Config),
) -> App {
    let mut up = UpstreamConfig::http("files", &upstream.url());
    up.accept = vec!["directory".to_owned()];
    up.authenticated_roles = vec!["developer".to_owned()];
    spawn_setup(
        vec![up],
        tweak,
        Setup {
            validators: vec![directory],
            ..Setup::default()
        },
    )
    .await
}

fn call(tool: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": tool, "arguments": {}}})
}

fn list() -> Value {
    json!({"jsonrpc": "2.0", "id": "list-1", "method": "tools/list"})
}

/// What came back: status, `Retry-After`, and the JSON-RPC message.
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    body: Value,
}

async fn send(app: &App, caller: &str, body: &Value) -> Answer {
    let response = app
        .client
        .post(app.mcp("files"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .header("authorization", format!("Bearer {caller}"))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let body = response.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        retry_after,
        body,
    }
}

/// How many requests with `method` the upstream received.
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

/// A refused MCP request: 429, `Retry-After` within the limit's interval, and the JSON-RPC
/// error -32029 answering the request's id and naming the limit.
fn assert_limited(answer: &Answer, limit: &str, id: &Value, most_secs: u64) {
    assert_eq!(answer.status, 429, "{}", answer.body);
    let retry = answer.retry_after.expect("Retry-After");
    assert!((1..=most_secs).contains(&retry), "Retry-After {retry}");
    assert_eq!(answer.body["jsonrpc"], "2.0");
    assert_eq!(&answer.body["id"], id);
    assert_eq!(answer.body["error"]["code"], -32029);
    assert_eq!(answer.body["error"]["data"]["limit"], limit);
    assert_eq!(answer.body["error"]["data"]["retry_after"], retry);
    assert!(answer.body.get("result").is_none());
}

#[tokio::test]
async fn per_user_limit_holds_and_limited_requests_never_reach_the_upstream() {
    let upstream = mock().await;
    let app = mcp_app(&upstream, |c| c.rate_limits.mcp_per_user = rate("3/min")).await;
    for _ in 0..3 {
        assert_eq!(send(&app, "user-alice", &list()).await.status, 200);
    }
    let before = received(&upstream, "tools/list") + received(&upstream, "tools/call");
    let refused = send(&app, "user-alice", &list()).await;
    assert_limited(&refused, "mcp_per_user", &json!("list-1"), 20);
    // Any method counts, and the upstream hears of none of the refused ones.
    assert_limited(
        &send(&app, "user-alice", &call("read_a")).await,
        "mcp_per_user",
        &json!(7),
        20,
    );
    assert_eq!(
        received(&upstream, "tools/list") + received(&upstream, "tools/call"),
        before
    );
    // Another user has a bucket of their own.
    assert_eq!(send(&app, "user-bob", &list()).await.status, 200);
}

#[tokio::test]
async fn per_client_limit_counts_every_user_of_a_client_together() {
    let upstream = mock().await;
    let app = mcp_app(&upstream, |c| c.rate_limits.mcp_per_client = rate("2/min")).await;
    assert_eq!(
        send(&app, "user-alice.client-c1", &list()).await.status,
        200
    );
    assert_eq!(send(&app, "user-bob.client-c1", &list()).await.status, 200);
    assert_limited(
        &send(&app, "user-carol.client-c1", &list()).await,
        "mcp_per_client",
        &json!("list-1"),
        30,
    );
    assert_eq!(
        send(&app, "user-alice.client-c2", &list()).await.status,
        200
    );
    // A credential of no OAuth client is not counted by this limit.
    for _ in 0..5 {
        assert_eq!(send(&app, "user-dave", &list()).await.status, 200);
    }
    assert_eq!(received(&upstream, "tools/list"), 8);
}

/// The same limit with real Portcullis access tokens: their `client_id` claim is the key.
#[tokio::test]
async fn per_client_limit_keys_portcullis_tokens_by_their_client() {
    let mut w = common::oauth::world_with(|c| c.rate_limits.mcp_per_client = rate("2/min")).await;
    let first = w.tokens().await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = w.tokens().await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(w.mcp_status("files", &first).await, 200);
    assert_eq!(w.mcp_status("files", &second).await, 200);
    // Two tokens, one client: the third request is over the client's limit.
    assert_eq!(w.mcp_status("files", &first).await, 429);
    // The same person through another client is not.
    w.client_id = common::oauth::register(&w.app, &[common::oauth::REDIRECT]).await;
    let other = w.tokens().await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(w.mcp_status("files", &other).await, 200);
}

#[tokio::test]
async fn per_tenant_limit_counts_every_user_of_a_tenant_together() {
    let upstream = mock().await;
    let app = mcp_app(&upstream, |c| c.rate_limits.mcp_per_tenant = rate("2/min")).await;
    assert_eq!(
        send(&app, "user-alice.tenant-acme", &list()).await.status,
        200
    );
    assert_eq!(
        send(&app, "user-bob.tenant-acme", &list()).await.status,
        200
    );
    assert_limited(
        &send(&app, "user-carol.tenant-acme", &list()).await,
        "mcp_per_tenant",
        &json!("list-1"),
        30,
    );
    assert_eq!(
        send(&app, "user-carol.tenant-globex", &list()).await.status,
        200
    );
    assert_eq!(received(&upstream, "tools/list"), 3);
}

#[tokio::test]
async fn per_tool_limits_count_tools_calls_per_caller_and_tool() {
    let upstream = mock().await;
    let app = mcp_app(&upstream, |c| {
        c.upstreams[0].tool_rate_limits = [
            ("read_*".to_owned(), Rate::parse("2/min").unwrap()),
            ("read_b".to_owned(), Rate::parse("1/min").unwrap()),
        ]
        .into_iter()
        .collect();
    })
    .await;
    for _ in 0..2 {
        let answer = send(&app, "user-alice", &call("read_a")).await;
        assert_eq!(answer.status, 200);
        assert!(answer.body["result"].is_object(), "{}", answer.body);
    }
    assert_limited(
        &send(&app, "user-alice", &call("read_a")).await,
        "tool",
        &json!(7),
        30,
    );
    // The exact pattern is more specific than the glob: one call of read_b.
    assert_eq!(send(&app, "user-alice", &call("read_b")).await.status, 200);
    assert_limited(
        &send(&app, "user-alice", &call("read_b")).await,
        "tool",
        &json!(7),
        60,
    );
    // Tools no pattern matches, other methods and other callers are not limited.
    for _ in 0..4 {
        assert_eq!(send(&app, "user-alice", &call("write_a")).await.status, 200);
        assert_eq!(send(&app, "user-alice", &list()).await.status, 200);
    }
    assert_eq!(send(&app, "user-bob", &call("read_a")).await.status, 200);
    assert_eq!(received(&upstream, "tools/call"), 2 + 1 + 4 + 1);
}

#[tokio::test]
async fn mcp_limits_are_off_by_default() {
    let upstream = mock().await;
    let app = mcp_app(&upstream, |_| {}).await;
    for _ in 0..40 {
        assert_eq!(
            send(&app, "user-alice.tenant-acme.client-c1", &call("read_a"))
                .await
                .status,
            200
        );
    }
}

#[tokio::test]
async fn credentials_the_cache_does_not_know_are_checked_at_a_limited_rate_per_address() {
    let upstream = mock().await;
    let directory = Arc::new(Directory::default());
    let app = mcp_app_with(&upstream, directory.clone(), |c| {
        c.rate_limits.credential_check = rate("4/min");
    })
    .await;
    // Verified once, then cached: its requests are not counted again.
    for _ in 0..5 {
        assert_eq!(send(&app, "user-alice", &list()).await.status, 200);
    }
    // Made-up credentials, each a validator call (which could go to the network).
    for i in 0..3 {
        assert_eq!(
            send(&app, &format!("nobody-{i}"), &list()).await.status,
            401
        );
    }
    let calls = directory.calls.load(Ordering::SeqCst);
    let limited = send(&app, "nobody-3", &list()).await;
    assert_limited(&limited, "credential_check", &Value::Null, 15);
    // The validator was not asked; a cached caller still passes; no credential at all is the
    // usual 401.
    assert_eq!(directory.calls.load(Ordering::SeqCst), calls);
    assert_eq!(send(&app, "user-alice", &list()).await.status, 200);
    assert_eq!(send(&app, "user-bob", &list()).await.status, 429);
    let anonymous = app
        .client
        .post(app.mcp("files"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(list().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(received(&upstream, "tools/list"), 6);
    // ForwardAuth asks the same validators: the same limit, the same answer.
    let forward = app
        .client
        .get(app.url("/forward-auth?upstream=files"))
        .header("authorization", "Bearer nobody-4")
        .send()
        .await
        .unwrap();
    assert_eq!(forward.status(), 429);
    assert!(forward.headers().contains_key("retry-after"));
    assert_eq!(directory.calls.load(Ordering::SeqCst), calls);
}

/// A `/token` request that fails on its own (no such grant type), so only the limit differs.
async fn token(app: &App, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/token"))
        .form(&[("grant_type", "urn:example:nothing")]);
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn token_endpoint_is_limited_per_address_with_an_oauth_shaped_429() {
    let app = spawn_setup(
        vec![],
        |c| {
            c.rate_limits.token = rate("3/min");
            c.server.trusted_proxies = vec!["127.0.0.1/32".to_owned()];
        },
        Setup {
            metrics: true,
            ..Setup::default()
        },
    )
    .await;
    for _ in 0..3 {
        assert_eq!(token(&app, Some("198.51.100.1")).await.status(), 400);
    }
    let limited = token(&app, Some("198.51.100.1")).await;
    assert_eq!(limited.status(), 429);
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&retry), "{retry}");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"], "too_many_requests");
    assert!(body["error_description"].is_string());
    // Behind the trusted proxy, another client address has its own bucket; a spoofed leftmost
    // entry does not make a new one.
    assert_eq!(token(&app, Some("198.51.100.2")).await.status(), 400);
    assert_eq!(
        token(&app, Some("203.0.113.9, 198.51.100.1"))
            .await
            .status(),
        429
    );
    let metrics = common::metrics_at(&app.client, &app.url("/metrics")).await;
    let refused = common::metric_value(&metrics, "portcullis_rate_limited_total{limit=\"token\"}")
        .unwrap_or_else(|| panic!("no token refusals counted in\n{metrics}"));
    assert!(refused >= 2.0, "{refused}");
}

#[tokio::test]
async fn registration_limit_follows_its_key() {
    let app = spawn_with(vec![], |c| c.rate_limits.registration = rate("2/min")).await;
    let register = || {
        app.client
            .post(app.url("/register"))
            .header("content-type", "application/json")
            .body(
                json!({
                    "client_name": "Inspector",
                    "redirect_uris": ["http://localhost:6274/oauth/callback"],
                    "token_endpoint_auth_method": "none",
                })
                .to_string(),
            )
            .send()
    };
    assert_eq!(register().await.unwrap().status(), 201);
    assert_eq!(register().await.unwrap().status(), 201);
    let limited = register().await.unwrap();
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    // Nothing of the limited request was stored.
    use portcullis_store::Store;
    assert_eq!(app.store.client_list().await.unwrap().len(), 2);
}

#[tokio::test]
async fn sign_in_posts_are_limited_per_address_before_any_password_is_checked() {
    let app = spawn_with(vec![], |c| c.rate_limits.sign_in = rate("2/min")).await;
    create_user(
        &app,
        "alice",
        InitialPassword::Given(Password::new("correct horse battery".to_owned())),
    )
    .await;
    let mut browser = Browser::new(&app);
    assert_eq!(
        browser
            .sign_in("alice", "wrong password!", None)
            .await
            .status,
        401
    );
    assert_eq!(
        browser.sign_in("bob", "wrong password!", None).await.status,
        401
    );
    // The right password is refused unchecked: the page again, 429, Retry-After, no session.
    let limited = browser
        .sign_in("alice", "correct horse battery", None)
        .await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    assert!(
        limited
            .body
            .contains("Too many sign-in attempts from your network"),
        "{}",
        limited.body
    );
    assert!(
        !limited
            .set_cookies()
            .iter()
            .any(|c| c.contains("portcullis-session"))
    );
}

#[tokio::test]
async fn authorization_requests_naming_documents_are_limited_per_address() {
    let app = spawn_with(vec![], |c| c.rate_limits.client_id_document = rate("2/min")).await;
    let authorize = |client_id: &str| {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", "https://app.example/cb"),
                (
                    "code_challenge",
                    "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                ),
                ("code_challenge_method", "S256"),
            ])
            .finish();
        app.client
            .get(app.url(&format!("/authorize?{query}")))
            .send()
    };
    // Documents on a closed loopback port: each would be fetched, and each fails.
    for i in 0..2 {
        let url = format!("https://127.0.0.1:9/client-{i}.json");
        assert_ne!(authorize(&url).await.unwrap().status(), 429);
    }
    let limited = authorize("https://127.0.0.1:9/client-3.json")
        .await
        .unwrap();
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    assert!(
        limited.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    // Plain client ids fetch nothing and are not counted.
    assert_ne!(authorize("client_x").await.unwrap().status(), 429);
}

// ---------------------------------------------------------------------------------------------
// Two processes sharing their limits through Redis.

fn test_url(variable: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI is set but {variable} is not")
        }
        _ => None,
    }
}

/// Something unique to this run, so buckets left in Redis by an earlier run do not count.
fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// The bounded load: `total` requests (`request(i)` makes the i-th), alternating between the
/// two replicas, 8 at a time; returns how many each status got.
async fn load<F, Fut>(total: usize, request: F) -> BTreeMap<u16, usize>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    use futures_util::StreamExt as _;
    let statuses: Vec<u16> = futures_util::stream::iter(0..total)
        .map(request)
        .buffer_unordered(8)
        .collect()
        .await;
    let mut counts = BTreeMap::new();
    for status in statuses {
        *counts.entry(status).or_insert(0) += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_each_limit_through_redis() {
    let Some(redis) = test_url("PORTCULLIS_TEST_REDIS_URL") else {
        return;
    };
    let upstream = mock().await;
    let dir = tempfile::tempdir().unwrap();
    let ports = [free_port(), free_port()];
    let run = unique();
    let configs: Vec<_> = ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            let path = dir.path().join(format!("{i}.toml"));
            std::fs::write(
                &path,
                format!(
                    "version = 1\n\
                     [server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\n\
                     trusted_proxies = [\"127.0.0.1/32\"]\n\
                     [store]\nurl = \"sqlite://{dir}/shared.db\"\nredis_url = \"{redis}\"\n\
                     [rate_limits]\nmcp_per_user = \"20/min\"\ntoken = \"15/min\"\n\
                     [[upstreams]]\nname = \"files\"\nurl = \"{url}\"\naccept = [\"api_key\"]\n\
                     authenticated_roles = [\"service\"]\ntool_rate_limits = {{ \"write_*\" = \"5/min\" }}\n",
                    dir = dir.path().display(),
                    url = upstream.url(),
                ),
            )
            .unwrap();
            path
        })
        .collect();
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let migrated = portcullis()
        .env("PORTCULLIS_ENCRYPTION_KEY", key)
        .args(["migrate", "--config"])
        .arg(&configs[0])
        .output()
        .unwrap();
    assert!(migrated.status.success());
    let mut replicas = Vec::new();
    for (config, port) in configs.iter().zip(ports) {
        let mut command = common::serve_command();
        command
            .env("PORTCULLIS_ENCRYPTION_KEY", key)
            .arg("--config")
            .arg(config);
        replicas.push(common::serve_child_ready(command, port).await);
    }
    let api_key = |subject: &str| {
        let output = portcullis()
            .env("PORTCULLIS_ENCRYPTION_KEY", key)
            .args(["admin", "--json", "--config"])
            .arg(&configs[0])
            .args(["api-key", "create", "--name", "load", "--subject", subject])
            .output()
            .unwrap();
        assert!(output.status.success());
        let created: Value = serde_json::from_slice(&output.stdout).unwrap();
        format!("Bearer {}", created["api_key"].as_str().unwrap())
    };
    let client = reqwest::Client::new();
    let mcp = |i: usize, bearer: String, body: Value| {
        let client = client.clone();
        let port = ports[i % 2];
        async move {
            client
                .post(format!("http://127.0.0.1:{port}/servers/files/mcp"))
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", "2025-11-25")
                .header("authorization", bearer)
                .body(body.to_string())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };

    // Per user: 100 requests of one caller split over both processes, 20 pass in all (not 40).
    let reader = api_key(&format!("svc:reader-{run}"));
    let before = received(&upstream, "tools/list");
    let counts = load(100, |i| mcp(i, reader.clone(), list())).await;
    assert_eq!(counts, BTreeMap::from([(200, 20), (429, 80)]));
    assert_eq!(received(&upstream, "tools/list") - before, 20);

    // Per tool: 30 calls of a limited tool, 5 pass in all.
    let writer = api_key(&format!("svc:writer-{run}"));
    let counts = load(30, |i| mcp(i, writer.clone(), call("write_a"))).await;
    assert_eq!(counts, BTreeMap::from([(200, 5), (429, 25)]));

    // Per address (a client behind the trusted proxy, unique to this run): 15 of 40.
    let address = format!("198.18.{}.{}", (run >> 8) % 256, run % 256);
    let counts = load(40, |i| {
        let client = client.clone();
        let port = ports[i % 2];
        let address = address.clone();
        async move {
            client
                .post(format!("http://127.0.0.1:{port}/token"))
                .header("x-forwarded-for", address)
                .form(&[("grant_type", "urn:example:nothing")])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    })
    .await;
    assert_eq!(counts, BTreeMap::from([(400, 15), (429, 25)]));

    for replica in replicas {
        common::stop(replica).await;
    }
}
