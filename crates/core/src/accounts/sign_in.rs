//! The password step of signing in, and changing a password.
//!
//! [`authenticate`] takes the same path whatever is wrong: one store lookup, one Argon2id
//! verification (against the account's hash, or the dummy hash when there is no account or no
//! password), then the verdict, so neither the answer nor its timing says whether the username
//! exists or is disabled (ASVS 6.3.8, reference §0 item 15). Throttling and a second factor come
//! later, beside this step and over the same session.

use portcullis_store::{Store, User, UserStatus};
use time::OffsetDateTime;

use super::{AccountsError, MAX_PASSWORD_BYTES, Password, PasswordHashing, PasswordPolicy, Salt};

/// The active account `username` names (without regard to case) whose password is `password`,
/// or [`AccountsError::InvalidCredentials`] for every other case.
pub async fn authenticate(
    store: &dyn Store,
    hashing: &dyn PasswordHashing,
    username: &str,
    password: &Password,
) -> Result<User, AccountsError> {
    let user = store.user_get_by_username(username).await?;
    // An overlong password cannot match (none longer is ever set); verify an empty one against
    // the dummy hash so the time spent does not depend on whether the account exists.
    let too_long = password.as_str().len() > MAX_PASSWORD_BYTES;
    let matches = if too_long {
        hashing.verify(&Password::new(String::new()), None).await?;
        false
    } else {
        let hash = user.as_ref().and_then(|u| u.password_hash.as_deref());
        hashing.verify(password, hash).await?
    };
    match user {
        Some(user) if matches && user.status == UserStatus::Active => {
            tracing::info!(user = %user.id, "password sign-in");
            Ok(user)
        }
        Some(user) => {
            let reason = if !matches {
                "wrong password"
            } else {
                "account disabled"
            };
            tracing::info!(user = %user.id, reason, "password sign-in refused");
            Err(AccountsError::InvalidCredentials)
        }
        None => {
            tracing::info!(reason = "no such account", "password sign-in refused");
            Err(AccountsError::InvalidCredentials)
        }
    }
}

/// Replaces `user`'s password with `new` (hashed with `salt`) after checking `current` and the
/// policy, clears `must_change_password`, and ends every session of the user: the caller starts
/// a fresh one for the browser that made the change. Nothing is written when a check fails.
#[allow(
    clippy::too_many_arguments,
    reason = "each is a separate input: the store, the hashing, the policy, the user, both passwords, the salt and the time"
)]
pub async fn change_password(
    store: &dyn Store,
    hashing: &dyn PasswordHashing,
    policy: &PasswordPolicy,
    user: &User,
    current: &Password,
    new: &Password,
    salt: Salt,
    now: OffsetDateTime,
) -> Result<(), AccountsError> {
    policy.check(new, &user.username, &user.email)?;
    if new == current {
        return Err(AccountsError::Policy(
            "the new password must differ from the current one".to_owned(),
        ));
    }
    if !hashing
        .verify(current, user.password_hash.as_deref())
        .await?
    {
        tracing::info!(user = %user.id, "password change refused: wrong current password");
        return Err(AccountsError::WrongPassword);
    }
    let hash = hashing.hash(new, salt).await?;
    if !store.user_set_password(&user.id, &hash, false, now).await? {
        // The account vanished between sign-in and now.
        return Err(AccountsError::InvalidCredentials);
    }
    store.browser_sessions_delete_user(&user.id).await?;
    tracing::info!(user = %user.id, "password changed");
    Ok(())
}
