//! The authorization server's HTTP endpoints: metadata (RFC 8414 / OIDC discovery), token,
//! revocation, introspection and userinfo here; the authorization endpoint and consent page with
//! the other pages. Each handler parses the request, calls `portcullis_core::oauth`, and renders
//! the result; errors become HTTP in `crate::error` as everywhere.

mod authorize;
mod metadata;
mod token;
mod userinfo;

use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::Request;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, Method};
use portcullis_core::oauth::Params;
use portcullis_core::oauth::params::MAX_PARAMS_BYTES;
use portcullis_proto::oauth::{ErrorCode, OAuthError};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

use crate::AppState;

pub(crate) use metadata::{ROUTES as METADATA_ROUTES, metadata_get, metadata_paths};

pub(crate) fn router() -> Router<AppState> {
    // Browser MCP clients (the Inspector) call these from another origin. They carry no cookies
    // and answer only to credentials in the request itself, so any origin may call them; the
    // authorization endpoint is not among them (RFC 9700 §2.6: no CORS there).
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers(AllowHeaders::mirror_request())
        .max_age(Duration::from_secs(600));
    Router::new()
        .merge(metadata::router())
        .merge(token::router())
        .merge(userinfo::router())
        .layer(cors)
        .merge(authorize::router())
}

/// The `Authorization` header as a string, if present (once) and visible ASCII.
pub(crate) fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok())
}

/// Every `Authorization` header value (visible ASCII ones), for client authentication, which
/// refuses more than one.
pub(crate) fn authorizations(headers: &HeaderMap) -> Vec<&str> {
    headers
        .get_all(AUTHORIZATION)
        .iter()
        .map(|v| v.to_str().unwrap_or("\u{fffd}"))
        .collect()
}

/// Reads an `application/x-www-form-urlencoded` body of at most [`MAX_PARAMS_BYTES`].
pub(crate) async fn form(request: Request) -> Result<(HeaderMap, Params), OAuthError> {
    let (parts, body) = request.into_parts();
    let is_form = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(OAuthError::new(
            ErrorCode::InvalidRequest,
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let bytes = to_bytes(Body::new(body), MAX_PARAMS_BYTES)
        .await
        .map_err(|_| {
            OAuthError::new(
                ErrorCode::InvalidRequest,
                "the body is too large or unreadable",
            )
        })?;
    Ok((parts.headers, Params::parse(&bytes)?))
}

/// The authorization server, or 404 when this deployment has none.
pub(crate) fn server(
    state: &AppState,
) -> Result<&std::sync::Arc<portcullis_core::oauth::AuthorizationServer>, crate::ApiError> {
    state
        .authorization_server
        .as_ref()
        .ok_or(crate::ApiError::NotFound("no authorization server here"))
}
