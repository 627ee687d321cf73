//! The resource-server side: the `WWW-Authenticate: Bearer` challenge
//! (RFC 6750 §3, with RFC 9728 §5.1's `resource_metadata`) and protected resource metadata
//! (RFC 9728 §2).

use std::fmt::{self, Write as _};

use serde::{Deserialize, Serialize};

/// The error codes of a Bearer challenge (RFC 6750 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerError {
    /// "The request is missing a required parameter, includes an unsupported parameter or
    /// parameter value, repeats the same parameter, uses more than one method for including an
    /// access token, or is otherwise malformed."
    InvalidRequest,
    /// "The access token provided is expired, revoked, malformed, or invalid for other reasons."
    InvalidToken,
    /// "The request requires higher privileges than provided by the access token."
    InsufficientScope,
}

impl fmt::Display for BearerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BearerError::InvalidRequest => "invalid_request",
            BearerError::InvalidToken => "invalid_token",
            BearerError::InsufficientScope => "insufficient_scope",
        })
    }
}

/// A `WWW-Authenticate: Bearer …` challenge. `Display` renders the header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerChallenge<'a> {
    /// Where the protected resource metadata is (RFC 9728 §5.1).
    pub resource_metadata: &'a str,
    /// The scopes the client should ask for; MCP asks servers to include every scope the
    /// current operation needs in one challenge.
    pub scopes: &'a [String],
    /// Absent when the request carried no credential at all (RFC 6750 §3.1).
    pub error: Option<BearerError>,
    /// A sentence for the developer; never a secret.
    pub error_description: Option<&'a str>,
}

impl fmt::Display for BearerChallenge<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bearer ")?;
        if let Some(error) = self.error {
            write!(f, "error=\"{error}\", ")?;
            if let Some(description) = self.error_description {
                f.write_str("error_description=")?;
                quoted(f, description)?;
                f.write_str(", ")?;
            }
        }
        if !self.scopes.is_empty() {
            f.write_str("scope=")?;
            quoted(f, &self.scopes.join(" "))?;
            f.write_str(", ")?;
        }
        f.write_str("resource_metadata=")?;
        quoted(f, self.resource_metadata)
    }
}

/// An RFC 9110 quoted-string: `"` and `\` escaped; anything outside visible ASCII and space
/// (which a header value could not carry) dropped.
fn quoted(f: &mut fmt::Formatter<'_>, value: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                f.write_char('\\')?;
                f.write_char(c)?;
            }
            ' '..='~' => f.write_char(c)?,
            _ => {}
        }
    }
    f.write_char('"')
}

/// Protected resource metadata (RFC 9728 §2), the fields Portcullis publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectedResourceMetadata {
    /// The resource's identifier: exactly the URL the metadata URL was built from (§3.3).
    pub resource: String,
    /// Issuers of the authorization servers whose tokens the resource accepts.
    pub authorization_servers: Vec<String>,
    /// The scopes the resource understands (never `offline_access`, MCP 2026-07-28).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// How a token may be presented: only `header` here (never a query or form parameter).
    pub bearer_methods_supported: Vec<String>,
    /// A human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(challenge: BearerChallenge<'_>, expected: &str) {
        assert_eq!(challenge.to_string(), expected);
    }

    #[test]
    fn challenges_render_per_rfc_6750() {
        let prm = "https://gw.example/.well-known/oauth-protected-resource/servers/files/mcp";
        let scopes = ["files:read".to_owned(), "files:write".to_owned()];
        check(
            BearerChallenge {
                resource_metadata: prm,
                scopes: &[],
                error: None,
                error_description: None,
            },
            &format!("Bearer resource_metadata=\"{prm}\""),
        );
        check(
            BearerChallenge {
                resource_metadata: prm,
                scopes: &scopes,
                error: Some(BearerError::InvalidToken),
                error_description: Some("expired \"token\""),
            },
            &format!(
                "Bearer error=\"invalid_token\", error_description=\"expired \\\"token\\\"\", scope=\"files:read files:write\", resource_metadata=\"{prm}\""
            ),
        );
        check(
            BearerChallenge {
                resource_metadata: prm,
                scopes: &scopes[..1],
                error: Some(BearerError::InsufficientScope),
                error_description: None,
            },
            &format!(
                "Bearer error=\"insufficient_scope\", scope=\"files:read\", resource_metadata=\"{prm}\""
            ),
        );
    }

    #[test]
    fn control_characters_never_reach_the_header() {
        let challenge = BearerChallenge {
            resource_metadata: "https://gw.example/x",
            scopes: &[],
            error: Some(BearerError::InvalidRequest),
            error_description: Some("line\r\nbreak\u{e9}"),
        };
        assert!(challenge.to_string().contains("\"linebreak\""));
    }
}
