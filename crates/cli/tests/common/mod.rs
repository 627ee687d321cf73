//! Black-box test support: Portcullis on port 0 with a fresh in-memory store, an HTTP client that
//! speaks MCP to it, and the `portcullis` binary run as a real process.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

pub mod browser;
pub mod documents;
pub mod oauth;
pub mod process;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use portcullis_core::auth::Validator;
use portcullis_core::clients::ClientRegistry;
use portcullis_core::config::SigningAlg;
use portcullis_core::config::{AuthMode, Config, UpstreamConfig};
use portcullis_core::crypto::Sealer;
use portcullis_core::signing::{KeyRing, LiveKeys};
use portcullis_gateway::Gateway;
use portcullis_server::pages::Pages;
use portcullis_server::{AppState, TrustedProxies};
use portcullis_store::MemoryStore;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub struct App {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    pub handle: tokio::task::JoinHandle<std::io::Result<()>>,
    pub client: reqwest::Client,
    pub gateway: Arc<Gateway>,
    pub store: Arc<MemoryStore>,
    /// The pages' clock: real time plus whatever a test adds.
    pub clock: TestClock,
    pub clients: Arc<ClientRegistry>,
    /// The signing keys the authorization server and the gateway use.
    pub keys: Arc<LiveKeys>,
}

/// Real time moved forward on demand, for expiry tests.
#[derive(Clone, Default)]
pub struct TestClock(Arc<std::sync::atomic::AtomicI64>);

impl TestClock {
    pub fn clock(&self) -> portcullis_server::pages::Clock {
        let offset = self.0.clone();
        Arc::new(move || {
            time::OffsetDateTime::now_utc()
                + time::Duration::seconds(offset.load(std::sync::atomic::Ordering::SeqCst))
        })
    }

    pub fn advance(&self, by: Duration) {
        let seconds = i64::try_from(by.as_secs()).unwrap();
        self.0
            .fetch_add(seconds, std::sync::atomic::Ordering::SeqCst);
    }
}

/// What a test can set besides the upstreams and the config.
#[derive(Default)]
pub struct Setup {
    /// `[[validators]]` as built objects (the built-in `api_key` is always there).
    pub validators: Vec<Arc<dyn Validator>>,
    /// The environment variables `*_env` keys may name.
    pub env: Vec<(String, String)>,
    /// Serve `/metrics` from the process-wide Prometheus recorder (installed once per test
    /// binary, so every app of the binary that asks shares its series).
    pub metrics: bool,
}

/// The process-wide Prometheus recorder of this test binary.
pub fn metrics_handle() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| portcullis_server::install_metrics().expect("the first recorder"))
        .clone()
}

/// An upstream with `auth = "none"` and short timeouts, for tests.
pub fn open_upstream(mut up: UpstreamConfig) -> UpstreamConfig {
    up.auth = AuthMode::None;
    up.first_byte_timeout = Duration::from_secs(10);
    up
}

pub async fn spawn(upstreams: Vec<UpstreamConfig>) -> App {
    spawn_with(upstreams, |_| {}).await
}

pub async fn spawn_with(upstreams: Vec<UpstreamConfig>, tweak: impl FnOnce(&mut Config)) -> App {
    spawn_setup(upstreams, tweak, Setup::default()).await
}

pub async fn spawn_setup(
    upstreams: Vec<UpstreamConfig>,
    tweak: impl FnOnce(&mut Config),
    setup: Setup,
) -> App {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = Config::default();
    config.server.listen = addr.to_string();
    config.server.public_url = format!("http://{addr}");
    config.server.shutdown_grace = Duration::from_secs(5);
    config.upstreams = upstreams;
    tweak(&mut config);
    let store = Arc::new(MemoryStore::new());
    let env = setup.env;
    let metrics = setup.metrics.then(metrics_handle);
    let signing_keys = test_signing_keys(store.as_ref()).await;
    let mut gateway = Gateway::new(
        &config,
        store.clone(),
        &|_| None,
        setup.validators,
        &|var| env.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone()),
        Some(signing_keys.clone()),
    )
    .unwrap();
    if let Some(conditions) = portcullis_server::load_conditions(&config).unwrap() {
        gateway = gateway.with_conditions(conditions);
    }
    let gateway = Arc::new(gateway);
    let policy_version = portcullis_server::load_policy(&gateway, store.as_ref(), &config)
        .await
        .unwrap();
    portcullis_server::spawn_policy_watch(
        gateway.clone(),
        store.clone(),
        Arc::new(config.clone()),
        policy_version,
        Arc::new(portcullis_store::ChangeSignals::default()),
    );
    gateway.start().await;
    let fetch = portcullis_gateway::fetch::HttpFetch::new(Default::default()).unwrap();
    let clients = Arc::new(
        ClientRegistry::from_config(
            &config,
            store.clone(),
            Arc::new(fetch),
            &|var| {
                env.iter()
                    .find(|(k, _)| k == var)
                    .map(|(_, v)| v.clone().into_bytes())
            },
            time::OffsetDateTime::now_utc(),
        )
        .unwrap(),
    );
    let authorization = portcullis_server::authorization_server(
        &config,
        store.clone(),
        clients.clone(),
        signing_keys.clone(),
        gateway.clone(),
    );
    let state = AppState::new(
        gateway.clone(),
        store.clone(),
        metrics,
        TrustedProxies::new(&config.server.trusted_proxies),
        Some(authorization),
        clients.clone(),
    );
    state.set_rate_limits(portcullis_server::rate_limit::HttpLimits::new(
        &config.rate_limits,
        Arc::new(portcullis_core::rate_limit::LocalLimiter::default()),
    ));
    let clock = TestClock::default();
    let sealer = Arc::new(Sealer::generate(&mut rand::rng()).unwrap());
    let providers = portcullis_core::federation::Providers::build(
        &config,
        Arc::new(portcullis_gateway::fetch::HttpFetch::new(Default::default()).unwrap()),
        &|var| {
            env.iter()
                .find(|(k, _)| k == var)
                .map(|(_, v)| v.clone().into_bytes())
        },
    )
    .unwrap();
    gateway.set_provider_tokens(portcullis_gateway::ProviderTokenSource::new(
        store.clone(),
        sealer.clone(),
        providers.clone(),
    ));
    state.set_pages(Pages::new(&config, sealer, clock.clock()).with_providers(providers));
    state.set_ready(true);
    let (tx, rx) = oneshot::channel::<()>();
    let grace = config.server.shutdown_grace;
    let handle = tokio::spawn(portcullis_server::serve(
        listener,
        state,
        async move {
            let _ = rx.await;
        },
        grace,
    ));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    App {
        addr,
        stop: Some(tx),
        handle,
        client,
        gateway,
        store,
        clock,
        clients,
        keys: signing_keys,
    }
}

/// A signing key ring for a test store: a fresh encryption key and one ES256 key.
pub async fn test_signing_keys(store: &MemoryStore) -> Arc<LiveKeys> {
    let sealer = Sealer::generate(&mut rand::rng()).unwrap();
    Arc::new(LiveKeys::new(
        KeyRing::ensure(
            store,
            &sealer,
            SigningAlg::Es256,
            time::OffsetDateTime::now_utc(),
            &mut rand::rng(),
        )
        .await
        .unwrap(),
    ))
}

impl App {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn mcp(&self, name: &str) -> String {
        self.url(&format!("/servers/{name}/mcp"))
    }

    /// Starts a graceful shutdown.
    pub fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    /// A POST with the headers a 2025-11-25 client sends.
    pub fn post(&self, name: &str, body: &Value) -> reqwest::RequestBuilder {
        self.client
            .post(self.mcp(name))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .body(body.to_string())
    }

    /// Initializes a 2025-11-25 session and returns its id.
    pub async fn initialize(&self, name: &str) -> String {
        let response = self
            .client
            .post(self.mcp(name))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(initialize_body().to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "initialize through {name}");
        let session = response
            .headers()
            .get("mcp-session-id")
            .expect("a session id")
            .to_str()
            .unwrap()
            .to_owned();
        let body = read_result(response).await;
        assert!(body["result"]["protocolVersion"].is_string(), "{body}");
        let ack = self
            .post(
                name,
                &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            )
            .header("mcp-session-id", &session)
            .send()
            .await
            .unwrap();
        assert_eq!(ack.status(), 202);
        session
    }

    /// Calls a tool in a session and returns the JSON-RPC response.
    pub async fn call(&self, name: &str, session: &str, tool: &str, arguments: Value) -> Value {
        let response = self.post(name, &json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": tool, "arguments": arguments}})).header("mcp-session-id", session).send().await.unwrap();
        assert_eq!(response.status(), 200);
        read_result(response).await
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.shutdown();
    }
}

pub fn initialize_body() -> Value {
    json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "portcullis-tests", "version": "0"}}})
}

/// The JSON-RPC response in a JSON answer, or the last message of an SSE answer.
pub async fn read_result(response: reqwest::Response) -> Value {
    let is_sse = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let text = response.text().await.unwrap();
    if !is_sse {
        return serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    }
    sse_messages(&text)
        .into_iter()
        .rev()
        .find(|m| m.get("result").is_some() || m.get("error").is_some())
        .unwrap_or_else(|| panic!("no response in {text}"))
}

/// Every JSON message in an SSE text.
pub fn sse_messages(text: &str) -> Vec<Value> {
    let mut parser = portcullis_testkit::SseParser::new();
    parser
        .push(text.as_bytes())
        .into_iter()
        .filter_map(|e| e.json())
        .collect()
}

/// The JSON-RPC error code and HTTP status of a response.
pub async fn error_of(response: reqwest::Response) -> (u16, i64, Value) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["error"]["code"].as_i64().unwrap_or(0), body)
}

/// A loopback URL on a port nothing listens on (an upstream that is down).
pub fn closed_port_url(path: &str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}{path}")
}

/// The Prometheus text exposition served at `url` (a `/metrics` address).
pub async fn metrics_at(client: &reqwest::Client, url: &str) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

/// The value of the series `series` (its name, and its labels if it has any, as printed) in a
/// Prometheus text exposition.
pub fn metric_value(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().unwrap())
}

/// The `portcullis` binary. Encryption keys come from what each test sets, never from the
/// developer's environment.
pub fn portcullis() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command.env_remove("PORTCULLIS_ENCRYPTION_KEY");
    command
}

/// A loopback port nothing listens on (yet).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `portcullis serve` to run as a child process (killed when dropped), with no encryption keys
/// from the developer's environment and its output discarded.
pub fn serve_command() -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command
        .env_remove("PORTCULLIS_ENCRYPTION_KEY")
        .env_remove("PORTCULLIS_CONFIG")
        .arg("serve")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    command
}

/// `portcullis serve --config FILE` as a child process (killed when dropped), once its
/// `/readyz` on `port` answers 200.
pub async fn serve_ready(config: &std::path::Path, port: u16) -> tokio::process::Child {
    let mut command = serve_command();
    command.arg("--config").arg(config);
    serve_child_ready(command, port).await
}

/// Spawns `command` (a [`serve_command`] with its arguments), once its `/readyz` on `port`
/// answers 200.
pub async fn serve_child_ready(
    mut command: tokio::process::Command,
    port: u16,
) -> tokio::process::Child {
    let child = command.spawn().unwrap();
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("portcullis did not become ready on port {port}");
}

/// Sends SIGTERM and asserts the process exits with status 0 within 30 s.
pub async fn stop(mut child: tokio::process::Child) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "exit status {status}");
}

/// Runs `portcullis admin ARGS` with `stdin` piped in.
pub fn admin_with_stdin(args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = portcullis()
        .arg("admin")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A command refused for its arguments exits without reading its input, perhaps before this
    // write: the pipe is then closed, which is no failure of the test.
    match std::io::Write::write_all(&mut child.stdin.take().unwrap(), stdin.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("writing stdin: {e}"),
        _ => {}
    }
    child.wait_with_output().unwrap()
}

/// Signs in over HTTP; returns the status, `Location` and the session cookie (`name=value`).
pub async fn sign_in(port: u16, username: &str, password: &str) -> (u16, String, Option<String>) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let login = client.get(format!("{base}/login")).send().await.unwrap();
    let csrf_cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let body = login.text().await.unwrap();
    let marker = "name=\"csrf_token\" value=\"";
    let start = body.find(marker).unwrap() + marker.len();
    let token = &body[start..start + body[start..].find('"').unwrap()];
    let form: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf_token", token)
        .append_pair("username", username)
        .append_pair("password", password)
        .finish();
    let response = client
        .post(format!("{base}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", &base)
        .header("cookie", csrf_cookie)
        .body(form)
        .send()
        .await
        .unwrap();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let session = response
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    (response.status().as_u16(), location, session)
}

/// A configuration in `dir` (SQLite store `p.db` there) listening on `port`, publishing `upstream` as
/// `files` for API keys; returns its path.
pub fn files_config(dir: &std::path::Path, port: u16, upstream: &str) -> String {
    let path = dir.join("c.toml");
    std::fs::write(
        &path,
        format!(
            "version = 1\n[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\n\
             [store]\nurl = \"sqlite://{}/p.db\"\n\
             [[upstreams]]\nname = \"files\"\nurl = \"{upstream}\"\naccept = [\"api_key\"]\n",
            dir.display()
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}
