//! A software passkey for tests: an ES256 key (aws-lc-rs) that answers a ceremony's options the
//! way a browser's `credential.toJSON()` would, with "none" attestation, user presence and user
//! verification, and a signature counter that moves by one each use. It signs whatever it is
//! told (another origin, an old challenge), so tests can also make the answers an attacker
//! would. Compiled for core's own tests and, with the `testing` feature, for other crates'
//! tests; never part of the binary.

// Test support: a failure here is a failed test, so it may panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Authenticator data flags: user present, user verified, attested credential data included.
const FLAG_UP: u8 = 0x01;
const FLAG_UV: u8 = 0x04;
const FLAG_AT: u8 = 0x40;

/// One credential on a software authenticator.
pub struct SoftPasskey {
    key: EcdsaKeyPair,
    credential_id: Vec<u8>,
    /// The signature counter; the next answer carries one more.
    pub counter: u32,
    /// The origin written into the client data (a browser writes the page's).
    pub origin: String,
    /// Whether the answers claim user verification.
    pub user_verified: bool,
}

impl std::fmt::Debug for SoftPasskey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftPasskey")
            .field(
                "credential_id",
                &URL_SAFE_NO_PAD.encode(&self.credential_id),
            )
            .field("counter", &self.counter)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A CBOR head: major type and length (only what these messages need).
fn cbor_head(out: &mut Vec<u8>, major: u8, len: usize) {
    let major = major << 5;
    match len {
        0..=23 => out.push(major | u8::try_from(len).unwrap()),
        24..=255 => out.extend([major | 24, u8::try_from(len).unwrap()]),
        _ => {
            out.push(major | 25);
            out.extend(u16::try_from(len).unwrap().to_be_bytes());
        }
    }
}

fn cbor_text(out: &mut Vec<u8>, text: &str) {
    cbor_head(out, 3, text.len());
    out.extend(text.as_bytes());
}

fn cbor_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    cbor_head(out, 2, bytes.len());
    out.extend(bytes);
}

/// The `publicKey` member of a ceremony's options JSON.
fn public_key_options(options_json: &str) -> Value {
    let options: Value = serde_json::from_str(options_json).expect("options are JSON");
    options["publicKey"].clone()
}

impl SoftPasskey {
    /// A new credential whose client data names `origin`.
    pub fn new(origin: &str) -> Self {
        let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).expect("a P-256 key");
        let mut credential_id = vec![0u8; 32];
        aws_lc_rs::rand::fill(&mut credential_id).expect("random bytes");
        SoftPasskey {
            key,
            credential_id,
            counter: 0,
            origin: origin.to_owned(),
            user_verified: true,
        }
    }

    /// The credential id, base64url as in the JSON.
    pub fn credential_id(&self) -> String {
        b64(&self.credential_id)
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "type": kind,
            "challenge": challenge,
            "origin": self.origin,
            "crossOrigin": false,
        }))
        .unwrap()
    }

    fn flags(&self) -> u8 {
        FLAG_UP | if self.user_verified { FLAG_UV } else { 0 }
    }

    /// The COSE_Key of the public key (EC2, ES256, P-256).
    fn cose_key(&self) -> Vec<u8> {
        let point = self.key.public_key().as_ref();
        let (x, y) = (&point[1..33], &point[33..65]);
        let mut out = Vec::new();
        cbor_head(&mut out, 5, 5);
        out.extend([0x01, 0x02]); // kty: EC2
        out.extend([0x03, 0x26]); // alg: -7 (ES256)
        out.extend([0x20, 0x01]); // crv: P-256
        out.push(0x21); // x
        cbor_bytes(&mut out, x);
        out.push(0x22); // y
        cbor_bytes(&mut out, y);
        out
    }

    /// The answer to registration options (`{"publicKey": …}` as the server wrote them), as
    /// `credential.toJSON()` gives it.
    pub fn register(&mut self, options_json: &str) -> String {
        let options = public_key_options(options_json);
        let challenge = options["challenge"].as_str().expect("a challenge");
        let rp_id = options["rp"]["id"].as_str().expect("an rp id");
        self.counter += 1;
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(self.flags() | FLAG_AT);
        auth_data.extend(self.counter.to_be_bytes());
        auth_data.extend([0u8; 16]); // AAGUID
        auth_data.extend(
            u16::try_from(self.credential_id.len())
                .unwrap()
                .to_be_bytes(),
        );
        auth_data.extend(&self.credential_id);
        auth_data.extend(self.cose_key());
        let mut attestation = Vec::new();
        cbor_head(&mut attestation, 5, 3);
        cbor_text(&mut attestation, "fmt");
        cbor_text(&mut attestation, "none");
        cbor_text(&mut attestation, "attStmt");
        cbor_head(&mut attestation, 5, 0);
        cbor_text(&mut attestation, "authData");
        cbor_bytes(&mut attestation, &auth_data);
        let client_data = self.client_data("webauthn.create", challenge);
        json!({
            "id": self.credential_id(),
            "rawId": self.credential_id(),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64(&client_data),
                "attestationObject": b64(&attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
        })
        .to_string()
    }

    /// The answer to sign-in options (`{"publicKey": …}`), as `credential.toJSON()` gives it.
    pub fn assert(&mut self, options_json: &str) -> String {
        let options = public_key_options(options_json);
        let challenge = options["challenge"].as_str().expect("a challenge");
        let rp_id = options["rpId"].as_str().expect("an rp id");
        self.counter += 1;
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(self.flags());
        auth_data.extend(self.counter.to_be_bytes());
        let client_data = self.client_data("webauthn.get", challenge);
        let mut signed = auth_data.clone();
        signed.extend(Sha256::digest(&client_data));
        let signature = self
            .key
            .sign(&SystemRandom::new(), &signed)
            .expect("a signature");
        json!({
            "id": self.credential_id(),
            "rawId": self.credential_id(),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64(&client_data),
                "authenticatorData": b64(&auth_data),
                "signature": b64(signature.as_ref()),
            },
            "clientExtensionResults": {},
        })
        .to_string()
    }
}
