//! Relay sessions: the `Mcp-Session-Id`s that clients hold for a 2025-era upstream.
//!
//! Session ids are never stored in clear: the key is the SHA-256 of the id, scoped to the upstream,
//! so a session of one upstream can never be used at another.

use time::OffsetDateTime;

/// The lookup key of a relay session: upstream name and SHA-256 of the session id.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionKey {
    /// The `[[upstreams]]` name the session belongs to.
    pub upstream: String,
    /// SHA-256 of the `Mcp-Session-Id` value.
    pub id_hash: [u8; 32],
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKey")
            .field("upstream", &self.upstream)
            .field("id_hash", &crate::ShortHash(&self.id_hash))
            .finish()
    }
}

/// A session the gateway relays for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelaySession {
    /// Upstream and hashed session id.
    pub key: SessionKey,
    /// The protocol version negotiated by `initialize`, when the gateway saw it.
    pub protocol_version: Option<String>,
    /// The stable subject of the principal that created the session; `None` for `auth = "none"`.
    pub principal: Option<String>,
    /// When the session was created.
    pub created_at: OffsetDateTime,
    /// When the session was last used.
    pub last_seen_at: OffsetDateTime,
}
