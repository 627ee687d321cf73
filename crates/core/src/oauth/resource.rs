//! Resource indicators (RFC 8707): the `resource` a client asks a token for, resolved to one of
//! the protected resources Portcullis issues tokens for — the upstreams with `auth = "oauth"`.
//!
//! MCP clients send the canonical URL of the MCP server; some send an upper-case scheme or host,
//! a default port or a trailing slash (reference §8), so both sides are compared in a canonical
//! form: lower-case scheme and host (the URL parser does that), no default port, no trailing
//! slash. Anything else must match exactly. A fragment is refused (RFC 8707 §2).

use portcullis_proto::oauth::{ErrorCode, OAuthError};

use super::scope::Scopes;

/// One resource tokens can be issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedResource {
    /// The upstream's name.
    pub name: String,
    /// Its canonical URL: the `aud` of its tokens.
    pub url: String,
    /// The scopes it knows.
    pub scopes: Scopes,
}

/// The canonical form of a resource URL, or `None` if it is not an absolute http(s) URL
/// without a fragment or userinfo.
pub fn canonical(resource: &str) -> Option<String> {
    let url = url::Url::parse(resource).ok()?;
    if !matches!(url.scheme(), "http" | "https")
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    let host = url.host_str()?;
    let mut out = format!("{}://{host}", url.scheme());
    if let Some(port) = url.port() {
        out.push_str(&format!(":{port}"));
    }
    let path = url.path();
    out.push_str(path.strip_suffix('/').unwrap_or(path));
    if let Some(query) = url.query() {
        out.push('?');
        out.push_str(query);
    }
    Some(out)
}

/// The protected resource `requested` names, or `invalid_target`.
pub fn resolve<'a>(
    resources: &'a [ProtectedResource],
    requested: &str,
) -> Result<&'a ProtectedResource, OAuthError> {
    let wanted = canonical(requested).ok_or_else(|| {
        OAuthError::new(
            ErrorCode::InvalidTarget,
            "resource must be an absolute http(s) URL without a fragment",
        )
    })?;
    resources
        .iter()
        .find(|r| canonical(&r.url).as_deref() == Some(wanted.as_str()))
        .ok_or_else(|| {
            OAuthError::new(
                ErrorCode::InvalidTarget,
                "resource is not an MCP server this authorization server issues tokens for",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(requested: &str, expected: Option<&str>) {
        let resources = [
            ProtectedResource {
                name: "files".to_owned(),
                url: "https://gw.example/servers/files/mcp".to_owned(),
                scopes: Scopes::default(),
            },
            ProtectedResource {
                name: "local".to_owned(),
                url: "http://127.0.0.1:8080/servers/local/mcp".to_owned(),
                scopes: Scopes::default(),
            },
        ];
        let found = resolve(&resources, requested).map(|r| r.name.as_str());
        match expected {
            Some(name) => assert_eq!(found, Ok(name), "{requested}"),
            None => assert_eq!(
                found.unwrap_err().error,
                ErrorCode::InvalidTarget,
                "{requested}"
            ),
        }
    }

    #[test]
    fn resources_match_in_canonical_form_only() {
        check("https://gw.example/servers/files/mcp", Some("files"));
        check("HTTPS://GW.EXAMPLE/servers/files/mcp", Some("files"));
        check("https://gw.example:443/servers/files/mcp", Some("files"));
        check("https://gw.example/servers/files/mcp/", Some("files"));
        check("http://127.0.0.1:8080/servers/local/mcp", Some("local"));
        check("http://gw.example/servers/files/mcp", None);
        check("https://gw.example/servers/files/MCP", None);
        check("https://gw.example/servers/files/mcp#x", None);
        check("https://gw.example/servers/files", None);
        check("https://gw.example/servers/files/mcp//", None);
        check("https://u:p@gw.example/servers/files/mcp", None);
        check("https://evil.example/servers/files/mcp", None);
        check("http://127.0.0.1:8081/servers/local/mcp", None);
        check("/servers/files/mcp", None);
        check("", None);
    }
}
