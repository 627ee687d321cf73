//! `GET/POST /login` (signing in with a username and password) and `POST /logout`.
//!
//! A wrong password, an unknown username, an account without a password and a disabled account
//! all get the same 401 page: same words, same bytes, same work behind them. A successful sign-in
//! always starts a new session (any session id the browser held before is ended and replaced:
//! session fixation) and sends the browser on with a 303: to the pending step's page if there is
//! one, else to `return_to` if it is a safe path, else to `/account`.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::header::SET_COOKIE;
use http::{HeaderMap, StatusCode};
use portcullis_core::accounts::throttle::Attempt;
use portcullis_core::accounts::{AMR_PASSWORD, AccountsError, Password, authenticate, end_session};
use portcullis_core::audit::{FAILURE, action};
use serde::Deserialize;

use super::return_to::return_to_from_query;
use super::session::{
    Browser, browser, clear_session_cookie, next_page, page_failure, page_redirect,
    redirect_with_session, session_secret, sign_in, step_url,
};
use super::throttling::{ClientAddress, Guarded, guarded, too_many};
use super::{CsrfToken, Form, PageError, Pages, pages_of, render, safe_return_to};
use crate::{ApiError, AppState};

/// The one message of every refused sign-in.
const REFUSED: &str = "Invalid username or password.";

#[derive(Template)]
#[template(path = "login.html")]
pub(crate) struct LoginView<'a> {
    action: String,
    csrf: &'a str,
    return_to: Option<&'a str>,
    error: Option<&'a str>,
    /// Whether the username and password form is shown.
    local: bool,
    /// The identity providers offered: where each one's button posts, and its name.
    providers: Vec<(String, &'a str)>,
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    username: String,
    password: Password,
    return_to: Option<String>,
}

/// The pages, when there is a way to sign in: local accounts or an identity provider.
fn any_sign_in(state: &AppState) -> Result<&Pages, ApiError> {
    let pages = pages_of(state)?;
    if pages.local_sign_in || !pages.providers.is_empty() {
        Ok(pages)
    } else {
        Err(PageError::new(StatusCode::NOT_FOUND, "Signing in is turned off here.").into())
    }
}

/// The pages, when signing in with a local account is turned on.
fn local_sign_in(state: &AppState) -> Result<&Pages, ApiError> {
    let pages = pages_of(state)?;
    if pages.local_sign_in {
        Ok(pages)
    } else {
        Err(PageError::new(
            StatusCode::NOT_FOUND,
            "Signing in with a username and password is turned off here.",
        )
        .into())
    }
}

fn login_page(
    pages: &Pages,
    csrf: &CsrfToken,
    return_to: Option<&str>,
    error: Option<&str>,
) -> Response {
    render(&LoginView {
        action: pages.url("/login"),
        csrf: csrf.value(),
        return_to,
        error,
        local: pages.local_sign_in,
        providers: pages
            .providers
            .iter()
            .map(|p| {
                (
                    pages.url(&format!("/auth/start/{}", p.id())),
                    p.display_name(),
                )
            })
            .collect(),
    })
}

pub(crate) async fn login_get(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    csrf: CsrfToken,
) -> Result<Response, ApiError> {
    let pages = any_sign_in(&state)?;
    let return_to = return_to_from_query(query.as_deref());
    // Half-way through signing in: on to the step that is left.
    if let Browser::Pending(_, step) = browser(&state, pages, &headers).await? {
        return Ok(page_redirect(&step_url(pages, step, return_to.as_deref())));
    }
    let page = login_page(pages, &csrf, return_to.as_deref(), None);
    Ok((csrf, page).into_response())
}

pub(crate) async fn login_post(
    State(state): State<AppState>,
    crate::audit::Audit(audit): crate::audit::Audit,
    headers: HeaderMap,
    ClientAddress(address): ClientAddress,
    csrf: CsrfToken,
    Form(form): Form<LoginForm>,
) -> Result<Response, ApiError> {
    let pages = local_sign_in(&state)?;
    let return_to = form.return_to.as_deref().and_then(safe_return_to);
    let attempt = Attempt::new(&form.username, address);
    let checked = guarded(
        &state,
        pages,
        &attempt,
        address,
        |e| matches!(e, AccountsError::InvalidCredentials),
        authenticate(
            state.store.as_ref(),
            pages.hashing.as_ref(),
            &form.username,
            &form.password,
        ),
    )
    .await?;
    let user = match checked {
        Guarded::Passed(user) => user,
        Guarded::Failed => {
            refused(
                &state,
                &audit,
                pages,
                &form.username,
                "wrong username or password",
            )
            .await;
            let page = login_page(pages, &csrf, return_to, Some(REFUSED));
            return Ok((StatusCode::UNAUTHORIZED, csrf, page).into_response());
        }
        Guarded::Throttled(wait, message) => {
            refused(
                &state,
                &audit,
                pages,
                &form.username,
                "too many attempts: not checked",
            )
            .await;
            let page = login_page(pages, &csrf, return_to, Some(&message));
            return Ok((csrf, too_many(page, wait)).into_response());
        }
    };
    let started = sign_in(
        &state,
        pages,
        &headers,
        &user,
        vec![AMR_PASSWORD.to_owned()],
        &audit,
        action::SIGN_IN,
    )
    .await?;
    let next = next_page(&state, pages, &user, &started.session, return_to).await?;
    Ok(redirect_with_session(pages, &started, &next))
}

/// Records a refused sign-in: the name typed (never the password) and why.
async fn refused(
    state: &AppState,
    audit: &portcullis_core::audit::AuditContext,
    pages: &super::Pages,
    username: &str,
    reason: &str,
) {
    // Bounded: the field is whatever was typed.
    let typed: String = username.chars().take(100).collect();
    let event = audit.decided(
        pages.now(),
        action::SIGN_IN,
        Some(&typed),
        FAILURE,
        Some(reason),
    );
    portcullis_core::audit::record(state.store.as_ref(), event).await;
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
pub(crate) struct EmptyForm {}

pub(crate) async fn logout_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(EmptyForm {}): Form<EmptyForm>,
) -> Result<Response, ApiError> {
    let pages = pages_of(&state)?;
    if let Some(secret) = session_secret(pages, &headers) {
        end_session(state.store.as_ref(), &secret)
            .await
            .map_err(page_failure)?;
        tracing::info!("signed out");
    }
    let mut response = Redirect::to(&pages.url("/login")).into_response();
    if let Some(cookie) = clear_session_cookie(pages) {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    Ok(response)
}
