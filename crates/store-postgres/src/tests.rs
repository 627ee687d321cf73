//! Tests of the PostgreSQL store.
//!
//! The ones that need a server run when `PORTCULLIS_TEST_POSTGRES_URL` names a database (for
//! example `postgres://postgres@127.0.0.1:5432/test`); without it they print that they were skipped
//! and pass, except under `CI`, where a missing URL fails them. Each test that migrates works in a
//! schema of its own (via the connection's `search_path`), dropped at the end, so tests can run in
//! parallel and repeatedly against one database; one test also runs the suite in the URL's default
//! schema, as a long-lived deployment would see it.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portcullis_store::conformance::{self, Scope};
use portcullis_store::{Store, StoreError};
use sqlx::migrate::Migrator;
use time::OffsetDateTime;

use super::*;

const URL_VARIABLE: &str = "PORTCULLIS_TEST_POSTGRES_URL";

/// The test database's URL, or `None` (after saying so) when the tests should be skipped.
fn database_url(test: &str) -> Option<String> {
    match std::env::var(URL_VARIABLE) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{test}: CI is set but {URL_VARIABLE} is not; PostgreSQL tests must not be \
                 skipped in CI"
            );
            // Straight to the stderr handle: libtest captures `println!`/`eprintln!` of passing
            // tests, and a skip should be visible.
            let _ = writeln!(
                std::io::stderr(),
                "{test}: skipped, set {URL_VARIABLE} to run it against PostgreSQL"
            );
            None
        }
    }
}

fn nonce() -> u128 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    nanos ^ (u128::from(COUNTER.fetch_add(1, Ordering::Relaxed)) << 96)
}

/// A schema of its own inside the test database, dropped by [`TestSchema::drop`].
struct TestSchema {
    admin: PgPool,
    name: String,
    /// The test database's URL with `search_path` set to this schema.
    url: String,
}

impl TestSchema {
    async fn create(base_url: &str) -> Self {
        let admin = PgPool::connect(base_url).await.unwrap();
        let name = format!("portcullis_test_{}_{:x}", std::process::id(), nonce());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&admin)
            .await
            .unwrap();
        let separator = if base_url.contains('?') { '&' } else { '?' };
        let url = format!("{base_url}{separator}options=-c%20search_path%3D{name}");
        Self { admin, name, url }
    }

    async fn store(&self) -> PostgresStore {
        PostgresStore::connect(&self.url).await.unwrap()
    }

    async fn drop(self) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA {} CASCADE",
            self.name
        )))
        .execute(&self.admin)
        .await
        .unwrap();
        self.admin.close().await;
    }
}

#[tokio::test]
async fn conformance_in_a_fresh_schema() {
    let Some(url) = database_url("conformance_in_a_fresh_schema") else {
        return;
    };
    let schema = TestSchema::create(&url).await;
    let store = schema.store().await;
    assert_eq!(store.applied_migrations().await.unwrap(), Vec::<i64>::new());
    store.migrate().await.unwrap();
    conformance::run_all(&store).await;
    conformance::run_all_in(&store, &Scope::new(nonce())).await;
    store.close().await;
    schema.drop().await;
}

#[tokio::test]
async fn conformance_in_the_default_schema() {
    let Some(url) = database_url("conformance_in_the_default_schema") else {
        return;
    };
    let store = PostgresStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    conformance::run_all_in(&store, &Scope::new(nonce())).await;
}

#[tokio::test]
async fn committed_changes_are_announced_and_notified() {
    let Some(url) = database_url("committed_changes_are_announced_and_notified") else {
        return;
    };
    let schema = TestSchema::create(&url).await;
    let recorder = Arc::new(conformance::changes::Recorder::default());
    let writer = schema.store().await.with_announcer(recorder.clone());
    writer.migrate().await.unwrap();
    // Another process's view of the same database: it hears the writer's commits.
    let listener = schema.store().await;
    let signals = Arc::new(ChangeSignals::default());
    assert!(listener.listen_changes(signals.clone()).await.unwrap());
    let scope = Scope::new(nonce());
    let heard = |change: Change| {
        let signals = signals.clone();
        async move {
            tokio::time::timeout(Duration::from_secs(5), signals.woken(change))
                .await
                .unwrap_or_else(|_| panic!("no {change:?} notification within 5 s"));
        }
    };
    // Role and grant writes notify from the trigger, revocations from their statements.
    writer
        .role_grant_insert(&portcullis_store::StoredRoleGrant {
            id: scope.name("notified-grant"),
            grantee_kind: portcullis_store::GranteeKind::User,
            grantee: scope.name("alice"),
            role: "viewer".to_owned(),
            scope_kind: portcullis_store::GrantScopeKind::All,
            scope: String::new(),
            created_at: OffsetDateTime::now_utc(),
        })
        .await
        .unwrap();
    heard(Change::Authorization).await;
    writer
        .access_token_revoke(&RevokedAccessToken {
            jti: scope.name("notified-jti"),
            expires_at: OffsetDateTime::now_utc() + time::Duration::minutes(5),
            revoked_at: OffsetDateTime::now_utc(),
        })
        .await
        .unwrap();
    heard(Change::Revocation).await;
    conformance::changes::changes_are_announced_after_commit(&writer, &scope, &recorder).await;
    heard(Change::Authorization).await;
    heard(Change::Revocation).await;
    writer.close().await;
    listener.close().await;
    schema.drop().await;
}

#[tokio::test]
async fn migrate_is_idempotent() {
    let Some(url) = database_url("migrate_is_idempotent") else {
        return;
    };
    let schema = TestSchema::create(&url).await;
    let store = schema.store().await;
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    let expected: Vec<i64> = migrations::MIGRATIONS.iter().map(|m| m.0).collect();
    assert_eq!(store.applied_migrations().await.unwrap(), expected);
    store.close().await;
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migrations_take_turns() {
    let Some(url) = database_url("concurrent_migrations_take_turns") else {
        return;
    };
    let schema = TestSchema::create(&url).await;
    let mut stores = Vec::new();
    for _ in 0..6 {
        stores.push(schema.store().await);
    }
    let tasks: Vec<_> = stores
        .iter()
        .cloned()
        .map(|store| tokio::spawn(async move { store.migrate().await }))
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(
        stores[0].applied_migrations().await.unwrap(),
        migrations::MIGRATIONS
            .iter()
            .map(|m| m.0)
            .collect::<Vec<i64>>()
    );
    for store in stores {
        store.close().await;
    }
    schema.drop().await;
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_binary_is_refused_without_keeping_the_lock() {
    let Some(url) = database_url("a_database_migrated_by_a_newer_binary_is_refused") else {
        return;
    };
    let schema = TestSchema::create(&url).await;
    let store = schema.store().await;
    store.migrate().await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (999999, 'from the future', TRUE, '\\x00', 0)",
    )
    .execute(&store.pool)
    .await
    .unwrap();
    let err = store.migrate().await.unwrap_err();
    assert!(matches!(err, StoreError::Migration(_)), "{err:?}");

    // sqlx leaves its advisory lock held when a run fails; the failed run's connection must have
    // been closed rather than pooled, or this second migrator (another session) would wait forever.
    let other = schema.store().await;
    let second = tokio::time::timeout(Duration::from_secs(10), other.migrate())
        .await
        .expect("the advisory lock of the failed run was released");
    assert!(
        matches!(second, Err(StoreError::Migration(_))),
        "{second:?}"
    );
    store.close().await;
    other.close().await;
    schema.drop().await;
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
async fn bad_urls_are_config_errors() {
    for url in [
        "sqlite://portcullis.db",
        "mysql://localhost/db",
        "postgres://user:secret@localhost:notaport/db",
    ] {
        let err = PostgresStore::connect(url).await.unwrap_err();
        assert!(matches!(err, StoreError::Config(_)), "{url}: {err:?}");
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    // Port 1 on loopback refuses connections.
    let err = PostgresStore::connect("postgres://user:secret@127.0.0.1:1/db")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(!err.to_string().contains("secret"), "{err}");
}

#[test]
fn purge_cut_offs_round_up_to_the_microsecond() {
    let at = OffsetDateTime::from_unix_timestamp_nanos(1_000_000_000_000_001_500).unwrap();
    assert_eq!(
        ceil_to_micros(at).unix_timestamp_nanos(),
        1_000_000_000_000_002_000
    );
    let exact = OffsetDateTime::from_unix_timestamp_nanos(1_000_000_000_000_002_000).unwrap();
    assert_eq!(ceil_to_micros(exact), exact);
}

#[tokio::test]
async fn debug_output_does_not_show_the_password() {
    let Some(url) = database_url("debug_output_does_not_show_the_password") else {
        return;
    };
    let (scheme, rest) = url.split_once("://").expect("the test URL is a URL");
    let (userinfo, host) = rest.split_once('@').unwrap_or(("postgres", rest));
    // Keep a password the URL already has; otherwise add one, which trust authentication ignores.
    let (user, password) = userinfo
        .split_once(':')
        .unwrap_or((userinfo, "hunter2-portcullis"));
    let store = PostgresStore::connect(&format!("{scheme}://{user}:{password}@{host}"))
        .await
        .unwrap();
    assert!(!format!("{store:?}").contains(password));
    store.close().await;
}

#[tokio::test]
async fn the_audit_log_refuses_updates_and_deletes() {
    let Some(url) = database_url("the_audit_log_refuses_updates_and_deletes") else {
        return;
    };
    let schema = TestSchema::create(&url).await;
    let store = schema.store().await;
    store.migrate().await.unwrap();
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
    let truncate = sqlx::query("TRUNCATE audit_log")
        .execute(&store.pool)
        .await
        .unwrap_err();
    assert!(truncate.to_string().contains("append-only"), "{truncate}");
    store.close().await;
    schema.drop().await;
}

/// Two stores (two pools, as two replicas have) appending at once: the advisory lock makes them
/// take turns.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_appending_at_once_keep_one_chain() {
    let Some(url) = database_url("two_replicas_appending_at_once_keep_one_chain") else {
        return;
    };
    let schema = TestSchema::create(&url).await;
    let first = schema.store().await;
    first.migrate().await.unwrap();
    let second = schema.store().await;
    conformance::audit::two_writers_keep_one_chain(
        std::sync::Arc::new(first.clone()),
        std::sync::Arc::new(second.clone()),
    )
    .await;
    first.close().await;
    second.close().await;
    schema.drop().await;
}
