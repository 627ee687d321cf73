//! `GET /authorize` (the authorization request) and `POST /authorize` (the consent form).
//!
//! The request is checked before anything else (an untrusted client or redirect URI gets an
//! error page and no redirect; the errors of a client that registered itself go back to it only
//! once the person has signed in, and never with `prompt=none` and nobody signed in), then the
//! person must be signed in (`/login` comes back here),
//! then asked — the consent page shows the client's name, where it will receive the answer, the
//! host of its metadata document, what it asks for, and warnings for self-registered and
//! loopback-only clients. The form carries the original request, which is checked again on
//! POST; the session-bound CSRF token ties the answer to this browser and person. Every redirect
//! is a 303 (RFC 9700 §4.12) with the pages' security headers; nothing here allows CORS
//! (RFC 9700 §2.6).

use portcullis_core::audit::AuditContext;

use crate::audit::Audit;
use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use http::StatusCode;
use portcullis_core::oauth::{
    AuthorizationRequest, AuthorizeError, Consented, Params, SignedInUser,
};
use portcullis_proto::oauth::{ErrorCode, OAuthError};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Deserialize;

use super::server;
use crate::pages::throttling::ClientAddress;
use crate::pages::{CsrfToken, Form, PageError, SignedIn, render, with_page_headers};
use crate::rate_limit::AddressLimit;
use crate::{ApiError, AppState};

pub(crate) const ROUTE: &str = "/authorize";

/// How recent a sign-in must be for `prompt=login` to count it as the fresh one it asks for.
const FRESH_LOGIN_SECS: i64 = 120;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route(ROUTE, get(authorize_get).post(authorize_post))
        .layer(axum::middleware::map_response(with_page_headers))
}

#[derive(Template)]
#[template(path = "consent.html")]
pub(crate) struct ConsentView<'a> {
    action: String,
    csrf: &'a str,
    request: &'a str,
    user: &'a str,
    client_name: &'a str,
    resource_name: &'a str,
    redirect_host: String,
    document_host: Option<&'a str>,
    scopes: Vec<&'a str>,
    self_registered: bool,
    loopback_only: bool,
}

#[derive(Deserialize)]
pub(crate) struct ConsentForm {
    request: String,
    decision: String,
}

fn redirect(location: &str) -> Response {
    Redirect::to(location).into_response()
}

/// An error the person sees: 400 and the error's sentence.
fn error_page(e: &OAuthError) -> ApiError {
    let message = match &e.error_description {
        Some(description) => format!("This sign-in request cannot be completed: {description}."),
        None => format!("This sign-in request cannot be completed ({}).", e.error),
    };
    let status = if e.error == ErrorCode::TemporarilyUnavailable {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::BAD_REQUEST
    };
    PageError::new(status, message).into()
}

/// Why an authorization request ends before the consent page.
enum Refusal {
    /// The response that ends it: an error page, or a redirect to a trusted client.
    End(Result<Response, ApiError>),
    /// A redirect to a client that registered itself, to send only once the person has signed
    /// in (RFC 9700 §4.11.2: no open redirector for a redirect URI anyone could register).
    OnceSignedIn(String),
}

/// `rate_limits.client_id_document`: an authorization request whose `client_id` is a URL may
/// make Portcullis fetch it, so such requests are limited per address (before the fetch).
async fn document_limit(
    state: &AppState,
    query: &str,
    address: Option<std::net::IpAddr>,
) -> Result<(), ApiError> {
    let params = Params::parse(query.as_bytes()).ok();
    if !crate::rate_limit::names_document(params.as_ref().and_then(|p| p.get("client_id"))) {
        return Ok(());
    }
    state
        .rate_limits()
        .take(AddressLimit::ClientIdDocument, address)
        .await
        .map_err(|wait| {
            PageError::too_many(portcullis_core::rate_limit::retry_after_secs(wait)).into()
        })
}

/// Parses and checks an authorization request.
async fn checked(state: &AppState, query: &str) -> Result<AuthorizationRequest, Refusal> {
    let server = server(state).map_err(|e| Refusal::End(Err(e)))?;
    let params = Params::parse(query.as_bytes()).map_err(|e| Refusal::End(Err(error_page(&e))))?;
    match server
        .authorization_request(&params, time::OffsetDateTime::now_utc())
        .await
    {
        Ok(request) => Ok(request),
        Err(AuthorizeError::Page(e)) => Err(Refusal::End(Err(error_page(&e)))),
        Err(AuthorizeError::Redirect(url)) => Err(Refusal::End(Ok(redirect(&url)))),
        Err(AuthorizeError::RedirectOnceSignedIn(url)) => Err(Refusal::OnceSignedIn(url)),
    }
}

/// Whether the request's `prompt` asks for no page at all.
fn prompt_none(prompt: Option<&str>) -> bool {
    prompt.is_some_and(|p| p.split(' ').any(|p| p == "none"))
}

/// The error page for `prompt=none` from a client that registered itself when nobody is signed
/// in: it may not show the sign-in page, and may not redirect to an untrusted client either.
fn login_required_page() -> ApiError {
    error_page(&OAuthError::new(
        ErrorCode::LoginRequired,
        "nobody is signed in, and this application registered itself, so its answer waits for a sign-in; sign in to Portcullis first",
    ))
}

fn signed_in_user(signed_in: &SignedIn) -> SignedInUser {
    SignedInUser {
        user_id: signed_in.user.id.clone(),
        auth_time: signed_in.session.auth_time,
        amr: signed_in.session.amr.clone(),
    }
}

async fn authorize_get(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    let (mut parts, _) = request.into_parts();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    let ClientAddress(address) = ClientAddress::of(&parts, &state);
    document_limit(&state, &query, address).await?;
    let authorization = match checked(&state, &query).await {
        Ok(request) => request,
        Err(Refusal::End(end)) => return end,
        Err(Refusal::OnceSignedIn(url)) => {
            if crate::pages::current_user(&state, &parts.headers)
                .await?
                .is_some()
            {
                return Ok(redirect(&url));
            }
            let prompt = Params::parse(query.as_bytes())
                .ok()
                .and_then(|p| p.get("prompt").map(str::to_owned));
            if prompt_none(prompt.as_deref()) {
                return Err(login_required_page());
            }
            // Sends the browser to sign in and back here, where the error is sent.
            return match SignedIn::from_request_parts(&mut parts, &state).await {
                Ok(_) => Ok(redirect(&url)),
                Err(response) => Ok(response),
            };
        }
    };
    let server = server(&state)?;
    let prompt = authorization.prompt.clone().unwrap_or_default();
    let signed_in = match crate::pages::current_user(&state, &parts.headers).await? {
        Some(signed_in) => signed_in,
        None if prompt_none(Some(&prompt)) && !authorization.client.first_party => {
            return Err(login_required_page());
        }
        None if prompt_none(Some(&prompt)) => {
            return Ok(redirect(&server.error_redirect(
                &authorization.redirect_uri,
                authorization.state.as_deref(),
                &OAuthError::new(ErrorCode::LoginRequired, "the person is not signed in"),
            )));
        }
        // Sends the browser to sign in (or to a pending step) and back here.
        None => match SignedIn::from_request_parts(&mut parts, &state).await {
            Ok(signed_in) => signed_in,
            Err(response) => return Ok(response),
        },
    };
    let now = time::OffsetDateTime::now_utc();
    if prompt.split(' ').any(|p| p == "login")
        && (now - signed_in.session.auth_time).whole_seconds() > FRESH_LOGIN_SECS
    {
        // OIDC `prompt=login`: a fresh sign-in, then back here.
        let here = format!("{ROUTE}?{query}");
        return Ok(crate::pages::login_redirect(
            crate::pages::pages_of(&state)?,
            Some(&here),
        ));
    }
    let remembered = server
        .consent_remembered(&authorization, &signed_in.user.id)
        .await
        .map_err(|e| error_page(&e))?;
    if remembered {
        let consented = Consented {
            scopes: authorization.scopes.clone(),
        };
        let audit = crate::audit::context(&state, &parts.extensions);
        return approve(&state, &authorization, &signed_in, &consented, &audit).await;
    }
    if prompt_none(Some(&prompt)) {
        return Ok(redirect(&server.error_redirect(
            &authorization.redirect_uri,
            authorization.state.as_deref(),
            &OAuthError::new(ErrorCode::ConsentRequired, "the person must consent"),
        )));
    }
    let csrf = CsrfToken::from_request_parts(&mut parts, &state)
        .await
        .map_err(|_| ApiError::from(PageError::forged_form()))?;
    let client = &authorization.client;
    let view = ConsentView {
        action: crate::pages::pages_of(&state)?.url(ROUTE),
        csrf: csrf.value(),
        request: &query,
        user: signed_in
            .user
            .display_name
            .as_deref()
            .unwrap_or(&signed_in.user.username),
        client_name: &client.name,
        resource_name: &authorization.resource.name,
        redirect_host: portcullis_core::clients::redirect_uri::display_host(
            &authorization.redirect_uri,
        ),
        document_host: client.document_host.as_deref(),
        scopes: authorization.scopes.iter().collect(),
        self_registered: !client.first_party,
        loopback_only: client.loopback_only(),
    };
    let page = render(&view);
    Ok((csrf, page).into_response())
}

async fn authorize_post(
    State(state): State<AppState>,
    Audit(audit): Audit,
    ClientAddress(address): ClientAddress,
    signed_in: SignedIn,
    Form(form): Form<ConsentForm>,
) -> Result<Response, ApiError> {
    document_limit(&state, &form.request, address).await?;
    let authorization = match checked(&state, &form.request).await {
        Ok(request) => request,
        Err(Refusal::End(end)) => return end,
        // The person is signed in (`SignedIn` above).
        Err(Refusal::OnceSignedIn(url)) => return Ok(redirect(&url)),
    };
    match form.decision.as_str() {
        "allow" => {
            let consented = Consented {
                scopes: authorization.scopes.clone(),
            };
            approve(&state, &authorization, &signed_in, &consented, &audit).await
        }
        "deny" => {
            tracing::info!(client_id = %authorization.client.client_id, "authorization denied by the person");
            Ok(redirect(&server(&state)?.error_redirect(
                &authorization.redirect_uri,
                authorization.state.as_deref(),
                &OAuthError::new(ErrorCode::AccessDenied, "the person denied the request"),
            )))
        }
        _ => Err(PageError::new(StatusCode::BAD_REQUEST, "Choose Allow or Deny.").into()),
    }
}

async fn approve(
    state: &AppState,
    authorization: &AuthorizationRequest,
    signed_in: &SignedIn,
    consented: &Consented,
    audit: &AuditContext,
) -> Result<Response, ApiError> {
    let server = server(state)?;
    let location = server
        .approve(
            authorization,
            &signed_in_user(signed_in),
            consented,
            audit,
            time::OffsetDateTime::now_utc(),
            &mut StdRng::from_os_rng(),
        )
        .await
        .map_err(|e| error_page(&e))?;
    tracing::info!(
        client_id = %authorization.client.client_id,
        resource = %authorization.resource.name,
        "authorization code issued"
    );
    Ok(redirect(&location))
}
