//! OAuth scopes of an upstream mapped to permission patterns (`upstreams[].scope_permissions`):
//! what a token may do is what its holder may do, intersected with what its scopes allow.
//!
//! A scope allows an action when one of its patterns matches it, so a broader scope (more or
//! wider patterns) satisfies whatever a narrower one would. Scopes the map does not name allow
//! nothing; an upstream without a map does not restrict by scope at all.

use crate::pattern::{PatternError, PermissionPattern, ToolHints};

/// The scope map of one upstream, in the order its scopes are listed (narrowest first, by
/// convention: a step-up asks for the first scope that would allow the action).
#[derive(Debug, Clone, Default)]
pub struct ScopeRules {
    scopes: Vec<(String, Vec<PermissionPattern>)>,
}

/// A scope rule that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scope {scope:?}: {error}")]
pub struct ScopeRuleError {
    pub scope: String,
    pub error: PatternError,
}

impl ScopeRules {
    /// Parses `(scope, patterns)` pairs, in order. Patterns follow the roles' grammar.
    pub fn new<'a, P: IntoIterator<Item = &'a str>>(
        entries: impl IntoIterator<Item = (&'a str, P)>,
    ) -> Result<ScopeRules, ScopeRuleError> {
        let mut scopes = Vec::new();
        for (scope, patterns) in entries {
            let parsed = patterns
                .into_iter()
                .map(PermissionPattern::parse)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| ScopeRuleError {
                    scope: scope.to_owned(),
                    error,
                })?;
            scopes.push((scope.to_owned(), parsed));
        }
        Ok(ScopeRules { scopes })
    }

    /// Whether the map is empty (the upstream does not restrict by scope).
    pub fn is_empty(&self) -> bool {
        self.scopes.is_empty()
    }

    fn allowing<'a>(
        &'a self,
        permission: &'a str,
        upstream: &'a str,
        name: Option<&'a str>,
        hints: Option<ToolHints>,
    ) -> impl Iterator<Item = &'a str> + 'a {
        self.scopes
            .iter()
            .filter(move |(_, patterns)| {
                patterns
                    .iter()
                    .any(|p| p.matches_tool(permission, Some(upstream), name, hints))
            })
            .map(|(scope, _)| scope.as_str())
    }

    /// Whether a token with `granted` scopes may do `permission` (on `name`) at `upstream`.
    /// Always true for an empty map.
    pub fn allows(
        &self,
        granted: &[String],
        permission: &str,
        upstream: &str,
        name: Option<&str>,
        hints: Option<ToolHints>,
    ) -> bool {
        self.is_empty()
            || self
                .allowing(permission, upstream, name, hints)
                .any(|scope| granted.iter().any(|g| g == scope))
    }

    /// The first scope (in the configured order) that would allow the action, to ask for in a
    /// step-up challenge; `None` when no scope would.
    pub fn needed(
        &self,
        permission: &str,
        upstream: &str,
        name: Option<&str>,
        hints: Option<ToolHints>,
    ) -> Option<&str> {
        self.scopes
            .iter()
            .find(|(_, patterns)| {
                patterns
                    .iter()
                    .any(|p| p.matches_tool(permission, Some(upstream), name, hints))
            })
            .map(|(scope, _)| scope.as_str())
    }

    /// The scopes of the map, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.scopes.iter().map(|(s, _)| s.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> ScopeRules {
        ScopeRules::new([
            (
                "files:read",
                vec!["mcp.tools.list", "mcp.tools.call:files/read_*"],
            ),
            ("files:write", vec!["mcp.tools.*"]),
        ])
        .unwrap()
    }

    fn granted(scopes: &[&str]) -> Vec<String> {
        scopes.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_scope_allows_what_its_patterns_match_and_a_broader_one_satisfies_a_narrower() {
        let rules = rules();
        let call = "mcp.tools.call";
        assert!(rules.allows(
            &granted(&["files:read"]),
            call,
            "files",
            Some("read_a"),
            None
        ));
        assert!(!rules.allows(
            &granted(&["files:read"]),
            call,
            "files",
            Some("write_a"),
            None
        ));
        assert!(rules.allows(
            &granted(&["files:write"]),
            call,
            "files",
            Some("read_a"),
            None
        ));
        assert!(rules.allows(
            &granted(&["files:write"]),
            call,
            "files",
            Some("write_a"),
            None
        ));
        assert!(!rules.allows(&granted(&[]), call, "files", Some("read_a"), None));
        assert!(!rules.allows(&granted(&["other"]), "mcp.tools.list", "files", None, None));
        assert!(!rules.allows(
            &granted(&["files:write"]),
            "mcp.prompts.get",
            "files",
            None,
            None
        ));
    }

    #[test]
    fn the_step_up_asks_for_the_first_scope_that_would_allow() {
        let rules = rules();
        assert_eq!(
            rules.needed("mcp.tools.call", "files", Some("read_a"), None),
            Some("files:read")
        );
        assert_eq!(
            rules.needed("mcp.tools.call", "files", Some("delete"), None),
            Some("files:write")
        );
        assert_eq!(
            rules.needed("mcp.prompts.get", "files", Some("p"), None),
            None
        );
    }

    #[test]
    fn no_map_means_no_restriction_and_bad_patterns_are_refused() {
        assert!(ScopeRules::default().allows(&[], "mcp.tools.call", "x", Some("y"), None));
        assert!(ScopeRules::new([("s", ["users.create:files"])]).is_err());
        assert!(ScopeRules::new([("s", ["mcp.tools.execute"])]).is_err());
    }
}
