//! Permission patterns as roles list them: `users.create`, `users.*`, `*`, and MCP permissions
//! narrowed to an upstream and item names, `mcp.tools.call:files/read_*`.
//!
//! Grammar: `base [":" upstream ["/" name]]`, where `base` is a permission of the catalog, a
//! family `prefix.*` naming at least one, or `*`; `upstream` and `name` are globs in which `*`
//! matches any run of characters and everything else matches itself, case included (a tool
//! named `Delete` is not `delete`). Narrowing applies to MCP permissions only: a pattern that
//! narrows a base covering administrative permissions is refused when it is parsed.

use crate::catalog::{PERMISSIONS, PermissionKind, is_permission};

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("{0:?} is not a permission (see docs/permissions.md)")]
    UnknownPermission(String),
    #[error("{0:?} names no permission")]
    EmptyFamily(String),
    #[error("{0:?}: only MCP permissions (mcp.*) can be narrowed to an upstream or names")]
    NarrowedAdmin(String),
    #[error("{0:?}: the upstream or name part is empty")]
    EmptyPart(String),
    #[error("{0:?}: #readOnly and #nonDestructive qualify tool calls (mcp.tools.call) only")]
    HintNotForTools(String),
}

/// What a tool says of itself in its MCP annotations, as far as rules use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ToolHints {
    /// `readOnlyHint: true`.
    pub read_only: bool,
    /// Read-only, or `destructiveHint: false` (MCP's default for a tool that writes is
    /// destructive).
    pub non_destructive: bool,
}

/// A pattern's requirement on the tool's annotations: `#readOnly` or `#nonDestructive`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HintRequirement {
    ReadOnly,
    NonDestructive,
}

impl HintRequirement {
    fn met_by(self, hints: ToolHints) -> bool {
        match self {
            HintRequirement::ReadOnly => hints.read_only,
            HintRequirement::NonDestructive => hints.non_destructive,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Base {
    All,
    /// A family: every permission starting with this prefix (which ends with `.`).
    Family(String),
    Exact(String),
}

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PermissionPattern {
    base: Base,
    upstream: Option<Glob>,
    name: Option<Glob>,
    hint: Option<HintRequirement>,
    text: String,
}

/// A glob of literal runs separated by `*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Glob(String);

impl Glob {
    fn matches(&self, text: &str) -> bool {
        glob_match(self.0.as_bytes(), text.as_bytes())
    }
}

/// Whether `text` matches the glob `pattern` (`*` matches any run of characters, everything else
/// itself), as permission patterns match names.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    glob_match(pattern.as_bytes(), text.as_bytes())
}

/// `*` matches any run of bytes; everything else matches itself. Iterative with one
/// backtracking point, so a pattern cannot make matching slow.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(c) if Some(c) == text.get(t) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|b| *b == b'*'))
}

impl PermissionPattern {
    /// Parses and checks `text` against the catalog.
    pub fn parse(full: &str) -> Result<Self, PatternError> {
        let (text, hint) = match full.rsplit_once('#') {
            Some((rest, "readOnly")) => (rest, Some(HintRequirement::ReadOnly)),
            Some((rest, "nonDestructive")) => (rest, Some(HintRequirement::NonDestructive)),
            _ => (full, None),
        };
        let (base_text, narrowing) = match text.split_once(':') {
            Some((base, rest)) => (base, Some(rest)),
            None => (text, None),
        };
        let base = if base_text == "*" {
            Base::All
        } else if let Some(prefix) = base_text.strip_suffix('*') {
            if !prefix.ends_with('.') {
                return Err(PatternError::UnknownPermission(text.to_owned()));
            }
            if !PERMISSIONS.iter().any(|p| p.name.starts_with(prefix)) {
                return Err(PatternError::EmptyFamily(text.to_owned()));
            }
            Base::Family(prefix.to_owned())
        } else if is_permission(base_text) {
            Base::Exact(base_text.to_owned())
        } else {
            return Err(PatternError::UnknownPermission(text.to_owned()));
        };
        let (upstream, name) = match narrowing {
            None => (None, None),
            Some(rest) => {
                let only_mcp = PERMISSIONS
                    .iter()
                    .filter(|p| base_covers(&base, p.name))
                    .all(|p| p.kind == PermissionKind::Mcp);
                if !only_mcp {
                    return Err(PatternError::NarrowedAdmin(text.to_owned()));
                }
                let (upstream, name) = match rest.split_once('/') {
                    Some((u, n)) => (u, Some(n)),
                    None => (rest, None),
                };
                if upstream.is_empty() || name.is_some_and(str::is_empty) {
                    return Err(PatternError::EmptyPart(text.to_owned()));
                }
                (
                    Some(Glob(upstream.to_owned())),
                    name.map(|n| Glob(n.to_owned())),
                )
            }
        };
        if hint.is_some() && !base_covers(&base, "mcp.tools.call") {
            return Err(PatternError::HintNotForTools(full.to_owned()));
        }
        Ok(PermissionPattern {
            base,
            upstream,
            name,
            hint,
            text: full.to_owned(),
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the pattern's permission part covers `permission` (ignoring any narrowing).
    pub fn covers(&self, permission: &str) -> bool {
        base_covers(&self.base, permission)
    }

    /// Whether the pattern allows `permission` on `upstream` for the item `name`. A narrowed
    /// pattern needs the action to name what it narrows to: a pattern with a name part never
    /// matches an action without a name.
    pub fn matches(&self, permission: &str, upstream: Option<&str>, name: Option<&str>) -> bool {
        self.matches_tool(permission, upstream, name, None)
    }

    /// [`matches`](Self::matches), for a tool whose annotations say `hints` (`None`: not
    /// known). A pattern qualified with `#readOnly` or `#nonDestructive` matches only calls of
    /// tools known to be so.
    pub fn matches_tool(
        &self,
        permission: &str,
        upstream: Option<&str>,
        name: Option<&str>,
        hints: Option<ToolHints>,
    ) -> bool {
        base_covers(&self.base, permission)
            && self.matches_target(permission, upstream, name, hints)
    }

    /// [`PermissionPattern::matches_tool`] for a pattern already known to cover `permission`
    /// (an index by permission found it): the item's name first, the part that differs most.
    pub(crate) fn matches_target(
        &self,
        permission: &str,
        upstream: Option<&str>,
        name: Option<&str>,
        hints: Option<ToolHints>,
    ) -> bool {
        if let Some(glob) = &self.name
            && !name.is_some_and(|n| glob.matches(n))
        {
            return false;
        }
        if let Some(requirement) = self.hint
            && (permission != "mcp.tools.call" || !hints.is_some_and(|h| requirement.met_by(h)))
        {
            return false;
        }
        if let Some(glob) = &self.upstream
            && !upstream.is_some_and(|u| glob.matches(u))
        {
            return false;
        }
        true
    }
}

fn base_covers(base: &Base, permission: &str) -> bool {
    match base {
        Base::All => true,
        Base::Family(prefix) => permission.starts_with(prefix.as_str()),
        Base::Exact(name) => name == permission,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hint_qualified_patterns_match_only_calls_of_tools_known_to_be_so() {
        let read_only = PermissionPattern::parse("mcp.tools.*:files#readOnly").unwrap();
        let safe = ToolHints {
            read_only: true,
            non_destructive: true,
        };
        let additive = ToolHints {
            read_only: false,
            non_destructive: true,
        };
        let call = "mcp.tools.call";
        assert!(read_only.matches_tool(call, Some("files"), Some("get"), Some(safe)));
        assert!(!read_only.matches_tool(call, Some("files"), Some("put"), Some(additive)));
        assert!(!read_only.matches_tool(call, Some("files"), Some("get"), None));
        assert!(!read_only.matches(call, Some("files"), Some("get")));
        assert!(!read_only.matches_tool("mcp.tools.list", Some("files"), None, Some(safe)));
        let gentle = PermissionPattern::parse("mcp.tools.call#nonDestructive").unwrap();
        assert!(gentle.matches_tool(call, Some("x"), Some("put"), Some(additive)));
        assert!(!gentle.matches_tool(call, Some("x"), Some("rm"), Some(ToolHints::default())));
        assert_eq!(gentle.as_str(), "mcp.tools.call#nonDestructive");
    }

    #[test]
    fn patterns_parse_or_say_why_not() {
        for ok in [
            "*",
            "users.create",
            "users.*",
            "mcp.*",
            "mcp.tools.*",
            "mcp.tools.call:files",
            "mcp.tools.call:files/read_*",
            "mcp.*:*/*",
            "mcp.resources.read:docs/file:///srv/*",
            "mcp.resources.read:docs/file:///a#b",
            "mcp.tools.call:files/*#readOnly",
            "mcp.tools.*#nonDestructive",
        ] {
            assert!(PermissionPattern::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            PermissionPattern::parse("mcp.prompts.get#readOnly"),
            Err(PatternError::HintNotForTools(
                "mcp.prompts.get#readOnly".into()
            ))
        );
        let cases = [
            (
                "users.creat",
                PatternError::UnknownPermission("users.creat".into()),
            ),
            ("nothing.*", PatternError::EmptyFamily("nothing.*".into())),
            ("users*", PatternError::UnknownPermission("users*".into())),
            (
                "users.create:files",
                PatternError::NarrowedAdmin("users.create:files".into()),
            ),
            ("*:files", PatternError::NarrowedAdmin("*:files".into())),
            (
                "mcp.tools.call:",
                PatternError::EmptyPart("mcp.tools.call:".into()),
            ),
            (
                "mcp.tools.call:files/",
                PatternError::EmptyPart("mcp.tools.call:files/".into()),
            ),
        ];
        for (text, error) in cases {
            assert_eq!(PermissionPattern::parse(text), Err(error), "{text}");
        }
    }

    #[test]
    fn patterns_match_exactly_what_they_say() {
        let p = |t: &str| PermissionPattern::parse(t).unwrap();
        let call = "mcp.tools.call";
        /// Pattern, permission, upstream, name, and whether it matches.
        type Case<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>, bool);
        let cases: &[Case<'_>] = &[
            ("*", "keys.rotate", None, None, true),
            ("users.*", "users.create", None, None, true),
            ("users.*", "usersx.create", None, None, false),
            ("mcp.tools.*", call, Some("files"), Some("x"), true),
            (
                "mcp.tools.*",
                "mcp.prompts.get",
                Some("files"),
                Some("x"),
                false,
            ),
            (
                "mcp.tools.call:files",
                call,
                Some("files"),
                Some("anything"),
                true,
            ),
            (
                "mcp.tools.call:files",
                call,
                Some("notes"),
                Some("anything"),
                false,
            ),
            ("mcp.tools.call:files", call, None, Some("anything"), false),
            (
                "mcp.tools.call:files/read_*",
                call,
                Some("files"),
                Some("read_file"),
                true,
            ),
            (
                "mcp.tools.call:files/read_*",
                call,
                Some("files"),
                Some("write_file"),
                false,
            ),
            (
                "mcp.tools.call:files/read_*",
                call,
                Some("files"),
                Some("Read_file"),
                false,
            ),
            (
                "mcp.tools.call:files/read_*",
                call,
                Some("files"),
                None,
                false,
            ),
            (
                "mcp.tools.call:files/read_*",
                call,
                Some("files"),
                Some("read_"),
                true,
            ),
            (
                "mcp.tools.call:f*s/*_file",
                call,
                Some("files"),
                Some("read_file"),
                true,
            ),
            (
                "mcp.tools.call:f*s/*_file",
                call,
                Some("fs"),
                Some("read_files"),
                false,
            ),
            (
                "mcp.tools.list:files",
                "mcp.tools.list",
                Some("files"),
                None,
                true,
            ),
        ];
        for (pattern, permission, upstream, name, expected) in cases {
            assert_eq!(
                p(pattern).matches(permission, *upstream, *name),
                *expected,
                "{pattern} vs {permission} {upstream:?} {name:?}"
            );
        }
    }

    #[test]
    fn globs_do_not_backtrack_without_bound() {
        let pattern = format!("{}b", "*a".repeat(30));
        let text = "a".repeat(5000);
        assert!(!glob_match(pattern.as_bytes(), text.as_bytes()));
        assert!(glob_match(b"**", b""));
        assert!(glob_match(b"a*", b"a"));
        assert!(!glob_match(b"a", b""));
    }
}
