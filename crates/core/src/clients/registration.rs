//! Dynamic client registration (RFC 7591) and its management protocol (RFC 7592), as functions
//! over the registry's store.
//!
//! A registration is checked completely before anything is written, so a rejected request leaves
//! no row behind. Portcullis picks the `client_id` (never one starting with `https://`,
//! reference G3) and issues a secret only for the shared-secret authentication methods, plus a
//! registration access token that lets the client read, update and delete its registration. Only
//! SHA-256 hashes of both are stored. A registration never used within `unused_client_ttl` is
//! purged. Management requests with a missing or wrong token, or for a client that is not a live
//! dynamic registration, are all `invalid_token` (401, reference G4).

use crate::audit::{AuditContext, SUCCESS, action};
use portcullis_proto::oauth::{ClientInformation, ErrorCode, OAuthError};
use rand::CryptoRng;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use super::metadata::{self, MetadataRules, MetadataSource};
use super::{
    Client, ClientRegistry, ClientSource, REGISTRATION_TOKEN_PREFIX, new_client_id,
    new_client_secret, unavailable,
};
use crate::auth::api_key::{new_secret, secret_hash};
use crate::auth::jwt::json_object;

/// The largest registration request body accepted (reference §4.8).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A client just registered or updated, with the secrets issued now: shown once, then only
/// their hashes exist.
pub struct Registered {
    pub client: Client,
    /// The client secret, when one was issued by this request.
    pub client_secret: Option<String>,
    /// The registration access token, when one was issued by this request.
    pub registration_access_token: Option<String>,
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registered")
            .field("client", &self.client)
            .field("client_secret", &self.client_secret.as_ref().map(|_| ".."))
            .field(
                "registration_access_token",
                &self.registration_access_token.as_ref().map(|_| ".."),
            )
            .finish()
    }
}

/// The token of an `Authorization: Bearer <token>` value.
fn bearer(authorization: Option<&str>) -> Option<&str> {
    let (scheme, token) = authorization?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn invalid_token(why: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidToken, why)
}

/// Checks the initial access token a registration must carry when `expected` (the SHA-256 of the
/// configured token) is set (RFC 7591 §3).
pub fn check_initial_access_token(
    expected: Option<&[u8; 32]>,
    authorization: Option<&str>,
) -> Result<(), OAuthError> {
    let Some(expected) = expected else {
        return Ok(());
    };
    let presented = secret_hash(bearer(authorization).unwrap_or_default());
    if bool::from(presented.ct_eq(expected)) && bearer(authorization).is_some() {
        Ok(())
    } else {
        Err(invalid_token(
            "registration requires a valid initial access token (Authorization: Bearer)",
        ))
    }
}

fn body_object(body: &[u8]) -> Result<Map<String, Value>, OAuthError> {
    json_object(body).ok_or_else(|| {
        OAuthError::new(
            ErrorCode::InvalidClientMetadata,
            "the body must be one JSON object with unique members",
        )
    })
}

fn rules(registry: &ClientRegistry) -> MetadataRules {
    MetadataRules {
        source: MetadataSource::Registration,
        allow_loopback_jwks_uri: registry.settings().allow_loopback_client_id_documents,
    }
}

/// Registers a client from the JSON `body` of `POST /register` (RFC 7591 §3.1). Members the
/// client may not choose (`client_id`, `client_secret`, …) are ignored, like any unknown member.
pub async fn register(
    registry: &ClientRegistry,
    audit: &AuditContext,
    body: &[u8],
    now: OffsetDateTime,
    rng: &mut impl CryptoRng,
) -> Result<Registered, OAuthError> {
    let object = body_object(body)?;
    let metadata = metadata::parse(&object, rules(registry)).map_err(OAuthError::from)?;
    let mut client = metadata.into_client(new_client_id(rng), ClientSource::Dynamic, now);
    let secret = client
        .token_endpoint_auth_method
        .uses_secret()
        .then(|| new_client_secret(rng));
    let token = new_secret(REGISTRATION_TOKEN_PREFIX, rng);
    client.secret_hash = secret.as_ref().map(|s| s.hash);
    client.registration_access_token_hash = Some(token.hash);
    client.expires_at = Some(now + registry.settings().unused_client_ttl);
    // The client registers itself: it is the actor.
    let event = audit
        .acting(&client.client_id, None)
        .through(&client.client_id)
        .decided(
            now,
            action::CLIENT_REGISTER,
            Some(&client.client_id),
            SUCCESS,
            Some(&client.name),
        );
    registry
        .store()
        .client_insert_audited(&client, event.as_ref())
        .await
        .map_err(|e| unavailable(&e))?;
    tracing::info!(client_id = %client.client_id, name = %client.name, "dynamic client registered");
    Ok(Registered {
        client,
        client_secret: secret.map(|s| s.secret),
        registration_access_token: Some(token.secret),
    })
}

/// The dynamic client `client_id` if `authorization` carries its registration access token.
/// Every failure (no token, wrong token, unknown or expired client, a client that is not
/// dynamic) is the same `invalid_token`, after the same hash comparison.
pub async fn authorize(
    registry: &ClientRegistry,
    client_id: &str,
    authorization: Option<&str>,
    now: OffsetDateTime,
) -> Result<Client, OAuthError> {
    let presented = bearer(authorization);
    let found = registry
        .store()
        .client_get(client_id)
        .await
        .map_err(|e| unavailable(&e))?
        .filter(|c| c.source == ClientSource::Dynamic && super::registry::usable(c, now));
    let stored = found
        .as_ref()
        .and_then(|c| c.registration_access_token_hash)
        .unwrap_or([0u8; 32]);
    let equal: bool = secret_hash(presented.unwrap_or_default())
        .ct_eq(&stored)
        .into();
    match found {
        Some(client)
            if equal && presented.is_some() && client.registration_access_token_hash.is_some() =>
        {
            Ok(client)
        }
        _ => Err(invalid_token(
            "the registration access token is missing or invalid, or the client does not exist",
        )),
    }
}

/// Replaces a dynamic client's metadata (RFC 7592 §2.2). The body must name the client and
/// must not carry what the server issues; a `client_secret` in it must be the current one. A
/// switch to a shared-secret method issues a secret; a switch away from one drops it.
pub async fn update(
    registry: &ClientRegistry,
    audit: &AuditContext,
    client_id: &str,
    authorization: Option<&str>,
    body: &[u8],
    now: OffsetDateTime,
    rng: &mut impl CryptoRng,
) -> Result<Registered, OAuthError> {
    let current = authorize(registry, client_id, authorization, now).await?;
    let object = body_object(body)?;
    let bad = |why: &'static str| OAuthError::new(ErrorCode::InvalidClientMetadata, why);
    if object.get("client_id").and_then(Value::as_str) != Some(client_id) {
        return Err(bad("the body's client_id must be the client's"));
    }
    for issued in [
        "registration_access_token",
        "registration_client_uri",
        "client_secret_expires_at",
        "client_id_issued_at",
    ] {
        if object.contains_key(issued) {
            return Err(OAuthError::new(
                ErrorCode::InvalidClientMetadata,
                format!("{issued} is issued by the server and must not be sent"),
            ));
        }
    }
    if let Some(sent) = object.get("client_secret") {
        let matches = sent.as_str().is_some_and(|secret| {
            super::authentication::secret_matches(Some(&current), secret, now)
        });
        if !matches {
            return Err(bad("client_secret is not the client's current secret"));
        }
    }
    let metadata = metadata::parse(&object, rules(registry)).map_err(OAuthError::from)?;
    let mut client = metadata.into_client(current.client_id.clone(), ClientSource::Dynamic, now);
    let mut issued_secret = None;
    if client.token_endpoint_auth_method.uses_secret() {
        client.secret_hash = current.secret_hash;
        client.secret_expires_at = current.secret_expires_at;
        if client.secret_hash.is_none() {
            let secret = new_client_secret(rng);
            client.secret_hash = Some(secret.hash);
            issued_secret = Some(secret.secret);
        }
    }
    client.registration_access_token_hash = current.registration_access_token_hash;
    client.created_at = current.created_at;
    client.expires_at = current.expires_at;
    client.last_used_at = current.last_used_at;
    let event = audit.acting(client_id, None).through(client_id).event(
        now,
        action::CLIENT_UPDATE,
        Some(client_id),
    );
    if !registry
        .store()
        .client_update_audited(&client, event.as_ref())
        .await
        .map_err(|e| unavailable(&e))?
    {
        return Err(invalid_token("the client no longer exists"));
    }
    Ok(Registered {
        client,
        client_secret: issued_secret,
        registration_access_token: None,
    })
}

/// Deletes a dynamic client (RFC 7592 §2.3); its registration access token dies with it, and so
/// do its grants and tokens. Returns the ids of the grants revoked.
pub async fn delete(
    registry: &ClientRegistry,
    audit: &AuditContext,
    client_id: &str,
    authorization: Option<&str>,
    now: OffsetDateTime,
) -> Result<Vec<String>, OAuthError> {
    authorize(registry, client_id, authorization, now).await?;
    let event = audit.acting(client_id, None).through(client_id).event(
        now,
        action::CLIENT_DELETE,
        Some(client_id),
    );
    registry
        .store()
        .client_delete_audited(client_id, event.as_ref())
        .await
        .map_err(|e| unavailable(&e))?;
    let revoked = super::revoke_grants_of(registry.store().as_ref(), client_id, now)
        .await
        .map_err(|e| unavailable(&e))?;
    tracing::info!(
        client_id,
        grants = revoked.len(),
        "dynamic client deleted by its registration access token"
    );
    Ok(revoked)
}

/// The client information response for `client` (RFC 7591 §3.2.1, RFC 7592 §3), with the
/// secrets issued by this request, if any.
pub fn client_information(
    client: &Client,
    client_secret: Option<String>,
    registration_access_token: Option<String>,
    registration_client_uri: String,
) -> ClientInformation {
    ClientInformation {
        client_id: client.client_id.clone(),
        client_id_issued_at: client.created_at.unix_timestamp(),
        client_secret_expires_at: client_secret.as_ref().map(|_| {
            client
                .secret_expires_at
                .map_or(0, OffsetDateTime::unix_timestamp)
        }),
        client_secret,
        registration_access_token,
        registration_client_uri,
        client_name: client.name.clone(),
        redirect_uris: client.redirect_uris.clone(),
        grant_types: client.grant_types.clone(),
        response_types: client.response_types.clone(),
        token_endpoint_auth_method: client.token_endpoint_auth_method.as_str(),
        application_type: client.application_type.as_str(),
        scope: client.scope.clone(),
        jwks: client
            .jwks
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok()),
        jwks_uri: client.jwks_uri.clone(),
        client_uri: client.client_uri.clone(),
        logo_uri: client.logo_uri.clone(),
    }
}

#[cfg(test)]
mod tests;
