//! JWT verification shared by every validator that reads JWTs (`jwt`, `hs256`, Google ID tokens,
//! Cloudflare Access assertions), written on top of `jsonwebtoken::crypto::verify` rather than
//! `jsonwebtoken::decode` so that each rule of RFC 8725 is ours to see and to test:
//!
//! - the compact serialization is split strictly (three base64url parts, no padding, a size cap);
//! - the header is parsed here: an unknown `crit` is refused; `jku`, `x5u`, `jwk` and `x5c` are
//!   never read, so a token cannot bring its own key; `kid` is only a map lookup;
//! - the algorithm is the key's, never the header's: the header's `alg` must merely equal it, so
//!   `none`, HMAC-with-a-public-key and RSA/EC swaps all fail;
//! - registered claims are typed: a string `exp`, a numeric `iss` or an object `aud` is invalid,
//!   not absent (the class of CVE-2026-25537).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::de::{Deserialize, Deserializer, Error as _, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::LEEWAY_SECS;

/// The largest token accepted, in bytes. Real access and ID tokens are a few KiB; this bounds the
/// work an unauthenticated caller can cause.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Installs aws-lc-rs as jsonwebtoken's crypto provider. jsonwebtoken panics at first use when
/// it cannot tell which provider to use (both or neither backend feature enabled, as cargo feature
/// unification can arrange), so the binary calls this at start-up, before any token is verified.
/// Idempotent: a second call, or a provider installed by someone else, is fine.
pub fn install_crypto_provider() {
    // `Err` means a provider is already installed, which is all this function wants.
    let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
        &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER,
    );
}

/// Why a token was refused. Messages never contain the token or any part of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not a compact JWS at all (another validator may handle it).
    #[error("not a compact JWS: {0}")]
    Malformed(&'static str),
    #[error("the token is larger than {MAX_TOKEN_BYTES} bytes")]
    TooLarge,
    #[error("the header's crit names an extension this verifier does not understand")]
    UnknownCritical,
    #[error("alg {0:?} is never accepted")]
    ForbiddenAlgorithm(&'static str),
    #[error("no key matches the token's kid")]
    UnknownKey,
    #[error("the token has no kid and the issuer has several keys")]
    AmbiguousKey,
    #[error("the header's alg is not the algorithm of the key ({0})")]
    AlgorithmMismatch(&'static str),
    #[error("the signature does not verify")]
    BadSignature,
    #[error("typ {0:?} is not accepted here")]
    TokenType(String),
    #[error("claim {claim}: {problem}")]
    Claim {
        claim: String,
        problem: &'static str,
    },
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token was issued in the future (iat)")]
    IssuedInFuture,
    #[error("the token's issuer is not this validator's")]
    WrongIssuer,
    #[error("the token is not meant for this audience")]
    WrongAudience,
}

impl JwtError {
    fn claim(claim: &str, problem: &'static str) -> Self {
        JwtError::Claim {
            claim: claim.to_owned(),
            problem,
        }
    }
}

/// The asymmetric algorithms, by their JOSE names.
const ASYMMETRIC: &[(&str, Algorithm)] = &[
    ("RS256", Algorithm::RS256),
    ("RS384", Algorithm::RS384),
    ("RS512", Algorithm::RS512),
    ("PS256", Algorithm::PS256),
    ("PS384", Algorithm::PS384),
    ("PS512", Algorithm::PS512),
    ("ES256", Algorithm::ES256),
    ("ES384", Algorithm::ES384),
    ("EdDSA", Algorithm::EdDSA),
];

/// The asymmetric algorithm named `name` (`RS256`, `EdDSA`, …); `None` for HS*, `none` and
/// anything unknown.
pub fn asymmetric_algorithm(name: &str) -> Option<Algorithm> {
    ASYMMETRIC.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
}

/// The JOSE name of an algorithm.
pub fn algorithm_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        other => ASYMMETRIC
            .iter()
            .find(|(_, a)| *a == other)
            .map_or("unknown", |(n, _)| n),
    }
}

/// Strict base64url without padding (RFC 7515 §2): `=`, `+`, `/` and non-canonical trailing bits
/// are errors.
pub(crate) fn b64url(part: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(part).ok()
}

/// A JSON object whose members are unique: two `aud` or two `alg` members could be read one way
/// here and another way elsewhere, so such documents are refused.
pub(crate) struct UniqueObject(pub Map<String, Value>);

impl<'de> Deserialize<'de> for UniqueObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = UniqueObject;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<UniqueObject, A::Error> {
                let mut map = Map::new();
                while let Some(key) = access.next_key::<String>()? {
                    let value: Value = access.next_value()?;
                    if map.insert(key, value).is_some() {
                        return Err(A::Error::custom("duplicate member"));
                    }
                }
                Ok(UniqueObject(map))
            }
        }
        d.deserialize_map(ObjectVisitor)
    }
}

/// Parses `bytes` as one JSON object with unique members.
pub(crate) fn json_object(bytes: &[u8]) -> Option<Map<String, Value>> {
    serde_json::from_slice::<UniqueObject>(bytes)
        .ok()
        .map(|o| o.0)
}

/// A verification key with the one algorithm it is used with.
#[derive(Clone)]
pub struct VerifyingKey {
    pub kid: Option<String>,
    pub alg: Algorithm,
    key: DecodingKey,
}

impl fmt::Debug for VerifyingKey {
    // HS256 keys are secrets: the key material is never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("alg", &algorithm_name(self.alg))
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    pub fn new(kid: Option<String>, alg: Algorithm, key: DecodingKey) -> Self {
        VerifyingKey { kid, alg, key }
    }
}

/// The keys of one issuer.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<VerifyingKey>,
}

impl KeySet {
    pub fn new(keys: Vec<VerifyingKey>) -> Self {
        KeySet { keys }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether a token with this `kid` can find its key here.
    pub fn knows(&self, kid: Option<&str>) -> bool {
        self.select(kid).is_ok()
    }

    /// The key for a token: by `kid`, or the only key of the set. A key without a `kid` also
    /// answers any `kid` when it is the only key (a single configured secret, a one-key JWKS
    /// without ids): the signature still has to verify with it.
    fn select(&self, kid: Option<&str>) -> Result<&VerifyingKey, JwtError> {
        if let Some(kid) = kid
            && let Some(key) = self.keys.iter().find(|k| k.kid.as_deref() == Some(kid))
        {
            return Ok(key);
        }
        match self.keys.as_slice() {
            [only] if kid.is_none() || only.kid.is_none() => Ok(only),
            _ if kid.is_some() => Err(JwtError::UnknownKey),
            [] => Err(JwtError::UnknownKey),
            _ => Err(JwtError::AmbiguousKey),
        }
    }
}

/// The protected header, as far as this verifier reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub alg: String,
    pub kid: Option<String>,
    pub typ: Option<String>,
}

/// A compact JWS, split and decoded but not yet verified.
#[derive(Debug)]
pub struct Jws<'a> {
    /// The header's members; read by [`parse_header`] only when verifying, so a token of
    /// another issuer is "not ours" rather than "invalid" whatever its header says.
    header: Map<String, Value>,
    /// `BASE64URL(header) "." BASE64URL(payload)`: what the signature covers.
    signing_input: &'a str,
    signature: &'a str,
    claims: Map<String, Value>,
}

impl<'a> Jws<'a> {
    /// Splits and decodes `token`. [`JwtError::Malformed`] means "not a JWS" (another kind of
    /// credential); every other error means a JWS that is refused.
    pub fn parse(token: &'a str) -> Result<Self, JwtError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(JwtError::TooLarge);
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed("expected three dot-separated parts"));
        };
        if header_b64.is_empty() || payload_b64.is_empty() {
            return Err(JwtError::Malformed("an empty part"));
        }
        let header_json =
            b64url(header_b64).ok_or(JwtError::Malformed("header is not base64url"))?;
        let payload_json =
            b64url(payload_b64).ok_or(JwtError::Malformed("payload is not base64url"))?;
        if b64url(signature).is_none() {
            return Err(JwtError::Malformed("signature is not base64url"));
        }
        let header =
            json_object(&header_json).ok_or(JwtError::Malformed("header is not a JSON object"))?;
        let claims = json_object(&payload_json)
            .ok_or(JwtError::Malformed("payload is not a JSON object"))?;
        let signing_input = token
            .get(..header_b64.len() + 1 + payload_b64.len())
            .ok_or(JwtError::Malformed("expected three dot-separated parts"))?;
        Ok(Jws {
            header,
            signing_input,
            signature,
            claims,
        })
    }

    /// The `iss` claim before verification: only for choosing which validator should verify.
    pub fn unverified_issuer(&self) -> Option<&str> {
        self.claims.get("iss").and_then(Value::as_str)
    }

    /// A claim before verification: only for choosing what to verify against (the directory of
    /// a multi-tenant issuer), never for a decision on its own.
    pub fn unverified_claim(&self, name: &str) -> Option<&Value> {
        self.claims.get(name)
    }

    /// The header's `kid` when it is a string: which key to fetch or look up.
    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    /// Verifies the signature with `keys` and the claims against `expected`, and returns the
    /// claims.
    pub fn verify(self, keys: &KeySet, expected: &Expected<'_>) -> Result<Claims, JwtError> {
        let header = parse_header(&self.header)?;
        let alg = header.alg.as_str();
        if alg == "none" {
            // Said outright, though the key check below refuses it too: no key has alg `none`.
            return Err(JwtError::ForbiddenAlgorithm("none"));
        }
        let key = keys.select(header.kid.as_deref())?;
        let key_alg = algorithm_name(key.alg);
        if alg != key_alg {
            return Err(JwtError::AlgorithmMismatch(key_alg));
        }
        let valid = jsonwebtoken::crypto::verify(
            self.signature,
            self.signing_input.as_bytes(),
            &key.key,
            key.alg,
        )
        .unwrap_or(false);
        if !valid {
            return Err(JwtError::BadSignature);
        }
        expected.token_types.check(header.typ.as_deref())?;
        let claims = Claims(self.claims);
        claims.check(expected)?;
        Ok(claims)
    }
}

fn parse_header(map: &Map<String, Value>) -> Result<Header, JwtError> {
    let string = |name: &str| -> Result<Option<String>, JwtError> {
        match map.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(JwtError::claim(name, "header member must be a string")),
        }
    };
    let alg = string("alg")?.ok_or(JwtError::claim("alg", "header member is required"))?;
    // RFC 7515 §4.1.11: a recipient that does not understand an extension listed in `crit` must
    // refuse the JWS. This verifier understands none (not even `b64`), so any `crit` is refused.
    if map.contains_key("crit") {
        return Err(JwtError::UnknownCritical);
    }
    Ok(Header {
        alg,
        kid: string("kid")?,
        typ: string("typ")?,
    })
}

/// Accepted `typ` header values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenTypes {
    /// Any `typ`, or none, except the types that mark other kinds of JWT.
    AnyButOtherKinds,
    /// Only these (normalised: lower case, without `application/`).
    Only(Vec<String>),
    /// No `typ`, or one of these (normalised): for JWTs whose type header is optional, such as
    /// client assertions (RFC 7523 defines none; later drafts ask for
    /// `client-authentication+jwt`).
    AbsentOr(Vec<String>),
}

/// `typ` values of JWTs that are not access or ID tokens: accepting one of them as a credential
/// would let a token minted for another purpose pass as a login (RFC 8725 §3.11).
const OTHER_KINDS: &[&str] = &[
    "dpop+jwt",
    "logout+jwt",
    "secevent+jwt",
    "token-introspection+jwt",
    "oauth-authz-req+jwt",
    "entity-statement+jwt",
    "trust-mark+jwt",
    "kb+jwt",
    "client-authentication+jwt",
    "jwk-set+jwt",
];

/// RFC 7515 §4.1.9: media types compare case-insensitively, with `application/` optional.
fn normalise_type(typ: &str) -> String {
    let lower = typ.to_ascii_lowercase();
    lower
        .strip_prefix("application/")
        .map_or_else(|| lower.clone(), str::to_owned)
}

impl TokenTypes {
    pub fn from_config(types: &[String]) -> Self {
        if types.is_empty() {
            TokenTypes::AnyButOtherKinds
        } else {
            TokenTypes::Only(types.iter().map(|t| normalise_type(t)).collect())
        }
    }

    fn check(&self, typ: Option<&str>) -> Result<(), JwtError> {
        let normal = typ.map(normalise_type);
        let ok = match (self, &normal) {
            (TokenTypes::AnyButOtherKinds, None) => true,
            (TokenTypes::AnyButOtherKinds, Some(t)) => !OTHER_KINDS.contains(&t.as_str()),
            (TokenTypes::Only(_), None) => false,
            (TokenTypes::Only(list) | TokenTypes::AbsentOr(list), Some(t)) => list.contains(t),
            (TokenTypes::AbsentOr(_), None) => true,
        };
        if ok {
            Ok(())
        } else {
            Err(JwtError::TokenType(
                typ.unwrap_or("(none)").chars().take(64).collect(),
            ))
        }
    }
}

/// What a verified token must say.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// Accepted `iss` values (usually one).
    pub issuers: &'a [&'a str],
    /// Accepted `aud` values: the token's `aud` must contain one of them.
    pub audiences: &'a [&'a str],
    pub token_types: &'a TokenTypes,
    /// Now, in seconds since the Unix epoch.
    pub now: i64,
}

/// Verified claims.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims(Map<String, Value>);

impl Claims {
    pub fn new(map: Map<String, Value>) -> Self {
        Claims(map)
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// A string claim; present with another type is an error.
    pub fn string(&self, name: &str) -> Result<Option<&str>, JwtError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(JwtError::claim(name, "must be a string")),
        }
    }

    /// A NumericDate claim (RFC 7519 §2), in whole seconds; present with another type is an
    /// error.
    pub fn number(&self, name: &str) -> Result<Option<i64>, JwtError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => {
                let value = n
                    .as_i64()
                    .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
                    .ok_or(JwtError::claim(name, "must be a number of seconds"))?;
                Ok(Some(value))
            }
            Some(_) => Err(JwtError::claim(name, "must be a number")),
        }
    }

    /// A claim that must be an array of strings when present.
    pub fn strings(&self, name: &str) -> Result<Vec<String>, JwtError> {
        match self.0.get(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or(JwtError::claim(name, "must be an array of strings")),
            Some(_) => Err(JwtError::claim(name, "must be an array of strings")),
        }
    }

    /// A claim that is one string or an array of strings (`aud`, `scp`).
    pub fn string_or_strings(&self, name: &str) -> Result<Option<Vec<String>>, JwtError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
            Some(Value::Array(_)) => self.strings(name).map(Some),
            Some(_) => Err(JwtError::claim(
                name,
                "must be a string or an array of strings",
            )),
        }
    }

    /// The registered claims: types, issuer, audience and times.
    fn check(&self, expected: &Expected<'_>) -> Result<(), JwtError> {
        // Types first, so a wrongly typed claim is refused whatever else is wrong.
        let iss = self.string("iss")?;
        self.string("sub")?;
        self.string("jti")?;
        let aud = self.string_or_strings("aud")?;
        let exp = self.number("exp")?;
        let nbf = self.number("nbf")?;
        let iat = self.number("iat")?;

        let iss = iss.ok_or(JwtError::claim("iss", "is required"))?;
        if !expected.issuers.contains(&iss) {
            return Err(JwtError::WrongIssuer);
        }
        let aud = aud.ok_or(JwtError::claim("aud", "is required"))?;
        if !aud.iter().any(|a| expected.audiences.contains(&a.as_str())) {
            return Err(JwtError::WrongAudience);
        }
        let exp = exp.ok_or(JwtError::claim("exp", "is required"))?;
        let now = expected.now;
        if exp.saturating_add(LEEWAY_SECS) <= now {
            return Err(JwtError::Expired);
        }
        if nbf.is_some_and(|nbf| nbf > now.saturating_add(LEEWAY_SECS)) {
            return Err(JwtError::NotYetValid);
        }
        if iat.is_some_and(|iat| iat > now.saturating_add(LEEWAY_SECS)) {
            return Err(JwtError::IssuedInFuture);
        }
        Ok(())
    }

    /// `exp`, once [`Jws::verify`] has checked it is there.
    pub fn expires_at(&self) -> Option<i64> {
        self.number("exp").ok().flatten()
    }
}

#[cfg(test)]
mod tests;
