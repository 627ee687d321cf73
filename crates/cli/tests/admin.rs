//! `portcullis admin` as a real process against a real SQLite store, and the keys it makes used
//! against `portcullis serve` sharing that store.

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

use common::{free_port, initialize_body, portcullis, serve_ready};
use portcullis_testkit::{MockConfig, MockUpstream};
use serde_json::Value;

/// Runs `portcullis admin ARGS` and returns its stdout, asserting success.
fn admin(args: &[&str]) -> String {
    let out = portcullis().arg("admin").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn admin_json(args: &[&str]) -> Value {
    let out = admin(args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn api_keys_are_created_listed_and_revoked_with_global_flags_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::files_config(dir.path(), 9, "http://127.0.0.1:9/mcp");
    let created = admin_json(&[
        "--config",
        &config,
        "--json",
        "api-key",
        "create",
        "--name",
        "laptop",
        "--subject",
        "user:alice",
        "--expires",
        "30d",
        "--scopes",
        "files:read",
    ]);
    let key = created["api_key"].as_str().unwrap();
    assert!(key.starts_with("pcl_"), "{created}");
    assert_eq!(created["status"], "active");
    assert_eq!(created["scopes"][0], "files:read");
    assert!(created["expires_at"].is_string());

    let token = admin_json(&[
        "api-key",
        "create",
        "--name",
        "ci",
        "--subject",
        "service:ci",
        "--service-token",
        "--json",
        "--config",
        &config,
    ]);
    assert!(token["client_id"].as_str().unwrap().starts_with("pclc_"));
    assert!(
        token["client_secret"]
            .as_str()
            .unwrap()
            .starts_with("pcls_")
    );
    assert!(token.get("api_key").is_none());

    let listed = admin_json(&["api-key", "list", "--config", &config, "--json"]);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    let text = serde_json::to_string(listed).unwrap();
    assert!(!text.contains(key), "a listing never shows a secret");
    assert!(!text.contains(token["client_secret"].as_str().unwrap()));

    let only_alice = admin_json(&[
        "api-key",
        "list",
        "--subject",
        "user:alice",
        "--config",
        &config,
        "--json",
    ]);
    assert_eq!(only_alice.as_array().unwrap().len(), 1);

    let id = created["id"].as_str().unwrap();
    let revoked = admin_json(&[
        "--json", "api-key", "revoke", "--id", id, "--config", &config,
    ]);
    assert_eq!(revoked["status"], "revoked");
    let human = admin(&["api-key", "list", "--config", &config]);
    assert!(
        human.contains("revoked") && human.contains("service_token"),
        "{human}"
    );

    // Errors: an unknown id, and an invalid request that stores nothing.
    let out = portcullis()
        .args([
            "admin", "api-key", "revoke", "--id", "key_nope", "--config", &config,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no API key has the id"));
    let out = portcullis()
        .args([
            "admin",
            "api-key",
            "create",
            "--name",
            "x",
            "--subject",
            "s",
            "--expires",
            "soon",
            "--config",
            &config,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--expires"));
    assert_eq!(
        admin_json(&["api-key", "list", "--config", &config, "--json"])
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn a_key_made_by_the_cli_opens_the_upstream_of_a_running_portcullis() {
    let upstream = MockUpstream::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = common::files_config(dir.path(), port, &upstream.url());
    let good = admin_json(&[
        "api-key",
        "create",
        "--name",
        "a",
        "--subject",
        "user:alice",
        "--json",
        "--config",
        &config,
    ]);
    let revoked = admin_json(&[
        "api-key",
        "create",
        "--name",
        "b",
        "--subject",
        "user:bob",
        "--json",
        "--config",
        &config,
    ]);
    admin(&[
        "api-key",
        "revoke",
        "--id",
        revoked["id"].as_str().unwrap(),
        "--config",
        &config,
    ]);

    let _child = serve_ready(Path::new(&config), port).await;
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let send = |key: &str| {
        client
            .post(format!("{base}/servers/files/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("authorization", format!("Bearer {key}"))
            .body(initialize_body().to_string())
            .send()
    };
    let ok = send(good["api_key"].as_str().unwrap()).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(
        upstream.requests()[0].header("x-portcullis-user"),
        Some("user:alice")
    );
    let refused = send(revoked["api_key"].as_str().unwrap()).await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(upstream.requests().len(), 1);

    // The use was recorded in the shared store.
    let listed = admin_json(&[
        "api-key",
        "list",
        "--subject",
        "user:alice",
        "--json",
        "--config",
        &config,
    ]);
    assert!(listed[0]["last_used_at"].is_string(), "{listed}");

    // Revoked by the CLI while the server holds the key as verified: refused within seconds.
    admin(&[
        "api-key",
        "revoke",
        "--id",
        good["id"].as_str().unwrap(),
        "--config",
        &config,
    ]);
    let mut refused = false;
    for _ in 0..50 {
        let status = send(good["api_key"].as_str().unwrap())
            .await
            .unwrap()
            .status();
        if status == 401 {
            refused = true;
            break;
        }
        assert_eq!(status, 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "the revoked key was still accepted after 5 s");
}

#[tokio::test]
async fn a_rotation_publishes_the_next_key_before_it_signs() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = common::files_config(dir.path(), port, "http://127.0.0.1:9/mcp");
    let rotated = admin_json(&["keys", "rotate", "--json", "--config", &config]);
    let new_kid = rotated["new_kid"].as_str().unwrap().to_owned();
    let retiring = rotated["retiring"].as_array().unwrap();
    assert_eq!(retiring.len(), 1, "{rotated}");
    let listed = admin_json(&["keys", "list", "--json", "--config", &config]);
    let status_of = |kid: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid)
            .map(|k| k["status"].as_str().unwrap().to_owned())
    };
    assert_eq!(status_of(&new_kid).as_deref(), Some("published"));
    assert_eq!(
        status_of(retiring[0]["kid"].as_str().unwrap()).as_deref(),
        Some("signing")
    );

    let _child = serve_ready(Path::new(&config), port).await;
    let jwks: Value = reqwest::get(format!("http://127.0.0.1:{port}/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2, "{jwks}");
    assert!(
        kids.contains(&new_kid.as_str()),
        "the next key is published before it signs"
    );
}
