//! Attacks on the authorization endpoint and its pages, one test per requirement of
//! `security-and-reliability.md` §2.1 (redirect URIs and open redirection), §2.3 (PKCE at the
//! authorization request), §2.7 (consent, CSRF, clickjacking, cookies) and §2.8 (mix-up and
//! metadata). Each performs the attack over HTTP against a running Portcullis and asserts the
//! exact answer (error page or error redirect, status, `error`, `state`, `iss`) and that the
//! store holds exactly what it held before. The map from requirement to test is
//! `docs/design/oauth-attack-tests.md`.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::browser::{Browser, Page};
use common::oauth::*;
use serde_json::{Value, json};

/// GET `/authorize?{query}` in `browser`.
async fn authorize(browser: &mut Browser<'_>, query: &str) -> Page {
    browser.get(&format!("/authorize?{query}")).await
}

/// A world whose registration rate limit (per client address) is out of the way: the test is
/// its own trusted proxy and names a new address for each registration.
async fn registering_world() -> World {
    world_with(|c| c.server.trusted_proxies = vec!["127.0.0.1/32".to_owned()]).await
}

/// Registers a public client with `redirect_uris` over RFC 7591, from a fresh address; returns
/// the raw answer.
async fn try_register(w: &World, redirect_uris: &[&str]) -> Answer {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let response = w
        .app
        .client
        .post(w.app.url("/register"))
        .header(
            "x-forwarded-for",
            format!("198.51.{}.{}", n / 250, n % 250 + 1),
        )
        .json(&json!({
            "client_name": "Attacker",
            "redirect_uris": redirect_uris,
            "token_endpoint_auth_method": "none",
            "application_type": "native",
        }))
        .send()
        .await
        .unwrap();
    Answer::read(response).await
}

// §2.1 R1: exact string comparison of redirect URIs.
#[tokio::test]
async fn r1_a_redirect_uri_must_be_a_registered_one_as_the_same_string() {
    let w = world().await;
    let web = register(&w.app, &["https://app.example/cb"]).await;
    let mut browser = w.signed_in().await;
    let before = w.snapshot();
    let loopback_cases = [
        "http://127.0.0.1:9/callback/",
        "HTTP://127.0.0.1:9/callback",
        "http://127.0.0.1:9/Callback",
        "http://127.0.0.1:9/callback?x=1",
        "http://127.0.0.1:9/callback?",
        "http://127.0.0.1:9/%63allback",
        "http://127.0.0.1:9/callback%2F",
        "http://127.0.0.1:9/x/../callback",
        "http://127.0.0.1:9/./callback",
        "http://127.0.0.1:9//callback",
        "http://127.0.0.1:9/callback#x",
        "http://127.0.0.1:9@attacker.example/callback",
        "http://attacker.example@127.0.0.1:9/callback",
        "http://127.0.0.1:9\\@attacker.example/callback",
        "http://127.0.0.1.attacker.example:9/callback",
        "http://127.0.0.1:9/callback ",
        " http://127.0.0.1:9/callback",
        "https://127.0.0.1:9/callback",
    ];
    for presented in loopback_cases {
        let query = w.authorize_query(&[("redirect_uri", Some(presented))]);
        let page = authorize(&mut browser, &query).await;
        assert_error_page(&page, 400, "redirect_uri", presented);
    }
    let web_cases = [
        "https://app.example/cb/",
        "https://APP.example/cb",
        "https://app.example:443/cb",
        "https://app.example./cb",
        "https://app.example/cb?",
        "https://app.example/CB",
        "https://app.example.attacker.example/cb",
        "https://attacker.example/cb",
        "http://app.example/cb",
        "https://app.example/x/../cb",
        "https://app.example:8443/cb",
    ];
    for presented in web_cases {
        let query =
            w.authorize_query(&[("client_id", Some(&web)), ("redirect_uri", Some(presented))]);
        let page = authorize(&mut browser, &query).await;
        assert_error_page(&page, 400, "redirect_uri", presented);
    }
    assert_unchanged(&w.app, &before, "unregistered redirect URIs");
    // The registered strings themselves are accepted.
    let page = authorize(
        &mut browser,
        &w.authorize_query(&[
            ("client_id", Some(&web)),
            ("redirect_uri", Some("https://app.example/cb")),
        ]),
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.body);
}

// §2.1 R2: any port for loopback IP redirects; host, path and query still match, and
// `localhost` never stands in for an IP literal (or the other way round).
#[tokio::test]
async fn r2_loopback_redirects_may_change_the_port_and_nothing_else() {
    let w = world().await;
    let named = register(&w.app, &["http://localhost/cb", "http://[::1]/cb"]).await;
    let mut browser = w.signed_in().await;
    let before = w.snapshot();
    let refused = [
        (w.client_id.as_str(), "http://localhost:9/callback"),
        (w.client_id.as_str(), "http://[::1]:9/callback"),
        (w.client_id.as_str(), "http://127.0.0.2:9/callback"),
        (w.client_id.as_str(), "http://127.0.0.1:49152/callback/x"),
        (w.client_id.as_str(), "http://127.0.0.1:49152/callback?x"),
        (w.client_id.as_str(), "http://127.0.0.1:0/callback"),
        (w.client_id.as_str(), "http://127.0.0.1:65536/callback"),
        (w.client_id.as_str(), "http://127.0.0.1:+80/callback"),
        (w.client_id.as_str(), "http://127.0.0.1:/callback"),
        (named.as_str(), "http://127.0.0.1:5000/cb"),
        (named.as_str(), "http://LOCALHOST:5000/cb"),
        (named.as_str(), "http://localhost.attacker.example:5000/cb"),
        (named.as_str(), "http://[0:0:0:0:0:0:0:1]:5000/cb"),
    ];
    for (client_id, presented) in refused {
        let query = w.authorize_query(&[
            ("client_id", Some(client_id)),
            ("redirect_uri", Some(presented)),
        ]);
        let page = authorize(&mut browser, &query).await;
        assert_error_page(&page, 400, "redirect_uri", presented);
    }
    assert_unchanged(&w.app, &before, "loopback look-alikes");
    for (client_id, presented) in [
        (named.as_str(), "http://localhost:5000/cb"),
        (named.as_str(), "http://[::1]:5000/cb"),
    ] {
        let query = w.authorize_query(&[
            ("client_id", Some(client_id)),
            ("redirect_uri", Some(presented)),
        ]);
        assert_eq!(
            authorize(&mut browser, &query).await.status,
            200,
            "{presented}"
        );
    }
    // The port the client chose is the redirect URI of this authorization: the code goes there,
    // and redeeming it needs that same string.
    let chosen = "http://127.0.0.1:49152/callback";
    let query = w.authorize_query(&[("redirect_uri", Some(chosen))]);
    let consent = w.consent_page(&mut browser, &query).await;
    let back = w.decide(&mut browser, &consent, "allow").await;
    assert!(back.as_str().starts_with(chosen), "{back}");
    let code = query_of(&back)("code").unwrap();
    let before = w.snapshot();
    let registered = w.exchange_with(&code, &[]).await;
    registered.assert_error(
        400,
        "invalid_grant",
        "the registered port instead of the chosen one",
    );
    assert_unchanged(&w.app, &before, "redeeming with another port");
    let answer = w
        .exchange_with(&code, &[("redirect_uri", Some(chosen))])
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

// §2.1 R3: http only for loopback redirects; everything else https.
#[tokio::test]
async fn r3_plain_http_redirect_uris_are_refused_unless_loopback() {
    let w = registering_world().await;
    let before = w.snapshot();
    for uri in [
        "http://app.example/cb",
        "http://127.0.0.2/cb",
        "http://127.1/cb",
        "http://2130706433/cb",
        "http://0x7f.0.0.1/cb",
        "http://[::ffff:127.0.0.1]/cb",
        "http://localhost.attacker.example/cb",
        "http://127.0.0.1.attacker.example/cb",
        "http://10.0.0.1/cb",
        "ftp://app.example/cb",
        "ws://127.0.0.1/cb",
    ] {
        let answer = try_register(&w, &[uri]).await;
        answer.assert_error(400, "invalid_redirect_uri", uri);
        // One bad URI spoils a registration whatever else it lists.
        let answer = try_register(&w, &["https://app.example/cb", uri]).await;
        answer.assert_error(400, "invalid_redirect_uri", uri);
    }
    assert_unchanged(&w.app, &before, "refused registrations");
}

// §2.1 R4: an unknown client or redirect URI is an error page, never a redirect.
#[tokio::test]
async fn r4_an_untrusted_client_or_redirect_uri_gets_a_page_and_no_redirect() {
    let w = world().await;
    let two = register(&w.app, &["https://app.example/a", "https://app.example/b"]).await;
    let deleted = register_client(
        &w.app,
        &json!({"client_name": "Gone", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}),
    )
    .await;
    let gone = deleted["client_id"].as_str().unwrap();
    let delete = w
        .app
        .client
        .delete(deleted["registration_client_uri"].as_str().unwrap())
        .bearer_auth(deleted["registration_access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 204);
    // Errors the client would otherwise hear about ride along: they must not turn the page into
    // a redirect.
    let worse = [("scope", Some("admin")), ("response_type", Some("token"))];
    let cases: Vec<(Vec<Param>, &str)> = vec![
        (
            vec![("client_id", Some("no-such-client"))],
            "unknown client",
        ),
        (vec![("client_id", None)], "client_id is required"),
        (vec![("client_id", Some(gone))], "unknown client"),
        (
            vec![("redirect_uri", Some("https://attacker.example/cb"))],
            "redirect_uri",
        ),
        (
            vec![("client_id", Some(&two)), ("redirect_uri", None)],
            "redirect_uri",
        ),
        (
            vec![(
                "client_id",
                Some("https://attacker.example/client.json#frag"),
            )],
            "fragment",
        ),
    ];
    for signed_in in [false, true] {
        let mut browser = if signed_in {
            w.signed_in().await
        } else {
            Browser::new(&w.app)
        };
        let before = w.snapshot();
        for (change, says) in &cases {
            for extra in [&[][..], &worse[..]] {
                let mut change = change.clone();
                change.extend_from_slice(extra);
                let page = authorize(&mut browser, &w.authorize_query(&change)).await;
                assert_error_page(
                    &page,
                    400,
                    says,
                    &format!("{change:?} signed in {signed_in}"),
                );
            }
        }
        assert_unchanged(&w.app, &before, "untrusted requests");
    }
}

// §2.1 R5: the authorization server is no open redirector, even with a redirect URI an attacker
// registered: a self-registered client's errors reach its redirect URI only once the person has
// signed in, and `prompt=none` cannot skip that.
#[tokio::test]
async fn r5_errors_for_self_registered_clients_are_redirected_only_after_sign_in() {
    let w = world().await;
    let attacker = "https://attacker.example/landing";
    let client = register(&w.app, &[attacker]).await;
    let query = |change: &[Param]| {
        let mut all = vec![
            ("client_id", Some(client.as_str())),
            ("redirect_uri", Some(attacker)),
        ];
        all.extend_from_slice(change);
        w.authorize_query(&all)
    };
    let errors: [(&[Param], &str); 5] = [
        (&[("scope", Some("no-such-scope"))], "invalid_scope"),
        (
            &[("resource", Some("https://attacker.example/mcp"))],
            "invalid_target",
        ),
        (&[("code_challenge", None)], "invalid_request"),
        (
            &[("response_type", Some("token"))],
            "unsupported_response_type",
        ),
        (&[("prompt", Some("bogus"))], "invalid_request"),
    ];
    let before = w.snapshot();
    let mut stranger = Browser::new(&w.app);
    for (change, _) in errors {
        let page = authorize(&mut stranger, &query(change)).await;
        assert_eq!(page.status, 303, "{change:?}: {}", page.body);
        assert!(
            page.location().starts_with(&w.app.url("/login?")),
            "{change:?}: sent to {} before signing in",
            page.location()
        );
        // prompt=none asks for no sign-in page: then the error stays on a page.
        let mut silent = change.to_vec();
        silent.push(("prompt", Some("none")));
        let page = authorize(&mut stranger, &query(&silent)).await;
        assert_error_page(&page, 400, "cannot be completed", &format!("{silent:?}"));
    }
    let page = authorize(&mut stranger, &query(&[("prompt", Some("none"))])).await;
    assert_error_page(&page, 400, "signed in", "prompt=none, valid request");
    assert_unchanged(&w.app, &before, "errors before sign-in");
    // Once the person has signed in, the client hears about its error (with iss and state).
    let mut browser = w.signed_in().await;
    for (change, error) in errors {
        let page = authorize(&mut browser, &query(change)).await;
        w.assert_error_redirect(&page, attacker, error, &format!("{change:?}"));
    }
    // A client the operator registered is trusted with its redirect URI: no sign-in needed.
    let (trusted, _) = first_party_client(&w.app, &["https://app.example/cb"], false, &[]).await;
    let before = w.snapshot();
    let trusted_query = |change: &[Param]| {
        let mut all = vec![
            ("client_id", Some(trusted.as_str())),
            ("redirect_uri", Some("https://app.example/cb")),
        ];
        all.extend_from_slice(change);
        w.authorize_query(&all)
    };
    let page = authorize(
        &mut stranger,
        &trusted_query(&[("scope", Some("no-such-scope"))]),
    )
    .await;
    w.assert_error_redirect(
        &page,
        "https://app.example/cb",
        "invalid_scope",
        "operator client",
    );
    let page = authorize(&mut stranger, &trusted_query(&[("prompt", Some("none"))])).await;
    w.assert_error_redirect(
        &page,
        "https://app.example/cb",
        "login_required",
        "operator client",
    );
    assert_unchanged(&w.app, &before, "error redirects");
}

// §2.1 R6: no URL on Portcullis forwards a browser to an address taken from a parameter.
#[tokio::test]
async fn r6_sign_in_and_sign_out_never_forward_to_another_origin() {
    let w = world().await;
    let account = w.app.url("/account");
    for evil in [
        "https://attacker.example/",
        "//attacker.example/",
        "///attacker.example/",
        "/\\attacker.example/",
        "\\\\attacker.example",
        "/\t/attacker.example",
        "/%2F/attacker.example",
        "http:attacker.example",
        "javascript:alert(1)",
        " /account",
    ] {
        let mut browser = Browser::new(&w.app);
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", evil)
            .finish();
        let login = browser.get(&format!("/login?{query}")).await;
        assert_eq!(login.status, 200);
        let csrf = login.csrf();
        let answer = browser
            .post(
                "/login",
                &[
                    ("csrf_token", csrf.as_str()),
                    ("username", "alice"),
                    ("password", PASSWORD),
                    ("return_to", evil),
                ],
            )
            .await;
        assert_eq!(answer.status, 303, "{evil:?}");
        let location = answer.location();
        let same_origin =
            location == account || (evil == "/%2F/attacker.example" && location == w.app.url(evil));
        assert!(same_origin, "{evil:?} sent the browser to {location}");
        let csrf = browser.account_csrf().await;
        let out = browser
            .post(
                &format!("/logout?{query}"),
                &[("csrf_token", csrf.as_str()), ("return_to", evil)],
            )
            .await;
        assert_eq!(out.status, 303, "{evil:?}");
        assert_eq!(out.location(), w.app.url("/login"), "{evil:?}");
    }
}

// §2.1 R7: a redirect after a request that carried credentials is a 303, never a 307 (which would
// make the browser post the password or the consent form to the client).
#[tokio::test]
async fn r7_every_redirect_is_a_303() {
    let w = world().await;
    let mut browser = Browser::new(&w.app);
    let query = w.authorize_query(&[]);
    let to_login = authorize(&mut browser, &query).await;
    assert_eq!(to_login.status, 303, "to sign in");
    let signed_in = browser
        .sign_in("alice", PASSWORD, Some(&format!("/authorize?{query}")))
        .await;
    assert_eq!(signed_in.status, 303, "the password form");
    let consent = authorize(&mut browser, &query).await;
    for decision in ["allow", "deny"] {
        let answer = w.post_consent(&mut browser, &consent, decision).await;
        assert_eq!(answer.status, 303, "consent {decision}");
        assert!(answer.location().starts_with(REDIRECT));
    }
    let error = authorize(&mut browser, &w.authorize_query(&[("scope", Some("nope"))])).await;
    assert_eq!(error.status, 303, "error redirect");
    let csrf = browser.account_csrf().await;
    let out = browser
        .post("/logout", &[("csrf_token", csrf.as_str())])
        .await;
    assert_eq!(out.status, 303, "sign-out");
}

// §2.1 R8: no fragment, and no scheme that runs code, however it is disguised.
#[tokio::test]
async fn r8_fragments_and_dangerous_schemes_are_refused() {
    let w = registering_world().await;
    let before = w.snapshot();
    for uri in [
        "https://app.example/cb#",
        "https://app.example/cb#frag",
        "http://127.0.0.1/cb#x",
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "java\nscript:alert(1)",
        "\u{0}javascript:alert(1)",
        "javascript://app.example/%0aalert(1)",
        "data:text/html,<script>alert(1)</script>",
        "DATA:text/html,x",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "blob:https://app.example/uuid",
        "view-source:https://app.example/",
    ] {
        let answer = try_register(&w, &[uri]).await;
        answer.assert_error(400, "invalid_redirect_uri", &format!("{uri:?}"));
    }
    assert_unchanged(&w.app, &before, "refused registrations");
    // A fragment presented at the authorization endpoint is not the registered URI either.
    let mut browser = w.signed_in().await;
    let page = authorize(
        &mut browser,
        &w.authorize_query(&[("redirect_uri", Some(&format!("{REDIRECT}#x")))]),
    )
    .await;
    assert_error_page(&page, 400, "redirect_uri", "fragment");
    assert_unchanged(&w.app, &before, "a fragment at /authorize");
}

// §2.1 R9: no userinfo, no dot segments, and matching on the strings so that no parser can make
// two different URIs equal.
#[tokio::test]
async fn r9_userinfo_and_dot_segments_are_refused_and_no_parser_normalises_a_match() {
    let w = registering_world().await;
    let before = w.snapshot();
    for uri in [
        "https://user@app.example/cb",
        "https://user:pw@app.example/cb",
        "https://app.example@attacker.example/cb",
        "https://app.example\\@attacker.example/cb",
        "https://app.example/a/../cb",
        "https://app.example/./cb",
        "https://app.example/%2e%2e/cb",
        "https://app.example/%2E/cb",
        "https://app.example/cb/..",
        "http://127.0.0.1/a/../cb",
        "https:/app.example/cb",
        "https:///app.example/cb",
    ] {
        let answer = try_register(&w, &[uri]).await;
        answer.assert_error(400, "invalid_redirect_uri", uri);
    }
    assert_unchanged(&w.app, &before, "refused registrations");
    // Each of these parses to the registered URI; none is it.
    let client = register(&w.app, &["https://app.example/cb"]).await;
    let mut browser = w.signed_in().await;
    let before = w.snapshot();
    for presented in [
        "https://app.example/x/../cb",
        "https://app.example/./cb",
        "https://app.example/%63b",
        "https://APP.EXAMPLE/cb",
        "https://app.example:443/cb",
        "HTTPS://app.example/cb",
        "https:app.example/cb",
        "https:/app.example/cb",
        "https:\\\\app.example/cb",
        "https://app.example\\cb",
    ] {
        let query = w.authorize_query(&[
            ("client_id", Some(&client)),
            ("redirect_uri", Some(presented)),
        ]);
        let page = authorize(&mut browser, &query).await;
        assert_error_page(&page, 400, "redirect_uri", presented);
    }
    assert_unchanged(&w.app, &before, "normalised look-alikes");
}

// §2.3 P1, P3: PKCE with S256 on every request; no challenge, `plain`, an omitted or unknown
// method, and malformed challenges are refused before anything is stored.
#[tokio::test]
async fn p3_pkce_s256_is_required_and_plain_is_refused() {
    let w = world().await;
    let mut browser = w.signed_in().await;
    let before = w.snapshot();
    let padded = format!("{}=", &CHALLENGE[..42]);
    let cases: Vec<Vec<Param>> = vec![
        vec![("code_challenge", None)],
        vec![("code_challenge", None), ("code_challenge_method", None)],
        vec![("code_challenge_method", None)],
        vec![("code_challenge_method", Some("plain"))],
        vec![("code_challenge_method", Some("s256"))],
        vec![("code_challenge_method", Some("S512"))],
        vec![("code_challenge_method", Some("S256 "))],
        vec![
            ("code_challenge", Some(VERIFIER)),
            ("code_challenge_method", Some("plain")),
        ],
        vec![("code_challenge", Some("short"))],
        vec![("code_challenge", Some(&padded))],
        vec![(
            "code_challenge",
            Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"),
        )],
        vec![(
            "code_challenge",
            Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cMx"),
        )],
    ];
    for change in cases {
        let page = authorize(&mut browser, &w.authorize_query(&change)).await;
        w.assert_error_redirect(&page, REDIRECT, "invalid_request", &format!("{change:?}"));
    }
    assert_unchanged(&w.app, &before, "requests without S256");
}

// §2.3 P4: the metadata says S256, and only S256, at every discovery path.
#[tokio::test]
async fn p4_metadata_publishes_s256_as_the_only_challenge_method() {
    let w = world().await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let metadata: Value = w
            .app
            .client
            .get(w.app.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            metadata["code_challenge_methods_supported"],
            json!(["S256"]),
            "{path}"
        );
    }
}

// §2.7 K1: the consent page names the client, the redirect host and the scopes, carries a CSRF
// token, cannot be framed, and refuses every forged answer without issuing anything.
#[tokio::test]
async fn k1_the_consent_page_shows_who_asks_for_what_and_refuses_forged_answers() {
    let w = world().await;
    let sneaky = register_client(
        &w.app,
        &json!({
            "client_name": "<script>alert(1)</script> Files",
            "redirect_uris": ["https://app.example/cb"],
            "token_endpoint_auth_method": "none",
        }),
    )
    .await;
    let sneaky = sneaky["client_id"].as_str().unwrap();
    let mut browser = Browser::new(&w.app);
    let query = w.authorize_query(&[
        ("client_id", Some(sneaky)),
        ("redirect_uri", Some("https://app.example/cb")),
        ("scope", Some("files:read files:write")),
    ]);
    let consent = w.consent_page(&mut browser, &query).await;
    assert!(
        consent
            .body
            .contains("&#60;script&#62;alert(1)&#60;/script&#62; Files"),
        "{}",
        consent.body
    );
    assert!(!consent.body.contains("<script>"));
    assert!(consent.body.contains("app.example"));
    assert!(consent.body.contains("files:read") && consent.body.contains("files:write"));
    assert!(
        consent.body.contains(">Allow<") && consent.body.contains(">Deny<"),
        "{}",
        consent.body
    );
    assert!(!consent.csrf().is_empty());
    assert_eq!(consent.headers["x-frame-options"], "DENY");
    assert!(
        consent.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );

    let request = html_unescape(&consent.field("request"));
    let before = w.snapshot();
    let token = consent.csrf();
    let mut other = w.signed_in().await;
    let other_token = other.account_csrf().await;
    let forgeries: Vec<(Vec<Field>, Vec<Field>, &str)> = vec![
        (
            vec![("request", &request), ("decision", "allow")],
            vec![],
            "no token",
        ),
        (
            vec![
                ("csrf_token", "forged"),
                ("request", &request),
                ("decision", "allow"),
            ],
            vec![],
            "a made-up token",
        ),
        (
            vec![
                ("csrf_token", &other_token),
                ("request", &request),
                ("decision", "allow"),
            ],
            vec![],
            "another session's token",
        ),
        (
            vec![
                ("csrf_token", &token),
                ("csrf_token", &token),
                ("request", &request),
                ("decision", "allow"),
            ],
            vec![],
            "the token twice",
        ),
        (
            vec![
                ("csrf_token", &token),
                ("request", &request),
                ("decision", "allow"),
            ],
            vec![("origin", "https://attacker.example")],
            "another origin",
        ),
        (
            vec![
                ("csrf_token", &token),
                ("request", &request),
                ("decision", "allow"),
            ],
            vec![("origin", "null")],
            "an opaque origin",
        ),
        (
            vec![
                ("csrf_token", &token),
                ("request", &request),
                ("decision", "allow"),
            ],
            vec![("sec-fetch-site", "cross-site")],
            "a cross-site fetch",
        ),
    ];
    for (fields, headers, what) in forgeries {
        let answer = browser.post_with("/authorize", &fields, &headers).await;
        assert_error_page(&answer, 403, "not sent from a Portcullis page", what);
    }
    assert_unchanged(&w.app, &before, "forged consent");
}

// §2.7 K2: sign-in, consent and error pages, and the redirects between them, refuse framing.
#[tokio::test]
async fn k2_no_page_of_the_authorization_flow_can_be_framed() {
    let w = world().await;
    let mut browser = Browser::new(&w.app);
    let query = w.authorize_query(&[]);
    let mut pages = vec![
        ("to sign in", authorize(&mut browser, &query).await),
        ("sign-in", browser.get("/login").await),
        (
            "error",
            authorize(
                &mut browser,
                &w.authorize_query(&[("client_id", Some("nobody"))]),
            )
            .await,
        ),
    ];
    let consent = w.consent_page(&mut browser, &query).await;
    let allowed = w.post_consent(&mut browser, &consent, "allow").await;
    pages.push(("consent", consent));
    pages.push(("redirect with a code", allowed));
    pages.push((
        "error redirect",
        authorize(&mut browser, &w.authorize_query(&[("scope", Some("nope"))])).await,
    ));
    for (what, page) in pages {
        assert_eq!(page.headers["x-frame-options"], "DENY", "{what}");
        assert!(
            page.headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'"),
            "{what}"
        );
    }
}

// §2.7 K3: a code is issued only on an approval posted for this very request; asking for another
// client, redirect URI, resource or more scopes shows the consent page again and stores nothing.
#[tokio::test]
async fn k3_a_code_needs_an_approval_of_this_client_redirect_resource_and_scopes() {
    let w = world().await;
    let (trusted, _) = first_party_client(&w.app, &[REDIRECT], false, &[]).await;
    let mut browser = w.signed_in().await;
    let base = [("client_id", Some(trusted.as_str()))];
    let code = w.code_for(&mut browser, &w.authorize_query(&base)).await;
    assert!(!code.is_empty());
    let files = w.resource("files");
    let notes = w.resource("notes");
    let before = w.snapshot();
    assert_eq!(
        before.consents.len(),
        1,
        "the operator client's consent is remembered"
    );
    for change in [
        vec![("client_id", Some(w.client_id.as_str()))],
        vec![
            ("client_id", Some(trusted.as_str())),
            ("resource", Some(notes.as_str())),
        ],
        vec![
            ("client_id", Some(trusted.as_str())),
            ("scope", Some("files:read files:write")),
        ],
        vec![
            ("client_id", Some(trusted.as_str())),
            ("redirect_uri", Some("http://127.0.0.1:10/callback")),
        ],
        vec![
            ("client_id", Some(trusted.as_str())),
            ("prompt", Some("consent")),
        ],
    ] {
        let page = authorize(&mut browser, &w.authorize_query(&change)).await;
        assert_eq!(page.status, 200, "{change:?}: {}", page.location());
        assert!(page.body.contains(">Allow<"), "{change:?}");
    }
    assert_unchanged(&w.app, &before, "requests beyond the remembered consent");
    // The same request again is answered from the remembered consent.
    let again = authorize(
        &mut browser,
        &w.authorize_query(&[
            ("client_id", Some(trusted.as_str())),
            ("resource", Some(files.as_str())),
        ]),
    )
    .await;
    assert_eq!(again.status, 303);
    assert!(query_of(&url::Url::parse(again.location()).unwrap())("code").is_some());
}

// §2.7 K4: the browser's cookies are __Host- prefixed, Secure, HttpOnly and SameSite=Lax behind
// an https public URL, and the consent answer is bound to the session that saw the page.
#[tokio::test]
async fn k4_cookies_are_host_bound_and_the_consent_answer_needs_its_session() {
    let w = world_with(|c| c.server.public_url = "https://gw.example".to_owned()).await;
    let mut browser = Browser::with_base(&w.app, "https://gw.example");
    let login = browser.get("/login").await;
    let signed = browser
        .post(
            "/login",
            &[
                ("csrf_token", &login.csrf()),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let cookies: Vec<String> = login
        .set_cookies()
        .into_iter()
        .chain(signed.set_cookies())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("__Host-portcullis-session=")),
        "{cookies:?}"
    );
    for cookie in &cookies {
        assert!(cookie.starts_with("__Host-"), "{cookie}");
        for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
        }
        assert!(!cookie.contains("Domain="), "{cookie}");
    }
    // The consent form of one person's session does nothing in another browser.
    let w = world().await;
    let mut alice = Browser::new(&w.app);
    let consent = w.consent_page(&mut alice, &w.authorize_query(&[])).await;
    let before = w.snapshot();
    let mut stranger = Browser::new(&w.app);
    let answer = w.post_consent(&mut stranger, &consent, "allow").await;
    assert!(
        answer.status == 403 || (answer.status == 303 && answer.location().contains("/login")),
        "{} {}",
        answer.status,
        answer.location()
    );
    assert_unchanged(&w.app, &before, "a consent answer from another browser");
}

// §2.7 K5: a client whose identity cannot be assured (self-registered) is confirmed on every
// request, with a warning, and no consent is remembered for it.
#[tokio::test]
async fn k5_self_registered_clients_are_confirmed_every_time() {
    let w = world().await;
    let mut browser = Browser::new(&w.app);
    let first = w.code(&mut browser).await;
    assert!(!first.is_empty());
    let before = w.snapshot();
    assert!(before.consents.is_empty(), "{:?}", before.consents);
    let again = authorize(&mut browser, &w.authorize_query(&[])).await;
    assert_eq!(again.status, 200, "{}", again.location());
    assert!(again.body.contains("registered itself"), "{}", again.body);
    assert!(
        again.body.contains("on your own computer"),
        "{}",
        again.body
    );
    assert_unchanged(&w.app, &before, "showing the consent page again");
}

// §2.7 K6: no Referer leaves the authorization endpoint or the pages around it, and they load
// nothing from elsewhere.
#[tokio::test]
async fn k6_authorization_pages_send_no_referrer_and_load_nothing_from_elsewhere() {
    let w = world().await;
    let mut browser = Browser::new(&w.app);
    let query = w.authorize_query(&[]);
    let to_login = authorize(&mut browser, &query).await;
    let login = browser.get("/login").await;
    let consent = w.consent_page(&mut browser, &query).await;
    let with_code = w.post_consent(&mut browser, &consent, "allow").await;
    let error_page = authorize(
        &mut browser,
        &w.authorize_query(&[("client_id", Some("nobody"))]),
    )
    .await;
    for (what, page) in [
        ("to sign in", &to_login),
        ("sign-in", &login),
        ("consent", &consent),
        ("redirect with the code", &with_code),
        ("error page", &error_page),
    ] {
        assert_eq!(page.headers["referrer-policy"], "same-origin", "{what}");
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.starts_with("default-src 'none'"), "{what}: {csp}");
        for attribute in [
            "src=\"http",
            "href=\"http",
            "src=\"//",
            "href=\"//",
            "url(http",
        ] {
            assert!(!page.body.contains(attribute), "{what} loads {attribute}…");
        }
    }
}

// §2.7 K7: the authorization endpoint answers no CORS request, preflight or simple.
#[tokio::test]
async fn k7_the_authorization_endpoint_allows_no_cross_origin_reads() {
    let w = world().await;
    let url = w.app.url(&format!("/authorize?{}", w.authorize_query(&[])));
    let preflight = w
        .app
        .client
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://attacker.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert!(
        preflight
            .headers()
            .get("access-control-allow-methods")
            .is_none()
    );
    for method in [reqwest::Method::GET, reqwest::Method::POST] {
        let answer = w
            .app
            .client
            .request(method.clone(), &url)
            .header("origin", "https://attacker.example")
            .send()
            .await
            .unwrap();
        assert!(
            answer
                .headers()
                .get("access-control-allow-origin")
                .is_none(),
            "{method}"
        );
        assert!(
            answer
                .headers()
                .get("access-control-allow-credentials")
                .is_none(),
            "{method}"
        );
    }
    // The token endpoint, by contrast, answers browser clients (no cookies are involved there).
    let token = w
        .app
        .client
        .request(reqwest::Method::OPTIONS, w.app.url("/token"))
        .header("origin", "https://attacker.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(token.headers()["access-control-allow-origin"], "*");
}

// §2.7 K8: a client may ask only for the scopes the operator let it have, and only for scopes the
// MCP server has. (A scope a client named in its own registration limits nothing: see
// `oauth::a_self_registered_client_steps_up_beyond_the_scope_it_registered`.)
#[tokio::test]
async fn k8_a_client_may_ask_only_for_its_own_scopes() {
    let w = world().await;
    let narrow = portcullis_core::admin::clients::create(
        w.app.store.as_ref(),
        &portcullis_core::audit::AuditContext::off(),
        portcullis_core::admin::clients::NewClient {
            name: "Reader",
            redirect_uris: &[REDIRECT.to_owned()],
            confidential: false,
            grant_types: &[],
            scope: Some("files:read"),
        },
        time::OffsetDateTime::now_utc(),
        &mut rand::rng(),
    )
    .await
    .unwrap()
    .client
    .client_id;
    let narrow = narrow.as_str();
    let mut browser = w.signed_in().await;
    let before = w.snapshot();
    for (client, scope) in [
        (narrow, "files:write"),
        (narrow, "files:read files:write"),
        (w.client_id.as_str(), "files:admin"),
        (w.client_id.as_str(), "files:read\u{0}"),
        (w.client_id.as_str(), "files:read\"x"),
    ] {
        let query = w.authorize_query(&[("client_id", Some(client)), ("scope", Some(scope))]);
        let page = authorize(&mut browser, &query).await;
        w.assert_error_redirect(&page, REDIRECT, "invalid_scope", scope);
    }
    // Without `scope` the request asks for every scope of the resource, which this client may
    // not have: refused too (RFC 6749 §3.3 allows failing instead of a default).
    let page = authorize(
        &mut browser,
        &w.authorize_query(&[("client_id", Some(narrow)), ("scope", None)]),
    )
    .await;
    w.assert_error_redirect(&page, REDIRECT, "invalid_scope", "no scope");
    assert_unchanged(&w.app, &before, "scopes beyond the client's");
    // What the operator let it have, it gets.
    let page = authorize(
        &mut browser,
        &w.authorize_query(&[("client_id", Some(narrow)), ("scope", Some("files:read"))]),
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("files:read") && !page.body.contains("files:write"));
}

// §2.8 M1: every authorization response, success or error, carries `iss` (RFC 9207), and the
// metadata says so.
#[tokio::test]
async fn m1_every_authorization_response_carries_the_issuer() {
    let w = world().await;
    let mut browser = w.signed_in().await;
    let before = w.snapshot();
    let long = "n".repeat(2000);
    let cases: Vec<(Vec<Param>, &str)> = vec![
        (
            vec![("response_type", Some("token"))],
            "unsupported_response_type",
        ),
        (
            vec![("response_type", Some("code id_token"))],
            "unsupported_response_type",
        ),
        (vec![("response_type", None)], "invalid_request"),
        (vec![("response_mode", Some("fragment"))], "invalid_request"),
        (vec![("scope", Some("nope"))], "invalid_scope"),
        (vec![("resource", None)], "invalid_target"),
        (
            vec![("resource", Some("https://attacker.example/mcp"))],
            "invalid_target",
        ),
        (vec![("prompt", Some("select_account"))], "invalid_request"),
        (vec![("nonce", Some(&long))], "invalid_request"),
        (vec![("code_challenge", None)], "invalid_request"),
        (vec![("prompt", Some("none"))], "consent_required"),
    ];
    for (change, error) in cases {
        let page = authorize(&mut browser, &w.authorize_query(&change)).await;
        w.assert_error_redirect(&page, REDIRECT, error, &format!("{change:?}"));
    }
    assert_unchanged(&w.app, &before, "error responses");
    let consent = authorize(&mut browser, &w.authorize_query(&[])).await;
    let denied = w.post_consent(&mut browser, &consent, "deny").await;
    w.assert_error_redirect(&denied, REDIRECT, "access_denied", "deny");
    assert_unchanged(&w.app, &before, "a denial");
    let allowed = w.post_consent(&mut browser, &consent, "allow").await;
    let back = url::Url::parse(allowed.location()).unwrap();
    assert_eq!(query_of(&back)("iss"), Some(w.issuer()));
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
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        true
    );
}

// §2.8 M4: the issuer and every URL built from it come from the configuration, never from
// `Host` or `X-Forwarded-*` — not even from a trusted proxy.
#[tokio::test]
async fn m4_request_headers_cannot_change_the_issuer() {
    let w = world_with(|c| c.server.trusted_proxies = vec!["127.0.0.1/32".to_owned()]).await;
    let issuer = w.issuer();
    let spoofed: [(&str, &str); 5] = [
        ("host", "attacker.example"),
        ("x-forwarded-host", "attacker.example"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-prefix", "/evil"),
        ("forwarded", "host=attacker.example;proto=https"),
    ];
    let get = |path: &str| {
        let mut request = w.app.client.get(w.app.url(path));
        for (name, value) in spoofed {
            request = request.header(name, value);
        }
        request
    };
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let metadata: Value = get(path).send().await.unwrap().json().await.unwrap();
        assert_eq!(metadata["issuer"], issuer.as_str(), "{path}");
        for endpoint in [
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "registration_endpoint",
        ] {
            assert!(
                metadata[endpoint].as_str().unwrap().starts_with(&issuer),
                "{path} {endpoint}"
            );
        }
    }
    let prm: Value = get("/.well-known/oauth-protected-resource/servers/files/mcp")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(prm["authorization_servers"], json!([issuer]));
    assert_eq!(prm["resource"], w.resource("files"));
    // A foreign Host on the MCP endpoint is DNS rebinding, refused outright (403); the
    // forwarding headers are what a proxy sends.
    let mut rebound = w.app.post("files", &common::initialize_body());
    rebound = rebound.header("host", "attacker.example");
    assert_eq!(rebound.send().await.unwrap().status(), 403);
    let mut challenge = w.app.post("files", &common::initialize_body());
    for (name, value) in spoofed.iter().filter(|(n, _)| *n != "host") {
        challenge = challenge.header(*name, *value);
    }
    let challenge = challenge.send().await.unwrap();
    assert_eq!(challenge.status(), 401);
    let header = challenge.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        header.contains(&format!(
            "resource_metadata=\"{issuer}/.well-known/oauth-protected-resource/servers/files/mcp\""
        )),
        "{header}"
    );
    let mut headers: Vec<(&str, &str)> = spoofed.to_vec();
    headers.retain(|(n, _)| *n != "host");
    let browser = w.signed_in().await;
    let mut request = w
        .app
        .client
        .get(w.app.url(&format!(
            "/authorize?{}",
            w.authorize_query(&[("scope", Some("nope"))])
        )))
        .header(
            "cookie",
            browser
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; "),
        );
    for (name, value) in &headers {
        request = request.header(*name, *value);
    }
    let answer = request.send().await.unwrap();
    let back = url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(query_of(&back)("iss"), Some(issuer.clone()));
    let mut stranger = w
        .app
        .client
        .get(w.app.url(&format!("/authorize?{}", w.authorize_query(&[]))));
    for (name, value) in &headers {
        stranger = stranger.header(*name, *value);
    }
    let answer = stranger.send().await.unwrap();
    assert_eq!(answer.status(), 303);
    assert!(
        answer.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(&format!("{issuer}/login")),
        "{:?}",
        answer.headers()["location"]
    );
}
