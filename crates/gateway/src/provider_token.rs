//! The caller's token at an identity provider, for upstreams with `pass_provider_token`: the
//! MCP server acts as the user at GitHub, Google… with the token the user's sign-in there gave
//! Portcullis. The client's own Portcullis token is never what the upstream receives.
//!
//! Tokens come from the store (sealed) through `portcullis_core::federation::tokens`, which
//! refreshes an expired one. A token read is kept in memory for a short while (at most
//! [`CACHE_TTL`], never past its expiry), so a busy session does not open the sealed row on
//! every request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::{HeaderName, HeaderValue};
use portcullis_core::auth::Principal;
use portcullis_core::auth::portcullis_token::PORTCULLIS_VALIDATOR;
use portcullis_core::crypto::Sealer;
use portcullis_core::federation::{FederationError, Providers, tokens};
use portcullis_store::Store;

use crate::RelayError;

/// How long a provider token read from the store is reused without reading it again.
const CACHE_TTL: Duration = Duration::from_secs(30);
/// The most tokens kept in memory; past it the cache starts over.
const CACHE_MAX: usize = 10_000;

/// Where provider tokens come from: the store, the encryption keys and the providers.
pub struct ProviderTokenSource {
    store: Arc<dyn Store>,
    sealer: Arc<Sealer>,
    providers: Providers,
    cache: Mutex<HashMap<(String, String), (HeaderValue, Instant)>>,
}

impl std::fmt::Debug for ProviderTokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderTokenSource")
            .field("providers", &self.providers)
            .finish_non_exhaustive()
    }
}

impl ProviderTokenSource {
    pub fn new(store: Arc<dyn Store>, sealer: Arc<Sealer>, providers: Providers) -> Self {
        ProviderTokenSource {
            store,
            sealer,
            providers,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, key: &(String, String)) -> Option<HeaderValue> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache
            .get(key)
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(value, _)| value.clone())
    }

    fn remember(&self, key: (String, String), value: HeaderValue, ttl: Duration) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, (value, Instant::now() + ttl));
    }

    /// Forgets every cached token of `user_id` (their grants were revoked).
    pub fn forget_user(&self, user_id: &str) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.retain(|(user, _), _| user != user_id);
    }
}

/// The user id of a caller that is a person signed in to Portcullis, if it is one.
fn user_of(caller: &Principal) -> Option<&str> {
    if caller.validator != PORTCULLIS_VALIDATOR {
        return None;
    }
    caller
        .subject
        .strip_prefix(PORTCULLIS_VALIDATOR)
        .and_then(|s| s.strip_prefix(':'))
        .filter(|id| !id.starts_with("client:"))
}

/// The value of `header` carrying `caller`'s token from `provider`: `Bearer <token>` in
/// `Authorization`, the bare token in any other header.
pub(crate) async fn header_value(
    source: Option<&ProviderTokenSource>,
    upstream: &str,
    provider: &str,
    header: &HeaderName,
    caller: Option<&Principal>,
) -> Result<HeaderValue, RelayError> {
    let missing = |unavailable: bool| RelayError::ProviderToken {
        upstream: upstream.to_owned(),
        provider: provider.to_owned(),
        unavailable,
        id: None,
    };
    let (Some(source), Some(user)) = (source, caller.and_then(user_of)) else {
        return Err(missing(false));
    };
    let key = (user.to_owned(), provider.to_owned());
    if let Some(value) = source.cached(&key) {
        return Ok(value);
    }
    let Some(configured) = source.providers.get(provider) else {
        return Err(missing(false));
    };
    let now = time::OffsetDateTime::now_utc();
    let token = match tokens::access_token(
        source.store.as_ref(),
        &source.sealer,
        configured,
        user,
        now,
        &mut <rand::rngs::StdRng as rand::SeedableRng>::from_os_rng(),
    )
    .await
    {
        Ok(Some(token)) => token,
        Ok(None) => return Err(missing(false)),
        Err(FederationError::Store(e)) => return Err(RelayError::Store(e)),
        Err(e) => {
            tracing::warn!(%provider, %user, error = %e, "no provider token for the upstream");
            return Err(missing(matches!(e, FederationError::Unavailable(_))));
        }
    };
    let text = if *header == http::header::AUTHORIZATION {
        format!("Bearer {}", token.as_str())
    } else {
        token.as_str().to_owned()
    };
    let mut value = HeaderValue::from_str(&text).map_err(|_| missing(false))?;
    value.set_sensitive(true);
    source.remember(key, value.clone(), CACHE_TTL);
    Ok(value)
}
