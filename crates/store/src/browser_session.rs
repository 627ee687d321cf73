//! Browser sessions: what a signed-in browser's session cookie stands for.
//!
//! The cookie holds a 256-bit random secret; the store keeps only its SHA-256 (`id_hash`), so
//! reading the database does not let anyone take over a session. Both expiries are stored and
//! judged by the caller against its own clock: the idle expiry slides forward with use, never past
//! the absolute one, which is fixed when the session starts.

use time::OffsetDateTime;

/// One signed-in browser.
#[derive(Clone, PartialEq, Eq)]
pub struct BrowserSession {
    /// SHA-256 of the cookie's secret.
    pub id_hash: [u8; 32],
    /// The [`User`](crate::User) signed in.
    pub user_id: String,
    pub created_at: OffsetDateTime,
    /// When the session was last used, as recorded by
    /// [`Store::browser_session_touch`](crate::Store::browser_session_touch).
    pub last_seen_at: OffsetDateTime,
    /// The session ends at this instant unless it is used before.
    pub idle_expires_at: OffsetDateTime,
    /// The session ends at this instant whatever happens.
    pub absolute_expires_at: OffsetDateTime,
    /// When the user last proved who they are (OIDC `auth_time`).
    pub auth_time: OffsetDateTime,
    /// How they proved it: RFC 8176 method references such as `pwd`, `otp`, `hwk`, each a token
    /// without spaces.
    pub amr: Vec<String>,
}

impl BrowserSession {
    /// `amr` as the SQL backends store it: the references separated by single spaces.
    pub fn amr_column(&self) -> String {
        self.amr.join(" ")
    }

    /// `amr` from its stored form.
    pub fn amr_from_column(column: &str) -> Vec<String> {
        column.split_ascii_whitespace().map(str::to_owned).collect()
    }
}

impl std::fmt::Debug for BrowserSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserSession")
            .field("id_hash", &crate::ShortHash(&self.id_hash))
            .field("user_id", &self.user_id)
            .field("created_at", &self.created_at)
            .field("last_seen_at", &self.last_seen_at)
            .field("idle_expires_at", &self.idle_expires_at)
            .field("absolute_expires_at", &self.absolute_expires_at)
            .field("auth_time", &self.auth_time)
            .field("amr", &self.amr)
            .finish()
    }
}
