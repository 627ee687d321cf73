//! The conformance suite every `Store` backend runs: one `pub async fn` per behaviour, and
//! [`run_all`] to call them all.
//!
//! The checks panic (through `assert!`) on the first deviation, so a backend's test is just
//! `conformance::run_all(&store).await`. They are written to run repeatedly against one long-lived
//! database and in parallel with each other: every row lives under upstream names, key ids, subjects
//! and secret hashes that carry a per-run [`Scope`] (process id, a process-wide counter and a random
//! or caller-supplied nonce), each check deletes what it created (API keys cannot be deleted, only
//! revoked: their checks revoke what they created and leave those rows behind; signing keys can only
//! be deleted by a purge: their checks retire what they created at [`SIGNING_KEY_CLEANUP`] and purge
//! up to just after it), and the checks that delete by time ([`purge_deletes_exactly_the_idle`],
//! [`signing_keys_purge_deletes_exactly_the_retired_before`] and those clean-ups) work in a time
//! range (before [`PURGE_EPOCH`]) that no other check writes, holding a process-wide lock while they
//! do. Two *processes* running the purge checks against one database at the same instant can still
//! disturb each other's counts; backends that share a database between test processes should give
//! each run its own schema.
//!
//! All timestamps here have microsecond precision, the finest the SQL backends are required to keep.
#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test-support code: failing loudly with the store's error is its whole job"
)]

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};

use time::{Duration, OffsetDateTime, UtcOffset};

mod account_security;
pub mod audit;
mod authorization;
mod authorization_model;
pub mod changes;
pub mod clients;
mod federation;
mod webauthn;

use crate::{ApiKey, ApiKeyKind, RelaySession, SessionKey, SigningKey, Store, StoreError};

pub mod accounts;

/// Every check's time range starts at or after this instant, except the purge check's, which lies
/// entirely before it: 1950-01-01T00:00:00Z.
pub const PURGE_EPOCH_UNIX: i64 = -631_152_000;

/// [`PURGE_EPOCH_UNIX`] as a timestamp.
pub const PURGE_EPOCH: OffsetDateTime = match OffsetDateTime::from_unix_timestamp(PURGE_EPOCH_UNIX)
{
    Ok(at) => at,
    Err(_) => OffsetDateTime::UNIX_EPOCH,
};

/// Where signing-key checks retire the rows they created so that a purge up to just after it deletes
/// them: 1940-01-01T00:00:00Z, far below the purge check's range.
pub const SIGNING_KEY_CLEANUP: OffsetDateTime =
    match OffsetDateTime::from_unix_timestamp(-946_771_200) {
        Ok(at) => at,
        Err(_) => OffsetDateTime::UNIX_EPOCH,
    };

/// The base time of the ordinary checks, with a non-zero microsecond part:
/// 2026-05-05T16:53:20.123456Z.
const BASE_UNIX_MICROS: i64 = 1_778_000_000_123_456;

/// Serialises purge checks within one process, since a purge deletes across all upstreams.
static PURGE_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Counts scopes handed out in this process, so two scopes never share a prefix.
static SCOPES: AtomicU64 = AtomicU64::new(0);

/// The namespace of one run of the suite: every upstream name it writes starts with its prefix.
#[derive(Debug, Clone)]
pub struct Scope {
    prefix: String,
    /// The first 31 bytes of every secret hash made in this scope.
    hash_base: [u8; 31],
}

impl Scope {
    /// A scope from the process id, a process-wide counter and `nonce` (for example the current time
    /// in nanoseconds, read by the calling test).
    pub fn new(nonce: u128) -> Self {
        let counter = SCOPES.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // Unique per scope as the prefix is, with a zero and a 0xff byte so that backends storing
        // hashes as text or trimming them fail.
        let mut hash_base = [0u8; 31];
        let parts = nonce
            .to_le_bytes()
            .into_iter()
            .chain(counter.to_le_bytes())
            .chain(pid.to_le_bytes())
            .chain([0x00, 0xff, 0x7f]);
        for (byte, part) in hash_base.iter_mut().zip(parts) {
            *byte = part;
        }
        Self {
            prefix: format!("conformance-{pid}-{counter}-{nonce:x}"),
            hash_base,
        }
    }

    /// A scope with a random nonce (from the standard library's randomly keyed hasher, so the
    /// suite reads neither the clock nor a global RNG).
    pub fn fresh() -> Self {
        let counter = SCOPES.load(Ordering::Relaxed);
        let random = RandomState::new().hash_one((std::process::id(), counter));
        Self::new(u128::from(random))
    }

    /// The upstream name `name` within this scope.
    pub fn upstream(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    /// The API key id, subject or client id `name` within this scope.
    pub fn name(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    /// A secret hash unique to this scope and `seed`.
    pub fn secret_hash(&self, seed: u8) -> [u8; 32] {
        let mut hash = [seed; 32];
        for (byte, base) in hash.iter_mut().zip(self.hash_base) {
            *byte = base;
        }
        hash
    }

    /// The key of session `seed` at upstream `name` within this scope.
    pub fn key(&self, name: &str, seed: u8) -> SessionKey {
        SessionKey {
            upstream: self.upstream(name),
            id_hash: id_hash(seed),
        }
    }
}

/// A 32-byte hash that differs for every seed and, across seeds, uses every byte value including
/// 0x00 and 0xff, so that backends storing it as text or trimming zero bytes fail.
fn id_hash(seed: u8) -> [u8; 32] {
    let mut hash = [0u8; 32];
    for (byte, i) in hash.iter_mut().zip(0u8..) {
        *byte = seed.wrapping_mul(37).wrapping_add(i.wrapping_mul(8));
    }
    hash
}

/// The instant `micros` microseconds after the Unix epoch.
fn at_micros(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .expect("conformance timestamps are in range")
}

/// The base time of the ordinary checks plus `micros`.
fn base_plus(micros: i64) -> OffsetDateTime {
    at_micros(BASE_UNIX_MICROS + micros)
}

fn offset(hours: i8, minutes: i8) -> UtcOffset {
    UtcOffset::from_hms(hours, minutes, 0).expect("valid offset")
}

fn session(key: SessionKey, created_at: OffsetDateTime) -> RelaySession {
    RelaySession {
        key,
        protocol_version: Some("2025-11-25".to_owned()),
        principal: Some("user:alice".to_owned()),
        created_at,
        last_seen_at: created_at,
    }
}

async fn insert(store: &dyn Store, session: &RelaySession) {
    store
        .relay_session_insert(session)
        .await
        .unwrap_or_else(|err| panic!("{}: insert {:?}: {err}", store.backend(), session.key));
}

async fn get(store: &dyn Store, key: &SessionKey) -> Option<RelaySession> {
    store
        .relay_session_get(key)
        .await
        .unwrap_or_else(|err| panic!("{}: get {key:?}: {err}", store.backend()))
}

async fn touch(store: &dyn Store, key: &SessionKey, now: OffsetDateTime) -> bool {
    store
        .relay_session_touch(key, now)
        .await
        .unwrap_or_else(|err| panic!("{}: touch {key:?}: {err}", store.backend()))
}

async fn delete(store: &dyn Store, key: &SessionKey) -> bool {
    store
        .relay_session_delete(key)
        .await
        .unwrap_or_else(|err| panic!("{}: delete {key:?}: {err}", store.backend()))
}

async fn purge(store: &dyn Store, idle_before: OffsetDateTime) -> u64 {
    store
        .relay_sessions_purge(idle_before)
        .await
        .unwrap_or_else(|err| panic!("{}: purge before {idle_before}: {err}", store.backend()))
}

/// Deletes whatever a check left behind; missing rows are fine.
async fn cleanup(store: &dyn Store, keys: &[&SessionKey]) {
    for key in keys {
        delete(store, key).await;
    }
}

/// Asserts that exactly one of several concurrent inserts of one row succeeded and every other
/// failed with `Conflict`.
fn assert_one_winner(store: &dyn Store, results: &[Result<(), StoreError>]) {
    let winners = results.iter().filter(|result| result.is_ok()).count();
    let conflicts = results
        .iter()
        .filter(|result| matches!(result, Err(StoreError::Conflict(_))))
        .count();
    assert_eq!(
        (winners, conflicts),
        (1, results.len() - 1),
        "{}: concurrent inserts gave {results:?}",
        store.backend()
    );
}

/// Runs every check in a fresh [`Scope`].
pub async fn run_all(store: &dyn Store) {
    run_all_in(store, &Scope::fresh()).await;
}

/// Runs every check in `scope`.
pub async fn run_all_in(store: &dyn Store, scope: &Scope) {
    ping_works(store).await;
    applied_migrations_are_ascending(store).await;
    insert_then_get_returns_equal_rows(store, scope).await;
    duplicate_insert_conflicts(store, scope).await;
    concurrent_duplicate_inserts_let_exactly_one_win(store, scope).await;
    sessions_are_scoped_by_upstream(store, scope).await;
    touch_updates_last_seen_at(store, scope).await;
    delete_returns_true_then_false(store, scope).await;
    purge_deletes_exactly_the_idle(store, scope).await;
    timestamps_round_trip_to_the_microsecond(store, scope).await;
    optional_fields_round_trip(store, scope).await;
    api_key_insert_then_lookups_return_equal_rows(store, scope).await;
    api_key_duplicates_conflict(store, scope).await;
    api_key_concurrent_duplicate_inserts_let_exactly_one_win(store, scope).await;
    api_key_list_filters_by_subject_oldest_first(store, scope).await;
    api_key_touch_moves_last_used_at_forward_only(store, scope).await;
    api_key_revoke_is_idempotent(store, scope).await;
    api_key_expired_and_revoked_rows_are_still_returned(store, scope).await;
    api_keys_revoked_since_lists_exactly_the_later_revocations(store, scope).await;
    authorization::run_all_in(store, scope).await;
    signing_key_insert_then_list_returns_equal_rows(store, scope).await;
    signing_key_duplicates_conflict(store, scope).await;
    signing_key_concurrent_duplicate_inserts_let_exactly_one_win(store, scope).await;
    signing_key_list_is_oldest_first(store, scope).await;
    signing_key_retire_only_brings_retirement_forward(store, scope).await;
    signing_keys_purge_deletes_exactly_the_retired_before(store, scope).await;
    accounts::run_all_in(store, scope).await;
    account_security::run_all_in(store, scope).await;
    federation::run_all_in(store, scope).await;
    authorization_model::run_all_in(store, scope).await;
    webauthn::run_all_in(store, scope).await;
    clients::run_all_in(store, scope).await;
    audit::run_all_in(store, scope).await;
}

/// `ping` succeeds on a working store.
pub async fn ping_works(store: &dyn Store) {
    store
        .ping()
        .await
        .unwrap_or_else(|err| panic!("{}: ping: {err}", store.backend()));
}

/// `applied_migrations` is strictly ascending, and non-empty for every backend but `memory`.
pub async fn applied_migrations_are_ascending(store: &dyn Store) {
    let applied = store
        .applied_migrations()
        .await
        .unwrap_or_else(|err| panic!("{}: applied_migrations: {err}", store.backend()));
    if store.backend() != "memory" {
        assert!(
            !applied.is_empty(),
            "{}: no migrations applied; was the store migrated?",
            store.backend()
        );
    }
    assert!(
        applied.windows(2).all(|pair| pair.first() < pair.last()),
        "{}: applied migrations not strictly ascending: {applied:?}",
        store.backend()
    );
}

/// A session reads back exactly as written, and an unknown key reads as `None`.
pub async fn insert_then_get_returns_equal_rows(store: &dyn Store, scope: &Scope) {
    let key = scope.key("insert-get-it's-ünïcode", 1);
    let unknown = scope.key("insert-get-it's-ünïcode", 2);
    let mut written = session(key.clone(), base_plus(0));
    written.last_seen_at = base_plus(1_500_000);

    assert_eq!(
        get(store, &key).await,
        None,
        "{}: row before insert",
        store.backend()
    );
    insert(store, &written).await;
    assert_eq!(
        get(store, &key).await,
        Some(written),
        "{}: row after insert",
        store.backend()
    );
    assert_eq!(
        get(store, &unknown).await,
        None,
        "{}: unknown key",
        store.backend()
    );

    cleanup(store, &[&key]).await;
}

/// Inserting an existing key fails with `Conflict` and leaves the first row untouched.
pub async fn duplicate_insert_conflicts(store: &dyn Store, scope: &Scope) {
    let key = scope.key("duplicate", 3);
    let first = session(key.clone(), base_plus(0));
    insert(store, &first).await;

    let second = RelaySession {
        principal: Some("user:mallory".to_owned()),
        protocol_version: None,
        ..session(key.clone(), base_plus(5_000_000))
    };
    let result = store.relay_session_insert(&second).await;
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "{}: duplicate insert gave {result:?}, expected Conflict",
        store.backend()
    );
    assert_eq!(
        get(store, &key).await,
        Some(first),
        "{}: row after conflict",
        store.backend()
    );

    cleanup(store, &[&key]).await;
}

/// Of several concurrent inserts of one key, exactly one succeeds and the rest get `Conflict`.
pub async fn concurrent_duplicate_inserts_let_exactly_one_win(store: &dyn Store, scope: &Scope) {
    let key = scope.key("concurrent", 4);
    let rows: Vec<RelaySession> = (0..4)
        .map(|i| RelaySession {
            principal: Some(format!("user:{i}")),
            ..session(key.clone(), base_plus(i))
        })
        .collect();
    let [a, b, c, d] = rows.as_slice() else {
        unreachable!("four rows were built");
    };
    let results = tokio::join!(
        store.relay_session_insert(a),
        store.relay_session_insert(b),
        store.relay_session_insert(c),
        store.relay_session_insert(d),
    );
    assert_one_winner(store, &[results.0, results.1, results.2, results.3]);
    let stored = get(store, &key).await.expect("the winner's row is stored");
    assert!(
        rows.contains(&stored),
        "{}: stored row {stored:?} was never written",
        store.backend()
    );

    cleanup(store, &[&key]).await;
}

/// A session id hash is only found under the upstream it was created for.
pub async fn sessions_are_scoped_by_upstream(store: &dyn Store, scope: &Scope) {
    let at_a = scope.key("scoped-a", 5);
    let at_b = SessionKey {
        upstream: scope.upstream("scoped-b"),
        ..at_a.clone()
    };
    let mut other_hash = at_a.clone();
    if let Some(last) = other_hash.id_hash.last_mut() {
        *last ^= 1;
    }
    let row_a = session(at_a.clone(), base_plus(0));

    insert(store, &row_a).await;
    assert_eq!(
        get(store, &at_b).await,
        None,
        "{}: other upstream",
        store.backend()
    );
    assert_eq!(
        get(store, &other_hash).await,
        None,
        "{}: other hash",
        store.backend()
    );
    assert!(
        !touch(store, &at_b, base_plus(1)).await,
        "{}: touch other upstream",
        store.backend()
    );
    assert!(
        !delete(store, &at_b).await,
        "{}: delete other upstream",
        store.backend()
    );

    // The same hash may exist independently at another upstream.
    let row_b = RelaySession {
        principal: None,
        ..session(at_b.clone(), base_plus(2))
    };
    insert(store, &row_b).await;
    assert!(
        delete(store, &at_a).await,
        "{}: delete at a",
        store.backend()
    );
    assert_eq!(
        get(store, &at_b).await,
        Some(row_b),
        "{}: b after deleting a",
        store.backend()
    );

    cleanup(store, &[&at_a, &at_b]).await;
}

/// `touch` moves `last_seen_at` (and nothing else) and reports unknown sessions as `false`.
pub async fn touch_updates_last_seen_at(store: &dyn Store, scope: &Scope) {
    let key = scope.key("touch", 6);
    let unknown = scope.key("touch", 7);
    let row = session(key.clone(), base_plus(0));
    insert(store, &row).await;

    let later = base_plus(90_000_001).to_offset(offset(-7, 0));
    assert!(
        touch(store, &key, later).await,
        "{}: touch known",
        store.backend()
    );
    let expected = RelaySession {
        last_seen_at: later,
        ..row
    };
    assert_eq!(
        get(store, &key).await,
        Some(expected),
        "{}: row after touch",
        store.backend()
    );

    assert!(
        !touch(store, &unknown, later).await,
        "{}: touch unknown",
        store.backend()
    );
    assert_eq!(
        get(store, &unknown).await,
        None,
        "{}: touch must not create",
        store.backend()
    );

    cleanup(store, &[&key]).await;
}

/// `delete` reports `true` for an existing session, then `false`.
pub async fn delete_returns_true_then_false(store: &dyn Store, scope: &Scope) {
    let key = scope.key("delete", 8);
    insert(store, &session(key.clone(), base_plus(0))).await;

    assert!(
        delete(store, &key).await,
        "{}: first delete",
        store.backend()
    );
    assert_eq!(
        get(store, &key).await,
        None,
        "{}: row after delete",
        store.backend()
    );
    assert!(
        !delete(store, &key).await,
        "{}: second delete",
        store.backend()
    );
}

/// `purge` deletes exactly the sessions last seen strictly before the cut-off, judged by instant
/// (not by how the offset makes the time look), and returns how many it deleted.
pub async fn purge_deletes_exactly_the_idle(store: &dyn Store, scope: &Scope) {
    let _serialised = PURGE_LOCK.lock().await;
    // The cut-off lies a day before the epoch so the rows here stay below PURGE_EPOCH.
    let cutoff = PURGE_EPOCH - Duration::DAY;
    // Clear leftovers of an earlier run that failed half-way.
    purge(store, cutoff).await;

    let micro = Duration::microseconds(1);
    let created = cutoff - Duration::days(30);
    let idle = [
        // Just before the cut-off.
        (scope.key("purge-a", 10), cutoff - micro),
        // Long idle, at another upstream.
        (scope.key("purge-b", 11), cutoff - Duration::days(7)),
        // Before the cut-off as an instant, though its local time reads later.
        (
            scope.key("purge-a", 12),
            (cutoff - micro).to_offset(offset(14, 0)),
        ),
    ];
    let kept = [
        // Exactly at the cut-off: not *before* it.
        (scope.key("purge-a", 13), cutoff),
        (scope.key("purge-b", 14), cutoff + micro),
        // After the cut-off as an instant, though its local time reads earlier.
        (
            scope.key("purge-b", 15),
            (cutoff + micro).to_offset(offset(-12, 0)),
        ),
    ];
    for (key, last_seen_at) in idle.iter().chain(&kept) {
        let row = RelaySession {
            last_seen_at: *last_seen_at,
            ..session(key.clone(), created)
        };
        insert(store, &row).await;
    }

    assert_eq!(
        purge(store, cutoff).await,
        3,
        "{}: purged count",
        store.backend()
    );
    for (key, _) in &idle {
        assert_eq!(
            get(store, key).await,
            None,
            "{}: idle {key:?} survived",
            store.backend()
        );
    }
    for (key, last_seen_at) in &kept {
        let row = get(store, key).await;
        assert_eq!(
            row.map(|row| row.last_seen_at),
            Some(*last_seen_at),
            "{}: kept {key:?}",
            store.backend()
        );
    }
    assert_eq!(
        purge(store, cutoff).await,
        0,
        "{}: second purge",
        store.backend()
    );

    let kept_keys: Vec<&SessionKey> = kept.iter().map(|(key, _)| key).collect();
    cleanup(store, &kept_keys).await;
}

/// Timestamps come back as the same instant, to the microsecond, whatever their offset.
pub async fn timestamps_round_trip_to_the_microsecond(store: &dyn Store, scope: &Scope) {
    let cases = [
        (base_plus(1), base_plus(999_999)),
        // Non-UTC offsets on both columns.
        (
            base_plus(123_457).to_offset(offset(5, 30)),
            base_plus(2_000_001).to_offset(offset(-9, -30)),
        ),
        // Before the Unix epoch, and the largest microsecond of a second.
        (
            at_micros(-14_182_939_876_544),
            at_micros(-14_182_939_000_001),
        ),
        // The last microsecond `time` can represent by default.
        (
            at_micros(253_402_300_799_999_999),
            at_micros(253_402_300_799_999_999),
        ),
    ];
    let mut keys = Vec::new();
    for ((created_at, last_seen_at), seed) in cases.into_iter().zip(20u8..) {
        let key = scope.key("timestamps", seed);
        let row = RelaySession {
            last_seen_at,
            ..session(key.clone(), created_at)
        };
        insert(store, &row).await;
        let read = get(store, &key).await.expect("row was inserted");
        assert_eq!(
            (read.created_at, read.last_seen_at),
            (created_at, last_seen_at),
            "{}: timestamps changed on the way through",
            store.backend()
        );
        keys.push(key);
    }

    // Through touch, too.
    let key = scope.key("timestamps", 30);
    insert(store, &session(key.clone(), base_plus(0))).await;
    let touched = base_plus(7_654_321).to_offset(offset(1, 0));
    assert!(
        touch(store, &key, touched).await,
        "{}: touch",
        store.backend()
    );
    let read = get(store, &key).await.expect("row was inserted");
    assert_eq!(
        read.last_seen_at,
        touched,
        "{}: touched timestamp",
        store.backend()
    );
    keys.push(key);

    let keys: Vec<&SessionKey> = keys.iter().collect();
    cleanup(store, &keys).await;
}

/// `principal` and `protocol_version` round-trip as `None` and as `Some`, including `Some("")`.
pub async fn optional_fields_round_trip(store: &dyn Store, scope: &Scope) {
    let cases = [
        (None, None),
        (Some("user:bob"), None),
        (None, Some("2025-03-26")),
        (Some("tenant:ü/user:ß"), Some("2026-07-28")),
        (Some(""), Some("")),
    ];
    let mut keys = Vec::new();
    for ((principal, protocol_version), seed) in cases.into_iter().zip(40u8..) {
        let key = scope.key("optional", seed);
        let row = RelaySession {
            principal: principal.map(str::to_owned),
            protocol_version: protocol_version.map(str::to_owned),
            ..session(key.clone(), base_plus(i64::from(seed)))
        };
        insert(store, &row).await;
        assert_eq!(
            get(store, &key).await,
            Some(row),
            "{}: optional fields",
            store.backend()
        );
        keys.push(key);
    }

    let keys: Vec<&SessionKey> = keys.iter().collect();
    cleanup(store, &keys).await;
}

fn api_key(scope: &Scope, id: &str, seed: u8, created_at: OffsetDateTime) -> ApiKey {
    ApiKey {
        id: scope.name(id),
        secret_hash: scope.secret_hash(seed),
        subject: scope.name("alice"),
        name: "laptop".to_owned(),
        kind: ApiKeyKind::ApiKey,
        scopes: "mcp:tools files:read".to_owned(),
        created_at,
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
    }
}

fn service_token(scope: &Scope, id: &str, seed: u8, created_at: OffsetDateTime) -> ApiKey {
    ApiKey {
        kind: ApiKeyKind::ServiceToken {
            client_id: scope.name(&format!("{id}-client")),
        },
        name: "ci".to_owned(),
        scopes: String::new(),
        ..api_key(scope, id, seed, created_at)
    }
}

async fn key_insert(store: &dyn Store, key: &ApiKey) {
    store
        .api_key_insert(key)
        .await
        .unwrap_or_else(|err| panic!("{}: insert api key {key:?}: {err}", store.backend()));
}

async fn key_get(store: &dyn Store, id: &str) -> Option<ApiKey> {
    store
        .api_key_get(id)
        .await
        .unwrap_or_else(|err| panic!("{}: get api key {id}: {err}", store.backend()))
}

async fn key_by_hash(store: &dyn Store, hash: &[u8; 32]) -> Option<ApiKey> {
    store
        .api_key_by_hash(hash)
        .await
        .unwrap_or_else(|err| panic!("{}: api key by hash: {err}", store.backend()))
}

async fn key_by_client_id(store: &dyn Store, client_id: &str) -> Option<ApiKey> {
    store
        .api_key_by_client_id(client_id)
        .await
        .unwrap_or_else(|err| {
            panic!(
                "{}: api key by client id {client_id}: {err}",
                store.backend()
            )
        })
}

async fn key_list(store: &dyn Store, subject: Option<&str>) -> Vec<ApiKey> {
    store
        .api_key_list(subject)
        .await
        .unwrap_or_else(|err| panic!("{}: list api keys of {subject:?}: {err}", store.backend()))
}

async fn key_touch(store: &dyn Store, id: &str, now: OffsetDateTime) -> bool {
    store
        .api_key_touch(id, now)
        .await
        .unwrap_or_else(|err| panic!("{}: touch api key {id}: {err}", store.backend()))
}

async fn key_revoke(store: &dyn Store, id: &str, now: OffsetDateTime) -> bool {
    store
        .api_key_revoke(id, now)
        .await
        .unwrap_or_else(|err| panic!("{}: revoke api key {id}: {err}", store.backend()))
}

/// Revokes what a check created, since keys cannot be deleted.
async fn key_cleanup(store: &dyn Store, keys: &[&ApiKey]) {
    for key in keys {
        key_revoke(store, &key.id, base_plus(0)).await;
    }
}

/// An API key and a service token read back exactly as written, by id, by hash and (the service
/// token) by client id, with every optional timestamp set or unset; unknown ones read as `None`.
pub async fn api_key_insert_then_lookups_return_equal_rows(store: &dyn Store, scope: &Scope) {
    let key = ApiKey {
        name: "it's ünïcode".to_owned(),
        ..api_key(scope, "lookup-key", 1, base_plus(0))
    };
    let token = ApiKey {
        expires_at: Some(base_plus(86_400_000_001).to_offset(offset(5, 30))),
        last_used_at: Some(base_plus(1_000_001).to_offset(offset(-3, 0))),
        revoked_at: Some(base_plus(2_000_001)),
        ..service_token(
            scope,
            "lookup-token",
            2,
            base_plus(7).to_offset(offset(1, 0)),
        )
    };
    let token_client_id = token.kind.client_id().expect("a service token").to_owned();

    assert_eq!(
        key_get(store, &key.id).await,
        None,
        "{}: before insert",
        store.backend()
    );
    key_insert(store, &key).await;
    key_insert(store, &token).await;

    for row in [&key, &token] {
        assert_eq!(
            key_get(store, &row.id).await.as_ref(),
            Some(row),
            "{}: by id",
            store.backend()
        );
        assert_eq!(
            key_by_hash(store, &row.secret_hash).await.as_ref(),
            Some(row),
            "{}: by hash",
            store.backend()
        );
    }
    assert_eq!(
        key_by_client_id(store, &token_client_id).await,
        Some(token.clone()),
        "{}: by client id",
        store.backend()
    );

    assert_eq!(
        key_get(store, &scope.name("lookup-unknown")).await,
        None,
        "{}: unknown id",
        store.backend()
    );
    assert_eq!(
        key_by_hash(store, &scope.secret_hash(3)).await,
        None,
        "{}: unknown hash",
        store.backend()
    );
    assert_eq!(
        key_by_client_id(store, &scope.name("lookup-unknown-client")).await,
        None,
        "{}: unknown client id",
        store.backend()
    );
    // An API key's id is not a client id.
    assert_eq!(
        key_by_client_id(store, &key.id).await,
        None,
        "{}: api key found by client id",
        store.backend()
    );

    key_cleanup(store, &[&key, &token]).await;
}

/// A second key with the same id, secret hash or client id fails with `Conflict`, is not stored,
/// and leaves the first untouched.
pub async fn api_key_duplicates_conflict(store: &dyn Store, scope: &Scope) {
    let first_key = api_key(scope, "dup-key", 10, base_plus(0));
    let first_token = service_token(scope, "dup-token", 11, base_plus(0));
    key_insert(store, &first_key).await;
    key_insert(store, &first_token).await;

    let same_id = ApiKey {
        subject: scope.name("mallory"),
        ..api_key(scope, "dup-key", 12, base_plus(1))
    };
    let same_hash = api_key(scope, "dup-key-same-hash", 10, base_plus(1));
    let same_client_id = ApiKey {
        id: scope.name("dup-token-same-client"),
        ..service_token(scope, "dup-token", 13, base_plus(1))
    };
    for (what, row) in [
        ("id", &same_id),
        ("secret hash", &same_hash),
        ("client id", &same_client_id),
    ] {
        let result = store.api_key_insert(row).await;
        assert!(
            matches!(result, Err(StoreError::Conflict(_))),
            "{}: duplicate {what} gave {result:?}, expected Conflict",
            store.backend()
        );
    }

    assert_eq!(
        key_get(store, &first_key.id).await,
        Some(first_key.clone()),
        "{}: first key",
        store.backend()
    );
    assert_eq!(
        key_get(store, &first_token.id).await,
        Some(first_token.clone()),
        "{}: first token",
        store.backend()
    );
    for row in [&same_hash, &same_client_id] {
        assert_eq!(
            key_get(store, &row.id).await,
            None,
            "{}: loser stored",
            store.backend()
        );
    }
    assert_eq!(
        key_by_hash(store, &same_id.secret_hash).await,
        None,
        "{}: loser's hash stored",
        store.backend()
    );

    key_cleanup(store, &[&first_key, &first_token]).await;
}

/// Of several concurrent inserts of one secret hash, exactly one succeeds.
pub async fn api_key_concurrent_duplicate_inserts_let_exactly_one_win(
    store: &dyn Store,
    scope: &Scope,
) {
    let rows: Vec<ApiKey> = (0..4)
        .map(|i| api_key(scope, &format!("concurrent-{i}"), 20, base_plus(i)))
        .collect();
    let [a, b, c, d] = rows.as_slice() else {
        unreachable!("four rows were built");
    };
    let results = tokio::join!(
        store.api_key_insert(a),
        store.api_key_insert(b),
        store.api_key_insert(c),
        store.api_key_insert(d),
    );
    assert_one_winner(store, &[results.0, results.1, results.2, results.3]);
    let stored = key_by_hash(store, &scope.secret_hash(20))
        .await
        .expect("the winner's row is stored");
    assert!(
        rows.contains(&stored),
        "{}: stored row was never written",
        store.backend()
    );

    key_cleanup(store, &[&stored]).await;
}

/// `list` returns a subject's keys (and only theirs) oldest first, ties broken by id; with no
/// subject it returns everyone's in the same order.
pub async fn api_key_list_filters_by_subject_oldest_first(store: &dyn Store, scope: &Scope) {
    let alice = scope.name("list-alice");
    let bob = scope.name("list-bob");
    let owned_by = |subject: &str, row: ApiKey| ApiKey {
        subject: subject.to_owned(),
        ..row
    };
    // Inserted out of order; the instants differ though the local times say otherwise.
    let alice_late = owned_by(&alice, api_key(scope, "list-a3", 30, base_plus(3_000_000)));
    let alice_tie_b = owned_by(
        &alice,
        service_token(scope, "list-a2b", 31, base_plus(1_000_000)),
    );
    let alice_tie_a = owned_by(
        &alice,
        api_key(
            scope,
            "list-a2a",
            32,
            base_plus(1_000_000).to_offset(offset(-8, 0)),
        ),
    );
    let alice_early = owned_by(
        &alice,
        api_key(scope, "list-a1", 33, base_plus(1).to_offset(offset(9, 0))),
    );
    let bob_only = owned_by(&bob, api_key(scope, "list-b1", 34, base_plus(2_000_000)));
    for row in [
        &alice_late,
        &alice_tie_b,
        &bob_only,
        &alice_tie_a,
        &alice_early,
    ] {
        key_insert(store, row).await;
    }

    let expected_alice = vec![
        alice_early.clone(),
        alice_tie_a.clone(),
        alice_tie_b.clone(),
        alice_late.clone(),
    ];
    assert_eq!(
        key_list(store, Some(&alice)).await,
        expected_alice,
        "{}: alice",
        store.backend()
    );
    assert_eq!(
        key_list(store, Some(&bob)).await,
        vec![bob_only.clone()],
        "{}: bob",
        store.backend()
    );
    assert_eq!(
        key_list(store, Some(&scope.name("list-nobody"))).await,
        Vec::new(),
        "{}: unknown subject",
        store.backend()
    );

    // Everyone's: other runs' rows may be interleaved, so compare this scope's rows only.
    let ours: Vec<ApiKey> = key_list(store, None)
        .await
        .into_iter()
        .filter(|row| row.subject == alice || row.subject == bob)
        .collect();
    let expected_all = vec![
        alice_early.clone(),
        alice_tie_a.clone(),
        alice_tie_b.clone(),
        bob_only.clone(),
        alice_late.clone(),
    ];
    assert_eq!(ours, expected_all, "{}: everyone", store.backend());

    key_cleanup(
        store,
        &[
            &alice_late,
            &alice_tie_b,
            &alice_tie_a,
            &alice_early,
            &bob_only,
        ],
    )
    .await;
}

/// `touch` sets `last_used_at` (and nothing else), never moves it backwards, and reports unknown
/// ids as `false`.
pub async fn api_key_touch_moves_last_used_at_forward_only(store: &dyn Store, scope: &Scope) {
    let row = api_key(scope, "touch", 40, base_plus(0));
    key_insert(store, &row).await;

    let first = base_plus(60_000_001).to_offset(offset(-7, 0));
    assert!(
        key_touch(store, &row.id, first).await,
        "{}: touch known",
        store.backend()
    );
    let expected = ApiKey {
        last_used_at: Some(first),
        ..row.clone()
    };
    assert_eq!(
        key_get(store, &row.id).await,
        Some(expected.clone()),
        "{}: after touch",
        store.backend()
    );

    // A replica with an older view of "now" does not move it back.
    assert!(
        key_touch(store, &row.id, base_plus(30_000_000)).await,
        "{}: older touch",
        store.backend()
    );
    assert_eq!(
        key_get(store, &row.id).await,
        Some(expected),
        "{}: after older touch",
        store.backend()
    );

    let later = base_plus(120_000_002);
    assert!(
        key_touch(store, &row.id, later).await,
        "{}: later touch",
        store.backend()
    );
    assert_eq!(
        key_get(store, &row.id)
            .await
            .and_then(|row| row.last_used_at),
        Some(later),
        "{}: after later touch",
        store.backend()
    );

    let unknown = scope.name("touch-unknown");
    assert!(
        !key_touch(store, &unknown, later).await,
        "{}: touch unknown",
        store.backend()
    );
    assert_eq!(
        key_get(store, &unknown).await,
        None,
        "{}: touch must not create",
        store.backend()
    );

    key_cleanup(store, &[&row]).await;
}

/// `revoke` returns `true` once, then `false`, keeping the first revocation time; unknown ids are
/// `false`.
pub async fn api_key_revoke_is_idempotent(store: &dyn Store, scope: &Scope) {
    let row = api_key(scope, "revoke", 50, base_plus(0));
    let other = service_token(scope, "revoke-other", 51, base_plus(0));
    key_insert(store, &row).await;
    key_insert(store, &other).await;

    let first = base_plus(5_000_001).to_offset(offset(2, 0));
    assert!(
        key_revoke(store, &row.id, first).await,
        "{}: first revoke",
        store.backend()
    );
    assert!(
        !key_revoke(store, &row.id, base_plus(9_000_000)).await,
        "{}: second revoke",
        store.backend()
    );
    let expected = ApiKey {
        revoked_at: Some(first),
        ..row.clone()
    };
    assert_eq!(
        key_get(store, &row.id).await,
        Some(expected),
        "{}: after revoke",
        store.backend()
    );
    assert_eq!(
        key_get(store, &other.id).await,
        Some(other.clone()),
        "{}: revoke touched another key",
        store.backend()
    );
    assert!(
        !key_revoke(store, &scope.name("revoke-unknown"), first).await,
        "{}: revoke unknown",
        store.backend()
    );

    key_cleanup(store, &[&other]).await;
}

/// Expired and revoked keys come back from every lookup with their `expires_at` and `revoked_at`:
/// judging them is the caller's job.
pub async fn api_key_expired_and_revoked_rows_are_still_returned(store: &dyn Store, scope: &Scope) {
    let expired = ApiKey {
        expires_at: Some(base_plus(1)),
        ..api_key(scope, "expired", 60, base_plus(0))
    };
    let expired_token = ApiKey {
        expires_at: Some(base_plus(1)),
        ..service_token(scope, "expired-token", 61, base_plus(0))
    };
    let revoked = api_key(scope, "revoked", 62, base_plus(0));
    key_insert(store, &expired).await;
    key_insert(store, &expired_token).await;
    key_insert(store, &revoked).await;
    assert!(
        key_revoke(store, &revoked.id, base_plus(2)).await,
        "{}: revoke",
        store.backend()
    );
    let revoked = ApiKey {
        revoked_at: Some(base_plus(2)),
        ..revoked
    };

    for row in [&expired, &expired_token, &revoked] {
        assert_eq!(
            key_by_hash(store, &row.secret_hash).await.as_ref(),
            Some(row),
            "{}: by hash",
            store.backend()
        );
    }
    let client_id = expired_token.kind.client_id().expect("a service token");
    assert_eq!(
        key_by_client_id(store, client_id).await,
        Some(expired_token.clone()),
        "{}: by client id",
        store.backend()
    );
    assert_eq!(
        key_list(store, Some(&scope.name("alice")))
            .await
            .into_iter()
            .filter(|row| [&expired.id, &expired_token.id, &revoked.id].contains(&&row.id))
            .count(),
        3,
        "{}: listed",
        store.backend()
    );

    key_cleanup(store, &[&expired, &expired_token]).await;
}

fn signing_key(scope: &Scope, name: &str, seed: u8, created_at: OffsetDateTime) -> SigningKey {
    // Every byte value, zero and 0xff included, so that backends storing the blob as text fail.
    let private_key_sealed = (0u16..300)
        .map(|i| u8::try_from((i * 7 + u16::from(seed)) % 256).expect("below 256"))
        .collect();
    SigningKey {
        kid: scope.name(name),
        alg: "ES256".to_owned(),
        public_jwk: format!(
            r#"{{"kty":"EC","crv":"P-256","x":"ü{seed}","y":"ß","kid":"{}"}}"#,
            scope.name(name)
        ),
        private_key_sealed,
        created_at,
        not_before: created_at + Duration::seconds(1),
        retire_after: None,
    }
}

async fn signing_insert(store: &dyn Store, key: &SigningKey) {
    store
        .signing_key_insert(key)
        .await
        .unwrap_or_else(|err| panic!("{}: insert signing key {key:?}: {err}", store.backend()));
}

/// This scope's signing keys, in the order the store lists them (other runs' rows may be
/// interleaved in a shared database).
async fn signing_list(store: &dyn Store, scope: &Scope) -> Vec<SigningKey> {
    let prefix = scope.name("");
    store
        .signing_key_list()
        .await
        .unwrap_or_else(|err| panic!("{}: list signing keys: {err}", store.backend()))
        .into_iter()
        .filter(|key| key.kid.starts_with(&prefix))
        .collect()
}

async fn signing_retire(store: &dyn Store, kid: &str, at: OffsetDateTime) -> bool {
    store
        .signing_key_retire(kid, at)
        .await
        .unwrap_or_else(|err| panic!("{}: retire signing key {kid}: {err}", store.backend()))
}

async fn signing_purge(store: &dyn Store, retired_before: OffsetDateTime) -> u64 {
    store
        .signing_keys_purge(retired_before)
        .await
        .unwrap_or_else(|err| {
            panic!(
                "{}: purge signing keys retired before {retired_before}: {err}",
                store.backend()
            )
        })
}

/// Deletes this scope's signing keys: retires them at [`SIGNING_KEY_CLEANUP`] and purges up to just
/// after it, under the purge lock so that no purge check counts them.
async fn signing_cleanup(store: &dyn Store, scope: &Scope) {
    let _serialised = PURGE_LOCK.lock().await;
    for key in signing_list(store, scope).await {
        signing_retire(store, &key.kid, SIGNING_KEY_CLEANUP).await;
    }
    signing_purge(store, SIGNING_KEY_CLEANUP + Duration::microseconds(1)).await;
    assert_eq!(
        signing_list(store, scope).await,
        Vec::new(),
        "{}: signing keys left after clean-up",
        store.backend()
    );
}

/// Signing keys read back exactly as written (bytes, JSON text, every timestamp whatever its
/// offset, `retire_after` set and unset).
pub async fn signing_key_insert_then_list_returns_equal_rows(store: &dyn Store, scope: &Scope) {
    let current = signing_key(scope, "signing-rows-current", 1, base_plus(0));
    let retired = SigningKey {
        alg: "EdDSA".to_owned(),
        not_before: base_plus(2_000_001).to_offset(offset(-9, -30)),
        retire_after: Some(base_plus(86_400_000_001).to_offset(offset(5, 30))),
        ..signing_key(
            scope,
            "signing-rows-retired",
            2,
            base_plus(7).to_offset(offset(1, 0)),
        )
    };
    assert_eq!(
        signing_list(store, scope).await,
        Vec::new(),
        "{}: before insert",
        store.backend()
    );
    signing_insert(store, &current).await;
    signing_insert(store, &retired).await;
    assert_eq!(
        signing_list(store, scope).await,
        vec![current, retired],
        "{}: after insert",
        store.backend()
    );
    signing_cleanup(store, scope).await;
}

/// A second key with an existing `kid` fails with `Conflict` and leaves the first untouched.
pub async fn signing_key_duplicates_conflict(store: &dyn Store, scope: &Scope) {
    let first = signing_key(scope, "signing-dup", 10, base_plus(0));
    signing_insert(store, &first).await;
    let second = SigningKey {
        alg: "EdDSA".to_owned(),
        ..signing_key(scope, "signing-dup", 11, base_plus(1))
    };
    let result = store.signing_key_insert(&second).await;
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "{}: duplicate kid gave {result:?}, expected Conflict",
        store.backend()
    );
    assert_eq!(
        signing_list(store, scope).await,
        vec![first],
        "{}: after conflict",
        store.backend()
    );
    signing_cleanup(store, scope).await;
}

/// Of several concurrent inserts of one `kid`, exactly one succeeds.
pub async fn signing_key_concurrent_duplicate_inserts_let_exactly_one_win(
    store: &dyn Store,
    scope: &Scope,
) {
    let rows: Vec<SigningKey> = (0..4)
        .map(|i| signing_key(scope, "signing-concurrent", 20 + i, base_plus(i64::from(i))))
        .collect();
    let [a, b, c, d] = rows.as_slice() else {
        unreachable!("four rows were built");
    };
    let results = tokio::join!(
        store.signing_key_insert(a),
        store.signing_key_insert(b),
        store.signing_key_insert(c),
        store.signing_key_insert(d),
    );
    assert_one_winner(store, &[results.0, results.1, results.2, results.3]);
    let stored = signing_list(store, scope).await;
    assert!(
        stored.len() == 1 && stored.iter().all(|row| rows.contains(row)),
        "{}: stored rows {stored:?}",
        store.backend()
    );
    signing_cleanup(store, scope).await;
}

/// `list` is oldest first by instant (not by how the offset makes the time look), ties broken by
/// `kid` compared byte-wise (`B` before `a`, whatever the database's collation).
pub async fn signing_key_list_is_oldest_first(store: &dyn Store, scope: &Scope) {
    let late = signing_key(scope, "signing-order-c", 30, base_plus(3_000_000));
    let tie_lower = signing_key(scope, "signing-order-a", 31, base_plus(1_000_000));
    let tie_upper = signing_key(
        scope,
        "signing-order-B",
        32,
        base_plus(1_000_000).to_offset(offset(-8, 0)),
    );
    let early = signing_key(
        scope,
        "signing-order-z",
        33,
        base_plus(1).to_offset(offset(9, 0)),
    );
    for row in [&late, &tie_lower, &early, &tie_upper] {
        signing_insert(store, row).await;
    }
    assert_eq!(
        signing_list(store, scope).await,
        vec![early, tie_upper, tie_lower, late],
        "{}: order",
        store.backend()
    );
    signing_cleanup(store, scope).await;
}

/// `retire` sets `retire_after` (and nothing else), only ever moves it earlier, leaves other keys
/// alone, and reports unknown kids as `false`.
pub async fn signing_key_retire_only_brings_retirement_forward(store: &dyn Store, scope: &Scope) {
    let row = signing_key(scope, "signing-retire", 40, base_plus(0));
    let other = signing_key(scope, "signing-retire-other", 41, base_plus(1));
    signing_insert(store, &row).await;
    signing_insert(store, &other).await;

    let first = base_plus(600_000_001).to_offset(offset(-7, 0));
    assert!(
        signing_retire(store, &row.kid, first).await,
        "{}: retire known",
        store.backend()
    );
    let retired = SigningKey {
        retire_after: Some(first),
        ..row.clone()
    };
    assert_eq!(
        signing_list(store, scope).await,
        vec![retired.clone(), other.clone()],
        "{}: after retire",
        store.backend()
    );

    // A later retirement (a second rotation) does not postpone the first.
    assert!(
        signing_retire(store, &row.kid, base_plus(900_000_000)).await,
        "{}: later retire",
        store.backend()
    );
    assert_eq!(
        signing_list(store, scope).await,
        vec![retired, other.clone()],
        "{}: after later retire",
        store.backend()
    );

    // An earlier one (an emergency) wins.
    let earlier = base_plus(300_000_002);
    assert!(
        signing_retire(store, &row.kid, earlier).await,
        "{}: earlier retire",
        store.backend()
    );
    assert_eq!(
        signing_list(store, scope).await,
        vec![
            SigningKey {
                retire_after: Some(earlier),
                ..row
            },
            other
        ],
        "{}: after earlier retire",
        store.backend()
    );

    let unknown = scope.name("signing-retire-unknown");
    assert!(
        !signing_retire(store, &unknown, earlier).await,
        "{}: retire unknown",
        store.backend()
    );
    assert_eq!(
        signing_list(store, scope).await.len(),
        2,
        "{}: retire must not create",
        store.backend()
    );
    signing_cleanup(store, scope).await;
}

/// `purge` deletes exactly the keys retired strictly before the cut-off, judged by instant, never a
/// current key however old, and returns how many it deleted.
pub async fn signing_keys_purge_deletes_exactly_the_retired_before(
    store: &dyn Store,
    scope: &Scope,
) {
    let _serialised = PURGE_LOCK.lock().await;
    let cutoff = PURGE_EPOCH - Duration::DAY;
    // Clear leftovers of an earlier run that failed half-way.
    signing_purge(store, cutoff).await;

    let micro = Duration::microseconds(1);
    let created = cutoff - Duration::days(30);
    let purged = [
        ("signing-purge-a", cutoff - micro),
        ("signing-purge-b", cutoff - Duration::days(7)),
        // Before the cut-off as an instant, though its local time reads later.
        ("signing-purge-c", (cutoff - micro).to_offset(offset(14, 0))),
    ];
    let kept = [
        // Exactly at the cut-off: not *before* it.
        ("signing-purge-d", Some(cutoff)),
        ("signing-purge-e", Some(cutoff + micro)),
        // After the cut-off as an instant, though its local time reads earlier.
        (
            "signing-purge-f",
            Some((cutoff + micro).to_offset(offset(-12, 0))),
        ),
        // Current: never purged, however old.
        ("signing-purge-g", None),
    ];
    let rows: Vec<SigningKey> = purged
        .iter()
        .map(|(name, at)| (name, Some(*at)))
        .chain(kept.iter().map(|(name, at)| (name, *at)))
        .zip(50u8..)
        .map(|((name, retire_after), seed)| SigningKey {
            retire_after,
            ..signing_key(scope, name, seed, created)
        })
        .collect();
    for row in &rows {
        signing_insert(store, row).await;
    }

    assert_eq!(
        signing_purge(store, cutoff).await,
        3,
        "{}: purged count",
        store.backend()
    );
    let left: Vec<String> = signing_list(store, scope)
        .await
        .into_iter()
        .map(|key| key.kid)
        .collect();
    let expected: Vec<String> = kept.iter().map(|(name, _)| scope.name(name)).collect();
    assert_eq!(left, expected, "{}: kept keys", store.backend());
    assert_eq!(
        signing_purge(store, cutoff).await,
        0,
        "{}: second purge",
        store.backend()
    );

    // Clean up (the lock is already held).
    for kid in &left {
        signing_retire(store, kid, SIGNING_KEY_CLEANUP).await;
    }
    signing_purge(store, SIGNING_KEY_CLEANUP + micro).await;
}

/// `api_keys_revoked_since` returns the keys revoked at or after the instant, oldest revocation
/// first, and none revoked before it or not at all. Other runs' revoked rows may share the
/// database, so only this scope's ids are compared.
pub async fn api_keys_revoked_since_lists_exactly_the_later_revocations(
    store: &dyn Store,
    scope: &Scope,
) {
    let early = api_key(scope, "revoked-early", 70, base_plus(0));
    let late = api_key(scope, "revoked-late", 71, base_plus(0));
    let later = service_token(scope, "revoked-later", 72, base_plus(0));
    let live = api_key(scope, "never-revoked", 73, base_plus(0));
    for key in [&early, &late, &later, &live] {
        key_insert(store, key).await;
    }
    let cut = base_plus(20_000_000);
    assert!(key_revoke(store, &early.id, cut - Duration::microseconds(1)).await);
    assert!(key_revoke(store, &later.id, cut + Duration::seconds(5)).await);
    assert!(key_revoke(store, &late.id, cut).await);

    let ours = |keys: Vec<ApiKey>| -> Vec<String> {
        keys.into_iter()
            .map(|k| k.id)
            .filter(|id| [&early.id, &late.id, &later.id, &live.id].contains(&id))
            .collect()
    };
    let found = store
        .api_keys_revoked_since(cut)
        .await
        .unwrap_or_else(|e| panic!("{}: api_keys_revoked_since: {e}", store.backend()));
    assert!(
        found
            .iter()
            .all(|k| k.revoked_at.is_some_and(|at| at >= cut)),
        "{}: a row revoked before the cut",
        store.backend()
    );
    assert_eq!(
        ours(found),
        vec![late.id.clone(), later.id.clone()],
        "{}: revoked since the cut, oldest first",
        store.backend()
    );
    let after_all = store
        .api_keys_revoked_since(cut + Duration::seconds(6))
        .await
        .unwrap_or_else(|e| panic!("{}: api_keys_revoked_since: {e}", store.backend()));
    assert!(
        ours(after_all).is_empty(),
        "{}: nothing after the last revocation",
        store.backend()
    );
    key_revoke(store, &live.id, base_plus(0)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purge_epoch_is_1950() {
        assert_eq!(PURGE_EPOCH.year(), 1950);
        assert_eq!(PURGE_EPOCH.ordinal(), 1);
    }

    #[test]
    fn signing_key_cleanup_is_1940() {
        assert_eq!(SIGNING_KEY_CLEANUP.year(), 1940);
        assert_eq!(SIGNING_KEY_CLEANUP.ordinal(), 1);
        assert!(SIGNING_KEY_CLEANUP < PURGE_EPOCH - Duration::days(60));
    }

    #[test]
    fn scopes_differ() {
        assert_ne!(Scope::fresh().upstream("x"), Scope::fresh().upstream("x"));
        assert_ne!(Scope::new(1).upstream("x"), Scope::new(1).upstream("x"));
    }

    #[test]
    fn id_hashes_differ_and_cover_zero_and_ff() {
        let hashes: Vec<[u8; 32]> = (0..=255).map(id_hash).collect();
        for (i, a) in hashes.iter().enumerate() {
            assert!(hashes.iter().skip(i + 1).all(|b| a != b));
        }
        assert!(hashes.iter().any(|h| h.contains(&0)) && hashes.iter().any(|h| h.contains(&0xff)));
    }

    #[test]
    fn secret_hashes_differ_by_scope_and_seed() {
        let (a, b) = (Scope::fresh(), Scope::fresh());
        assert_ne!(a.secret_hash(1), b.secret_hash(1));
        assert_ne!(a.secret_hash(1), a.secret_hash(2));
        assert_eq!(a.secret_hash(1), a.secret_hash(1));
        assert!(a.secret_hash(1).contains(&0) && a.secret_hash(1).contains(&0xff));
    }

    #[test]
    fn base_time_is_2026_with_microseconds() {
        let base = base_plus(0);
        assert_eq!(base.year(), 2026);
        assert_eq!(base.microsecond(), 123_456);
        assert!(base > PURGE_EPOCH);
    }
}
