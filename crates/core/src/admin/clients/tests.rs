//! Operator-created clients over a memory store.

use portcullis_store::MemoryStore;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;

fn cli() -> AuditContext {
    AuditContext::cli("root", true)
}
use crate::auth::api_key::{secret_hash, well_formed};
use crate::clients::CLIENT_SECRET_PREFIX;

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

fn uris(list: &[&str]) -> Vec<String> {
    list.iter().map(|u| (*u).to_owned()).collect()
}

#[tokio::test]
async fn public_and_confidential_clients_are_created() {
    let store = MemoryStore::new();
    let mut rng = StdRng::seed_from_u64(1);
    let redirect = uris(&["http://127.0.0.1:9999/cb"]);
    let public = create(
        &store,
        &cli(),
        NewClient {
            name: "ci",
            redirect_uris: &redirect,
            confidential: false,
            grant_types: &[],
            scope: None,
        },
        now(),
        &mut rng,
    )
    .await
    .unwrap();
    assert!(public.secret.is_none());
    assert!(public.client.client_id.starts_with("client_"));
    assert_eq!(public.client.source, ClientSource::Admin);
    assert_eq!(
        public.client.token_endpoint_auth_method,
        TokenEndpointAuthMethod::None
    );
    assert_eq!(
        public.client.grant_types,
        ["authorization_code", "refresh_token"]
    );

    let confidential = create(
        &store,
        &cli(),
        NewClient {
            name: "backend",
            redirect_uris: &uris(&["https://app.example/cb", "com.example.app:/cb"]),
            confidential: true,
            grant_types: &uris(&["authorization_code", "client_credentials"]),
            scope: Some("files:read"),
        },
        now(),
        &mut rng,
    )
    .await
    .unwrap();
    let secret = confidential.secret.clone().unwrap();
    assert!(well_formed(&secret, CLIENT_SECRET_PREFIX));
    let stored = show(&store, &confidential.client.client_id).await.unwrap();
    assert_eq!(stored.secret_hash, Some(secret_hash(&secret)));
    assert!(!format!("{stored:?}{confidential:?}").contains(&secret));
    assert_eq!(list(&store).await.unwrap().len(), 2);
}

#[tokio::test]
async fn bad_requests_store_nothing() {
    let store = MemoryStore::new();
    let mut rng = StdRng::seed_from_u64(2);
    let good = uris(&["https://app.example/cb"]);
    let evil = uris(&["http://app.example/cb"]);
    let fragment = uris(&["https://app.example/cb#x"]);
    let implicit = uris(&["implicit"]);
    let credentials = uris(&["client_credentials"]);
    let cases = [
        ("", &good, false, &[][..], None),
        ("a\nb", &good, false, &[][..], None),
        ("ok", &evil, false, &[][..], None),
        ("ok", &fragment, false, &[][..], None),
        ("ok", &Vec::new(), false, &[][..], None),
        ("ok", &good, false, &implicit[..], None),
        // client_credentials needs a confidential client.
        ("ok", &good, false, &credentials[..], None),
        ("ok", &good, false, &[][..], Some("bad \"scope\"")),
        ("ok", &good, false, &[][..], Some("")),
    ];
    for (name, redirect_uris, confidential, grant_types, scope) in cases {
        let result = create(
            &store,
            &cli(),
            NewClient {
                name,
                redirect_uris,
                confidential,
                grant_types,
                scope,
            },
            now(),
            &mut rng,
        )
        .await;
        assert!(
            matches!(result, Err(AdminError::Invalid(_))),
            "{name:?} {redirect_uris:?} {grant_types:?} {scope:?}: {result:?}"
        );
    }
    assert!(list(&store).await.unwrap().is_empty());
}

#[tokio::test]
async fn secrets_rotate_and_clients_are_deleted() {
    let store = MemoryStore::new();
    let mut rng = StdRng::seed_from_u64(3);
    let redirect = uris(&["https://app.example/cb"]);
    let new = |confidential| NewClient {
        name: "n",
        redirect_uris: &redirect,
        confidential,
        grant_types: &[],
        scope: None,
    };
    let confidential = create(&store, &cli(), new(true), now(), &mut rng)
        .await
        .unwrap();
    let public = create(&store, &cli(), new(false), now(), &mut rng)
        .await
        .unwrap();
    let id = &confidential.client.client_id;

    let rotated = rotate_secret(&store, &cli(), id, now(), &mut rng)
        .await
        .unwrap();
    let secret = rotated.secret.unwrap();
    assert_ne!(Some(&secret), confidential.secret.as_ref());
    let stored = show(&store, id).await.unwrap();
    assert_eq!(stored.secret_hash, Some(secret_hash(&secret)));
    assert_eq!(stored.created_at, confidential.client.created_at);

    assert!(matches!(
        rotate_secret(&store, &cli(), &public.client.client_id, now(), &mut rng).await,
        Err(AdminError::Conflict(_))
    ));
    assert!(matches!(
        rotate_secret(&store, &cli(), "client_nope", now(), &mut rng).await,
        Err(AdminError::NotFound(_))
    ));

    let deleted = delete(&store, &cli(), id, now()).await.unwrap();
    assert_eq!(&deleted.client_id, id);
    assert!(matches!(
        show(&store, id).await,
        Err(AdminError::NotFound(_))
    ));
    assert!(matches!(
        delete(&store, &cli(), id, now()).await,
        Err(AdminError::NotFound(_))
    ));
    assert_eq!(list(&store).await.unwrap().len(), 1);
}
