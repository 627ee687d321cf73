//! Roles and role grants: listing the built-in, configured and stored roles, creating and
//! deleting stored ones, granting and revoking, building the [`Policy`] every decision uses, and
//! explaining a decision.
//!
//! Every change is checked against the whole set first (built-in roles, `[[roles]]` of the
//! configuration and the roles in the store): a role that would not resolve — an unknown
//! inherited role, a cycle, an unknown permission — is refused and nothing is written.

use portcullis_policy::{
    Action, BUILTIN_ROLES, Decision, Facts, GrantScope, GrantSubject, Policy, RoleDefinition,
    RoleGrant, RoleSet,
};
use portcullis_store::{
    GrantScopeKind, GranteeKind, Store, StoreError, StoredRole, StoredRoleGrant,
};
use rand::RngCore;
use time::OffsetDateTime;

use super::AdminError;
use crate::audit::{AuditContext, action};
use crate::auth::api_key::base62;
use crate::config::Config;
use crate::config::validate::is_valid_name;

/// Where a role is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleSource {
    Builtin,
    Config,
    Store,
}

impl RoleSource {
    pub fn as_str(self) -> &'static str {
        match self {
            RoleSource::Builtin => "builtin",
            RoleSource::Config => "config",
            RoleSource::Store => "store",
        }
    }
}

/// A role as `admin role list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleView {
    pub name: String,
    pub source: RoleSource,
    pub inherits: Vec<String>,
    pub permissions: Vec<String>,
    pub description: Option<String>,
}

/// Every role: built-in, configured, stored.
pub async fn list(store: &dyn Store, config: &Config) -> Result<Vec<RoleView>, AdminError> {
    let mut roles: Vec<RoleView> = BUILTIN_ROLES
        .iter()
        .map(|r| RoleView {
            name: r.name.to_owned(),
            source: RoleSource::Builtin,
            inherits: r.inherits.iter().map(|s| (*s).to_owned()).collect(),
            permissions: r.permissions.iter().map(|s| (*s).to_owned()).collect(),
            description: Some(r.description.to_owned()),
        })
        .collect();
    roles.extend(config.roles.iter().map(|r| RoleView {
        name: r.name.clone(),
        source: RoleSource::Config,
        inherits: r.inherits.clone(),
        permissions: r.permissions.clone(),
        description: r.description.clone(),
    }));
    roles.extend(store.role_list().await?.into_iter().map(|r| RoleView {
        name: r.name,
        source: RoleSource::Store,
        inherits: r.inherits,
        permissions: r.permissions,
        description: r.description,
    }));
    Ok(roles)
}

fn definitions(roles: &[RoleView]) -> Vec<RoleDefinition> {
    roles
        .iter()
        .filter(|r| r.source != RoleSource::Builtin)
        .map(|r| RoleDefinition {
            name: r.name.clone(),
            inherits: r.inherits.clone(),
            permissions: r.permissions.clone(),
        })
        .collect()
}

/// Every role resolved: what decisions use.
pub async fn role_set(store: &dyn Store, config: &Config) -> Result<RoleSet, AdminError> {
    RoleSet::build(&definitions(&list(store, config).await?))
        .map_err(|e| AdminError::Invalid(e.to_string()))
}

/// Creates or replaces a stored role, after checking that every role still resolves with it.
#[allow(
    clippy::too_many_arguments,
    reason = "who acts (the audit context) joins what the operation already needed"
)]
pub async fn put(
    store: &dyn Store,
    audit: &AuditContext,
    config: &Config,
    name: &str,
    inherits: Vec<String>,
    permissions: Vec<String>,
    description: Option<String>,
    now: OffsetDateTime,
) -> Result<StoredRole, AdminError> {
    let mut roles = list(store, config).await?;
    if let Some(existing) = roles.iter().find(|r| r.name == name)
        && existing.source != RoleSource::Store
    {
        return Err(AdminError::Conflict(format!(
            "the role {name:?} is defined in the {} and cannot be changed here",
            if existing.source == RoleSource::Builtin {
                "built-in roles"
            } else {
                "configuration"
            }
        )));
    }
    if permissions
        .iter()
        .chain(&inherits)
        .any(|p| p.contains(['\n', '\r']))
    {
        return Err(AdminError::Invalid(
            "a permission or role name has no line break".to_owned(),
        ));
    }
    roles.retain(|r| r.name != name);
    roles.push(RoleView {
        name: name.to_owned(),
        source: RoleSource::Store,
        inherits: inherits.clone(),
        permissions: permissions.clone(),
        description: description.clone(),
    });
    RoleSet::build(&definitions(&roles)).map_err(|e| AdminError::Invalid(e.to_string()))?;
    let role = StoredRole {
        name: name.to_owned(),
        inherits,
        permissions,
        description,
        created_at: now,
        updated_at: now,
    };
    let event = audit.event(now, action::ROLE_PUT, Some(name));
    store.role_put_audited(&role, event.as_ref()).await?;
    tracing::info!(role = %name, "role saved");
    Ok(role)
}

/// Deletes a stored role that no grant and no other role uses.
pub async fn delete(
    store: &dyn Store,
    audit: &AuditContext,
    config: &Config,
    name: &str,
    now: OffsetDateTime,
) -> Result<(), AdminError> {
    let roles = list(store, config).await?;
    match roles.iter().find(|r| r.name == name) {
        None => return Err(AdminError::NotFound(format!("no role {name:?}"))),
        Some(r) if r.source != RoleSource::Store => {
            return Err(AdminError::Conflict(format!(
                "the role {name:?} is not a stored role ({}), so it cannot be deleted here",
                r.source.as_str()
            )));
        }
        Some(_) => {}
    }
    if let Some(heir) = roles.iter().find(|r| r.inherits.iter().any(|i| i == name)) {
        return Err(AdminError::Conflict(format!(
            "the role {:?} inherits {name:?}",
            heir.name
        )));
    }
    let event = audit.event(now, action::ROLE_DELETE, Some(name));
    match store.role_delete_audited(name, event.as_ref()).await {
        Ok(true) => {
            tracing::info!(role = %name, "role deleted");
            Ok(())
        }
        Ok(false) => Err(AdminError::NotFound(format!("no role {name:?}"))),
        Err(StoreError::Conflict(why)) => Err(AdminError::Conflict(why)),
        Err(e) => Err(e.into()),
    }
}

/// Who gets a role, as an operator names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grantee<'a> {
    /// An account, by username.
    User(&'a str),
    Group(&'a str),
    /// A service principal's subject (an API key's `--subject`).
    Service(&'a str),
    /// A person verified by another validator, by their `{validator}:{sub}` subject.
    Subject(&'a str),
}

/// Where, as an operator names it: a tenant, an upstream, or (both `None`) everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Where<'a> {
    pub tenant: Option<&'a str>,
    pub server: Option<&'a str>,
}

fn scope_of(config: &Config, at: Where<'_>) -> Result<(GrantScopeKind, String), AdminError> {
    match (at.tenant, at.server) {
        (Some(_), Some(_)) => Err(AdminError::Invalid(
            "a grant is scoped to a tenant or to a server, not both".to_owned(),
        )),
        (Some(tenant), None) if is_valid_name(tenant) => {
            Ok((GrantScopeKind::Tenant, tenant.to_owned()))
        }
        (Some(tenant), None) => Err(AdminError::Invalid(format!(
            "{tenant:?} is not a tenant name"
        ))),
        (None, Some(server)) => {
            if config.upstreams.iter().any(|u| u.name == server) {
                Ok((GrantScopeKind::Upstream, server.to_owned()))
            } else {
                Err(AdminError::NotFound(format!(
                    "no server {server:?} is configured"
                )))
            }
        }
        (None, None) => Ok((GrantScopeKind::All, String::new())),
    }
}

async fn grantee_of(
    store: &dyn Store,
    grantee: &Grantee<'_>,
) -> Result<(GranteeKind, String), AdminError> {
    match grantee {
        Grantee::User(username) => {
            let user = store
                .user_get_by_username(username)
                .await?
                .ok_or_else(|| AdminError::NotFound(format!("no user {username:?}")))?;
            Ok((GranteeKind::User, user.id))
        }
        Grantee::Group(group) if !group.is_empty() && group.len() <= 255 => {
            Ok((GranteeKind::Group, (*group).to_owned()))
        }
        Grantee::Service(subject) if !subject.is_empty() && subject.len() <= 255 => {
            Ok((GranteeKind::Service, (*subject).to_owned()))
        }
        // Stored as a user grant: account ids never hold a ':', validator subjects always do.
        Grantee::Subject(subject)
            if subject.len() <= 255
                && subject
                    .split_once(':')
                    .is_some_and(|(v, sub)| !v.is_empty() && !sub.is_empty())
                && !subject.starts_with("portcullis:") =>
        {
            Ok((GranteeKind::User, (*subject).to_owned()))
        }
        Grantee::Subject(subject) => Err(AdminError::Invalid(format!(
            "{subject:?} is not a subject of another validator ({{validator}}:{{sub}}; Portcullis accounts are granted with --user)"
        ))),
        _ => Err(AdminError::Invalid(
            "a group or service needs a name".to_owned(),
        )),
    }
}

/// A random grant id: `rgr_` and 22 base62 digits (128 bits).
pub fn new_grant_id(rng: &mut impl RngCore) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    format!("rgr_{}", base62(&bytes, 22))
}

/// Grants `role` to `grantee` in `at`. The role must exist; the same grant twice is a conflict.
#[allow(
    clippy::too_many_arguments,
    reason = "who acts (the audit context) joins what the operation already needed"
)]
pub async fn grant(
    store: &dyn Store,
    audit: &AuditContext,
    config: &Config,
    grantee: &Grantee<'_>,
    role: &str,
    at: Where<'_>,
    now: OffsetDateTime,
    rng: &mut impl RngCore,
) -> Result<StoredRoleGrant, AdminError> {
    if !role_set(store, config).await?.contains(role) {
        return Err(AdminError::NotFound(format!("no role {role:?}")));
    }
    let (scope_kind, scope) = scope_of(config, at)?;
    let (grantee_kind, grantee) = grantee_of(store, grantee).await?;
    let row = StoredRoleGrant {
        id: new_grant_id(rng),
        grantee_kind,
        grantee,
        role: role.to_owned(),
        scope_kind,
        scope,
        created_at: now,
    };
    let event = audit.event(now, action::ROLE_GRANT, Some(&grant_target(&row)));
    match store.role_grant_insert_audited(&row, event.as_ref()).await {
        Ok(()) => {
            tracing::info!(grant = %row.id, role = %role, "role granted");
            Ok(row)
        }
        Err(StoreError::Conflict(_)) => Err(AdminError::Conflict(format!(
            "{role:?} is granted so already"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Grants each of `roles` everywhere to the account `user_id`.
pub async fn grant_everywhere(
    store: &dyn Store,
    audit: &AuditContext,
    user_id: &str,
    roles: &[String],
    now: OffsetDateTime,
    rng: &mut impl RngCore,
) -> Result<(), AdminError> {
    grant_each(store, audit, user_id, roles, None, now, rng).await
}

/// Grants a new account its default roles (`accounts.default_roles`): in its tenant when it has
/// one (where all it does happens), everywhere otherwise.
pub async fn grant_defaults(
    store: &dyn Store,
    audit: &AuditContext,
    user: &portcullis_store::User,
    roles: &[String],
    now: OffsetDateTime,
    rng: &mut impl RngCore,
) -> Result<(), AdminError> {
    grant_each(
        store,
        audit,
        &user.id,
        roles,
        user.tenant.as_deref(),
        now,
        rng,
    )
    .await
}

#[allow(
    clippy::too_many_arguments,
    reason = "who acts (the audit context) joins what the operation already needed"
)]
async fn grant_each(
    store: &dyn Store,
    audit: &AuditContext,
    user_id: &str,
    roles: &[String],
    tenant: Option<&str>,
    now: OffsetDateTime,
    rng: &mut impl RngCore,
) -> Result<(), AdminError> {
    for role in roles {
        let row = StoredRoleGrant {
            id: new_grant_id(rng),
            grantee_kind: GranteeKind::User,
            grantee: user_id.to_owned(),
            role: role.clone(),
            scope_kind: if tenant.is_some() {
                GrantScopeKind::Tenant
            } else {
                GrantScopeKind::All
            },
            scope: tenant.unwrap_or_default().to_owned(),
            created_at: now,
        };
        let event = audit.event(now, action::ROLE_GRANT, Some(&grant_target(&row)));
        match store.role_grant_insert_audited(&row, event.as_ref()).await {
            Ok(()) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Takes back the grant of `role` to `grantee` in `at`; returns it.
pub async fn revoke(
    store: &dyn Store,
    audit: &AuditContext,
    config: &Config,
    grantee: &Grantee<'_>,
    role: &str,
    at: Where<'_>,
    now: OffsetDateTime,
) -> Result<StoredRoleGrant, AdminError> {
    let (scope_kind, scope) = scope_of(config, at)?;
    let (grantee_kind, grantee_id) = grantee_of(store, grantee).await?;
    let found = store.role_grant_list().await?.into_iter().find(|g| {
        g.grantee_kind == grantee_kind
            && g.grantee == grantee_id
            && g.role == role
            && g.scope_kind == scope_kind
            && g.scope == scope
    });
    let Some(found) = found else {
        return Err(AdminError::NotFound(format!("{role:?} is not granted so")));
    };
    let event = audit.event(now, action::ROLE_REVOKE, Some(&grant_target(&found)));
    store
        .role_grant_delete_audited(&found.id, event.as_ref())
        .await?;
    tracing::info!(grant = %found.id, role = %role, "role grant revoked");
    Ok(found)
}

/// Takes back the grant with id `id`; returns it.
pub async fn revoke_by_id(
    store: &dyn Store,
    audit: &AuditContext,
    id: &str,
    now: OffsetDateTime,
) -> Result<StoredRoleGrant, AdminError> {
    let found = grant_by_id(store, id).await?;
    let event = audit.event(now, action::ROLE_REVOKE, Some(&grant_target(&found)));
    store
        .role_grant_delete_audited(&found.id, event.as_ref())
        .await?;
    tracing::info!(grant = %found.id, role = %found.role, "role grant revoked");
    Ok(found)
}

/// The grant with id `id`.
pub async fn grant_by_id(store: &dyn Store, id: &str) -> Result<StoredRoleGrant, AdminError> {
    store
        .role_grant_list()
        .await?
        .into_iter()
        .find(|g| g.id == id)
        .ok_or_else(|| AdminError::NotFound(format!("no grant has the id {id:?}")))
}

/// The grants given directly to a grantee (a user by account id, a group, or a service
/// principal by subject).
pub async fn grants_of(
    store: &dyn Store,
    kind: GranteeKind,
    grantee: &str,
) -> Result<Vec<StoredRoleGrant>, AdminError> {
    Ok(store
        .role_grant_list()
        .await?
        .into_iter()
        .filter(|g| g.grantee_kind == kind && g.grantee == grantee)
        .collect())
}

/// Every grant that acts for the account `user_id`: its own, and those of the local groups it
/// is a member of.
pub async fn grants_acting_for(
    store: &dyn Store,
    user_id: &str,
) -> Result<Vec<StoredRoleGrant>, AdminError> {
    let groups: Vec<String> = store
        .group_members()
        .await?
        .into_iter()
        .filter(|m| m.user_id == user_id)
        .map(|m| m.group)
        .collect();
    Ok(store
        .role_grant_list()
        .await?
        .into_iter()
        .filter(|g| match g.grantee_kind {
            GranteeKind::User => g.grantee == user_id,
            GranteeKind::Group => groups.contains(&g.grantee),
            GranteeKind::Service => false,
        })
        .collect())
}

/// The grant `grantee` would get in `at`, as the policy sees it — for checking who may give it
/// before anything is written.
pub async fn proposed_grant(
    store: &dyn Store,
    config: &Config,
    grantee: &Grantee<'_>,
    at: Where<'_>,
) -> Result<(GranteeKind, String, GrantScope), AdminError> {
    let (scope_kind, scope) = scope_of(config, at)?;
    let (kind, id) = grantee_of(store, grantee).await?;
    Ok((kind, id, grant_scope(scope_kind, scope)))
}

/// A stored grant's scope as the policy names it.
pub fn grant_scope(kind: GrantScopeKind, scope: String) -> GrantScope {
    match kind {
        GrantScopeKind::All => GrantScope::All,
        GrantScopeKind::Tenant => GrantScope::Tenant(scope),
        GrantScopeKind::Upstream => GrantScope::Upstream(scope),
    }
}

/// The administrative permissions the role `name` would carry if it were defined with
/// `inherits` and `permissions` (and every other role stayed as it is): what a caller must
/// already hold to define it so.
pub async fn carried_admin_permissions(
    store: &dyn Store,
    config: &Config,
    name: &str,
    inherits: &[String],
    permissions: &[String],
) -> Result<Vec<&'static str>, AdminError> {
    let mut roles = list(store, config).await?;
    roles.retain(|r| r.name != name);
    roles.push(RoleView {
        name: name.to_owned(),
        source: RoleSource::Store,
        inherits: inherits.to_vec(),
        permissions: permissions.to_vec(),
        description: None,
    });
    let set =
        RoleSet::build(&definitions(&roles)).map_err(|e| AdminError::Invalid(e.to_string()))?;
    let policy = Policy::new(set, Vec::new()).map_err(|e| AdminError::Invalid(e.to_string()))?;
    Ok(portcullis_policy::PERMISSIONS
        .iter()
        .filter(|p| p.kind == portcullis_policy::PermissionKind::Admin)
        .filter(|p| {
            policy
                .role_allows(
                    name,
                    &Action {
                        permission: p.name,
                        tenant: None,
                        upstream: None,
                        name: None,
                        hints: None,
                    },
                )
                .is_some()
        })
        .map(|p| p.name)
        .collect())
}

/// A grant as the audit log names it: `developer to user usr_… in tenant acme`.
fn grant_target(row: &StoredRoleGrant) -> String {
    let place = match row.scope_kind {
        GrantScopeKind::All => "everywhere".to_owned(),
        kind => format!("in {} {}", kind.as_str(), row.scope),
    };
    format!(
        "{} to {} {} {place} ({})",
        row.role,
        row.grantee_kind.as_str(),
        row.grantee,
        row.id
    )
}

fn policy_grant(row: &StoredRoleGrant) -> RoleGrant {
    RoleGrant {
        subject: match row.grantee_kind {
            GranteeKind::User => GrantSubject::User(row.grantee.clone()),
            GranteeKind::Group => GrantSubject::Group(row.grantee.clone()),
            GranteeKind::Service => GrantSubject::Service(row.grantee.clone()),
        },
        role: row.role.clone(),
        scope: match row.scope_kind {
            GrantScopeKind::All => GrantScope::All,
            GrantScopeKind::Tenant => GrantScope::Tenant(row.scope.clone()),
            GrantScopeKind::Upstream => GrantScope::Upstream(row.scope.clone()),
        },
    }
}

/// The policy of the store and configuration now. A grant of a role that no longer resolves
/// is an error (fail closed: the operator must fix it, not have it silently ignored).
pub async fn policy(store: &dyn Store, config: &Config) -> Result<Policy, AdminError> {
    let roles = role_set(store, config).await?;
    let grants = store.role_grant_list().await?;
    let members = store.group_members().await?;
    Ok(
        Policy::new(roles, grants.iter().map(policy_grant).collect())
            .map_err(|e| AdminError::Invalid(e.to_string()))?
            .with_local_groups(members.into_iter().map(|m| (m.user_id, m.group))),
    )
}

pub use portcullis_policy::mcp_permission;

/// What allowed a request, when it is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A grant (the decision's reason names it).
    Grant,
    /// The server's `authenticated_roles` (the reason names the role).
    AuthenticatedRoles,
    /// The method is open to every authenticated caller (the handshake, `ping`, …).
    Open,
}

/// What `admin authz explain` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub permission: Option<&'static str>,
    /// The role decision.
    pub decision: Decision,
    pub via: Via,
    /// What the conditions say, when there are some and the roles allow the request.
    pub condition: Option<portcullis_policy::Outcome>,
}

impl Explanation {
    /// Whether the gateway would relay the request (scopes of a token aside).
    pub fn is_allowed(&self) -> bool {
        self.decision.is_allowed()
            && self
                .condition
                .as_ref()
                .is_none_or(|c| *c == portcullis_policy::Outcome::Pass)
    }
}

/// The conditions `explain` evaluates a request the roles allow against.
#[derive(Debug, Clone, Copy)]
pub struct ExplainConditions<'a> {
    pub conditions: &'a portcullis_policy::Conditions,
    /// The request's `params.arguments` (JSON text).
    pub arguments: Option<&'a str>,
    pub now: OffsetDateTime,
}

/// Whether the account `username` may send `method` (naming `name`) to `server`, and why — as
/// the gateway decides it, scopes of a token aside: the role decision, then the conditions.
/// Conditions see the account as a Portcullis token would show it, without the scopes and the
/// authentication methods of a token, and a tool's annotations are not known.
pub async fn explain(
    store: &dyn Store,
    config: &Config,
    username: &str,
    server: &str,
    method: &str,
    name: Option<&str>,
    conditions: Option<ExplainConditions<'_>>,
) -> Result<Explanation, AdminError> {
    let user = store
        .user_get_by_username(username)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no user {username:?}")))?;
    let mut explanation = decide_roles(store, config, &user, server, method, name).await?;
    if let (Some(given), true, Some(_)) = (
        conditions,
        explanation.decision.is_allowed(),
        explanation.permission,
    ) {
        let mut principal = crate::auth::Principal::new(
            crate::auth::portcullis_token::PORTCULLIS_VALIDATOR,
            &user.id,
        );
        principal.email = Some(user.email.clone());
        principal.email_verified = user.email_verified;
        principal.tenant = user.tenant.clone();
        // Its local groups, as the gateway adds them.
        principal.groups = store
            .group_members()
            .await?
            .into_iter()
            .filter(|m| m.user_id == user.id)
            .map(|m| m.group)
            .collect();
        explanation.condition = Some(given.conditions.evaluate(
            &portcullis_policy::conditions::Request {
                caller: principal.condition_caller(false),
                upstream: server,
                method,
                target: name,
                hints: None,
                arguments: given.arguments,
                now: given.now.unix_timestamp(),
            },
        ));
    }
    Ok(explanation)
}

/// The role decision of `explain`.
async fn decide_roles(
    store: &dyn Store,
    config: &Config,
    user: &portcullis_store::User,
    server: &str,
    method: &str,
    name: Option<&str>,
) -> Result<Explanation, AdminError> {
    let Some(upstream) = config.upstreams.iter().find(|u| u.name == server) else {
        return Err(AdminError::NotFound(format!(
            "no server {server:?} is configured"
        )));
    };
    let permission = match portcullis_policy::method_rule(method) {
        portcullis_policy::MethodRule::Open => {
            return Ok(Explanation {
                permission: None,
                decision: Decision::Allowed(portcullis_policy::Reason {
                    grant: RoleGrant {
                        subject: GrantSubject::User(user.id.clone()),
                        role: String::new(),
                        scope: GrantScope::All,
                    },
                    pattern: String::new(),
                }),
                via: Via::Open,
                condition: None,
            });
        }
        portcullis_policy::MethodRule::Unknown => {
            return Ok(Explanation {
                permission: None,
                decision: Decision::Denied(portcullis_policy::Denial::UnknownPermission),
                via: Via::Grant,
                condition: None,
            });
        }
        portcullis_policy::MethodRule::Needs(permission) => permission,
    };
    let policy = policy(store, config).await?;
    let action = Action {
        permission,
        tenant: user.tenant.as_deref(),
        upstream: Some(server),
        name,
        hints: None,
    };
    let decision = policy.decide(
        &Facts {
            subject: &user.id,
            service: false,
            groups: &[],
            tenant: user.tenant.as_deref(),
        },
        &action,
    );
    if !decision.is_allowed() {
        for role in &upstream.authenticated_roles {
            if let Some(pattern) = policy.role_allows(role, &action) {
                return Ok(Explanation {
                    permission: Some(permission),
                    decision: Decision::Allowed(portcullis_policy::Reason {
                        grant: RoleGrant {
                            subject: GrantSubject::User(user.id.clone()),
                            role: role.clone(),
                            scope: GrantScope::Upstream(server.to_owned()),
                        },
                        pattern: pattern.as_str().to_owned(),
                    }),
                    via: Via::AuthenticatedRoles,
                    condition: None,
                });
            }
        }
    }
    Ok(Explanation {
        permission: Some(permission),
        decision,
        via: Via::Grant,
        condition: None,
    })
}

#[cfg(test)]
mod tests {
    use portcullis_store::{MemoryStore, User, UserStatus};

    use super::*;

    fn cli() -> AuditContext {
        AuditContext::cli("root", true)
    }
    use crate::config::{RoleConfig, UpstreamConfig};

    fn config() -> Config {
        Config {
            upstreams: vec![
                UpstreamConfig::http("files", "http://127.0.0.1:1/mcp"),
                UpstreamConfig::http("notes", "http://127.0.0.1:1/mcp"),
            ],
            roles: vec![RoleConfig {
                name: "files-reader".into(),
                inherits: vec!["viewer".into()],
                permissions: vec!["mcp.tools.call:files/read_*".into()],
                description: None,
            }],
            ..Config::default()
        }
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_788_220_800).unwrap()
    }

    async fn store_with_alice() -> MemoryStore {
        let store = MemoryStore::new();
        store
            .user_insert(&User {
                id: "usr_alice".into(),
                username: "alice".into(),
                email: "alice@acme.com".into(),
                email_verified: true,
                display_name: None,
                tenant: Some("acme".into()),
                status: UserStatus::Active,
                password_hash: None,
                must_change_password: false,
                created_at: now(),
                updated_at: now(),
            })
            .await
            .unwrap();
        store
    }

    #[tokio::test]
    async fn grants_and_roles_explain_decisions() {
        let store = store_with_alice().await;
        let config = config();
        let explain = |method: &'static str, name: Option<&'static str>, server: &'static str| {
            let store = &store;
            let config = &config;
            async move {
                explain(store, config, "alice", server, method, name, None)
                    .await
                    .unwrap()
            }
        };
        // Nothing granted: denied.
        let nothing = explain("tools/call", Some("read_file"), "files").await;
        assert_eq!(
            nothing.decision,
            Decision::Denied(portcullis_policy::Denial::NoGrant)
        );
        let granted = grant(
            &store,
            &cli(),
            &config,
            &Grantee::User("alice"),
            "files-reader",
            Where::default(),
            now(),
            &mut rand::rng(),
        )
        .await
        .unwrap();
        assert_eq!(granted.grantee, "usr_alice");
        let Decision::Allowed(reason) = explain("tools/call", Some("read_file"), "files")
            .await
            .decision
        else {
            panic!("allowed");
        };
        assert_eq!(reason.pattern, "mcp.tools.call:files/read_*");
        assert!(
            !explain("tools/call", Some("write_file"), "files")
                .await
                .decision
                .is_allowed()
        );
        assert!(
            explain("tools/list", None, "notes")
                .await
                .decision
                .is_allowed()
        );
        assert_eq!(
            explain("tools/explode", None, "files").await.permission,
            None
        );
        // The same grant twice conflicts; revoking takes it back.
        assert!(matches!(
            grant(
                &store,
                &cli(),
                &config,
                &Grantee::User("alice"),
                "files-reader",
                Where::default(),
                now(),
                &mut rand::rng()
            )
            .await,
            Err(AdminError::Conflict(_))
        ));
        revoke(
            &store,
            &cli(),
            &config,
            &Grantee::User("alice"),
            "files-reader",
            Where::default(),
            now(),
        )
        .await
        .unwrap();
        assert!(
            !explain("tools/list", None, "notes")
                .await
                .decision
                .is_allowed()
        );
    }

    #[tokio::test]
    async fn open_methods_and_authenticated_roles_are_explained() {
        let store = store_with_alice().await;
        let mut config = config();
        config.upstreams[1].authenticated_roles = vec!["viewer".into()];
        let open = explain(&store, &config, "alice", "files", "initialize", None, None)
            .await
            .unwrap();
        assert!(open.decision.is_allowed());
        assert_eq!(open.via, Via::Open);
        let unknown = explain(&store, &config, "alice", "files", "Tools/Call", None, None)
            .await
            .unwrap();
        assert!(!unknown.decision.is_allowed());
        let everyone = explain(&store, &config, "alice", "notes", "tools/list", None, None)
            .await
            .unwrap();
        assert_eq!(everyone.via, Via::AuthenticatedRoles);
        let Decision::Allowed(reason) = everyone.decision else {
            panic!("allowed");
        };
        assert_eq!(reason.grant.role, "viewer");
        let not_there = explain(&store, &config, "alice", "files", "tools/list", None, None)
            .await
            .unwrap();
        assert!(!not_there.decision.is_allowed());
        let no_call = explain(
            &store,
            &config,
            "alice",
            "notes",
            "tools/call",
            Some("x"),
            None,
        )
        .await
        .unwrap();
        assert!(!no_call.decision.is_allowed());
    }

    #[tokio::test]
    async fn role_changes_that_would_not_resolve_are_refused_and_nothing_is_written() {
        let store = store_with_alice().await;
        let config = config();
        let cases: [(&str, Vec<String>, Vec<String>, &str); 4] = [
            ("viewer", vec![], vec![], "built-in"),
            ("files-reader", vec![], vec![], "configuration"),
            ("x", vec!["nobody".into()], vec![], "not a role"),
            (
                "x",
                vec![],
                vec!["mcp.tools.cal".into()],
                "not a permission",
            ),
        ];
        for (name, inherits, permissions, expected) in cases {
            let error = put(
                &store,
                &cli(),
                &config,
                name,
                inherits,
                permissions,
                None,
                now(),
            )
            .await
            .unwrap_err()
            .to_string();
            assert!(error.contains(expected), "{name}: {error}");
        }
        assert!(store.role_list().await.unwrap().is_empty());
        put(
            &store,
            &cli(),
            &config,
            "notes-writer",
            vec!["files-reader".into()],
            vec!["mcp.tools.call:notes".into()],
            None,
            now(),
        )
        .await
        .unwrap();
        // A grant to an unknown server, a tenant and a server at once, an unknown role.
        for (role, at, expected) in [
            (
                "notes-writer",
                Where {
                    tenant: None,
                    server: Some("db"),
                },
                "no server",
            ),
            (
                "notes-writer",
                Where {
                    tenant: Some("acme"),
                    server: Some("files"),
                },
                "not both",
            ),
            ("wizard", Where::default(), "no role"),
        ] {
            let error = grant(
                &store,
                &cli(),
                &config,
                &Grantee::User("alice"),
                role,
                at,
                now(),
                &mut rand::rng(),
            )
            .await
            .unwrap_err()
            .to_string();
            assert!(error.contains(expected), "{role} {at:?}: {error}");
        }
        assert!(store.role_grant_list().await.unwrap().is_empty());
        // A granted or inherited role is not deleted.
        grant(
            &store,
            &cli(),
            &config,
            &Grantee::Group("sre"),
            "notes-writer",
            Where {
                tenant: None,
                server: Some("notes"),
            },
            now(),
            &mut rand::rng(),
        )
        .await
        .unwrap();
        assert!(matches!(
            delete(&store, &cli(), &config, "notes-writer", now()).await,
            Err(AdminError::Conflict(_))
        ));
        assert!(matches!(
            delete(&store, &cli(), &config, "viewer", now()).await,
            Err(AdminError::Conflict(_))
        ));
    }
}
