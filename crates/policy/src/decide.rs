//! The decision: may this principal do this action here, and why.

use std::collections::HashMap;

use crate::catalog::is_permission;
use crate::grants::{GrantSubject, RoleGrant};
use crate::pattern::{PermissionPattern, ToolHints};
use crate::roles::{RoleError, RoleSet};

/// What is known about the principal asking.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// A user's id, or a service principal's subject (see `service`).
    pub subject: &'a str,
    /// Whether the subject is a service principal rather than a person.
    pub service: bool,
    pub groups: &'a [String],
    /// The principal's tenant (the context of its MCP requests).
    pub tenant: Option<&'a str>,
}

/// What the principal wants to do.
#[derive(Debug, Clone, Copy)]
pub struct Action<'a> {
    /// A permission of the catalog.
    pub permission: &'a str,
    /// The tenant the action is in: the target account's for administrative actions on
    /// accounts, the principal's for MCP traffic; `None` for actions in no tenant.
    pub tenant: Option<&'a str>,
    /// The upstream of MCP traffic.
    pub upstream: Option<&'a str>,
    /// The tool, prompt or resource the MCP request names.
    pub name: Option<&'a str>,
    /// What the tool says of itself, for a tool call (`None`: not known).
    pub hints: Option<ToolHints>,
}

/// Why an action is allowed: the grant, the role and the pattern that allowed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    pub grant: RoleGrant,
    pub pattern: String,
}

/// Why an action is denied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// The permission is not in the catalog (fail closed on anything unknown).
    UnknownPermission,
    /// The principal holds no grant at all.
    NoGrant,
    /// Grants exist, but none in scope has a role whose patterns allow the action.
    NotAllowed,
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed(Reason),
    Denied(Denial),
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed(_))
    }
}

/// Roles and grants, indexed for deciding: grants by grantee kind and name, looked up without
/// allocating.
#[derive(Debug, Clone)]
pub struct Policy {
    roles: RoleSet,
    users: HashMap<String, Vec<RoleGrant>>,
    groups: HashMap<String, Vec<RoleGrant>>,
    services: HashMap<String, Vec<RoleGrant>>,
}

impl Policy {
    /// A policy over `roles` with `grants`; a grant of a role that does not exist is refused.
    pub fn new(roles: RoleSet, grants: Vec<RoleGrant>) -> Result<Policy, RoleError> {
        let mut policy = Policy {
            roles,
            users: HashMap::new(),
            groups: HashMap::new(),
            services: HashMap::new(),
        };
        for grant in grants {
            if !policy.roles.contains(&grant.role) {
                return Err(RoleError::UnknownInherited {
                    role: format!("(granted to {:?})", grant.subject),
                    unknown: grant.role,
                });
            }
            let (index, name) = match &grant.subject {
                GrantSubject::User(n) => (&mut policy.users, n.clone()),
                GrantSubject::Group(n) => (&mut policy.groups, n.clone()),
                GrantSubject::Service(n) => (&mut policy.services, n.clone()),
            };
            index.entry(name).or_default().push(grant);
        }
        for index in [&mut policy.users, &mut policy.groups, &mut policy.services] {
            for grants in index.values_mut() {
                grants.sort();
                grants.dedup();
            }
        }
        Ok(policy)
    }

    pub fn roles(&self) -> &RoleSet {
        &self.roles
    }

    /// The grants that apply to the principal: its own, and (for a person) its groups'.
    fn grants_of<'a>(&'a self, facts: &'a Facts<'_>) -> impl Iterator<Item = &'a RoleGrant> {
        let own = if facts.service {
            self.services.get(facts.subject)
        } else {
            self.users.get(facts.subject)
        };
        let groups: &[String] = if facts.service { &[] } else { facts.groups };
        own.into_iter()
            .chain(groups.iter().filter_map(|g| self.groups.get(g.as_str())))
            .flatten()
    }

    /// The pattern of `role` that allows `action`, ignoring grants and their scopes: for roles
    /// a caller holds by how it arrived rather than by a grant (`upstreams[].authenticated_roles`).
    pub fn role_allows(&self, role: &str, action: &Action<'_>) -> Option<&PermissionPattern> {
        if !is_permission(action.permission) {
            return None;
        }
        self.roles.covering(role, action.permission).find(|p| {
            p.matches_tool(
                action.permission,
                action.upstream,
                action.name,
                action.hints,
            )
        })
    }

    /// A digest of everything that decides for `facts` — the grants that apply and the
    /// patterns of their roles — and of `extra_roles` (roles held without a grant): when it is
    /// unchanged between two policies, every decision for the principal is too.
    pub fn fingerprint(&self, facts: &Facts<'_>, extra_roles: &[String]) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        let role = |name: &str, hasher: &mut std::collections::hash_map::DefaultHasher| {
            name.hash(hasher);
            for pattern in self.roles.patterns(name).unwrap_or_default() {
                pattern.as_str().hash(hasher);
            }
        };
        for grant in self.grants_of(facts) {
            grant.hash(&mut hasher);
            role(&grant.role, &mut hasher);
        }
        for name in extra_roles {
            role(name, &mut hasher);
        }
        hasher.finish()
    }

    /// Whether `facts` may do `action`, and the grant, role and pattern behind a yes.
    pub fn decide(&self, facts: &Facts<'_>, action: &Action<'_>) -> Decision {
        if !is_permission(action.permission) {
            return Decision::Denied(Denial::UnknownPermission);
        }
        let mut any = false;
        for grant in self.grants_of(facts) {
            any = true;
            if !grant.scope.covers(action.tenant, action.upstream) {
                continue;
            }
            if let Some(pattern) = self
                .roles
                .covering(&grant.role, action.permission)
                .find(|p| {
                    p.matches_tool(
                        action.permission,
                        action.upstream,
                        action.name,
                        action.hints,
                    )
                })
            {
                return Decision::Allowed(Reason {
                    grant: grant.clone(),
                    pattern: pattern.as_str().to_owned(),
                });
            }
        }
        Decision::Denied(if any {
            Denial::NotAllowed
        } else {
            Denial::NoGrant
        })
    }
}

#[cfg(test)]
mod tests;
