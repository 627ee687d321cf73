//! Minting, shape checks and the `api_key` validator against a memory store.

use std::sync::Arc;

use portcullis_store::{ApiKey, ApiKeyKind, MemoryStore, Store};
use rand::SeedableRng;
use rand::rngs::StdRng;
use time::OffsetDateTime;

use super::*;

const NOW: i64 = 1_800_000_000;

fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap()
}

fn context() -> Context<'static> {
    Context {
        resource: "http://127.0.0.1:8080/servers/files/mcp",
        now: NOW,
    }
}

fn row(id: &str, hash: [u8; 32], kind: ApiKeyKind) -> ApiKey {
    ApiKey {
        id: id.to_owned(),
        secret_hash: hash,
        subject: "service:ci".to_owned(),
        name: "ci".to_owned(),
        kind,
        scopes: "files:read files:write".to_owned(),
        created_at: at(NOW - 100),
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
    }
}

async fn setup() -> (Arc<MemoryStore>, ApiKeyValidator, StdRng) {
    let store = Arc::new(MemoryStore::new());
    let validator = ApiKeyValidator::new(store.clone());
    (store, validator, StdRng::seed_from_u64(7))
}

#[test]
fn minted_keys_have_the_documented_shape() {
    let mut rng = StdRng::seed_from_u64(1);
    let key = new_api_key(&mut rng);
    assert!(key.secret.starts_with("pcl_"));
    assert_eq!(key.secret.len(), 4 + 43 + 6);
    assert!(well_formed(&key.secret, API_KEY_PREFIX));
    assert_eq!(key.hash, secret_hash(&key.secret));
    assert_ne!(new_api_key(&mut rng).secret, key.secret);
    let secret = new_service_secret(&mut rng);
    assert!(well_formed(&secret.secret, SERVICE_SECRET_PREFIX));
    assert!(!well_formed(&secret.secret, API_KEY_PREFIX));
    let id = new_public_id("pclc_", &mut rng);
    assert_eq!(id.len(), 5 + 17);
    assert!(format!("{:?}", key).contains(".."));
    assert!(!format!("{:?}", key).contains(&key.secret));
}

#[test]
fn a_changed_character_fails_the_checksum() {
    let key = new_api_key(&mut StdRng::seed_from_u64(2)).secret;
    let mut bytes = key.clone().into_bytes();
    bytes[10] = if bytes[10] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(bytes).unwrap();
    assert!(!well_formed(&typo, API_KEY_PREFIX));
    assert!(!well_formed(&key[..key.len() - 1], API_KEY_PREFIX));
    assert!(!well_formed(&format!("{key}0"), API_KEY_PREFIX));
    assert!(!well_formed(&key.replace("pcl_", "pcx_"), API_KEY_PREFIX));
}

#[test]
fn base62_is_big_endian_and_padded() {
    assert_eq!(base62(&[0], 3), "000");
    assert_eq!(base62(&[61], 1), "z");
    assert_eq!(base62(&[62], 2), "10");
    assert_eq!(base62(&[0xff; 32], 43).len(), 43);
}

#[tokio::test]
async fn a_good_key_is_its_subject_with_its_scopes() {
    let (store, validator, mut rng) = setup().await;
    let key = new_api_key(&mut rng);
    store
        .api_key_insert(&row("k1", key.hash, ApiKeyKind::ApiKey))
        .await
        .unwrap();
    let principal = validator
        .validate(Credential::Bearer(&key.secret), context())
        .await
        .unwrap();
    assert_eq!(principal.subject, "service:ci");
    assert_eq!(principal.validator, "api_key");
    assert_eq!(principal.scopes, ["files:read", "files:write"]);
    assert_eq!(principal.auth_methods, ["api_key"]);
    // Use is recorded.
    let stored = store.api_key_get("k1").await.unwrap().unwrap();
    assert_eq!(stored.last_used_at, Some(at(NOW)));
}

#[tokio::test]
async fn revoked_expired_unknown_and_malformed_keys_are_invalid() {
    let (store, validator, mut rng) = setup().await;
    let revoked = new_api_key(&mut rng);
    let mut r = row("revoked", revoked.hash, ApiKeyKind::ApiKey);
    r.revoked_at = Some(at(NOW - 1));
    store.api_key_insert(&r).await.unwrap();
    let expired = new_api_key(&mut rng);
    let mut e = row("expired", expired.hash, ApiKeyKind::ApiKey);
    e.expires_at = Some(at(NOW));
    store.api_key_insert(&e).await.unwrap();
    let unknown = new_api_key(&mut rng);
    for token in [
        revoked.secret.as_str(),
        expired.secret.as_str(),
        unknown.secret.as_str(),
        "pcl_short",
    ] {
        let result = validator
            .validate(Credential::Bearer(token), context())
            .await;
        assert!(matches!(result, Err(Rejection::Invalid(_))), "{result:?}");
        // No reason ever quotes the key.
        if let Err(Rejection::Invalid(reason)) = result {
            assert!(!reason.contains(token), "{reason}");
        }
    }
}

#[tokio::test]
async fn other_credentials_are_not_applicable() {
    let (_, validator, _) = setup().await;
    for credential in [
        Credential::Bearer("eyJhbGciOiJFUzI1NiJ9.e30.sig"),
        Credential::Bearer("ghp_abc"),
        Credential::CfAccessAssertion("x.y.z"),
    ] {
        assert_eq!(
            validator.validate(credential, context()).await.unwrap_err(),
            Rejection::NotApplicable
        );
    }
}

#[tokio::test]
async fn service_tokens_need_their_own_secret_and_headers() {
    let (store, validator, mut rng) = setup().await;
    let secret = new_service_secret(&mut rng);
    let client_id = new_public_id(SERVICE_CLIENT_ID_PREFIX, &mut rng);
    store
        .api_key_insert(&row(
            "svc1",
            secret.hash,
            ApiKeyKind::ServiceToken {
                client_id: client_id.clone(),
            },
        ))
        .await
        .unwrap();
    let good = Credential::ServiceToken {
        client_id: &client_id,
        client_secret: &secret.secret,
    };
    let principal = validator.validate(good, context()).await.unwrap();
    assert_eq!(principal.auth_methods, ["service_token"]);

    let other = new_service_secret(&mut rng);
    let wrong_secret = Credential::ServiceToken {
        client_id: &client_id,
        client_secret: &other.secret,
    };
    let wrong_id = Credential::ServiceToken {
        client_id: "pclc_nobody",
        client_secret: &secret.secret,
    };
    for credential in [wrong_secret, wrong_id] {
        assert!(matches!(
            validator.validate(credential, context()).await,
            Err(Rejection::Invalid(_))
        ));
    }
    // A service-token secret is not a bearer key, even though its hash is stored.
    let as_bearer = validator
        .validate(Credential::Bearer(&secret.secret), context())
        .await;
    assert_eq!(as_bearer.unwrap_err(), Rejection::NotApplicable);
}

#[tokio::test]
async fn a_bearer_key_row_cannot_be_used_as_a_service_token() {
    let (store, validator, mut rng) = setup().await;
    // A row of the wrong kind found by hash: the kind check refuses it.
    let key = new_api_key(&mut rng);
    store
        .api_key_insert(&row(
            "svc-as-key",
            key.hash,
            ApiKeyKind::ServiceToken {
                client_id: "pclc_x".to_owned(),
            },
        ))
        .await
        .unwrap();
    let result = validator
        .validate(Credential::Bearer(&key.secret), context())
        .await;
    assert!(matches!(result, Err(Rejection::Invalid(_))), "{result:?}");
}
