//! The authorization server end to end over real HTTP, as an MCP client and a person in a
//! browser drive it: register, authorize (sign in, consent), exchange the code, call the MCP
//! server with the token, refresh, revoke — and the ways each step refuses.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::browser::Browser;
use common::oauth::*;
use common::*;
use portcullis_core::auth::api_key::secret_hash;
use portcullis_store::Store;
use serde_json::{Value, json};

#[tokio::test]
async fn a_person_authorizes_a_client_and_its_token_reaches_the_mcp_server() {
    let w = world().await;
    let mut browser = Browser::new(&w.app);
    let consent = w.consent_page(&mut browser, &w.authorize_query(&[])).await;
    assert!(consent.body.contains("Test Client"), "{}", consent.body);
    assert!(consent.body.contains("files:read"));
    assert!(consent.body.contains("registered itself"));
    assert!(consent.body.contains("on your own computer (127.0.0.1)"));
    let back = w.decide(&mut browser, &consent, "allow").await;
    let code = query_of(&back)("code").unwrap();

    let (status, tokens) = w.exchange(&code).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "files:read");
    assert_eq!(tokens["expires_in"], 600);
    let access = tokens["access_token"].as_str().unwrap();
    assert!(tokens["refresh_token"].is_string());

    // The token opens the MCP server it was issued for, as alice.
    let response = w
        .app
        .post("files", &initialize_body())
        .header("authorization", format!("Bearer {access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = w.upstream.requests().pop().unwrap();
    let principal = format!("portcullis:{}", w.user_id);
    assert_eq!(seen.header("x-portcullis-user"), Some(principal.as_str()));
    assert_eq!(seen.header("x-portcullis-validator"), Some("portcullis"));
    assert_eq!(seen.header("x-portcullis-scopes"), Some("files:read"));
    assert_eq!(seen.header("authorization"), None);

    // Not the other one (RFC 8707: its audience is `files` only).
    assert_eq!(w.mcp_status("notes", access).await, 401);

    // The code is single use.
    let (status, again) = w.exchange(&code).await;
    assert_eq!(status, 400);
    assert_eq!(again["error"], "invalid_grant");
}

/// Step-up (MCP authorization, "Scope Challenge Handling"): the MCP SDKs register with the scope
/// they are about to ask for — the narrow one — and later ask for more when a server answers 403
/// `insufficient_scope`. The scope a client named in its own registration is no limit: the person
/// is shown the broader request and allows it, and the new token has it.
#[tokio::test]
async fn a_self_registered_client_steps_up_beyond_the_scope_it_registered() {
    let w = world().await;
    let registered = register_client(
        &w.app,
        &json!({
            "client_name": "Stepping Client",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": "files:read",
        }),
    )
    .await;
    assert_eq!(registered["scope"], "files:read", "{registered}");
    let client = registered["client_id"].as_str().unwrap();
    let mut browser = Browser::new(&w.app);
    for scope in ["files:read", "files:read files:write"] {
        let query = w.authorize_query(&[("client_id", Some(client)), ("scope", Some(scope))]);
        let consent = w.consent_page(&mut browser, &query).await;
        assert_eq!(consent.status, 200, "{scope}: {}", consent.body);
        for shown in scope.split(' ') {
            assert!(
                consent.body.contains(&format!("<li>{shown}</li>")),
                "{scope}: {}",
                consent.body
            );
        }
        let back = w.decide(&mut browser, &consent, "allow").await;
        let code = query_of(&back)("code").unwrap_or_else(|| panic!("{scope}: {back}"));
        let answer = w.exchange_with(&code, &[("client_id", Some(client))]).await;
        assert_eq!(answer.status, 200, "{scope}: {}", answer.body);
        assert_eq!(answer.body["scope"], scope);
    }
}

#[tokio::test]
async fn the_token_endpoint_checks_the_verifier_redirect_uri_and_resource() {
    let w = world().await;
    let mut browser = Browser::new(&w.app);
    // Each case gets its own code.
    let files = w.resource("files");
    let notes = w.resource("notes");
    let cases: [(&str, &str, &str, &str); 4] = [
        (
            "code_verifier",
            "wrong-verifier-wrong-verifier-wrong-verifier",
            "invalid_grant",
            "verifier",
        ),
        (
            "redirect_uri",
            "http://127.0.0.1:9/other",
            "invalid_grant",
            "redirect_uri",
        ),
        ("resource", &notes, "invalid_target", "resource"),
        ("client_id", "someone-else", "invalid_client", "client"),
    ];
    for (field, value, error, what) in cases {
        let code = w.code(&mut browser).await;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", w.client_id.as_str()),
            ("code_verifier", VERIFIER),
            ("resource", files.as_str()),
        ];
        for pair in &mut form {
            if pair.0 == field {
                pair.1 = value;
            }
        }
        let Answer { status, body, .. } = w.token(&form).await;
        assert_eq!(body["error"], error, "{what}: {body}");
        assert!(status == 400 || status == 401, "{what}: {status}");
    }
    // A token request without PKCE's verifier is refused too.
    let code = w.code(&mut browser).await;
    let Answer { status, body, .. } = w
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", &w.client_id),
        ])
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_request", "{body}");
}

#[tokio::test]
async fn a_denied_request_goes_back_with_access_denied_and_no_code() {
    let w = world().await;
    let mut browser = Browser::new(&w.app);
    let consent = w.consent_page(&mut browser, &w.authorize_query(&[])).await;
    let back = w.decide(&mut browser, &consent, "deny").await;
    let q = query_of(&back);
    assert_eq!(q("error").as_deref(), Some("access_denied"));
    assert_eq!(q("state").as_deref(), Some("st4te"));
    assert_eq!(q("iss").as_deref(), Some(w.app.url("").as_str()));
    assert_eq!(q("code"), None);
}

#[tokio::test]
async fn an_untrusted_redirect_uri_or_client_gets_a_page_and_no_redirect() {
    let w = world().await;
    let mut browser = Browser::new(&w.app);
    for change in [
        ("redirect_uri", Some("https://attacker.example/callback")),
        ("redirect_uri", Some("http://127.0.0.1:9/callback/../evil")),
        ("client_id", Some("no-such-client")),
        ("client_id", None),
    ] {
        let page = browser
            .get(&format!("/authorize?{}", w.authorize_query(&[change])))
            .await;
        assert_eq!(page.status, 400, "{change:?}: {}", page.body);
        assert_eq!(page.location(), "", "{change:?} redirected");
        assert!(page.body.contains("cannot be completed"), "{}", page.body);
        assert_eq!(page.headers["x-frame-options"], "DENY");
    }
    // Other errors, with a registered client and redirect URI, go back to the client (once the
    // person has signed in, for a client that registered itself).
    let signed_in = browser.sign_in("alice", PASSWORD, None).await;
    assert_eq!(signed_in.status, 303);
    let page = browser
        .get(&format!(
            "/authorize?{}",
            w.authorize_query(&[("code_challenge", None)])
        ))
        .await;
    assert_eq!(page.status, 303);
    let back = url::Url::parse(page.location()).unwrap();
    assert!(back.as_str().starts_with(REDIRECT));
    assert_eq!(query_of(&back)("error").as_deref(), Some("invalid_request"));
    assert_eq!(query_of(&back)("state").as_deref(), Some("st4te"));
}

#[tokio::test]
async fn prompt_none_answers_login_required_without_a_session() {
    let w = world().await;
    // A client the operator registered: trusted with the redirect (a self-registered one gets a
    // page, `oauth_attacks_authorize::r5_…`).
    let (client, _) = first_party_client(&w.app, &[REDIRECT], false, &[]).await;
    let mut browser = Browser::new(&w.app);
    let page = browser
        .get(&format!(
            "/authorize?{}",
            w.authorize_query(&[("prompt", Some("none")), ("client_id", Some(&client))])
        ))
        .await;
    assert_eq!(page.status, 303);
    let back = url::Url::parse(page.location()).unwrap();
    assert_eq!(query_of(&back)("error").as_deref(), Some("login_required"));
}

#[tokio::test]
async fn the_consent_form_needs_its_csrf_token_and_a_session() {
    let w = world().await;
    let mut browser = Browser::new(&w.app);
    let consent = w.consent_page(&mut browser, &w.authorize_query(&[])).await;
    let request = html_unescape(&consent.field("request"));
    // A forged post from this browser without the token.
    let forged = browser
        .post(
            "/authorize",
            &[("request", request.as_str()), ("decision", "allow")],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert_eq!(forged.location(), "");
    // Another origin's post with the token.
    let cross = browser
        .post_with(
            "/authorize",
            &[
                ("csrf_token", &consent.csrf()),
                ("request", &request),
                ("decision", "allow"),
            ],
            &[("origin", "https://attacker.example")],
        )
        .await;
    assert_eq!(cross.status, 403, "{}", cross.body);
    // A browser without the session is sent to sign in, with no code issued.
    let mut stranger = Browser::new(&w.app);
    let post = stranger
        .post(
            "/authorize",
            &[
                ("csrf_token", &consent.csrf()),
                ("request", &request),
                ("decision", "allow"),
            ],
        )
        .await;
    assert!(
        post.status == 303 && !post.location().starts_with(REDIRECT) || post.status == 403,
        "{} {}",
        post.status,
        post.location()
    );
}

#[tokio::test]
async fn refresh_rotates_and_revocation_locks_the_gateway_at_once() {
    let w = world().await;
    let mut browser = Browser::new(&w.app);
    let code = w.code(&mut browser).await;
    let (_, tokens) = w.exchange(&code).await;
    let first_refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    let (status, refreshed) = w.refresh(&first_refresh, None).await;
    assert_eq!(status, 200, "{refreshed}");
    let access = refreshed["access_token"].as_str().unwrap().to_owned();
    let second_refresh = refreshed["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, first_refresh, "refresh tokens rotate");
    assert_eq!(refreshed["scope"], "files:read");
    assert_eq!(w.mcp_status("files", &access).await, 200);

    // A refresh may not widen the scope.
    let (status, wider) = w
        .refresh(&second_refresh, Some("files:read files:write"))
        .await;
    assert_eq!(status, 400);
    assert_eq!(wider["error"], "invalid_scope", "{wider}");

    // Revoking the refresh token ends the grant: its access tokens stop working at once.
    assert_eq!(w.revoke(&second_refresh).await, 200);
    assert_eq!(w.mcp_status("files", &access).await, 401);
    let (status, after) = w.refresh(&second_refresh, None).await;
    assert_eq!(status, 400);
    assert_eq!(after["error"], "invalid_grant");
    // Revoking an unknown token is still 200 (RFC 7009 §2.2).
    assert_eq!(w.revoke("not-a-token").await, 200);
}

#[tokio::test]
async fn metadata_and_protected_resource_metadata_agree_on_the_issuer() {
    let w = world().await;
    let prm: Value = w
        .app
        .client
        .get(
            w.app
                .url("/.well-known/oauth-protected-resource/servers/files/mcp"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let issuer = prm["authorization_servers"][0].as_str().unwrap().to_owned();
    assert_eq!(issuer, w.app.url(""));
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let response = w.app.client.get(w.app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let metadata: Value = response.json().await.unwrap();
        assert_eq!(metadata["issuer"], issuer.as_str(), "{path}");
        assert_eq!(
            metadata["code_challenge_methods_supported"],
            json!(["S256"]),
            "{path}"
        );
        assert_eq!(
            metadata["authorization_endpoint"],
            format!("{issuer}/authorize")
        );
        assert_eq!(metadata["token_endpoint"], format!("{issuer}/token"));
        assert_eq!(
            metadata["registration_endpoint"],
            format!("{issuer}/register")
        );
        assert_eq!(
            metadata["authorization_response_iss_parameter_supported"],
            true
        );
        assert_eq!(metadata["client_id_metadata_document_supported"], true);
    }
    // An unauthenticated MCP request is pointed at that metadata.
    let response = w
        .app
        .post("files", &initialize_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains("resource_metadata=\"")
            && challenge.contains("/.well-known/oauth-protected-resource/servers/files/mcp"),
        "{challenge}"
    );
}

#[tokio::test]
async fn a_rejected_redemption_leaves_the_code_as_it_was() {
    let w = world().await;
    let mut browser = Browser::new(&w.app);
    let code = w.code(&mut browser).await;
    let hash = secret_hash(&code);
    let before = w.app.store.code_get(&hash).await.unwrap().unwrap();
    let files = w.resource("files");
    let Answer { status, body, .. } = w
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", &w.client_id),
            ("code_verifier", "x".repeat(43).as_str()),
            ("resource", &files),
        ])
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    // Nothing was written: no grant, the code not consumed.
    let after = w.app.store.code_get(&hash).await.unwrap().unwrap();
    assert_eq!(after.consumed_at, None);
    assert_eq!(after.grant_id, None);
    assert_eq!(after.expires_at, before.expires_at);
    // The client holding the right verifier still gets its tokens.
    let (status, tokens) = w.exchange(&code).await;
    assert_eq!(status, 200, "{tokens}");
    // A second valid redemption revokes what the first one issued.
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(w.mcp_status("files", &access).await, 200);
    let (status, again) = w.exchange(&code).await;
    assert_eq!(status, 400);
    assert_eq!(again["error"], "invalid_grant");
    assert_eq!(w.mcp_status("files", &access).await, 401);
    let grant = w
        .app
        .store
        .code_get(&hash)
        .await
        .unwrap()
        .unwrap()
        .grant_id
        .unwrap();
    assert!(
        w.app
            .store
            .grant_get(&grant)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
}

/// The claims of a JWT, unverified (the gateway verifies; the test reads).
fn claims_of(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn tokens_say_how_the_person_signed_in() {
    let w = world().await;
    let mut browser = Browser::new(&w.app);
    let code = w.code(&mut browser).await;
    let (_, tokens) = w.exchange(&code).await;
    let claims = claims_of(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(claims["acr"], "pwd");

    // With an authenticator app: the second-factor step comes between sign-in and consent, and
    // the token says both factors were used.
    let user = w.app.store.user_get(&w.user_id).await.unwrap().unwrap();
    let sealer = portcullis_core::crypto::Sealer::generate(&mut rand::rng()).unwrap();
    let secret = portcullis_core::accounts::totp::TotpSecret::generate(&mut rand::rng());
    let enrolled_at = time::OffsetDateTime::now_utc() - time::Duration::minutes(5);
    // Enrolled through the store with a sealer of its own: the pages cannot open this secret,
    // so only a recovery code passes the step.
    let enrolled = portcullis_core::accounts::mfa::enroll_totp(
        w.app.store.as_ref(),
        &sealer,
        &user,
        &secret,
        &secret.code_at(enrolled_at),
        "phone",
        enrolled_at,
        &mut rand::rng(),
    )
    .await
    .unwrap();
    let recovery = enrolled.recovery_codes.unwrap()[0].as_str().to_owned();
    let mut second = Browser::new(&w.app);
    let query = w.authorize_query(&[]);
    let return_to = format!("/authorize?{query}");
    let signed_in = second.sign_in("alice", PASSWORD, Some(&return_to)).await;
    assert!(signed_in.location().contains("/login/mfa?return_to="));
    let step = second.get_url(signed_in.location()).await;
    let passed = second
        .post(
            "/login/mfa",
            &[
                ("csrf_token", &step.csrf()),
                ("code", &recovery),
                ("return_to", &return_to),
            ],
        )
        .await;
    assert_eq!(passed.status, 303, "{}", passed.body);
    let consent = second.get_url(passed.location()).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    let back = w.decide(&mut second, &consent, "allow").await;
    let (_, tokens) = w.exchange(&query_of(&back)("code").unwrap()).await;
    let claims = claims_of(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], "mfa");
}

#[tokio::test]
async fn taking_access_back_on_the_account_page_locks_the_gateway_at_once() {
    let w = world().await;
    let mut browser = Browser::new(&w.app);
    let code = w.code(&mut browser).await;
    let (_, tokens) = w.exchange(&code).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(w.mcp_status("files", &access).await, 200);

    let account = browser.get("/account").await;
    assert!(account.body.contains("Test Client"), "{}", account.body);
    assert!(account.body.contains(&w.resource("files")));
    let revoked = browser
        .post(
            "/account/apps/revoke",
            &[("csrf_token", &account.csrf()), ("client_id", &w.client_id)],
        )
        .await;
    assert_eq!(revoked.status, 303, "{}", revoked.body);
    assert_eq!(w.mcp_status("files", &access).await, 401);
    let (status, body) = w.refresh(&refresh, None).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    let account = browser.get("/account").await;
    assert!(account.body.contains("No application can act for you."));
    // Nothing left to take back.
    let again = browser
        .post(
            "/account/apps/revoke",
            &[("csrf_token", &account.csrf()), ("client_id", &w.client_id)],
        )
        .await;
    assert_eq!(again.status, 404);
}
