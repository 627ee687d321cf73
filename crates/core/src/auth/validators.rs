//! The configured validators (`[[validators]]`), one module per kind, and
//! [`build_validators`], which turns the configuration into them.
//!
//! Building is pure and makes no request: keys are fetched on first use, so `config check` can
//! build every validator to report missing or short secrets without touching the network.

mod cloudflare_access;
mod github;
mod google;
mod hs256;
mod introspection;
mod jwt;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::jwks::{CachePolicy, JwksCache, KeySource};
use super::jwt::{Claims, Expected, Jws, JwtError, KeySet, TokenTypes, asymmetric_algorithm};
use super::{
    Context, Credential, Fetch, FetchError, FetchResponse, Principal, Rejection, Tenants, Validator,
};
use crate::config::validator_defaults as defaults;
use crate::config::{Config, ConfigError, ConfigProblem, ValidatorConfig, ValidatorKind};

/// Reads an environment variable as raw bytes (`std::env::var_os` in the binary, a map in tests).
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<Vec<u8>>;

/// Builds every `[[validators]]` entry of `config`, in order. Secrets named by `*_env` keys are
/// read through `env` now, so a missing or short secret is reported at start-up (and by
/// `config check`), naming the key. Installs the JWT crypto provider (idempotent).
pub fn build_validators(
    config: &Config,
    fetch: Arc<dyn Fetch>,
    env: EnvLookup<'_>,
) -> Result<Vec<Arc<dyn Validator>>, ConfigError> {
    super::install_crypto_provider();
    let tenants = Arc::new(Tenants {
        by_email_domain: config.tenants.by_email_domain.clone(),
    });
    let mut validators: Vec<Arc<dyn Validator>> = Vec::new();
    let mut problems = Vec::new();
    for entry in &config.validators {
        let v = entry.with_defaults();
        let parts = Parts {
            config: &v,
            fetch: fetch.clone(),
            env,
            tenants: tenants.clone(),
            tenant_claim: config.tenants.claim.as_deref(),
        };
        let built = match v.kind {
            ValidatorKind::Jwt => jwt::build(&parts).map(|k| parts.configured(k)),
            ValidatorKind::Hs256 => hs256::build(&parts).map(|k| parts.configured(k)),
            ValidatorKind::Introspection => {
                introspection::build(&parts).map(|k| parts.configured(k))
            }
            ValidatorKind::Github => github::build(&parts).map(|k| parts.configured(k)),
            ValidatorKind::Google => google::build(&parts).map(|k| parts.configured(k)),
            ValidatorKind::CloudflareAccess => {
                cloudflare_access::build(&parts).map(|k| parts.configured(k))
            }
        };
        match built {
            Ok(validator) => validators.push(validator),
            Err(BuildProblem { field, problem }) => problems.push(ConfigProblem {
                key: format!("validators[{}].{field}", v.id),
                problem,
            }),
        }
    }
    if problems.is_empty() {
        Ok(validators)
    } else {
        Err(ConfigError { problems })
    }
}

/// The check of one kind of validator; [`Configured`] adds what every kind shares.
#[async_trait]
trait Verify: Send + Sync + fmt::Debug {
    /// Verifies `credential` for the validator `id` (the prefix of the principal's subject).
    async fn verify(
        &self,
        id: &str,
        credential: Credential<'_>,
        context: Context<'_>,
    ) -> Result<Principal, Rejection>;
}

/// A validator as configured: its id and cache limit around the check of its kind.
#[derive(Debug)]
struct Configured<V> {
    id: String,
    cache_ttl: Duration,
    /// The OAuth authorization server clients can get this validator's tokens from.
    authorization_server: Option<String>,
    kind: V,
}

#[async_trait]
impl<V: Verify> Validator for Configured<V> {
    fn id(&self) -> &str {
        &self.id
    }

    fn cache_ttl(&self) -> Duration {
        self.cache_ttl
    }

    fn authorization_server(&self) -> Option<&str> {
        self.authorization_server.as_deref()
    }

    async fn validate(
        &self,
        credential: Credential<'_>,
        context: Context<'_>,
    ) -> Result<Principal, Rejection> {
        self.kind.verify(&self.id, credential, context).await
    }
}

/// What a kind's `build` gets.
struct Parts<'a> {
    /// The entry with its defaults filled in.
    config: &'a ValidatorConfig,
    fetch: Arc<dyn Fetch>,
    env: EnvLookup<'a>,
    tenants: Arc<Tenants>,
    /// `[tenants] claim`.
    tenant_claim: Option<&'a str>,
}

/// A problem with one key of the entry being built.
#[derive(Debug)]
struct BuildProblem {
    field: &'static str,
    problem: String,
}

impl BuildProblem {
    fn new(field: &'static str, problem: impl Into<String>) -> Self {
        BuildProblem {
            field,
            problem: problem.into(),
        }
    }
}

impl Parts<'_> {
    fn configured<V: Verify + 'static>(&self, kind: V) -> Arc<dyn Validator> {
        // Only kinds whose tokens come from an OAuth authorization server that clients can
        // discover are advertised; hs256 secrets, GitHub tokens and Cloudflare assertions are not
        // obtained through a flow an MCP client could run against the issuer named here.
        let authorization_server = match self.config.kind {
            ValidatorKind::Jwt | ValidatorKind::Google | ValidatorKind::Introspection => {
                self.config.issuer.clone()
            }
            ValidatorKind::Hs256 | ValidatorKind::Github | ValidatorKind::CloudflareAccess => None,
        };
        Arc::new(Configured {
            id: self.config.id.clone(),
            cache_ttl: self.config.cache_ttl,
            authorization_server,
            kind,
        })
    }

    /// A key validation guarantees for this kind; its absence is still reported, not assumed.
    fn required(
        &self,
        field: &'static str,
        value: &Option<String>,
    ) -> Result<String, BuildProblem> {
        value
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| BuildProblem::new(field, "is required"))
    }

    fn list(value: &Option<Vec<String>>) -> Vec<String> {
        value.clone().unwrap_or_default()
    }

    /// The secret in the environment variable named by `field`.
    fn secret(&self, field: &'static str, name: &Option<String>) -> Result<Secret, BuildProblem> {
        let name = self.required(field, name)?;
        match (self.env)(&name) {
            Some(bytes) if !bytes.is_empty() => Ok(Secret(bytes)),
            _ => Err(BuildProblem::new(
                field,
                format!("the environment variable {name} is not set or empty"),
            )),
        }
    }

    /// The JWKS cache of a validator whose keys come from `source`.
    fn jwks(&self, source: KeySource) -> Result<Keys, BuildProblem> {
        let v = self.config;
        let algorithms = Self::list(&v.algorithms)
            .iter()
            .map(|name| {
                asymmetric_algorithm(name).ok_or_else(|| {
                    BuildProblem::new("algorithms", format!("{name:?} is not allowed"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let algorithms = if algorithms.is_empty() {
            // Kinds without an `algorithms` key take what their issuer publishes.
            crate::config::JWT_ALGORITHMS
                .iter()
                .filter_map(|n| asymmetric_algorithm(n))
                .collect()
        } else {
            algorithms
        };
        let policy = CachePolicy {
            ttl: v.jwks_cache_ttl.unwrap_or_else(defaults::jwks_cache_ttl),
            max_stale: v.jwks_max_stale.unwrap_or_else(defaults::jwks_max_stale),
            unknown_kid_cooldown: v
                .unknown_kid_cooldown
                .unwrap_or_else(defaults::unknown_kid_cooldown),
        };
        Ok(Keys::Cached(Box::new(JwksCache::new(
            source,
            self.fetch.clone(),
            v.allow_private_network,
            algorithms,
            policy,
        ))))
    }
}

/// A secret read from the environment; never printed.
#[derive(Clone)]
struct Secret(Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Where a JWT validator's keys come from.
#[derive(Debug)]
enum Keys {
    /// Fixed keys (a shared secret).
    Static(Arc<KeySet>),
    Cached(Box<JwksCache>),
}

/// The verification every JWT-reading validator shares: parse, route by issuer, find the key,
/// verify, check the registered claims.
#[derive(Debug)]
struct JwtCore {
    /// Accepted `iss` values; also how a token is recognised as this validator's.
    issuers: Vec<String>,
    /// Accepted `aud` values; empty means the resource being called.
    audiences: Vec<String>,
    token_types: TokenTypes,
    keys: Keys,
}

impl JwtCore {
    /// Parses `token` and says whether it is this validator's: a compact JWS whose (unverified)
    /// `iss` is one of ours. Anything else is [`Rejection::NotApplicable`], so the gateway can
    /// try the next validator.
    fn parse<'a>(&self, token: &'a str) -> Result<Jws<'a>, Rejection> {
        let jws = match Jws::parse(token) {
            Ok(jws) => jws,
            Err(JwtError::Malformed(_)) => return Err(Rejection::NotApplicable),
            Err(e) => return Err(invalid(e)),
        };
        match jws.unverified_issuer() {
            Some(iss) if self.issuers.iter().any(|i| i == iss) => Ok(jws),
            _ => Err(Rejection::NotApplicable),
        }
    }

    /// [`JwtCore::parse`], then [`JwtCore::verify`].
    async fn check(&self, token: &str, context: Context<'_>) -> Result<Claims, Rejection> {
        let jws = self.parse(token)?;
        self.verify(jws, context).await
    }

    async fn verify(&self, jws: Jws<'_>, context: Context<'_>) -> Result<Claims, Rejection> {
        let keys = match &self.keys {
            Keys::Static(keys) => keys.clone(),
            Keys::Cached(cache) => cache.keys(jws.kid(), context.now).await?,
        };
        let issuers: Vec<&str> = self.issuers.iter().map(String::as_str).collect();
        let audiences: Vec<&str> = if self.audiences.is_empty() {
            vec![context.resource]
        } else {
            self.audiences.iter().map(String::as_str).collect()
        };
        let expected = Expected {
            issuers: &issuers,
            audiences: &audiences,
            token_types: &self.token_types,
            now: context.now,
        };
        jws.verify(&keys, &expected).map_err(invalid)
    }
}

fn invalid(e: JwtError) -> Rejection {
    Rejection::Invalid(e.to_string())
}

/// The outcome of an outbound call to an identity provider's API, in the terms of a rejection:
/// 200 gives the JSON object; 400 and 401 mean the token is bad; anything else, or no answer,
/// means the check could not be made. `what` names the endpoint in reasons.
fn api_answer(
    what: &str,
    result: Result<FetchResponse, FetchError>,
) -> Result<serde_json::Map<String, serde_json::Value>, Rejection> {
    let response = result.map_err(|e| Rejection::Unavailable(format!("{what}: {e}")))?;
    match response.status {
        200 => super::jwt::json_object(&response.body)
            .ok_or_else(|| Rejection::Unavailable(format!("{what} did not answer a JSON object"))),
        400 | 401 => Err(Rejection::Invalid(format!(
            "{what} refused the token (HTTP {})",
            response.status
        ))),
        status => Err(Rejection::Unavailable(format!(
            "{what} answered HTTP {status}"
        ))),
    }
}

/// Checks `exp` and `nbf` of claims that did not come from a JWT (introspection, tokeninfo).
fn check_times(claims: &Claims, now: i64) -> Result<(), Rejection> {
    let leeway = super::LEEWAY_SECS;
    if let Some(exp) = claims.number("exp").map_err(invalid)?
        && exp.saturating_add(leeway) <= now
    {
        return Err(invalid(JwtError::Expired));
    }
    if let Some(nbf) = claims.number("nbf").map_err(invalid)?
        && nbf > now.saturating_add(leeway)
    {
        return Err(invalid(JwtError::NotYetValid));
    }
    Ok(())
}

/// Prefixes of GitHub tokens (personal, OAuth, user-to-server, server-to-server, fine-grained).
const GITHUB_PREFIXES: &[&str] = &["ghp_", "gho_", "ghu_", "ghs_", "github_pat_"];
/// The prefix of Google OAuth access tokens.
const GOOGLE_ACCESS_PREFIX: &str = "ya29.";

/// Whether `token` is recognisably an access token of GitHub or Google: such tokens are never
/// sent to another party's endpoint (an introspection server would learn them).
fn is_foreign_opaque_token(token: &str) -> bool {
    GITHUB_PREFIXES.iter().any(|p| token.starts_with(p)) || token.starts_with(GOOGLE_ACCESS_PREFIX)
}

#[cfg(test)]
mod tests;
