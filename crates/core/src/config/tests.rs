//! Tests of loading, overrides, validation and the key reference.

use std::collections::BTreeSet;

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
                if matches!(v, toml::Value::Table(_)) && !path.ends_with(".env") {
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

#[test]
fn config_reference_defaults_are_the_real_defaults() {
    let text = "version = 1\n[[upstreams]]\nname = \"x\"\n";
    let config: Config = toml::from_str(text).unwrap();
    let value = toml::Value::try_from(&config).unwrap();
    for key in KEYS {
        let (section, name) = key.path.split_once('.').unwrap_or(("", key.path));
        let actual = match section.strip_suffix("[]") {
            Some(array) => value
                .get(array)
                .and_then(|a| a.get(0))
                .and_then(|e| e.get(name)),
            None if section.is_empty() => value.get(name),
            None => value.get(section).and_then(|s| s.get(name)),
        };
        match (key.default, actual) {
            (Some(default), Some(actual)) => {
                let expected: toml::Value =
                    toml::from_str::<toml::Table>(&format!("v = {default}")).unwrap()["v"].clone();
                assert_eq!(actual, &expected, "documented default of {}", key.path);
            }
            (None, None) => {}
            (None, Some(_)) if key.path == "version" || key.path == "upstreams[].name" => {}
            (d, a) => panic!("{}: documented default {d:?}, actual {a:?}", key.path),
        }
    }
}

#[test]
fn config_reference_environment_variables_work_for_every_key() {
    let base = "version = 1\n[[upstreams]]\nname = \"files\"\nurl = \"http://127.0.0.1:1/mcp\"\n";
    for key in KEYS {
        let Some(var) = key.env_var() else { continue };
        let var = var.replace("<NAME>", "FILES");
        let raw = match key.kind {
            super::reference::Kind::StringList
            | super::reference::Kind::StringMap
            | super::reference::Kind::Integer
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
