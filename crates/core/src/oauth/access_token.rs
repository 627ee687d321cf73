//! Portcullis's access tokens: RFC 9068 JWTs (`typ` `at+jwt`) signed with its keys, each for
//! exactly one resource (`aud`), short-lived, with a `jti` that can be revoked.
//!
//! Beside the RFC 9068 claims (`iss`, `exp`, `aud`, `sub`, `client_id`, `iat`, `jti`, `scope`,
//! `auth_time`, `amr`) a token carries what the gateway tells upstreams about the caller (`email`,
//! `email_verified`, `name`, `tenant`, `groups`) and, for tokens of a user's grant,
//! `portcullis_grant`: revoking the grant (a refresh-token replay, a code replay, the user
//! withdrawing consent) stops its access tokens too. Client-credentials tokens say
//! `gty: "client_credentials"`; their `sub` is the client id.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::Profile;
use crate::auth::jwt::{Claims, JwtError};
use crate::signing::{KeyRing, SigningError};

/// The `typ` of every access token (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// The claim naming the grant a token was issued under.
pub const GRANT_CLAIM: &str = "portcullis_grant";
/// The `gty` of client-credentials tokens.
pub const CLIENT_CREDENTIALS: &str = "client_credentials";

/// What an access token says.
#[derive(Debug, Clone)]
pub struct AccessToken<'a> {
    pub issuer: &'a str,
    /// The resource's canonical URL.
    pub audience: &'a str,
    pub client_id: &'a str,
    /// Space-separated.
    pub scope: &'a str,
    pub jti: &'a str,
    pub issued_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub subject: Subject<'a>,
}

/// `acr` of a sign-in that used a second factor (`amr` holds `mfa`).
pub const ACR_MFA: &str = "mfa";
/// `acr` of a sign-in with a password alone.
pub const ACR_PASSWORD: &str = "pwd";

/// The authentication context class of a sign-in proven by `amr` (space-separated RFC 8176
/// values): [`ACR_MFA`] when a second factor was used, [`ACR_PASSWORD`] for a password alone,
/// none otherwise (no way of signing in that Portcullis knows a class for).
pub fn acr_of(amr: &str) -> Option<&'static str> {
    let mut methods = amr.split_ascii_whitespace();
    if methods.clone().any(|m| m == "mfa") {
        Some(ACR_MFA)
    } else if methods.any(|m| m == "pwd") {
        Some(ACR_PASSWORD)
    } else {
        None
    }
}

/// Whom a token is for.
#[derive(Debug, Clone)]
pub enum Subject<'a> {
    /// A user, under a grant.
    User {
        profile: &'a Profile,
        grant_id: &'a str,
        auth_time: OffsetDateTime,
        /// Space-separated `amr` values.
        amr: &'a str,
    },
    /// The client itself (client credentials).
    Client,
}

impl AccessToken<'_> {
    pub fn claims(&self) -> Value {
        let mut claims = Map::new();
        claims.insert("iss".to_owned(), json!(self.issuer));
        claims.insert("aud".to_owned(), json!(self.audience));
        claims.insert("client_id".to_owned(), json!(self.client_id));
        claims.insert("iat".to_owned(), json!(self.issued_at.unix_timestamp()));
        claims.insert("exp".to_owned(), json!(self.expires_at.unix_timestamp()));
        claims.insert("jti".to_owned(), json!(self.jti));
        claims.insert("scope".to_owned(), json!(self.scope));
        match &self.subject {
            Subject::User {
                profile,
                grant_id,
                auth_time,
                amr,
            } => {
                claims.insert("sub".to_owned(), json!(profile.id));
                claims.insert("auth_time".to_owned(), json!(auth_time.unix_timestamp()));
                if let Some(acr) = acr_of(amr) {
                    claims.insert("acr".to_owned(), json!(acr));
                }
                let amr: Vec<&str> = amr.split_ascii_whitespace().collect();
                if !amr.is_empty() {
                    claims.insert("amr".to_owned(), json!(amr));
                }
                claims.insert(GRANT_CLAIM.to_owned(), json!(grant_id));
                if let Some(email) = &profile.email {
                    claims.insert("email".to_owned(), json!(email));
                    claims.insert("email_verified".to_owned(), json!(profile.email_verified));
                }
                if let Some(name) = &profile.name {
                    claims.insert("name".to_owned(), json!(name));
                }
                if let Some(username) = &profile.username {
                    claims.insert("preferred_username".to_owned(), json!(username));
                }
                if let Some(tenant) = &profile.tenant {
                    claims.insert("tenant".to_owned(), json!(tenant));
                }
                if !profile.groups.is_empty() {
                    claims.insert("groups".to_owned(), json!(profile.groups));
                }
            }
            Subject::Client => {
                claims.insert("sub".to_owned(), json!(self.client_id));
                claims.insert("gty".to_owned(), json!(CLIENT_CREDENTIALS));
            }
        }
        Value::Object(claims)
    }

    /// Signs the token with the key that signs at `issued_at`.
    pub fn sign(&self, keys: &KeyRing) -> Result<String, SigningError> {
        keys.sign(&self.claims(), ACCESS_TOKEN_TYP, self.issued_at)
    }
}

/// Verifies one of Portcullis's access tokens meant for one of `audiences`: its signature, type,
/// issuer, audience and lifetime, and that it has every claim RFC 9068 §2.2 requires (`iss`,
/// `exp`, `aud`, `sub`, `client_id`, `iat`, `jti`) with the right type (reference A4).
pub fn verify(
    keys: &KeyRing,
    token: &str,
    issuer: &str,
    audiences: &[&str],
    now: OffsetDateTime,
) -> Result<Claims, JwtError> {
    let claims = keys.verify_for(token, ACCESS_TOKEN_TYP, issuer, audiences, now)?;
    let required = |claim: &str| JwtError::Claim {
        claim: claim.to_owned(),
        problem: "is required",
    };
    for name in ["sub", "client_id", "jti"] {
        if claims.string(name)?.is_none() {
            return Err(required(name));
        }
    }
    if claims.number("iat")?.is_none() {
        return Err(required("iat"));
    }
    Ok(claims)
}
