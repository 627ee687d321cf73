//! Portcullis's own keys at start-up, as a real process: the embedded store's key file, the first
//! signing key, and the refusal to start a shared store without encryption keys.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{free_port, portcullis, serve_ready, stop};
use portcullis_store::Store;
use portcullis_store_sqlite::SqliteStore;

fn write_config(dir: &Path, store_url: &str, port: u16) -> PathBuf {
    let path = dir.join("c.toml");
    std::fs::write(
        &path,
        format!(
            "version = 1\n[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\n\
             [store]\nurl = \"{store_url}\"\n[[upstreams]]\nname = \"demo\"\nbuiltin = \"demo\"\nauth = \"none\"\n"
        ),
    )
    .unwrap();
    path
}

/// Runs `serve` until it is ready, then stops it.
async fn serve_once(config: &Path, port: u16) {
    stop(serve_ready(config, port).await).await;
}

async fn signing_kids(database: &Path) -> Vec<String> {
    let store = SqliteStore::connect(&format!("sqlite://{}", database.display()))
        .await
        .unwrap();
    let kids = store
        .signing_key_list()
        .await
        .unwrap()
        .into_iter()
        .map(|key| key.kid)
        .collect();
    store.close().await;
    kids
}

#[tokio::test]
async fn an_embedded_store_gets_a_key_file_beside_it_and_one_signing_key() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("state/p.db");
    let port = free_port();
    let config = write_config(
        dir.path(),
        &format!("sqlite://{}", database.display()),
        port,
    );

    serve_once(&config, port).await;
    let key_file = dir.path().join("state/encryption.key");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "key file mode {mode:o}");
    let key = std::fs::read_to_string(&key_file).unwrap();
    let kids = signing_kids(&database).await;
    assert_eq!(kids.len(), 1, "{kids:?}");

    // A restart uses the same key file and the same signing key.
    serve_once(&config, port).await;
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), key);
    assert_eq!(signing_kids(&database).await, kids);

    // Without the key that sealed it, the signing key does not open: start-up fails, naming it.
    std::fs::write(&key_file, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n").unwrap();
    let out = portcullis()
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("signing key {} does not open", kids[0]))
            && stderr.contains("not in the key list"),
        "{stderr}"
    );
}

fn shared_store_config(dir: &Path) -> PathBuf {
    // Port 1 refuses connections: the keys must be refused before the store is even tried.
    write_config(
        dir,
        "postgres://portcullis@127.0.0.1:1/portcullis",
        free_port(),
    )
}

fn assert_names_the_encryption_key(out: &Output) {
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("keys.encryption_key_env")
            && stderr.contains("PORTCULLIS_ENCRYPTION_KEY is not set"),
        "{stderr}"
    );
}

#[test]
fn a_shared_store_without_encryption_keys_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = shared_store_config(dir.path());
    let out = portcullis()
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_names_the_encryption_key(&out);
    assert!(!dir.path().join("encryption.key").exists());
}

#[test]
fn config_check_reports_missing_or_bad_encryption_keys() {
    let dir = tempfile::tempdir().unwrap();
    let config = shared_store_config(dir.path());
    let check = |key: Option<&str>| {
        let mut command = portcullis();
        command.args(["config", "check", "--config"]).arg(&config);
        if let Some(key) = key {
            command.env("PORTCULLIS_ENCRYPTION_KEY", key);
        }
        command.output().unwrap()
    };
    assert_names_the_encryption_key(&check(None));

    let short = check(Some("c2hvcnQ="));
    assert!(!short.status.success());
    let stderr = String::from_utf8_lossy(&short.stderr);
    assert!(
        stderr.contains("keys.encryption_key_env") && stderr.contains("5 bytes long"),
        "{stderr}"
    );
    assert!(!stderr.contains("c2hvcnQ"), "{stderr}");

    let good = check(Some("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"));
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
}
