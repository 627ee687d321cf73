//! Attacks on the token, revocation and introspection endpoints and on the MCP servers behind
//! them, one test per requirement of `security-and-reliability.md` §2.2 (authorization codes),
//! §2.3 (PKCE at the token request), §2.4 (refresh tokens), §2.5 (access tokens, audience and
//! resource) and §2.9 (endpoint hygiene). Each asserts the exact answer (status, `error`,
//! `WWW-Authenticate`, `Cache-Control`) and that a refused request left the store as it was. The
//! map from requirement to test is `docs/design/oauth-attack-tests.md`.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::browser::Browser;
use common::oauth::*;
use portcullis_core::auth::api_key::secret_hash;
use portcullis_core::oauth::pkce;
use portcullis_store::{Store, UserStatus};
use serde_json::{Value, json};

/// The claims of a JWT, unverified (the test reads what it was given).
fn claims_of(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn s(value: &Value) -> &str {
    value.as_str().unwrap()
}

/// A second public client, registered like the world's.
async fn other_client(w: &World) -> String {
    register(&w.app, &[REDIRECT]).await
}

/// A confidential client registered by RFC 7591 (`client_secret_basic`); returns its id and
/// secret.
async fn confidential_client(w: &World) -> (String, String) {
    let body = register_client(
        &w.app,
        &json!({
            "client_name": "Backend",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
        }),
    )
    .await;
    (
        s(&body["client_id"]).to_owned(),
        s(&body["client_secret"]).to_owned(),
    )
}

/// A confidential client registered by RFC 7591 and a code alice approved for it.
async fn confidential_code(w: &World) -> (String, String, String) {
    let (client, secret) = confidential_client(w).await;
    let mut browser = Browser::new(&w.app);
    let code = w
        .code_for(
            &mut browser,
            &w.authorize_query(&[("client_id", Some(&client))]),
        )
        .await;
    (client, secret, code)
}

/// Disables alice's account, as `portcullis admin user disable` does (from another process).
async fn disable_alice(w: &World) {
    portcullis_core::admin::users::set_status(
        w.app.store.as_ref(),
        &portcullis_core::audit::AuditContext::off(),
        "alice",
        UserStatus::Disabled,
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
}

// §2.2 C1: a code gives tokens once; a second valid redemption is refused and revokes what the
// first one gave.
#[tokio::test]
async fn c1_a_valid_code_replay_is_refused_and_revokes_the_first_redemptions_tokens() {
    let w = world().await;
    let mut browser = Browser::new(&w.app);
    let code = w.code(&mut browser).await;
    let (status, tokens) = w.exchange(&code).await;
    assert_eq!(status, 200, "{tokens}");
    let access = s(&tokens["access_token"]).to_owned();
    let refresh = s(&tokens["refresh_token"]).to_owned();
    assert_eq!(w.mcp_status("files", &access).await, 200);

    let replay = w.exchange_with(&code, &[]).await;
    replay.assert_error(400, "invalid_grant", "a replayed code");
    assert_eq!(
        w.mcp_status("files", &access).await,
        401,
        "the first access token"
    );
    let (status, body) = w.refresh(&refresh, None).await;
    assert_eq!(
        (status, s(&body["error"])),
        (400, "invalid_grant"),
        "{body}"
    );
    let stored = w
        .app
        .store
        .code_get(&secret_hash(&code))
        .await
        .unwrap()
        .unwrap();
    let grant = w
        .app
        .store
        .grant_get(stored.grant_id.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(grant.revoked_at.is_some(), "{grant:?}");
}

// §2.2 C1 (OAuth 2.1 §7.5.2): a replay with wrong parameters revokes nothing, so nobody can log a
// victim out by replaying a code they intercepted.
#[tokio::test]
async fn c1_an_invalid_code_replay_revokes_nothing() {
    let w = world().await;
    let mut browser = Browser::new(&w.app);
    let code = w.code(&mut browser).await;
    let (_, tokens) = w.exchange(&code).await;
    let access = s(&tokens["access_token"]).to_owned();
    let other = other_client(&w).await;
    let notes = w.resource("notes");
    let before = w.snapshot();
    let wrong = "x".repeat(43);
    let cases: Vec<(Vec<Param>, u16, &str)> = vec![
        (vec![("code_verifier", Some(&wrong))], 400, "invalid_grant"),
        (
            vec![("redirect_uri", Some("http://127.0.0.1:9/other"))],
            400,
            "invalid_grant",
        ),
        (vec![("client_id", Some(&other))], 400, "invalid_grant"),
        (vec![("client_id", Some("nobody"))], 401, "invalid_client"),
        (vec![("resource", Some(&notes))], 400, "invalid_target"),
        (vec![("code_verifier", None)], 400, "invalid_request"),
    ];
    for (change, status, error) in cases {
        let answer = w.exchange_with(&code, &change).await;
        answer.assert_error(status, error, &format!("{change:?}"));
    }
    assert_unchanged(&w.app, &before, "invalid replays");
    assert_eq!(w.mcp_status("files", &access).await, 200);
}

// §2.2 C2: codes live one minute by default and are refused once expired, without being
// consumed.
#[tokio::test]
async fn c2_codes_expire_after_their_short_lifetime() {
    let w = world().await;
    let mut browser = Browser::new(&w.app);
    let code = w.code(&mut browser).await;
    let row = w
        .app
        .store
        .code_get(&secret_hash(&code))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.expires_at - row.created_at, time::Duration::minutes(1));

    let w = world_with(|c| c.tokens.authorization_code_ttl = Duration::from_secs(1)).await;
    let mut browser = Browser::new(&w.app);
    let code = w.code(&mut browser).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = w.snapshot();
    let answer = w.exchange_with(&code, &[]).await;
    answer.assert_error(400, "invalid_grant", "an expired code");
    assert!(
        s(&answer.body["error_description"]).contains("expired"),
        "{}",
        answer.body
    );
    assert_unchanged(&w.app, &before, "redeeming an expired code");
}

// §2.2 C3: a code is bound to its client, redirect URI, PKCE challenge, resource, scopes and
// person; the token request cannot change any of them.
#[tokio::test]
async fn c3_a_code_is_bound_to_everything_its_request_said() {
    let w = world().await;
    let two = register(&w.app, &[REDIRECT, "http://127.0.0.1:9/second"]).await;
    let mut browser = Browser::new(&w.app);
    let query = w.authorize_query(&[("client_id", Some(&two))]);
    let code = w.code_for(&mut browser, &query).await;
    let other = other_client(&w).await;
    let notes = w.resource("notes");
    let files_slash = format!("{}/", w.resource("files"));
    let before = w.snapshot();
    let cases: Vec<(Vec<Param>, &str)> = vec![
        (vec![("client_id", Some(&w.client_id))], "invalid_grant"),
        (vec![("client_id", Some(&other))], "invalid_grant"),
        (
            vec![
                ("client_id", Some(&two)),
                ("redirect_uri", Some("http://127.0.0.1:9/second")),
            ],
            "invalid_grant",
        ),
        (
            vec![
                ("client_id", Some(&two)),
                ("redirect_uri", Some("http://127.0.0.1:10/callback")),
            ],
            "invalid_grant",
        ),
        (
            vec![("client_id", Some(&two)), ("redirect_uri", None)],
            "invalid_request",
        ),
        (
            vec![
                ("client_id", Some(&two)),
                ("code_verifier", Some(CHALLENGE)),
            ],
            "invalid_grant",
        ),
        (
            vec![("client_id", Some(&two)), ("resource", Some(&notes))],
            "invalid_target",
        ),
        (
            vec![
                ("client_id", Some(&two)),
                ("resource", Some("https://attacker.example/mcp")),
            ],
            "invalid_target",
        ),
    ];
    for (change, error) in cases {
        let answer = w.exchange_with(&code, &change).await;
        answer.assert_error(400, error, &format!("{change:?}"));
    }
    assert_unchanged(&w.app, &before, "mismatched redemptions");
    // The right request works; asking for more scopes or another resource form changes nothing.
    let answer = w
        .exchange_with(
            &code,
            &[
                ("client_id", Some(&two)),
                ("scope", Some("files:read files:write")),
                ("resource", Some(&files_slash)),
            ],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["scope"], "files:read");
    let claims = claims_of(s(&answer.body["access_token"]));
    assert_eq!(claims["sub"], w.user_id.as_str());
    assert_eq!(claims["client_id"], two.as_str());
    assert_eq!(claims["aud"], w.resource("files"));
    assert_eq!(claims["scope"], "files:read");
}

// §2.2 C4: codes, refresh tokens and token ids carry at least 256 random bits.
#[tokio::test]
async fn c4_codes_and_tokens_cannot_be_guessed() {
    let w = world().await;
    let mut seen = HashSet::new();
    let mut browser = Browser::new(&w.app);
    for _ in 0..3 {
        let code = w.code(&mut browser).await;
        let (status, tokens) = w.exchange(&code).await;
        assert_eq!(status, 200);
        let refresh = s(&tokens["refresh_token"]).to_owned();
        let jti = s(&claims_of(s(&tokens["access_token"]))["jti"]).to_owned();
        for secret in [&code, &refresh, &jti] {
            // 43 base64url characters: 258 bits.
            assert!(secret.len() >= 43, "{secret}");
            assert!(
                secret
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            );
            assert!(seen.insert(secret.clone()), "{secret} repeated");
        }
    }
    // Guessing is answered like any unknown code, and stores nothing.
    let before = w.snapshot();
    for guess in ["AAAA", &"A".repeat(43), "", "null"] {
        let answer = w.exchange_with(guess, &[]).await;
        let expected = if guess.is_empty() {
            "invalid_request"
        } else {
            "invalid_grant"
        };
        answer.assert_error(400, expected, guess);
    }
    assert_unchanged(&w.app, &before, "guessed codes");
}

// §2.2 C5: codes and refresh tokens are stored as SHA-256 hashes only.
#[tokio::test]
async fn c5_codes_and_refresh_tokens_are_kept_only_as_hashes() {
    let w = world().await;
    let (client, secret, code) = confidential_code(&w).await;
    let files = w.resource("files");
    let answer = post_form(
        &w.app,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("resource", &files),
        ],
        &[("authorization", &basic(&client, &secret))],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let refresh = s(&answer.body["refresh_token"]).to_owned();
    let snapshot = w.app.store.authorization_snapshot();
    let everything = format!("{snapshot:?}");
    for secret in [&code, &refresh, &secret] {
        assert!(!everything.contains(secret.as_str()));
    }
    assert!(
        snapshot
            .codes
            .iter()
            .any(|c| c.code_hash == secret_hash(&code))
    );
    assert!(
        snapshot
            .refresh_tokens
            .iter()
            .any(|t| t.token_hash == secret_hash(&refresh))
    );
    let stored = snapshot
        .clients
        .iter()
        .find(|c| c.client_id == client)
        .unwrap();
    assert_eq!(stored.secret_hash, Some(secret_hash(&secret)));
}

// §2.3 P1, P2: the verifier is required, checked against the challenge with S256 only, and a
// refused attempt leaves the code redeemable.
#[tokio::test]
async fn p2_the_code_verifier_is_required_and_must_match_with_s256() {
    let w = world().await;
    let mut browser = Browser::new(&w.app);
    let code = w.code(&mut browser).await;
    let before = w.snapshot();
    let short = &VERIFIER[..42];
    let long = "a".repeat(129);
    let spaced = format!("{VERIFIER} ");
    let cases: Vec<(Option<&str>, &str)> = vec![
        (None, "invalid_request"),
        // `plain`: the challenge itself as the verifier.
        (Some(CHALLENGE), "invalid_grant"),
        (Some(short), "invalid_grant"),
        (Some(&long), "invalid_grant"),
        (Some(&spaced), "invalid_grant"),
        (
            Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK"),
            "invalid_grant",
        ),
    ];
    for (verifier, error) in cases {
        let answer = w.exchange_with(&code, &[("code_verifier", verifier)]).await;
        answer.assert_error(400, error, &format!("{verifier:?}"));
    }
    assert_unchanged(&w.app, &before, "wrong verifiers");
    assert_eq!(pkce::challenge_of(VERIFIER), CHALLENGE);
    let (status, _) = w.exchange(&code).await;
    assert_eq!(status, 200);
}

// §2.4 T1, T2: refresh tokens rotate; a spent one presented again revokes the whole family —
// the newest refresh token and every access token of the grant.
#[tokio::test]
async fn t2_a_spent_refresh_token_revokes_its_whole_family() {
    let w = world_with(|c| c.tokens.refresh_token_retry_grace = Duration::from_secs(1)).await;
    let tokens = w.tokens().await;
    let first = s(&tokens["refresh_token"]).to_owned();
    let (status, second) = w.refresh(&first, None).await;
    assert_eq!(status, 200, "{second}");
    let second_refresh = s(&second["refresh_token"]).to_owned();
    assert_ne!(second_refresh, first);
    // The successor is used, so a retry of the first is no longer possible.
    let (status, third) = w.refresh(&second_refresh, None).await;
    assert_eq!(status, 200, "{third}");
    let newest = s(&third["refresh_token"]).to_owned();
    let access = s(&third["access_token"]).to_owned();
    assert_eq!(w.mcp_status("files", &access).await, 200);

    let reuse = w.refresh_with(&first, &[]).await;
    reuse.assert_error(400, "invalid_grant", "a spent refresh token");
    let before = w.snapshot();
    assert!(
        before.grants.iter().all(|g| g.revoked_at.is_some()),
        "{:?}",
        before.grants
    );
    for token in [&second_refresh, &newest] {
        let answer = w.refresh_with(token, &[]).await;
        answer.assert_error(400, "invalid_grant", "the family after reuse");
    }
    assert_eq!(w.mcp_status("files", &access).await, 401);
    assert_eq!(w.mcp_status("files", s(&tokens["access_token"])).await, 401);
    assert_unchanged(&w.app, &before, "refreshing a revoked family");
}

// §2.4 T3: a refresh whose answer was lost can be retried once with the previous token while the
// successor is unused; the unused successor is withdrawn; any further reuse revokes the family.
#[tokio::test]
async fn t3_a_lost_refresh_answer_can_be_retried_once() {
    let w = world().await;
    let tokens = w.tokens().await;
    let first = s(&tokens["refresh_token"]).to_owned();
    let (status, lost) = w.refresh(&first, None).await;
    assert_eq!(status, 200);
    let lost_refresh = s(&lost["refresh_token"]).to_owned();
    let (status, retried) = w.refresh(&first, None).await;
    assert_eq!(status, 200, "the retry: {retried}");
    let kept = s(&retried["refresh_token"]).to_owned();
    assert_ne!(kept, lost_refresh);
    let withdrawn = w.refresh_with(&lost_refresh, &[]).await;
    withdrawn.assert_error(400, "invalid_grant", "the withdrawn successor");
    // A second retry is a reuse.
    let again = w.refresh_with(&first, &[]).await;
    again.assert_error(400, "invalid_grant", "a second retry");
    let (status, after) = w.refresh(&kept, None).await;
    assert_eq!(
        (status, s(&after["error"])),
        (400, "invalid_grant"),
        "{after}"
    );
    assert_eq!(
        w.mcp_status("files", s(&retried["access_token"])).await,
        401
    );
}

// §2.4 T4: a refresh may narrow the scope, never widen it; the grant keeps its original scope.
#[tokio::test]
async fn t4_a_refresh_never_adds_scopes() {
    let w = world().await;
    let tokens = w
        .tokens_for(&[("scope", Some("files:read files:write"))])
        .await;
    let refresh = s(&tokens["refresh_token"]).to_owned();
    let before = w.snapshot();
    for scope in [
        "files:read files:write openid",
        "files:admin",
        "files:read notes:read",
        "\u{1}",
    ] {
        let answer = w.refresh_with(&refresh, &[("scope", Some(scope))]).await;
        answer.assert_error(400, "invalid_scope", scope);
    }
    assert_unchanged(&w.app, &before, "widening refreshes");
    let (status, narrowed) = w.refresh(&refresh, Some("files:read")).await;
    assert_eq!(status, 200, "{narrowed}");
    assert_eq!(narrowed["scope"], "files:read");
    assert_eq!(
        claims_of(s(&narrowed["access_token"]))["scope"],
        "files:read"
    );
    // The next refresh may ask for the original scope again: the grant kept it.
    let (status, full) = w.refresh(s(&narrowed["refresh_token"]), None).await;
    assert_eq!(status, 200, "{full}");
    assert_eq!(full["scope"], "files:read files:write");
}

// §2.4 T5: a refresh token works only for the client it was issued to.
#[tokio::test]
async fn t5_a_refresh_token_works_only_for_its_client() {
    let w = world().await;
    let tokens = w.tokens().await;
    let refresh = s(&tokens["refresh_token"]).to_owned();
    let other = other_client(&w).await;
    let (confidential, secret) = confidential_client(&w).await;
    let before = w.snapshot();
    let answer = w
        .refresh_with(&refresh, &[("client_id", Some(&other))])
        .await;
    answer.assert_error(400, "invalid_grant", "another public client");
    let answer = post_form(
        &w.app,
        "/token",
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        &[("authorization", &basic(&confidential, &secret))],
    )
    .await;
    answer.assert_error(400, "invalid_grant", "a confidential client");
    let answer = w.refresh_with(&refresh, &[("client_id", None)]).await;
    answer.assert_error(401, "invalid_client", "no client at all");
    assert_unchanged(&w.app, &before, "refreshes by other clients");
    let (status, _) = w.refresh(&refresh, None).await;
    assert_eq!(status, 200);
}

// §2.4 T6: refresh tokens die when idle and at the grant's absolute lifetime, and with a
// disabled account.
#[tokio::test]
async fn t6_refresh_tokens_expire_when_idle_at_the_absolute_limit_and_with_their_user() {
    let w = world_with(|c| c.tokens.refresh_token_idle_ttl = Duration::from_secs(1)).await;
    let tokens = w.tokens().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = w.snapshot();
    let idle = w.refresh_with(s(&tokens["refresh_token"]), &[]).await;
    idle.assert_error(400, "invalid_grant", "an idle refresh token");
    assert_unchanged(&w.app, &before, "an idle refresh");

    let w = world_with(|c| {
        c.tokens.refresh_token_idle_ttl = Duration::from_secs(3);
        c.tokens.refresh_token_absolute_ttl = Duration::from_secs(3);
    })
    .await;
    let tokens = w.tokens().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, kept) = w.refresh(s(&tokens["refresh_token"]), None).await;
    assert_eq!(status, 200, "{kept}");
    // Never past the grant's absolute end.
    let claims = claims_of(s(&kept["access_token"]));
    let grant = w.snapshot().grants.pop().unwrap();
    assert!(claims["exp"].as_i64().unwrap() <= grant.expires_at.unix_timestamp());
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let before = w.snapshot();
    let late = w.refresh_with(s(&kept["refresh_token"]), &[]).await;
    late.assert_error(400, "invalid_grant", "past the absolute lifetime");
    assert_unchanged(&w.app, &before, "a refresh past the absolute lifetime");

    let w = world().await;
    let tokens = w.tokens().await;
    disable_alice(&w).await;
    let disabled = w.refresh_with(s(&tokens["refresh_token"]), &[]).await;
    disabled.assert_error(400, "invalid_grant", "a disabled user");
    assert!(w.snapshot().grants.iter().all(|g| g.revoked_at.is_some()));
}

// §2.4 T7: a refresh token is for the resource it was issued for.
#[tokio::test]
async fn t7_a_refresh_token_is_bound_to_its_resource() {
    let w = world().await;
    let tokens = w.tokens().await;
    let refresh = s(&tokens["refresh_token"]).to_owned();
    let notes = w.resource("notes");
    let before = w.snapshot();
    for resource in [notes.as_str(), "https://attacker.example/mcp", "not a url"] {
        let answer = w
            .refresh_with(&refresh, &[("resource", Some(resource))])
            .await;
        answer.assert_error(400, "invalid_target", resource);
    }
    assert_unchanged(&w.app, &before, "refreshes for other resources");
    let (status, refreshed) = w.refresh(&refresh, None).await;
    assert_eq!(status, 200);
    let access = s(&refreshed["access_token"]);
    assert_eq!(claims_of(access)["aud"], w.resource("files"));
    assert_eq!(w.mcp_status("notes", access).await, 401);
}

/// The `WWW-Authenticate` of an MCP answer.
fn challenge(response: &reqwest::Response) -> String {
    response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned()
}

// §2.5 A1, A2: a token is accepted only by the MCP server it was issued for and only until it
// expires; the upstream never sees it.
#[tokio::test]
async fn a1_a_token_works_only_at_its_own_mcp_server_and_never_travels_upstream() {
    let w = world().await;
    let tokens = w.tokens().await;
    let access = s(&tokens["access_token"]).to_owned();
    let calls = w.upstream.requests().len();
    let elsewhere = w.mcp_answer("notes", &access).await;
    assert_eq!(elsewhere.status(), 401);
    let header = challenge(&elsewhere);
    assert!(header.contains("error=\"invalid_token\""), "{header}");
    assert!(
        header.contains("/.well-known/oauth-protected-resource/servers/notes/mcp"),
        "{header}"
    );
    assert_eq!(w.upstream.requests().len(), calls, "an upstream was called");
    assert_eq!(w.mcp_status("files", &access).await, 200);
    let seen = w.upstream.requests().pop().unwrap();
    assert_eq!(seen.header("authorization"), None);
    assert!(!format!("{:?}", seen.headers).contains(&access));

    // An expired token (past the 30 s leeway) is refused: `a4_…` signs one.
}

// §2.5 A3: the resource is required at the authorization request and must name an MCP server
// here; client credentials need it too.
#[tokio::test]
async fn a3_the_resource_must_name_one_of_these_mcp_servers() {
    let w = world().await;
    let mut browser = w.signed_in().await;
    let before = w.snapshot();
    let files = w.resource("files");
    let fragment = format!("{files}#x");
    let user = files.replace("http://", "http://u:p@");
    let parent = w.app.url("/servers/files");
    for resource in [
        None,
        Some("https://attacker.example/servers/files/mcp"),
        Some(fragment.as_str()),
        Some(user.as_str()),
        Some(parent.as_str()),
        Some("/servers/files/mcp"),
        Some("urn:files"),
    ] {
        let page = browser
            .get(&format!(
                "/authorize?{}",
                w.authorize_query(&[("resource", resource)])
            ))
            .await;
        w.assert_error_redirect(&page, REDIRECT, "invalid_target", &format!("{resource:?}"));
    }
    assert_unchanged(&w.app, &before, "bad resources");
    let (client, secret) = first_party_client(&w.app, &[], true, &["client_credentials"]).await;
    let secret = secret.unwrap();
    for resource in [None, Some("https://attacker.example/mcp")] {
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend(resource.map(|r| ("resource", r)));
        let answer = post_form(
            &w.app,
            "/token",
            &form,
            &[("authorization", &basic(&client, &secret))],
        )
        .await;
        let error = if resource.is_some() {
            "invalid_target"
        } else {
            "invalid_request"
        };
        answer.assert_error(400, error, &format!("client credentials {resource:?}"));
    }
}

// §2.5 A4: only `at+jwt` tokens with every RFC 9068 claim are access tokens: an ID token, a token
// of another type, or one missing or mistyping a claim is refused even with a valid signature.
#[tokio::test]
async fn a4_only_complete_at_jwt_tokens_are_accepted() {
    let w = world().await;
    let tokens = w.tokens_for(&[("scope", Some("openid files:read"))]).await;
    let id_token = s(&tokens["id_token"]).to_owned();
    let calls = w.upstream.requests().len();
    assert_eq!(w.mcp_status("files", &id_token).await, 401, "an ID token");

    let now = time::OffsetDateTime::now_utc();
    let good = json!({
        "iss": w.issuer(),
        "aud": w.resource("files"),
        "sub": w.user_id,
        "client_id": w.client_id,
        "iat": now.unix_timestamp(),
        "exp": now.unix_timestamp() + 300,
        "jti": "forged-jti-forged-jti-forged-jti-forged-jti",
        "scope": "files:read",
    });
    let ring = w.app.keys.current();
    let sign = |claims: &Value, typ: &str| ring.sign(claims, typ, now).unwrap();
    assert_eq!(
        w.mcp_status("files", &sign(&good, "at+jwt")).await,
        200,
        "the control"
    );
    let calls_after_control = w.upstream.requests().len();
    assert_eq!(calls_after_control, calls + 1);
    for typ in ["JWT", "jwt", "application/jwt", "id_token+jwt", "at+jwt+x"] {
        assert_eq!(
            w.mcp_status("files", &sign(&good, typ)).await,
            401,
            "typ {typ}"
        );
    }
    for claim in ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"] {
        let mut claims = good.clone();
        claims.as_object_mut().unwrap().remove(claim);
        let answer = w.mcp_answer("files", &sign(&claims, "at+jwt")).await;
        assert_eq!(answer.status(), 401, "without {claim}");
        assert!(
            challenge(&answer).contains("invalid_token"),
            "without {claim}"
        );
    }
    for (claim, value) in [
        ("exp", json!(now.unix_timestamp().to_string())),
        ("iat", json!("yesterday")),
        ("aud", json!(7)),
        ("sub", json!(["alice"])),
        ("client_id", json!({"id": "x"})),
        ("jti", json!(1)),
        ("iss", json!([w.issuer()])),
        ("exp", json!(now.unix_timestamp() - 3600)),
        ("iat", json!(now.unix_timestamp() + 3600)),
    ] {
        let mut claims = good.clone();
        claims[claim] = value.clone();
        assert_eq!(
            w.mcp_status("files", &sign(&claims, "at+jwt")).await,
            401,
            "{claim} = {value}"
        );
    }
    assert_eq!(
        w.upstream.requests().len(),
        calls_after_control,
        "an upstream was called"
    );
}

// §2.5 A5: a token in the URI query is refused outright, even beside a good header.
#[tokio::test]
async fn a5_an_access_token_in_the_query_string_is_refused() {
    let w = world().await;
    let tokens = w.tokens().await;
    let access = s(&tokens["access_token"]).to_owned();
    let calls = w.upstream.requests().len();
    for with_header in [false, true] {
        let mut request = w
            .app
            .client
            .post(format!("{}?access_token={access}", w.resource("files")))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(common::initialize_body().to_string());
        if with_header {
            request = request.bearer_auth(&access);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), 401, "header too: {with_header}");
        let header = challenge(&answer);
        assert!(header.contains("error=\"invalid_request\""), "{header}");
        assert!(header.contains("resource_metadata="), "{header}");
    }
    assert_eq!(w.upstream.requests().len(), calls);
}

// §2.5 A6: no token is a 401 whose challenge points at the resource metadata and names no error;
// a bad token says `invalid_token`.
#[tokio::test]
async fn a6_refusals_carry_the_bearer_challenge_of_rfc_6750_and_9728() {
    let w = world().await;
    let metadata = format!(
        "resource_metadata=\"{}/.well-known/oauth-protected-resource/servers/files/mcp\"",
        w.issuer()
    );
    let none = w
        .app
        .post("files", &common::initialize_body())
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 401);
    let header = challenge(&none);
    assert!(header.starts_with("Bearer "), "{header}");
    assert!(header.contains(&metadata), "{header}");
    assert!(!header.contains("error="), "{header}");
    for bad in ["not-a-token", "a.b.c", "Zm9v"] {
        let answer = w.mcp_answer("files", bad).await;
        assert_eq!(answer.status(), 401, "{bad}");
        let header = challenge(&answer);
        assert!(
            header.contains("error=\"invalid_token\"") && header.contains(&metadata),
            "{header}"
        );
    }
    let twice = w
        .app
        .post("files", &common::initialize_body())
        .header("authorization", "Bearer a")
        .header("authorization", "Bearer b")
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), 401);
    assert!(challenge(&twice).contains("error=\"invalid_request\""));
}

// §2.5 A7: the upstream learns the person by the issuer's immutable id, never by a name or an
// email, and another account with the same username is another person.
#[tokio::test]
async fn a7_the_person_is_identified_by_the_issuers_immutable_id() {
    let w = world().await;
    let tokens = w.tokens().await;
    let access = s(&tokens["access_token"]).to_owned();
    assert_eq!(w.mcp_status("files", &access).await, 200);
    let seen = w.upstream.requests().pop().unwrap();
    assert_eq!(
        seen.header("x-portcullis-user"),
        Some(format!("portcullis:{}", w.user_id).as_str())
    );
    assert_eq!(claims_of(&access)["sub"], w.user_id.as_str());
    assert_eq!(claims_of(&access)["iss"], w.issuer());
    // A token that claims alice's username and email under another subject is someone else.
    let now = time::OffsetDateTime::now_utc();
    let impostor = json!({
        "iss": w.issuer(), "aud": w.resource("files"), "sub": "someone-else",
        "client_id": w.client_id, "iat": now.unix_timestamp(), "exp": now.unix_timestamp() + 60,
        "jti": "impostor-impostor-impostor-impostor-impostor",
        "preferred_username": "alice", "email": "alice@example.com", "email_verified": true,
    });
    let forged = w.app.keys.current().sign(&impostor, "at+jwt", now).unwrap();
    assert_eq!(w.mcp_status("files", &forged).await, 200);
    let seen = w.upstream.requests().pop().unwrap();
    assert_eq!(
        seen.header("x-portcullis-user"),
        Some("portcullis:someone-else")
    );
}

// §2.5 A8: disabling an account stops its access tokens at the next request (on every replica
// within a second), not when they expire.
#[tokio::test]
async fn a8_a_disabled_accounts_tokens_stop_at_once() {
    let w = world().await;
    portcullis_server::spawn_revocation_watch(
        w.app.gateway.clone(),
        w.app.store.clone(),
        std::sync::Arc::new(portcullis_store::ChangeSignals::default()),
        std::time::Duration::from_secs(1),
    );
    let tokens = w.tokens().await;
    let access = s(&tokens["access_token"]).to_owned();
    assert_eq!(w.mcp_status("files", &access).await, 200);
    disable_alice(&w).await;
    let mut status = 200;
    for _ in 0..30 {
        status = w.mcp_status("files", &access).await;
        if status == 401 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 401, "the disabled account's token still works");
}

// §2.9 H1: a parameter given twice makes the whole request invalid, at every endpoint, and a
// refused redemption does not consume the code.
#[tokio::test]
async fn h1_repeated_parameters_refuse_the_request_everywhere() {
    let w = world().await;
    let mut browser = Browser::new(&w.app);
    let code = w.code(&mut browser).await;
    let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let base = format!(
        "grant_type=authorization_code&code={}&redirect_uri={}&client_id={}&code_verifier={VERIFIER}&resource={}",
        enc(&code),
        enc(REDIRECT),
        enc(&w.client_id),
        enc(&w.resource("files"))
    );
    let before = w.snapshot();
    for repeat in [
        "grant_type=authorization_code".to_owned(),
        format!("code={}", enc(&code)),
        format!("code={}", enc("other")),
        "code=".to_owned(),
        format!("redirect_uri={}", enc(REDIRECT)),
        format!("client_id={}", enc(&w.client_id)),
        format!("code_verifier={VERIFIER}"),
        format!("resource={}", enc(&w.resource("notes"))),
    ] {
        let answer = post_raw(&w.app, "/token", &format!("{base}&{repeat}")).await;
        answer.assert_error(400, "invalid_request", &repeat);
    }
    assert_unchanged(&w.app, &before, "repeated token parameters");
    let tokens = w.tokens().await;
    let refresh = s(&tokens["refresh_token"]);
    let before_revoke = w.snapshot();
    let answer = post_raw(
        &w.app,
        "/revoke",
        &format!(
            "token={}&token={}&client_id={}",
            enc(refresh),
            enc(refresh),
            enc(&w.client_id)
        ),
    )
    .await;
    answer.assert_error(400, "invalid_request", "/revoke");
    let answer = post_raw(
        &w.app,
        "/introspect",
        &format!("token={0}&token={0}", enc(refresh)),
    )
    .await;
    answer.assert_error(400, "invalid_request", "/introspect");
    assert_unchanged(
        &w.app,
        &before_revoke,
        "repeated revocation and introspection",
    );
    // At the authorization endpoint a repeated parameter is an error page: no redirect is trusted.
    let mut signed = w.signed_in().await;
    let snapshot = w.snapshot();
    for repeat in [
        "state=again",
        "redirect_uri=https%3A%2F%2Fattacker.example%2F",
        "client_id=x",
        "scope=files%3Aread",
    ] {
        let page = signed
            .get(&format!("/authorize?{}&{repeat}", w.authorize_query(&[])))
            .await;
        assert_error_page(&page, 400, "more than once", repeat);
    }
    assert_unchanged(&w.app, &snapshot, "repeated authorization parameters");
    // The code was never consumed by the refused attempts.
    let (status, _) = w.exchange(&code).await;
    assert_eq!(status, 200);
}

// §2.9 H2: token, revocation and introspection answers, success or error, are never cached.
#[tokio::test]
async fn h2_token_answers_are_never_cached() {
    let w = world().await;
    let tokens = w.tokens().await;
    let (client, secret) = first_party_client(&w.app, &[], true, &["client_credentials"]).await;
    let auth = basic(&client, &secret.unwrap());
    let refresh = s(&tokens["refresh_token"]).to_owned();
    let answers = vec![
        ("refresh", w.refresh_with(&refresh, &[]).await),
        ("token error", w.token(&[("grant_type", "password")]).await),
        (
            "introspect",
            post_form(
                &w.app,
                "/introspect",
                &[("token", &refresh)],
                &[("authorization", &auth)],
            )
            .await,
        ),
        (
            "introspect error",
            post_form(&w.app, "/introspect", &[("token", "x")], &[]).await,
        ),
        (
            "revoke",
            post_form(
                &w.app,
                "/revoke",
                &[("token", "x")],
                &[("authorization", &auth)],
            )
            .await,
        ),
        (
            "revoke error",
            post_form(&w.app, "/revoke", &[("token", "x")], &[]).await,
        ),
    ];
    for (what, answer) in answers {
        assert_eq!(answer.headers["cache-control"], "no-store", "{what}");
        assert_eq!(answer.headers["pragma"], "no-cache", "{what}");
    }
}

// §2.9 H3: introspection is for authenticated confidential clients, answers `{"active": false}`
// and nothing else for any token it will not describe, and describes a token only to its own
// client or to a client the operator registered.
#[tokio::test]
async fn h3_introspection_needs_an_entitled_client_and_otherwise_says_only_inactive() {
    let w = world().await;
    let tokens = w.tokens().await;
    let access = s(&tokens["access_token"]).to_owned();
    let refresh = s(&tokens["refresh_token"]).to_owned();
    let (stranger, secret) = confidential_client(&w).await;
    let stranger_auth = basic(&stranger, &secret);
    let (server, secret) = first_party_client(&w.app, &[], true, &["client_credentials"]).await;
    let server_auth = basic(&server, &secret.unwrap());
    let before = w.snapshot();
    let public = post_form(
        &w.app,
        "/introspect",
        &[("token", &access), ("client_id", &w.client_id)],
        &[],
    )
    .await;
    public.assert_error(401, "invalid_client", "a public client");
    let anonymous = post_form(&w.app, "/introspect", &[("token", &access)], &[]).await;
    anonymous.assert_error(401, "invalid_client", "no client");
    // A client that registered itself cannot read other clients' tokens.
    for token in [&access, &refresh] {
        let answer = post_form(
            &w.app,
            "/introspect",
            &[("token", token)],
            &[("authorization", &stranger_auth)],
        )
        .await;
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.body,
            json!({"active": false}),
            "another client's token"
        );
    }
    // An operator-registered confidential client (a resource server) may.
    let answer = post_form(
        &w.app,
        "/introspect",
        &[("token", &access)],
        &[("authorization", &server_auth)],
    )
    .await;
    assert_eq!(answer.body["active"], true, "{}", answer.body);
    assert_eq!(answer.body["sub"], w.user_id.as_str());
    for token in ["unknown", "", "a.b.c", &format!("{access}x")] {
        let answer = post_form(
            &w.app,
            "/introspect",
            &[("token", token)],
            &[("authorization", &server_auth)],
        )
        .await;
        if token.is_empty() {
            answer.assert_error(400, "invalid_request", "no token");
        } else {
            assert_eq!(answer.body, json!({"active": false}), "{token}");
        }
    }
    assert_unchanged(&w.app, &before, "introspection");
    // A spent refresh token is inactive too.
    let (status, _) = w.refresh(&refresh, None).await;
    assert_eq!(status, 200);
    let answer = post_form(
        &w.app,
        "/introspect",
        &[("token", &refresh)],
        &[("authorization", &server_auth)],
    )
    .await;
    assert_eq!(answer.body, json!({"active": false}));
}

// §2.9 H4: revocation answers 200 for anything, revokes only the caller's own tokens, and a
// revoked refresh token takes its grant's access tokens with it.
#[tokio::test]
async fn h4_revocation_touches_only_the_callers_own_tokens() {
    let w = world().await;
    let tokens = w.tokens().await;
    let access = s(&tokens["access_token"]).to_owned();
    let refresh = s(&tokens["refresh_token"]).to_owned();
    let other = other_client(&w).await;
    let before = w.snapshot();
    for token in [&access, &refresh] {
        let answer = post_form(
            &w.app,
            "/revoke",
            &[("token", token), ("client_id", &other)],
            &[],
        )
        .await;
        assert_eq!(answer.status, 200, "another client's revocation");
        assert_eq!(answer.body, Value::Null);
    }
    for token in ["unknown", "a.b.c"] {
        assert_eq!(w.revoke(token).await, 200, "{token}");
    }
    let anonymous = post_form(&w.app, "/revoke", &[("token", &refresh)], &[]).await;
    anonymous.assert_error(401, "invalid_client", "no client");
    assert_unchanged(&w.app, &before, "revocations that are not the owner's");
    assert_eq!(w.mcp_status("files", &access).await, 200);
    // The owner revokes the access token alone: the refresh token keeps working.
    assert_eq!(w.revoke(&access).await, 200);
    assert_eq!(w.mcp_status("files", &access).await, 401);
    let (status, refreshed) = w.refresh(&refresh, None).await;
    assert_eq!(status, 200, "{refreshed}");
    // Revoking the refresh token ends the grant and its access tokens.
    let newer = s(&refreshed["access_token"]).to_owned();
    assert_eq!(w.mcp_status("files", &newer).await, 200);
    assert_eq!(w.revoke(s(&refreshed["refresh_token"])).await, 200);
    assert_eq!(w.mcp_status("files", &newer).await, 401);
}

// §2.9 H5: no password or implicit grant; each client only the grants it registered; client
// credentials only for confidential clients the operator registered.
#[tokio::test]
async fn h5_only_registered_grants_and_never_password_or_implicit() {
    let w = world().await;
    let before = w.snapshot();
    for grant in [
        "password",
        "implicit",
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "urn:ietf:params:oauth:grant-type:token-exchange",
        "Authorization_Code",
    ] {
        let answer = w
            .token(&[
                ("grant_type", grant),
                ("client_id", &w.client_id),
                ("username", "alice"),
                ("password", PASSWORD),
            ])
            .await;
        answer.assert_error(400, "unsupported_grant_type", grant);
    }
    assert_unchanged(&w.app, &before, "unsupported grants");
    let files = w.resource("files");
    let public = w
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &w.client_id),
            ("resource", &files),
        ])
        .await;
    public.assert_error(
        400,
        "unauthorized_client",
        "client credentials for a public client",
    );
    let code_only = register_client(
        &w.app,
        &json!({"client_name": "Code only", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none", "grant_types": ["authorization_code"]}),
    )
    .await;
    let code_only = s(&code_only["client_id"]);
    let refresh = w
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", code_only),
            ("refresh_token", "x"),
        ])
        .await;
    refresh.assert_error(
        400,
        "unauthorized_client",
        "refresh for a client without it",
    );
    let before_implicit = w.snapshot();
    let mut browser = w.signed_in().await;
    for response_type in ["token", "id_token", "code token", "code id_token"] {
        let page = browser
            .get(&format!(
                "/authorize?{}",
                w.authorize_query(&[("response_type", Some(response_type))])
            ))
            .await;
        w.assert_error_redirect(&page, REDIRECT, "unsupported_response_type", response_type);
    }
    assert_unchanged(&w.app, &before_implicit, "implicit requests");
    // A client that registered itself cannot take client credentials: nobody would have
    // approved the access it gives.
    for metadata in [
        json!({"client_name": "Robot", "grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic"}),
        json!({"client_name": "Robot", "redirect_uris": [REDIRECT], "grant_types": ["authorization_code", "client_credentials"]}),
        json!({"client_name": "Robot", "grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": []}}),
    ] {
        let before = w.snapshot();
        let answer = Answer::read(
            w.app
                .client
                .post(w.app.url("/register"))
                .json(&metadata)
                .send()
                .await
                .unwrap(),
        )
        .await;
        answer.assert_error(400, "invalid_client_metadata", &metadata.to_string());
        assert_unchanged(
            &w.app,
            &before,
            "a self-registered client_credentials client",
        );
    }
    // The operator's confidential client may.
    let (robot, secret) = first_party_client(&w.app, &[], true, &["client_credentials"]).await;
    let answer = post_form(
        &w.app,
        "/token",
        &[("grant_type", "client_credentials"), ("resource", &files)],
        &[("authorization", &basic(&robot, &secret.unwrap()))],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

// §2.9 H6: a confidential client authenticates on every back-channel call, with its registered
// method only; every failure is `invalid_client` with a Basic challenge and changes nothing.
#[tokio::test]
async fn h6_confidential_clients_authenticate_every_time_with_their_own_method() {
    let w = world().await;
    let (client, secret, code) = confidential_code(&w).await;
    let files = w.resource("files");
    let grant = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
        ("resource", files.as_str()),
    ];
    let with = |extra: &[(&'static str, &str)]| {
        let mut form: Vec<(&str, String)> =
            grant.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        form.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        form
    };
    let good = basic(&client, &secret);
    let wrong = basic(&client, "pclcs_wrong");
    let before = w.snapshot();
    // (form, headers, status, error, what)
    type Case<'a> = (
        Vec<(&'a str, String)>,
        Vec<Field<'a>>,
        u16,
        &'a str,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            with(&[("client_id", &client)]),
            vec![],
            401,
            "invalid_client",
            "no secret",
        ),
        (
            with(&[("client_id", &client), ("client_secret", &secret)]),
            vec![],
            401,
            "invalid_client",
            "client_secret_post instead of basic",
        ),
        (
            with(&[]),
            vec![("authorization", &wrong)],
            401,
            "invalid_client",
            "a wrong secret",
        ),
        (
            with(&[]),
            vec![("authorization", "Basic !!!")],
            401,
            "invalid_client",
            "garbage credentials",
        ),
        (
            with(&[("client_secret", &secret), ("client_id", &client)]),
            vec![("authorization", &good)],
            400,
            "invalid_request",
            "two methods",
        ),
        (
            with(&[("client_id", "someone-else")]),
            vec![("authorization", &good)],
            400,
            "invalid_request",
            "two client ids",
        ),
    ];
    for (form, headers, status, error, what) in cases {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let answer = post_form(&w.app, "/token", &form, &headers).await;
        answer.assert_error(status, error, what);
    }
    for path in ["/revoke", "/introspect"] {
        let answer = post_form(&w.app, path, &[("token", "x"), ("client_id", &client)], &[]).await;
        answer.assert_error(401, "invalid_client", &format!("{path} without the secret"));
        let answer = post_form(
            &w.app,
            path,
            &[("token", "x")],
            &[("authorization", &wrong)],
        )
        .await;
        answer.assert_error(
            401,
            "invalid_client",
            &format!("{path} with a wrong secret"),
        );
    }
    assert_unchanged(&w.app, &before, "failed client authentication");
    let form: Vec<(&str, &str)> = grant.to_vec();
    let answer = post_form(&w.app, "/token", &form, &[("authorization", &good)]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}
