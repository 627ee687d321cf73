//! The identity token: a short-lived JWT, signed by Portcullis, that tells an upstream who is
//! calling (issue 3), verifiable with Portcullis's JWKS.
//!
//! It is built from the verified [`Principal`], never from the client's credential, which never
//! reaches an upstream. Its audience is the upstream's resource URL, so a token given to one
//! upstream is refused by every other that checks `aud`; it lives a minute by default (the time a
//! request takes, with room for clock skew), and never longer than the credential it stands for.
//! Its `typ` header is [`IDENTITY_TOKEN_TYP`] (explicit typing, RFC 8725 §3.11): a verifier that
//! checks `typ` can never take it for an access token, nor an access token for it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::CryptoRng;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::Principal;
use super::jwt::{Claims, JwtError};
use crate::signing::{Expect, KeyRing, SigningError};

/// The `typ` header of every identity token.
pub const IDENTITY_TOKEN_TYP: &str = "portcullis-identity+jwt";

/// The default lifetime of an identity token, in seconds.
pub const IDENTITY_TOKEN_TTL_SECS: i64 = 60;

/// The claims of an identity token for `principal`, issued by `issuer` (Portcullis's public URL)
/// for `audience` (the upstream's resource URL) at `now` (seconds since the Unix epoch).
///
/// `exp` is `now + ttl_secs`, or the principal's own expiry when that comes first. Optional claims
/// appear only when the principal has them: `email` (with `email_verified`), `name`, `tenant`,
/// `groups`, `scope` (space-separated), `amr`; `portcullis_validator` names the validator that
/// verified the caller.
pub fn identity_claims(
    principal: &Principal,
    issuer: &str,
    audience: &str,
    now: i64,
    ttl_secs: i64,
    jti: &str,
) -> Value {
    let mut exp = now.saturating_add(ttl_secs);
    if let Some(expires_at) = principal.expires_at {
        exp = exp.min(expires_at);
    }
    let mut claims = Map::new();
    claims.insert("iss".to_owned(), json!(issuer));
    claims.insert("aud".to_owned(), json!(audience));
    claims.insert("sub".to_owned(), json!(principal.subject));
    claims.insert("iat".to_owned(), json!(now));
    claims.insert("nbf".to_owned(), json!(now));
    claims.insert("exp".to_owned(), json!(exp));
    claims.insert("jti".to_owned(), json!(jti));
    if let Some(email) = &principal.email {
        claims.insert("email".to_owned(), json!(email));
        claims.insert("email_verified".to_owned(), json!(principal.email_verified));
    }
    if let Some(name) = &principal.name {
        claims.insert("name".to_owned(), json!(name));
    }
    if let Some(tenant) = &principal.tenant {
        claims.insert("tenant".to_owned(), json!(tenant));
    }
    if !principal.groups.is_empty() {
        claims.insert("groups".to_owned(), json!(principal.groups));
    }
    if !principal.scopes.is_empty() {
        claims.insert("scope".to_owned(), json!(principal.scopes.join(" ")));
    }
    if !principal.auth_methods.is_empty() {
        claims.insert("amr".to_owned(), json!(principal.auth_methods));
    }
    if !principal.validator.is_empty() {
        claims.insert(
            "portcullis_validator".to_owned(),
            json!(principal.validator),
        );
    }
    Value::Object(claims)
}

/// A fresh `jti`: 128 random bits from `rng`, base64url.
pub fn new_jti(rng: &mut impl CryptoRng) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Mints the identity token for `principal` calling the upstream at `audience`: the claims of
/// [`identity_claims`] with a fresh `jti`, signed by the ring's signing key of `now`.
pub fn mint_identity_token(
    ring: &KeyRing,
    principal: &Principal,
    issuer: &str,
    audience: &str,
    now: OffsetDateTime,
    ttl_secs: i64,
    rng: &mut impl CryptoRng,
) -> Result<String, SigningError> {
    let claims = identity_claims(
        principal,
        issuer,
        audience,
        now.unix_timestamp(),
        ttl_secs,
        &new_jti(rng),
    );
    ring.sign(&claims, IDENTITY_TOKEN_TYP, now)
}

/// Verifies an identity token as an upstream should: signed by a key of `ring`, typed as an
/// identity token, from `issuer`, for `audience`, and not expired at `now`.
pub fn verify_identity_token(
    ring: &KeyRing,
    token: &str,
    issuer: &str,
    audience: &str,
    now: OffsetDateTime,
) -> Result<Claims, JwtError> {
    ring.verify(
        token,
        &Expect {
            typ: IDENTITY_TOKEN_TYP,
            issuer,
            audience,
        },
        now,
    )
}

#[cfg(test)]
mod tests;
