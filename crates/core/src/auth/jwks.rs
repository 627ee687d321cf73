//! An issuer's keys, fetched from its JWKS (or found through OIDC discovery) and cached.
//!
//! The cache follows §4.5 and §4.7 of the security notes:
//! - keys are fetched again after `jwks_cache_ttl`; concurrent validations that need a fetch wait
//!   for one fetch (single flight), never start their own;
//! - a token with an unknown `kid` (the issuer may have rotated) causes at most one fetch per
//!   `unknown_kid_cooldown`, so made-up kids cannot turn into a flood of fetches;
//! - when a fetch fails, the last good keys serve until they are `jwks_max_stale` old, then every
//!   token is refused as "cannot be checked" until a fetch succeeds; failed attempts are not
//!   retried more often than the cooldown either, so an outage does not make every request wait
//!   for a timeout;
//! - a document that yields no usable key never replaces a good set.
//!
//! Only keys with `use` absent or `sig`, a supported key type, and an algorithm in the validator's
//! allowlist are kept; each key gets exactly one algorithm (its `alg`, or the one its type and
//! curve imply), which is the only algorithm tokens signed with it may claim.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

use super::jwt::{KeySet, VerifyingKey, asymmetric_algorithm, b64url, json_object};
use super::{Fetch, FetchRequest, Rejection};

/// The largest JWKS or discovery document accepted, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// RSA keys shorter than this are refused (RFC 8725 §3.5 and every current guideline).
const MIN_RSA_BITS: usize = 2048;

/// Where the keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A JWKS URL.
    Jwks(String),
    /// OIDC discovery for this issuer: the `jwks_uri` of
    /// `{issuer}/.well-known/openid-configuration`, whose `issuer` must equal this one exactly.
    Discovery { issuer: String },
}

/// The cache's timing, from the validator's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    pub ttl: Duration,
    pub max_stale: Duration,
    pub unknown_kid_cooldown: Duration,
}

/// The cached keys of one validator.
#[derive(Debug)]
pub struct JwksCache {
    source: KeySource,
    fetch: Arc<dyn Fetch>,
    allow_private_network: bool,
    /// Algorithms the validator accepts; keys for others are dropped.
    algorithms: Vec<Algorithm>,
    policy: CachePolicy,
    state: Mutex<State>,
    /// Held for the duration of a fetch: the single flight.
    flight: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct State {
    keys: Option<Arc<KeySet>>,
    /// When `keys` were fetched.
    fetched_at: i64,
    /// When the last fetch was attempted, successful or not.
    attempted_at: Option<i64>,
    /// Counts finished attempts, so a caller that waited for another's fetch can tell.
    attempts: u64,
    /// The `jwks_uri` found by discovery.
    discovered: Option<String>,
    /// Why the last attempt failed, if it did.
    last_error: Option<String>,
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl JwksCache {
    pub fn new(
        source: KeySource,
        fetch: Arc<dyn Fetch>,
        allow_private_network: bool,
        algorithms: Vec<Algorithm>,
        policy: CachePolicy,
    ) -> Self {
        JwksCache {
            source,
            fetch,
            allow_private_network,
            algorithms,
            policy,
            state: Mutex::new(State::default()),
            flight: tokio::sync::Mutex::new(()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is plain data, consistent after every assignment: a panic elsewhere while
        // holding the lock leaves nothing half-written.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The keys to verify a token with `kid` at `now`: fresh keys, keys fetched again because of
    /// an unknown `kid` (at most once per cooldown), or last good keys during an outage. The
    /// returned set may still lack `kid`; the verifier then refuses the token.
    pub async fn keys(&self, kid: Option<&str>, now: i64) -> Result<Arc<KeySet>, Rejection> {
        let seen = {
            let state = self.state();
            match self.decide(&state, kid, now) {
                Decision::Use(keys) => return Ok(keys),
                Decision::Fetch => state.attempts,
                Decision::Fail => return Err(self.unavailable(&state)),
            }
        };
        let _flight = self.flight.lock().await;
        let attempts = self.state().attempts;
        if attempts == seen {
            self.refresh(now).await;
        }
        // Whether this caller fetched or waited for another's fetch, the outcome is in the
        // state; decide again, but never fetch twice for one call.
        let state = self.state();
        match self.decide(&state, kid, now) {
            Decision::Use(keys) => Ok(keys),
            Decision::Fetch => match (&state.keys, self.usable(&state, now)) {
                (Some(keys), true) => Ok(keys.clone()),
                _ => Err(self.unavailable(&state)),
            },
            Decision::Fail => Err(self.unavailable(&state)),
        }
    }

    /// Are the cached keys young enough to use while fetching fails?
    fn usable(&self, state: &State, now: i64) -> bool {
        state.keys.is_some() && now.saturating_sub(state.fetched_at) <= secs(self.policy.max_stale)
    }

    fn decide(&self, state: &State, kid: Option<&str>, now: i64) -> Decision {
        let since_attempt = state
            .attempted_at
            .map_or(i64::MAX, |t| now.saturating_sub(t));
        let may_fetch = since_attempt >= secs(self.policy.unknown_kid_cooldown);
        let Some(keys) = &state.keys else {
            return if may_fetch {
                Decision::Fetch
            } else {
                Decision::Fail
            };
        };
        let fresh = now.saturating_sub(state.fetched_at) < secs(self.policy.ttl);
        let knows = keys.knows(kid);
        if (fresh && knows) || !may_fetch {
            if fresh || self.usable(state, now) {
                return Decision::Use(keys.clone());
            }
            return Decision::Fail;
        }
        Decision::Fetch
    }

    fn unavailable(&self, state: &State) -> Rejection {
        let why = state
            .last_error
            .clone()
            .unwrap_or_else(|| "no keys".to_owned());
        if state.keys.is_some() {
            Rejection::Unavailable(format!(
                "the issuer's keys are older than jwks_max_stale and cannot be fetched: {why}"
            ))
        } else {
            Rejection::Unavailable(format!("the issuer's keys cannot be fetched: {why}"))
        }
    }

    /// One fetch attempt; the outcome goes into the state.
    async fn refresh(&self, now: i64) {
        let result = self.fetch_keys().await;
        let mut state = self.state();
        state.attempted_at = Some(now);
        state.attempts = state.attempts.wrapping_add(1);
        match result {
            Ok((keys, discovered)) => {
                state.keys = Some(Arc::new(keys));
                state.fetched_at = now;
                state.discovered = discovered;
                state.last_error = None;
            }
            Err(e) => {
                // Discovery is repeated on the next attempt: the document may have moved.
                state.discovered = None;
                state.last_error = Some(e);
            }
        }
    }

    async fn fetch_keys(&self) -> Result<(KeySet, Option<String>), String> {
        let (jwks_uri, discovered) = match &self.source {
            KeySource::Jwks(uri) => (uri.clone(), None),
            KeySource::Discovery { issuer } => {
                let known = self.state().discovered.clone();
                let uri = match known {
                    Some(uri) => uri,
                    None => self.discover(issuer).await?,
                };
                (uri.clone(), Some(uri))
            }
        };
        let body = self.get(&jwks_uri).await?;
        let keys = parse_jwks(&body, &self.algorithms)?;
        Ok((keys, discovered))
    }

    async fn discover(&self, issuer: &str) -> Result<String, String> {
        // OpenID Connect Discovery §4: a terminating '/' of the issuer is removed first.
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let body = self.get(&url).await?;
        let doc = json_object(&body).ok_or("the discovery document is not a JSON object")?;
        // §4.3: the issuer in the document must be identical to the one it was found for, or a
        // document served for one issuer could vouch for keys of another.
        if doc.get("issuer").and_then(Value::as_str) != Some(issuer) {
            return Err("the discovery document names another issuer".to_owned());
        }
        let jwks_uri = doc
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or("the discovery document has no jwks_uri")?;
        let scheme_ok = url::Url::parse(jwks_uri).is_ok_and(|u| {
            u.scheme() == "https" || (u.scheme() == "http" && self.allow_private_network)
        });
        if !scheme_ok {
            return Err("the discovered jwks_uri is not an https URL".to_owned());
        }
        Ok(jwks_uri.to_owned())
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        let response = self
            .fetch
            .fetch(FetchRequest::get(url, self.allow_private_network))
            .await
            .map_err(|e| e.to_string())?;
        if response.status != 200 {
            return Err(format!("{url} answered HTTP {}", response.status));
        }
        if response.body.len() > MAX_DOCUMENT_BYTES {
            return Err(format!(
                "{url} answered more than {MAX_DOCUMENT_BYTES} bytes"
            ));
        }
        Ok(response.body.to_vec())
    }
}

enum Decision {
    Use(Arc<KeySet>),
    Fetch,
    Fail,
}

/// Parses a JWKS, keeping the keys this validator can use. A document with no usable key is an
/// error, so it never replaces a good set.
pub fn parse_jwks(body: &[u8], allowed: &[Algorithm]) -> Result<KeySet, String> {
    let doc = json_object(body).ok_or("the JWKS is not a JSON object")?;
    let Some(Value::Array(entries)) = doc.get("keys") else {
        return Err("the JWKS has no keys array".to_owned());
    };
    let keys: Vec<VerifyingKey> = entries
        .iter()
        .filter_map(Value::as_object)
        .filter_map(parse_jwk)
        .filter(|k| allowed.contains(&k.alg))
        .collect();
    if keys.is_empty() {
        return Err("the JWKS has no usable signing key".to_owned());
    }
    Ok(KeySet::new(keys))
}

/// One JWK, or `None` when it is not a signing key this verifier supports.
fn parse_jwk(jwk: &Map<String, Value>) -> Option<VerifyingKey> {
    let text = |name: &str| jwk.get(name).and_then(Value::as_str);
    if jwk.get("use").is_some_and(|u| u.as_str() != Some("sig")) {
        return None;
    }
    // A non-string kid or alg is a broken key, not a key without them.
    for member in ["kid", "alg", "kty", "crv"] {
        if jwk.get(member).is_some_and(|v| !v.is_string()) {
            return None;
        }
    }
    let declared = match text("alg") {
        Some(name) => Some(asymmetric_algorithm(name)?),
        None => None,
    };
    let component = |name: &str| text(name).and_then(b64url);
    let (alg, key) = match (text("kty")?, text("crv")) {
        ("RSA", _) => {
            // Without `alg`, RS256: the algorithm OpenID Connect assumes.
            let alg = declared.unwrap_or(Algorithm::RS256);
            if !matches!(
                alg,
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            ) {
                return None;
            }
            let n = component("n")?;
            let e = component("e")?;
            let significant = n.iter().skip_while(|b| **b == 0).count();
            if significant * 8 < MIN_RSA_BITS || e.is_empty() {
                return None;
            }
            (alg, DecodingKey::from_rsa_raw_components(&n, &e))
        }
        ("EC", Some(crv)) => {
            let (alg, size) = match crv {
                "P-256" => (Algorithm::ES256, 32),
                "P-384" => (Algorithm::ES384, 48),
                _ => return None,
            };
            if declared.is_some_and(|d| d != alg) {
                return None;
            }
            let x = component("x")?;
            let y = component("y")?;
            if x.len() != size || y.len() != size {
                return None;
            }
            // The uncompressed point, which is what jsonwebtoken's EC verifier takes.
            let mut point = Vec::with_capacity(1 + 2 * size);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            (alg, DecodingKey::from_ec_der(&point))
        }
        ("OKP", Some("Ed25519")) => {
            if declared.is_some_and(|d| d != Algorithm::EdDSA) {
                return None;
            }
            let x = component("x")?;
            if x.len() != 32 {
                return None;
            }
            (Algorithm::EdDSA, DecodingKey::from_ed_der(&x))
        }
        _ => return None,
    };
    Some(VerifyingKey::new(text("kid").map(str::to_owned), alg, key))
}

#[cfg(test)]
mod tests;
