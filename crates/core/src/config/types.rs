//! The configuration structs. Every field here has a row in `reference::KEYS`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::serde_duration;
use super::identity_providers::IdentityProviderConfig;
use super::registration::{ClientConfig, RegistrationConfig};
use super::validators::ValidatorConfig;
use crate::rate_limit::Rate;

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The file format version; only `1` exists.
    pub version: u32,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub keys: KeysConfig,
    #[serde(default)]
    pub tokens: TokensConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub audit: AuditConfig,
    #[serde(default)]
    pub tenants: TenantsConfig,
    #[serde(default)]
    pub authorization: AuthorizationConfig,
    #[serde(default)]
    pub accounts: AccountsConfig,
    #[serde(default)]
    pub identity_providers: Vec<IdentityProviderConfig>,
    #[serde(default)]
    pub roles: Vec<RoleConfig>,
    #[serde(default)]
    pub validators: Vec<ValidatorConfig>,
    #[serde(default)]
    pub upstreams: Vec<UpstreamConfig>,
    #[serde(default)]
    pub registration: RegistrationConfig,
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
    #[serde(default)]
    pub rate_limits: RateLimitsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            version: 1,
            server: ServerConfig::default(),
            store: StoreConfig::default(),
            keys: KeysConfig::default(),
            tokens: TokensConfig::default(),
            log: LogConfig::default(),
            audit: AuditConfig::default(),
            tenants: TenantsConfig::default(),
            authorization: AuthorizationConfig::default(),
            accounts: AccountsConfig::default(),
            identity_providers: Vec::new(),
            roles: Vec::new(),
            validators: Vec::new(),
            upstreams: Vec::new(),
            registration: RegistrationConfig::default(),
            clients: Vec::new(),
            rate_limits: RateLimitsConfig::default(),
        }
    }
}

/// `[server]`: the listener and the limits on every request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// The socket address to listen on.
    pub listen: String,
    /// The public base URL: issuer and base of every resource URL. No trailing slash.
    pub public_url: String,
    /// Origins, besides the public URL's, whose browser requests are accepted (`Origin` header).
    pub allowed_origins: Vec<String>,
    /// `Host` values, besides the public URL's host, that requests may carry.
    pub allowed_hosts: Vec<String>,
    /// Peers whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: Vec<String>,
    /// Serve upstreams with `auth = "none"` on a non-loopback listener.
    pub allow_unauthenticated: bool,
    /// Serve the admin REST API under `/admin/api/v1`.
    pub admin_api: bool,
    /// The largest request body accepted on an MCP endpoint, in bytes.
    pub max_body_bytes: usize,
    /// The deepest JSON nesting accepted in a JSON-RPC message.
    pub max_json_depth: usize,
    /// How long a graceful shutdown waits for in-flight requests and streams.
    #[serde(with = "serde_duration")]
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".to_owned(),
            public_url: "http://127.0.0.1:8080".to_owned(),
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            trusted_proxies: Vec::new(),
            allow_unauthenticated: false,
            admin_api: true,
            max_body_bytes: 1024 * 1024,
            max_json_depth: 64,
            shutdown_grace: Duration::from_secs(25),
        }
    }
}

/// `[store]`: where state lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite://path` (embedded, the default) or `postgres://…`.
    pub url: String,
    /// `redis://…`: announcements of role, grant and revocation changes between replicas.
    pub redis_url: Option<String>,
    /// How often each replica reads the store for changes it was not told of.
    #[serde(with = "serde_duration")]
    pub change_poll: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: "sqlite://portcullis-data/portcullis.db".to_owned(),
            redis_url: None,
            change_poll: Duration::from_millis(250),
        }
    }
}

/// `[rate_limits]`: requests allowed per source address on the endpoints anyone can call, and
/// per caller on MCP traffic (`None`: no limit). Tool limits are per upstream
/// (`upstreams[].tool_rate_limits`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitsConfig {
    /// Sign-in and second-factor form posts, per source address.
    #[serde(with = "crate::rate_limit::rate_or_off")]
    pub sign_in: Option<Rate>,
    /// `POST /token`, per source address.
    #[serde(with = "crate::rate_limit::rate_or_off")]
    pub token: Option<Rate>,
    /// `POST /register`, per source address.
    #[serde(with = "crate::rate_limit::rate_or_off")]
    pub registration: Option<Rate>,
    /// Authorization requests naming a client ID metadata document, per source address.
    #[serde(with = "crate::rate_limit::rate_or_off")]
    pub client_id_document: Option<Rate>,
    /// MCP and ForwardAuth credentials not in the verified-credential cache, per source
    /// address: each may make a validator call out.
    #[serde(with = "crate::rate_limit::rate_or_off")]
    pub credential_check: Option<Rate>,
    /// MCP requests per principal (subject), across upstreams.
    #[serde(with = "crate::rate_limit::rate_or_off")]
    pub mcp_per_user: Option<Rate>,
    /// MCP requests per OAuth client of a Portcullis access token, across upstreams.
    #[serde(with = "crate::rate_limit::rate_or_off")]
    pub mcp_per_client: Option<Rate>,
    /// MCP requests per tenant, across upstreams.
    #[serde(with = "crate::rate_limit::rate_or_off")]
    pub mcp_per_tenant: Option<Rate>,
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        let rate = |count, secs| Rate::new(count, Duration::from_secs(secs));
        RateLimitsConfig {
            sign_in: rate(30, 60),
            token: rate(300, 60),
            registration: rate(10, 60),
            client_id_document: rate(60, 60),
            credential_check: rate(120, 60),
            mcp_per_user: None,
            mcp_per_client: None,
            mcp_per_tenant: None,
        }
    }
}

/// `[keys]`: the key list that encrypts Portcullis's secrets at rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// The environment variable holding the encryption key list.
    pub encryption_key_env: String,
    /// A file holding the encryption key list, used when the variable is not set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_key_file: Option<String>,
}

impl Default for KeysConfig {
    fn default() -> Self {
        KeysConfig {
            encryption_key_env: "PORTCULLIS_ENCRYPTION_KEY".to_owned(),
            encryption_key_file: None,
        }
    }
}

/// `[tokens]`: what the authorization server issues — lifetimes, and the algorithm of the keys
/// it signs with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokensConfig {
    /// How long an access token is valid.
    #[serde(with = "serde_duration")]
    pub access_token_ttl: Duration,
    /// A refresh token unused this long stops working.
    #[serde(with = "serde_duration")]
    pub refresh_token_idle_ttl: Duration,
    /// No refresh token of a grant works this long after the user authorized it.
    #[serde(with = "serde_duration")]
    pub refresh_token_absolute_ttl: Duration,
    /// How long an authorization code can be redeemed.
    #[serde(with = "serde_duration")]
    pub authorization_code_ttl: Duration,
    /// How long a refresh token can be presented again after its rotation, if the new one was
    /// never used (a lost response).
    #[serde(with = "serde_duration")]
    pub refresh_token_retry_grace: Duration,
    /// The algorithm of signing keys created from now on.
    pub signing_alg: SigningAlg,
}

impl Default for TokensConfig {
    fn default() -> Self {
        TokensConfig {
            access_token_ttl: Duration::from_secs(600),
            refresh_token_idle_ttl: Duration::from_secs(14 * 86_400),
            refresh_token_absolute_ttl: Duration::from_secs(90 * 86_400),
            authorization_code_ttl: Duration::from_secs(60),
            refresh_token_retry_grace: Duration::from_secs(60),
            signing_alg: SigningAlg::default(),
        }
    }
}

/// The JWS algorithms Portcullis signs with. RSA is left out: its keys cannot be generated from
/// the caller's random source with the crypto library we use, and ECDSA and EdDSA keys are smaller
/// and faster anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum SigningAlg {
    /// ECDSA with P-256 and SHA-256 (RFC 7518 §3.4).
    #[default]
    #[serde(rename = "ES256")]
    Es256,
    /// Ed25519 (RFC 8037).
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl SigningAlg {
    /// Every algorithm, in the order the reference lists them.
    pub const ALL: [SigningAlg; 2] = [SigningAlg::Es256, SigningAlg::EdDsa];

    /// The JOSE name: the JWS `alg` header and the JWK's `alg`.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::Es256 => "ES256",
            SigningAlg::EdDsa => "EdDSA",
        }
    }

    /// The algorithm named `name` (exactly as JOSE spells it).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.as_str() == name)
    }
}

/// `[log]`: what is logged and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter directive such as `info` or `portcullis_gateway=debug,info`.
    pub level: String,
    /// `text` for people, `json` for log pipelines.
    pub format: LogFormat,
    /// The OTLP/HTTP traces receiver to export spans to; none by default.
    pub otlp_endpoint: Option<String>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".to_owned(),
            format: LogFormat::Text,
            otlp_endpoint: None,
        }
    }
}

/// `[audit]`: the audit log (`docs/audit.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Record events at all.
    pub enabled: bool,
    /// The fraction (0.0 to 1.0) of allowed MCP requests recorded besides every refused one.
    pub authorization_allows_sample: f64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            enabled: true,
            authorization_allows_sample: 0.0,
        }
    }
}

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

/// `[[upstreams]]`: one MCP server published at `/servers/{name}/mcp`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// The name in the resource URL `/servers/{name}/mcp`.
    pub name: String,
    /// The upstream's MCP endpoint (HTTP upstreams).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// How to speak to `url`.
    #[serde(default)]
    pub transport: HttpTransport,
    /// The program and arguments of a stdio upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Environment variables for a stdio upstream (the child starts with a clean environment
    /// plus `PATH`, `HOME`, `LANG` and these).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The working directory of a stdio upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Which callers share one stdio child process.
    #[serde(default)]
    pub isolation: Isolation,
    /// A server built into Portcullis, instead of `url` or `command`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin: Option<BuiltinServer>,
    /// How callers authenticate.
    #[serde(default)]
    pub auth: AuthMode,
    /// Other credentials accepted, by validator id.
    #[serde(default)]
    pub accept: Vec<String>,
    /// The OAuth scopes this upstream knows (protected resource metadata `scopes_supported`, and
    /// the `scope` of its challenges).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// What each scope allows: scope → space-separated MCP permission patterns. Empty: tokens
    /// are not restricted by scope.
    #[serde(default)]
    pub scope_permissions: BTreeMap<String, String>,
    /// `tools/call` requests allowed per caller and tool: tool-name glob → rate. The most
    /// specific matching pattern applies.
    #[serde(default)]
    pub tool_rate_limits: BTreeMap<String, Rate>,
    /// Roles every caller this upstream authenticates holds on it (besides their grants).
    #[serde(default)]
    pub authenticated_roles: Vec<String>,
    /// Tell the upstream who is calling with `X-Portcullis-*` headers.
    #[serde(default = "defaults::identity_headers")]
    pub identity_headers: bool,
    /// Send the upstream a short-lived Portcullis-signed JWT about the caller.
    #[serde(default)]
    pub identity_token: bool,
    /// The request header that carries the identity token.
    #[serde(default = "defaults::credential_header")]
    pub identity_token_header: String,
    /// The environment variable holding a static credential Portcullis sends to the upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_env: Option<String>,
    /// The request header that carries `credential_env`'s value.
    #[serde(default = "defaults::credential_header")]
    pub credential_header: String,
    /// The identity provider whose token (the signed-in user's, from their sign-in there) is
    /// sent to the upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass_provider_token: Option<String>,
    /// The request header that carries the provider token.
    #[serde(default = "defaults::credential_header")]
    pub provider_token_header: String,
    /// Time allowed to open a connection to the upstream.
    #[serde(default = "defaults::connect_timeout", with = "serde_duration")]
    pub connect_timeout: Duration,
    /// Time allowed between sending a request and the first byte of the answer.
    #[serde(default = "defaults::first_byte_timeout", with = "serde_duration")]
    pub first_byte_timeout: Duration,
    /// Time allowed between two chunks of a streamed answer.
    #[serde(default = "defaults::idle_timeout", with = "serde_duration")]
    pub idle_timeout: Duration,
    /// The most requests relayed to this upstream at once; more are answered 503.
    #[serde(default = "defaults::max_in_flight")]
    pub max_in_flight: usize,
    /// The most open server-to-client streams (GET) to this upstream at once.
    #[serde(default = "defaults::max_streams")]
    pub max_streams: usize,
    /// With `isolation = "tenant"` or `"user"`: the most child processes at once.
    #[serde(default = "defaults::max_instances")]
    pub max_instances: usize,
    /// The longest wait before restarting a stdio child that died (backoff doubles up to this).
    #[serde(default = "defaults::restart_backoff_max", with = "serde_duration")]
    pub restart_backoff_max: Duration,
}

pub(super) mod defaults {
    use std::time::Duration;
    pub fn connect_timeout() -> Duration {
        Duration::from_secs(5)
    }
    pub fn first_byte_timeout() -> Duration {
        Duration::from_secs(60)
    }
    pub fn idle_timeout() -> Duration {
        Duration::from_secs(300)
    }
    pub fn max_in_flight() -> usize {
        256
    }
    pub fn max_streams() -> usize {
        256
    }
    pub fn max_instances() -> usize {
        32
    }
    pub fn restart_backoff_max() -> Duration {
        Duration::from_secs(30)
    }
    pub fn identity_headers() -> bool {
        true
    }
    pub fn credential_header() -> String {
        "authorization".to_owned()
    }
}

impl UpstreamConfig {
    fn bare(name: &str) -> Self {
        UpstreamConfig {
            name: name.to_owned(),
            url: None,
            transport: HttpTransport::default(),
            command: None,
            env: BTreeMap::new(),
            cwd: None,
            isolation: Isolation::default(),
            builtin: None,
            auth: AuthMode::default(),
            accept: Vec::new(),
            scopes: Vec::new(),
            scope_permissions: BTreeMap::new(),
            tool_rate_limits: BTreeMap::new(),
            authenticated_roles: Vec::new(),
            identity_headers: defaults::identity_headers(),
            identity_token: false,
            identity_token_header: defaults::credential_header(),
            credential_env: None,
            credential_header: defaults::credential_header(),
            pass_provider_token: None,
            provider_token_header: defaults::credential_header(),
            connect_timeout: defaults::connect_timeout(),
            first_byte_timeout: defaults::first_byte_timeout(),
            idle_timeout: defaults::idle_timeout(),
            max_in_flight: defaults::max_in_flight(),
            max_streams: defaults::max_streams(),
            max_instances: defaults::max_instances(),
            restart_backoff_max: defaults::restart_backoff_max(),
        }
    }

    /// An upstream served by a built-in server, without authentication (the demo).
    pub fn builtin(name: &str, server: BuiltinServer) -> Self {
        UpstreamConfig {
            builtin: Some(server),
            auth: AuthMode::None,
            ..Self::bare(name)
        }
    }

    /// An HTTP upstream with default settings.
    pub fn http(name: &str, url: &str) -> Self {
        UpstreamConfig {
            url: Some(url.to_owned()),
            ..Self::bare(name)
        }
    }

    /// A stdio upstream with default settings.
    pub fn stdio(name: &str, command: Vec<String>) -> Self {
        UpstreamConfig {
            command: Some(command),
            ..Self::bare(name)
        }
    }

    /// Which kind of upstream this is (validation guarantees exactly one source is set).
    pub fn kind(&self) -> UpstreamKind<'_> {
        if let Some(command) = &self.command {
            UpstreamKind::Stdio { command }
        } else if let Some(builtin) = self.builtin {
            UpstreamKind::Builtin(builtin)
        } else {
            UpstreamKind::Http {
                url: self.url.as_deref().unwrap_or_default(),
                transport: self.transport,
            }
        }
    }
}

/// The three ways to reach an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamKind<'a> {
    Http {
        url: &'a str,
        transport: HttpTransport,
    },
    Stdio {
        command: &'a [String],
    },
    Builtin(BuiltinServer),
}

/// The wire form of an HTTP upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpTransport {
    /// Streamable HTTP (MCP 2025-03-26 and later, including the 2026-07-28 stateless form).
    #[default]
    StreamableHttp,
    /// The HTTP+SSE transport of MCP 2024-11-05: `url` is the SSE endpoint.
    Sse,
}

/// Who shares a stdio child process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    /// One process for every caller.
    #[default]
    Shared,
    /// One process per tenant (callers without a tenant are refused).
    Tenant,
    /// One process per authenticated caller (by subject).
    User,
}

/// How callers of an upstream authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// Portcullis's own OAuth tokens.
    #[default]
    Oauth,
    /// Nobody: pattern 1, explicit and loud.
    None,
}

/// Servers built into the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuiltinServer {
    /// The demo MCP server with a few useful tools.
    Demo,
}

/// `[[roles]]`: a custom role beside the built-in ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    pub name: String,
    /// Roles whose permissions this one has too.
    #[serde(default)]
    pub inherits: Vec<String>,
    /// Permission patterns (see docs/permissions.md).
    #[serde(default)]
    pub permissions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `[tenants]`: how callers verified by validators are placed in tenants.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantsConfig {
    /// Lower-case email domain → tenant, for verified email addresses.
    pub by_email_domain: BTreeMap<String, String>,
    /// The claim naming the tenant, for validators without their own `tenant_claim`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
}

/// `[authorization]`: conditions beyond roles.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthorizationConfig {
    /// A file of Cedar `forbid` policies evaluated after the role decision (relative paths
    /// from the working directory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cedar_policies: Option<String>,
}

/// `[accounts]`: local accounts (pattern 4) and the browser sessions of people signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountsConfig {
    /// Whether people may sign in with a local username and password.
    pub enabled: bool,
    /// A browser session unused for this long ends.
    #[serde(with = "serde_duration")]
    pub session_idle_timeout: Duration,
    /// A browser session ends this long after sign-in, however much it is used.
    #[serde(with = "serde_duration")]
    pub session_absolute_timeout: Duration,
    /// The fewest characters a new password may have.
    pub min_password_length: usize,
    /// Whether a second factor is off, offered, or required of every account.
    pub mfa: MfaPolicy,
    /// The policy of the accounts of a tenant, where it differs from `mfa`.
    pub mfa_by_tenant: BTreeMap<String, MfaPolicy>,
    /// The policy of the accounts granted a role; the strictest that applies wins.
    pub mfa_by_role: BTreeMap<String, MfaPolicy>,
    /// Roles granted (everywhere) to every account `portcullis admin user create` makes.
    pub default_roles: Vec<String>,
}

/// Second factors for local accounts, from the loosest to the strictest (the order `Ord` has).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MfaPolicy {
    /// Never asked for; enrolment is not offered.
    Off,
    /// Asked for at sign-in from accounts that enrolled one; enrolment is offered.
    #[default]
    Optional,
    /// Every account must enrol one at its next sign-in and give it at every sign-in.
    Required,
}

impl AccountsConfig {
    /// The policy for an account in `tenant`.
    pub fn mfa_for(&self, tenant: Option<&str>) -> MfaPolicy {
        tenant
            .and_then(|t| self.mfa_by_tenant.get(t))
            .copied()
            .unwrap_or(self.mfa)
    }
}

impl Default for AccountsConfig {
    fn default() -> Self {
        AccountsConfig {
            enabled: true,
            session_idle_timeout: Duration::from_secs(12 * 3600),
            session_absolute_timeout: Duration::from_secs(7 * 86_400),
            min_password_length: 12,
            mfa: MfaPolicy::Optional,
            mfa_by_tenant: BTreeMap::new(),
            mfa_by_role: BTreeMap::new(),
            default_roles: Vec::new(),
        }
    }
}
