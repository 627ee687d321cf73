//! Client authentication at the back-channel endpoints (token, revocation, introspection):
//! reading what a request presents, and checking it against the client's registered method only
//! (reference H6).
//!
//! A request authenticates in at most one way (RFC 6749 §2.3: "MUST NOT use more than one
//! authentication method in each request"): HTTP Basic with the form-urlencoded id and secret
//! (`client_secret_basic`, §2.3.1), `client_id` and `client_secret` in the form
//! (`client_secret_post`), a JWT assertion signed with the client's key (`private_key_jwt`, RFC
//! 7523 §2.2), or nothing but a `client_id` (a public client, `none`). Two ways in one request, or
//! a parameter given twice, is `invalid_request`; any failure to authenticate (unknown client,
//! wrong secret, a method other than the registered one) is `invalid_client` with one message, so
//! the answer does not tell which ids exist. Secrets are compared as SHA-256 hashes in constant
//! time, and against a dummy hash when the client is unknown, so the timing does not tell either.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use percent_encoding::percent_decode_str;
use portcullis_proto::oauth::{ErrorCode, OAuthError};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use super::{Client, TokenEndpointAuthMethod};
use crate::auth::api_key::secret_hash;
use crate::auth::jwks::{CachePolicy, JwksCache, KeySource, parse_jwks};
use crate::auth::jwt::{Expected, Jws, KeySet, TokenTypes};
use crate::auth::{Fetch, LEEWAY_SECS, Rejection};

/// RFC 7523 §2.2: the `client_assertion_type` of a JWT client assertion.
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The furthest in the future a client assertion's `exp` may be: assertions are single-use and
/// short-lived, and the replay cache keeps each `jti` until its `exp`.
pub const MAX_ASSERTION_LIFETIME_SECS: i64 = 300;
/// The longest `jti` remembered.
const MAX_JTI_LEN: usize = 256;
/// The most assertion ids remembered at once; expired ones are dropped first.
const MAX_REMEMBERED_JTIS: usize = 100_000;
/// The most `jwks_uri` key caches kept (one per client and URI).
const MAX_KEY_CACHES: usize = 1024;

/// What a back-channel request carries that can authenticate a client.
#[derive(Clone, Copy)]
pub struct ClientAuthRequest<'a> {
    /// Every `Authorization` header value of the request (normally none or one).
    pub authorization: &'a [&'a str],
    /// The request's form fields in order, repeats included.
    pub form: &'a [(String, String)],
}

impl std::fmt::Debug for ClientAuthRequest<'_> {
    // Header values and form fields carry secrets: only the field names are printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAuthRequest")
            .field("authorization", &self.authorization.len())
            .field(
                "form",
                &self
                    .form
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The credentials a request presents, read but not yet checked.
#[derive(PartialEq, Eq)]
pub(crate) enum Presented {
    /// Only a `client_id`: a public client.
    Public { client_id: String },
    /// A shared secret, in Basic authentication or in the form.
    Secret {
        method: TokenEndpointAuthMethod,
        client_id: String,
        secret: String,
    },
    /// A JWT assertion; the client is its issuer.
    Assertion {
        client_id: String,
        assertion: String,
    },
}

impl std::fmt::Debug for Presented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, client_id) = match self {
            Presented::Public { client_id } => ("Public", client_id),
            Presented::Secret { client_id, .. } => ("Secret", client_id),
            Presented::Assertion { client_id, .. } => ("Assertion", client_id),
        };
        f.debug_struct(kind)
            .field("client_id", client_id)
            .finish_non_exhaustive()
    }
}

impl Presented {
    pub(crate) fn client_id(&self) -> &str {
        match self {
            Presented::Public { client_id }
            | Presented::Secret { client_id, .. }
            | Presented::Assertion { client_id, .. } => client_id,
        }
    }

    /// The method these credentials are for.
    pub(crate) fn method(&self) -> TokenEndpointAuthMethod {
        match self {
            Presented::Public { .. } => TokenEndpointAuthMethod::None,
            Presented::Secret { method, .. } => *method,
            Presented::Assertion { .. } => TokenEndpointAuthMethod::PrivateKeyJwt,
        }
    }
}

fn invalid_request(why: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRequest, why)
}

/// The one answer to every failed authentication (RFC 6749 §5.2 `invalid_client`).
pub(crate) fn failed() -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClient, "client authentication failed")
}

/// The single value of a form field; a repeated field is an error (RFC 6749 §3.2).
fn single<'a>(form: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, OAuthError> {
    let mut values = form.iter().filter(|(n, _)| n == name).map(|(_, v)| v);
    let first = values.next();
    if values.next().is_some() {
        return Err(OAuthError::new(
            ErrorCode::InvalidRequest,
            format!("the {name} parameter is repeated"),
        ));
    }
    Ok(first.map(String::as_str))
}

/// One part of Basic credentials: RFC 6749 §2.3.1 form-urlencodes the id and the secret before
/// they are joined with `:`.
fn form_decode(part: &str) -> Option<String> {
    percent_decode_str(&part.replace('+', " "))
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// The client id and secret of an `Authorization: Basic` value; `Ok(None)` when the header is
/// another scheme (not client authentication).
fn basic_credentials(value: &str) -> Result<Option<(String, String)>, OAuthError> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let encoded = rest.trim();
    let decoded = STANDARD
        .decode(encoded)
        .or_else(|_| STANDARD_NO_PAD.decode(encoded))
        .map_err(|_| failed())?;
    let text = String::from_utf8(decoded).map_err(|_| failed())?;
    let (id, secret) = text.split_once(':').ok_or_else(failed)?;
    match (form_decode(id), form_decode(secret)) {
        (Some(id), Some(secret)) if !id.is_empty() => Ok(Some((id, secret))),
        _ => Err(failed()),
    }
}

/// Reads the credentials of a request: exactly one way of authenticating, no repeated
/// parameter, and a `client_id` in the form that agrees with the one authenticated.
pub(crate) fn read_credentials(request: &ClientAuthRequest<'_>) -> Result<Presented, OAuthError> {
    let form = request.form;
    let form_id = single(form, "client_id")?;
    let form_secret = single(form, "client_secret")?;
    let assertion = single(form, "client_assertion")?;
    let assertion_type = single(form, "client_assertion_type")?;
    let mut basic = None;
    for value in request.authorization {
        if let Some(credentials) = basic_credentials(value)? {
            if basic.is_some() {
                return Err(invalid_request("more than one Authorization header"));
            }
            basic = Some(credentials);
        }
    }
    let ways = usize::from(basic.is_some())
        + usize::from(form_secret.is_some())
        + usize::from(assertion.is_some() || assertion_type.is_some());
    if ways > 1 {
        return Err(invalid_request(
            "more than one client authentication method in one request",
        ));
    }
    let agrees = |authenticated: &str| form_id.is_none_or(|id| id == authenticated);
    if let Some((client_id, secret)) = basic {
        if !agrees(&client_id) {
            return Err(invalid_request(
                "client_id differs from the client in the Authorization header",
            ));
        }
        return Ok(Presented::Secret {
            method: TokenEndpointAuthMethod::ClientSecretBasic,
            client_id,
            secret,
        });
    }
    if let Some(secret) = form_secret {
        let client_id =
            form_id.ok_or_else(|| invalid_request("client_secret without client_id"))?;
        return Ok(Presented::Secret {
            method: TokenEndpointAuthMethod::ClientSecretPost,
            client_id: client_id.to_owned(),
            secret: secret.to_owned(),
        });
    }
    if assertion.is_some() || assertion_type.is_some() {
        let (Some(assertion), Some(assertion_type)) = (assertion, assertion_type) else {
            return Err(invalid_request(
                "client_assertion and client_assertion_type go together",
            ));
        };
        if assertion_type != CLIENT_ASSERTION_TYPE {
            return Err(invalid_request(
                "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ));
        }
        // The issuer names the client (RFC 7523 §3); the signature is checked once its keys are
        // known, and `sub` must agree then.
        let issuer = Jws::parse(assertion)
            .ok()
            .and_then(|jws| jws.unverified_issuer().map(str::to_owned))
            .ok_or_else(failed)?;
        if !agrees(&issuer) {
            return Err(invalid_request(
                "client_id differs from the issuer of the client assertion",
            ));
        }
        return Ok(Presented::Assertion {
            client_id: issuer,
            assertion: assertion.to_owned(),
        });
    }
    match form_id {
        Some(client_id) => Ok(Presented::Public {
            client_id: client_id.to_owned(),
        }),
        // RFC 6749 §5.2: "no client authentication included".
        None => Err(failed()),
    }
}

/// Whether `secret` is the secret of `client` at `now`. The SHA-256 of the presented secret is
/// compared in constant time with the stored hash, or with a dummy when the client is unknown or
/// has no secret, so every outcome costs the same.
pub(crate) fn secret_matches(client: Option<&Client>, secret: &str, now: OffsetDateTime) -> bool {
    let stored = client.and_then(|c| c.secret_hash);
    let equal: bool = secret_hash(secret)
        .ct_eq(&stored.unwrap_or([0u8; 32]))
        .into();
    let live = client.is_some_and(|c| c.secret_expires_at.is_none_or(|at| at > now));
    equal && stored.is_some() && live
}

/// Verifies `private_key_jwt` assertions: signature with the client's keys, claims, lifetime and
/// replay.
///
/// Replays are refused by remembering each assertion's `jti` until it expires, in this process
/// only. With several replicas an assertion could be replayed once per replica within its
/// (at most five-minute) lifetime; closing that needs the `jti`s in the store.
#[derive(Debug)]
pub(crate) struct AssertionVerifier {
    fetch: Arc<dyn Fetch>,
    /// The accepted audiences: the issuer and the token endpoint URL (RFC 7523 §3).
    audiences: Vec<String>,
    /// Lets a `jwks_uri` on a loopback host be fetched (the test setting).
    allow_loopback: bool,
    key_caches: Mutex<HashMap<(String, String), Arc<JwksCache>>>,
    /// (client id, jti) → until when (seconds) it is remembered.
    seen: Mutex<HashMap<(String, String), i64>>,
}

impl AssertionVerifier {
    pub(crate) fn new(fetch: Arc<dyn Fetch>, audiences: Vec<String>, allow_loopback: bool) -> Self {
        AssertionVerifier {
            fetch,
            audiences,
            allow_loopback,
            key_caches: Mutex::new(HashMap::new()),
            seen: Mutex::new(HashMap::new()),
        }
    }

    fn key_caches(&self) -> MutexGuard<'_, HashMap<(String, String), Arc<JwksCache>>> {
        // Entries are inserted whole or the map is cleared: nothing can be left half-written.
        self.key_caches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn seen(&self) -> MutexGuard<'_, HashMap<(String, String), i64>> {
        // As for the key caches.
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The key cache of one client's `jwks_uri`.
    fn key_cache(&self, client_id: &str, uri: &str) -> Arc<JwksCache> {
        let mut caches = self.key_caches();
        let key = (client_id.to_owned(), uri.to_owned());
        if let Some(cache) = caches.get(&key) {
            return cache.clone();
        }
        if caches.len() >= MAX_KEY_CACHES {
            caches.clear();
        }
        let loopback = url::Url::parse(uri).is_ok_and(|u| {
            u.host_str()
                .is_some_and(crate::config::validate::is_loopback_host)
        });
        let cache = Arc::new(JwksCache::new(
            KeySource::Jwks(uri.to_owned()),
            self.fetch.clone(),
            self.allow_loopback && loopback,
            super::metadata::all_asymmetric_algorithms(),
            CachePolicy {
                ttl: Duration::from_secs(300),
                max_stale: Duration::from_secs(3600),
                unknown_kid_cooldown: Duration::from_secs(30),
            },
        ));
        caches.insert(key, cache.clone());
        cache
    }

    async fn keys(
        &self,
        client: &Client,
        jws: &Jws<'_>,
        now: i64,
    ) -> Result<Arc<KeySet>, OAuthError> {
        match (&client.jwks, &client.jwks_uri) {
            (Some(jwks), _) => parse_jwks(jwks.as_bytes(), &super::metadata::all_asymmetric_algorithms())
                .map(Arc::new)
                .map_err(|e| {
                    tracing::warn!(client_id = %client.client_id, error = %e, "unusable registered jwks");
                    failed()
                }),
            (None, Some(uri)) => self
                .key_cache(&client.client_id, uri)
                .keys(jws.kid(), now)
                .await
                .map_err(|rejection| {
                    tracing::info!(client_id = %client.client_id, error = %rejection, "client keys unavailable");
                    match rejection {
                        Rejection::Unavailable(_) => OAuthError::new(
                            ErrorCode::InvalidClient,
                            "the client's keys (jwks_uri) could not be fetched",
                        ),
                        _ => failed(),
                    }
                }),
            (None, None) => Err(failed()),
        }
    }

    /// Verifies `assertion` as `client`'s authentication at `now` (seconds).
    pub(crate) async fn verify(
        &self,
        client: &Client,
        assertion: &str,
        now: i64,
    ) -> Result<(), OAuthError> {
        let jws = Jws::parse(assertion).map_err(|_| failed())?;
        let keys = self.keys(client, &jws, now).await?;
        let audiences: Vec<&str> = self.audiences.iter().map(String::as_str).collect();
        let issuers = [client.client_id.as_str()];
        let types = TokenTypes::AbsentOr(vec![
            "jwt".to_owned(),
            "client-authentication+jwt".to_owned(),
        ]);
        let expected = Expected {
            issuers: &issuers,
            audiences: &audiences,
            token_types: &types,
            now,
        };
        let claims = jws.verify(&keys, &expected).map_err(|e| {
            tracing::info!(client_id = %client.client_id, error = %e, "client assertion refused");
            failed()
        })?;
        let refuse = |why: &'static str| {
            tracing::info!(client_id = %client.client_id, why, "client assertion refused");
            failed()
        };
        if claims.string("sub").ok().flatten() != Some(client.client_id.as_str()) {
            return Err(refuse("sub is not the client id"));
        }
        let exp = claims.expires_at().ok_or_else(|| refuse("no exp"))?;
        if exp > now.saturating_add(MAX_ASSERTION_LIFETIME_SECS + LEEWAY_SECS) {
            return Err(refuse("exp is more than five minutes away"));
        }
        let jti = match claims.string("jti") {
            Ok(Some(jti)) if !jti.is_empty() && jti.len() <= MAX_JTI_LEN => jti.to_owned(),
            _ => return Err(refuse("no usable jti")),
        };
        if !self.remember(&client.client_id, jti, exp.saturating_add(LEEWAY_SECS), now) {
            return Err(refuse("jti replayed"));
        }
        Ok(())
    }

    /// Records an assertion id until `until`; `false` if it is already remembered.
    fn remember(&self, client_id: &str, jti: String, until: i64, now: i64) -> bool {
        let mut seen = self.seen();
        let key = (client_id.to_owned(), jti);
        if seen.get(&key).is_some_and(|until| *until > now) {
            return false;
        }
        if seen.len() >= MAX_REMEMBERED_JTIS {
            seen.retain(|_, until| *until > now);
        }
        if seen.len() >= MAX_REMEMBERED_JTIS {
            // Every entry is live: refusing new assertions is safer than forgetting live ids.
            tracing::warn!("the client assertion replay cache is full");
            return false;
        }
        seen.insert(key, until);
        true
    }
}

#[cfg(test)]
mod tests;
