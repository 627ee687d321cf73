//! Portcullis's own signing keys: creating them, rotating them without downtime, publishing them
//! as a JWKS, signing with them, and verifying what they signed.
//!
//! Keys live in the store (`signing_keys`) with their private half sealed under the encryption key
//! list, bound to the row's `kid` ([`SEAL_PURPOSE`]). A [`KeyRing`] is the set of keys still
//! published, opened and ready; processes load it at start-up and again whenever they want to see
//! another replica's rotation, since the store, not the process, is the truth.
//!
//! A key's life follows `security-and-reliability.md` §4.7. It is published from its creation; it
//! signs from its `not_before` for as long as it is the newest key allowed to sign; it keeps being
//! published (so tokens it signed still verify) until its `retire_after`; a purge deletes it some
//! time later. [`rotate`] creates the next key with `not_before` after the verifiers' JWKS cache
//! delay, and schedules the current keys' retirement for the longest token lifetime after that.
//!
//! The `kid` is the key's RFC 7638 thumbprint, and loading checks every row against its own
//! private key: the thumbprint, the stored public JWK and the algorithm must all agree with what
//! the sealed private key says, and the private key only opens with the encryption key. So someone
//! who can write to the database but does not hold the encryption key cannot slip a key of their
//! own into the JWKS, or pass one key off as another.
//!
//! Key generation draws every random byte from the RNG the caller passes (aws-lc-rs builds the key
//! pair from that seed or scalar), like everything else in core. RSA is not offered: aws-lc-rs only
//! generates RSA keys from its own random source.

use crate::audit::{AuditContext, action};
use aws_lc_rs::agreement::{ECDH_P256, PrivateKey};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use portcullis_store::{SigningKey, Store, StoreError};
use rand::CryptoRng;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::auth::install_crypto_provider;
use crate::auth::jwt::{Claims, Expected, Jws, JwtError, KeySet, TokenTypes, VerifyingKey};
use crate::config::SigningAlg;
use crate::crypto::{SealError, Sealer};

/// The associated data a private key is sealed with is this followed by the key's `kid`: a sealed
/// key copied into another row, or any other sealed value moved here, does not open.
pub const SEAL_PURPOSE: &[u8] = b"signing_key:";

/// How many random P-256 scalars to try before giving up: a random 256-bit value is outside the
/// group's range with probability about 2^-32, so a second try is already a curiosity.
const SCALAR_ATTEMPTS: usize = 8;

/// What can go wrong with signing keys. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored private key does not open: the encryption key it was sealed with is not in the
    /// list, or the row was altered.
    #[error("signing key {kid} does not open: {source}")]
    Sealed { kid: String, source: SealError },
    /// A stored key is inconsistent (unknown algorithm, a public key or kid that is not the private
    /// key's): a damaged or tampered row.
    #[error("signing key {kid} is damaged: {problem}")]
    Damaged { kid: String, problem: &'static str },
    /// Making or sealing a new key failed.
    #[error("cannot create a signing key: {0}")]
    Create(&'static str),
    /// No key may sign at this time (none yet, or every key retired): issuance stops (503).
    #[error("no signing key may sign now")]
    NoSigningKey,
    /// The token could not be signed.
    #[error("cannot sign: {0}")]
    Sign(String),
}

/// One published key of a [`KeyRing`], opened and ready to sign and verify.
pub struct RingKey {
    kid: String,
    alg: SigningAlg,
    /// The public JWK with `kid`, `alg` and `use`, as published.
    jwk: Jwk,
    created_at: OffsetDateTime,
    not_before: OffsetDateTime,
    retire_after: Option<OffsetDateTime>,
    signer: Signer,
    verifying: VerifyingKey,
}

/// A private key, parsed and checked once when the ring is loaded. (jsonwebtoken's `encode`
/// parses and checks the PKCS#8 document again for every signature: an ES256 key's check
/// recomputes its public key, which cost about as much as the signature itself.)
enum Signer {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
}

impl Signer {
    /// The JWS signature of `message` (RFC 7518 §3.4: ECDSA as the fixed-width `R || S`).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SigningError> {
        match self {
            // aws-lc draws ECDSA nonces from its own generator; the argument is only a token.
            Signer::Es256(pair) => pair
                .sign(&SystemRandom::new(), message)
                .map(|signature| signature.as_ref().to_vec())
                .map_err(|_| SigningError::Sign("ECDSA signing failed".to_owned())),
            Signer::EdDsa(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }
}

impl std::fmt::Debug for RingKey {
    // The private key is never shown; `EncodingKey` has no `Debug` of its own for that reason.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("created_at", &self.created_at)
            .field("not_before", &self.not_before)
            .field("retire_after", &self.retire_after)
            .finish_non_exhaustive()
    }
}

impl RingKey {
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    pub fn created_at(&self) -> OffsetDateTime {
        self.created_at
    }

    /// The earliest instant the key may sign.
    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }

    /// When the key leaves the JWKS; `None` while it is current.
    pub fn retire_after(&self) -> Option<OffsetDateTime> {
        self.retire_after
    }

    /// The public JWK as published (`kty`, `crv`, `x`[, `y`], `kid`, `alg`, `use: "sig"`).
    pub fn public_jwk(&self) -> Value {
        // A JWK of strings always serializes; `Null` would only mark a bug in jsonwebtoken.
        serde_json::to_value(&self.jwk).unwrap_or(Value::Null)
    }

    /// Still in the JWKS at `now`.
    fn published_at(&self, now: OffsetDateTime) -> bool {
        self.retire_after.is_none_or(|retire| now < retire)
    }

    /// Allowed to sign at `now` (the newest such key is the one that does).
    fn may_sign_at(&self, now: OffsetDateTime) -> bool {
        self.not_before <= now && self.published_at(now)
    }

    /// `claims` as a compact JWS under `header`, signed with this key: what jsonwebtoken's
    /// `encode` writes, with the key parsed once (see [`Signer`]).
    fn sign_jws(&self, header: &Header, claims: &Value) -> Result<String, SigningError> {
        let unwritable = |err: serde_json::Error| SigningError::Sign(err.to_string());
        let mut token = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).map_err(unwritable)?);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(serde_json::to_vec(claims).map_err(unwritable)?, &mut token);
        let signature = self.signer.sign(token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }
}

/// The keys of the store that are still published, opened with the encryption key list.
#[derive(Debug)]
pub struct KeyRing {
    /// Oldest first: by `not_before`, then `created_at`, then `kid`, the same on every replica.
    keys: Vec<RingKey>,
}

/// What a verified token must say, besides being signed by a key of the ring.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// The `typ` header (explicit typing, RFC 8725 §3.11): compared without case and without an
    /// `application/` prefix; a token without `typ` is refused.
    pub typ: &'a str,
    /// The `iss` claim.
    pub issuer: &'a str,
    /// A value the `aud` claim must hold.
    pub audience: &'a str,
}

/// What [`rotate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The new key, published now.
    pub new_kid: String,
    /// When the new key starts signing.
    pub signs_from: OffsetDateTime,
    /// The keys that were current, each with the retirement it now has (an earlier retirement
    /// already scheduled is kept).
    pub retiring: Vec<(String, OffsetDateTime)>,
}

/// The key ring a running process signs and verifies with, replaced whole when the keys in the
/// store change (a rotation made by the CLI or another replica): readers take the current ring
/// and keep it for the one operation they do.
#[derive(Debug)]
pub struct LiveKeys(std::sync::RwLock<std::sync::Arc<KeyRing>>);

impl LiveKeys {
    pub fn new(ring: KeyRing) -> Self {
        LiveKeys(std::sync::RwLock::new(std::sync::Arc::new(ring)))
    }

    /// The ring as it is now.
    pub fn current(&self) -> std::sync::Arc<KeyRing> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Puts a freshly loaded ring in place.
    pub fn replace(&self, ring: KeyRing) {
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = std::sync::Arc::new(ring);
    }
}

impl KeyRing {
    /// Loads the keys still published at `now` (retired ones are skipped without being opened) and
    /// opens their private keys. Any key that does not open or does not check out fails the whole
    /// load: a ring with a key quietly missing would stop verifying tokens that key signed.
    pub async fn load(
        store: &dyn Store,
        sealer: &Sealer,
        now: OffsetDateTime,
    ) -> Result<KeyRing, SigningError> {
        install_crypto_provider();
        let mut keys = Vec::new();
        for row in store.signing_key_list().await? {
            if row.retire_after.is_some_and(|retire| retire <= now) {
                continue;
            }
            keys.push(open_row(&row, sealer)?);
        }
        keys.sort_by(|a, b| {
            (a.not_before, a.created_at, &a.kid).cmp(&(b.not_before, b.created_at, &b.kid))
        });
        Ok(KeyRing { keys })
    }

    /// Loads the ring, first creating a key of `alg` that signs from `now` if no key may sign at
    /// `now` (a new deployment, or every key retired). Replicas starting together may each create
    /// one; that is harmless, as both are published and the newest signs.
    pub async fn ensure(
        store: &dyn Store,
        sealer: &Sealer,
        alg: SigningAlg,
        now: OffsetDateTime,
        rng: &mut impl CryptoRng,
    ) -> Result<KeyRing, SigningError> {
        let ring = KeyRing::load(store, sealer, now).await?;
        if ring.signing_key(now).is_some() {
            return Ok(ring);
        }
        // A first key is not a rotation: nothing is recorded.
        let kid = create_key(store, &AuditContext::off(), sealer, alg, now, now, rng).await?;
        tracing::info!(kid, alg = alg.as_str(), "created a signing key");
        KeyRing::load(store, sealer, now).await
    }

    /// Every key of the ring, oldest first (including any whose `retire_after` has passed since
    /// the ring was loaded).
    pub fn keys(&self) -> &[RingKey] {
        &self.keys
    }

    /// The key that signs at `now`: the newest whose `not_before` has come and that is not past
    /// its `retire_after`.
    pub fn signing_key(&self, now: OffsetDateTime) -> Option<&RingKey> {
        self.keys.iter().rev().find(|key| key.may_sign_at(now))
    }

    /// The JWKS at `now`: every key not past its `retire_after`, including keys published ahead
    /// of their first signature, each with `kid`, `alg` and `use: "sig"`.
    pub fn jwks(&self, now: OffsetDateTime) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .filter(|key| key.published_at(now))
            .map(RingKey::public_jwk)
            .collect();
        json!({ "keys": keys })
    }

    /// Signs `claims` as a compact JWS with the signing key of `now`, with the headers `alg`,
    /// `kid` and `typ` (nothing else).
    pub fn sign(
        &self,
        claims: &Value,
        typ: &str,
        now: OffsetDateTime,
    ) -> Result<String, SigningError> {
        let key = self.signing_key(now).ok_or(SigningError::NoSigningKey)?;
        let mut header = Header::new(algorithm(key.alg));
        header.kid = Some(key.kid.clone());
        header.typ = Some(typ.to_owned());
        key.sign_jws(&header, claims)
    }

    /// Verifies a token signed by a key of this ring that is published at `now`: the algorithm is
    /// the key's (never the header's), `crit` is refused, `typ`, `iss` and `aud` must be the
    /// expected ones, and `exp` (required), `nbf` and `iat` are checked with the usual leeway.
    pub fn verify(
        &self,
        token: &str,
        expect: &Expect<'_>,
        now: OffsetDateTime,
    ) -> Result<Claims, JwtError> {
        self.verify_for(token, expect.typ, expect.issuer, &[expect.audience], now)
    }

    /// [`KeyRing::verify`] for a token whose `aud` may hold any of `audiences` (Portcullis's own
    /// access tokens at its introspection and revocation endpoints, where any of its resources
    /// is a valid audience).
    pub fn verify_for(
        &self,
        token: &str,
        typ: &str,
        issuer: &str,
        audiences: &[&str],
        now: OffsetDateTime,
    ) -> Result<Claims, JwtError> {
        let keys = KeySet::new(
            self.keys
                .iter()
                .filter(|key| key.published_at(now))
                .map(|key| key.verifying.clone())
                .collect(),
        );
        let types = TokenTypes::from_config(&[typ.to_owned()]);
        let expected = Expected {
            issuers: &[issuer],
            audiences,
            token_types: &types,
            now: now.unix_timestamp(),
        };
        Jws::parse(token)?.verify(&keys, &expected)
    }
}

/// Starts a rotation at `now`: creates a key of `alg` that is published at once and signs from
/// `now + publish_delay`, and schedules every current key (no `retire_after` yet) to retire at
/// `now + publish_delay + retire_delay`.
///
/// `publish_delay` must cover how long verifiers cache the JWKS (with a margin), so that none
/// meets a token from the new key before it knows the key; `retire_delay` must cover the longest
/// lifetime of a token signed by the old key, plus the leeway, so that every such token expires
/// before its key leaves the JWKS. Rotating again before the first rotation completes is safe:
/// retirements are only ever brought forward, and the newest key that may sign is the one used.
#[allow(
    clippy::too_many_arguments,
    reason = "who acts (the audit context) joins what the operation already needed"
)]
pub async fn rotate(
    store: &dyn Store,
    audit: &AuditContext,
    sealer: &Sealer,
    alg: SigningAlg,
    now: OffsetDateTime,
    publish_delay: Duration,
    retire_delay: Duration,
    rng: &mut impl CryptoRng,
) -> Result<Rotation, SigningError> {
    let current: Vec<String> = store
        .signing_key_list()
        .await?
        .into_iter()
        .filter(|key| key.retire_after.is_none())
        .map(|key| key.kid)
        .collect();
    let signs_from = now + publish_delay;
    let new_kid = create_key(store, audit, sealer, alg, now, signs_from, rng).await?;
    let retire_at = signs_from + retire_delay;
    for kid in &current {
        store.signing_key_retire(kid, retire_at).await?;
    }
    // Read back: a retirement scheduled earlier (an emergency, a rotation racing this one) stays.
    let retiring = store
        .signing_key_list()
        .await?
        .into_iter()
        .filter(|key| current.contains(&key.kid))
        .filter_map(|key| key.retire_after.map(|at| (key.kid, at)))
        .collect();
    tracing::info!(
        new_kid,
        alg = alg.as_str(),
        %signs_from,
        "rotating signing keys"
    );
    Ok(Rotation {
        new_kid,
        signs_from,
        retiring,
    })
}

/// Generates, seals and stores a key of `alg`; returns its kid.
async fn create_key(
    store: &dyn Store,
    audit: &AuditContext,
    sealer: &Sealer,
    alg: SigningAlg,
    now: OffsetDateTime,
    not_before: OffsetDateTime,
    rng: &mut impl CryptoRng,
) -> Result<String, SigningError> {
    install_crypto_provider();
    let pkcs8 = generate(alg, rng)?;
    let material = KeyMaterial::from_pkcs8(alg, &pkcs8)
        .map_err(|_| SigningError::Create("the generated key does not load"))?;
    let sealed = sealer
        .seal(&pkcs8, &seal_aad(&material.kid), rng)
        .map_err(|_| SigningError::Create("the key does not seal"))?;
    let public_jwk = serde_json::to_string(&material.jwk)
        .map_err(|_| SigningError::Create("the public key does not serialize"))?;
    let event = audit.event(now, action::KEY_ROTATE, Some(&material.kid));
    store
        .signing_key_insert_audited(
            &SigningKey {
                kid: material.kid.clone(),
                alg: alg.as_str().to_owned(),
                public_jwk,
                private_key_sealed: sealed,
                created_at: now,
                not_before,
                retire_after: None,
            },
            event.as_ref(),
        )
        .await?;
    Ok(material.kid)
}

/// A new private key of `alg` as PKCS#8 v1 (the form jsonwebtoken reads for both algorithms),
/// built from random bytes of `rng`.
fn generate(alg: SigningAlg, rng: &mut impl CryptoRng) -> Result<Zeroizing<Vec<u8>>, SigningError> {
    match alg {
        SigningAlg::EdDsa => {
            let mut seed = Zeroizing::new([0u8; 32]);
            rng.fill_bytes(seed.as_mut_slice());
            let pair = Ed25519KeyPair::from_seed_unchecked(seed.as_slice())
                .map_err(|_| SigningError::Create("Ed25519 refused the seed"))?;
            let document = pair
                .to_pkcs8v1()
                .map_err(|_| SigningError::Create("Ed25519 key does not encode"))?;
            Ok(Zeroizing::new(document.as_ref().to_vec()))
        }
        SigningAlg::Es256 => {
            for _ in 0..SCALAR_ATTEMPTS {
                let mut scalar = Zeroizing::new([0u8; 32]);
                rng.fill_bytes(scalar.as_mut_slice());
                // Zero or a value past the group order: draw again.
                let Ok(private) = PrivateKey::from_private_key(&ECDH_P256, scalar.as_slice())
                else {
                    continue;
                };
                let public = private
                    .compute_public_key()
                    .map_err(|_| SigningError::Create("P-256 public key"))?;
                let pair = EcdsaKeyPair::from_private_key_and_public_key(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    scalar.as_slice(),
                    public.as_ref(),
                )
                .map_err(|_| SigningError::Create("P-256 key pair"))?;
                let document = pair
                    .to_pkcs8v1()
                    .map_err(|_| SigningError::Create("P-256 key does not encode"))?;
                return Ok(Zeroizing::new(document.as_ref().to_vec()));
            }
            Err(SigningError::Create("no usable P-256 scalar from the RNG"))
        }
    }
}

/// What a private key gives: the key to sign with, its public JWK (with `kid`, `alg` and `use`)
/// and its kid.
struct KeyMaterial {
    kid: String,
    jwk: Jwk,
    signer: Signer,
}

impl KeyMaterial {
    fn from_pkcs8(alg: SigningAlg, pkcs8: &[u8]) -> Result<Self, &'static str> {
        // aws-lc-rs checks the whole document (curve, key consistency) before jsonwebtoken, which
        // only extracts what it needs, sees it.
        let (signer, encoding) = match alg {
            SigningAlg::Es256 => (
                Signer::Es256(
                    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                        .map_err(|_| "the private key is not a P-256 key")?,
                ),
                EncodingKey::from_ec_der(pkcs8),
            ),
            SigningAlg::EdDsa => (
                Signer::EdDsa(
                    Ed25519KeyPair::from_pkcs8(pkcs8)
                        .map_err(|_| "the private key is not Ed25519")?,
                ),
                EncodingKey::from_ed_der(pkcs8),
            ),
        };
        let mut jwk = Jwk::from_encoding_key(&encoding, algorithm(alg))
            .map_err(|_| "the public key cannot be derived")?;
        let kid = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|_| "the thumbprint cannot be computed")?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Ok(KeyMaterial { kid, jwk, signer })
    }
}

/// Opens one stored key and checks it against itself.
fn open_row(row: &SigningKey, sealer: &Sealer) -> Result<RingKey, SigningError> {
    let damaged = |problem: &'static str| SigningError::Damaged {
        kid: row.kid.clone(),
        problem,
    };
    let alg = SigningAlg::from_name(&row.alg).ok_or(damaged("unknown algorithm"))?;
    let pkcs8 = sealer
        .open(&row.private_key_sealed, &seal_aad(&row.kid))
        .map_err(|source| SigningError::Sealed {
            kid: row.kid.clone(),
            source,
        })?;
    let material = KeyMaterial::from_pkcs8(alg, &pkcs8).map_err(damaged)?;
    if material.kid != row.kid {
        return Err(damaged("the kid is not the key's thumbprint"));
    }
    let stored: Jwk = serde_json::from_str(&row.public_jwk)
        .map_err(|_| damaged("the public JWK is not a JWK"))?;
    if stored.algorithm != material.jwk.algorithm
        || stored.common.key_id.as_deref() != Some(row.kid.as_str())
    {
        return Err(damaged("the public JWK is not the private key's"));
    }
    let decoding = DecodingKey::from_jwk(&material.jwk)
        .map_err(|_| damaged("the public key does not load"))?;
    Ok(RingKey {
        kid: material.kid.clone(),
        alg,
        verifying: VerifyingKey::new(Some(material.kid), algorithm(alg), decoding),
        jwk: material.jwk,
        created_at: row.created_at,
        not_before: row.not_before,
        retire_after: row.retire_after,
        signer: material.signer,
    })
}

fn seal_aad(kid: &str) -> Vec<u8> {
    [SEAL_PURPOSE, kid.as_bytes()].concat()
}

fn algorithm(alg: SigningAlg) -> Algorithm {
    match alg {
        SigningAlg::Es256 => Algorithm::ES256,
        SigningAlg::EdDsa => Algorithm::EdDSA,
    }
}

#[cfg(test)]
pub(crate) mod tests;
