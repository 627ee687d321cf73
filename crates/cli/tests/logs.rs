//! The logs of a whole flow — registration, sign-in, consent, code, refresh, an MCP request,
//! revocation — at debug level for every crate (`RUST_LOG=debug`), as JSON lines: each line is a
//! structured record, and none holds a password, code, verifier, token, client secret,
//! registration token, session or CSRF token.

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
