//! Custom roles and role grants kept in the store (beside the `[[roles]]` of the
//! configuration): what `portcullis admin role …` manages and every replica's policy is built
//! from.

use time::OffsetDateTime;

/// A custom role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRole {
    pub name: String,
    pub inherits: Vec<String>,
    /// Permission patterns (none contains a line break).
    pub permissions: Vec<String>,
    pub description: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// Who a role is granted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GranteeKind {
    User,
    Group,
    Service,
}

/// Where a grant applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GrantScopeKind {
    All,
    Tenant,
    Upstream,
}

impl GranteeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GranteeKind::User => "user",
            GranteeKind::Group => "group",
            GranteeKind::Service => "service",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "user" => Some(GranteeKind::User),
            "group" => Some(GranteeKind::Group),
            "service" => Some(GranteeKind::Service),
            _ => None,
        }
    }
}

impl GrantScopeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantScopeKind::All => "all",
            GrantScopeKind::Tenant => "tenant",
            GrantScopeKind::Upstream => "upstream",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "all" => Some(GrantScopeKind::All),
            "tenant" => Some(GrantScopeKind::Tenant),
            "upstream" => Some(GrantScopeKind::Upstream),
            _ => None,
        }
    }
}

/// A role granted to someone somewhere. `scope` is empty for [`GrantScopeKind::All`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRoleGrant {
    /// A random public id, for revoking.
    pub id: String,
    pub grantee_kind: GranteeKind,
    pub grantee: String,
    pub role: String,
    pub scope_kind: GrantScopeKind,
    pub scope: String,
    pub created_at: OffsetDateTime,
}
