//! The authorization server as an MCP client and a person in a browser drive it: a world with two
//! protected MCP servers, a person with an account and a registered client; the authorization
//! request, sign-in, consent, token, refresh and revocation calls; the shapes of its answers
//! (error page, error redirect, OAuth error JSON); and a snapshot of the store, so a test can show
//! that a refused request stored nothing.

use std::collections::BTreeMap;

use portcullis_core::accounts::Password;
use portcullis_core::admin::users::InitialPassword;
use portcullis_core::config::{Config, UpstreamConfig};
use portcullis_store::{AuthorizationSnapshot, Store};
use portcullis_testkit::{MockConfig, MockUpstream};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use super::browser::{Browser, Page, create_user};
use super::{App, initialize_body, spawn_with};

pub const PASSWORD: &str = "correct horse battery";
/// RFC 7636 appendix B: a verifier and its S256 challenge, computed independently of the code
/// under test.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub const REDIRECT: &str = "http://127.0.0.1:9/callback";
pub const STATE: &str = "st4te";

/// A request parameter to set (`Some`) or leave out (`None`).
pub type Param<'a> = (&'a str, Option<&'a str>);
/// A form field or header.
pub type Field<'a> = (&'a str, &'a str);

/// An upstream behind Portcullis's own OAuth, with two scopes.
pub fn protected(name: &str, url: &str) -> UpstreamConfig {
    let mut up = UpstreamConfig::http(name, url);
    up.scopes = vec!["files:read".to_owned(), "files:write".to_owned()];
    up
}

/// Two MCP servers (`files`, `notes`) behind the authorization server, the person `alice`, and
/// a public client registered by RFC 7591 with [`REDIRECT`].
pub struct World {
    pub app: App,
    pub upstream: MockUpstream,
    pub client_id: String,
    pub user_id: String,
}

pub async fn world() -> World {
    world_with(|_| {}).await
}

pub async fn world_with(tweak: impl FnOnce(&mut Config)) -> World {
    let upstream = MockUpstream::start(MockConfig::default()).await.unwrap();
    let app = spawn_with(
        vec![
            protected("files", &upstream.url()),
            protected("notes", &upstream.url()),
        ],
        tweak,
    )
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
pub async fn register(app: &App, redirect_uris: &[&str]) -> String {
    let body = register_client(
        app,
        &json!({
            "client_name": "Test Client",
            "redirect_uris": redirect_uris,
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        }),
    )
    .await;
    body["client_id"].as_str().unwrap().to_owned()
}

/// Registers a client by RFC 7591 with `metadata`; returns the client information response.
pub async fn register_client(app: &App, metadata: &Value) -> Value {
    let response = app
        .client
        .post(app.url("/register"))
        .json(metadata)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "registering {metadata}");
    response.json().await.unwrap()
}

/// The store's authorization rows and clients, with each client's `last_used_at` left out: that
/// is bookkeeping written (at most once a minute) whenever a client authenticates, whatever its
/// request then asks, and no credential or grant.
pub fn snapshot(app: &App) -> AuthorizationSnapshot {
    let mut snapshot = app.store.authorization_snapshot();
    for client in &mut snapshot.clients {
        client.last_used_at = None;
    }
    snapshot
}

/// Asserts that the store holds what it held in `before`.
#[track_caller]
pub fn assert_unchanged(app: &App, before: &AuthorizationSnapshot, what: &str) {
    let after = snapshot(app);
    assert!(
        after == *before,
        "{what} changed the store:\nbefore: {before:#?}\nafter: {after:#?}"
    );
}

/// A `/token` (or `/revoke`, `/introspect`) answer: status, headers, JSON body (`null` when
/// empty).
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub async fn read(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    /// Asserts an RFC 6749 §5.2 error: the status, the `error` code, no caching, and for
    /// `invalid_client` the `WWW-Authenticate` challenge.
    #[track_caller]
    pub fn assert_error(&self, status: u16, error: &str, what: &str) {
        assert_eq!(self.status, status, "{what}: {}", self.body);
        assert_eq!(self.body["error"], error, "{what}: {}", self.body);
        assert_eq!(self.headers["cache-control"], "no-store", "{what}");
        assert_eq!(self.headers["content-type"], "application/json", "{what}");
        if error == "invalid_client" {
            assert_eq!(
                self.headers["www-authenticate"], "Basic realm=\"portcullis\"",
                "{what}"
            );
        }
        for secret in ["access_token", "refresh_token", "id_token"] {
            assert!(self.body.get(secret).is_none(), "{what}: {}", self.body);
        }
    }
}

/// A form POST to an endpoint of `app`, with extra headers.
pub async fn post_form(
    app: &App,
    path: &str,
    form: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Answer {
    let mut request = app.client.post(app.url(path)).form(form);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    Answer::read(request.send().await.unwrap()).await
}

/// A form POST with a body written as is (repeated parameters, odd encodings).
pub async fn post_raw(app: &App, path: &str, body: &str) -> Answer {
    let response = app
        .client
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    Answer::read(response).await
}

impl World {
    pub fn resource(&self, name: &str) -> String {
        self.app.mcp(name)
    }

    pub fn issuer(&self) -> String {
        self.app.url("")
    }

    /// The query of an authorization request; `change` sets or (with `None`) drops parameters.
    pub fn authorize_query(&self, change: &[(&str, Option<&str>)]) -> String {
        let resource = self.resource("files");
        let mut params: Vec<(&str, String)> = vec![
            ("response_type", "code".to_owned()),
            ("client_id", self.client_id.clone()),
            ("redirect_uri", REDIRECT.to_owned()),
            ("code_challenge", CHALLENGE.to_owned()),
            ("code_challenge_method", "S256".to_owned()),
            ("state", STATE.to_owned()),
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

    /// A signed-in browser (alice).
    pub async fn signed_in(&self) -> Browser<'_> {
        let mut browser = Browser::new(&self.app);
        let answer = browser.sign_in("alice", PASSWORD, None).await;
        assert_eq!(answer.status, 303, "{}", answer.body);
        browser
    }

    /// Drives a browser through sign-in (unless it is signed in) to the consent page of an
    /// authorization request.
    pub async fn consent_page(&self, browser: &mut Browser<'_>, query: &str) -> Page {
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

    /// Posts the consent form with `decision`; returns the answer.
    pub async fn post_consent(
        &self,
        browser: &mut Browser<'_>,
        consent: &Page,
        decision: &str,
    ) -> Page {
        browser
            .post(
                "/authorize",
                &[
                    ("csrf_token", &consent.csrf()),
                    ("request", &html_unescape(&consent.field("request"))),
                    ("decision", decision),
                ],
            )
            .await
    }

    /// Allows or denies on the consent page; returns the redirect back to the client, parsed.
    pub async fn decide(
        &self,
        browser: &mut Browser<'_>,
        consent: &Page,
        decision: &str,
    ) -> url::Url {
        let answer = self.post_consent(browser, consent, decision).await;
        assert_eq!(answer.status, 303, "{}", answer.body);
        url::Url::parse(answer.location()).unwrap()
    }

    /// The whole authorization-code flow for the default request; returns the code.
    pub async fn code(&self, browser: &mut Browser<'_>) -> String {
        self.code_for(browser, &self.authorize_query(&[])).await
    }

    /// The whole authorization-code flow for the request `query` (allowed); returns the code.
    pub async fn code_for(&self, browser: &mut Browser<'_>, query: &str) -> String {
        let consent = self.consent_page(browser, query).await;
        let back = self.decide(browser, &consent, "allow").await;
        let q = query_of(&back);
        assert_eq!(q("iss").as_deref(), Some(self.issuer().as_str()));
        q("code").unwrap_or_else(|| panic!("no code in {back}"))
    }

    pub async fn token(&self, form: &[(&str, &str)]) -> Answer {
        post_form(&self.app, "/token", form, &[]).await
    }

    /// The code exchange as the client sends it, with `change` applied (`None` drops a field).
    pub async fn exchange_with(&self, code: &str, change: &[(&str, Option<&str>)]) -> Answer {
        let resource = self.resource("files");
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("client_id", &self.client_id),
            ("code_verifier", VERIFIER),
            ("resource", &resource),
        ];
        for (name, value) in change {
            form.retain(|(n, _)| n != name);
            if let Some(value) = value {
                form.push((name, value));
            }
        }
        self.token(&form).await
    }

    pub async fn exchange(&self, code: &str) -> (u16, Value) {
        let answer = self.exchange_with(code, &[]).await;
        assert_eq!(answer.headers["cache-control"], "no-store");
        (answer.status, answer.body)
    }

    /// Signs in, consents and exchanges the code: the token response.
    pub async fn tokens(&self) -> Value {
        self.tokens_for(&[]).await
    }

    /// Signs in, consents to the request changed by `change` and exchanges the code: the token
    /// response.
    pub async fn tokens_for(&self, change: &[Param<'_>]) -> Value {
        let mut browser = Browser::new(&self.app);
        let code = self
            .code_for(&mut browser, &self.authorize_query(change))
            .await;
        let (status, tokens) = self.exchange(&code).await;
        assert_eq!(status, 200, "{tokens}");
        tokens
    }

    pub async fn refresh(&self, refresh_token: &str, scope: Option<&str>) -> (u16, Value) {
        let answer = self.refresh_with(refresh_token, &[("scope", scope)]).await;
        (answer.status, answer.body)
    }

    /// A refresh request by this world's client, with `change` applied.
    pub async fn refresh_with(
        &self,
        refresh_token: &str,
        change: &[(&str, Option<&str>)],
    ) -> Answer {
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", self.client_id.as_str()),
        ];
        for (name, value) in change {
            form.retain(|(n, _)| n != name);
            if let Some(value) = value {
                form.push((name, value));
            }
        }
        self.token(&form).await
    }

    /// RFC 7009 revocation by the public client; returns the HTTP status.
    pub async fn revoke(&self, token: &str) -> u16 {
        post_form(
            &self.app,
            "/revoke",
            &[("token", token), ("client_id", &self.client_id)],
            &[],
        )
        .await
        .status
    }

    /// Initializes an MCP session on `name` with `token`; returns the HTTP status.
    pub async fn mcp_status(&self, name: &str, token: &str) -> u16 {
        self.mcp_answer(name, token).await.status().as_u16()
    }

    /// Initializes an MCP session on `name` with `token`.
    pub async fn mcp_answer(&self, name: &str, token: &str) -> reqwest::Response {
        self.app
            .post(name, &initialize_body())
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap()
    }

    pub fn snapshot(&self) -> AuthorizationSnapshot {
        snapshot(&self.app)
    }

    /// Asserts that `page` sends the browser back to the client with `error`, this world's
    /// `state` and the issuer (RFC 9207), and without a code; returns its parameters.
    #[track_caller]
    pub fn assert_error_redirect(
        &self,
        page: &Page,
        redirect_uri: &str,
        error: &str,
        what: &str,
    ) -> BTreeMap<String, String> {
        assert_eq!(page.status, 303, "{what}: {}", page.body);
        let location = page.location();
        assert!(
            location.starts_with(redirect_uri),
            "{what}: sent to {location}, not {redirect_uri}"
        );
        let url = url::Url::parse(location).unwrap();
        let params: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(
            params.get("error").map(String::as_str),
            Some(error),
            "{what}: {location}"
        );
        assert_eq!(
            params.get("state").map(String::as_str),
            Some(STATE),
            "{what}"
        );
        assert_eq!(
            params.get("iss").map(String::as_str),
            Some(self.issuer().as_str()),
            "{what}"
        );
        assert!(!params.contains_key("code"), "{what}: {location}");
        assert_eq!(page.headers["referrer-policy"], "same-origin", "{what}");
        params
    }
}

/// Asserts that `page` is an HTML error page with `status` that sends the browser nowhere and
/// cannot be framed, whose text contains `says`.
#[track_caller]
pub fn assert_error_page(page: &Page, status: u16, says: &str, what: &str) {
    assert_eq!(
        page.status,
        status,
        "{what}: {} {}",
        page.location(),
        page.body
    );
    assert_eq!(page.location(), "", "{what}: redirected");
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{what}"
    );
    assert!(page.body.contains(says), "{what}: {}", page.body);
    assert_eq!(page.headers["x-frame-options"], "DENY", "{what}");
    assert!(
        page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'"),
        "{what}"
    );
}

pub fn query_of(url: &url::Url) -> impl Fn(&str) -> Option<String> + '_ {
    move |name| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// The hidden field carries the request HTML-escaped (named and numeric character references).
pub fn html_unescape(s: &str) -> String {
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

/// A client the operator registered (`portcullis admin client create`): trusted with redirects
/// and remembered consent. Returns its id and, when confidential, its secret.
pub async fn first_party_client(
    app: &App,
    redirect_uris: &[&str],
    confidential: bool,
    grant_types: &[&str],
) -> (String, Option<String>) {
    let redirect_uris: Vec<String> = redirect_uris.iter().map(|u| (*u).to_owned()).collect();
    let grant_types: Vec<String> = grant_types.iter().map(|g| (*g).to_owned()).collect();
    let created = portcullis_core::admin::clients::create(
        app.store.as_ref(),
        &portcullis_core::audit::AuditContext::off(),
        portcullis_core::admin::clients::NewClient {
            name: "Operator Client",
            redirect_uris: &redirect_uris,
            confidential,
            grant_types: &grant_types,
            scope: None,
        },
        time::OffsetDateTime::now_utc(),
        &mut rand::rng(),
    )
    .await
    .unwrap();
    (created.client.client_id, created.secret)
}

/// `Authorization: Basic` for a client id and secret (RFC 6749 §2.3.1).
pub fn basic(client_id: &str, secret: &str) -> String {
    use base64::Engine;
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            encode(client_id),
            encode(secret)
        ))
    )
}
