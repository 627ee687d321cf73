//! Where a browser goes after signing in: `return_to`, accepted only as a path on this origin.
//!
//! An open redirect here would let anyone send people through Portcullis's sign-in to a page of
//! their choosing (RFC 9700 §2.1, reference R6), so the rule is an allowlist of shape rather
//! than a parse: a path that starts with exactly one `/` (`//host` and `/\host` are other hosts
//! to a browser), in printable ASCII (browsers drop tabs and line breaks inside URLs, which
//! would turn `/\t/evil.example` into `//evil.example`) without backslashes (which browsers read
//! as `/`), and not too long. Anything else is ignored: the browser goes to `/account`. The
//! redirect itself is built as `{public_url}{return_to}`, an absolute URL on this origin.

/// The longest `return_to` kept, in bytes: room for an authorization request's query string.
pub const MAX_RETURN_TO: usize = 4096;

/// `raw` if it is a safe place to send a browser after sign-in, else `None`.
pub fn safe_return_to(raw: &str) -> Option<&str> {
    let bytes = raw.as_bytes();
    let safe = raw.len() <= MAX_RETURN_TO
        && bytes.first() == Some(&b'/')
        && !matches!(bytes.get(1), Some(b'/' | b'\\'))
        && bytes.iter().all(|b| b.is_ascii_graphic() && *b != b'\\');
    safe.then_some(raw)
}

/// The single `return_to` parameter of a query string, if it has exactly one and it is safe.
pub(crate) fn return_to_from_query(query: Option<&str>) -> Option<String> {
    let mut values = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(key, _)| key == "return_to")
        .map(|(_, value)| value);
    match (values.next(), values.next()) {
        (Some(value), None) => safe_return_to(&value).map(str::to_owned),
        _ => None,
    }
}
