//! Conformance checks of signing in through identity providers: identities linked to accounts
//! (created together with their account or not at all), pending sign-ins taken exactly once,
//! and provider tokens kept per user and provider.

use time::{Duration, OffsetDateTime};

use super::accounts::user;
use super::{PURGE_LOCK, Scope, base_plus};
use crate::{
    ExternalIdentity, FederationState, GrantScopeKind, GranteeKind, ProviderToken, Store,
    StoreError, StoredRoleGrant, User,
};

fn grant(scope: &Scope, id: &str, user: &User) -> StoredRoleGrant {
    StoredRoleGrant {
        id: scope.name(id),
        grantee_kind: GranteeKind::User,
        grantee: user.id.clone(),
        role: "developer".to_owned(),
        scope_kind: GrantScopeKind::All,
        scope: String::new(),
        created_at: base_plus(1),
    }
}

/// Where the state purge check's rows live: 1910-01-01T00:00:00Z, before every other check's
/// times, so its purge deletes nothing of theirs.
const PURGE_BASE_UNIX: i64 = -1_893_456_000;

pub async fn run_all_in(store: &dyn Store, scope: &Scope) {
    an_account_and_its_identity_are_created_together_or_not_at_all(store, scope).await;
    identities_are_linked_listed_updated_and_unlinked(store, scope).await;
    users_are_found_by_email_without_regard_to_case(store, scope).await;
    pending_sign_ins_are_taken_once_and_expire(store, scope).await;
    concurrent_takes_of_one_state_let_exactly_one_win(store, scope).await;
    pending_sign_ins_are_purged_when_expired(store, scope).await;
    provider_tokens_are_kept_per_user_and_provider(store, scope).await;
    deleting_a_user_takes_identities_and_tokens(store, scope).await;
}

fn fail(store: &dyn Store, what: &str, e: StoreError) -> ! {
    panic!("{}: {what}: {e}", store.backend())
}

pub(super) fn identity(
    scope: &Scope,
    provider: &str,
    subject: &str,
    user: &User,
) -> ExternalIdentity {
    ExternalIdentity {
        provider: scope.name(provider),
        subject: subject.to_owned(),
        user_id: user.id.clone(),
        email: Some(user.email.clone()),
        email_verified: true,
        created_at: base_plus(1),
        last_sign_in_at: base_plus(1),
    }
}

pub(super) fn federated_user(scope: &Scope, name: &str) -> User {
    User {
        password_hash: None,
        ..user(scope, name, base_plus(0))
    }
}

fn state(scope: &Scope, seed: u8, created_at: OffsetDateTime) -> FederationState {
    FederationState {
        state_hash: scope.secret_hash(seed),
        provider: scope.name("corp"),
        browser_hash: scope.secret_hash(seed.wrapping_add(100)),
        nonce: format!("nonce-{seed}"),
        code_verifier: vec![0, 1, 2, 255, seed],
        return_to: Some("/authorize?client_id=x&state=y".to_owned()),
        link_user_id: None,
        created_at,
        expires_at: created_at + Duration::minutes(10),
    }
}

pub async fn an_account_and_its_identity_are_created_together_or_not_at_all(
    store: &dyn Store,
    scope: &Scope,
) {
    let alice = federated_user(scope, "fed-alice");
    let linked = identity(scope, "corp", "alice-sub", &alice);
    store
        .user_insert_with_identity(&alice, &linked, &[grant(scope, "g-alice", &alice)])
        .await
        .unwrap_or_else(|e| fail(store, "user_insert_with_identity", e));
    assert_eq!(
        store.user_get(&alice.id).await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        store
            .external_identity_get(&linked.provider, "alice-sub")
            .await
            .unwrap(),
        Some(linked.clone())
    );

    // The identity is linked already: the new account is not created either.
    let bob = federated_user(scope, "fed-bob");
    let again = identity(scope, "corp", "alice-sub", &bob);
    let result = store
        .user_insert_with_identity(&bob, &again, &[grant(scope, "g-bob", &bob)])
        .await;
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "{}: {result:?}",
        store.backend()
    );
    assert_eq!(
        store.user_get(&bob.id).await.unwrap(),
        None,
        "{}",
        store.backend()
    );

    // The username is taken: the identity is not linked.
    let clash = User {
        id: scope.name("user-fed-alice-2"),
        ..alice.clone()
    };
    let other = identity(scope, "corp", "other-sub", &clash);
    let result = store.user_insert_with_identity(&clash, &other, &[]).await;
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "{}: {result:?}",
        store.backend()
    );
    assert_eq!(
        store
            .external_identity_get(&other.provider, "other-sub")
            .await
            .unwrap(),
        None,
        "{}",
        store.backend()
    );
    store
        .role_grant_delete(&scope.name("g-alice"))
        .await
        .unwrap();
    store.user_delete(&alice.id).await.unwrap();
}

pub async fn identities_are_linked_listed_updated_and_unlinked(store: &dyn Store, scope: &Scope) {
    let carol = user(scope, "fed-carol", base_plus(0));
    store.user_insert(&carol).await.unwrap();
    let corp = identity(scope, "corp", "carol-sub", &carol);
    let github = ExternalIdentity {
        created_at: base_plus(5),
        last_sign_in_at: base_plus(5),
        ..identity(scope, "github", "12345", &carol)
    };
    store
        .external_identity_insert(&github)
        .await
        .unwrap_or_else(|e| fail(store, "external_identity_insert", e));
    store.external_identity_insert(&corp).await.unwrap();
    assert!(matches!(
        store.external_identity_insert(&corp).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.external_identities_of_user(&carol.id).await.unwrap(),
        vec![corp.clone(), github.clone()],
        "{}: oldest first",
        store.backend()
    );

    assert!(
        store
            .external_identity_signed_in(
                &corp.provider,
                "carol-sub",
                Some("Carol@Example.com"),
                false,
                base_plus(60)
            )
            .await
            .unwrap()
    );
    let updated = store
        .external_identity_get(&corp.provider, "carol-sub")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.email.as_deref(), Some("Carol@Example.com"));
    assert!(!updated.email_verified);
    assert_eq!(updated.last_sign_in_at, base_plus(60));
    assert!(
        !store
            .external_identity_signed_in(&corp.provider, "nobody", None, false, base_plus(60))
            .await
            .unwrap()
    );

    let token = ProviderToken {
        user_id: carol.id.clone(),
        provider: corp.provider.clone(),
        sealed: vec![9, 8, 7],
        expires_at: None,
        updated_at: base_plus(2),
    };
    store.provider_token_put(&token).await.unwrap();
    assert_eq!(
        store
            .external_identities_delete(&carol.id, &corp.provider)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .provider_token_get(&carol.id, &corp.provider)
            .await
            .unwrap(),
        None,
        "{}: unlinking forgets the provider's tokens",
        store.backend()
    );
    assert_eq!(
        store.external_identities_of_user(&carol.id).await.unwrap(),
        vec![github]
    );
    store.user_delete(&carol.id).await.unwrap();
}

pub async fn users_are_found_by_email_without_regard_to_case(store: &dyn Store, scope: &Scope) {
    let mut dave = user(scope, "fed-dave", base_plus(0));
    dave.email = format!("{}@Example.COM", scope.name("dave"));
    store.user_insert(&dave).await.unwrap();
    let found = store
        .users_by_email(&dave.email.to_uppercase())
        .await
        .unwrap_or_else(|e| fail(store, "users_by_email", e));
    assert_eq!(found, vec![dave.clone()], "{}", store.backend());
    assert!(
        store
            .users_by_email(&format!("{}@example.org", scope.name("dave")))
            .await
            .unwrap()
            .is_empty()
    );
    store.user_delete(&dave.id).await.unwrap();
}

pub async fn pending_sign_ins_are_taken_once_and_expire(store: &dyn Store, scope: &Scope) {
    let pending = state(scope, 1, base_plus(0));
    store
        .federation_state_insert(&pending)
        .await
        .unwrap_or_else(|e| fail(store, "federation_state_insert", e));
    assert!(matches!(
        store.federation_state_insert(&pending).await,
        Err(StoreError::Conflict(_))
    ));
    let taken = store
        .federation_state_take(&pending.state_hash, base_plus(1))
        .await
        .unwrap_or_else(|e| fail(store, "federation_state_take", e));
    assert_eq!(taken, Some(pending.clone()), "{}", store.backend());
    assert_eq!(
        store
            .federation_state_take(&pending.state_hash, base_plus(2))
            .await
            .unwrap(),
        None,
        "{}: a state is taken once",
        store.backend()
    );

    let expired = state(scope, 2, base_plus(0));
    store.federation_state_insert(&expired).await.unwrap();
    assert_eq!(
        store
            .federation_state_take(&expired.state_hash, expired.expires_at)
            .await
            .unwrap(),
        None,
        "{}: an expired state is not returned",
        store.backend()
    );
    // ... and is gone.
    store
        .federation_state_insert(&expired)
        .await
        .unwrap_or_else(|e| fail(store, "re-inserting a state taken while expired", e));
    store
        .federation_state_take(&expired.state_hash, base_plus(0))
        .await
        .unwrap();
}

pub async fn concurrent_takes_of_one_state_let_exactly_one_win(store: &dyn Store, scope: &Scope) {
    let pending = state(scope, 3, base_plus(0));
    store.federation_state_insert(&pending).await.unwrap();
    let take = || store.federation_state_take(&pending.state_hash, base_plus(1));
    let (a, b, c, d) = tokio::join!(take(), take(), take(), take());
    let won = [a, b, c, d]
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| fail(store, "concurrent take", e)))
        .filter(Option::is_some)
        .count();
    assert_eq!(won, 1, "{}: exactly one take wins", store.backend());
}

pub async fn pending_sign_ins_are_purged_when_expired(store: &dyn Store, scope: &Scope) {
    let _purge = PURGE_LOCK.lock().await;
    let base = OffsetDateTime::from_unix_timestamp(PURGE_BASE_UNIX).expect("valid time");
    let old = state(scope, 4, base);
    let young = state(scope, 5, base + Duration::minutes(5));
    store.federation_state_insert(&old).await.unwrap();
    store.federation_state_insert(&young).await.unwrap();
    let purged = store
        .federation_states_purge(old.expires_at)
        .await
        .unwrap_or_else(|e| fail(store, "federation_states_purge", e));
    assert_eq!(purged, 1, "{}", store.backend());
    assert!(
        store
            .federation_state_take(&young.state_hash, base)
            .await
            .unwrap()
            .is_some()
    );
}

pub async fn provider_tokens_are_kept_per_user_and_provider(store: &dyn Store, scope: &Scope) {
    let erin = user(scope, "fed-erin", base_plus(0));
    store.user_insert(&erin).await.unwrap();
    let github = ProviderToken {
        user_id: erin.id.clone(),
        provider: scope.name("github"),
        sealed: vec![1, 0, 255],
        expires_at: Some(base_plus(3_600_000_000)),
        updated_at: base_plus(1),
    };
    store
        .provider_token_put(&github)
        .await
        .unwrap_or_else(|e| fail(store, "provider_token_put", e));
    let corp = ProviderToken {
        provider: scope.name("corp"),
        expires_at: None,
        ..github.clone()
    };
    store.provider_token_put(&corp).await.unwrap();
    let refreshed = ProviderToken {
        sealed: vec![2, 2],
        expires_at: Some(base_plus(7_200_000_000)),
        updated_at: base_plus(9),
        ..github.clone()
    };
    store.provider_token_put(&refreshed).await.unwrap();
    assert_eq!(
        store
            .provider_token_get(&erin.id, &github.provider)
            .await
            .unwrap(),
        Some(refreshed),
        "{}: put replaces",
        store.backend()
    );
    assert_eq!(
        store
            .provider_token_get(&erin.id, &corp.provider)
            .await
            .unwrap(),
        Some(corp)
    );
    assert_eq!(
        store.provider_tokens_delete_user(&erin.id).await.unwrap(),
        2
    );
    assert_eq!(
        store
            .provider_token_get(&erin.id, &github.provider)
            .await
            .unwrap(),
        None
    );
    store.user_delete(&erin.id).await.unwrap();
}

pub async fn deleting_a_user_takes_identities_and_tokens(store: &dyn Store, scope: &Scope) {
    let frank = federated_user(scope, "fed-frank");
    let linked = identity(scope, "corp", "frank-sub", &frank);
    store
        .user_insert_with_identity(&frank, &linked, &[])
        .await
        .unwrap();
    let token = ProviderToken {
        user_id: frank.id.clone(),
        provider: linked.provider.clone(),
        sealed: vec![3],
        expires_at: None,
        updated_at: base_plus(1),
    };
    store.provider_token_put(&token).await.unwrap();
    assert!(store.user_delete(&frank.id).await.unwrap());
    assert_eq!(
        store
            .external_identity_get(&linked.provider, "frank-sub")
            .await
            .unwrap(),
        None,
        "{}",
        store.backend()
    );
    assert_eq!(
        store
            .provider_token_get(&frank.id, &linked.provider)
            .await
            .unwrap(),
        None
    );
}
