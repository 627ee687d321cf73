//! The conformance checks of OAuth clients (`oauth_clients`): insert, get, update, delete, list,
//! touch and the purge of unused dynamic registrations, under the same rules as the rest of the
//! suite (every row named within the run's [`Scope`], every check deleting what it created, the
//! purge working before [`PURGE_EPOCH`] under the purge lock).

use time::{Duration, OffsetDateTime};

use super::{PURGE_EPOCH, PURGE_LOCK, Scope, assert_one_winner, base_plus, offset};
use crate::{ApplicationType, Client, ClientSource, Store, StoreError, TokenEndpointAuthMethod};

/// Runs every client check in `scope`.
pub async fn run_all_in(store: &dyn Store, scope: &Scope) {
    client_insert_then_get_returns_equal_rows(store, scope).await;
    client_duplicate_insert_conflicts(store, scope).await;
    client_concurrent_duplicate_inserts_let_exactly_one_win(store, scope).await;
    client_update_replaces_metadata_but_not_identity(store, scope).await;
    client_delete_returns_true_then_false(store, scope).await;
    client_list_is_oldest_first(store, scope).await;
    client_touch_moves_last_used_at_forward_only(store, scope).await;
    clients_purge_unused_deletes_exactly_the_expired_unused(store, scope).await;
}

/// A public dynamic client with the optional fields unset.
pub(super) fn client(scope: &Scope, name: &str, created_at: OffsetDateTime) -> Client {
    Client {
        client_id: scope.name(name),
        source: ClientSource::Dynamic,
        name: "Inspector".to_owned(),
        redirect_uris: vec!["http://127.0.0.1:6274/oauth/callback".to_owned()],
        grant_types: vec!["authorization_code".to_owned(), "refresh_token".to_owned()],
        response_types: vec!["code".to_owned()],
        token_endpoint_auth_method: TokenEndpointAuthMethod::None,
        secret_hash: None,
        secret_expires_at: None,
        jwks: None,
        jwks_uri: None,
        scope: None,
        application_type: ApplicationType::Native,
        client_uri: None,
        logo_uri: None,
        registration_access_token_hash: None,
        created_at,
        expires_at: None,
        last_used_at: None,
    }
}

/// A confidential client with every optional field set, awkward values included.
fn full_client(scope: &Scope, name: &str, seed: u8, created_at: OffsetDateTime) -> Client {
    Client {
        source: ClientSource::Admin,
        name: "it's ünïcode, \"quoted\"".to_owned(),
        redirect_uris: vec![
            "https://app.example/cb?x=1&y=%20".to_owned(),
            "com.example.app:/oauth2redirect".to_owned(),
            "http://[::1]/cb".to_owned(),
        ],
        grant_types: vec!["authorization_code".to_owned()],
        response_types: vec!["code".to_owned()],
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretPost,
        secret_hash: Some(scope.secret_hash(seed)),
        secret_expires_at: Some(created_at + Duration::days(90)),
        jwks: Some(r#"{"keys":[{"kty":"EC","crv":"P-256","x":"ü","y":"ß"}]}"#.to_owned()),
        jwks_uri: Some("https://app.example/jwks.json".to_owned()),
        scope: Some("files:read mcp:tools".to_owned()),
        application_type: ApplicationType::Web,
        client_uri: Some("https://app.example/".to_owned()),
        logo_uri: Some("https://app.example/logo.png".to_owned()),
        registration_access_token_hash: Some(scope.secret_hash(seed.wrapping_add(1))),
        expires_at: Some((created_at + Duration::hours(24)).to_offset(offset(-5, 0))),
        last_used_at: Some(created_at + Duration::microseconds(1_000_001)),
        ..client(scope, name, created_at)
    }
}

async fn insert(store: &dyn Store, client: &Client) {
    store
        .client_insert(client)
        .await
        .unwrap_or_else(|err| panic!("{}: insert client {client:?}: {err}", store.backend()));
}

async fn get(store: &dyn Store, client_id: &str) -> Option<Client> {
    store
        .client_get(client_id)
        .await
        .unwrap_or_else(|err| panic!("{}: get client {client_id}: {err}", store.backend()))
}

async fn delete(store: &dyn Store, client_id: &str) -> bool {
    store
        .client_delete(client_id)
        .await
        .unwrap_or_else(|err| panic!("{}: delete client {client_id}: {err}", store.backend()))
}

async fn touch(store: &dyn Store, client_id: &str, now: OffsetDateTime) -> bool {
    store
        .client_touch(client_id, now)
        .await
        .unwrap_or_else(|err| panic!("{}: touch client {client_id}: {err}", store.backend()))
}

async fn purge(store: &dyn Store, expired_before: OffsetDateTime) -> u64 {
    store
        .clients_purge_unused(expired_before)
        .await
        .unwrap_or_else(|err| {
            panic!(
                "{}: purge clients expired before {expired_before}: {err}",
                store.backend()
            )
        })
}

/// This scope's clients, in the order the store lists them (other runs' rows may be interleaved
/// in a shared database).
async fn list(store: &dyn Store, scope: &Scope) -> Vec<Client> {
    let prefix = scope.name("");
    store
        .client_list()
        .await
        .unwrap_or_else(|err| panic!("{}: list clients: {err}", store.backend()))
        .into_iter()
        .filter(|client| client.client_id.starts_with(&prefix))
        .collect()
}

async fn cleanup(store: &dyn Store, clients: &[&Client]) {
    for client in clients {
        delete(store, &client.client_id).await;
    }
}

/// A client reads back exactly as written, with every optional field set or unset (lists in
/// order, JSON text byte for byte, hashes with zero and 0xff bytes, timestamps whatever their
/// offset); an unknown id reads as `None`.
pub async fn client_insert_then_get_returns_equal_rows(store: &dyn Store, scope: &Scope) {
    let minimal = client(scope, "client-rows-minimal", base_plus(0));
    let full = full_client(
        scope,
        "client-rows-full",
        1,
        base_plus(7).to_offset(offset(1, 0)),
    );
    let by_url = Client {
        client_id: format!("https://{}.example/client.json", scope.name("rows")),
        source: ClientSource::MetadataDocument,
        ..client(scope, "unused", base_plus(9))
    };
    assert_eq!(
        get(store, &minimal.client_id).await,
        None,
        "{}: before insert",
        store.backend()
    );
    for row in [&minimal, &full, &by_url] {
        insert(store, row).await;
    }
    for row in [&minimal, &full, &by_url] {
        assert_eq!(
            get(store, &row.client_id).await.as_ref(),
            Some(row),
            "{}: read back",
            store.backend()
        );
    }
    assert_eq!(
        get(store, &scope.name("client-rows-unknown")).await,
        None,
        "{}: unknown id",
        store.backend()
    );
    cleanup(store, &[&minimal, &full, &by_url]).await;
}

/// A second client with an existing id fails with `Conflict` and leaves the first untouched.
pub async fn client_duplicate_insert_conflicts(store: &dyn Store, scope: &Scope) {
    let first = client(scope, "client-dup", base_plus(0));
    insert(store, &first).await;
    let second = full_client(scope, "client-dup", 2, base_plus(1));
    let result = store.client_insert(&second).await;
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "{}: duplicate id gave {result:?}, expected Conflict",
        store.backend()
    );
    assert_eq!(
        get(store, &first.client_id).await,
        Some(first.clone()),
        "{}: first client",
        store.backend()
    );
    cleanup(store, &[&first]).await;
}

/// Of several concurrent inserts of one id, exactly one succeeds.
pub async fn client_concurrent_duplicate_inserts_let_exactly_one_win(
    store: &dyn Store,
    scope: &Scope,
) {
    let rows: Vec<Client> = (0..4)
        .map(|i| Client {
            name: format!("racer {i}"),
            ..client(scope, "client-concurrent", base_plus(i))
        })
        .collect();
    let [a, b, c, d] = rows.as_slice() else {
        unreachable!("four rows were built");
    };
    let results = tokio::join!(
        store.client_insert(a),
        store.client_insert(b),
        store.client_insert(c),
        store.client_insert(d),
    );
    assert_one_winner(store, &[results.0, results.1, results.2, results.3]);
    let stored = get(store, &a.client_id)
        .await
        .expect("the winner's row is stored");
    assert!(
        rows.contains(&stored),
        "{}: stored row was never written",
        store.backend()
    );
    cleanup(store, &[&stored]).await;
}

/// `update` replaces metadata and credentials, keeps `source`, `created_at` and `last_used_at`,
/// clears optional fields set to `None`, touches no other client, and reports unknown ids as
/// `false` without creating them.
pub async fn client_update_replaces_metadata_but_not_identity(store: &dyn Store, scope: &Scope) {
    let row = full_client(scope, "client-update", 3, base_plus(0));
    let other = client(scope, "client-update-other", base_plus(1));
    insert(store, &row).await;
    insert(store, &other).await;

    let changed = Client {
        source: ClientSource::Config,
        name: "Renamed".to_owned(),
        redirect_uris: vec!["https://new.example/cb".to_owned()],
        grant_types: vec!["authorization_code".to_owned(), "refresh_token".to_owned()],
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
        secret_hash: Some(scope.secret_hash(30)),
        secret_expires_at: None,
        jwks: None,
        jwks_uri: None,
        scope: None,
        application_type: ApplicationType::Native,
        client_uri: None,
        logo_uri: None,
        registration_access_token_hash: Some(scope.secret_hash(31)),
        created_at: base_plus(5_000_000),
        expires_at: None,
        last_used_at: None,
        ..row.clone()
    };
    assert!(
        store
            .client_update(&changed)
            .await
            .unwrap_or_else(|err| panic!("{}: update client: {err}", store.backend())),
        "{}: update known",
        store.backend()
    );
    let expected = Client {
        source: row.source,
        created_at: row.created_at,
        last_used_at: row.last_used_at,
        ..changed
    };
    assert_eq!(
        get(store, &row.client_id).await,
        Some(expected),
        "{}: after update",
        store.backend()
    );
    assert_eq!(
        get(store, &other.client_id).await,
        Some(other.clone()),
        "{}: update touched another client",
        store.backend()
    );

    let unknown = client(scope, "client-update-unknown", base_plus(0));
    assert!(
        !store
            .client_update(&unknown)
            .await
            .unwrap_or_else(|err| panic!("{}: update unknown: {err}", store.backend())),
        "{}: update unknown",
        store.backend()
    );
    assert_eq!(
        get(store, &unknown.client_id).await,
        None,
        "{}: update must not create",
        store.backend()
    );
    cleanup(store, &[&row, &other]).await;
}

/// `delete` removes one client: `true` the first time, `false` after, others untouched.
pub async fn client_delete_returns_true_then_false(store: &dyn Store, scope: &Scope) {
    let row = client(scope, "client-delete", base_plus(0));
    let other = client(scope, "client-delete-other", base_plus(0));
    insert(store, &row).await;
    insert(store, &other).await;
    assert!(
        delete(store, &row.client_id).await,
        "{}: first delete",
        store.backend()
    );
    assert!(
        !delete(store, &row.client_id).await,
        "{}: second delete",
        store.backend()
    );
    assert_eq!(
        get(store, &row.client_id).await,
        None,
        "{}: deleted row",
        store.backend()
    );
    assert_eq!(
        get(store, &other.client_id).await,
        Some(other.clone()),
        "{}: other row",
        store.backend()
    );
    cleanup(store, &[&other]).await;
}

/// `list` is oldest first by instant (not by how the offset makes the time look), ties broken by
/// `client_id` compared byte-wise (`B` before `a`, whatever the database's collation).
pub async fn client_list_is_oldest_first(store: &dyn Store, scope: &Scope) {
    let late = client(scope, "client-order-c", base_plus(3_000_000));
    let tie_lower = client(scope, "client-order-a", base_plus(1_000_000));
    let tie_upper = full_client(
        scope,
        "client-order-B",
        40,
        base_plus(1_000_000).to_offset(offset(-8, 0)),
    );
    let early = client(
        scope,
        "client-order-z",
        base_plus(1).to_offset(offset(9, 0)),
    );
    for row in [&late, &tie_lower, &early, &tie_upper] {
        insert(store, row).await;
    }
    assert_eq!(
        list(store, scope).await,
        vec![
            early.clone(),
            tie_upper.clone(),
            tie_lower.clone(),
            late.clone()
        ],
        "{}: order",
        store.backend()
    );
    cleanup(store, &[&late, &tie_lower, &tie_upper, &early]).await;
}

/// `touch` sets `last_used_at` (and nothing else), never moves it backwards, and reports unknown
/// ids as `false`.
pub async fn client_touch_moves_last_used_at_forward_only(store: &dyn Store, scope: &Scope) {
    let row = Client {
        expires_at: Some(base_plus(86_400_000_000)),
        ..client(scope, "client-touch", base_plus(0))
    };
    insert(store, &row).await;

    let first = base_plus(60_000_001).to_offset(offset(-7, 0));
    assert!(
        touch(store, &row.client_id, first).await,
        "{}: touch known",
        store.backend()
    );
    let expected = Client {
        last_used_at: Some(first),
        ..row.clone()
    };
    assert_eq!(
        get(store, &row.client_id).await,
        Some(expected.clone()),
        "{}: after touch",
        store.backend()
    );
    assert!(
        touch(store, &row.client_id, base_plus(30_000_000)).await,
        "{}: older touch",
        store.backend()
    );
    assert_eq!(
        get(store, &row.client_id).await,
        Some(expected),
        "{}: after older touch",
        store.backend()
    );
    let unknown = scope.name("client-touch-unknown");
    assert!(
        !touch(store, &unknown, first).await,
        "{}: touch unknown",
        store.backend()
    );
    assert_eq!(
        get(store, &unknown).await,
        None,
        "{}: touch must not create",
        store.backend()
    );
    cleanup(store, &[&row]).await;
}

/// The purge deletes exactly the never-used clients whose `expires_at` is strictly before the
/// cut-off (judged by instant), never a used client or one without `expires_at`, and returns how
/// many it deleted.
pub async fn clients_purge_unused_deletes_exactly_the_expired_unused(
    store: &dyn Store,
    scope: &Scope,
) {
    let _serialised = PURGE_LOCK.lock().await;
    let cutoff = PURGE_EPOCH - Duration::DAY;
    // Clear leftovers of an earlier run that failed half-way.
    purge(store, cutoff).await;

    let micro = Duration::microseconds(1);
    let created = cutoff - Duration::days(30);
    let with = |name: &str, expires_at: Option<OffsetDateTime>, used: bool| Client {
        expires_at,
        last_used_at: used.then_some(created + Duration::days(1)),
        ..client(scope, name, created)
    };
    let purged = [
        with("client-purge-a", Some(cutoff - micro), false),
        with("client-purge-b", Some(cutoff - Duration::days(7)), false),
        // Before the cut-off as an instant, though its local time reads later.
        with(
            "client-purge-c",
            Some((cutoff - micro).to_offset(offset(14, 0))),
            false,
        ),
    ];
    let kept = [
        // Exactly at the cut-off: not *before* it.
        with("client-purge-d", Some(cutoff), false),
        with("client-purge-e", Some(cutoff + micro), false),
        with(
            "client-purge-f",
            Some((cutoff + micro).to_offset(offset(-12, 0))),
            false,
        ),
        // Used: kept however long ago it expired.
        with("client-purge-g", Some(cutoff - Duration::days(7)), true),
        // No expiry: never purged.
        with("client-purge-h", None, false),
    ];
    for row in purged.iter().chain(&kept) {
        insert(store, row).await;
    }
    assert_eq!(
        purge(store, cutoff).await,
        3,
        "{}: purged count",
        store.backend()
    );
    assert_eq!(
        list(store, scope).await,
        kept.to_vec(),
        "{}: kept clients",
        store.backend()
    );
    assert_eq!(
        purge(store, cutoff).await,
        0,
        "{}: second purge",
        store.backend()
    );
    cleanup(store, &kept.iter().collect::<Vec<_>>()).await;
}
