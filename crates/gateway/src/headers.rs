//! The checks a POST's headers must pass against its (already inspected) body: known protocol
//! version, and for 2026-07-28 the mirrored `Mcp-Method`/`Mcp-Name` headers, which must agree
//! with the body so that nothing downstream can be told one thing and execute another.

use http::{HeaderMap, HeaderName};
use portcullis_proto::jsonrpc::{Body, Kind, Message};
use portcullis_proto::mcp::{self, header};

use crate::RelayError;

// MCP's header names, parsed once for the lookups every request makes.
pub(crate) const SESSION_ID: HeaderName = HeaderName::from_static(header::SESSION_ID);
pub(crate) const PROTOCOL_VERSION: HeaderName = HeaderName::from_static(header::PROTOCOL_VERSION);
pub(crate) const METHOD: HeaderName = HeaderName::from_static(header::METHOD);
pub(crate) const NAME: HeaderName = HeaderName::from_static(header::NAME);
pub(crate) const LAST_EVENT_ID: HeaderName = HeaderName::from_static(header::LAST_EVENT_ID);

fn mismatch(message: impl Into<String>) -> RelayError {
    RelayError::HeaderMismatch {
        message: message.into(),
        id: None,
    }
}

fn text<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Result<Option<&'a str>, RelayError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(Some)
            .map_err(|_| mismatch(format!("the {name} header contains invalid characters"))),
    }
}

/// The `MCP-Protocol-Version` header, if present, after checking that it is a known revision.
pub(crate) fn protocol_version(headers: &HeaderMap) -> Result<Option<&str>, RelayError> {
    let Some(version) = text(headers, &PROTOCOL_VERSION)? else {
        return Ok(None);
    };
    if mcp::is_known_version(version) {
        Ok(Some(version))
    } else {
        Err(RelayError::UnsupportedVersion {
            version: version.to_owned(),
            supported: None,
            id: None,
        })
    }
}

/// Checks the headers of a POST against its body; returns the header's protocol version.
pub(crate) fn check_post<'h>(
    headers: &'h HeaderMap,
    body: &Body,
) -> Result<Option<&'h str>, RelayError> {
    let version = protocol_version(headers)?;
    let method_header = text(headers, &METHOD)?;
    let name_header = text(headers, &NAME)?;
    let message = match body {
        Body::Single(m) => m,
        Body::Batch(_) => {
            if method_header.is_some() || name_header.is_some() {
                return Err(mismatch("Mcp-Method and Mcp-Name cannot describe a batch"));
            }
            return Ok(version);
        }
    };
    check_message(version, method_header, name_header, message)?;
    Ok(version)
}

fn check_message(
    version: Option<&str>,
    method_header: Option<&str>,
    name_header: Option<&str>,
    m: &Message,
) -> Result<(), RelayError> {
    let stateless = version
        .or(m.meta_version.as_deref())
        .is_some_and(mcp::is_stateless);
    if let Some(meta) = m.meta_version.as_deref() {
        match version {
            None if mcp::is_stateless(meta) => {
                return Err(mismatch("the MCP-Protocol-Version header is required"));
            }
            Some(v) if v != meta => {
                return Err(mismatch(format!(
                    "MCP-Protocol-Version header value {v:?} does not match body value {meta:?}"
                )));
            }
            _ => {}
        }
    } else if stateless && m.kind == Kind::Request {
        return Err(mismatch(format!(
            "the body's _meta must carry {}",
            mcp::META_PROTOCOL_VERSION
        )));
    }

    match (method_header, m.method.as_deref()) {
        (Some(h), Some(b)) if h != b => {
            return Err(mismatch(format!(
                "Mcp-Method header value {h:?} does not match body value {b:?}"
            )));
        }
        (Some(_), None) => return Err(mismatch("Mcp-Method is set but the body is not a request")),
        (None, Some(_)) if stateless && m.kind == Kind::Request => {
            return Err(mismatch("the Mcp-Method header is required"));
        }
        _ => {}
    }

    let needs_name = m.method.as_deref().and_then(mcp::name_field).is_some();
    match name_header {
        Some(raw) => {
            let Some(decoded) = mcp::decode_header_value(raw) else {
                return Err(mismatch(
                    "the Mcp-Name header is not valid =?base64?…?= encoding",
                ));
            };
            match m.target() {
                Some(target) if target == decoded => {}
                Some(target) => {
                    return Err(mismatch(format!(
                        "Mcp-Name header value {decoded:?} does not match body value {target:?}"
                    )));
                }
                None => {
                    return Err(mismatch(
                        "Mcp-Name is set but the body has no name or uri to match",
                    ));
                }
            }
        }
        None if stateless && needs_name && m.kind == Kind::Request => {
            return Err(mismatch("the Mcp-Name header is required"));
        }
        None => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use portcullis_proto::jsonrpc::{Limits, inspect};

    use super::*;

    fn check(headers: &[(&str, &str)], body: &str) -> String {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let body = inspect(body.as_bytes(), Limits::default()).unwrap();
        match check_post(&map, &body) {
            Ok(v) => format!("ok {v:?}"),
            Err(e) => format!("{e}"),
        }
    }

    const CALL_2026: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#;

    #[test]
    fn stateless_requests_need_matching_mirrors() {
        let v = ("mcp-protocol-version", "2026-07-28");
        let m = ("mcp-method", "tools/call");
        assert_eq!(
            check(&[v, m, ("mcp-name", "get_weather")], CALL_2026),
            "ok Some(\"2026-07-28\")"
        );
        assert_eq!(
            check(
                &[v, m, ("mcp-name", "=?base64?Z2V0X3dlYXRoZXI=?=")],
                CALL_2026
            ),
            "ok Some(\"2026-07-28\")"
        );
        assert!(
            check(&[v, m, ("mcp-name", "other_tool")], CALL_2026)
                .contains("does not match body value \"get_weather\"")
        );
        assert!(check(&[v, m], CALL_2026).contains("Mcp-Name header is required"));
        assert!(
            check(&[v, ("mcp-name", "get_weather")], CALL_2026)
                .contains("Mcp-Method header is required")
        );
        assert!(
            check(
                &[v, ("mcp-method", "tools/list"), ("mcp-name", "get_weather")],
                CALL_2026
            )
            .contains("Mcp-Method header value")
        );
        assert!(
            check(&[m, ("mcp-name", "get_weather")], CALL_2026)
                .contains("MCP-Protocol-Version header is required")
        );
        assert!(
            check(
                &[
                    ("mcp-protocol-version", "2025-11-25"),
                    m,
                    ("mcp-name", "get_weather")
                ],
                CALL_2026
            )
            .contains("does not match body value \"2026-07-28\"")
        );
        assert!(check(&[v, m, ("mcp-name", "=?base64?!!?=")], CALL_2026).contains("not valid"));
    }

    #[test]
    fn older_versions_check_mirrors_only_when_present() {
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}"#;
        let v = ("mcp-protocol-version", "2025-11-25");
        assert_eq!(check(&[v], body), "ok Some(\"2025-11-25\")");
        assert_eq!(check(&[], body), "ok None");
        assert!(check(&[v, ("mcp-name", "other")], body).contains("does not match"));
        assert!(
            check(&[("mcp-protocol-version", "1999-01-01")], body)
                .contains("unsupported protocol version")
        );
        assert!(
            check(
                &[("mcp-method", "tools/call")],
                r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call"}]"#
            )
            .contains("batch")
        );
    }
}
