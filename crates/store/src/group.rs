//! Local groups: named sets of accounts kept in the store (`portcullis admin group …`). A role
//! granted to a group applies to its members as it does to the members of an identity
//! provider's group of the same name.

use time::OffsetDateTime;

/// A local group. With a tenant, only that tenant's accounts can be members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredGroup {
    pub name: String,
    pub tenant: Option<String>,
    pub description: Option<String>,
    pub created_at: OffsetDateTime,
}

/// An account's membership of a local group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupMember {
    pub group: String,
    pub user_id: String,
}
