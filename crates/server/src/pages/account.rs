//! `GET /account` (who is signed in, and signing out) and `GET/POST /account/password`
//! (changing the password: the pending step of an account whose password was set by someone
//! else, and available to anyone signed in).
//!
//! A changed password ends every session of the account, other browsers included (ASVS 7.4.3),
//! and this browser continues with a brand-new session.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use portcullis_core::accounts::{AMR_PASSWORD, AccountsError, Password, change_password, new_salt};
use serde::Deserialize;

use super::return_to::return_to_from_query;
use super::session::{Browser, SignedIn, browser, page_failure, redirect_with_session, sign_in};
use super::{CsrfToken, Form, Pages, login_redirect, pages_of, render, safe_return_to};
use crate::{ApiError, AppState};

#[derive(Template)]
#[template(path = "account.html")]
pub(crate) struct AccountView<'a> {
    name: &'a str,
    username: &'a str,
    email: &'a str,
    csrf: &'a str,
    password_url: String,
    logout_action: String,
}

pub(crate) async fn account_get(
    State(state): State<AppState>,
    signed_in: SignedIn,
    csrf: CsrfToken,
) -> Result<Response, ApiError> {
    let pages = pages_of(&state)?;
    let user = &signed_in.user;
    let page = render(&AccountView {
        name: user.display_name.as_deref().unwrap_or(&user.username),
        username: &user.username,
        email: &user.email,
        csrf: csrf.value(),
        password_url: pages.url("/account/password"),
        logout_action: pages.url("/logout"),
    });
    Ok((csrf, page).into_response())
}

#[derive(Template)]
#[template(path = "password.html")]
pub(crate) struct PasswordView<'a> {
    action: String,
    csrf: &'a str,
    return_to: Option<&'a str>,
    /// The account must change its password before going on.
    required: bool,
    min_length: usize,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
pub(crate) struct PasswordForm {
    current_password: Password,
    new_password: Password,
    return_to: Option<String>,
}

/// The signed-in person, whether or not a step is pending, and whether one is.
async fn changing(
    state: &AppState,
    pages: &Pages,
    headers: &HeaderMap,
) -> Result<Option<(SignedIn, bool)>, ApiError> {
    Ok(match browser(state, pages, headers).await? {
        Browser::Anonymous => None,
        Browser::Pending(signed_in, _) => Some((signed_in, true)),
        Browser::SignedIn(signed_in) => Some((signed_in, false)),
    })
}

fn password_page(
    pages: &Pages,
    csrf: &CsrfToken,
    return_to: Option<&str>,
    required: bool,
    error: Option<&str>,
) -> Response {
    render(&PasswordView {
        action: pages.url("/account/password"),
        csrf: csrf.value(),
        return_to,
        required,
        min_length: pages.policy.min_length,
        error,
    })
}

pub(crate) async fn account_password_get(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    csrf: CsrfToken,
) -> Result<Response, ApiError> {
    let pages = pages_of(&state)?;
    let return_to = return_to_from_query(query.as_deref());
    let Some((_, required)) = changing(&state, pages, &headers).await? else {
        // Back here after signing in, still headed where the query said.
        let here = match &query {
            Some(query) => format!("/account/password?{query}"),
            None => "/account/password".to_owned(),
        };
        return Ok(login_redirect(pages, Some(&here)));
    };
    let page = password_page(pages, &csrf, return_to.as_deref(), required, None);
    Ok((csrf, page).into_response())
}

pub(crate) async fn account_password_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    csrf: CsrfToken,
    Form(form): Form<PasswordForm>,
) -> Result<Response, ApiError> {
    let pages = pages_of(&state)?;
    let return_to = form.return_to.as_deref().and_then(safe_return_to);
    let Some((signed_in, required)) = changing(&state, pages, &headers).await? else {
        return Ok(login_redirect(pages, Some("/account/password")));
    };
    let salt = new_salt(&mut rand::rng());
    let changed = change_password(
        state.store.as_ref(),
        pages.hashing.as_ref(),
        &pages.policy,
        &signed_in.user,
        &form.current_password,
        &form.new_password,
        salt,
        pages.now(),
    )
    .await;
    match changed {
        Ok(()) => {}
        Err(e @ (AccountsError::WrongPassword | AccountsError::Policy(_))) => {
            let message = sentence(&e.to_string());
            let page = password_page(pages, &csrf, return_to, required, Some(&message));
            return Ok((StatusCode::BAD_REQUEST, csrf, page).into_response());
        }
        Err(e) => return Err(page_failure(e)),
    }
    // Every session of the account has ended; this browser goes on with a new one, proven by
    // the password it just gave.
    let started = sign_in(
        &state,
        pages,
        &headers,
        &signed_in.user,
        vec![AMR_PASSWORD.to_owned()],
    )
    .await?;
    let next = pages.url(return_to.unwrap_or("/account"));
    Ok(redirect_with_session(pages, &started, &next))
}

/// An error message as a sentence: capitalised, with a full stop.
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let first: String = chars
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default();
    format!("{first}{}.", chars.as_str())
}
