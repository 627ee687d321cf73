//! OAuth clients: the applications that ask Portcullis's authorization server for tokens.
//!
//! A row holds a client's registered metadata (RFC 7591 §2) and how it authenticates. Secrets are
//! never stored: a confidential client's secret and a dynamic client's registration access token
//! are kept as SHA-256 hashes, which is enough because both carry at least 256 random bits
//! (`security-and-reliability.md` §2.15, X3). Whether a client is still usable (an unused dynamic
//! registration past `expires_at`, a secret past `secret_expires_at`) is judged by the caller
//! against its own clock; the store returns such rows like any other.

use time::OffsetDateTime;

/// Where a client comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientSource {
    /// A `[[clients]]` entry of the configuration file.
    Config,
    /// Created by an operator (`portcullis admin client create`).
    Admin,
    /// Registered by the client itself through dynamic client registration (RFC 7591).
    Dynamic,
    /// A client whose `client_id` is the URL of its metadata document (CIMD), fetched on use.
    MetadataDocument,
}

impl ClientSource {
    /// The value of the `source` column.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientSource::Config => "config",
            ClientSource::Admin => "admin",
            ClientSource::Dynamic => "dynamic",
            ClientSource::MetadataDocument => "metadata_document",
        }
    }

    /// The source named by a `source` column value.
    pub fn parse(value: &str) -> Option<Self> {
        [
            ClientSource::Config,
            ClientSource::Admin,
            ClientSource::Dynamic,
            ClientSource::MetadataDocument,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

/// How a client authenticates at the token, revocation and introspection endpoints (RFC 7591 §2,
/// `token_endpoint_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenEndpointAuthMethod {
    /// A public client: it sends its `client_id` and no secret.
    None,
    /// A shared secret in HTTP Basic authentication (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// A shared secret in the form body (RFC 6749 §2.3.1).
    ClientSecretPost,
    /// A JWT signed with the client's private key (RFC 7523 §2.2).
    PrivateKeyJwt,
}

impl TokenEndpointAuthMethod {
    /// Every method, in the order metadata lists them.
    pub const ALL: [TokenEndpointAuthMethod; 4] = [
        TokenEndpointAuthMethod::None,
        TokenEndpointAuthMethod::ClientSecretBasic,
        TokenEndpointAuthMethod::ClientSecretPost,
        TokenEndpointAuthMethod::PrivateKeyJwt,
    ];

    /// The registered name, as RFC 7591 and the column spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenEndpointAuthMethod::None => "none",
            TokenEndpointAuthMethod::ClientSecretBasic => "client_secret_basic",
            TokenEndpointAuthMethod::ClientSecretPost => "client_secret_post",
            TokenEndpointAuthMethod::PrivateKeyJwt => "private_key_jwt",
        }
    }

    /// The method with this registered name.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == value)
    }

    /// Whether the method uses a shared secret (and so the client has a `secret_hash`).
    pub fn uses_secret(self) -> bool {
        matches!(
            self,
            TokenEndpointAuthMethod::ClientSecretBasic | TokenEndpointAuthMethod::ClientSecretPost
        )
    }
}

/// The kind of application (OpenID Connect Dynamic Client Registration §2, which MCP 2026-07-28
/// asks clients to send): it decides which redirect URIs a client may register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ApplicationType {
    /// Runs on the user's device (a CLI, a desktop app): may use loopback redirects and private-use
    /// URI schemes (RFC 8252).
    Native,
    /// Runs on a web server: `https` redirects (and loopback, for development).
    #[default]
    Web,
}

impl ApplicationType {
    pub fn as_str(self) -> &'static str {
        match self {
            ApplicationType::Native => "native",
            ApplicationType::Web => "web",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "native" => Some(ApplicationType::Native),
            "web" => Some(ApplicationType::Web),
            _ => None,
        }
    }
}

/// One OAuth client.
#[derive(Clone, PartialEq, Eq)]
pub struct Client {
    /// The client identifier; for a metadata-document client, the document's URL.
    pub client_id: String,
    pub source: ClientSource,
    /// The name people see on the consent page (`client_name`).
    pub name: String,
    /// The registered redirect URIs, compared exactly (except a loopback redirect's port).
    pub redirect_uris: Vec<String>,
    /// The grant types the client may use (`authorization_code`, `refresh_token`, …).
    pub grant_types: Vec<String>,
    /// The response types the client may use (`code`).
    pub response_types: Vec<String>,
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// SHA-256 of the client secret, for the shared-secret methods; `None` otherwise.
    pub secret_hash: Option<[u8; 32]>,
    /// When the secret stops being accepted; `None` for never.
    pub secret_expires_at: Option<OffsetDateTime>,
    /// The client's public keys (a JWKS, as JSON text), for `private_key_jwt`.
    pub jwks: Option<String>,
    /// Where the client's public keys are published, for `private_key_jwt`.
    pub jwks_uri: Option<String>,
    /// The space-separated scopes the client may ask for; `None` for no restriction.
    pub scope: Option<String>,
    pub application_type: ApplicationType,
    /// The client's home page, shown for information only.
    pub client_uri: Option<String>,
    /// The client's logo, shown for information only (never fetched by Portcullis).
    pub logo_uri: Option<String>,
    /// SHA-256 of the registration access token (RFC 7592) of a dynamic client.
    pub registration_access_token_hash: Option<[u8; 32]>,
    pub created_at: OffsetDateTime,
    /// When a dynamic registration that was never used is deleted; `None` for never.
    pub expires_at: Option<OffsetDateTime>,
    /// When the client was last seen using Portcullis, as recorded by
    /// [`Store::client_touch`](crate::Store::client_touch).
    pub last_used_at: Option<OffsetDateTime>,
}

/// A short, non-reversible sign of a hash for `Debug`: enough to tell two rows apart.
fn hash_prefix(hash: Option<&[u8; 32]>) -> String {
    hash.map_or_else(
        || "None".to_owned(),
        |h| {
            let prefix: String = h.iter().take(4).map(|b| format!("{b:02x}")).collect();
            format!("{prefix}…")
        },
    )
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Hashes are not secrets, but a prefix is all a log reader needs.
        f.debug_struct("Client")
            .field("client_id", &self.client_id)
            .field("source", &self.source)
            .field("name", &self.name)
            .field("redirect_uris", &self.redirect_uris)
            .field("grant_types", &self.grant_types)
            .field("response_types", &self.response_types)
            .field(
                "token_endpoint_auth_method",
                &self.token_endpoint_auth_method,
            )
            .field("secret_hash", &hash_prefix(self.secret_hash.as_ref()))
            .field("secret_expires_at", &self.secret_expires_at)
            .field("jwks", &self.jwks.as_ref().map(|_| ".."))
            .field("jwks_uri", &self.jwks_uri)
            .field("scope", &self.scope)
            .field("application_type", &self.application_type)
            .field("client_uri", &self.client_uri)
            .field("logo_uri", &self.logo_uri)
            .field(
                "registration_access_token_hash",
                &hash_prefix(self.registration_access_token_hash.as_ref()),
            )
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("last_used_at", &self.last_used_at)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_values_round_trip() {
        for source in [
            ClientSource::Config,
            ClientSource::Admin,
            ClientSource::Dynamic,
            ClientSource::MetadataDocument,
        ] {
            assert_eq!(ClientSource::parse(source.as_str()), Some(source));
        }
        for method in TokenEndpointAuthMethod::ALL {
            assert_eq!(
                TokenEndpointAuthMethod::parse(method.as_str()),
                Some(method)
            );
        }
        for kind in [ApplicationType::Native, ApplicationType::Web] {
            assert_eq!(ApplicationType::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(TokenEndpointAuthMethod::parse("client_secret_jwt"), None);
        assert_eq!(ClientSource::parse("Admin"), None);
    }
}
