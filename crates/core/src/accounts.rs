//! Local accounts (pattern 4): passwords, the sign-in step, and browser sessions.
//!
//! Signing in is a sequence of steps over one browser session: the password step
//! ([`authenticate`]) proves who the person is and starts a session whose `amr` says how; a
//! session with a [`PendingStep`] (a second factor to give, a password that must be changed now,
//! a second factor to enrol) is not yet a signed-in user, and callers send the browser to that step's page until it is
//! done. Enumeration is closed on every path: an unknown username, a wrong password, an account
//! without a password and a disabled account all cost one Argon2id verification and end in the
//! same [`AccountsError::InvalidCredentials`].
//!
//! Hashing costs tens of milliseconds of CPU, so it goes through [`PasswordHashing`]: the server
//! runs it on blocking threads behind a bounded queue, the CLI and tests inline
//! ([`InlineHashing`]). Nothing here spawns, sleeps or reads the clock or a global random source.

pub mod mfa;
#[cfg(feature = "passkeys")]
pub mod passkey;
mod password;
mod policy;
mod session;
mod sign_in;
pub mod throttle;
pub mod totp;

pub use mfa::pending_step;
pub use password::{
    InlineHashing, Password, PasswordHashing, Salt, hash_password, new_salt, verify_password,
};
pub use policy::{
    MAX_PASSWORD_BYTES, PasswordPolicy, check_display_name, check_email, check_username,
};
pub use session::{
    AMR_PASSWORD, PendingStep, SESSION_TOUCH_INTERVAL, SessionSecret, SessionTimeouts,
    StartedSession, end_session, resume_session, start_session,
};
pub use sign_in::{authenticate, change_password};

use portcullis_store::StoreError;

/// Why an accounts operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    /// The username and password do not match an active account. One message for every reason
    /// (unknown user, wrong password, no password, disabled), so it tells nobody which accounts
    /// exist (ASVS 6.3.8).
    #[error("invalid username or password")]
    InvalidCredentials,
    /// The current password given to change it is not the account's.
    #[error("the current password is not correct")]
    WrongPassword,
    /// A new password, username or other field breaks the rules; the message says which.
    #[error("{0}")]
    Policy(String),
    /// Every password-hashing slot stayed busy: answer 503 and let the person try again.
    #[error("too many sign-ins are in progress; try again in a moment")]
    Busy,
    /// The hashing library refused its parameters or input (not expected in practice).
    #[error("password hashing failed: {0}")]
    Hashing(String),
    /// The second-factor code is not a current code of the account's authenticator, was used
    /// already, or is not an unused recovery code.
    #[error("the authentication code is not valid")]
    InvalidCode,
    /// Too many recent failures for this account or address: the next attempt is accepted
    /// after `retry_after`.
    #[error("too many failed attempts; try again in {} s", retry_after.as_secs())]
    Throttled { retry_after: std::time::Duration },
    /// The passkey form names a ceremony this browser session did not start, one that was used
    /// already, or one that expired: the page must be loaded again for a new challenge.
    #[error("the passkey request is out of date")]
    CeremonyOutOfDate,
    /// The passkey's answer did not verify (signature, challenge, origin, user verification,
    /// signature counter, an unknown or removed credential, a malformed answer); the reason is
    /// for the log, never for the page.
    #[error("the passkey was not accepted: {0}")]
    PasskeyRejected(String),
    /// A secret could not be sealed or opened with the encryption keys.
    #[error("sealing failed: {0}")]
    Sealing(String),
    /// The store failed: nothing was changed.
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
}

#[cfg(test)]
mod tests;
