//! Signing in through identity providers, end to end over real HTTP: an MCP client's
//! authorization request, the person choosing a provider on the sign-in page, the provider (a
//! mock OpenID Connect provider or GitHub-shaped server on loopback) signing them in, the
//! callback, consent, the token, and `tools/call` reaching an upstream that gets the provider
//! token — and the attacks of the reference's §2.11 (F1–F4), each ending on an error page with
//! no account made.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::browser::{Browser, Page, create_user};
use common::oauth::*;
use common::*;
use portcullis_core::config::{IdentityProviderConfig, ProviderKind};
use portcullis_store::Store;
use portcullis_testkit::{IdpUser, Mischief, MockConfig, MockIdp, MockUpstream};

const CLIENT_ID: &str = "portcullis-at-idp";
const SECRET: &str = "idp-client-secret-value";

struct Fed {
    world: World,
    idp: MockIdp,
}

/// An OIDC provider `corp` (or a GitHub-shaped one with `kind`), the MCP server `files` that
/// acts as the user there, and a registered client.
async fn fed(kind: ProviderKind, tweak: impl FnOnce(&mut IdentityProviderConfig)) -> Fed {
    fed_with(kind, tweak, |_| {}).await
}

/// [`fed`] with a change to the rest of the configuration too.
async fn fed_with(
    kind: ProviderKind,
    tweak: impl FnOnce(&mut IdentityProviderConfig),
    tweak_config: impl FnOnce(&mut portcullis_core::config::Config),
) -> Fed {
    let mut user = IdpUser::new("idp-alice", "alice@corp.example");
    user.orgs = vec!["acme".to_owned()];
    let idp = MockIdp::start(CLIENT_ID, SECRET, user).await.unwrap();
    let upstream = MockUpstream::start(MockConfig::default()).await.unwrap();
    let mut provider = IdentityProviderConfig::new("corp", kind);
    provider.client_id = CLIENT_ID.to_owned();
    provider.client_secret_env = "CORP_SECRET".to_owned();
    provider.allow_private_network = true;
    provider.timeout = std::time::Duration::from_secs(3);
    match kind {
        ProviderKind::Github => {
            provider.base_url = Some(idp.issuer().to_owned());
            provider.allowed_orgs = Some(vec!["acme".to_owned()]);
        }
        _ => provider.issuer = Some(idp.issuer().to_owned()),
    }
    tweak(&mut provider);
    let mut files = protected("files", &upstream.url());
    files.pass_provider_token = Some("corp".to_owned());
    files.provider_token_header = "x-provider-token".to_owned();
    let app = spawn_setup(
        vec![files],
        |config| {
            config.identity_providers = vec![provider];
            tweak_config(config);
        },
        Setup {
            env: vec![("CORP_SECRET".to_owned(), SECRET.to_owned())],
            ..Setup::default()
        },
    )
    .await;
    let client_id = register(&app, &[REDIRECT]).await;
    Fed {
        world: World {
            app,
            upstream,
            client_id,
            user_id: String::new(),
        },
        idp,
    }
}

impl Fed {
    /// From the sign-in page, through "Sign in with …" and the provider, to the callback's
    /// answer (not followed).
    async fn through_provider(&self, browser: &mut Browser<'_>, return_to: &str) -> Page {
        let login = browser
            .get(&format!("/login?return_to={}", urlencode(return_to)))
            .await;
        assert_eq!(login.status, 200, "{}", login.body);
        assert!(login.body.contains("Sign in with"), "{}", login.body);
        let started = browser
            .post(
                "/auth/start/corp",
                &[("csrf_token", &login.csrf()), ("return_to", return_to)],
            )
            .await;
        assert_eq!(started.status, 303, "{}", started.body);
        assert!(
            started.location().starts_with(self.idp.issuer()),
            "{}",
            started.location()
        );
        let at_idp = browser.get_url(started.location()).await;
        assert_eq!(at_idp.status, 303, "{}", at_idp.body);
        let callback = at_idp.location().to_owned();
        assert!(
            callback.starts_with(&self.world.app.url("/auth/callback/corp?")),
            "{callback}"
        );
        browser.get_url(&callback).await
    }

    async fn users(&self) -> usize {
        self.world.app.store.user_list().await.unwrap().len()
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_mcp_client_signs_in_through_an_oidc_provider_and_the_upstream_gets_the_provider_token()
{
    let f = fed(ProviderKind::Oidc, |_| {}).await;
    let w = &f.world;
    let mut browser = Browser::new(&w.app);
    let query = w.authorize_query(&[]);
    let first = browser.get(&format!("/authorize?{query}")).await;
    assert_eq!(first.status, 303);
    let return_to = format!("/authorize?{query}");
    let back = f.through_provider(&mut browser, &return_to).await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert!(
        back.location().contains("/authorize?"),
        "{}",
        back.location()
    );
    // The provider was asked with PKCE S256, a state and a nonce, for our callback.
    let asked = &f.idp.authorize_requests()[0].query;
    assert_eq!(asked["code_challenge_method"], "S256");
    assert_eq!(asked["redirect_uri"], w.app.url("/auth/callback/corp"));
    assert!(asked["nonce"].len() >= 43 && asked["state"].len() >= 43);
    // The code was redeemed with the verifier and the client's secret (Basic).
    let redeemed = &f.idp.token_requests()[0];
    assert_eq!(redeemed["grant_type"], "authorization_code");
    assert_eq!(redeemed["code_verifier"].len(), 43);

    let path = back
        .location()
        .strip_prefix(&w.app.url(""))
        .unwrap()
        .to_owned();
    let consent = browser.get(&path).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    let code = query_of(&w.decide(&mut browser, &consent, "allow").await)("code").unwrap();
    let (status, tokens) = w.exchange(&code).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    // The account made for the identity: no password, the provider's verified address.
    let user = w.app.store.user_list().await.unwrap().pop().unwrap();
    assert!(user.password_hash.is_none());
    assert_eq!(user.email, "alice@corp.example");
    assert!(user.email_verified);
    let linked = w
        .app
        .store
        .external_identity_get("corp", "idp-alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(linked.user_id, user.id);
    // The provider tokens are stored sealed: no plaintext access token in the row.
    let row = w
        .app
        .store
        .provider_token_get(&user.id, "corp")
        .await
        .unwrap()
        .unwrap();
    assert!(!row.sealed.windows(8).any(|win| win == b"gho_mock"));

    let response = w
        .app
        .post("files", &initialize_body())
        .header("authorization", format!("Bearer {access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = w.upstream.requests().pop().unwrap();
    let provider_token = seen.header("x-provider-token").unwrap();
    assert!(provider_token.starts_with("gho_mock"), "{provider_token}");
    assert_ne!(provider_token, access);
    assert_eq!(
        seen.header("authorization"),
        None,
        "the client's token is never forwarded"
    );
    assert_eq!(
        seen.header("x-portcullis-user"),
        Some(format!("portcullis:{}", user.id).as_str())
    );

    // Signing in again finds the same account.
    let mut other = Browser::new(&w.app);
    let again = f.through_provider(&mut other, "/account").await;
    assert_eq!(again.status, 303, "{}", again.body);
    assert_eq!(f.users().await, 1);

    // Taking the application's access back forgets the provider tokens too.
    let csrf = browser.account_csrf().await;
    let revoked = browser
        .post(
            "/account/apps/revoke",
            &[("csrf_token", &csrf), ("client_id", &w.client_id)],
        )
        .await;
    assert_eq!(revoked.status, 303, "{}", revoked.body);
    assert!(
        w.app
            .store
            .provider_token_get(&user.id, "corp")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_state_works_once_and_only_in_the_browser_that_started_it() {
    let f = fed(ProviderKind::Oidc, |_| {}).await;
    let app = &f.world.app;
    let mut browser = Browser::new(app);
    let login = browser.get("/login").await;
    let started = browser
        .post("/auth/start/corp", &[("csrf_token", &login.csrf())])
        .await;
    let callback = browser
        .get_url(started.location())
        .await
        .location()
        .to_owned();

    // Another browser (no binding cookie) brings the callback: refused, and the state is spent.
    let mut attacker = Browser::new(app);
    let forged = attacker.get_url(&callback).await;
    assert_eq!(forged.status, 400, "{}", forged.body);
    assert!(forged.body.contains("another browser"), "{}", forged.body);
    let replay = browser.get_url(&callback).await;
    assert_eq!(replay.status, 400, "{}", replay.body);
    assert_eq!(f.users().await, 0);

    // A callback with a made-up or missing state, or none at all.
    for query in ["state=made-up&code=x", "code=x", ""] {
        let page = browser
            .get_url(&app.url(&format!("/auth/callback/corp?{query}")))
            .await;
        assert_eq!(page.status, 400, "{query}: {}", page.body);
    }
    // Starting needs the page's CSRF token; an unknown provider is 404.
    let no_csrf = browser.post("/auth/start/corp", &[]).await;
    assert_eq!(no_csrf.status, 403);
    let unknown = browser
        .post("/auth/start/nope", &[("csrf_token", &login.csrf())])
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(f.users().await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_answer_that_breaks_the_protocol_signs_nobody_in() {
    let f = fed(ProviderKind::Oidc, |_| {}).await;
    let cases = [
        (
            "mix-up: another issuer's iss",
            Mischief {
                iss_param: Some("https://other-idp.example".into()),
                ..Mischief::default()
            },
        ),
        (
            "iss missing though promised",
            Mischief {
                iss_param: Some(String::new()),
                ..Mischief::default()
            },
        ),
        (
            "nonce replayed from another sign-in",
            Mischief {
                nonce: Some("an-old-nonce-from-another-sign-in".into()),
                ..Mischief::default()
            },
        ),
        (
            "ID token for another client",
            Mischief {
                audience: Some("someone-else".into()),
                ..Mischief::default()
            },
        ),
        (
            "ID token of another issuer",
            Mischief {
                id_token_issuer: Some("https://other-idp.example".into()),
                ..Mischief::default()
            },
        ),
        (
            "expired ID token",
            Mischief {
                expired: true,
                ..Mischief::default()
            },
        ),
        (
            "forged signature",
            Mischief {
                foreign_key: true,
                ..Mischief::default()
            },
        ),
    ];
    for (what, mischief) in cases {
        f.idp.set_mischief(mischief);
        let mut browser = Browser::new(&f.world.app);
        let page = f.through_provider(&mut browser, "/account").await;
        assert_eq!(page.status, 502, "{what}: {}", page.body);
        assert!(page.body.contains("cannot accept"), "{what}: {}", page.body);
        assert!(browser.session(false).is_none(), "{what}: signed in");
        assert_eq!(f.users().await, 0, "{what}: an account was made");
    }
    // Declining at the provider.
    f.idp.set_mischief(Mischief {
        deny: true,
        ..Mischief::default()
    });
    let mut browser = Browser::new(&f.world.app);
    let page = f.through_provider(&mut browser, "/account").await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("cancelled or refused"), "{}", page.body);
    // The token endpoint failing.
    f.idp.set_mischief(Mischief {
        token_endpoint_down: true,
        ..Mischief::default()
    });
    let page = f.through_provider(&mut browser, "/account").await;
    assert_eq!(page.status, 502, "{}", page.body);
    assert_eq!(f.users().await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unverified_email_never_links_to_an_existing_account() {
    let f = fed(ProviderKind::Oidc, |_| {}).await;
    let app = &f.world.app;
    // A local account whose address is verified.
    create_user_with_email(app, "victim", "victim@corp.example").await;
    // The provider says the same address, but "true" as a string: not verified.
    let mut user = IdpUser::new("attacker-sub", "victim@corp.example");
    user.email_verified = serde_json::json!("true");
    f.idp.set_user(user);
    let mut browser = Browser::new(app);
    let page = f.through_provider(&mut browser, "/account").await;
    assert_eq!(page.status, 303, "{}", page.body);
    let victim = app
        .store
        .user_get_by_username("victim")
        .await
        .unwrap()
        .unwrap();
    assert!(
        app.store
            .external_identities_of_user(&victim.id)
            .await
            .unwrap()
            .is_empty()
    );
    let linked = app
        .store
        .external_identity_get("corp", "attacker-sub")
        .await
        .unwrap()
        .unwrap();
    assert_ne!(linked.user_id, victim.id);

    // With a verified address it links (linking = "by_verified_email").
    f.idp
        .set_user(IdpUser::new("victim-sub", "Victim@corp.example"));
    let mut own = Browser::new(app);
    let page = f.through_provider(&mut own, "/account").await;
    assert_eq!(page.status, 303, "{}", page.body);
    let linked = app
        .store
        .external_identity_get("corp", "victim-sub")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(linked.user_id, victim.id);
}

async fn create_user_with_email(app: &App, username: &str, email: &str) {
    let user = portcullis_store::User {
        id: format!("usr_{username}"),
        username: username.to_owned(),
        email: email.to_owned(),
        email_verified: true,
        display_name: None,
        tenant: None,
        status: portcullis_store::UserStatus::Active,
        password_hash: None,
        must_change_password: false,
        created_at: time::OffsetDateTime::now_utc(),
        updated_at: time::OffsetDateTime::now_utc(),
    };
    app.store.user_insert(&user).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn github_allowlists_and_email_domains_are_checked_at_every_sign_in() {
    let f = fed(ProviderKind::Github, |p| {
        p.allowed_email_domains = vec!["corp.example".to_owned()];
    })
    .await;
    let app = &f.world.app;
    let mut browser = Browser::new(app);
    let first = f.through_provider(&mut browser, "/account").await;
    assert_eq!(first.status, 303, "{}", first.body);
    let identity = app
        .store
        .external_identity_get("corp", "4242")
        .await
        .unwrap();
    assert!(identity.is_some(), "GitHub's numeric id is the subject");
    let user = app.store.user_list().await.unwrap().pop().unwrap();
    assert_eq!(
        user.username, "idp-alice",
        "the username is the GitHub login, not the display name"
    );

    // Out of the organisation: the next sign-in is refused, though the account exists.
    let mut left = IdpUser::new("idp-alice", "alice@corp.example");
    left.orgs = vec!["elsewhere".to_owned()];
    f.idp.set_user(left);
    let mut again = Browser::new(app);
    let refused = f.through_provider(&mut again, "/account").await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("not allowed"), "{}", refused.body);
    assert!(again.session(false).is_none());

    // In the organisation but with an address outside the allowed domains.
    let mut outside = IdpUser::new("idp-alice", "alice@gmail.example");
    outside.orgs = vec!["acme".to_owned()];
    f.idp.set_user(outside);
    let mut third = Browser::new(app);
    let refused = f.through_provider(&mut third, "/account").await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(f.users().await, 1);

    // The audit log has the account made at the first sign-in, the sign-in and the two
    // refusals, through the provider.
    let records = app
        .store
        .audit_list(&portcullis_store::AuditQuery::default())
        .await
        .unwrap();
    let created: Vec<_> = records
        .iter()
        .filter(|r| r.event.action == "user.create")
        .collect();
    assert_eq!(created.len(), 1, "{records:?}");
    assert_eq!(created[0].event.actor.as_deref(), Some(user.id.as_str()));
    assert_eq!(created[0].event.client.as_deref(), Some("corp"));
    let sign_ins: Vec<(String, Option<String>)> = records
        .into_iter()
        .filter(|r| r.event.action == "session.sign_in")
        .map(|r| (r.event.decision, r.event.client))
        .collect();
    let through = Some("corp".to_owned());
    assert_eq!(
        sign_ins,
        [
            ("success".to_owned(), through.clone()),
            ("failure".to_owned(), through.clone()),
            ("failure".to_owned(), through),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_that_is_down_gives_an_error_page_and_no_redirect() {
    let Fed { world, idp } = fed(ProviderKind::Oidc, |_| {}).await;
    let app = &world.app;
    let mut browser = Browser::new(app);
    let login = browser.get("/login").await;
    idp.stop().await;
    let started = browser
        .post("/auth/start/corp", &[("csrf_token", &login.csrf())])
        .await;
    assert_eq!(started.status, 502, "{}", started.body);
    assert!(started.body.contains("not answering"), "{}", started.body);
    assert!(started.headers.get("location").is_none());
    assert!(app.store.user_list().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_provider_token_is_refreshed_before_it_reaches_the_upstream() {
    let f = fed(ProviderKind::Oidc, |_| {}).await;
    // Tokens that are already inside the refresh margin when given.
    f.idp.set_access_ttl(5);
    let w = &f.world;
    let mut browser = Browser::new(&w.app);
    let query = w.authorize_query(&[]);
    let back = f
        .through_provider(&mut browser, &format!("/authorize?{query}"))
        .await;
    let path = back
        .location()
        .strip_prefix(&w.app.url(""))
        .unwrap()
        .to_owned();
    let consent = browser.get(&path).await;
    let code = query_of(&w.decide(&mut browser, &consent, "allow").await)("code").unwrap();
    let (_, tokens) = w.exchange(&code).await;
    let access = tokens["access_token"].as_str().unwrap();
    let response = w
        .app
        .post("files", &initialize_body())
        .header("authorization", format!("Bearer {access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let refreshes: Vec<_> = f
        .idp
        .token_requests()
        .into_iter()
        .filter(|r| r["grant_type"] == "refresh_token")
        .collect();
    assert_eq!(refreshes.len(), 1);
    let first_access_seen = w.upstream.requests().pop().unwrap();
    assert!(
        first_access_seen
            .header("x-provider-token")
            .unwrap()
            .starts_with("gho_mock")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_without_a_provider_token_is_told_to_sign_in_with_the_provider() {
    let f = fed(ProviderKind::Oidc, |_| {}).await;
    let w = &f.world;
    // alice signs in with a password: no provider token for `files`.
    create_user(
        &w.app,
        "alice",
        portcullis_core::admin::users::InitialPassword::Given(
            portcullis_core::accounts::Password::new(PASSWORD.to_owned()),
        ),
    )
    .await;
    let tokens = w.tokens().await;
    let access = tokens["access_token"].as_str().unwrap();
    let response = w
        .app
        .post("files", &initialize_body())
        .header("authorization", format!("Bearer {access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sign in with"),
        "{body}"
    );
    assert!(w.upstream.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_in_person_links_and_unlinks_a_provider_after_a_recent_sign_in() {
    let f = fed(ProviderKind::Oidc, |_| {}).await;
    let app = &f.world.app;
    create_user(
        app,
        "alice",
        portcullis_core::admin::users::InitialPassword::Given(
            portcullis_core::accounts::Password::new(PASSWORD.to_owned()),
        ),
    )
    .await;
    let alice = app
        .store
        .user_get_by_username("alice")
        .await
        .unwrap()
        .unwrap();
    let mut browser = Browser::new(app);
    assert_eq!(browser.sign_in("alice", PASSWORD, None).await.status, 303);
    let account = browser.get("/account").await;
    assert!(account.body.contains("Link corp"), "{}", account.body);

    let csrf = browser.account_csrf().await;
    let started = browser
        .post(
            "/auth/start/corp",
            &[("csrf_token", &csrf), ("purpose", "link")],
        )
        .await;
    assert_eq!(started.status, 303, "{}", started.body);
    let callback = browser
        .get_url(started.location())
        .await
        .location()
        .to_owned();
    let done = browser.get_url(&callback).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let linked = app
        .store
        .external_identity_get("corp", "idp-alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(linked.user_id, alice.id, "linked to the signed-in account");
    assert_eq!(f.users().await, 1);

    // An old sign-in must sign in again before linking or unlinking.
    app.clock.advance(std::time::Duration::from_secs(11 * 60));
    let csrf = browser.account_csrf().await;
    for (path, field) in [
        ("/auth/start/corp", ("purpose", "link")),
        ("/account/identities/unlink", ("provider", "corp")),
    ] {
        let stale = browser.post(path, &[("csrf_token", &csrf), field]).await;
        assert_eq!(stale.status, 303, "{path}");
        assert!(
            stale.location().contains("/login"),
            "{path}: {}",
            stale.location()
        );
    }
    assert_eq!(
        app.store
            .external_identities_of_user(&alice.id)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(browser.sign_in("alice", PASSWORD, None).await.status, 303);

    // Unlinking (alice keeps her password, so it is allowed).
    let csrf = browser.account_csrf().await;
    let unlinked = browser
        .post(
            "/account/identities/unlink",
            &[("csrf_token", &csrf), ("provider", "corp")],
        )
        .await;
    assert_eq!(unlinked.status, 303, "{}", unlinked.body);
    assert!(
        app.store
            .external_identities_of_user(&alice.id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trusted_providers_mfa_satisfies_a_required_second_factor() {
    use portcullis_core::config::MfaPolicy;
    let require = |config: &mut portcullis_core::config::Config| {
        config.accounts.mfa = MfaPolicy::Required;
    };
    // Not trusted: the person must enrol a Portcullis factor before going on.
    let f = fed_with(ProviderKind::Oidc, |_| {}, require).await;
    let mut user = IdpUser::new("idp-alice", "alice@corp.example");
    user.amr = vec!["pwd".to_owned(), "mfa".to_owned()];
    f.idp.set_user(user.clone());
    let mut browser = Browser::new(&f.world.app);
    let page = f.through_provider(&mut browser, "/account").await;
    assert_eq!(page.status, 303);
    assert!(
        page.location().contains("/account/mfa"),
        "{}",
        page.location()
    );

    // Trusted, and the provider says it did MFA: straight on.
    let f = fed_with(ProviderKind::Oidc, |p| p.trust_mfa = true, require).await;
    f.idp.set_user(user.clone());
    let mut browser = Browser::new(&f.world.app);
    let page = f.through_provider(&mut browser, "/account").await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location(), f.world.app.url("/account"));

    // Trusted, but only a password at the provider: enrol.
    let f = fed_with(ProviderKind::Oidc, |p| p.trust_mfa = true, require).await;
    user.amr = vec!["pwd".to_owned()];
    f.idp.set_user(user);
    let mut browser = Browser::new(&f.world.app);
    let page = f.through_provider(&mut browser, "/account").await;
    assert!(
        page.location().contains("/account/mfa"),
        "{}",
        page.location()
    );
}
