//! What a running process tells its operators about a whole flow — registration, sign-in,
//! consent, code, refresh, MCP requests allowed and refused, revocation: its logs at debug level
//! for every crate (`RUST_LOG=debug`), as JSON lines, where each line is a structured record and
//! none holds a password, code, verifier, token, client secret, registration token, session or
//! CSRF token; and its metrics, which count each step.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::oauth::basic;
use common::process::{Deployment, holds};
use serde_json::Value;

#[tokio::test]
async fn debug_logs_of_a_whole_flow_hold_no_secret() {
    let mut deployment = Deployment::start(
        "[log]\nlevel = \"debug\"\nformat = \"json\"\n",
        &[("RUST_LOG", "debug")],
    )
    .await;
    let flow = deployment.full_flow().await;
    deployment.stop().await;
    let log = std::fs::read(&deployment.log).unwrap();
    let text = String::from_utf8(log.clone()).unwrap();
    let mut lines = 0;
    for line in text.lines() {
        let record: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON record ({e}): {line}"));
        assert!(record["level"].is_string(), "{line}");
        lines += 1;
    }
    // Proof that the flow was logged in detail: the requests of each step, debug lines of the
    // dependencies, and the client by id.
    for step in [
        "/register",
        "/login",
        "/authorize",
        "/token",
        "/servers/files/mcp",
        "/revoke",
    ] {
        assert!(text.contains(step), "no line about {step}");
    }
    assert!(text.contains("\"DEBUG\""), "no debug line at all");
    assert!(holds(&log, &flow.client_id), "the client is never named");
    assert!(lines > 50, "only {lines} lines");
    let client_secret = &flow
        .secrets
        .iter()
        .find(|(what, _)| *what == "client secret")
        .unwrap()
        .1;
    let client_authentication = basic(&flow.client_id, client_secret);
    let mut secrets = flow.secrets.clone();
    secrets.push((
        "client authentication header",
        client_authentication
            .trim_start_matches("Basic ")
            .to_owned(),
    ));
    for (what, secret) in &secrets {
        assert!(!holds(&log, secret), "the {what} is in the log");
    }
}

/// The value of the series `name{labels}` in a Prometheus text exposition (0 when absent).
fn series(metrics: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    metrics
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .filter(|(key, _)| {
            key.split_once('{').map_or(*key == name, |(n, rest)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
            })
        })
        .map(|(_, value)| value.parse::<f64>().unwrap())
        .sum()
}

#[tokio::test]
async fn metrics_count_tokens_credentials_and_decisions() {
    let mut deployment = Deployment::start("", &[]).await;
    // The policy loaded at start-up is reported, at the store's authorization version (alice's
    // default role moved it; nothing has since).
    deployment.policy_loaded().await;
    deployment.full_flow().await;
    let metrics = reqwest::get(format!("{}/metrics", deployment.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    deployment.stop().await;
    let count = |name: &str, labels: &[(&str, &str)]| series(&metrics, name, labels);
    assert_eq!(
        count(
            "portcullis_tokens_issued_total",
            &[("grant_type", "authorization_code")]
        ),
        1.0,
        "{metrics}"
    );
    assert_eq!(
        count(
            "portcullis_tokens_issued_total",
            &[("grant_type", "refresh_token")]
        ),
        1.0
    );
    assert_eq!(
        count("portcullis_credential_cache_total", &[("result", "miss")]),
        1.0
    );
    assert_eq!(
        count("portcullis_credential_cache_total", &[("result", "hit")]),
        2.0
    );
    assert_eq!(
        count("portcullis_credential_checks_total", &[("result", "valid")]),
        1.0
    );
    let decisions = |decision| {
        count(
            "portcullis_authorization_decisions_total",
            &[("upstream", "files"), ("decision", decision)],
        )
    };
    assert_eq!(decisions("allow"), 2.0);
    assert_eq!(decisions("deny"), 1.0);
    assert_eq!(decisions("step_up"), 0.0);
    assert!(
        count(
            "portcullis_upstream_first_byte_seconds_count",
            &[("upstream", "files")]
        ) >= 2.0
    );
}

/// An OTLP/HTTP traces receiver on loopback: answers every POST with 200 and keeps the bodies.
async fn trace_receiver() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>,
) {
    use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = received.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let sink = sink.clone();
            tokio::spawn(async move {
                let mut stream = tokio::io::BufReader::new(stream);
                loop {
                    let mut head = Vec::new();
                    loop {
                        let mut line = String::new();
                        if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        head.push(line);
                    }
                    let header = |name: &str| {
                        head.iter().find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                        })
                    };
                    let length: usize = header("content-length").unwrap().parse().unwrap();
                    let mut body = vec![0; length];
                    stream.read_exact(&mut body).await.unwrap();
                    sink.lock()
                        .unwrap()
                        .push((header("content-type").unwrap_or_default(), body));
                    stream
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .await
                        .unwrap();
                }
            });
        }
    });
    (url, received)
}

#[tokio::test]
async fn spans_are_exported_over_otlp_when_an_endpoint_is_set() {
    let (endpoint, received) = trace_receiver().await;
    let mut deployment =
        Deployment::start(&format!("[log]\notlp_endpoint = \"{endpoint}\"\n"), &[]).await;
    let answer = reqwest::Client::new()
        .get(format!("{}/healthz", deployment.base))
        .header("x-request-id", "otlp-probe-0001")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    // Stopping flushes the batch.
    deployment.stop().await;
    let received = received.lock().unwrap();
    assert!(!received.is_empty(), "nothing was exported");
    let mut exported = Vec::new();
    for (content_type, body) in received.iter() {
        assert_eq!(content_type, "application/x-protobuf");
        exported.extend_from_slice(body);
    }
    // Protobuf carries strings as they are: the service, the span and its request id.
    for needle in ["portcullis", "request", "otlp-probe-0001", "/healthz"] {
        assert!(holds(&exported, needle), "no {needle:?} in the export");
    }
}
