//! `POST /register` (dynamic client registration, RFC 7591) and `GET`/`PUT`/`DELETE
//! /register/{client_id}` (its management, RFC 7592), over `portcullis_core::clients`.
//!
//! When `registration.dynamic_client_registration` is off these endpoints do not exist (404).
//! Registration is unauthenticated unless an initial access token is configured, so it is rate
//! limited per client address (a small in-process token bucket: a burst of ten, then one every six
//! seconds), counting every attempt, refused ones included. Bodies are JSON of at most 64 KiB.
//! Answers carry secrets (the client secret, the registration access token) and are never cached.
//! Any origin may call (CORS without credentials), since browser MCP clients register too.
//! A janitor deletes registrations that were never used within `registration.unused_client_ttl`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, PRAGMA};
use http::{HeaderMap, StatusCode};
use portcullis_core::clients::registration::{self, MAX_BODY_BYTES};
use portcullis_core::clients::{Client, ClientRegistry};
use portcullis_proto::oauth::{ErrorCode, OAuthError};
use time::OffsetDateTime;

use crate::{ApiError, AppState};

/// Registrations one address may make at once before being limited.
const BURST: u32 = 10;
/// Then one more every this long (ten a minute).
const REFILL_EVERY: Duration = Duration::from_secs(6);
/// Addresses tracked at most; those back to a full burst are forgotten first.
const MAX_TRACKED: usize = 10_000;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/register", post(registration_post))
        .route(
            "/register/{client_id}",
            get(registration_get)
                .put(registration_put)
                .delete(registration_delete),
        )
        .layer(Extension(Arc::new(RateLimiter::default())))
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

/// A token bucket per client address (IPv6 addresses by their /64, which one machine usually
/// holds whole), kept as the generic cell rate algorithm does: one instant per address, the
/// "theoretical arrival time" of its next request, in monotonic time so clock changes cannot
/// refill it, and without floating point so refills are exact.
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    next: Mutex<HashMap<IpAddr, Instant>>,
}

impl RateLimiter {
    /// Takes one request for `address` at `now`, or says how long until one is allowed.
    pub(crate) fn take(&self, address: IpAddr, now: Instant) -> Result<(), Duration> {
        let key = match address {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
            },
            v4 => v4,
        };
        // How far ahead of now an address may run: the burst after the first request.
        let tolerance = REFILL_EVERY * BURST.saturating_sub(1);
        // Plain instants: a panic elsewhere cannot leave an entry half-written.
        let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        if next.len() >= MAX_TRACKED && !next.contains_key(&key) {
            next.retain(|_, at| *at > now);
            if next.len() >= MAX_TRACKED {
                // Everyone tracked is busy: refuse newcomers rather than forget limits.
                return Err(REFILL_EVERY);
            }
        }
        let arrival = next.get(&key).map_or(now, |at| (*at).max(now));
        let ahead = arrival.saturating_duration_since(now);
        if ahead > tolerance {
            return Err(ahead - tolerance);
        }
        next.insert(key, arrival + REFILL_EVERY);
        Ok(())
    }
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
    Extension(limiter): Extension<Arc<RateLimiter>>,
    request: Request,
) -> Result<Response, ApiError> {
    enabled(&state.clients)?;
    let (parts, body) = request.into_parts();
    // Served without peer addresses (in-process tests), every request shares one bucket.
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |ConnectInfo(addr)| addr.ip());
    let address = state.trusted_proxies.client_address(peer, &parts.headers);
    limiter
        .take(address, Instant::now())
        .map_err(|wait| ApiError::RateLimited {
            retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
        })?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_a_burst_then_one_every_six_seconds() {
        let limiter = RateLimiter::default();
        let start = Instant::now();
        let me: IpAddr = "203.0.113.7".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        for _ in 0..10 {
            assert!(limiter.take(me, start).is_ok());
        }
        let wait = limiter.take(me, start).err();
        assert!(wait.is_some_and(|w| w <= REFILL_EVERY), "{wait:?}");
        // Another address has its own bucket.
        assert!(
            limiter
                .take("203.0.113.8".parse().unwrap_or(me), start)
                .is_ok()
        );
        assert!(limiter.take(me, start + Duration::from_secs(5)).is_err());
        assert!(limiter.take(me, start + Duration::from_secs(6)).is_ok());
        assert!(limiter.take(me, start + Duration::from_secs(7)).is_err());
        // A full minute refills ten.
        let later = start + Duration::from_secs(120);
        for _ in 0..10 {
            assert!(limiter.take(me, later).is_ok());
        }
        assert!(limiter.take(me, later).is_err());
    }

    #[test]
    fn ipv6_addresses_share_their_slash_64() {
        let limiter = RateLimiter::default();
        let now = Instant::now();
        for i in 0..10u16 {
            let address = IpAddr::from([0x2001, 0xdb8, 1, 2, 0, 0, 0, i]);
            assert!(limiter.take(address, now).is_ok());
        }
        let same_net = IpAddr::from([0x2001, 0xdb8, 1, 2, 0xffff, 0, 0, 99]);
        assert!(limiter.take(same_net, now).is_err());
        let other_net = IpAddr::from([0x2001, 0xdb8, 1, 3, 0, 0, 0, 1]);
        assert!(limiter.take(other_net, now).is_ok());
    }
}
