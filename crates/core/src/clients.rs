//! OAuth clients of Portcullis's authorization server: who they are, where they may be sent back
//! to, and how they prove it.
//!
//! A client comes from one of four places: a `[[clients]]` entry of the configuration, an
//! operator (`portcullis admin client create`), dynamic registration (RFC 7591, `POST /register`)
//! or, when its `client_id` is an `https` URL, the client ID metadata document at that URL
//! (CIMD). The [`ClientRegistry`] looks all four up behind one `resolve`, checks redirect URIs
//! ([`redirect_uri`]) and authenticates clients at the back-channel endpoints
//! ([`authentication`]). One module per concern: [`metadata`] reads RFC 7591 client metadata
//! (shared by registration and metadata documents), [`cimd`] fetches and caches documents,
//! [`registration`] is RFC 7591 and RFC 7592.
//!
//! Every failure is an [`OAuthError`] the authorization server can send or show as it is; a
//! client or redirect URI that cannot be trusted is `invalid_client` or `invalid_request`, which
//! the authorization endpoint shows as an error page and never as a redirect.

pub mod authentication;
pub mod cimd;
pub mod metadata;
pub mod redirect_uri;
pub mod registration;
mod registry;

pub use authentication::ClientAuthRequest;
use portcullis_proto::oauth::{ErrorCode, OAuthError};
pub use portcullis_store::{ApplicationType, Client, ClientSource, TokenEndpointAuthMethod};
pub use registry::{
    ClientRegistry, ConsentFacts, RegistrySettings, TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED,
    TOKEN_ENDPOINT_AUTH_SIGNING_ALGS, configured_client, configured_clients, consent_facts,
    initial_access_token,
};

/// The prefix of the `client_id`s Portcullis mints (admin and dynamic clients). Never `https://`,
/// which would make the id look like a metadata document's URL (reference AS-08, G3).
pub const CLIENT_ID_PREFIX: &str = "client_";
/// The prefix of the client secrets Portcullis mints, so that secret scanners can find them.
pub const CLIENT_SECRET_PREFIX: &str = "pclcs_";
/// The prefix of the registration access tokens (RFC 7592) Portcullis mints.
pub const REGISTRATION_TOKEN_PREFIX: &str = "pclrt_";

/// The grant types a client can be registered for. Implicit and password grants are never
/// offered (RFC 9700 §2.1.2, §2.4).
pub const GRANT_TYPES: &[&str] = &["authorization_code", "refresh_token", "client_credentials"];

/// Why a client, its metadata or its metadata document was refused. The message is for the
/// developer of the client: it never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// A redirect URI that cannot be registered (RFC 7591 §3.2.2 `invalid_redirect_uri`).
    #[error("{0}")]
    InvalidRedirectUri(String),
    /// Client metadata that cannot be registered (RFC 7591 §3.2.2 `invalid_client_metadata`).
    #[error("{0}")]
    InvalidMetadata(String),
    /// A `client_id` URL that cannot name a client ID metadata document.
    #[error("{0}")]
    InvalidClientId(String),
    /// A client ID metadata document that was fetched but cannot be used.
    #[error("the client ID metadata document is invalid: {0}")]
    InvalidDocument(String),
    /// A client ID metadata document that could not be fetched.
    #[error("the client ID metadata document could not be fetched: {0}")]
    DocumentUnavailable(String),
    /// The store failed: nothing was changed.
    #[error("the client store is unavailable")]
    Unavailable,
}

impl From<ClientError> for OAuthError {
    fn from(e: ClientError) -> Self {
        let code = match &e {
            ClientError::InvalidRedirectUri(_) => ErrorCode::InvalidRedirectUri,
            ClientError::InvalidMetadata(_) => ErrorCode::InvalidClientMetadata,
            // RFC 6749 §5.2 / §4.1.2.1: the client cannot be identified; the authorization
            // endpoint shows this on an error page.
            ClientError::InvalidClientId(_)
            | ClientError::InvalidDocument(_)
            | ClientError::DocumentUnavailable(_) => ErrorCode::InvalidClient,
            ClientError::Unavailable => ErrorCode::TemporarilyUnavailable,
        };
        OAuthError::new(code, e.to_string())
    }
}

/// The error of a store failure, after logging it (its message may name rows, never secrets).
pub(crate) fn unavailable(e: &portcullis_store::StoreError) -> OAuthError {
    tracing::error!(error = %e, "client store failure");
    OAuthError::new(
        ErrorCode::TemporarilyUnavailable,
        "the client store is unavailable; try again",
    )
}

/// Whether `client_id` is a URL, and so names a client ID metadata document rather than a
/// registered client. Compared case-insensitively so that `HTTPS://…` cannot slip past into the
/// registered clients' namespace.
pub fn is_url_client_id(client_id: &str) -> bool {
    let lower = |n: usize| client_id.get(..n).map(str::to_ascii_lowercase);
    lower(8).as_deref() == Some("https://") || lower(7).as_deref() == Some("http://")
}

/// The rules for a client identifier chosen by an operator (`[[clients]]`): 1 to 255 printable
/// ASCII characters without spaces (RFC 6749 Appendix A.1 allows more; these ids appear in forms,
/// URLs and logs), and not a URL.
pub fn check_client_id(client_id: &str) -> Result<(), String> {
    if client_id.is_empty() || client_id.len() > 255 {
        return Err("must be 1 to 255 characters".to_owned());
    }
    if !client_id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be printable ASCII without spaces".to_owned());
    }
    if is_url_client_id(client_id) {
        return Err(
            "must not be a URL: URL client ids name client ID metadata documents".to_owned(),
        );
    }
    Ok(())
}

/// Checks the `redirect_uri` of an authorization request against the client's registered ones
/// and returns the URI to redirect to (the presented one, or the only registered one when none
/// was presented and there is exactly one that is not a loopback redirect).
///
/// An error here must be shown on an error page, never sent to the URI (RFC 6749 §4.1.2.1,
/// reference R4).
pub fn check_redirect_uri(client: &Client, presented: Option<&str>) -> Result<String, OAuthError> {
    choose_redirect_uri(&client.redirect_uris, presented)
}

/// [`check_redirect_uri`] over a client's registered redirect URIs.
pub fn choose_redirect_uri(
    registered_uris: &[String],
    presented: Option<&str>,
) -> Result<String, OAuthError> {
    match presented {
        Some(uri) => {
            if registered_uris
                .iter()
                .any(|registered| redirect_uri::matches(registered, uri))
            {
                Ok(uri.to_owned())
            } else {
                Err(OAuthError::new(
                    ErrorCode::InvalidRequest,
                    "the redirect_uri is not registered for this client",
                ))
            }
        }
        None => match registered_uris {
            // A loopback redirect needs its port, which only the request can give.
            [only] if !redirect_uri::is_loopback(only) => Ok(only.clone()),
            _ => Err(OAuthError::new(
                ErrorCode::InvalidRequest,
                "redirect_uri is required: the client has several redirect URIs or a loopback one",
            )),
        },
    }
}

/// Whether `client` is registered for `grant_type` (RFC 6749 §5.2 `unauthorized_client`
/// otherwise).
pub fn allows_grant_type(client: &Client, grant_type: &str) -> bool {
    client.grant_types.iter().any(|g| g == grant_type)
}

/// Whether every scope of the space-separated `requested` is one the client registered; a
/// client registered without `scope` may ask for any (RFC 6749 §5.2 `invalid_scope` otherwise).
pub fn allows_scopes(client: &Client, requested: &str) -> bool {
    match &client.scope {
        None => true,
        Some(registered) => requested
            .split_ascii_whitespace()
            .all(|scope| registered.split_ascii_whitespace().any(|r| r == scope)),
    }
}

/// Mints a new confidential-client secret; the caller keeps only its hash.
/// Revokes every live grant of the client `client_id` (its refresh tokens and, through the grant
/// claim, its access tokens): what deleting a client does, so its tokens die with its
/// credentials (RFC 7592 §2.3: the server "SHOULD immediately invalidate all existing
/// authorization grants and currently-active tokens"; reference G4). Returns the grant ids, for
/// the local gateway to refuse at once; other replicas learn them from the store.
pub async fn revoke_grants_of(
    store: &dyn portcullis_store::Store,
    client_id: &str,
    now: time::OffsetDateTime,
) -> Result<Vec<String>, portcullis_store::StoreError> {
    let mut revoked = Vec::new();
    for grant in store.grants_of_client(client_id).await? {
        if store.grant_revoke(&grant.id, now).await? {
            revoked.push(grant.id);
        }
    }
    Ok(revoked)
}

pub(crate) fn new_client_secret(rng: &mut impl rand::RngCore) -> crate::auth::api_key::NewSecret {
    crate::auth::api_key::new_secret(CLIENT_SECRET_PREFIX, rng)
}

/// Mints a new `client_id` for an admin or dynamic client.
pub(crate) fn new_client_id(rng: &mut impl rand::RngCore) -> String {
    crate::auth::api_key::new_public_id(CLIENT_ID_PREFIX, rng)
}

#[cfg(test)]
mod tests;
