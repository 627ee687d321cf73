//! `GET /account` (who is signed in, their second factors, their browser sessions and the
//! applications holding access, with buttons to end a session and to take access back, and
//! signing out) and `GET/POST /account/password` (changing the password: the pending step of an
//! account whose password was set by someone else, and available to anyone signed in).
//!
//! A changed password ends every session of the account, other browsers included (ASVS 7.4.3),
//! and this browser continues with a brand-new session.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, StatusCode};
use portcullis_core::accounts::mfa::{AMR_HWK, AMR_OTP};
use portcullis_core::accounts::{
    AMR_PASSWORD, AccountsError, Password, PendingStep, change_password, new_salt,
};
use portcullis_store::BrowserSession;
use serde::Deserialize;

use super::render::when;
use super::return_to::return_to_from_query;
use super::session::{
    Browser, SignedIn, browser, next_page, page_failure, page_redirect, redirect_with_session,
    sign_in, step_url,
};
use super::{CsrfToken, Form, PageError, Pages, login_redirect, pages_of, render, safe_return_to};
use crate::{ApiError, AppState};

#[derive(Template)]
#[template(path = "account.html")]
pub(crate) struct AccountView<'a> {
    name: &'a str,
    username: &'a str,
    email: &'a str,
    csrf: &'a str,
    password_url: String,
    mfa_url: String,
    logout_action: String,
    end_session_action: String,
    revoke_action: String,
    /// How many second factors the account has.
    factors: usize,
    sessions: Vec<SessionRow>,
    apps: Vec<AppRow>,
    /// The identity providers linked to the account.
    identities: Vec<IdentityRow>,
    /// Providers not linked yet: where "Link" posts, and the provider's name.
    linkable: Vec<(String, String)>,
    unlink_action: String,
}

/// One identity provider linked to the account.
pub(crate) struct IdentityRow {
    provider: String,
    name: String,
    email: String,
    since: String,
}

/// One browser session on the account page.
pub(crate) struct SessionRow {
    /// The session's id hash, base64url: what the "Sign out" button sends.
    id: String,
    created: String,
    last_seen: String,
    /// How it signed in, in words.
    how: String,
    this_browser: bool,
}

/// One application holding access on the account page: a client's grants, together.
pub(crate) struct AppRow {
    client_id: String,
    name: String,
    /// The MCP servers it may use.
    resources: Vec<String>,
    since: String,
}

/// What the account page says about how a session signed in.
fn sign_in_methods(amr: &[String]) -> String {
    let has = |m: &str| amr.iter().any(|a| a == m);
    let mut parts = Vec::new();
    if has(AMR_PASSWORD) {
        parts.push("password");
    }
    if has(portcullis_core::federation::AMR_FEDERATED) {
        parts.push("identity provider");
    }
    if has(AMR_HWK) {
        parts.push("passkey");
    } else if has(AMR_OTP) {
        parts.push("authentication code");
    }
    if parts.is_empty() {
        "-".to_owned()
    } else {
        parts.join(" and ")
    }
}

/// The id of a session as the account page's forms carry it.
fn session_id(session: &BrowserSession) -> String {
    URL_SAFE_NO_PAD.encode(session.id_hash)
}

pub(crate) async fn account_get(
    State(state): State<AppState>,
    signed_in: SignedIn,
    csrf: CsrfToken,
) -> Result<Response, ApiError> {
    let pages = pages_of(&state)?;
    let store = state.store.as_ref();
    let user = &signed_in.user;
    let now = pages.now();
    let factors = store
        .factors_of_user(&user.id)
        .await
        .map_err(|e| page_failure(e.into()))?
        .len();
    let sessions = store
        .browser_sessions_of_user(&user.id)
        .await
        .map_err(|e| page_failure(e.into()))?
        .into_iter()
        .filter(|s| s.idle_expires_at > now && s.absolute_expires_at > now)
        .map(|s| SessionRow {
            id: session_id(&s),
            created: when(s.created_at),
            last_seen: when(s.last_seen_at),
            how: sign_in_methods(&s.amr),
            this_browser: s.id_hash == signed_in.session.id_hash,
        })
        .collect();
    let apps = apps_of(&state, &user.id, now).await?;
    let linked = store
        .external_identities_of_user(&user.id)
        .await
        .map_err(|e| page_failure(e.into()))?;
    let provider_name = |id: &str| {
        pages
            .providers
            .get(id)
            .map_or_else(|| id.to_owned(), |p| p.display_name().to_owned())
    };
    let identities = linked
        .iter()
        .map(|i| IdentityRow {
            provider: i.provider.clone(),
            name: provider_name(&i.provider),
            email: i.email.clone().unwrap_or_default(),
            since: when(i.created_at),
        })
        .collect();
    let linkable = pages
        .providers
        .iter()
        .filter(|p| !linked.iter().any(|i| i.provider == p.id()))
        .map(|p| {
            (
                pages.url(&format!("/auth/start/{}", p.id())),
                p.display_name().to_owned(),
            )
        })
        .collect();
    let page = render(&AccountView {
        name: user.display_name.as_deref().unwrap_or(&user.username),
        username: &user.username,
        email: &user.email,
        csrf: csrf.value(),
        password_url: pages.url("/account/password"),
        mfa_url: pages.url("/account/mfa"),
        logout_action: pages.url("/logout"),
        end_session_action: pages.url("/account/sessions/end"),
        revoke_action: pages.url("/account/apps/revoke"),
        factors,
        sessions,
        apps,
        identities,
        linkable,
        unlink_action: pages.url("/account/identities/unlink"),
    });
    Ok((csrf, page).into_response())
}

/// The applications holding unexpired grants of `user_id`, one row per client, newest first.
async fn apps_of(
    state: &AppState,
    user_id: &str,
    now: time::OffsetDateTime,
) -> Result<Vec<AppRow>, ApiError> {
    let grants = state
        .store
        .grants_of_subject(user_id)
        .await
        .map_err(|e| page_failure(e.into()))?;
    let mut apps: Vec<AppRow> = Vec::new();
    for grant in grants.iter().filter(|g| g.expires_at > now) {
        if let Some(app) = apps.iter_mut().find(|a| a.client_id == grant.client_id) {
            if !app.resources.contains(&grant.resource) {
                app.resources.push(grant.resource.clone());
            }
            continue;
        }
        let name = state
            .clients
            .display_name(&grant.client_id)
            .await
            .map_err(|_| {
                PageError::unavailable(
                    "Portcullis cannot reach its database right now. Try again in a moment.",
                )
            })?;
        apps.push(AppRow {
            client_id: grant.client_id.clone(),
            name,
            resources: vec![grant.resource.clone()],
            since: when(grant.created_at),
        });
    }
    Ok(apps)
}

/// The `session` value that ends every session of the account but this browser's (ASVS 7.4.3:
/// after a factor changes, or whenever the person wants).
const EVERY_OTHER_SESSION: &str = "others";

#[derive(Deserialize)]
pub(crate) struct EndSessionForm {
    session: String,
}

/// `POST /account/sessions/end`: ends one of the account's sessions (another browser's, or this
/// one's, which signs this browser out), or with `session=others` every one but this browser's.
pub(crate) async fn end_session_post(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Form(form): Form<EndSessionForm>,
) -> Result<Response, ApiError> {
    let pages = pages_of(&state)?;
    let store = state.store.as_ref();
    let sessions = store
        .browser_sessions_of_user(&signed_in.user.id)
        .await
        .map_err(|e| page_failure(e.into()))?;
    if form.session == EVERY_OTHER_SESSION {
        for session in sessions
            .iter()
            .filter(|s| s.id_hash != signed_in.session.id_hash)
        {
            store
                .browser_session_delete(&session.id_hash)
                .await
                .map_err(|e| page_failure(e.into()))?;
        }
        tracing::info!(user = %signed_in.user.id, "every other session was ended from the account page");
        return Ok(page_redirect(&pages.url("/account")));
    }
    // Only a session of this account: an id of anyone else's is not found.
    let Some(session) = sessions.iter().find(|s| session_id(s) == form.session) else {
        return Err(
            PageError::new(StatusCode::NOT_FOUND, "That session has ended already.").into(),
        );
    };
    store
        .browser_session_delete(&session.id_hash)
        .await
        .map_err(|e| page_failure(e.into()))?;
    tracing::info!(user = %signed_in.user.id, "a session was ended from the account page");
    Ok(page_redirect(&pages.url("/account")))
}

#[derive(Deserialize)]
pub(crate) struct RevokeForm {
    client_id: String,
}

/// `POST /account/apps/revoke`: takes back every grant the account gave one application; its
/// access and refresh tokens stop working at once.
pub(crate) async fn revoke_app_post(
    State(state): State<AppState>,
    crate::audit::Audit(audit): crate::audit::Audit,
    signed_in: SignedIn,
    Form(form): Form<RevokeForm>,
) -> Result<Response, ApiError> {
    let pages = pages_of(&state)?;
    let Some(server) = &state.authorization_server else {
        return Err(PageError::not_found().into());
    };
    let revoked = server
        .revoke_grants_of(
            &audit.acting(&signed_in.user.id, signed_in.user.tenant.as_deref()),
            &signed_in.user.id,
            Some(&form.client_id),
            pages.now(),
        )
        .await
        .map_err(|_| {
            PageError::unavailable(
                "Portcullis cannot reach its database right now. Try again in a moment.",
            )
        })?;
    if revoked == 0 {
        return Err(PageError::new(
            StatusCode::NOT_FOUND,
            "That application has no access to take back.",
        )
        .into());
    }
    tracing::info!(user = %signed_in.user.id, client = %form.client_id, grants = revoked, "access revoked from the account page");
    Ok(page_redirect(&pages.url("/account")))
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

/// Who may change their password here: the signed-in person, or one whose pending step it is
/// (`true`). `Err` with where to send anyone else: to sign in, or to the step that comes first.
async fn changing(
    state: &AppState,
    pages: &Pages,
    headers: &HeaderMap,
    here: &str,
) -> Result<Result<(SignedIn, bool), Response>, ApiError> {
    Ok(match browser(state, pages, headers).await? {
        Browser::Anonymous => Err(login_redirect(pages, Some(here))),
        Browser::Pending(signed_in, PendingStep::ChangePassword) => Ok((signed_in, true)),
        // A second factor still to give comes first.
        Browser::Pending(_, step) => Err(page_redirect(&step_url(pages, step, None))),
        Browser::SignedIn(signed_in) => Ok((signed_in, false)),
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
    // Back here after signing in, still headed where the query said.
    let here = match &query {
        Some(query) => format!("/account/password?{query}"),
        None => "/account/password".to_owned(),
    };
    let required = match changing(&state, pages, &headers, &here).await? {
        Ok((_, required)) => required,
        Err(elsewhere) => return Ok(elsewhere),
    };
    let page = password_page(pages, &csrf, return_to.as_deref(), required, None);
    Ok((csrf, page).into_response())
}

pub(crate) async fn account_password_post(
    State(state): State<AppState>,
    crate::audit::Audit(audit): crate::audit::Audit,
    headers: HeaderMap,
    csrf: CsrfToken,
    Form(form): Form<PasswordForm>,
) -> Result<Response, ApiError> {
    let pages = pages_of(&state)?;
    let return_to = form.return_to.as_deref().and_then(safe_return_to);
    let (signed_in, required) = match changing(&state, pages, &headers, "/account/password").await?
    {
        Ok(found) => found,
        Err(elsewhere) => return Ok(elsewhere),
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
    // Every session of the account has ended; this browser goes on with a new one, proven as
    // the one it replaces was (the password was just given again).
    let mut amr = signed_in.session.amr.clone();
    if !amr.iter().any(|m| m == AMR_PASSWORD) {
        amr.push(AMR_PASSWORD.to_owned());
    }
    let user = portcullis_store::User {
        must_change_password: false,
        ..signed_in.user
    };
    let started = sign_in(
        &state,
        pages,
        &headers,
        &user,
        amr,
        &audit,
        portcullis_core::audit::action::PASSWORD_CHANGE,
    )
    .await?;
    let next = next_page(&state, pages, &user, &started.session, return_to).await?;
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
