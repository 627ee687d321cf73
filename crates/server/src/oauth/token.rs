//! `POST /token` (OAuth 2.1 §3.2), `POST /revoke` (RFC 7009) and `POST /introspect` (RFC 7662).
//! Every answer carries `Cache-Control: no-store` (RFC 6749 §5.1, reference H2).

use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::StatusCode;
use http::header::{CACHE_CONTROL, PRAGMA};
use rand::SeedableRng;
use rand::rngs::StdRng;
use time::OffsetDateTime;

use super::{authorizations, form, server};
use crate::audit::Audit;
use crate::pages::throttling::ClientAddress;
use crate::rate_limit::AddressLimit;
use crate::{ApiError, AppState};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/token", post(token_post))
        .route("/revoke", post(revoke_post))
        .route("/introspect", post(introspect_post))
}

fn no_store(status: StatusCode, body: impl IntoResponse) -> Response {
    (
        status,
        [(CACHE_CONTROL, "no-store"), (PRAGMA, "no-cache")],
        body,
    )
        .into_response()
}

async fn token_post(
    State(state): State<AppState>,
    Audit(audit): Audit,
    request: Request,
) -> Result<Response, ApiError> {
    let server = server(&state)?;
    let (parts, body) = request.into_parts();
    let ClientAddress(address) = ClientAddress::of(&parts, &state);
    // Before the body is read: a limited request costs nothing more.
    state
        .rate_limits()
        .check(AddressLimit::Token, address)
        .await?;
    let request = Request::from_parts(parts, body);
    let (headers, params) = form(request).await?;
    // A client id that is a metadata document URL may be fetched: those count against
    // `rate_limits.client_id_document` too.
    if crate::rate_limit::names_document(params.get("client_id")) {
        state
            .rate_limits()
            .check(AddressLimit::ClientIdDocument, address)
            .await?;
    }
    let response = server
        .token(
            &params,
            &authorizations(&headers),
            &audit,
            OffsetDateTime::now_utc(),
            // A per-request generator seeded from the OS: the thread-local one cannot be held
            // across an await in a Send future.
            &mut StdRng::from_os_rng(),
        )
        .await?;
    // Only the grant types the server issues for; the parameter was checked by `token`.
    let grant_type = match params.get("grant_type") {
        Some("authorization_code") => "authorization_code",
        Some("refresh_token") => "refresh_token",
        Some("client_credentials") => "client_credentials",
        _ => "other",
    };
    metrics::counter!("portcullis_tokens_issued_total", "grant_type" => grant_type).increment(1);
    Ok(no_store(StatusCode::OK, Json(response)))
}

async fn revoke_post(
    State(state): State<AppState>,
    Audit(audit): Audit,
    request: Request,
) -> Result<Response, ApiError> {
    let server = server(&state)?;
    let (headers, params) = form(request).await?;
    server
        .revoke(
            &params,
            &authorizations(&headers),
            &audit,
            OffsetDateTime::now_utc(),
        )
        .await?;
    Ok(no_store(StatusCode::OK, ()))
}

async fn introspect_post(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    let server = server(&state)?;
    let (headers, params) = form(request).await?;
    let body = server
        .introspect(
            &params,
            &authorizations(&headers),
            OffsetDateTime::now_utc(),
        )
        .await?;
    Ok(no_store(StatusCode::OK, Json(body)))
}
