//! Health, readiness, metrics and graceful shutdown, in-process and as a real process.

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
use portcullis_testkit::{MockConfig, MockUpstream};
use serde_json::json;

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn(vec![]).await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let missing = app
        .client
        .get(app.url("/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn shutdown_drains_requests_in_flight_and_turns_readiness_off() {
    let upstream = MockUpstream::start(MockConfig {
        slow_ms: 1200,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let mut app = spawn(vec![open_upstream(UpstreamConfig::http(
        "slow",
        &upstream.url(),
    ))])
    .await;
    let session = app.initialize("slow").await;
    let in_flight = tokio::spawn({
        let request = app.post("slow", &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "slow", "arguments": {}}})).header("mcp-session-id", &session);
        async move { read_result(request.send().await.unwrap()).await }
    });
    upstream
        .wait_for_request(
            |r| r.rpc_method().as_deref() == Some("tools/call"),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    app.shutdown();
    // The request in flight still completes.
    let reply = in_flight.await.unwrap();
    assert_eq!(reply["id"], 1);
    let served = tokio::time::timeout(Duration::from_secs(10), &mut app.handle)
        .await
        .expect("the server stops")
        .unwrap();
    assert!(served.is_ok());
    // And the listener is closed.
    assert!(app.client.get(app.url("/healthz")).send().await.is_err());
}

/// `portcullis config check --config FILE`.
fn config_check(config: &std::path::Path) -> std::process::Output {
    portcullis()
        .args(["config", "check", "--config"])
        .arg(config)
        .output()
        .unwrap()
}

#[test]
fn config_check_names_the_key_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "version = 1\n[server]\nlisten = \"nowhere\"\nmax_body = 5\n",
    )
    .unwrap();
    let out = config_check(&bad);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("server.max_body") && stderr.contains("unknown field"),
        "{stderr}"
    );

    let good = dir.path().join("good.toml");
    std::fs::write(&good, "version = 1\n[[upstreams]]\nname = \"x\"\nurl = \"http://127.0.0.1:9/mcp\"\nauth = \"none\"\n").unwrap();
    let out = config_check(&good);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = portcullis()
        .args(["config", "check", "--config"])
        .arg(&good)
        .env("PORTCULLIS_UPSTREAMS__X__AUTH", "sometimes")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("upstreams[0].auth"));
}

/// A configuration serving one upstream under the conditions of `policies` (written next to it,
/// unless `None`: a file that does not exist).
fn conditioned_config(dir: &std::path::Path, policies: Option<&str>) -> std::path::PathBuf {
    let file = dir.join("conditions.cedar");
    if let Some(text) = policies {
        std::fs::write(&file, text).unwrap();
    }
    let config = dir.join("c.toml");
    std::fs::write(
        &config,
        format!(
            "version = 1\n[server]\nlisten = \"127.0.0.1:{}\"\n[store]\nurl = \"sqlite://{}/p.db\"\n\
             [authorization]\ncedar_policies = \"{}\"\n\
             [[upstreams]]\nname = \"x\"\nurl = \"http://127.0.0.1:9/mcp\"\n",
            free_port(),
            dir.display(),
            file.display()
        ),
    )
    .unwrap();
    config
}

/// Runs `portcullis serve` on `config`, which must exit with an error within 30 s; its stderr.
async fn fails_to_start(config: &std::path::Path) -> String {
    let mut command = serve_command();
    command
        .arg("--config")
        .arg(config)
        .stderr(std::process::Stdio::piped());
    let output = tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("portcullis serve started: it should have refused")
        .unwrap();
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn a_policy_file_that_does_not_validate_stops_the_start_naming_the_policy() {
    for (policies, expected) in [
        (
            Some("@id(\"typo\")\nforbid (principal, action, resource) when { context.hour > };"),
            vec!["conditions.cedar: 2:"],
        ),
        (
            Some("@id(\"open\")\npermit (principal, action, resource);"),
            vec!["policy \"open\"", "conditions can only forbid"],
        ),
        (
            Some(
                "@id(\"dept\")\nforbid (principal, action, resource) when { principal.department == \"ops\" };",
            ),
            vec!["policy \"dept\"", "department"],
        ),
        (
            Some("@id(\"linked\")\nforbid (principal == ?principal, action, resource);"),
            vec!["policy \"linked\"", "unattached"],
        ),
        (None, vec!["conditions.cedar", "No such file"]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = conditioned_config(dir.path(), policies);
        let out = config_check(&config);
        assert!(!out.status.success(), "{policies:?}");
        let checked = String::from_utf8_lossy(&out.stderr);
        let served = fails_to_start(&config).await;
        for stderr in [&*checked, &*served] {
            assert!(
                stderr.contains("authorization.cedar_policies"),
                "{policies:?}: {stderr}"
            );
            for part in &expected {
                assert!(stderr.contains(part), "{policies:?}: {part}: {stderr}");
            }
        }
        // Refused before anything was written: no store, no key file.
        let written: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name != "c.toml" && name != "conditions.cedar")
            .collect();
        assert!(written.is_empty(), "{policies:?}: {written:?}");
    }

    let dir = tempfile::tempdir().unwrap();
    let config = conditioned_config(
        dir.path(),
        Some(
            "@id(\"acme\")\nforbid (principal, action, resource) unless { principal has tenant && principal.tenant == \"acme\" };",
        ),
    );
    let out = config_check(&config);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn migrate_applies_the_store_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "version = 1\n[store]\nurl = \"sqlite://{}/state/p.db\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let out = portcullis()
        .args(["migrate", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("sqlite store migrated"));
    assert!(dir.path().join("state/p.db").exists());
}

#[tokio::test]
async fn the_binary_serves_metrics_and_exits_zero_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!("version = 1\n[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\n[store]\nurl = \"sqlite://{}/p.db\"\n[[upstreams]]\nname = \"demo\"\nbuiltin = \"demo\"\nauth = \"none\"\n", dir.path().display()),
    )
    .unwrap();
    let child = serve_ready(&config, port).await;
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let init = initialize_demo(&client, &base).await;
    assert_eq!(init.status(), 200);
    let metrics = common::metrics_at(&client, &format!("{base}/metrics")).await;
    assert!(
        metrics.contains("portcullis_http_requests_total{")
            && metrics.contains("upstream=\"demo\""),
        "{metrics}"
    );
    assert!(
        metrics.contains("portcullis_http_request_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(
        metrics.contains("portcullis_upstream_first_byte_seconds"),
        "{metrics}"
    );

    stop(child).await;
}

/// An `initialize` request, without credentials, to the `demo` server of the Portcullis at `base`.
async fn initialize_demo(client: &reqwest::Client, base: &str) -> reqwest::Response {
    client
        .post(format!("{base}/servers/demo/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(initialize_body().to_string())
        .send()
        .await
        .unwrap()
}

/// `portcullis serve` with no configuration, in `dir`, on `port`; returns the child and the
/// lines it printed by the time it was ready.
async fn demo(dir: &std::path::Path, port: u16) -> (tokio::process::Child, Vec<String>) {
    use tokio::io::AsyncBufReadExt;
    let mut child = serve_command()
        .env("PORTCULLIS_SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "PORTCULLIS_SERVER__PUBLIC_URL",
            format!("http://127.0.0.1:{port}"),
        )
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let last = line.starts_with("  State:");
            printed.push(line);
            if last {
                break;
            }
        }
    })
    .await
    .expect("the demo prints its banner");
    (child, printed)
}

#[tokio::test]
async fn the_demo_asks_clients_to_sign_in_and_starts_with_one_account() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (child, printed) = demo(dir.path(), port).await;
    let account = printed
        .iter()
        .find_map(|l| l.strip_prefix("  First account: admin with the one-time password "))
        .unwrap_or_else(|| panic!("no first account in {printed:?}"));
    let password = account.split_whitespace().next().unwrap().to_owned();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // The demo server is behind OAuth: an anonymous client is told where to sign in.
    let anonymous = initialize_demo(&client, &base).await;
    assert_eq!(anonymous.status(), 401);
    let challenge = anonymous.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(&format!(
            "{base}/.well-known/oauth-protected-resource/servers/demo/mcp"
        )),
        "{challenge}"
    );
    // The printed password signs in, and must be changed first.
    let login = client.get(format!("{base}/login")).send().await.unwrap();
    let cookies: Vec<String> = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect();
    let page = login.text().await.unwrap();
    let marker = "name=\"csrf_token\" value=\"";
    let start = page.find(marker).unwrap() + marker.len();
    let csrf = &page[start..start + page[start..].find('"').unwrap()];
    let signed_in = client
        .post(format!("{base}/login"))
        .header("origin", &base)
        .header("cookie", cookies.join("; "))
        .form(&[
            ("csrf_token", csrf),
            ("username", "admin"),
            ("password", password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    assert!(
        signed_in.headers()["location"]
            .to_str()
            .unwrap()
            .contains("/account/password"),
        "{:?}",
        signed_in.headers()
    );
    stop(child).await;

    // Started again on the same state, it makes no second account and shows no password.
    let (child, printed) = demo(dir.path(), port).await;
    assert!(
        !printed.iter().any(|l| l.contains("First account")),
        "{printed:?}"
    );
    stop(child).await;
}
