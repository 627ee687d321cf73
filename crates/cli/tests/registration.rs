//! OAuth clients from the outside: dynamic client registration (RFC 7591) and its management (RFC
//! 7592) over HTTP, client ID metadata documents fetched from a real loopback server through the
//! real guarded fetcher, and `portcullis admin client …` and `config check` as real processes.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::path::Path;

use common::documents::DocumentServer;
use common::{App, Setup, free_port, portcullis, serve_ready, spawn_setup, spawn_with};
use portcullis_core::config::Config;
use portcullis_store::{ClientSource, Store};
use serde_json::{Value, json};
use time::OffsetDateTime;

fn register(app: &App, body: &Value) -> reqwest::RequestBuilder {
    app.client
        .post(app.url("/register"))
        .header("content-type", "application/json")
        .body(body.to_string())
}

fn public_client() -> Value {
    json!({
        "client_name": "Inspector",
        "redirect_uris": ["http://localhost:6274/oauth/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "application_type": "native",
    })
}

async fn stored_clients(app: &App) -> usize {
    app.store.client_list().await.unwrap().len()
}

/// The OAuth error of a response, after checking its status and that it is not cached.
async fn oauth_error(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    body["error"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_client_registers_reads_updates_and_deletes_itself() {
    let app = spawn_with(vec![], |_| {}).await;
    let response = register(&app, &public_client()).send().await.unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let created: Value = response.json().await.unwrap();
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    assert!(client_id.starts_with("client_"), "{created}");
    assert!(!client_id.starts_with("https://"));
    assert!(created.get("client_secret").is_none(), "{created}");
    assert_eq!(created["client_name"], "Inspector");
    assert_eq!(created["application_type"], "native");
    assert_eq!(created["token_endpoint_auth_method"], "none");
    assert_eq!(
        created["redirect_uris"],
        json!(["http://localhost:6274/oauth/callback"])
    );
    let token = created["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let uri = created["registration_client_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(uri, app.url(&format!("/register/{client_id}")));

    let stored = app.store.client_get(&client_id).await.unwrap().unwrap();
    assert_eq!(stored.source, ClientSource::Dynamic);
    assert!(
        stored.expires_at.is_some(),
        "an unused registration expires"
    );

    // RFC 7592 read.
    let read = app
        .client
        .get(&uri)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    assert_eq!(read.headers()["cache-control"], "no-store");
    let read: Value = read.json().await.unwrap();
    assert_eq!(read["client_id"], client_id.as_str());
    assert!(read.get("registration_access_token").is_none());

    // RFC 7592 update: a confidential client now, so it gets a secret once.
    let mut update = public_client();
    update["client_id"] = json!(client_id);
    update["client_name"] = json!("Inspector 2");
    update["token_endpoint_auth_method"] = json!("client_secret_basic");
    let updated = app
        .client
        .put(&uri)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(update.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    let updated: Value = updated.json().await.unwrap();
    assert_eq!(updated["client_name"], "Inspector 2");
    assert!(
        updated["client_secret"]
            .as_str()
            .unwrap()
            .starts_with("pclcs_")
    );
    assert_eq!(updated["client_secret_expires_at"], 0);

    // RFC 7592 delete: 204, and the client and its token are gone.
    let deleted = app
        .client
        .delete(&uri)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(app.store.client_get(&client_id).await.unwrap(), None);
    let after = app
        .client
        .get(&uri)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(oauth_error(after, 401).await, "invalid_token");
}

/// What the MCP Inspector (2.12) registers with, member for member: `scope` is `""`, its way of
/// naming no scope, which must not cost it its registration.
#[tokio::test]
async fn the_mcp_inspectors_registration_is_accepted() {
    let app = spawn_with(vec![], |_| {}).await;
    let inspector = json!({
        "redirect_uris": ["http://127.0.0.1:6276/oauth/callback"],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "client_name": "MCP Inspector",
        "client_uri": "https://github.com/modelcontextprotocol/inspector",
        "scope": "",
        "application_type": "native",
    });
    let response = register(&app, &inspector).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["client_name"], "MCP Inspector");
    assert!(created.get("scope").is_none(), "{created}");
    assert_eq!(stored_clients(&app).await, 1);
}

#[tokio::test]
async fn a_confidential_registration_gets_a_secret_once() {
    let app = spawn_with(vec![], |_| {}).await;
    let body = json!({"client_name": "Backend", "redirect_uris": ["https://app.example/cb"]});
    let response = register(&app, &body).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    assert!(secret.starts_with("pclcs_"));
    assert_eq!(created["client_secret_expires_at"], 0);
    assert_eq!(created["token_endpoint_auth_method"], "client_secret_basic");
    let stored = app
        .store
        .client_get(created["client_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_ne!(stored.secret_hash, None);
    assert!(!format!("{stored:?}").contains(secret));
}

#[tokio::test]
async fn rejected_registrations_say_why_and_store_nothing() {
    let with = |change: &dyn Fn(&mut Value)| {
        let mut body = public_client();
        change(&mut body);
        body.to_string()
    };
    let cases: Vec<(String, &str)> = vec![
        (
            with(&|b| b["redirect_uris"] = json!(["http://app.example/cb"])),
            "invalid_redirect_uri",
        ),
        (
            with(&|b| b["redirect_uris"] = json!(["https://app.example/cb#x"])),
            "invalid_redirect_uri",
        ),
        (
            with(&|b| b["redirect_uris"] = json!(["javascript:alert(1)"])),
            "invalid_redirect_uri",
        ),
        (
            with(&|b| b["redirect_uris"] = json!(["https://u@app.example/cb"])),
            "invalid_redirect_uri",
        ),
        (
            with(&|b| {
                b.as_object_mut().unwrap().remove("redirect_uris");
            }),
            "invalid_redirect_uri",
        ),
        (
            with(&|b| b["grant_types"] = json!(["implicit"])),
            "invalid_client_metadata",
        ),
        (
            with(&|b| b["token_endpoint_auth_method"] = json!("client_secret_jwt")),
            "invalid_client_metadata",
        ),
        (
            with(&|b| b["application_type"] = json!("browser")),
            "invalid_client_metadata",
        ),
        (
            with(&|b| b["jwks_uri"] = json!("http://keys.example/jwks")),
            "invalid_client_metadata",
        ),
        ("{not json".to_owned(), "invalid_client_metadata"),
        ("[1, 2]".to_owned(), "invalid_client_metadata"),
    ];
    // A fresh app every few requests keeps the rate limit out of the way.
    for chunk in cases.chunks(5) {
        let app = spawn_with(vec![], |_| {}).await;
        for (body, code) in chunk {
            let response = app
                .client
                .post(app.url("/register"))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(oauth_error(response, 400).await, *code, "{body}");
        }
        assert_eq!(stored_clients(&app).await, 0);
    }

    let app = spawn_with(vec![], |_| {}).await;
    let form = app
        .client
        .post(app.url("/register"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("client_name=x")
        .send()
        .await
        .unwrap();
    assert_eq!(oauth_error(form, 400).await, "invalid_client_metadata");
    let mut huge = public_client();
    huge["padding"] = json!("x".repeat(70 * 1024));
    let too_large = register(&app, &huge).send().await.unwrap();
    assert_eq!(too_large.status(), 413);
    assert_eq!(stored_clients(&app).await, 0);
}

#[tokio::test]
async fn management_refuses_a_wrong_or_missing_token() {
    let app = spawn_with(vec![], |_| {}).await;
    let mut ids = Vec::new();
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let created: Value = register(&app, &public_client())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(created["client_id"].as_str().unwrap().to_owned());
        tokens.push(
            created["registration_access_token"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let uri = app.url(&format!("/register/{}", ids[0]));
    let missing = app.client.get(&uri).send().await.unwrap();
    assert_eq!(
        missing.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    assert_eq!(oauth_error(missing, 401).await, "invalid_token");
    for token in [tokens[1].as_str(), "pclrt_guess"] {
        let wrong = app
            .client
            .get(&uri)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(oauth_error(wrong, 401).await, "invalid_token");
        let delete = app
            .client
            .delete(&uri)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(oauth_error(delete, 401).await, "invalid_token");
    }
    let unknown = app
        .client
        .get(app.url("/register/client_unknown"))
        .bearer_auth(&tokens[0])
        .send()
        .await
        .unwrap();
    assert_eq!(oauth_error(unknown, 401).await, "invalid_token");
    // Another client's token cannot update this one.
    let mut update = public_client();
    update["client_id"] = json!(ids[0]);
    let put = app
        .client
        .put(&uri)
        .bearer_auth(&tokens[1])
        .header("content-type", "application/json")
        .body(update.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(oauth_error(put, 401).await, "invalid_token");
    assert_eq!(stored_clients(&app).await, 2);
}

#[tokio::test]
async fn browser_clients_may_register_from_any_origin() {
    let app = spawn_with(vec![], |_| {}).await;
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/register"))
        .header("origin", "http://localhost:6274")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    let registered = register(&app, &public_client())
        .header("origin", "http://localhost:6274")
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    assert_eq!(registered.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn registration_can_be_switched_off() {
    let app = spawn_with(vec![], |c| {
        c.registration.dynamic_client_registration = false;
    })
    .await;
    let post = register(&app, &public_client()).send().await.unwrap();
    assert_eq!(post.status(), 404);
    let get = app
        .client
        .get(app.url("/register/client_x"))
        .bearer_auth("pclrt_x")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 404);
    assert_eq!(stored_clients(&app).await, 0);
}

#[tokio::test]
async fn registration_is_rate_limited_per_address() {
    let app = spawn_with(vec![], |_| {}).await;
    for _ in 0..10 {
        let response = register(&app, &public_client()).send().await.unwrap();
        assert_eq!(response.status(), 201);
    }
    let limited = register(&app, &public_client()).send().await.unwrap();
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=7).contains(&retry_after), "{retry_after}");
    assert_eq!(stored_clients(&app).await, 10);
}

#[tokio::test]
async fn an_initial_access_token_closes_registration() {
    let token = "initial-access-token-of-at-least-32-bytes";
    let app = spawn_setup(
        vec![],
        |c| c.registration.initial_access_token_env = Some("REGISTRATION_TOKEN".to_owned()),
        Setup {
            env: vec![("REGISTRATION_TOKEN".to_owned(), token.to_owned())],
            ..Setup::default()
        },
    )
    .await;
    let anonymous = register(&app, &public_client()).send().await.unwrap();
    assert_eq!(oauth_error(anonymous, 401).await, "invalid_token");
    let wrong = register(&app, &public_client())
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(oauth_error(wrong, 401).await, "invalid_token");
    assert_eq!(stored_clients(&app).await, 0);
    let allowed = register(&app, &public_client())
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 201);
}

async fn resolve(app: &App, client_id: &str) -> Result<portcullis_store::Client, String> {
    app.clients
        .resolve(client_id, OffsetDateTime::now_utc())
        .await
        .map_err(|e| {
            assert_eq!(e.error.as_str(), "invalid_client", "{e}");
            e.to_string()
        })
}

async fn loopback_documents_app() -> App {
    spawn_with(vec![], |c| {
        c.registration.allow_loopback_client_id_documents = true;
    })
    .await
}

#[tokio::test]
async fn metadata_documents_are_fetched_checked_and_cached() {
    let server = DocumentServer::start().await;
    let app = loopback_documents_app().await;

    server.serve(
        "/good.json",
        "200 OK",
        "cache-control: public, max-age=60\r\n",
        &server.document("/good.json", |_| {}),
    );
    let client = resolve(&app, &server.url("/good.json")).await.unwrap();
    assert_eq!(client.name, "Loopback tools");
    assert_eq!(client.source, ClientSource::MetadataDocument);
    let facts = portcullis_core::clients::consent_facts(&client, "http://127.0.0.1:5555/callback");
    assert_eq!(facts.client_id_document_host.as_deref(), Some("127.0.0.1"));
    assert!(facts.loopback_only);
    // Within max-age, no second fetch.
    resolve(&app, &server.url("/good.json")).await.unwrap();
    assert_eq!(server.hits("/good.json"), 1);

    // Redirects are not followed: the target is never asked.
    server.serve(
        "/moved.json",
        "302 Found",
        &format!("location: {}\r\n", server.url("/good.json")),
        "",
    );
    let moved = resolve(&app, &server.url("/moved.json")).await.unwrap_err();
    assert!(moved.contains("redirect"), "{moved}");
    assert_eq!(server.hits("/good.json"), 1);

    // Larger than 5 KB.
    let big = server.document("/big.json", |d| d["padding"] = json!("x".repeat(6000)));
    server.serve("/big.json", "200 OK", "", &big);
    let refused = resolve(&app, &server.url("/big.json")).await.unwrap_err();
    assert!(refused.contains("larger than 5120 bytes"), "{refused}");

    // The document's client_id must be the URL exactly.
    let slash = server.document("/slash.json", |d| {
        d["client_id"] = json!(format!("{}/", d["client_id"].as_str().unwrap()));
    });
    server.serve("/slash.json", "200 OK", "", &slash);
    let case = server.document("/case.json", |d| {
        d["client_id"] = json!(d["client_id"].as_str().unwrap().replace("case", "CASE"));
    });
    server.serve("/case.json", "200 OK", "", &case);
    for path in ["/slash.json", "/case.json"] {
        let refused = resolve(&app, &server.url(path)).await.unwrap_err();
        assert!(refused.contains("not the URL"), "{path}: {refused}");
    }

    // No secrets in a public document, no shared-secret method.
    let secret = server.document("/secret.json", |d| d["client_secret"] = json!("s3cret"));
    server.serve("/secret.json", "200 OK", "", &secret);
    let refused = resolve(&app, &server.url("/secret.json"))
        .await
        .unwrap_err();
    assert!(
        refused.contains("client_secret must not be used"),
        "{refused}"
    );
    let shared = server.document("/shared.json", |d| {
        d["token_endpoint_auth_method"] = json!("client_secret_basic");
    });
    server.serve("/shared.json", "200 OK", "", &shared);
    let refused = resolve(&app, &server.url("/shared.json"))
        .await
        .unwrap_err();
    assert!(refused.contains("shared secret"), "{refused}");

    // Failures are not cached: each resolution asks again.
    server.serve(
        "/down.json",
        "500 Internal Server Error",
        "cache-control: max-age=600\r\n",
        "{}",
    );
    for _ in 0..2 {
        let refused = resolve(&app, &server.url("/down.json")).await.unwrap_err();
        assert!(refused.contains("HTTP 500"), "{refused}");
    }
    assert_eq!(server.hits("/down.json"), 2);
    // Neither are invalid documents.
    resolve(&app, &server.url("/secret.json"))
        .await
        .unwrap_err();
    assert_eq!(server.hits("/secret.json"), 2);
}

#[tokio::test]
async fn loopback_documents_need_the_test_setting() {
    let server = DocumentServer::start().await;
    server.serve(
        "/good.json",
        "200 OK",
        "",
        &server.document("/good.json", |_| {}),
    );
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let app = spawn_with(vec![], |_| {}).await;
    for url in [
        server.url("/good.json"),
        format!("https://127.0.0.1:{port}/good.json"),
        format!("https://localhost:{port}/good.json"),
        format!("https://[::1]:{port}/good.json"),
        format!("https://2130706433:{port}/good.json"),
    ] {
        let refused = resolve(&app, &url).await.unwrap_err();
        assert!(
            refused.contains("https")
                || refused.contains("loopback")
                || refused.contains("canonical"),
            "{url}: {refused}"
        );
    }
    assert_eq!(
        server.hits("/good.json"),
        0,
        "fetched before the URL was refused"
    );
    // With the setting, `localhost` is allowed too.
    let testing = loopback_documents_app().await;
    let by_name = format!("http://localhost:{port}/named.json");
    server.serve(
        "/named.json",
        "200 OK",
        "",
        &server.document("/named.json", |d| d["client_id"] = json!(by_name)),
    );
    resolve(&testing, &by_name).await.unwrap();
    // Switched off, no document is fetched at all.
    let off = spawn_with(vec![], |c| {
        c.registration.allow_loopback_client_id_documents = true;
        c.registration.client_id_metadata_documents = false;
    })
    .await;
    let refused = resolve(&off, &server.url("/good.json")).await.unwrap_err();
    assert!(refused.contains("not accepted"), "{refused}");
    assert_eq!(server.hits("/good.json"), 0);
}

/// Runs `portcullis ARGS` and returns its status, stdout and stderr.
fn run(args: &[&str]) -> (bool, String, String) {
    let out = portcullis().args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn admin_json(config: &str, args: &[&str]) -> Value {
    let mut all = vec!["admin", "--config", config, "--json", "client"];
    all.extend_from_slice(args);
    let (ok, out, err) = run(&all);
    assert!(ok, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn write_config(dir: &Path, port: u16, extra: &str) -> String {
    let path = dir.join("c.toml");
    std::fs::write(
        &path,
        format!(
            "version = 1\n[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\n\
             [store]\nurl = \"sqlite://{}/p.db\"\n{extra}",
            dir.display()
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn the_admin_cli_creates_lists_shows_rotates_and_deletes_clients() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        9,
        "[[clients]]\nclient_id = \"from-file\"\nname = \"File\"\nredirect_uris = [\"https://file.example/cb\"]\n",
    );
    let public = admin_json(
        &config,
        &[
            "create",
            "--name",
            "ci",
            "--redirect-uri",
            "http://127.0.0.1:9999/cb",
        ],
    );
    let public_id = public["client_id"].as_str().unwrap().to_owned();
    assert!(public_id.starts_with("client_"));
    assert!(public.get("client_secret").is_none());
    assert_eq!(public["token_endpoint_auth_method"], "none");

    let confidential = admin_json(
        &config,
        &[
            "create",
            "--name",
            "backend",
            "--redirect-uri",
            "https://app.example/cb",
            "--redirect-uri",
            "com.example.app:/cb",
            "--confidential",
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "client_credentials",
            "--scope",
            "files:read",
        ],
    );
    let id = confidential["client_id"].as_str().unwrap().to_owned();
    let secret = confidential["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("pclcs_"));
    assert_eq!(confidential["scope"], "files:read");

    // The text form prints the secret once too.
    let (ok, text, _) = run(&[
        "admin",
        "client",
        "create",
        "--name",
        "text",
        "--redirect-uri",
        "https://t.example/cb",
        "--confidential",
        "--config",
        &config,
    ]);
    assert!(ok && text.contains("client_secret: pclcs_"), "{text}");

    let listed = admin_json(&config, &["list"]);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 4, "{listed:?}");
    assert_eq!(listed[0]["client_id"], "from-file");
    assert_eq!(listed[0]["source"], "config");
    let text = serde_json::to_string(listed).unwrap();
    assert!(!text.contains(&secret), "a listing never shows a secret");

    let shown = admin_json(&config, &["show", "--client-id", &id]);
    assert_eq!(shown["redirect_uris"][1], "com.example.app:/cb");
    assert!(shown.get("client_secret").is_none());

    let rotated = admin_json(&config, &["rotate-secret", "--client-id", &id]);
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);

    // Refusals: a public client has no secret, configured clients live in the file, unknown
    // ids, and invalid requests that store nothing.
    for (args, needle) in [
        (
            vec!["rotate-secret", "--client-id", public_id.as_str()],
            "has no secret",
        ),
        (
            vec!["delete", "--client-id", "from-file"],
            "configuration file",
        ),
        (
            vec!["show", "--client-id", "client_nope"],
            "no stored client",
        ),
        (
            vec![
                "create",
                "--name",
                "x",
                "--redirect-uri",
                "http://evil.example/cb",
            ],
            "loopback",
        ),
        (vec!["create", "--name", "x"], "--redirect-uri"),
    ] {
        let mut all = vec!["admin", "client"];
        all.extend_from_slice(&args);
        all.extend_from_slice(&["--config", &config]);
        let (ok, _, err) = run(&all);
        assert!(!ok, "{args:?}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }

    let deleted = admin_json(&config, &["delete", "--client-id", &id]);
    assert_eq!(deleted["client_id"], id.as_str());
    assert_eq!(admin_json(&config, &["list"]).as_array().unwrap().len(), 3);
}

#[test]
fn config_check_names_missing_client_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        9,
        "[registration]\ninitial_access_token_env = \"PORTCULLIS_TEST_NO_SUCH_TOKEN\"\n\
         [[clients]]\nclient_id = \"ci\"\nname = \"CI\"\ngrant_types = [\"client_credentials\"]\n\
         client_secret_env = \"PORTCULLIS_TEST_NO_SUCH_SECRET\"\n",
    );
    let out = portcullis()
        .env_remove("PORTCULLIS_TEST_NO_SUCH_SECRET")
        .env_remove("PORTCULLIS_TEST_NO_SUCH_TOKEN")
        .args(["config", "check", "--config", &config])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("clients[ci].client_secret_env")
            && err.contains("PORTCULLIS_TEST_NO_SUCH_SECRET is not set"),
        "{err}"
    );
    assert!(
        err.contains("registration.initial_access_token_env"),
        "{err}"
    );
    // A bad redirect URI is a problem of the file itself, named by key.
    let bad = write_config(
        dir.path(),
        9,
        "[[clients]]\nclient_id = \"x\"\nname = \"X\"\nredirect_uris = [\"http://evil.example/cb\"]\n",
    );
    let out = portcullis()
        .args(["config", "check", "--config", &bad])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("clients[x].redirect_uris[0]"));
}

#[tokio::test]
async fn clients_registered_over_http_are_stored_for_the_cli_and_the_janitor() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config_path = write_config(dir.path(), port, "");
    let child = serve_ready(Path::new(&config_path), port).await;
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("http://127.0.0.1:{port}/register"))
        .json(&public_client())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["client_id"].as_str().unwrap();
    let listed = admin_json(&config_path, &["list"]);
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} not in {listed}"));
    assert_eq!(entry["source"], "dynamic");
    assert!(entry["expires_at"].is_string());
    common::stop(child).await;

    // What the janitor runs: an unused registration past its expiry is deleted, the CLI's own
    // clients are not.
    let config = Config::load(
        &std::fs::read_to_string(&config_path).unwrap(),
        std::iter::empty::<(String, String)>(),
    )
    .unwrap();
    let store = portcullis_store_sqlite::SqliteStore::connect(&config.store.url)
        .await
        .unwrap();
    admin_json(
        &config_path,
        &[
            "create",
            "--name",
            "kept",
            "--redirect-uri",
            "https://k.example/cb",
        ],
    );
    let later = OffsetDateTime::now_utc() + time::Duration::days(2);
    assert_eq!(store.clients_purge_unused(later).await.unwrap(), 1);
    let left = store.client_list().await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].name, "kept");
}
