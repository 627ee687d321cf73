//! Checks that go beyond types: formats, ranges, exclusive keys and cross-key rules.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::error::{ConfigError, ConfigProblem};
use super::identity_providers::{IdentityProviderConfig, ProviderKind};
use super::types::{AccountsConfig, AuthMode, Config, Isolation, TenantsConfig, TokensConfig};
use super::validators::{
    JWT_ALGORITHMS, RESERVED_VALIDATOR_IDS, ValidatorConfig, ValidatorKind, defaults,
};

pub(super) struct Problems(Vec<ConfigProblem>);

impl Problems {
    pub(super) fn add(&mut self, key: impl Into<String>, problem: impl Into<String>) {
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

    if let Some(endpoint) = &config.log.otlp_endpoint
        && !matches!(url::Url::parse(endpoint), Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some())
    {
        p.add("log.otlp_endpoint", "must be an http:// or https:// URL");
    }
    if let Some(redis) = &config.store.redis_url
        && !(redis.starts_with("redis://") || redis.starts_with("rediss://"))
    {
        p.add(
            "store.redis_url",
            "the scheme must be redis:// or rediss://".to_owned(),
        );
    }
    if !(Duration::from_millis(50)..=Duration::from_secs(3600)).contains(&config.store.change_poll)
    {
        p.add("store.change_poll", "must be between 50ms and 1h");
    }

    check_tokens(&mut p, &config.tokens);
    let sample = config.audit.authorization_allows_sample;
    if !(0.0..=1.0).contains(&sample) {
        p.add(
            "audit.authorization_allows_sample",
            format!("{sample} must be between 0.0 and 1.0"),
        );
    }
    if !is_env_var_name(&config.keys.encryption_key_env) {
        p.add(
            "keys.encryption_key_env",
            format!(
                "{:?} is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)",
                config.keys.encryption_key_env
            ),
        );
    }
    for (key, file) in [
        ("keys.encryption_key_file", &config.keys.encryption_key_file),
        (
            "authorization.cedar_policies",
            &config.authorization.cedar_policies,
        ),
    ] {
        if file.as_deref().is_some_and(|file| file.trim().is_empty()) {
            p.add(key, "must not be empty");
        }
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

    check_tenants(&mut p, &config.tenants);
    check_accounts(&mut p, &config.accounts);
    super::registration::check(&mut p, &config.registration, &config.clients);
    let mut validator_ids = HashSet::new();
    for (i, v) in config.validators.iter().enumerate() {
        let key = |field: &str| entry_key("validators", i, &v.id, field);
        if !is_valid_name(&v.id) {
            p.add(key("id"), format!("{:?} must be 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit", v.id));
        } else if RESERVED_VALIDATOR_IDS.contains(&v.id.as_str()) {
            p.add(
                key("id"),
                format!("{:?} is reserved for a built-in credential", v.id),
            );
        } else if !validator_ids.insert(v.id.as_str()) {
            p.add(
                key("id"),
                format!("{:?} is used by more than one validator", v.id),
            );
        }
        check_validator(&mut p, v, &key);
    }

    check_roles(&mut p, &config.roles);
    let known_role = |name: &str| {
        portcullis_policy::BUILTIN_ROLES
            .iter()
            .any(|r| r.name == name)
            || config.roles.iter().any(|r| r.name == name)
    };
    for role in config.accounts.mfa_by_role.keys() {
        if !known_role(role) {
            p.add(
                format!("accounts.mfa_by_role.{role}"),
                format!("{role:?} is not a built-in role or a [[roles]] name"),
            );
        }
    }
    for (i, role) in config.accounts.default_roles.iter().enumerate() {
        if !known_role(role) {
            p.add(
                format!("accounts.default_roles[{i}]"),
                format!("{role:?} is not a built-in role or a [[roles]] name"),
            );
        }
    }
    for (i, up) in config.upstreams.iter().enumerate() {
        for (j, role) in up.authenticated_roles.iter().enumerate() {
            if !known_role(role) {
                p.add(
                    format!(
                        "{}[{j}]",
                        entry_key("upstreams", i, &up.name, "authenticated_roles")
                    ),
                    format!("{role:?} is not a built-in role or a [[roles]] name"),
                );
            }
        }
        if up.auth == AuthMode::None && !up.authenticated_roles.is_empty() {
            p.add(
                entry_key("upstreams", i, &up.name, "authenticated_roles"),
                "auth = \"none\" has no authenticated callers: every caller may do everything",
            );
        }
    }
    for (i, provider) in config.identity_providers.iter().enumerate() {
        for (j, role) in provider.default_roles.iter().enumerate() {
            if !known_role(role) {
                p.add(
                    format!(
                        "{}[{j}]",
                        entry_key("identity_providers", i, &provider.id, "default_roles")
                    ),
                    format!("{role:?} is not a built-in role or a [[roles]] name"),
                );
            }
        }
    }
    let mut provider_ids = HashSet::new();
    for (i, provider) in config.identity_providers.iter().enumerate() {
        let key = |field: &str| entry_key("identity_providers", i, &provider.id, field);
        if !is_valid_name(&provider.id) {
            p.add(key("id"), format!("{:?} must be 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit", provider.id));
        } else if !provider_ids.insert(provider.id.as_str()) {
            p.add(
                key("id"),
                format!(
                    "{:?} is used by more than one identity provider",
                    provider.id
                ),
            );
        }
        check_identity_provider(&mut p, provider, &key);
    }

    let loopback_listener = listen.is_ok_and(|a| a.ip().is_loopback());
    let mut names = HashSet::new();
    for (i, up) in config.upstreams.iter().enumerate() {
        let key = |field: &str| entry_key("upstreams", i, &up.name, field);
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
            if up.command.is_none() || up.url.is_some() || up.builtin.is_some() {
                p.add(
                    key("isolation"),
                    "\"tenant\" and \"user\" run one child process per tenant or user: they are for stdio upstreams (command) only",
                );
            } else if up.auth == AuthMode::None {
                p.add(
                    key("isolation"),
                    "auth = \"none\" has no callers to tell apart: isolation needs authentication",
                );
            }
        }
        if up.max_instances == 0 {
            p.add(key("max_instances"), "must be at least 1");
        }
        for (j, id) in up.accept.iter().enumerate() {
            if id != crate::auth::api_key::API_KEY_VALIDATOR && !validator_ids.contains(id.as_str())
            {
                p.add(
                    format!("{}[{j}]", key("accept")),
                    format!("no validator {id:?} is configured (the ids of [[validators]], or \"api_key\")"),
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
        for pattern in up.tool_rate_limits.keys() {
            if pattern.is_empty() || pattern.chars().any(char::is_whitespace) {
                p.add(
                    format!("{}.{pattern:?}", key("tool_rate_limits")),
                    "a tool-name pattern is a non-empty name with `*` for any run of characters",
                );
            }
        }
        for (scope, patterns) in &up.scope_permissions {
            let at = format!("{}.{scope}", key("scope_permissions"));
            if !up.scopes.iter().any(|s| s == scope) {
                p.add(
                    at.clone(),
                    format!("{scope:?} is not one of this upstream's scopes"),
                );
            }
            if patterns.split_ascii_whitespace().next().is_none() {
                p.add(at.clone(), "names no permission pattern");
            }
            for pattern in patterns.split_ascii_whitespace() {
                match portcullis_policy::PermissionPattern::parse(pattern) {
                    Err(e) => p.add(at.clone(), e.to_string()),
                    Ok(_) if !pattern.starts_with("mcp.") => p.add(
                        at.clone(),
                        format!("{pattern:?}: a scope maps to MCP permissions (mcp.*) only"),
                    ),
                    Ok(_) => {}
                }
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
        if up.identity_token {
            if up.auth == AuthMode::None {
                p.add(
                    key("identity_token"),
                    "auth = \"none\" has no caller to vouch for: the identity token needs authentication",
                );
            }
            if http::is_forbidden_upstream_header(&up.identity_token_header) {
                p.add(
                    key("identity_token_header"),
                    "must be a header name other than those Portcullis controls (Host, Content-Length, MCP and X-Portcullis-* headers, hop-by-hop headers)",
                );
            }
            if up.credential_env.is_some()
                && up
                    .identity_token_header
                    .eq_ignore_ascii_case(&up.credential_header)
            {
                p.add(
                    key("identity_token_header"),
                    "the identity token and the static credential (credential_header) need different headers",
                );
            }
        }
        if let Some(provider) = &up.pass_provider_token {
            if !provider_ids.contains(provider.as_str()) {
                p.add(
                    key("pass_provider_token"),
                    format!("no identity provider {provider:?} is configured (the ids of [[identity_providers]])"),
                );
            }
            if up.auth == AuthMode::None {
                p.add(
                    key("pass_provider_token"),
                    "auth = \"none\" has no signed-in user whose provider token could be sent",
                );
            }
            if http::is_forbidden_upstream_header(&up.provider_token_header) {
                p.add(
                    key("provider_token_header"),
                    "must be a header name other than those Portcullis controls (Host, Content-Length, MCP and X-Portcullis-* headers, hop-by-hop headers)",
                );
            }
            let clash = (up.identity_token
                && up
                    .identity_token_header
                    .eq_ignore_ascii_case(&up.provider_token_header))
                || (up.credential_env.is_some()
                    && up
                        .credential_header
                        .eq_ignore_ascii_case(&up.provider_token_header));
            if clash {
                p.add(
                    key("provider_token_header"),
                    "the provider token needs a header of its own (not identity_token_header or credential_header)",
                );
            }
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

/// Names a key of an array-of-tables entry by the entry's name, or its position when unnamed.
fn entry_key(section: &str, index: usize, name: &str, field: &str) -> String {
    if name.is_empty() {
        format!("{section}[{index}].{field}")
    } else {
        format!("{section}[{name}].{field}")
    }
}

fn check_tokens(p: &mut Problems, tokens: &TokensConfig) {
    const MINUTE: Duration = Duration::from_secs(60);
    let limits = [
        (
            "access_token_ttl",
            tokens.access_token_ttl,
            24 * 60 * MINUTE,
            "1 day",
        ),
        (
            "authorization_code_ttl",
            tokens.authorization_code_ttl,
            10 * MINUTE,
            "10 minutes",
        ),
        (
            "refresh_token_retry_grace",
            tokens.refresh_token_retry_grace,
            5 * MINUTE,
            "5 minutes",
        ),
    ];
    for (key, value, max, max_text) in limits {
        if value.is_zero() {
            p.add(format!("tokens.{key}"), "must be greater than zero");
        } else if value > max {
            p.add(
                format!("tokens.{key}"),
                format!("must be at most {max_text}"),
            );
        }
    }
    if tokens.refresh_token_idle_ttl.is_zero() {
        p.add("tokens.refresh_token_idle_ttl", "must be greater than zero");
    } else if tokens.refresh_token_idle_ttl > tokens.refresh_token_absolute_ttl {
        p.add(
            "tokens.refresh_token_idle_ttl",
            "must be at most refresh_token_absolute_ttl",
        );
    }
}

fn check_tenants(p: &mut Problems, tenants: &TenantsConfig) {
    for (domain, tenant) in &tenants.by_email_domain {
        let key = format!("tenants.by_email_domain.{domain:?}");
        if domain.is_empty()
            || domain.contains(['@', '/', ' '])
            || domain.to_ascii_lowercase() != *domain
        {
            p.add(
                &key,
                "the key must be a lower-case email domain such as \"acme.com\"",
            );
        }
        if !is_valid_name(tenant) {
            p.add(
                key,
                format!("tenant {tenant:?} must be 1-63 lowercase letters, digits, '-' or '_'"),
            );
        }
    }
    if tenants.claim.as_deref().is_some_and(str::is_empty) {
        p.add("tenants.claim", "must not be empty");
    }
}

fn check_accounts(p: &mut Problems, accounts: &AccountsConfig) {
    let idle = accounts.session_idle_timeout;
    let absolute = accounts.session_absolute_timeout;
    if idle < Duration::from_secs(60) {
        p.add("accounts.session_idle_timeout", "must be at least 1m");
    }
    if absolute < idle {
        p.add(
            "accounts.session_absolute_timeout",
            "must be at least accounts.session_idle_timeout",
        );
    } else if absolute > Duration::from_secs(400 * 86_400) {
        p.add("accounts.session_absolute_timeout", "must be at most 400d");
    }
    if !(8..=64).contains(&accounts.min_password_length) {
        p.add(
            "accounts.min_password_length",
            "must be between 8 and 64 (ASVS 6.2.1: at least 8; 64-character passwords must be allowed)",
        );
    }
}

/// The checks of one `[[validators]]` entry; `key` names a field of this entry.
fn check_validator(p: &mut Problems, v: &ValidatorConfig, key: &dyn Fn(&str) -> String) {
    let kind = v.kind.as_str();
    for field in v.set_keys() {
        if !v.kind.has_key(field) {
            p.add(
                key(field),
                format!("does not apply to a validator of kind {kind}"),
            );
        }
    }
    let required = |p: &mut Problems, field: &str, value: &Option<String>| {
        if value.as_deref().is_none_or(|s| s.trim().is_empty()) {
            p.add(key(field), format!("is required for kind {kind}"));
        }
    };
    let url = |p: &mut Problems, field: &str, value: &Option<String>| {
        if let Some(raw) = value {
            check_validator_url(p, &key(field), raw, v.allow_private_network);
        }
    };
    match v.kind {
        ValidatorKind::Jwt => {
            required(p, "issuer", &v.issuer);
            url(p, "issuer", &v.issuer);
            url(p, "jwks_uri", &v.jwks_uri);
        }
        ValidatorKind::Hs256 => {
            required(p, "issuer", &v.issuer);
            required(p, "secret_env", &v.secret_env);
        }
        ValidatorKind::Introspection => {
            url(p, "issuer", &v.issuer);
            required(p, "introspection_endpoint", &v.introspection_endpoint);
            url(p, "introspection_endpoint", &v.introspection_endpoint);
            required(p, "client_id", &v.client_id);
            required(p, "client_secret_env", &v.client_secret_env);
        }
        ValidatorKind::Github => {
            url(p, "base_url", &v.base_url);
            if v.base_url.as_deref().is_some_and(|u| u.ends_with('/')) {
                p.add(key("base_url"), "must not end with '/'");
            }
            let lists = [&v.allowed_users, &v.allowed_orgs, &v.allowed_teams];
            let any_list = lists
                .iter()
                .any(|l| l.as_ref().is_some_and(|l| !l.is_empty()));
            match (v.allow_any_user == Some(true), any_list) {
                (false, false) => p.add(
                    key("allowed_users"),
                    "a github validator needs allowed_users, allowed_orgs or allowed_teams, or allow_any_user = true",
                ),
                (true, true) => p.add(
                    key("allow_any_user"),
                    "allow_any_user = true cannot be combined with allowed_users, allowed_orgs or allowed_teams",
                ),
                _ => {}
            }
            for (j, team) in v.allowed_teams.iter().flatten().enumerate() {
                let valid = team.split_once('/').is_some_and(|(org, slug)| {
                    !org.is_empty() && !slug.is_empty() && !slug.contains('/')
                });
                if !valid {
                    p.add(
                        format!("{}[{j}]", key("allowed_teams")),
                        format!("{team:?} is not a team such as \"acme/platform\" (org/team-slug)"),
                    );
                }
            }
        }
        ValidatorKind::Google => {
            url(p, "issuer", &v.issuer);
            url(p, "jwks_uri", &v.jwks_uri);
            url(p, "userinfo_endpoint", &v.userinfo_endpoint);
            url(p, "tokeninfo_endpoint", &v.tokeninfo_endpoint);
            if v.audiences.as_ref().is_none_or(Vec::is_empty) {
                p.add(
                    key("audiences"),
                    "is required for kind google: the OAuth client ids whose tokens are accepted",
                );
            }
            for (j, domain) in v.hosted_domains.iter().flatten().enumerate() {
                if domain.is_empty() || domain.to_ascii_lowercase() != *domain {
                    p.add(
                        format!("{}[{j}]", key("hosted_domains")),
                        format!("{domain:?} must be a lower-case domain"),
                    );
                }
            }
        }
        ValidatorKind::CloudflareAccess => {
            required(p, "team_domain", &v.team_domain);
            if let Some(raw) = &v.team_domain {
                let field = key("team_domain");
                check_validator_url(p, &field, raw, v.allow_private_network);
                let bare =
                    url::Url::parse(raw).is_ok_and(|u| u.path() == "/") && !raw.ends_with('/');
                if !bare {
                    p.add(
                        field,
                        "must be the team's origin such as https://acme.cloudflareaccess.com, with no path or trailing '/'",
                    );
                }
            }
            if v.audiences.as_ref().is_none_or(Vec::is_empty) {
                p.add(
                    key("audiences"),
                    "is required for kind cloudflare_access: the application AUD tags",
                );
            }
        }
    }
    for (field, list) in [
        ("audiences", &v.audiences),
        ("token_types", &v.token_types),
        ("allowed_users", &v.allowed_users),
        ("allowed_orgs", &v.allowed_orgs),
    ] {
        for (j, item) in list.iter().flatten().enumerate() {
            if item.trim().is_empty() {
                p.add(format!("{}[{j}]", key(field)), "must not be empty");
            }
        }
    }
    if let Some(algorithms) = &v.algorithms {
        if algorithms.is_empty() {
            p.add(
                key("algorithms"),
                "must list at least one algorithm (or be left out for all of them)",
            );
        }
        for (j, alg) in algorithms.iter().enumerate() {
            if !JWT_ALGORITHMS.contains(&alg.as_str()) {
                p.add(
                    format!("{}[{j}]", key("algorithms")),
                    format!(
                        "{alg:?} is not allowed; choose from {}",
                        JWT_ALGORITHMS.join(", ")
                    ),
                );
            }
        }
    }
    for (field, value) in [
        ("secret_env", &v.secret_env),
        ("client_secret_env", &v.client_secret_env),
    ] {
        if let Some(name) = value
            && !name.is_empty()
            && !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            p.add(
                key(field),
                format!("{name:?} is not an environment variable name"),
            );
        }
    }
    for (field, value) in [
        ("subject_claim", &v.subject_claim),
        ("email_claim", &v.email_claim),
        ("name_claim", &v.name_claim),
        ("groups_claim", &v.groups_claim),
        ("tenant_claim", &v.tenant_claim),
        ("scope_claim", &v.scope_claim),
        ("client_id", &v.client_id),
    ] {
        if value.as_deref().is_some_and(|s| s.trim().is_empty()) {
            p.add(key(field), "must not be empty");
        }
    }
    if v.cache_ttl.is_zero() {
        p.add(key("cache_ttl"), "must be greater than zero");
    }
    for (field, d) in [
        ("jwks_cache_ttl", v.jwks_cache_ttl),
        ("jwks_max_stale", v.jwks_max_stale),
        ("unknown_kid_cooldown", v.unknown_kid_cooldown),
    ] {
        if d.is_some_and(|d| d.is_zero()) {
            p.add(key(field), "must be greater than zero");
        }
    }
    let cache = v.jwks_cache_ttl.unwrap_or_else(defaults::jwks_cache_ttl);
    let stale = v.jwks_max_stale.unwrap_or_else(defaults::jwks_max_stale);
    if v.kind.has_key("jwks_max_stale") && stale < cache {
        p.add(
            key("jwks_max_stale"),
            "must be at least jwks_cache_ttl: keys are refreshed before they go stale",
        );
    }
}

/// `[[roles]]`: resolvable beside the built-in roles (names, inheritance, permissions).
fn check_roles(p: &mut Problems, roles: &[super::types::RoleConfig]) {
    use portcullis_policy::{RoleDefinition, RoleError, RoleSet};
    let definitions: Vec<RoleDefinition> = roles
        .iter()
        .map(|r| RoleDefinition {
            name: r.name.clone(),
            inherits: r.inherits.clone(),
            permissions: r.permissions.clone(),
        })
        .collect();
    if let Err(e) = RoleSet::build(&definitions) {
        let (role, field) = match &e {
            RoleError::BadName(r) | RoleError::Builtin(r) | RoleError::Duplicate(r) => {
                (r.clone(), "name")
            }
            RoleError::UnknownInherited { role, .. } => (role.clone(), "inherits"),
            RoleError::Cycle(path) => (path.first().cloned().unwrap_or_default(), "inherits"),
            RoleError::Pattern { role, .. } => (role.clone(), "permissions"),
        };
        let index = roles.iter().position(|r| r.name == role).unwrap_or(0);
        p.add(entry_key("roles", index, &role, field), e.to_string());
    }
}

/// The checks of one `[[identity_providers]]` entry; `key` names a field of this entry.
fn check_identity_provider(
    p: &mut Problems,
    provider: &IdentityProviderConfig,
    key: &dyn Fn(&str) -> String,
) {
    let kind = provider.kind;
    for set in provider.set_keys() {
        if !kind.has_key(set) {
            p.add(
                key(set),
                format!("does not apply to kind = \"{}\"", kind.as_str()),
            );
        }
    }
    if provider.client_id.trim().is_empty() {
        p.add(key("client_id"), "must not be empty");
    }
    if !is_env_var_name(&provider.client_secret_env) {
        p.add(
            key("client_secret_env"),
            "must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)",
        );
    }
    if let Some(name) = &provider.display_name
        && (name.trim().is_empty() || name.chars().count() > 64)
    {
        p.add(key("display_name"), "must be 1-64 characters");
    }
    let filled = provider.with_defaults();
    match kind {
        ProviderKind::Oidc if provider.issuer.is_none() => {
            p.add(key("issuer"), "is required for kind = \"oidc\"");
        }
        ProviderKind::Entra if provider.tenant.is_none() => {
            p.add(
                key("tenant"),
                "is required for kind = \"entra\" (a tenant id or domain, or common, organizations, consumers)",
            );
        }
        ProviderKind::Github => {
            let any = filled.allow_any_user == Some(true);
            let lists = [
                &filled.allowed_users,
                &filled.allowed_orgs,
                &filled.allowed_teams,
            ];
            if !any && lists.iter().all(|l| l.as_ref().is_none_or(Vec::is_empty)) {
                p.add(
                    key("allowed_users"),
                    "a github provider needs allowed_users, allowed_orgs or allowed_teams, or allow_any_user = true",
                );
            }
            for (i, team) in filled.allowed_teams.iter().flatten().enumerate() {
                if team.split('/').filter(|s| !s.is_empty()).count() != 2 {
                    p.add(
                        format!("{}[{i}]", key("allowed_teams")),
                        "a team is written org/team-slug",
                    );
                }
            }
        }
        _ => {}
    }
    if let Some(tenant) = &provider.tenant
        && (tenant.is_empty()
            || !tenant
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'))
    {
        p.add(key("tenant"), "must be a tenant id or domain name");
    }
    if let Some(issuer) = &provider.issuer {
        check_validator_url(p, &key("issuer"), issuer, provider.allow_private_network);
    }
    if let Some(base) = &provider.base_url {
        check_validator_url(p, &key("base_url"), base, provider.allow_private_network);
    }
    let scopes = filled.scopes.unwrap_or_default();
    for (i, scope) in scopes.iter().enumerate() {
        if !is_scope_token(scope) {
            p.add(
                format!("{}[{i}]", key("scopes")),
                "a scope is printable ASCII without spaces, quotes or backslashes (RFC 6749 §3.3)",
            );
        }
    }
    if kind.is_oidc() && !scopes.iter().any(|s| s == "openid") {
        p.add(
            key("scopes"),
            "an OpenID Connect provider needs the openid scope",
        );
    }
    for (i, domain) in provider.allowed_email_domains.iter().enumerate() {
        if domain.is_empty()
            || domain.contains('@')
            || domain.bytes().any(|b| b.is_ascii_uppercase())
        {
            p.add(
                format!("{}[{i}]", key("allowed_email_domains")),
                "a domain is written in lower case without '@' (example.com)",
            );
        }
    }
    if provider.timeout.is_zero() {
        p.add(key("timeout"), "must be greater than zero");
    }
}

/// Validators' URLs: `https`, or also `http` when the validator may reach private networks
/// (loopback test issuers); never with credentials, a query or a fragment.
fn check_validator_url(p: &mut Problems, key: &str, raw: &str, allow_private_network: bool) {
    let Ok(url) = url::Url::parse(raw) else {
        p.add(key, format!("{raw:?} is not a URL"));
        return;
    };
    if url.host_str().is_none_or(str::is_empty) {
        p.add(key, "must have a host");
    }
    match url.scheme() {
        "https" => {}
        "http" if allow_private_network => {}
        "http" => p.add(
            key,
            "must be https (plain http only with allow_private_network = true)",
        ),
        other => p.add(key, format!("the scheme must be https, not {other}")),
    }
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        p.add(key, "must not contain a query, a fragment or credentials");
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

pub(super) fn is_env_var_name(name: &str) -> bool {
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

/// A tenant, upstream or validator name: 1-63 lowercase letters, digits, `-` or `_`, starting
/// with a letter or digit.
pub fn is_valid_name(name: &str) -> bool {
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
