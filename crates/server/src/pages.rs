//! The pages people see in a browser: sign-in, the account page, changing a password, and HTML
//! error pages; and the infrastructure every such page uses, the authorization server's consent
//! page included.
//!
//! - **Rendering** ([`render`]): askama views (`<Page>View`, `templates/<page>.html`) on one
//!   accessible base layout, with the security headers of [`with_page_headers`] on every
//!   response: a CSP that allows nothing but the page's own inline styles and same-origin
//!   images, no framing, no referrer to other sites, no caching, no sniffing. No JavaScript, nothing third-party.
//! - **Who is signed in** ([`current_user`], the [`SignedIn`] extractor): the browser session
//!   behind the session cookie, with both timeouts enforced on every use. A browser with a
//!   pending step (a password to change) is not signed in yet; [`SignedIn`] sends it to that
//!   step's page, and anyone not signed in to `/login?return_to=…` ([`login_redirect`]).
//! - **CSRF** ([`Form`], [`CsrfToken`]): every form carries a synchronizer token in a hidden
//!   `csrf_token` field, derived from the browser's session secret (or, before sign-in, from a
//!   random pre-session cookie), and every POST must come from this origin (`Origin` and
//!   `Sec-Fetch-Site`); [`Form`] checks both before the handler runs.
//! - **Errors**: [`PageError`], which `error.rs` renders as an HTML page.
//!
//! Password hashing runs on blocking threads behind a semaphore sized to the machine
//! ([`BoundedHashing`]); when no slot frees up within a few seconds the page answers 503.

mod account;
mod cookie;
mod csrf;
mod federation;
mod hashing;
mod login;
mod mfa;
#[cfg(feature = "passkeys")]
mod passkey;
mod render;
mod return_to;
mod session;
#[cfg(test)]
mod tests;
pub(crate) mod throttling;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use portcullis_core::accounts::{PasswordHashing, PasswordPolicy, SessionTimeouts};
use portcullis_core::config::validate::is_loopback_host;
use portcullis_core::config::{AccountsConfig, Config};
use portcullis_core::crypto::Sealer;
use portcullis_core::federation::Providers;
use portcullis_store::Store;
use time::OffsetDateTime;

use crate::{ApiError, AppState};

pub use csrf::{CSRF_FIELD, CsrfToken, Form, check_same_origin};
pub use hashing::BoundedHashing;
pub use render::{PageError, error_page, render, with_page_headers};
pub use return_to::{MAX_RETURN_TO, safe_return_to};
pub use session::{SignedIn, current_user, login_redirect, login_url};

/// Where pages get the time: the system clock in production, a clock a test moves.
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(OffsetDateTime::now_utc)
}

/// Everything the pages need from the configuration, and the password-hashing pool.
pub struct Pages {
    /// `server.public_url`, the base of every URL the pages write.
    public_url: String,
    /// The public URL's origin as browsers write it in `Origin`.
    origin: String,
    /// Cookies carry `Secure` and the `__Host-` prefix (everywhere but plain-http loopback).
    secure_cookies: bool,
    /// `accounts.enabled`.
    local_sign_in: bool,
    timeouts: SessionTimeouts,
    policy: PasswordPolicy,
    /// `[accounts]`: the second-factor policy, globally and per tenant.
    accounts: AccountsConfig,
    /// Seals the secrets of second factors (the store's encryption keys).
    sealer: Arc<Sealer>,
    hashing: Arc<dyn PasswordHashing>,
    clock: Clock,
    /// `[[identity_providers]]`: the providers people can sign in with.
    providers: Providers,
    /// The WebAuthn relying party of the public URL, when it can be one (a domain name).
    #[cfg(feature = "passkeys")]
    passkeys: Option<portcullis_core::accounts::passkey::Passkeys>,
}

impl std::fmt::Debug for Pages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pages")
            .field("public_url", &self.public_url)
            .field("secure_cookies", &self.secure_cookies)
            .field("local_sign_in", &self.local_sign_in)
            .field("timeouts", &self.timeouts)
            .field("policy", &self.policy)
            .field("hashing", &self.hashing)
            .finish_non_exhaustive()
    }
}

impl Pages {
    /// The pages of `config`, sealing second factors with `sealer` and hashing passwords on this
    /// machine's cores.
    pub fn new(config: &Config, sealer: Arc<Sealer>, clock: Clock) -> Self {
        let public_url = config.server.public_url.trim_end_matches('/').to_owned();
        let parsed = url::Url::parse(&public_url).ok();
        // An unparsable URL (config validation prevents it) leaves the origin empty, which no
        // `Origin` header matches: every POST is refused rather than any accepted.
        let origin = parsed
            .as_ref()
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        let plain_loopback = parsed
            .as_ref()
            .is_some_and(|u| u.scheme() == "http" && u.host_str().is_some_and(is_loopback_host));
        #[cfg(feature = "passkeys")]
        let passkeys = passkey::relying_party(config, &public_url);
        Pages {
            public_url,
            origin,
            secure_cookies: !plain_loopback,
            local_sign_in: config.accounts.enabled,
            timeouts: SessionTimeouts::from_config(&config.accounts),
            policy: PasswordPolicy::from_config(&config.accounts),
            accounts: config.accounts.clone(),
            sealer,
            hashing: Arc::new(BoundedHashing::for_this_machine()),
            clock,
            providers: Providers::default(),
            #[cfg(feature = "passkeys")]
            passkeys,
        }
    }

    /// The same pages offering sign-in with `providers`.
    pub fn with_providers(mut self, providers: Providers) -> Self {
        self.providers = providers;
        self
    }

    /// The same pages with another password-hashing pool (tests: one that is always busy).
    pub fn with_hashing(mut self, hashing: Arc<dyn PasswordHashing>) -> Self {
        self.hashing = hashing;
        self
    }

    /// The absolute URL of `path` (which starts with `/`) under the public URL.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.public_url)
    }

    /// Whether passkeys can be enrolled and used here: the feature is built in and the public
    /// URL's host is a domain name.
    pub fn passkeys_available(&self) -> bool {
        #[cfg(feature = "passkeys")]
        {
            self.passkeys.is_some()
        }
        #[cfg(not(feature = "passkeys"))]
        {
            false
        }
    }

    /// Now, by the pages' clock (which tests move): the time sessions are judged by.
    pub fn now(&self) -> OffsetDateTime {
        (self.clock)()
    }
}

/// The pages of `state`, or a 404 page while they are not set up.
pub(crate) fn pages_of(state: &AppState) -> Result<&Pages, ApiError> {
    state.pages().ok_or_else(|| PageError::not_found().into())
}

/// The routes of the pages. The authorization server's pages use the same helpers on routes of
/// their own (with `.layer(axum::middleware::map_response(with_page_headers))`).
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login::login_get).post(login::login_post))
        .route("/logout", post(login::logout_post))
        .route("/auth/start/{id}", post(federation::start_post))
        .route("/auth/callback/{id}", get(federation::callback_get))
        .route("/account/identities/unlink", post(federation::unlink_post))
        .route("/login/mfa", get(mfa::step_get).post(mfa::step_post))
        .route("/account", get(account::account_get))
        .route("/account/sessions/end", post(account::end_session_post))
        .route("/account/apps/revoke", post(account::revoke_app_post))
        .route("/account/mfa", get(mfa::factors_get))
        .route("/account/mfa/totp", get(mfa::totp_get).post(mfa::totp_post))
        .merge(passkey_routes())
        .route(
            "/account/mfa/recovery-codes",
            post(mfa::recovery_codes_post),
        )
        .route("/account/mfa/remove", post(mfa::remove_post))
        .route(
            "/account/password",
            get(account::account_password_get).post(account::account_password_post),
        )
        .layer(axum::middleware::map_response(with_page_headers))
        .merge(static_routes())
}

/// The passkey pages (with the pages' headers, like the rest).
#[cfg(feature = "passkeys")]
fn passkey_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/account/mfa/passkey",
            get(passkey::enroll_get).post(passkey::enroll_post),
        )
        .route("/login/mfa/passkey", post(passkey::step_post))
}

#[cfg(not(feature = "passkeys"))]
fn passkey_routes() -> Router<AppState> {
    Router::new()
}

/// The one script the pages have, outside the pages' headers: it is cached for a long time
/// (its URL carries a hash of its content) where pages are never cached.
#[cfg(feature = "passkeys")]
fn static_routes() -> Router<AppState> {
    Router::new().route(passkey::SCRIPT_PATH, get(passkey::script_get))
}

#[cfg(not(feature = "passkeys"))]
fn static_routes() -> Router<AppState> {
    Router::new()
}

/// How often expired browser sessions are deleted.
const SESSION_PURGE_EVERY: Duration = Duration::from_secs(600);

/// Deletes expired browser sessions, passkey ceremonies and sign-ins at identity providers never
/// finished every ten minutes, until the process ends. Expired ones are refused whether or not
/// they have been deleted; this only keeps the tables small.
pub fn spawn_session_janitor(store: Arc<dyn Store>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SESSION_PURGE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = OffsetDateTime::now_utc();
            match store.browser_sessions_purge(now).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(sessions = n, "deleted expired browser sessions"),
                Err(e) => tracing::warn!(error = %e, "could not delete expired browser sessions"),
            }
            match store.federation_states_purge(now).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    sign_ins = n,
                    "deleted expired sign-ins at identity providers"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "could not delete expired sign-ins at identity providers");
                }
            }
            match store.webauthn_ceremonies_purge(now).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(ceremonies = n, "deleted expired passkey ceremonies"),
                Err(e) => tracing::warn!(error = %e, "could not delete expired passkey ceremonies"),
            }
        }
    });
}
