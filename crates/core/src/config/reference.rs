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
    /// A number such as `0.25`.
    Float,
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
            Kind::Float => "number".to_owned(),
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
const MFA_POLICIES: &[&str] = &["off", "optional", "required"];
const TRANSPORTS: &[&str] = &["streamable_http", "sse"];
const ISOLATIONS: &[&str] = &["shared", "tenant", "user"];
const AUTH_MODES: &[&str] = &["oauth", "none"];
const BUILTINS: &[&str] = &["demo"];
const PROVIDER_KINDS: &[&str] = &["github", "google", "entra", "oidc"];
const LINKING_POLICIES: &[&str] = &["by_verified_email", "explicit", "never"];
const SIGNING_ALGS: &[&str] = &["ES256", "EdDSA"];
const CLIENT_AUTH_METHODS: &[&str] = &[
    "none",
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
];
const VALIDATOR_KINDS: &[&str] = &[
    "jwt",
    "hs256",
    "introspection",
    "github",
    "google",
    "cloudflare_access",
];

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
        description: "The public base URL: the issuer and the base of every resource URL (`{public_url}/servers/{name}/mcp`). An `http` or `https` URL without a trailing slash, query or fragment; plain `http` only for loopback hosts. Its host is the WebAuthn relying party id of passkeys, which must be a domain name: an IP address here means no passkeys (use `http://localhost:PORT`, not `http://127.0.0.1:PORT`, in development).",
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
        path: "server.admin_api",
        kind: Kind::Bool,
        default: Some("true"),
        example: "false",
        description: "Serve the admin REST API under `/admin/api/v1` (with its OpenAPI document at `/admin/api/v1/openapi.json` and its protected resource metadata). It accepts Portcullis access tokens issued for `{public_url}/admin/api/v1` and Portcullis API keys; what a caller may do comes from its grants of administrative permissions (tenant-scoped where the grant is). `false` removes every route of it (404) and the resource from the authorization server. See `docs/admin-api.md`.",
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
        path: "store.redis_url",
        kind: Kind::String,
        default: None,
        example: "\"redis://127.0.0.1:6379\"",
        description: "Optional. A Redis server (`redis://` or `rediss://` for TLS) through which replicas announce role, grant and revocation changes to each other with pub/sub (channel `portcullis:changes`), for stores that cannot announce them themselves: an embedded SQLite file shared by several processes, or PostgreSQL behind a pooler that breaks LISTEN. PostgreSQL stores announce with LISTEN/NOTIFY without it. The server and `portcullis admin` commands publish after each such change; `portcullis serve` refuses to start when the server does not answer.",
    },
    Key {
        path: "store.change_poll",
        kind: Kind::Duration,
        default: Some("\"250ms\""),
        example: "\"5s\"",
        description: "How often each replica reads the store for role, grant and revocation changes besides the announcements (LISTEN/NOTIFY, Redis): the longest a change takes to reach a replica that missed its announcement. Between 50ms and 1h.",
    },
    Key {
        path: "rate_limits.sign_in",
        kind: Kind::String,
        default: Some("\"30/min\""),
        example: "\"10/min\"",
        description: "Posts of the sign-in and second-factor forms (password, authenticator code, recovery code, passkey) allowed per source address, before any password is checked; more get the page again with 429 and `Retry-After`. A rate is `<count>/<period>` with period `s`, `min`, `h` or `d`, allowing a burst of `count`; `\"off\"` removes the limit. The source address is the peer's, or the rightmost untrusted `X-Forwarded-For` hop behind `server.trusted_proxies`; IPv6 addresses count by their /64. Separate from the progressive per-account delays after failures. See `docs/rate-limits.md`.",
    },
    Key {
        path: "rate_limits.token",
        kind: Kind::String,
        default: Some("\"300/min\""),
        example: "\"1000/min\"",
        description: "`POST /token` requests allowed per source address; more get 429 with `Retry-After` and the OAuth error JSON. `\"off\"` removes the limit.",
    },
    Key {
        path: "rate_limits.registration",
        kind: Kind::String,
        default: Some("\"10/min\""),
        example: "\"30/h\"",
        description: "`POST /register` (dynamic client registration) requests allowed per source address, refused ones included; more get 429 with `Retry-After`. `\"off\"` removes the limit.",
    },
    Key {
        path: "rate_limits.client_id_document",
        kind: Kind::String,
        default: Some("\"60/min\""),
        example: "\"20/min\"",
        description: "Requests whose `client_id` is a client ID metadata document URL (`/authorize`, its consent post, `POST /token`), allowed per source address: each new URL makes Portcullis fetch it, so this bounds the fetches one address can cause. More get 429 with `Retry-After` (an error page, or the OAuth error JSON at `/token`). `\"off\"` removes the limit.",
    },
    Key {
        path: "rate_limits.credential_check",
        kind: Kind::String,
        default: Some("\"120/min\""),
        example: "\"600/min\"",
        description: "MCP requests whose credential is not in the verified-credential cache (a new or made-up token, which validators may check over the network: introspection, GitHub, Google, a JWKS refetch), allowed per source address; more get 429 with `Retry-After` and a JSON-RPC error before any validator is asked. A credential once verified is cached and not counted again. `\"off\"` removes the limit.",
    },
    Key {
        path: "rate_limits.mcp_per_user",
        kind: Kind::String,
        default: Some("\"off\""),
        example: "\"600/min\"",
        description: "MCP requests (POSTs to any `/servers/{name}/mcp`) allowed per principal, keyed by its subject; counted after authorization, refused with 429, `Retry-After` and a JSON-RPC error, the upstream not called. Callers of `auth = \"none\"` upstreams have no principal and are not counted.",
    },
    Key {
        path: "rate_limits.mcp_per_client",
        kind: Kind::String,
        default: Some("\"off\""),
        example: "\"1200/min\"",
        description: "MCP requests allowed per OAuth client, keyed by the `client_id` of a Portcullis access token (other credentials have no client and are not counted).",
    },
    Key {
        path: "rate_limits.mcp_per_tenant",
        kind: Kind::String,
        default: Some("\"off\""),
        example: "\"6000/min\"",
        description: "MCP requests allowed per tenant (principals without a tenant are not counted).",
    },
    Key {
        path: "keys.encryption_key_env",
        kind: Kind::String,
        default: Some("\"PORTCULLIS_ENCRYPTION_KEY\""),
        example: "\"ACME_PORTCULLIS_KEYS\"",
        description: "The environment variable holding the encryption key list: comma-separated base64 (standard or URL-safe) keys of 32 random bytes each (`openssl rand -base64 32`). Secrets Portcullis keeps in its store (its private signing keys) are encrypted with AES-256-GCM under the first key; every key of the list decrypts, so to rotate, prepend a new key and drop the old one once nothing needs it. The list is taken from this variable when it is set (set but empty is an error); otherwise from `encryption_key_file`; otherwise, only for an embedded SQLite store, from `encryption.key` next to the database file, created with a new key (mode 0600) on first start. A PostgreSQL store with neither refuses to start: every replica must have the same keys.",
    },
    Key {
        path: "keys.encryption_key_file",
        kind: Kind::String,
        default: None,
        example: "\"/run/secrets/portcullis-encryption-key\"",
        description: "A file holding the encryption key list (same format; surrounding whitespace ignored), for deployments that mount secrets as files. Used when the `encryption_key_env` variable is not set; the file must exist.",
    },
    Key {
        path: "tokens.access_token_ttl",
        kind: Kind::Duration,
        default: Some("\"10m\""),
        example: "\"15m\"",
        description: "How long an access token Portcullis issues is valid. Short, because an access token is checked by signature and cannot be called back from a client except by revocation (which every replica learns within a second).",
    },
    Key {
        path: "tokens.refresh_token_idle_ttl",
        kind: Kind::Duration,
        default: Some("\"14d\""),
        example: "\"7d\"",
        description: "A refresh token unused this long stops working; each refresh issues a new one (rotation).",
    },
    Key {
        path: "tokens.refresh_token_absolute_ttl",
        kind: Kind::Duration,
        default: Some("\"90d\""),
        example: "\"30d\"",
        description: "No refresh token of a grant works this long after the user authorized the client, however often it is used: the user must authorize again.",
    },
    Key {
        path: "tokens.authorization_code_ttl",
        kind: Kind::Duration,
        default: Some("\"1m\""),
        example: "\"30s\"",
        description: "How long an authorization code can be redeemed (at most 10 minutes).",
    },
    Key {
        path: "tokens.refresh_token_retry_grace",
        kind: Kind::Duration,
        default: Some("\"1m\""),
        example: "\"30s\"",
        description: "A refresh token can be presented once more this soon after its rotation, if the refresh token it was exchanged for was never used (the client lost the response); any other reuse revokes the whole grant.",
    },
    Key {
        path: "tokens.signing_alg",
        kind: Kind::Enum(SIGNING_ALGS),
        default: Some("\"ES256\""),
        example: "\"EdDSA\"",
        description: "The algorithm of the signing keys Portcullis creates for the tokens it signs (access and ID tokens, identity tokens to upstreams), published in its JWKS: `ES256` (ECDSA P-256) or `EdDSA` (Ed25519). A change applies to keys created afterwards (the first key, and each rotation); existing keys keep their algorithm until they are retired. RSA is not offered.",
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
        path: "log.otlp_endpoint",
        kind: Kind::String,
        default: None,
        example: "\"http://127.0.0.1:4318/v1/traces\"",
        description: "Optional; off by default. The full URL of an OpenTelemetry collector's OTLP/HTTP traces receiver (`http://` or `https://`, binary protobuf): the spans the log filter lets through — one per HTTP request, carrying its `request_id`, with the events inside — are exported to it in batches, as service `portcullis`. The `OTEL_EXPORTER_OTLP_TRACES_HEADERS`, `…_TIMEOUT` and `…_COMPRESSION` variables apply. Needs the `otel` cargo feature (on by default).",
    },
    Key {
        path: "audit.enabled",
        kind: Kind::Bool,
        default: Some("true"),
        example: "false",
        description: "Record the audit log (docs/audit.md): sign-ins, second factors, consents, tokens issued, refreshed and revoked, client registrations, every administrative action, key rotations and refused MCP requests, each in the same transaction as the change it records, hash-chained and append-only. `false` records nothing new; `portcullis admin audit verify` still checks what was recorded.",
    },
    Key {
        path: "audit.authorization_allows_sample",
        kind: Kind::Float,
        default: Some("0.0"),
        example: "0.01",
        description: "The fraction of allowed MCP requests (0.0 to 1.0) recorded in the audit log; refused ones are always recorded. Decisions on MCP traffic are written in batches by a background writer, so they never slow a request down; when it falls behind, records beyond its queue of 10,000 are dropped and counted in the `portcullis_audit_dropped_total` metric.",
    },
    Key {
        path: "tenants.by_email_domain",
        kind: Kind::StringMap,
        default: Some("{}"),
        example: "{ \"acme.com\" = \"acme\" }",
        description: "Lower-case email domain → tenant. A caller whose verified email is in a listed domain (and whose credential names no tenant claim) belongs to that tenant; unverified addresses never place anyone in a tenant.",
    },
    Key {
        path: "tenants.claim",
        kind: Kind::String,
        default: None,
        example: "\"tenant\"",
        description: "The claim naming the caller's tenant, for validators that set no `tenant_claim`. When the claim is present it wins over the email domain.",
    },
    Key {
        path: "authorization.cedar_policies",
        kind: Kind::String,
        default: None,
        example: "\"policies/conditions.cedar\"",
        description: "A file of Cedar policies: conditions on MCP requests (the caller's claims and tenant, the tool and its arguments and annotations, the time) evaluated after the role decision. Only `forbid` policies: roles grant, a condition can only take away. The file is validated strictly against Portcullis's schema at start-up (`portcullis serve` and `config check`): a syntax error, a `permit`, a template, an unknown entity type, attribute or action stops the start, naming the file, the policy and the problem; so does a build without the `cedar` feature. A request a policy forbids, or that a policy fails to evaluate on, is refused. See docs/authorization.md, Conditions. Unset: no conditions.",
    },
    Key {
        path: "accounts.enabled",
        kind: Kind::Bool,
        default: Some("true"),
        example: "false",
        description: "Let people sign in at `/login` with a local username and password (accounts made with `portcullis admin user create`). When false, the sign-in form answers 404; existing browser sessions keep working until they end.",
    },
    Key {
        path: "accounts.session_idle_timeout",
        kind: Kind::Duration,
        default: Some("\"12h\""),
        example: "\"30m\"",
        description: "A browser session unused for this long ends and the person signs in again. Each use moves the end forward (recorded at most once a minute), never past `session_absolute_timeout`. At least `1m`.",
    },
    Key {
        path: "accounts.session_absolute_timeout",
        kind: Kind::Duration,
        default: Some("\"7d\""),
        example: "\"1d\"",
        description: "A browser session ends this long after sign-in, however much it is used. At least `session_idle_timeout`, at most `400d`.",
    },
    Key {
        path: "accounts.min_password_length",
        kind: Kind::Integer,
        default: Some("12"),
        example: "15",
        description: "The fewest characters (Unicode code points) a new password may have, from 8 to 64. Passwords of up to 1024 bytes are accepted, with no rules about which characters they contain; a password equal to the username or the email address is refused.",
    },
    Key {
        path: "accounts.mfa",
        kind: Kind::Enum(MFA_POLICIES),
        default: Some("\"optional\""),
        example: "\"required\"",
        description: "Second factors for local accounts (an authenticator app, a passkey, recovery codes). `optional`: people may enrol one on their account page, and then must give it at every sign-in. `required`: every account must enrol one at its next sign-in. `off`: never asked for nor offered (enrolled factors are kept, unused).",
    },
    Key {
        path: "accounts.mfa_by_tenant",
        kind: Kind::StringMap,
        default: Some("{}"),
        example: "{ acme = \"required\" }",
        description: "Tenant → policy (`off`, `optional`, `required`) for the accounts of that tenant, where it differs from `accounts.mfa`.",
    },
    Key {
        path: "accounts.mfa_by_role",
        kind: Kind::StringMap,
        default: Some("{}"),
        example: "{ admin = \"required\" }",
        description: "Role → policy (`off`, `optional`, `required`) for the accounts granted that role (directly, in any scope). The strictest of `accounts.mfa`, the account's tenant's policy and its roles' policies applies.",
    },
    Key {
        path: "accounts.default_roles",
        kind: Kind::StringList,
        default: Some("[]"),
        example: "[\"developer\"]",
        description: "Roles granted to each account `portcullis admin user create` or the admin API makes — everywhere, or in the account's tenant when it has one: built-in roles or `[[roles]]` names. The demo's first account is granted `owner`.",
    },
    Key {
        path: "registration.client_id_metadata_documents",
        kind: Kind::Bool,
        default: Some("true"),
        example: "false",
        description: "Accept OAuth clients whose `client_id` is the `https` URL of a client ID metadata document (CIMD, the MCP 2026-07-28 way to register): Portcullis fetches the document (no redirects, at most 5 KB, 5 s, through the SSRF guard), checks it (its `client_id` equal to the URL, a `client_name`, valid `redirect_uris`, no shared secret) and caches it as its `Cache-Control` allows. See docs/clients.md.",
    },
    Key {
        path: "registration.dynamic_client_registration",
        kind: Kind::Bool,
        default: Some("true"),
        example: "false",
        description: "Serve dynamic client registration (RFC 7591, `POST /register`) and its management (RFC 7592, `/register/{client_id}`), which MCP clients older than 2026-07-28 use. When `false` those endpoints answer 404; clients registered before keep working.",
    },
    Key {
        path: "registration.initial_access_token_env",
        kind: Kind::String,
        default: None,
        example: "\"PORTCULLIS_REGISTRATION_TOKEN\"",
        description: "The environment variable holding an initial access token: when set, `POST /register` requires `Authorization: Bearer <token>` (RFC 7591 §3), so only those given the token can register clients.",
    },
    Key {
        path: "registration.unused_client_ttl",
        kind: Kind::Duration,
        default: Some("\"24h\""),
        example: "\"1h\"",
        description: "A dynamically registered client that has not been used within this time of its registration is deleted.",
    },
    Key {
        path: "registration.allow_loopback_client_id_documents",
        kind: Kind::Bool,
        default: Some("false"),
        example: "true",
        description: "For tests only: fetch client ID metadata documents from loopback hosts (`127.0.0.1`, `[::1]`, `localhost`), over plain `http` too. Other private addresses stay refused.",
    },
    Key {
        path: "registration.client_id_document_cache_max",
        kind: Kind::Duration,
        default: Some("\"24h\""),
        example: "\"1h\"",
        description: "The longest a client ID metadata document is cached: its `Cache-Control: max-age` is honoured between 30 s and this (`no-store` is not cached at all; failed fetches and invalid documents never are).",
    },
    Key {
        path: "clients[].client_id",
        kind: Kind::String,
        default: None,
        example: "\"ci-bot\"",
        description: "The identifier of a pre-registered OAuth client: printable ASCII without spaces, at most 255 characters, not a URL (URLs are client ID metadata documents). Required.",
    },
    Key {
        path: "clients[].name",
        kind: Kind::String,
        default: None,
        example: "\"CI bot\"",
        description: "The client's name, shown on the consent page. Required.",
    },
    Key {
        path: "clients[].redirect_uris",
        kind: Kind::StringList,
        default: Some("[]"),
        example: "[\"http://127.0.0.1:9999/callback\"]",
        description: "The client's redirect URIs, compared exactly, except that a loopback `http` redirect (`127.0.0.1`, `[::1]`, `localhost`) may use any port. `https`, loopback `http`, or a native app's private-use scheme (`com.example.app:/cb`). Required with the `authorization_code` grant.",
    },
    Key {
        path: "clients[].grant_types",
        kind: Kind::StringList,
        default: Some("[\"authorization_code\", \"refresh_token\"]"),
        example: "[\"authorization_code\"]",
        description: "The grants the client may use: `authorization_code`, `refresh_token`, and `client_credentials` (confidential clients only).",
    },
    Key {
        path: "clients[].token_endpoint_auth_method",
        kind: Kind::Enum(CLIENT_AUTH_METHODS),
        default: None,
        example: "\"client_secret_post\"",
        description: "How the client authenticates at the token, revocation and introspection endpoints: `none` (a public client), `client_secret_basic`, `client_secret_post`, or `private_key_jwt` (with `jwks_uri`). Default: `client_secret_basic` when `client_secret_env` is set, otherwise `none`.",
    },
    Key {
        path: "clients[].client_secret_env",
        kind: Kind::String,
        default: None,
        example: "\"CI_BOT_CLIENT_SECRET\"",
        description: "The environment variable holding a confidential client's secret: at least 32 bytes (`openssl rand -base64 32`). Only its SHA-256 is kept in memory.",
    },
    Key {
        path: "clients[].jwks_uri",
        kind: Kind::String,
        default: None,
        example: "\"https://ci.example.com/jwks.json\"",
        description: "Where a `private_key_jwt` client publishes its public keys (`https`).",
    },
    Key {
        path: "clients[].scope",
        kind: Kind::String,
        default: None,
        example: "\"files:read files:write\"",
        description: "The space-separated scopes the client may ask for; any, when absent.",
    },
    Key {
        path: "identity_providers[].id",
        kind: Kind::String,
        default: None,
        example: "\"github\"",
        description: "Required. Names the provider in URLs (the redirect URI to register at the provider is `{public_url}/auth/callback/{id}`) and in `upstreams[].pass_provider_token`: lowercase letters, digits, `-` and `_`, unique.",
    },
    Key {
        path: "identity_providers[].kind",
        kind: Kind::Enum(PROVIDER_KINDS),
        default: None,
        example: "\"oidc\"",
        description: "Required. `github`: a GitHub OAuth app (github.com or GitHub Enterprise Server). `google`: Google. `entra`: Microsoft Entra ID (the Microsoft identity platform v2). `oidc`: any OpenID Connect provider, found by discovery (Auth0, Okta, Keycloak, Authentik, Zitadel…). Keys that do not apply to the kind are errors.",
    },
    Key {
        path: "identity_providers[].display_name",
        kind: Kind::String,
        default: None,
        example: "\"Acme SSO\"",
        description: "The name on the sign-in button. `github`: default `\"GitHub\"`; `google`: default `\"Google\"`; `entra`: default `\"Microsoft\"`; `oidc`: the id.",
    },
    Key {
        path: "identity_providers[].client_id",
        kind: Kind::String,
        default: None,
        example: "\"Iv1.0123456789abcdef\"",
        description: "Required. The client id Portcullis is registered under at the provider.",
    },
    Key {
        path: "identity_providers[].client_secret_env",
        kind: Kind::String,
        default: None,
        example: "\"GITHUB_CLIENT_SECRET\"",
        description: "Required. The environment variable holding the client secret (never written in the file).",
    },
    Key {
        path: "identity_providers[].issuer",
        kind: Kind::String,
        default: None,
        example: "\"https://login.example.com\"",
        description: "`oidc`: required; the issuer, base of discovery (`{issuer}/.well-known/openid-configuration`, whose `issuer` must be this value byte for byte) and the `iss` every ID token must carry. `google`: default `\"https://accounts.google.com\"`. `entra`: `https://login.microsoftonline.com/{tenant}/v2.0` unless set (set it only to point at another cloud or a test server). `https`, or `http` with `allow_private_network = true`.",
    },
    Key {
        path: "identity_providers[].tenant",
        kind: Kind::String,
        default: None,
        example: "\"contoso.onmicrosoft.com\"",
        description: "`entra`: required; the directory's tenant id or domain, or `organizations`, `common` or `consumers` for several directories (the ID token's `iss` is then checked against the discovery document's template with the token's own `tid`).",
    },
    Key {
        path: "identity_providers[].base_url",
        kind: Kind::String,
        default: None,
        example: "\"https://github.example.com\"",
        description: "`github`: a GitHub Enterprise Server (or test server) root: OAuth under `{base_url}/login/oauth/…`, the API under `{base_url}/api/v3`. Unset: github.com and api.github.com.",
    },
    Key {
        path: "identity_providers[].scopes",
        kind: Kind::StringList,
        default: None,
        example: "[\"openid\", \"email\", \"profile\"]",
        description: "The scopes asked of the provider. `github`: default `[\"read:user\", \"user:email\", \"read:org\"]`; `google`, `entra`, `oidc`: default `[\"openid\", \"email\", \"profile\"]` (`openid` is required). Add `offline_access` (or the provider's equivalent) to receive a refresh token for `pass_provider_token`.",
    },
    Key {
        path: "identity_providers[].allowed_email_domains",
        kind: Kind::StringList,
        default: Some("[]"),
        example: "[\"example.com\"]",
        description: "Only people whose verified email address is in one of these domains may sign in; any, when empty. Checked at every sign-in, not only the first.",
    },
    Key {
        path: "identity_providers[].allowed_users",
        kind: Kind::StringList,
        default: None,
        example: "[\"octocat\"]",
        description: "`github`: GitHub logins allowed to sign in. A `github` provider needs one of the allowlists or `allow_any_user = true`; all are checked at every sign-in.",
    },
    Key {
        path: "identity_providers[].allowed_orgs",
        kind: Kind::StringList,
        default: None,
        example: "[\"acme\"]",
        description: "`github`: organisations whose members may sign in (needs the `read:org` scope).",
    },
    Key {
        path: "identity_providers[].allowed_teams",
        kind: Kind::StringList,
        default: None,
        example: "[\"acme/platform\"]",
        description: "`github`: teams (`org/team-slug`) whose members may sign in.",
    },
    Key {
        path: "identity_providers[].allow_any_user",
        kind: Kind::Bool,
        default: None,
        example: "true",
        description: "`github`: let every GitHub user sign in (no allowlist); must be said explicitly.",
    },
    Key {
        path: "identity_providers[].hosted_domains",
        kind: Kind::StringList,
        default: None,
        example: "[\"example.com\"]",
        description: "`google`: the Google Workspace domains (the ID token's `hd`) allowed; any account, when empty.",
    },
    Key {
        path: "identity_providers[].linking",
        kind: Kind::Enum(LINKING_POLICIES),
        default: Some("\"by_verified_email\""),
        example: "\"explicit\"",
        description: "How an identity new to Portcullis finds its account. `by_verified_email`: the account with the same address, when the provider says it verified the address and the account's address is verified too; else a new account. `explicit`: a new account, unless the address is taken (then refused: the person signs in to that account and links the provider on the account page). `never`: always a new account (refused when the address is taken).",
    },
    Key {
        path: "identity_providers[].email_claim",
        kind: Kind::String,
        default: None,
        example: "\"email\"",
        description: "`oidc`: the claim holding the email address; default `\"email\"` (whether it is verified comes from `email_verified`, which must be the boolean `true`).",
    },
    Key {
        path: "identity_providers[].name_claim",
        kind: Kind::String,
        default: None,
        example: "\"name\"",
        description: "`oidc`: the claim holding the display name; default `\"name\"`.",
    },
    Key {
        path: "identity_providers[].groups_claim",
        kind: Kind::String,
        default: None,
        example: "\"groups\"",
        description: "`oidc`: the claim holding the person's groups (kept for authorization), when the provider sends them.",
    },
    Key {
        path: "identity_providers[].tenant_claim",
        kind: Kind::String,
        default: None,
        example: "\"org_id\"",
        description: "`oidc`: the claim naming the person's tenant; else the tenant comes from `[tenants] by_email_domain`.",
    },
    Key {
        path: "identity_providers[].userinfo",
        kind: Kind::Bool,
        default: None,
        example: "true",
        description: "`oidc`, `google`, `entra`: also ask the provider's userinfo endpoint for claims (its `sub` must be the ID token's); default `false`.",
    },
    Key {
        path: "identity_providers[].trust_mfa",
        kind: Kind::Bool,
        default: Some("false"),
        example: "true",
        description: "Let the provider's `amr` (`mfa`, or `otp`/`hwk`/… beside another method) satisfy `accounts.mfa = \"required\"`. Only for a provider you trust to enforce second factors; otherwise people who must use one enrol a Portcullis factor.",
    },
    Key {
        path: "identity_providers[].allow_private_network",
        kind: Kind::Bool,
        default: Some("false"),
        example: "true",
        description: "Whether the provider's URLs may point at loopback or private addresses (a provider inside the network, a test server).",
    },
    Key {
        path: "identity_providers[].timeout",
        kind: Kind::Duration,
        default: Some("\"10s\""),
        example: "\"5s\"",
        description: "Time allowed to each request to the provider (discovery, keys, token, userinfo, user API); past it the person gets an error page.",
    },
    Key {
        path: "identity_providers[].default_roles",
        kind: Kind::StringList,
        default: Some("[]"),
        example: "[\"developer\"]",
        description: "Roles granted everywhere to each account this provider's sign-ins create (created together with the account): built-in roles or `[[roles]]` names.",
    },
    Key {
        path: "roles[].name",
        kind: Kind::String,
        default: None,
        example: "\"files-reader\"",
        description: "Required. The role's name, used in grants (`portcullis admin role grant --role NAME`) and in `inherits`: lowercase letters, digits, `-` and `_`, unique, not a built-in role's name (owner, admin, security_admin, auditor, tenant_admin, developer, operator, viewer, service).",
    },
    Key {
        path: "roles[].inherits",
        kind: Kind::StringList,
        default: Some("[]"),
        example: "[\"viewer\"]",
        description: "Roles whose permissions this role has too (built-in or custom). An unknown name or a cycle stops start-up.",
    },
    Key {
        path: "roles[].permissions",
        kind: Kind::StringList,
        default: Some("[]"),
        example: "[\"mcp.tools.call:files/read_*\"]",
        description: "Permission patterns: names from docs/permissions.md, families such as `users.*`, `*`, and MCP permissions narrowed to an upstream and names (`mcp.tools.call:files/read_*`). An unknown permission stops start-up.",
    },
    Key {
        path: "roles[].description",
        kind: Kind::String,
        default: None,
        example: "\"Reads files\"",
        description: "What the role is for, shown by `portcullis admin role list`.",
    },
    Key {
        path: "validators[].id",
        kind: Kind::String,
        default: None,
        example: "\"corp-sso\"",
        description: "Required. The name upstreams use in `accept = [...]`, and the prefix of every subject the validator verifies (`{id}:{sub}`): lowercase letters, digits, `-` and `_`, unique; `api_key` and `portcullis` are reserved.",
    },
    Key {
        path: "validators[].kind",
        kind: Kind::Enum(VALIDATOR_KINDS),
        default: None,
        example: "\"jwt\"",
        description: "Required. `jwt`: JWTs of an issuer (keys from `jwks_uri` or OIDC discovery; RS256/384/512, PS256/384/512, ES256, ES384, EdDSA). `hs256`: JWTs signed with a shared secret. `introspection`: opaque tokens checked at an RFC 7662 endpoint. `github`: GitHub access tokens. `google`: Google ID tokens and access tokens. `cloudflare_access`: Cloudflare Access application tokens (`Cf-Access-Jwt-Assertion`). Keys that do not apply to the kind are errors.",
    },
    Key {
        path: "validators[].issuer",
        kind: Kind::String,
        default: None,
        example: "\"https://login.example.com\"",
        description: "`jwt`, `hs256`: required; tokens must carry exactly this `iss`. `jwt`: an `https` URL, and without `jwks_uri` the base of OIDC discovery (`{issuer}/.well-known/openid-configuration`, whose `issuer` must be this value byte for byte). `introspection`: optional, the authorization server advertised to clients. `google`: default `\"https://accounts.google.com\"`.",
    },
    Key {
        path: "validators[].jwks_uri",
        kind: Kind::String,
        default: None,
        example: "\"https://login.example.com/keys\"",
        description: "`jwt`: where the issuer's keys are; unset means OIDC discovery. `google`: default `\"https://www.googleapis.com/oauth2/v3/certs\"`.",
    },
    Key {
        path: "validators[].audiences",
        kind: Kind::StringList,
        default: Some("[]"),
        example: "[\"https://mcp.example.com/servers/files/mcp\"]",
        description: "`jwt`, `hs256`, `introspection`: the accepted `aud` values; empty (the default) means the resource URL of the upstream being called, so a token for one upstream is refused at every other. `google`: required, the OAuth client ids whose tokens are accepted. `cloudflare_access`: required, the application AUD tags.",
    },
    Key {
        path: "validators[].algorithms",
        kind: Kind::StringList,
        default: Some(
            "[\"RS256\", \"RS384\", \"RS512\", \"PS256\", \"PS384\", \"PS512\", \"ES256\", \"ES384\", \"EdDSA\"]",
        ),
        example: "[\"ES256\"]",
        description: "`jwt`: the algorithms accepted. The algorithm of each token is the one of its key (the JWK's `alg`, or its key type and curve), never the token header's choice; `none` and HS* are never accepted.",
    },
    Key {
        path: "validators[].token_types",
        kind: Kind::StringList,
        default: Some("[]"),
        example: "[\"at+jwt\"]",
        description: "`jwt`: the accepted `typ` header values (compared without case and without an `application/` prefix), such as `[\"at+jwt\"]`. Empty means any, except the types of other kinds of JWT (`dpop+jwt`, `logout+jwt`, `secevent+jwt`, …).",
    },
    Key {
        path: "validators[].secret_env",
        kind: Kind::String,
        default: None,
        example: "\"MCP_JWT_SECRET\"",
        description: "`hs256`: required. The environment variable whose raw bytes are the shared secret; it must be set and at least 32 bytes (256 bits) long, checked at start-up and by `config check`.",
    },
    Key {
        path: "validators[].introspection_endpoint",
        kind: Kind::String,
        default: None,
        example: "\"https://login.example.com/oauth2/introspect\"",
        description: "`introspection`: required. The RFC 7662 endpoint; tokens are sent there by POST with HTTP Basic client authentication.",
    },
    Key {
        path: "validators[].client_id",
        kind: Kind::String,
        default: None,
        example: "\"portcullis\"",
        description: "`introspection`: required. The client id Portcullis authenticates with at the introspection endpoint.",
    },
    Key {
        path: "validators[].client_secret_env",
        kind: Kind::String,
        default: None,
        example: "\"INTROSPECTION_SECRET\"",
        description: "`introspection`: required. The environment variable holding the client secret.",
    },
    Key {
        path: "validators[].base_url",
        kind: Kind::String,
        default: Some("\"https://api.github.com\""),
        example: "\"https://ghe.example.com/api/v3\"",
        description: "`github`: the GitHub API root, without a trailing `/` (for GitHub Enterprise, `https://HOST/api/v3`).",
    },
    Key {
        path: "validators[].userinfo_endpoint",
        kind: Kind::String,
        default: Some("\"https://openidconnect.googleapis.com/v1/userinfo\""),
        example: "\"https://openidconnect.googleapis.com/v1/userinfo\"",
        description: "`google`: the userinfo endpoint, asked for the profile and hosted domain of access tokens.",
    },
    Key {
        path: "validators[].tokeninfo_endpoint",
        kind: Kind::String,
        default: Some("\"https://oauth2.googleapis.com/tokeninfo\""),
        example: "\"https://oauth2.googleapis.com/tokeninfo\"",
        description: "`google`: the tokeninfo endpoint, asked who an access token was issued to and when it expires.",
    },
    Key {
        path: "validators[].allowed_users",
        kind: Kind::StringList,
        default: Some("[]"),
        example: "[\"octocat\"]",
        description: "`github`: logins allowed. A caller is allowed when any of `allowed_users`, `allowed_orgs` and `allowed_teams` admits them; at least one must be non-empty unless `allow_any_user = true`.",
    },
    Key {
        path: "validators[].allowed_orgs",
        kind: Kind::StringList,
        default: Some("[]"),
        example: "[\"acme\"]",
        description: "`github`: organisations whose (active) members are allowed.",
    },
    Key {
        path: "validators[].allowed_teams",
        kind: Kind::StringList,
        default: Some("[]"),
        example: "[\"acme/platform\"]",
        description: "`github`: teams, written `org/team-slug`, whose members are allowed.",
    },
    Key {
        path: "validators[].allow_any_user",
        kind: Kind::Bool,
        default: Some("false"),
        example: "false",
        description: "`github`: accept every GitHub user. Must be said explicitly, and not together with an allowlist.",
    },
    Key {
        path: "validators[].hosted_domains",
        kind: Kind::StringList,
        default: Some("[]"),
        example: "[\"acme.com\"]",
        description: "`google`: the Google Workspace domains (`hd`) accepted, for ID and access tokens alike; empty means any account.",
    },
    Key {
        path: "validators[].team_domain",
        kind: Kind::String,
        default: None,
        example: "\"https://acme.cloudflareaccess.com\"",
        description: "`cloudflare_access`: required. The team's origin: the tokens' issuer, with certificates at `{team_domain}/cdn-cgi/access/certs`.",
    },
    Key {
        path: "validators[].subject_claim",
        kind: Kind::String,
        default: Some("\"sub\""),
        example: "\"oid\"",
        description: "`jwt`, `hs256`, `introspection`: the claim whose value identifies the caller (subject `{id}:{value}`). Introspection falls back to `username` when `sub` is absent.",
    },
    Key {
        path: "validators[].email_claim",
        kind: Kind::String,
        default: Some("\"email\""),
        example: "\"upn\"",
        description: "`jwt`, `hs256`, `introspection`: the claim holding the email address (verified only when `email_verified` is true).",
    },
    Key {
        path: "validators[].name_claim",
        kind: Kind::String,
        default: Some("\"name\""),
        example: "\"preferred_username\"",
        description: "`jwt`, `hs256`, `introspection`: the claim holding the display name.",
    },
    Key {
        path: "validators[].groups_claim",
        kind: Kind::String,
        default: Some("\"groups\""),
        example: "\"roles\"",
        description: "`jwt`, `hs256`, `introspection`: the claim holding the caller's groups, an array of strings (anything else makes the token invalid).",
    },
    Key {
        path: "validators[].tenant_claim",
        kind: Kind::String,
        default: None,
        example: "\"org_id\"",
        description: "`jwt`, `hs256`, `introspection`: the claim naming the tenant (default: `tenants.claim`); without it, the tenant comes from `tenants.by_email_domain`.",
    },
    Key {
        path: "validators[].scope_claim",
        kind: Kind::String,
        default: None,
        example: "\"permissions\"",
        description: "`jwt`, `hs256`, `introspection`: the claim holding scopes, a space-separated string or an array of strings. Unset: `scope`, else `scp`.",
    },
    Key {
        path: "validators[].allow_private_network",
        kind: Kind::Bool,
        default: Some("false"),
        example: "true",
        description: "Allow this validator's URLs to reach loopback and private addresses (an issuer inside the network, a test issuer), and to use plain `http`. Without it the SSRF guard refuses them.",
    },
    Key {
        path: "validators[].cache_ttl",
        kind: Kind::Duration,
        default: Some("\"5m\""),
        example: "\"30s\"",
        description: "The longest a verified credential is reused without checking again (never past the credential's own expiry). A revoked opaque token can live this long.",
    },
    Key {
        path: "validators[].jwks_cache_ttl",
        kind: Kind::Duration,
        default: Some("\"10m\""),
        example: "\"5m\"",
        description: "`jwt`, `google`, `cloudflare_access`: how long fetched keys are used before they are fetched again.",
    },
    Key {
        path: "validators[].jwks_max_stale",
        kind: Kind::Duration,
        default: Some("\"1d\""),
        example: "\"12h\"",
        description: "`jwt`, `google`, `cloudflare_access`: while fetching keys fails, the last good keys are used until they are this old; after that tokens are refused (503) until a fetch succeeds. At least `jwks_cache_ttl`.",
    },
    Key {
        path: "validators[].unknown_kid_cooldown",
        kind: Kind::Duration,
        default: Some("\"30s\""),
        example: "\"1m\"",
        description: "`jwt`, `google`, `cloudflare_access`: a token with an unknown `kid` makes the keys be fetched again at most once per this time (keys rotated by the issuer are picked up; a flood of made-up kids is not a flood of fetches).",
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
        description: "Which callers share one stdio child process: `shared` (one for everyone), `tenant` (one per tenant; callers without a tenant are refused) or `user` (one per authenticated caller). With `tenant` or `user`, each child starts on the first request that needs it, with `{tenant}`, `{subject}` and `{subject_hash}` (16 hex digits of the subject's SHA-256) filled in `command`, `env` values and `cwd` (e.g. `env = { PGOPTIONS = \"-c search_path=tenant_{tenant}\" }`), and stops after 15 minutes unused with no session open. Needs authentication (not `auth = \"none\"`).",
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
        description: "Other credentials accepted: the ids of `[[validators]]` entries, and `api_key` for Portcullis API keys and service tokens. An id that names no validator is an error.",
    },
    Key {
        path: "upstreams[].scopes",
        kind: Kind::StringList,
        default: Some("[]"),
        example: "[\"files:read\", \"files:write\"]",
        description: "The OAuth scopes of this upstream: its protected resource metadata lists them as `scopes_supported` and its 401 challenges ask for them. `offline_access` is not allowed here (MCP 2026-07-28).",
    },
    Key {
        path: "upstreams[].scope_permissions",
        kind: Kind::StringMap,
        default: Some("{}"),
        example: "{ \"files:read\" = \"mcp.tools.list mcp.tools.call:files/read_*\", \"files:write\" = \"mcp.*\" }",
        description: "What each of `scopes` allows: scope → space-separated MCP permission patterns (the grammar of roles, see docs/permissions.md). A request needs a role that allows it *and* a scope of the token that allows it; when only the scope is missing the answer is a 403 `insufficient_scope` challenge naming the first scope, in `scopes` order, that would allow it. Empty: tokens are not restricted by scope.",
    },
    Key {
        path: "upstreams[].tool_rate_limits",
        kind: Kind::StringMap,
        default: Some("{}"),
        example: "{ \"search_*\" = \"10/min\", \"deploy\" = \"1/h\" }",
        description: "`tools/call` requests allowed per caller and tool: a table of tool-name globs (`*` matches any run of characters) to rates. A call is counted against the most specific matching pattern (an exact name first, then the longest glob), keyed by the upstream, the tool's name and the caller's subject; more get 429 with `Retry-After` and a JSON-RPC error, the upstream not called.",
    },
    Key {
        path: "upstreams[].authenticated_roles",
        kind: Kind::StringList,
        default: Some("[]"),
        example: "[\"developer\"]",
        description: "Roles every caller this upstream authenticates holds on it, besides the roles granted to them (`portcullis admin role grant`). Empty: only grants decide, and a caller without one may do nothing. `[\"developer\"]` lets every authenticated caller use every MCP capability of the upstream.",
    },
    Key {
        path: "upstreams[].identity_headers",
        kind: Kind::Bool,
        default: Some("true"),
        example: "false",
        description: "Send the caller's identity to the upstream in `X-Portcullis-User`, `-Email`, `-Email-Verified`, `-Name`, `-Tenant`, `-Groups` and `-Scopes` (see docs/identity.md). Copies of these headers sent by clients never reach an upstream either way.",
    },
    Key {
        path: "upstreams[].identity_token",
        kind: Kind::Bool,
        default: Some("false"),
        example: "true",
        description: "Send the upstream a Portcullis-signed JWT about the caller (`typ` `portcullis-identity+jwt`; `iss` the public URL, `aud` the upstream's resource URL, `sub`, email, tenant, groups, scope; valid 60 s and never past the caller's credential), verifiable with `/.well-known/jwks.json`. Needs an upstream that authenticates callers. See docs/identity.md.",
    },
    Key {
        path: "upstreams[].identity_token_header",
        kind: Kind::String,
        default: Some("\"authorization\""),
        example: "\"x-portcullis-identity\"",
        description: "The request header that carries the identity token: in `Authorization` as `Bearer <token>`, in any other header as the bare token. Must differ from `credential_header` when both are used.",
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
        path: "upstreams[].pass_provider_token",
        kind: Kind::String,
        default: None,
        example: "\"github\"",
        description: "The id of an `[[identity_providers]]` entry: requests of a person who signed in with that provider reach the upstream with their provider access token (refreshed when it has expired and the provider gave a refresh token) in `provider_token_header`. The client's own token is never forwarded. A caller without a token from that provider is answered 401 (sign in with the provider). Needs `auth = \"oauth\"`.",
    },
    Key {
        path: "upstreams[].provider_token_header",
        kind: Kind::String,
        default: Some("\"authorization\""),
        example: "\"x-github-token\"",
        description: "The request header that carries the provider token: in `Authorization` as `Bearer <token>`, in any other header as the bare token. Must differ from `identity_token_header` and `credential_header` when those are used.",
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
        path: "upstreams[].max_instances",
        kind: Kind::Integer,
        default: Some("32"),
        example: "100",
        description: "With `isolation = \"tenant\"` or `\"user\"`: the most child processes at once; a request that would start one more gets 503.",
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
         Keys of an `[[upstreams]]` entry are addressed by the entry's name (of a `[[validators]]` or `[[identity_providers]]` entry, by its id; of a `[[clients]]` entry, by its client id), upper-cased with `-` written as `_`, \
         or by its position: `PORTCULLIS_UPSTREAMS__FILES__URL` or `PORTCULLIS_UPSTREAMS__0__URL`, `PORTCULLIS_VALIDATORS__CORP_SSO__ISSUER`. \
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
