//! Portcullis's own signing keys: the asymmetric keys its tokens are signed with and its JWKS
//! publishes.
//!
//! The store keeps them opaque. The private key arrives sealed (encrypted and authenticated by
//! core with a key the store never sees, bound to the row's `kid`), so a database dump or a
//! replica's logs never hold a usable private key; the public JWK is kept in clear so that keys
//! can be listed and published without opening anything. Which key signs and which keys are
//! published is decided by the caller from the three timestamps, against its own clock.

use time::OffsetDateTime;

/// One signing key.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    /// The key id: the JWS `kid` header and the JWK's `kid` (an RFC 7638 thumbprint). Unique.
    pub kid: String,
    /// The JWS algorithm the key signs with (`ES256`, `EdDSA`).
    pub alg: String,
    /// The public key as a JWK, JSON text.
    pub public_jwk: String,
    /// The private key, sealed by core (never stored in clear).
    pub private_key_sealed: Vec<u8>,
    /// When the key was created.
    pub created_at: OffsetDateTime,
    /// The earliest instant the key may sign. A key is published (in the JWKS) from its creation,
    /// so a key created for a rotation is known to every verifier before its first token.
    pub not_before: OffsetDateTime,
    /// When the key leaves the JWKS (and stops verifying); `None` while it is current.
    pub retire_after: Option<OffsetDateTime>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The sealed key is useless without the encryption key, but it has no business in logs.
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("public_jwk", &self.public_jwk)
            .field(
                "private_key_sealed",
                &format_args!("<{} bytes>", self.private_key_sealed.len()),
            )
            .field("created_at", &self.created_at)
            .field("not_before", &self.not_before)
            .field("retire_after", &self.retire_after)
            .finish()
    }
}
