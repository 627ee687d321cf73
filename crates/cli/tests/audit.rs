//! The audit log from the outside: actions taken through the CLI and a running `portcullis serve`
//! (a refused sign-in, an account created, a token issued and revoked, a refused MCP request)
//! appear in `portcullis admin audit list --json` with the right fields; a row changed behind
//! Portcullis's back is found by `audit verify`; and a whole OAuth flow leaves no secret in the
//! log.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::browser::Browser;
use common::oauth::{PASSWORD, World, world};
use common::{admin_with_stdin, free_port, initialize_body, portcullis, serve_ready, sign_in};
use portcullis_store::{AuditQuery, Store};
use portcullis_testkit::{MockConfig, MockUpstream};
use serde_json::{Value, json};
use sha2::Digest;

/// `portcullis admin ARGS --config CONFIG --json`, which must succeed, as JSON.
fn admin_json(config: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--config", config, "--json"]);
    let out = admin_with_stdin(&all, "");
    assert!(
        out.status.success(),
        "admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// The audit log as `audit list --json` shows it.
fn audit_list(config: &str) -> Vec<Value> {
    admin_json(config, &["audit", "list", "--limit", "1000"])
        .as_array()
        .unwrap()
        .clone()
}

/// The one record with `action` (and, when given, `decision`), failing when there is not exactly
/// one.
fn one<'a>(records: &'a [Value], action: &str, decision: Option<&str>) -> &'a Value {
    let found: Vec<&Value> = records
        .iter()
        .filter(|r| r["action"] == action && decision.is_none_or(|d| r["decision"] == d))
        .collect();
    assert_eq!(found.len(), 1, "{action} {decision:?} in {records:#?}");
    found[0]
}

fn sqlite_path(dir: &Path) -> String {
    format!("sqlite://{}/p.db", dir.display())
}

#[tokio::test]
async fn actions_through_the_cli_and_the_server_are_in_the_audit_log() {
    let upstream = MockUpstream::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = common::files_config(dir.path(), port, &upstream.url());
    let base = format!("http://127.0.0.1:{port}");
    let operator = format!(
        "cli:{}",
        nix::unistd::User::from_uid(nix::unistd::getuid())
            .unwrap()
            .unwrap()
            .name
    );

    let out = admin_with_stdin(
        &[
            "user",
            "create",
            "--username",
            "alice",
            "--email",
            "alice@example.com",
            "--password-stdin",
            "--config",
            &config,
        ],
        PASSWORD,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = admin_json(
        &config,
        &[
            "api-key",
            "create",
            "--name",
            "ci",
            "--subject",
            "service:ci",
        ],
    );
    let client = admin_json(
        &config,
        &[
            "client",
            "create",
            "--name",
            "robot",
            "--confidential",
            "--grant-type",
            "client_credentials",
        ],
    );
    let client_id = client["client_id"].as_str().unwrap();
    let client_secret = client["client_secret"].as_str().unwrap();

    let _child = serve_ready(Path::new(&config), port).await;
    let http = reqwest::Client::new();

    // A refused sign-in, then one that succeeds.
    assert_eq!(sign_in(port, "alice", "not her password").await.0, 401);
    assert_eq!(sign_in(port, "alice", PASSWORD).await.0, 303);

    // A token issued to the client, then revoked by it.
    let resource = format!("{base}/servers/files/mcp");
    let token: Value = http
        .post(format!("{base}/token"))
        .basic_auth(client_id, Some(client_secret))
        .header("x-request-id", "token-request-1")
        .form(&[
            ("grant_type", "client_credentials"),
            ("resource", resource.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access_token = token["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{token}"));
    let revoked = http
        .post(format!("{base}/revoke"))
        .basic_auth(client_id, Some(client_secret))
        .form(&[("token", access_token)])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);

    // An MCP request the key's subject has no grant for.
    let mcp = |body: Value, session: Option<String>| {
        let mut request = http
            .post(&resource)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .header("x-request-id", "mcp-request-1")
            .bearer_auth(key["api_key"].as_str().unwrap())
            .body(body.to_string());
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        request.send()
    };
    let initialized = mcp(initialize_body(), None).await.unwrap();
    assert_eq!(initialized.status(), 200);
    let session = initialized.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let call = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
        "params": {"name": "read_file", "arguments": {}}});
    let refused = common::read_result(mcp(call, Some(session)).await.unwrap()).await;
    assert!(refused["error"].is_object(), "{refused}");

    // The background writer appends decisions within moments.
    let mut records = audit_list(&config);
    for _ in 0..50 {
        if records.iter().any(|r| r["action"] == "mcp.request") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        records = audit_list(&config);
    }

    let created = one(&records, "user.create", None);
    assert_eq!(created["actor"], operator.as_str());
    assert!(
        created["target"].as_str().unwrap().starts_with("alice ("),
        "{created}"
    );
    assert_eq!(created["decision"], "success");
    assert_eq!(
        one(&records, "api_key.create", None)["actor"],
        operator.as_str()
    );
    assert_eq!(one(&records, "client.create", None)["target"], client_id);

    let failed = one(&records, "session.sign_in", Some("failure"));
    assert_eq!(failed["actor"], Value::Null);
    assert_eq!(failed["target"], "alice");
    assert_eq!(failed["source"], "127.0.0.1");
    assert!(failed["request_id"].is_string(), "{failed}");
    assert!(failed["reason"].is_string(), "{failed}");
    let signed_in = one(&records, "session.sign_in", Some("success"));
    assert!(
        signed_in["actor"].as_str().unwrap().starts_with("usr_"),
        "{signed_in}"
    );
    assert_eq!(signed_in["source"], "127.0.0.1");

    let issued = one(&records, "token.issue", None);
    assert_eq!(issued["actor"], client_id);
    assert_eq!(issued["client"], client_id);
    assert_eq!(issued["request_id"], "token-request-1");
    assert_eq!(issued["source"], "127.0.0.1");
    assert_eq!(issued["target"], resource.as_str());
    let revocation = one(&records, "token.revoke", None);
    assert_eq!(revocation["client"], client_id);
    assert!(revocation["target"].is_string(), "{revocation}");

    let denied = one(&records, "mcp.request", Some("deny"));
    assert_eq!(denied["actor"], "service:ci");
    assert_eq!(denied["target"], "files/tools/call:read_file");
    assert_eq!(denied["request_id"], "mcp-request-1");
    assert_eq!(denied["source"], "127.0.0.1");
    assert!(denied["reason"].is_string(), "{denied}");
    // Allowed requests are not sampled by default: the handshake and the call's neighbours are
    // not there.
    assert!(
        !records
            .iter()
            .any(|r| r["action"] == "mcp.request" && r["decision"] == "allow")
    );

    // Nothing secret in any field.
    let text = serde_json::to_string(&records).unwrap();
    for secret in [
        PASSWORD,
        "not her password",
        key["api_key"].as_str().unwrap(),
        client_secret,
        access_token,
    ] {
        assert!(!text.contains(secret), "a secret is in the audit log");
    }

    // The chain holds, and `export` writes every record with its hashes.
    let verified = admin_json(&config, &["audit", "verify"]);
    assert_eq!(verified["intact"], true);
    assert_eq!(verified["count"], records.len());
    let exported = portcullis()
        .args(["admin", "audit", "export", "--config", &config])
        .output()
        .unwrap();
    assert!(exported.status.success());
    let lines: Vec<Value> = String::from_utf8(exported.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines, records);
    assert_eq!(lines[0]["prev_hash"], "0".repeat(64));
    assert_eq!(lines[1]["prev_hash"], lines[0]["hash"]);

    // `--since` the newest record's time finds it and nothing older.
    let newest = records.last().unwrap();
    let since = newest["time"].as_str().unwrap();
    let recent = admin_json(&config, &["audit", "list", "--since", since]);
    let recent = recent.as_array().unwrap();
    assert!(
        !recent.is_empty() && recent.len() < records.len(),
        "{recent:?}"
    );
    assert!(recent.iter().any(|r| r["seq"] == newest["seq"]));
    assert!(
        recent.iter().all(|r| r["time"].as_str().unwrap() >= since),
        "{recent:?}"
    );
}

/// The acceptance test: one field of one row is changed behind Portcullis's back (its trigger
/// dropped first, as an intruder with the database file could), and `audit verify` names that row.
#[tokio::test]
async fn verify_finds_a_tampered_row() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::files_config(dir.path(), free_port(), "http://127.0.0.1:9/mcp");
    for name in ["a", "b", "c", "d"] {
        admin_json(
            &config,
            &[
                "api-key",
                "create",
                "--name",
                name,
                "--subject",
                "service:ci",
            ],
        );
    }
    let verified = admin_json(&config, &["audit", "verify"]);
    assert_eq!(
        verified,
        json!({"intact": true, "count": 4, "head": verified["head"]})
    );

    let pool = sqlx::SqlitePool::connect(&sqlite_path(dir.path()))
        .await
        .unwrap();
    // Through the front door the log cannot be changed.
    let refused = sqlx::query("UPDATE audit_log SET target = 'x' WHERE seq = 3")
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("append-only"), "{refused}");
    sqlx::query("DROP TRIGGER audit_log_no_update")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_log SET actor = 'cli:someone-else' WHERE seq = 3")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let out = portcullis()
        .args(["admin", "audit", "verify", "--json", "--config", &config])
        .output()
        .unwrap();
    assert!(!out.status.success(), "verify passed a tampered log");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["intact"], false);
    assert_eq!(report["broken_at"], 3);
    assert_eq!(report["intact_before"], 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("record 3"), "{stderr}");

    let text = portcullis()
        .args(["admin", "audit", "verify", "--config", &config])
        .output()
        .unwrap();
    assert!(!text.status.success());
    assert!(String::from_utf8_lossy(&text.stderr).contains("record 3"));
}

/// Every form a secret of the flow could take in a record: itself, and its SHA-256 in hex and
/// base64.
fn forms_of(secret: &str) -> Vec<String> {
    let hash = sha2::Sha256::digest(secret.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    vec![
        secret.to_owned(),
        hex,
        URL_SAFE_NO_PAD.encode(hash),
        STANDARD.encode(hash),
    ]
}

/// A whole OAuth flow — registration, a refused and an accepted sign-in, consent, code
/// exchange, refresh, refresh-token reuse, revocation — is recorded, and no record holds a
/// password, code or token, nor a hash of one.
#[tokio::test]
async fn a_whole_oauth_flow_is_recorded_without_a_secret() {
    let w: World = world().await;
    let mut refused = Browser::new(&w.app);
    assert_eq!(
        refused
            .sign_in("alice", "a wrong password", None)
            .await
            .status,
        401
    );
    let mut browser = Browser::new(&w.app);
    let code = w.code(&mut browser).await;
    let (status, tokens) = w.exchange(&code).await;
    assert_eq!(status, 200, "{tokens}");
    let first_refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, refreshed) = w.refresh(&first_refresh, None).await;
    assert_eq!(status, 200, "{refreshed}");
    let second_refresh = refreshed["refresh_token"].as_str().unwrap().to_owned();
    let (status, again) = w.refresh(&second_refresh, None).await;
    assert_eq!(status, 200, "{again}");
    // The first token, used twice outside the retry rule: the grant is revoked.
    let (status, _) = w.refresh(&first_refresh, None).await;
    assert_eq!(status, 400);
    let (status, _) = w.exchange(&code).await;
    assert_eq!(status, 400, "a replayed code");
    assert_eq!(w.revoke(again["access_token"].as_str().unwrap()).await, 200);

    let records = w
        .app
        .store
        .audit_list(&AuditQuery::default())
        .await
        .unwrap();
    let actions: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r.event.action.as_str(), r.event.decision.as_str()))
        .collect();
    for expected in [
        ("client.register", "success"),
        ("session.sign_in", "failure"),
        ("session.sign_in", "success"),
        ("consent.give", "success"),
        ("token.issue", "success"),
        ("token.refresh", "success"),
        ("token.reuse_detected", "deny"),
        ("token.code_replayed", "deny"),
        ("token.revoke", "success"),
    ] {
        assert!(
            actions.contains(&expected),
            "{expected:?} not in {actions:?}"
        );
    }
    let issued = records
        .iter()
        .find(|r| r.event.action == "token.issue")
        .unwrap();
    assert_eq!(issued.event.actor.as_deref(), Some(w.user_id.as_str()));
    assert_eq!(issued.event.client.as_deref(), Some(w.client_id.as_str()));
    assert!(issued.event.request_id.is_some());

    let mut secrets = vec![
        PASSWORD.to_owned(),
        "a wrong password".to_owned(),
        code.clone(),
        first_refresh,
        second_refresh,
    ];
    for answer in [&tokens, &refreshed, &again] {
        for key in ["access_token", "refresh_token", "id_token"] {
            if let Some(value) = answer[key].as_str() {
                secrets.push(value.to_owned());
            }
        }
    }
    for record in &records {
        let event = &record.event;
        let fields = [
            event.actor.as_deref(),
            event.tenant.as_deref(),
            event.client.as_deref(),
            Some(event.action.as_str()),
            event.target.as_deref(),
            Some(event.decision.as_str()),
            event.reason.as_deref(),
            event.request_id.as_deref(),
            event.source.as_deref(),
        ];
        for field in fields.into_iter().flatten() {
            for secret in &secrets {
                for form in forms_of(secret) {
                    assert!(
                        !field.contains(&form),
                        "{} holds a secret (or its hash): {field}",
                        event.action
                    );
                }
            }
        }
    }
}
