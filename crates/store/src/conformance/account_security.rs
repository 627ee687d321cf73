//! Conformance checks of what protects an account: second factors with their replay guard,
//! recovery codes used once, failure counters counted atomically, listing a user's sessions and
//! grants, and deleting a user with what is theirs.

#![allow(
    clippy::indexing_slicing,
    reason = "test-support code: the fixed arrays of codes it indexes are its own"
)]

use time::{Duration, OffsetDateTime};

use super::accounts::{browser_session, user};
use super::{PURGE_LOCK, Scope, base_plus};
use crate::{
    BrowserSession, Factor, FactorKind, FactorUse, Grant, Store, StoreError, Throttle, User,
};

/// Where the throttle purge check's rows live: 1920-01-01T00:00:00Z, before every other check's
/// times, so its purge deletes nothing of theirs.
const PURGE_BASE_UNIX: i64 = -1_577_923_200;

pub async fn run_all_in(store: &dyn Store, scope: &Scope) {
    factors_round_trip_conflict_and_belong_to_their_user(store, scope).await;
    totp_steps_are_accepted_once_and_in_order(store, scope).await;
    concurrent_uses_of_one_step_let_exactly_one_win(store, scope).await;
    recovery_codes_are_used_once_and_replaced_whole(store, scope).await;
    mfa_reset_removes_factors_and_codes(store, scope).await;
    throttles_count_lapse_clear_and_purge(store, scope).await;
    concurrent_failures_are_all_counted(store, scope).await;
    sessions_and_grants_of_a_user_are_listed_newest_first(store, scope).await;
    deleting_a_user_takes_what_is_theirs(store, scope).await;
}

fn fail(store: &dyn Store, what: &str, e: StoreError) -> ! {
    panic!("{}: {what}: {e}", store.backend())
}

async fn new_user(store: &dyn Store, scope: &Scope, name: &str) -> User {
    let row = user(scope, name, base_plus(0));
    store
        .user_insert(&row)
        .await
        .unwrap_or_else(|e| fail(store, "user_insert", e));
    row
}

fn factor(user: &User, id: &str, kind: FactorKind, at: OffsetDateTime) -> Factor {
    Factor {
        id: format!("{}-{id}", user.id),
        user_id: user.id.clone(),
        kind,
        name: format!("{} {id}", kind.as_str()),
        data: vec![1, 2, 3, 0, 255],
        last_step: None,
        created_at: at,
        last_used_at: None,
    }
}

async fn insert(store: &dyn Store, row: &Factor) {
    store
        .factor_insert(row)
        .await
        .unwrap_or_else(|e| fail(store, "factor_insert", e));
}

async fn factors(store: &dyn Store, user: &User) -> Vec<Factor> {
    store
        .factors_of_user(&user.id)
        .await
        .unwrap_or_else(|e| fail(store, "factors_of_user", e))
}

async fn use_step(store: &dyn Store, row: &Factor, step: i64, at: OffsetDateTime) -> FactorUse {
    store
        .factor_use(&row.user_id, &row.id, Some(step), None, at)
        .await
        .unwrap_or_else(|e| fail(store, "factor_use", e))
}

pub async fn factors_round_trip_conflict_and_belong_to_their_user(
    store: &dyn Store,
    scope: &Scope,
) {
    let alice = new_user(store, scope, "fac-alice").await;
    let bob = new_user(store, scope, "fac-bob").await;
    let totp = factor(&alice, "totp", FactorKind::Totp, base_plus(2));
    let passkey = Factor {
        last_step: Some(7),
        last_used_at: Some(base_plus(3)),
        ..factor(&alice, "passkey", FactorKind::Passkey, base_plus(1))
    };
    insert(store, &totp).await;
    insert(store, &passkey).await;
    assert_eq!(
        factors(store, &alice).await,
        vec![passkey.clone(), totp.clone()],
        "{}: factors oldest first, equal to what was written",
        store.backend()
    );
    assert!(factors(store, &bob).await.is_empty());
    assert!(
        matches!(
            store.factor_insert(&totp).await,
            Err(StoreError::Conflict(_))
        ),
        "{}: a factor id is unique",
        store.backend()
    );
    let orphan = Factor {
        user_id: scope.name("nobody"),
        ..factor(&alice, "orphan", FactorKind::Totp, base_plus(0))
    };
    assert!(
        store.factor_insert(&orphan).await.is_err(),
        "{}: a factor needs its user",
        store.backend()
    );
    // Another user can neither use nor delete alice's factor.
    assert_eq!(
        use_step(
            store,
            &Factor {
                user_id: bob.id.clone(),
                ..totp.clone()
            },
            5,
            base_plus(4)
        )
        .await,
        FactorUse::Unknown
    );
    assert!(!store.factor_delete(&bob.id, &totp.id).await.unwrap());
    assert!(store.factor_delete(&alice.id, &totp.id).await.unwrap());
    assert!(!store.factor_delete(&alice.id, &totp.id).await.unwrap());
    assert_eq!(factors(store, &alice).await, vec![passkey]);
}

pub async fn totp_steps_are_accepted_once_and_in_order(store: &dyn Store, scope: &Scope) {
    let alice = new_user(store, scope, "step-alice").await;
    let totp = factor(&alice, "totp", FactorKind::Totp, base_plus(0));
    insert(store, &totp).await;
    assert_eq!(
        use_step(store, &totp, 100, base_plus(10)).await,
        FactorUse::Used
    );
    assert_eq!(
        use_step(store, &totp, 100, base_plus(11)).await,
        FactorUse::Replayed
    );
    assert_eq!(
        use_step(store, &totp, 99, base_plus(12)).await,
        FactorUse::Replayed
    );
    assert_eq!(
        use_step(store, &totp, 101, base_plus(13)).await,
        FactorUse::Used
    );
    let stored = factors(store, &alice).await;
    let totp_row = stored.first().expect("the TOTP factor");
    assert_eq!(totp_row.last_step, Some(101), "{}", store.backend());
    assert_eq!(
        totp_row.last_used_at,
        Some(base_plus(13)),
        "{}",
        store.backend()
    );
    // A passkey's use replaces its data (the signature counter) and needs no step.
    let passkey = factor(&alice, "passkey", FactorKind::Passkey, base_plus(1));
    insert(store, &passkey).await;
    let used = store
        .factor_use(
            &alice.id,
            &passkey.id,
            None,
            Some(b"counter=2"),
            base_plus(20),
        )
        .await
        .unwrap();
    assert_eq!(used, FactorUse::Used);
    let stored = factors(store, &alice).await;
    let passkey_row = stored.get(1).expect("the passkey");
    assert_eq!(
        passkey_row.data,
        b"counter=2".to_vec(),
        "{}",
        store.backend()
    );
    assert_eq!(passkey_row.last_step, None);
    assert_eq!(
        store
            .factor_use(&alice.id, "no-such-factor", Some(1), None, base_plus(21))
            .await
            .unwrap(),
        FactorUse::Unknown
    );
}

pub async fn concurrent_uses_of_one_step_let_exactly_one_win(store: &dyn Store, scope: &Scope) {
    let alice = new_user(store, scope, "race-alice").await;
    let totp = factor(&alice, "totp", FactorKind::Totp, base_plus(0));
    insert(store, &totp).await;
    let uses = four_uses_at_once(store, &totp).await;
    let used = uses.iter().filter(|u| **u == FactorUse::Used).count();
    let replayed = uses.iter().filter(|u| **u == FactorUse::Replayed).count();
    assert_eq!(
        (used, replayed),
        (1, uses.len() - 1),
        "{}: one TOTP code presented four times at once: {uses:?}",
        store.backend()
    );
}

/// Four uses of step 500 at once.
async fn four_uses_at_once(store: &dyn Store, totp: &Factor) -> Vec<FactorUse> {
    let at = base_plus(30);
    let (a, b, c, d) = tokio::join!(
        use_step(store, totp, 500, at),
        use_step(store, totp, 500, at),
        use_step(store, totp, 500, at),
        use_step(store, totp, 500, at),
    );
    vec![a, b, c, d]
}

pub async fn recovery_codes_are_used_once_and_replaced_whole(store: &dyn Store, scope: &Scope) {
    let alice = new_user(store, scope, "rc-alice").await;
    let bob = new_user(store, scope, "rc-bob").await;
    let codes: Vec<[u8; 32]> = (200..205).map(|seed| scope.secret_hash(seed)).collect();
    store
        .recovery_codes_set(&alice.id, &codes, base_plus(0))
        .await
        .unwrap();
    assert_eq!(store.recovery_codes_left(&alice.id).await.unwrap(), 5);
    assert_eq!(store.recovery_codes_left(&bob.id).await.unwrap(), 0);
    // Not bob's.
    assert!(
        !store
            .recovery_code_use(&bob.id, &codes[0], base_plus(1))
            .await
            .unwrap()
    );
    assert!(
        store
            .recovery_code_use(&alice.id, &codes[0], base_plus(1))
            .await
            .unwrap()
    );
    assert!(
        !store
            .recovery_code_use(&alice.id, &codes[0], base_plus(2))
            .await
            .unwrap(),
        "{}: a recovery code works once",
        store.backend()
    );
    assert_eq!(store.recovery_codes_left(&alice.id).await.unwrap(), 4);
    // Two presentations of one code at once: one wins.
    let at = base_plus(3);
    let (x, y) = tokio::join!(
        store.recovery_code_use(&alice.id, &codes[1], at),
        store.recovery_code_use(&alice.id, &codes[1], at),
    );
    assert_eq!(
        [x.unwrap(), y.unwrap()].iter().filter(|won| **won).count(),
        1,
        "{}: concurrent uses of one recovery code",
        store.backend()
    );
    // New codes replace every old one, used or not.
    let fresh: Vec<[u8; 32]> = (210..212).map(|seed| scope.secret_hash(seed)).collect();
    store
        .recovery_codes_set(&alice.id, &fresh, base_plus(4))
        .await
        .unwrap();
    assert_eq!(store.recovery_codes_left(&alice.id).await.unwrap(), 2);
    assert!(
        !store
            .recovery_code_use(&alice.id, &codes[2], base_plus(5))
            .await
            .unwrap()
    );
    assert!(
        store
            .recovery_code_use(&alice.id, &fresh[0], base_plus(5))
            .await
            .unwrap()
    );
    assert!(
        store
            .recovery_codes_set(&scope.name("nobody"), &fresh, base_plus(6))
            .await
            .is_err(),
        "{}: recovery codes need their user",
        store.backend()
    );
}

pub async fn mfa_reset_removes_factors_and_codes(store: &dyn Store, scope: &Scope) {
    let alice = new_user(store, scope, "reset-alice").await;
    let bob = new_user(store, scope, "reset-bob").await;
    insert(store, &factor(&alice, "a", FactorKind::Totp, base_plus(0))).await;
    insert(
        store,
        &factor(&alice, "b", FactorKind::Passkey, base_plus(1)),
    )
    .await;
    let bobs = factor(&bob, "a", FactorKind::Totp, base_plus(0));
    insert(store, &bobs).await;
    let codes = [scope.secret_hash(220), scope.secret_hash(221)];
    store
        .recovery_codes_set(&alice.id, &codes, base_plus(0))
        .await
        .unwrap();
    store
        .recovery_codes_set(&bob.id, &codes[..1], base_plus(0))
        .await
        .unwrap();
    assert_eq!(store.mfa_reset(&alice.id).await.unwrap(), 2);
    assert!(factors(store, &alice).await.is_empty());
    assert_eq!(store.recovery_codes_left(&alice.id).await.unwrap(), 0);
    assert_eq!(
        factors(store, &bob).await,
        vec![bobs],
        "{}: bob keeps his",
        store.backend()
    );
    assert_eq!(store.recovery_codes_left(&bob.id).await.unwrap(), 1);
    assert_eq!(store.mfa_reset(&alice.id).await.unwrap(), 0);
}

pub async fn throttles_count_lapse_clear_and_purge(store: &dyn Store, scope: &Scope) {
    let key = scope.name("user:alice");
    assert_eq!(store.throttle_get(&key).await.unwrap(), None);
    let lapse = Duration::hours(1);
    let mut last = Throttle {
        failures: 0,
        last_failure_at: base_plus(0),
    };
    for i in 1..=3 {
        let at = base_plus(i64::from(i) * 1_000_000);
        last = store.throttle_fail(&key, at, at - lapse).await.unwrap();
        assert_eq!(
            last,
            Throttle {
                failures: i,
                last_failure_at: at
            },
            "{}",
            store.backend()
        );
    }
    assert_eq!(store.throttle_get(&key).await.unwrap(), Some(last));
    // A failure long after the last one starts the count again.
    let later = last.last_failure_at + Duration::hours(2);
    let restarted = store
        .throttle_fail(&key, later, later - lapse)
        .await
        .unwrap();
    assert_eq!(
        restarted.failures,
        1,
        "{}: a lapsed count restarts",
        store.backend()
    );
    store.throttle_clear(&key).await.unwrap();
    assert_eq!(store.throttle_get(&key).await.unwrap(), None);
    store.throttle_clear(&key).await.unwrap();

    let _purge = PURGE_LOCK.lock().await;
    let base = OffsetDateTime::from_unix_timestamp(PURGE_BASE_UNIX).unwrap();
    let old = scope.name("addr:old");
    let recent = scope.name("addr:recent");
    store.throttle_fail(&old, base, base - lapse).await.unwrap();
    let recent_at = base + Duration::minutes(10);
    store
        .throttle_fail(&recent, recent_at, recent_at - lapse)
        .await
        .unwrap();
    assert_eq!(
        store
            .throttle_purge(base + Duration::minutes(5))
            .await
            .unwrap(),
        1,
        "{}: only the old counter goes",
        store.backend()
    );
    assert_eq!(store.throttle_get(&old).await.unwrap(), None);
    assert!(store.throttle_get(&recent).await.unwrap().is_some());
    store.throttle_clear(&recent).await.unwrap();
}

pub async fn concurrent_failures_are_all_counted(store: &dyn Store, scope: &Scope) {
    let key = scope.name("addr:198.51.100.7");
    let at = base_plus(0);
    let before = at - Duration::hours(1);
    let (a, b, c, d) = tokio::join!(
        store.throttle_fail(&key, at, before),
        store.throttle_fail(&key, at, before),
        store.throttle_fail(&key, at, before),
        store.throttle_fail(&key, at, before),
    );
    let mut counts: Vec<u32> = [a, b, c, d]
        .into_iter()
        .map(|t| t.unwrap().failures)
        .collect();
    counts.sort_unstable();
    assert_eq!(
        counts,
        vec![1, 2, 3, 4],
        "{}: each failure counted once",
        store.backend()
    );
    store.throttle_clear(&key).await.unwrap();
}

fn grant(scope: &Scope, subject: &str, name: &str, at: OffsetDateTime) -> Grant {
    Grant {
        id: scope.name(name),
        client_id: scope.name("client"),
        subject: subject.to_owned(),
        scope: "files:read".to_owned(),
        resource: "https://gw.example/servers/files/mcp".to_owned(),
        auth_time: at,
        amr: "pwd".to_owned(),
        created_at: at,
        expires_at: at + Duration::days(90),
        revoked_at: None,
    }
}

/// Stores `grant` the only way grants are stored: by redeeming a code for it.
async fn store_grant(store: &dyn Store, scope: &Scope, seed: u8, grant: &Grant) {
    let code = super::authorization::code(scope, seed, grant.created_at);
    store.code_insert(&code).await.unwrap();
    store
        .code_redeem(&code.code_hash, grant.created_at, grant, None)
        .await
        .unwrap();
}

pub async fn sessions_and_grants_of_a_user_are_listed_newest_first(
    store: &dyn Store,
    scope: &Scope,
) {
    let alice = new_user(store, scope, "list-alice").await;
    let bob = new_user(store, scope, "list-bob").await;
    let older = browser_session(&alice, scope.secret_hash(240), base_plus(1));
    let newer = browser_session(&alice, scope.secret_hash(241), base_plus(2));
    let bobs = browser_session(&bob, scope.secret_hash(242), base_plus(3));
    for session in [&older, &newer, &bobs] {
        store.browser_session_insert(session).await.unwrap();
    }
    let listed: Vec<BrowserSession> = store.browser_sessions_of_user(&alice.id).await.unwrap();
    assert_eq!(
        listed,
        vec![newer, older],
        "{}: sessions newest first",
        store.backend()
    );

    let subject = scope.name("list-subject");
    // All four for one client of their own, whose live grants are listed too.
    let client = scope.name("list-client");
    let of_client = |mut g: Grant| {
        g.client_id = client.clone();
        g
    };
    let first = of_client(grant(scope, &subject, "g-first", base_plus(10)));
    let second = of_client(grant(scope, &subject, "g-second", base_plus(20)));
    let revoked = of_client(grant(scope, &subject, "g-revoked", base_plus(30)));
    let other = of_client(grant(
        scope,
        &scope.name("other-subject"),
        "g-other",
        base_plus(40),
    ));
    for (seed, g) in [
        (230, &first),
        (231, &second),
        (232, &revoked),
        (233, &other),
    ] {
        store_grant(store, scope, seed, g).await;
    }
    store
        .grant_revoke(&revoked.id, base_plus(31))
        .await
        .unwrap();
    let ids: Vec<String> = store
        .grants_of_subject(&subject)
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.id)
        .collect();
    assert_eq!(
        ids,
        vec![second.id.clone(), first.id.clone()],
        "{}: live grants newest first",
        store.backend()
    );
    let ids: Vec<String> = store
        .grants_of_client(&client)
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.id)
        .collect();
    assert_eq!(
        ids,
        vec![other.id, second.id, first.id],
        "{}: a client's live grants newest first",
        store.backend()
    );
    assert!(
        store
            .grants_of_client(&scope.name("no-such-client"))
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn deleting_a_user_takes_what_is_theirs(store: &dyn Store, scope: &Scope) {
    let alice = new_user(store, scope, "del-alice").await;
    let bob = new_user(store, scope, "del-bob").await;
    let session = browser_session(&alice, scope.secret_hash(250), base_plus(0));
    let bobs_session = browser_session(&bob, scope.secret_hash(251), base_plus(0));
    store.browser_session_insert(&session).await.unwrap();
    store.browser_session_insert(&bobs_session).await.unwrap();
    insert(
        store,
        &factor(&alice, "totp", FactorKind::Totp, base_plus(0)),
    )
    .await;
    store
        .recovery_codes_set(&alice.id, &[scope.secret_hash(252)], base_plus(0))
        .await
        .unwrap();
    assert!(store.user_delete(&alice.id).await.unwrap());
    assert_eq!(store.user_get(&alice.id).await.unwrap(), None);
    assert_eq!(
        store.user_get_by_username(&alice.username).await.unwrap(),
        None
    );
    assert_eq!(
        store.browser_session_get(&session.id_hash).await.unwrap(),
        None
    );
    assert!(factors(store, &alice).await.is_empty());
    assert_eq!(store.recovery_codes_left(&alice.id).await.unwrap(), 0);
    assert!(
        !store.user_delete(&alice.id).await.unwrap(),
        "{}: deleting twice",
        store.backend()
    );
    // Bob is untouched, and alice's username is free again.
    assert!(
        store
            .browser_session_get(&bobs_session.id_hash)
            .await
            .unwrap()
            .is_some()
    );
    new_user(store, scope, "del-alice").await;
}
