//! `/servers/{name}/mcp`: POST, GET and DELETE relayed by the gateway, CORS for browser clients.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::Response;
use axum::routing::post;
use http::{HeaderName, Method};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

use crate::{ApiError, AppState};

pub(crate) fn router(state: AppState) -> Router<AppState> {
    let gateway = state.gateway.clone();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, _| {
            origin
                .to_str()
                .is_ok_and(|o| gateway.origin_policy().origin_allowed(o))
        }))
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        // Any request header a browser client asks for; `Mcp-Param-*` names are open-ended.
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([
            HeaderName::from_static("mcp-session-id"),
            HeaderName::from_static("mcp-protocol-version"),
            HeaderName::from_static("www-authenticate"),
        ])
        .max_age(Duration::from_secs(600));
    Router::new()
        .route(
            "/servers/{name}/mcp",
            post(servers_mcp_post)
                .get(servers_mcp_get)
                .delete(servers_mcp_delete),
        )
        .layer(cors)
}

async fn servers_mcp_post(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response<Body>, ApiError> {
    let (parts, body) = request.into_parts();
    Ok(state.gateway.post(&name, &parts, body).await?)
}

async fn servers_mcp_get(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response<Body>, ApiError> {
    let (parts, _) = request.into_parts();
    Ok(state.gateway.get(&name, &parts).await?)
}

async fn servers_mcp_delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response<Body>, ApiError> {
    let (parts, _) = request.into_parts();
    Ok(state.gateway.delete(&name, &parts).await?)
}
