//! Turning views into responses, the headers every page carries, and the HTML error page.

use std::borrow::Cow;

use askama::Template;
use axum::response::{Html, IntoResponse, Response};
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, RETRY_AFTER, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use http::{HeaderMap, HeaderValue, StatusCode};

use crate::ApiError;

/// Nothing but the page itself: its inline styles, same-origin and inline images, no scripts,
/// no framing by anyone (RFC 9700 §4.16 clickjacking), no `<base>`. `form-action` is left out on
/// purpose: Chrome applies it to the redirect that follows a form POST, which would block the
/// consent page's redirect to a client's loopback callback.
const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'";

/// The policy of the pages that run a passkey ceremony: the same, plus this origin's scripts
/// (only `/static/passkey.js` exists; no inline script, no `eval`). Every other page keeps no
/// script at all.
pub(crate) const SCRIPTED_CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'";

/// Marks a page response as one that loads the passkey script ([`allow_script`]), so the pages'
/// header layer gives it [`SCRIPTED_CONTENT_SECURITY_POLICY_VALUE`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScriptAllowed;

/// `response` with a policy that lets it load this origin's script.
#[cfg_attr(not(feature = "passkeys"), allow(dead_code))]
pub(crate) fn allow_script(mut response: Response) -> Response {
    response.extensions_mut().insert(ScriptAllowed);
    response.headers_mut().insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(SCRIPTED_CONTENT_SECURITY_POLICY_VALUE),
    );
    response
}

/// Page URLs can carry authorization requests: they must not leak to another site (RFC 9700
/// §4.2.4), so a browser sends no `Referer` off this origin. Not `no-referrer`: under it browsers
/// send `Origin: null` with every form POST (Fetch, "serializing a request origin"), which the
/// same-origin check of [`super::Form`] rightly refuses, so no form would work. `base.html`
/// says the same in its `<meta name="referrer">`, which would otherwise override this.
pub(crate) const REFERRER_POLICY_VALUE: &str = "same-origin";

/// Sets the pages' security headers on `headers`.
pub(crate) fn set_page_headers(headers: &mut HeaderMap) {
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
    );
    // For browsers without CSP level 2.
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        REFERRER_POLICY,
        HeaderValue::from_static(REFERRER_POLICY_VALUE),
    );
    // Pages hold CSRF tokens and personal details: never stored by browsers or proxies.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
}

/// Adds the pages' security headers to a response: the layer of every page route
/// (`axum::middleware::map_response(with_page_headers)`), redirects and extractor refusals
/// included.
pub async fn with_page_headers(mut response: Response) -> Response {
    let scripted = response.extensions().get::<ScriptAllowed>().is_some();
    set_page_headers(response.headers_mut());
    if scripted {
        response.headers_mut().insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(SCRIPTED_CONTENT_SECURITY_POLICY_VALUE),
        );
    }
    response
}

/// The view as a 200 HTML response with the pages' security headers. Wrap it in a tuple to
/// change the status (`(StatusCode::UNAUTHORIZED, render(&view))`) or add a cookie. A view that
/// fails to render (a bug, not an input) becomes a plain 500 page.
pub fn render<T: Template>(view: &T) -> Response {
    let mut response = match view.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!doctype html><html lang=\"en\"><title>Error</title><h1>500 Internal Server Error</h1><p>This page could not be shown.</p></html>"),
            )
                .into_response()
        }
    };
    set_page_headers(response.headers_mut());
    response
}

/// An instant as the pages show it: `2026-12-03 17:05 UTC`.
pub(crate) fn when(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute()
    )
}

/// An error shown to a browser as an HTML page: a status and one sentence for a person. The
/// sentence is shown as written (escaped), so it must never hold a secret.
#[derive(Debug, Clone)]
pub struct PageError {
    pub status: StatusCode,
    pub message: Cow<'static, str>,
    /// Seconds for `Retry-After` (with 503).
    pub retry_after: Option<u32>,
}

impl PageError {
    pub fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        PageError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 404: there is no such page (or it is turned off).
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "There is no page here.")
    }

    /// 403: a form that was not sent from one of our pages in this browser, or whose token no
    /// longer matches (CSRF).
    pub fn forged_form() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "This form was not sent from a Portcullis page in this browser, or the page is out of date. Go back, reload the page and try again.",
        )
    }

    /// 429: a rate limit refused the request; `Retry-After` says when to come back.
    pub fn too_many(retry_after_secs: u64) -> Self {
        PageError {
            retry_after: Some(u32::try_from(retry_after_secs.max(1)).unwrap_or(u32::MAX)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests from your network. Wait a little and try again.",
            )
        }
    }

    /// 503: the store or the password-hashing pool cannot serve the request now.
    pub fn unavailable(message: &'static str) -> Self {
        PageError {
            retry_after: Some(1),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
        }
    }
}

impl From<PageError> for ApiError {
    fn from(e: PageError) -> Self {
        ApiError::Page(e)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorView<'a> {
    status: u16,
    reason: &'a str,
    message: &'a str,
}

/// The HTML page of a [`PageError`] (`error.rs` calls this for `ApiError::Page`).
pub fn error_page(e: &PageError) -> Response {
    let view = ErrorView {
        status: e.status.as_u16(),
        reason: e.status.canonical_reason().unwrap_or("Error"),
        message: &e.message,
    };
    let mut response = (e.status, render(&view)).into_response();
    if let Some(seconds) = e.retry_after {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}
