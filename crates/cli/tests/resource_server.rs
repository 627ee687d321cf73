//! The resource-server half of MCP authorization, over real HTTP: protected resource metadata,
//! Bearer challenges, API keys and service tokens through the relay, what the upstream is told
//! (and never told), sessions bound to their principal, and ForwardAuth.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::*;
use portcullis_core::auth::api_key::{
    SERVICE_CLIENT_ID_PREFIX, new_api_key, new_public_id, new_service_secret, secret_hash,
};
use portcullis_core::config::{AuthMode, UpstreamConfig};
use portcullis_store::{ApiKey, ApiKeyKind, Store};
use portcullis_testkit::{MockConfig, MockUpstream};
use serde_json::{Value, json};
use time::OffsetDateTime;

async fn mock() -> MockUpstream {
    MockUpstream::start(MockConfig::default()).await.unwrap()
}

/// An upstream that takes Portcullis API keys and knows two scopes.
fn keyed(name: &str, url: &str) -> UpstreamConfig {
    let mut up = UpstreamConfig::http(name, url);
    up.accept = vec!["api_key".to_owned()];
    up.scopes = vec!["files:read".to_owned(), "files:write".to_owned()];
    // Every caller may use everything: these tests are about authentication.
    up.authenticated_roles = vec!["service".to_owned()];
    up
}

/// Mints an API key for `subject` and stores it; returns the key.
async fn api_key(app: &App, subject: &str) -> String {
    let key = new_api_key(&mut rand::rng());
    let now = OffsetDateTime::now_utc();
    app.store
        .api_key_insert(&ApiKey {
            id: format!("key-{subject}-{}", &key.secret[4..12]),
            secret_hash: key.hash,
            subject: subject.to_owned(),
            name: "test".to_owned(),
            kind: ApiKeyKind::ApiKey,
            scopes: "files:read".to_owned(),
            created_at: now,
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
        })
        .await
        .unwrap();
    key.secret
}

fn prm_path(name: &str) -> String {
    format!("/.well-known/oauth-protected-resource/servers/{name}/mcp")
}

#[tokio::test]
async fn protected_resource_metadata_describes_each_protected_upstream() {
    let upstream = mock().await;
    let open = open_upstream(UpstreamConfig::http("open", &upstream.url()));
    let app = spawn(vec![keyed("files", &upstream.url()), open]).await;
    let response = app
        .client
        .get(app.url(&prm_path("files")))
        .header("origin", "https://inspector.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let metadata: Value = response.json().await.unwrap();
    let public = format!("http://{}", app.addr);
    assert_eq!(
        metadata,
        json!({
            "resource": format!("{public}/servers/files/mcp"),
            "authorization_servers": [public],
            "scopes_supported": ["files:read", "files:write"],
            "bearer_methods_supported": ["header"],
            "resource_name": "files",
        })
    );
    // A browser client's preflight (discovery sends MCP-Protocol-Version).
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url(&prm_path("files")))
        .header("origin", "https://inspector.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "mcp-protocol-version")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    for name in ["open", "nobody"] {
        let response = app
            .client
            .get(app.url(&prm_path(name)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{name}");
    }
}

#[tokio::test]
async fn missing_malformed_and_unknown_credentials_get_a_challenge_and_never_reach_the_upstream() {
    let upstream = mock().await;
    let app = spawn(vec![keyed("files", &upstream.url())]).await;
    let metadata = format!("http://{}{}", app.addr, prm_path("files"));
    let unknown_key = new_api_key(&mut rand::rng()).secret;
    // (request headers, query, the challenge's error code)
    type Case<'a> = (Vec<(&'a str, String)>, &'a str, Option<&'a str>);
    let cases: Vec<Case> = vec![
        (vec![], "", None),
        (
            vec![("authorization", "Basic dXNlcjpwdw==".to_owned())],
            "",
            None,
        ),
        (
            vec![("authorization", "Bearer not-a-key".to_owned())],
            "",
            Some("invalid_token"),
        ),
        (
            vec![("authorization", format!("Bearer {unknown_key}"))],
            "",
            Some("invalid_token"),
        ),
        (
            vec![("authorization", "Bearer pcl_typo".to_owned())],
            "",
            Some("invalid_token"),
        ),
        (vec![], "?access_token=abc", Some("invalid_request")),
    ];
    for (headers, query, error) in cases {
        let mut request = app
            .client
            .post(format!("{}{query}", app.mcp("files")))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(initialize_body().to_string());
        for (name, value) in &headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{headers:?} {query}");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(challenge.starts_with("Bearer "), "{challenge}");
        assert!(
            challenge.ends_with(&format!("resource_metadata=\"{metadata}\"")),
            "{challenge}"
        );
        assert!(
            challenge.contains("scope=\"files:read files:write\""),
            "{challenge}"
        );
        match error {
            Some(error) => assert!(
                challenge.contains(&format!("error=\"{error}\"")),
                "{challenge}"
            ),
            None => assert!(!challenge.contains("error="), "{challenge}"),
        }
        let body: Value = response.json().await.unwrap();
        assert!(body["error"]["code"].is_i64(), "{body}");
    }
    // GET and DELETE are authenticated too.
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let response = app
            .client
            .request(method.clone(), app.mcp("files"))
            .header("mcp-session-id", "whatever")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{method}");
    }
    assert!(upstream.requests().is_empty());
}

#[tokio::test]
async fn an_api_key_reaches_the_upstream_as_identity_headers_never_as_itself() {
    let upstream = mock().await;
    let app = spawn(vec![keyed("files", &upstream.url())]).await;
    let key = api_key(&app, "service:ci").await;
    let bearer = format!("Bearer {key}");
    let response = app
        .post("files", &initialize_body())
        .header("authorization", &bearer)
        // Forged identity headers in assorted spellings.
        .header("X-Portcullis-User", "admin")
        .header("x-portcullis-TENANT", "acme")
        .header("cookie", "session=abc")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let call = app
        .post(
            "files",
            &json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "hi"}}}),
        )
        .header("authorization", &bearer)
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(call.status(), 200);
    let requests = upstream.requests();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(request.header("x-portcullis-user"), Some("service:ci"));
        assert_eq!(request.header("x-portcullis-validator"), Some("api_key"));
        assert_eq!(request.header("x-portcullis-scopes"), Some("files:read"));
        assert_eq!(request.header("x-portcullis-tenant"), None);
        assert_eq!(
            request.headers.get_all("x-portcullis-user").iter().count(),
            1
        );
        assert_eq!(request.header("authorization"), None);
        assert_eq!(request.header("cookie"), None);
        let raw = format!("{:?}", request.headers);
        assert!(!raw.contains(&key), "the key reached the upstream");
    }
    // Its use is recorded.
    let keys = app.store.api_key_list(Some("service:ci")).await.unwrap();
    assert!(keys[0].last_used_at.is_some());
}

#[tokio::test]
async fn a_revoked_key_is_refused_once_its_cached_result_is_dropped() {
    let upstream = mock().await;
    let app = spawn(vec![keyed("files", &upstream.url())]).await;
    let key = api_key(&app, "service:ci").await;
    let send = || {
        app.post("files", &initialize_body())
            .header("authorization", format!("Bearer {key}"))
            .send()
    };
    assert_eq!(send().await.unwrap().status(), 200);
    let id = app.store.api_key_list(None).await.unwrap()[0].id.clone();
    app.store
        .api_key_revoke(&id, OffsetDateTime::now_utc())
        .await
        .unwrap();
    app.gateway.authenticator().forget(secret_hash(&key));
    assert_eq!(send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn sessions_belong_to_the_principal_that_created_them() {
    let upstream = mock().await;
    let app = spawn(vec![keyed("files", &upstream.url())]).await;
    let alice = format!("Bearer {}", api_key(&app, "user:alice").await);
    let bob = format!("Bearer {}", api_key(&app, "user:bob").await);
    let response = app
        .post("files", &initialize_body())
        .header("authorization", &alice)
        .send()
        .await
        .unwrap();
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let list = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"});
    let with = |credential: Option<&str>, method: reqwest::Method| {
        let mut request = app
            .client
            .request(method.clone(), app.mcp("files"))
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", "2025-11-25")
            .header("accept", "application/json, text/event-stream");
        if method == reqwest::Method::POST {
            request = request
                .header("content-type", "application/json")
                .body(list.to_string());
        }
        if let Some(credential) = credential {
            request = request.header("authorization", credential);
        }
        request.send()
    };
    upstream.clear_requests();
    // Bob holding Alice's session id: as if the session did not exist.
    for method in [
        reqwest::Method::POST,
        reqwest::Method::GET,
        reqwest::Method::DELETE,
    ] {
        let response = with(Some(&bob), method.clone()).await.unwrap();
        assert_eq!(response.status(), 404, "{method}");
    }
    // No credential at all: 401 before the session is even looked at.
    let response = with(None, reqwest::Method::POST).await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(upstream.requests().is_empty());
    // Alice's session still works for her.
    let response = with(Some(&alice), reqwest::Method::POST).await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn service_tokens_authenticate_with_their_two_headers() {
    let upstream = mock().await;
    let app = spawn(vec![keyed("files", &upstream.url())]).await;
    let secret = new_service_secret(&mut rand::rng());
    let client_id = new_public_id(SERVICE_CLIENT_ID_PREFIX, &mut rand::rng());
    app.store
        .api_key_insert(&ApiKey {
            id: "svc-1".to_owned(),
            secret_hash: secret.hash,
            subject: "service:deployer".to_owned(),
            name: "deployer".to_owned(),
            kind: ApiKeyKind::ServiceToken {
                client_id: client_id.clone(),
            },
            scopes: String::new(),
            created_at: OffsetDateTime::now_utc(),
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
        })
        .await
        .unwrap();
    let response = app
        .post("files", &initialize_body())
        .header("portcullis-client-id", &client_id)
        .header("portcullis-client-secret", &secret.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = &upstream.requests()[0];
    assert_eq!(seen.header("x-portcullis-user"), Some("service:deployer"));
    assert_eq!(seen.header("portcullis-client-secret"), None);
    assert_eq!(seen.header("portcullis-client-id"), None);
    let wrong = app
        .post("files", &initialize_body())
        .header("portcullis-client-id", &client_id)
        .header(
            "portcullis-client-secret",
            new_service_secret(&mut rand::rng()).secret,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
}

#[tokio::test]
async fn an_upstream_can_get_its_own_static_credential_and_no_identity_headers() {
    let upstream = mock().await;
    let mut up = keyed("files", &upstream.url());
    up.credential_env = Some("FILES_TOKEN".to_owned());
    up.identity_headers = false;
    let app = spawn_setup(
        vec![up],
        |_| {},
        Setup {
            env: vec![(
                "FILES_TOKEN".to_owned(),
                "Bearer upstream-secret".to_owned(),
            )],
            ..Setup::default()
        },
    )
    .await;
    let key = api_key(&app, "service:ci").await;
    let response = app
        .post("files", &initialize_body())
        .header("authorization", format!("Bearer {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = &upstream.requests()[0];
    assert_eq!(seen.header("authorization"), Some("Bearer upstream-secret"));
    assert_eq!(seen.header("x-portcullis-user"), None);
}

async fn forward_auth(app: &App, query: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app.client.get(app.url(&format!("/forward-auth{query}")));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn forward_auth_answers_for_the_named_upstream() {
    let upstream = mock().await;
    let open = open_upstream(UpstreamConfig::http("open", &upstream.url()));
    let app = spawn(vec![keyed("files", &upstream.url()), open]).await;
    let key = api_key(&app, "user:alice").await;
    let bearer = format!("Bearer {key}");

    let ok = forward_auth(&app, "?upstream=files", &[("authorization", &bearer)]).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["x-portcullis-user"], "user:alice");

    let missing = forward_auth(&app, "?upstream=files", &[]).await;
    assert_eq!(missing.status(), 401);
    assert!(
        missing.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(&prm_path("files"))
    );

    let open = forward_auth(&app, "?upstream=open", &[]).await;
    assert_eq!(open.status(), 200);
    assert!(open.headers().get("x-portcullis-user").is_none());

    let unknown = forward_auth(&app, "?upstream=nobody", &[("authorization", &bearer)]).await;
    assert_eq!(unknown.status(), 404);

    let foreign = forward_auth(
        &app,
        "?upstream=files",
        &[
            ("authorization", &bearer),
            ("origin", "https://evil.example"),
        ],
    )
    .await;
    assert_eq!(foreign.status(), 403);

    // Without ?upstream=, X-Forwarded-* from a peer that is not a trusted proxy are ignored.
    let host = app.addr.to_string();
    let untrusted = forward_auth(
        &app,
        "",
        &[
            ("authorization", &bearer),
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", &host),
            ("x-forwarded-uri", "/servers/files/mcp"),
        ],
    )
    .await;
    assert_eq!(untrusted.status(), 403);
    assert!(upstream.requests().is_empty(), "ForwardAuth never relays");
}

#[tokio::test]
async fn forward_auth_matches_normalised_forwarded_paths_from_trusted_proxies() {
    let upstream = mock().await;
    let app = spawn_with(vec![keyed("files", &upstream.url())], |c| {
        c.server.trusted_proxies = vec!["127.0.0.1/32".to_owned()];
    })
    .await;
    let key = api_key(&app, "user:alice").await;
    let bearer = format!("Bearer {key}");
    let host = app.addr.to_string();
    let at = |uri: &'static str| {
        let bearer = bearer.clone();
        let host = host.clone();
        let app = &app;
        async move {
            forward_auth(
                app,
                "",
                &[
                    ("authorization", &bearer),
                    ("x-forwarded-method", "POST"),
                    ("x-forwarded-proto", "http"),
                    ("x-forwarded-host", &host),
                    ("x-forwarded-uri", uri),
                ],
            )
            .await
            .status()
        }
    };
    assert_eq!(at("/servers/files/mcp").await, 200);
    assert_eq!(at("/servers/other/../files/mcp?x=1").await, 200);
    assert_eq!(at("/servers/%66iles/mcp").await, 200);
    assert_eq!(at("/servers/files/mcp/../../admin").await, 403);
    assert_eq!(at("/servers/files%2Fmcp").await, 403);
    // The original request's query is checked for tokens too.
    assert_eq!(at("/servers/files/mcp?access_token=x").await, 401);
}

#[tokio::test]
async fn an_upstream_with_auth_none_ignores_credentials_and_sends_no_identity() {
    let upstream = mock().await;
    let mut up = UpstreamConfig::http("open", &upstream.url());
    up.auth = AuthMode::None;
    let app = spawn(vec![up]).await;
    let response = app
        .post("open", &initialize_body())
        .header("authorization", "Bearer whatever")
        .header("x-portcullis-user", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = &upstream.requests()[0];
    assert_eq!(seen.header("x-portcullis-user"), None);
    assert_eq!(seen.header("authorization"), None);
}

#[tokio::test]
async fn a_legacy_sse_session_carries_its_callers_identity_on_every_request() {
    let upstream = MockUpstream::start_legacy_sse(MockConfig::default())
        .await
        .unwrap();
    let mut up = keyed("old", &upstream.sse_url());
    up.transport = portcullis_core::config::HttpTransport::Sse;
    let app = spawn(vec![up]).await;
    let key = api_key(&app, "user:alice").await;
    let bearer = format!("Bearer {key}");
    let response = app
        .post("old", &initialize_body())
        .header("authorization", &bearer)
        .header("x-portcullis-user", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let call = app
        .post(
            "old",
            &json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "hi"}}}),
        )
        .header("authorization", &bearer)
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(call.status(), 200);
    let requests = upstream.requests();
    // The SSE stream (GET) and each message (POST).
    assert!(requests.len() >= 3, "{requests:?}");
    for request in &requests {
        assert_eq!(
            request.header("x-portcullis-user"),
            Some("user:alice"),
            "{} {}",
            request.method,
            request.path_and_query
        );
        assert_eq!(request.header("authorization"), None);
    }
}

async fn published_keys(app: &App) -> jsonwebtoken::jwk::JwkSet {
    app.client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Verifies an identity token the way an upstream would, with nothing from Portcullis but its
/// published JWKS.
async fn verify_identity_token(app: &App, token: &str, audience: &str) -> Value {
    let jwks = published_keys(app).await;
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("portcullis-identity+jwt"));
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("the kid is published");
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[format!("http://{}", app.addr)]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .unwrap()
    .claims
}

#[tokio::test]
async fn an_upstream_can_ask_for_a_signed_identity_token() {
    portcullis_core::auth::install_crypto_provider();
    let upstream = mock().await;
    let mut bearer_up = keyed("files", &upstream.url());
    bearer_up.identity_token = true;
    let mut header_up = keyed("mail", &upstream.url());
    header_up.identity_token = true;
    header_up.identity_token_header = "x-identity".to_owned();
    header_up.identity_headers = false;
    let app = spawn(vec![bearer_up, header_up]).await;
    let key = api_key(&app, "user:alice").await;
    for name in ["files", "mail", "files"] {
        let response = app
            .post(name, &initialize_body())
            .header("authorization", format!("Bearer {key}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{name}");
    }
    let requests = upstream.requests();
    let files = requests[0].header("authorization").unwrap();
    let token = files.strip_prefix("Bearer ").expect("a Bearer token");
    assert!(!files.contains(&key));
    let claims = verify_identity_token(&app, token, &app.mcp("files")).await;
    assert_eq!(claims["sub"], "user:alice");
    assert_eq!(claims["scope"], "files:read");
    assert!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() <= 60);
    assert_eq!(requests[0].header("x-portcullis-user"), Some("user:alice"));
    // Reused for the same caller at the same upstream while it is fresh.
    assert_eq!(requests[2].header("authorization"), Some(files));

    let mail = requests[1].header("x-identity").unwrap();
    assert_eq!(requests[1].header("authorization"), None);
    assert_eq!(requests[1].header("x-portcullis-user"), None);
    let claims = verify_identity_token(&app, mail, &app.mcp("mail")).await;
    assert_eq!(claims["aud"], app.mcp("mail"));
    // A token for one upstream is not valid at another.
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&[app.mcp("files")]);
    let jwks = published_keys(&app).await;
    let wrong = jsonwebtoken::decode::<Value>(
        mail,
        &jsonwebtoken::DecodingKey::from_jwk(&jwks.keys[0]).unwrap(),
        &validation,
    );
    assert!(wrong.is_err());
}
