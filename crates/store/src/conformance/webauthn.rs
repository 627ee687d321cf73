//! Conformance checks of WebAuthn ceremonies: taken once and only by the session and for the
//! kind that started them, one of each kind per session, concurrent takes with one winner, and
//! purging exactly the expired.

use time::{Duration, OffsetDateTime};

use super::{PURGE_LOCK, Scope, base_plus};
use crate::{CeremonyKind, Store, StoreError, WebauthnCeremony};

/// Where the purge check's rows live: 1915-01-01T00:00:00Z, before every other check's times
/// (and away from the throttle purge's 1920), so its purge deletes nothing of theirs.
const PURGE_BASE_UNIX: i64 = -1_735_689_600;

pub async fn run_all_in(store: &dyn Store, scope: &Scope) {
    ceremonies_are_taken_once_by_their_session_and_kind(store, scope).await;
    a_new_ceremony_replaces_the_sessions_previous_one_of_its_kind(store, scope).await;
    a_duplicate_id_conflicts_and_changes_nothing(store, scope).await;
    concurrent_takes_let_exactly_one_win(store, scope).await;
    purge_deletes_exactly_the_expired(store, scope).await;
}

fn fail(store: &dyn Store, what: &str, e: StoreError) -> ! {
    panic!("{}: {what}: {e}", store.backend())
}

fn ceremony(
    scope: &Scope,
    name: &str,
    session_seed: u8,
    kind: CeremonyKind,
    expires_at: OffsetDateTime,
) -> WebauthnCeremony {
    WebauthnCeremony {
        id: scope.name(name),
        session_hash: scope.secret_hash(session_seed),
        kind,
        // Bytes a text column would mangle.
        state: vec![b'{', 0, 0xff, 0x7f, b'}'],
        expires_at,
    }
}

async fn put(store: &dyn Store, row: &WebauthnCeremony) {
    store
        .webauthn_ceremony_put(row)
        .await
        .unwrap_or_else(|e| fail(store, "webauthn_ceremony_put", e));
}

async fn take(store: &dyn Store, row: &WebauthnCeremony) -> Option<WebauthnCeremony> {
    take_as(store, &row.id, &row.session_hash, row.kind).await
}

async fn take_as(
    store: &dyn Store,
    id: &str,
    session_hash: &[u8; 32],
    kind: CeremonyKind,
) -> Option<WebauthnCeremony> {
    store
        .webauthn_ceremony_take(id, session_hash, kind)
        .await
        .unwrap_or_else(|e| fail(store, "webauthn_ceremony_take", e))
}

pub async fn ceremonies_are_taken_once_by_their_session_and_kind(store: &dyn Store, scope: &Scope) {
    let row = ceremony(
        scope,
        "wac-once",
        40,
        CeremonyKind::Authentication,
        base_plus(300_000_001),
    );
    put(store, &row).await;
    let backend = store.backend();
    // Another session, or the other kind, finds nothing, and the ceremony stays for its own.
    let other_session = scope.secret_hash(41);
    assert_eq!(
        take_as(store, &row.id, &other_session, row.kind).await,
        None,
        "{backend}: another session takes nothing"
    );
    assert_eq!(
        take_as(
            store,
            &row.id,
            &row.session_hash,
            CeremonyKind::Registration
        )
        .await,
        None,
        "{backend}: the other kind takes nothing"
    );
    assert_eq!(
        take_as(
            store,
            &scope.name("wac-unknown"),
            &row.session_hash,
            row.kind
        )
        .await,
        None,
        "{backend}: an unknown id takes nothing"
    );
    assert_eq!(take(store, &row).await, Some(row.clone()), "{backend}");
    assert_eq!(
        take(store, &row).await,
        None,
        "{backend}: a ceremony is taken once"
    );
    // An expired one is still handed over (and deleted): expiry is the caller's to judge.
    let expired = ceremony(
        scope,
        "wac-expired",
        40,
        CeremonyKind::Registration,
        base_plus(-1),
    );
    put(store, &expired).await;
    assert_eq!(take(store, &expired).await, Some(expired.clone()));
    assert_eq!(take(store, &expired).await, None, "{backend}");
}

pub async fn a_new_ceremony_replaces_the_sessions_previous_one_of_its_kind(
    store: &dyn Store,
    scope: &Scope,
) {
    let at = base_plus(300_000_000);
    let first = ceremony(scope, "wac-first", 42, CeremonyKind::Authentication, at);
    let registration = ceremony(scope, "wac-reg", 42, CeremonyKind::Registration, at);
    let elsewhere = ceremony(scope, "wac-elsewhere", 43, CeremonyKind::Authentication, at);
    put(store, &first).await;
    put(store, &registration).await;
    put(store, &elsewhere).await;
    let second = ceremony(scope, "wac-second", 42, CeremonyKind::Authentication, at);
    put(store, &second).await;
    let backend = store.backend();
    assert_eq!(
        take(store, &first).await,
        None,
        "{backend}: the session's earlier sign-in ceremony is gone"
    );
    assert_eq!(
        take(store, &second).await,
        Some(second.clone()),
        "{backend}"
    );
    assert_eq!(
        take(store, &registration).await,
        Some(registration.clone()),
        "{backend}: the other kind stays"
    );
    assert_eq!(
        take(store, &elsewhere).await,
        Some(elsewhere.clone()),
        "{backend}: other sessions' ceremonies stay"
    );
}

pub async fn a_duplicate_id_conflicts_and_changes_nothing(store: &dyn Store, scope: &Scope) {
    let at = base_plus(300_000_000);
    let original = ceremony(scope, "wac-dup", 44, CeremonyKind::Registration, at);
    put(store, &original).await;
    // Another session's ceremony of the same kind, which a successful put would replace.
    let bystander = ceremony(scope, "wac-bystander", 45, CeremonyKind::Registration, at);
    put(store, &bystander).await;
    let duplicate = WebauthnCeremony {
        session_hash: bystander.session_hash,
        state: vec![9],
        ..original.clone()
    };
    let result = store.webauthn_ceremony_put(&duplicate).await;
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "{}: a duplicate id conflicts: {result:?}",
        store.backend()
    );
    assert_eq!(take(store, &original).await, Some(original.clone()));
    assert_eq!(
        take(store, &bystander).await,
        Some(bystander.clone()),
        "{}: a refused put replaces nothing",
        store.backend()
    );
}

pub async fn concurrent_takes_let_exactly_one_win(store: &dyn Store, scope: &Scope) {
    let row = ceremony(
        scope,
        "wac-race",
        46,
        CeremonyKind::Authentication,
        base_plus(300_000_000),
    );
    put(store, &row).await;
    let (a, b, c, d) = tokio::join!(
        take(store, &row),
        take(store, &row),
        take(store, &row),
        take(store, &row),
    );
    let won = [a, b, c, d].iter().filter(|taken| taken.is_some()).count();
    assert_eq!(
        won,
        1,
        "{}: one ceremony presented four times at once",
        store.backend()
    );
}

pub async fn purge_deletes_exactly_the_expired(store: &dyn Store, scope: &Scope) {
    let _purge = PURGE_LOCK.lock().await;
    let base = OffsetDateTime::from_unix_timestamp(PURGE_BASE_UNIX).unwrap_or(base_plus(0));
    let old = ceremony(
        scope,
        "wac-old",
        47,
        CeremonyKind::Authentication,
        base - Duration::microseconds(1),
    );
    let at_cutoff = ceremony(scope, "wac-cutoff", 48, CeremonyKind::Authentication, base);
    put(store, &old).await;
    put(store, &at_cutoff).await;
    let purged = store
        .webauthn_ceremonies_purge(base)
        .await
        .unwrap_or_else(|e| fail(store, "webauthn_ceremonies_purge", e));
    assert_eq!(
        purged,
        1,
        "{}: only the ceremony that expired before the cut-off goes",
        store.backend()
    );
    assert_eq!(take(store, &old).await, None);
    assert_eq!(take(store, &at_cutoff).await, Some(at_cutoff.clone()));
}
