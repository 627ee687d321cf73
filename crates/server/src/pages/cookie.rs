//! The pages' cookies: the browser session, the pre-sign-in CSRF secret, and the secret that
//! binds a sign-in at an identity provider to the browser that started it.
//!
//! All are `HttpOnly; SameSite=Lax; Path=/`. Served over https (every deployment but plain-http
//! loopback development) they are also `Secure` and carry the `__Host-` prefix, which makes
//! browsers refuse them unless they are `Secure`, host-only and for `/`, so a sibling subdomain
//! or a network attacker on plain http cannot plant or overwrite them. Browsers refuse `__Host-`
//! cookies without `Secure`, hence the plain names on `http://127.0.0.1`. `Lax` lets the cookie
//! ride on the top-level navigation an OAuth client starts (`GET /authorize`) but not on a
//! cross-site POST.

use std::time::Duration;

use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};

use super::Pages;

/// Which cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cookie {
    /// The browser session's secret.
    Session,
    /// A random secret the CSRF token of a browser that is not signed in is bound to.
    Csrf,
    /// A random secret that binds a sign-in at an identity provider to this browser.
    Federation,
}

impl Pages {
    /// The name of `cookie` here: with the `__Host-` prefix when cookies are `Secure`.
    pub(crate) fn cookie_name(&self, cookie: Cookie) -> &'static str {
        match (cookie, self.secure_cookies) {
            (Cookie::Session, true) => "__Host-portcullis-session",
            (Cookie::Session, false) => "portcullis-session",
            (Cookie::Csrf, true) => "__Host-portcullis-csrf",
            (Cookie::Csrf, false) => "portcullis-csrf",
            (Cookie::Federation, true) => "__Host-portcullis-federation",
            (Cookie::Federation, false) => "portcullis-federation",
        }
    }

    /// The value of `cookie` the request carries (the first, if there are several).
    pub(crate) fn cookie<'a>(&self, headers: &'a HeaderMap, cookie: Cookie) -> Option<&'a str> {
        let name = self.cookie_name(cookie);
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    }

    /// `Set-Cookie` for `cookie` = `value`, kept by the browser for `max_age` (or until it
    /// closes, with `None`). Values are base64url, which needs no quoting.
    pub(crate) fn set_cookie(
        &self,
        cookie: Cookie,
        value: &str,
        max_age: Option<Duration>,
    ) -> Option<HeaderValue> {
        let mut text = format!("{}={value}; Path=/", self.cookie_name(cookie));
        if let Some(max_age) = max_age {
            text.push_str(&format!("; Max-Age={}", max_age.as_secs()));
        }
        if self.secure_cookies {
            text.push_str("; Secure");
        }
        text.push_str("; HttpOnly; SameSite=Lax");
        HeaderValue::from_str(&text).ok()
    }

    /// `Set-Cookie` that makes the browser forget `cookie`.
    pub(crate) fn clear_cookie(&self, cookie: Cookie) -> Option<HeaderValue> {
        self.set_cookie(cookie, "", Some(Duration::ZERO))
    }
}
