//! Grants of roles: to whom (a user, a group, a service principal) and where (everywhere, one
//! tenant, one upstream).

/// Who a role is granted to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GrantSubject {
    /// A user, by id.
    User(String),
    /// Every member of a group (local, or named by a provider's groups claim).
    Group(String),
    /// A service principal (an API key's or service token's subject).
    Service(String),
}

/// Where a grant applies.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GrantScope {
    /// Everywhere.
    All,
    /// Only to actions in this tenant: on its accounts, or by its members on MCP servers.
    Tenant(String),
    /// Only to MCP traffic to this upstream.
    Upstream(String),
}

/// One role granted to one subject, in one scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleGrant {
    pub subject: GrantSubject,
    pub role: String,
    pub scope: GrantScope,
}

impl GrantScope {
    /// Whether the grant applies to an action in `tenant` on `upstream`. A tenant-scoped grant
    /// needs the action to be in that tenant (an action in no tenant, such as rotating the
    /// signing keys, is outside every tenant); an upstream-scoped grant needs that upstream.
    pub fn covers(&self, tenant: Option<&str>, upstream: Option<&str>) -> bool {
        match self {
            GrantScope::All => true,
            GrantScope::Tenant(t) => tenant == Some(t.as_str()),
            GrantScope::Upstream(u) => upstream == Some(u.as_str()),
        }
    }
}
