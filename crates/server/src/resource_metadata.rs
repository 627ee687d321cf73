//! `/.well-known/oauth-protected-resource/servers/{name}/mcp`: the RFC 9728 metadata of each
//! upstream that requires authentication, at the path form of its resource URL (§3.1).
//!
//! The document is public and browser MCP clients fetch it during discovery (with an
//! `MCP-Protocol-Version` header, so after a preflight), hence CORS for any origin without
//! credentials. There is no root document: its `resource` would have to be the bare origin
//! (§3.3), which is not any upstream's resource.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::header::CACHE_CONTROL;

use crate::{ApiError, AppState};

/// The path of upstream `name`'s metadata.
pub(crate) const ROUTE: &str = "/.well-known/oauth-protected-resource/servers/{name}/mcp";

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route(ROUTE, get(resource_metadata_get))
        .layer(crate::public_document_cors())
}

async fn resource_metadata_get(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let metadata = state
        .gateway
        .protected_resource_metadata(&name)
        .ok_or(ApiError::NotFound("no protected MCP server by that name"))?;
    Ok(([(CACHE_CONTROL, "public, max-age=300")], Json(metadata)).into_response())
}
