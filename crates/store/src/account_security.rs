//! What protects a local account beyond its password: second factors (TOTP authenticators and
//! passkeys), recovery codes, and the failure counters that slow down guessing.

use time::OffsetDateTime;

use crate::ShortHash;

/// The kind of a second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FactorKind {
    /// An RFC 6238 authenticator app.
    Totp,
    /// A WebAuthn credential.
    Passkey,
}

impl FactorKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            FactorKind::Totp => "totp",
            FactorKind::Passkey => "passkey",
        }
    }

    /// From the stored spelling.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "totp" => Some(FactorKind::Totp),
            "passkey" => Some(FactorKind::Passkey),
            _ => None,
        }
    }
}

/// One second factor of a user.
#[derive(Clone, PartialEq, Eq)]
pub struct Factor {
    /// Random, unique across users (`fac_…`).
    pub id: String,
    /// The [`User`](crate::User) it belongs to; it goes with the user.
    pub user_id: String,
    pub kind: FactorKind,
    /// The name the user gave it ("Phone", "YubiKey").
    pub name: String,
    /// TOTP: the shared secret, sealed under the encryption keys. Passkey: the credential
    /// (public key, counter) as the WebAuthn library serialises it.
    pub data: Vec<u8>,
    /// TOTP: the last time step accepted; a code of that step or an earlier one is a replay.
    pub last_step: Option<i64>,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for Factor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Factor")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("data", &format_args!("<{} bytes>", self.data.len()))
            .field("last_step", &self.last_step)
            .field("created_at", &self.created_at)
            .field("last_used_at", &self.last_used_at)
            .finish()
    }
}

/// What [`Store::factor_use`](crate::Store::factor_use) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorUse {
    /// Recorded.
    Used,
    /// The time step was not after the last one accepted: nothing changed.
    Replayed,
    /// No factor of that user has that id.
    Unknown,
}

/// A recovery code, kept as the SHA-256 of the code.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode {
    pub user_id: String,
    pub code_hash: [u8; 32],
    pub created_at: OffsetDateTime,
    /// Set when it was used; a used code never works again.
    pub used_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecoveryCode")
            .field("user_id", &self.user_id)
            .field("code_hash", &ShortHash(&self.code_hash))
            .field("created_at", &self.created_at)
            .field("used_at", &self.used_at)
            .finish()
    }
}

/// The failures counted against one key (an account, or a client address) since they were last
/// cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    pub failures: u32,
    pub last_failure_at: OffsetDateTime,
}

/// What a WebAuthn ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CeremonyKind {
    /// Registering a new passkey (`navigator.credentials.create`).
    Registration,
    /// Signing in with a passkey (`navigator.credentials.get`).
    Authentication,
}

impl CeremonyKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CeremonyKind::Registration => "registration",
            CeremonyKind::Authentication => "authentication",
        }
    }

    /// From the stored spelling.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "registration" => Some(CeremonyKind::Registration),
            "authentication" => Some(CeremonyKind::Authentication),
            _ => None,
        }
    }
}

/// The server's half of a WebAuthn ceremony in progress: the challenge the browser was given and
/// what the answer must match. It stays in the store (a client holding it could replay an old
/// challenge), bound to the browser session that started it, and is taken once.
#[derive(Clone, PartialEq, Eq)]
pub struct WebauthnCeremony {
    /// Random (`wac_…`); the page's form carries it back.
    pub id: String,
    /// The SHA-256 of the id of the browser session that started it; only that session can take
    /// it.
    pub session_hash: [u8; 32],
    pub kind: CeremonyKind,
    /// The WebAuthn library's state, serialised (challenge, allowed credentials, policy).
    pub state: Vec<u8>,
    /// Taken at or after this instant, it is refused.
    pub expires_at: OffsetDateTime,
}

impl std::fmt::Debug for WebauthnCeremony {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebauthnCeremony")
            .field("id", &self.id)
            .field("session_hash", &ShortHash(&self.session_hash))
            .field("kind", &self.kind)
            .field("state", &format_args!("<{} bytes>", self.state.len()))
            .field("expires_at", &self.expires_at)
            .finish()
    }
}
