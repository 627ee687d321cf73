//! `/.well-known/oauth-protected-resource/servers/{name}/mcp`: the RFC 9728 metadata of each
//! upstream that requires authentication, at the path form of its resource URL (§3.1).
//!
//! The document is public and browser MCP clients fetch it during discovery (with an
//! `MCP-Protocol-Version` header, so after a preflight), hence CORS for any origin without
//! credentials. There is no root document: its `resource` would have to be the bare origin
//! (§3.3), which is not any upstream's resource.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::Method;
use http::header::CACHE_CONTROL;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

use crate::{ApiError, AppState};

/// The path of upstream `name`'s metadata.
pub(crate) const ROUTE: &str = "/.well-known/oauth-protected-resource/servers/{name}/mcp";

pub(crate) fn router() -> Router<AppState> {
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods([Method::GET, Method::OPTIONS])
        .allow_headers(AllowHeaders::mirror_request())
        .max_age(Duration::from_secs(600));
    Router::new()
        .route(ROUTE, get(resource_metadata_get))
        .layer(cors)
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
