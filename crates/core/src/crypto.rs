//! Portcullis's own cryptography at rest: sealing secrets before they reach the store
//! ([`seal`]), and finding the key list that seals them ([`encryption_key`]).
//!
//! Nothing here reads the environment, a file or the OS random source: the key list arrives as
//! text the caller found (the CLI reads the variable or the file), and every nonce and key comes
//! from the RNG the caller passes, so every path is testable and deterministic under a seeded RNG.

pub mod encryption_key;
pub mod seal;

pub use encryption_key::{EncryptionKeys, KeyOrigin, StoreLocation, resolve_encryption_keys};
pub use seal::{KeyText, SealError, Sealer};
