//! Password hashing with Argon2id, and the seam through which callers run it.
//!
//! Parameters are OWASP's second Argon2id set, m = 19456 KiB, t = 2, p = 1 (reference §4.8,
//! ASVS Appendix C), about 20 ms per hash or verification on one core. Verification uses the
//! parameters stored in each PHC string, so hashes made with other parameters keep working.
//!
//! [`verify_password`] against no hash verifies against [`DUMMY_HASH`], a fixed hash made with
//! the same parameters, and answers `false`: a sign-in for an account that does not exist (or
//! has no password) costs what a real one costs, so timing does not reveal which accounts exist.

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use async_trait::async_trait;
use rand::RngCore;
use serde::{Deserialize, Deserializer};
use zeroize::Zeroizing;

use super::AccountsError;

/// Argon2id memory cost in KiB.
const M_COST: u32 = 19_456;
/// Argon2id iterations.
const T_COST: u32 = 2;
/// Argon2id lanes.
const P_COST: u32 = 1;

/// A hash of a random password that nobody knows, made with the parameters above, verified in
/// place of an account's hash when there is none to verify against.
pub(crate) const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$dkCWCSRkqlK9RkSKXdrAvw$Qm6KEfaD/ns769cdJswJro8rU4rybSZli86Q667TEmU";

/// A password as typed: never printed, wiped from memory when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(Zeroizing<String>);

impl Password {
    pub fn new(password: String) -> Self {
        Password(Zeroizing::new(password))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

impl<'de> Deserialize<'de> for Password {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Password::new)
    }
}

/// The random salt of one hash: 16 bytes, Argon2's recommended length.
#[derive(Debug, Clone, Copy)]
pub struct Salt([u8; 16]);

/// A fresh salt from the caller's random source.
pub fn new_salt(rng: &mut impl RngCore) -> Salt {
    let mut salt = [0u8; 16];
    rng.fill_bytes(&mut salt);
    Salt(salt)
}

fn argon2() -> Result<Argon2<'static>, AccountsError> {
    let params = Params::new(M_COST, T_COST, P_COST, None)
        .map_err(|e| AccountsError::Hashing(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// The Argon2id PHC string of `password` with `salt`. CPU-heavy: see [`PasswordHashing`].
pub fn hash_password(password: &Password, salt: Salt) -> Result<String, AccountsError> {
    let hash = argon2()?
        .hash_password_with_salt(password.as_str().as_bytes(), &salt.0)
        .map_err(|e| AccountsError::Hashing(e.to_string()))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `phc`; with `None`, verifies against
/// [`DUMMY_HASH`] at the same cost and answers `false`. A malformed stored hash matches nothing.
/// CPU-heavy: see [`PasswordHashing`].
pub fn verify_password(password: &Password, phc: Option<&str>) -> bool {
    let Ok(argon2) = argon2() else {
        return false;
    };
    let matches = argon2
        .verify_password(password.as_str().as_bytes(), phc.unwrap_or(DUMMY_HASH))
        .is_ok();
    matches && phc.is_some()
}

/// Where hashing and verification run. Both take tens of milliseconds of CPU, so a server must
/// not run them on its async workers, nor run more of them at once than it has cores (an easy
/// denial of service otherwise, reference §4.8): the server's implementation queues them for
/// blocking threads behind a semaphore and answers [`AccountsError::Busy`] when the queue does
/// not move.
#[async_trait]
pub trait PasswordHashing: Send + Sync + std::fmt::Debug {
    /// [`hash_password`].
    async fn hash(&self, password: &Password, salt: Salt) -> Result<String, AccountsError>;

    /// [`verify_password`].
    async fn verify(&self, password: &Password, phc: Option<&str>) -> Result<bool, AccountsError>;
}

/// Hashing on the calling thread, for the CLI (one hash per run) and tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct InlineHashing;

#[async_trait]
impl PasswordHashing for InlineHashing {
    async fn hash(&self, password: &Password, salt: Salt) -> Result<String, AccountsError> {
        hash_password(password, salt)
    }

    async fn verify(&self, password: &Password, phc: Option<&str>) -> Result<bool, AccountsError> {
        Ok(verify_password(password, phc))
    }
}
