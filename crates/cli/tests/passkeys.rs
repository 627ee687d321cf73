//! Passkeys over real HTTP, with a software authenticator standing in for the browser's: the
//! enrolment page (a recent sign-in, the CSRF token, the script policy), the second-factor step
//! with a passkey, and every way a ceremony is refused — another session's, used already,
//! expired — with nothing stored for a refused request and wrong answers counted by the
//! throttle. The browser suite (`tests/browser`) does the same with Chromium's virtual
//! authenticator.

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
use portcullis_core::accounts::passkey::testing::SoftPasskey;
use portcullis_core::admin::users::InitialPassword;
use portcullis_store::{FactorKind, Store};

const PASSWORD: &str = "correct horse battery";

/// An app published as `http://localhost:PORT` (passkeys need a domain name), with alice.
async fn app() -> App {
    let app = spawn_with(vec![], |config| {
        config.server.public_url = config.server.public_url.replace("127.0.0.1", "localhost");
    })
    .await;
    create_user(
        &app,
        "alice",
        InitialPassword::Given(Password::new(PASSWORD.to_owned())),
    )
    .await;
    app
}

/// The public URL (what browsers see, and send as `Origin`).
fn public(app: &App) -> String {
    app.url("").replace("127.0.0.1", "localhost")
}

fn browser(app: &App) -> Browser<'_> {
    Browser::with_base(app, &public(app))
}

/// The path of a redirect to this app.
fn path_of(app: &App, page: &Page) -> String {
    let location = page.location();
    location
        .strip_prefix(&public(app))
        .unwrap_or(location)
        .to_owned()
}

async fn alice_factors(app: &App) -> Vec<portcullis_store::Factor> {
    let alice = app
        .store
        .user_get_by_username("alice")
        .await
        .unwrap()
        .unwrap();
    app.store.factors_of_user(&alice.id).await.unwrap()
}

/// A browser signed in as alice with her password.
async fn signed_in(app: &App) -> Browser<'_> {
    let mut browser = browser(app);
    let answer = browser.sign_in("alice", PASSWORD, None).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    browser
}

/// The enrolment page's form: its CSRF token, ceremony and options.
struct Form {
    csrf: String,
    ceremony: String,
    options: String,
}

fn form_of(page: &Page) -> Form {
    Form {
        csrf: page.csrf(),
        ceremony: page.field("ceremony"),
        options: page.attribute("data-options"),
    }
}

async fn enrol_page(browser: &mut Browser<'_>) -> Form {
    let page = browser.get("/account/mfa/passkey").await;
    assert_eq!(page.status, 200, "{}", page.location());
    form_of(&page)
}

async fn post_enrolment(browser: &mut Browser<'_>, form: &Form, credential: &str) -> Page {
    browser
        .post(
            "/account/mfa/passkey",
            &[
                ("csrf_token", &form.csrf),
                ("ceremony", &form.ceremony),
                ("credential", credential),
                ("name", "laptop"),
            ],
        )
        .await
}

/// Enrols `key` for alice through the pages.
async fn enrol(app: &App, key: &mut SoftPasskey) {
    let mut browser = signed_in(app).await;
    let form = enrol_page(&mut browser).await;
    let enrolled = post_enrolment(&mut browser, &form, &key.register(&form.options)).await;
    assert_eq!(enrolled.status, 200, "{}", enrolled.body);
    assert!(enrolled.body.contains("Your recovery codes"));
}

#[tokio::test]
async fn the_enrolment_page_runs_the_script_and_records_the_passkey() {
    let app = app().await;
    let mut browser = signed_in(&app).await;
    let factors = browser.get("/account/mfa").await;
    assert!(factors.body.contains("Add a passkey"));
    assert!(
        !factors.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src"),
        "pages without a passkey form run no script"
    );
    let page = browser.get("/account/mfa/passkey").await;
    assert_eq!(page.status, 200);
    let policy = page.headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("script-src 'self';"), "{policy}");
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert_eq!(page.headers["cache-control"], "no-store");
    let script = page.attribute("src");
    assert!(script.starts_with(&format!("{}/static/passkey.js?v=", public(&app))));

    let js = app
        .client
        .get(app.url("/static/passkey.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), 200);
    assert_eq!(
        js.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        js.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(js.headers()["x-content-type-options"], "nosniff");
    assert!(
        js.text()
            .await
            .unwrap()
            .contains("parseCreationOptionsFromJSON")
    );

    let form = form_of(&page);
    let mut key = SoftPasskey::new(&public(&app));
    let before = browser.session(false).cloned();
    let enrolled = post_enrolment(&mut browser, &form, &key.register(&form.options)).await;
    assert_eq!(enrolled.status, 200, "{}", enrolled.body);
    assert!(enrolled.body.contains("Your recovery codes"));
    assert_ne!(
        browser.session(false).cloned(),
        before,
        "a new session for the upgraded sign-in"
    );
    let factors = alice_factors(&app).await;
    assert_eq!(factors.len(), 1);
    assert_eq!(factors[0].kind, FactorKind::Passkey);
    assert_eq!(factors[0].name, "laptop");
    let account = browser.get("/account").await;
    assert!(
        account.body.contains("password and passkey"),
        "{}",
        account.body
    );
}

#[tokio::test]
async fn enrolling_needs_a_recent_sign_in_and_a_form_from_this_session() {
    let app = app().await;
    let mut anonymous = browser(&app);
    let refused = anonymous.get("/account/mfa/passkey").await;
    assert_eq!(refused.status, 303);
    assert!(path_of(&app, &refused).starts_with("/login?return_to="));

    let mut browser = signed_in(&app).await;
    let form = enrol_page(&mut browser).await;
    let mut key = SoftPasskey::new(&public(&app));
    let answer = key.register(&form.options);
    // No token, a wrong token, another site's Origin: refused before anything is looked at.
    for (fields, origin) in [
        (vec![("ceremony", form.ceremony.as_str())], public(&app)),
        (
            vec![("csrf_token", "forged"), ("ceremony", &form.ceremony)],
            public(&app),
        ),
        (
            vec![("csrf_token", &form.csrf), ("ceremony", &form.ceremony)],
            "http://127.0.0.1:1".to_owned(),
        ),
    ] {
        let mut fields = fields;
        fields.push(("credential", &answer));
        fields.push(("name", "laptop"));
        let forged = browser
            .post_with("/account/mfa/passkey", &fields, &[("origin", &origin)])
            .await;
        assert_eq!(forged.status, 403, "{fields:?} from {origin}");
    }
    assert!(alice_factors(&app).await.is_empty());

    // Ten minutes after signing in, factors change only after signing in again.
    app.clock.advance(Duration::from_secs(11 * 60));
    let stale = post_enrolment(&mut browser, &form, &answer).await;
    assert_eq!(stale.status, 303);
    assert!(path_of(&app, &stale).starts_with("/login?return_to="));
    assert_eq!(
        path_of(&app, &browser.get("/account/mfa/passkey").await),
        "/login?return_to=%2Faccount%2Fmfa%2Fpasskey"
    );
    assert!(alice_factors(&app).await.is_empty());
}

#[tokio::test]
async fn a_registration_ceremony_is_this_sessions_once_and_for_five_minutes() {
    let app = app().await;
    let mut first = signed_in(&app).await;
    let mut second = signed_in(&app).await;
    let form = enrol_page(&mut first).await;
    let mut key = SoftPasskey::new(&public(&app));
    let answer = key.register(&form.options);

    // Another session of the same person, with its own token: the ceremony is not its own.
    let elsewhere = Form {
        csrf: enrol_page(&mut second).await.csrf,
        ..form_of_parts(&form)
    };
    let refused = post_enrolment(&mut second, &elsewhere, &answer).await;
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("out of date"), "{}", refused.body);
    assert!(alice_factors(&app).await.is_empty());

    // The session that started it still can, once.
    let enrolled = post_enrolment(&mut first, &form, &answer).await;
    assert_eq!(enrolled.status, 200, "{}", enrolled.body);
    let again = Form {
        csrf: first.get("/account/mfa").await.csrf(),
        ..form_of_parts(&form)
    };
    let replayed = post_enrolment(&mut first, &again, &answer).await;
    assert_eq!(replayed.status, 400);
    assert!(replayed.body.contains("out of date"));
    assert_eq!(alice_factors(&app).await.len(), 1);

    // The other session, password only, must now give the new factor first.
    let pending = second.get("/account/mfa/passkey").await;
    assert_eq!(path_of(&app, &pending), "/login/mfa");

    // A page left open past five minutes.
    let form = enrol_page(&mut first).await;
    let mut phone = SoftPasskey::new(&public(&app));
    app.clock.advance(Duration::from_secs(6 * 60));
    let late = post_enrolment(&mut first, &form, &phone.register(&form.options)).await;
    assert_eq!(late.status, 400);
    assert!(late.body.contains("out of date"));
    // Without the script the form comes back empty-handed: said so, nothing spent or stored.
    let form = form_of(&late);
    let empty = post_enrolment(&mut first, &form, "").await;
    assert_eq!(empty.status, 400);
    assert!(empty.body.contains("need JavaScript"), "{}", empty.body);
    assert_eq!(alice_factors(&app).await.len(), 1);
}

fn form_of_parts(form: &Form) -> Form {
    Form {
        csrf: form.csrf.clone(),
        ceremony: form.ceremony.clone(),
        options: form.options.clone(),
    }
}

/// A browser that signed in with alice's password and is at the second-factor step; the step
/// page's passkey form.
async fn at_step(app: &App) -> (Browser<'_>, Form) {
    let mut browser = browser(app);
    let answer = browser.sign_in("alice", PASSWORD, None).await;
    assert_eq!(path_of(app, &answer), "/login/mfa");
    let step = browser.get("/login/mfa").await;
    assert_eq!(step.status, 200);
    assert!(step.body.contains("Use a passkey"));
    let policy = step.headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("script-src 'self';"), "{policy}");
    (browser, form_of(&step))
}

async fn post_step(browser: &mut Browser<'_>, form: &Form, credential: &str) -> Page {
    browser
        .post(
            "/login/mfa/passkey",
            &[
                ("csrf_token", &form.csrf),
                ("ceremony", &form.ceremony),
                ("credential", credential),
            ],
        )
        .await
}

#[tokio::test]
async fn a_passkey_is_the_second_factor_once_per_challenge() {
    let app = app().await;
    let mut key = SoftPasskey::new(&public(&app));
    enrol(&app, &mut key).await;

    let (mut browser, form) = at_step(&app).await;
    let answer = key.assert(&form.options);
    // Forged posts are refused before the ceremony is touched.
    let forged = browser
        .post(
            "/login/mfa/passkey",
            &[("ceremony", &form.ceremony), ("credential", &answer)],
        )
        .await;
    assert_eq!(forged.status, 403);
    // Another browser at the same step cannot use this one's ceremony.
    let (mut other, other_form) = at_step(&app).await;
    let stolen = Form {
        csrf: other_form.csrf.clone(),
        ..form_of_parts(&form)
    };
    let refused = post_step(&mut other, &stolen, &answer).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("out of date"));

    let passed = post_step(&mut browser, &form, &answer).await;
    assert_eq!(passed.status, 303, "{}", passed.body);
    assert_eq!(path_of(&app, &passed), "/account");
    let account = browser.get("/account").await;
    assert_eq!(account.status, 200);
    assert!(account.body.contains("password and passkey"));
    assert!(alice_factors(&app).await[0].last_used_at.is_some());

    // The other browser replays the answer with its own (fresh) ceremony: wrong challenge.
    let other_step = form_of(&other.get("/login/mfa").await);
    let replayed = post_step(&mut other, &other_step, &answer).await;
    assert_eq!(replayed.status, 401);
    assert!(replayed.body.contains("not accepted"));
    // Without the script: said so, and not counted as a guess.
    let empty = post_step(&mut other, &form_of(&replayed), "").await;
    assert_eq!(empty.status, 400);
    assert!(empty.body.contains("need JavaScript"));
}

#[tokio::test]
async fn wrong_passkeys_are_counted_like_wrong_codes() {
    let app = app().await;
    let mut key = SoftPasskey::new(&public(&app));
    enrol(&app, &mut key).await;
    let mut stranger = SoftPasskey::new(&public(&app));
    let (mut browser, mut form) = at_step(&app).await;
    // Five failures are free; the sixth starts a one-second delay.
    for attempt in 1..=6 {
        let refused = post_step(&mut browser, &form, &stranger.assert(&form.options)).await;
        assert_eq!(refused.status, 401, "attempt {attempt}: {}", refused.body);
        form = form_of(&refused);
    }
    let held = post_step(&mut browser, &form, &key.assert(&form.options)).await;
    assert_eq!(held.status, 429, "{}", held.body);
    assert_eq!(held.headers["retry-after"], "1");
    app.clock.advance(Duration::from_secs(2));
    let form = form_of(&held);
    let passed = post_step(&mut browser, &form, &key.assert(&form.options)).await;
    assert_eq!(passed.status, 303, "{}", passed.body);
    assert_eq!(path_of(&app, &passed), "/account");
}

#[tokio::test]
async fn an_ip_address_public_url_has_no_passkeys() {
    let app = spawn(vec![]).await;
    create_user(
        &app,
        "alice",
        InitialPassword::Given(Password::new(PASSWORD.to_owned())),
    )
    .await;
    let mut browser = Browser::new(&app);
    assert_eq!(browser.sign_in("alice", PASSWORD, None).await.status, 303);
    assert!(
        !browser
            .get("/account/mfa")
            .await
            .body
            .contains("Add a passkey")
    );
    assert_eq!(browser.get("/account/mfa/passkey").await.status, 404);
    let js = app
        .client
        .get(app.url("/static/passkey.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), 404);
}
