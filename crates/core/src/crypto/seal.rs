//! Sealing: AES-256-GCM encryption of secrets kept at rest (Portcullis's private signing keys now;
//! upstream provider tokens and TOTP seeds later), under a list of keys for rotation.
//!
//! The list follows Hydra's pattern (`security-and-reliability.md` §4.7): the first key seals,
//! every key opens. Rotating is prepending a new key; once everything has been sealed again
//! under it, the old key can be dropped from the end. Each key has a short id (the first four
//! bytes of a domain-separated SHA-256 of the key: not secret, and useless for finding the key)
//! that a sealed blob carries in its header, so opening picks the right key without trying
//! each one.
//!
//! A sealed blob is `version (1) ‖ key id (4) ‖ nonce (12) ‖ ciphertext ‖ tag (16)`. The nonce is
//! 96 random bits from the caller's RNG: with random nonces one key may seal about 2^32 values
//! before a repeat becomes a real risk, far beyond what Portcullis stores. The header and the
//! caller's associated data are both authenticated, and the associated data names the purpose and
//! the row (`signing_key:<kid>`), so a blob copied into another row, or read for another purpose,
//! fails to open instead of decrypting to the wrong secret.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use rand::CryptoRng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The length of one key, in bytes.
pub const KEY_LEN: usize = 32;
/// The format version of a sealed blob.
const VERSION: u8 = 1;
/// The length of a key id, in bytes.
const KEY_ID_LEN: usize = 4;
/// Version, key id and nonce.
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;
/// The GCM tag.
const TAG_LEN: usize = 16;
/// Separates key ids from any other SHA-256 of the same bytes.
const KEY_ID_DOMAIN: &[u8] = b"portcullis seal key id\0";

/// Standard and URL-safe base64, each with or without padding: operators paste keys from
/// `openssl rand -base64 32` as often as from tools that emit base64url.
const STANDARD_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const URL_SAFE_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What can go wrong when parsing keys, sealing or opening. Messages never contain key material
/// or plaintext; positions in a key list count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The key list has no key at all.
    #[error("the key list is empty")]
    NoKeys,
    /// An entry between commas is empty.
    #[error("key {position} of the list is empty")]
    EmptyKey { position: usize },
    /// An entry is not base64 (standard or URL-safe, padded or not).
    #[error("key {position} of the list is not base64")]
    NotBase64 { position: usize },
    /// An entry does not decode to exactly 32 bytes.
    #[error("key {position} of the list is {len} bytes long; a key is {KEY_LEN} random bytes")]
    WrongLength { position: usize, len: usize },
    /// The same key (or, absurdly unlikely, two keys with the same id) appears twice.
    #[error("key {position} of the list repeats an earlier key")]
    DuplicateKey { position: usize },
    /// The blob is too short or of an unknown version: not something this sealer made.
    #[error("not a sealed value")]
    Malformed,
    /// The blob was sealed with a key that is not in the list (dropped too early, or another
    /// deployment's).
    #[error("sealed with key {key_id}, which is not in the key list")]
    UnknownKey { key_id: String },
    /// Authentication failed: the blob was altered, or opened with other associated data than it
    /// was sealed with (another row, another purpose).
    #[error("the sealed value does not open: altered, or not meant for this place")]
    Unauthentic,
    /// The cipher refused to work (never seen in practice).
    #[error("encryption failed")]
    Cipher,
}

/// A key list in its text form: comma-separated base64 keys, as kept in the environment variable
/// or key file. A secret: its `Debug` shows nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyText(Zeroizing<String>);

impl KeyText {
    pub fn new(text: String) -> Self {
        KeyText(Zeroizing::new(text))
    }

    /// The text itself, for writing it where it is kept.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for KeyText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyText(..)")
    }
}

/// One key of the list.
struct SealKey {
    id: [u8; KEY_ID_LEN],
    key: LessSafeKey,
}

/// Seals with the first key of its list and opens with any of them.
pub struct Sealer {
    /// Never empty: the constructors refuse an empty list.
    keys: Vec<SealKey>,
}

impl std::fmt::Debug for Sealer {
    // Key ids only: they identify keys in logs without revealing anything about them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("key_ids", &self.key_ids())
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// Parses a key list: comma-separated base64 (standard or URL-safe, padding optional) of 32
    /// bytes each, whitespace around each key ignored. The first key seals.
    pub fn parse(text: &KeyText) -> Result<Sealer, SealError> {
        let mut keys = Vec::new();
        for (index, entry) in text.expose().split(',').enumerate() {
            let position = index + 1;
            let entry = entry.trim();
            if entry.is_empty() {
                return Err(SealError::EmptyKey { position });
            }
            let engine = if entry.contains(['-', '_']) {
                &URL_SAFE_ANY_PADDING
            } else {
                &STANDARD_ANY_PADDING
            };
            let bytes = Zeroizing::new(
                engine
                    .decode(entry)
                    .map_err(|_| SealError::NotBase64 { position })?,
            );
            let key = <&[u8; KEY_LEN]>::try_from(bytes.as_slice()).map_err(|_| {
                SealError::WrongLength {
                    position,
                    len: bytes.len(),
                }
            })?;
            keys.push(*key);
        }
        let keys = Zeroizing::new(keys);
        Sealer::from_keys(&keys)
    }

    /// A sealer over raw keys, the first of which seals.
    pub fn from_keys(keys: &[[u8; KEY_LEN]]) -> Result<Sealer, SealError> {
        let mut sealer = Sealer { keys: Vec::new() };
        for (index, bytes) in keys.iter().enumerate() {
            let id = key_id(bytes);
            if sealer.keys.iter().any(|k| k.id == id) {
                return Err(SealError::DuplicateKey {
                    position: index + 1,
                });
            }
            let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| SealError::Cipher)?;
            sealer.keys.push(SealKey {
                id,
                key: LessSafeKey::new(key),
            });
        }
        if sealer.keys.is_empty() {
            return Err(SealError::NoKeys);
        }
        Ok(sealer)
    }

    /// A sealer over one new random key, for state that lives no longer than the process (an
    /// in-memory store).
    pub fn generate(rng: &mut impl CryptoRng) -> Result<Sealer, SealError> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill_bytes(key.as_mut_slice());
        Sealer::from_keys(std::slice::from_ref(&*key))
    }

    /// The ids of the keys, the sealing key first, as 8 hex digits each (for logs and admin
    /// output).
    pub fn key_ids(&self) -> Vec<String> {
        self.keys.iter().map(|k| hex(&k.id)).collect()
    }

    /// Seals `plaintext` under the first key, binding it to `aad` (which must be given again to
    /// open it).
    pub fn seal(
        &self,
        plaintext: &[u8],
        aad: &[u8],
        rng: &mut impl CryptoRng,
    ) -> Result<Vec<u8>, SealError> {
        let sealing = self.keys.first().ok_or(SealError::NoKeys)?;
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);

        let mut blob = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
        blob.push(VERSION);
        blob.extend_from_slice(&sealing.id);
        blob.extend_from_slice(&nonce);
        let mut in_out = Zeroizing::new(plaintext.to_vec());
        sealing
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(associated_data(&blob, aad)),
                &mut *in_out,
            )
            .map_err(|_| SealError::Cipher)?;
        // Ciphertext from here on: no longer a secret, but the buffer is wiped all the same.
        blob.extend_from_slice(&in_out);
        Ok(blob)
    }

    /// Opens a blob made by [`Sealer::seal`] with the same `aad`, under whichever key of the list
    /// sealed it.
    pub fn open(&self, blob: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let (header, sealed) = blob
            .split_at_checked(HEADER_LEN)
            .filter(|(_, sealed)| sealed.len() >= TAG_LEN)
            .ok_or(SealError::Malformed)?;
        let (version, rest) = header.split_first().ok_or(SealError::Malformed)?;
        if *version != VERSION {
            return Err(SealError::Malformed);
        }
        let (id, nonce) = rest
            .split_at_checked(KEY_ID_LEN)
            .ok_or(SealError::Malformed)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id.as_slice() == id)
            .ok_or_else(|| SealError::UnknownKey { key_id: hex(id) })?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Malformed)?;
        let mut in_out = Zeroizing::new(sealed.to_vec());
        let plaintext_len = key
            .key
            .open_in_place(nonce, Aad::from(associated_data(header, aad)), &mut in_out)
            .map_err(|_| SealError::Unauthentic)?
            .len();
        in_out.truncate(plaintext_len);
        Ok(in_out)
    }
}

/// A new random key in the text form [`Sealer::parse`] reads: standard base64 of 32 bytes from
/// `rng`. Prepend it to a list (`NEW,OLD`) to rotate.
pub fn new_key_text(rng: &mut impl CryptoRng) -> KeyText {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    rng.fill_bytes(key.as_mut_slice());
    KeyText::new(STANDARD.encode(key.as_slice()))
}

/// What GCM authenticates besides the ciphertext: the blob's header, then the caller's data.
fn associated_data(header: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut all = Vec::with_capacity(header.len() + aad.len());
    all.extend_from_slice(header);
    all.extend_from_slice(aad);
    all
}

fn key_id(key: &[u8; KEY_LEN]) -> [u8; KEY_ID_LEN] {
    let digest: [u8; 32] = Sha256::new()
        .chain_update(KEY_ID_DOMAIN)
        .chain_update(key)
        .finalize()
        .into();
    let [a, b, c, d, ..] = digest;
    [a, b, c, d]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
