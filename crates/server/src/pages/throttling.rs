//! Slowing down guessing on the pages: every sign-in factor (a password, an authenticator code,
//! a recovery code) goes through [`guarded`], which refuses an attempt made during the delay of
//! `accounts::throttle` with a 429 page and `Retry-After`, counts a failure against the account
//! as typed and the client's address, and clears the account's count on success.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::response::{IntoResponse, Response};
use http::header::RETRY_AFTER;
use http::request::Parts;
use http::{HeaderValue, StatusCode};
use portcullis_core::accounts::AccountsError;
use portcullis_core::accounts::throttle::{self, Attempt};

use super::Pages;
use super::session::page_failure;
use crate::rate_limit::AddressLimit;
use crate::{ApiError, AppState};

/// The address of the client that sent the request: the peer, or the nearest untrusted
/// `X-Forwarded-For` entry when the peer is a trusted proxy (`server.trusted_proxies`). `None`
/// only when the server runs without peer addresses (in-process tests); the account is still
/// counted then.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddress(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        Ok(ClientAddress::of(parts, state))
    }
}

impl ClientAddress {
    /// The client address of a request's `parts`.
    pub(crate) fn of(parts: &Parts, state: &AppState) -> Self {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        ClientAddress(peer.map(|peer| state.trusted_proxies.client_address(peer, &parts.headers)))
    }
}

/// What a guarded check came to.
pub(crate) enum Guarded<T> {
    /// The factor was right.
    Passed(T),
    /// The factor was wrong (now counted): the page says so.
    Failed,
    /// Too many recent failures, or too many attempts from the address
    /// (`rate_limits.sign_in`): the attempt was refused unchecked; wait this long, as the
    /// message says.
    Throttled(Duration, String),
}

/// Runs `check` (one sign-in factor) for `attempt` from `address` unless the address's rate
/// limit (`rate_limits.sign_in`) or a delay is in force, and counts its outcome. `is_guess` says
/// which errors are wrong guesses to count (the rest — a store outage, a busy hashing pool — are
/// neither counted nor shown as wrong: they become error pages).
pub(crate) async fn guarded<T, F>(
    state: &AppState,
    pages: &Pages,
    attempt: &Attempt,
    address: Option<IpAddr>,
    is_guess: impl Fn(&AccountsError) -> bool,
    check: F,
) -> Result<Guarded<T>, ApiError>
where
    F: Future<Output = Result<T, AccountsError>>,
{
    if let Err(wait) = state
        .rate_limits()
        .take(AddressLimit::SignIn, address)
        .await
    {
        return Ok(Guarded::Throttled(wait, limited_message(wait)));
    }
    let store = state.store.as_ref();
    match throttle::check(store, attempt, pages.now()).await {
        Ok(()) => {}
        Err(AccountsError::Throttled { retry_after }) => {
            tracing::info!(
                retry_after = retry_after.as_secs(),
                "sign-in attempt refused: too many recent failures"
            );
            return Ok(Guarded::Throttled(retry_after, wait_message(retry_after)));
        }
        Err(e) => return Err(page_failure(e)),
    }
    match check.await {
        Ok(value) => {
            throttle::succeeded(store, attempt)
                .await
                .map_err(page_failure)?;
            Ok(Guarded::Passed(value))
        }
        Err(ref e) if is_guess(e) => {
            throttle::failed(store, attempt, pages.now())
                .await
                .map_err(page_failure)?;
            Ok(Guarded::Failed)
        }
        Err(e) => Err(page_failure(e)),
    }
}

/// The message of a throttled attempt.
fn wait_message(retry_after: Duration) -> String {
    format!(
        "Too many failed attempts. Wait {} before trying again.",
        how_long(retry_after)
    )
}

/// The message of an attempt refused by the address's rate limit.
fn limited_message(retry_after: Duration) -> String {
    format!(
        "Too many sign-in attempts from your network. Wait {} before trying again.",
        how_long(retry_after)
    )
}

fn how_long(wait: Duration) -> String {
    let secs = portcullis_core::rate_limit::retry_after_secs(wait);
    if secs == 1 {
        "1 second".to_owned()
    } else if secs < 120 {
        format!("{secs} seconds")
    } else {
        format!("{} minutes", secs.div_ceil(60))
    }
}

/// A page answered 429 with `Retry-After`.
pub(crate) fn too_many(page: Response, retry_after: Duration) -> Response {
    let mut response = (StatusCode::TOO_MANY_REQUESTS, page).into_response();
    response.headers_mut().insert(
        RETRY_AFTER,
        HeaderValue::from(portcullis_core::rate_limit::retry_after_secs(retry_after)),
    );
    response
}
