//! `/audit`: the audit log. Listing needs `audit.read`; a grant scoped to a tenant shows that
//! tenant's records only. Exporting every record (hashes included, as JSON lines) and verifying
//! the whole chain need `audit.export` and `audit.read` everywhere.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use portcullis_core::admin::audit::{self, Verification};
use portcullis_core::admin::{AdminError, views};
use portcullis_core::config::parse_duration;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Caller, json_lines, ok, query_params};
use crate::{ApiError, AppState};

/// The most records one listing answers.
const MAX_LIMIT: u32 = 1000;

/// `since`: an RFC 3339 instant, or a duration before `now`.
fn parse_since(text: &str, now: OffsetDateTime) -> Result<OffsetDateTime, AdminError> {
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(at);
    }
    let invalid = || {
        AdminError::Invalid(format!(
            "since: {text:?} is neither an RFC 3339 time nor a duration like 1h"
        ))
    };
    let ago = parse_duration(text).map_err(|_| invalid())?;
    let ago = time::Duration::try_from(ago).map_err(|_| invalid())?;
    now.checked_sub(ago).ok_or_else(invalid)
}

pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    actor.require_listing("audit.read")?;
    let now = OffsetDateTime::now_utc();
    let mut since = None;
    let mut limit = 100;
    for (name, value) in query_params(query.as_deref(), &["since", "limit"])? {
        match name.as_str() {
            "since" => since = Some(parse_since(&value, now)?),
            _ => {
                limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        AdminError::Invalid(format!("limit: a number from 1 to {MAX_LIMIT}"))
                    })?;
            }
        }
    }
    let everywhere = actor.may("audit.read", None);
    let records = audit::list(state.store.as_ref(), since, limit).await?;
    Ok(ok(Value::Array(
        records
            .iter()
            .filter(|r| everywhere || actor.may("audit.read", r.event.tenant.as_deref()))
            .map(views::audit_record)
            .collect(),
    )))
}

pub(super) async fn export(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    caller.actor().require("audit.export", None)?;
    let now = OffsetDateTime::now_utc();
    let since = query_params(query.as_deref(), &["since"])?
        .first()
        .map(|(_, v)| parse_since(v, now))
        .transpose()?;
    // Page by page into a channel, so a long log is never in memory whole.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(4);
    let store = state.store.clone();
    tokio::spawn(async move {
        let mut after_seq = 0;
        loop {
            let page = match audit::page(store.as_ref(), since, after_seq).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::error!(error = %e, "audit export failed");
                    let _ = tx
                        .send(Err(std::io::Error::other("audit export failed")))
                        .await;
                    return;
                }
            };
            let Some(last) = page.last() else { return };
            after_seq = last.seq;
            let mut chunk = String::new();
            for record in &page {
                chunk.push_str(&views::audit_record(record).to_string());
                chunk.push('\n');
            }
            if tx.send(Ok(bytes::Bytes::from(chunk))).await.is_err() {
                return;
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok(json_lines(Body::from_stream(stream)))
}

pub(super) async fn verify(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.actor().require("audit.read", None)?;
    Ok(ok(match audit::verify(state.store.as_ref()).await? {
        Verification::Intact { count, head } => json!({
            "intact": true,
            "count": count,
            "head": head.map(|h| views::hex(&h)),
        }),
        Verification::Broken { checked, at } => json!({
            "intact": false,
            "broken_at": at.seq(),
            "problem": at.to_string(),
            "intact_before": checked,
        }),
    }))
}
