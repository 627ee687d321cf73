//! Authentication on the MCP path (the resource-server half of MCP authorization): which
//! credential a request carries, which of the upstream's accepted validators vouches for it, the
//! cache of verified results, and the challenge a refusal carries.
//!
//! Credentials come only from headers: `Authorization: Bearer`, `Cf-Access-Jwt-Assertion`, and
//! the `Portcullis-Client-Id`/`Portcullis-Client-Secret` pair of a service token. A token in the
//! query string is never accepted (MCP authorization, OAuth 2.1 §5.2), and its presence alone
//! refuses the request, so a client that leaks tokens into URLs finds out at once.
//!
//! Verified results are cached by the SHA-256 of the credential and the upstream, until the
//! earlier of the credential's expiry and the validator's `cache_ttl`; failures are never cached,
//! and a credential's entries can be dropped at once when it is revoked ([`Authenticator::forget`]).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderName};
use portcullis_core::auth::{Context, Credential, Principal, Rejection, Validator};
use sha2::{Digest, Sha256};

/// `Cf-Access-Jwt-Assertion`: the application token Cloudflare Access puts on requests it let through.
pub const CF_ACCESS_ASSERTION: &str = "cf-access-jwt-assertion";
/// The public half of a Portcullis service token.
pub const SERVICE_CLIENT_ID: &str = "portcullis-client-id";
/// The secret half of a Portcullis service token.
pub const SERVICE_CLIENT_SECRET: &str = "portcullis-client-secret";

// The same names parsed once, for the lookups every request makes.
const CF_ACCESS_ASSERTION_HEADER: HeaderName = HeaderName::from_static(CF_ACCESS_ASSERTION);
const SERVICE_CLIENT_ID_HEADER: HeaderName = HeaderName::from_static(SERVICE_CLIENT_ID);
const SERVICE_CLIENT_SECRET_HEADER: HeaderName = HeaderName::from_static(SERVICE_CLIENT_SECRET);

/// The most verified credentials remembered at once.
const CACHE_CAPACITY: u64 = 100_000;
/// The longest any verified result is remembered, whatever a validator allows.
const CACHE_TTL_CAP: Duration = Duration::from_secs(3600);

/// Why a request was not authenticated. Every variant is a 401 except `Unavailable` (503).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// No credential at all (RFC 6750 §3.1: the challenge carries no error code).
    #[error("no credential")]
    Missing,
    /// A credential the request should not have carried, or carried twice:
    /// `error="invalid_request"`.
    #[error("{0}")]
    BadRequest(&'static str),
    /// A credential was presented and no accepted validator vouched for it:
    /// `error="invalid_token"`.
    #[error("the access token is invalid, expired or not meant for this server")]
    Invalid,
    /// The credential could not be checked (an issuer or the store is down), so the request
    /// fails closed with 503.
    #[error("the credential could not be checked right now")]
    Unavailable,
}

/// An authenticated caller: the principal a validator vouched for, and the identity headers
/// that tell upstreams about it, written once per verified credential rather than per request.
#[derive(Debug)]
pub struct Caller {
    principal: Arc<Principal>,
    identity: OnceLock<HeaderMap>,
}

impl Caller {
    fn new(principal: Arc<Principal>) -> Self {
        Caller {
            principal,
            identity: OnceLock::new(),
        }
    }

    /// Who is calling.
    pub fn principal(&self) -> &Arc<Principal> {
        &self.principal
    }

    /// The `X-Portcullis-*` headers of the principal (`identity::insert`).
    pub fn identity_headers(&self) -> &HeaderMap {
        self.identity.get_or_init(|| {
            let mut headers = HeaderMap::new();
            crate::identity::insert(&self.principal, &mut headers);
            headers
        })
    }
}

#[derive(Debug)]
struct Verified {
    caller: Arc<Caller>,
    /// Seconds since the epoch after which this entry must not be used.
    valid_until: i64,
    /// SHA-256 of the credential's secret, so a revoked credential can be forgotten everywhere.
    credential_hash: [u8; 32],
}

/// What [`Authenticator::lookup`] found.
#[derive(Debug)]
pub enum Lookup {
    /// A cached, live result: the caller.
    Hit(Arc<Caller>),
    /// Credentials that only the validators can check.
    Miss,
    /// No credential, or a malformed one: no validator would be asked.
    Nothing,
}

/// The credential validators and the cache of what they verified.
pub struct Authenticator {
    cache: moka::sync::Cache<[u8; 32], Arc<Verified>>,
    /// `portcullis_credential_cache_total{result="hit"}` and `{result="miss"}`.
    hits: metrics::Counter,
    misses: metrics::Counter,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("cached", &self.cache.entry_count())
            .finish()
    }
}

impl Default for Authenticator {
    fn default() -> Self {
        Self::new()
    }
}

/// The credentials a request carries, in the order they are tried (at most one of each kind).
fn credentials(headers: &HeaderMap) -> Result<[Option<Credential<'_>>; 3], AuthFailure> {
    let mut bearer = None;
    let mut authorization = headers.get_all(AUTHORIZATION).iter();
    if let Some(value) = authorization.next() {
        if authorization.next().is_some() {
            return Err(AuthFailure::BadRequest(
                "more than one Authorization header",
            ));
        }
        let value = value.to_str().map_err(|_| AuthFailure::Invalid)?;
        let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
        // Other schemes (Basic, DPoP, …) are not credentials this gateway takes: as if absent.
        if scheme.eq_ignore_ascii_case("bearer") {
            let token = token.trim_start_matches(' ');
            if !is_b64token(token) {
                return Err(AuthFailure::Invalid);
            }
            bearer = Some(Credential::Bearer(token));
        }
    }
    let id = single(headers, &SERVICE_CLIENT_ID_HEADER)?;
    let secret = single(headers, &SERVICE_CLIENT_SECRET_HEADER)?;
    let service = match (id, secret) {
        (Some(client_id), Some(client_secret)) => Some(Credential::ServiceToken {
            client_id,
            client_secret,
        }),
        (None, None) => None,
        _ => {
            return Err(AuthFailure::BadRequest(
                "a service token needs both Portcullis-Client-Id and Portcullis-Client-Secret",
            ));
        }
    };
    let assertion =
        single(headers, &CF_ACCESS_ASSERTION_HEADER)?.map(Credential::CfAccessAssertion);
    Ok([bearer, service, assertion])
}

/// The value of a header that may appear at most once, as visible ASCII.
fn single<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Result<Option<&'a str>, AuthFailure> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthFailure::BadRequest("a credential header appears twice"));
    }
    let value = value.to_str().map_err(|_| AuthFailure::Invalid)?;
    if value.is_empty() {
        return Err(AuthFailure::Invalid);
    }
    Ok(Some(value))
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// Whether the query string carries an `access_token` parameter (in any case of the name).
pub fn query_has_token(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&').any(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            name.eq_ignore_ascii_case("access_token") || percent_decoded_eq(name, "access_token")
        })
    })
}

/// Compares a percent-encoded query name with `expected`, ignoring case.
fn percent_decoded_eq(name: &str, expected: &str) -> bool {
    if !name.contains('%') {
        return false;
    }
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(name).collect();
    decoded.eq_ignore_ascii_case(expected.as_bytes())
}

/// The cache key of a credential at an upstream: one SHA-256 over the kind of credential, its
/// public part, its secret and the upstream, so a request whose result is cached costs one hash.
fn cache_key(credential: &Credential<'_>, upstream: &str) -> [u8; 32] {
    let (kind, public, secret) = parts(credential);
    let mut hasher = Sha256::new();
    for part in [
        kind,
        public.as_bytes(),
        secret.as_bytes(),
        upstream.as_bytes(),
    ] {
        // Length-prefixed, so no two different tuples hash the same input.
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// The SHA-256 of the credential's secret alone (the form in which the store keeps API-key and
/// service-token secrets), by which [`Authenticator::forget`] finds every entry of a revoked
/// credential. Computed only when a result is cached.
fn secret_hash(credential: &Credential<'_>) -> [u8; 32] {
    Sha256::digest(parts(credential).2.as_bytes()).into()
}

fn parts<'c>(credential: &Credential<'c>) -> (&'static [u8], &'c str, &'c str) {
    match *credential {
        Credential::Bearer(token) => (b"bearer", "", token),
        Credential::CfAccessAssertion(assertion) => (b"cf-access", "", assertion),
        Credential::ServiceToken {
            client_id,
            client_secret,
        } => (b"service", client_id, client_secret),
    }
}

impl Authenticator {
    pub fn new() -> Self {
        Authenticator {
            cache: moka::sync::Cache::builder()
                .max_capacity(CACHE_CAPACITY)
                .time_to_live(CACHE_TTL_CAP)
                .support_invalidation_closures()
                .build(),
            hits: metrics::counter!("portcullis_credential_cache_total", "result" => "hit"),
            misses: metrics::counter!("portcullis_credential_cache_total", "result" => "miss"),
        }
    }

    /// Authenticates a request for `upstream`, whose canonical resource URL is `resource`,
    /// trying each credential against each of `validators` in order; the first that vouches
    /// for a credential wins.
    /// Whether the request's credentials have a live cached result at `upstream`: answering a
    /// miss may take validators to the network, which callers may want to limit first.
    pub fn lookup(&self, upstream: &str, headers: &HeaderMap, now: i64) -> Lookup {
        let Ok(presented) = credentials(headers) else {
            return Lookup::Nothing;
        };
        let mut any = false;
        for credential in presented.iter().flatten() {
            any = true;
            if let Some(hit) = self.cache.get(&cache_key(credential, upstream))
                && hit.valid_until > now
            {
                self.hits.increment(1);
                return Lookup::Hit(hit.caller.clone());
            }
        }
        if any { Lookup::Miss } else { Lookup::Nothing }
    }

    pub async fn authenticate(
        &self,
        upstream: &str,
        resource: &str,
        validators: &[Arc<dyn Validator>],
        headers: &HeaderMap,
        query: Option<&str>,
        now: i64,
    ) -> Result<Arc<Caller>, AuthFailure> {
        if query_has_token(query) {
            return Err(AuthFailure::BadRequest(
                "access tokens are not accepted in the query string",
            ));
        }
        let presented = credentials(headers)?;
        if presented.iter().all(Option::is_none) {
            return Err(AuthFailure::Missing);
        }
        let context = Context { resource, now };
        let mut unavailable = false;
        for credential in presented.iter().flatten() {
            let key = cache_key(credential, upstream);
            if let Some(hit) = self.cache.get(&key) {
                if hit.valid_until > now {
                    self.hits.increment(1);
                    return Ok(hit.caller.clone());
                }
                self.cache.invalidate(&key);
            }
            self.misses.increment(1);
            for validator in validators {
                let checked = validator.validate(*credential, context).await;
                let result = match &checked {
                    Ok(_) => "valid",
                    Err(Rejection::NotApplicable) => "not_applicable",
                    Err(Rejection::Invalid(_)) => "invalid",
                    Err(Rejection::Unavailable(_)) => "unavailable",
                };
                metrics::counter!("portcullis_credential_checks_total", "validator" => validator.id().to_owned(), "result" => result).increment(1);
                match checked {
                    Ok(principal) => {
                        if principal.expires_at.is_some_and(|at| at <= now) {
                            tracing::info!(
                                validator = validator.id(),
                                "credential refused: expired"
                            );
                            continue;
                        }
                        let ttl = validator.cache_ttl().min(CACHE_TTL_CAP);
                        let ttl_secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
                        let valid_until = principal
                            .expires_at
                            .unwrap_or(i64::MAX)
                            .min(now.saturating_add(ttl_secs));
                        let caller = Arc::new(Caller::new(Arc::new(principal)));
                        if valid_until > now {
                            self.cache.insert(
                                key,
                                Arc::new(Verified {
                                    caller: caller.clone(),
                                    valid_until,
                                    credential_hash: secret_hash(credential),
                                }),
                            );
                        }
                        return Ok(caller);
                    }
                    Err(Rejection::NotApplicable) => {}
                    Err(Rejection::Invalid(reason)) => {
                        tracing::info!(validator = validator.id(), %upstream, %reason, "credential refused");
                    }
                    Err(Rejection::Unavailable(reason)) => {
                        tracing::warn!(validator = validator.id(), %upstream, %reason, "credential could not be checked");
                        unavailable = true;
                    }
                }
            }
        }
        Err(if unavailable {
            AuthFailure::Unavailable
        } else {
            AuthFailure::Invalid
        })
    }

    /// Forgets every cached result whose principal `revoked` says is revoked (a Portcullis access
    /// token or grant revoked since it was verified).
    pub fn forget_revoked(&self, revoked: &Arc<portcullis_core::auth::RevocationList>) {
        let revoked = revoked.clone();
        // Built with support for invalidation closures, so this cannot fail.
        let _ = self
            .cache
            .invalidate_entries_if(move |_, v| revoked.revokes(&v.caller.principal));
    }

    /// Forgets, at every upstream, the cached results of the credential whose secret hashes to
    /// `secret_hash` (SHA-256, as the store keeps API keys and service tokens): a revocation
    /// takes effect on the next request.
    pub fn forget(&self, secret_hash: [u8; 32]) {
        // Invalidation closures only fail when the cache was built without support for them,
        // and this one is built with it.
        let _ = self
            .cache
            .invalidate_entries_if(move |_, v| v.credential_hash == secret_hash);
    }
}

/// What an upstream's challenges say: where its protected resource metadata is and which
/// scopes to ask for. Built once per upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceChallenge {
    /// `{public_url}/.well-known/oauth-protected-resource/servers/{name}/mcp`.
    pub resource_metadata: String,
    /// The upstream's `scopes`.
    pub scopes: Vec<String>,
}

#[cfg(test)]
mod tests;
