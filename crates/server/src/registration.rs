//! `POST /register` (dynamic client registration, RFC 7591) and `GET`/`PUT`/`DELETE
//! /register/{client_id}` (its management, RFC 7592), over `portcullis_core::clients`.
//!
//! When `registration.dynamic_client_registration` is off these endpoints do not exist (404).
//! Registration is unauthenticated unless an initial access token is configured, so it is rate
//! limited per client address (`rate_limits.registration`, ten a minute by default), counting
//! every attempt, refused ones included. Bodies are JSON of at most 64 KiB.
//! Answers carry secrets (the client secret, the registration access token) and are never cached.
//! Any origin may call (CORS without credentials), since browser MCP clients register too.
//! A janitor deletes registrations that were never used within `registration.unused_client_ttl`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, PRAGMA};
use http::{HeaderMap, StatusCode};
use portcullis_core::clients::registration::{self, MAX_BODY_BYTES};
use portcullis_core::clients::{Client, ClientRegistry};
use portcullis_proto::oauth::{ErrorCode, OAuthError};
use time::OffsetDateTime;

use crate::rate_limit::AddressLimit;
use crate::{ApiError, AppState};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/register", post(registration_post))
        .route(
            "/register/{client_id}",
            get(registration_get)
                .put(registration_put)
                .delete(registration_delete),
        )
        .layer(cors())
}

/// Browser MCP clients (the Inspector, web apps) register from their own origin. Nothing here
/// rests on cookies or ambient credentials (the tokens are bearer tokens the caller holds), so
/// any origin may call, without credentials.
fn cors() -> tower_http::cors::CorsLayer {
    use http::Method;
    tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::AllowOrigin::any())
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers(tower_http::cors::AllowHeaders::mirror_request())
        .max_age(Duration::from_secs(600))
}

/// A CSPRNG seeded from the OS: unlike the thread-local one, it may be held across an await.
fn rng() -> rand::rngs::StdRng {
    rand::SeedableRng::from_os_rng()
}

/// 404 unless dynamic registration is on.
fn enabled(clients: &ClientRegistry) -> Result<(), ApiError> {
    if clients.settings().dynamic_client_registration {
        Ok(())
    } else {
        Err(ApiError::NotFound(
            "dynamic client registration is not enabled",
        ))
    }
}

fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok())
}

/// The body of a JSON request, at most [`MAX_BODY_BYTES`].
async fn json_body(headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(OAuthError::new(
            ErrorCode::InvalidClientMetadata,
            "the body must be JSON (Content-Type: application/json)",
        )
        .into());
    }
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::TooLarge("the body is larger than 64 KiB"))
}

/// A client information response: JSON, never cached (it can hold secrets).
fn information(
    status: StatusCode,
    state: &AppState,
    client: &Client,
    client_secret: Option<String>,
    registration_access_token: Option<String>,
) -> Response {
    let uri = format!(
        "{}/register/{}",
        state.clients.settings().issuer,
        client.client_id
    );
    let body =
        registration::client_information(client, client_secret, registration_access_token, uri);
    (
        status,
        [(CACHE_CONTROL, "no-store"), (PRAGMA, "no-cache")],
        Json(body),
    )
        .into_response()
}

async fn registration_post(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    enabled(&state.clients)?;
    let (parts, body) = request.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let address = peer.map(|peer| state.trusted_proxies.client_address(peer, &parts.headers));
    state
        .rate_limits()
        .check(AddressLimit::Registration, address)
        .await?;
    registration::check_initial_access_token(
        state.clients.initial_access_token_hash(),
        authorization(&parts.headers),
    )?;
    let body = json_body(&parts.headers, body).await?;
    let audit = crate::audit::context(&state, &parts.extensions);
    let registered = registration::register(
        &state.clients,
        &audit,
        &body,
        OffsetDateTime::now_utc(),
        &mut rng(),
    )
    .await?;
    Ok(information(
        StatusCode::CREATED,
        &state,
        &registered.client,
        registered.client_secret,
        registered.registration_access_token,
    ))
}

async fn registration_get(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    enabled(&state.clients)?;
    let client = registration::authorize(
        &state.clients,
        &client_id,
        authorization(&headers),
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(information(StatusCode::OK, &state, &client, None, None))
}

async fn registration_put(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    enabled(&state.clients)?;
    let (parts, body) = request.into_parts();
    // The token first: an unauthenticated caller learns nothing about the body's problems.
    let now = OffsetDateTime::now_utc();
    registration::authorize(
        &state.clients,
        &client_id,
        authorization(&parts.headers),
        now,
    )
    .await?;
    let body = json_body(&parts.headers, body).await?;
    let audit = crate::audit::context(&state, &parts.extensions);
    let updated = registration::update(
        &state.clients,
        &audit,
        &client_id,
        authorization(&parts.headers),
        &body,
        now,
        &mut rng(),
    )
    .await?;
    Ok(information(
        StatusCode::OK,
        &state,
        &updated.client,
        updated.client_secret,
        None,
    ))
}

async fn registration_delete(
    State(state): State<AppState>,
    crate::audit::Audit(audit): crate::audit::Audit,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    enabled(&state.clients)?;
    let revoked = registration::delete(
        &state.clients,
        &audit,
        &client_id,
        authorization(&headers),
        OffsetDateTime::now_utc(),
    )
    .await?;
    // This replica's gateway refuses the client's tokens at once; others poll the store.
    for grant_id in &revoked {
        state.gateway.revoke_tokens(None, Some(grant_id));
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(CACHE_CONTROL, "no-store"), (PRAGMA, "no-cache")],
    )
        .into_response())
}

/// Deletes dynamic registrations never used within their time, every ten minutes, until the
/// process ends.
pub fn spawn_client_janitor(clients: Arc<ClientRegistry>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            match clients.purge_unused(OffsetDateTime::now_utc()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(clients = n, "deleted unused dynamic client registrations"),
                Err(e) => tracing::warn!(error = %e, "could not purge unused dynamic clients"),
            }
        }
    });
}
