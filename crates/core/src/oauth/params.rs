//! The parameters of an OAuth request (a query string or an `application/x-www-form-urlencoded`
//! body), parsed once with the rule RFC 6749 §3.1 and OAuth 2.1 state for every endpoint:
//! "Request and response parameters MUST NOT be included more than once" (reference H1). A
//! repeated parameter makes the whole request `invalid_request`; an empty value counts as absent.

use std::collections::BTreeMap;

use portcullis_proto::oauth::{ErrorCode, OAuthError};

/// The largest form or query accepted, in bytes: far beyond any legitimate request.
pub const MAX_PARAMS_BYTES: usize = 64 * 1024;

/// Parsed parameters, each present at most once.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Params(BTreeMap<String, String>);

impl std::fmt::Debug for Params {
    // Values can be secrets (codes, verifiers, refresh tokens, client secrets): names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Params {
    /// Parses `name=value&…` (percent-decoded, `+` as space).
    pub fn parse(encoded: &[u8]) -> Result<Params, OAuthError> {
        if encoded.len() > MAX_PARAMS_BYTES {
            return Err(OAuthError::new(
                ErrorCode::InvalidRequest,
                "the request parameters are too large",
            ));
        }
        let mut map = BTreeMap::new();
        let mut seen = std::collections::BTreeSet::new();
        for (name, value) in url::form_urlencoded::parse(encoded) {
            if !seen.insert(name.to_string()) {
                return Err(repeated(&name));
            }
            // RFC 6749 §3.1: "Parameters sent without a value MUST be treated as if they were
            // omitted" — though a second copy, empty or not, is still a repeat.
            if !value.is_empty() {
                map.insert(name.into_owned(), value.into_owned());
            }
        }
        Ok(Params(map))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A parameter that must be present: `invalid_request` naming it otherwise.
    pub fn required(&self, name: &'static str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| {
            OAuthError::new(ErrorCode::InvalidRequest, format!("{name} is required"))
        })
    }

    /// The parameters as (name, value) pairs.
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Builds parameters directly (tests, and callers that already hold them).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Params {
        Params(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }
}

fn repeated(name: &str) -> OAuthError {
    // The name is the client's own input: keep it short and printable in the description.
    let shown: String = name
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(40)
        .collect();
    OAuthError::new(
        ErrorCode::InvalidRequest,
        format!("the parameter {shown} appears more than once"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_decoded_once_each() {
        let p = Params::parse(b"grant_type=authorization_code&code=a%2Bb&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&scope=a+b&empty=").unwrap();
        assert_eq!(p.get("code"), Some("a+b"));
        assert_eq!(p.get("scope"), Some("a b"));
        assert_eq!(p.get("redirect_uri"), Some("http://127.0.0.1/cb"));
        assert_eq!(p.get("empty"), None);
        assert_eq!(p.required("code").unwrap(), "a+b");
        assert_eq!(
            p.required("code_verifier").unwrap_err().error,
            ErrorCode::InvalidRequest
        );
        assert!(!format!("{p:?}").contains("a+b"));
    }

    #[test]
    fn repeated_parameters_refuse_the_request() {
        for body in [
            &b"code=a&code=b"[..],
            b"code=a&code=a",
            b"code=&code=a",
            b"code=a&code=",
        ] {
            let e = Params::parse(body).unwrap_err();
            assert_eq!(e.error, ErrorCode::InvalidRequest, "{body:?}");
        }
        assert!(Params::parse(&vec![b'a'; MAX_PARAMS_BYTES + 1]).is_err());
    }
}
