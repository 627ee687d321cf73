//! `/clients`: the authorization server's OAuth clients. Clients belong to no tenant, so every
//! action needs its permission everywhere. Clients of the configuration file are listed and
//! shown, and changed only in the file.

use axum::extract::{Path, State};
use axum::response::Response;
use portcullis_core::admin::{clients, views};
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::{Caller, JsonBody, api, created, ok};
use crate::{ApiError, AppState};

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let api = api(&state)?;
    caller.actor().require("clients.list", None)?;
    let all =
        clients::list_all(state.store.as_ref(), &api.config, OffsetDateTime::now_utc()).await?;
    Ok(ok(Value::Array(all.iter().map(views::client).collect())))
}

pub(super) async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(client_id): Path<String>,
) -> Result<Response, ApiError> {
    let api = api(&state)?;
    caller.actor().require("clients.read", None)?;
    let client = clients::find(
        state.store.as_ref(),
        &api.config,
        &client_id,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(ok(views::client(&client)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewClient {
    name: String,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    confidential: bool,
    #[serde(default)]
    grant_types: Vec<String>,
    #[serde(default)]
    scope: Option<String>,
}

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(new): JsonBody<NewClient>,
) -> Result<Response, ApiError> {
    caller.actor().require("clients.create", None)?;
    let request = clients::NewClient {
        name: &new.name,
        redirect_uris: &new.redirect_uris,
        confidential: new.confidential,
        grant_types: &new.grant_types,
        scope: new.scope.as_deref(),
    };
    let made = clients::create(
        state.store.as_ref(),
        &caller.audit,
        request,
        OffsetDateTime::now_utc(),
        &mut super::rng(),
    )
    .await?;
    Ok(created(views::client_with_secret(&made)))
}

pub(super) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(client_id): Path<String>,
) -> Result<Response, ApiError> {
    let api = api(&state)?;
    caller.actor().require("clients.delete", None)?;
    clients::refuse_configured(&api.config, &client_id)?;
    let client = clients::delete(
        state.store.as_ref(),
        &caller.audit,
        &client_id,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(ok(views::client(&client)))
}

pub(super) async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path(client_id): Path<String>,
) -> Result<Response, ApiError> {
    let api = api(&state)?;
    caller.actor().require("clients.rotate_secret", None)?;
    clients::refuse_configured(&api.config, &client_id)?;
    let rotated = clients::rotate_secret(
        state.store.as_ref(),
        &caller.audit,
        &client_id,
        OffsetDateTime::now_utc(),
        &mut super::rng(),
    )
    .await?;
    Ok(ok(views::client_with_secret(&rotated)))
}
