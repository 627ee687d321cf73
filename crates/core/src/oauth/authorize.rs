//! The authorization endpoint (OAuth 2.1 §4.1.1): checking an authorization request, issuing the
//! code once the user has signed in and consented, and building the redirect back to the client.
//!
//! Errors come in two kinds. Until the client and its redirect URI are known to be registered,
//! an error is shown to the user on a page and the browser is never sent anywhere (RFC 6749
//! §4.1.2.1, reference R4). After that, errors go back to the client's redirect URI with `state`
//! and `iss` (RFC 9207: every authorization response carries the issuer, errors included) —
//! for a client that registered itself only once the person has signed in (RFC 9700 §4.11.2,
//! reference R5).

use portcullis_proto::oauth::{ErrorCode, OAuthError};
use portcullis_store::{AuthorizationCode, Consent};
use rand::CryptoRng;
use time::{Duration, OffsetDateTime};

use super::resource::{self, ProtectedResource};
use super::scope::{self, Scopes};
use super::{AuthorizationServer, ClientInfo, Params, new_secret, pkce, secret_hash, unavailable};

/// The largest `state` and `nonce` accepted, in bytes.
const MAX_ECHOED: usize = 1024;

/// A checked authorization request.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub client: ClientInfo,
    /// The redirect URI, exactly as the client sent it (or its only registered one).
    pub redirect_uri: String,
    pub state: Option<String>,
    pub code_challenge: String,
    /// The scopes the client asked for and may have.
    pub scopes: Scopes,
    pub resource: ProtectedResource,
    pub nonce: Option<String>,
    /// `prompt`, when the client sent one (`none`, `login`, `consent`).
    pub prompt: Option<String>,
}

/// Why an authorization request fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// Shown on an error page; the browser is not redirected.
    Page(OAuthError),
    /// Sent back to the client at this URL (which carries `error`, `state` and `iss`).
    Redirect(String),
    /// Sent back to the client at this URL, but only once the person has signed in: the client
    /// registered itself (anyone can), so a redirect to its URI before anyone signed in would
    /// make Portcullis an open redirector (RFC 9700 §4.11.2, OAuth 2.1 §7.12.2; reference R5).
    /// Without a sign-in (and `prompt=none` forbids one) the error is shown on a page.
    RedirectOnceSignedIn(String),
}

/// The user on whose behalf a code is issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedInUser {
    pub user_id: String,
    pub auth_time: OffsetDateTime,
    /// How they authenticated (`pwd`, `otp`, …).
    pub amr: Vec<String>,
}

/// What the user allowed on the consent page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consented {
    pub scopes: Scopes,
}

fn page(code: ErrorCode, description: &'static str) -> AuthorizeError {
    AuthorizeError::Page(OAuthError::new(code, description))
}

impl AuthorizationServer {
    /// Checks an authorization request's parameters (a GET query).
    pub async fn authorization_request(
        &self,
        params: &Params,
        now: OffsetDateTime,
    ) -> Result<AuthorizationRequest, AuthorizeError> {
        // Request objects (RFC 9101) are not supported; refusing them outright keeps a client
        // from smuggling parameters past these checks.
        if params.get("request").is_some() || params.get("request_uri").is_some() {
            return Err(page(
                ErrorCode::InvalidRequest,
                "request objects (request, request_uri) are not supported",
            ));
        }
        let client_id = params
            .get("client_id")
            .ok_or_else(|| page(ErrorCode::InvalidRequest, "client_id is required"))?;
        let client = self
            .clients
            .client(client_id, now)
            .await
            .map_err(AuthorizeError::Page)?;
        // OAuth 2.1 §4.1.1: optional only when the client registered exactly one.
        let redirect_uri = self
            .clients
            .redirect_uri(&client, params.get("redirect_uri"))
            .map_err(AuthorizeError::Page)?;
        let state = params.get("state").map(str::to_owned);
        if state.as_ref().is_some_and(|s| s.len() > MAX_ECHOED) {
            return Err(page(ErrorCode::InvalidRequest, "state is too long"));
        }
        // From here on the client and redirect URI are registered: errors go back to the client
        // — at once for a client the operator registered, after the person signs in for one that
        // registered itself.
        let trusted = client.first_party;
        let redirect = |error: OAuthError| {
            let location = self.error_redirect(&redirect_uri, state.as_deref(), &error);
            if trusted {
                AuthorizeError::Redirect(location)
            } else {
                AuthorizeError::RedirectOnceSignedIn(location)
            }
        };
        match params.get("response_type") {
            Some("code") => {}
            Some(_) => {
                return Err(redirect(OAuthError::new(
                    ErrorCode::UnsupportedResponseType,
                    "response_type must be code",
                )));
            }
            None => {
                return Err(redirect(OAuthError::new(
                    ErrorCode::InvalidRequest,
                    "response_type is required",
                )));
            }
        }
        if params.get("response_mode").is_some_and(|m| m != "query") {
            return Err(redirect(OAuthError::new(
                ErrorCode::InvalidRequest,
                "response_mode must be query",
            )));
        }
        // PKCE S256 is required for every client; `plain` (also the default when the method is
        // omitted) is refused (reference P3).
        let code_challenge = params.get("code_challenge").ok_or_else(|| {
            redirect(OAuthError::new(
                ErrorCode::InvalidRequest,
                "code_challenge is required (PKCE with S256)",
            ))
        })?;
        if params.get("code_challenge_method") != Some(pkce::S256) {
            return Err(redirect(OAuthError::new(
                ErrorCode::InvalidRequest,
                "code_challenge_method must be S256",
            )));
        }
        if !pkce::is_valid_challenge(code_challenge) {
            return Err(redirect(OAuthError::new(
                ErrorCode::InvalidRequest,
                "code_challenge is not an S256 challenge",
            )));
        }
        let requested_resource = params.get("resource").ok_or_else(|| {
            redirect(OAuthError::new(
                ErrorCode::InvalidTarget,
                "resource is required: the URL of the MCP server the token is for",
            ))
        })?;
        let target = resource::resolve(&self.resources, requested_resource)
            .map_err(&redirect)?
            .clone();
        let scopes = self
            .requested_scopes(&client, &target, params.get("scope"))
            .map_err(&redirect)?;
        let nonce = params.get("nonce").map(str::to_owned);
        if nonce.as_ref().is_some_and(|n| n.len() > MAX_ECHOED) {
            return Err(redirect(OAuthError::new(
                ErrorCode::InvalidRequest,
                "nonce is too long",
            )));
        }
        let prompt = params.get("prompt").map(str::to_owned);
        if let Some(prompt) = &prompt
            && !prompt
                .split(' ')
                .all(|p| matches!(p, "none" | "login" | "consent"))
        {
            return Err(redirect(OAuthError::new(
                ErrorCode::InvalidRequest,
                "prompt must be none, login or consent",
            )));
        }
        Ok(AuthorizationRequest {
            client,
            redirect_uri,
            state,
            code_challenge: code_challenge.to_owned(),
            scopes,
            resource: target,
            nonce,
            prompt,
        })
    }

    /// The scopes of a request: each must be the resource's, or an OpenID Connect one, and within
    /// what the client may ask for. No `scope` asks for all of the resource's scopes.
    fn requested_scopes(
        &self,
        client: &ClientInfo,
        target: &ProtectedResource,
        requested: Option<&str>,
    ) -> Result<Scopes, OAuthError> {
        let requested = match requested {
            Some(text) => Scopes::parse(text)
                .ok_or_else(|| OAuthError::new(ErrorCode::InvalidScope, "scope is malformed"))?,
            None => target.scopes.clone(),
        };
        let oidc = Scopes::of([
            scope::OPENID,
            scope::PROFILE,
            scope::EMAIL,
            scope::OFFLINE_ACCESS,
        ]);
        for token in requested.iter() {
            if !target.scopes.contains(token) && !oidc.contains(token) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    format!("{} is not a scope of this resource", shown(token)),
                ));
            }
        }
        if let Some(allowed) = client.allowed_scope.as_deref().and_then(Scopes::parse)
            && let Some(extra) = requested.outside(&allowed).next()
        {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                format!("{} is not a scope this client may ask for", shown(extra)),
            ));
        }
        Ok(requested)
    }

    /// Whether the user already consented to exactly this client, redirect URI and resource
    /// with at least these scopes. Only clients the operator registered can rely on a
    /// remembered consent: a dynamically registered or metadata-document client could be anyone
    /// reusing a name, so each of its requests is confirmed (reference §0 item 11, K5).
    pub async fn consent_remembered(
        &self,
        request: &AuthorizationRequest,
        user_id: &str,
    ) -> Result<bool, OAuthError> {
        if !request.client.first_party
            || request
                .prompt
                .as_deref()
                .is_some_and(|p| p.contains("consent"))
        {
            return Ok(false);
        }
        let consent = self
            .store
            .consent_get(
                user_id,
                &request.client.client_id,
                &request.redirect_uri,
                &request.resource.url,
            )
            .await
            .map_err(unavailable)?;
        Ok(consent.is_some_and(|c| {
            Scopes::parse(&c.scope).is_some_and(|granted| request.scopes.is_subset(&granted))
        }))
    }

    /// Issues the code for a request the user approved, records the consent of a first-party
    /// client, and returns the redirect back to the client.
    pub async fn approve(
        &self,
        request: &AuthorizationRequest,
        user: &SignedInUser,
        consented: &Consented,
        audit: &crate::audit::AuditContext,
        now: OffsetDateTime,
        rng: &mut (impl CryptoRng + Send),
    ) -> Result<String, OAuthError> {
        // The user may narrow the scopes on the consent page, never widen them.
        let scopes = consented.scopes.intersection(&request.scopes);
        let code = new_secret(rng);
        let ttl = Duration::try_from(self.settings.authorization_code_ttl)
            .unwrap_or(Duration::minutes(1));
        let row = AuthorizationCode {
            code_hash: secret_hash(&code),
            client_id: request.client.client_id.clone(),
            subject: user.user_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            code_challenge: request.code_challenge.clone(),
            scope: scopes.to_param(),
            resource: request.resource.url.clone(),
            nonce: request.nonce.clone(),
            auth_time: user.auth_time,
            amr: user.amr.join(" "),
            created_at: now,
            expires_at: now + ttl,
            consumed_at: None,
            grant_id: None,
        };
        self.store.code_insert(&row).await.map_err(unavailable)?;
        let audit = audit
            .acting(&user.user_id, None)
            .through(&request.client.client_id);
        let target = format!("{} ({})", request.resource.url, row.scope);
        let event = audit.event(now, crate::audit::action::CONSENT_GIVE, Some(&target));
        if request.client.first_party {
            let consent = Consent {
                subject: user.user_id.clone(),
                client_id: request.client.client_id.clone(),
                redirect_uri: request.redirect_uri.clone(),
                resource: request.resource.url.clone(),
                scope: scopes.to_param(),
                created_at: now,
            };
            self.store
                .consent_put_audited(&consent, event.as_ref())
                .await
                .map_err(unavailable)?;
        } else {
            // Nothing is remembered for a client the operator did not register: the code is
            // the consent, and the record stands beside it.
            crate::audit::record(self.store.as_ref(), event).await;
        }
        Ok(self.redirect_with(
            &request.redirect_uri,
            &[
                ("code", code.as_str()),
                ("state", request.state.as_deref().unwrap_or_default()),
            ],
        ))
    }

    /// The redirect carrying `error` back to the client (with `state` and `iss`).
    pub fn error_redirect(
        &self,
        redirect_uri: &str,
        state: Option<&str>,
        error: &OAuthError,
    ) -> String {
        self.redirect_with(
            redirect_uri,
            &[
                ("error", error.error.as_str()),
                (
                    "error_description",
                    error.error_description.as_deref().unwrap_or_default(),
                ),
                ("state", state.unwrap_or_default()),
            ],
        )
    }

    /// `redirect_uri` with `params` (empty values left out) and `iss` added to its query.
    fn redirect_with(&self, redirect_uri: &str, params: &[(&str, &str)]) -> String {
        match url::Url::parse(redirect_uri) {
            Ok(mut url) => {
                {
                    let mut query = url.query_pairs_mut();
                    for (name, value) in params {
                        if !value.is_empty() {
                            query.append_pair(name, value);
                        }
                    }
                    query.append_pair("iss", &self.issuer);
                }
                url.into()
            }
            // Registered redirect URIs are valid URLs; this cannot be reached with one.
            Err(_) => redirect_uri.to_owned(),
        }
    }
}

/// A client-supplied token, made safe to quote in an error description.
fn shown(token: &str) -> String {
    token
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(60)
        .collect()
}
