//! What an upstream is told about the caller: the `X-Portcullis-*` identity headers, and the
//! static credential an upstream may require of Portcullis itself.
//!
//! The client's own credentials never reach an upstream (MCP: no token passthrough): the relay
//! copies only an allowlist of request headers, which has no credential in it and nothing
//! named `X-Portcullis-*`, so a client cannot forge an identity header in any spelling. The
//! headers here are then added by Portcullis alone.
//!
//! Values come from validated credentials but not from Portcullis, so they are encoded to be
//! safe in a header and unambiguous in a list: bytes outside visible ASCII, `%` and `,` are
//! percent-encoded (UTF-8), so `X-Portcullis-Groups: eng,ops%2Csre` is the two groups `eng`
//! and `ops,sre`.

use std::fmt::Write as _;

use http::{HeaderMap, HeaderName, HeaderValue};
use portcullis_core::auth::Principal;

/// The caller's stable subject, `{validator}:{sub}`.
pub const USER: HeaderName = HeaderName::from_static("x-portcullis-user");
/// The caller's email address, when the credential carries one.
pub const EMAIL: HeaderName = HeaderName::from_static("x-portcullis-email");
/// `true` when the issuer vouched for the email address, else `false`.
pub const EMAIL_VERIFIED: HeaderName = HeaderName::from_static("x-portcullis-email-verified");
/// The caller's display name.
pub const NAME: HeaderName = HeaderName::from_static("x-portcullis-name");
/// The caller's tenant.
pub const TENANT: HeaderName = HeaderName::from_static("x-portcullis-tenant");
/// The caller's groups, comma-separated.
pub const GROUPS: HeaderName = HeaderName::from_static("x-portcullis-groups");
/// The scopes of the caller's credential, space-separated (as in OAuth).
pub const SCOPES: HeaderName = HeaderName::from_static("x-portcullis-scopes");
/// The id of the validator that verified the credential.
pub const VALIDATOR: HeaderName = HeaderName::from_static("x-portcullis-validator");

/// Every identity header, for stripping and for tests.
pub const ALL: [HeaderName; 8] = [
    USER,
    EMAIL,
    EMAIL_VERIFIED,
    NAME,
    TENANT,
    GROUPS,
    SCOPES,
    VALIDATOR,
];

/// Adds the identity headers for `principal` to `headers`, replacing any already there.
pub fn insert(principal: &Principal, headers: &mut HeaderMap) {
    for name in ALL {
        headers.remove(name);
    }
    headers.insert(USER, encode(&principal.subject));
    headers.insert(VALIDATOR, encode(&principal.validator));
    if let Some(email) = &principal.email {
        headers.insert(EMAIL, encode(email));
        headers.insert(
            EMAIL_VERIFIED,
            HeaderValue::from_static(if principal.email_verified {
                "true"
            } else {
                "false"
            }),
        );
    }
    if let Some(name) = &principal.name {
        headers.insert(NAME, encode(name));
    }
    if let Some(tenant) = &principal.tenant {
        headers.insert(TENANT, encode(tenant));
    }
    if !principal.groups.is_empty() {
        headers.insert(GROUPS, encode_list(&principal.groups, ","));
    }
    if !principal.scopes.is_empty() {
        headers.insert(SCOPES, encode_list(&principal.scopes, " "));
    }
}

fn encode(value: &str) -> HeaderValue {
    let mut out = String::with_capacity(value.len());
    push_encoded(&mut out, value);
    // Only visible ASCII remains, which is always a valid header value.
    HeaderValue::from_str(&out).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn encode_list(values: &[String], separator: &str) -> HeaderValue {
    let mut out = String::new();
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push_str(separator);
        }
        push_encoded(&mut out, value);
    }
    HeaderValue::from_str(&out).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn push_encoded(out: &mut String, value: &str) {
    for byte in value.bytes() {
        if (0x21..=0x7e).contains(&byte) && byte != b'%' && byte != b',' {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal() -> Principal {
        Principal {
            subject: "corp:248289761001".to_owned(),
            validator: "corp".to_owned(),
            email: Some("jane@acme.com".to_owned()),
            email_verified: true,
            name: Some("Jane Doe".to_owned()),
            tenant: Some("acme".to_owned()),
            groups: vec!["eng".to_owned(), "ops,sre".to_owned()],
            scopes: vec!["files:read".to_owned(), "files:write".to_owned()],
            ..Principal::default()
        }
    }

    #[test]
    fn every_field_has_its_header() {
        let mut headers = HeaderMap::new();
        insert(&principal(), &mut headers);
        let get = |name: HeaderName| headers.get(name).unwrap().to_str().unwrap().to_owned();
        assert_eq!(get(USER), "corp:248289761001");
        assert_eq!(get(VALIDATOR), "corp");
        assert_eq!(get(EMAIL), "jane@acme.com");
        assert_eq!(get(EMAIL_VERIFIED), "true");
        assert_eq!(get(NAME), "Jane%20Doe");
        assert_eq!(get(TENANT), "acme");
        assert_eq!(get(GROUPS), "eng,ops%2Csre");
        assert_eq!(get(SCOPES), "files:read files:write");
    }

    #[test]
    fn absent_fields_send_nothing_and_forged_copies_are_replaced() {
        let mut headers = HeaderMap::new();
        headers.insert(TENANT, HeaderValue::from_static("forged"));
        headers.insert(USER, HeaderValue::from_static("forged"));
        insert(&Principal::new("api_key", "x"), &mut headers);
        assert_eq!(headers.get(USER).unwrap(), "api_key:x");
        assert!(headers.get(TENANT).is_none());
        assert!(headers.get(EMAIL).is_none());
        assert!(headers.get(EMAIL_VERIFIED).is_none());
    }

    #[test]
    fn control_characters_and_unicode_are_encoded() {
        let mut headers = HeaderMap::new();
        let mut p = Principal::new("corp", "x");
        p.name = Some("Zoë\r\nX-Portcullis-User: admin".to_owned());
        insert(&p, &mut headers);
        assert_eq!(
            headers.get(NAME).unwrap(),
            "Zo%C3%AB%0D%0AX-Portcullis-User:%20admin"
        );
    }
}
