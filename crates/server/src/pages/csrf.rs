//! CSRF protection for every form: a synchronizer token in the form, and a same-origin check on
//! the request.
//!
//! The token is derived from a secret only this browser holds in an `HttpOnly` cookie: the
//! session's secret once signed in, else a random pre-session secret set with the first form
//! (so the sign-in form itself is protected against login CSRF). It is
//! `base64url(SHA-256("portcullis-csrf-v1" ‖ 0 ‖ secret))`: nothing to store, tied to the session
//! (a new session means new tokens), and useless for finding the session (its hash is a different
//! one). A form is accepted when its single `csrf_token` field equals, compared in constant time,
//! the token of either secret the request carries.
//!
//! The origin check refuses, before anything else, a POST whose `Sec-Fetch-Site` is anything but
//! `same-origin` or `none`, or whose `Origin` is not the public URL's. Clients that send neither
//! header (not browsers) still need the token.

use axum::body::{Body, to_bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponseParts, ResponseParts};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::{ORIGIN, SET_COOKIE};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode};
use portcullis_core::accounts::SessionSecret;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::cookie::Cookie;
use super::{PageError, Pages, pages_of};
use crate::{ApiError, AppState};

/// The name of the hidden field that carries the token.
pub const CSRF_FIELD: &str = "csrf_token";
/// The largest form body read, in bytes: a few fields and a `return_to`.
const MAX_FORM_BYTES: usize = 16 * 1024;

/// The token bound to `secret`.
fn token_for(secret: &SessionSecret) -> String {
    let mut hash = Sha256::new();
    hash.update(b"portcullis-csrf-v1\0");
    hash.update(secret.as_str().as_bytes());
    URL_SAFE_NO_PAD.encode(hash.finalize())
}

/// The secrets of the request that tokens may be bound to: the session's, the pre-session one.
fn bound_secrets(pages: &Pages, headers: &HeaderMap) -> [Option<SessionSecret>; 2] {
    [Cookie::Session, Cookie::Csrf]
        .map(|cookie| pages.cookie(headers, cookie).and_then(SessionSecret::parse))
}

/// Refuses a request that a browser sent from another site: `Sec-Fetch-Site` other than
/// `same-origin` or `none` (typed or bookmarked), or an `Origin` other than the public URL's
/// (`null` included). Use it on any state-changing request that does not go through [`Form`].
pub fn check_same_origin(pages: &Pages, headers: &HeaderMap) -> Result<(), PageError> {
    let site_ok = headers
        .get("sec-fetch-site")
        .is_none_or(|site| site == "same-origin" || site == "none");
    let origin_ok = headers
        .get(ORIGIN)
        .is_none_or(|origin| origin.as_bytes() == pages.origin.as_bytes());
    if site_ok && origin_ok {
        Ok(())
    } else {
        tracing::info!("cross-site form post refused");
        Err(PageError::forged_form())
    }
}

/// The CSRF token for the forms of a page: put [`CsrfToken::value`] in a hidden
/// [`CSRF_FIELD`] field, and return the token with the response (it is an
/// [`IntoResponseParts`]: `Ok((csrf, render(&view)))`), which sets the pre-session cookie when
/// the browser had neither cookie yet.
#[derive(Clone)]
pub struct CsrfToken {
    token: String,
    set_cookie: Option<HeaderValue>,
}

impl std::fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfToken(..)")
    }
}

impl CsrfToken {
    /// The token to put in the form.
    pub fn value(&self) -> &str {
        &self.token
    }

    /// The token for a request with `headers`: bound to its session secret, else to its
    /// pre-session secret, else to a new pre-session secret that the response will set.
    pub(crate) fn for_request(pages: &Pages, headers: &HeaderMap) -> Self {
        let [session, pre_session] = bound_secrets(pages, headers);
        if let Some(secret) = session.or(pre_session) {
            return CsrfToken {
                token: token_for(&secret),
                set_cookie: None,
            };
        }
        let secret = SessionSecret::generate(&mut rand::rng());
        CsrfToken {
            token: token_for(&secret),
            // Until the browser closes: a sign-in form left open overnight still works.
            set_cookie: pages.set_cookie(Cookie::Csrf, secret.as_str(), None),
        }
    }
}

impl FromRequestParts<AppState> for CsrfToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(CsrfToken::for_request(pages_of(state)?, &parts.headers))
    }
}

impl IntoResponseParts for CsrfToken {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        if let Some(cookie) = self.set_cookie {
            res.headers_mut().append(SET_COOKIE, cookie);
        }
        Ok(res)
    }
}

/// A form body (`application/x-www-form-urlencoded`, at most 16 KiB) that passed the CSRF
/// checks: same origin, and exactly one `csrf_token` field matching this browser's token. `T`
/// gets every other field (and may ignore `csrf_token`). Any failure is an error page and the
/// handler never runs, so nothing is written for a forged request.
#[derive(Debug)]
pub struct Form<T>(pub T);

impl<T> FromRequest<AppState> for Form<T>
where
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let pages = pages_of(state)?;
        check_same_origin(pages, request.headers())?;
        let secrets = bound_secrets(pages, request.headers());
        let (parts, body) = request.into_parts();
        let bytes = to_bytes(body, MAX_FORM_BYTES).await.map_err(|_| {
            PageError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "This form is larger than Portcullis accepts.",
            )
        })?;
        let mut tokens = url::form_urlencoded::parse(&bytes)
            .filter(|(key, _)| key == CSRF_FIELD)
            .map(|(_, value)| value);
        let presented = match (tokens.next(), tokens.next()) {
            (Some(token), None) => token,
            _ => {
                tracing::info!("form post without exactly one CSRF token refused");
                return Err(PageError::forged_form().into());
            }
        };
        let mut matched = subtle::Choice::from(0);
        for secret in secrets.iter().flatten() {
            matched |= token_for(secret).as_bytes().ct_eq(presented.as_bytes());
        }
        if !bool::from(matched) {
            tracing::info!("form post with a wrong CSRF token refused");
            return Err(PageError::forged_form().into());
        }
        let request = Request::from_parts(parts, Body::from(bytes));
        let axum::Form(value) = axum::Form::<T>::from_request(request, state)
            .await
            .map_err(|_| {
                PageError::new(
                    StatusCode::BAD_REQUEST,
                    "This form is incomplete or malformed. Go back, reload the page and try again.",
                )
            })?;
        Ok(Form(value))
    }
}
