//! Portcullis API keys and service tokens: minting them, and the `api_key` validator that
//! accepts them.
//!
//! An API key looks like `pcl_<43 base62 characters><6 base62 characters>`: 256 random bits
//! (reference §2.15 X1: far above the 128 a non-guessable value needs) followed by a checksum,
//! the first 32 bits of SHA-256 over everything before it. The fixed prefix lets secret scanners
//! find leaked keys, and the checksum lets them (and us) reject a mistyped or made-up key without
//! a store lookup. A service token is a public client id (`pclc_…`) and a secret of the same
//! shape as a key with the prefix `pcls_`, sent together in the `Portcullis-Client-Id` and
//! `Portcullis-Client-Secret` headers, the way Cloudflare Access service tokens are.
//!
//! Only the SHA-256 of a secret is stored (plain SHA-256 is enough at 256 bits of entropy, X3);
//! an API key is found by that hash, a service token by its client id and then its hash compared
//! in constant time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use portcullis_store::{ApiKey, ApiKeyKind, Store};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use super::{Context, Credential, Principal, Rejection, Validator};

/// The id of the built-in validator, as upstreams name it in `accept`.
pub const API_KEY_VALIDATOR: &str = "api_key";
/// The prefix of every API key.
pub const API_KEY_PREFIX: &str = "pcl_";
/// The prefix of every service-token secret.
pub const SERVICE_SECRET_PREFIX: &str = "pcls_";
/// The prefix of every service-token client id.
pub const SERVICE_CLIENT_ID_PREFIX: &str = "pclc_";

/// Base62 digits of 256 random bits, zero-padded.
const BODY_LEN: usize = 43;
/// Base62 digits of a 32-bit checksum, zero-padded.
const CHECKSUM_LEN: usize = 6;
/// How long a verified key may be reused without asking the store again: the reference's
/// positive-cache bound for keys checked against the database (§4.5, 30 s), which is also the
/// longest a revocation made by another process can go unnoticed.
const CACHE_TTL: Duration = Duration::from_secs(30);
/// How often a key's `last_used_at` is written while it is in use.
const TOUCH_EVERY_SECS: i64 = 60;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A freshly minted secret: shown once, then only its hash exists.
pub struct NewSecret {
    /// The whole secret as the holder presents it.
    pub secret: String,
    /// SHA-256 of `secret`, what the store keeps.
    pub hash: [u8; 32],
}

impl std::fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewSecret(..)")
    }
}

/// Mints an API key (`pcl_…`).
pub fn new_api_key(rng: &mut impl RngCore) -> NewSecret {
    new_secret(API_KEY_PREFIX, rng)
}

/// Mints a service-token secret (`pcls_…`).
pub fn new_service_secret(rng: &mut impl RngCore) -> NewSecret {
    new_secret(SERVICE_SECRET_PREFIX, rng)
}

/// Mints a public identifier: `prefix` and 17 base62 digits (96 bits), for key ids and service
/// client ids. Not a secret; random so that ids do not reveal how many keys exist.
pub fn new_public_id(prefix: &str, rng: &mut impl RngCore) -> String {
    let mut bytes = [0u8; 12];
    rng.fill_bytes(&mut bytes);
    let mut id = String::from(prefix);
    id.push_str(&base62(&bytes, 17));
    id
}

/// The SHA-256 of a presented secret, the form in which secrets are stored and looked up.
pub fn secret_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Mints a secret of the API-key shape under another prefix (client secrets, registration access
/// tokens): `prefix`, 256 random bits in base62 and a checksum.
pub fn new_secret(prefix: &str, rng: &mut impl RngCore) -> NewSecret {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    let mut secret = String::with_capacity(prefix.len() + BODY_LEN + CHECKSUM_LEN);
    secret.push_str(prefix);
    secret.push_str(&base62(&bytes, BODY_LEN));
    let checksum = checksum(&secret);
    secret.push_str(&checksum);
    NewSecret {
        hash: secret_hash(&secret),
        secret,
    }
}

/// The checksum digits of everything before them.
fn checksum(head: &str) -> String {
    let digest: [u8; 32] = Sha256::digest(head.as_bytes()).into();
    let [a, b, c, d, ..] = digest;
    base62(&[a, b, c, d], CHECKSUM_LEN)
}

/// Whether `secret` has the shape of a secret minted with `prefix`: the prefix, base62 digits of
/// the right length, and a checksum that matches.
pub fn well_formed(secret: &str, prefix: &str) -> bool {
    let Some(rest) = secret.strip_prefix(prefix) else {
        return false;
    };
    if rest.len() != BODY_LEN + CHECKSUM_LEN || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let (head, sum) = secret.split_at(prefix.len() + BODY_LEN);
    checksum(head) == sum
}

/// `bytes` as a big-endian number in base62, left-padded with zeros to `width` digits.
pub(crate) fn base62(bytes: &[u8], width: usize) -> String {
    let mut number: Vec<u8> = bytes.to_vec();
    let mut digits = Vec::with_capacity(width);
    while number.iter().any(|&b| b != 0) {
        // Long division of the whole number by 62; the remainder is the next digit.
        let mut remainder = 0u32;
        for byte in number.iter_mut() {
            let value = (remainder << 8) | u32::from(*byte);
            *byte = (value / 62) as u8;
            remainder = value % 62;
        }
        digits.push(BASE62.get(remainder as usize).copied().unwrap_or(b'0'));
    }
    while digits.len() < width {
        digits.push(b'0');
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

/// The built-in `api_key` validator: Portcullis API keys (`Authorization: Bearer pcl_…`) and
/// service tokens (`Portcullis-Client-Id` + `Portcullis-Client-Secret`), checked against the store.
pub struct ApiKeyValidator {
    store: Arc<dyn Store>,
    /// Key id → when its use was last written, in seconds; throttles `api_key_touch`.
    touched: Mutex<HashMap<String, i64>>,
}

impl std::fmt::Debug for ApiKeyValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyValidator").finish_non_exhaustive()
    }
}

impl ApiKeyValidator {
    pub fn new(store: Arc<dyn Store>) -> Self {
        ApiKeyValidator {
            store,
            touched: Mutex::new(HashMap::new()),
        }
    }

    /// The principal a good key stands for, or why it is not good (revoked, expired, wrong kind).
    fn judge(key: ApiKey, now: i64, want_service: bool) -> Result<Principal, Rejection> {
        if key.revoked_at.is_some() {
            return Err(Rejection::invalid(format!("key {} is revoked", key.id)));
        }
        let expires_at = key.expires_at.map(OffsetDateTime::unix_timestamp);
        if expires_at.is_some_and(|at| at <= now) {
            return Err(Rejection::invalid(format!("key {} has expired", key.id)));
        }
        if matches!(key.kind, ApiKeyKind::ServiceToken { .. }) != want_service {
            return Err(Rejection::invalid(format!(
                "key {} is not a {}",
                key.id,
                if want_service {
                    "service token"
                } else {
                    "bearer API key"
                }
            )));
        }
        Ok(Principal {
            subject: key.subject,
            validator: API_KEY_VALIDATOR.to_owned(),
            name: Some(key.name),
            scopes: key
                .scopes
                .split_ascii_whitespace()
                .map(str::to_owned)
                .collect(),
            auth_methods: vec![if want_service {
                "service_token".to_owned()
            } else {
                "api_key".to_owned()
            }],
            expires_at,
            token_id: Some(key.id),
            ..Principal::default()
        })
    }

    /// Records the key's use, at most once a minute per key and process.
    async fn touch(&self, id: &str, now: i64) {
        let due = {
            let mut touched = self.touched.lock().unwrap_or_else(PoisonError::into_inner);
            let last = touched.get(id).copied();
            if last.is_some_and(|at| now - at < TOUCH_EVERY_SECS) {
                false
            } else {
                if touched.len() >= 100_000 {
                    touched.clear();
                }
                touched.insert(id.to_owned(), now);
                true
            }
        };
        if due
            && let Ok(at) = OffsetDateTime::from_unix_timestamp(now)
            && let Err(e) = self.store.api_key_touch(id, at).await
        {
            // Last use is informational: failing to record it must not refuse the request.
            tracing::debug!(error = %e, key = id, "could not record API key use");
        }
    }
}

fn unavailable(e: portcullis_store::StoreError) -> Rejection {
    Rejection::Unavailable(format!("the key store is unavailable: {e}"))
}

#[async_trait]
impl Validator for ApiKeyValidator {
    fn id(&self) -> &str {
        API_KEY_VALIDATOR
    }

    fn cache_ttl(&self) -> Duration {
        CACHE_TTL
    }

    async fn validate(
        &self,
        credential: Credential<'_>,
        context: Context<'_>,
    ) -> Result<Principal, Rejection> {
        let (key, want_service) = match credential {
            Credential::Bearer(token) if token.starts_with(API_KEY_PREFIX) => {
                if !well_formed(token, API_KEY_PREFIX) {
                    return Err(Rejection::invalid("malformed API key (checksum)"));
                }
                let found = self
                    .store
                    .api_key_by_hash(&secret_hash(token))
                    .await
                    .map_err(unavailable)?;
                (
                    found.ok_or_else(|| Rejection::invalid("unknown API key"))?,
                    false,
                )
            }
            Credential::ServiceToken {
                client_id,
                client_secret,
            } => {
                if !well_formed(client_secret, SERVICE_SECRET_PREFIX) {
                    return Err(Rejection::invalid("malformed service token secret"));
                }
                let found = self
                    .store
                    .api_key_by_client_id(client_id)
                    .await
                    .map_err(unavailable)?;
                let presented = secret_hash(client_secret);
                // Compared in constant time; an unknown client id is compared against zeros so
                // both failures take the same path.
                let stored = found.as_ref().map_or([0u8; 32], |k| k.secret_hash);
                let matches: bool = presented.ct_eq(&stored).into();
                match found {
                    Some(key) if matches => (key, true),
                    _ => return Err(Rejection::invalid("unknown service token")),
                }
            }
            _ => return Err(Rejection::NotApplicable),
        };
        let id = key.id.clone();
        let principal = Self::judge(key, context.now, want_service)?;
        self.touch(&id, context.now).await;
        Ok(principal)
    }
}

#[cfg(test)]
mod tests;
