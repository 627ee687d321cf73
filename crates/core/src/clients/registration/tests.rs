//! Dynamic registration and its management over a memory store.

use std::sync::Arc;
use std::time::Duration;

use portcullis_store::{MemoryStore, Store, TokenEndpointAuthMethod};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use super::*;
use crate::audit::AuditContext;
use crate::auth::testing::FakeFetch;
use crate::clients::{CLIENT_SECRET_PREFIX, RegistrySettings};

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

fn registry() -> (ClientRegistry, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    let settings = RegistrySettings {
        issuer: "https://as.example".to_owned(),
        token_endpoint: "https://as.example/token".to_owned(),
        client_id_metadata_documents: true,
        dynamic_client_registration: true,
        unused_client_ttl: Duration::from_secs(3600),
        allow_loopback_client_id_documents: false,
        client_id_document_cache_max: Duration::from_secs(86_400),
    };
    let registry = ClientRegistry::new(settings, Vec::new(), store.clone(), FakeFetch::new());
    (registry, store)
}

fn bearer_of(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn a_public_registration_gets_an_id_and_a_token_but_no_secret() {
    let (registry, store) = registry();
    let mut rng = StdRng::seed_from_u64(1);
    let body = json!({
        "client_name": "Inspector",
        "redirect_uris": ["http://localhost:6274/oauth/callback"],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "application_type": "native",
        "client_id": "https://impersonated.example/client.json",
    });
    let registered = register(
        &registry,
        &AuditContext::off(),
        body.to_string().as_bytes(),
        now(),
        &mut rng,
    )
    .await
    .unwrap();
    let client = &registered.client;
    assert!(
        client.client_id.starts_with("client_"),
        "{}",
        client.client_id
    );
    assert!(registered.client_secret.is_none());
    let token = registered.registration_access_token.clone().unwrap();
    assert!(token.starts_with("pclrt_"));
    assert_eq!(client.expires_at, Some(now() + time::Duration::hours(1)));

    let stored = store.client_get(&client.client_id).await.unwrap().unwrap();
    assert_eq!(&stored, client);
    assert_eq!(stored.source, ClientSource::Dynamic);
    assert_eq!(
        stored.registration_access_token_hash,
        Some(secret_hash(&token))
    );
    assert!(!format!("{registered:?}").contains(&token));

    let info = client_information(
        client,
        None,
        Some(token),
        "https://as.example/register/x".into(),
    );
    let info = serde_json::to_value(&info).unwrap();
    assert_eq!(info["client_name"], "Inspector");
    assert_eq!(info["token_endpoint_auth_method"], "none");
    assert_eq!(info["application_type"], "native");
    assert!(info.get("client_secret").is_none());
    assert!(info.get("client_secret_expires_at").is_none());
    assert_eq!(info["client_id_issued_at"], now().unix_timestamp());
}

#[tokio::test]
async fn a_confidential_registration_gets_a_secret_stored_as_a_hash() {
    let (registry, store) = registry();
    let mut rng = StdRng::seed_from_u64(2);
    let body = json!({"redirect_uris": ["https://app.example/cb"], "client_secret": "chosen"});
    let registered = register(
        &registry,
        &AuditContext::off(),
        body.to_string().as_bytes(),
        now(),
        &mut rng,
    )
    .await
    .unwrap();
    // RFC 7591's default method is client_secret_basic, and the server picks the secret.
    let secret = registered.client_secret.clone().unwrap();
    assert!(secret.starts_with(CLIENT_SECRET_PREFIX));
    let stored = store
        .client_get(&registered.client.client_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.secret_hash, Some(secret_hash(&secret)));
    assert_eq!(
        stored.token_endpoint_auth_method,
        TokenEndpointAuthMethod::ClientSecretBasic
    );
    let info = client_information(
        &stored,
        Some(secret),
        None,
        "https://as.example/register/x".into(),
    );
    assert_eq!(
        serde_json::to_value(&info).unwrap()["client_secret_expires_at"],
        0
    );
}

#[tokio::test]
async fn rejected_registrations_store_nothing() {
    let (registry, store) = registry();
    let mut rng = StdRng::seed_from_u64(3);
    let cases: Vec<(Vec<u8>, ErrorCode)> = vec![
        (b"not json".to_vec(), ErrorCode::InvalidClientMetadata),
        (b"[]".to_vec(), ErrorCode::InvalidClientMetadata),
        (
            br#"{"redirect_uris":["https://a.example/cb"],"redirect_uris":["https://b.example/cb"]}"#
                .to_vec(),
            ErrorCode::InvalidClientMetadata,
        ),
        (json!({}).to_string().into_bytes(), ErrorCode::InvalidRedirectUri),
        (
            json!({"redirect_uris": ["http://evil.example/cb"]}).to_string().into_bytes(),
            ErrorCode::InvalidRedirectUri,
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["implicit"]})
                .to_string()
                .into_bytes(),
            ErrorCode::InvalidClientMetadata,
        ),
    ];
    for (body, code) in cases {
        let got = register(&registry, &AuditContext::off(), &body, now(), &mut rng)
            .await
            .unwrap_err();
        assert_eq!(got.error, code, "{}", String::from_utf8_lossy(&body));
    }
    assert!(store.client_list().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_initial_access_token_is_checked_when_configured() {
    let expected = secret_hash("initial-token");
    assert!(check_initial_access_token(None, None).is_ok());
    assert!(check_initial_access_token(Some(&expected), Some("Bearer initial-token")).is_ok());
    assert!(check_initial_access_token(Some(&expected), Some("bearer initial-token")).is_ok());
    for authorization in [
        None,
        Some("Bearer wrong"),
        Some("Basic aW5pdGlhbC10b2tlbg=="),
        Some("Bearer "),
        Some("initial-token"),
    ] {
        let got = check_initial_access_token(Some(&expected), authorization).unwrap_err();
        assert_eq!(got.error, ErrorCode::InvalidToken, "{authorization:?}");
    }
}

async fn registered(registry: &ClientRegistry, body: Value) -> Registered {
    let mut rng = StdRng::seed_from_u64(4);
    register(
        registry,
        &AuditContext::off(),
        body.to_string().as_bytes(),
        now(),
        &mut rng,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn management_needs_the_registration_access_token() {
    let (registry, store) = registry();
    let a = registered(
        &registry,
        json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "none"}),
    )
    .await;
    let mut rng = StdRng::seed_from_u64(5);
    let b = register(
        &registry,
        &AuditContext::off(),
        json!({"redirect_uris": ["https://b.example/cb"], "token_endpoint_auth_method": "none"})
            .to_string()
            .as_bytes(),
        now(),
        &mut rng,
    )
    .await
    .unwrap();
    let a_id = &a.client.client_id;
    let a_token = bearer_of(a.registration_access_token.as_deref().unwrap());
    let b_token = bearer_of(b.registration_access_token.as_deref().unwrap());

    assert_eq!(
        authorize(&registry, a_id, Some(&a_token), now())
            .await
            .unwrap(),
        a.client
    );
    for (id, authorization) in [
        (a_id.as_str(), None),
        (a_id.as_str(), Some(b_token.as_str())),
        (a_id.as_str(), Some("Bearer pclrt_wrong")),
        (a_id.as_str(), Some("Basic abc")),
        ("client_unknown", Some(a_token.as_str())),
    ] {
        let got = authorize(&registry, id, authorization, now())
            .await
            .unwrap_err();
        assert_eq!(got.error, ErrorCode::InvalidToken, "{id} {authorization:?}");
    }
    // Unused past its expiry: gone, for management too.
    let later = now() + time::Duration::hours(2);
    assert!(
        authorize(&registry, a_id, Some(&a_token), later)
            .await
            .is_err()
    );

    // Admin clients have no registration access token.
    let mut admin = a.client.clone();
    admin.client_id = "client_admin".to_owned();
    admin.source = ClientSource::Admin;
    store.client_insert(&admin).await.unwrap();
    assert!(
        authorize(&registry, "client_admin", Some(&a_token), now())
            .await
            .is_err()
    );

    delete(&registry, &AuditContext::off(), a_id, Some(&a_token), now())
        .await
        .unwrap();
    assert_eq!(store.client_get(a_id).await.unwrap(), None);
    assert!(
        delete(&registry, &AuditContext::off(), a_id, Some(&a_token), now())
            .await
            .is_err()
    );
    assert!(
        store
            .client_get(&b.client.client_id)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn an_update_replaces_metadata_and_issues_a_secret_only_when_needed() {
    let (registry, store) = registry();
    let public = registered(
        &registry,
        json!({"client_name": "Old", "redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "none"}),
    )
    .await;
    let id = public.client.client_id.clone();
    let token = bearer_of(public.registration_access_token.as_deref().unwrap());
    let mut rng = StdRng::seed_from_u64(6);
    let update_with = |body: Value| body.to_string().into_bytes();

    // Refusals leave the client as it was.
    let refusals = [
        (
            json!({"redirect_uris": ["https://a.example/cb"]}),
            ErrorCode::InvalidClientMetadata,
        ),
        (
            json!({"client_id": "client_other", "redirect_uris": ["https://a.example/cb"]}),
            ErrorCode::InvalidClientMetadata,
        ),
        (
            json!({"client_id": id, "redirect_uris": ["https://a.example/cb"], "registration_access_token": "x"}),
            ErrorCode::InvalidClientMetadata,
        ),
        (
            json!({"client_id": id, "redirect_uris": ["https://a.example/cb"], "client_secret": "guess"}),
            ErrorCode::InvalidClientMetadata,
        ),
        (
            json!({"client_id": id, "redirect_uris": ["http://a.example/cb"]}),
            ErrorCode::InvalidRedirectUri,
        ),
    ];
    for (body, code) in refusals {
        let got = update(
            &registry,
            &AuditContext::off(),
            &id,
            Some(&token),
            &update_with(body.clone()),
            now(),
            &mut rng,
        )
        .await
        .unwrap_err();
        assert_eq!(got.error, code, "{body}");
    }
    assert_eq!(
        store.client_get(&id).await.unwrap().as_ref(),
        Some(&public.client)
    );

    // A switch to client_secret_post issues a secret, once.
    let body = json!({
        "client_id": id,
        "client_name": "New",
        "redirect_uris": ["https://b.example/cb"],
        "token_endpoint_auth_method": "client_secret_post",
    });
    let updated = update(
        &registry,
        &AuditContext::off(),
        &id,
        Some(&token),
        &update_with(body.clone()),
        now(),
        &mut rng,
    )
    .await
    .unwrap();
    let secret = updated.client_secret.clone().unwrap();
    let stored = store.client_get(&id).await.unwrap().unwrap();
    assert_eq!(stored.name, "New");
    assert_eq!(stored.redirect_uris, ["https://b.example/cb"]);
    assert_eq!(stored.secret_hash, Some(secret_hash(&secret)));
    assert_eq!(stored.created_at, public.client.created_at);
    assert_eq!(
        stored.registration_access_token_hash,
        public.client.registration_access_token_hash
    );

    // Again, with the current secret: kept, not reissued.
    let mut again = body.clone();
    again["client_secret"] = json!(secret);
    let kept = update(
        &registry,
        &AuditContext::off(),
        &id,
        Some(&token),
        &update_with(again),
        now(),
        &mut rng,
    )
    .await
    .unwrap();
    assert!(kept.client_secret.is_none());
    assert_eq!(kept.client.secret_hash, Some(secret_hash(&secret)));

    // Back to public: the secret is dropped.
    let body = json!({"client_id": id, "redirect_uris": ["https://b.example/cb"], "token_endpoint_auth_method": "none"});
    update(
        &registry,
        &AuditContext::off(),
        &id,
        Some(&token),
        &update_with(body),
        now(),
        &mut rng,
    )
    .await
    .unwrap();
    assert_eq!(
        store.client_get(&id).await.unwrap().unwrap().secret_hash,
        None
    );
}
