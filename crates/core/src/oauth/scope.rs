//! OAuth scopes (RFC 6749 §3.3): a space-separated set of scope tokens, kept in a stable order.

use std::collections::BTreeSet;

use crate::config::validate::is_scope_token;

/// The OpenID Connect scope: asks for an ID token.
pub const OPENID: &str = "openid";
/// Asks for a refresh token (OpenID Connect §11); MCP resources never list it themselves.
pub const OFFLINE_ACCESS: &str = "offline_access";
/// OpenID Connect's standard claim scopes.
pub const PROFILE: &str = "profile";
pub const EMAIL: &str = "email";

/// A set of scope tokens.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scopes(BTreeSet<String>);

impl Scopes {
    /// Parses a `scope` parameter: tokens separated by single spaces; `None` if any token is not
    /// a valid scope-token (an empty parameter is the empty set).
    pub fn parse(text: &str) -> Option<Scopes> {
        let mut set = BTreeSet::new();
        for token in text.split(' ').filter(|t| !t.is_empty()) {
            if !is_scope_token(token) {
                return None;
            }
            set.insert(token.to_owned());
        }
        Some(Scopes(set))
    }

    pub fn of<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Scopes {
        Scopes(tokens.into_iter().map(str::to_owned).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    pub fn is_subset(&self, of: &Scopes) -> bool {
        self.0.is_subset(&of.0)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The tokens of `self` that are not in `allowed`.
    pub fn outside<'a>(&'a self, allowed: &'a Scopes) -> impl Iterator<Item = &'a str> {
        self.0.difference(&allowed.0).map(String::as_str)
    }

    /// Only the tokens also in `other`.
    pub fn intersection(&self, other: &Scopes) -> Scopes {
        Scopes(self.0.intersection(&other.0).cloned().collect())
    }

    /// The space-separated form.
    pub fn to_param(&self) -> String {
        self.iter().collect::<Vec<_>>().join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        let s = Scopes::parse("files:write  files:read openid").unwrap();
        assert_eq!(s.to_param(), "files:read files:write openid");
        assert!(Scopes::parse("").unwrap().is_empty());
        assert!(Scopes::parse("bad\"scope").is_none());
        assert!(Scopes::parse("tab\tseparated").is_none());
        let allowed = Scopes::parse("files:read files:write").unwrap();
        assert!(!s.is_subset(&allowed));
        assert_eq!(s.outside(&allowed).collect::<Vec<_>>(), ["openid"]);
        assert_eq!(
            s.intersection(&allowed).to_param(),
            "files:read files:write"
        );
    }
}
