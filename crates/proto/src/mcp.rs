//! MCP protocol constants: versions, HTTP header names, error codes and methods.

/// Every protocol revision Portcullis relays, oldest first.
pub const PROTOCOL_VERSIONS: &[&str] = &[
    "2024-11-05",
    "2025-03-26",
    "2025-06-18",
    "2025-11-25",
    "2026-07-28",
];

/// The version assumed when a 2025-era request carries no `MCP-Protocol-Version` header
/// (Streamable HTTP, 2025-06-18 and later: "SHOULD assume protocol version 2025-03-26").
pub const DEFAULT_NEGOTIATED_VERSION: &str = "2025-03-26";

/// The first revision without protocol sessions, with `Mcp-Method`/`Mcp-Name` mirroring.
pub const STATELESS_VERSION: &str = "2026-07-28";

/// HTTP header names (lowercase, as `http::HeaderName` stores them).
pub mod header {
    pub const SESSION_ID: &str = "mcp-session-id";
    pub const PROTOCOL_VERSION: &str = "mcp-protocol-version";
    pub const METHOD: &str = "mcp-method";
    pub const NAME: &str = "mcp-name";
    pub const PARAM_PREFIX: &str = "mcp-param-";
    pub const LAST_EVENT_ID: &str = "last-event-id";
}

/// The `_meta` key that carries the protocol version of a 2026-07-28 request.
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";

/// Is `version` a revision Portcullis knows?
pub fn is_known_version(version: &str) -> bool {
    PROTOCOL_VERSIONS.contains(&version)
}

/// Does this revision use the stateless wire form (no sessions, mirrored headers)?
///
/// Revisions are dates, so string order is date order.
pub fn is_stateless(version: &str) -> bool {
    version >= STATELESS_VERSION
}

/// Does this revision allow JSON-RPC batches? They were removed in 2025-06-18.
pub fn allows_batches(version: &str) -> bool {
    version < "2025-06-18"
}

/// Which request methods carry a target in `Mcp-Name`, and where it lives in the body.
pub fn name_field(method: &str) -> Option<NameField> {
    match method {
        "tools/call" | "prompts/get" => Some(NameField::Name),
        "resources/read" => Some(NameField::Uri),
        _ => None,
    }
}

/// The body field mirrored by `Mcp-Name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameField {
    /// `params.name`
    Name,
    /// `params.uri`
    Uri,
}

/// JSON-RPC and MCP error codes.
pub mod code {
    /// JSON-RPC 2.0: invalid JSON was received.
    pub const PARSE_ERROR: i64 = -32700;
    /// JSON-RPC 2.0: the JSON sent is not a valid request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// JSON-RPC 2.0: the method does not exist.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// JSON-RPC 2.0: invalid method parameters.
    pub const INVALID_PARAMS: i64 = -32602;
    /// JSON-RPC 2.0: internal error. Portcullis uses it, with `data.reason`, when an upstream
    /// fails, hangs or is overloaded.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// MCP 2026-07-28: the HTTP headers do not match the body, or required headers are missing.
    pub const HEADER_MISMATCH: i64 = -32020;
    /// MCP 2026-07-28: a client capability the request needs is missing.
    pub const MISSING_REQUIRED_CLIENT_CAPABILITY: i64 = -32021;
    /// MCP 2026-07-28: the requested protocol version is not supported.
    pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;
    /// Implementation-defined server error: the session is unknown or has ended.
    pub const SESSION_NOT_FOUND: i64 = -32001;
    /// Portcullis refused the request under a rate limit (its own code in the JSON-RPC range
    /// for implementation-defined server errors; the HTTP status is 429 with `Retry-After`).
    pub const RATE_LIMITED: i64 = -32029;
}

/// Decodes an `Mcp-Name`/`Mcp-Param-*` header value: the `=?base64?…?=` sentinel form is
/// Base64 of UTF-8; anything else is the value itself. `None` if the sentinel form is invalid.
pub fn decode_header_value(raw: &str) -> Option<std::borrow::Cow<'_, str>> {
    use base64::Engine as _;
    match raw
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    {
        Some(encoded) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()?;
            String::from_utf8(bytes).ok().map(std::borrow::Cow::Owned)
        }
        None => Some(std::borrow::Cow::Borrowed(raw)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_by_date() {
        assert!(allows_batches("2025-03-26"));
        assert!(!allows_batches("2025-06-18"));
        assert!(!allows_batches("2026-07-28"));
        assert!(is_stateless("2026-07-28"));
        assert!(!is_stateless("2025-11-25"));
    }

    #[test]
    fn header_values_decode() {
        assert_eq!(decode_header_value("get_weather").unwrap(), "get_weather");
        assert_eq!(
            decode_header_value("=?base64?SGVsbG8sIOS4lueVjA==?=").unwrap(),
            "Hello, 世界"
        );
        assert_eq!(
            decode_header_value("=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=").unwrap(),
            "=?base64?literal?="
        );
        assert!(decode_header_value("=?base64?%%%?=").is_none());
    }
}
