//! Tests of Portcullis's signing keys: creation, the rotation schedule, loading that fails closed
//! on anything tampered, signing, and verification (ours and an independent one).

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use portcullis_store::MemoryStore;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;
use crate::audit::AuditContext;

/// 2026-09-01T00:00:00Z.
fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_788_220_800).unwrap()
}

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

fn sealer(seed: u8) -> Sealer {
    Sealer::from_keys(&[[seed; 32]]).unwrap()
}

const ISSUER: &str = "https://portcullis.example";
const AUDIENCE: &str = "https://portcullis.example/servers/files/mcp";
const TYP: &str = "portcullis-test+jwt";

fn expect() -> Expect<'static> {
    Expect {
        typ: TYP,
        issuer: ISSUER,
        audience: AUDIENCE,
    }
}

fn claims(now: OffsetDateTime, ttl: i64) -> Value {
    let now = now.unix_timestamp();
    json!({ "iss": ISSUER, "aud": AUDIENCE, "sub": "user:alice", "iat": now, "exp": now + ttl })
}

async fn ensured(store: &MemoryStore, alg: SigningAlg, seed: u64) -> KeyRing {
    KeyRing::ensure(store, &sealer(1), alg, t0(), &mut rng(seed))
        .await
        .unwrap()
}

fn kids(ring: &KeyRing) -> Vec<&str> {
    ring.keys().iter().map(RingKey::kid).collect()
}

fn jwks_kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// Verifies `token` the way an upstream with nothing but jsonwebtoken and the published `jwks`
/// would: the key found by the header's `kid`, the algorithm pinned to `alg`, `iss` and `aud`
/// checked. Times are not checked: the claims are for the test's fixed clock, and jsonwebtoken
/// reads the machine's.
pub(crate) fn decode_with_jwks(
    jwks: &Value,
    token: &str,
    alg: SigningAlg,
    issuer: &str,
    audience: &str,
) -> Result<Value, jsonwebtoken::errors::Error> {
    let set: JwkSet = serde_json::from_value(jwks.clone()).unwrap();
    let kid = jsonwebtoken::decode_header(token)?.kid.unwrap();
    let jwk = set.find(&kid).unwrap();
    let mut validation = jsonwebtoken::Validation::new(algorithm(alg));
    validation.set_audience(&[audience]);
    validation.set_issuer(&[issuer]);
    validation.validate_exp = false;
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk)?, &validation)
        .map(|data| data.claims)
}

/// The decoded JOSE header of a compact JWS.
fn header(token: &str) -> Value {
    let part = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[tokio::test]
async fn ensure_creates_one_key_and_then_reuses_it() {
    for alg in SigningAlg::ALL {
        let store = MemoryStore::new();
        let ring = ensured(&store, alg, 1).await;
        let [key] = ring.keys() else {
            panic!("{alg:?}: expected one key, got {ring:?}");
        };
        assert_eq!(key.alg(), alg);
        assert_eq!(key.not_before(), t0());
        assert_eq!(key.created_at(), t0());
        assert_eq!(key.retire_after(), None);
        assert_eq!(ring.signing_key(t0()).map(RingKey::kid), Some(key.kid()));

        // Again, later: nothing new.
        let again = KeyRing::ensure(
            &store,
            &sealer(1),
            alg,
            t0() + Duration::days(3),
            &mut rng(2),
        )
        .await
        .unwrap();
        assert_eq!(kids(&again), vec![key.kid()]);
        assert_eq!(store.signing_key_list().await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn the_kid_is_the_rfc_7638_thumbprint_and_the_jwk_is_public_only() {
    for (alg, kty, members) in [
        (
            SigningAlg::Es256,
            "EC",
            &["alg", "crv", "kid", "kty", "use", "x", "y"][..],
        ),
        (
            SigningAlg::EdDsa,
            "OKP",
            &["alg", "crv", "kid", "kty", "use", "x"][..],
        ),
    ] {
        let store = MemoryStore::new();
        let ring = ensured(&store, alg, 3).await;
        let jwks = ring.jwks(t0());
        let jwk = &jwks["keys"][0];
        let mut names: Vec<&str> = jwk
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        assert_eq!(names, members, "{alg:?}: {jwk}");
        assert_eq!(jwk["kty"], kty);
        assert_eq!(jwk["alg"], alg.as_str());
        assert_eq!(jwk["use"], "sig");

        // RFC 7638 §3: SHA-256 over the required members in lexicographic order, no whitespace.
        let canonical = match alg {
            SigningAlg::Es256 => format!(
                r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                jwk["x"].as_str().unwrap(),
                jwk["y"].as_str().unwrap()
            ),
            SigningAlg::EdDsa => format!(
                r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
                jwk["x"].as_str().unwrap()
            ),
        };
        let thumbprint = URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            canonical.as_bytes(),
        ));
        assert_eq!(jwk["kid"], thumbprint.as_str());

        // The stored row holds the same public JWK and a sealed private key.
        let [row] = store.signing_key_list().await.unwrap().try_into().unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&row.public_jwk).unwrap(),
            *jwk
        );
        assert_eq!(row.alg, alg.as_str());
    }
}

#[tokio::test]
async fn private_keys_are_sealed_and_bound_to_their_kid() {
    let store = MemoryStore::new();
    let ring = ensured(&store, SigningAlg::Es256, 4).await;
    let [row] = store.signing_key_list().await.unwrap().try_into().unwrap();
    let kid = ring.keys()[0].kid();

    let pkcs8 = sealer(1)
        .open(
            &row.private_key_sealed,
            format!("signing_key:{kid}").as_bytes(),
        )
        .unwrap();
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8).unwrap();
    assert!(
        !row.private_key_sealed
            .windows(16)
            .any(|w| pkcs8.windows(16).any(|p| p == w)),
        "the private key is stored in clear"
    );
    // Under another row's kid, or another purpose, it does not open.
    for aad in [format!("signing_key:{kid}x"), format!("totp_seed:{kid}")] {
        assert!(
            sealer(1)
                .open(&row.private_key_sealed, aad.as_bytes())
                .is_err()
        );
    }
    // Neither Debug output shows it: the private scalar is the 32-byte OCTET STRING (04 20 …) of
    // the ECPrivateKey inside the PKCS#8 document.
    let at = pkcs8.windows(2).position(|w| w == [0x04, 0x20]).unwrap() + 2;
    let scalar = &pkcs8[at..at + 32];
    let shown = format!("{ring:?} {row:?}");
    for encoded in [
        URL_SAFE_NO_PAD.encode(scalar),
        scalar.iter().map(|b| format!("{b:02x}")).collect(),
        format!("{scalar:?}"),
    ] {
        assert!(!shown.contains(&encoded), "{shown}");
    }
    assert!(shown.contains("bytes>"), "{shown}");
}

#[tokio::test]
async fn keys_come_from_the_callers_rng_alone() {
    for alg in SigningAlg::ALL {
        let a = ensured(&MemoryStore::new(), alg, 42).await;
        let b = ensured(&MemoryStore::new(), alg, 42).await;
        let c = ensured(&MemoryStore::new(), alg, 43).await;
        assert_eq!(kids(&a), kids(&b), "{alg:?}");
        assert_ne!(kids(&a), kids(&c), "{alg:?}");
    }
}

#[tokio::test]
async fn a_signed_token_verifies_and_carries_exactly_alg_kid_and_typ() {
    for alg in SigningAlg::ALL {
        let store = MemoryStore::new();
        let ring = ensured(&store, alg, 5).await;
        let token = ring.sign(&claims(t0(), 60), TYP, t0()).unwrap();
        assert_eq!(
            header(&token),
            json!({ "alg": alg.as_str(), "kid": ring.keys()[0].kid(), "typ": TYP })
        );
        let verified = ring.verify(&token, &expect(), t0()).unwrap();
        assert_eq!(verified.string("sub").unwrap(), Some("user:alice"));
        // RFC 7518 §3.4: an ES256 signature is R || S, 64 bytes; Ed25519's is 64 bytes too.
        let signature = URL_SAFE_NO_PAD
            .decode(token.rsplit('.').next().unwrap())
            .unwrap();
        assert_eq!(signature.len(), 64, "{alg:?}");

        let decoded = decode_with_jwks(&ring.jwks(t0()), &token, alg, ISSUER, AUDIENCE).unwrap();
        assert_eq!(decoded, claims(t0(), 60));
    }
}

#[tokio::test]
async fn verification_refuses_what_it_must() {
    let store = MemoryStore::new();
    let ring = ensured(&store, SigningAlg::Es256, 6).await;
    let other = ensured(&MemoryStore::new(), SigningAlg::Es256, 7).await;
    let now = t0();
    let good = ring.sign(&claims(now, 60), TYP, now).unwrap();
    ring.verify(&good, &expect(), now).unwrap();

    let expired = ring
        .sign(&claims(now - Duration::hours(1), 60), TYP, now)
        .unwrap();
    let untyped = {
        let key = ring.signing_key(now).unwrap();
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(key.kid().to_owned());
        header.typ = None;
        key.sign_jws(&header, &claims(now, 60)).unwrap()
    };
    let tampered = {
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        let mut claims = claims(now, 60);
        claims["sub"] = json!("user:mallory");
        parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
        parts.join(".")
    };
    let cases: Vec<(&str, String, Expect<'_>, JwtError)> = vec![
        (
            "another typ",
            ring.sign(&claims(now, 60), "at+jwt", now).unwrap(),
            expect(),
            JwtError::TokenType("at+jwt".to_owned()),
        ),
        (
            "no typ",
            untyped,
            expect(),
            JwtError::TokenType("(none)".to_owned()),
        ),
        (
            "another audience",
            good.clone(),
            Expect {
                audience: "https://portcullis.example/servers/other/mcp",
                ..expect()
            },
            JwtError::WrongAudience,
        ),
        (
            "another issuer",
            good.clone(),
            Expect {
                issuer: "https://evil.example",
                ..expect()
            },
            JwtError::WrongIssuer,
        ),
        ("expired", expired, expect(), JwtError::Expired),
        ("tampered", tampered, expect(), JwtError::BadSignature),
        (
            "another ring's key",
            other.sign(&claims(now, 60), TYP, now).unwrap(),
            expect(),
            JwtError::UnknownKey,
        ),
    ];
    for (what, token, expect, error) in cases {
        assert_eq!(
            ring.verify(&token, &expect, now).unwrap_err(),
            error,
            "{what}"
        );
    }
    // The leeway: a token that expired 29 s ago still passes, 30 s ago it does not.
    let just = ring
        .sign(&claims(now - Duration::seconds(89), 60), TYP, now)
        .unwrap();
    ring.verify(&just, &expect(), now).unwrap();
    let past = ring
        .sign(&claims(now - Duration::seconds(90), 60), TYP, now)
        .unwrap();
    assert_eq!(
        ring.verify(&past, &expect(), now).unwrap_err(),
        JwtError::Expired
    );
}

#[tokio::test]
async fn the_algorithm_is_the_keys_not_the_headers() {
    let store = MemoryStore::new();
    let ring = ensured(&store, SigningAlg::Es256, 8).await;
    let now = t0();
    let token = ring.sign(&claims(now, 60), TYP, now).unwrap();
    let mut forged_header = header(&token);
    for alg in ["EdDSA", "HS256", "none"] {
        forged_header["alg"] = json!(alg);
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[0] = URL_SAFE_NO_PAD.encode(forged_header.to_string());
        let err = ring.verify(&parts.join("."), &expect(), now).unwrap_err();
        assert!(
            matches!(
                err,
                JwtError::AlgorithmMismatch(_) | JwtError::ForbiddenAlgorithm(_)
            ),
            "{alg}: {err:?}"
        );
    }
}

#[tokio::test]
async fn rotation_publishes_first_signs_later_and_retires_after_the_token_lifetime() {
    let store = MemoryStore::new();
    let first = ensured(&store, SigningAlg::Es256, 9).await;
    let k1 = first.keys()[0].kid().to_owned();

    let start = t0() + Duration::days(30);
    let publish = Duration::minutes(10);
    let retire = Duration::minutes(15) + Duration::seconds(30);
    let rotation = rotate(
        &store,
        &AuditContext::cli("root", true),
        &sealer(1),
        SigningAlg::EdDsa,
        start,
        publish,
        retire,
        &mut rng(10),
    )
    .await
    .unwrap();
    let k2 = rotation.new_kid.clone();
    assert_ne!(k2, k1);
    assert_eq!(rotation.signs_from, start + publish);
    assert_eq!(
        rotation.retiring,
        vec![(k1.clone(), start + publish + retire)]
    );

    let ring = KeyRing::load(&store, &sealer(1), start).await.unwrap();
    // Published at once, before it signs anything.
    assert_eq!(jwks_kids(&ring.jwks(start)), vec![k1.clone(), k2.clone()]);
    let signer = |at: OffsetDateTime| ring.signing_key(at).map(|k| k.kid().to_owned());
    assert_eq!(signer(start), Some(k1.clone()));
    assert_eq!(
        signer(start + publish - Duration::seconds(1)),
        Some(k1.clone())
    );
    assert_eq!(signer(start + publish), Some(k2.clone()));
    assert_eq!(ring.keys()[1].alg(), SigningAlg::EdDsa);

    // A token the old key signed just before the switch verifies until it expires...
    let before_switch = start + publish - Duration::seconds(1);
    let old_token = ring
        .sign(&claims(before_switch, 900), TYP, before_switch)
        .unwrap();
    assert_eq!(header(&old_token)["kid"], k1.as_str());
    let last_use = before_switch + Duration::seconds(900 + 29);
    assert!(last_use < start + publish + retire);
    ring.verify(&old_token, &expect(), last_use).unwrap();
    // ... and the old key leaves the JWKS, and stops verifying, at its retirement.
    let retired = start + publish + retire;
    assert_eq!(jwks_kids(&ring.jwks(retired)), vec![k2.clone()]);
    let late = ring
        .sign(&claims(retired, 60), TYP, retired - Duration::seconds(1))
        .unwrap();
    assert_eq!(header(&late)["kid"], k2.as_str());
    let resigned_old = {
        let key = &ring.keys()[0];
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(key.kid().to_owned());
        header.typ = Some(TYP.to_owned());
        key.sign_jws(&header, &claims(retired, 60)).unwrap()
    };
    assert_eq!(
        ring.verify(&resigned_old, &expect(), retired).unwrap_err(),
        JwtError::UnknownKey
    );

    // Loaded after the retirement, the old key is not even opened; the purge deletes it later.
    let later = KeyRing::load(&store, &sealer(1), retired).await.unwrap();
    assert_eq!(kids(&later), vec![k2.as_str()]);
    assert_eq!(store.signing_keys_purge(retired).await.unwrap(), 0);
    assert_eq!(
        store
            .signing_keys_purge(retired + Duration::microseconds(1))
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn a_second_rotation_before_the_first_completes_keeps_the_earlier_retirement() {
    let store = MemoryStore::new();
    let k1 = ensured(&store, SigningAlg::Es256, 11).await.keys()[0]
        .kid()
        .to_owned();
    let publish = Duration::minutes(10);
    let retire = Duration::minutes(15);
    let first = rotate(
        &store,
        &AuditContext::cli("root", true),
        &sealer(1),
        SigningAlg::Es256,
        t0(),
        publish,
        retire,
        &mut rng(12),
    )
    .await
    .unwrap();
    let second_at = t0() + Duration::minutes(1);
    let second = rotate(
        &store,
        &AuditContext::cli("root", true),
        &sealer(1),
        SigningAlg::Es256,
        second_at,
        publish,
        retire,
        &mut rng(13),
    )
    .await
    .unwrap();
    // K2 was the only current key; it retires after K3 takes over. K1, already retiring, keeps
    // its first retirement.
    assert_eq!(
        second.retiring,
        vec![(first.new_kid.clone(), second_at + publish + retire)]
    );
    let retirements: Vec<(String, Option<OffsetDateTime>)> = store
        .signing_key_list()
        .await
        .unwrap()
        .into_iter()
        .map(|key| (key.kid, key.retire_after))
        .collect();
    assert!(
        retirements.contains(&(k1.clone(), Some(t0() + publish + retire))),
        "{retirements:?}"
    );
    let ring = KeyRing::load(&store, &sealer(1), second_at).await.unwrap();
    let signer = |at: OffsetDateTime| ring.signing_key(at).map(|k| k.kid().to_owned());
    assert_eq!(signer(second_at), Some(k1));
    assert_eq!(signer(t0() + publish), Some(first.new_kid));
    assert_eq!(signer(second_at + publish), Some(second.new_kid));
}

#[tokio::test]
async fn with_no_key_allowed_to_sign_there_is_no_signature_and_ensure_makes_one() {
    let store = MemoryStore::new();
    let empty = KeyRing::load(&store, &sealer(1), t0()).await.unwrap();
    assert!(matches!(
        empty.sign(&claims(t0(), 60), TYP, t0()),
        Err(SigningError::NoSigningKey)
    ));
    assert_eq!(empty.jwks(t0()), json!({ "keys": [] }));

    // Every key retired (an emergency): ensure creates a new one at once.
    let k1 = ensured(&store, SigningAlg::Es256, 14).await.keys()[0]
        .kid()
        .to_owned();
    let emergency = t0() + Duration::hours(1);
    store.signing_key_retire(&k1, emergency).await.unwrap();
    let ring = KeyRing::ensure(
        &store,
        &sealer(1),
        SigningAlg::Es256,
        emergency,
        &mut rng(15),
    )
    .await
    .unwrap();
    let [key] = ring.keys() else {
        panic!("expected only the new key, got {ring:?}");
    };
    assert_ne!(key.kid(), k1);
    assert_eq!(key.not_before(), emergency);
}

/// A store holding `rows` as given.
async fn store_with(rows: Vec<SigningKey>) -> MemoryStore {
    let store = MemoryStore::new();
    for row in rows {
        store.signing_key_insert(&row).await.unwrap();
    }
    store
}

async fn two_rows() -> (SigningKey, SigningKey) {
    let store = MemoryStore::new();
    ensured(&store, SigningAlg::Es256, 16).await;
    rotate(
        &store,
        &AuditContext::cli("root", true),
        &sealer(1),
        SigningAlg::Es256,
        t0(),
        Duration::minutes(10),
        Duration::minutes(15),
        &mut rng(17),
    )
    .await
    .unwrap();
    let [a, b] = store.signing_key_list().await.unwrap().try_into().unwrap();
    (a, b)
}

#[tokio::test]
async fn loading_fails_closed_on_a_tampered_or_unopenable_row() {
    let (a, b) = two_rows().await;
    let now = t0();
    KeyRing::load(
        &store_with(vec![a.clone(), b.clone()]).await,
        &sealer(1),
        now,
    )
    .await
    .unwrap();

    let check = |what: &'static str, rows: Vec<SigningKey>, sealer: Sealer, want: &'static str| async move {
        let store = store_with(rows).await;
        let err = KeyRing::load(&store, &sealer, now).await.unwrap_err();
        assert!(err.to_string().contains(want), "{what}: {err}");
    };
    check(
        "another encryption key",
        vec![a.clone()],
        sealer(2),
        "is not in the key list",
    )
    .await;
    check(
        "private keys swapped between rows",
        vec![
            SigningKey {
                private_key_sealed: b.private_key_sealed.clone(),
                ..a.clone()
            },
            SigningKey {
                private_key_sealed: a.private_key_sealed.clone(),
                ..b.clone()
            },
        ],
        sealer(1),
        "does not open",
    )
    .await;
    check(
        "another key's public JWK",
        vec![SigningKey {
            public_jwk: b.public_jwk.replace(&b.kid, &a.kid),
            ..a.clone()
        }],
        sealer(1),
        "the public JWK is not the private key's",
    )
    .await;
    check(
        "another algorithm",
        vec![SigningKey {
            alg: "EdDSA".to_owned(),
            ..a.clone()
        }],
        sealer(1),
        "the private key is not Ed25519",
    )
    .await;
    check(
        "an unknown algorithm",
        vec![SigningKey {
            alg: "RS256".to_owned(),
            ..a.clone()
        }],
        sealer(1),
        "unknown algorithm",
    )
    .await;
    check(
        "garbage JWK",
        vec![SigningKey {
            public_jwk: "{".to_owned(),
            ..a.clone()
        }],
        sealer(1),
        "the public JWK is not a JWK",
    )
    .await;

    // A retired row is not opened at all: dropping its encryption key is fine.
    let retired = SigningKey {
        retire_after: Some(now),
        private_key_sealed: sealer(3)
            .seal(b"anything", b"signing_key:x", &mut rng(18))
            .unwrap(),
        ..a.clone()
    };
    let ring = KeyRing::load(&store_with(vec![retired, b.clone()]).await, &sealer(1), now)
        .await
        .unwrap();
    assert_eq!(kids(&ring), vec![b.kid.as_str()]);
}

#[tokio::test]
async fn a_kid_that_is_not_the_thumbprint_is_refused() {
    // A row copied under another kid, sealed for that kid by someone holding the encryption key
    // (the only way past the seal): the thumbprint check still catches the mislabelling.
    let (a, _) = two_rows().await;
    let pkcs8 = sealer(1)
        .open(
            &a.private_key_sealed,
            format!("signing_key:{}", a.kid).as_bytes(),
        )
        .unwrap();
    let relabelled = SigningKey {
        kid: "my-own-kid".to_owned(),
        public_jwk: a.public_jwk.replace(&a.kid, "my-own-kid"),
        private_key_sealed: sealer(1)
            .seal(&pkcs8, b"signing_key:my-own-kid", &mut rng(19))
            .unwrap(),
        ..a
    };
    let err = KeyRing::load(&store_with(vec![relabelled]).await, &sealer(1), t0())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("thumbprint"), "{err}");
}

#[test]
fn generated_keys_are_what_jsonwebtoken_reads() {
    install_crypto_provider();
    for alg in SigningAlg::ALL {
        let pkcs8 = generate(alg, &mut rng(20)).unwrap();
        match alg {
            SigningAlg::Es256 => {
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8).unwrap();
            }
            // PKCS#8 v1, 48 bytes: the only Ed25519 form jsonwebtoken's JWK helpers take.
            SigningAlg::EdDsa => {
                assert_eq!(pkcs8.len(), 48);
                Ed25519KeyPair::from_pkcs8(&pkcs8).unwrap();
            }
        }
        KeyMaterial::from_pkcs8(alg, &pkcs8).unwrap();
    }
}
