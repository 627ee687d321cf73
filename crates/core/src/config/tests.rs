//! Tests of loading, overrides, validation and the key reference.

use std::collections::BTreeSet;
use std::time::Duration;

use super::reference::{KEYS, render_markdown};
use super::*;

const NO_ENV: [(&str, &str); 0] = [];

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::load(text, NO_ENV)
}

fn problems(text: &str, env: &[(&str, &str)]) -> Vec<(String, String)> {
    match Config::load(text, env.iter().copied()) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.problems.into_iter().map(|p| (p.key, p.problem)).collect(),
    }
}

fn assert_problem(text: &str, env: &[(&str, &str)], key: &str, needle: &str) {
    let found = problems(text, env);
    assert!(
        found.iter().any(|(k, p)| k == key && p.contains(needle)),
        "expected {key}: …{needle}… in {found:?}"
    );
}

#[test]
fn minimal_file_gets_defaults() {
    let config = load("version = 1").unwrap();
    assert_eq!(config, Config::default());
}

#[test]
fn version_is_required_and_checked() {
    assert_problem("", &[], "(file)", "missing field `version`");
    assert_problem("version = 2", &[], "version", "unsupported version 2");
}

#[test]
fn unknown_keys_are_errors_naming_the_key() {
    assert_problem(
        "version = 1\n[server]\nlisten_on = \"x\"",
        &[],
        "server.listen_on",
        "unknown field `listen_on`",
    );
    assert_problem(
        "version = 1\n[serve]\n",
        &[],
        "serve",
        "unknown field `serve`",
    );
    assert_problem(
        "version = 1\n[[upstreams]]\nname = \"a\"\nurl = \"http://127.0.0.1:1/mcp\"\nauth = \"none\"\ntimeout = \"1s\"",
        &[],
        "upstreams[0].timeout",
        "unknown field `timeout`",
    );
}

#[test]
fn wrong_types_name_the_key() {
    assert_problem(
        "version = 1\n[server]\nmax_body_bytes = \"big\"",
        &[],
        "server.max_body_bytes",
        "invalid type",
    );
    assert_problem(
        "version = 1\n[server]\nshutdown_grace = \"5 parsecs\"",
        &[],
        "server.shutdown_grace",
        "unit",
    );
    assert_problem(
        "version = 1\n[log]\nformat = \"xml\"",
        &[],
        "log.format",
        "unknown variant `xml`",
    );
}

#[test]
fn toml_syntax_errors_give_a_position() {
    assert_problem("version = 1\n[server\n", &[], "(file)", "line 2");
}

#[test]
fn environment_overrides_sections_and_named_entries() {
    let text = "version = 1\n[[upstreams]]\nname = \"files-a\"\nurl = \"http://127.0.0.1:1/mcp\"\nauth = \"none\"\n";
    let env = [
        ("PORTCULLIS_SERVER__LISTEN", "127.0.0.1:9999"),
        ("PORTCULLIS_SERVER__MAX_BODY_BYTES", "4096"),
        (
            "PORTCULLIS_SERVER__ALLOWED_ORIGINS",
            "[\"https://a.example\"]",
        ),
        ("PORTCULLIS_LOG__FORMAT", "json"),
        (
            "PORTCULLIS_UPSTREAMS__FILES_A__URL",
            "http://127.0.0.1:2/mcp",
        ),
        ("PORTCULLIS_UPSTREAMS__0__MAX_IN_FLIGHT", "7"),
        ("PORTCULLIS_CONFIG", "ignored.toml"),
        ("PORTCULLIS_TEST_POSTGRES_URL", "postgres://ignored"),
        ("OTHER__THING", "ignored"),
    ];
    let config = Config::load(text, env).unwrap();
    assert_eq!(config.server.listen, "127.0.0.1:9999");
    assert_eq!(config.server.max_body_bytes, 4096);
    assert_eq!(
        config.server.allowed_origins,
        vec!["https://a.example".to_owned()]
    );
    assert_eq!(config.log.format, LogFormat::Json);
    let up = &config.upstreams[0];
    assert_eq!(up.url.as_deref(), Some("http://127.0.0.1:2/mcp"));
    assert_eq!(up.max_in_flight, 7);
}

#[test]
fn bad_environment_overrides_name_the_variable() {
    assert_problem(
        "version = 1",
        &[("PORTCULLIS_SERVER__LISTN", "x")],
        "PORTCULLIS_SERVER__LISTN",
        "no configuration key `server.listn`",
    );
    assert_problem(
        "version = 1",
        &[("PORTCULLIS_SERVER__MAX_BODY_BYTES", "lots")],
        "PORTCULLIS_SERVER__MAX_BODY_BYTES",
        "expected an integer",
    );
    assert_problem(
        "version = 1",
        &[("PORTCULLIS_UPSTREAMS__NOPE__URL", "x")],
        "PORTCULLIS_UPSTREAMS__NOPE__URL",
        "no `[[upstreams]]` entry",
    );
    assert_problem(
        "version = 1",
        &[("PORTCULLIS_SERVER__LISTEN", "nonsense")],
        "server.listen",
        "not a socket address",
    );
}

#[test]
fn validation_names_each_problem() {
    let text = r#"
version = 1
[server]
listen = "0.0.0.0:8080"
public_url = "http://mcp.example.com/"
allowed_origins = ["https://ok.example", "not an origin"]
[store]
url = "mysql://x"
[[upstreams]]
name = "Files"
[[upstreams]]
name = "open"
url = "http://127.0.0.1:1/mcp"
auth = "none"
[[upstreams]]
name = "both"
url = "ftp://x"
command = ["x"]
isolation = "user"
accept = ["google"]
connect_timeout = "0s"
"#;
    let found = problems(text, &[]);
    let keys: BTreeSet<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
    for key in [
        "server.public_url",
        "server.allowed_origins[1]",
        "store.url",
        "upstreams[Files].name",
        "upstreams[Files].url",
        "upstreams[open].auth",
        "upstreams[both].url",
        "upstreams[both].isolation",
        "upstreams[both].accept[0]",
        "upstreams[both].connect_timeout",
    ] {
        assert!(keys.contains(key), "missing {key} in {found:#?}");
    }
}

#[test]
fn resource_server_keys_are_checked() {
    let text = r#"
version = 1
[[upstreams]]
name = "files"
url = "http://127.0.0.1:1/mcp"
accept = ["api_key"]
scopes = ["files:read", "offline_access", "bad scope", ""]
credential_env = "1BAD"
credential_header = "X-Portcullis-User"
[[upstreams]]
name = "open"
url = "http://127.0.0.1:2/mcp"
auth = "none"
accept = ["api_key"]
credential_header = "host"
identity_token = true
[[upstreams]]
name = "clash"
url = "http://127.0.0.1:3/mcp"
identity_token = true
credential_env = "CLASH_TOKEN"
[[upstreams]]
name = "badname"
url = "http://127.0.0.1:4/mcp"
identity_token = true
identity_token_header = "mcp-session-id"
"#;
    let found = problems(text, &[]);
    let keys: BTreeSet<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
    let expected: BTreeSet<&str> = [
        "upstreams[files].scopes[1]",
        "upstreams[files].scopes[2]",
        "upstreams[files].scopes[3]",
        "upstreams[files].credential_env",
        "upstreams[files].credential_header",
        "upstreams[open].accept",
        "upstreams[open].credential_header",
        "upstreams[open].identity_token",
        "upstreams[clash].identity_token_header",
        "upstreams[badname].identity_token_header",
    ]
    .into();
    assert_eq!(keys, expected, "{found:#?}");
    let good = load(
        "version = 1\n[[upstreams]]\nname = \"files\"\nurl = \"http://127.0.0.1:1/mcp\"\naccept = [\"api_key\"]\nscopes = [\"files:read\"]\ncredential_env = \"FILES_TOKEN\"\ncredential_header = \"X-Api-Key\"\n",
    )
    .unwrap();
    let up = &good.upstreams[0];
    assert!(up.identity_headers);
    assert_eq!(up.credential_header, "X-Api-Key");
}

#[test]
fn unauthenticated_upstreams_are_allowed_on_loopback_or_when_explicit() {
    let open =
        "[[upstreams]]\nname = \"open\"\nurl = \"http://127.0.0.1:1/mcp\"\nauth = \"none\"\n";
    load(&format!("version = 1\n{open}")).unwrap();
    load(&format!("version = 1\n[server]\nlisten = \"0.0.0.0:80\"\npublic_url = \"https://mcp.example.com\"\nallow_unauthenticated = true\n{open}")).unwrap();
}

#[test]
fn durations_round_trip() {
    for (text, secs) in [
        ("500ms", 0.5),
        ("30s", 30.0),
        ("10m", 600.0),
        ("2h", 7200.0),
        ("14d", 1_209_600.0),
    ] {
        let d = parse_duration(text).unwrap();
        assert_eq!(d.as_secs_f64(), secs);
        assert_eq!(super::duration::format_duration(d), text);
    }
    assert!(parse_duration("10").is_err());
    assert!(parse_duration("m").is_err());
}

#[test]
fn demo_config_is_valid() {
    let demo = Config::demo();
    let text = toml::to_string(&demo).unwrap();
    assert_eq!(Config::load(&text, NO_ENV).unwrap(), demo);
}

/// Collects the key paths present in a serialized config, as the reference writes them.
fn paths(value: &toml::Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        toml::Value::Table(table) => {
            for (k, v) in table {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                // Tables of strings (`upstreams[].env`, `tenants.by_email_domain`) are one key.
                let string_map = super::reference::find(&path)
                    .is_some_and(|k| k.kind == super::reference::Kind::StringMap);
                if matches!(v, toml::Value::Table(_)) && !string_map {
                    paths(v, &path, out);
                } else if let toml::Value::Array(items) = v
                    && items.first().is_some_and(|i| i.is_table())
                {
                    for item in items {
                        paths(item, &format!("{path}[]"), out);
                    }
                } else {
                    out.insert(path);
                }
            }
        }
        _ => unreachable!(),
    }
}

/// A config that sets every key in the reference to its example value.
fn every_key_config() -> String {
    let mut top = String::new();
    let mut sections: Vec<(String, String)> = Vec::new();
    for key in KEYS {
        let (section, name) = key.path.split_once('.').unwrap_or(("", key.path));
        let line = format!("{name} = {}\n", key.example);
        if section.is_empty() {
            top.push_str(&line);
        } else if let Some((_, body)) = sections.iter_mut().find(|(s, _)| s == section) {
            body.push_str(&line);
        } else {
            sections.push((section.to_owned(), line));
        }
    }
    for (section, body) in sections {
        let header = match section.strip_suffix("[]") {
            Some(array) => format!("[[{array}]]"),
            None => format!("[{section}]"),
        };
        top.push_str(&format!("{header}\n{body}"));
    }
    top
}

#[test]
fn config_reference_lists_exactly_the_keys_of_the_structs() {
    let text = every_key_config();
    // Deserializing proves each documented key exists (unknown keys are errors) ...
    let config: Config = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    // ... and serializing back proves no key of the structs is missing from the reference.
    let mut found = BTreeSet::new();
    paths(&toml::Value::try_from(&config).unwrap(), "", &mut found);
    let documented: BTreeSet<String> = KEYS.iter().map(|k| k.path.to_owned()).collect();
    assert_eq!(found, documented);
}

fn toml_literal(literal: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {literal}")).unwrap()["v"].clone()
}

#[test]
fn config_reference_defaults_are_the_real_defaults() {
    let text = "version = 1\n[[upstreams]]\nname = \"x\"\n";
    let config: Config = toml::from_str(text).unwrap();
    let value = toml::Value::try_from(&config).unwrap();
    for key in KEYS {
        let (section, name) = key.path.split_once('.').unwrap_or(("", key.path));
        let actual = match section.strip_suffix("[]") {
            // Validators' defaults depend on the kind: checked below.
            Some("validators") => continue,
            // The text has no client; their defaults are checked in `client_defaults`.
            Some("clients") => continue,
            // Providers' defaults depend on the kind: checked in
            // `config_reference_provider_defaults_are_the_real_defaults`.
            Some("identity_providers") => continue,
            // The text has no role; `roles_load_and_mistakes_name_the_key` covers them.
            Some("roles") => continue,
            Some(array) => value
                .get(array)
                .and_then(|a| a.get(0))
                .and_then(|e| e.get(name)),
            None if section.is_empty() => value.get(name),
            None => value.get(section).and_then(|s| s.get(name)),
        };
        match (key.default, actual) {
            // A duration is written in its largest exact unit (`1d`); the reference may use
            // another (`24h`).
            (Some(default), Some(actual)) if key.kind == super::reference::Kind::Duration => {
                let parse = |v: &toml::Value| v.as_str().map(parse_duration);
                assert_eq!(
                    parse(actual),
                    parse(&toml_literal(default)),
                    "documented default of {}",
                    key.path
                );
            }
            (Some(default), Some(actual)) => {
                assert_eq!(
                    actual,
                    &toml_literal(default),
                    "documented default of {}",
                    key.path
                );
            }
            (None, None) => {}
            (None, Some(_)) if key.path == "version" || key.path == "upstreams[].name" => {}
            (d, a) => panic!("{}: documented default {d:?}, actual {a:?}", key.path),
        }
    }
}

#[test]
fn config_reference_validator_defaults_are_the_real_defaults() {
    // For every kind a key applies to, the default filled in is the documented one, or there is
    // none (a required key, or one whose default is described per kind).
    for key in KEYS {
        let Some(name) = key.path.strip_prefix("validators[].") else {
            continue;
        };
        if name == "id" || name == "kind" {
            continue;
        }
        let mut seen = false;
        for kind in ValidatorKind::ALL {
            if !kind.has_key(name) {
                continue;
            }
            let filled =
                toml::Value::try_from(ValidatorConfig::new("x", kind).with_defaults()).unwrap();
            match (key.default, filled.get(name)) {
                (Some(default), Some(actual)) => {
                    assert_eq!(
                        actual,
                        &toml_literal(default),
                        "default of {} for {kind:?}",
                        key.path
                    );
                    seen = true;
                }
                (Some(_), None) => {}
                (None, Some(actual)) => assert!(
                    key.description
                        .contains(&format!("{}`: default `{actual}`", kind.as_str())),
                    "{}: {kind:?} has the default {actual}, which the reference does not describe",
                    key.path
                ),
                (None, None) => {}
            }
        }
        assert!(
            key.default.is_none() || seen,
            "{}: no kind has the documented default",
            key.path
        );
    }
}

#[test]
fn every_validator_key_applies_to_some_kind_and_is_tracked() {
    let text = every_key_config();
    let config: Config = toml::from_str(&text).unwrap();
    let set: BTreeSet<&str> = config.validators[0].set_keys().into_iter().collect();
    for key in KEYS {
        let Some(name) = key.path.strip_prefix("validators[].") else {
            continue;
        };
        assert!(
            ValidatorKind::ALL.iter().any(|k| k.has_key(name)),
            "{name} applies to no kind"
        );
        let always = ["id", "kind", "allow_private_network", "cache_ttl"];
        assert!(
            always.contains(&name) || set.contains(name),
            "set_keys does not report {name}"
        );
    }
}

#[test]
fn config_reference_environment_variables_work_for_every_key() {
    let base = "version = 1\n[[roles]]\nname = \"files\"\n[[identity_providers]]\nid = \"files\"\nkind = \"oidc\"\nclient_id = \"c\"\nclient_secret_env = \"S\"\n[[validators]]\nid = \"files\"\nkind = \"jwt\"\n[[upstreams]]\nname = \"files\"\nurl = \"http://127.0.0.1:1/mcp\"\n[[clients]]\nclient_id = \"files\"\nname = \"Files\"\n";
    for key in KEYS {
        let Some(var) = key.env_var() else { continue };
        let var = var.replace("<NAME>", "FILES");
        let raw = match key.kind {
            super::reference::Kind::StringList
            | super::reference::Kind::StringMap
            | super::reference::Kind::Integer
            | super::reference::Kind::Float
            | super::reference::Kind::Bool => key.example.to_owned(),
            _ => key.example.trim_matches('"').to_owned(),
        };
        let mut table: toml::Table = base.parse().unwrap();
        super::env::apply_overrides(&mut table, [(var.as_str(), raw.as_str())])
            .unwrap_or_else(|e| panic!("{var}: {e}"));
        // The override must land where the key lives, with the type the structs expect.
        let result: Result<Config, _> = toml::Value::Table(table).try_into();
        result.unwrap_or_else(|e| panic!("{var}={raw}: {e}"));
    }
}

#[test]
fn config_reference_doc_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
    let rendered = render_markdown();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(path, &rendered).unwrap();
    }
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        on_disk == rendered,
        "docs/configuration.md is stale: run UPDATE_DOCS=1 cargo test -p portcullis-core config_reference"
    );
}

/// One `[[validators]]` entry per kind, each valid, and an upstream accepting them all.
const VALID_VALIDATORS: &str = r#"
version = 1
[tenants]
by_email_domain = { "acme.com" = "acme" }
claim = "tenant"
[[validators]]
id = "corp-sso"
kind = "jwt"
issuer = "https://login.example.com"
token_types = ["at+jwt"]
algorithms = ["ES256", "EdDSA"]
[[validators]]
id = "shared"
kind = "hs256"
issuer = "ci"
secret_env = "MCP_SECRET"
audiences = ["https://mcp.example.com/servers/files/mcp"]
[[validators]]
id = "opaque"
kind = "introspection"
introspection_endpoint = "http://127.0.0.1:9000/introspect"
client_id = "portcullis"
client_secret_env = "INTROSPECTION_SECRET"
allow_private_network = true
[[validators]]
id = "gh"
kind = "github"
allowed_teams = ["acme/platform"]
[[validators]]
id = "google"
kind = "google"
audiences = ["123.apps.googleusercontent.com"]
hosted_domains = ["acme.com"]
[[validators]]
id = "cf"
kind = "cloudflare_access"
team_domain = "https://acme.cloudflareaccess.com"
audiences = ["aud-tag"]
jwks_cache_ttl = "5m"
[[upstreams]]
name = "files"
url = "http://127.0.0.1:1/mcp"
accept = ["api_key", "corp-sso", "shared", "opaque", "gh", "google", "cf"]
"#;

#[test]
fn every_validator_kind_loads() {
    let config = load(VALID_VALIDATORS).unwrap();
    assert_eq!(config.validators.len(), 6);
    assert_eq!(config.tenants.claim.as_deref(), Some("tenant"));
    let google = config.validators[4].with_defaults();
    assert_eq!(google.issuer.as_deref(), Some(GOOGLE_ISSUER));
    assert_eq!(google.jwks_uri.as_deref(), Some(GOOGLE_JWKS_URI));
    assert_eq!(
        google.jwks_max_stale,
        Some(std::time::Duration::from_secs(86_400))
    );
    let gh = config.validators[3].with_defaults();
    assert_eq!(gh.base_url.as_deref(), Some(GITHUB_API));
    assert_eq!(gh.jwks_cache_ttl, None);
}

#[test]
fn validators_are_overridden_by_id() {
    let env = [
        (
            "PORTCULLIS_VALIDATORS__CORP_SSO__ISSUER",
            "https://sso.example.org",
        ),
        ("PORTCULLIS_VALIDATORS__CF__AUDIENCES", "[\"a\", \"b\"]"),
        ("PORTCULLIS_VALIDATORS__GH__CACHE_TTL", "30s"),
        ("PORTCULLIS_TENANTS__CLAIM", "org"),
    ];
    let config = Config::load(VALID_VALIDATORS, env).unwrap();
    assert_eq!(
        config.validators[0].issuer.as_deref(),
        Some("https://sso.example.org")
    );
    assert_eq!(
        config.validators[5].audiences,
        Some(vec!["a".to_owned(), "b".to_owned()])
    );
    assert_eq!(config.validators[3].cache_ttl.as_secs(), 30);
    assert_eq!(config.tenants.claim.as_deref(), Some("org"));
}

/// Replaces the validator entry `id` of [`VALID_VALIDATORS`] with `entry` and expects a
/// problem naming `key`.
fn check_validator_problem(entry: &str, key: &str, needle: &str) {
    let text = format!("version = 1\n[[validators]]\n{entry}\n");
    assert_problem(&text, &[], key, needle);
}

#[test]
fn validator_problems_name_the_key() {
    let jwt = "id = \"v\"\nkind = \"jwt\"\nissuer = \"https://i.example\"";
    let cases: &[(&str, &str, &str)] = &[
        // Ids.
        (
            "id = \"Bad\"\nkind = \"github\"\nallow_any_user = true",
            "validators[Bad].id",
            "lowercase",
        ),
        (
            "id = \"api_key\"\nkind = \"github\"\nallow_any_user = true",
            "validators[api_key].id",
            "reserved",
        ),
        (
            "id = \"portcullis\"\nkind = \"github\"\nallow_any_user = true",
            "validators[portcullis].id",
            "reserved",
        ),
        (
            "id = \"\"\nkind = \"github\"\nallow_any_user = true",
            "validators[0].id",
            "lowercase",
        ),
        ("kind = \"jwt\"", "validators[0]", "missing field `id`"),
        (
            "id = \"v\"\nkind = \"saml\"",
            "validators[0].kind",
            "unknown variant `saml`",
        ),
        (
            "id = \"v\"\nkind = \"jwt\"\nissuer = \"https://i.example\"\nscopes = []",
            "validators[0].scopes",
            "unknown field `scopes`",
        ),
        // Keys of other kinds.
        (
            &format!("{jwt}\nhosted_domains = [\"a.com\"]"),
            "validators[v].hosted_domains",
            "does not apply to a validator of kind jwt",
        ),
        (
            &format!("{jwt}\nsecret_env = \"S\""),
            "validators[v].secret_env",
            "does not apply",
        ),
        (
            "id = \"v\"\nkind = \"github\"\nallow_any_user = true\njwks_cache_ttl = \"1m\"",
            "validators[v].jwks_cache_ttl",
            "does not apply to a validator of kind github",
        ),
        (
            "id = \"v\"\nkind = \"github\"\nallow_any_user = true\nsubject_claim = \"login\"",
            "validators[v].subject_claim",
            "does not apply",
        ),
        (
            "id = \"v\"\nkind = \"hs256\"\nissuer = \"i\"\nsecret_env = \"S\"\njwks_uri = \"https://x.example/k\"",
            "validators[v].jwks_uri",
            "does not apply",
        ),
        // Required keys.
        (
            "id = \"v\"\nkind = \"jwt\"",
            "validators[v].issuer",
            "is required for kind jwt",
        ),
        (
            "id = \"v\"\nkind = \"hs256\"\nissuer = \"i\"",
            "validators[v].secret_env",
            "is required",
        ),
        (
            "id = \"v\"\nkind = \"introspection\"\nclient_id = \"c\"\nclient_secret_env = \"S\"",
            "validators[v].introspection_endpoint",
            "is required",
        ),
        (
            "id = \"v\"\nkind = \"introspection\"\nintrospection_endpoint = \"https://a.example/i\"\nclient_secret_env = \"S\"",
            "validators[v].client_id",
            "is required",
        ),
        (
            "id = \"v\"\nkind = \"introspection\"\nintrospection_endpoint = \"https://a.example/i\"\nclient_id = \"c\"",
            "validators[v].client_secret_env",
            "is required",
        ),
        (
            "id = \"v\"\nkind = \"google\"",
            "validators[v].audiences",
            "client ids",
        ),
        (
            "id = \"v\"\nkind = \"cloudflare_access\"\naudiences = [\"t\"]",
            "validators[v].team_domain",
            "is required",
        ),
        (
            "id = \"v\"\nkind = \"cloudflare_access\"\nteam_domain = \"https://t.cloudflareaccess.com\"",
            "validators[v].audiences",
            "AUD tags",
        ),
        // GitHub allowlists fail closed.
        (
            "id = \"v\"\nkind = \"github\"",
            "validators[v].allowed_users",
            "allow_any_user = true",
        ),
        (
            "id = \"v\"\nkind = \"github\"\nallowed_users = []",
            "validators[v].allowed_users",
            "allow_any_user = true",
        ),
        (
            "id = \"v\"\nkind = \"github\"\nallow_any_user = true\nallowed_orgs = [\"acme\"]",
            "validators[v].allow_any_user",
            "cannot be combined",
        ),
        (
            "id = \"v\"\nkind = \"github\"\nallowed_teams = [\"platform\"]",
            "validators[v].allowed_teams[0]",
            "org/team-slug",
        ),
        (
            "id = \"v\"\nkind = \"github\"\nallow_any_user = true\nbase_url = \"https://ghe.example/api/v3/\"",
            "validators[v].base_url",
            "must not end with '/'",
        ),
        // URLs.
        (
            "id = \"v\"\nkind = \"jwt\"\nissuer = \"http://i.example\"",
            "validators[v].issuer",
            "must be https",
        ),
        (
            &format!("{jwt}\njwks_uri = \"http://127.0.0.1/keys\""),
            "validators[v].jwks_uri",
            "allow_private_network",
        ),
        (
            &format!("{jwt}\njwks_uri = \"file:///etc/keys\""),
            "validators[v].jwks_uri",
            "scheme must be https",
        ),
        (
            &format!("{jwt}\njwks_uri = \"https://u:p@i.example/keys\""),
            "validators[v].jwks_uri",
            "credentials",
        ),
        (
            &format!("{jwt}\njwks_uri = \"not a url\""),
            "validators[v].jwks_uri",
            "not a URL",
        ),
        (
            "id = \"v\"\nkind = \"introspection\"\nintrospection_endpoint = \"http://a.example/i\"\nclient_id = \"c\"\nclient_secret_env = \"S\"",
            "validators[v].introspection_endpoint",
            "must be https",
        ),
        (
            "id = \"v\"\nkind = \"google\"\naudiences = [\"c\"]\ntokeninfo_endpoint = \"http://t.example\"",
            "validators[v].tokeninfo_endpoint",
            "must be https",
        ),
        (
            "id = \"v\"\nkind = \"cloudflare_access\"\naudiences = [\"t\"]\nteam_domain = \"https://t.cloudflareaccess.com/\"",
            "validators[v].team_domain",
            "no path",
        ),
        (
            "id = \"v\"\nkind = \"cloudflare_access\"\naudiences = [\"t\"]\nteam_domain = \"https://t.cloudflareaccess.com/x\"",
            "validators[v].team_domain",
            "no path",
        ),
        // Lists and names.
        (
            &format!("{jwt}\nalgorithms = [\"ES256\", \"HS256\"]"),
            "validators[v].algorithms[1]",
            "\"HS256\" is not allowed",
        ),
        (
            &format!("{jwt}\nalgorithms = [\"none\"]"),
            "validators[v].algorithms[0]",
            "not allowed",
        ),
        (
            &format!("{jwt}\nalgorithms = []"),
            "validators[v].algorithms",
            "at least one",
        ),
        (
            &format!("{jwt}\naudiences = [\"\"]"),
            "validators[v].audiences[0]",
            "must not be empty",
        ),
        (
            &format!("{jwt}\nsubject_claim = \"\""),
            "validators[v].subject_claim",
            "must not be empty",
        ),
        (
            "id = \"v\"\nkind = \"hs256\"\nissuer = \"i\"\nsecret_env = \"MY SECRET\"",
            "validators[v].secret_env",
            "not an environment variable name",
        ),
        (
            "id = \"v\"\nkind = \"google\"\naudiences = [\"c\"]\nhosted_domains = [\"ACME.com\"]",
            "validators[v].hosted_domains[0]",
            "lower-case",
        ),
        // Durations.
        (
            &format!("{jwt}\ncache_ttl = \"0s\""),
            "validators[v].cache_ttl",
            "greater than zero",
        ),
        (
            &format!("{jwt}\nunknown_kid_cooldown = \"0s\""),
            "validators[v].unknown_kid_cooldown",
            "greater than zero",
        ),
        (
            &format!("{jwt}\njwks_max_stale = \"1m\""),
            "validators[v].jwks_max_stale",
            "at least jwks_cache_ttl",
        ),
        (
            &format!("{jwt}\njwks_cache_ttl = \"soon\""),
            "validators[0].jwks_cache_ttl",
            "invalid duration",
        ),
    ];
    for (entry, key, needle) in cases {
        check_validator_problem(entry, key, needle);
    }
}

#[test]
fn duplicate_validator_ids_are_refused() {
    let entry = "[[validators]]\nid = \"gh\"\nkind = \"github\"\nallow_any_user = true\n";
    assert_problem(
        &format!("version = 1\n{entry}{entry}"),
        &[],
        "validators[gh].id",
        "more than one validator",
    );
}

#[test]
fn private_network_validators_may_use_http() {
    load("version = 1\n[[validators]]\nid = \"v\"\nkind = \"jwt\"\nissuer = \"http://127.0.0.1:9000\"\nallow_private_network = true\n").unwrap();
}

#[test]
fn accept_names_configured_validators_or_api_key() {
    let text = "version = 1\n[[validators]]\nid = \"gh\"\nkind = \"github\"\nallow_any_user = true\n[[upstreams]]\nname = \"files\"\nurl = \"http://127.0.0.1:1/mcp\"\naccept = [\"api_key\", \"gh\", \"gitlab\"]\n";
    let found = problems(text, &[]);
    assert_eq!(
        found.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["upstreams[files].accept[2]"],
        "{found:?}"
    );
    assert!(found[0].1.contains("no validator \"gitlab\""));
}

#[test]
fn tenant_problems_name_the_key() {
    assert_problem(
        "version = 1\n[tenants]\nby_email_domain = { \"ACME.com\" = \"acme\" }",
        &[],
        "tenants.by_email_domain.\"ACME.com\"",
        "lower-case email domain",
    );
    assert_problem(
        "version = 1\n[tenants]\nby_email_domain = { \"acme.com\" = \"Acme Inc\" }",
        &[],
        "tenants.by_email_domain.\"acme.com\"",
        "tenant \"Acme Inc\"",
    );
    assert_problem(
        "version = 1\n[tenants]\nclaim = \"\"",
        &[],
        "tenants.claim",
        "must not be empty",
    );
    assert_problem(
        "version = 1\n[tenants]\nby_domain = {}",
        &[],
        "tenants.by_domain",
        "unknown field",
    );
}

#[test]
fn keys_section_is_checked() {
    let config = load(
        "version = 1\n[keys]\nencryption_key_env = \"ACME_KEYS\"\nencryption_key_file = \"/run/secrets/k\"\n[tokens]\nsigning_alg = \"EdDSA\"\n",
    )
    .unwrap();
    assert_eq!(config.keys.encryption_key_env, "ACME_KEYS");
    assert_eq!(
        config.keys.encryption_key_file.as_deref(),
        Some("/run/secrets/k")
    );
    assert_eq!(config.tokens.signing_alg, SigningAlg::EdDsa);
    assert_eq!(
        load("version = 1").unwrap().tokens.signing_alg,
        SigningAlg::Es256
    );

    assert_problem(
        "version = 1\n[keys]\nencryption_key_env = \"MY-KEYS\"",
        &[],
        "keys.encryption_key_env",
        "not an environment variable name",
    );
    assert_problem(
        "version = 1\n[keys]\nencryption_key_file = \" \"",
        &[],
        "keys.encryption_key_file",
        "must not be empty",
    );
    assert_problem(
        "version = 1\n[authorization]\ncedar_policies = \"\"",
        &[],
        "authorization.cedar_policies",
        "must not be empty",
    );
    assert_problem(
        "version = 1\n[authorization]\ncedar = \"x.cedar\"",
        &[],
        "authorization.cedar",
        "unknown field",
    );
    assert_eq!(
        load("version = 1\n[authorization]\ncedar_policies = \"c.cedar\"")
            .unwrap()
            .authorization
            .cedar_policies
            .as_deref(),
        Some("c.cedar")
    );
    for alg in ["RS256", "es256", "HS256", "none"] {
        assert_problem(
            &format!("version = 1\n[tokens]\nsigning_alg = \"{alg}\""),
            &[],
            "tokens.signing_alg",
            "unknown variant",
        );
    }
    assert_problem(
        "version = 1",
        &[("PORTCULLIS_TOKENS__SIGNING_ALG", "RS256")],
        "tokens.signing_alg",
        "unknown variant",
    );
}

#[test]
fn token_lifetimes_are_checked() {
    let config = load("version = 1\n[tokens]\naccess_token_ttl = \"15m\"\n").unwrap();
    assert_eq!(config.tokens.access_token_ttl, Duration::from_secs(900));
    for (key, value, problem) in [
        ("access_token_ttl", "0s", "greater than zero"),
        ("access_token_ttl", "2d", "at most 1 day"),
        ("authorization_code_ttl", "11m", "at most 10 minutes"),
        (
            "refresh_token_idle_ttl",
            "100d",
            "at most refresh_token_absolute_ttl",
        ),
        ("refresh_token_retry_grace", "10m", "at most 5 minutes"),
    ] {
        assert_problem(
            &format!("version = 1\n[tokens]\n{key} = \"{value}\""),
            &[],
            &format!("tokens.{key}"),
            problem,
        );
    }
}

#[test]
fn signing_algorithms_round_trip_their_jose_names() {
    for alg in SigningAlg::ALL {
        assert_eq!(SigningAlg::from_name(alg.as_str()), Some(alg));
        assert_eq!(
            toml::Value::try_from(alg).unwrap().as_str(),
            Some(alg.as_str())
        );
    }
    assert_eq!(SigningAlg::from_name("RS256"), None);
}

#[test]
fn accounts_section_is_checked() {
    let defaults = load("version = 1").unwrap().accounts;
    assert!(defaults.enabled);
    assert_eq!(
        defaults.session_idle_timeout,
        Duration::from_secs(12 * 3600)
    );
    assert_eq!(
        defaults.session_absolute_timeout,
        Duration::from_secs(7 * 86_400)
    );
    assert_eq!(defaults.min_password_length, 12);
    let config = load(
        "version = 1\n[accounts]\nenabled = false\nsession_idle_timeout = \"30m\"\nsession_absolute_timeout = \"1d\"\nmin_password_length = 15\n",
    )
    .unwrap();
    assert!(!config.accounts.enabled);
    assert_eq!(
        config.accounts.session_idle_timeout,
        Duration::from_secs(1800)
    );
    assert_eq!(config.accounts.min_password_length, 15);
    assert_eq!(defaults.mfa, MfaPolicy::Optional);
    let tenants =
        load("version = 1\n[accounts]\nmfa = \"off\"\nmfa_by_tenant = { acme = \"required\" }\n")
            .unwrap();
    assert_eq!(tenants.accounts.mfa_for(Some("acme")), MfaPolicy::Required);
    assert_eq!(tenants.accounts.mfa_for(Some("other")), MfaPolicy::Off);
    assert_eq!(tenants.accounts.mfa_for(None), MfaPolicy::Off);

    for (body, key, needle) in [
        (
            "session_idle_timeout = \"59s\"",
            "accounts.session_idle_timeout",
            "at least 1m",
        ),
        (
            "session_idle_timeout = \"2d\"\nsession_absolute_timeout = \"1d\"",
            "accounts.session_absolute_timeout",
            "at least accounts.session_idle_timeout",
        ),
        (
            "session_absolute_timeout = \"401d\"",
            "accounts.session_absolute_timeout",
            "at most 400d",
        ),
        (
            "min_password_length = 7",
            "accounts.min_password_length",
            "between 8 and 64",
        ),
        (
            "min_password_length = 65",
            "accounts.min_password_length",
            "between 8 and 64",
        ),
        (
            "session_idle_timeout = \"soon\"",
            "accounts.session_idle_timeout",
            "invalid duration",
        ),
        ("mfa = \"sometimes\"", "accounts.mfa", "unknown variant"),
        (
            "mfa_by_tenant = { acme = \"always\" }",
            "accounts.mfa_by_tenant.acme",
            "unknown variant",
        ),
    ] {
        assert_problem(
            &format!("version = 1\n[accounts]\n{body}"),
            &[],
            key,
            needle,
        );
    }
    assert_problem(
        "version = 1",
        &[("PORTCULLIS_ACCOUNTS__MIN_PASSWORD_LENGTH", "4")],
        "accounts.min_password_length",
        "between 8 and 64",
    );
}

#[test]
fn client_defaults() {
    let text = "version = 1\n[[clients]]\nclient_id = \"c\"\nname = \"C\"\nredirect_uris = [\"https://app.example/cb\"]\n";
    let config = load(text).unwrap();
    let value = toml::Value::try_from(&config).unwrap();
    let entry = &value["clients"][0];
    for key in KEYS {
        let Some(name) = key.path.strip_prefix("clients[].") else {
            continue;
        };
        if name == "client_id" || name == "name" || name == "redirect_uris" {
            continue;
        }
        match key.default {
            Some(default) => assert_eq!(entry.get(name), Some(&toml_literal(default)), "{name}"),
            None => assert_eq!(entry.get(name), None, "{name}"),
        }
    }
    let client = &config.clients[0];
    assert_eq!(client.auth_method().as_str(), "none");
    let mut with_secret = client.clone();
    with_secret.client_secret_env = Some("S".to_owned());
    assert_eq!(with_secret.auth_method().as_str(), "client_secret_basic");
    assert!(config.registration.client_id_metadata_documents);
    assert!(config.registration.dynamic_client_registration);
    assert!(!config.registration.allow_loopback_client_id_documents);
    assert_eq!(config.registration.unused_client_ttl.as_secs(), 86_400);
}

#[test]
fn clients_are_overridden_by_client_id() {
    let text = "version = 1\n[[clients]]\nclient_id = \"ci-bot\"\nname = \"CI\"\nredirect_uris = [\"https://app.example/cb\"]\n";
    let config = Config::load(text, [("PORTCULLIS_CLIENTS__CI_BOT__NAME", "Robot")]).unwrap();
    assert_eq!(config.clients[0].name, "Robot");
    let config = Config::load(
        text,
        [(
            "PORTCULLIS_REGISTRATION__DYNAMIC_CLIENT_REGISTRATION",
            "false",
        )],
    )
    .unwrap();
    assert!(!config.registration.dynamic_client_registration);
}

#[test]
fn registration_and_client_problems_name_the_key() {
    let client =
        |body: &str| format!("version = 1\n[[clients]]\nclient_id = \"c\"\nname = \"C\"\n{body}\n");
    let uri = "redirect_uris = [\"https://app.example/cb\"]";
    let cases: Vec<(String, &str, &str)> = vec![
        (
            "version = 1\n[registration]\ninitial_access_token_env = \"not a var\"\n".to_owned(),
            "registration.initial_access_token_env",
            "environment variable",
        ),
        (
            "version = 1\n[registration]\nunused_client_ttl = \"10s\"\n".to_owned(),
            "registration.unused_client_ttl",
            "at least 1m",
        ),
        (
            "version = 1\n[registration]\nclient_id_document_cache_max = \"10s\"\n".to_owned(),
            "registration.client_id_document_cache_max",
            "at least 30s",
        ),
        (
            "version = 1\n[registration]\nsurprise = true\n".to_owned(),
            "registration.surprise",
            "unknown field",
        ),
        (
            client(""),
            "clients[c].redirect_uris",
            "at least one redirect URI",
        ),
        (
            client("redirect_uris = [\"http://app.example/cb\"]"),
            "clients[c].redirect_uris[0]",
            "loopback",
        ),
        (
            client("redirect_uris = [\"javascript:alert(1)\"]"),
            "clients[c].redirect_uris[0]",
            "never allowed",
        ),
        (
            format!("{}grant_types = [\"implicit\"]", client(uri)),
            "clients[c].grant_types",
            "not supported",
        ),
        (
            format!("{}grant_types = [\"client_credentials\"]", client("")),
            "clients[c].grant_types",
            "only for clients that authenticate",
        ),
        (
            format!(
                "{}token_endpoint_auth_method = \"client_secret_post\"",
                client(uri)
            ),
            "clients[c].client_secret_env",
            "is required",
        ),
        (
            format!(
                "{}token_endpoint_auth_method = \"none\"\nclient_secret_env = \"S\"",
                client(uri)
            ),
            "clients[c].client_secret_env",
            "does not apply",
        ),
        (
            format!("{}client_secret_env = \"bad name\"", client(uri)),
            "clients[c].client_secret_env",
            "environment variable",
        ),
        (
            format!(
                "{}token_endpoint_auth_method = \"private_key_jwt\"",
                client(uri)
            ),
            "clients[c].jwks_uri",
            "is required",
        ),
        (
            format!(
                "{}token_endpoint_auth_method = \"private_key_jwt\"\njwks_uri = \"http://app.example/jwks\"",
                client(uri)
            ),
            "clients[c].jwks_uri",
            "https",
        ),
        (
            format!("{}jwks_uri = \"https://app.example/jwks\"", client(uri)),
            "clients[c].jwks_uri",
            "only applies",
        ),
        (
            format!(
                "{}token_endpoint_auth_method = \"client_secret_jwt\"",
                client(uri)
            ),
            "clients[0].token_endpoint_auth_method",
            "unknown variant",
        ),
        (
            format!("{}scope = \"a  b\"", client(uri)),
            "clients[c].scope",
            "single spaces",
        ),
        (
            format!(
                "version = 1\n[[clients]]\nclient_id = \"https://app.example/c.json\"\nname = \"C\"\n{uri}\n"
            ),
            "clients[https://app.example/c.json].client_id",
            "must not be a URL",
        ),
        (
            format!("version = 1\n[[clients]]\nclient_id = \"\"\nname = \"C\"\n{uri}\n"),
            "clients[0].client_id",
            "1 to 255",
        ),
        (
            format!("version = 1\n[[clients]]\nclient_id = \"c\"\nname = \" \"\n{uri}\n"),
            "clients[c].name",
            "1 to 200",
        ),
        (
            format!(
                "{}{}",
                client(uri),
                "[[clients]]\nclient_id = \"c\"\nname = \"D\"\nredirect_uris = [\"https://app.example/cb\"]\n"
            ),
            "clients[c].client_id",
            "more than one client",
        ),
    ];
    for (text, key, needle) in cases {
        assert_problem(&text, &[], key, needle);
    }
}

#[test]
fn config_reference_provider_defaults_are_the_real_defaults() {
    // For every kind a key applies to, the default filled in is the documented one, or the
    // reference describes the kind's default in its text.
    for key in KEYS {
        let Some(name) = key.path.strip_prefix("identity_providers[].") else {
            continue;
        };
        if ["id", "kind", "client_id", "client_secret_env"].contains(&name) {
            continue;
        }
        for kind in ProviderKind::ALL {
            if !kind.has_key(name) {
                continue;
            }
            let filled =
                toml::Value::try_from(IdentityProviderConfig::new("x", kind).with_defaults())
                    .unwrap();
            match (key.default, filled.get(name)) {
                (Some(default), Some(actual)) if key.kind == super::reference::Kind::Duration => {
                    assert_eq!(
                        actual.as_str().map(parse_duration),
                        toml_literal(default).as_str().map(parse_duration),
                        "default of {} for {kind:?}",
                        key.path
                    );
                }
                (Some(default), Some(actual)) => assert_eq!(
                    actual,
                    &toml_literal(default),
                    "default of {} for {kind:?}",
                    key.path
                ),
                (None, Some(actual)) => {
                    let described = key
                        .description
                        .contains(&format!("{}`: default `{actual}`", kind.as_str()))
                        || key
                            .description
                            .contains(&format!("`{}`: default `{actual}`", kind.as_str()))
                        || (name == "display_name" && kind == ProviderKind::Oidc)
                        || key.description.contains(&format!("default `{actual}`"));
                    assert!(
                        described,
                        "{}: {kind:?} has the default {actual}, which the reference does not describe",
                        key.path
                    );
                }
                (Some(_), None) => panic!("{}: {kind:?} has no default", key.path),
                (None, None) => {}
            }
        }
    }
}

#[test]
fn every_provider_key_applies_to_some_kind_and_is_tracked() {
    let config: Config = toml::from_str(&every_key_config()).unwrap();
    let set: BTreeSet<&str> = config.identity_providers[0]
        .set_keys()
        .into_iter()
        .collect();
    let always = [
        "id",
        "kind",
        "client_id",
        "client_secret_env",
        "allowed_email_domains",
        "linking",
        "trust_mfa",
        "allow_private_network",
        "timeout",
        "default_roles",
    ];
    for key in KEYS {
        let Some(name) = key.path.strip_prefix("identity_providers[].") else {
            continue;
        };
        assert!(
            ProviderKind::ALL.iter().any(|k| k.has_key(name)),
            "{name} applies to no kind"
        );
        assert!(
            always.contains(&name) || set.contains(name),
            "set_keys does not report {name}"
        );
    }
}

fn provider_problems(entry: &str, upstream: &str) -> Vec<(String, String)> {
    let text = format!(
        "version = 1\n[[identity_providers]]\n{entry}\n[[upstreams]]\nname = \"files\"\nurl = \"http://127.0.0.1:1/mcp\"\n{upstream}\n"
    );
    match Config::load(&text, std::iter::empty::<(&str, &str)>()) {
        Ok(_) => Vec::new(),
        Err(e) => e.problems.into_iter().map(|p| (p.key, p.problem)).collect(),
    }
}

#[test]
fn identity_providers_of_each_kind_load_with_their_defaults() {
    let text = r#"
version = 1
[[identity_providers]]
id = "github"
kind = "github"
client_id = "Iv1.abc"
client_secret_env = "GITHUB_SECRET"
allowed_orgs = ["acme"]
[[identity_providers]]
id = "google"
kind = "google"
client_id = "123.apps.googleusercontent.com"
client_secret_env = "GOOGLE_SECRET"
hosted_domains = ["acme.com"]
[[identity_providers]]
id = "entra"
kind = "entra"
tenant = "organizations"
client_id = "00000000-0000-0000-0000-000000000000"
client_secret_env = "ENTRA_SECRET"
[[identity_providers]]
id = "corp"
kind = "oidc"
issuer = "https://login.example.com"
client_id = "portcullis"
client_secret_env = "CORP_SECRET"
linking = "explicit"
[[upstreams]]
name = "files"
url = "http://127.0.0.1:1/mcp"
pass_provider_token = "github"
provider_token_header = "x-github-token"
"#;
    let config = Config::load(text, std::iter::empty::<(&str, &str)>()).unwrap();
    let [github, google, entra, corp] = &config.identity_providers[..] else {
        panic!("four providers");
    };
    let github = github.with_defaults();
    assert_eq!(github.display_name.as_deref(), Some("GitHub"));
    assert_eq!(
        github.github_roots(),
        (GITHUB_WEB.to_owned(), GITHUB_API_ROOT.to_owned())
    );
    assert_eq!(
        google.with_defaults().issuer.as_deref(),
        Some(GOOGLE_PROVIDER_ISSUER)
    );
    let entra = entra.with_defaults();
    assert_eq!(
        entra.issuer.as_deref(),
        Some("https://login.microsoftonline.com/organizations/v2.0")
    );
    assert!(entra.entra_multi_tenant());
    assert_eq!(corp.linking, Linking::Explicit);
    assert_eq!(
        corp.with_defaults().scopes.unwrap(),
        ["openid", "email", "profile"]
    );
    assert_eq!(
        config.upstreams[0].pass_provider_token.as_deref(),
        Some("github")
    );
    // Overridden by id, like validators.
    let config = Config::load(
        text,
        [("PORTCULLIS_IDENTITY_PROVIDERS__CORP__CLIENT_ID", "other")],
    )
    .unwrap();
    assert_eq!(config.identity_providers[3].client_id, "other");
}

#[test]
fn identity_provider_problems_name_the_key() {
    let oidc = "id = \"corp\"\nkind = \"oidc\"\nclient_id = \"c\"\nclient_secret_env = \"S\"";
    let cases: &[(&str, &str, &str, &str)] = &[
        (oidc, "", "identity_providers[corp].issuer", "is required"),
        (
            "id = \"gh\"\nkind = \"github\"\nclient_id = \"c\"\nclient_secret_env = \"S\"",
            "",
            "identity_providers[gh].allowed_users",
            "allow_any_user",
        ),
        (
            "id = \"gh\"\nkind = \"github\"\nclient_id = \"c\"\nclient_secret_env = \"S\"\nallowed_teams = [\"acme\"]",
            "",
            "identity_providers[gh].allowed_teams[0]",
            "org/team-slug",
        ),
        (
            "id = \"ms\"\nkind = \"entra\"\nclient_id = \"c\"\nclient_secret_env = \"S\"",
            "",
            "identity_providers[ms].tenant",
            "is required",
        ),
        (
            "id = \"corp\"\nkind = \"oidc\"\nclient_id = \"c\"\nclient_secret_env = \"S\"\nissuer = \"https://idp.example\"\nhosted_domains = [\"a.com\"]",
            "",
            "identity_providers[corp].hosted_domains",
            "does not apply",
        ),
        (
            "id = \"corp\"\nkind = \"oidc\"\nclient_id = \"c\"\nclient_secret_env = \"S\"\nissuer = \"http://idp.example\"",
            "",
            "identity_providers[corp].issuer",
            "must be https",
        ),
        (
            "id = \"corp\"\nkind = \"oidc\"\nclient_id = \"c\"\nclient_secret_env = \"S\"\nissuer = \"https://idp.example\"\nscopes = [\"email\"]",
            "",
            "identity_providers[corp].scopes",
            "openid",
        ),
        (
            "id = \"corp\"\nkind = \"oidc\"\nclient_id = \"c\"\nclient_secret_env = \"not a name\"\nissuer = \"https://idp.example\"",
            "",
            "identity_providers[corp].client_secret_env",
            "environment variable",
        ),
        (
            "id = \"corp\"\nkind = \"oidc\"\nclient_id = \"c\"\nclient_secret_env = \"S\"\nissuer = \"https://idp.example\"",
            "pass_provider_token = \"github\"",
            "upstreams[files].pass_provider_token",
            "no identity provider",
        ),
        (
            "id = \"corp\"\nkind = \"oidc\"\nclient_id = \"c\"\nclient_secret_env = \"S\"\nissuer = \"https://idp.example\"",
            "pass_provider_token = \"corp\"\ncredential_env = \"TOKEN\"",
            "upstreams[files].provider_token_header",
            "header of its own",
        ),
    ];
    for (entry, upstream, key, problem) in cases {
        let problems = provider_problems(entry, upstream);
        assert!(
            problems
                .iter()
                .any(|(k, p)| k == key && p.contains(problem)),
            "{entry} / {upstream}: expected {key}: …{problem}…, got {problems:?}"
        );
    }
    assert!(
        provider_problems(
            "id = \"corp\"\nkind = \"oidc\"\nclient_id = \"c\"\nclient_secret_env = \"S\"\nissuer = \"https://idp.example\"",
            "pass_provider_token = \"corp\"",
        )
        .is_empty()
    );
}

#[test]
fn roles_load_and_mistakes_name_the_key() {
    let config = load(
        "version = 1\n[[roles]]\nname = \"files-reader\"\ninherits = [\"viewer\"]\npermissions = [\"mcp.tools.call:files/read_*\"]\n",
    )
    .unwrap();
    assert_eq!(config.roles[0].inherits, ["viewer"]);
    let cases = [
        ("name = \"viewer\"", "roles[viewer].name", "built in"),
        (
            "name = \"a\"\ninherits = [\"b\"]",
            "roles[a].inherits",
            "not a role",
        ),
        (
            "name = \"a\"\npermissions = [\"users.fly\"]",
            "roles[a].permissions",
            "not a permission",
        ),
        (
            "name = \"a\"\ninherits = [\"a\"]",
            "roles[a].inherits",
            "cycle",
        ),
    ];
    for (entry, key, problem) in cases {
        let found = problems(&format!("version = 1\n[[roles]]\n{entry}\n"), &[]);
        assert!(
            found.iter().any(|(k, p)| k == key && p.contains(problem)),
            "{entry}: {found:?}"
        );
    }
}

#[test]
fn store_announcement_problems_name_the_key() {
    assert_problem(
        "version = 1\n[store]\nredis_url = \"http://127.0.0.1:6379\"\n",
        &[],
        "store.redis_url",
        "redis://",
    );
    assert_problem(
        "version = 1\n[store]\nchange_poll = \"10ms\"\n",
        &[],
        "store.change_poll",
        "between 50ms and 1h",
    );
    assert_problem(
        "version = 1\n",
        &[("PORTCULLIS_STORE__CHANGE_POLL", "2h")],
        "store.change_poll",
        "between 50ms and 1h",
    );
    let config =
        load("version = 1\n[store]\nredis_url = \"rediss://:secret@cache.internal:6380\"\nchange_poll = \"5s\"\n")
            .unwrap();
    assert_eq!(config.store.change_poll, std::time::Duration::from_secs(5));
    // The problem never repeats the URL: it may hold a password.
    let found = problems(
        "version = 1\n[store]\nredis_url = \"tcp://:hunter2@cache\"\n",
        &[],
    );
    assert!(!format!("{found:?}").contains("hunter2"), "{found:?}");
}

#[test]
fn an_otlp_endpoint_must_be_an_http_url() {
    for bad in ["127.0.0.1:4318", "grpc://collector:4317", "http://"] {
        assert_problem(
            &format!("version = 1\n[log]\notlp_endpoint = \"{bad}\"\n"),
            &[],
            "log.otlp_endpoint",
            "http:// or https://",
        );
    }
    let config =
        load("version = 1\n[log]\notlp_endpoint = \"https://otel.internal/v1/traces\"\n").unwrap();
    assert_eq!(
        config.log.otlp_endpoint.as_deref(),
        Some("https://otel.internal/v1/traces")
    );
}

#[test]
fn rate_limit_problems_name_the_key() {
    assert_problem(
        "version = 1\n[rate_limits]\nsign_in = \"30/fortnight\"\n",
        &[],
        "rate_limits.sign_in",
        "the period must be one of",
    );
    assert_problem(
        "version = 1\n",
        &[("PORTCULLIS_RATE_LIMITS__MCP_PER_USER", "lots")],
        "rate_limits.mcp_per_user",
        "expected a count",
    );
    assert_problem(
        "version = 1\n[[upstreams]]\nname = \"files\"\nurl = \"http://127.0.0.1:9/mcp\"\ntool_rate_limits = { \"search_*\" = \"0/min\" }\n",
        &[],
        "upstreams[0].tool_rate_limits.search_*",
        "between 1 and",
    );
    assert_problem(
        "version = 1\n[[upstreams]]\nname = \"files\"\nurl = \"http://127.0.0.1:9/mcp\"\ntool_rate_limits = { \"\" = \"1/min\" }\n",
        &[],
        "upstreams[files].tool_rate_limits.\"\"",
        "tool-name pattern",
    );
    let config =
        load("version = 1\n[rate_limits]\ntoken = \"off\"\nmcp_per_tenant = \"100/h\"\n").unwrap();
    assert_eq!(config.rate_limits.token, None);
    assert_eq!(
        config.rate_limits.mcp_per_tenant,
        Some(crate::rate_limit::Rate::parse("100/h").unwrap())
    );
    assert_eq!(
        config.rate_limits.registration,
        Some(crate::rate_limit::Rate::parse("10/min").unwrap())
    );
}
