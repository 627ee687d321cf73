//! Authorization server metadata at every path of the MCP client probe order (reference AS-02):
//! for an issuer without a path, `/.well-known/oauth-authorization-server` and
//! `/.well-known/openid-configuration`; for one with a path (`https://gw.example/auth`), those
//! two with the path appended, and `/auth/.well-known/openid-configuration`. The document is
//! the same at each.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::header::CACHE_CONTROL;

use crate::{ApiError, AppState};

/// The routes, for an issuer without a path. `metadata_paths` gives the routes for any issuer.
pub(crate) const ROUTES: [&str; 2] = [
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
];

/// The discovery paths of `issuer`.
pub(crate) fn metadata_paths(issuer: &str) -> Vec<String> {
    let path = url::Url::parse(issuer)
        .map(|u| u.path().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    if path.is_empty() {
        ROUTES.iter().map(|r| (*r).to_owned()).collect()
    } else {
        vec![
            format!("/.well-known/oauth-authorization-server{path}"),
            format!("/.well-known/openid-configuration{path}"),
            format!("{path}/.well-known/openid-configuration"),
        ]
    }
}

pub(crate) fn router() -> Router<crate::AppState> {
    // Routes for a path-less issuer; `crate::router` adds the path forms when the issuer has a
    // path (they depend on configuration, not known here).
    ROUTES.iter().fold(Router::new(), |router, route| {
        router.route(route, get(metadata_get))
    })
}

pub(crate) async fn metadata_get(State(state): State<AppState>) -> Result<Response, ApiError> {
    let server = super::server(&state)?;
    let document = server.metadata(state.registration);
    Ok(([(CACHE_CONTROL, "public, max-age=300")], Json(document)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_probe_order() {
        assert_eq!(metadata_paths("https://gw.example"), ROUTES);
        assert_eq!(
            metadata_paths("https://gw.example/tenant1"),
            [
                "/.well-known/oauth-authorization-server/tenant1",
                "/.well-known/openid-configuration/tenant1",
                "/tenant1/.well-known/openid-configuration",
            ]
        );
    }
}
