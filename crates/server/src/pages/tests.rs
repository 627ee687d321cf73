//! Unit tests of the pages' building blocks; whole flows are in `crates/cli/tests/pages.rs`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::to_bytes;
use axum::response::IntoResponse;
use http::header::{COOKIE, ORIGIN, SET_COOKIE};
use http::{HeaderMap, HeaderValue, StatusCode};
use portcullis_core::accounts::{
    AccountsError, Password, PasswordHashing, SessionSecret, new_salt,
};
use portcullis_core::config::Config;

use super::cookie::Cookie;
use super::*;

fn pages(public_url: &str) -> Pages {
    let mut config = Config::default();
    config.server.public_url = public_url.to_owned();
    let sealer = portcullis_core::crypto::Sealer::generate(&mut rand::rng()).unwrap();
    Pages::new(&config, Arc::new(sealer), system_clock())
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

fn check_return_to(raw: &str, safe: bool) {
    assert_eq!(
        safe_return_to(raw),
        safe.then_some(raw),
        "return_to {raw:?} should be {}",
        if safe { "kept" } else { "ignored" }
    );
}

#[test]
fn return_to_is_a_path_on_this_origin_or_nothing() {
    for kept in [
        "/",
        "/account",
        "/authorize?client_id=https%3A%2F%2Fapp.example%2Fclient.json&state=x&scope=a+b",
        "/a/b/../c",
        "/%2F%2Fevil.example",
        "/@evil.example",
        "/path?next=//evil.example",
    ] {
        check_return_to(kept, true);
    }
    for ignored in [
        "",
        "account",
        "//evil.example",
        "//evil.example/account",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "/ /evil.example",
        "/a\\b",
        "https://evil.example/",
        "http:/evil.example",
        "javascript:alert(1)",
        "/ünïcode",
        "\u{0}/",
        &format!("/{}", "a".repeat(MAX_RETURN_TO)),
    ] {
        check_return_to(ignored, false);
    }
    check_return_to(&format!("/{}", "a".repeat(MAX_RETURN_TO - 1)), true);
    // From a query string: exactly one, and safe.
    let from = |q: &str| return_to::return_to_from_query(Some(q));
    assert_eq!(from("return_to=%2Faccount").as_deref(), Some("/account"));
    assert_eq!(from("return_to=%2F%2Fevil.example"), None);
    assert_eq!(from("return_to=/a&return_to=/b"), None);
    assert_eq!(from("other=/a"), None);
}

#[test]
fn login_urls_carry_only_safe_return_tos() {
    let pages = pages("https://gw.example");
    assert_eq!(login_url(&pages, None), "https://gw.example/login");
    assert_eq!(
        login_url(&pages, Some("/authorize?a=1&b=2")),
        "https://gw.example/login?return_to=%2Fauthorize%3Fa%3D1%26b%3D2"
    );
    assert_eq!(
        login_url(&pages, Some("//evil.example")),
        "https://gw.example/login"
    );
    let response = login_redirect(&pages, Some("/account"));
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[test]
fn cookies_are_host_prefixed_and_secure_on_https_and_plain_on_loopback_http() {
    let https = pages("https://gw.example");
    let cookie = https
        .set_cookie(Cookie::Session, "abc", Some(Duration::from_secs(604_800)))
        .unwrap();
    assert_eq!(
        cookie,
        "__Host-portcullis-session=abc; Path=/; Max-Age=604800; Secure; HttpOnly; SameSite=Lax"
    );
    assert_eq!(
        https.clear_cookie(Cookie::Session).unwrap(),
        "__Host-portcullis-session=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Lax"
    );
    assert_eq!(
        https.set_cookie(Cookie::Csrf, "abc", None).unwrap(),
        "__Host-portcullis-csrf=abc; Path=/; Secure; HttpOnly; SameSite=Lax"
    );
    // An https public URL on a loopback host is still https.
    assert!(
        pages("https://127.0.0.1:8443")
            .cookie_name(Cookie::Session)
            .starts_with("__Host-")
    );
    for loopback in [
        "http://127.0.0.1:8080",
        "http://localhost:8080",
        "http://[::1]:8080",
    ] {
        let plain = pages(loopback);
        assert_eq!(
            plain.set_cookie(Cookie::Session, "abc", None).unwrap(),
            "portcullis-session=abc; Path=/; HttpOnly; SameSite=Lax",
            "{loopback}"
        );
        assert_eq!(plain.cookie_name(Cookie::Csrf), "portcullis-csrf");
    }
}

#[test]
fn cookies_are_found_by_exact_name_across_cookie_headers() {
    let pages = pages("https://gw.example");
    let headers = headers(&[
        (
            "cookie",
            "portcullis-session=plain; x__Host-portcullis-session=no",
        ),
        ("cookie", "a=b;__Host-portcullis-session=right ; c=d"),
    ]);
    assert_eq!(pages.cookie(&headers, Cookie::Session), Some("right"));
    assert_eq!(pages.cookie(&headers, Cookie::Csrf), None);
}

#[test]
fn only_same_origin_posts_pass_the_origin_check() {
    let pages = pages("https://gw.example");
    let cases: &[(&[(&'static str, &str)], bool)] = &[
        (&[], true),
        (&[("origin", "https://gw.example")], true),
        (&[("sec-fetch-site", "same-origin")], true),
        (&[("sec-fetch-site", "none")], true),
        (
            &[
                ("sec-fetch-site", "same-origin"),
                ("origin", "https://gw.example"),
            ],
            true,
        ),
        (&[("origin", "https://evil.example")], false),
        (&[("origin", "https://gw.example:8443")], false),
        (&[("origin", "http://gw.example")], false),
        (&[("origin", "null")], false),
        (&[("sec-fetch-site", "cross-site")], false),
        (&[("sec-fetch-site", "same-site")], false),
        (
            &[
                ("sec-fetch-site", "same-origin"),
                ("origin", "https://evil.example"),
            ],
            false,
        ),
    ];
    for (pairs, allowed) in cases {
        let result = check_same_origin(&pages, &headers(pairs));
        assert_eq!(result.is_ok(), *allowed, "{pairs:?}");
    }
    // The origin is the public URL's as browsers write it: default port dropped, host lower case.
    let with_port = self::pages("https://GW.example:443");
    assert!(check_same_origin(&with_port, &headers(&[("origin", "https://gw.example")])).is_ok());
    let _ = ORIGIN;
}

#[test]
fn csrf_tokens_are_bound_to_the_session_else_to_a_pre_session_cookie() {
    let pages = pages("https://gw.example");
    let mut rng = rand::rng();
    let session = SessionSecret::generate(&mut rng);
    let pre = SessionSecret::generate(&mut rng);

    let fresh = CsrfToken::for_request(&pages, &HeaderMap::new());
    let response = (fresh.clone(), "").into_response();
    let set = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(set.starts_with("__Host-portcullis-csrf="), "{set}");
    assert_eq!(fresh.value().len(), 43);

    let with_pre = headers(&[(
        "cookie",
        &format!("__Host-portcullis-csrf={}", pre.as_str()),
    )]);
    let pre_token = CsrfToken::for_request(&pages, &with_pre);
    assert_eq!(
        (pre_token.clone(), "")
            .into_response()
            .headers()
            .get(SET_COOKIE),
        None
    );
    let with_both = headers(&[(
        "cookie",
        &format!(
            "__Host-portcullis-csrf={}; __Host-portcullis-session={}",
            pre.as_str(),
            session.as_str()
        ),
    )]);
    let session_token = CsrfToken::for_request(&pages, &with_both);
    assert_ne!(session_token.value(), pre_token.value());
    // Neither reveals its secret or the session's stored hash.
    for token in [&session_token, &pre_token] {
        assert!(!session.as_str().contains(token.value()));
        assert!(!format!("{token:?}").contains(token.value()));
    }
    let _ = COOKIE;
}

#[derive(Debug)]
struct Failing;

#[async_trait::async_trait]
impl PasswordHashing for Failing {
    async fn hash(
        &self,
        _: &Password,
        _: portcullis_core::accounts::Salt,
    ) -> Result<String, AccountsError> {
        Err(AccountsError::Busy)
    }
    async fn verify(&self, _: &Password, _: Option<&str>) -> Result<bool, AccountsError> {
        Err(AccountsError::Busy)
    }
}

#[tokio::test]
async fn hashing_waits_for_a_slot_then_gives_up_busy() {
    let password = Password::new("correct horse battery".to_owned());
    let none = BoundedHashing::new(0, Duration::from_millis(20));
    assert!(matches!(
        none.verify(&password, None).await,
        Err(AccountsError::Busy)
    ));
    let one = BoundedHashing::new(1, Duration::from_secs(5));
    let hash = one
        .hash(&password, new_salt(&mut rand::rng()))
        .await
        .unwrap();
    // Two at once through one slot: both finish, one after the other.
    let (a, b) = tokio::join!(
        one.verify(&password, Some(&hash)),
        one.verify(&password, None)
    );
    assert!(a.unwrap());
    assert!(!b.unwrap());
    // Pages can be given another pool.
    let pages = pages("https://gw.example").with_hashing(Arc::new(Failing));
    assert!(format!("{pages:?}").contains("Failing"));
}

async fn body_text(response: axum::response::Response) -> String {
    String::from_utf8(
        to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap()
}

fn assert_page_headers(headers: &HeaderMap) {
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"
    );
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "same-origin");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn error_pages_are_escaped_html_with_the_page_headers() {
    let error = PageError::new(StatusCode::BAD_REQUEST, "No <script> for \"you\".");
    let response = crate::ApiError::from(error).into_response();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_page_headers(response.headers());
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let body = body_text(response).await;
    assert!(body.contains("<html lang=\"en\">"), "{body}");
    assert!(body.contains("<h1>400 Bad Request</h1>"), "{body}");
    assert!(
        body.contains("No &#60;script&#62; for &#34;you&#34;."),
        "{body}"
    );
    assert!(!body.contains("<script"), "{body}");
    // The layout states the header's referrer policy: a `<meta name="referrer">` would override
    // it, and under `no-referrer` browsers post every form with `Origin: null`.
    let meta = format!(
        "<meta name=\"referrer\" content=\"{}\">",
        render::REFERRER_POLICY_VALUE
    );
    assert!(body.contains(&meta), "{body}");
    // An icon of its own, so browsers do not ask for `/favicon.ico` (a 404) on every first page.
    assert!(
        body.contains("<link rel=\"icon\" href=\"data:image/svg+xml,"),
        "{body}"
    );

    let busy = crate::ApiError::from(PageError::unavailable("Try again.")).into_response();
    assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(busy.headers()["retry-after"], "1");
    assert_page_headers(busy.headers());

    let redirect = with_page_headers(login_redirect(&pages("https://gw.example"), None)).await;
    assert_page_headers(redirect.headers());
}

#[tokio::test]
async fn busy_hashing_and_a_failing_store_are_503_pages() {
    for (failure, needle) in [
        (AccountsError::Busy, "Too many people are signing in"),
        (
            AccountsError::Store(portcullis_store::StoreError::Unavailable("down".to_owned())),
            "cannot reach its database",
        ),
    ] {
        let response = session::page_failure(failure).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "1");
        assert_page_headers(response.headers());
        let body = body_text(response).await;
        assert!(body.contains(needle), "{body}");
        assert!(
            !body.contains("down"),
            "store details stay in the logs: {body}"
        );
    }
}
