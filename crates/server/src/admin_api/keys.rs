//! `/api-keys` (Portcullis API keys and service tokens) and `/keys` (the signing keys).
//!
//! A key acts as the service principal it is made for, with that subject's grants: minting one
//! needs `api_keys.create` everywhere and the right to give each of those grants anew. Keys
//! belong to no tenant. Signing keys are the whole deployment's: `keys.list` and `keys.rotate`
//! everywhere.

use axum::extract::{Path, State};
use axum::response::Response;
use portcullis_core::admin::{AdminError, api_keys, keys, roles, views};
use portcullis_core::config::parse_duration;
use portcullis_core::config::validate::is_scope_token;
use portcullis_store::GranteeKind;
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::{Caller, JsonBody, MaybeJsonBody, api, created, ok, query_params};
use crate::{ApiError, AppState};

pub(super) async fn api_key_list(
    State(state): State<AppState>,
    caller: Caller,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Result<Response, ApiError> {
    caller.actor().require("api_keys.list", None)?;
    let params = query_params(query.as_deref(), &["subject"])?;
    let subject = params.first().map(|(_, v)| v.as_str());
    let now = OffsetDateTime::now_utc();
    let all = api_keys::list(state.store.as_ref(), subject).await?;
    Ok(ok(Value::Array(
        all.iter().map(|k| views::api_key(k, now)).collect(),
    )))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewKey {
    name: String,
    subject: String,
    #[serde(default)]
    scopes: Vec<String>,
    /// How long until it stops working (`30d`, `12h`); never, when absent.
    #[serde(default)]
    expires_in: Option<String>,
    #[serde(default)]
    service_token: bool,
}

pub(super) async fn api_key_create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(new): JsonBody<NewKey>,
) -> Result<Response, ApiError> {
    let store = state.store.as_ref();
    let actor = caller.actor();
    actor.require("api_keys.create", None)?;
    let grants = roles::grants_of(store, GranteeKind::Service, &new.subject).await?;
    actor.require_as_powerful_as(&format!("the service principal {:?}", new.subject), &grants)?;
    let now = OffsetDateTime::now_utc();
    let expires_at = match &new.expires_in {
        None => None,
        Some(text) => {
            let after = parse_duration(text)
                .map_err(|e| AdminError::Invalid(format!("expires_in: {e}")))?;
            let after = time::Duration::try_from(after)
                .map_err(|_| AdminError::Invalid("expires_in: too long".to_owned()))?;
            Some(
                now.checked_add(after)
                    .ok_or_else(|| AdminError::Invalid("expires_in: too long".to_owned()))?,
            )
        }
    };
    if let Some(bad) = new.scopes.iter().find(|s| !is_scope_token(s)) {
        return Err(AdminError::Invalid(format!("{bad:?} is not a valid scope")).into());
    }
    let scopes = new.scopes.join(" ");
    let request = api_keys::NewKey {
        subject: &new.subject,
        name: &new.name,
        scopes: &scopes,
        expires_at,
        service_token: new.service_token,
    };
    let made = api_keys::create(store, &caller.audit, request, now, &mut super::rng()).await?;
    Ok(created(views::created_api_key(&made, now)))
}

pub(super) async fn api_key_revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.actor().require("api_keys.revoke", None)?;
    let now = OffsetDateTime::now_utc();
    let key = api_keys::revoke(state.store.as_ref(), &caller.audit, &id, now).await?;
    Ok(ok(views::api_key(&key, now)))
}

pub(super) async fn signing_key_list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.actor().require("keys.list", None)?;
    let all = keys::list(state.store.as_ref(), OffsetDateTime::now_utc()).await?;
    Ok(ok(Value::Array(
        all.iter()
            .map(|(key, status)| views::signing_key(key, *status))
            .collect(),
    )))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RotateBody {
    /// How long the new key is published before it signs; 10 minutes when absent.
    #[serde(default)]
    publish_delay: Option<String>,
}

pub(super) async fn signing_key_rotate(
    State(state): State<AppState>,
    caller: Caller,
    MaybeJsonBody(body): MaybeJsonBody<RotateBody>,
) -> Result<Response, ApiError> {
    let api = api(&state)?;
    caller.actor().require("keys.rotate", None)?;
    let publish_delay = match &body.publish_delay {
        None => std::time::Duration::from_secs(600),
        Some(text) => {
            parse_duration(text).map_err(|e| AdminError::Invalid(format!("publish_delay: {e}")))?
        }
    };
    let rotation = keys::rotate(
        state.store.as_ref(),
        &caller.audit,
        &api.config,
        &api.sealer,
        publish_delay,
        OffsetDateTime::now_utc(),
        &mut super::rng(),
    )
    .await?;
    Ok(ok(views::rotation(&rotation)))
}
