//! Who may do what through the admin API: every operation needs a permission of the catalog
//! (`users.create`, `keys.rotate`, …) in the tenant it acts in, decided by the same policy as MCP
//! traffic. A grant scoped to a tenant allows only actions in that tenant: a tenant admin manages
//! the accounts of its tenant and sees only their records; actions in no tenant (clients,
//! signing keys, roles) need a grant that applies everywhere.
//!
//! Delegation never escalates: granting a role needs every administrative permission the role
//! carries, in the same tenant — so an `admin` cannot make itself `owner`, nor a tenant admin an
//! `admin`; and obtaining a credential that acts as someone (an API key for a service principal,
//! a password reset) needs the right to give each of their grants anew.
//!
//! The operator at the command line is not an [`Actor`]: whoever can read the store's
//! configuration already holds everything.

use portcullis_policy::{Action, Facts, GrantScope, PERMISSIONS, PermissionKind, Policy};
use portcullis_store::{GrantScopeKind, StoredRoleGrant};

use super::AdminError;

/// A caller of the admin API, as the policy knows it.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub policy: &'a Policy,
    pub facts: Facts<'a>,
}

impl<'a> Actor<'a> {
    pub fn new(policy: &'a Policy, facts: Facts<'a>) -> Self {
        Actor { policy, facts }
    }

    /// Whether the caller may do `permission` in `tenant` (`None`: an action in no tenant).
    pub fn may(&self, permission: &str, tenant: Option<&str>) -> bool {
        self.policy.allows(
            &self.facts,
            &Action {
                permission,
                tenant,
                upstream: None,
                name: None,
                hints: None,
            },
        )
    }

    /// [`Actor::may`], or `Forbidden` naming the permission and the tenant.
    pub fn require(&self, permission: &str, tenant: Option<&str>) -> Result<(), AdminError> {
        if self.may(permission, tenant) {
            return Ok(());
        }
        Err(AdminError::Forbidden(match tenant {
            Some(tenant) => format!("this needs the permission {permission} in tenant {tenant:?}"),
            None => format!("this needs the permission {permission} everywhere"),
        }))
    }

    /// For a listing: whether the caller may list at all — everywhere, or in some tenant (each
    /// item is then shown only if [`Actor::may`] allows it in the item's tenant).
    pub fn require_listing(&self, permission: &str) -> Result<(), AdminError> {
        if self.policy.allows_somewhere(&self.facts, permission) {
            return Ok(());
        }
        Err(AdminError::Forbidden(format!(
            "this needs the permission {permission}"
        )))
    }

    /// For actions on things that belong to no tenant but that every manager must see (the
    /// roles one can grant): allowed with the permission anywhere.
    pub fn require_here(&self, permission: &str) -> Result<(), AdminError> {
        self.require_listing(permission)
    }

    /// Whether the caller may give `role` (or take it back) with `scope`: `grants.create` (or
    /// `grants.revoke`) in the grant's tenant, and every administrative permission the role
    /// carries there. A grant scoped to an upstream carries no administrative power (admin
    /// actions name no upstream), so only the grant permission is needed, everywhere.
    pub fn require_delegation(
        &self,
        verb: &str,
        role: &str,
        scope: &GrantScope,
    ) -> Result<(), AdminError> {
        let tenant = match scope {
            GrantScope::Tenant(tenant) => Some(tenant.as_str()),
            GrantScope::All | GrantScope::Upstream(_) => None,
        };
        self.require(verb, tenant)?;
        if matches!(scope, GrantScope::Upstream(_)) {
            return Ok(());
        }
        for permission in PERMISSIONS
            .iter()
            .filter(|p| p.kind == PermissionKind::Admin)
        {
            let action = Action {
                permission: permission.name,
                tenant,
                upstream: None,
                name: None,
                hints: None,
            };
            if self.policy.role_allows(role, &action).is_some()
                && !self.may(permission.name, tenant)
            {
                return Err(AdminError::Forbidden(format!(
                    "the role {role:?} carries the permission {} {}, which the caller does not hold: a grant never gives more than its giver has",
                    permission.name,
                    tenant.map_or("everywhere".to_owned(), |t| format!("in tenant {t:?}")),
                )));
            }
        }
        Ok(())
    }

    /// Whether the caller may obtain a credential that acts as someone holding `grants` — mint
    /// an API key for a service principal, reset an account's password or second factors: as
    /// much as giving each of those grants anew (`grants.create` and everything each carries).
    pub fn require_as_powerful_as(
        &self,
        who: &str,
        grants: &[StoredRoleGrant],
    ) -> Result<(), AdminError> {
        for grant in grants {
            let scope = super::roles::grant_scope(grant.scope_kind, grant.scope.clone());
            self.require_delegation("grants.create", &grant.role, &scope)
                .map_err(|e| {
                    AdminError::Forbidden(format!(
                        "this would act as {who}, who holds {:?}{}: {e}",
                        grant.role,
                        match grant.scope_kind {
                            GrantScopeKind::All => String::new(),
                            kind => format!(" in {} {}", kind.as_str(), grant.scope),
                        }
                    ))
                })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use portcullis_policy::{GrantSubject, RoleGrant, RoleSet};

    use super::*;

    fn policy_of(grants: &[(&str, &str, GrantScope)]) -> Policy {
        let roles = RoleSet::build(&[]).unwrap();
        Policy::new(
            roles,
            grants
                .iter()
                .map(|(user, role, scope)| RoleGrant {
                    subject: GrantSubject::User((*user).to_owned()),
                    role: (*role).to_owned(),
                    scope: scope.clone(),
                })
                .collect(),
        )
        .unwrap()
    }

    fn person<'a>(subject: &'a str, tenant: Option<&'a str>) -> Facts<'a> {
        Facts {
            subject,
            service: false,
            groups: &[],
            tenant,
        }
    }

    fn acme() -> GrantScope {
        GrantScope::Tenant("acme".to_owned())
    }

    #[test]
    fn a_tenant_admin_acts_only_in_its_tenant() {
        let policy = policy_of(&[("usr_t", "tenant_admin", acme())]);
        let actor = Actor::new(&policy, person("usr_t", Some("acme")));
        assert!(actor.may("users.create", Some("acme")));
        assert!(!actor.may("users.create", Some("globex")));
        assert!(!actor.may("users.create", None));
        assert!(actor.require_listing("users.list").is_ok());
        assert!(matches!(
            actor.require("clients.create", None),
            Err(AdminError::Forbidden(_))
        ));
        // Its grant counts wherever the principal itself belongs (an API key has no tenant).
        let elsewhere = Actor::new(&policy, person("usr_t", None));
        assert!(elsewhere.require_listing("users.list").is_ok());
        assert!(!elsewhere.may("users.list", None));
        assert!(elsewhere.require_listing("clients.list").is_err());
    }

    #[test]
    fn nobody_without_a_grant_may_anything() {
        let policy = policy_of(&[]);
        let actor = Actor::new(&policy, person("usr_x", None));
        for p in PERMISSIONS
            .iter()
            .filter(|p| p.kind == PermissionKind::Admin)
        {
            assert!(!actor.may(p.name, None), "{}", p.name);
            assert!(actor.require_listing(p.name).is_err(), "{}", p.name);
        }
    }

    #[test]
    fn delegation_never_gives_more_than_the_giver_holds() {
        let policy = policy_of(&[
            ("usr_admin", "admin", GrantScope::All),
            ("usr_owner", "owner", GrantScope::All),
            ("usr_t", "tenant_admin", acme()),
        ]);
        let admin = Actor::new(&policy, person("usr_admin", None));
        // An admin gives what it holds, not the owner's signing keys.
        assert!(
            admin
                .require_delegation("grants.create", "developer", &GrantScope::All)
                .is_ok()
        );
        assert!(
            admin
                .require_delegation("grants.create", "admin", &GrantScope::All)
                .is_ok()
        );
        let refused = admin.require_delegation("grants.create", "owner", &GrantScope::All);
        assert!(
            matches!(&refused, Err(AdminError::Forbidden(why)) if why.contains("keys.")),
            "{refused:?}"
        );
        assert!(
            admin
                .require_delegation("grants.create", "security_admin", &GrantScope::All)
                .is_err()
        );
        let owner = Actor::new(&policy, person("usr_owner", None));
        assert!(
            owner
                .require_delegation("grants.create", "owner", &GrantScope::All)
                .is_ok()
        );
        // A tenant admin gives tenant roles in its tenant only.
        let tenant = Actor::new(&policy, person("usr_t", Some("acme")));
        assert!(
            tenant
                .require_delegation("grants.create", "developer", &acme())
                .is_ok()
        );
        assert!(
            tenant
                .require_delegation("grants.create", "tenant_admin", &acme())
                .is_ok()
        );
        assert!(
            tenant
                .require_delegation("grants.create", "admin", &acme())
                .is_err()
        );
        assert!(
            tenant
                .require_delegation("grants.create", "developer", &GrantScope::All)
                .is_err()
        );
        assert!(
            tenant
                .require_delegation(
                    "grants.create",
                    "developer",
                    &GrantScope::Tenant("globex".to_owned())
                )
                .is_err()
        );
        // Upstream-scoped grants need the grant permission everywhere.
        assert!(
            tenant
                .require_delegation(
                    "grants.create",
                    "developer",
                    &GrantScope::Upstream("files".to_owned())
                )
                .is_err()
        );
    }

    #[test]
    fn a_key_for_a_principal_is_as_powerful_as_its_grants() {
        let policy = policy_of(&[("usr_admin", "admin", GrantScope::All)]);
        let admin = Actor::new(&policy, person("usr_admin", None));
        let grant = |role: &str| StoredRoleGrant {
            id: "rgr_x".to_owned(),
            grantee_kind: portcullis_store::GranteeKind::Service,
            grantee: "service:ci".to_owned(),
            role: role.to_owned(),
            scope_kind: GrantScopeKind::All,
            scope: String::new(),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        };
        assert!(admin.require_as_powerful_as("service:ci", &[]).is_ok());
        assert!(
            admin
                .require_as_powerful_as("service:ci", &[grant("developer")])
                .is_ok()
        );
        assert!(
            admin
                .require_as_powerful_as("service:ci", &[grant("owner")])
                .is_err()
        );
        // Nobody without grants.create may act as anyone who holds a grant.
        let nobody = policy_of(&[]);
        let nobody = Actor::new(&nobody, person("usr_x", None));
        assert!(nobody.require_as_powerful_as("service:ci", &[]).is_ok());
        assert!(
            nobody
                .require_as_powerful_as("service:ci", &[grant("viewer")])
                .is_err()
        );
    }
}
