//! Test support for validators: keys of every algorithm generated with aws-lc-rs, a token
//! builder that signs whatever header and claims a test wants (including wrong ones), and a fake
//! [`Fetch`] that records requests, answers canned documents, fails or holds requests back.
//! Compiled for core's own tests and, with the `testing` feature, for benchmarks and other
//! crates' tests; never part of the binary.

// Test support: a failure here is a failed test or benchmark, so it may panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_debug_implementations
)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use serde_json::{Value, json};

use super::{Fetch, FetchError, FetchMethod, FetchRequest, FetchResponse};

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Now, in every test: 2026-09-01T00:00:00Z.
pub const NOW: i64 = 1_788_220_800;

/// A key pair of one algorithm.
pub enum Signer {
    Rsa(Arc<RsaKeyPair>, &'static dyn sig::RsaEncoding),
    Ec(Arc<EcdsaKeyPair>),
    Ed(Arc<Ed25519KeyPair>),
}

/// A test key: its signer, its JOSE algorithm and its kid.
pub struct TestKey {
    pub alg: &'static str,
    pub kid: String,
    signer: Signer,
}

fn rsa_pair(slot: usize) -> Arc<RsaKeyPair> {
    // RSA generation is the slow part of these tests: two key pairs per process, shared.
    static KEYS: OnceLock<Vec<Arc<RsaKeyPair>>> = OnceLock::new();
    KEYS.get_or_init(|| {
        (0..2)
            .map(|_| Arc::new(RsaKeyPair::generate(KeySize::Rsa2048).unwrap()))
            .collect()
    })[slot]
        .clone()
}

impl TestKey {
    /// A fresh key for `alg` (RSA keys come from a small shared pool: `slot` 0 or 1).
    pub fn new(alg: &'static str, kid: &str) -> Self {
        Self::with_slot(alg, kid, 0)
    }

    pub fn with_slot(alg: &'static str, kid: &str, slot: usize) -> Self {
        let signer = match alg {
            "RS256" => Signer::Rsa(rsa_pair(slot), &sig::RSA_PKCS1_SHA256),
            "RS384" => Signer::Rsa(rsa_pair(slot), &sig::RSA_PKCS1_SHA384),
            "RS512" => Signer::Rsa(rsa_pair(slot), &sig::RSA_PKCS1_SHA512),
            "PS256" => Signer::Rsa(rsa_pair(slot), &sig::RSA_PSS_SHA256),
            "PS384" => Signer::Rsa(rsa_pair(slot), &sig::RSA_PSS_SHA384),
            "PS512" => Signer::Rsa(rsa_pair(slot), &sig::RSA_PSS_SHA512),
            "ES256" => Signer::Ec(Arc::new(
                EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap(),
            )),
            "ES384" => Signer::Ec(Arc::new(
                EcdsaKeyPair::generate(&sig::ECDSA_P384_SHA384_FIXED_SIGNING).unwrap(),
            )),
            // The pkcs8 v1 form: the one jsonwebtoken's Jwk helpers read (v2 fails there).
            "EdDSA" => Signer::Ed(Arc::new(
                Ed25519KeyPair::from_pkcs8(
                    Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new())
                        .unwrap()
                        .as_ref(),
                )
                .unwrap(),
            )),
            other => panic!("no test key for {other}"),
        };
        TestKey {
            alg,
            kid: kid.to_owned(),
            signer,
        }
    }

    /// The same key pair under another algorithm name in its JWK (RSA only), or another kid.
    pub fn relabel(&self, alg: &'static str, kid: &str) -> TestKey {
        let signer = match &self.signer {
            Signer::Rsa(pair, _) => match TestKey::with_slot(alg, kid, 0).signer {
                Signer::Rsa(_, encoding) => Signer::Rsa(pair.clone(), encoding),
                _ => panic!("{alg} is not an RSA algorithm"),
            },
            Signer::Ec(pair) => Signer::Ec(pair.clone()),
            Signer::Ed(pair) => Signer::Ed(pair.clone()),
        };
        TestKey {
            alg,
            kid: kid.to_owned(),
            signer,
        }
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.signer {
            Signer::Rsa(pair, encoding) => {
                let mut out = vec![0; pair.public_modulus_len()];
                pair.sign(*encoding, &rng, message, &mut out).unwrap();
                out
            }
            Signer::Ec(pair) => pair.sign(&rng, message).unwrap().as_ref().to_vec(),
            Signer::Ed(pair) => pair.sign(message).as_ref().to_vec(),
        }
    }

    /// The public key bytes as an attacker would find them (DER for RSA, the point for EC,
    /// the raw key for Ed25519): what a key-confusion attack uses as an HMAC secret.
    pub fn public_bytes(&self) -> Vec<u8> {
        match &self.signer {
            Signer::Rsa(pair, _) => pair.public_key().as_ref().to_vec(),
            Signer::Ec(pair) => pair.public_key().as_ref().to_vec(),
            Signer::Ed(pair) => pair.public_key().as_ref().to_vec(),
        }
    }

    /// The public JWK, with `alg` and `kid`.
    pub fn jwk(&self) -> Value {
        let mut jwk = self.jwk_without_alg();
        jwk["alg"] = json!(self.alg);
        jwk
    }

    /// The public JWK with `kid` but no `alg` (the algorithm then follows from kty/crv).
    pub fn jwk_without_alg(&self) -> Value {
        let mut jwk = match &self.signer {
            Signer::Rsa(pair, _) => {
                let c = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                json!({"kty": "RSA", "n": b64(&c.n), "e": b64(&c.e)})
            }
            Signer::Ec(pair) => {
                let point = pair.public_key().as_ref();
                let size = (point.len() - 1) / 2;
                let crv = if size == 32 { "P-256" } else { "P-384" };
                json!({"kty": "EC", "crv": crv, "x": b64(&point[1..=size]), "y": b64(&point[1 + size..])})
            }
            Signer::Ed(pair) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref())})
            }
        };
        jwk["kid"] = json!(self.kid);
        jwk["use"] = json!("sig");
        jwk
    }
}

/// A JWKS document of `keys`.
pub fn jwks(keys: &[&TestKey]) -> String {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()}).to_string()
}

/// Builds a compact JWS from any header and claims.
#[derive(Clone)]
pub struct Token {
    pub header: Value,
    pub claims: Value,
}

impl Token {
    /// A token a validator of `issuer` for `audience` accepts when signed by `key`.
    pub fn valid(key: &TestKey, issuer: &str, audience: &str) -> Self {
        Token {
            header: json!({"alg": key.alg, "kid": key.kid, "typ": "at+jwt"}),
            claims: json!({
                "iss": issuer,
                "sub": "user-1",
                "aud": audience,
                "exp": NOW + 600,
                "iat": NOW - 10,
                "nbf": NOW - 10,
                "email": "alice@acme.com",
                "email_verified": true,
                "name": "Alice",
                "groups": ["eng", "ops"],
                "scope": "files:read files:write",
                "amr": ["pwd", "mfa"],
            }),
        }
    }

    pub fn header(mut self, key: &str, value: Value) -> Self {
        set(&mut self.header, key, value);
        self
    }

    pub fn claim(mut self, key: &str, value: Value) -> Self {
        set(&mut self.claims, key, value);
        self
    }

    pub fn signing_input(&self) -> String {
        format!(
            "{}.{}",
            b64(self.header.to_string().as_bytes()),
            b64(self.claims.to_string().as_bytes())
        )
    }

    pub fn sign(&self, key: &TestKey) -> String {
        let input = self.signing_input();
        format!("{input}.{}", b64(&key.sign(input.as_bytes())))
    }

    /// Signed with HMAC-SHA256 under `secret`.
    pub fn sign_hs256(&self, secret: &[u8]) -> String {
        let input = self.signing_input();
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
        let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
        format!("{input}.{}", b64(tag.as_ref()))
    }
}

/// Sets (or with `Value::Null`, removes) a member.
fn set(object: &mut Value, key: &str, value: Value) {
    let map = object.as_object_mut().unwrap();
    if value.is_null() {
        map.remove(key);
    } else {
        map.insert(key.to_owned(), value);
    }
}

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: FetchMethod,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub form: Vec<(String, String)>,
    pub allow_private_network: bool,
    pub max_body_bytes: Option<usize>,
    pub timeout: Option<std::time::Duration>,
}

impl Call {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn form(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the fake answers for one URL.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Status, `Cache-Control` and body.
    Ok(u16, Option<String>, String),
    Fail(FetchError),
}

/// A [`Fetch`] that answers from a table, records every request, and can hold requests until
/// released (to test single flight).
#[derive(Debug, Default)]
pub struct FakeFetch {
    answers: Mutex<HashMap<String, Answer>>,
    calls: Mutex<Vec<Call>>,
    started: AtomicUsize,
    gate: Mutex<Option<Arc<tokio::sync::Semaphore>>>,
}

impl FakeFetch {
    pub fn new() -> Arc<Self> {
        Arc::new(FakeFetch::default())
    }

    /// Answers `status` and `body` for `url` from now on.
    pub fn answer(&self, url: &str, status: u16, body: impl Into<String>) {
        self.answers
            .lock()
            .unwrap()
            .insert(url.to_owned(), Answer::Ok(status, None, body.into()));
    }

    /// Answers `status`, `body` and a `Cache-Control` header for `url` from now on.
    pub fn answer_cached(
        &self,
        url: &str,
        status: u16,
        cache_control: &str,
        body: impl Into<String>,
    ) {
        self.answers.lock().unwrap().insert(
            url.to_owned(),
            Answer::Ok(status, Some(cache_control.to_owned()), body.into()),
        );
    }

    /// Fails requests for `url` from now on.
    pub fn fail(&self, url: &str, error: FetchError) {
        self.answers
            .lock()
            .unwrap()
            .insert(url.to_owned(), Answer::Fail(error));
    }

    /// Holds every request until [`FakeFetch::release`].
    pub fn hold(&self) {
        *self.gate.lock().unwrap() = Some(Arc::new(tokio::sync::Semaphore::new(0)));
    }

    pub fn release(&self) {
        if let Some(gate) = self.gate.lock().unwrap().take() {
            gate.add_permits(1 << 20);
        }
    }

    /// Requests that have started (including held ones).
    pub fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    pub fn calls_to(&self, url: &str) -> usize {
        self.calls().iter().filter(|c| c.url == url).count()
    }
}

#[async_trait]
impl Fetch for FakeFetch {
    async fn fetch(&self, request: FetchRequest<'_>) -> Result<FetchResponse, FetchError> {
        self.started.fetch_add(1, Ordering::SeqCst);
        let gate = self.gate.lock().unwrap().clone();
        if let Some(gate) = gate {
            let _permit = gate.acquire().await.unwrap();
        }
        self.calls.lock().unwrap().push(Call {
            method: request.method,
            url: request.url.to_owned(),
            headers: request
                .headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.clone()))
                .collect(),
            form: request
                .form
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.clone()))
                .collect(),
            allow_private_network: request.allow_private_network,
            max_body_bytes: request.max_body_bytes,
            timeout: request.timeout,
        });
        let answer = self.answers.lock().unwrap().get(request.url).cloned();
        match answer {
            // Like the real fetcher: a body over the request's limit is an error, not an answer.
            Some(Answer::Ok(_, _, body))
                if request.max_body_bytes.is_some_and(|max| body.len() > max) =>
            {
                Err(FetchError::TooLarge(request.max_body_bytes.unwrap()))
            }
            Some(Answer::Ok(status, cache_control, body)) => Ok(FetchResponse {
                status,
                cache_control,
                body: Bytes::from(body),
            }),
            Some(Answer::Fail(e)) => Err(e),
            None => Ok(FetchResponse {
                status: 404,
                cache_control: None,
                body: Bytes::from_static(b"{}"),
            }),
        }
    }
}
