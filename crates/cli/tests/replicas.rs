//! Two `portcullis serve` processes on one store: a grant made with the CLI is in force on both
//! within a second, and so are its withdrawal and the revocation of the caller's API key — told
//! by PostgreSQL's LISTEN/NOTIFY, by Redis pub/sub, or found by the poll. The PostgreSQL case
//! needs `PORTCULLIS_TEST_POSTGRES_URL` and the Redis case `PORTCULLIS_TEST_REDIS_URL` (CI sets
//! both; without them, and without `CI`, those tests pass without running).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{free_port, metric_value, metrics_at, portcullis};
use portcullis_testkit::{MockConfig, MockUpstream, SessionMode};
use serde_json::{Value, json};

fn test_url(variable: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI is set but {variable} is not")
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

/// A replica's configuration: `store` is the `[store]` table's body.
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
             [store]\n{store}\n\
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

/// Whether the caller may call the tool: `Some(true)` yes, `Some(false)` refused by the
/// policy, `None` its credential is refused (401).
async fn allowed(client: &reqwest::Client, port: u16, bearer: &str) -> Option<bool> {
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
    if response.status() == 401 {
        return None;
    }
    assert_eq!(response.status(), 200);
    Some(response.json::<Value>().await.unwrap()["result"].is_object())
}

/// How long until `allowed` is `want` on both replicas (polled every 20 ms, up to 5 s).
async fn until_both(
    client: &reqwest::Client,
    ports: [u16; 2],
    bearer: &str,
    want: Option<bool>,
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

/// The authorization version replica `port` has loaded, from its metrics.
async fn policy_version(client: &reqwest::Client, port: u16) -> f64 {
    let metrics = metrics_at(client, &format!("http://127.0.0.1:{port}/metrics")).await;
    metric_value(&metrics, "portcullis_authorization_policy_version")
        .unwrap_or_else(|| panic!("no policy version in {metrics}"))
}

/// Starts two replicas on `store` (the `[store]` body, without `url`'s line when `url` is in
/// it already), then grants, withdraws and revokes with the CLI, asserting each reaches both
/// replicas within a second.
async fn replicas_follow_the_cli(store: &str, migrate_first: bool) {
    let upstream = MockUpstream::start(MockConfig {
        sessions: SessionMode::Stateless,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = store.replace("{dir}", &dir.path().display().to_string());
    let ports = [free_port(), free_port()];
    let configs = [
        write_config(dir.path(), "a.toml", &store, ports[0], &upstream.url()),
        write_config(dir.path(), "b.toml", &store, ports[1], &upstream.url()),
    ];
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    if migrate_first {
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
    }
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
        assert_eq!(
            allowed(&client, port, &bearer).await,
            Some(false),
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
    let before = policy_version(&client, ports[0]).await;
    admin(&configs[1], key, &grant);
    let took = until_both(&client, ports, &bearer, Some(true)).await;
    assert!(took < Duration::from_secs(1), "the grant took {took:?}");
    // Both replicas report the same, newer, policy version.
    let after = policy_version(&client, ports[0]).await;
    assert!(after > before, "{before} → {after}");
    assert_eq!(policy_version(&client, ports[1]).await, after);

    let mut withdraw = grant;
    withdraw[1] = "revoke";
    admin(&configs[0], key, &withdraw);
    let took = until_both(&client, ports, &bearer, Some(false)).await;
    assert!(
        took < Duration::from_secs(1),
        "the withdrawal took {took:?}"
    );

    // Granted again, then the key itself revoked: both replicas verified (and cached) it.
    admin(&configs[1], key, &grant);
    until_both(&client, ports, &bearer, Some(true)).await;
    let id = created["id"].as_str().unwrap();
    admin(&configs[1], key, &["api-key", "revoke", "--id", id]);
    let took = until_both(&client, ports, &bearer, None).await;
    assert!(
        took < Duration::from_secs(1),
        "the key's revocation took {took:?}"
    );
    drop(replicas);
}

/// The poll is an hour: only LISTEN/NOTIFY can bring the changes within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replicas_hear_changes_through_listen_notify() {
    let Some(base) = test_url("PORTCULLIS_TEST_POSTGRES_URL") else {
        return;
    };
    let (store, schema, pool) = fresh_schema(&base).await;
    replicas_follow_the_cli(&format!("url = \"{store}\"\nchange_poll = \"1h\""), true).await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&pool)
        .await
        .unwrap();
}

/// Two processes on one SQLite file, the poll an hour: only Redis can bring the changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_replicas_hear_changes_through_redis() {
    let Some(redis) = test_url("PORTCULLIS_TEST_REDIS_URL") else {
        return;
    };
    replicas_follow_the_cli(
        &format!(
            "url = \"sqlite://{{dir}}/shared.db\"\nredis_url = \"{redis}\"\nchange_poll = \"1h\""
        ),
        true,
    )
    .await;
}

/// No announcements at all: the poll (250 ms by default) finds every change within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_without_announcements_find_changes_by_polling() {
    replicas_follow_the_cli("url = \"sqlite://{dir}/shared.db\"", true).await;
}
