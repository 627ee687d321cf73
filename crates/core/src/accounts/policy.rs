//! What a username, an email address, a display name and a new password must look like.
//!
//! Passwords follow ASVS 6.2 and NIST SP 800-63B: a minimum length (`accounts.min_password_length`,
//! counted in Unicode code points), long passwords allowed ([`MAX_PASSWORD_BYTES`]), no rules about
//! which characters they contain, never truncated or case-folded, and not the account's own
//! username or email address, and not one that is common or close to a common one: the
//! embedded frequency lists of `zxcvbn` (common passwords, names, English words, keyboard
//! patterns, dates, with the account's username and email as extra words) must put it above a
//! million guesses. Usernames are plain ASCII so that two spellings that look alike cannot be two accounts.

use super::{AccountsError, Password};
use crate::config::AccountsConfig;

/// The longest password accepted, in bytes: far above any passphrase (ASVS asks for at least 64
/// characters), low enough to keep every request small.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// The longest username.
const MAX_USERNAME_CHARS: usize = 64;
/// The longest email address (RFC 5321's path limit).
const MAX_EMAIL_BYTES: usize = 254;
/// The longest display name.
const MAX_DISPLAY_NAME_CHARS: usize = 100;

/// The rules for new passwords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// The fewest characters (code points).
    pub min_length: usize,
}

impl PasswordPolicy {
    pub fn from_config(accounts: &AccountsConfig) -> Self {
        PasswordPolicy {
            min_length: accounts.min_password_length,
        }
    }

    /// Whether `password` may become the password of the account named `username` with address
    /// `email`; the error says what to change.
    pub fn check(
        &self,
        password: &Password,
        username: &str,
        email: &str,
    ) -> Result<(), AccountsError> {
        let text = password.as_str();
        let problem = if text.chars().count() < self.min_length {
            format!(
                "the password must have at least {} characters",
                self.min_length
            )
        } else if text.len() > MAX_PASSWORD_BYTES {
            format!("the password must have at most {MAX_PASSWORD_BYTES} bytes")
        } else if text.contains(char::is_control) {
            "the password must not contain control characters (such as a line break)".to_owned()
        } else if text.eq_ignore_ascii_case(username) || text.eq_ignore_ascii_case(email) {
            "the password must not be the username or the email address".to_owned()
        } else if is_common(text, username, email) {
            "the password is too common or too easy to guess; a few unrelated words make a good one"
                .to_owned()
        } else {
            return Ok(());
        };
        Err(AccountsError::Policy(problem))
    }
}

/// The fewest guesses (as a power of ten) a password must take by the `zxcvbn` estimate:
/// below this it is a common password or a small change to one.
const MIN_GUESSES_LOG10: f64 = 6.0;
/// How much of a password the estimate looks at (its cost grows quickly with length; a longer
/// password is judged by its start, which only makes the check stricter).
const ESTIMATE_CHARS: usize = 64;

/// Whether `password` is a common one, or close to one, or made of the account's own names.
fn is_common(password: &str, username: &str, email: &str) -> bool {
    let end = password
        .char_indices()
        .nth(ESTIMATE_CHARS)
        .map_or(password.len(), |(i, _)| i);
    let local_part = email.split('@').next().unwrap_or_default();
    let estimate = zxcvbn::zxcvbn(&password[..end], &[username, email, local_part]);
    estimate.guesses_log10() < MIN_GUESSES_LOG10
}

/// A username is 1 to 64 ASCII letters, digits, `.`, `_`, `-`, `@` or `+`, starting with a
/// letter or digit (so an email address can be one).
pub fn check_username(username: &str) -> Result<(), AccountsError> {
    let starts_well = username
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let allowed = username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+'));
    if starts_well && allowed && username.len() <= MAX_USERNAME_CHARS {
        Ok(())
    } else {
        Err(AccountsError::Policy(format!(
            "the username must be 1 to {MAX_USERNAME_CHARS} ASCII letters, digits, '.', '_', '-', '@' or '+', starting with a letter or digit"
        )))
    }
}

/// An email address has one `@` with something on each side, no spaces or control characters,
/// and at most 254 bytes. Whether it works is for a verification message to find out.
pub fn check_email(email: &str) -> Result<(), AccountsError> {
    let well_formed = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && !domain.is_empty() && !domain.contains('@')
    }) && !email.contains(|c: char| c.is_whitespace() || c.is_control())
        && email.len() <= MAX_EMAIL_BYTES;
    if well_formed {
        Ok(())
    } else {
        Err(AccountsError::Policy(format!(
            "{email:?} is not an email address such as alice@example.com"
        )))
    }
}

/// A display name is 1 to 100 characters, not only spaces, without control characters.
pub fn check_display_name(name: &str) -> Result<(), AccountsError> {
    if name.trim().is_empty()
        || name.chars().count() > MAX_DISPLAY_NAME_CHARS
        || name.contains(char::is_control)
    {
        Err(AccountsError::Policy(format!(
            "the display name must be 1 to {MAX_DISPLAY_NAME_CHARS} characters without control characters"
        )))
    } else {
        Ok(())
    }
}
