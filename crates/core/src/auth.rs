//! Authentication of callers: who is calling, proven by what.
//!
//! A [`Validator`] checks one kind of credential (a JWT from an external issuer, a shared-secret
//! JWT, an opaque token checked by introspection, a GitHub or Google token, a Cloudflare Access
//! assertion, a Portcullis API key) and maps what it verified to one [`Principal`]. Validators
//! never read the clock or the network on their own: the time comes in the [`Context`] and every
//! outbound request goes through a [`Fetch`] implementation (the gateway's, with the SSRF guard,
//! size and time limits), so every expiry, key rotation and outage is testable.
//!
//! The other direction is here too: [`identity_token`] turns a verified principal into the
//! short-lived token, signed by Portcullis, that tells an upstream who is calling.

pub mod api_key;
mod claims;
mod fetch;
pub mod identity_token;
pub mod jwks;
pub mod jwt;
pub mod portcullis_token;
mod principal;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod validators;

pub use api_key::ApiKeyValidator;
pub use claims::ClaimMapping;
pub use fetch::{Fetch, FetchError, FetchMethod, FetchRequest, FetchResponse};
pub use jwt::install_crypto_provider;
pub use portcullis_token::{PortcullisTokens, RevocationList};
pub use principal::{Principal, Tenants};
pub use validators::{EnvLookup, build_validators};

use async_trait::async_trait;

/// Leeway for `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: i64 = 30;

/// A credential as the client presented it.
#[derive(Clone, Copy)]
pub enum Credential<'a> {
    /// `Authorization: Bearer <token>`.
    Bearer(&'a str),
    /// `Cf-Access-Jwt-Assertion: <jwt>` (Cloudflare Access in front of Portcullis).
    CfAccessAssertion(&'a str),
    /// A service token: a client id and secret sent in headers
    /// (`CF-Access-Client-Id` / `CF-Access-Client-Secret`).
    ServiceToken {
        client_id: &'a str,
        client_secret: &'a str,
    },
}

impl std::fmt::Debug for Credential<'_> {
    // Never prints the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Bearer(_) => f.write_str("Bearer(..)"),
            Credential::CfAccessAssertion(_) => f.write_str("CfAccessAssertion(..)"),
            Credential::ServiceToken { client_id, .. } => f
                .debug_struct("ServiceToken")
                .field("client_id", client_id)
                .finish_non_exhaustive(),
        }
    }
}

/// What a validation is for.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The resource the credential must be meant for: the upstream's URL
    /// (`{public_url}/servers/{name}/mcp`). Validators whose tokens carry an audience check it
    /// against their configured audiences, or against this when none are configured.
    pub resource: &'a str,
    /// Now, in seconds since the Unix epoch.
    pub now: i64,
}

/// Why a credential was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// This validator does not handle this kind of credential (another one may).
    #[error("not a credential this validator handles")]
    NotApplicable,
    /// The credential is invalid, expired, revoked or meant for someone else: 401.
    /// The reason is for logs only; it never reaches the client.
    #[error("invalid credential: {0}")]
    Invalid(String),
    /// The credential could not be checked (issuer unreachable and no usable cached keys):
    /// fail closed, but say so (503).
    #[error("credential could not be checked: {0}")]
    Unavailable(String),
}

impl Rejection {
    pub fn invalid(reason: impl Into<String>) -> Self {
        Rejection::Invalid(reason.into())
    }
}

/// One configured way to verify credentials.
#[async_trait]
pub trait Validator: Send + Sync + std::fmt::Debug {
    /// The validator's id (`[[validators]] id`, or `api_key`): the prefix of subjects.
    fn id(&self) -> &str;

    /// The OAuth authorization server whose tokens this validator accepts, if clients can
    /// discover and use one (`jwt`, `google`, `introspection` with an `issuer`): protected
    /// resource metadata lists it in `authorization_servers`.
    fn authorization_server(&self) -> Option<&str> {
        None
    }

    /// The longest time a verified result of this validator may be reused without asking again
    /// (the `cache_ttl` key); the cache also never outlives the credential's own expiry.
    fn cache_ttl(&self) -> std::time::Duration;

    /// Verifies `credential` for `context`.
    async fn validate(
        &self,
        credential: Credential<'_>,
        context: Context<'_>,
    ) -> Result<Principal, Rejection>;
}
