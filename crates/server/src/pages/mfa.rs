//! Second factors on the pages: the sign-in step (`GET/POST /login/mfa`), and managing factors
//! on the account (`GET /account/mfa`, enrolling an authenticator app at
//! `GET/POST /account/mfa/totp`, new recovery codes at `POST /account/mfa/recovery-codes`,
//! removing a factor at `POST /account/mfa/remove`).
//!
//! - The step is open only to a browser whose pending step it is. A right code starts a new
//!   session (new id: its privileges changed) whose `amr` adds `otp` and `mfa`; a wrong one is
//!   counted by the same throttle as passwords, against the account and the address.
//! - Enrolment shows a fresh secret as a QR code (an inline SVG: nothing loaded, no script) and
//!   as text. The secret travels in the form sealed under the encryption keys and bound to this
//!   browser session, so nothing is stored before the person proves their app works, and a form
//!   copied to another session does not open. Proving it records the factor, shows the first
//!   factor's recovery codes once, and upgrades the session like the step does.
//! - Managing factors needs a full sign-in within the last ten minutes ([`RECENT_SIGN_IN`]; an
//!   older session signs in again, second factor included); enrolling is also the pending step
//!   of an account that must have a factor (`accounts.mfa = "required"`), where the last factor
//!   cannot be removed either.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::SET_COOKIE;
use http::{HeaderMap, StatusCode};
use portcullis_core::accounts::mfa::{
    self, AMR_MFA, AMR_OTP, Enrolled, RecoveryCode, enroll_totp, new_recovery_codes, remove_factor,
    verify_code,
};
use portcullis_core::accounts::throttle::Attempt;
use portcullis_core::accounts::totp::TotpSecret;
use portcullis_core::accounts::{AccountsError, PendingStep};
use portcullis_core::audit::{AuditContext, action};
use portcullis_core::config::MfaPolicy;
use portcullis_store::{BrowserSession, FactorKind, User};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Deserialize;

use super::cookie::Cookie;
use super::render::{allow_script, when};
use super::return_to::return_to_from_query;
use super::session::{
    Browser, SignedIn, browser, login_redirect, next_page, page_failure, page_redirect,
    redirect_with_session, sign_in, step_url,
};
use super::throttling::{ClientAddress, Guarded, guarded, too_many};
use super::{CsrfToken, Form, PageError, Pages, pages_of, render, safe_return_to};
use crate::{ApiError, AppState};

/// The issuer name authenticator apps show next to the account.
const APP_ISSUER: &str = "Portcullis";
/// The longest code looked at (a recovery code with spaces is under 20 characters).
const MAX_CODE_CHARS: usize = 64;

#[derive(Template)]
#[template(path = "mfa_step.html")]
pub(crate) struct StepView<'a> {
    action: String,
    csrf: &'a str,
    return_to: Option<&'a str>,
    error: Option<&'a str>,
    /// "Use a passkey", when the account has one and passkeys work here.
    passkey: Option<PasskeyForm>,
    /// The passkey script's URL (with its content hash), when `passkey` is set.
    script: Option<String>,
}

/// A form that runs a passkey ceremony: the script reads `options` (the WebAuthn options as
/// JSON, in an attribute, so HTML escaping is all it needs), asks the browser's authenticator,
/// and posts its answer with `ceremony` and the CSRF token.
pub(crate) struct PasskeyForm {
    pub(crate) action: String,
    pub(crate) ceremony: String,
    pub(crate) options: String,
}

#[derive(Deserialize)]
pub(crate) struct StepForm {
    code: String,
    return_to: Option<String>,
}

pub(crate) fn step_page(
    pages: &Pages,
    csrf: &CsrfToken,
    return_to: Option<&str>,
    error: Option<&str>,
    passkey: Option<PasskeyForm>,
) -> Response {
    let scripted = passkey.is_some();
    let page = render(&StepView {
        action: pages.url("/login/mfa"),
        csrf: csrf.value(),
        return_to,
        error,
        script: scripted.then(|| script_url(pages)),
        passkey,
    });
    if scripted { allow_script(page) } else { page }
}

/// The URL of the passkey script.
#[cfg(feature = "passkeys")]
fn script_url(pages: &Pages) -> String {
    super::passkey::script_url(pages)
}

#[cfg(not(feature = "passkeys"))]
fn script_url(_pages: &Pages) -> String {
    String::new()
}

/// The "Use a passkey" form of the second-factor step for `signed_in`, with a new sign-in
/// ceremony, when the account has a passkey and passkeys work here.
#[cfg(feature = "passkeys")]
pub(crate) async fn passkey_step_form(
    state: &AppState,
    pages: &Pages,
    signed_in: &SignedIn,
) -> Result<Option<PasskeyForm>, ApiError> {
    super::passkey::step_form(state, pages, signed_in).await
}

#[cfg(not(feature = "passkeys"))]
pub(crate) async fn passkey_step_form(
    _state: &AppState,
    _pages: &Pages,
    _signed_in: &SignedIn,
) -> Result<Option<PasskeyForm>, ApiError> {
    Ok(None)
}

/// The browser whose pending step is the second factor, or where to send it instead.
pub(crate) async fn at_step(
    state: &AppState,
    pages: &Pages,
    headers: &HeaderMap,
    return_to: Option<&str>,
) -> Result<Result<SignedIn, Response>, ApiError> {
    Ok(match browser(state, pages, headers).await? {
        Browser::Pending(signed_in, PendingStep::SecondFactor) => Ok(signed_in),
        Browser::Pending(_, step) => Err(page_redirect(&step_url(pages, step, return_to))),
        Browser::SignedIn(_) => Err(page_redirect(&pages.url(return_to.unwrap_or("/account")))),
        Browser::Anonymous => Err(login_redirect(pages, return_to)),
    })
}

pub(crate) async fn step_get(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    csrf: CsrfToken,
) -> Result<Response, ApiError> {
    let pages = pages_of(&state)?;
    let return_to = return_to_from_query(query.as_deref());
    let signed_in = match at_step(&state, pages, &headers, return_to.as_deref()).await? {
        Ok(signed_in) => signed_in,
        Err(elsewhere) => return Ok(elsewhere),
    };
    let passkey = passkey_step_form(&state, pages, &signed_in).await?;
    let page = step_page(pages, &csrf, return_to.as_deref(), None, passkey);
    Ok((csrf, page).into_response())
}

pub(crate) async fn step_post(
    State(state): State<AppState>,
    crate::audit::Audit(audit): crate::audit::Audit,
    headers: HeaderMap,
    ClientAddress(address): ClientAddress,
    csrf: CsrfToken,
    Form(form): Form<StepForm>,
) -> Result<Response, ApiError> {
    let pages = pages_of(&state)?;
    let return_to = form.return_to.as_deref().and_then(safe_return_to);
    let signed_in = match at_step(&state, pages, &headers, return_to).await? {
        Ok(signed_in) => signed_in,
        Err(elsewhere) => return Ok(elsewhere),
    };
    let user = &signed_in.user;
    let code: String = form.code.chars().take(MAX_CODE_CHARS).collect();
    let attempt = Attempt::new(&user.username, address);
    let checked = guarded(
        &state,
        pages,
        &attempt,
        address,
        |e| matches!(e, AccountsError::InvalidCode),
        verify_code(
            state.store.as_ref(),
            &pages.sealer,
            user,
            &code,
            pages.now(),
        ),
    )
    .await?;
    step_outcome(
        &state,
        pages,
        &headers,
        &signed_in,
        csrf,
        return_to,
        checked,
        "That code is not valid, or it was used already.",
        &audit,
    )
    .await
}

/// What a guarded second factor at the step comes to: passed, a new session (its `amr` adds
/// what the factor proved) and the next page; failed, the step again, `401`, with `failed`;
/// throttled, the step again, `429`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn step_outcome(
    state: &AppState,
    pages: &Pages,
    headers: &HeaderMap,
    signed_in: &SignedIn,
    csrf: CsrfToken,
    return_to: Option<&str>,
    checked: Guarded<Vec<String>>,
    failed: &str,
    audit: &AuditContext,
) -> Result<Response, ApiError> {
    let refusal = match &checked {
        Guarded::Passed(_) => None,
        Guarded::Failed => Some("a wrong or used code or passkey"),
        Guarded::Throttled(..) => Some("too many attempts: not checked"),
    };
    if let Some(reason) = refusal {
        let user = &signed_in.user;
        let event = audit.acting(&user.id, user.tenant.as_deref()).decided(
            pages.now(),
            action::MFA,
            Some(&portcullis_core::admin::users::user_target(user)),
            portcullis_core::audit::FAILURE,
            Some(reason),
        );
        portcullis_core::audit::record(state.store.as_ref(), event).await;
    }
    let added = match checked {
        Guarded::Passed(added) => added,
        Guarded::Failed => {
            return step_again(
                state,
                pages,
                signed_in,
                csrf,
                return_to,
                StatusCode::UNAUTHORIZED,
                failed,
            )
            .await;
        }
        Guarded::Throttled(wait, message) => {
            let passkey = passkey_step_form(state, pages, signed_in).await?;
            let page = step_page(pages, &csrf, return_to, Some(&message), passkey);
            return Ok((csrf, too_many(page, wait)).into_response());
        }
    };
    let user = &signed_in.user;
    let amr = with_methods(&signed_in.session.amr, &added);
    let started = sign_in(state, pages, headers, user, amr, audit, action::MFA).await?;
    let next = next_page(state, pages, user, &started.session, return_to).await?;
    Ok(redirect_with_session(pages, &started, &next))
}

/// The second-factor step again, with a new passkey ceremony (when the account has a passkey),
/// `status` and `message`.
pub(crate) async fn step_again(
    state: &AppState,
    pages: &Pages,
    signed_in: &SignedIn,
    csrf: CsrfToken,
    return_to: Option<&str>,
    status: StatusCode,
    message: &str,
) -> Result<Response, ApiError> {
    let passkey = passkey_step_form(state, pages, signed_in).await?;
    let page = step_page(pages, &csrf, return_to, Some(message), passkey);
    Ok((status, csrf, page).into_response())
}

/// `amr` with the methods of `added` that it lacks.
pub(crate) fn with_methods(amr: &[String], added: &[String]) -> Vec<String> {
    let mut all = amr.to_vec();
    for method in added {
        if !all.contains(method) {
            all.push(method.clone());
        }
    }
    all
}

/// How recently a person must have signed in to change their factors (ASVS 7.5.1: changing an
/// authentication factor needs re-authentication). Older sessions sign in again first.
pub(crate) const RECENT_SIGN_IN: time::Duration = time::Duration::minutes(10);

/// Whether `session` proved who it is recently enough to change factors.
fn recent(pages: &Pages, session: &BrowserSession) -> bool {
    pages.now() - session.auth_time <= RECENT_SIGN_IN
}

/// Who may manage second factors here: the signed-in person who signed in within
/// [`RECENT_SIGN_IN`], or one whose pending step is to enrol one (`true`). `Err` with where to
/// send anyone else: to sign in (again), or to the step that comes first.
pub(crate) async fn managing(
    state: &AppState,
    pages: &Pages,
    headers: &HeaderMap,
    here: &str,
) -> Result<Result<(SignedIn, bool), Response>, ApiError> {
    Ok(match browser(state, pages, headers).await? {
        Browser::SignedIn(signed_in) if !recent(pages, &signed_in.session) => {
            Err(login_redirect(pages, Some(here)))
        }
        Browser::SignedIn(signed_in) => Ok((signed_in, false)),
        Browser::Pending(signed_in, PendingStep::EnrollSecondFactor) => Ok((signed_in, true)),
        Browser::Pending(_, step) => Err(page_redirect(&step_url(pages, step, None))),
        Browser::Anonymous => Err(login_redirect(pages, Some(here))),
    })
}

#[derive(Template)]
#[template(path = "mfa.html")]
pub(crate) struct FactorsView<'a> {
    csrf: &'a str,
    /// The account must enrol a factor before going on.
    required: bool,
    factors: Vec<FactorRow>,
    recovery_codes_left: u32,
    totp_url: String,
    /// "Add a passkey", when passkeys work here.
    passkey_url: Option<String>,
    recovery_action: String,
    remove_action: String,
    account_url: String,
    /// Removing the last factor is refused (the policy requires one).
    keep_last: bool,
}

pub(crate) struct FactorRow {
    id: String,
    name: String,
    kind: &'static str,
    created: String,
    last_used: String,
}

fn kind_name(kind: FactorKind) -> &'static str {
    match kind {
        FactorKind::Totp => "Authenticator app",
        FactorKind::Passkey => "Passkey",
    }
}

pub(crate) async fn factors_get(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    csrf: CsrfToken,
) -> Result<Response, ApiError> {
    let pages = pages_of(&state)?;
    let (signed_in, required) = match managing(&state, pages, &headers, "/account/mfa").await? {
        Ok(found) => found,
        Err(elsewhere) => return Ok(elsewhere),
    };
    let return_to = return_to_from_query(query.as_deref());
    let store = state.store.as_ref();
    let user = &signed_in.user;
    let factors: Vec<FactorRow> = store
        .factors_of_user(&user.id)
        .await
        .map_err(|e| page_failure(e.into()))?
        .into_iter()
        .map(|f| FactorRow {
            id: f.id,
            name: f.name,
            kind: kind_name(f.kind),
            created: when(f.created_at),
            last_used: f.last_used_at.map_or_else(|| "-".to_owned(), when),
        })
        .collect();
    let recovery_codes_left = store
        .recovery_codes_left(&user.id)
        .await
        .map_err(|e| page_failure(e.into()))?;
    let keep_last = factors.len() == 1
        && mfa::policy_for(state.store.as_ref(), &pages.accounts, user)
            .await
            .map_err(page_failure)?
            == MfaPolicy::Required;
    let with_return = |path: &str| match return_to.as_deref() {
        Some(return_to) => {
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("return_to", return_to)
                .finish();
            pages.url(&format!("{path}?{query}"))
        }
        None => pages.url(path),
    };
    let totp_url = with_return("/account/mfa/totp");
    let passkey_url = pages
        .passkeys_available()
        .then(|| with_return("/account/mfa/passkey"));
    let page = render(&FactorsView {
        csrf: csrf.value(),
        required,
        factors,
        recovery_codes_left,
        totp_url,
        passkey_url,
        recovery_action: pages.url("/account/mfa/recovery-codes"),
        remove_action: pages.url("/account/mfa/remove"),
        account_url: pages.url("/account"),
        keep_last,
    });
    Ok((csrf, page).into_response())
}

#[derive(Template)]
#[template(path = "totp.html")]
pub(crate) struct TotpView<'a> {
    action: String,
    csrf: &'a str,
    return_to: Option<&'a str>,
    error: Option<&'a str>,
    /// The QR code of the `otpauth://` URI, as an SVG element (made here, from no input but the
    /// URI, so it is inserted unescaped).
    qr_svg: String,
    /// The secret in groups of four, for typing into an app.
    secret_text: String,
    /// The sealed secret.
    enrollment: &'a str,
    name: &'a str,
}

#[derive(Deserialize)]
pub(crate) struct TotpForm {
    enrollment: String,
    name: String,
    code: String,
    return_to: Option<String>,
}

/// The associated data an enrolment's secret is sealed with: the browser session.
fn enrollment_aad(session: &BrowserSession) -> Vec<u8> {
    let mut aad = b"portcullis/mfa-enroll/".to_vec();
    aad.extend_from_slice(&session.id_hash);
    aad
}

/// The QR code of `text` as an SVG element.
fn qr_svg(text: &str) -> String {
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => {
            let svg = code
                .render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(192, 192)
                .quiet_zone(true)
                .dark_color(qrcode::render::svg::Color("#000000"))
                .light_color(qrcode::render::svg::Color("#ffffff"))
                .build();
            // The XML declaration is for files; inside HTML it is noise.
            match svg.find("<svg") {
                Some(start) => svg[start..].replacen(
                    "<svg ",
                    "<svg role=\"img\" aria-label=\"QR code for your authenticator app\" ",
                    1,
                ),
                None => svg,
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "could not draw a QR code");
            String::new()
        }
    }
}

fn grouped(secret: &str) -> String {
    secret
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[allow(clippy::too_many_arguments)]
fn totp_page(
    pages: &Pages,
    csrf: &CsrfToken,
    user_label: &str,
    secret: &TotpSecret,
    enrollment: &str,
    name: &str,
    return_to: Option<&str>,
    error: Option<&str>,
) -> Response {
    let uri = secret.uri(APP_ISSUER, user_label);
    render(&TotpView {
        action: pages.url("/account/mfa/totp"),
        csrf: csrf.value(),
        return_to,
        error,
        qr_svg: qr_svg(&uri),
        secret_text: grouped(&secret.to_base32()),
        enrollment,
        name,
    })
}

/// The name the app shows for the account: the username at the public host.
fn user_label(pages: &Pages, username: &str) -> String {
    let host = url::Url::parse(&pages.url("/"))
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    if host.is_empty() {
        username.to_owned()
    } else {
        format!("{username}@{host}")
    }
}

pub(crate) async fn totp_get(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    csrf: CsrfToken,
) -> Result<Response, ApiError> {
    let pages = pages_of(&state)?;
    let (signed_in, _) = match managing(&state, pages, &headers, "/account/mfa/totp").await? {
        Ok(found) => found,
        Err(elsewhere) => return Ok(elsewhere),
    };
    let return_to = return_to_from_query(query.as_deref());
    let mut rng = StdRng::from_os_rng();
    let secret = TotpSecret::generate(&mut rng);
    let sealed = pages
        .sealer
        .seal(
            secret.as_bytes(),
            &enrollment_aad(&signed_in.session),
            &mut rng,
        )
        .map_err(|e| page_failure(AccountsError::Sealing(e.to_string())))?;
    let enrollment = URL_SAFE_NO_PAD.encode(sealed);
    let label = user_label(pages, &signed_in.user.username);
    let page = totp_page(
        pages,
        &csrf,
        &label,
        &secret,
        &enrollment,
        "Authenticator app",
        return_to.as_deref(),
        None,
    );
    Ok((csrf, page).into_response())
}

pub(crate) async fn totp_post(
    State(state): State<AppState>,
    crate::audit::Audit(audit): crate::audit::Audit,
    headers: HeaderMap,
    csrf: CsrfToken,
    Form(form): Form<TotpForm>,
) -> Result<Response, ApiError> {
    let pages = pages_of(&state)?;
    let (signed_in, _) = match managing(&state, pages, &headers, "/account/mfa/totp").await? {
        Ok(found) => found,
        Err(elsewhere) => return Ok(elsewhere),
    };
    let return_to = form.return_to.as_deref().and_then(safe_return_to);
    let out_of_date = || {
        PageError::new(
            StatusCode::BAD_REQUEST,
            "This set-up page is out of date. Start setting up the authenticator app again.",
        )
    };
    let sealed = URL_SAFE_NO_PAD
        .decode(form.enrollment.as_bytes())
        .map_err(|_| out_of_date())?;
    let secret = pages
        .sealer
        .open(&sealed, &enrollment_aad(&signed_in.session))
        .map_err(|_| out_of_date())?;
    let secret = TotpSecret::from_bytes(secret.to_vec());
    let user = &signed_in.user;
    let code: String = form.code.chars().take(MAX_CODE_CHARS).collect();
    let mut rng = StdRng::from_os_rng();
    let enrolled = enroll_totp(
        state.store.as_ref(),
        &pages.sealer,
        user,
        &secret,
        &code,
        &form.name,
        pages.now(),
        &mut rng,
    )
    .await;
    let enrolled = match enrolled {
        Ok(enrolled) => enrolled,
        Err(e @ (AccountsError::InvalidCode | AccountsError::Policy(_))) => {
            let message = match e {
                AccountsError::Policy(message) => message,
                _ => "That code does not match. Check the app's clock and type the code it shows now.".to_owned(),
            };
            let label = user_label(pages, &user.username);
            let page = totp_page(
                pages,
                &csrf,
                &label,
                &secret,
                &form.enrollment,
                &form.name,
                return_to,
                Some(&message),
            );
            return Ok((StatusCode::BAD_REQUEST, csrf, page).into_response());
        }
        Err(e) => return Err(page_failure(e)),
    };
    tracing::info!(user = %user.id, factor = %enrolled.factor.id, "authenticator app enrolled");
    // The code just given proves the factor: the session goes on with it, under a new id.
    let amr = with_methods(
        &signed_in.session.amr,
        &[AMR_OTP.to_owned(), AMR_MFA.to_owned()],
    );
    enrolled_page(
        &state, pages, &headers, user, amr, enrolled, return_to, &audit,
    )
    .await
}

/// What a browser sees once it has enrolled a factor: the session goes on under a new id with
/// `amr` (the enrolment proved the factor), then the recovery codes (a first factor) or `303`
/// to the next page.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn enrolled_page(
    state: &AppState,
    pages: &Pages,
    headers: &HeaderMap,
    user: &User,
    amr: Vec<String>,
    enrolled: Enrolled,
    return_to: Option<&str>,
    audit: &AuditContext,
) -> Result<Response, ApiError> {
    let started = sign_in(state, pages, headers, user, amr, audit, action::MFA_ENROLL).await?;
    let next = next_page(state, pages, user, &started.session, return_to).await?;
    match enrolled.recovery_codes {
        Some(codes) => {
            let mut response = recovery_codes_page(&codes, next);
            if let Some(cookie) = pages.set_cookie(
                Cookie::Session,
                started.secret.as_str(),
                Some(pages.timeouts.absolute),
            ) {
                response.headers_mut().append(SET_COOKIE, cookie);
            }
            Ok(response)
        }
        None => Ok(redirect_with_session(pages, &started, &next)),
    }
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
pub(crate) struct RecoveryCodesView<'a> {
    codes: Vec<&'a str>,
    continue_url: String,
}

fn recovery_codes_page(codes: &[RecoveryCode], continue_url: String) -> Response {
    render(&RecoveryCodesView {
        codes: codes.iter().map(RecoveryCode::as_str).collect(),
        continue_url,
    })
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
pub(crate) struct EmptyForm {}

/// `POST /account/mfa/recovery-codes`: ten new recovery codes, replacing the old ones, shown
/// once.
pub(crate) async fn recovery_codes_post(
    State(state): State<AppState>,
    crate::audit::Audit(audit): crate::audit::Audit,
    headers: HeaderMap,
    Form(EmptyForm {}): Form<EmptyForm>,
) -> Result<Response, ApiError> {
    let pages = pages_of(&state)?;
    let signed_in = match managing(&state, pages, &headers, "/account/mfa").await? {
        Ok((signed_in, false)) => signed_in,
        // An account still enrolling has no codes to remake.
        Ok((_, true)) => return Ok(page_redirect(&pages.url("/account/mfa"))),
        Err(elsewhere) => return Ok(elsewhere),
    };
    let store = state.store.as_ref();
    let user = &signed_in.user;
    let has_factor = !store
        .factors_of_user(&user.id)
        .await
        .map_err(|e| page_failure(e.into()))?
        .is_empty();
    if !has_factor {
        return Err(PageError::new(
            StatusCode::CONFLICT,
            "Recovery codes stand in for a second factor: set one up first.",
        )
        .into());
    }
    let mut rng = StdRng::from_os_rng();
    let event = audit.acting(&user.id, user.tenant.as_deref()).event(
        pages.now(),
        action::RECOVERY_CODES,
        Some(&portcullis_core::admin::users::user_target(user)),
    );
    let codes = new_recovery_codes(store, &user.id, pages.now(), &mut rng, event.as_ref())
        .await
        .map_err(page_failure)?;
    tracing::info!(user = %user.id, "new recovery codes made");
    Ok(recovery_codes_page(&codes, pages.url("/account/mfa")))
}

#[derive(Deserialize)]
pub(crate) struct RemoveForm {
    factor: String,
}

/// `POST /account/mfa/remove`: removes one of the account's factors (the last one also takes
/// the recovery codes with it).
pub(crate) async fn remove_post(
    State(state): State<AppState>,
    crate::audit::Audit(audit): crate::audit::Audit,
    headers: HeaderMap,
    Form(form): Form<RemoveForm>,
) -> Result<Response, ApiError> {
    let pages = pages_of(&state)?;
    let signed_in = match managing(&state, pages, &headers, "/account/mfa").await? {
        Ok((signed_in, false)) => signed_in,
        Ok((_, true)) => return Ok(page_redirect(&pages.url("/account/mfa"))),
        Err(elsewhere) => return Ok(elsewhere),
    };
    let store = state.store.as_ref();
    let user = &signed_in.user;
    let factors = store
        .factors_of_user(&user.id)
        .await
        .map_err(|e| page_failure(e.into()))?;
    if !factors.iter().any(|f| f.id == form.factor) {
        return Err(PageError::new(StatusCode::NOT_FOUND, "That factor is gone already.").into());
    }
    if factors.len() == 1
        && mfa::policy_for(state.store.as_ref(), &pages.accounts, user)
            .await
            .map_err(page_failure)?
            == MfaPolicy::Required
    {
        return Err(PageError::new(
            StatusCode::CONFLICT,
            "Your account must keep a second factor: add another before removing this one.",
        )
        .into());
    }
    let event = audit.acting(&user.id, user.tenant.as_deref()).decided(
        pages.now(),
        action::MFA_REMOVE,
        Some(&portcullis_core::admin::users::user_target(user)),
        portcullis_core::audit::SUCCESS,
        Some(&form.factor),
    );
    remove_factor(store, user, &form.factor, event.as_ref())
        .await
        .map_err(page_failure)?;
    tracing::info!(user = %user.id, factor = %form.factor, "second factor removed");
    Ok(page_redirect(&pages.url("/account/mfa")))
}
