//! What signing in through identity providers leaves behind: the link between an identity at a
//! provider and a Portcullis account, the sign-ins started at a provider and waiting for its
//! callback, and the provider's tokens kept for upstreams that act as the user.
//!
//! An identity is named by `(provider, subject)` — the provider's own stable id for the person —
//! never by an email address, so one provider cannot speak for another's users (reference F1).
//! Pending sign-ins hold the hash of their `state` only, and are taken (read and deleted) in one
//! step, so a callback works once. Provider tokens are stored sealed under the encryption keys.

use time::OffsetDateTime;

use crate::ShortHash;

/// An identity at a provider, linked to a Portcullis account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalIdentity {
    /// The `[[identity_providers]]` id.
    pub provider: String,
    /// The provider's stable id for the person (`sub`, GitHub's numeric user id).
    pub subject: String,
    pub user_id: String,
    /// The address the provider gave at the last sign-in, and whether it said it verified it.
    pub email: Option<String>,
    pub email_verified: bool,
    pub created_at: OffsetDateTime,
    pub last_sign_in_at: OffsetDateTime,
}

/// A sign-in sent to a provider, waiting for the provider to send the browser back.
#[derive(Clone, PartialEq, Eq)]
pub struct FederationState {
    /// SHA-256 of the `state` parameter.
    pub state_hash: [u8; 32],
    pub provider: String,
    /// SHA-256 of the secret in the browser's binding cookie: the callback must come from the
    /// browser that started the sign-in.
    pub browser_hash: [u8; 32],
    /// The OpenID Connect `nonce` sent (not a secret: it travels in the URL).
    pub nonce: String,
    /// The PKCE code verifier, sealed under the encryption keys.
    pub code_verifier: Vec<u8>,
    /// Where the browser goes afterwards (a path on this origin).
    pub return_to: Option<String>,
    /// Set when a signed-in person links the provider to their account from the account page.
    pub link_user_id: Option<String>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

impl std::fmt::Debug for FederationState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FederationState")
            .field("state_hash", &ShortHash(&self.state_hash))
            .field("provider", &self.provider)
            .field("return_to", &self.return_to)
            .field("link_user_id", &self.link_user_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A user's tokens from a provider, for upstreams that act as the user there.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderToken {
    pub user_id: String,
    pub provider: String,
    /// The access token and refresh token, sealed under the encryption keys.
    pub sealed: Vec<u8>,
    /// When the access token expires, when the provider said.
    pub expires_at: Option<OffsetDateTime>,
    pub updated_at: OffsetDateTime,
}

impl std::fmt::Debug for ProviderToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderToken")
            .field("user_id", &self.user_id)
            .field("provider", &self.provider)
            .field("expires_at", &self.expires_at)
            .field("updated_at", &self.updated_at)
            .finish_non_exhaustive()
    }
}
