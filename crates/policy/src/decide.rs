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
/// allocating, and each grantee's grants merged by scope (see [`Grantee`]).
#[derive(Debug, Clone)]
pub struct Policy {
    roles: RoleSet,
    users: HashMap<String, Grantee>,
    groups: HashMap<String, Grantee>,
    services: HashMap<String, Grantee>,
    /// The local groups each person (by subject) is a member of, beside the groups its
    /// credential names.
    local_groups: HashMap<String, Vec<String>>,
}

/// The grants of one grantee, sorted, and for each scope among them the patterns of all the
/// roles granted in it, by permission, each pattern once: a decision scans a principal's
/// patterns once however many of its roles repeat them (roles that inherit each other do).
#[derive(Debug, Clone, Default)]
struct Grantee {
    grants: Vec<RoleGrant>,
    scoped: Vec<Scoped>,
}

#[derive(Debug, Clone)]
struct Scoped {
    scope: crate::grants::GrantScope,
    /// Catalog permission → the patterns that can allow it, with the index in `grants` of the
    /// first grant whose role has it, in the order a grant-by-grant scan would try them.
    by_permission: HashMap<&'static str, Vec<(PermissionPattern, usize)>>,
}

impl Grantee {
    fn index(grants: Vec<RoleGrant>, roles: &RoleSet) -> Grantee {
        let mut scoped: Vec<Scoped> = Vec::new();
        for (at, grant) in grants.iter().enumerate() {
            let slot = match scoped.iter().position(|s| s.scope == grant.scope) {
                Some(slot) => slot,
                None => {
                    scoped.push(Scoped {
                        scope: grant.scope.clone(),
                        by_permission: HashMap::new(),
                    });
                    scoped.len() - 1
                }
            };
            let Some(merged) = scoped.get_mut(slot) else {
                continue;
            };
            for info in crate::catalog::PERMISSIONS {
                for pattern in roles.covering(&grant.role, info.name) {
                    let list = merged.by_permission.entry(info.name).or_default();
                    if !list.iter().any(|(p, _)| p == pattern) {
                        list.push((pattern.clone(), at));
                    }
                }
            }
        }
        Grantee { grants, scoped }
    }

    /// The first grant (in order) that allows `action`, and its pattern.
    fn allowing(&self, action: &Action<'_>) -> Option<(&RoleGrant, &PermissionPattern)> {
        let mut best: Option<(usize, &PermissionPattern)> = None;
        for scoped in &self.scoped {
            if !scoped.scope.covers(action.tenant, action.upstream) {
                continue;
            }
            let Some(list) = scoped.by_permission.get(action.permission) else {
                continue;
            };
            if let Some((pattern, at)) = list.iter().find(|(p, _)| {
                p.matches_target(
                    action.permission,
                    action.upstream,
                    action.name,
                    action.hints,
                )
            }) && best.is_none_or(|(b, _)| *at < b)
            {
                best = Some((*at, pattern));
            }
        }
        best.and_then(|(at, pattern)| self.grants.get(at).map(|g| (g, pattern)))
    }
}

impl Policy {
    /// A policy over `roles` with `grants`; a grant of a role that does not exist is refused.
    pub fn new(roles: RoleSet, grants: Vec<RoleGrant>) -> Result<Policy, RoleError> {
        let mut users: HashMap<String, Vec<RoleGrant>> = HashMap::new();
        let mut groups: HashMap<String, Vec<RoleGrant>> = HashMap::new();
        let mut services: HashMap<String, Vec<RoleGrant>> = HashMap::new();
        for grant in grants {
            if !roles.contains(&grant.role) {
                return Err(RoleError::UnknownInherited {
                    role: format!("(granted to {:?})", grant.subject),
                    unknown: grant.role,
                });
            }
            let (index, name) = match &grant.subject {
                GrantSubject::User(n) => (&mut users, n.clone()),
                GrantSubject::Group(n) => (&mut groups, n.clone()),
                GrantSubject::Service(n) => (&mut services, n.clone()),
            };
            index.entry(name).or_default().push(grant);
        }
        let index = |map: HashMap<String, Vec<RoleGrant>>| -> HashMap<String, Grantee> {
            map.into_iter()
                .map(|(name, mut grants)| {
                    grants.sort();
                    grants.dedup();
                    (name, Grantee::index(grants, &roles))
                })
                .collect()
        };
        let (users, groups, services) = (index(users), index(groups), index(services));
        Ok(Policy {
            roles,
            users,
            groups,
            services,
            local_groups: HashMap::new(),
        })
    }

    /// The same policy, where each `(subject, group)` makes the person `subject` a member of
    /// the local group `group`: the group's grants apply to it as to the members of a group its
    /// credential names.
    #[must_use]
    pub fn with_local_groups(
        mut self,
        memberships: impl IntoIterator<Item = (String, String)>,
    ) -> Policy {
        for (subject, group) in memberships {
            let groups = self.local_groups.entry(subject).or_default();
            if !groups.contains(&group) {
                groups.push(group);
            }
        }
        self
    }

    pub fn roles(&self) -> &RoleSet {
        &self.roles
    }

    /// The local groups the person `subject` is a member of.
    pub fn local_groups(&self, subject: &str) -> &[String] {
        self.local_groups.get(subject).map_or(&[], Vec::as_slice)
    }

    /// The grantees whose grants apply to the principal: itself, and (for a person) the groups
    /// its credential names and then its local groups.
    fn grantees_of<'s, 'f>(
        &'s self,
        facts: Facts<'f>,
    ) -> impl Iterator<Item = &'s Grantee> + use<'s, 'f> {
        let own = if facts.service {
            self.services.get(facts.subject)
        } else {
            self.users.get(facts.subject)
        };
        let (groups, local): (&[String], &[String]) = if facts.service {
            (&[], &[])
        } else {
            (
                facts.groups,
                self.local_groups
                    .get(facts.subject)
                    .map_or(&[], Vec::as_slice),
            )
        };
        own.into_iter()
            .chain(groups.iter().filter_map(|g| self.groups.get(g.as_str())))
            .chain(
                local
                    .iter()
                    .filter(move |g| !groups.contains(g))
                    .filter_map(|g| self.groups.get(g.as_str())),
            )
    }

    /// The grants that apply to the principal: its own, and (for a person) its groups'.
    fn grants_of<'s, 'f>(
        &'s self,
        facts: Facts<'f>,
    ) -> impl Iterator<Item = &'s RoleGrant> + use<'s, 'f> {
        self.grantees_of(facts).flat_map(|g| g.grants.iter())
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

    /// Whether some grant of `facts` allows `permission` (an action in no upstream, naming
    /// nothing) in some tenant or everywhere: whether a listing of things in many tenants can
    /// show the principal anything.
    pub fn allows_somewhere(&self, facts: &Facts<'_>, permission: &str) -> bool {
        let action = Action {
            permission,
            tenant: None,
            upstream: None,
            name: None,
            hints: None,
        };
        self.grants_of(*facts).any(|grant| {
            !matches!(grant.scope, crate::grants::GrantScope::Upstream(_))
                && self.role_allows(&grant.role, &action).is_some()
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
        for grant in self.grants_of(*facts) {
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
        match self.allowing(facts, action) {
            Ok((grant, pattern)) => Decision::Allowed(Reason {
                grant: grant.clone(),
                pattern: pattern.as_str().to_owned(),
            }),
            Err(denial) => Decision::Denied(denial),
        }
    }

    /// Whether `facts` may do `action`: [`Policy::decide`] without the reason (and without
    /// allocating), for the request path.
    pub fn allows(&self, facts: &Facts<'_>, action: &Action<'_>) -> bool {
        self.allowing(facts, action).is_ok()
    }

    /// The first grant (own grants first, then each group's, each in order) whose scope covers
    /// `action` and whose role has a pattern allowing it.
    fn allowing(
        &self,
        facts: &Facts<'_>,
        action: &Action<'_>,
    ) -> Result<(&RoleGrant, &PermissionPattern), Denial> {
        if !is_permission(action.permission) {
            return Err(Denial::UnknownPermission);
        }
        let mut any = false;
        for grantee in self.grantees_of(*facts) {
            any |= !grantee.grants.is_empty();
            if let Some(found) = grantee.allowing(action) {
                return Ok(found);
            }
        }
        Err(if any {
            Denial::NotAllowed
        } else {
            Denial::NoGrant
        })
    }
}

#[cfg(test)]
mod tests;
