//! Roles: named sets of permission patterns that inherit from each other. The built-in roles
//! ([`BUILTIN_ROLES`]) sit beside custom roles from the configuration (`[[roles]]`) or the
//! store; [`RoleSet::build`] resolves inheritance once and refuses unknown names, cycles,
//! custom roles that reuse a built-in name and patterns outside the catalog, so a mistake stops
//! start-up rather than quietly granting nothing or everything.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::catalog::PERMISSIONS;
use crate::pattern::{PatternError, PermissionPattern};

/// A built-in role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinRole {
    pub name: &'static str,
    pub inherits: &'static [&'static str],
    pub permissions: &'static [&'static str],
    pub description: &'static str,
}

/// The roles every deployment has.
pub const BUILTIN_ROLES: &[BuiltinRole] = &[
    BuiltinRole {
        name: "owner",
        inherits: &[],
        permissions: &["*"],
        description: "Everything, including the signing keys and every tenant.",
    },
    BuiltinRole {
        name: "admin",
        inherits: &["operator", "developer"],
        permissions: &[
            "users.*",
            "roles.*",
            "grants.*",
            "groups.*",
            "tenants.*",
            "clients.*",
            "api_keys.*",
            "tokens.*",
            "sessions.*",
            "identity_providers.list",
            "audit.read",
            "policies.read",
            "authz.explain",
        ],
        description: "Manages accounts, roles, grants, tenants, clients and keys for people; not the signing keys.",
    },
    BuiltinRole {
        name: "security_admin",
        inherits: &["auditor"],
        permissions: &[
            "keys.*",
            "tokens.revoke",
            "sessions.*",
            "users.disable",
            "users.enable",
            "users.reset_password",
            "users.reset_mfa",
            "api_keys.revoke",
            "clients.rotate_secret",
        ],
        description: "Responds to incidents: signing keys, revocation, sessions, disabling accounts.",
    },
    BuiltinRole {
        name: "auditor",
        inherits: &[],
        permissions: &[
            "audit.*",
            "users.list",
            "users.read",
            "roles.list",
            "roles.read",
            "grants.list",
            "groups.list",
            "groups.read",
            "tenants.list",
            "tenants.read",
            "clients.list",
            "clients.read",
            "api_keys.list",
            "tokens.list",
            "sessions.list",
            "keys.list",
            "config.read",
            "upstreams.list",
            "upstreams.read",
            "identity_providers.list",
            "policies.read",
            "authz.explain",
        ],
        description: "Reads everything administrative, changes nothing.",
    },
    BuiltinRole {
        name: "tenant_admin",
        inherits: &[],
        permissions: &[
            "users.*",
            "groups.*",
            "grants.*",
            "api_keys.*",
            "sessions.*",
            "tokens.list",
            "tokens.revoke",
            "roles.list",
            "roles.read",
            "audit.read",
        ],
        description: "Manages the accounts of one tenant: granted with a tenant, it acts only there.",
    },
    BuiltinRole {
        name: "developer",
        inherits: &["viewer"],
        permissions: &[
            "mcp.*",
            "api_keys.create",
            "api_keys.list",
            "api_keys.revoke",
        ],
        description: "Uses every MCP capability of the servers it is granted.",
    },
    BuiltinRole {
        name: "operator",
        inherits: &["viewer"],
        permissions: &[
            "upstreams.*",
            "metrics.read",
            "config.read",
            "keys.list",
            "sessions.list",
        ],
        description: "Runs the gateway: MCP servers, metrics and configuration.",
    },
    BuiltinRole {
        name: "viewer",
        inherits: &[],
        permissions: &[
            "mcp.tools.list",
            "mcp.prompts.list",
            "mcp.prompts.get",
            "mcp.resources.list",
            "mcp.resources.templates.list",
            "mcp.resources.read",
            "mcp.completion.complete",
        ],
        description: "Sees what MCP servers offer and reads resources and prompts; calls no tool.",
    },
    BuiltinRole {
        name: "service",
        inherits: &[],
        permissions: &["mcp.*"],
        description: "For service principals: every MCP capability of the servers it is granted.",
    },
];

/// A custom role as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleDefinition {
    pub name: String,
    pub inherits: Vec<String>,
    pub permissions: Vec<String>,
}

/// Why a set of roles cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    #[error("role {0:?}: a role name is 1-63 lowercase letters, digits, '-' or '_'")]
    BadName(String),
    #[error("role {0:?} is built in and cannot be redefined")]
    Builtin(String),
    #[error("role {0:?} is defined twice")]
    Duplicate(String),
    #[error("role {role:?} inherits {unknown:?}, which is not a role")]
    UnknownInherited { role: String, unknown: String },
    #[error("roles inherit in a cycle: {}", .0.join(" → "))]
    Cycle(Vec<String>),
    #[error("role {role:?}: {error}")]
    Pattern { role: String, error: PatternError },
}

/// Every role, with inheritance resolved: each role's own and inherited patterns, and for each
/// permission of the catalog the patterns that can allow it (so a decision looks at those only).
#[derive(Debug, Clone)]
pub struct RoleSet {
    effective: BTreeMap<String, ResolvedRole>,
}

#[derive(Debug, Clone)]
struct ResolvedRole {
    patterns: Vec<PermissionPattern>,
    /// Catalog permission → indexes into `patterns` of those whose permission part covers it.
    by_permission: HashMap<&'static str, Vec<usize>>,
}

impl ResolvedRole {
    fn new(patterns: Vec<PermissionPattern>) -> Self {
        let mut by_permission: HashMap<&'static str, Vec<usize>> = HashMap::new();
        for info in PERMISSIONS {
            let covering: Vec<usize> = patterns
                .iter()
                .enumerate()
                .filter(|(_, p)| p.covers(info.name))
                .map(|(i, _)| i)
                .collect();
            if !covering.is_empty() {
                by_permission.insert(info.name, covering);
            }
        }
        ResolvedRole {
            patterns,
            by_permission,
        }
    }
}

fn is_role_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

impl RoleSet {
    /// The built-in roles and `custom`, checked and resolved.
    pub fn build(custom: &[RoleDefinition]) -> Result<RoleSet, RoleError> {
        let mut defined: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
        for role in BUILTIN_ROLES {
            defined.insert(
                role.name.to_owned(),
                (
                    role.inherits.iter().map(|s| (*s).to_owned()).collect(),
                    role.permissions.iter().map(|s| (*s).to_owned()).collect(),
                ),
            );
        }
        for role in custom {
            if !is_role_name(&role.name) {
                return Err(RoleError::BadName(role.name.clone()));
            }
            if BUILTIN_ROLES.iter().any(|b| b.name == role.name) {
                return Err(RoleError::Builtin(role.name.clone()));
            }
            if defined
                .insert(
                    role.name.clone(),
                    (role.inherits.clone(), role.permissions.clone()),
                )
                .is_some()
            {
                return Err(RoleError::Duplicate(role.name.clone()));
            }
        }
        for (name, (inherits, _)) in &defined {
            if let Some(unknown) = inherits.iter().find(|i| !defined.contains_key(*i)) {
                return Err(RoleError::UnknownInherited {
                    role: name.clone(),
                    unknown: unknown.clone(),
                });
            }
        }
        let mut effective = BTreeMap::new();
        for name in defined.keys() {
            let mut seen = BTreeSet::new();
            let mut patterns: Vec<PermissionPattern> = Vec::new();
            collect(name, &defined, &mut vec![], &mut seen, &mut patterns)?;
            effective.insert(name.clone(), ResolvedRole::new(patterns));
        }
        Ok(RoleSet { effective })
    }

    /// The patterns `role` allows (its own and inherited), or `None` for an unknown role.
    pub fn patterns(&self, role: &str) -> Option<&[PermissionPattern]> {
        self.effective.get(role).map(|r| r.patterns.as_slice())
    }

    /// The patterns of `role` whose permission part covers `permission`: the only ones that can
    /// allow it.
    pub fn covering<'a>(
        &'a self,
        role: &str,
        permission: &str,
    ) -> impl Iterator<Item = &'a PermissionPattern> + 'a {
        let role = self.effective.get(role);
        let indexes = role
            .and_then(|r| r.by_permission.get(permission))
            .map(Vec::as_slice)
            .unwrap_or_default();
        indexes
            .iter()
            .filter_map(move |i| role.and_then(|r| r.patterns.get(*i)))
    }

    pub fn contains(&self, role: &str) -> bool {
        self.effective.contains_key(role)
    }

    /// Every role name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.effective.keys().map(String::as_str)
    }
}

/// Depth-first collection of `name`'s patterns; `path` is the inheritance chain so far.
fn collect(
    name: &str,
    defined: &BTreeMap<String, (Vec<String>, Vec<String>)>,
    path: &mut Vec<String>,
    seen: &mut BTreeSet<String>,
    out: &mut Vec<PermissionPattern>,
) -> Result<(), RoleError> {
    if let Some(start) = path.iter().position(|p| p == name) {
        let mut cycle: Vec<String> = path.get(start..).unwrap_or_default().to_vec();
        cycle.push(name.to_owned());
        return Err(RoleError::Cycle(cycle));
    }
    if !seen.insert(name.to_owned()) {
        return Ok(());
    }
    let Some((inherits, permissions)) = defined.get(name) else {
        return Ok(());
    };
    for text in permissions {
        let pattern = PermissionPattern::parse(text).map_err(|error| RoleError::Pattern {
            role: name.to_owned(),
            error,
        })?;
        if !out.contains(&pattern) {
            out.push(pattern);
        }
    }
    path.push(name.to_owned());
    for parent in inherits {
        collect(parent, defined, path, seen, out)?;
    }
    path.pop();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(name: &str, inherits: &[&str], permissions: &[&str]) -> RoleDefinition {
        RoleDefinition {
            name: name.to_owned(),
            inherits: inherits.iter().map(|s| (*s).to_owned()).collect(),
            permissions: permissions.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn builtin_roles_resolve_and_inherit() {
        let set = RoleSet::build(&[]).unwrap();
        for builtin in BUILTIN_ROLES {
            assert!(set.contains(builtin.name));
        }
        let developer = set.patterns("developer").unwrap();
        // Its own `mcp.*` and the viewer's list permissions.
        assert!(developer.iter().any(|p| p.as_str() == "mcp.*"));
        assert!(developer.iter().any(|p| p.as_str() == "mcp.tools.list"));
        let viewer = set.patterns("viewer").unwrap();
        assert!(
            !viewer
                .iter()
                .any(|p| p.matches("mcp.tools.call", Some("x"), Some("y")))
        );
    }

    #[test]
    fn custom_roles_inherit_across_levels() {
        let set = RoleSet::build(&[
            role(
                "files-reader",
                &["viewer"],
                &["mcp.tools.call:files/read_*"],
            ),
            role(
                "files-writer",
                &["files-reader"],
                &["mcp.tools.call:files/write_*"],
            ),
        ])
        .unwrap();
        let writer = set.patterns("files-writer").unwrap();
        let allows = |name: &str| {
            writer
                .iter()
                .any(|p| p.matches("mcp.tools.call", Some("files"), Some(name)))
        };
        assert!(allows("read_file") && allows("write_file") && !allows("delete_file"));
        assert!(writer.iter().any(|p| p.as_str() == "mcp.tools.list"));
    }

    #[test]
    fn mistakes_stop_the_build() {
        let cases = [
            (
                vec![
                    role("a", &["b"], &[]),
                    role("b", &["c"], &[]),
                    role("c", &["a"], &[]),
                ],
                "cycle",
            ),
            (vec![role("a", &["a"], &[])], "cycle"),
            (vec![role("a", &["nobody"], &[])], "not a role"),
            (vec![role("admin", &[], &[])], "built in"),
            (vec![role("a", &[], &[]), role("a", &[], &[])], "twice"),
            (vec![role("A", &[], &[])], "lowercase"),
            (vec![role("a", &[], &["users.creat"])], "not a permission"),
            (vec![role("a", &[], &["users.create:files"])], "only MCP"),
        ];
        for (roles, expected) in cases {
            let error = RoleSet::build(&roles).unwrap_err().to_string();
            assert!(error.contains(expected), "{roles:?}: {error}");
        }
    }
}
