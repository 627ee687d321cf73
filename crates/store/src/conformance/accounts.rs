//! The conformance checks of local accounts and browser sessions.
//!
//! Every user a check creates stays behind under a username in the run's [`Scope`] (deleting
//! users is checked in `account_security`); sessions are deleted by the checks that made them. The purge check works
//! before [`PURGE_EPOCH`] under the suite's purge lock, like the other purges.

use time::{Duration, OffsetDateTime};

use super::{PURGE_EPOCH, PURGE_LOCK, Scope, assert_one_winner, base_plus, offset};
use crate::{BrowserSession, Store, StoreError, User, UserStatus};

/// Runs every check of this module in `scope`.
pub async fn run_all_in(store: &dyn Store, scope: &Scope) {
    user_insert_then_lookups_return_equal_rows(store, scope).await;
    user_duplicates_conflict_without_regard_to_case(store, scope).await;
    user_concurrent_inserts_of_one_username_let_exactly_one_win(store, scope).await;
    user_list_is_ordered_by_username_without_case(store, scope).await;
    user_status_and_password_updates(store, scope).await;
    browser_session_insert_then_get_returns_equal_rows(store, scope).await;
    browser_session_duplicates_and_unknown_users_are_refused(store, scope).await;
    browser_session_touch_moves_forward_only(store, scope).await;
    browser_session_delete_and_delete_user(store, scope).await;
    browser_sessions_purge_deletes_exactly_the_expired_before(store, scope).await;
}

pub(super) fn user(scope: &Scope, username: &str, created_at: OffsetDateTime) -> User {
    User {
        id: scope.name(&format!("user-{}", username.to_lowercase())),
        username: scope.name(username),
        email: format!("{}@example.com", username.to_lowercase()),
        email_verified: false,
        display_name: None,
        tenant: None,
        status: UserStatus::Active,
        password_hash: Some(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA".to_owned(),
        ),
        must_change_password: false,
        created_at,
        updated_at: created_at,
    }
}

pub(super) fn browser_session(
    user: &User,
    id_hash: [u8; 32],
    created_at: OffsetDateTime,
) -> BrowserSession {
    BrowserSession {
        id_hash,
        user_id: user.id.clone(),
        created_at,
        last_seen_at: created_at,
        idle_expires_at: created_at + Duration::hours(12),
        absolute_expires_at: created_at + Duration::days(7),
        auth_time: created_at,
        amr: vec!["pwd".to_owned()],
    }
}

async fn user_insert(store: &dyn Store, user: &User) {
    store
        .user_insert(user)
        .await
        .unwrap_or_else(|err| panic!("{}: insert user {user:?}: {err}", store.backend()));
}

async fn user_get(store: &dyn Store, id: &str) -> Option<User> {
    store
        .user_get(id)
        .await
        .unwrap_or_else(|err| panic!("{}: get user {id}: {err}", store.backend()))
}

async fn user_by_name(store: &dyn Store, username: &str) -> Option<User> {
    store
        .user_get_by_username(username)
        .await
        .unwrap_or_else(|err| panic!("{}: user by name {username}: {err}", store.backend()))
}

async fn session_insert(store: &dyn Store, session: &BrowserSession) {
    store
        .browser_session_insert(session)
        .await
        .unwrap_or_else(|err| panic!("{}: insert session {session:?}: {err}", store.backend()));
}

async fn session_get(store: &dyn Store, id_hash: &[u8; 32]) -> Option<BrowserSession> {
    store
        .browser_session_get(id_hash)
        .await
        .unwrap_or_else(|err| panic!("{}: get session: {err}", store.backend()))
}

async fn session_touch(
    store: &dyn Store,
    id_hash: &[u8; 32],
    now: OffsetDateTime,
    idle_expires_at: OffsetDateTime,
) -> bool {
    store
        .browser_session_touch(id_hash, now, idle_expires_at)
        .await
        .unwrap_or_else(|err| panic!("{}: touch session: {err}", store.backend()))
}

async fn session_delete(store: &dyn Store, id_hash: &[u8; 32]) -> bool {
    store
        .browser_session_delete(id_hash)
        .await
        .unwrap_or_else(|err| panic!("{}: delete session: {err}", store.backend()))
}

async fn sessions_purge(store: &dyn Store, expired_before: OffsetDateTime) -> u64 {
    store
        .browser_sessions_purge(expired_before)
        .await
        .unwrap_or_else(|err| panic!("{}: purge sessions: {err}", store.backend()))
}

/// A user reads back exactly as written by id and by username in any case, with every optional
/// field set or unset; unknown ones read as `None`.
pub async fn user_insert_then_lookups_return_equal_rows(store: &dyn Store, scope: &Scope) {
    let plain = user(scope, "lookup-plain", base_plus(0));
    let full = User {
        username: scope.name("Lookup-Ünïcode-It's"),
        email: "Ünïcode@example.com".to_owned(),
        email_verified: true,
        display_name: Some("Zoë O'Brien".to_owned()),
        tenant: Some("acme".to_owned()),
        status: UserStatus::Disabled,
        password_hash: None,
        must_change_password: true,
        updated_at: base_plus(86_400_000_001).to_offset(offset(5, 30)),
        ..user(scope, "lookup-full", base_plus(7).to_offset(offset(-3, 0)))
    };
    assert_eq!(
        user_get(store, &plain.id).await,
        None,
        "{}",
        store.backend()
    );
    user_insert(store, &plain).await;
    user_insert(store, &full).await;

    for row in [&plain, &full] {
        assert_eq!(
            user_get(store, &row.id).await.as_ref(),
            Some(row),
            "{}: by id",
            store.backend()
        );
        for spelling in [
            row.username.clone(),
            row.username.to_uppercase(),
            row.username.to_lowercase(),
        ] {
            assert_eq!(
                user_by_name(store, &spelling).await.as_ref(),
                Some(row),
                "{}: by username {spelling:?}",
                store.backend()
            );
        }
    }
    assert_eq!(
        user_get(store, &scope.name("user-unknown")).await,
        None,
        "{}: unknown id",
        store.backend()
    );
    assert_eq!(
        user_by_name(store, &scope.name("unknown")).await,
        None,
        "{}: unknown username",
        store.backend()
    );
    // A username is not an id, nor the reverse.
    assert_eq!(user_get(store, &plain.username).await, None);
    assert_eq!(user_by_name(store, &plain.id).await, None);
}

/// A second user with the same id, or the same username in another case, fails with `Conflict`,
/// is not stored, and leaves the first untouched.
pub async fn user_duplicates_conflict_without_regard_to_case(store: &dyn Store, scope: &Scope) {
    let first = user(scope, "dup", base_plus(0));
    user_insert(store, &first).await;
    let same_id = User {
        username: scope.name("dup-other-name"),
        ..first.clone()
    };
    let same_name_upper = User {
        id: scope.name("user-dup-upper"),
        username: first.username.to_uppercase(),
        ..first.clone()
    };
    for (what, row) in [("id", &same_id), ("username", &same_name_upper)] {
        let result = store.user_insert(row).await;
        assert!(
            matches!(result, Err(StoreError::Conflict(_))),
            "{}: duplicate {what} gave {result:?}, expected Conflict",
            store.backend()
        );
    }
    assert_eq!(user_get(store, &first.id).await, Some(first.clone()));
    assert_eq!(user_get(store, &same_name_upper.id).await, None);
    assert_eq!(user_by_name(store, &same_id.username).await, None);
}

/// Of several concurrent inserts of one username (in different cases), exactly one succeeds.
pub async fn user_concurrent_inserts_of_one_username_let_exactly_one_win(
    store: &dyn Store,
    scope: &Scope,
) {
    let rows: Vec<User> = ["race", "RACE", "Race", "rAcE"]
        .into_iter()
        .zip(0i64..)
        .map(|(name, i)| User {
            id: scope.name(&format!("user-race-{i}")),
            ..user(scope, name, base_plus(i))
        })
        .collect();
    let [a, b, c, d] = rows.as_slice() else {
        unreachable!("four rows were built");
    };
    let results = tokio::join!(
        store.user_insert(a),
        store.user_insert(b),
        store.user_insert(c),
        store.user_insert(d),
    );
    assert_one_winner(store, &[results.0, results.1, results.2, results.3]);
    let stored = user_by_name(store, &scope.name("race"))
        .await
        .expect("the winner's row is stored");
    assert!(rows.contains(&stored), "{}: {stored:?}", store.backend());
}

/// `list` orders users by their lower-case username compared byte-wise (`a`, `B`, `c`), whatever
/// the order of insertion or creation.
pub async fn user_list_is_ordered_by_username_without_case(store: &dyn Store, scope: &Scope) {
    let c = user(scope, "list-c", base_plus(0));
    let b = user(scope, "list-B", base_plus(1));
    let a = user(scope, "list-a", base_plus(2));
    for row in [&c, &a, &b] {
        user_insert(store, row).await;
    }
    let ours: Vec<User> = store
        .user_list()
        .await
        .unwrap_or_else(|err| panic!("{}: list users: {err}", store.backend()))
        .into_iter()
        .filter(|row| row.username.starts_with(&scope.name("list-")))
        .collect();
    assert_eq!(ours, vec![a, b, c], "{}: order", store.backend());
}

/// Status and password updates change exactly their fields and `updated_at`, and report unknown
/// ids as `false`.
pub async fn user_status_and_password_updates(store: &dyn Store, scope: &Scope) {
    let row = user(scope, "update", base_plus(0));
    user_insert(store, &row).await;

    let disabled_at = base_plus(60_000_001).to_offset(offset(-7, 0));
    let set = store
        .user_set_status(&row.id, UserStatus::Disabled, disabled_at)
        .await
        .unwrap_or_else(|err| panic!("{}: set status: {err}", store.backend()));
    assert!(set, "{}: set status of a known user", store.backend());
    let disabled = User {
        status: UserStatus::Disabled,
        updated_at: disabled_at,
        ..row.clone()
    };
    assert_eq!(user_get(store, &row.id).await, Some(disabled.clone()));

    let changed_at = base_plus(120_000_002);
    let hash = "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdG5ld3NhbHQ$bmV3aGFzaG5ld2hhc2g";
    let set = store
        .user_set_password(&row.id, hash, true, changed_at)
        .await
        .unwrap_or_else(|err| panic!("{}: set password: {err}", store.backend()));
    assert!(set, "{}: set password of a known user", store.backend());
    let changed = User {
        password_hash: Some(hash.to_owned()),
        must_change_password: true,
        updated_at: changed_at,
        ..disabled
    };
    assert_eq!(user_get(store, &row.id).await, Some(changed));

    let unknown = scope.name("user-update-unknown");
    let status = store
        .user_set_status(&unknown, UserStatus::Active, changed_at)
        .await
        .unwrap_or_else(|err| panic!("{}: set status: {err}", store.backend()));
    let password = store
        .user_set_password(&unknown, hash, false, changed_at)
        .await
        .unwrap_or_else(|err| panic!("{}: set password: {err}", store.backend()));
    assert!(
        !status && !password,
        "{}: unknown user updated",
        store.backend()
    );
    assert_eq!(user_get(store, &unknown).await, None, "{}", store.backend());
}

/// Sessions read back exactly as written (every timestamp whatever its offset, an empty and a
/// multi-valued `amr`); unknown ones read as `None`.
pub async fn browser_session_insert_then_get_returns_equal_rows(store: &dyn Store, scope: &Scope) {
    let owner = user(scope, "session-rows", base_plus(0));
    user_insert(store, &owner).await;
    let first = BrowserSession {
        amr: Vec::new(),
        ..browser_session(&owner, scope.secret_hash(100), base_plus(1))
    };
    let second = BrowserSession {
        last_seen_at: base_plus(2_000_001).to_offset(offset(-9, -30)),
        idle_expires_at: base_plus(43_200_000_001).to_offset(offset(5, 30)),
        absolute_expires_at: base_plus(604_800_000_002),
        auth_time: base_plus(3).to_offset(offset(1, 0)),
        amr: vec!["pwd".to_owned(), "otp".to_owned(), "mfa".to_owned()],
        ..browser_session(&owner, scope.secret_hash(101), base_plus(2))
    };
    assert_eq!(session_get(store, &first.id_hash).await, None);
    session_insert(store, &first).await;
    session_insert(store, &second).await;
    for row in [&first, &second] {
        assert_eq!(
            session_get(store, &row.id_hash).await.as_ref(),
            Some(row),
            "{}: session round trip",
            store.backend()
        );
    }
    assert_eq!(
        session_get(store, &scope.secret_hash(102)).await,
        None,
        "{}: unknown session",
        store.backend()
    );
    session_delete(store, &first.id_hash).await;
    session_delete(store, &second.id_hash).await;
}

/// A second session with an existing id hash fails with `Conflict`; a session for a user that
/// does not exist fails; neither is stored.
pub async fn browser_session_duplicates_and_unknown_users_are_refused(
    store: &dyn Store,
    scope: &Scope,
) {
    let owner = user(scope, "session-dup", base_plus(0));
    let other = user(scope, "session-dup-other", base_plus(0));
    user_insert(store, &owner).await;
    user_insert(store, &other).await;
    let first = browser_session(&owner, scope.secret_hash(110), base_plus(1));
    session_insert(store, &first).await;

    let same_hash = browser_session(&other, scope.secret_hash(110), base_plus(2));
    let result = store.browser_session_insert(&same_hash).await;
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "{}: duplicate id hash gave {result:?}, expected Conflict",
        store.backend()
    );
    assert_eq!(
        session_get(store, &first.id_hash).await,
        Some(first.clone())
    );

    let orphan = BrowserSession {
        user_id: scope.name("user-nobody"),
        ..browser_session(&owner, scope.secret_hash(111), base_plus(3))
    };
    let result = store.browser_session_insert(&orphan).await;
    assert!(
        result.is_err(),
        "{}: a session for an unknown user was accepted",
        store.backend()
    );
    assert_eq!(session_get(store, &orphan.id_hash).await, None);
    session_delete(store, &first.id_hash).await;
}

/// `touch` sets `last_seen_at` and `idle_expires_at` (and nothing else), never moves either
/// backwards, and reports unknown sessions as `false`.
pub async fn browser_session_touch_moves_forward_only(store: &dyn Store, scope: &Scope) {
    let owner = user(scope, "session-touch", base_plus(0));
    user_insert(store, &owner).await;
    let row = browser_session(&owner, scope.secret_hash(120), base_plus(0));
    session_insert(store, &row).await;

    let seen = base_plus(600_000_001).to_offset(offset(-7, 0));
    let idle = seen + Duration::hours(12);
    assert!(session_touch(store, &row.id_hash, seen, idle).await);
    let touched = BrowserSession {
        last_seen_at: seen,
        idle_expires_at: idle,
        ..row.clone()
    };
    assert_eq!(
        session_get(store, &row.id_hash).await,
        Some(touched.clone()),
        "{}: after touch",
        store.backend()
    );

    // An older touch (a slower replica) changes nothing.
    assert!(
        session_touch(
            store,
            &row.id_hash,
            base_plus(300_000_000),
            base_plus(300_000_000) + Duration::hours(12)
        )
        .await
    );
    assert_eq!(
        session_get(store, &row.id_hash).await,
        Some(touched),
        "{}: after an older touch",
        store.backend()
    );
    assert!(
        !session_touch(store, &scope.secret_hash(121), seen, idle).await,
        "{}: touch of an unknown session",
        store.backend()
    );
    assert_eq!(session_get(store, &scope.secret_hash(121)).await, None);
    session_delete(store, &row.id_hash).await;
}

/// `delete` ends one session (then reports `false`); `delete_user` ends exactly one user's
/// sessions and counts them.
pub async fn browser_session_delete_and_delete_user(store: &dyn Store, scope: &Scope) {
    let alice = user(scope, "session-delete-alice", base_plus(0));
    let bob = user(scope, "session-delete-bob", base_plus(0));
    user_insert(store, &alice).await;
    user_insert(store, &bob).await;
    let alice_rows = [130u8, 131, 132]
        .map(|seed| browser_session(&alice, scope.secret_hash(seed), base_plus(i64::from(seed))));
    let bob_row = browser_session(&bob, scope.secret_hash(133), base_plus(1));
    for row in alice_rows.iter().chain([&bob_row]) {
        session_insert(store, row).await;
    }

    let [first, ..] = &alice_rows;
    assert!(session_delete(store, &first.id_hash).await);
    assert!(!session_delete(store, &first.id_hash).await);
    assert_eq!(session_get(store, &first.id_hash).await, None);

    let deleted = store
        .browser_sessions_delete_user(&alice.id)
        .await
        .unwrap_or_else(|err| panic!("{}: delete user sessions: {err}", store.backend()));
    assert_eq!(
        deleted,
        2,
        "{}: alice's remaining sessions",
        store.backend()
    );
    for row in &alice_rows {
        assert_eq!(session_get(store, &row.id_hash).await, None);
    }
    assert_eq!(
        session_get(store, &bob_row.id_hash).await,
        Some(bob_row.clone()),
        "{}: bob's session",
        store.backend()
    );
    let again = store
        .browser_sessions_delete_user(&alice.id)
        .await
        .unwrap_or_else(|err| panic!("{}: delete user sessions: {err}", store.backend()));
    assert_eq!(again, 0, "{}", store.backend());
    session_delete(store, &bob_row.id_hash).await;
}

/// `purge` deletes exactly the sessions whose idle or absolute expiry is strictly before the
/// cut-off, judged by instant, and returns how many it deleted.
pub async fn browser_sessions_purge_deletes_exactly_the_expired_before(
    store: &dyn Store,
    scope: &Scope,
) {
    let _serialised = PURGE_LOCK.lock().await;
    let cutoff = PURGE_EPOCH - Duration::DAY;
    // Clear leftovers of an earlier run that failed half-way.
    sessions_purge(store, cutoff).await;

    let owner = user(scope, "session-purge", base_plus(0));
    user_insert(store, &owner).await;
    let micro = Duration::microseconds(1);
    let later = cutoff + Duration::days(1);
    let created = cutoff - Duration::days(30);
    // (idle expiry, absolute expiry)
    let purged = [
        (cutoff - micro, later),
        (later, cutoff - Duration::days(7)),
        // Before the cut-off as an instant, though its local time reads later.
        ((cutoff - micro).to_offset(offset(14, 0)), later),
    ];
    let kept = [
        // Exactly at the cut-off: not *before* it.
        (cutoff, cutoff),
        (cutoff + micro, later),
        // After the cut-off as an instant, though its local time reads earlier.
        ((cutoff + micro).to_offset(offset(-12, 0)), later),
    ];
    let rows: Vec<BrowserSession> = purged
        .iter()
        .chain(&kept)
        .zip(140u8..)
        .map(|(&(idle, absolute), seed)| BrowserSession {
            idle_expires_at: idle,
            absolute_expires_at: absolute,
            ..browser_session(&owner, scope.secret_hash(seed), created)
        })
        .collect();
    for row in &rows {
        session_insert(store, row).await;
    }

    assert_eq!(
        sessions_purge(store, cutoff).await,
        3,
        "{}: purged count",
        store.backend()
    );
    let (gone, left) = rows.split_at(purged.len());
    for row in gone {
        assert_eq!(session_get(store, &row.id_hash).await, None, "{row:?}");
    }
    for row in left {
        assert_eq!(
            session_get(store, &row.id_hash).await.as_ref(),
            Some(row),
            "{}: kept",
            store.backend()
        );
    }
    assert_eq!(
        sessions_purge(store, cutoff).await,
        0,
        "{}",
        store.backend()
    );
    for row in left {
        session_delete(store, &row.id_hash).await;
    }
}
