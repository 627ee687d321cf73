//! `Host` and `Origin` validation: the DNS-rebinding protection MCP requires of every server.
//!
//! A browser tricked into talking to Portcullis through an attacker's DNS name sends that name
//! in `Host`, and any cross-site page sends its own `Origin`; both are refused with 403 unless
//! they are Portcullis's own public URL, configured extras, or loopback names when Portcullis
//! itself only listens on loopback.

use http::HeaderMap;
use http::header::{HOST, ORIGIN};

use crate::RelayError;

/// Which `Host` and `Origin` values are accepted.
#[derive(Debug, Clone)]
pub struct OriginPolicy {
    /// Lowercase `host[:port]` values accepted in `Host`.
    hosts: Vec<String>,
    /// Lowercase origins accepted in `Origin`.
    origins: Vec<String>,
    /// Accept loopback hosts and origins on any port.
    loopback: bool,
}

impl OriginPolicy {
    /// Builds the policy from the public URL, the configured extras and whether the listener
    /// is loopback-only.
    pub fn new(
        public_url: &str,
        allowed_origins: &[String],
        allowed_hosts: &[String],
        loopback_listener: bool,
    ) -> Self {
        let mut hosts: Vec<String> = allowed_hosts
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        let mut origins: Vec<String> = allowed_origins
            .iter()
            .map(|o| o.to_ascii_lowercase())
            .collect();
        if let Ok(url) = url::Url::parse(public_url) {
            if let Some(host) = url.host_str() {
                let host = host.to_ascii_lowercase();
                match url.port() {
                    Some(port) => hosts.push(format!("{host}:{port}")),
                    None => {
                        hosts.push(host.clone());
                        if let Some(port) = url.port_or_known_default() {
                            hosts.push(format!("{host}:{port}"));
                        }
                    }
                }
            }
            origins.push(url.origin().ascii_serialization().to_ascii_lowercase());
        }
        OriginPolicy {
            hosts,
            origins,
            loopback: loopback_listener,
        }
    }

    /// Is this `Origin` value allowed (used for CORS as well)?
    pub fn origin_allowed(&self, origin: &str) -> bool {
        if self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin)) {
            return true;
        }
        self.loopback
            && url::Url::parse(origin).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some_and(is_loopback_name)
                    && u.path() == "/"
            })
    }

    fn host_allowed(&self, host: &str) -> bool {
        if self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
            return true;
        }
        self.loopback && is_loopback_name(strip_port(host))
    }

    /// Checks the request headers; a missing `Host` (HTTP/2 carries `:authority` in the URI)
    /// is checked by the caller through the URI authority.
    pub fn check(&self, headers: &HeaderMap, authority: Option<&str>) -> Result<(), RelayError> {
        let host = headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .or(authority);
        match host {
            Some(host) if self.host_allowed(host) => {}
            _ => {
                return Err(RelayError::ForbiddenOrigin(
                    "the Host header is not allowed",
                ));
            }
        }
        if let Some(origin) = headers.get(ORIGIN) {
            let ok = origin.to_str().is_ok_and(|o| self.origin_allowed(o));
            if !ok {
                return Err(RelayError::ForbiddenOrigin(
                    "the Origin header is not allowed",
                ));
            }
        }
        Ok(())
    }
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split_once(']').map_or(host, |(h, _)| h);
    }
    host.rsplit_once(':').map_or(host, |(h, p)| {
        if p.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    })
}

fn is_loopback_name(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(policy: &OriginPolicy, host: &str, origin: Option<&str>) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, host.parse().unwrap());
        if let Some(o) = origin {
            headers.insert(ORIGIN, o.parse().unwrap());
        }
        policy.check(&headers, None).is_ok()
    }

    #[test]
    fn loopback_listener_accepts_loopback_names_only() {
        let p = OriginPolicy::new("http://127.0.0.1:8080", &[], &[], true);
        assert!(check(&p, "127.0.0.1:8080", None));
        assert!(check(&p, "localhost:9999", Some("http://localhost:5173")));
        assert!(check(&p, "[::1]:8080", Some("http://[::1]:3000")));
        assert!(!check(&p, "evil.example", None));
        assert!(!check(&p, "evil.example:8080", None));
        assert!(!check(&p, "127.0.0.1:8080", Some("http://evil.example")));
        assert!(!check(&p, "127.0.0.1:8080", Some("null")));
        assert!(!check(&p, "localhost.evil.example", None));
    }

    #[test]
    fn public_listener_accepts_its_url_and_configured_extras() {
        let p = OriginPolicy::new(
            "https://mcp.example.com",
            &["https://app.example.com".into()],
            &["mcp.internal:8080".into()],
            false,
        );
        assert!(check(
            &p,
            "mcp.example.com",
            Some("https://mcp.example.com")
        ));
        assert!(check(
            &p,
            "MCP.example.com:443",
            Some("https://app.example.com")
        ));
        assert!(check(&p, "mcp.internal:8080", None));
        assert!(!check(&p, "localhost:8080", None));
        assert!(!check(&p, "mcp.example.com", Some("http://localhost:3000")));
        assert!(!check(
            &p,
            "mcp.example.com",
            Some("https://mcp.example.com.evil.example")
        ));
    }
}
