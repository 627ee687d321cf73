//! Local accounts: the people who sign in to Portcullis itself (pattern 4).
//!
//! A user's `id` is random and stable: it names the user everywhere else (sessions, grants,
//! tokens) and never changes, while the username can be looked up without regard to case and is
//! unique in that sense, so `Alice` and `alice` cannot be two accounts. The password is stored
//! only as an Argon2id PHC string; the store neither hashes nor checks it.

use time::OffsetDateTime;

/// Whether an account may sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserStatus {
    /// The account works.
    Active,
    /// Every sign-in and every existing session is refused.
    Disabled,
}

impl UserStatus {
    /// The value of the `status` column: `active` or `disabled`.
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
        }
    }

    /// The status a `status` column holds, or `None` for an unknown value.
    pub fn from_column(value: &str) -> Option<Self> {
        match value {
            "active" => Some(UserStatus::Active),
            "disabled" => Some(UserStatus::Disabled),
            _ => None,
        }
    }
}

/// The form in which usernames are compared and kept unique: lower case. Every backend computes
/// it here, so they agree on what "the same username" means whatever their collations.
pub fn username_key(username: &str) -> String {
    username.to_lowercase()
}

/// One local account.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// Random, unguessable and stable; never shown as something to type.
    pub id: String,
    /// What the person types to sign in, as they chose to write it; unique without regard to
    /// case ([`username_key`]).
    pub username: String,
    pub email: String,
    /// Whether the address is known to belong to the user (only verified addresses place a user
    /// in a tenant or reach upstreams as verified).
    pub email_verified: bool,
    pub display_name: Option<String>,
    pub tenant: Option<String>,
    pub status: UserStatus,
    /// The Argon2id PHC string of the password; `None` for an account that cannot sign in with
    /// a password (one made for an identity provider's user, later).
    pub password_hash: Option<String>,
    /// The password was set by someone else (a generated one-time password): the next sign-in
    /// must choose a new one before anything else.
    pub must_change_password: bool,
    pub created_at: OffsetDateTime,
    /// When any field last changed.
    pub updated_at: OffsetDateTime,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The hash is salted and slow to attack, but it has no business in a log line.
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("email_verified", &self.email_verified)
            .field("display_name", &self.display_name)
            .field("tenant", &self.tenant)
            .field("status", &self.status)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "<redacted>"),
            )
            .field("must_change_password", &self.must_change_password)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}
