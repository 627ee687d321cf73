//! Checks that go beyond types: formats, ranges, exclusive keys and cross-key rules.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};

use super::error::{ConfigError, ConfigProblem};
use super::types::{AuthMode, Config, Isolation};

struct Problems(Vec<ConfigProblem>);

impl Problems {
    fn add(&mut self, key: impl Into<String>, problem: impl Into<String>) {
        self.0.push(ConfigProblem {
            key: key.into(),
            problem: problem.into(),
        });
    }
}

/// Is `host` (a URL host, possibly bracketed) a loopback name or address?
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

pub(super) fn validate(config: &Config) -> Result<(), ConfigError> {
    let mut p = Problems(Vec::new());
    if config.version != 1 {
        p.add(
            "version",
            format!(
                "unsupported version {}; this Portcullis reads version 1",
                config.version
            ),
        );
    }

    let server = &config.server;
    let listen = server.listen.parse::<SocketAddr>();
    if listen.is_err() {
        p.add(
            "server.listen",
            format!(
                "{:?} is not a socket address such as 127.0.0.1:8080",
                server.listen
            ),
        );
    }
    check_public_url(&mut p, &server.public_url);
    for (i, origin) in server.allowed_origins.iter().enumerate() {
        if !is_origin(origin) {
            p.add(
                format!("server.allowed_origins[{i}]"),
                format!("{origin:?} is not an origin such as https://app.example.com"),
            );
        }
    }
    for (i, host) in server.allowed_hosts.iter().enumerate() {
        if host.is_empty() || host.contains(['/', ' ', '@']) {
            p.add(
                format!("server.allowed_hosts[{i}]"),
                format!("{host:?} is not a host or host:port"),
            );
        }
    }
    for (i, net) in server.trusted_proxies.iter().enumerate() {
        if net.parse::<ipnet::IpNet>().is_err() && net.parse::<IpAddr>().is_err() {
            p.add(
                format!("server.trusted_proxies[{i}]"),
                format!("{net:?} is not an IP network such as 10.0.0.0/8"),
            );
        }
    }
    if server.max_body_bytes < 1024 {
        p.add("server.max_body_bytes", "must be at least 1024");
    }
    if !(2..=512).contains(&server.max_json_depth) {
        p.add("server.max_json_depth", "must be between 2 and 512");
    }

    let store = &config.store.url;
    if !(store.starts_with("sqlite:")
        || store.starts_with("postgres://")
        || store.starts_with("postgresql://"))
    {
        p.add(
            "store.url",
            format!("{store:?}: the scheme must be sqlite: or postgres://"),
        );
    }

    if tracing_filter_looks_wrong(&config.log.level) {
        p.add(
            "log.level",
            format!(
                "{:?} is not a log filter such as info or portcullis_gateway=debug",
                config.log.level
            ),
        );
    }

    let loopback_listener = listen.is_ok_and(|a| a.ip().is_loopback());
    let mut names = HashSet::new();
    for (i, up) in config.upstreams.iter().enumerate() {
        let key = |field: &str| {
            if up.name.is_empty() {
                format!("upstreams[{i}].{field}")
            } else {
                format!("upstreams[{}].{field}", up.name)
            }
        };
        if !is_valid_name(&up.name) {
            p.add(key("name"), format!("{:?} must be 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit", up.name));
        } else if !names.insert(up.name.as_str()) {
            p.add(
                key("name"),
                format!("{:?} is used by more than one upstream", up.name),
            );
        }
        let sources = [up.url.is_some(), up.command.is_some(), up.builtin.is_some()];
        match sources.iter().filter(|s| **s).count() {
            1 => {}
            0 => p.add(key("url"), "one of url, command or builtin is required"),
            _ => p.add(key("url"), "set only one of url, command or builtin"),
        }
        if let Some(url) = &up.url {
            match url::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
                    if !u.username().is_empty() || u.password().is_some() {
                        p.add(key("url"), "must not contain credentials");
                    }
                }
                _ => p.add(key("url"), format!("{url:?} is not an http or https URL")),
            }
        }
        if let Some(command) = &up.command {
            if command.first().is_none_or(|c| c.trim().is_empty()) {
                p.add(key("command"), "must name a program");
            }
        } else {
            if !up.env.is_empty() {
                p.add(key("env"), "only applies to stdio upstreams (with command)");
            }
            if up.cwd.is_some() {
                p.add(key("cwd"), "only applies to stdio upstreams (with command)");
            }
        }
        if up.isolation != Isolation::Shared {
            p.add(
                key("isolation"),
                "only \"shared\" is available until authorization is configured",
            );
        }
        for (j, id) in up.accept.iter().enumerate() {
            if id != crate::auth::api_key::API_KEY_VALIDATOR {
                p.add(
                    format!("{}[{j}]", key("accept")),
                    format!("no validator {id:?} is configured"),
                );
            }
        }
        if up.auth == AuthMode::None && !up.accept.is_empty() {
            p.add(
                key("accept"),
                "auth = \"none\" accepts every caller: accept has no effect",
            );
        }
        for (j, scope) in up.scopes.iter().enumerate() {
            if !is_scope_token(scope) {
                p.add(
                    format!("{}[{j}]", key("scopes")),
                    "a scope is printable ASCII without spaces, quotes or backslashes (RFC 6749 §3.3)",
                );
            } else if scope == "offline_access" {
                p.add(
                    format!("{}[{j}]", key("scopes")),
                    "offline_access is not a resource scope (MCP 2026-07-28: servers do not advertise it)",
                );
            }
        }
        if let Some(var) = &up.credential_env
            && !is_env_var_name(var)
        {
            p.add(
                key("credential_env"),
                "must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)",
            );
        }
        if http::is_forbidden_upstream_header(&up.credential_header) {
            p.add(
                key("credential_header"),
                "must be a header name other than those Portcullis controls (Host, Content-Length, MCP and X-Portcullis-* headers, hop-by-hop headers)",
            );
        }
        if up.auth == AuthMode::None && !loopback_listener && !server.allow_unauthenticated {
            p.add(key("auth"), "auth = \"none\" on a non-loopback listener needs server.allow_unauthenticated = true");
        }
        for (field, d) in [
            ("connect_timeout", up.connect_timeout),
            ("first_byte_timeout", up.first_byte_timeout),
            ("idle_timeout", up.idle_timeout),
            ("restart_backoff_max", up.restart_backoff_max),
        ] {
            if d.is_zero() {
                p.add(key(field), "must be greater than zero");
            }
        }
        if up.max_in_flight == 0 {
            p.add(key("max_in_flight"), "must be at least 1");
        }
        if up.max_streams == 0 {
            p.add(key("max_streams"), "must be at least 1");
        }
    }

    if p.0.is_empty() {
        Ok(())
    } else {
        Err(ConfigError { problems: p.0 })
    }
}

fn check_public_url(p: &mut Problems, raw: &str) {
    let key = "server.public_url";
    let Ok(url) = url::Url::parse(raw) else {
        p.add(key, format!("{raw:?} is not a URL"));
        return;
    };
    let Some(host) = url.host_str() else {
        p.add(key, "must have a host");
        return;
    };
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(host) => {}
        "http" => p.add(
            key,
            "plain http is only allowed for loopback hosts; use https",
        ),
        other => p.add(
            key,
            format!("the scheme must be https (or http on loopback), not {other}"),
        ),
    }
    if raw.ends_with('/') {
        p.add(key, "must not end with '/'");
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        p.add(key, "must not contain a query, a fragment or credentials");
    }
}

fn is_origin(raw: &str) -> bool {
    url::Url::parse(raw).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https")
            && u.host_str().is_some()
            && u.path() == "/"
            && !raw.ends_with('/')
            && u.query().is_none()
    })
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
pub fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

fn is_env_var_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Rules for header names the configuration may ask Portcullis to send upstream.
mod http {
    /// Whether `name` is not a valid header name, or is one Portcullis sets or strips itself.
    pub fn is_forbidden_upstream_header(name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        let valid = !lower.is_empty()
            && lower
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        !valid
            || lower.starts_with("x-portcullis-")
            || lower.starts_with("mcp-")
            || matches!(
                lower.as_str(),
                "host"
                    | "content-length"
                    | "content-type"
                    | "transfer-encoding"
                    | "connection"
                    | "keep-alive"
                    | "te"
                    | "trailer"
                    | "upgrade"
                    | "accept"
                    | "last-event-id"
            )
    }
}

fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn tracing_filter_looks_wrong(level: &str) -> bool {
    level.trim().is_empty() || level.contains(char::is_whitespace)
}
