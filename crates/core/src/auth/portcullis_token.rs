//! The `portcullis` validator: Portcullis's own access tokens (RFC 9068 JWTs from its
//! authorization server), accepted by every upstream with `auth = "oauth"`.
//!
//! A token is accepted only for the resource it was issued for (`aud`), with the `at+jwt` type,
//! Portcullis's issuer and one of its published keys, and only while neither the token (`jti`)
//! nor its grant is on the revocation list — which the process fills from its own revocations at
//! once and from the store's when it is told of or polls for changes (other replicas').

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use async_trait::async_trait;

use super::{Context, Credential, Principal, Rejection, Validator};
use crate::oauth::access_token::{self, CLIENT_CREDENTIALS, GRANT_CLAIM};
use crate::signing::LiveKeys;

/// The id of the validator (reserved: no `[[validators]]` entry may take it).
pub const PORTCULLIS_VALIDATOR: &str = "portcullis";
/// How long a verified token is reused without checking its signature again. Revocations drop
/// entries at once, so this only bounds the work, not the exposure.
const CACHE_TTL: Duration = Duration::from_secs(300);

/// Revoked access tokens and grants, as far as this process knows, each with when it was
/// learnt (seconds since the Unix epoch), so entries can go once no token they stop can still be
/// valid.
#[derive(Debug, Default)]
pub struct RevocationList {
    tokens: RwLock<HashMap<String, i64>>,
    grants: RwLock<HashMap<String, i64>>,
}

impl RevocationList {
    pub fn revoke_token(&self, jti: &str, now: i64) {
        self.tokens
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(jti.to_owned())
            .or_insert(now);
    }

    pub fn revoke_grant(&self, grant_id: &str, now: i64) {
        self.grants
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(grant_id.to_owned())
            .or_insert(now);
    }

    /// Whether the principal's token or grant is revoked.
    pub fn revokes(&self, principal: &Principal) -> bool {
        principal.token_id.as_ref().is_some_and(|jti| {
            self.tokens
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .contains_key(jti)
        }) || principal.grant_id.as_ref().is_some_and(|grant| {
            self.grants
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .contains_key(grant)
        })
    }

    /// Forgets entries learnt before `before`: by then every access token they could stop has
    /// expired (the caller passes now minus the longest access-token lifetime and the leeway).
    pub fn prune(&self, before: i64) {
        for map in [&self.tokens, &self.grants] {
            map.write()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|_, at| *at >= before);
        }
    }
}

/// Verifies Portcullis's access tokens.
#[derive(Debug)]
pub struct PortcullisTokens {
    issuer: String,
    keys: Arc<LiveKeys>,
    revoked: Arc<RevocationList>,
}

impl PortcullisTokens {
    pub fn new(issuer: &str, keys: Arc<LiveKeys>, revoked: Arc<RevocationList>) -> Self {
        PortcullisTokens {
            issuer: issuer.trim_end_matches('/').to_owned(),
            keys,
            revoked,
        }
    }
}

/// The `iss` of a compact JWS, unverified: only to tell whether the token is ours to judge.
fn unverified_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = super::jwt::b64url(payload)?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

#[async_trait]
impl Validator for PortcullisTokens {
    fn id(&self) -> &str {
        PORTCULLIS_VALIDATOR
    }

    fn cache_ttl(&self) -> Duration {
        CACHE_TTL
    }

    fn authorization_server(&self) -> Option<&str> {
        Some(&self.issuer)
    }

    async fn validate(
        &self,
        credential: Credential<'_>,
        context: Context<'_>,
    ) -> Result<Principal, Rejection> {
        let Credential::Bearer(token) = credential else {
            return Err(Rejection::NotApplicable);
        };
        if unverified_issuer(token).as_deref() != Some(self.issuer.as_str()) {
            return Err(Rejection::NotApplicable);
        }
        let now = time::OffsetDateTime::from_unix_timestamp(context.now)
            .map_err(|_| Rejection::invalid("the clock is out of range"))?;
        let claims = access_token::verify(
            &self.keys.current(),
            token,
            &self.issuer,
            &[context.resource],
            now,
        )
        .map_err(|e| Rejection::invalid(e.to_string()))?;
        let string = |name: &str| claims.string(name).ok().flatten().map(str::to_owned);
        let sub = string("sub").ok_or_else(|| Rejection::invalid("the token has no sub"))?;
        let client_credentials = string("gty").as_deref() == Some(CLIENT_CREDENTIALS);
        let mut principal = if client_credentials {
            Principal::new(PORTCULLIS_VALIDATOR, &format!("client:{sub}"))
        } else {
            Principal::new(PORTCULLIS_VALIDATOR, &sub)
        };
        principal.email = string("email");
        principal.email_verified = claims
            .get("email_verified")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false);
        principal.name = string("name");
        principal.tenant = string("tenant");
        let strings = |name: &str| -> Vec<String> {
            claims
                .get(name)
                .and_then(serde_json::Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        principal.groups = strings("groups");
        principal.auth_methods = strings("amr");
        principal.scopes = string("scope")
            .map(|s| s.split_ascii_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        principal.expires_at = claims.number("exp").ok().flatten();
        principal.token_id = string("jti");
        principal.grant_id = string(GRANT_CLAIM);
        principal.client_id = string("client_id");
        if self.revoked.revokes(&principal) {
            return Err(Rejection::invalid(
                "the access token or its grant was revoked",
            ));
        }
        Ok(principal)
    }
}
