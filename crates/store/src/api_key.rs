//! API keys and service tokens: long-lived credentials that act for a subject.
//!
//! The secret part is never stored: a row holds the SHA-256 of the whole key (or service-token
//! secret), which is enough because the secrets carry at least 256 bits from a CSPRNG
//! (`security-and-reliability.md` §2.15, X3). Validity (revoked, expired) is judged by the caller
//! against its own clock; the store returns expired and revoked rows like any other.

use time::OffsetDateTime;

/// The kind of credential a row stores.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ApiKeyKind {
    /// A key presented alone, as `Authorization: Bearer <key>`.
    ApiKey,
    /// A client id and secret presented together (`CF-Access-Client-Id` /
    /// `CF-Access-Client-Secret`), looked up by the client id.
    ServiceToken {
        /// The public, unique client id.
        client_id: String,
    },
}

impl ApiKeyKind {
    /// The value of the `kind` column: `api_key` or `service_token`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ApiKeyKind::ApiKey => "api_key",
            ApiKeyKind::ServiceToken { .. } => "service_token",
        }
    }

    /// The service token's client id; `None` for an API key.
    pub fn client_id(&self) -> Option<&str> {
        match self {
            ApiKeyKind::ApiKey => None,
            ApiKeyKind::ServiceToken { client_id } => Some(client_id),
        }
    }

    /// The kind from the `kind` and `client_id` columns, or `None` if they do not fit together
    /// (an unknown kind, a service token without a client id, an API key with one).
    pub fn from_columns(kind: &str, client_id: Option<String>) -> Option<Self> {
        match (kind, client_id) {
            ("api_key", None) => Some(ApiKeyKind::ApiKey),
            ("service_token", Some(client_id)) => Some(ApiKeyKind::ServiceToken { client_id }),
            _ => None,
        }
    }
}

/// One API key or service token.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The public identifier, shown in listings and used to revoke; not a secret.
    pub id: String,
    /// SHA-256 of the whole secret (the full `pcl_…` key, or the service token's secret).
    pub secret_hash: [u8; 32],
    /// The subject the key acts for, as the rest of Portcullis names it (for example a user's
    /// subject): grants given to that subject apply to requests made with the key.
    pub subject: String,
    /// A label chosen by the owner (`laptop`, `ci`).
    pub name: String,
    /// API key or service token (with its client id).
    pub kind: ApiKeyKind,
    /// Space-separated scope tokens, as in OAuth's `scope` parameter; empty for none.
    pub scopes: String,
    /// When the key was created.
    pub created_at: OffsetDateTime,
    /// When the key stops being accepted; `None` for never.
    pub expires_at: Option<OffsetDateTime>,
    /// When the key was last seen in use, as recorded by [`Store::api_key_touch`]; callers may
    /// throttle those writes, so this can lag by their throttle interval.
    ///
    /// [`Store::api_key_touch`]: crate::Store::api_key_touch
    pub last_used_at: Option<OffsetDateTime>,
    /// When the key was revoked; `None` while it is not.
    pub revoked_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("secret_hash", &crate::ShortHash(&self.secret_hash))
            .field("subject", &self.subject)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("scopes", &self.scopes)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("last_used_at", &self.last_used_at)
            .field("revoked_at", &self.revoked_at)
            .finish()
    }
}
