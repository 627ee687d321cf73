//! Account security over real HTTP: enrolling an authenticator app, the second-factor step of
//! signing in (each code once, recovery codes once), the `required` policy, progressive throttling
//! of every factor per account and per address, and ending sessions and taking back access from
//! the account page.

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
use portcullis_core::accounts::totp::TotpSecret;
use portcullis_core::admin::users::InitialPassword;
use portcullis_core::config::MfaPolicy;
use portcullis_store::Store;

const PASSWORD: &str = "correct horse battery";

async fn alice(app: &App) -> String {
    create_user(
        app,
        "alice",
        InitialPassword::Given(Password::new(PASSWORD.to_owned())),
    )
    .await;
    app.store
        .user_get_by_username("alice")
        .await
        .unwrap()
        .unwrap()
        .id
}

/// The text between `start` and the next `end` in `body`.
fn between<'a>(body: &'a str, start: &str, end: &str) -> &'a str {
    let from = body
        .find(start)
        .unwrap_or_else(|| panic!("no {start:?} in {body}"))
        + start.len();
    let to = from + body[from..].find(end).unwrap();
    &body[from..to]
}

/// The app's code now, by the server's clock.
fn code_now(app: &App, secret: &TotpSecret) -> String {
    let now = (app.clock.clock())();
    secret.code_at(now)
}

/// The path part of a redirect to this app.
fn path_of<'a>(app: &App, location: &'a str) -> &'a str {
    location.strip_prefix(&app.url("")).unwrap_or(location)
}

/// Enrols an authenticator app through the pages (the browser is signed in, or must enrol);
/// returns its secret and the page that answered (the recovery codes).
async fn enroll(app: &App, browser: &mut Browser<'_>) -> (TotpSecret, Page) {
    let form = browser.get("/account/mfa/totp").await;
    assert_eq!(form.status, 200, "{}", form.location());
    assert!(form.body.contains("<svg role=\"img\""), "a QR code");
    let secret = TotpSecret::from_base32(between(&form.body, "<code id=\"secret\">", "<")).unwrap();
    let enrolled = browser
        .post(
            "/account/mfa/totp",
            &[
                ("csrf_token", &form.csrf()),
                ("enrollment", &form.field("enrollment")),
                ("name", "phone"),
                ("code", &code_now(app, &secret)),
            ],
        )
        .await;
    (secret, enrolled)
}

/// The recovery codes a page shows.
fn recovery_codes(page: &Page) -> Vec<String> {
    page.body
        .split("<li><code>")
        .skip(1)
        .map(|rest| rest[..rest.find('<').unwrap()].to_owned())
        .collect()
}

#[tokio::test]
async fn an_authenticator_app_is_enrolled_and_then_asked_for_at_every_sign_in() {
    let app = spawn(vec![]).await;
    let alice_id = alice(&app).await;
    let mut browser = Browser::new(&app);
    assert_eq!(browser.sign_in("alice", PASSWORD, None).await.status, 303);

    let factors = browser.get("/account/mfa").await;
    assert_eq!(factors.status, 200);
    assert!(factors.body.contains("You have none set up."));

    // A wrong code stores nothing and shows the same key again.
    let form = browser.get("/account/mfa/totp").await;
    let key = between(&form.body, "<code id=\"secret\">", "<").to_owned();
    let wrong = browser
        .post(
            "/account/mfa/totp",
            &[
                ("csrf_token", &form.csrf()),
                ("enrollment", &form.field("enrollment")),
                ("name", "phone"),
                ("code", "000000"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 400);
    assert!(wrong.body.contains("That code does not match."));
    assert!(wrong.body.contains(&key));
    assert!(
        app.store
            .factors_of_user(&alice_id)
            .await
            .unwrap()
            .is_empty()
    );

    let before = browser.session(false).unwrap().clone();
    let (secret, enrolled) = enroll(&app, &mut browser).await;
    assert_eq!(enrolled.status, 200, "{}", enrolled.body);
    let codes = recovery_codes(&enrolled);
    assert_eq!(codes.len(), 10, "{}", enrolled.body);
    // The session goes on under a new id, now with the second factor.
    let after = browser.session(false).unwrap().clone();
    assert_ne!(after, before);
    let stored = app.store.factors_of_user(&alice_id).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].name, "phone");
    // The secret is sealed, never stored as is.
    assert!(
        !stored[0]
            .data
            .windows(secret.as_bytes().len())
            .any(|w| w == secret.as_bytes())
    );
    assert_eq!(app.store.recovery_codes_left(&alice_id).await.unwrap(), 10);
    let account = browser.get("/account").await;
    assert_eq!(account.status, 200);
    assert!(account.body.contains("1 set up"));
    assert!(account.body.contains("password and authentication code"));

    // Signing in again asks for a code before anything else.
    let mut other = Browser::new(&app);
    let signed_in = other.sign_in("alice", PASSWORD, Some("/account/mfa")).await;
    assert_eq!(signed_in.status, 303);
    assert_eq!(
        signed_in.location(),
        app.url("/login/mfa?return_to=%2Faccount%2Fmfa")
    );
    for path in ["/account", "/account/password", "/account/mfa", "/login"] {
        let held = other.get(path).await;
        assert_eq!(held.status, 303, "{path}");
        assert!(held.location().contains("/login/mfa"), "{path}");
    }
    let step = other.get("/login/mfa?return_to=%2Faccount%2Fmfa").await;
    assert_eq!(step.status, 200);
    assert!(
        step.body
            .contains("<label for=\"code\">Authentication code</label>")
    );
    let csrf = step.csrf();
    // The code that enrolled the app was used: the same step's code does not work again.
    let replay = code_now(&app, &secret);
    let refused = other
        .post("/login/mfa", &[("csrf_token", &csrf), ("code", &replay)])
        .await;
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("not valid, or it was used already"));
    assert!(refused.set_cookies().is_empty());

    app.clock.advance(Duration::from_secs(30));
    let code = code_now(&app, &secret);
    let pending = other.session(false).unwrap().clone();
    let passed = other
        .post(
            "/login/mfa",
            &[
                ("csrf_token", &csrf),
                ("code", &code),
                ("return_to", "/account/mfa"),
            ],
        )
        .await;
    assert_eq!(passed.status, 303, "{}", passed.body);
    assert_eq!(passed.location(), app.url("/account/mfa"));
    assert_ne!(other.session(false).unwrap(), &pending, "a new session id");
    assert_eq!(other.get("/account/mfa").await.status, 200);

    // That code works once, in any browser.
    let mut third = Browser::new(&app);
    third.sign_in("alice", PASSWORD, None).await;
    let step = third.get("/login/mfa").await;
    let again = third
        .post(
            "/login/mfa",
            &[("csrf_token", &step.csrf()), ("code", &code)],
        )
        .await;
    assert_eq!(again.status, 401);

    // A recovery code works once too, typed in any case and with spaces.
    let recovery = codes[0].to_uppercase().replace('-', " ");
    let used = third
        .post(
            "/login/mfa",
            &[("csrf_token", &step.csrf()), ("code", &recovery)],
        )
        .await;
    assert_eq!(used.status, 303, "{}", used.body);
    assert_eq!(app.store.recovery_codes_left(&alice_id).await.unwrap(), 9);
    let mut fourth = Browser::new(&app);
    fourth.sign_in("alice", PASSWORD, None).await;
    let step = fourth.get("/login/mfa").await;
    let reused = fourth
        .post(
            "/login/mfa",
            &[("csrf_token", &step.csrf()), ("code", &codes[0])],
        )
        .await;
    assert_eq!(reused.status, 401);
}

#[tokio::test]
async fn an_enrolment_form_opens_only_in_the_session_that_got_it() {
    let app = spawn(vec![]).await;
    let alice_id = alice(&app).await;
    let mut first = Browser::new(&app);
    first.sign_in("alice", PASSWORD, None).await;
    let form = first.get("/account/mfa/totp").await;
    let secret = TotpSecret::from_base32(between(&form.body, "<code id=\"secret\">", "<")).unwrap();
    let mut second = Browser::new(&app);
    second.sign_in("alice", PASSWORD, None).await;
    let csrf = second.get("/account/mfa/totp").await.csrf();
    let copied = second
        .post(
            "/account/mfa/totp",
            &[
                ("csrf_token", &csrf),
                ("enrollment", &form.field("enrollment")),
                ("name", "phone"),
                ("code", &code_now(&app, &secret)),
            ],
        )
        .await;
    assert_eq!(copied.status, 400);
    assert!(copied.body.contains("out of date"));
    let tampered = second
        .post(
            "/account/mfa/totp",
            &[
                ("csrf_token", &csrf),
                ("enrollment", "AAAA"),
                ("name", "phone"),
                ("code", "123456"),
            ],
        )
        .await;
    assert_eq!(tampered.status, 400);
    assert!(
        app.store
            .factors_of_user(&alice_id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn the_required_policy_has_every_account_enrol_and_keep_a_factor() {
    let app = spawn_with(vec![], |config| config.accounts.mfa = MfaPolicy::Required).await;
    let alice_id = alice(&app).await;
    let mut browser = Browser::new(&app);
    let signed_in = browser.sign_in("alice", PASSWORD, Some("/account")).await;
    assert_eq!(signed_in.status, 303);
    assert_eq!(
        signed_in.location(),
        app.url("/account/mfa?return_to=%2Faccount")
    );
    let account = browser.get("/account").await;
    assert_eq!(account.status, 303);
    assert!(account.location().contains("/account/mfa"));
    let page = browser.get(path_of(&app, signed_in.location())).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("Your account must have a second factor.")
    );
    // The pending session may enrol, nothing else.
    let csrf = browser.get("/account/mfa/totp").await.csrf();
    let refused = browser
        .post("/account/mfa/recovery-codes", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(refused.status, 303);
    let (_, enrolled) = enroll(&app, &mut browser).await;
    assert_eq!(enrolled.status, 200, "{}", enrolled.body);
    assert_eq!(recovery_codes(&enrolled).len(), 10);
    assert_eq!(browser.get("/account").await.status, 200);

    // The last factor stays.
    let factors = browser.get("/account/mfa").await;
    assert!(!factors.body.contains(">Remove<"));
    let factor = app.store.factors_of_user(&alice_id).await.unwrap()[0]
        .id
        .clone();
    let removed = browser
        .post(
            "/account/mfa/remove",
            &[("csrf_token", &factors.csrf()), ("factor", &factor)],
        )
        .await;
    assert_eq!(removed.status, 409);
    assert_eq!(app.store.factors_of_user(&alice_id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn factors_and_recovery_codes_are_managed_on_the_account() {
    let app = spawn(vec![]).await;
    let alice_id = alice(&app).await;
    let mut browser = Browser::new(&app);
    browser.sign_in("alice", PASSWORD, None).await;
    let (_, enrolled) = enroll(&app, &mut browser).await;
    let old = recovery_codes(&enrolled);

    let factors = browser.get("/account/mfa").await;
    assert!(factors.body.contains("10 recovery codes are"));
    let fresh = browser
        .post(
            "/account/mfa/recovery-codes",
            &[("csrf_token", &factors.csrf())],
        )
        .await;
    assert_eq!(fresh.status, 200);
    let new = recovery_codes(&fresh);
    assert_eq!(new.len(), 10);
    assert!(old.iter().all(|c| !new.contains(c)));

    // Removing the only factor also removes the recovery codes; sign-in is one step again.
    let factor = app.store.factors_of_user(&alice_id).await.unwrap()[0]
        .id
        .clone();
    let factors = browser.get("/account/mfa").await;
    let removed = browser
        .post(
            "/account/mfa/remove",
            &[("csrf_token", &factors.csrf()), ("factor", &factor)],
        )
        .await;
    assert_eq!(removed.status, 303);
    assert!(
        app.store
            .factors_of_user(&alice_id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(app.store.recovery_codes_left(&alice_id).await.unwrap(), 0);
    let mut other = Browser::new(&app);
    let signed_in = other.sign_in("alice", PASSWORD, None).await;
    assert_eq!(signed_in.location(), app.url("/account"));
    // Someone else's factor id is not found.
    let gone = browser
        .post(
            "/account/mfa/remove",
            &[("csrf_token", &factors.csrf()), ("factor", &factor)],
        )
        .await;
    assert_eq!(gone.status, 404);
}

#[tokio::test]
async fn failed_sign_ins_slow_down_guessing_without_locking_anyone_out() {
    let app = spawn(vec![]).await;
    alice(&app).await;
    let mut browser = Browser::new(&app);
    // Five failures are free; the sixth starts a one-second delay.
    for attempt in 1..=6 {
        let refused = browser.sign_in("alice", "wrong password!", None).await;
        assert_eq!(refused.status, 401, "attempt {attempt}");
    }
    // During the delay even the right password is refused unchecked, with Retry-After.
    let held = browser.sign_in("ALICE", PASSWORD, None).await;
    assert_eq!(held.status, 429, "{}", held.body);
    assert_eq!(held.headers["retry-after"], "1");
    assert!(
        held.body
            .contains("Too many failed attempts. Wait 1 second before")
    );
    assert!(held.session_cookie_is_absent());
    app.clock.advance(Duration::from_secs(2));
    // One more failure doubles the delay.
    assert_eq!(
        browser.sign_in("alice", "still wrong!", None).await.status,
        401
    );
    let held = browser.sign_in("alice", PASSWORD, None).await;
    assert_eq!(held.status, 429);
    assert_eq!(held.headers["retry-after"], "2");
    app.clock.advance(Duration::from_secs(3));
    assert_eq!(browser.sign_in("alice", PASSWORD, None).await.status, 303);
    // Success clears the account's count.
    let mut other = Browser::new(&app);
    assert_eq!(
        other.sign_in("alice", "wrong again!", None).await.status,
        401
    );

    // An account that does not exist is slowed down the same way (nothing tells them apart).
    for _ in 1..=6 {
        assert_eq!(other.sign_in("nobody", "a guess", None).await.status, 401);
    }
    assert_eq!(other.sign_in("nobody", "a guess", None).await.status, 429);
}

#[tokio::test]
async fn wrong_codes_count_against_the_account_like_wrong_passwords() {
    let app = spawn(vec![]).await;
    alice(&app).await;
    let mut browser = Browser::new(&app);
    browser.sign_in("alice", PASSWORD, None).await;
    let (secret, _) = enroll(&app, &mut browser).await;
    app.clock.advance(Duration::from_secs(30));

    let mut thief = Browser::new(&app);
    assert_eq!(thief.sign_in("alice", PASSWORD, None).await.status, 303);
    let csrf = thief.get("/login/mfa").await.csrf();
    for guess in 0..6 {
        let code = format!("{:06}", 111_111 * (guess + 1) % 1_000_000);
        let refused = thief
            .post("/login/mfa", &[("csrf_token", &csrf), ("code", &code)])
            .await;
        assert_eq!(refused.status, 401, "guess {guess}");
    }
    let right = code_now(&app, &secret);
    let held = thief
        .post("/login/mfa", &[("csrf_token", &csrf), ("code", &right)])
        .await;
    assert_eq!(held.status, 429);
    // The same count holds the password step of a fresh sign-in.
    let mut again = Browser::new(&app);
    assert_eq!(again.sign_in("alice", PASSWORD, None).await.status, 429);
}

#[tokio::test]
async fn many_accounts_from_one_address_are_slowed_down_together() {
    let app = spawn(vec![]).await;
    alice(&app).await;
    let mut browser = Browser::new(&app);
    // Twenty failures from one address are free, whatever the accounts; then it waits.
    for n in 0..21 {
        let refused = browser
            .sign_in(&format!("user{n}"), "a guess at a password", None)
            .await;
        assert_eq!(refused.status, 401, "attempt {n}");
    }
    let held = browser.sign_in("alice", PASSWORD, None).await;
    assert_eq!(held.status, 429);
}

#[tokio::test]
async fn sessions_are_listed_and_ended_from_the_account_page() {
    let app = spawn(vec![]).await;
    alice(&app).await;
    let mut laptop = Browser::new(&app);
    laptop.sign_in("alice", PASSWORD, None).await;
    let mut phone = Browser::new(&app);
    phone.sign_in("alice", PASSWORD, None).await;
    let account = laptop.get("/account").await;
    assert_eq!(
        account.body.matches("name=\"session\"").count(),
        3,
        "two and the others"
    );
    assert_eq!(account.body.matches("(this browser)").count(), 1);
    // The session that is not this browser's.
    let this = {
        let at = account.body.find("(this browser)").unwrap();
        account.body[at..]
            .split("name=\"session\" value=\"")
            .nth(1)
            .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
            .unwrap()
    };
    let ids: Vec<String> = account
        .body
        .split("name=\"session\" value=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .filter(|id| id != "others")
        .collect();
    assert_eq!(ids.len(), 2);
    let other = ids.iter().find(|id| **id != this).unwrap();
    let ended = laptop
        .post(
            "/account/sessions/end",
            &[("csrf_token", &account.csrf()), ("session", other)],
        )
        .await;
    assert_eq!(ended.status, 303);
    assert_eq!(phone.get("/account").await.status, 303, "the phone is out");
    assert_eq!(laptop.get("/account").await.status, 200, "the laptop is in");
    // An id that is not one of the account's sessions is not found.
    let unknown = laptop
        .post(
            "/account/sessions/end",
            &[("csrf_token", &account.csrf()), ("session", other)],
        )
        .await;
    assert_eq!(unknown.status, 404);
}

trait NoSession {
    fn session_cookie_is_absent(&self) -> bool;
}

impl NoSession for Page {
    fn session_cookie_is_absent(&self) -> bool {
        !self
            .set_cookies()
            .iter()
            .any(|c| c.contains("portcullis-session"))
    }
}

#[tokio::test]
async fn changing_factors_needs_a_recent_sign_in() {
    let app = spawn(vec![]).await;
    let alice_id = alice(&app).await;
    let mut browser = Browser::new(&app);
    browser.sign_in("alice", PASSWORD, None).await;
    let (secret, _) = enroll(&app, &mut browser).await;
    let factors = browser.get("/account/mfa").await;
    let csrf = factors.csrf();
    let factor = app.store.factors_of_user(&alice_id).await.unwrap()[0]
        .id
        .clone();

    // Eleven minutes later the session still works, but changing a factor asks to sign in again.
    app.clock.advance(Duration::from_secs(11 * 60));
    assert_eq!(browser.get("/account").await.status, 200);
    for (path, fields) in [
        ("/account/mfa/remove", vec![("factor", factor.as_str())]),
        ("/account/mfa/recovery-codes", vec![]),
    ] {
        let mut all = vec![("csrf_token", csrf.as_str())];
        all.extend(fields);
        let refused = browser.post(path, &all).await;
        assert_eq!(refused.status, 303, "{path}");
        assert_eq!(
            refused.location(),
            app.url("/login?return_to=%2Faccount%2Fmfa"),
            "{path}"
        );
    }
    let totp = browser.get("/account/mfa/totp").await;
    assert_eq!(totp.status, 303);
    assert!(totp.location().contains("/login?return_to="));
    assert_eq!(app.store.factors_of_user(&alice_id).await.unwrap().len(), 1);
    assert_eq!(app.store.recovery_codes_left(&alice_id).await.unwrap(), 10);

    // Signing in again (both factors) makes the change possible.
    let again = browser
        .sign_in("alice", PASSWORD, Some("/account/mfa"))
        .await;
    assert!(again.location().contains("/login/mfa"));
    let step = browser.get_url(again.location()).await;
    let passed = browser
        .post(
            "/login/mfa",
            &[
                ("csrf_token", &step.csrf()),
                ("code", &code_now(&app, &secret)),
                ("return_to", "/account/mfa"),
            ],
        )
        .await;
    assert_eq!(passed.location(), app.url("/account/mfa"));
    let factors = browser.get("/account/mfa").await;
    assert_eq!(factors.status, 200);
    let removed = browser
        .post(
            "/account/mfa/remove",
            &[("csrf_token", &factors.csrf()), ("factor", &factor)],
        )
        .await;
    assert_eq!(removed.status, 303);
    assert!(
        app.store
            .factors_of_user(&alice_id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn signing_out_everywhere_else_keeps_only_this_browser() {
    let app = spawn(vec![]).await;
    alice(&app).await;
    let mut browsers = Vec::new();
    for _ in 0..3 {
        let mut browser = Browser::new(&app);
        browser.sign_in("alice", PASSWORD, None).await;
        browsers.push(browser);
    }
    let account = browsers[0].get("/account").await;
    assert!(account.body.contains("Sign out everywhere else"));
    let ended = browsers[0]
        .post(
            "/account/sessions/end",
            &[("csrf_token", &account.csrf()), ("session", "others")],
        )
        .await;
    assert_eq!(ended.status, 303);
    assert_eq!(browsers[0].get("/account").await.status, 200);
    assert_eq!(browsers[1].get("/account").await.status, 303);
    assert_eq!(browsers[2].get("/account").await.status, 303);
    assert!(
        !browsers[0]
            .get("/account")
            .await
            .body
            .contains("Sign out everywhere else")
    );
}

#[tokio::test]
async fn a_role_can_require_a_second_factor_of_the_accounts_granted_it() {
    let app = spawn_with(vec![], |config| {
        config
            .accounts
            .mfa_by_role
            .insert("admin".to_owned(), MfaPolicy::Required);
    })
    .await;
    let alice_id = alice(&app).await;
    create_user(
        &app,
        "bob",
        InitialPassword::Given(Password::new(PASSWORD.to_owned())),
    )
    .await;
    let config = portcullis_core::config::Config::default();
    portcullis_core::admin::roles::grant(
        app.store.as_ref(),
        &portcullis_core::audit::AuditContext::off(),
        &config,
        &portcullis_core::admin::roles::Grantee::User("alice"),
        "admin",
        portcullis_core::admin::roles::Where {
            tenant: Some("acme"),
            server: None,
        },
        time::OffsetDateTime::now_utc(),
        &mut rand::rng(),
    )
    .await
    .unwrap();
    // alice holds admin (in any scope): she must enrol before anything else.
    let mut browser = Browser::new(&app);
    let signed_in = browser.sign_in("alice", PASSWORD, Some("/account")).await;
    assert_eq!(
        signed_in.location(),
        app.url("/account/mfa?return_to=%2Faccount")
    );
    assert!(
        app.store
            .factors_of_user(&alice_id)
            .await
            .unwrap()
            .is_empty()
    );
    // bob holds no such role: the optional policy lets him in.
    let mut other = Browser::new(&app);
    let bob = other.sign_in("bob", PASSWORD, Some("/account")).await;
    assert_eq!(bob.location(), app.url("/account"));
}
