//! Conformance checks of custom roles and role grants: replace keeps the creation time, a
//! granted role cannot be deleted, duplicate grants conflict, lists are ordered, and every write
//! moves the authorization version.

use super::{Scope, base_plus};
use crate::{
    GrantScopeKind, GranteeKind, GroupMember, Store, StoreError, StoredGroup, StoredRole,
    StoredRoleGrant,
};

pub async fn run_all_in(store: &dyn Store, scope: &Scope) {
    roles_are_put_replaced_listed_and_deleted(store, scope).await;
    grants_are_unique_ordered_and_keep_their_role(store, scope).await;
    every_write_moves_the_version(store, scope).await;
    local_groups_hold_members_and_move_the_version(store, scope).await;
}

fn fail(store: &dyn Store, what: &str, e: StoreError) -> ! {
    panic!("{}: {what}: {e}", store.backend())
}

pub(super) fn role(scope: &Scope, name: &str, at: i64) -> StoredRole {
    StoredRole {
        name: scope.name(name),
        inherits: vec!["viewer".to_owned(), "other role".to_owned()],
        permissions: vec![
            "mcp.tools.call:files/read_*".to_owned(),
            "mcp.resources.read:docs/file:///srv/My Docs/*".to_owned(),
        ],
        description: Some("Reads files".to_owned()),
        created_at: base_plus(at),
        updated_at: base_plus(at),
    }
}

pub(super) fn grant(
    scope: &Scope,
    id: &str,
    role: &str,
    kind: GrantScopeKind,
    at: i64,
) -> StoredRoleGrant {
    StoredRoleGrant {
        id: scope.name(id),
        grantee_kind: GranteeKind::User,
        grantee: scope.name("alice"),
        role: role.to_owned(),
        scope_kind: kind,
        scope: match kind {
            GrantScopeKind::All => String::new(),
            GrantScopeKind::Tenant => "acme".to_owned(),
            GrantScopeKind::Upstream => "files".to_owned(),
        },
        created_at: base_plus(at),
    }
}

fn mine<'a>(scope: &Scope, rows: &'a [StoredRoleGrant]) -> Vec<&'a StoredRoleGrant> {
    let prefix = scope.name("");
    rows.iter().filter(|g| g.id.starts_with(&prefix)).collect()
}

pub async fn roles_are_put_replaced_listed_and_deleted(store: &dyn Store, scope: &Scope) {
    let reader = role(scope, "reader", 1);
    store
        .role_put(&reader)
        .await
        .unwrap_or_else(|e| fail(store, "role_put", e));
    let changed = StoredRole {
        permissions: vec!["mcp.tools.*".to_owned()],
        description: None,
        created_at: base_plus(50),
        updated_at: base_plus(50),
        ..reader.clone()
    };
    store.role_put(&changed).await.unwrap();
    let listed = store.role_list().await.unwrap();
    let found = listed.iter().find(|r| r.name == reader.name).unwrap();
    assert_eq!(
        found,
        &StoredRole {
            created_at: reader.created_at,
            ..changed.clone()
        },
        "{}: replacing keeps the creation time",
        store.backend()
    );
    let sorted: Vec<&str> = listed.iter().map(|r| r.name.as_str()).collect();
    let mut expected = sorted.clone();
    expected.sort_unstable();
    assert_eq!(sorted, expected, "{}: by name", store.backend());

    let used = grant(scope, "g-used", &reader.name, GrantScopeKind::All, 2);
    store.role_grant_insert(&used).await.unwrap();
    assert!(
        matches!(
            store.role_delete(&reader.name).await,
            Err(StoreError::Conflict(_))
        ),
        "{}: a granted role is not deleted",
        store.backend()
    );
    assert!(store.role_grant_delete(&used.id).await.unwrap());
    assert!(store.role_delete(&reader.name).await.unwrap());
    assert!(!store.role_delete(&reader.name).await.unwrap());
}

pub async fn grants_are_unique_ordered_and_keep_their_role(store: &dyn Store, scope: &Scope) {
    let role = scope.name("developer-ish");
    let everywhere = grant(scope, "g1", &role, GrantScopeKind::All, 3);
    let tenant = grant(scope, "g2", &role, GrantScopeKind::Tenant, 2);
    let upstream = StoredRoleGrant {
        grantee_kind: GranteeKind::Group,
        grantee: scope.name("sre"),
        ..grant(scope, "g3", &role, GrantScopeKind::Upstream, 2)
    };
    for g in [&everywhere, &tenant, &upstream] {
        store
            .role_grant_insert(g)
            .await
            .unwrap_or_else(|e| fail(store, "role_grant_insert", e));
    }
    let again = StoredRoleGrant {
        id: scope.name("g4"),
        ..tenant.clone()
    };
    assert!(
        matches!(
            store.role_grant_insert(&again).await,
            Err(StoreError::Conflict(_))
        ),
        "{}: the same grant twice",
        store.backend()
    );
    let all = store.role_grant_list().await.unwrap();
    assert_eq!(
        mine(scope, &all),
        vec![&tenant, &upstream, &everywhere],
        "{}: oldest first, then by id",
        store.backend()
    );
    for g in [&everywhere, &tenant, &upstream] {
        assert!(store.role_grant_delete(&g.id).await.unwrap());
    }
    assert!(!store.role_grant_delete(&everywhere.id).await.unwrap());
    assert!(mine(scope, &store.role_grant_list().await.unwrap()).is_empty());
}

pub async fn every_write_moves_the_version(store: &dyn Store, scope: &Scope) {
    let version = || async {
        store
            .authorization_version()
            .await
            .unwrap_or_else(|e| fail(store, "authorization_version", e))
    };
    let mut last = version().await;
    let mut moved = |what: &str, now: i64| {
        assert!(now > last, "{}: {what} moves the version", store.backend());
        last = now;
    };
    let reader = role(scope, "versioned", 1);
    store.role_put(&reader).await.unwrap();
    moved("a new role", version().await);
    store.role_put(&reader).await.unwrap();
    moved("a replaced role", version().await);
    let g = grant(scope, "g-versioned", &reader.name, GrantScopeKind::All, 2);
    store.role_grant_insert(&g).await.unwrap();
    moved("a grant", version().await);
    assert!(store.role_grant_delete(&g.id).await.unwrap());
    moved("a revoked grant", version().await);
    assert!(store.role_delete(&reader.name).await.unwrap());
    moved("a deleted role", version().await);
}

/// Local groups: names are unique, members are accounts that exist, a membership is added once,
/// deleting the group or the account ends its memberships, and every write moves the version.
pub async fn local_groups_hold_members_and_move_the_version(store: &dyn Store, scope: &Scope) {
    let version = || async { store.authorization_version().await.unwrap() };
    let start = version().await;
    let alice = super::accounts::user(scope, "GroupAlice", base_plus(0));
    let bob = super::accounts::user(scope, "GroupBob", base_plus(0));
    store.user_insert(&alice).await.unwrap();
    store.user_insert(&bob).await.unwrap();
    let group = StoredGroup {
        name: scope.name("engineering"),
        tenant: Some("acme".to_owned()),
        description: Some("Builds things".to_owned()),
        created_at: base_plus(1),
    };
    store.group_insert_audited(&group, None).await.unwrap();
    assert!(
        version().await > start,
        "{}: a group moves the version",
        store.backend()
    );
    assert!(matches!(
        store.group_insert_audited(&group, None).await,
        Err(StoreError::Conflict(_))
    ));
    let listed = store.group_list().await.unwrap();
    assert_eq!(
        listed.iter().find(|g| g.name == group.name),
        Some(&group),
        "{}",
        store.backend()
    );
    let member = |user: &crate::User| GroupMember {
        group: group.name.clone(),
        user_id: user.id.clone(),
    };
    let before = version().await;
    store
        .group_member_add_audited(&member(&alice), None)
        .await
        .unwrap();
    assert!(
        version().await > before,
        "{}: a member moves the version",
        store.backend()
    );
    assert!(matches!(
        store.group_member_add_audited(&member(&alice), None).await,
        Err(StoreError::Conflict(_))
    ));
    store
        .group_member_add_audited(&member(&bob), None)
        .await
        .unwrap();
    let mine = |all: Vec<GroupMember>| -> Vec<GroupMember> {
        all.into_iter().filter(|m| m.group == group.name).collect()
    };
    let mut expected = vec![member(&alice), member(&bob)];
    expected.sort();
    assert_eq!(mine(store.group_members().await.unwrap()), expected);
    // Nobody who does not exist becomes a member.
    let ghost = GroupMember {
        group: group.name.clone(),
        user_id: scope.name("nobody"),
    };
    assert!(store.group_member_add_audited(&ghost, None).await.is_err());
    // Removing, deleting the account, deleting the group.
    let before = version().await;
    assert!(
        store
            .group_member_remove_audited(&member(&alice), None)
            .await
            .unwrap()
    );
    assert!(version().await > before);
    assert!(
        !store
            .group_member_remove_audited(&member(&alice), None)
            .await
            .unwrap()
    );
    assert!(store.user_delete(&bob.id).await.unwrap());
    assert!(
        mine(store.group_members().await.unwrap()).is_empty(),
        "{}",
        store.backend()
    );
    store
        .group_member_add_audited(&member(&alice), None)
        .await
        .unwrap();
    let before = version().await;
    assert!(store.group_delete_audited(&group.name, None).await.unwrap());
    assert!(version().await > before);
    assert!(mine(store.group_members().await.unwrap()).is_empty());
    assert!(!store.group_delete_audited(&group.name, None).await.unwrap());
    assert!(
        store
            .group_list()
            .await
            .unwrap()
            .iter()
            .all(|g| g.name != group.name)
    );
}
