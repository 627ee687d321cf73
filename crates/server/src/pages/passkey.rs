//! Passkeys on the pages: enrolling one (`GET/POST /account/mfa/passkey`), using one at the
//! second-factor step (`POST /login/mfa/passkey`, offered on `/login/mfa`), and the one script
//! that runs the browser's side of both (`GET /static/passkey.js`).
//!
//! - Each page that shows a passkey form starts a ceremony (`core::accounts::passkey`): the
//!   challenge's state goes into the store bound to this browser session, and the page carries
//!   only its id and the options for the browser. The form posts the browser's answer like any
//!   other form (CSRF token, same-origin check), so the answer is checked once, by the session
//!   that asked, within five minutes.
//! - Only these pages allow a script, and only this origin's (`script-src 'self'`): the script
//!   reads the options from the form, calls `navigator.credentials.create` or `.get` through
//!   `PublicKeyCredential.parseCreationOptionsFromJSON`/`parseRequestOptionsFromJSON`, puts
//!   `credential.toJSON()` in the form and submits it. Without the script (or a browser that
//!   lacks those functions) the form says so, and the code form still works.
//! - Enrolling needs a recent sign-in like every factor change ([`managing`]). A wrong answer at
//!   the step counts against the account and the address like a wrong code ([`guarded`]); an
//!   out-of-date ceremony (another session's, used, expired) is not a guess and is not counted.

use std::sync::LazyLock;

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use http::{HeaderMap, HeaderValue, StatusCode};
use portcullis_core::accounts::AccountsError;
use portcullis_core::accounts::mfa::{AMR_HWK, AMR_MFA, AMR_USER};
use portcullis_core::accounts::passkey::{self, Passkeys};
use portcullis_core::accounts::throttle::Attempt;
use portcullis_core::config::validate::is_loopback_host;
use portcullis_core::config::{AccountsConfig, Config, MfaPolicy};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::mfa::{
    PasskeyForm, at_step, enrolled_page, managing, step_again, step_outcome, with_methods,
};
use super::render::allow_script;
use super::return_to::return_to_from_query;
use super::session::{SignedIn, page_failure};
use super::throttling::{ClientAddress, Guarded, guarded};
use super::{CsrfToken, Form, PageError, Pages, pages_of, render, safe_return_to};
use crate::{ApiError, AppState};

/// Where the script is served.
pub(crate) const SCRIPT_PATH: &str = "/static/passkey.js";

/// The script, compiled in.
const SCRIPT: &str = include_str!("../../static/passkey.js");

/// The first 16 hex digits of the script's SHA-256: its URL carries them, so a new script gets
/// a new URL and the long cache never serves an old one.
static SCRIPT_VERSION: LazyLock<String> = LazyLock::new(|| {
    Sha256::digest(SCRIPT.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
});

/// The script's URL under the public URL, with its version.
pub(crate) fn script_url(pages: &Pages) -> String {
    pages.url(&format!("{SCRIPT_PATH}?v={}", *SCRIPT_VERSION))
}

/// `GET /static/passkey.js`: the script, cached for a year (its URL changes with it).
pub(crate) async fn script_get(State(state): State<AppState>) -> Result<Response, ApiError> {
    let pages = pages_of(&state)?;
    if !pages.passkeys_available() {
        return Err(PageError::not_found().into());
    }
    let mut response = SCRIPT.into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(response)
}

/// The relying party of the pages, or `None` (logged) when the public URL cannot be one and
/// second factors are on.
pub(crate) fn relying_party(config: &Config, public_url: &str) -> Option<Passkeys> {
    match Passkeys::for_public_url(public_url) {
        Ok(passkeys) => Some(passkeys),
        Err(reason) => {
            // Loud for a deployment; a note for the loopback demo (`http://127.0.0.1:8080`).
            let loopback = url::Url::parse(public_url)
                .ok()
                .and_then(|u| u.host_str().map(is_loopback_host))
                .unwrap_or(false);
            if mfa_in_use(&config.accounts) {
                if loopback {
                    tracing::info!("passkeys are off: {reason}");
                } else {
                    tracing::warn!("passkeys are off: {reason}");
                }
            }
            None
        }
    }
}

fn mfa_in_use(accounts: &AccountsConfig) -> bool {
    accounts.enabled
        && (accounts.mfa != MfaPolicy::Off
            || accounts
                .mfa_by_tenant
                .values()
                .any(|p| *p != MfaPolicy::Off))
}

fn relying_party_of(pages: &Pages) -> Result<&Passkeys, ApiError> {
    pages
        .passkeys
        .as_ref()
        .ok_or_else(|| PageError::not_found().into())
}

/// The "Use a passkey" form of the second-factor step, with a new ceremony, when the account
/// has a passkey.
pub(crate) async fn step_form(
    state: &AppState,
    pages: &Pages,
    signed_in: &SignedIn,
) -> Result<Option<PasskeyForm>, ApiError> {
    let Some(passkeys) = pages.passkeys.as_ref() else {
        return Ok(None);
    };
    let challenge = passkey::start_sign_in(
        passkeys,
        state.store.as_ref(),
        &signed_in.user,
        &signed_in.session.id_hash,
        pages.now(),
        &mut StdRng::from_os_rng(),
    )
    .await
    .map_err(page_failure)?;
    Ok(challenge.map(|challenge| PasskeyForm {
        action: pages.url("/login/mfa/passkey"),
        ceremony: challenge.ceremony_id,
        options: challenge.options_json,
    }))
}

/// The answer a passkey form posts.
#[derive(Deserialize)]
pub(crate) struct StepForm {
    ceremony: String,
    /// `credential.toJSON()`, as JSON text; empty when the script did not run.
    #[serde(default)]
    credential: String,
    return_to: Option<String>,
}

/// What the page says when the form came without an answer.
const NO_ANSWER: &str = "Your browser did not use a passkey. Passkeys need JavaScript and a current browser; you can type a code instead.";

/// `POST /login/mfa/passkey`: the second factor given with a passkey.
pub(crate) async fn step_post(
    State(state): State<AppState>,
    crate::audit::Audit(audit): crate::audit::Audit,
    headers: HeaderMap,
    ClientAddress(address): ClientAddress,
    csrf: CsrfToken,
    Form(form): Form<StepForm>,
) -> Result<Response, ApiError> {
    let pages = pages_of(&state)?;
    let passkeys = relying_party_of(pages)?;
    let return_to = form.return_to.as_deref().and_then(safe_return_to);
    let signed_in = match at_step(&state, pages, &headers, return_to).await? {
        Ok(signed_in) => signed_in,
        Err(elsewhere) => return Ok(elsewhere),
    };
    if form.credential.trim().is_empty() {
        return step_again(
            &state,
            pages,
            &signed_in,
            csrf,
            return_to,
            StatusCode::BAD_REQUEST,
            NO_ANSWER,
        )
        .await;
    }
    let user = &signed_in.user;
    // The ceremony first: one this session cannot take is no guess at the factor, so it is
    // neither counted nor checked.
    let ceremony = match passkey::take_sign_in(
        state.store.as_ref(),
        &signed_in.session.id_hash,
        &form.ceremony,
        pages.now(),
    )
    .await
    {
        Ok(ceremony) => ceremony,
        Err(AccountsError::CeremonyOutOfDate) => {
            return step_again(
                &state,
                pages,
                &signed_in,
                csrf,
                return_to,
                StatusCode::BAD_REQUEST,
                "That passkey request was out of date. Try again.",
            )
            .await;
        }
        Err(e) => return Err(page_failure(e)),
    };
    let attempt = Attempt::new(&user.username, address);
    let checked = guarded(
        &state,
        pages,
        &attempt,
        address,
        |e| matches!(e, AccountsError::PasskeyRejected(_)),
        async {
            let checked = passkey::finish_sign_in(
                passkeys,
                state.store.as_ref(),
                user,
                ceremony,
                &form.credential,
                pages.now(),
            )
            .await;
            if let Err(AccountsError::PasskeyRejected(reason)) = &checked {
                tracing::info!(user = %user.id, reason = %reason, "passkey refused at sign-in");
            }
            checked
        },
    )
    .await?;
    if matches!(checked, Guarded::Passed(_)) {
        tracing::info!(user = %user.id, "second factor given with a passkey");
    }
    step_outcome(
        &state,
        pages,
        &headers,
        &signed_in,
        csrf,
        return_to,
        checked,
        "That passkey was not accepted. Try again, or type a code.",
        &audit,
    )
    .await
}

#[derive(Template)]
#[template(path = "passkey.html")]
pub(crate) struct EnrollView<'a> {
    csrf: &'a str,
    return_to: Option<&'a str>,
    error: Option<&'a str>,
    form: PasskeyForm,
    script: String,
    name: &'a str,
    back_url: String,
}

/// The enrolment page with a new registration ceremony.
#[allow(clippy::too_many_arguments)]
async fn enroll_page(
    state: &AppState,
    pages: &Pages,
    passkeys: &Passkeys,
    signed_in: &SignedIn,
    csrf: &CsrfToken,
    name: &str,
    return_to: Option<&str>,
    error: Option<&str>,
) -> Result<Response, ApiError> {
    let challenge = passkey::start_registration(
        passkeys,
        state.store.as_ref(),
        &signed_in.user,
        &signed_in.session.id_hash,
        pages.now(),
        &mut StdRng::from_os_rng(),
    )
    .await
    .map_err(page_failure)?;
    let page = render(&EnrollView {
        csrf: csrf.value(),
        return_to,
        error,
        form: PasskeyForm {
            action: pages.url("/account/mfa/passkey"),
            ceremony: challenge.ceremony_id,
            options: challenge.options_json,
        },
        script: script_url(pages),
        name,
        back_url: pages.url("/account/mfa"),
    });
    Ok(allow_script(page))
}

/// `GET /account/mfa/passkey`: the enrolment page.
pub(crate) async fn enroll_get(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    csrf: CsrfToken,
) -> Result<Response, ApiError> {
    let pages = pages_of(&state)?;
    let passkeys = relying_party_of(pages)?;
    let (signed_in, _) = match managing(&state, pages, &headers, "/account/mfa/passkey").await? {
        Ok(found) => found,
        Err(elsewhere) => return Ok(elsewhere),
    };
    let return_to = return_to_from_query(query.as_deref());
    let page = enroll_page(
        &state,
        pages,
        passkeys,
        &signed_in,
        &csrf,
        "Passkey",
        return_to.as_deref(),
        None,
    )
    .await?;
    Ok((csrf, page).into_response())
}

#[derive(Deserialize)]
pub(crate) struct EnrollForm {
    ceremony: String,
    #[serde(default)]
    credential: String,
    name: String,
    return_to: Option<String>,
}

/// `POST /account/mfa/passkey`: records the passkey the browser just made.
pub(crate) async fn enroll_post(
    State(state): State<AppState>,
    crate::audit::Audit(audit): crate::audit::Audit,
    headers: HeaderMap,
    csrf: CsrfToken,
    Form(form): Form<EnrollForm>,
) -> Result<Response, ApiError> {
    let pages = pages_of(&state)?;
    let passkeys = relying_party_of(pages)?;
    let (signed_in, _) = match managing(&state, pages, &headers, "/account/mfa/passkey").await? {
        Ok(found) => found,
        Err(elsewhere) => return Ok(elsewhere),
    };
    let return_to = form.return_to.as_deref().and_then(safe_return_to);
    let user = &signed_in.user;
    if form.credential.trim().is_empty() {
        let page = enroll_page(
            &state,
            pages,
            passkeys,
            &signed_in,
            &csrf,
            &form.name,
            return_to,
            Some(NO_ANSWER),
        )
        .await?;
        return Ok((StatusCode::BAD_REQUEST, csrf, page).into_response());
    }
    let enrolled = passkey::finish_registration(
        passkeys,
        state.store.as_ref(),
        user,
        &signed_in.session.id_hash,
        &form.ceremony,
        &form.credential,
        &form.name,
        pages.now(),
        &mut StdRng::from_os_rng(),
    )
    .await;
    let enrolled = match enrolled {
        Ok(enrolled) => enrolled,
        Err(
            e @ (AccountsError::Policy(_)
            | AccountsError::CeremonyOutOfDate
            | AccountsError::PasskeyRejected(_)),
        ) => {
            let message = match e {
                AccountsError::Policy(message) => message,
                AccountsError::CeremonyOutOfDate => {
                    "This set-up page was out of date. Try adding the passkey again.".to_owned()
                }
                other => {
                    tracing::info!(user = %user.id, reason = %other, "passkey registration refused");
                    "Your passkey could not be set up. Try again.".to_owned()
                }
            };
            let page = enroll_page(
                &state,
                pages,
                passkeys,
                &signed_in,
                &csrf,
                &form.name,
                return_to,
                Some(&message),
            )
            .await?;
            return Ok((StatusCode::BAD_REQUEST, csrf, page).into_response());
        }
        Err(e) => return Err(page_failure(e)),
    };
    tracing::info!(user = %user.id, factor = %enrolled.factor.id, "passkey enrolled");
    // The passkey just made was unlocked with its PIN or biometric (user verification is
    // required): the session goes on with it, under a new id.
    let amr = with_methods(
        &signed_in.session.amr,
        &[AMR_HWK.to_owned(), AMR_USER.to_owned(), AMR_MFA.to_owned()],
    );
    enrolled_page(
        &state, pages, &headers, user, amr, enrolled, return_to, &audit,
    )
    .await
}
