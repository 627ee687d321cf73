//! The audit log: appends form one chain whoever writes them, an audited change and its record
//! are committed together or not at all, and listings filter as asked.
//!
//! Other runs of the suite (and other processes) may append to the same log at the same time, so
//! every check finds its own records by the scope's names and judges the chain as a whole.

#![allow(
    clippy::indexing_slicing,
    reason = "test-support code: it indexes the fixed lists of events it has just built"
)]

use super::{Scope, api_key, base_plus};
use crate::audit::check_link;
use crate::{AuditEvent, AuditQuery, AuditRecord, Store, StoreError};

pub async fn run_all_in(store: &dyn Store, scope: &Scope) {
    appended_events_round_trip_in_one_chain(store, scope).await;
    an_audited_change_and_its_record_commit_together(store, scope).await;
    every_audited_change_appends_its_record(store, scope).await;
    listings_filter_by_seq_time_and_count(store, scope).await;
    concurrent_appends_never_fork_the_chain(store, scope).await;
}

fn fail(store: &dyn Store, what: &str, e: StoreError) -> ! {
    panic!("{}: {what}: {e}", store.backend())
}

/// An event of this scope; `micros` after the suite's base time, with nanoseconds the store drops.
pub fn event(scope: &Scope, action: &str, target: &str, micros: i64) -> AuditEvent {
    AuditEvent {
        time: base_plus(micros) + time::Duration::nanoseconds(789),
        actor: Some(scope.name("operator")),
        tenant: Some("acme".to_owned()),
        client: None,
        action: action.to_owned(),
        target: Some(scope.name(target)),
        decision: "success".to_owned(),
        reason: Some("a reason with ünïcode".to_owned()),
        request_id: Some("req-1".to_owned()),
        source: Some("192.0.2.7".to_owned()),
    }
}

/// The whole log, oldest first.
pub async fn whole_log(store: &dyn Store) -> Vec<AuditRecord> {
    let mut records = Vec::new();
    loop {
        let query = AuditQuery {
            after_seq: records.last().map_or(0, |r: &AuditRecord| r.seq),
            limit: 500,
            ..AuditQuery::default()
        };
        let page = store
            .audit_list(&query)
            .await
            .unwrap_or_else(|e| fail(store, "audit_list", e));
        if page.is_empty() {
            return records;
        }
        records.extend(page);
    }
}

/// The records of this scope whose target is `target`.
async fn mine(store: &dyn Store, scope: &Scope, target: &str) -> Vec<AuditRecord> {
    let target = scope.name(target);
    whole_log(store)
        .await
        .into_iter()
        .filter(|r| r.event.target.as_deref() == Some(target.as_str()))
        .collect()
}

/// Panics unless `log` (a whole log, oldest first) is one unbroken chain.
pub fn assert_one_chain(store: &dyn Store, log: &[AuditRecord]) {
    let mut previous = None;
    for record in log {
        if let Err(e) = check_link(previous, record) {
            panic!("{}: the audit chain is broken: {e}", store.backend());
        }
        previous = Some(record);
    }
}

/// Appended events come back as given (time to the microsecond, in UTC), in order, each linked
/// to the one before.
pub async fn appended_events_round_trip_in_one_chain(store: &dyn Store, scope: &Scope) {
    let events: Vec<AuditEvent> = (0..3)
        .map(|i| event(scope, &format!("test.step{i}"), "round-trip", i))
        .collect();
    store
        .audit_append(&events)
        .await
        .unwrap_or_else(|e| fail(store, "audit_append", e));
    store
        .audit_append(&[])
        .await
        .unwrap_or_else(|e| fail(store, "audit_append of nothing", e));
    let found = mine(store, scope, "round-trip").await;
    let actions: Vec<&str> = found.iter().map(|r| r.event.action.as_str()).collect();
    assert_eq!(
        actions,
        ["test.step0", "test.step1", "test.step2"],
        "{}",
        store.backend()
    );
    for (record, event) in found.iter().zip(&events) {
        let expected = AuditEvent {
            time: crate::audit::audit_time(event.time),
            ..event.clone()
        };
        assert_eq!(record.event, expected, "{}", store.backend());
        assert_eq!(record.hash, record.compute_hash(), "{}", store.backend());
    }
    assert!(
        found.windows(2).all(|w| w[0].seq < w[1].seq),
        "{}: seq ascends",
        store.backend()
    );
    assert_one_chain(store, &whole_log(store).await);
}

/// A change made with its record appends the record; a change that fails appends nothing.
pub async fn an_audited_change_and_its_record_commit_together(store: &dyn Store, scope: &Scope) {
    let key = api_key(scope, "audited-key", 201, base_plus(0));
    let created = event(scope, "api_key.create", "audited-key", 1);
    store
        .api_key_insert_audited(&key, Some(&created))
        .await
        .unwrap_or_else(|e| fail(store, "api_key_insert_audited", e));
    let found = mine(store, scope, "audited-key").await;
    assert_eq!(
        found.len(),
        1,
        "{}: one record of the insert",
        store.backend()
    );

    // The same key again conflicts: neither the key nor the record is written.
    let again = event(scope, "api_key.create", "audited-key-again", 2);
    match store.api_key_insert_audited(&key, Some(&again)).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("{}: duplicate insert: {other:?}", store.backend()),
    }
    assert!(
        mine(store, scope, "audited-key-again").await.is_empty(),
        "{}: a failed change left its record",
        store.backend()
    );

    let revoked = event(scope, "api_key.revoke", "audited-key-revoke", 3);
    assert!(
        store
            .api_key_revoke_audited(&key.id, base_plus(3), Some(&revoked))
            .await
            .unwrap_or_else(|e| fail(store, "api_key_revoke_audited", e)),
        "{}",
        store.backend()
    );
    assert_eq!(mine(store, scope, "audited-key-revoke").await.len(), 1);

    // An outcome the caller chooses not to record appends nothing; an unknown refresh token
    // changes nothing, so it is not even asked.
    let asked = std::sync::atomic::AtomicBool::new(false);
    let decide = |_: &crate::RefreshRotation| {
        asked.store(true, std::sync::atomic::Ordering::SeqCst);
        Some(event(scope, "token.refresh", "unknown-refresh", 4))
    };
    let successor = crate::RefreshToken {
        token_hash: scope.secret_hash(202),
        grant_id: scope.name("no-such-grant"),
        created_at: base_plus(4),
        expires_at: base_plus(1_000_000),
        used_at: None,
        retried_at: None,
        successor_hash: None,
    };
    let outcome = store
        .refresh_rotate_audited(
            &scope.secret_hash(203),
            base_plus(4),
            &successor,
            time::Duration::seconds(10),
            Some(&decide),
        )
        .await
        .unwrap_or_else(|e| fail(store, "refresh_rotate_audited", e));
    assert_eq!(
        outcome,
        crate::RefreshRotation::Unknown,
        "{}",
        store.backend()
    );
    assert!(!asked.load(std::sync::atomic::Ordering::SeqCst));
    assert!(mine(store, scope, "unknown-refresh").await.is_empty());
    store.api_key_revoke(&key.id, base_plus(5)).await.ok();
}

/// Each `x_audited` method appends its record (checked method by method, each record with a
/// target of its own).
pub async fn every_audited_change_appends_its_record(store: &dyn Store, scope: &Scope) {
    use super::accounts::{browser_session, user};
    use super::authorization_model::{grant, role};
    use super::clients::client;
    use crate::{Consent, GrantScopeKind, RevokedAccessToken, UserStatus};

    let at = base_plus(0);
    let record = |name: &str| Some(event(scope, name, name, 0));
    let check = |result: Result<(), StoreError>, what: &str| {
        result.unwrap_or_else(|e| fail(store, what, e));
    };
    let alice = user(scope, "AuditAlice", at);
    check(
        store
            .user_insert_audited(&alice, record("a-user-insert").as_ref())
            .await,
        "user_insert_audited",
    );
    let session = browser_session(&alice, scope.secret_hash(210), at);
    check(
        store
            .browser_session_insert_audited(&session, record("a-session-insert").as_ref())
            .await,
        "browser_session_insert_audited",
    );
    let changed = [
        store
            .user_set_status_audited(
                &alice.id,
                UserStatus::Disabled,
                at,
                record("a-user-status").as_ref(),
            )
            .await,
        store
            .user_set_password_audited(&alice.id, "x", true, at, record("a-user-password").as_ref())
            .await,
    ];
    for result in changed {
        assert!(result.unwrap_or_else(|e| fail(store, "user change", e)));
    }
    store
        .mfa_reset_audited(&alice.id, record("a-mfa-reset").as_ref())
        .await
        .unwrap_or_else(|e| fail(store, "mfa_reset_audited", e));
    let custom = role(scope, "audit-role", 0);
    check(
        store
            .role_put_audited(&custom, record("a-role-put").as_ref())
            .await,
        "role_put_audited",
    );
    let granted = grant(scope, "audit-grant", &custom.name, GrantScopeKind::All, 0);
    check(
        store
            .role_grant_insert_audited(&granted, record("a-role-grant").as_ref())
            .await,
        "role_grant_insert_audited",
    );
    assert!(
        store
            .role_grant_delete_audited(&granted.id, record("a-role-revoke").as_ref())
            .await
            .unwrap_or_else(|e| fail(store, "role_grant_delete_audited", e))
    );
    assert!(
        store
            .role_delete_audited(&custom.name, record("a-role-delete").as_ref())
            .await
            .unwrap_or_else(|e| fail(store, "role_delete_audited", e))
    );
    let app = client(scope, "audit-client", at);
    check(
        store
            .client_insert_audited(&app, record("a-client-insert").as_ref())
            .await,
        "client_insert_audited",
    );
    assert!(
        store
            .client_update_audited(&app, record("a-client-update").as_ref())
            .await
            .unwrap_or_else(|e| fail(store, "client_update_audited", e))
    );
    let consent = Consent {
        subject: alice.id.clone(),
        client_id: app.client_id.clone(),
        redirect_uri: "http://127.0.0.1:9/cb".to_owned(),
        resource: "http://127.0.0.1:9/servers/files/mcp".to_owned(),
        scope: "files:read".to_owned(),
        created_at: at,
    };
    check(
        store
            .consent_put_audited(&consent, record("a-consent").as_ref())
            .await,
        "consent_put_audited",
    );
    check(
        store
            .access_token_revoke_audited(
                &RevokedAccessToken {
                    jti: scope.name("audit-jti"),
                    expires_at: base_plus(1_000_000_000),
                    revoked_at: at,
                },
                record("a-access-revoke").as_ref(),
            )
            .await,
        "access_token_revoke_audited",
    );
    assert!(
        store
            .client_delete_audited(&app.client_id, record("a-client-delete").as_ref())
            .await
            .unwrap_or_else(|e| fail(store, "client_delete_audited", e))
    );
    let key = super::signing_key(scope, "audit-key", 211, at);
    check(
        store
            .signing_key_insert_audited(&key, record("a-signing-key").as_ref())
            .await,
        "signing_key_insert_audited",
    );
    assert!(
        store
            .signing_key_retire_audited(
                &key.kid,
                super::SIGNING_KEY_CLEANUP,
                record("a-signing-retire").as_ref()
            )
            .await
            .unwrap_or_else(|e| fail(store, "signing_key_retire_audited", e))
    );
    check(
        store
            .recovery_codes_set_audited(
                &alice.id,
                &[scope.secret_hash(212)],
                at,
                record("a-recovery-codes").as_ref(),
            )
            .await,
        "recovery_codes_set_audited",
    );
    let link = super::federation::identity(scope, "audit-idp", "audit-sub", &alice);
    check(
        store
            .external_identity_insert_audited(&link, record("a-identity-link").as_ref())
            .await,
        "external_identity_insert_audited",
    );
    assert_eq!(
        store
            .external_identities_delete_audited(
                &alice.id,
                &link.provider,
                record("a-identity-unlink").as_ref()
            )
            .await
            .unwrap_or_else(|e| fail(store, "external_identities_delete_audited", e)),
        1
    );
    let bob = super::federation::federated_user(scope, "AuditBob");
    let bob_link = super::federation::identity(scope, "audit-idp", "audit-bob", &bob);
    check(
        store
            .user_insert_with_identity_audited(
                &bob,
                &bob_link,
                &[],
                record("a-user-with-identity").as_ref(),
            )
            .await,
        "user_insert_with_identity_audited",
    );
    assert!(
        store
            .user_delete_audited(&bob.id, None)
            .await
            .unwrap_or_else(|e| fail(store, "user_delete_audited", e))
    );
    assert!(
        store
            .user_delete_audited(&alice.id, record("a-user-delete").as_ref())
            .await
            .unwrap_or_else(|e| fail(store, "user_delete_audited", e))
    );
    for target in [
        "a-user-insert",
        "a-session-insert",
        "a-user-status",
        "a-user-password",
        "a-mfa-reset",
        "a-role-put",
        "a-role-grant",
        "a-role-revoke",
        "a-role-delete",
        "a-client-insert",
        "a-client-update",
        "a-consent",
        "a-access-revoke",
        "a-client-delete",
        "a-signing-key",
        "a-signing-retire",
        "a-recovery-codes",
        "a-identity-link",
        "a-identity-unlink",
        "a-user-with-identity",
        "a-user-delete",
    ] {
        assert_eq!(
            mine(store, scope, target).await.len(),
            1,
            "{}: the record of {target}",
            store.backend()
        );
    }
    super::signing_cleanup(store, scope).await;
}

/// `after_seq`, `since`, `limit` and `newest` select as documented; results ascend by `seq`.
pub async fn listings_filter_by_seq_time_and_count(store: &dyn Store, scope: &Scope) {
    // Far in the future of every other check, so `since` selects these alone.
    let far = 10_000_000_000_000;
    let events: Vec<AuditEvent> = (0..4)
        .map(|i| event(scope, &format!("test.list{i}"), "listing", far + i))
        .collect();
    store
        .audit_append(&events)
        .await
        .unwrap_or_else(|e| fail(store, "audit_append", e));
    let mine = mine(store, scope, "listing").await;
    assert_eq!(mine.len(), 4, "{}", store.backend());
    let target = &mine[0].event.target;
    let list = |query: AuditQuery| async move {
        store
            .audit_list(&query)
            .await
            .unwrap_or_else(|e| fail(store, "audit_list", e))
            .into_iter()
            .filter(|r| &r.event.target == target)
            .map(|r| r.event.action)
            .collect::<Vec<_>>()
    };
    let since = Some(crate::audit::audit_time(events[2].time));
    assert_eq!(
        list(AuditQuery {
            since,
            ..AuditQuery::default()
        })
        .await,
        ["test.list2", "test.list3"],
        "{}: since",
        store.backend()
    );
    assert_eq!(
        list(AuditQuery {
            after_seq: mine[0].seq,
            limit: 2,
            ..AuditQuery::default()
        })
        .await
        .first()
        .map(String::as_str),
        Some("test.list1"),
        "{}: after_seq",
        store.backend()
    );
    let newest = store
        .audit_list(&AuditQuery {
            since: Some(crate::audit::audit_time(events[0].time)),
            limit: 2,
            newest: true,
            ..AuditQuery::default()
        })
        .await
        .unwrap_or_else(|e| fail(store, "audit_list", e));
    assert_eq!(newest.len(), 2, "{}: limit", store.backend());
    assert!(
        newest[0].seq < newest[1].seq,
        "{}: ascending",
        store.backend()
    );
    let last = whole_log(store).await.pop().map(|r| r.seq);
    assert_eq!(
        newest.last().map(|r| r.seq),
        last,
        "{}: newest",
        store.backend()
    );
}

/// Eight writers appending at once leave one unbroken chain holding all their records.
pub async fn concurrent_appends_never_fork_the_chain(store: &dyn Store, scope: &Scope) {
    let batch = |i: i64| {
        vec![
            event(scope, "test.concurrent", "concurrent", i),
            event(scope, "test.concurrent", "concurrent", i),
        ]
    };
    let b: Vec<Vec<AuditEvent>> = (0..8).map(batch).collect();
    let results = tokio::join!(
        store.audit_append(&b[0]),
        store.audit_append(&b[1]),
        store.audit_append(&b[2]),
        store.audit_append(&b[3]),
        store.audit_append(&b[4]),
        store.audit_append(&b[5]),
        store.audit_append(&b[6]),
        store.audit_append(&b[7]),
    );
    for result in [
        results.0, results.1, results.2, results.3, results.4, results.5, results.6, results.7,
    ] {
        result.unwrap_or_else(|e| fail(store, "concurrent audit_append", e));
    }
    assert_eq!(mine(store, scope, "concurrent").await.len(), 16);
    assert_one_chain(store, &whole_log(store).await);
}

/// Two stores on one database, standing for two processes or replicas, appending at once (from
/// several threads) leave one chain holding every record; `first`'s log must start empty.
pub async fn two_writers_keep_one_chain(
    first: std::sync::Arc<dyn Store>,
    second: std::sync::Arc<dyn Store>,
) {
    let scope = Scope::fresh();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let store = if i % 2 == 0 { &first } else { &second }.clone();
        let event = event(&scope, "test.race", "race", i);
        tasks.spawn(async move { store.audit_append(&[event]).await });
    }
    while let Some(result) = tasks.join_next().await {
        result
            .unwrap_or_else(|e| panic!("a writer panicked: {e}"))
            .unwrap_or_else(|e| fail(first.as_ref(), "concurrent audit_append", e));
    }
    let log = whole_log(first.as_ref()).await;
    assert_eq!(log.len(), 40, "{}", first.backend());
    assert_one_chain(first.as_ref(), &log);
}

/// After `tamper` (which the backend's append-only triggers must refuse) the one record appended
/// before is still there as it was.
pub async fn the_log_survives_refused_tampering<F, Fut>(store: &dyn Store, tamper: F)
where
    F: Fn(&'static str) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let scope = Scope::fresh();
    store
        .audit_append(&[event(&scope, "test.kept", "kept", 0)])
        .await
        .unwrap_or_else(|e| fail(store, "audit_append", e));
    for sql in [
        "UPDATE audit_log SET target = 'changed'",
        "DELETE FROM audit_log",
    ] {
        match tamper(sql).await {
            Err(message) => assert!(message.contains("append-only"), "{sql}: {message}"),
            Ok(()) => panic!("{}: {sql} was allowed", store.backend()),
        }
    }
    let log = whole_log(store).await;
    assert_eq!(log.len(), 1, "{}", store.backend());
    assert_eq!(log[0].event.target, Some(scope.name("kept")));
}
