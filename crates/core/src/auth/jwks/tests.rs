//! The key cache: single flight, unknown-kid cooldown, last-good keys through outages up to
//! max-stale, rotation, discovery, and which keys of a document are kept.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::auth::FetchError;
use crate::auth::jwt::{asymmetric_algorithm, install_crypto_provider};
use crate::auth::testing::{FakeFetch, NOW, TestKey, b64, jwks};

const JWKS_URI: &str = "https://issuer.example/keys";
const ISSUER: &str = "https://issuer.example";
const DISCOVERY: &str = "https://issuer.example/.well-known/openid-configuration";

const POLICY: CachePolicy = CachePolicy {
    ttl: Duration::from_secs(600),
    max_stale: Duration::from_secs(3600),
    unknown_kid_cooldown: Duration::from_secs(30),
};

fn all() -> Vec<Algorithm> {
    crate::config::JWT_ALGORITHMS
        .iter()
        .filter_map(|n| asymmetric_algorithm(n))
        .collect()
}

fn cache(fake: &Arc<FakeFetch>, source: KeySource) -> JwksCache {
    install_crypto_provider();
    JwksCache::new(source, fake.clone(), false, all(), POLICY)
}

fn jwks_cache(fake: &Arc<FakeFetch>) -> JwksCache {
    cache(fake, KeySource::Jwks(JWKS_URI.to_owned()))
}

#[tokio::test]
async fn keys_are_fetched_once_and_reused_until_the_ttl() {
    let fake = FakeFetch::new();
    let k1 = TestKey::new("ES256", "k1");
    fake.answer(JWKS_URI, 200, jwks(&[&k1]));
    let cache = jwks_cache(&fake);
    for t in [NOW, NOW + 1, NOW + 599] {
        let keys = cache.keys(Some("k1"), t).await.unwrap();
        assert!(keys.knows(Some("k1")));
    }
    assert_eq!(fake.calls_to(JWKS_URI), 1);
    cache.keys(Some("k1"), NOW + 600).await.unwrap();
    assert_eq!(fake.calls_to(JWKS_URI), 2);
    // Every request carries the validator's network permission (false here).
    assert!(fake.calls().iter().all(|c| !c.allow_private_network));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_validations_share_one_fetch() {
    let fake = FakeFetch::new();
    let k1 = TestKey::new("ES256", "k1");
    fake.answer(JWKS_URI, 200, jwks(&[&k1]));
    fake.hold();
    let cache = Arc::new(jwks_cache(&fake));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.keys(Some("k1"), NOW).await })
        })
        .collect();
    // Let every task reach the cache and queue behind the one fetch.
    while fake.started() == 0 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(fake.started(), 1, "only one fetch may be in flight");
    fake.release();
    for task in tasks {
        assert!(task.await.unwrap().unwrap().knows(Some("k1")));
    }
    assert_eq!(fake.calls_to(JWKS_URI), 1);
}

#[tokio::test]
async fn unknown_kids_refetch_at_most_once_per_cooldown() {
    let fake = FakeFetch::new();
    let k1 = TestKey::new("ES256", "k1");
    fake.answer(JWKS_URI, 200, jwks(&[&k1]));
    let cache = jwks_cache(&fake);
    cache.keys(Some("k1"), NOW).await.unwrap();
    assert_eq!(fake.calls_to(JWKS_URI), 1);
    // A flood of made-up kids within the cooldown: no fetch; the keys come back without them.
    for (i, t) in (NOW + 1..NOW + 30).enumerate() {
        let keys = cache.keys(Some(&format!("made-up-{i}")), t).await.unwrap();
        assert!(!keys.knows(Some(&format!("made-up-{i}"))));
    }
    assert_eq!(fake.calls_to(JWKS_URI), 1);
    // After the cooldown, one refetch; then quiet again.
    cache.keys(Some("made-up"), NOW + 30).await.unwrap();
    cache.keys(Some("made-up"), NOW + 31).await.unwrap();
    assert_eq!(fake.calls_to(JWKS_URI), 2);
}

#[tokio::test]
async fn rotated_keys_are_picked_up_by_an_unknown_kid() {
    let fake = FakeFetch::new();
    let k1 = TestKey::new("ES256", "k1");
    let k2 = TestKey::new("EdDSA", "k2");
    fake.answer(JWKS_URI, 200, jwks(&[&k1]));
    let cache = jwks_cache(&fake);
    cache.keys(Some("k1"), NOW).await.unwrap();
    fake.answer(JWKS_URI, 200, jwks(&[&k1, &k2]));
    let keys = cache.keys(Some("k2"), NOW + 60).await.unwrap();
    assert!(keys.knows(Some("k2")));
    assert!(keys.knows(Some("k1")));
    // k1 removed at the issuer: it goes with the next refresh after the TTL, not before.
    fake.answer(JWKS_URI, 200, jwks(&[&k2]));
    assert!(
        cache
            .keys(Some("k1"), NOW + 100)
            .await
            .unwrap()
            .knows(Some("k1"))
    );
    assert!(
        !cache
            .keys(Some("k1"), NOW + 60 + 600)
            .await
            .unwrap()
            .knows(Some("k1"))
    );
}

#[tokio::test]
async fn last_good_keys_serve_through_errors_until_max_stale() {
    let fake = FakeFetch::new();
    let k1 = TestKey::new("ES256", "k1");
    fake.answer(JWKS_URI, 200, jwks(&[&k1]));
    let cache = jwks_cache(&fake);
    cache.keys(Some("k1"), NOW).await.unwrap();
    fake.fail(JWKS_URI, FetchError::Timeout);
    // Past the TTL: the refresh fails, the old keys serve.
    assert!(
        cache
            .keys(Some("k1"), NOW + 700)
            .await
            .unwrap()
            .knows(Some("k1"))
    );
    assert_eq!(fake.calls_to(JWKS_URI), 2);
    // Failed attempts are not retried within the cooldown (no request waits on a dead issuer).
    cache.keys(Some("k1"), NOW + 710).await.unwrap();
    assert_eq!(fake.calls_to(JWKS_URI), 2);
    cache.keys(Some("k1"), NOW + 730).await.unwrap();
    assert_eq!(fake.calls_to(JWKS_URI), 3);
    // At max-stale (3600 s after the last success) it is still served; past it, fail closed.
    assert!(cache.keys(Some("k1"), NOW + 3600).await.is_ok());
    let err = cache.keys(Some("k1"), NOW + 3601).await.unwrap_err();
    assert!(
        matches!(&err, Rejection::Unavailable(why) if why.contains("older than jwks_max_stale")),
        "{err:?}"
    );
    // The issuer comes back: keys again.
    fake.answer(JWKS_URI, 200, jwks(&[&k1]));
    assert!(cache.keys(Some("k1"), NOW + 3700).await.is_ok());
}

#[tokio::test]
async fn a_good_set_is_never_replaced_by_an_empty_or_broken_one() {
    let k1 = TestKey::new("ES256", "k1");
    let oct = json!({"keys": [{"kty": "oct", "k": b64(b"0123456789abcdef0123456789abcdef"), "kid": "k1", "alg": "HS256"}]});
    let bad_documents = [
        json!({"keys": []}).to_string(),
        json!({"keys": [{"kty": "RSA", "kid": "k1"}]}).to_string(),
        oct.to_string(),
        "not json".to_owned(),
        json!({"no": "keys"}).to_string(),
    ];
    for bad in bad_documents {
        let fake = FakeFetch::new();
        fake.answer(JWKS_URI, 200, jwks(&[&k1]));
        let cache = jwks_cache(&fake);
        cache.keys(Some("k1"), NOW).await.unwrap();
        fake.answer(JWKS_URI, 200, bad.clone());
        let keys = cache.keys(Some("k1"), NOW + 700).await.unwrap();
        assert!(keys.knows(Some("k1")), "{bad}");
        assert_eq!(fake.calls_to(JWKS_URI), 2, "{bad}");
    }
}

#[tokio::test]
async fn a_cold_start_without_keys_fails_closed_and_retries_after_the_cooldown() {
    let fake = FakeFetch::new();
    fake.answer(JWKS_URI, 503, "{}");
    let cache = jwks_cache(&fake);
    let err = cache.keys(Some("k1"), NOW).await.unwrap_err();
    assert!(
        matches!(&err, Rejection::Unavailable(why) if why.contains("HTTP 503")),
        "{err:?}"
    );
    assert!(cache.keys(Some("k1"), NOW + 10).await.is_err());
    assert_eq!(fake.calls_to(JWKS_URI), 1);
    let k1 = TestKey::new("ES256", "k1");
    fake.answer(JWKS_URI, 200, jwks(&[&k1]));
    assert!(cache.keys(Some("k1"), NOW + 30).await.is_ok());
}

#[tokio::test]
async fn oversized_documents_are_refused() {
    let fake = FakeFetch::new();
    let k1 = TestKey::new("ES256", "k1");
    let mut doc: serde_json::Value = serde_json::from_str(&jwks(&[&k1])).unwrap();
    doc["padding"] = json!("x".repeat(MAX_DOCUMENT_BYTES));
    fake.answer(JWKS_URI, 200, doc.to_string());
    let err = jwks_cache(&fake).keys(Some("k1"), NOW).await.unwrap_err();
    assert!(
        matches!(&err, Rejection::Unavailable(why) if why.contains("more than")),
        "{err:?}"
    );
}

#[tokio::test]
async fn discovery_finds_the_jwks_of_the_same_issuer() {
    let fake = FakeFetch::new();
    let k1 = TestKey::new("RS256", "k1");
    fake.answer(
        DISCOVERY,
        200,
        json!({"issuer": ISSUER, "jwks_uri": JWKS_URI}).to_string(),
    );
    fake.answer(JWKS_URI, 200, jwks(&[&k1]));
    let cache = cache(
        &fake,
        KeySource::Discovery {
            issuer: ISSUER.to_owned(),
        },
    );
    assert!(cache.keys(Some("k1"), NOW).await.unwrap().knows(Some("k1")));
    // The discovered URI is reused by the next refresh.
    cache.keys(Some("k1"), NOW + 600).await.unwrap();
    assert_eq!(fake.calls_to(DISCOVERY), 1);
    assert_eq!(fake.calls_to(JWKS_URI), 2);
}

#[tokio::test]
async fn discovery_refuses_another_issuers_document() {
    let cases = [
        (
            ISSUER,
            json!({"issuer": "https://evil.example", "jwks_uri": JWKS_URI}),
            "another issuer",
        ),
        (
            ISSUER,
            json!({"issuer": "https://issuer.example/", "jwks_uri": JWKS_URI}),
            "another issuer",
        ),
        (ISSUER, json!({"jwks_uri": JWKS_URI}), "another issuer"),
        (ISSUER, json!({"issuer": ISSUER}), "no jwks_uri"),
        (
            ISSUER,
            json!({"issuer": ISSUER, "jwks_uri": "http://issuer.example/keys"}),
            "not an https URL",
        ),
        (
            "https://issuer.example/",
            json!({"issuer": ISSUER, "jwks_uri": JWKS_URI}),
            "another issuer",
        ),
    ];
    for (issuer, doc, needle) in cases {
        let fake = FakeFetch::new();
        fake.answer(DISCOVERY, 200, doc.to_string());
        fake.answer(JWKS_URI, 200, jwks(&[&TestKey::new("ES256", "k1")]));
        let cache = cache(
            &fake,
            KeySource::Discovery {
                issuer: issuer.to_owned(),
            },
        );
        let err = cache.keys(Some("k1"), NOW).await.unwrap_err();
        assert!(
            matches!(&err, Rejection::Unavailable(why) if why.contains(needle)),
            "{doc}: {err:?}"
        );
        assert_eq!(fake.calls_to(JWKS_URI), 0, "{doc}");
    }
}

#[test]
fn only_usable_signing_keys_are_kept() {
    install_crypto_provider();
    let ec = TestKey::new("ES256", "ec");
    let rsa = TestKey::new("RS256", "rsa");
    let ed = TestKey::new("EdDSA", "ed");
    let with = |mut jwk: serde_json::Value, key: &str, value: serde_json::Value| {
        if value.is_null() {
            jwk.as_object_mut().unwrap().remove(key);
        } else {
            jwk[key] = value;
        }
        jwk
    };
    let cases: Vec<(&str, serde_json::Value, bool)> = vec![
        ("ES256", ec.jwk(), true),
        ("use absent", with(ec.jwk(), "use", json!(null)), true),
        ("use enc", with(ec.jwk(), "use", json!("enc")), false),
        (
            "alg HS256 on an EC key",
            with(ec.jwk(), "alg", json!("HS256")),
            false,
        ),
        (
            "alg ES384 on a P-256 key",
            with(ec.jwk(), "alg", json!("ES384")),
            false,
        ),
        (
            "alg RS256 on an EC key",
            with(ec.jwk(), "alg", json!("RS256")),
            false,
        ),
        ("alg none", with(ec.jwk(), "alg", json!("none")), false),
        ("curve P-521", with(ec.jwk(), "crv", json!("P-521")), false),
        (
            "short EC x",
            with(ec.jwk(), "x", json!(b64(&[1; 31]))),
            false,
        ),
        ("kid as a number", with(ec.jwk(), "kid", json!(1)), false),
        ("RSA", rsa.jwk(), true),
        (
            "RSA with PS256",
            with(rsa.jwk(), "alg", json!("PS256")),
            true,
        ),
        (
            "RSA with ES256",
            with(rsa.jwk(), "alg", json!("ES256")),
            false,
        ),
        (
            "RSA 1024 bits",
            with(rsa.jwk(), "n", json!(b64(&[0xc5; 128]))),
            false,
        ),
        (
            "RSA n padded",
            with(
                rsa.jwk(),
                "n",
                json!(format!("{}=", rsa.jwk()["n"].as_str().unwrap())),
            ),
            false,
        ),
        ("Ed25519", ed.jwk(), true),
        ("Ed448", with(ed.jwk(), "crv", json!("Ed448")), false),
        (
            "Ed25519 with alg ES256",
            with(ed.jwk(), "alg", json!("ES256")),
            false,
        ),
        (
            "oct (an HMAC secret)",
            json!({"kty": "oct", "k": b64(&[7; 32]), "alg": "HS256"}),
            false,
        ),
        ("no kty", with(ec.jwk(), "kty", json!(null)), false),
    ];
    for (name, jwk, kept) in cases {
        let doc = json!({"keys": [jwk]}).to_string();
        assert_eq!(parse_jwks(doc.as_bytes(), &all()).is_ok(), kept, "{name}");
    }
    // The validator's allowlist drops keys of other algorithms.
    let doc = jwks(&[&ec, &rsa]);
    let es256_only = parse_jwks(doc.as_bytes(), &[Algorithm::ES256]).unwrap();
    assert_eq!(es256_only.len(), 1);
    assert!(es256_only.knows(Some("ec")));
    assert!(!es256_only.knows(Some("rsa")));
}
