//! The sign-in, account and password pages over real HTTP: cookies and their attributes, CSRF on
//! every POST, session fixation, both session timeouts, sign-out, open redirects, the security
//! headers of every page, and the must-change-password step.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::time::Duration;

use common::browser::{Browser, Page, create_user};
use common::{App, spawn, spawn_with};
use portcullis_core::accounts::Password;
use portcullis_core::admin::users::{self, InitialPassword};
use portcullis_store::{Store, UserStatus};

const PASSWORD: &str = "correct horse battery";

async fn alice(app: &App) {
    create_user(
        app,
        "alice",
        InitialPassword::Given(Password::new(PASSWORD.to_owned())),
    )
    .await;
}

fn assert_page_headers(page: &Page, what: &str) {
    let h = &page.headers;
    assert_eq!(
        h["content-security-policy"],
        "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
        "{what}"
    );
    assert_eq!(h["x-frame-options"], "DENY", "{what}");
    assert_eq!(h["referrer-policy"], "same-origin", "{what}");
    assert_eq!(h["cache-control"], "no-store", "{what}");
    assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
}

fn sha256(text: &str) -> [u8; 32] {
    portcullis_core::auth::api_key::secret_hash(text)
}

#[tokio::test]
async fn sign_in_sets_a_session_cookie_and_redirects_to_the_account_page() {
    let app = spawn(vec![]).await;
    alice(&app).await;
    let mut browser = Browser::new(&app);

    let login = browser.get("/login").await;
    assert_eq!(login.status, 200);
    assert!(
        login.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    for needle in [
        "<html lang=\"en\">",
        "<label for=\"username\">Username</label>",
        "<input id=\"username\" name=\"username\"",
        "<label for=\"password\">Password</label>",
        "<input id=\"password\" name=\"password\" type=\"password\"",
        "<button type=\"submit\">Sign in</button>",
    ] {
        assert!(login.body.contains(needle), "{needle} in {}", login.body);
    }
    assert!(!login.body.contains("<script"));
    assert!(!login.body.contains("http://") || login.body.contains(&app.url("/login")));
    // The pre-session CSRF cookie, plain on loopback http.
    let csrf_cookie = login.set_cookies();
    assert_eq!(csrf_cookie.len(), 1, "{csrf_cookie:?}");
    assert!(
        csrf_cookie[0].starts_with("portcullis-csrf=")
            && csrf_cookie[0].ends_with("; Path=/; HttpOnly; SameSite=Lax"),
        "{csrf_cookie:?}"
    );

    let signed_in = browser.sign_in("alice", PASSWORD, None).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(signed_in.location(), app.url("/account"));
    let cookies = signed_in.set_cookies();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let (pair, attributes) = cookies[0].split_once(';').unwrap();
    let value = pair.strip_prefix("portcullis-session=").unwrap();
    assert_eq!(value.len(), 43, "256 bits in base64url");
    assert_eq!(
        attributes,
        " Path=/; Max-Age=604800; HttpOnly; SameSite=Lax"
    );
    // Only the SHA-256 of the id is stored.
    let stored = app.store.browser_session_get(&sha256(value)).await.unwrap();
    let stored = stored.expect("the session is stored by the hash of its id");
    assert_eq!(stored.amr, vec!["pwd"]);

    let account = browser.get("/account").await;
    assert_eq!(account.status, 200);
    assert!(account.body.contains("Signed in as <strong>alice</strong>"));
    assert!(
        account
            .body
            .contains("<button type=\"submit\">Sign out</button>")
    );
    // Usernames are case-insensitive.
    let mut other = Browser::new(&app);
    assert_eq!(other.sign_in("ALICE", PASSWORD, None).await.status, 303);
}

/// A browser posts a form with the `Origin` the page's referrer policy allows. Under
/// `no-referrer` (the header or the layout's `<meta name="referrer">`) every form post carries
/// `Origin: null`, which the same-origin check refuses: no one could sign in with a real browser.
#[tokio::test]
async fn pages_let_their_forms_carry_this_origin() {
    let app = spawn(vec![]).await;
    alice(&app).await;
    let mut browser = Browser::new(&app);

    let login = browser.get("/login").await;
    assert_eq!(login.referrer_policy().as_deref(), Some("same-origin"));
    assert_eq!(browser.form_origin(), app.url(""));
    let signed_in = browser.sign_in("alice", PASSWORD, None).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);

    let account = browser.get("/account").await;
    assert_eq!(account.status, 200);
    assert_eq!(account.referrer_policy().as_deref(), Some("same-origin"));
    let csrf = account.csrf();
    let signed_out = browser.post("/logout", &[("csrf_token", &csrf)]).await;
    assert_eq!(signed_out.status, 303, "{}", signed_out.body);
}

#[tokio::test]
async fn an_https_public_url_gives_host_prefixed_secure_cookies() {
    let app = spawn_with(vec![], |c| {
        c.server.public_url = "https://portcullis.test".to_owned();
    })
    .await;
    alice(&app).await;
    let mut browser = Browser::with_base(&app, "https://portcullis.test");
    let login = browser.get("/login").await;
    assert!(
        login.set_cookies()[0].starts_with("__Host-portcullis-csrf=")
            && login.set_cookies()[0].ends_with("; Path=/; Secure; HttpOnly; SameSite=Lax")
    );
    assert!(
        login
            .body
            .contains("action=\"https://portcullis.test/login\"")
    );
    let signed_in = browser.sign_in("alice", PASSWORD, None).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(signed_in.location(), "https://portcullis.test/account");
    let cookie = &signed_in.set_cookies()[0];
    assert!(cookie.starts_with("__Host-portcullis-session="), "{cookie}");
    assert!(
        cookie.ends_with("; Path=/; Max-Age=604800; Secure; HttpOnly; SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Domain"), "{cookie}");
    assert_eq!(browser.get("/account").await.status, 200);
    // The loopback origin is not this deployment's origin.
    let mut local = Browser::new(&app);
    assert_eq!(local.sign_in("alice", PASSWORD, None).await.status, 403);
}

#[tokio::test]
async fn wrong_password_unknown_user_and_disabled_account_look_the_same() {
    let app = spawn(vec![]).await;
    alice(&app).await;
    create_user(
        &app,
        "dora",
        InitialPassword::Given(Password::new(PASSWORD.to_owned())),
    )
    .await;
    users::set_status(
        app.store.as_ref(),
        &portcullis_core::audit::AuditContext::off(),
        "dora",
        UserStatus::Disabled,
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    let mut browser = Browser::new(&app);
    let csrf = browser.get("/login").await.csrf();
    let mut answers = Vec::new();
    for (username, password) in [
        ("alice", "wrong password here"),
        ("nobody", PASSWORD),
        ("dora", PASSWORD),
        ("ALICE", ""),
    ] {
        let page = browser
            .post(
                "/login",
                &[
                    ("csrf_token", &csrf),
                    ("username", username),
                    ("password", password),
                ],
            )
            .await;
        assert_eq!(page.status, 401, "{username}");
        assert!(page.set_cookies().is_empty(), "{username}");
        assert!(
            page.body.contains("Invalid username or password."),
            "{}",
            page.body
        );
        assert!(
            page.body
                .contains("<label for=\"username\">Username</label>")
        );
        assert_page_headers(&page, "refused sign-in");
        answers.push(page.body);
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "refusals differ");
    for user in app.store.user_list().await.unwrap() {
        assert_eq!(
            app.store
                .browser_sessions_delete_user(&user.id)
                .await
                .unwrap(),
            0,
            "a refused sign-in stored a session"
        );
    }
}

/// A forged form post: what it is, the `csrf_token` fields it carries, its request headers.
type Forgery<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)]);

#[tokio::test]
async fn every_post_refuses_a_missing_wrong_or_cross_site_csrf_token() {
    let app = spawn(vec![]).await;
    alice(&app).await;
    let mut browser = Browser::new(&app);
    assert_eq!(browser.sign_in("alice", PASSWORD, None).await.status, 303);
    let good = browser.account_csrf().await;
    let origin = app.url("");
    let wrong = "A".repeat(43);

    let forms: [(&str, Vec<(&str, &str)>); 13] = [
        (
            "/login",
            vec![("username", "alice"), ("password", PASSWORD)],
        ),
        ("/logout", vec![]),
        (
            "/account/password",
            vec![
                ("current_password", PASSWORD),
                ("new_password", "a brand new password"),
            ],
        ),
        ("/login/mfa", vec![("code", "123456")]),
        (
            "/account/mfa/totp",
            vec![
                ("enrollment", "AAAA"),
                ("name", "phone"),
                ("code", "123456"),
            ],
        ),
        ("/account/mfa/recovery-codes", vec![]),
        ("/account/mfa/remove", vec![("factor", "fac_0")]),
        ("/account/sessions/end", vec![("session", "AAAA")]),
        ("/account/apps/revoke", vec![("client_id", "some-client")]),
        (
            "/account/mfa/passkey",
            vec![
                ("ceremony", "wac_0"),
                ("credential", "{}"),
                ("name", "laptop"),
            ],
        ),
        (
            "/login/mfa/passkey",
            vec![("ceremony", "wac_0"), ("credential", "{}")],
        ),
        ("/auth/start/corp", vec![("purpose", "link")]),
        ("/account/identities/unlink", vec![("provider", "corp")]),
    ];
    let same = [("origin", origin.as_str())];
    let forgeries: [Forgery<'_>; 8] = [
        ("no token", &[], &same),
        ("wrong token", &[&wrong], &same),
        ("empty token", &[""], &same),
        ("two tokens", &[&good, &good], &same),
        (
            "cross-site origin",
            &[&good],
            &[("origin", "https://evil.example")],
        ),
        ("null origin", &[&good], &[("origin", "null")]),
        (
            "cross-site fetch",
            &[&good],
            &[("sec-fetch-site", "cross-site")],
        ),
        (
            "same-site fetch",
            &[&good],
            &[("sec-fetch-site", "same-site"), ("origin", &origin)],
        ),
    ];
    for (path, fields) in &forms {
        for (what, tokens, headers) in forgeries {
            let pairs: Vec<(&str, &str)> = fields
                .iter()
                .copied()
                .chain(tokens.iter().map(|token| ("csrf_token", *token)))
                .collect();
            let page = browser.post_with(path, &pairs, headers).await;
            assert_eq!(page.status, 403, "{path}: {what}");
            assert!(
                page.body.contains("<h1>403 Forbidden</h1>"),
                "{path}: {what}"
            );
            assert_page_headers(&page, what);
            assert!(page.set_cookies().is_empty(), "{path}: {what}");
        }
        // Another browser's token (no cookies of its own here) is refused too.
        let mut stranger = Browser::new(&app);
        let pairs: Vec<(&str, &str)> = fields
            .iter()
            .copied()
            .chain([("csrf_token", good.as_str())])
            .collect();
        // (Pages for the signed-in send a browser that is not to sign in first: nothing runs.)
        let refused = stranger.post(path, &pairs).await;
        assert!(
            refused.status == 403
                || (refused.status == 303 && refused.location().contains("/login")),
            "{path}: {}",
            refused.status
        );
    }
    // Nothing happened: still signed in, password unchanged, and the good token still works.
    assert_eq!(browser.get("/account").await.status, 200);
    let mut again = Browser::new(&app);
    assert_eq!(again.sign_in("alice", PASSWORD, None).await.status, 303);
    let logout = browser.post("/logout", &[("csrf_token", &good)]).await;
    assert_eq!(logout.status, 303);
}

#[tokio::test]
async fn a_session_cookie_held_before_sign_in_is_replaced() {
    let app = spawn(vec![]).await;
    alice(&app).await;
    create_user(
        &app,
        "mallory",
        InitialPassword::Given(Password::new(PASSWORD.to_owned())),
    )
    .await;

    // Mallory signs in and plants her session id in Alice's browser.
    let mut mallory = Browser::new(&app);
    assert_eq!(mallory.sign_in("mallory", PASSWORD, None).await.status, 303);
    let planted = mallory.session(false).unwrap().clone();
    let mut victim = Browser::new(&app);
    victim
        .cookies
        .insert("portcullis-session".to_owned(), planted.clone());
    // Alice signs in: she gets a new id, and the planted one is over.
    let signed_in = victim.sign_in("alice", PASSWORD, None).await;
    assert_eq!(signed_in.status, 303);
    let fresh = victim.session(false).unwrap().clone();
    assert_ne!(fresh, planted);
    assert!(victim.get("/account").await.body.contains(">alice<"));
    assert_eq!(mallory.get("/account").await.status, 303);
    assert_eq!(
        app.store
            .browser_session_get(&sha256(&planted))
            .await
            .unwrap(),
        None
    );

    // A made-up id is replaced the same way.
    let mut browser = Browser::new(&app);
    browser
        .cookies
        .insert("portcullis-session".to_owned(), "B".repeat(43));
    assert_eq!(browser.sign_in("alice", PASSWORD, None).await.status, 303);
    assert_ne!(browser.session(false).unwrap(), &"B".repeat(43));
}

#[tokio::test]
async fn sessions_end_after_the_idle_timeout() {
    let app = spawn(vec![]).await;
    alice(&app).await;
    let mut browser = Browser::new(&app);
    assert_eq!(browser.sign_in("alice", PASSWORD, None).await.status, 303);
    let hour = Duration::from_secs(3600);
    // Used every 11 hours: the 12-hour idle timeout keeps sliding.
    for _ in 0..3 {
        app.clock.advance(11 * hour);
        assert_eq!(browser.get("/account").await.status, 200);
    }
    app.clock.advance(12 * hour + Duration::from_secs(1));
    let expired = browser.get("/account").await;
    assert_eq!(expired.status, 303);
    assert_eq!(expired.location(), app.url("/login?return_to=%2Faccount"));
    assert_page_headers(&expired, "redirect to sign-in");
}

#[tokio::test]
async fn sessions_end_at_the_absolute_timeout_however_much_they_are_used() {
    let app = spawn(vec![]).await;
    alice(&app).await;
    let mut browser = Browser::new(&app);
    assert_eq!(browser.sign_in("alice", PASSWORD, None).await.status, 303);
    let step = Duration::from_secs(10 * 3600);
    let mut elapsed = Duration::ZERO;
    while elapsed + step < Duration::from_secs(7 * 86_400) {
        app.clock.advance(step);
        elapsed += step;
        assert_eq!(
            browser.get("/account").await.status,
            200,
            "after {elapsed:?}"
        );
    }
    app.clock.advance(step);
    assert_eq!(browser.get("/account").await.status, 303);
}

#[tokio::test]
async fn signing_out_ends_the_session_and_clears_the_cookie() {
    let app = spawn(vec![]).await;
    alice(&app).await;
    let mut browser = Browser::new(&app);
    assert_eq!(browser.sign_in("alice", PASSWORD, None).await.status, 303);
    let session = browser.session(false).unwrap().clone();
    let csrf = browser.account_csrf().await;
    let out = browser.post("/logout", &[("csrf_token", &csrf)]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location(), app.url("/login"));
    assert_eq!(
        out.set_cookies(),
        vec!["portcullis-session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax".to_owned()]
    );
    assert_page_headers(&out, "sign-out");
    assert_eq!(
        app.store
            .browser_session_get(&sha256(&session))
            .await
            .unwrap(),
        None
    );
    // The old cookie, replayed, is nobody.
    browser
        .cookies
        .insert("portcullis-session".to_owned(), session);
    assert_eq!(browser.get("/account").await.status, 303);
}

#[tokio::test]
async fn disabling_an_account_signs_it_out_everywhere() {
    let app = spawn(vec![]).await;
    alice(&app).await;
    let mut browser = Browser::new(&app);
    assert_eq!(browser.sign_in("alice", PASSWORD, None).await.status, 303);
    assert_eq!(browser.get("/account").await.status, 200);
    app.store
        .user_set_status(
            &app.store
                .user_get_by_username("alice")
                .await
                .unwrap()
                .unwrap()
                .id,
            UserStatus::Disabled,
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    assert_eq!(browser.get("/account").await.status, 303);
}

#[tokio::test]
async fn return_to_goes_only_to_paths_on_this_origin() {
    let app = spawn(vec![]).await;
    alice(&app).await;
    for bad in [
        "https://evil.example/",
        "//evil.example",
        "//evil.example/%2F..",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "account",
        "",
    ] {
        let mut browser = Browser::new(&app);
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", bad)
            .finish();
        let login = browser.get(&format!("/login?{query}")).await;
        assert!(!login.body.contains("name=\"return_to\""), "{bad:?}");
        let signed_in = browser.sign_in("alice", PASSWORD, Some(bad)).await;
        assert_eq!(signed_in.status, 303, "{bad:?}");
        assert_eq!(signed_in.location(), app.url("/account"), "{bad:?}");
    }
    let good = "/authorize?client_id=https%3A%2F%2Fapp.example%2Fc.json&state=a%22b";
    let mut browser = Browser::new(&app);
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", good)
        .finish();
    let login = browser.get(&format!("/login?{query}")).await;
    // Echoed in the form, escaped.
    assert!(
        login.body.contains(
            "name=\"return_to\" value=\"/authorize?client_id=https%3A%2F%2Fapp.example%2Fc.json&#38;state=a%22b\""
        ),
        "{}",
        login.body
    );
    let signed_in = browser.sign_in("alice", PASSWORD, Some(good)).await;
    assert_eq!(signed_in.location(), app.url(good));
}

#[tokio::test]
async fn every_page_carries_the_security_headers() {
    let app = spawn(vec![]).await;
    alice(&app).await;
    let mut browser = Browser::new(&app);
    let mut pages = vec![
        ("GET /login", browser.get("/login").await),
        ("GET /account signed out", browser.get("/account").await),
        (
            "GET /account/password signed out",
            browser.get("/account/password").await,
        ),
        (
            "POST /login refused",
            browser.sign_in("alice", "nope", None).await,
        ),
        (
            "POST /logout forged",
            browser.post("/logout", &[("csrf_token", "x")]).await,
        ),
        (
            "POST /login",
            browser.sign_in("alice", PASSWORD, None).await,
        ),
        ("GET /account", browser.get("/account").await),
        (
            "GET /account/password",
            browser.get("/account/password").await,
        ),
        ("GET /account/mfa", browser.get("/account/mfa").await),
        (
            "GET /account/mfa/totp",
            browser.get("/account/mfa/totp").await,
        ),
        ("GET /login/mfa signed in", browser.get("/login/mfa").await),
    ];
    let csrf = browser.account_csrf().await;
    pages.push((
        "POST /account/mfa/totp refused",
        browser
            .post(
                "/account/mfa/totp",
                &[
                    ("csrf_token", &csrf),
                    ("enrollment", "AAAA"),
                    ("name", "phone"),
                    ("code", "1"),
                ],
            )
            .await,
    ));
    pages.push((
        "POST /account/password refused",
        browser
            .post(
                "/account/password",
                &[
                    ("csrf_token", &csrf),
                    ("current_password", "wrong"),
                    ("new_password", "a brand new password"),
                ],
            )
            .await,
    ));
    pages.push((
        "POST /logout",
        browser.post("/logout", &[("csrf_token", &csrf)]).await,
    ));
    for (what, page) in &pages {
        assert_page_headers(page, what);
        assert!(!page.body.contains("<script"), "{what}");
    }

    let off = spawn_with(vec![], |c| c.accounts.enabled = false).await;
    let page = Browser::new(&off).get("/login").await;
    assert_eq!(page.status, 404);
    assert!(page.body.contains("turned off"));
    assert_page_headers(&page, "sign-in turned off");
}

#[tokio::test]
async fn a_generated_password_must_be_changed_before_anything_else() {
    let app = spawn(vec![]).await;
    let one_time = create_user(&app, "bob", InitialPassword::Generate)
        .await
        .unwrap();
    let mut browser = Browser::new(&app);
    let authorize = "/authorize?client_id=c&state=s";
    let signed_in = browser
        .sign_in("bob", one_time.as_str(), Some(authorize))
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(
        signed_in.location(),
        app.url("/account/password?return_to=%2Fauthorize%3Fclient_id%3Dc%26state%3Ds")
    );
    let pending = browser.session(false).unwrap().clone();
    // Nothing else is reachable until the password is changed.
    let account = browser.get("/account").await;
    assert_eq!(account.status, 303);
    assert_eq!(
        account.location(),
        app.url("/account/password?return_to=%2Faccount")
    );

    let form = browser
        .get("/account/password?return_to=%2Fauthorize%3Fclient_id%3Dc%26state%3Ds")
        .await;
    assert_eq!(form.status, 200);
    for needle in [
        "<label for=\"current_password\">Current password</label>",
        "<label for=\"new_password\">New password</label>",
        "<button type=\"submit\">Change password</button>",
        "set by an administrator",
    ] {
        assert!(form.body.contains(needle), "{needle}");
    }
    let csrf = form.csrf();
    for (current, new, message) in [
        (
            "not the password",
            "a brand new password",
            "The current password is not correct.",
        ),
        ("", "short", "at least 12 characters"),
    ] {
        let current = if current.is_empty() {
            one_time.as_str().to_owned()
        } else {
            current.to_owned()
        };
        let fields = [
            ("csrf_token", csrf.as_str()),
            ("current_password", current.as_str()),
            ("new_password", new),
            ("return_to", authorize),
        ];
        let refused = browser.post("/account/password", &fields).await;
        assert_eq!(refused.status, 400);
        assert!(refused.body.contains(message), "{}", refused.body);
        // The error is tied to the fields it is about, for screen readers.
        for tied in [
            "autofocus aria-describedby=\"form-error\"",
            "aria-describedby=\"form-error new_password_hint\"",
        ] {
            assert!(refused.body.contains(tied), "{tied} in {}", refused.body);
        }
        assert!(refused.set_cookies().is_empty());
    }
    let fields = [
        ("csrf_token", csrf.as_str()),
        ("current_password", one_time.as_str()),
        ("new_password", "a brand new password"),
        ("return_to", authorize),
    ];
    let changed = browser.post("/account/password", &fields).await;
    assert_eq!(changed.status, 303, "{}", changed.body);
    assert_eq!(changed.location(), app.url(authorize));
    // A new session for the new password; the old one is over.
    let renewed = browser.session(false).unwrap().clone();
    assert_ne!(renewed, pending);
    assert_eq!(
        app.store
            .browser_session_get(&sha256(&pending))
            .await
            .unwrap(),
        None
    );
    assert_eq!(browser.get("/account").await.status, 200);

    let mut later = Browser::new(&app);
    assert_eq!(
        later.sign_in("bob", one_time.as_str(), None).await.status,
        401
    );
    let fresh = later.sign_in("bob", "a brand new password", None).await;
    assert_eq!(fresh.location(), app.url("/account"));
}
