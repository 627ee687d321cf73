//! Signing in through identity providers: `POST /auth/start/{id}` sends the browser to the
//! provider the person chose, `GET /auth/callback/{id}` takes it back, and
//! `POST /account/identities/unlink` removes a provider from an account.
//!
//! The provider's `state` is made only when the person chose a provider (a POST with the
//! page's CSRF token), and bound to this browser by a random secret in a short-lived cookie
//! whose hash the pending row keeps. The callback takes the row once (a second use of the same
//! `state` finds nothing), checks the cookie against it, then lets
//! `portcullis_core::federation` check the provider's answer. Every failure ends on an error
//! page that says what went wrong in words the person can act on, with nothing half-made.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use portcullis_core::accounts::mfa::AMR_MFA;
use portcullis_core::federation::{
    AMR_FEDERATED, CallbackParams, FederationError, Provider, account_for, begin, complete, tokens,
};
use rand::RngCore;
use rand::rngs::StdRng;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::cookie::Cookie;
use super::mfa::RECENT_SIGN_IN;
use super::session::{Browser, browser, next_page, page_redirect, redirect_with_session, sign_in};
use super::{Form, PageError, Pages, pages_of, safe_return_to};
use crate::{ApiError, AppState};

/// How long the browser keeps the binding cookie of a sign-in at a provider.
const BINDING_COOKIE_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(600);

fn rng() -> StdRng {
    rand::SeedableRng::from_os_rng()
}

/// The redirect URI registered at the provider: `{public_url}/auth/callback/{id}`.
pub(crate) fn redirect_uri(pages: &Pages, provider: &str) -> String {
    pages.url(&format!("/auth/callback/{provider}"))
}

fn provider<'a>(pages: &'a Pages, id: &str) -> Result<&'a Provider, ApiError> {
    pages
        .providers
        .get(id)
        .map(AsRef::as_ref)
        .ok_or_else(|| PageError::not_found().into())
}

/// The page a failed sign-in at a provider ends on.
fn failure_page(provider: &str, e: FederationError) -> ApiError {
    let page = match e {
        FederationError::BadState => PageError::new(
            StatusCode::BAD_REQUEST,
            "This sign-in has expired, was used already, or was started in another browser. Start again from the sign-in page.",
        ),
        FederationError::Denied { error, .. } if error == "access_denied" => PageError::new(
            StatusCode::FORBIDDEN,
            format!(
                "Signing in with {provider} was cancelled or refused. You can try again or choose another way to sign in."
            ),
        ),
        FederationError::Denied { error, description } => PageError::new(
            StatusCode::BAD_GATEWAY,
            format!(
                "{provider} refused the sign-in: {error}{}",
                description.map(|d| format!(" ({d})")).unwrap_or_default()
            ),
        ),
        FederationError::NotAllowed(message) | FederationError::Account(message) => {
            PageError::new(StatusCode::FORBIDDEN, message)
        }
        FederationError::Unavailable(why) => {
            tracing::warn!(%provider, %why, "identity provider unavailable");
            PageError::new(
                StatusCode::BAD_GATEWAY,
                format!("{provider} is not answering right now. Try again in a moment."),
            )
        }
        FederationError::Invalid(why) => {
            tracing::warn!(%provider, %why, "identity provider answer refused");
            PageError::new(
                StatusCode::BAD_GATEWAY,
                format!(
                    "{provider} answered in a way Portcullis cannot accept, so you are not signed in. An administrator can find the reason in the log."
                ),
            )
        }
        FederationError::Store(e) => {
            tracing::error!(error = %e, "store failure while signing in with a provider");
            PageError::unavailable(
                "Portcullis cannot reach its database right now. Try again in a moment.",
            )
        }
        other => {
            tracing::error!(%provider, error = %other, "sign-in with a provider failed");
            PageError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on Portcullis's side.",
            )
        }
    };
    page.into()
}

#[derive(Deserialize)]
pub(crate) struct StartForm {
    return_to: Option<String>,
    /// `link`: a signed-in person adds this provider to their account.
    purpose: Option<String>,
}

/// `POST /auth/start/{id}`: the person chose `id` on the sign-in page (or "Link" on the
/// account page); off to the provider.
pub(crate) async fn start_post(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<StartForm>,
) -> Result<Response, ApiError> {
    let pages = pages_of(&state)?;
    let provider = provider(pages, &id)?;
    let link_user_id = match form.purpose.as_deref() {
        None => None,
        // Linking adds a way to sign in to the account: like changing second factors, it needs
        // a sign-in within the last ten minutes (ASVS 7.5.1).
        Some("link") => match browser(&state, pages, &headers).await? {
            Browser::SignedIn(signed_in)
                if pages.now() - signed_in.session.auth_time <= RECENT_SIGN_IN =>
            {
                Some(signed_in.user.id)
            }
            _ => return Ok(super::login_redirect(pages, Some("/account"))),
        },
        Some(_) => {
            return Err(PageError::new(StatusCode::BAD_REQUEST, "Unknown purpose.").into());
        }
    };
    let return_to = form
        .return_to
        .as_deref()
        .and_then(safe_return_to)
        .map(str::to_owned);
    let mut binding = [0u8; 32];
    let mut rng = rng();
    rng.fill_bytes(&mut binding);
    let binding =
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, binding);
    let started = begin(
        provider,
        &pages.sealer,
        &redirect_uri(pages, provider.id()),
        Sha256::digest(binding.as_bytes()).into(),
        return_to,
        link_user_id,
        pages.now(),
        &mut rng,
    )
    .await
    .map_err(|e| failure_page(provider.display_name(), e))?;
    state
        .store
        .federation_state_insert(&started.state)
        .await
        .map_err(|e| failure_page(provider.display_name(), e.into()))?;
    tracing::info!(provider = %provider.id(), "sign-in sent to the identity provider");
    let mut response = page_redirect(&started.authorization_url);
    if let Some(cookie) =
        pages.set_cookie(Cookie::Federation, &binding, Some(BINDING_COOKIE_MAX_AGE))
    {
        response
            .headers_mut()
            .append(http::header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// `GET /auth/callback/{id}`: the provider sent the browser back.
pub(crate) async fn callback_get(
    State(state): State<AppState>,
    crate::audit::Audit(audit): crate::audit::Audit,
    Path(id): Path<String>,
    Query(params): Query<CallbackParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let pages = pages_of(&state)?;
    let provider = provider(pages, &id)?;
    let name = provider.display_name();
    let store = state.store.as_ref();
    let now = pages.now();
    let state_value = params
        .state
        .as_deref()
        .filter(|s| !s.is_empty() && s.len() <= 512)
        .ok_or_else(|| failure_page(name, FederationError::BadState))?;
    let pending = store
        .federation_state_take(&portcullis_core::federation::state_hash(state_value), now)
        .await
        .map_err(|e| failure_page(name, e.into()))?
        .ok_or_else(|| failure_page(name, FederationError::BadState))?;
    let bound = pages
        .cookie(&headers, Cookie::Federation)
        .map(|secret| -> [u8; 32] { Sha256::digest(secret.as_bytes()).into() })
        .is_some_and(|hash| bool::from(hash.ct_eq(&pending.browser_hash)));
    if !bound || pending.provider != provider.id() {
        tracing::warn!(provider = %provider.id(), "provider callback from another browser or for another provider");
        return Err(failure_page(name, FederationError::BadState));
    }
    let linking_user = match &pending.link_user_id {
        None => None,
        Some(user_id) => match browser(&state, pages, &headers).await? {
            Browser::SignedIn(signed_in) if &signed_in.user.id == user_id => Some(signed_in.user),
            _ => return Err(failure_page(name, FederationError::BadState)),
        },
    };
    // A refusal by the provider or by the allowlists is a refused sign-in, and recorded as one.
    let audit = audit.through(provider.id());
    let refused = |e: FederationError| async {
        let event = audit.decided(
            now,
            portcullis_core::audit::action::SIGN_IN,
            None,
            portcullis_core::audit::FAILURE,
            Some(&e.to_string()),
        );
        portcullis_core::audit::record(store, event).await;
        failure_page(name, e)
    };
    let identity = match complete(
        provider,
        &pages.sealer,
        &pending,
        &params,
        &redirect_uri(pages, provider.id()),
        now,
    )
    .await
    {
        Ok(identity) => identity,
        Err(e) => return Err(refused(e).await),
    };
    let mut rng = rng();
    let outcome = match account_for(
        store,
        &audit,
        provider,
        pages.providers.tenants(),
        &identity,
        linking_user.as_ref(),
        now,
        &mut rng,
    )
    .await
    {
        Ok(outcome) => outcome,
        Err(e) => return Err(refused(e).await),
    };
    let user = outcome.user().clone();
    tokens::keep(
        store,
        &pages.sealer,
        &user.id,
        provider.id(),
        identity.tokens.clone(),
        now,
        &mut rng,
    )
    .await
    .map_err(|e| failure_page(name, e))?;
    state.gateway.forget_provider_tokens(&user.id);
    tracing::info!(user = %user.id, provider = %provider.id(), "signed in with an identity provider");
    let started = sign_in(
        &state,
        pages,
        &headers,
        &user,
        session_amr(provider, &identity.amr),
        &audit,
        portcullis_core::audit::action::SIGN_IN,
    )
    .await?;
    let next = next_page(
        &state,
        pages,
        &user,
        &started.session,
        pending.return_to.as_deref().and_then(safe_return_to),
    )
    .await?;
    let mut response = redirect_with_session(pages, &started, &next);
    if let Some(cookie) = pages.clear_cookie(Cookie::Federation) {
        response
            .headers_mut()
            .append(http::header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// The `amr` of a session signed in at `provider`: `fed`, plus the provider's own methods and
/// `mfa` when the operator trusts the provider to enforce second factors and it says it did.
fn session_amr(provider: &Provider, amr: &[String]) -> Vec<String> {
    let mut out = vec![AMR_FEDERATED.to_owned()];
    if provider.config.trust_mfa {
        const SECOND_FACTORS: &[&str] = &[
            "mfa", "otp", "hwk", "swk", "sms", "fpt", "face", "iris", "sc",
        ];
        for method in amr.iter().filter(|m| m.len() <= 16) {
            if method.bytes().all(|b| b.is_ascii_lowercase()) && !out.contains(method) {
                out.push(method.clone());
            }
        }
        let mfa = amr.iter().any(|m| m == AMR_MFA)
            || (amr.iter().any(|m| SECOND_FACTORS.contains(&m.as_str())) && amr.len() >= 2);
        if mfa && !out.iter().any(|m| m == AMR_MFA) {
            out.push(AMR_MFA.to_owned());
        }
        if !mfa {
            out.retain(|m| m != AMR_MFA);
        }
    }
    out
}

#[derive(Deserialize)]
pub(crate) struct UnlinkForm {
    provider: String,
}

/// `POST /account/identities/unlink`: removes a provider from the signed-in account, unless it
/// is the account's only way to sign in.
pub(crate) async fn unlink_post(
    State(state): State<AppState>,
    crate::audit::Audit(audit): crate::audit::Audit,
    signed_in: super::SignedIn,
    Form(form): Form<UnlinkForm>,
) -> Result<Response, ApiError> {
    let pages = pages_of(&state)?;
    if pages.now() - signed_in.session.auth_time > RECENT_SIGN_IN {
        return Ok(super::login_redirect(pages, Some("/account")));
    }
    let store = state.store.as_ref();
    let user = &signed_in.user;
    let identities = store
        .external_identities_of_user(&user.id)
        .await
        .map_err(|e| failure_page(&form.provider, e.into()))?;
    let others = identities
        .iter()
        .filter(|i| i.provider != form.provider)
        .count();
    if user.password_hash.is_none() && others == 0 {
        return Err(PageError::new(
            StatusCode::CONFLICT,
            "This is the only way to sign in to your account, so it cannot be removed.",
        )
        .into());
    }
    let event = audit
        .acting(&user.id, user.tenant.as_deref())
        .through(&form.provider)
        .event(
            pages.now(),
            portcullis_core::audit::action::IDENTITY_UNLINK,
            Some(&portcullis_core::admin::users::user_target(user)),
        );
    let removed = store
        .external_identities_delete_audited(&user.id, &form.provider, event.as_ref())
        .await
        .map_err(|e| failure_page(&form.provider, e.into()))?;
    if removed > 0 {
        tracing::info!(user = %user.id, provider = %form.provider, "identity unlinked by its owner");
    }
    state.gateway.forget_provider_tokens(&user.id);
    Ok(page_redirect(&pages.url("/account")).into_response())
}
