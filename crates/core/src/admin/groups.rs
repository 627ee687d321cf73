//! Local groups: create, list, show, delete, and their members. A role granted to a group
//! (`role grant --group NAME`) applies to its members as it does to the members of an identity
//! provider's group of that name; a change reaches every replica with the next policy rebuild.
//! A group with a tenant admits only that tenant's accounts.

use portcullis_store::{GroupMember, Store, StoreError, StoredGroup, User};
use time::OffsetDateTime;

use super::AdminError;
use crate::audit::{AuditContext, action};
use crate::config::validate::is_valid_name;

/// A group with its members' accounts, by username.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupView {
    pub group: StoredGroup,
    pub members: Vec<User>,
}

/// What to create.
#[derive(Debug, Clone, Copy)]
pub struct NewGroup<'a> {
    pub name: &'a str,
    pub tenant: Option<&'a str>,
    pub description: Option<&'a str>,
}

/// Creates a group. Nothing is stored when the request is invalid or the name is taken.
pub async fn create(
    store: &dyn Store,
    audit: &AuditContext,
    new: NewGroup<'_>,
    now: OffsetDateTime,
) -> Result<StoredGroup, AdminError> {
    if !is_valid_name(new.name) {
        return Err(AdminError::Invalid(format!(
            "the group name {:?} must be 1-63 lowercase letters, digits, '-' or '_'",
            new.name
        )));
    }
    if let Some(tenant) = new.tenant
        && !is_valid_name(tenant)
    {
        return Err(AdminError::Invalid(format!(
            "the tenant {tenant:?} must be 1-63 lowercase letters, digits, '-' or '_'"
        )));
    }
    if let Some(description) = new.description
        && (description.trim().is_empty()
            || description.chars().count() > 1000
            || description.contains(char::is_control))
    {
        return Err(AdminError::Invalid(
            "the description must be 1 to 1000 characters without control characters".to_owned(),
        ));
    }
    let group = StoredGroup {
        name: new.name.to_owned(),
        tenant: new.tenant.map(str::to_owned),
        description: new.description.map(str::to_owned),
        created_at: now,
    };
    let event = audit.event(now, action::GROUP_CREATE, Some(&group.name));
    match store.group_insert_audited(&group, event.as_ref()).await {
        Ok(()) => Ok(group),
        Err(StoreError::Conflict(_)) => Err(AdminError::Conflict(format!(
            "a group is named {:?} already",
            new.name
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Every group with its members, by name.
pub async fn list(store: &dyn Store) -> Result<Vec<GroupView>, AdminError> {
    let groups = store.group_list().await?;
    let members = store.group_members().await?;
    let users = store.user_list().await?;
    Ok(groups
        .into_iter()
        .map(|group| {
            let mut members: Vec<User> = members
                .iter()
                .filter(|m| m.group == group.name)
                .filter_map(|m| users.iter().find(|u| u.id == m.user_id).cloned())
                .collect();
            members.sort_by(|a, b| a.username.cmp(&b.username));
            GroupView { group, members }
        })
        .collect())
}

/// One group with its members.
pub async fn show(store: &dyn Store, name: &str) -> Result<GroupView, AdminError> {
    list(store)
        .await?
        .into_iter()
        .find(|g| g.group.name == name)
        .ok_or_else(|| AdminError::NotFound(format!("no group is named {name:?}")))
}

/// Deletes a group and its memberships (its grants stay: they may name an identity provider's
/// group of the same name); returns it as it was.
pub async fn delete(
    store: &dyn Store,
    audit: &AuditContext,
    name: &str,
    now: OffsetDateTime,
) -> Result<GroupView, AdminError> {
    let view = show(store, name).await?;
    let event = audit.event(now, action::GROUP_DELETE, Some(name));
    if !store.group_delete_audited(name, event.as_ref()).await? {
        return Err(AdminError::NotFound(format!("no group is named {name:?}")));
    }
    Ok(view)
}

/// The group and the account a membership change names.
async fn both(
    store: &dyn Store,
    group: &str,
    username: &str,
) -> Result<(GroupView, User), AdminError> {
    let view = show(store, group).await?;
    let user = super::users::show(store, username).await?;
    Ok((view, user))
}

/// Makes the account `username` a member of `group`; returns the group as it now is.
pub async fn add_member(
    store: &dyn Store,
    audit: &AuditContext,
    group: &str,
    username: &str,
    now: OffsetDateTime,
) -> Result<GroupView, AdminError> {
    let (view, user) = both(store, group, username).await?;
    if let Some(tenant) = &view.group.tenant
        && user.tenant.as_ref() != Some(tenant)
    {
        return Err(AdminError::Conflict(format!(
            "the group {group:?} is tenant {tenant:?}'s, and {username:?} is not in it"
        )));
    }
    let member = GroupMember {
        group: view.group.name.clone(),
        user_id: user.id.clone(),
    };
    let target = format!("{} ({}) in {}", user.username, user.id, view.group.name);
    let event = audit.event(now, action::GROUP_MEMBER_ADD, Some(&target));
    match store
        .group_member_add_audited(&member, event.as_ref())
        .await
    {
        Ok(()) => show(store, group).await,
        Err(StoreError::Conflict(_)) => Err(AdminError::Conflict(format!(
            "{username:?} is a member of {group:?} already"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Ends the membership of the account `username` in `group`; returns the group as it now is.
pub async fn remove_member(
    store: &dyn Store,
    audit: &AuditContext,
    group: &str,
    username: &str,
    now: OffsetDateTime,
) -> Result<GroupView, AdminError> {
    let (view, user) = both(store, group, username).await?;
    let member = GroupMember {
        group: view.group.name.clone(),
        user_id: user.id.clone(),
    };
    let target = format!("{} ({}) in {}", user.username, user.id, view.group.name);
    let event = audit.event(now, action::GROUP_MEMBER_REMOVE, Some(&target));
    if !store
        .group_member_remove_audited(&member, event.as_ref())
        .await?
    {
        return Err(AdminError::NotFound(format!(
            "{username:?} is not a member of {group:?}"
        )));
    }
    show(store, group).await
}

#[cfg(test)]
mod tests {
    use portcullis_policy::{Action, Facts};
    use portcullis_store::MemoryStore;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::accounts::{InlineHashing, Password, PasswordPolicy};
    use crate::admin::roles::{self, Grantee, Where};
    use crate::admin::users::{self, InitialPassword, NewUser};
    use crate::config::Config;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    async fn account(store: &MemoryStore, username: &str, tenant: Option<&str>) -> User {
        let new = NewUser {
            username,
            email: &format!("{username}@example.com"),
            display_name: None,
            tenant,
            password: InitialPassword::Given(Password::new(
                "correct horse battery staple".to_owned(),
            )),
        };
        users::create(
            store,
            &AuditContext::off(),
            &InlineHashing,
            &PasswordPolicy { min_length: 12 },
            new,
            now(),
            &mut StdRng::seed_from_u64(username.len() as u64),
        )
        .await
        .unwrap()
        .user
    }

    fn may_call(policy: &portcullis_policy::Policy, user: &User) -> bool {
        policy.allows(
            &Facts {
                subject: &user.id,
                service: false,
                groups: &[],
                tenant: user.tenant.as_deref(),
            },
            &Action {
                permission: "mcp.tools.call",
                tenant: user.tenant.as_deref(),
                upstream: Some("files"),
                name: Some("read"),
                hints: None,
            },
        )
    }

    #[tokio::test]
    async fn a_groups_grants_apply_to_its_members_and_only_while_they_are() {
        let store = MemoryStore::new();
        let audit = AuditContext::cli("root", true);
        let config = Config {
            upstreams: vec![crate::config::UpstreamConfig::http(
                "files",
                "http://127.0.0.1:1/mcp",
            )],
            ..Config::default()
        };
        let alice = account(&store, "alice", None).await;
        let bob = account(&store, "bob", Some("acme")).await;
        let new = NewGroup {
            name: "engineering",
            tenant: None,
            description: Some("Builds things"),
        };
        create(&store, &audit, new, now()).await.unwrap();
        assert!(matches!(
            create(&store, &audit, new, now()).await,
            Err(AdminError::Conflict(_))
        ));
        assert!(matches!(
            create(
                &store,
                &audit,
                NewGroup {
                    name: "Bad Name",
                    ..new
                },
                now()
            )
            .await,
            Err(AdminError::Invalid(_))
        ));
        roles::grant(
            &store,
            &audit,
            &config,
            &Grantee::Group("engineering"),
            "developer",
            Where::default(),
            now(),
            &mut StdRng::seed_from_u64(2),
        )
        .await
        .unwrap();
        let policy = roles::policy(&store, &config).await.unwrap();
        assert!(!may_call(&policy, &alice), "not a member yet");

        let view = add_member(&store, &audit, "engineering", "alice", now())
            .await
            .unwrap();
        assert_eq!(view.members.len(), 1);
        assert!(matches!(
            add_member(&store, &audit, "engineering", "alice", now()).await,
            Err(AdminError::Conflict(_))
        ));
        let policy = roles::policy(&store, &config).await.unwrap();
        assert!(may_call(&policy, &alice));
        assert!(!may_call(&policy, &bob));

        // A tenant's group admits that tenant's accounts only.
        let acme = NewGroup {
            name: "acme-eng",
            tenant: Some("acme"),
            description: None,
        };
        create(&store, &audit, acme, now()).await.unwrap();
        assert!(matches!(
            add_member(&store, &audit, "acme-eng", "alice", now()).await,
            Err(AdminError::Conflict(_))
        ));
        add_member(&store, &audit, "acme-eng", "bob", now())
            .await
            .unwrap();

        remove_member(&store, &audit, "engineering", "alice", now())
            .await
            .unwrap();
        assert!(matches!(
            remove_member(&store, &audit, "engineering", "alice", now()).await,
            Err(AdminError::NotFound(_))
        ));
        let policy = roles::policy(&store, &config).await.unwrap();
        assert!(
            !may_call(&policy, &alice),
            "a former member loses the grant"
        );

        add_member(&store, &audit, "engineering", "alice", now())
            .await
            .unwrap();
        let gone = delete(&store, &audit, "engineering", now()).await.unwrap();
        assert_eq!(gone.members[0].username, "alice");
        let policy = roles::policy(&store, &config).await.unwrap();
        assert!(!may_call(&policy, &alice), "a deleted group grants nothing");
        let actions: Vec<String> = store
            .audit_list(&portcullis_store::AuditQuery::default())
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.event.action)
            .collect();
        for expected in [
            action::GROUP_CREATE,
            action::GROUP_MEMBER_ADD,
            action::GROUP_MEMBER_REMOVE,
            action::GROUP_DELETE,
        ] {
            assert!(actions.iter().any(|a| a == expected), "{expected}");
        }
    }
}
