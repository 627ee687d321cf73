//! `kind = "hs256"`: JWTs signed with a shared secret (HMAC-SHA256), for issuers that cannot
//! publish keys. The secret is the raw bytes of the environment variable named by `secret_env`,
//! at least 256 bits (RFC 7518 §3.2 requires a key at least as long as the hash output).

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey};

use super::jwt::JwtValidator;
use super::{BuildProblem, JwtCore, Keys, Parts};
use crate::auth::jwt::{KeySet, TokenTypes, VerifyingKey};

/// The shortest secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

pub(super) fn build(parts: &Parts<'_>) -> Result<JwtValidator, BuildProblem> {
    let v = parts.config;
    let issuer = parts.required("issuer", &v.issuer)?;
    let secret = parts.secret("secret_env", &v.secret_env)?;
    if secret.0.len() < MIN_SECRET_BYTES {
        return Err(BuildProblem::new(
            "secret_env",
            format!(
                "the secret is {} bytes long; at least {MIN_SECRET_BYTES} bytes (256 bits) are required",
                secret.0.len()
            ),
        ));
    }
    // The only key, pinned to HS256: a token claiming any other algorithm fails, and no
    // asymmetric validator ever holds an HMAC key, so the two cannot be confused.
    let key = VerifyingKey::new(None, Algorithm::HS256, DecodingKey::from_secret(&secret.0));
    let core = JwtCore {
        issuers: vec![issuer],
        audiences: Parts::list(&v.audiences),
        token_types: TokenTypes::from_config(&Parts::list(&v.token_types)),
        keys: Keys::Static(Arc::new(KeySet::new(vec![key]))),
    };
    Ok(JwtValidator::new(parts, core))
}
