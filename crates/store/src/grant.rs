//! What the authorization server remembers: authorization codes, grants (a user's consent to a
//! client for one resource, and the refresh-token family that carries it), refresh tokens,
//! revoked access tokens, and remembered consents.
//!
//! Secrets (codes, refresh tokens) are stored only as SHA-256 hashes: they carry at least 256
//! random bits, so the hash is a safe lookup key (`security-and-reliability.md` C5, X3). The two
//! operations that turn one credential into another — redeeming a code and rotating a refresh
//! token — are single transactions in every backend ([`Store::code_redeem`],
//! [`Store::refresh_rotate`]), so a token is never returned for a code or refresh token that was
//! not consumed in the same commit.
//!
//! [`Store::code_redeem`]: crate::Store::code_redeem
//! [`Store::refresh_rotate`]: crate::Store::refresh_rotate

use time::OffsetDateTime;

/// Formats a 32-byte hash for `Debug`: a short prefix is all a log reader needs.
fn hash_prefix(hash: &[u8; 32]) -> String {
    hash.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// An authorization code, issued by `/authorize` and redeemed once at `/token`.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    /// SHA-256 of the code.
    pub code_hash: [u8; 32],
    pub client_id: String,
    /// The signed-in user's subject.
    pub subject: String,
    /// The redirect URI of the authorization request, exactly as sent.
    pub redirect_uri: String,
    /// The PKCE S256 challenge.
    pub code_challenge: String,
    /// Space-separated granted scopes.
    pub scope: String,
    /// The resource (an upstream's canonical URL) the tokens will be for.
    pub resource: String,
    /// The OpenID Connect `nonce`, when the client sent one.
    pub nonce: Option<String>,
    /// When the user authenticated, and how (space-separated `amr` values).
    pub auth_time: OffsetDateTime,
    pub amr: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// Set when the code is redeemed; a code with a `consumed_at` is never redeemed again.
    pub consumed_at: Option<OffsetDateTime>,
    /// The grant the redemption created: revoked if the code is ever presented again.
    pub grant_id: Option<String>,
}

impl std::fmt::Debug for AuthorizationCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationCode")
            .field(
                "code_hash",
                &format_args!("{}…", hash_prefix(&self.code_hash)),
            )
            .field("client_id", &self.client_id)
            .field("subject", &self.subject)
            .field("redirect_uri", &self.redirect_uri)
            .field("scope", &self.scope)
            .field("resource", &self.resource)
            .field("expires_at", &self.expires_at)
            .field("consumed_at", &self.consumed_at)
            .field("grant_id", &self.grant_id)
            .finish_non_exhaustive()
    }
}

/// A user's authorization of a client for one resource: what its tokens may do, and the refresh
/// token family that keeps it alive. Revoking the grant ends every token issued under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// A random public id; access tokens carry it, so revoking the grant stops them too.
    pub id: String,
    pub client_id: String,
    pub subject: String,
    /// Space-separated scopes; a refresh never widens them.
    pub scope: String,
    pub resource: String,
    pub auth_time: OffsetDateTime,
    pub amr: String,
    pub created_at: OffsetDateTime,
    /// The family's absolute lifetime: no refresh token of it works after this.
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

/// One refresh token of a grant's family.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken {
    /// SHA-256 of the token.
    pub token_hash: [u8; 32],
    pub grant_id: String,
    pub created_at: OffsetDateTime,
    /// Idle expiry: unused until then, the token stops working.
    pub expires_at: OffsetDateTime,
    /// When it was exchanged for its successor.
    pub used_at: Option<OffsetDateTime>,
    /// The token issued in exchange (set with `used_at`).
    pub successor_hash: Option<[u8; 32]>,
    /// When a lost response was retried with this token: a token works for one retry only.
    pub retried_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshToken")
            .field(
                "token_hash",
                &format_args!("{}…", hash_prefix(&self.token_hash)),
            )
            .field("grant_id", &self.grant_id)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("used_at", &self.used_at)
            .field("retried_at", &self.retried_at)
            .field(
                "successor_hash",
                &self
                    .successor_hash
                    .as_ref()
                    .map(|h| format!("{}…", hash_prefix(h))),
            )
            .finish()
    }
}

/// What redeeming a code did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeRedemption {
    /// The code was unused and unexpired: it is consumed now, and the grant and refresh token
    /// given to [`Store::code_redeem`](crate::Store::code_redeem) are stored.
    Redeemed,
    /// No such code.
    Unknown,
    /// The code expired before it was redeemed. Nothing changed.
    Expired,
    /// The code had been redeemed before: the grant that redemption created is now revoked, and
    /// nothing was stored (OAuth 2.1 §4.1.3: a code works once, and a replay revokes what it
    /// gave).
    Replayed { grant_id: Option<String> },
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshRotation {
    /// The token was current: it is now used, and the successor given to
    /// [`Store::refresh_rotate`](crate::Store::refresh_rotate) is stored.
    Rotated(Grant),
    /// The token had just been rotated, its successor was never used, and this is within the
    /// grace period: the lost response is retried — the unused successor is withdrawn and the new
    /// one stored in its place (FAPI 2.0's retry rule, reference §4.3).
    Retried(Grant),
    /// No such token.
    Unknown,
    /// The token or its grant has expired, or the grant was revoked. Nothing changed.
    Invalid,
    /// A used token presented again outside the retry rule: the whole family (the grant) is
    /// revoked now (RFC 9700 §4.14.2).
    Reused { grant_id: String },
}

impl RefreshRotation {
    /// Whether this outcome changed the store (and so is what an audit record describes).
    pub fn changed(&self) -> bool {
        matches!(
            self,
            Self::Rotated(_) | Self::Retried(_) | Self::Reused { .. }
        )
    }
}

impl CodeRedemption {
    /// Whether this outcome changed the store (and so is what an audit record describes).
    pub fn changed(&self) -> bool {
        matches!(self, Self::Redeemed | Self::Replayed { .. })
    }
}

/// An access token revoked before it expired: the gateway refuses it until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedAccessToken {
    pub jti: String,
    pub expires_at: OffsetDateTime,
    pub revoked_at: OffsetDateTime,
}

/// A remembered consent: `subject` allowed `client_id` to use `resource` with `scope` through
/// `redirect_uri`. A later identical request (same client, redirect URI and resource, scopes
/// within these) need not ask again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub subject: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub resource: String,
    pub scope: String,
    pub created_at: OffsetDateTime,
}
