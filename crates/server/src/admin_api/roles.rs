//! `/roles`, `/grants` and `/authz/explain`. Roles belong to no tenant: defining one needs
//! `roles.create`/`roles.update` everywhere and every administrative permission it would carry;
//! grants act in the tenant they are scoped to, and giving or taking one back needs every
//! administrative permission its role carries there (`access::Actor::require_delegation`).

use axum::extract::{Path, State};
use axum::response::Response;
use portcullis_core::admin::roles::{self, Grantee, Where};
use portcullis_core::admin::{AdminError, views};
use portcullis_store::GrantScopeKind;
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{Caller, JsonBody, api, created, ok};
use crate::{ApiError, AppState};

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let api = api(&state)?;
    caller.actor().require_here("roles.list")?;
    let all = roles::list(state.store.as_ref(), &api.config).await?;
    Ok(ok(Value::Array(all.iter().map(views::role).collect())))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RoleBody {
    #[serde(default)]
    inherits: Vec<String>,
    #[serde(default)]
    permissions: Vec<String>,
    #[serde(default)]
    description: Option<String>,
}

pub(super) async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<RoleBody>,
) -> Result<Response, ApiError> {
    let api = api(&state)?;
    let store = state.store.as_ref();
    if body.inherits.len() > 64 || body.permissions.len() > 256 {
        return Err(AdminError::Invalid(
            "at most 64 inherited roles and 256 permissions".to_owned(),
        )
        .into());
    }
    for item in body.inherits.iter().chain(&body.permissions) {
        super::bounded("a role or permission name", item, 255)?;
    }
    if let Some(description) = &body.description {
        super::bounded("description", description, 1000)?;
    }
    let exists = roles::list(store, &api.config)
        .await?
        .iter()
        .any(|r| r.name == name);
    let actor = caller.actor();
    actor.require(
        if exists {
            "roles.update"
        } else {
            "roles.create"
        },
        None,
    )?;
    for permission in roles::carried_admin_permissions(
        store,
        &api.config,
        &name,
        &body.inherits,
        &body.permissions,
    )
    .await?
    {
        if !actor.may(permission, None) {
            return Err(AdminError::Forbidden(format!(
                "the role would carry the permission {permission}, which the caller does not hold everywhere"
            ))
            .into());
        }
    }
    let role = roles::put(
        store,
        &caller.audit,
        &api.config,
        &name,
        body.inherits,
        body.permissions,
        body.description,
        OffsetDateTime::now_utc(),
    )
    .await?;
    let json = views::stored_role(&role);
    Ok(if exists { ok(json) } else { created(json) })
}

pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let api = api(&state)?;
    caller.actor().require("roles.delete", None)?;
    roles::delete(
        state.store.as_ref(),
        &caller.audit,
        &api.config,
        &name,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(ok(json!({ "deleted": name })))
}

/// The tenant a stored grant acts in.
fn grant_tenant(grant: &portcullis_store::StoredRoleGrant) -> Option<&str> {
    (grant.scope_kind == GrantScopeKind::Tenant).then_some(grant.scope.as_str())
}

pub(super) async fn grants(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    actor.require_listing("grants.list")?;
    let all = state
        .store
        .role_grant_list()
        .await
        .map_err(AdminError::from)?;
    Ok(ok(Value::Array(
        all.iter()
            .filter(|g| actor.may("grants.list", grant_tenant(g)))
            .map(views::grant)
            .collect(),
    )))
}

/// Who gets a role and where: exactly one of `user`, `group`, `service`, `subject`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GrantBody {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    subject: Option<String>,
    role: String,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    server: Option<String>,
}

impl GrantBody {
    fn grantee(&self) -> Result<Grantee<'_>, AdminError> {
        match (&self.user, &self.group, &self.service, &self.subject) {
            (Some(user), None, None, None) => Ok(Grantee::User(user)),
            (None, Some(group), None, None) => Ok(Grantee::Group(group)),
            (None, None, Some(service), None) => Ok(Grantee::Service(service)),
            (None, None, None, Some(subject)) => Ok(Grantee::Subject(subject)),
            _ => Err(AdminError::Invalid(
                "name exactly one grantee: user, group, service or subject".to_owned(),
            )),
        }
    }
}

pub(super) async fn grant(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<GrantBody>,
) -> Result<Response, ApiError> {
    let api = api(&state)?;
    let store = state.store.as_ref();
    // Before anything is looked up: a caller that may grant nowhere learns nothing of which
    // accounts and roles exist.
    caller.actor().require_listing("grants.create")?;
    let grantee = body.grantee()?;
    let at = Where {
        tenant: body.tenant.as_deref(),
        server: body.server.as_deref(),
    };
    if !roles::role_set(store, &api.config)
        .await?
        .contains(&body.role)
    {
        return Err(AdminError::NotFound(format!("no role {:?}", body.role)).into());
    }
    let (_, _, scope) = roles::proposed_grant(store, &api.config, &grantee, at).await?;
    caller
        .actor()
        .require_delegation("grants.create", &body.role, &scope)?;
    let tenant = match &scope {
        portcullis_policy::GrantScope::Tenant(tenant) => Some(tenant.as_str()),
        _ => None,
    };
    let grant = roles::grant(
        store,
        &caller.audit_in(tenant),
        &api.config,
        &grantee,
        &body.role,
        at,
        OffsetDateTime::now_utc(),
        &mut super::rng(),
    )
    .await?;
    Ok(created(views::grant(&grant)))
}

pub(super) async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let store = state.store.as_ref();
    let found = roles::grant_by_id(store, &id).await?;
    let actor = caller.actor();
    if !actor.may("grants.list", grant_tenant(&found))
        && !actor.may("grants.revoke", grant_tenant(&found))
    {
        return Err(AdminError::NotFound(format!("no grant has the id {id:?}")).into());
    }
    let scope = roles::grant_scope(found.scope_kind, found.scope.clone());
    actor.require_delegation("grants.revoke", &found.role, &scope)?;
    let grant = roles::revoke_by_id(
        store,
        &caller.audit_in(grant_tenant(&found)),
        &id,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(ok(views::grant(&grant)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExplainBody {
    user: String,
    server: String,
    method: String,
    #[serde(default)]
    name: Option<String>,
    /// The request's arguments, for the conditions.
    #[serde(default)]
    arguments: Option<serde_json::Map<String, Value>>,
}

pub(super) async fn explain(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<ExplainBody>,
) -> Result<Response, ApiError> {
    let api = api(&state)?;
    let store = state.store.as_ref();
    for (field, value) in [
        ("user", &body.user),
        ("server", &body.server),
        ("method", &body.method),
    ]
    .into_iter()
    .chain(body.name.as_ref().map(|n| ("name", n)))
    {
        super::bounded(field, value, 255)?;
    }
    let actor = caller.actor();
    actor.require_listing("authz.explain")?;
    let user = portcullis_core::admin::users::show(store, &body.user).await?;
    actor.require("authz.explain", user.tenant.as_deref())?;
    let arguments = body.arguments.map(|a| Value::Object(a).to_string());
    let conditions = state.gateway.conditions();
    let explanation = roles::explain(
        store,
        &api.config,
        &body.user,
        &body.server,
        &body.method,
        body.name.as_deref(),
        conditions.map(|conditions| roles::ExplainConditions {
            conditions,
            arguments: arguments.as_deref(),
            now: OffsetDateTime::now_utc(),
        }),
    )
    .await?;
    let (mut json, text) = views::explanation(&explanation, &body.server, &body.method);
    views::set(&mut json, "explanation", json!(text));
    Ok(ok(json))
}
