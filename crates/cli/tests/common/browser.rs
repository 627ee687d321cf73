//! A browser for black-box tests: cookies kept between requests, form posts with the `Origin`
//! a browser would send from the last page shown (which depends on that page's referrer
//! policy), no redirects followed (each step is looked at), and the CSRF token read from a
//! page's form.

use std::collections::BTreeMap;

use portcullis_core::accounts::{InlineHashing, Password, PasswordPolicy};
use portcullis_core::admin::users::{self, InitialPassword, NewUser};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, LOCATION, REFERRER_POLICY, SET_COOKIE};

use super::App;

/// A browser's referrer policy (the HTML standard's default) until a page says otherwise.
const DEFAULT_REFERRER_POLICY: &str = "strict-origin-when-cross-origin";

/// One browser: its cookies, and the `Origin` it sends with form posts.
pub struct Browser<'a> {
    client: reqwest::Client,
    /// Where requests go: `http://127.0.0.1:port` of the app or process under test.
    server: String,
    /// The public URL (`http://127.0.0.1:port` unless the test set another).
    base: String,
    pub cookies: BTreeMap<String, String>,
    _app: std::marker::PhantomData<&'a App>,
    /// The referrer policy of the last page shown: the document a form is posted from.
    referrer_policy: String,
}

/// A response, read.
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    /// The referrer policy of an HTML page as a browser applies it: its
    /// `<meta name="referrer">` when it has one (it comes last, so it wins), else the
    /// `Referrer-Policy` header. `None` for anything that is not a page (a redirect, JSON).
    pub fn referrer_policy(&self) -> Option<String> {
        let html = self
            .headers
            .get(CONTENT_TYPE)
            .is_some_and(|v| v.to_str().unwrap().starts_with("text/html"));
        if !html {
            return None;
        }
        let marker = "<meta name=\"referrer\" content=\"";
        if let Some(start) = self.body.find(marker) {
            let rest = &self.body[start + marker.len()..];
            return Some(rest[..rest.find('"').unwrap()].to_owned());
        }
        self.headers
            .get(REFERRER_POLICY)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    pub fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .map_or("", |v| v.to_str().unwrap())
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// The CSRF token of the page's form.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf_token\" value=\"";
        let start = self.body.find(marker).expect("a CSRF field") + marker.len();
        let end = start + self.body[start..].find('"').unwrap();
        self.body[start..end].to_owned()
    }
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a App) -> Self {
        Self::with_base(app, &app.url(""))
    }

    pub fn with_base(app: &'a App, base: &str) -> Self {
        Browser {
            client: app.client.clone(),
            server: app.url(""),
            base: base.to_owned(),
            cookies: BTreeMap::new(),
            _app: std::marker::PhantomData,
            referrer_policy: DEFAULT_REFERRER_POLICY.to_owned(),
        }
    }

    /// A browser for a Portcullis running elsewhere (a `portcullis serve` process) at `server`,
    /// which is also its public URL.
    pub fn remote(server: &str) -> Browser<'static> {
        Browser {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            server: server.trim_end_matches('/').to_owned(),
            base: server.trim_end_matches('/').to_owned(),
            cookies: BTreeMap::new(),
            _app: std::marker::PhantomData,
            referrer_policy: DEFAULT_REFERRER_POLICY.to_owned(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server)
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn read(&mut self, response: reqwest::Response) -> Page {
        let page = Page {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        };
        for set in page.set_cookies() {
            let (pair, attributes) = set.split_once(';').unwrap_or((&set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        if let Some(policy) = page.referrer_policy() {
            self.referrer_policy = policy;
        }
        page
    }

    /// The `Origin` a browser sends with a form posted to this origin from the last page shown
    /// (Fetch, "append a request `Origin` header": `null` under `no-referrer`).
    pub fn form_origin(&self) -> String {
        if self.referrer_policy == "no-referrer" {
            "null".to_owned()
        } else {
            self.base.clone()
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let response = self
            .client
            .get(self.url(path))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.read(response).await
    }

    /// A form post as a browser sends it from the last page shown on this origin.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let origin = self.form_origin();
        self.post_with(path, fields, &[("origin", &origin)]).await
    }

    pub async fn post_with(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut request = self
            .client
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", self.cookie_header())
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        self.read(response).await
    }

    /// Signs in through the form; returns the answer to the POST.
    pub async fn sign_in(
        &mut self,
        username: &str,
        password: &str,
        return_to: Option<&str>,
    ) -> Page {
        let login = self.get("/login").await;
        assert_eq!(login.status, 200, "{}", login.body);
        let csrf = login.csrf();
        let mut fields = vec![
            ("csrf_token", csrf.as_str()),
            ("username", username),
            ("password", password),
        ];
        if let Some(return_to) = return_to {
            fields.push(("return_to", return_to));
        }
        self.post("/login", &fields).await
    }

    /// The CSRF token of the account page (signed in).
    pub async fn account_csrf(&mut self) -> String {
        let account = self.get("/account").await;
        assert_eq!(account.status, 200, "{}", account.location());
        account.csrf()
    }

    pub fn session(&self, secure: bool) -> Option<&String> {
        self.cookies.get(if secure {
            "__Host-portcullis-session"
        } else {
            "portcullis-session"
        })
    }
}

pub async fn create_user(app: &App, username: &str, password: InitialPassword) -> Option<Password> {
    let policy = PasswordPolicy { min_length: 12 };
    let email = format!("{username}@example.com");
    let new = NewUser {
        username,
        email: &email,
        display_name: None,
        tenant: None,
        password,
    };
    users::create(
        app.store.as_ref(),
        &portcullis_core::audit::AuditContext::off(),
        &InlineHashing,
        &policy,
        new,
        time::OffsetDateTime::now_utc(),
        &mut rand::rng(),
    )
    .await
    .unwrap()
    .one_time_password
}

impl Page {
    /// The value of the hidden form field `name`.
    pub fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no {name} field in {}", self.body))
            + marker.len();
        let end = start + self.body[start..].find('"').unwrap();
        html_unescape(&self.body[start..end])
    }
}

impl Page {
    /// The value of the first attribute `name` in the page (`data-options`, say), unescaped
    /// (named and numeric character references).
    pub fn attribute(&self, name: &str) -> String {
        let marker = format!(" {name}=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no {name} attribute in {}", self.body))
            + marker.len();
        let end = start + self.body[start..].find('"').unwrap();
        super::oauth::html_unescape(&self.body[start..end])
    }
}

/// Undoes the HTML escaping of an attribute value.
fn html_unescape(text: &str) -> String {
    text.replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

impl Browser<'_> {
    /// A GET of an absolute URL (a redirect's `Location`).
    pub async fn get_url(&mut self, url: &str) -> Page {
        let response = self
            .client
            .get(url)
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.read(response).await
    }
}
