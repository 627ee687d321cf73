//! Two `portcullis serve` processes on one PostgreSQL store: a grant made with the CLI is in
//! force on both within a second, and so is its revocation. Needs `PORTCULLIS_TEST_POSTGRES_URL`
//! (CI sets it; without it, and without `CI`, the test passes without running).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{free_port, portcullis};
use portcullis_testkit::{MockConfig, MockUpstream, SessionMode};
use serde_json::{Value, json};

fn postgres_url() -> Option<String> {
    match std::env::var("PORTCULLIS_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI is set but PORTCULLIS_TEST_POSTGRES_URL is not")
        }
        _ => None,
    }
}

/// A fresh schema in the test database; returns the store URL that uses it, the schema's name
/// and a pool to drop it with.
async fn fresh_schema(base: &str) -> (String, String, sqlx::PgPool) {
    let pool = sqlx::PgPool::connect(base).await.unwrap();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("portcullis_replicas_{}_{nanos:x}", std::process::id());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
        .execute(&pool)
        .await
        .unwrap();
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-c%20search_path%3D{name}");
    (url, name, pool)
}

fn write_config(
    dir: &Path,
    name: &str,
    store: &str,
    port: u16,
    upstream: &str,
) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "version = 1\n[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\n\
             [store]\nurl = \"{store}\"\n\
             [[upstreams]]\nname = \"files\"\nurl = \"{upstream}\"\naccept = [\"api_key\"]\n"
        ),
    )
    .unwrap();
    path
}

fn admin(config: &Path, key: &str, args: &[&str]) -> Value {
    let output = portcullis()
        .env("PORTCULLIS_ENCRYPTION_KEY", key)
        .arg("admin")
        .arg("--config")
        .arg(config)
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
}

async fn allowed(client: &reqwest::Client, port: u16, bearer: &str) -> bool {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo", "arguments": {"message": "hi"}}});
    let response = client
        .post(format!("http://127.0.0.1:{port}/servers/files/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .header("authorization", bearer)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["result"].is_object()
}

/// How long until `allowed` is `want` on both replicas (polled every 20 ms, up to 5 s).
async fn until_both(
    client: &reqwest::Client,
    ports: [u16; 2],
    bearer: &str,
    want: bool,
) -> Duration {
    let started = Instant::now();
    for port in ports {
        while allowed(client, port, bearer).await != want {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "port {port} never changed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_and_its_revocation_reach_every_replica_within_a_second() {
    let Some(base) = postgres_url() else { return };
    let (store, schema, pool) = fresh_schema(&base).await;
    let upstream = MockUpstream::start(MockConfig {
        sessions: SessionMode::Stateless,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ports = [free_port(), free_port()];
    let configs = [
        write_config(dir.path(), "a.toml", &store, ports[0], &upstream.url()),
        write_config(dir.path(), "b.toml", &store, ports[1], &upstream.url()),
    ];
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let migrated = portcullis()
        .env("PORTCULLIS_ENCRYPTION_KEY", key)
        .arg("migrate")
        .arg("--config")
        .arg(&configs[0])
        .output()
        .unwrap();
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let mut replicas = Vec::new();
    for (config, port) in configs.iter().zip(ports) {
        let mut command = common::serve_command();
        command
            .env("PORTCULLIS_ENCRYPTION_KEY", key)
            .arg("--config")
            .arg(config);
        replicas.push(common::serve_child_ready(command, port).await);
    }
    let created = admin(
        &configs[0],
        key,
        &[
            "api-key",
            "create",
            "--name",
            "deploy",
            "--subject",
            "svc:deploy",
        ],
    );
    let bearer = format!("Bearer {}", created["api_key"].as_str().unwrap());
    let client = reqwest::Client::new();
    for port in ports {
        assert!(
            !allowed(&client, port, &bearer).await,
            "allowed before any grant"
        );
    }

    let grant = [
        "role",
        "grant",
        "--service",
        "svc:deploy",
        "--role",
        "service",
        "--server",
        "files",
    ];
    admin(&configs[1], key, &grant);
    let took = until_both(&client, ports, &bearer, true).await;
    assert!(took < Duration::from_secs(1), "the grant took {took:?}");

    let mut revoke = grant;
    revoke[1] = "revoke";
    admin(&configs[0], key, &revoke);
    let took = until_both(&client, ports, &bearer, false).await;
    assert!(
        took < Duration::from_secs(1),
        "the revocation took {took:?}"
    );
    drop(replicas);
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&pool)
        .await
        .unwrap();
}
