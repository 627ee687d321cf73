//! `/users`: local accounts. Every action is in the target account's tenant, so a grant scoped
//! to a tenant manages the accounts of that tenant only. Changing an account — disabling,
//! enabling, deleting, resetting its password (which hands it to whoever holds the one-time
//! password) or its second factors — needs the right to give each grant acting for it anew
//! (its own and its local groups'): nobody acts on an account more powerful than themselves.

use axum::extract::{Path, State};
use axum::response::Response;
use portcullis_core::accounts::{Password, PasswordPolicy};
use portcullis_core::admin::{roles, users, views};
use portcullis_store::{User, UserStatus};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{Caller, JsonBody, api, created, ok};
use crate::{ApiError, AppState};

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    actor.require_listing("users.list")?;
    let all = users::list(state.store.as_ref()).await?;
    Ok(ok(Value::Array(
        all.iter()
            .filter(|u| actor.may("users.list", u.tenant.as_deref()))
            .map(views::user)
            .collect(),
    )))
}

/// The account `username` names, if the caller may `permission` in its tenant. An account the
/// caller may not see at all is answered as missing, so that other tenants' usernames do not
/// leak.
async fn target(
    state: &AppState,
    caller: &Caller,
    username: &str,
    permission: &str,
) -> Result<User, ApiError> {
    let user = users::show(state.store.as_ref(), username).await?;
    let actor = caller.actor();
    if !actor.may("users.read", user.tenant.as_deref())
        && !actor.may(permission, user.tenant.as_deref())
    {
        return Err(portcullis_core::admin::AdminError::NotFound(format!(
            "no account has the username {username:?}"
        ))
        .into());
    }
    actor.require(permission, user.tenant.as_deref())?;
    Ok(user)
}

pub(super) async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
) -> Result<Response, ApiError> {
    let user = target(&state, &caller, &username, "users.read").await?;
    Ok(ok(views::user(&user)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewUser {
    username: String,
    email: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    tenant: Option<String>,
    /// The first password; a generated one-time password (answered once) when absent.
    #[serde(default)]
    password: Option<String>,
}

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(new): JsonBody<NewUser>,
) -> Result<Response, ApiError> {
    let api = api(&state)?;
    caller
        .actor()
        .require("users.create", new.tenant.as_deref())?;
    let now = OffsetDateTime::now_utc();
    let password = match new.password {
        Some(given) => users::InitialPassword::Given(Password::new(given)),
        None => users::InitialPassword::Generate,
    };
    let request = users::NewUser {
        username: &new.username,
        email: &new.email,
        display_name: new.display_name.as_deref(),
        tenant: new.tenant.as_deref(),
        password,
    };
    let policy = PasswordPolicy::from_config(&api.config.accounts);
    let audit = caller.audit_in(new.tenant.as_deref());
    let made = users::create(
        state.store.as_ref(),
        &audit,
        api.hashing.as_ref(),
        &policy,
        request,
        now,
        &mut super::rng(),
    )
    .await?;
    roles::grant_defaults(
        state.store.as_ref(),
        &audit,
        &made.user,
        &api.config.accounts.default_roles,
        now,
        &mut super::rng(),
    )
    .await?;
    Ok(created(views::user_with_password(&made)))
}

pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
) -> Result<Response, ApiError> {
    let user = guarded_target(&state, &caller, &username, "users.delete").await?;
    let (user, grants) = users::delete(
        state.store.as_ref(),
        &caller.audit_in(user.tenant.as_deref()),
        &user.username,
        OffsetDateTime::now_utc(),
    )
    .await?;
    let mut json = views::user(&user);
    views::set(&mut json, "deleted", json!(true));
    views::set(&mut json, "grants_revoked", json!(grants));
    Ok(ok(json))
}

async fn set_status(
    state: &AppState,
    caller: &Caller,
    username: &str,
    status: UserStatus,
) -> Result<Response, ApiError> {
    let permission = match status {
        UserStatus::Disabled => "users.disable",
        UserStatus::Active => "users.enable",
    };
    let user = guarded_target(state, caller, username, permission).await?;
    let user = users::set_status(
        state.store.as_ref(),
        &caller.audit_in(user.tenant.as_deref()),
        &user.username,
        status,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(ok(views::user(&user)))
}

pub(super) async fn disable(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
) -> Result<Response, ApiError> {
    set_status(&state, &caller, &username, UserStatus::Disabled).await
}

pub(super) async fn enable(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
) -> Result<Response, ApiError> {
    set_status(&state, &caller, &username, UserStatus::Active).await
}

/// The account, if the caller may `permission` on it and could give each grant acting for it
/// anew.
async fn guarded_target(
    state: &AppState,
    caller: &Caller,
    username: &str,
    permission: &str,
) -> Result<User, ApiError> {
    let user = target(state, caller, username, permission).await?;
    let grants = roles::grants_acting_for(state.store.as_ref(), &user.id).await?;
    caller
        .actor()
        .require_as_powerful_as(&format!("the account {}", user.username), &grants)?;
    Ok(user)
}

pub(super) async fn reset_password(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
) -> Result<Response, ApiError> {
    let api = api(&state)?;
    let user = guarded_target(&state, &caller, &username, "users.reset_password").await?;
    let reset = users::reset_password(
        state.store.as_ref(),
        &caller.audit_in(user.tenant.as_deref()),
        api.hashing.as_ref(),
        &user.username,
        OffsetDateTime::now_utc(),
        &mut super::rng(),
    )
    .await?;
    Ok(ok(views::user_with_password(&reset)))
}

pub(super) async fn reset_mfa(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
) -> Result<Response, ApiError> {
    let user = guarded_target(&state, &caller, &username, "users.reset_mfa").await?;
    let (user, factors) = users::reset_mfa(
        state.store.as_ref(),
        &caller.audit_in(user.tenant.as_deref()),
        &user.username,
        OffsetDateTime::now_utc(),
    )
    .await?;
    let mut json = views::user(&user);
    views::set(&mut json, "factors_removed", json!(factors));
    Ok(ok(json))
}
