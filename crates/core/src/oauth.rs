//! Portcullis's OAuth 2.1 authorization server, as plain functions over the store, a client
//! directory, the user directory, the signing keys, a clock and a random source — no HTTP here.
//! The server crate parses requests into [`Params`] and renders what these functions return.
//!
//! One module per endpoint or RFC: `authorize` (the authorization request, codes), `token` (the
//! grants), `revocation` (RFC 7009), `introspection` (RFC 7662), `metadata` (RFC 8414 and OIDC
//! discovery), with `access_token` (RFC 9068 JWTs), `pkce`, `scope`, `resource` (RFC 8707) and
//! `params` beside them.

pub mod access_token;
mod authorize;
mod client;
mod introspection;
pub mod metadata;
pub mod params;
pub mod pkce;
mod profiles;
pub mod resource;
mod revocation;
pub mod scope;
mod token;

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_proto::oauth::{ErrorCode, OAuthError};
use portcullis_store::{Store, StoreError};
use rand::CryptoRng;
use sha2::{Digest, Sha256};

pub use authorize::{AuthorizationRequest, AuthorizeError, Consented, SignedInUser};
pub use client::{ClientCredentials, ClientDirectory, ClientInfo};
pub use introspection::Introspection;
pub use params::Params;
pub use profiles::StoreProfiles;
pub use resource::ProtectedResource;
pub use revocation::Revoked;
pub use token::TokenResponse;

use crate::config::TokensConfig;
use crate::signing::{KeyRing, LiveKeys};

/// What the authorization server knows of a user when it issues tokens: the claims it puts in
/// them, and whether the user may still have any.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Profile {
    /// The user's id: the `sub` of tokens (their principal is `portcullis:{id}`).
    pub id: String,
    pub username: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub tenant: Option<String>,
    pub groups: Vec<String>,
    /// A disabled user gets no new tokens, and refreshing revokes the grant.
    pub active: bool,
}

/// Told of every revocation the authorization server makes — a refresh token or code presented
/// again, a revoked token, a disabled user's grant — so the gateway in this process refuses the
/// tokens at once; other replicas learn it from the store.
pub trait RevocationListener: Send + Sync {
    fn revoked(&self, revoked: &Revoked);
}

/// Where user profiles come from (the local accounts, later also federated identities).
#[async_trait]
pub trait Profiles: Send + Sync + std::fmt::Debug {
    async fn profile(&self, user_id: &str) -> Result<Option<Profile>, StoreError>;
}

/// The authorization server.
pub struct AuthorizationServer {
    /// The issuer identifier: byte-identical in metadata, tokens, `iss` response parameters and
    /// protected resource metadata.
    issuer: String,
    settings: TokensConfig,
    resources: Vec<ProtectedResource>,
    store: Arc<dyn Store>,
    clients: Arc<dyn ClientDirectory>,
    profiles: Arc<dyn Profiles>,
    keys: Arc<LiveKeys>,
    listener: Option<Arc<dyn RevocationListener>>,
}

impl std::fmt::Debug for AuthorizationServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationServer")
            .field("issuer", &self.issuer)
            .field("resources", &self.resources)
            .finish_non_exhaustive()
    }
}

/// The protected resources of `config`: every upstream with `auth = "oauth"`, at
/// `{public_url}/servers/{name}/mcp`, and the admin REST API at `{public_url}/admin/api/v1`
/// (unless `server.admin_api = false`).
pub fn resources_of(config: &crate::config::Config) -> Vec<ProtectedResource> {
    let public_url = config.server.public_url.trim_end_matches('/');
    let mut resources: Vec<ProtectedResource> = config
        .upstreams
        .iter()
        .filter(|up| up.auth == crate::config::AuthMode::Oauth)
        .map(|up| ProtectedResource {
            name: up.name.clone(),
            url: format!("{public_url}/servers/{}/mcp", up.name),
            scopes: scope::Scopes::of(up.scopes.iter().map(String::as_str)),
        })
        .collect();
    if config.server.admin_api {
        resources.push(ProtectedResource {
            name: ADMIN_API_RESOURCE_NAME.to_owned(),
            url: format!("{public_url}{ADMIN_API_PATH}"),
            scopes: scope::Scopes::default(),
        });
    }
    resources
}

/// The path of the admin REST API under the public URL: with it, the resource its tokens are
/// issued for.
pub const ADMIN_API_PATH: &str = "/admin/api/v1";
/// How consent pages and logs name the admin API (upstream names hold no space).
pub const ADMIN_API_RESOURCE_NAME: &str = "Portcullis admin API";

impl AuthorizationServer {
    pub fn new(
        issuer: &str,
        settings: TokensConfig,
        resources: Vec<ProtectedResource>,
        store: Arc<dyn Store>,
        clients: Arc<dyn ClientDirectory>,
        profiles: Arc<dyn Profiles>,
        keys: Arc<LiveKeys>,
    ) -> Self {
        AuthorizationServer {
            issuer: issuer.trim_end_matches('/').to_owned(),
            settings,
            resources,
            store,
            clients,
            profiles,
            keys,
            listener: None,
        }
    }

    /// Tells `listener` of every revocation from now on.
    #[must_use]
    pub fn with_revocation_listener(mut self, listener: Arc<dyn RevocationListener>) -> Self {
        self.listener = Some(listener);
        self
    }

    /// Revokes a grant in the store and tells the listener.
    async fn revoke_grant(
        &self,
        grant_id: &str,
        now: time::OffsetDateTime,
        audit: Option<&portcullis_store::AuditEvent>,
    ) -> Result<(), OAuthError> {
        self.store
            .grant_revoke_audited(grant_id, now, audit)
            .await
            .map_err(unavailable)?;
        self.notify(&Revoked {
            grant_id: Some(grant_id.to_owned()),
            jti: None,
        });
        // Provider tokens are kept for the user's grants; with the last grant gone, they go.
        if let Some(grant) = self.store.grant_get(grant_id).await.map_err(unavailable)?
            && let Err(e) = crate::federation::tokens::forget_if_unused(
                self.store.as_ref(),
                &grant.subject,
                now,
            )
            .await
        {
            tracing::warn!(error = %e, "could not forget provider tokens after a revocation");
        }
        Ok(())
    }

    /// Revokes the grants `subject` holds — every one, or only those of `client_id` — and tells
    /// the listener of each, so their tokens stop working at once; returns how many were
    /// revoked. The account page's "revoke access" and account deletion use it.
    pub async fn revoke_grants_of(
        &self,
        audit: &crate::audit::AuditContext,
        subject: &str,
        client_id: Option<&str>,
        now: time::OffsetDateTime,
    ) -> Result<usize, OAuthError> {
        let grants = self
            .store
            .grants_of_subject(subject)
            .await
            .map_err(unavailable)?;
        let mut revoked = 0;
        for grant in grants
            .iter()
            .filter(|g| client_id.is_none_or(|c| g.client_id == c))
        {
            let event = audit.through(&grant.client_id).event(
                now,
                crate::audit::action::CONSENT_WITHDRAW,
                Some(&grant.id),
            );
            self.revoke_grant(&grant.id, now, event.as_ref()).await?;
            revoked += 1;
        }
        Ok(revoked)
    }

    fn notify(&self, revoked: &Revoked) {
        if let Some(listener) = &self.listener {
            listener.revoked(revoked);
        }
    }

    /// The issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The resources tokens can be issued for.
    pub fn resources(&self) -> &[ProtectedResource] {
        &self.resources
    }

    pub fn clients(&self) -> &Arc<dyn ClientDirectory> {
        &self.clients
    }

    /// The signing keys as they are now.
    pub fn keys(&self) -> Arc<KeyRing> {
        self.keys.current()
    }
}

/// A fresh secret of 256 random bits, base64url: codes, refresh tokens, grant ids and jtis.
pub(crate) fn new_secret(rng: &mut impl CryptoRng) -> String {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 of a secret: how codes and refresh tokens are stored and found.
pub(crate) fn secret_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The store failed: the request cannot be served now (reference §4.5: never a token from memory).
pub(crate) fn unavailable(e: StoreError) -> OAuthError {
    tracing::error!(error = %e, "store failure in the authorization server");
    OAuthError::new(
        ErrorCode::TemporarilyUnavailable,
        "the authorization server cannot serve this request right now",
    )
}

#[cfg(test)]
mod tests;
