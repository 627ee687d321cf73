//! Signing in through identity providers (pattern 3): GitHub, Google, Microsoft Entra and any
//! OpenID Connect provider.
//!
//! A sign-in is two requests of the browser and one pending row in between:
//! 1. [`begin`]: after the person chose a provider, a fresh `state`, `nonce` and PKCE verifier
//!    are made; the store keeps the state's hash, the nonce, the sealed verifier and the hash of
//!    a secret in the browser's cookie; the browser goes to the provider's authorization
//!    endpoint.
//! 2. The callback: the server takes the pending row by the returned `state` (once: the row is
//!    deleted as it is read) and checks the browser's cookie against it; [`complete`] then
//!    checks the provider's `iss` response parameter (RFC 9207), redeems the code with the
//!    verifier, verifies the ID token (signature with the provider's published keys, `iss`,
//!    `aud` = our client id, `azp`, expiry, and the `nonce`), optionally reads userinfo (whose
//!    `sub` must match), or for GitHub reads the user API, and applies the provider's
//!    allowlists. [`account_for`] then finds or creates the Portcullis account
//!    (by `(provider, subject)`, never by email alone) under the linking policy.
//!
//! Provider tokens are sealed under the encryption keys and kept per user and provider
//! ([`tokens`]); upstreams configured with `pass_provider_token` get the access token, refreshed
//! when it has expired. Time and randomness are parameters; every request to a provider goes
//! through [`Fetch`](crate::auth::Fetch) with the SSRF guard and the provider's timeout.

mod account;
mod flow;
mod provider;
pub mod tokens;

#[cfg(test)]
mod tests;

pub use account::{AccountOutcome, account_for};
pub use flow::{CallbackParams, STATE_TTL, Started, begin, complete, state_hash};
pub use provider::{Provider, ProviderMetadata, Providers};

use portcullis_store::StoreError;

/// The `amr` value Portcullis records for a sign-in at a provider whose methods it does not
/// vouch for (`trust_mfa = false`): "federated", with no claim about how the person proved it.
pub const AMR_FEDERATED: &str = "fed";

/// Who the provider says signed in, after every check passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderIdentity {
    /// The `[[identity_providers]]` id.
    pub provider: String,
    /// The provider's stable id for the person.
    pub subject: String,
    pub email: Option<String>,
    /// Only a JSON `true` from the provider (never the string `"true"`) counts.
    pub email_verified: bool,
    pub name: Option<String>,
    /// A name to derive a username from (GitHub login, `preferred_username`).
    pub login: Option<String>,
    pub groups: Vec<String>,
    pub tenant: Option<String>,
    /// The provider's `amr`, when it sent one.
    pub amr: Vec<String>,
    pub tokens: ProviderTokens,
}

/// What the provider's token endpoint gave.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProviderTokens {
    pub access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// When the access token expires, in seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl std::fmt::Debug for ProviderTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderTokens")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| ".."))
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Why a sign-in at a provider did not happen. The server maps each to an error page; none
/// leaves a half-created account behind.
#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    /// No provider with that id is configured.
    #[error("no identity provider {0:?} is configured")]
    UnknownProvider(String),
    /// The callback's state is missing, unknown, used, expired, for another provider or from
    /// another browser.
    #[error("the sign-in request is unknown, expired or was started in another browser")]
    BadState,
    /// The provider answered the authorization request with an error (the person declined,
    /// or the provider refused).
    #[error("the provider answered {error}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Denied {
        error: String,
        description: Option<String>,
    },
    /// The provider's answer breaks the protocol: wrong `iss`, a bad or unverifiable ID token,
    /// a nonce that does not match, a userinfo `sub` of someone else…
    #[error("the provider's answer is not acceptable: {0}")]
    Invalid(String),
    /// The person is not allowed in by the provider's allowlists or the email domain list.
    #[error("{0}")]
    NotAllowed(String),
    /// The account cannot be used or made: disabled, an address taken under the linking
    /// policy, an identity linked to someone else.
    #[error("{0}")]
    Account(String),
    /// The provider could not be reached, timed out, or answered with a server error.
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// A secret could not be sealed or opened with the encryption keys.
    #[error("sealing failed: {0}")]
    Sealing(String),
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
}
