//! Tests of the SQLite store: the shared conformance suite on a file and in memory, plus what only
//! SQLite has: the pragmas, `BEGIN IMMEDIATE` writers waiting on `busy_timeout`, and migrations.

use std::path::Path;
use std::time::Duration;

use portcullis_store::{RelaySession, SessionKey, Store, StoreError, conformance};
use sqlx::Connection;
use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteConnection;
use time::OffsetDateTime;

use super::*;

fn file_url(dir: &Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(name).display())
}

async fn migrated_file_store(dir: &Path) -> SqliteStore {
    let store = SqliteStore::connect(&file_url(dir, "nested/dirs/portcullis.db"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}

fn session(upstream: &str) -> RelaySession {
    let at = OffsetDateTime::from_unix_timestamp(1_778_000_000).unwrap();
    RelaySession {
        key: SessionKey {
            upstream: upstream.to_owned(),
            id_hash: [7; 32],
        },
        protocol_version: None,
        principal: Some("user:alice".to_owned()),
        created_at: at,
        last_seen_at: at,
    }
}

#[tokio::test]
async fn conformance_on_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = migrated_file_store(dir.path()).await;
    conformance::run_all(&store).await;
    // Twice against the same database, as a long-lived deployment would see it.
    conformance::run_all(&store).await;
}

#[tokio::test]
async fn committed_changes_are_announced() {
    let recorder = std::sync::Arc::new(conformance::changes::Recorder::default());
    let store = SqliteStore::connect("sqlite::memory:")
        .await
        .unwrap()
        .with_announcer(recorder.clone());
    store.migrate().await.unwrap();
    conformance::changes::changes_are_announced_after_commit(
        &store,
        &conformance::Scope::new(1),
        &recorder,
    )
    .await;
}

#[tokio::test]
async fn conformance_in_memory() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    conformance::run_all(&store).await;
}

#[tokio::test]
async fn every_pooled_connection_has_the_durability_pragmas() {
    let dir = tempfile::tempdir().unwrap();
    let store = migrated_file_store(dir.path()).await;

    // Hold all connections at once so each one is checked, not the same one four times.
    let mut connections = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        connections.push(store.pool.acquire().await.unwrap());
    }
    for conn in &mut connections {
        let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        let busy_timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        assert_eq!(journal_mode, "wal");
        assert_eq!(synchronous, 2, "synchronous=FULL");
        assert_eq!(foreign_keys, 1);
        assert_eq!(busy_timeout, 5_000);
    }
}

#[tokio::test]
async fn in_memory_databases_are_private() {
    let a = SqliteStore::connect("sqlite::memory:").await.unwrap();
    let b = SqliteStore::connect("sqlite::memory:").await.unwrap();
    a.migrate().await.unwrap();
    a.relay_session_insert(&session("up")).await.unwrap();

    assert_eq!(b.applied_migrations().await.unwrap(), Vec::<i64>::new());
    let key = session("up").key;
    assert!(a.relay_session_get(&key).await.unwrap().is_some());
}

#[tokio::test]
async fn migrate_is_idempotent_and_data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let url = file_url(dir.path(), "portcullis.db");
    let store = SqliteStore::connect(&url).await.unwrap();
    assert_eq!(store.applied_migrations().await.unwrap(), Vec::<i64>::new());
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    let expected: Vec<i64> = migrations::MIGRATIONS.iter().map(|m| m.0).collect();
    assert_eq!(store.applied_migrations().await.unwrap(), expected);
    store.relay_session_insert(&session("up")).await.unwrap();
    store.close().await;

    let reopened = SqliteStore::connect(&url).await.unwrap();
    reopened.migrate().await.unwrap();
    assert_eq!(reopened.applied_migrations().await.unwrap(), expected);
    let key = session("up").key;
    assert_eq!(
        reopened.relay_session_get(&key).await.unwrap(),
        Some(session("up"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migrations_of_one_file_take_turns() {
    // Several rounds of several processes' worth of stores racing on a fresh file each time.
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let url = file_url(dir.path(), "portcullis.db");
        let mut stores = Vec::new();
        for _ in 0..6 {
            stores.push(SqliteStore::connect(&url).await.unwrap());
        }
        let tasks: Vec<_> = stores
            .iter()
            .cloned()
            .map(|store| tokio::spawn(async move { store.migrate().await }))
            .collect();
        for task in tasks {
            task.await
                .unwrap()
                .unwrap_or_else(|err| panic!("round {round}: {err}"));
        }
        assert_eq!(
            stores[0].applied_migrations().await.unwrap(),
            migrations::MIGRATIONS
                .iter()
                .map(|m| m.0)
                .collect::<Vec<i64>>()
        );
    }
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_binary_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = migrated_file_store(dir.path()).await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (999999, 'from the future', TRUE, x'00', 0)",
    )
    .execute(&store.pool)
    .await
    .unwrap();
    let err = store.migrate().await.unwrap_err();
    assert!(matches!(err, StoreError::Migration(_)), "{err:?}");
}

#[tokio::test]
async fn embedded_migrations_match_the_directory() {
    // What `sqlx migrate` / `sqlx::migrate!` would read from the directory.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let from_dir = Migrator::new(dir.as_path()).await.unwrap();
    let embedded = migrations::migrator();
    let describe = |m: &Migrator| -> Vec<(i64, String, Vec<u8>)> {
        m.iter()
            .map(|m| (m.version, m.description.to_string(), m.checksum.to_vec()))
            .collect()
    };
    assert_eq!(describe(&embedded), describe(&from_dir));
}

#[tokio::test]
async fn a_writer_waits_for_the_lock_instead_of_failing() {
    let dir = tempfile::tempdir().unwrap();
    let store = migrated_file_store(dir.path()).await;

    // Another process holds the write lock for a while.
    let mut other = SqliteConnection::connect(&file_url(dir.path(), "nested/dirs/portcullis.db"))
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    let release = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    };
    let row = session("up");
    let (inserted, ()) = tokio::join!(store.relay_session_insert(&row), release);
    inserted.unwrap();
}

#[tokio::test]
async fn writers_of_one_process_take_turns_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = migrated_file_store(dir.path()).await;
    let first = store.begin_write().await.unwrap();
    // The second writer waits for its turn (not in SQLite's busy handler) ...
    let second = store.begin_write();
    tokio::pin!(second);
    assert!(
        tokio::time::timeout(Duration::from_millis(100), &mut second)
            .await
            .is_err(),
        "a second write transaction began while the first was open"
    );
    // ... gets it as soon as the first commits (a dropped one passes it on too) ...
    first.commit().await.unwrap();
    let second = tokio::time::timeout(Duration::from_secs(1), second)
        .await
        .expect("the turn passes on at commit")
        .unwrap();
    drop(second);
    // ... and many concurrent writes all go through, one at a time.
    let writes: Vec<_> = (0..64u8)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut row = session(&format!("up-{n}"));
                row.key.id_hash = [n; 32];
                store.relay_session_insert(&row).await
            })
        })
        .collect();
    for write in writes {
        write.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn bad_urls_are_config_errors() {
    for url in ["postgres://localhost/db", "sqlite://", "sqlite:", "file.db"] {
        let err = SqliteStore::connect(url).await.unwrap_err();
        assert!(matches!(err, StoreError::Config(_)), "{url}: {err:?}");
    }
}

#[tokio::test]
async fn a_closed_store_is_unavailable() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    store.close().await;
    let err = store.ping().await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[test]
fn cut_offs_round_up_and_stored_values_round_down() {
    let at = OffsetDateTime::from_unix_timestamp_nanos(-1_500).unwrap();
    assert_eq!(to_micros(at).unwrap(), -2);
    assert_eq!(to_micros_ceil(at).unwrap(), -1);
    let exact = OffsetDateTime::from_unix_timestamp_nanos(3_000).unwrap();
    assert_eq!(to_micros(exact).unwrap(), 3);
    assert_eq!(to_micros_ceil(exact).unwrap(), 3);
}

#[test]
fn database_files_are_found_as_connect_would_open_them() {
    for (url, file) in [
        (
            "sqlite://portcullis-data/portcullis.db",
            Some("portcullis-data/portcullis.db"),
        ),
        ("sqlite:///srv/p.db", Some("/srv/p.db")),
        ("sqlite:p.db?mode=rwc", Some("p.db")),
        ("sqlite::memory:", None),
        ("sqlite://shared?mode=memory&cache=shared", None),
    ] {
        assert_eq!(
            database_file(url).unwrap(),
            file.map(PathBuf::from),
            "{url}"
        );
    }
    assert!(matches!(
        database_file("postgres://x/y"),
        Err(StoreError::Config(_))
    ));
}

#[tokio::test]
async fn the_audit_log_refuses_updates_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let store = migrated_file_store(dir.path()).await;
    conformance::audit::the_log_survives_refused_tampering(&store, |sql| {
        let pool = store.pool.clone();
        async move {
            sqlx::query(sql)
                .execute(&pool)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
    .await;
}

/// Two stores on one file stand for two processes (each has its own turn to write).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_appending_at_once_keep_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let first = migrated_file_store(dir.path()).await;
    let second = SqliteStore::connect(&file_url(dir.path(), "nested/dirs/portcullis.db"))
        .await
        .unwrap();
    conformance::audit::two_writers_keep_one_chain(Arc::new(first), Arc::new(second)).await;
}
