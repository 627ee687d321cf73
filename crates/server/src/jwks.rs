//! `/.well-known/jwks.json`: the public keys of Portcullis's signing keys — everything it signs
//! (identity tokens for upstreams now, its OAuth tokens later) verifies against this set.
//!
//! Keys are published here before they first sign and stay after they stop, for as long as
//! anything they signed can still be valid, so verifiers that cache this document for its
//! `max-age` never meet an unknown key (reference §4.7).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::header::CACHE_CONTROL;

use crate::AppState;

pub(crate) const ROUTE: &str = "/.well-known/jwks.json";

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route(ROUTE, get(jwks_get))
        .layer(crate::public_document_cors())
}

async fn jwks_get(State(state): State<AppState>) -> Response {
    let keys = state.gateway.jwks(time::OffsetDateTime::now_utc());
    // Ten minutes: the cache delay key rotation waits out before a new key signs.
    ([(CACHE_CONTROL, "public, max-age=600")], Json(keys)).into_response()
}
