//! The identity token an upstream can ask for (`identity_token = true`): a short-lived JWT,
//! signed by Portcullis, that says who is calling — for upstreams that would rather verify a
//! signature (with Portcullis's JWKS) than trust headers on a network path.
//!
//! Signing costs tens of microseconds, so a token is reused for the same caller at the same
//! upstream while it has at least half of its life left; its `jti` is therefore not unique per
//! request, and upstreams must not use it to detect replays.

use std::sync::Arc;

use http::HeaderValue;
use portcullis_core::auth::Principal;
use portcullis_core::auth::identity_token::{IDENTITY_TOKEN_TTL_SECS, mint_identity_token};
use portcullis_core::signing::LiveKeys;
use time::OffsetDateTime;

use crate::{RelayError, Upstream};

/// The most identity tokens kept for reuse.
const CACHE_CAPACITY: u64 = 10_000;

/// Mints identity tokens and keeps each for reuse while it has half its life left.
pub(crate) struct IdentityTokens {
    ring: Option<Arc<LiveKeys>>,
    /// The `iss` of every token: Portcullis's public URL.
    issuer: String,
    /// (upstream, caller) → (header value, when it stops being reused).
    cache: moka::sync::Cache<(String, Arc<Principal>), (HeaderValue, i64)>,
}

impl std::fmt::Debug for IdentityTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityTokens")
            .field("issuer", &self.issuer)
            .field("signing", &self.ring.is_some())
            .finish_non_exhaustive()
    }
}

impl IdentityTokens {
    pub(crate) fn new(ring: Option<Arc<LiveKeys>>, issuer: &str) -> Self {
        IdentityTokens {
            ring,
            issuer: issuer.to_owned(),
            cache: moka::sync::Cache::builder()
                .max_capacity(CACHE_CAPACITY)
                .time_to_live(std::time::Duration::from_secs(
                    IDENTITY_TOKEN_TTL_SECS.unsigned_abs(),
                ))
                .build(),
        }
    }

    pub(crate) fn can_sign(&self) -> bool {
        self.ring.is_some()
    }

    /// The header value carrying a token for `caller` at `upstream`: `Bearer <token>` in
    /// `Authorization`, the bare token in any other header.
    pub(crate) fn get(
        &self,
        upstream: &Upstream,
        caller: &Arc<Principal>,
    ) -> Result<HeaderValue, RelayError> {
        let now = OffsetDateTime::now_utc();
        let key = (upstream.name.clone(), caller.clone());
        if let Some((value, reuse_until)) = self.cache.get(&key)
            && now.unix_timestamp() < reuse_until
        {
            return Ok(value);
        }
        let unavailable = || RelayError::Signing {
            upstream: upstream.name.clone(),
        };
        let ring = self.ring.as_deref().ok_or_else(unavailable)?.current();
        let token = mint_identity_token(
            &ring,
            caller,
            &self.issuer,
            &upstream.resource,
            now,
            IDENTITY_TOKEN_TTL_SECS,
            &mut rand::rng(),
        )
        .map_err(|e| {
            tracing::error!(upstream = %upstream.name, error = %e, "cannot sign an identity token");
            unavailable()
        })?;
        let bearer = upstream
            .identity_token
            .as_ref()
            .is_some_and(|h| h == http::header::AUTHORIZATION);
        let text = if bearer {
            format!("Bearer {token}")
        } else {
            token
        };
        let mut value = HeaderValue::try_from(text).map_err(|_| unavailable())?;
        value.set_sensitive(true);
        // Reused while at least half its life is left (and never past the caller's expiry,
        // which the token's own `exp` already respects).
        let mut reuse_until = now.unix_timestamp() + IDENTITY_TOKEN_TTL_SECS / 2;
        if let Some(expires_at) = caller.expires_at {
            reuse_until = reuse_until.min(expires_at);
        }
        self.cache.insert(key, (value.clone(), reuse_until));
        Ok(value)
    }

    /// The public keys that verify the tokens.
    pub(crate) fn jwks(&self, now: OffsetDateTime) -> serde_json::Value {
        match &self.ring {
            Some(ring) => ring.current().jwks(now),
            None => serde_json::json!({ "keys": [] }),
        }
    }
}
