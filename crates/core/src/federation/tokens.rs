//! A user's tokens from a provider: sealed under the encryption keys (the AAD binds them to the
//! user and provider, so a row copied to another user does not open), kept after each sign-in,
//! refreshed when the access token has expired, and forgotten when the user no longer holds
//! any grant.

use portcullis_store::{ProviderToken, Store};
use rand::CryptoRng;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::flow::{token_request, tokens_of};
use super::{FederationError, Provider, ProviderTokens};
use crate::crypto::Sealer;

/// An access token this close to its expiry is refreshed first.
const REFRESH_MARGIN_SECS: i64 = 30;

fn aad(user_id: &str, provider: &str) -> Vec<u8> {
    format!("portcullis/provider-token/{provider}/{user_id}").into_bytes()
}

fn at(unix: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(unix).ok()
}

/// Seals and stores `tokens` as `user_id`'s tokens from `provider`. A token response without a
/// refresh token keeps the one stored before (Google sends one only at first consent).
pub async fn keep(
    store: &dyn Store,
    sealer: &Sealer,
    user_id: &str,
    provider: &str,
    mut tokens: ProviderTokens,
    now: OffsetDateTime,
    rng: &mut impl CryptoRng,
) -> Result<(), FederationError> {
    if tokens.refresh_token.is_none()
        && let Some(previous) = open(store, sealer, user_id, provider).await?
    {
        tokens.refresh_token = previous.refresh_token.clone();
    }
    store_sealed(store, sealer, user_id, provider, &tokens, now, rng).await
}

async fn store_sealed(
    store: &dyn Store,
    sealer: &Sealer,
    user_id: &str,
    provider: &str,
    tokens: &ProviderTokens,
    now: OffsetDateTime,
    rng: &mut impl CryptoRng,
) -> Result<(), FederationError> {
    let plain = Zeroizing::new(
        serde_json::to_vec(tokens).map_err(|e| FederationError::Sealing(e.to_string()))?,
    );
    let sealed = sealer
        .seal(&plain, &aad(user_id, provider), rng)
        .map_err(|e| FederationError::Sealing(e.to_string()))?;
    store
        .provider_token_put(&ProviderToken {
            user_id: user_id.to_owned(),
            provider: provider.to_owned(),
            sealed,
            expires_at: tokens.expires_at.and_then(at),
            updated_at: now,
        })
        .await?;
    Ok(())
}

async fn open(
    store: &dyn Store,
    sealer: &Sealer,
    user_id: &str,
    provider: &str,
) -> Result<Option<ProviderTokens>, FederationError> {
    let Some(row) = store.provider_token_get(user_id, provider).await? else {
        return Ok(None);
    };
    let plain = sealer
        .open(&row.sealed, &aad(user_id, provider))
        .map_err(|e| FederationError::Sealing(e.to_string()))?;
    serde_json::from_slice(&plain)
        .map(Some)
        .map_err(|e| FederationError::Sealing(e.to_string()))
}

/// `user_id`'s current access token from `provider`: the stored one while it is valid, else a
/// refreshed one (stored in its place), else `None` (no token, or it expired and cannot be
/// refreshed: the person must sign in with the provider again).
pub async fn access_token(
    store: &dyn Store,
    sealer: &Sealer,
    provider: &Provider,
    user_id: &str,
    now: OffsetDateTime,
    rng: &mut impl CryptoRng,
) -> Result<Option<Zeroizing<String>>, FederationError> {
    let fresh = |tokens: &ProviderTokens| {
        tokens
            .expires_at
            .is_none_or(|exp| exp - REFRESH_MARGIN_SECS > now.unix_timestamp())
    };
    let Some(tokens) = open(store, sealer, user_id, provider.id()).await? else {
        return Ok(None);
    };
    if fresh(&tokens) {
        return Ok(Some(Zeroizing::new(tokens.access_token.clone())));
    }
    // One refresh at a time: a rotated refresh token works once, so a second request that
    // waited reads what the first stored.
    let _flight = provider.refresh_flight.lock().await;
    let Some(tokens) = open(store, sealer, user_id, provider.id()).await? else {
        return Ok(None);
    };
    if fresh(&tokens) {
        return Ok(Some(Zeroizing::new(tokens.access_token.clone())));
    }
    let Some(refresh_token) = tokens.refresh_token.clone() else {
        return Ok(None);
    };
    let metadata = provider.metadata(now.unix_timestamp()).await?;
    let answer = match token_request(
        provider,
        &metadata,
        &[
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh_token),
        ],
    )
    .await
    {
        Ok(answer) => answer,
        Err(FederationError::Invalid(why)) => {
            // The provider refused the refresh token (revoked, expired): it is of no more use.
            tracing::info!(provider = %provider.id(), user = %user_id, %why, "provider refresh token refused");
            let spent = ProviderTokens {
                refresh_token: None,
                ..tokens
            };
            store_sealed(store, sealer, user_id, provider.id(), &spent, now, rng).await?;
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let refreshed = tokens_of(&answer, now)?;
    let access = Zeroizing::new(refreshed.access_token.clone());
    keep(store, sealer, user_id, provider.id(), refreshed, now, rng).await?;
    Ok(Some(access))
}

/// Forgets `user_id`'s provider tokens when the user holds no live grant any more: they were
/// kept for the clients the user authorized, and the last of those is gone.
pub async fn forget_if_unused(
    store: &dyn Store,
    user_id: &str,
    now: OffsetDateTime,
) -> Result<bool, FederationError> {
    let live = store
        .grants_of_subject(user_id)
        .await?
        .iter()
        .any(|g| g.revoked_at.is_none() && g.expires_at > now);
    if live {
        return Ok(false);
    }
    Ok(store.provider_tokens_delete_user(user_id).await? > 0)
}
