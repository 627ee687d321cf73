//! What `/servers/{name}/mcp` answers at the HTTP level, request by request: which methods it
//! serves (405 with `Allow` otherwise, HEAD as GET without a body), how the upstream name is read
//! from the path (percent-decoded, exact segments, no trailing slash), CORS with and without
//! `Origin`, preflights, request ids, and the route and upstream labels of the HTTP metrics.
//!
//! One transcript covers them all, so any change in routing shows up as a diff of the exact
//! status, headers and body a client would see.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::*;
use portcullis_core::config::UpstreamConfig;
use portcullis_testkit::{MockConfig, MockUpstream};

const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#;
const PING: &str = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
const GOOD_ORIGIN: &str = "http://localhost:6274";
const EVIL_ORIGIN: &str = "http://evil.example";

/// One request: method, path (sent as is), extra headers, body.
struct Case {
    method: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
}

const fn case(
    method: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
) -> Case {
    Case {
        method,
        path,
        headers,
        body,
    }
}

const JSON: (&str, &str) = ("content-type", "application/json");
const ACCEPT_BOTH: (&str, &str) = ("accept", "application/json, text/event-stream");
const ACCEPT_SSE: (&str, &str) = ("accept", "text/event-stream");
const ORIGIN_OK: (&str, &str) = ("origin", GOOD_ORIGIN);
const ORIGIN_EVIL: (&str, &str) = ("origin", EVIL_ORIGIN);
const PREFLIGHT_POST: (&str, &str) = ("access-control-request-method", "POST");
const PREFLIGHT_HEADERS: (&str, &str) = (
    "access-control-request-headers",
    "content-type, mcp-session-id, authorization",
);

const CASES: &[Case] = &[
    case("POST", "/servers/files/mcp", &[JSON, ACCEPT_BOTH], INIT),
    case(
        "POST",
        "/servers/files/mcp",
        &[JSON, ACCEPT_BOTH, ORIGIN_OK],
        INIT,
    ),
    case(
        "POST",
        "/servers/files/mcp",
        &[JSON, ACCEPT_BOTH, ORIGIN_EVIL],
        INIT,
    ),
    case("POST", "/servers/files/mcp?x=1", &[JSON, ACCEPT_BOTH], INIT),
    case("POST", "/servers/fil%65s/mcp", &[JSON, ACCEPT_BOTH], INIT),
    case(
        "POST",
        "/servers/files/mcp",
        &[("content-type", "text/plain")],
        PING,
    ),
    case("POST", "/servers/nope/mcp", &[JSON, ACCEPT_BOTH], PING),
    case(
        "POST",
        "/servers/nope/mcp",
        &[JSON, ACCEPT_BOTH, ORIGIN_OK],
        PING,
    ),
    case("POST", "/servers/a%2Fb/mcp", &[JSON, ACCEPT_BOTH], PING),
    case("POST", "/servers/a%20b/mcp", &[JSON, ACCEPT_BOTH], PING),
    case("POST", "/servers/%FF/mcp", &[JSON, ACCEPT_BOTH], PING),
    case("POST", "/servers//mcp", &[JSON, ACCEPT_BOTH], PING),
    case("POST", "/servers/files/mcp/", &[JSON, ACCEPT_BOTH], PING),
    case("POST", "/servers/files/MCP", &[JSON, ACCEPT_BOTH], PING),
    case("POST", "/Servers/files/mcp", &[JSON, ACCEPT_BOTH], PING),
    case("POST", "/servers/files", &[JSON, ACCEPT_BOTH], PING),
    case("POST", "/servers/files/mcp/x", &[JSON, ACCEPT_BOTH], PING),
    case("POST", "//servers/files/mcp", &[JSON, ACCEPT_BOTH], PING),
    case("POST", "/servers/locked/mcp", &[JSON, ACCEPT_BOTH], INIT),
    case(
        "POST",
        "/servers/locked/mcp",
        &[JSON, ACCEPT_BOTH, ORIGIN_OK],
        INIT,
    ),
    case("GET", "/servers/files/mcp", &[ACCEPT_SSE], ""),
    case("GET", "/servers/files/mcp", &[ACCEPT_SSE, ORIGIN_OK], ""),
    case("HEAD", "/servers/files/mcp", &[ACCEPT_SSE], ""),
    case("HEAD", "/servers/nope/mcp", &[ACCEPT_SSE], ""),
    case("DELETE", "/servers/files/mcp", &[], ""),
    case("DELETE", "/servers/nope/mcp", &[ORIGIN_OK], ""),
    case("PUT", "/servers/files/mcp", &[JSON], PING),
    case("PATCH", "/servers/files/mcp", &[JSON, ORIGIN_OK], PING),
    case("PUT", "/servers/nope/mcp", &[JSON], PING),
    case("TRACE", "/servers/files/mcp", &[], ""),
    case(
        "OPTIONS",
        "/servers/files/mcp",
        &[ORIGIN_OK, PREFLIGHT_POST, PREFLIGHT_HEADERS],
        "",
    ),
    case("OPTIONS", "/servers/files/mcp", &[], ""),
    case(
        "OPTIONS",
        "/servers/files/mcp",
        &[ORIGIN_EVIL, PREFLIGHT_POST],
        "",
    ),
    case(
        "OPTIONS",
        "/servers/nope/mcp",
        &[ORIGIN_OK, PREFLIGHT_POST],
        "",
    ),
    case(
        "OPTIONS",
        "/servers/files/mcp/",
        &[ORIGIN_OK, PREFLIGHT_POST],
        "",
    ),
    case("GET", "/healthz", &[ORIGIN_OK], ""),
    case("GET", "/servers/files/mcp/../mcp", &[], ""),
];

/// Sends each case over its own HTTP/1.1 connection exactly as written (the path is not
/// normalised) and returns the status line, headers (sorted, `date` left out, session ids
/// redacted) and body of the answer.
async fn exchange(app: &App, number: usize, c: &Case) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let mut request = format!(
        "{} {} HTTP/1.1\r\nhost: {}\r\nx-request-id: case-{number}\r\nconnection: close\r\n",
        c.method, c.path, app.addr
    );
    for (name, value) in c.headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !c.body.is_empty() {
        request.push_str(&format!("content-length: {}\r\n", c.body.len()));
    }
    request.push_str("\r\n");
    request.push_str(c.body);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut raw),
    )
    .await
    .expect("the answer ends")
    .unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap();
    let mut headers: Vec<String> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            let name = name.to_ascii_lowercase();
            let value = if name == "mcp-session-id" {
                "<session>"
            } else {
                value.trim()
            };
            format!("  {name}: {value}")
        })
        .filter(|line| !line.starts_with("  date:"))
        .collect();
    headers.sort();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    format!(
        "{} {}{}\n{status}\n{}\n  body: {body}\n",
        c.method,
        c.path,
        c.headers
            .iter()
            .map(|(n, v)| format!(" [{n}: {v}]"))
            .collect::<String>(),
        headers.join("\n"),
    )
}

fn dechunk(mut chunked: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = chunked.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        chunked = &rest[size + 2..];
    }
    out
}

#[tokio::test]
async fn the_mcp_route_answers_each_method_path_and_origin_as_before() {
    let upstream = MockUpstream::start(MockConfig::default()).await.unwrap();
    let app = spawn_setup(
        vec![
            open_upstream(UpstreamConfig::http("files", &upstream.url())),
            UpstreamConfig::http("locked", &upstream.url()),
        ],
        |_| {},
        Setup {
            metrics: true,
            ..Setup::default()
        },
    )
    .await;
    let mut transcript = String::new();
    for (number, c) in CASES.iter().enumerate() {
        transcript.push_str(&exchange(&app, number, c).await);
    }
    let metrics = common::metrics_at(&app.client, &app.url("/metrics")).await;
    let mut counters: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("portcullis_http_requests_total{"))
        .collect();
    counters.sort_unstable();
    transcript.push_str("metrics\n");
    for line in counters {
        transcript.push_str(&format!("  {line}\n"));
    }
    let transcript = transcript.replace(&app.addr.to_string(), "<addr>");
    let expected = include_str!("mcp_route.transcript");
    if transcript != expected {
        let path = std::env::temp_dir().join("mcp_route.transcript.new");
        let _ = std::fs::write(&path, &transcript);
        panic!(
            "the MCP route answered differently (whole transcript in {}):\n{}",
            path.display(),
            first_difference(expected, &transcript)
        );
    }
}

/// The first lines where two transcripts differ, with the case they belong to.
fn first_difference(expected: &str, actual: &str) -> String {
    let mut case = "";
    for (line, (e, a)) in expected.lines().zip(actual.lines()).enumerate() {
        if !e.starts_with(' ') && !e.starts_with("HTTP/") {
            case = e;
        }
        if e != a {
            return format!(
                "line {}, in {case}\n  expected: {e}\n  actual:   {a}",
                line + 1
            );
        }
    }
    format!(
        "one transcript is longer: expected {} lines, got {}",
        expected.lines().count(),
        actual.lines().count()
    )
}
