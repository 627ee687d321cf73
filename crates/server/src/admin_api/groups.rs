//! `/groups`: local groups and their members. A group acts in its tenant (none: everywhere), so
//! a tenant admin manages its tenant's groups. Making someone a member gives them the group's
//! grants: it needs the right to give each of them anew.

use axum::extract::{Path, State};
use axum::response::Response;
use portcullis_core::admin::groups::{self, GroupView, NewGroup};
use portcullis_core::admin::{AdminError, roles, views};
use portcullis_store::GranteeKind;
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::{Caller, JsonBody, created, ok};
use crate::{ApiError, AppState};

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    actor.require_listing("groups.list")?;
    let all = groups::list(state.store.as_ref()).await?;
    Ok(ok(Value::Array(
        all.iter()
            .filter(|g| actor.may("groups.list", g.group.tenant.as_deref()))
            .map(views::group)
            .collect(),
    )))
}

/// The group `name`, if the caller may `permission` in its tenant; one it may not even read is
/// answered as missing.
async fn target(
    state: &AppState,
    caller: &Caller,
    name: &str,
    permission: &str,
) -> Result<GroupView, ApiError> {
    let view = groups::show(state.store.as_ref(), name).await?;
    let actor = caller.actor();
    let tenant = view.group.tenant.as_deref();
    if !actor.may("groups.read", tenant) && !actor.may(permission, tenant) {
        return Err(AdminError::NotFound(format!("no group is named {name:?}")).into());
    }
    actor.require(permission, tenant)?;
    Ok(view)
}

pub(super) async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    Ok(ok(views::group(
        &target(&state, &caller, &name, "groups.read").await?,
    )))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewGroupBody {
    name: String,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<NewGroupBody>,
) -> Result<Response, ApiError> {
    let tenant = body.tenant.as_deref();
    caller.actor().require("groups.create", tenant)?;
    let store = state.store.as_ref();
    let new = NewGroup {
        name: &body.name,
        tenant,
        description: body.description.as_deref(),
    };
    groups::create(
        store,
        &caller.audit_in(tenant),
        new,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(created(views::group(
        &groups::show(store, &body.name).await?,
    )))
}

pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let view = target(&state, &caller, &name, "groups.delete").await?;
    let gone = groups::delete(
        state.store.as_ref(),
        &caller.audit_in(view.group.tenant.as_deref()),
        &name,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(ok(views::group(&gone)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MemberBody {
    /// The account's username.
    user: String,
}

pub(super) async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<MemberBody>,
) -> Result<Response, ApiError> {
    let store = state.store.as_ref();
    let view = target(&state, &caller, &name, "groups.members.add").await?;
    // The body names the account: one that does not exist makes the request invalid (404 is
    // for the group the path names). One outside a tenant's group's tenant is answered alike,
    // so a tenant admin learns nothing of other tenants' usernames.
    let missing = || AdminError::Invalid(format!("no account has the username {:?}", body.user));
    match portcullis_core::admin::users::show(store, &body.user).await {
        Ok(user) if view.group.tenant.is_some() && user.tenant != view.group.tenant => {
            return Err(missing().into());
        }
        Ok(_) => {}
        Err(AdminError::NotFound(_)) => return Err(missing().into()),
        Err(e) => return Err(e.into()),
    }
    let grants = roles::grants_of(store, GranteeKind::Group, &name).await?;
    caller
        .actor()
        .require_as_powerful_as(&format!("a member of {name:?}"), &grants)?;
    let view = groups::add_member(
        store,
        &caller.audit_in(view.group.tenant.as_deref()),
        &name,
        &body.user,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(ok(views::group(&view)))
}

pub(super) async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, username)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let view = target(&state, &caller, &name, "groups.members.remove").await?;
    let view = groups::remove_member(
        state.store.as_ref(),
        &caller.audit_in(view.group.tenant.as_deref()),
        &name,
        &username,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(ok(views::group(&view)))
}
