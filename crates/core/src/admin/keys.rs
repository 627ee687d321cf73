//! Portcullis's signing keys: which one signs, which are published ahead of signing or retiring,
//! and a rotation without downtime (the new key is published first, the old one leaves the JWKS
//! once everything it signed has expired).

use std::time::Duration;

use portcullis_store::{SigningKey, Store};
use rand::CryptoRng;
use time::OffsetDateTime;

use super::AdminError;
use crate::audit::AuditContext;
use crate::config::Config;
use crate::crypto::Sealer;
use crate::signing::{KeyRing, Rotation, SigningError};

/// A signing key's state at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// The key new tokens are signed with.
    Signing,
    /// Published (in the JWKS) but not signing yet.
    Published,
    /// Published until everything it signed has expired; no longer signing.
    Retiring,
    /// Out of the JWKS.
    Retired,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Signing => "signing",
            KeyStatus::Published => "published",
            KeyStatus::Retiring => "retiring",
            KeyStatus::Retired => "retired",
        }
    }
}

/// Every stored signing key (never its private part), with its state at `now`.
pub async fn list(
    store: &dyn Store,
    now: OffsetDateTime,
) -> Result<Vec<(SigningKey, KeyStatus)>, AdminError> {
    let keys = store.signing_key_list().await?;
    let signing_kid = keys
        .iter()
        .filter(|k| k.not_before <= now && k.retire_after.is_none_or(|at| at > now))
        .max_by_key(|k| (k.not_before, k.created_at))
        .map(|k| k.kid.clone());
    Ok(keys
        .into_iter()
        .map(|k| {
            let status = if Some(&k.kid) == signing_kid.as_ref() {
                KeyStatus::Signing
            } else if k.retire_after.is_some_and(|at| at <= now) {
                KeyStatus::Retired
            } else if k.not_before > now {
                KeyStatus::Published
            } else {
                KeyStatus::Retiring
            };
            (k, status)
        })
        .collect())
}

/// The longest a publish delay may be: a rotation is meant to finish, not to be parked.
pub const MAX_PUBLISH_DELAY: Duration = Duration::from_secs(30 * 24 * 3600);

/// Starts a rotation: a new key is published now and signs after `publish_delay` (long enough
/// for every verifier to fetch the JWKS again); the current keys stay published while anything
/// they signed can be valid (the longest-lived token, then a minute of leeway).
pub async fn rotate(
    store: &dyn Store,
    audit: &AuditContext,
    config: &Config,
    sealer: &Sealer,
    publish_delay: Duration,
    now: OffsetDateTime,
    rng: &mut impl CryptoRng,
) -> Result<Rotation, AdminError> {
    if publish_delay > MAX_PUBLISH_DELAY {
        return Err(AdminError::Invalid(
            "the publish delay is at most 30 days".to_owned(),
        ));
    }
    let signing = |e: SigningError| match e {
        SigningError::Store(e) => AdminError::Store(e),
        other => AdminError::Internal(other.to_string()),
    };
    // A store without a signing key (never served) gets one first, so that something signs
    // during the publish delay.
    KeyRing::ensure(store, sealer, config.tokens.signing_alg, now, rng)
        .await
        .map_err(signing)?;
    let retire_delay =
        config.tokens.access_token_ttl.max(Duration::from_secs(60)) + Duration::from_secs(60);
    let delay = |d: Duration| {
        time::Duration::try_from(d).map_err(|_| AdminError::Invalid("delay too long".to_owned()))
    };
    crate::signing::rotate(
        store,
        audit,
        sealer,
        config.tokens.signing_alg,
        now,
        delay(publish_delay)?,
        delay(retire_delay)?,
        rng,
    )
    .await
    .map_err(signing)
}
