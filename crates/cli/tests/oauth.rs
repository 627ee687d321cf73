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

use common::browser::{Browser, Page, create_user};
use common::*;
use portcullis_core::accounts::Password;
use portcullis_core::admin::users::InitialPassword;
use portcullis_core::auth::api_key::secret_hash;
use portcullis_core::config::UpstreamConfig;
use portcullis_store::Store;
use portcullis_testkit::{MockConfig, MockUpstream};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";
/// RFC 7636 appendix B: a verifier and its S256 challenge, computed independently of the code
/// under test.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// An upstream behind Portcullis's own OAuth, with two scopes.
fn protected(name: &str, url: &str) -> UpstreamConfig {
    let mut up = UpstreamConfig::http(name, url);
    up.scopes = vec!["files:read".to_owned(), "files:write".to_owned()];
    up
}

struct World {
    app: App,
    upstream: MockUpstream,
    client_id: String,
    user_id: String,
}

async fn world() -> World {
    let upstream = MockUpstream::start(MockConfig::default()).await.unwrap();
    let app = spawn(vec![
        protected("files", &upstream.url()),
        protected("notes", &upstream.url()),
    ])
    .await;
    create_user(
        &app,
        "alice",
        InitialPassword::Given(Password::new(PASSWORD.to_owned())),
    )
    .await;
    let user_id = app
        .store
        .user_get_by_username("alice")
        .await
        .unwrap()
        .unwrap()
        .id;
    let client_id = register(&app, &[REDIRECT]).await;
    World {
        app,
        upstream,
        client_id,
        user_id,
    }
}

/// Registers a public client by RFC 7591; returns its `client_id`.
async fn register(app: &App, redirect_uris: &[&str]) -> String {
    let response = app
        .client
        .post(app.url("/register"))
        .json(&json!({
            "client_name": "Test Client",
            "redirect_uris": redirect_uris,
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["client_id"].as_str().unwrap().to_owned()
}

impl World {
    fn resource(&self, name: &str) -> String {
        self.app.mcp(name)
    }

    /// The query of an authorization request; `change` sets or (with `None`) drops parameters.
    fn authorize_query(&self, change: &[(&str, Option<&str>)]) -> String {
        let resource = self.resource("files");
        let mut params: Vec<(&str, String)> = vec![
            ("response_type", "code".to_owned()),
            ("client_id", self.client_id.clone()),
            ("redirect_uri", REDIRECT.to_owned()),
            ("code_challenge", CHALLENGE.to_owned()),
            ("code_challenge_method", "S256".to_owned()),
            ("state", "st4te".to_owned()),
            ("scope", "files:read".to_owned()),
            ("resource", resource),
        ];
        for (name, value) in change {
            params.retain(|(n, _)| n != name);
            if let Some(value) = value {
                params.push((name, (*value).to_owned()));
            }
        }
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish()
    }

    /// Drives a browser through sign-in (unless it is signed in) to the consent page of an
    /// authorization request.
    async fn consent_page(&self, browser: &mut Browser<'_>, query: &str) -> Page {
        let first = browser.get(&format!("/authorize?{query}")).await;
        if first.status == 200 {
            return first;
        }
        assert_eq!(first.status, 303, "{}", first.body);
        assert!(
            first.location().contains("/login"),
            "not sent to sign in: {}",
            first.location()
        );
        let return_to = format!("/authorize?{query}");
        let signed_in = browser.sign_in("alice", PASSWORD, Some(&return_to)).await;
        assert_eq!(signed_in.status, 303, "{}", signed_in.body);
        let back = signed_in.location().to_owned();
        assert!(back.contains("/authorize?"), "{back}");
        let path = back.strip_prefix(&self.app.url("")).unwrap_or(&back);
        let consent = browser.get(path).await;
        assert_eq!(consent.status, 200, "{}", consent.body);
        consent
    }

    /// Allows or denies on the consent page; returns the redirect back to the client, parsed.
    async fn decide(&self, browser: &mut Browser<'_>, consent: &Page, decision: &str) -> url::Url {
        let answer = browser
            .post(
                "/authorize",
                &[
                    ("csrf_token", &consent.csrf()),
                    ("request", &html_unescape(&consent.field("request"))),
                    ("decision", decision),
                ],
            )
            .await;
        assert_eq!(answer.status, 303, "{}", answer.body);
        url::Url::parse(answer.location()).unwrap()
    }

    /// The whole authorization-code flow; returns the code.
    async fn code(&self, browser: &mut Browser<'_>) -> String {
        let consent = self.consent_page(browser, &self.authorize_query(&[])).await;
        let back = self.decide(browser, &consent, "allow").await;
        assert!(back.as_str().starts_with(REDIRECT), "{back}");
        let q = query_of(&back);
        assert_eq!(q("state").as_deref(), Some("st4te"));
        assert_eq!(q("iss").as_deref(), Some(self.app.url("").as_str()));
        q("code").expect("a code")
    }

    async fn token(&self, form: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, Value) {
        let response = self
            .app
            .client
            .post(self.app.url("/token"))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.json().await.unwrap())
    }

    async fn exchange(&self, code: &str) -> (u16, Value) {
        let resource = self.resource("files");
        let (status, headers, body) = self
            .token(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("client_id", &self.client_id),
                ("code_verifier", VERIFIER),
                ("resource", &resource),
            ])
            .await;
        assert_eq!(headers["cache-control"], "no-store");
        (status, body)
    }

    async fn refresh(&self, refresh_token: &str, scope: Option<&str>) -> (u16, Value) {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", self.client_id.as_str()),
        ];
        form.extend(scope.map(|scope| ("scope", scope)));
        let (status, _, body) = self.token(&form).await;
        (status, body)
    }

    /// RFC 7009 revocation by the public client; returns the HTTP status.
    async fn revoke(&self, token: &str) -> u16 {
        self.app
            .client
            .post(self.app.url("/revoke"))
            .form(&[("token", token), ("client_id", &self.client_id)])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Initializes an MCP session on `name` with `token`; returns the HTTP status.
    async fn mcp_status(&self, name: &str, token: &str) -> u16 {
        self.app
            .post(name, &initialize_body())
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

fn query_of(url: &url::Url) -> impl Fn(&str) -> Option<String> + '_ {
    move |name| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// The hidden field carries the request HTML-escaped (named and numeric character references).
fn html_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let end = rest[at..].find(';').map(|e| at + e).unwrap();
        let entity = &rest[at + 1..end];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let number = entity.strip_prefix('#').unwrap();
                let code = match number.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).unwrap(),
                    None => number.parse().unwrap(),
                };
                char::from_u32(code).unwrap()
            }
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

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
        let (status, _, body) = w.token(&form).await;
        assert_eq!(body["error"], error, "{what}: {body}");
        assert!(status == 400 || status == 401, "{what}: {status}");
    }
    // A token request without PKCE's verifier is refused too.
    let code = w.code(&mut browser).await;
    let (status, _, body) = w
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
    // Other errors, with a trusted client and redirect URI, go back to the client.
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
    let mut browser = Browser::new(&w.app);
    let page = browser
        .get(&format!(
            "/authorize?{}",
            w.authorize_query(&[("prompt", Some("none"))])
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
    let (status, _, body) = w
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
