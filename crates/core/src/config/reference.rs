//! The reference of every configuration key: type, default, environment variable and meaning.
//!
//! `docs/configuration.md` is rendered from [`KEYS`] (`render_markdown`), and the tests check that
//! the list, the structs and the documented defaults agree, so the reference cannot drift.

/// The type of a key, which also decides how an environment override is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Integer,
    Bool,
    /// A string such as `30s` or `10m`.
    Duration,
    /// One of the listed strings.
    Enum(&'static [&'static str]),
    /// An array of strings; the override is a TOML array such as `["a", "b"]`.
    StringList,
    /// A table of strings; the override is a TOML inline table such as `{ A = "b" }`.
    StringMap,
}

impl Kind {
    fn describe(self) -> String {
        match self {
            Kind::String => "string".to_owned(),
            Kind::Integer => "integer".to_owned(),
            Kind::Bool => "boolean".to_owned(),
            Kind::Duration => "duration".to_owned(),
            Kind::Enum(values) => values
                .iter()
                .map(|v| format!("`\"{v}\"`"))
                .collect::<Vec<_>>()
                .join(" \\| "),
            Kind::StringList => "array of strings".to_owned(),
            Kind::StringMap => "table of strings".to_owned(),
        }
    }
}

/// One configuration key.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// `section.key`, or `upstreams[].key` for a key of each `[[upstreams]]` entry.
    pub path: &'static str,
    pub kind: Kind,
    /// The default as a TOML literal, or `None` when the key has no default (unset or required).
    pub default: Option<&'static str>,
    /// A valid value as a TOML literal (used by the tests to set every key).
    pub example: &'static str,
    pub description: &'static str,
}

impl Key {
    /// The environment variable that overrides this key, if any.
    pub fn env_var(&self) -> Option<String> {
        let (section, key) = self.path.split_once('.')?;
        let section = section.trim_end_matches("[]");
        let middle = if self.path.contains("[]") {
            "__<NAME>"
        } else {
            ""
        };
        Some(format!(
            "{}{}{middle}__{}",
            super::ENV_PREFIX,
            section.to_ascii_uppercase(),
            key.to_ascii_uppercase()
        ))
    }
}

const LOG_FORMATS: &[&str] = &["text", "json"];
const TRANSPORTS: &[&str] = &["streamable_http", "sse"];
const ISOLATIONS: &[&str] = &["shared", "tenant", "user"];
const AUTH_MODES: &[&str] = &["oauth", "none"];
const BUILTINS: &[&str] = &["demo"];

/// Every key, in the order the reference lists them.
pub const KEYS: &[Key] = &[
    Key {
        path: "version",
        kind: Kind::Integer,
        default: None,
        example: "1",
        description: "The file format version. Required; only `1` exists.",
    },
    Key {
        path: "server.listen",
        kind: Kind::String,
        default: Some("\"127.0.0.1:8080\""),
        example: "\"127.0.0.1:9090\"",
        description: "The socket address Portcullis listens on.",
    },
    Key {
        path: "server.public_url",
        kind: Kind::String,
        default: Some("\"http://127.0.0.1:8080\""),
        example: "\"https://mcp.example.com\"",
        description: "The public base URL: the issuer and the base of every resource URL (`{public_url}/servers/{name}/mcp`). An `http` or `https` URL without a trailing slash, query or fragment; plain `http` only for loopback hosts.",
    },
    Key {
        path: "server.allowed_origins",
        kind: Kind::StringList,
        default: Some("[]"),
        example: "[\"https://app.example.com\"]",
        description: "Browser origins accepted in the `Origin` header besides the public URL's origin (and, on a loopback listener, any loopback origin). A request with any other `Origin` gets 403.",
    },
    Key {
        path: "server.allowed_hosts",
        kind: Kind::StringList,
        default: Some("[]"),
        example: "[\"mcp.internal:8080\"]",
        description: "`Host` header values accepted besides the public URL's host (and, on a loopback listener, loopback hosts). Protects against DNS rebinding: any other `Host` gets 403.",
    },
    Key {
        path: "server.trusted_proxies",
        kind: Kind::StringList,
        default: Some("[]"),
        example: "[\"127.0.0.1/32\"]",
        description: "Networks (CIDR) whose `X-Forwarded-*` headers are believed; from anyone else those headers are ignored.",
    },
    Key {
        path: "server.allow_unauthenticated",
        kind: Kind::Bool,
        default: Some("false"),
        example: "true",
        description: "Allow upstreams with `auth = \"none\"` when listening on a non-loopback address.",
    },
    Key {
        path: "server.max_body_bytes",
        kind: Kind::Integer,
        default: Some("1048576"),
        example: "65536",
        description: "The largest request body accepted on an MCP endpoint; larger bodies get 413.",
    },
    Key {
        path: "server.max_json_depth",
        kind: Kind::Integer,
        default: Some("64"),
        example: "32",
        description: "The deepest nesting of arrays and objects accepted in a JSON-RPC message; deeper ones get a JSON-RPC parse error.",
    },
    Key {
        path: "server.shutdown_grace",
        kind: Kind::Duration,
        default: Some("\"25s\""),
        example: "\"10s\"",
        description: "On SIGTERM or Ctrl-C, how long in-flight requests and open streams may take to finish before they are cut.",
    },
    Key {
        path: "store.url",
        kind: Kind::String,
        default: Some("\"sqlite://portcullis-data/portcullis.db\""),
        example: "\"postgres://portcullis@db.internal/portcullis\"",
        description: "Where state lives: `sqlite://PATH` (embedded; relative paths are relative to the working directory) or `sqlite::memory:`, or `postgres://…` for several replicas.",
    },
    Key {
        path: "log.level",
        kind: Kind::String,
        default: Some("\"info\""),
        example: "\"debug\"",
        description: "A log filter such as `info`, `debug` or `portcullis_gateway=debug,info`. `RUST_LOG`, when set, wins.",
    },
    Key {
        path: "log.format",
        kind: Kind::Enum(LOG_FORMATS),
        default: Some("\"text\""),
        example: "\"json\"",
        description: "`text` for people, `json` (one object per line) for log pipelines.",
    },
    Key {
        path: "upstreams[].name",
        kind: Kind::String,
        default: None,
        example: "\"files\"",
        description: "Required. The name in the resource URL `/servers/{name}/mcp`: lowercase letters, digits, `-` and `_`, at most 63 characters, unique.",
    },
    Key {
        path: "upstreams[].url",
        kind: Kind::String,
        default: None,
        example: "\"http://127.0.0.1:9001/mcp\"",
        description: "The MCP endpoint of an HTTP upstream (`http` or `https`). Exactly one of `url`, `command` and `builtin` is set.",
    },
    Key {
        path: "upstreams[].transport",
        kind: Kind::Enum(TRANSPORTS),
        default: Some("\"streamable_http\""),
        example: "\"sse\"",
        description: "How to speak to `url`: Streamable HTTP (MCP 2025-03-26 and later, both the session and the 2026-07-28 stateless forms), or `sse`, the HTTP+SSE transport of MCP 2024-11-05 (`url` is then the SSE endpoint); clients always see Streamable HTTP.",
    },
    Key {
        path: "upstreams[].command",
        kind: Kind::StringList,
        default: None,
        example: "[\"npx\", \"-y\", \"@modelcontextprotocol/server-everything\"]",
        description: "The program and arguments of a stdio upstream, run as a managed child process (restarted with backoff when it dies, stopped on shutdown, its stderr in the logs).",
    },
    Key {
        path: "upstreams[].env",
        kind: Kind::StringMap,
        default: Some("{}"),
        example: "{ LOG_LEVEL = \"debug\" }",
        description: "Environment of a stdio upstream: the child starts with only `PATH`, `HOME`, `LANG`, `TMPDIR` and `USER` from Portcullis's environment, plus these.",
    },
    Key {
        path: "upstreams[].cwd",
        kind: Kind::String,
        default: None,
        example: "\"/srv/files\"",
        description: "The working directory of a stdio upstream (default: Portcullis's own).",
    },
    Key {
        path: "upstreams[].isolation",
        kind: Kind::Enum(ISOLATIONS),
        default: Some("\"shared\""),
        example: "\"shared\"",
        description: "Which callers share one stdio child process: `shared` (one for everyone). `tenant` and `user` (one per tenant or user) need authorization and are refused until it exists.",
    },
    Key {
        path: "upstreams[].builtin",
        kind: Kind::Enum(BUILTINS),
        default: None,
        example: "\"demo\"",
        description: "Publish a server built into Portcullis instead of `url` or `command`: `demo` has a few useful tools.",
    },
    Key {
        path: "upstreams[].auth",
        kind: Kind::Enum(AUTH_MODES),
        default: Some("\"oauth\""),
        example: "\"none\"",
        description: "How callers authenticate: `oauth` (Portcullis's own tokens) or `none` (no authentication at all: logged loudly at start-up and refused on a non-loopback listener unless `server.allow_unauthenticated = true`).",
    },
    Key {
        path: "upstreams[].accept",
        kind: Kind::StringList,
        default: Some("[]"),
        example: "[\"api_key\"]",
        description: "Other credentials accepted, by validator id: the `id` of a `[[validators]]` entry, or `api_key` (Portcullis API keys and service tokens, built in).",
    },
    Key {
        path: "upstreams[].scopes",
        kind: Kind::StringList,
        default: Some("[]"),
        example: "[\"files:read\", \"files:write\"]",
        description: "The OAuth scopes of this upstream: its protected resource metadata lists them as `scopes_supported` and its 401 challenges ask for them. `offline_access` is not allowed here (MCP 2026-07-28).",
    },
    Key {
        path: "upstreams[].identity_headers",
        kind: Kind::Bool,
        default: Some("true"),
        example: "false",
        description: "Send the caller's identity to the upstream in `X-Portcullis-User`, `-Email`, `-Email-Verified`, `-Name`, `-Tenant`, `-Groups` and `-Scopes` (see docs/identity.md). Copies of these headers sent by clients never reach an upstream either way.",
    },
    Key {
        path: "upstreams[].credential_env",
        kind: Kind::String,
        default: None,
        example: "\"FILES_UPSTREAM_TOKEN\"",
        description: "The environment variable holding a static credential for the upstream (for example `Bearer abc…`), sent verbatim in `credential_header`. The client's own credentials are never forwarded.",
    },
    Key {
        path: "upstreams[].credential_header",
        kind: Kind::String,
        default: Some("\"authorization\""),
        example: "\"x-api-key\"",
        description: "The request header that carries `credential_env`'s value to the upstream.",
    },
    Key {
        path: "upstreams[].connect_timeout",
        kind: Kind::Duration,
        default: Some("\"5s\""),
        example: "\"2s\"",
        description: "Time allowed to connect to an HTTP upstream; past it the client gets 502.",
    },
    Key {
        path: "upstreams[].first_byte_timeout",
        kind: Kind::Duration,
        default: Some("\"1m\""),
        example: "\"30s\"",
        description: "Time allowed between relaying a request and the upstream's first answer; past it the client gets 504 with a JSON-RPC error.",
    },
    Key {
        path: "upstreams[].idle_timeout",
        kind: Kind::Duration,
        default: Some("\"5m\""),
        example: "\"2m\"",
        description: "Time allowed between two chunks of a streamed answer (SSE included); past it the stream is closed.",
    },
    Key {
        path: "upstreams[].max_in_flight",
        kind: Kind::Integer,
        default: Some("256"),
        example: "64",
        description: "The most requests relayed to this upstream at once; more get 503 with `Retry-After`, and other upstreams are unaffected.",
    },
    Key {
        path: "upstreams[].max_streams",
        kind: Kind::Integer,
        default: Some("256"),
        example: "32",
        description: "The most open server-to-client streams (GET) to this upstream at once; more get 503.",
    },
    Key {
        path: "upstreams[].restart_backoff_max",
        kind: Kind::Duration,
        default: Some("\"30s\""),
        example: "\"10s\"",
        description: "A stdio child that dies is restarted after 100 ms, doubling up to this.",
    },
];

/// Renders the reference as Markdown (the body of `docs/configuration.md`).
pub fn render_markdown() -> String {
    let mut out = String::from(
        "# Configuration reference\n\n\
         <!-- Generated from crates/core/src/config/reference.rs; a test fails when this file is stale. \
         Regenerate with `UPDATE_DOCS=1 cargo test -p portcullis-core config_reference`. -->\n\n\
         Portcullis reads one TOML file (`portcullis serve --config FILE`, or `PORTCULLIS_CONFIG=FILE`). \
         Unknown keys are errors; `portcullis config check --config FILE` names the key and the problem.\n\n\
         Every key can be overridden by an environment variable `PORTCULLIS_<SECTION>__<KEY>` (two underscores). \
         Keys of an `[[upstreams]]` entry are addressed by the entry's name, upper-cased with `-` written as `_`, \
         or by its position: `PORTCULLIS_UPSTREAMS__FILES__URL` or `PORTCULLIS_UPSTREAMS__0__URL`. \
         Arrays and tables are written as TOML values (`[\"a\", \"b\"]`, `{ A = \"b\" }`); durations as `500ms`, `30s`, `10m`, `2h` or `14d`.\n\n\
         With no configuration at all, `portcullis serve` runs the demo: the defaults below plus one upstream, \
         `demo`, served by the built-in demo MCP server with `auth = \"none\"`.\n",
    );
    let mut section = "";
    for key in KEYS {
        let this = key.path.split_once('.').map_or("", |(s, _)| s);
        if this != section {
            section = this;
            let title = if section.ends_with("[]") {
                format!("[[{}]]", section.trim_end_matches("[]"))
            } else {
                format!("[{section}]")
            };
            out.push_str(&format!("\n## `{title}`\n\n| Key | Type | Default | Environment variable | Meaning |\n|---|---|---|---|---|\n"));
        } else if section.is_empty() && !out.contains("## Top level") {
            out.push_str("\n## Top level\n\n| Key | Type | Default | Environment variable | Meaning |\n|---|---|---|---|---|\n");
        }
        let name = key.path.rsplit('.').next().unwrap_or(key.path);
        let default = key
            .default
            .map_or_else(|| "—".to_owned(), |d| format!("`{d}`"));
        let env = key
            .env_var()
            .map_or_else(|| "—".to_owned(), |v| format!("`{v}`"));
        out.push_str(&format!(
            "| `{name}` | {} | {default} | {env} | {} |\n",
            key.kind.describe(),
            key.description
        ));
    }
    out
}

/// Finds the key for a path such as `server.listen` or `upstreams[].url`.
pub fn find(path: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.path == path)
}
