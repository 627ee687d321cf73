//! Attacks through client registration, one test per requirement of `security-and-reliability.md`
//! §2.6 (dynamic registration and client ID metadata documents) and §2.13 (SSRF), plus §2.2 C5
//! against a real `portcullis serve` on SQLite. Documents are served by a loopback server that
//! counts every connection, so a test can show that a refused URL was never fetched. The map
//! from requirement to test is `docs/design/oauth-attack-tests.md`.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::browser::{Browser, Page};
use common::documents::DocumentServer;
use common::oauth::*;
use common::process::{Deployment, holds};
use portcullis_store::Store;
use serde_json::{Value, json};

/// A world whose client ID metadata documents may live on loopback hosts (the test setting).
async fn loopback_world() -> World {
    world_with(|c| c.registration.allow_loopback_client_id_documents = true).await
}

/// A loopback world and a document server publishing the client `/tool.json` (with the extra
/// header lines `headers`); returns both and the client's id.
async fn tool_world(headers: &str) -> (DocumentServer, World, String) {
    let server = DocumentServer::start().await;
    let w = loopback_world().await;
    let client_id = server.url("/tool.json");
    server.serve(
        "/tool.json",
        "200 OK",
        headers,
        &server.document("/tool.json", |_| {}),
    );
    (server, w, client_id)
}

/// The authorization request of the metadata-document client `client_id` with the loopback
/// redirect its document registers.
async fn authorize_document(browser: &mut Browser<'_>, w: &World, client_id: &str) -> Page {
    authorize(
        browser,
        &document_query(w, client_id, "http://127.0.0.1/callback"),
    )
    .await
}

async fn authorize(browser: &mut Browser<'_>, query: &str) -> Page {
    browser.get(&format!("/authorize?{query}")).await
}

/// The authorization request of the metadata-document client `client_id` with `redirect_uri`.
fn document_query(w: &World, client_id: &str, redirect_uri: &str) -> String {
    w.authorize_query(&[
        ("client_id", Some(client_id)),
        ("redirect_uri", Some(redirect_uri)),
    ])
}

// §2.6 G1: dynamic registration is kept for today's clients beside metadata documents, and an
// operator can switch it off.
#[tokio::test]
async fn g1_registration_is_offered_beside_metadata_documents_and_can_be_switched_off() {
    let w = world().await;
    let metadata: Value = w
        .app
        .client
        .get(w.app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["client_id_metadata_document_supported"], true);
    assert_eq!(metadata["registration_endpoint"], w.app.url("/register"));
    // `world_with` registers a client over HTTP, which this app refuses: spawn it bare.
    let app = common::spawn_with(vec![], |c| {
        c.registration.dynamic_client_registration = false;
    })
    .await;
    let metadata: Value = app
        .client
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        metadata.get("registration_endpoint").is_none(),
        "{metadata}"
    );
    let before = snapshot(&app);
    let answer = app
        .client
        .post(app.url("/register"))
        .json(&json!({"client_name": "x", "redirect_uris": [REDIRECT]}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    assert_unchanged(&app, &before, "registration while it is off");
}

// §2.6 G2, G10: a self-registered client (dynamic or metadata document) meets a consent page on
// every request that names it, shows where the answer goes and where its document lives, and
// warns when its redirects only reach this computer.
#[tokio::test]
async fn g2_g10_untrusted_clients_meet_a_warning_consent_page_every_time() {
    let (_server, w, client_id) = tool_world("").await;
    let mut browser = Browser::new(&w.app);
    let query = document_query(&w, &client_id, "http://127.0.0.1:5555/callback");
    for round in 0..2 {
        let consent = w.consent_page(&mut browser, &query).await;
        assert!(consent.body.contains("Loopback tools"), "{}", consent.body);
        assert!(consent.body.contains("registered itself"), "round {round}");
        assert!(
            consent.body.contains("on your own computer (127.0.0.1)"),
            "{}",
            consent.body
        );
        let back = w.decide(&mut browser, &consent, "allow").await;
        assert!(query_of(&back)("code").is_some());
    }
    assert!(w.snapshot().consents.is_empty(), "a consent was remembered");
    // A web client's page names its redirect host.
    let web = register(&w.app, &["https://app.example/cb"]).await;
    let page = authorize(
        &mut browser,
        &w.authorize_query(&[
            ("client_id", Some(&web)),
            ("redirect_uri", Some("https://app.example/cb")),
        ]),
    )
    .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("app.example"), "{}", page.body);
    assert!(page.body.contains("registered itself"));
}

// §2.6 G3: a client cannot pick its client_id (or anything that passes for a metadata document
// URL or another client), nor its secret.
#[tokio::test]
async fn g3_a_client_cannot_choose_its_client_id_or_secret() {
    let w = world().await;
    let victim = w.client_id.clone();
    let before = w.app.store.client_get(&victim).await.unwrap().unwrap();
    for chosen in [
        victim.as_str(),
        "https://app.example/client.json",
        "admin",
        "portcullis",
    ] {
        let created = register_client(
            &w.app,
            &json!({
                "client_id": chosen,
                "client_secret": "chosen-secret-chosen-secret-chosen",
                "client_name": "Chooser",
                "redirect_uris": ["https://app.example/cb"],
            }),
        )
        .await;
        let id = created["client_id"].as_str().unwrap();
        assert_ne!(id, chosen);
        assert!(
            id.starts_with("client_") && !id.starts_with("https://"),
            "{id}"
        );
        assert_ne!(
            created["client_secret"],
            "chosen-secret-chosen-secret-chosen"
        );
    }
    let mut after = w.app.store.client_get(&victim).await.unwrap().unwrap();
    after.last_used_at = before.last_used_at;
    assert_eq!(after, before, "the existing client changed");
    // RFC 7592: an update cannot rename the client either.
    let created = register_client(
        &w.app,
        &json!({"client_name": "Mine", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}),
    )
    .await;
    let snapshot = w.snapshot();
    let answer = Answer::read(
        w.app
            .client
            .put(created["registration_client_uri"].as_str().unwrap())
            .bearer_auth(created["registration_access_token"].as_str().unwrap())
            .json(&json!({"client_id": victim, "client_name": "Mine", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    answer.assert_error(
        400,
        "invalid_client_metadata",
        "an update naming another client",
    );
    assert_unchanged(&w.app, &snapshot, "a renaming update");
}

// §2.6 G4: RFC 7592 management needs the registration access token (401 `invalid_token`
// otherwise); deleting a client ends its credentials, its registration token and its grants.
#[tokio::test]
async fn g4_management_needs_the_registration_token_and_deletion_ends_the_clients_tokens() {
    let w = world().await;
    let created = register_client(
        &w.app,
        &json!({"client_name": "Mine", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"]}),
    )
    .await;
    let client = created["client_id"].as_str().unwrap().to_owned();
    let uri = created["registration_client_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = created["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = register_client(&w.app, &json!({"client_name": "Other", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"})).await;
    let other_token = other["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = w.snapshot();
    let update = json!({"client_id": client, "client_name": "Hijacked", "redirect_uris": ["https://attacker.example/cb"], "token_endpoint_auth_method": "none"});
    for bearer in [
        None,
        Some("pclrt_guess"),
        Some(other_token.as_str()),
        Some(""),
    ] {
        let with = |request: reqwest::RequestBuilder| match bearer {
            Some(b) => request.header("authorization", format!("Bearer {b}")),
            None => request,
        };
        for request in [
            with(w.app.client.get(&uri)),
            with(w.app.client.put(&uri).json(&update)),
            with(w.app.client.delete(&uri)),
        ] {
            let answer = Answer::read(request.send().await.unwrap()).await;
            answer.assert_error(401, "invalid_token", &format!("{bearer:?}"));
            assert_eq!(
                answer.headers["www-authenticate"],
                "Bearer error=\"invalid_token\""
            );
        }
    }
    assert_unchanged(&w.app, &before, "management without the token");
    // Tokens issued to the client, then the client deletes itself.
    let mut browser = Browser::new(&w.app);
    let code = w
        .code_for(
            &mut browser,
            &w.authorize_query(&[("client_id", Some(&client))]),
        )
        .await;
    let answer = w
        .exchange_with(&code, &[("client_id", Some(&client))])
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let access = answer.body["access_token"].as_str().unwrap().to_owned();
    let refresh = answer.body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(w.mcp_status("files", &access).await, 200);
    let deleted = w
        .app
        .client
        .delete(&uri)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let answer = Answer::read(
        w.app
            .client
            .get(&uri)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    answer.assert_error(
        401,
        "invalid_token",
        "the deleted client's registration token",
    );
    let answer = w
        .refresh_with(&refresh, &[("client_id", Some(&client))])
        .await;
    answer.assert_error(401, "invalid_client", "the deleted client's refresh");
    assert_eq!(
        w.mcp_status("files", &access).await,
        401,
        "the deleted client's access token"
    );
    let snapshot = w.snapshot();
    assert!(
        snapshot
            .grants
            .iter()
            .filter(|g| g.client_id == client)
            .all(|g| g.revoked_at.is_some()),
        "{:?}",
        snapshot.grants
    );
}

// §2.6 G5: a metadata document URL is checked before anything is fetched: https, a path, no dot
// segments, fragment, userinfo or query, one spelling only.
#[tokio::test]
async fn g5_document_urls_are_checked_before_any_fetch() {
    let server = DocumentServer::start().await;
    let port = server.port();
    let w = loopback_world().await;
    let mut browser = w.signed_in().await;
    let before = w.snapshot();
    let cases = [
        format!("http://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{port}/"),
        format!("http://127.0.0.1:{port}/a/../tool.json"),
        format!("http://127.0.0.1:{port}/./tool.json"),
        format!("http://127.0.0.1:{port}/%2e%2e/tool.json"),
        format!("http://127.0.0.1:{port}/tool.json#x"),
        format!("http://user:pw@127.0.0.1:{port}/tool.json"),
        format!("http://user@127.0.0.1:{port}/tool.json"),
        format!("http://127.0.0.1:{port}/tool.json?v=1"),
        format!("HTTP://127.0.0.1:{port}/tool.json"),
        format!("http://127.0.0.1:{port}\\tool.json"),
        format!("http://127.0.0.1:{port}/tool json"),
    ];
    for client_id in &cases {
        let page = authorize_document(&mut browser, &w, client_id).await;
        assert_error_page(&page, 400, "cannot be completed", client_id);
    }
    assert_eq!(server.connections(), 0, "a refused URL was fetched");
    // Without the test setting, plain http is refused for any host.
    let strict = world().await;
    let mut browser = strict.signed_in().await;
    let page = authorize(
        &mut browser,
        &document_query(
            &strict,
            &server.url("/tool.json"),
            "http://127.0.0.1/callback",
        ),
    )
    .await;
    assert_error_page(&page, 400, "https", "http document URL");
    assert_eq!(server.connections(), 0);
    assert_unchanged(&w.app, &before, "refused document URLs");
}

// §2.6 G6, §2.13 S2: only a 200 is a document; a redirect is not followed; failures are not
// cached, so a fixed document works at once.
#[tokio::test]
async fn g6_s2_only_a_200_is_a_document_redirects_are_not_followed_and_failures_are_not_cached() {
    let server = DocumentServer::start().await;
    let w = loopback_world().await;
    let mut browser = w.signed_in().await;
    let good = server.document("/target.json", |_| {});
    server.serve("/target.json", "200 OK", "", &good);
    let before = w.snapshot();
    for (status, says) in [
        ("302 Found", "redirect"),
        ("301 Moved Permanently", "redirect"),
        ("307 Temporary Redirect", "redirect"),
        ("308 Permanent Redirect", "redirect"),
    ] {
        server.serve(
            "/moved.json",
            status,
            &format!("location: {}\r\n", server.url("/target.json")),
            &good,
        );
        let page = authorize_document(&mut browser, &w, &server.url("/moved.json")).await;
        assert_error_page(&page, 400, says, status);
    }
    assert_eq!(server.hits("/target.json"), 0, "a redirect was followed");
    let flaky = server.url("/flaky.json");
    for status in [
        "500 Internal Server Error",
        "404 Not Found",
        "204 No Content",
        "203 Non-Authoritative Information",
    ] {
        server.serve(
            "/flaky.json",
            status,
            "cache-control: max-age=3600\r\n",
            &server.document("/flaky.json", |_| {}),
        );
        let page = authorize_document(&mut browser, &w, &flaky).await;
        assert_error_page(&page, 400, "cannot be completed", status);
    }
    assert_eq!(server.hits("/flaky.json"), 4, "a failure was cached");
    assert_unchanged(&w.app, &before, "unusable documents");
    server.serve(
        "/flaky.json",
        "200 OK",
        "",
        &server.document("/flaky.json", |_| {}),
    );
    let page = authorize_document(&mut browser, &w, &flaky).await;
    assert_eq!(page.status, 200, "{}", page.body);
}

// §2.6 G7: the document must name itself exactly, hold no secret and use no shared secret.
#[tokio::test]
async fn g7_a_document_must_name_itself_and_hold_no_secret() {
    let server = DocumentServer::start().await;
    let w = loopback_world().await;
    let mut browser = w.signed_in().await;
    let before = w.snapshot();
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "/slash.json",
            Box::new(|d| d["client_id"] = json!(format!("{}/", d["client_id"].as_str().unwrap()))),
            "not the URL",
        ),
        (
            "/case.json",
            Box::new(|d| {
                d["client_id"] = json!(d["client_id"].as_str().unwrap().replace("case", "CASE"))
            }),
            "not the URL",
        ),
        (
            "/other.json",
            Box::new(|d| d["client_id"] = json!("https://app.example/client.json")),
            "not the URL",
        ),
        (
            "/none.json",
            Box::new(|d| {
                d.as_object_mut().unwrap().remove("client_id");
            }),
            "client_id",
        ),
        (
            "/secret.json",
            Box::new(|d| d["client_secret"] = json!("s3cret")),
            "client_secret",
        ),
        (
            "/expires.json",
            Box::new(|d| d["client_secret_expires_at"] = json!(0)),
            "client_secret",
        ),
        (
            "/basic.json",
            Box::new(|d| d["token_endpoint_auth_method"] = json!("client_secret_basic")),
            "shared secret",
        ),
        (
            "/post.json",
            Box::new(|d| d["token_endpoint_auth_method"] = json!("client_secret_post")),
            "shared secret",
        ),
        ("/dup.json", Box::new(|_| {}), "JSON object"),
    ];
    for (path, change, says) in cases {
        let mut body = server.document(path, |d| change(d));
        if path == "/dup.json" {
            body = body.replacen('{', "{\"client_name\":\"Twice\",", 1);
        }
        server.serve(path, "200 OK", "", &body);
        let page = authorize_document(&mut browser, &w, &server.url(path)).await;
        assert_error_page(&page, 400, says, path);
    }
    assert_unchanged(&w.app, &before, "invalid documents");
}

/// A syntactically valid client assertion for `client_id`, with a signature no key made: key
/// discovery happens before the signature is checked.
fn unsigned_assertion(client_id: &str, audience: &str) -> String {
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    format!(
        "{}.{}.{}",
        b64(&json!({"alg": "ES256", "typ": "JWT", "kid": "k1"})),
        b64(
            &json!({"iss": client_id, "sub": client_id, "aud": audience, "iat": now, "exp": now + 60, "jti": format!("jti-{now}-{client_id}")})
        ),
        "c2lnbmF0dXJl"
    )
}

// §2.6 G8, §2.13 S1, S2: no document, key set or logo is fetched from a loopback or private
// address, however it is spelled, and a name that resolves to one is refused when it is dialled.
#[tokio::test]
async fn g8_s1_s2_nothing_is_fetched_from_loopback_or_private_addresses() {
    let server = DocumentServer::start().await;
    let port = server.port();
    server.serve(
        "/tool.json",
        "200 OK",
        "",
        &server.document("/tool.json", |_| {}),
    );
    server.serve("/jwks", "200 OK", "", "{\"keys\": []}");
    // The default settings: the SSRF guard is on for every host.
    let w = world().await;
    let mut browser = w.signed_in().await;
    let before = w.snapshot();
    for client_id in [
        format!("https://127.0.0.1:{port}/tool.json"),
        format!("https://localhost:{port}/tool.json"),
        format!("https://localhost.:{port}/tool.json"),
        format!("https://[::1]:{port}/tool.json"),
        format!("https://[::ffff:7f00:1]:{port}/tool.json"),
        format!("https://127.1:{port}/tool.json"),
        format!("https://2130706433:{port}/tool.json"),
        format!("https://0x7f.0.0.1:{port}/tool.json"),
        format!("https://0177.0.0.1:{port}/tool.json"),
    ] {
        let page = authorize_document(&mut browser, &w, &client_id).await;
        assert_error_page(&page, 400, "cannot be completed", &client_id);
    }
    assert_unchanged(&w.app, &before, "private document URLs");
    // Key sets of `private_key_jwt` clients: registered by anyone, fetched only through the guard.
    let token_endpoint = w.app.url("/token");
    for jwks_uri in [
        format!("https://localhost:{port}/jwks"),
        format!("https://127.0.0.1:{port}/jwks"),
        format!("https://[::ffff:127.0.0.1]:{port}/jwks"),
        format!("https://0x7f.1:{port}/jwks"),
    ] {
        let created = register_client(
            &w.app,
            &json!({
                "client_name": "Keys",
                "redirect_uris": [REDIRECT],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": jwks_uri,
                "logo_uri": format!("https://localhost:{port}/logo.png"),
            }),
        )
        .await;
        let client_id = created["client_id"].as_str().unwrap();
        let before = w.snapshot();
        let assertion = unsigned_assertion(client_id, &token_endpoint);
        let answer = post_form(
            &w.app,
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &assertion),
            ],
            &[],
        )
        .await;
        answer.assert_error(401, "invalid_client", &jwks_uri);
        // The consent page shows the client without fetching its logo.
        let page = authorize(
            &mut browser,
            &w.authorize_query(&[("client_id", Some(client_id))]),
        )
        .await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(!page.body.contains("logo.png"), "the page loads the logo");
        assert_unchanged(&w.app, &before, &jwks_uri);
    }
    assert_eq!(server.connections(), 0, "a private address was dialled");
}

// §2.6 G9: a document larger than 5 KB is refused.
#[tokio::test]
async fn g9_documents_over_5_kb_are_refused() {
    let server = DocumentServer::start().await;
    let w = loopback_world().await;
    let mut browser = w.signed_in().await;
    let before = w.snapshot();
    let big = server.document("/big.json", |d| d["padding"] = json!("x".repeat(5200)));
    assert!(big.len() > 5 * 1024);
    server.serve("/big.json", "200 OK", "", &big);
    let page = authorize_document(&mut browser, &w, &server.url("/big.json")).await;
    assert_error_page(&page, 400, "larger than 5120 bytes", "a 5 KB document");
    // A lying Content-Length does not help: the body is cut at the cap.
    let answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{big}"
    );
    server.serve_raw("/chunked.json", &answer);
    let page = authorize(
        &mut browser,
        &document_query(
            &w,
            &server.url("/chunked.json"),
            "http://127.0.0.1/callback",
        ),
    )
    .await;
    assert_error_page(
        &page,
        400,
        "cannot be completed",
        "a document without a length",
    );
    assert_unchanged(&w.app, &before, "large documents");
}

// §2.6 G11: a changed document takes effect: its old redirect URI is refused and consent is asked
// again.
#[tokio::test]
async fn g11_a_changed_document_is_read_again_and_its_old_redirect_uri_refused() {
    let (server, w, client_id) = tool_world("cache-control: no-store\r\n").await;
    let mut browser = w.signed_in().await;
    let old = "http://127.0.0.1/callback";
    let new = "http://127.0.0.1/moved";
    let page = authorize(&mut browser, &document_query(&w, &client_id, old)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    server.serve(
        "/tool.json",
        "200 OK",
        "cache-control: no-store\r\n",
        &server.document("/tool.json", |d| d["redirect_uris"] = json!([new])),
    );
    let before = w.snapshot();
    let page = authorize(&mut browser, &document_query(&w, &client_id, old)).await;
    assert_error_page(&page, 400, "redirect_uri", "the old redirect URI");
    let page = authorize(&mut browser, &document_query(&w, &client_id, new)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(">Allow<"));
    assert_unchanged(&w.app, &before, "a changed document");
}

// §2.2 C5 against the real process and store: after a whole flow, no file of the SQLite store
// holds a code, token, client secret, registration token or password in clear.
#[tokio::test]
async fn c5_the_sqlite_store_holds_no_secret_in_clear() {
    let mut deployment = Deployment::start("", &[]).await;
    let flow = deployment.full_flow().await;
    deployment.stop().await;
    std::fs::remove_file(&deployment.log).unwrap();
    let bytes = deployment.files();
    assert!(
        holds(&bytes, &flow.client_id),
        "the store files were not read"
    );
    for (what, secret) in &flow.secrets {
        assert!(!holds(&bytes, secret), "the {what} is stored in clear");
    }
}
