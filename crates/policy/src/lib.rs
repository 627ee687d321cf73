//! The authorization model and its evaluator: named permissions ([`catalog`]), permission
//! patterns narrowed by upstream and name ([`pattern`]), roles with inheritance ([`roles`]),
//! grants of roles to users, groups and service principals scoped to everything, a tenant or an
//! upstream ([`grants`]), the decision with the rule behind it ([`decide`]), the permissions MCP
//! methods need ([`mcp`]), OAuth scopes mapped to permissions ([`scopes`]), and conditions
//! beyond roles written in Cedar, which can only take away what roles allow ([`conditions`]).
//!
//! Pure: no I/O, no clock, no async. Everything is built once (a [`Policy`]) and then answers
//! [`Policy::decide`] from precomputed tables, so a decision costs a few hash lookups and the
//! pattern matches of the roles the principal holds. Every decision fails closed: no grant, no
//! role, no matching pattern, an unknown permission — each is a denial that says why.

pub mod catalog;
pub mod conditions;
pub mod decide;
pub mod grants;
pub mod mcp;
pub mod pattern;
pub mod roles;
pub mod scopes;

pub use catalog::{PERMISSIONS, PermissionInfo, PermissionKind, is_permission};
pub use conditions::{Conditions, ConditionsError, Outcome};
pub use decide::{Action, Decision, Denial, Facts, Policy, Reason};
pub use grants::{GrantScope, GrantSubject, RoleGrant};
pub use mcp::{ListKind, MethodRule, mcp_permission, method_rule};
pub use pattern::{HintRequirement, PatternError, PermissionPattern, ToolHints, glob_matches};
pub use roles::{BUILTIN_ROLES, BuiltinRole, RoleDefinition, RoleError, RoleSet};
pub use scopes::{ScopeRuleError, ScopeRules};
