//! Second factors: enrolling an authenticator app, checking a code from it or a recovery code,
//! and what a session still needs before it counts as signed in.
//!
//! A TOTP secret is sealed under the encryption keys with its factor's id as associated data,
//! so a sealed secret copied to another row does not open. Each accepted code's time step is
//! recorded atomically in the store and that step and earlier ones are refused afterwards, so a
//! code works once even when two replicas see it at the same moment. Recovery codes are 60-bit
//! random strings kept as SHA-256 and used once; a person gets ten when they enrol their first
//! factor and can make new ones (which replace the old) on their account page.
//!
//! A session whose `amr` lacks [`AMR_MFA`] is pending the second-factor step when the account
//! has a factor and the policy is not `off`, and pending enrolment when the policy is
//! `required` and it has none. Passing the step starts a new session (a new id: the session's
//! privileges changed) whose `amr` says which factors were used.

use portcullis_store::{Factor, FactorKind, FactorUse, Store, User};
use rand::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::AccountsError;
use super::session::PendingStep;
use super::totp::{self, TotpSecret};
use crate::config::{AccountsConfig, MfaPolicy};
use crate::crypto::seal::Sealer;

/// RFC 8176 `amr`: a one-time password (an authenticator app's code or a recovery code).
pub const AMR_OTP: &str = "otp";
/// RFC 8176 `amr`: proof of possession of a hardware-secured key (a passkey).
pub const AMR_HWK: &str = "hwk";
/// RFC 8176 `amr`: user presence verified by the authenticator (a passkey's PIN or biometric).
pub const AMR_USER: &str = "user";
/// RFC 8176 `amr`: more than one factor was used.
pub const AMR_MFA: &str = "mfa";
/// How many recovery codes a person gets at a time.
pub const RECOVERY_CODES: usize = 10;
/// Factors an account may have.
pub const MAX_FACTORS: usize = 10;
/// The characters of recovery codes: no `0`/`o`, `1`/`l`/`i` to confuse.
const RECOVERY_ALPHABET: &[u8; 32] = b"23456789abcdefghjkmnpqrstuvwxyz.";
const RECOVERY_GROUPS: usize = 3;
const RECOVERY_GROUP_LEN: usize = 4;

/// The prefix of factor ids.
pub const FACTOR_ID_PREFIX: &str = "fac_";

/// The second-factor policy that applies to `user`: the strictest of the global policy (or the
/// user's tenant's) and the policies of the roles granted to the user (`mfa_by_role`). The
/// grants are read only when some role has a policy.
pub async fn policy_for(
    store: &dyn Store,
    accounts: &AccountsConfig,
    user: &User,
) -> Result<MfaPolicy, AccountsError> {
    let mut policy = accounts.mfa_for(user.tenant.as_deref());
    if !accounts.mfa_by_role.is_empty() {
        for grant in store.role_grant_list().await? {
            if grant.grantee_kind == portcullis_store::GranteeKind::User
                && grant.grantee == user.id
                && let Some(by_role) = accounts.mfa_by_role.get(&grant.role)
            {
                policy = policy.max(*by_role);
            }
        }
    }
    Ok(policy)
}

/// Whether the session's `amr` shows a second factor.
pub fn has_second_factor(amr: &[String]) -> bool {
    amr.iter().any(|m| m == AMR_MFA)
}

/// The step `user` must complete in a session proven by `amr` before they are signed in, if any,
/// in the order they are asked: the second factor (proving who they are comes first), then a
/// password set by someone else, then enrolling a factor where one is required.
pub async fn pending_step(
    store: &dyn Store,
    accounts: &AccountsConfig,
    user: &User,
    amr: &[String],
) -> Result<Option<PendingStep>, AccountsError> {
    let policy = policy_for(store, accounts, user).await?;
    let needs_factor = policy != MfaPolicy::Off && !has_second_factor(amr);
    let enrolled = if needs_factor {
        !store.factors_of_user(&user.id).await?.is_empty()
    } else {
        false
    };
    if needs_factor && enrolled {
        return Ok(Some(PendingStep::SecondFactor));
    }
    if user.must_change_password {
        return Ok(Some(PendingStep::ChangePassword));
    }
    if needs_factor && policy == MfaPolicy::Required {
        return Ok(Some(PendingStep::EnrollSecondFactor));
    }
    Ok(None)
}

/// The associated data a TOTP secret is sealed with: its factor.
fn totp_aad(factor_id: &str) -> Vec<u8> {
    format!("portcullis/mfa-totp/{factor_id}").into_bytes()
}

/// `prefix` and 128 random bits in hex.
pub(crate) fn random_id(prefix: &str, rng: &mut impl RngCore) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    let mut id = String::from(prefix);
    for byte in bytes {
        id.push_str(&format!("{byte:02x}"));
    }
    id
}

fn new_factor_id(rng: &mut impl RngCore) -> String {
    random_id(FACTOR_ID_PREFIX, rng)
}

/// A factor name as the person typed it: trimmed, 1 to 60 characters, no control characters.
pub(crate) fn check_factor_name(name: &str) -> Result<&str, AccountsError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 60 || name.contains(char::is_control) {
        return Err(AccountsError::Policy(
            "Give the authenticator a name of 1 to 60 characters.".to_owned(),
        ));
    }
    Ok(name)
}

/// Refuses another factor for an account that has [`MAX_FACTORS`] already.
pub(crate) fn check_room(existing: &[Factor]) -> Result<(), AccountsError> {
    if existing.len() >= MAX_FACTORS {
        return Err(AccountsError::Policy(format!(
            "An account can have at most {MAX_FACTORS} second factors; remove one first."
        )));
    }
    Ok(())
}

/// What enrolling a factor gave: the factor, and the recovery codes to show once when it is
/// the account's first.
#[derive(Debug)]
pub struct Enrolled {
    pub factor: Factor,
    pub recovery_codes: Option<Vec<RecoveryCode>>,
}

/// Enrols an authenticator app for `user`: `code` must be the app's current code for `secret`
/// (proving it was set up), and its step is recorded so the same code cannot also sign in.
#[allow(clippy::too_many_arguments)]
pub async fn enroll_totp(
    store: &dyn Store,
    sealer: &Sealer,
    user: &User,
    secret: &TotpSecret,
    code: &str,
    name: &str,
    now: OffsetDateTime,
    rng: &mut impl CryptoRng,
) -> Result<Enrolled, AccountsError> {
    let name = check_factor_name(name)?;
    let step = totp::verify(secret, code, now).ok_or(AccountsError::InvalidCode)?;
    let existing = store.factors_of_user(&user.id).await?;
    check_room(&existing)?;
    let id = new_factor_id(rng);
    let data = sealer
        .seal(secret.as_bytes(), &totp_aad(&id), rng)
        .map_err(|e| AccountsError::Sealing(e.to_string()))?;
    let factor = Factor {
        id,
        user_id: user.id.clone(),
        kind: FactorKind::Totp,
        name: name.to_owned(),
        data,
        last_step: Some(step),
        created_at: now,
        last_used_at: Some(now),
    };
    store.factor_insert(&factor).await?;
    let recovery_codes = if existing.is_empty() {
        Some(new_recovery_codes(store, &user.id, now, rng, None).await?)
    } else {
        None
    };
    Ok(Enrolled {
        factor,
        recovery_codes,
    })
}

/// Records a passkey registered for `user` (the WebAuthn ceremony is the server's); `data` is
/// the credential as the WebAuthn library serialises it.
pub async fn enroll_passkey(
    store: &dyn Store,
    user: &User,
    name: &str,
    data: Vec<u8>,
    now: OffsetDateTime,
    rng: &mut impl CryptoRng,
) -> Result<Enrolled, AccountsError> {
    let name = check_factor_name(name)?;
    let existing = store.factors_of_user(&user.id).await?;
    check_room(&existing)?;
    let factor = Factor {
        id: new_factor_id(rng),
        user_id: user.id.clone(),
        kind: FactorKind::Passkey,
        name: name.to_owned(),
        data,
        last_step: None,
        created_at: now,
        last_used_at: Some(now),
    };
    store.factor_insert(&factor).await?;
    let recovery_codes = if existing.is_empty() {
        Some(new_recovery_codes(store, &user.id, now, rng, None).await?)
    } else {
        None
    };
    Ok(Enrolled {
        factor,
        recovery_codes,
    })
}

/// Checks a code typed at the second-factor step: an authenticator app's current code (each
/// accepted once) or an unused recovery code (then used up). Returns the `amr` values it adds.
pub async fn verify_code(
    store: &dyn Store,
    sealer: &Sealer,
    user: &User,
    code: &str,
    now: OffsetDateTime,
) -> Result<Vec<String>, AccountsError> {
    let factors = store.factors_of_user(&user.id).await?;
    let mut replayed = false;
    for factor in factors.iter().filter(|f| f.kind == FactorKind::Totp) {
        // A factor sealed under a key this server no longer has never matches; the person can
        // still use a recovery code (and an operator can reset their factors).
        let secret = match sealer.open(&factor.data, &totp_aad(&factor.id)) {
            Ok(secret) => TotpSecret::from_bytes(secret.to_vec()),
            Err(e) => {
                tracing::error!(user = %user.id, factor = %factor.id, error = %e, "a second factor cannot be opened with the encryption keys");
                continue;
            }
        };
        let Some(step) = totp::verify(&secret, code, now) else {
            continue;
        };
        match store
            .factor_use(&user.id, &factor.id, Some(step), None, now)
            .await?
        {
            FactorUse::Used => return Ok(vec![AMR_OTP.to_owned(), AMR_MFA.to_owned()]),
            FactorUse::Replayed | FactorUse::Unknown => replayed = true,
        }
    }
    if !replayed
        && let Some(hash) = RecoveryCode::hash_of(code)
        && store.recovery_code_use(&user.id, &hash, now).await?
    {
        tracing::info!(user = %user.id, "signed in with a recovery code");
        return Ok(vec![AMR_OTP.to_owned(), AMR_MFA.to_owned()]);
    }
    Err(AccountsError::InvalidCode)
}

/// Removes one of the user's factors, with `audit` (its record) in the same transaction.
/// Removing the last one also removes the recovery codes.
pub async fn remove_factor(
    store: &dyn Store,
    user: &User,
    factor_id: &str,
    audit: Option<&portcullis_store::AuditEvent>,
) -> Result<bool, AccountsError> {
    let removed = store
        .factor_delete_audited(&user.id, factor_id, audit)
        .await?;
    if removed && store.factors_of_user(&user.id).await?.is_empty() {
        store.mfa_reset(&user.id).await?;
    }
    Ok(removed)
}

/// A recovery code as shown to the person: three groups of four characters.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(Zeroizing<String>);

impl RecoveryCode {
    fn generate(rng: &mut impl RngCore) -> Self {
        let mut text = String::with_capacity(RECOVERY_GROUPS * (RECOVERY_GROUP_LEN + 1));
        for group in 0..RECOVERY_GROUPS {
            if group > 0 {
                text.push('-');
            }
            for _ in 0..RECOVERY_GROUP_LEN {
                // 31 usable characters: draw 5 bits and skip the 32nd.
                loop {
                    let index = usize::from(u8::try_from(rng.next_u32() & 31).unwrap_or(0));
                    if let Some(&c) = RECOVERY_ALPHABET.get(index).filter(|c| **c != b'.') {
                        text.push(char::from(c));
                        break;
                    }
                }
            }
        }
        RecoveryCode(Zeroizing::new(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hash a typed code is looked up by: lower case, without spaces and dashes. `None` when
    /// it cannot be a recovery code at all.
    pub fn hash_of(typed: &str) -> Option<[u8; 32]> {
        let normal: String = typed
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let valid = normal.len() == RECOVERY_GROUPS * RECOVERY_GROUP_LEN
            && normal
                .bytes()
                .all(|b| b != b'.' && RECOVERY_ALPHABET.contains(&b));
        valid.then(|| Sha256::digest(normal.as_bytes()).into())
    }
}

impl std::fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCode(..)")
    }
}

/// Makes ten new recovery codes for the user, replacing any they had, with `audit` (their record,
/// never the codes) in the same transaction; returns them to be shown once.
pub async fn new_recovery_codes(
    store: &dyn Store,
    user_id: &str,
    now: OffsetDateTime,
    rng: &mut impl RngCore,
    audit: Option<&portcullis_store::AuditEvent>,
) -> Result<Vec<RecoveryCode>, AccountsError> {
    let codes: Vec<RecoveryCode> = (0..RECOVERY_CODES)
        .map(|_| RecoveryCode::generate(rng))
        .collect();
    let hashes: Vec<[u8; 32]> = codes
        .iter()
        .filter_map(|c| RecoveryCode::hash_of(c.as_str()))
        .collect();
    store
        .recovery_codes_set_audited(user_id, &hashes, now, audit)
        .await?;
    Ok(codes)
}
