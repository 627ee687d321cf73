//! Who is signed in: the browser session behind the session cookie, and the ways to send a
//! browser that is not (yet) signed in to the page it needs.

use axum::extract::{FromRequestParts, OriginalUri};
use axum::response::{IntoResponse, Redirect, Response};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method};
use portcullis_core::accounts::{
    AccountsError, PendingStep, SessionSecret, StartedSession, pending_step, resume_session,
    start_session,
};
use portcullis_core::audit::AuditContext;
use portcullis_store::{BrowserSession, User};

use super::cookie::Cookie;
use super::render::set_page_headers;
use super::{PageError, Pages, pages_of, safe_return_to};
use crate::{ApiError, AppState};

/// A signed-in person: the account and the browser session it signed in with. As an extractor it
/// sends a browser that is not signed in to `/login?return_to=<this page>` (GET and HEAD; other
/// methods to `/login`), and one with a pending step (a password to change) to that step's page.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: User,
    /// `auth_time` and `amr` say when and how the person proved who they are.
    pub session: BrowserSession,
}

/// What the session cookie of a request stands for.
pub(crate) enum Browser {
    /// No cookie, or one that stands for no usable session.
    Anonymous,
    /// Signed in with a step still to do.
    Pending(SignedIn, PendingStep),
    SignedIn(SignedIn),
}

/// Maps a failure of the accounts layer to what a page answers: 503 when the store or the
/// hashing pool cannot serve, a generic error page otherwise.
pub(crate) fn page_failure(e: AccountsError) -> ApiError {
    match e {
        AccountsError::Store(e) => {
            tracing::error!(error = %e, "store failure on a page");
            PageError::unavailable(
                "Portcullis cannot reach its database right now. Try again in a moment.",
            )
            .into()
        }
        AccountsError::Busy => PageError::unavailable(
            "Too many people are signing in right now. Try again in a moment.",
        )
        .into(),
        other => {
            tracing::error!(error = %other, "accounts failure on a page");
            PageError::new(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on Portcullis's side.",
            )
            .into()
        }
    }
}

/// The session secret in the request's cookie, if it has the shape of one.
pub(crate) fn session_secret(pages: &Pages, headers: &HeaderMap) -> Option<SessionSecret> {
    pages
        .cookie(headers, Cookie::Session)
        .and_then(SessionSecret::parse)
}

/// What the request's session cookie stands for now.
pub(crate) async fn browser(
    state: &AppState,
    pages: &Pages,
    headers: &HeaderMap,
) -> Result<Browser, ApiError> {
    let Some(secret) = session_secret(pages, headers) else {
        return Ok(Browser::Anonymous);
    };
    let resumed = resume_session(state.store.as_ref(), &secret, pages.timeouts, pages.now())
        .await
        .map_err(page_failure)?;
    Ok(match resumed {
        None => Browser::Anonymous,
        Some((user, session)) => {
            let step = pending_step(state.store.as_ref(), &pages.accounts, &user, &session.amr)
                .await
                .map_err(page_failure)?;
            let signed_in = SignedIn { user, session };
            match step {
                Some(step) => Browser::Pending(signed_in, step),
                None => Browser::SignedIn(signed_in),
            }
        }
    })
}

/// The person signed in with this request's browser session, or `None`: no session cookie, an
/// unknown, expired or ended session, a disabled account, or a step still pending (which is not
/// signed in yet). An error only when the store cannot answer (a 503 page): a store outage must
/// not look like being signed out.
pub async fn current_user(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<SignedIn>, ApiError> {
    let Some(pages) = state.pages() else {
        return Ok(None);
    };
    Ok(match browser(state, pages, headers).await? {
        Browser::SignedIn(signed_in) => Some(signed_in),
        Browser::Anonymous | Browser::Pending(..) => None,
    })
}

/// `path` with `?return_to=<return_to>` when there is a safe one, as an absolute URL.
fn with_return_to(pages: &Pages, path: &str, return_to: Option<&str>) -> String {
    match return_to.and_then(safe_return_to) {
        Some(return_to) => {
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("return_to", return_to)
                .finish();
            pages.url(&format!("{path}?{query}"))
        }
        None => pages.url(path),
    }
}

/// The sign-in page's URL, with where to go afterwards (a path on this origin such as
/// `/authorize?client_id=…`; an unsafe or overlong one is dropped).
pub fn login_url(pages: &Pages, return_to: Option<&str>) -> String {
    with_return_to(pages, "/login", return_to)
}

/// A 303 to the sign-in page that comes back to `return_to` afterwards (see [`login_url`]),
/// with the pages' security headers.
pub fn login_redirect(pages: &Pages, return_to: Option<&str>) -> Response {
    page_redirect(&login_url(pages, return_to))
}

/// A 303 to `location` with the pages' security headers (whatever router it is answered from).
pub(crate) fn page_redirect(location: &str) -> Response {
    let mut response = Redirect::to(location).into_response();
    set_page_headers(response.headers_mut());
    response
}

/// The page of a pending step, coming back to `return_to` afterwards.
pub(crate) fn step_url(pages: &Pages, step: PendingStep, return_to: Option<&str>) -> String {
    match step {
        PendingStep::SecondFactor => with_return_to(pages, "/login/mfa", return_to),
        PendingStep::ChangePassword => with_return_to(pages, "/account/password", return_to),
        PendingStep::EnrollSecondFactor => with_return_to(pages, "/account/mfa", return_to),
    }
}

/// Where a browser goes once a step of signing in is done: the page of the next pending step,
/// else `return_to` (a safe path), else the account page.
pub(crate) async fn next_page(
    state: &AppState,
    pages: &Pages,
    user: &User,
    session: &BrowserSession,
    return_to: Option<&str>,
) -> Result<String, ApiError> {
    let step = pending_step(state.store.as_ref(), &pages.accounts, user, &session.amr)
        .await
        .map_err(page_failure)?;
    Ok(match step {
        Some(step) => step_url(pages, step, return_to),
        None => pages.url(return_to.unwrap_or("/account")),
    })
}

/// A 303 to `location` that also sets the cookie of a session just started.
pub(crate) fn redirect_with_session(
    pages: &Pages,
    started: &StartedSession,
    location: &str,
) -> Response {
    let mut response = Redirect::to(location).into_response();
    let cookie = pages.set_cookie(
        Cookie::Session,
        started.secret.as_str(),
        Some(pages.timeouts.absolute),
    );
    if let Some(cookie) = cookie {
        response
            .headers_mut()
            .append(http::header::SET_COOKIE, cookie);
    }
    response
}

/// Starts a session for `user` proven by `amr`, ending the one this browser held, and records
/// `action` (a sign-in, a second factor given, …) for the audit log in the same transaction.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn sign_in(
    state: &AppState,
    pages: &Pages,
    headers: &HeaderMap,
    user: &User,
    amr: Vec<String>,
    audit: &AuditContext,
    action: &str,
) -> Result<StartedSession, ApiError> {
    let secret = SessionSecret::generate(&mut rand::rng());
    let previous = session_secret(pages, headers);
    let reason = amr.join(" ");
    let event = audit.acting(&user.id, user.tenant.as_deref()).decided(
        pages.now(),
        action,
        Some(&portcullis_core::admin::users::user_target(user)),
        portcullis_core::audit::SUCCESS,
        Some(&reason),
    );
    start_session(
        state.store.as_ref(),
        &user.id,
        amr,
        secret,
        previous.as_ref(),
        pages.timeouts,
        pages.now(),
        event.as_ref(),
    )
    .await
    .map_err(page_failure)
}

/// The `Set-Cookie` value that ends the browser's session cookie.
pub(crate) fn clear_session_cookie(pages: &Pages) -> Option<HeaderValue> {
    pages.clear_cookie(Cookie::Session)
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let pages = pages_of(state).map_err(IntoResponse::into_response)?;
        // The URI as the client sent it, even when this route sits in a nested router.
        let uri = parts
            .extensions
            .get::<OriginalUri>()
            .map_or(&parts.uri, |original| &original.0);
        let here = (parts.method == Method::GET || parts.method == Method::HEAD)
            .then(|| uri.path_and_query().map(|pq| pq.as_str()))
            .flatten();
        match browser(state, pages, &parts.headers)
            .await
            .map_err(IntoResponse::into_response)?
        {
            Browser::SignedIn(signed_in) => Ok(signed_in),
            Browser::Pending(_, step) => Err(page_redirect(&step_url(pages, step, here))),
            Browser::Anonymous => Err(login_redirect(pages, here)),
        }
    }
}
