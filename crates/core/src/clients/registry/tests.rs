//! The registry: resolution across the four sources, and client authentication end to end
//! against a memory store and a fake fetcher.

use std::sync::Arc;

use portcullis_store::MemoryStore;
use serde_json::json;

use super::*;
use crate::auth::testing::{FakeFetch, NOW, TestKey, Token, jwks};
use crate::clients::authentication::{CLIENT_ASSERTION_TYPE, MAX_ASSERTION_LIFETIME_SECS};
use crate::clients::tests::client;

const ISSUER: &str = "https://as.example";
const TOKEN_ENDPOINT: &str = "https://as.example/token";
const DOCUMENT: &str = "https://tools.example/client.json";

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(NOW).unwrap()
}

fn settings() -> RegistrySettings {
    RegistrySettings {
        issuer: ISSUER.to_owned(),
        token_endpoint: TOKEN_ENDPOINT.to_owned(),
        client_id_metadata_documents: true,
        dynamic_client_registration: true,
        unused_client_ttl: Duration::from_secs(86_400),
        allow_loopback_client_id_documents: false,
        client_id_document_cache_max: Duration::from_secs(86_400),
    }
}

struct Fixture {
    registry: ClientRegistry,
    store: Arc<MemoryStore>,
    fetch: Arc<FakeFetch>,
    key: TestKey,
}

fn confidential(id: &str, method: TokenEndpointAuthMethod, secret: &str) -> Client {
    Client {
        token_endpoint_auth_method: method,
        secret_hash: Some(secret_hash(secret)),
        ..client(id, &["https://app.example/cb"])
    }
}

async fn fixture(settings: RegistrySettings) -> Fixture {
    let store = Arc::new(MemoryStore::new());
    let fetch = FakeFetch::new();
    let key = TestKey::new("ES256", "client-key");
    let configured = vec![
        Client {
            source: ClientSource::Config,
            ..confidential(
                "cfg-basic",
                TokenEndpointAuthMethod::ClientSecretBasic,
                "config-secret",
            )
        },
        Client {
            source: ClientSource::Config,
            ..client("cfg-public", &["http://127.0.0.1/cb"])
        },
    ];
    for stored in [
        confidential(
            "client_post",
            TokenEndpointAuthMethod::ClientSecretPost,
            "post-secret",
        ),
        client("client_public", &["https://app.example/cb"]),
        Client {
            token_endpoint_auth_method: TokenEndpointAuthMethod::PrivateKeyJwt,
            jwks: Some(jwks(&[&key])),
            ..client("client_jwks", &["https://app.example/cb"])
        },
        Client {
            token_endpoint_auth_method: TokenEndpointAuthMethod::PrivateKeyJwt,
            jwks_uri: Some("https://app.example/jwks.json".to_owned()),
            ..client("client_jwks_uri", &["https://app.example/cb"])
        },
        Client {
            source: ClientSource::Dynamic,
            expires_at: Some(now()),
            ..client("client_expired", &["https://app.example/cb"])
        },
        Client {
            source: ClientSource::Dynamic,
            expires_at: Some(now() - time::Duration::days(1)),
            last_used_at: Some(now() - time::Duration::days(2)),
            ..client("client_used", &["https://app.example/cb"])
        },
    ] {
        store.client_insert(&stored).await.unwrap();
    }
    fetch.answer("https://app.example/jwks.json", 200, jwks(&[&key]));
    fetch.answer(
        DOCUMENT,
        200,
        json!({
            "client_id": DOCUMENT,
            "client_name": "Tools",
            "redirect_uris": ["http://127.0.0.1/cb"],
        })
        .to_string(),
    );
    let registry = ClientRegistry::new(settings, configured, store.clone(), fetch.clone());
    Fixture {
        registry,
        store,
        fetch,
        key,
    }
}

#[tokio::test]
async fn resolution_finds_every_source() {
    let f = fixture(settings()).await;
    let cases = [
        ("cfg-basic", Some(ClientSource::Config)),
        ("client_public", Some(ClientSource::Admin)),
        ("client_used", Some(ClientSource::Dynamic)),
        (DOCUMENT, Some(ClientSource::MetadataDocument)),
        // Unused and past its expiry: gone, though the janitor has not purged it yet.
        ("client_expired", None),
        ("client_nobody", None),
        ("https://tools.example/other.json", None),
        ("http://tools.example/client.json", None),
    ];
    for (id, source) in cases {
        let got = f.registry.resolve(id, now()).await;
        match (source, &got) {
            (Some(source), Ok(client)) => assert_eq!(client.source, source, "{id}"),
            (None, Err(e)) => assert_eq!(e.error, ErrorCode::InvalidClient, "{id}"),
            _ => panic!("{id}: {got:?}"),
        }
    }
}

#[tokio::test]
async fn documents_can_be_switched_off() {
    let f = fixture(RegistrySettings {
        client_id_metadata_documents: false,
        ..settings()
    })
    .await;
    let got = f.registry.resolve(DOCUMENT, now()).await.unwrap_err();
    assert_eq!(got.error, ErrorCode::InvalidClient);
    assert!(got.to_string().contains("not accepted"), "{got}");
    assert_eq!(f.fetch.calls_to(DOCUMENT), 0);
}

/// A request's `Authorization` values and form fields.
type Request<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>);

fn basic(id: &str, secret: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

async fn authenticate(
    f: &Fixture,
    authorization: &[&str],
    pairs: &[(&str, &str)],
) -> Result<Client, OAuthError> {
    let form = form(pairs);
    f.registry
        .authenticate(
            &ClientAuthRequest {
                authorization,
                form: &form,
            },
            now(),
        )
        .await
}

fn assertion(f: &Fixture, client_id: &str) -> Token {
    Token::valid(&f.key, client_id, TOKEN_ENDPOINT)
        .claim("sub", json!(client_id))
        .claim("exp", json!(NOW + 60))
        .claim(
            "jti",
            json!(format!("jti-{client_id}-{}", rand::random::<u64>())),
        )
        .header("typ", serde_json::Value::Null)
}

fn jwt_form(assertion: &str) -> Vec<(&'static str, String)> {
    vec![
        ("client_assertion_type", CLIENT_ASSERTION_TYPE.to_owned()),
        ("client_assertion", assertion.to_owned()),
    ]
}

async fn authenticate_jwt(f: &Fixture, token: &str) -> Result<Client, OAuthError> {
    let pairs = jwt_form(token);
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
    authenticate(f, &[], &pairs).await
}

#[tokio::test]
async fn each_client_authenticates_with_its_method_only() {
    let f = fixture(settings()).await;
    let cfg_basic = basic("cfg-basic", "config-secret");
    let post_as_basic = basic("client_post", "post-secret");
    let good_jwt = assertion(&f, "client_jwks").sign(&f.key);
    let ok: Vec<(Request, &str)> = vec![
        ((vec![&cfg_basic], vec![]), "cfg-basic"),
        ((vec![], vec![("client_id", "cfg-public")]), "cfg-public"),
        (
            (
                vec![],
                vec![
                    ("client_id", "client_post"),
                    ("client_secret", "post-secret"),
                ],
            ),
            "client_post",
        ),
        (
            (vec![], vec![("client_id", "client_public")]),
            "client_public",
        ),
        ((vec![], vec![("client_id", DOCUMENT)]), DOCUMENT),
        (
            (
                vec![],
                vec![
                    ("client_assertion_type", CLIENT_ASSERTION_TYPE),
                    ("client_assertion", &good_jwt),
                ],
            ),
            "client_jwks",
        ),
    ];
    for ((authorization, pairs), id) in ok {
        let got = authenticate(&f, &authorization, &pairs).await;
        assert_eq!(got.map(|c| c.client_id).as_deref(), Ok(id), "{pairs:?}");
    }

    let refused: Vec<Request> = vec![
        // Right secret, wrong method.
        (vec![&post_as_basic], vec![]),
        (
            vec![],
            vec![
                ("client_id", "cfg-basic"),
                ("client_secret", "config-secret"),
            ],
        ),
        // A confidential client without its secret.
        (vec![], vec![("client_id", "cfg-basic")]),
        (vec![], vec![("client_id", "client_jwks")]),
        // A public client with a secret.
        (
            vec![],
            vec![("client_id", "client_public"), ("client_secret", "x")],
        ),
        // Wrong secrets, unknown and expired clients.
        (
            vec![],
            vec![
                ("client_id", "client_post"),
                ("client_secret", "post-secreT"),
            ],
        ),
        (
            vec![],
            vec![
                ("client_id", "client_nobody"),
                ("client_secret", "post-secret"),
            ],
        ),
        (vec![], vec![("client_id", "client_nobody")]),
        (vec![], vec![("client_id", "client_expired")]),
    ];
    for (authorization, pairs) in refused {
        let got = authenticate(&f, &authorization, &pairs).await;
        let e = got.expect_err(&format!("{pairs:?}"));
        assert_eq!(e.error, ErrorCode::InvalidClient, "{pairs:?}");
        // One message for every failure: nothing tells which ids exist.
        assert_eq!(
            e.error_description.as_deref(),
            Some("client authentication failed")
        );
    }
}

#[tokio::test]
async fn authentication_records_use_of_stored_clients() {
    let f = fixture(settings()).await;
    authenticate(&f, &[], &[("client_id", "client_public")])
        .await
        .unwrap();
    let stored = f.store.client_get("client_public").await.unwrap().unwrap();
    assert_eq!(stored.last_used_at, Some(now()));
}

#[tokio::test]
async fn client_assertions_are_checked_strictly() {
    let f = fixture(settings()).await;
    let other_key = TestKey::new("ES256", "client-key");
    let id = "client_jwks";
    let cases: Vec<(&str, String, bool)> = vec![
        ("good", assertion(&f, id).sign(&f.key), true),
        (
            "aud issuer",
            assertion(&f, id).claim("aud", json!(ISSUER)).sign(&f.key),
            true,
        ),
        (
            "aud list",
            assertion(&f, id)
                .claim("aud", json!(["https://x.example", TOKEN_ENDPOINT]))
                .sign(&f.key),
            true,
        ),
        (
            "typ",
            assertion(&f, id)
                .header("typ", json!("client-authentication+jwt"))
                .sign(&f.key),
            true,
        ),
        (
            "typ JWT",
            assertion(&f, id).header("typ", json!("JWT")).sign(&f.key),
            true,
        ),
        (
            "typ at+jwt",
            assertion(&f, id)
                .header("typ", json!("at+jwt"))
                .sign(&f.key),
            false,
        ),
        ("wrong key", assertion(&f, id).sign(&other_key), false),
        (
            "wrong aud",
            assertion(&f, id)
                .claim("aud", json!("https://other.example/token"))
                .sign(&f.key),
            false,
        ),
        (
            "no aud",
            assertion(&f, id)
                .claim("aud", serde_json::Value::Null)
                .sign(&f.key),
            false,
        ),
        (
            "sub differs",
            assertion(&f, id)
                .claim("sub", json!("client_public"))
                .sign(&f.key),
            false,
        ),
        (
            "no sub",
            assertion(&f, id)
                .claim("sub", serde_json::Value::Null)
                .sign(&f.key),
            false,
        ),
        (
            "expired",
            assertion(&f, id).claim("exp", json!(NOW - 60)).sign(&f.key),
            false,
        ),
        (
            "no exp",
            assertion(&f, id)
                .claim("exp", serde_json::Value::Null)
                .sign(&f.key),
            false,
        ),
        (
            "exp too far",
            assertion(&f, id)
                .claim("exp", json!(NOW + MAX_ASSERTION_LIFETIME_SECS + 31))
                .sign(&f.key),
            false,
        ),
        (
            "no jti",
            assertion(&f, id)
                .claim("jti", serde_json::Value::Null)
                .sign(&f.key),
            false,
        ),
        (
            "empty jti",
            assertion(&f, id).claim("jti", json!("")).sign(&f.key),
            false,
        ),
        (
            "numeric jti",
            assertion(&f, id).claim("jti", json!(7)).sign(&f.key),
            false,
        ),
        (
            "alg none",
            assertion(&f, id).header("alg", json!("none")).sign(&f.key),
            false,
        ),
        (
            "crit",
            assertion(&f, id)
                .header("crit", json!(["exp"]))
                .sign(&f.key),
            false,
        ),
        // A client registered with a secret cannot use an assertion instead.
        (
            "not its method",
            assertion(&f, "client_post").sign(&f.key),
            false,
        ),
    ];
    for (name, token, accepted) in cases {
        let got = authenticate_jwt(&f, &token).await;
        assert_eq!(got.is_ok(), accepted, "{name}: {got:?}");
        if let Err(e) = got {
            assert_eq!(e.error, ErrorCode::InvalidClient, "{name}");
        }
    }
}

#[tokio::test]
async fn a_client_assertion_is_single_use() {
    let f = fixture(settings()).await;
    let token = assertion(&f, "client_jwks").sign(&f.key);
    authenticate_jwt(&f, &token).await.unwrap();
    let replay = authenticate_jwt(&f, &token).await.unwrap_err();
    assert_eq!(replay.error, ErrorCode::InvalidClient);
    // The same jti from another client is another assertion.
    let other = assertion(&f, "client_jwks_uri")
        .claim("jti", json!("shared-jti"))
        .sign(&f.key);
    let mine = assertion(&f, "client_jwks")
        .claim("jti", json!("shared-jti"))
        .sign(&f.key);
    authenticate_jwt(&f, &other).await.unwrap();
    authenticate_jwt(&f, &mine).await.unwrap();
}

#[tokio::test]
async fn jwks_uri_keys_are_fetched_through_the_guard_and_cached() {
    let f = fixture(settings()).await;
    for _ in 0..3 {
        let token = assertion(&f, "client_jwks_uri").sign(&f.key);
        authenticate_jwt(&f, &token).await.unwrap();
    }
    let calls = f.fetch.calls();
    let jwks_calls: Vec<_> = calls
        .iter()
        .filter(|c| c.url == "https://app.example/jwks.json")
        .collect();
    assert_eq!(jwks_calls.len(), 1);
    assert!(jwks_calls.iter().all(|c| !c.allow_private_network));

    // Keys that cannot be fetched: the client is told, without details.
    let f2 = fixture(settings()).await;
    f2.fetch.fail(
        "https://app.example/jwks.json",
        crate::auth::FetchError::Timeout,
    );
    let token = assertion(&f2, "client_jwks_uri").sign(&f2.key);
    let got = authenticate_jwt(&f2, &token).await.unwrap_err();
    assert_eq!(got.error, ErrorCode::InvalidClient);
}

#[tokio::test]
async fn configured_clients_read_their_secrets_now() {
    let text = r#"
version = 1
[[clients]]
client_id = "ci"
name = "CI"
grant_types = ["client_credentials"]
client_secret_env = "CI_SECRET"
[[clients]]
client_id = "short"
name = "Short"
redirect_uris = ["https://app.example/cb"]
client_secret_env = "SHORT_SECRET"
[[clients]]
client_id = "missing"
name = "Missing"
redirect_uris = ["https://app.example/cb"]
client_secret_env = "MISSING_SECRET"
[[clients]]
client_id = "public"
name = "Public"
redirect_uris = ["http://127.0.0.1/cb"]
"#;
    let config = Config::load(text, std::iter::empty::<(String, String)>()).unwrap();
    let env = |name: &str| match name {
        "CI_SECRET" => Some(b"0123456789abcdef0123456789abcdef".to_vec()),
        "SHORT_SECRET" => Some(b"too short".to_vec()),
        _ => None,
    };
    let problems = configured_clients(&config, &env, now()).unwrap_err();
    let keys: Vec<&str> = problems.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "clients[short].client_secret_env",
            "clients[missing].client_secret_env"
        ]
    );
    assert!(problems.to_string().contains("shorter than 32 bytes"));
    assert!(problems.to_string().contains("MISSING_SECRET is not set"));

    let mut config = config;
    config
        .clients
        .retain(|c| c.client_id == "ci" || c.client_id == "public");
    let clients = configured_clients(&config, &env, now()).unwrap();
    let [ci, public] = clients.as_slice() else {
        panic!("two clients");
    };
    assert_eq!(
        ci.token_endpoint_auth_method,
        TokenEndpointAuthMethod::ClientSecretBasic
    );
    assert_eq!(
        ci.secret_hash,
        Some(secret_hash("0123456789abcdef0123456789abcdef"))
    );
    assert!(ci.response_types.is_empty());
    assert_eq!(
        public.token_endpoint_auth_method,
        TokenEndpointAuthMethod::None
    );
    assert_eq!(public.response_types, ["code"]);
    assert!(!format!("{clients:?}").contains("0123456789abcdef"));
}

#[tokio::test]
async fn the_initial_access_token_and_metadata_members_come_from_the_config() {
    let text = "version = 1\n[server]\npublic_url = \"https://as.example\"\n[registration]\ninitial_access_token_env = \"DCR_TOKEN\"\n";
    let config = Config::load(text, std::iter::empty::<(String, String)>()).unwrap();
    let token = "a-token-that-is-at-least-32-bytes-long";
    let env = |name: &str| (name == "DCR_TOKEN").then(|| token.as_bytes().to_vec());
    assert_eq!(
        initial_access_token(&config, &env).unwrap(),
        Some(secret_hash(token))
    );
    let short = |_: &str| Some(b"short".to_vec());
    let missing = |_: &str| None;
    for env in [&short as EnvLookup<'_>, &missing] {
        let problem = initial_access_token(&config, env).unwrap_err();
        assert_eq!(
            problem.problems[0].key,
            "registration.initial_access_token_env"
        );
    }

    let registry = ClientRegistry::from_config(
        &config,
        Arc::new(MemoryStore::new()),
        FakeFetch::new(),
        &env,
        now(),
    )
    .unwrap();
    assert_eq!(
        registry.initial_access_token_hash(),
        Some(&secret_hash(token))
    );
    assert_eq!(
        registry.registration_endpoint().as_deref(),
        Some("https://as.example/register")
    );
    assert!(registry.client_id_metadata_document_supported());
    assert_eq!(
        registry.settings().token_endpoint,
        "https://as.example/token"
    );

    let mut closed = config.clone();
    closed.registration.dynamic_client_registration = false;
    closed.registration.client_id_metadata_documents = false;
    let registry = ClientRegistry::from_config(
        &closed,
        Arc::new(MemoryStore::new()),
        FakeFetch::new(),
        &env,
        now(),
    )
    .unwrap();
    assert_eq!(registry.registration_endpoint(), None);
    assert!(!registry.client_id_metadata_document_supported());
}
