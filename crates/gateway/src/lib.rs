//! The MCP relay: `/servers/{name}/mcp` for every `[[upstreams]]` entry.
//!
//! Each request is checked in a fixed order — upstream exists, `Host`/`Origin` allowed, caller
//! authenticated, body within limits and read once by `portcullis_proto::jsonrpc::inspect`,
//! mirrored headers agree with the body, session live — and only then relayed. Upstreams are
//! Streamable HTTP servers (relayed byte for byte, streamed), or are bridged to Streamable HTTP:
//! legacy HTTP+SSE servers and stdio child processes (`bridge`). Each upstream has its own
//! connection pool, timeouts and in-flight cap, so one failing upstream never affects another.

pub mod audit;
pub mod auth;
mod authorize;
mod body;
mod bridge;
mod error;
pub mod fetch;
mod filter;
mod headers;
mod http;
pub mod identity;
mod identity_token;
mod isolation;
mod provider_token;
mod rate_limit;

pub use provider_token::ProviderTokenSource;
mod origin;
mod pool;
mod sessions;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ::http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use ::http::request::Parts;
use ::http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};
use axum::body::Body;
use bytes::Bytes;
use http_body_util::BodyExt;
use portcullis_core::auth::{
    ApiKeyValidator, PortcullisTokens, Principal, RevocationList, Validator,
};
use portcullis_core::config::{
    AuthMode, BuiltinServer, Config, HttpTransport, Isolation, UpstreamConfig, UpstreamKind,
};
use portcullis_proto::jsonrpc::{self, Limits};
use portcullis_proto::mcp;
use portcullis_store::Store;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

pub use auth::{AuthFailure, Authenticator, Caller, ResourceChallenge};
pub use authorize::{PolicySlot, facts};
pub use error::RelayError;
pub use origin::OriginPolicy;
pub use sessions::{SessionInfo, Sessions};

use crate::authorize::{Rights, UpstreamRules};
use crate::bridge::Bridge;
use crate::filter::{ListFilter, Targets};
use crate::http::HttpUpstream;

/// A configuration the gateway cannot run.
#[derive(Debug, thiserror::Error)]
#[error("upstream {upstream:?}: {message}")]
pub struct GatewayError {
    pub upstream: String,
    pub message: String,
}

enum Transport {
    Http(Box<HttpUpstream>),
    Bridge(Arc<Bridge>),
    /// A stdio upstream with a child process per tenant or user.
    Isolated(Box<isolation::Isolated>),
}

/// Where one request goes.
enum Route<'a> {
    Http(&'a HttpUpstream),
    Bridge(Arc<Bridge>),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Http(h) => write!(f, "Http({})", h.uri()),
            Transport::Bridge(b) => write!(f, "Bridge({})", b.describe()),
            Transport::Isolated(i) => write!(f, "Bridge({})", i.describe()),
        }
    }
}

#[derive(Debug)]
struct Upstream {
    name: String,
    auth: AuthMode,
    /// The canonical resource URL, `{public_url}/servers/{name}/mcp`.
    resource: String,
    /// The validators of its `accept` list, in order (empty for `auth = "none"`).
    validators: Vec<Arc<dyn Validator>>,
    challenge: Arc<ResourceChallenge>,
    identity_headers: bool,
    /// Where the identity token goes (`identity_token_header`), when it is asked for.
    identity_token: Option<HeaderName>,
    /// The static credential Portcullis sends to this upstream (`credential_env`).
    credential: Option<(HeaderName, HeaderValue)>,
    /// The identity provider whose token for the caller goes to this upstream, and where
    /// (`pass_provider_token`, `provider_token_header`).
    provider_token: Option<(String, HeaderName)>,
    scopes: Vec<String>,
    /// Its `authenticated_roles` and `scope_permissions`.
    rules: Arc<UpstreamRules>,
    transport: Transport,
    in_flight: Arc<Semaphore>,
    streams: Arc<Semaphore>,
    busy: metrics::Counter,
    decision_counts: Decisions,
    /// Its `tool_rate_limits`.
    tool_limits: rate_limit::ToolLimits,
}

/// The admin REST API as a protected resource: Portcullis's own access tokens issued for
/// `{public_url}/admin/api/v1`, and Portcullis API keys and service tokens.
#[derive(Debug)]
struct AdminResource {
    resource: String,
    validators: Vec<Arc<dyn Validator>>,
    challenge: Arc<ResourceChallenge>,
}

/// The path of the admin REST API under `public_url`.
pub use portcullis_core::oauth::ADMIN_API_PATH;
/// The name the credential cache files admin API callers under: not an upstream name (those
/// hold no space), so a credential verified for an upstream is not taken for the admin API.
const ADMIN_CACHE_NAME: &str = "admin api";

/// Every upstream, and the shared checks in front of them.
#[derive(Debug)]
pub struct Gateway {
    upstreams: HashMap<String, Upstream>,
    admin: AdminResource,
    authenticator: Authenticator,
    /// Revoked Portcullis access tokens and grants, consulted by the `portcullis` validator.
    revocations: Arc<RevocationList>,
    /// Moves whenever revocations reach this process, so guarded streams look at theirs.
    revoked: tokio::sync::watch::Sender<u64>,
    /// How long a revocation is remembered: the longest an access token lives, and a margin.
    revocation_retention: Duration,
    identity_tokens: identity_token::IdentityTokens,
    public_url: String,
    policy: OriginPolicy,
    limits: Limits,
    max_body_bytes: usize,
    sessions: Arc<Sessions>,
    /// Cancelled when a graceful shutdown starts: standalone streams end.
    shutdown_started: CancellationToken,
    /// Provider tokens for upstreams with `pass_provider_token` (set at start-up).
    provider_tokens: std::sync::OnceLock<provider_token::ProviderTokenSource>,
    /// Cancelled when the shutdown deadline passes: every relayed body ends.
    shutdown_deadline: CancellationToken,
    /// Roles and grants: what authenticated callers may do.
    policy_slot: PolicySlot,
    /// `[authorization] cedar_policies`, parsed and validated once at start-up.
    conditions: Option<Arc<portcullis_policy::Conditions>>,
    denied: metrics::Counter,
    /// Authorization decisions for the audit log, written in the background.
    decisions: audit::DecisionLog,
    /// `[rate_limits] mcp_per_*` and the buckets every rate limit draws from.
    rate_limits: rate_limit::McpLimits,
}

/// `portcullis_authorization_decisions_total` of one upstream, by decision.
#[derive(Debug)]
struct Decisions {
    allow: metrics::Counter,
    deny: metrics::Counter,
    step_up: metrics::Counter,
}

impl Decisions {
    fn new(upstream: &str) -> Self {
        let counter = |decision: &'static str| metrics::counter!("portcullis_authorization_decisions_total", "upstream" => upstream.to_owned(), "decision" => decision);
        Decisions {
            allow: counter("allow"),
            deny: counter("deny"),
            step_up: counter("step_up"),
        }
    }

    fn count<T>(&self, decision: &Result<T, authorize::Refusal>) {
        match decision {
            Ok(_) => &self.allow,
            Err(authorize::Refusal::StepUp(_)) => &self.step_up,
            Err(_) => &self.deny,
        }
        .increment(1);
    }
}

impl Gateway {
    /// Builds every upstream. `builtin_url` gives the loopback URL of a built-in server;
    /// `validators` are the configured `[[validators]]` (the built-in `api_key` is added here);
    /// `env_var` reads the environment variables named by `*_env` keys; `signing_keys` sign
    /// identity tokens (required when an upstream asks for them).
    pub fn new(
        config: &Config,
        store: Arc<dyn Store>,
        builtin_url: &dyn Fn(BuiltinServer) -> Option<String>,
        validators: Vec<Arc<dyn Validator>>,
        env_var: &dyn Fn(&str) -> Option<String>,
        signing_keys: Option<Arc<portcullis_core::signing::LiveKeys>>,
    ) -> Result<Gateway, GatewayError> {
        let loopback = config
            .server
            .listen
            .parse::<std::net::SocketAddr>()
            .is_ok_and(|a| a.ip().is_loopback());
        let policy = OriginPolicy::new(
            &config.server.public_url,
            &config.server.allowed_origins,
            &config.server.allowed_hosts,
            loopback,
        );
        let mut known: HashMap<String, Arc<dyn Validator>> = validators
            .into_iter()
            .map(|v| (v.id().to_owned(), v))
            .collect();
        known.insert(
            portcullis_core::auth::api_key::API_KEY_VALIDATOR.to_owned(),
            Arc::new(ApiKeyValidator::new(store.clone())),
        );
        let public_url = config.server.public_url.trim_end_matches('/').to_owned();
        let revocations = Arc::new(RevocationList::default());
        // Portcullis's own access tokens, for every upstream with `auth = "oauth"`.
        let own_tokens: Option<Arc<dyn Validator>> = signing_keys.as_ref().map(|keys| {
            Arc::new(PortcullisTokens::new(
                &public_url,
                keys.clone(),
                revocations.clone(),
            )) as Arc<dyn Validator>
        });
        let admin = AdminResource {
            resource: format!("{public_url}{ADMIN_API_PATH}"),
            validators: own_tokens
                .iter()
                .cloned()
                .chain(
                    known
                        .get(portcullis_core::auth::api_key::API_KEY_VALIDATOR)
                        .cloned(),
                )
                .collect(),
            challenge: Arc::new(ResourceChallenge {
                resource_metadata: format!(
                    "{public_url}/.well-known/oauth-protected-resource{ADMIN_API_PATH}"
                ),
                scopes: Vec::new(),
            }),
        };
        let identity_tokens = identity_token::IdentityTokens::new(signing_keys, &public_url);
        let decisions = audit::DecisionLog::new(&config.audit, store.clone());
        let sessions = Arc::new(Sessions::new(store));
        let shutdown_deadline = CancellationToken::new();
        let custom_roles: Vec<portcullis_policy::RoleDefinition> = config
            .roles
            .iter()
            .map(|r| portcullis_policy::RoleDefinition {
                name: r.name.clone(),
                inherits: r.inherits.clone(),
                permissions: r.permissions.clone(),
            })
            .collect();
        // Until the store's grants are loaded (`policy`), only `authenticated_roles` allow.
        let roles = portcullis_policy::RoleSet::build(&custom_roles).map_err(|e| GatewayError {
            upstream: String::new(),
            message: format!("roles: {e}"),
        })?;
        let initial_policy =
            portcullis_policy::Policy::new(roles, Vec::new()).map_err(|e| GatewayError {
                upstream: String::new(),
                message: format!("roles: {e}"),
            })?;
        let mut upstreams = HashMap::new();
        for up in &config.upstreams {
            let error = |message: String| GatewayError {
                upstream: up.name.clone(),
                message,
            };
            let transport = match up.kind() {
                UpstreamKind::Http {
                    url,
                    transport: HttpTransport::StreamableHttp,
                } => Transport::Http(Box::new(http_upstream(up, url).map_err(error)?)),
                UpstreamKind::Builtin(server) => {
                    let url = builtin_url(server).ok_or_else(|| {
                        error(format!("the built-in server {server:?} is not running"))
                    })?;
                    Transport::Http(Box::new(http_upstream(up, &url).map_err(error)?))
                }
                UpstreamKind::Http {
                    url,
                    transport: HttpTransport::Sse,
                } => Transport::Bridge(Arc::new(
                    Bridge::legacy_sse(up, url, shutdown_deadline.clone()).map_err(error)?,
                )),
                UpstreamKind::Stdio { command } if up.isolation != Isolation::Shared => {
                    Transport::Isolated(Box::new(isolation::Isolated::new(
                        up,
                        command,
                        shutdown_deadline.clone(),
                    )))
                }
                UpstreamKind::Stdio { command } => Transport::Bridge(Arc::new(
                    Bridge::stdio(up, command, shutdown_deadline.clone()).map_err(error)?,
                )),
            };
            let validators = match up.auth {
                AuthMode::None => Vec::new(),
                AuthMode::Oauth => own_tokens
                    .iter()
                    .cloned()
                    .map(Ok)
                    .chain(up.accept.iter().map(|id| {
                        known
                            .get(id)
                            .cloned()
                            .ok_or_else(|| error(format!("accept: no validator {id:?}")))
                    }))
                    .collect::<Result<_, _>>()?,
            };
            let credential = match &up.credential_env {
                None => None,
                Some(var) => {
                    let value = env_var(var).ok_or_else(|| {
                        error(format!(
                            "credential_env: the environment variable {var} is not set"
                        ))
                    })?;
                    let name = HeaderName::from_bytes(up.credential_header.as_bytes())
                        .map_err(|_| error("credential_header: not a header name".to_owned()))?;
                    let mut value = HeaderValue::from_str(&value).map_err(|_| {
                        error(format!("credential_env: {var} is not a valid header value"))
                    })?;
                    value.set_sensitive(true);
                    Some((name, value))
                }
            };
            let provider_token = match &up.pass_provider_token {
                None => None,
                Some(provider) => Some((
                    provider.clone(),
                    HeaderName::from_bytes(up.provider_token_header.as_bytes()).map_err(|_| {
                        error("provider_token_header: not a header name".to_owned())
                    })?,
                )),
            };
            let identity_token = if up.identity_token {
                if !identity_tokens.can_sign() {
                    return Err(error(
                        "identity_token: Portcullis has no signing key".to_owned(),
                    ));
                }
                Some(
                    HeaderName::from_bytes(up.identity_token_header.as_bytes()).map_err(|_| {
                        error("identity_token_header: not a header name".to_owned())
                    })?,
                )
            } else {
                None
            };
            let scopes = portcullis_policy::ScopeRules::new(up.scopes.iter().filter_map(|scope| {
                up.scope_permissions
                    .get(scope)
                    .map(|patterns| (scope.as_str(), patterns.split_ascii_whitespace()))
            }))
            .map_err(|e| error(format!("scope_permissions: {e}")))?;
            let rules = Arc::new(UpstreamRules {
                name: up.name.clone(),
                roles: up.authenticated_roles.clone(),
                scopes,
                hints: authorize::HintCache::default(),
            });
            if up.auth == AuthMode::None {
                tracing::warn!(upstream = %up.name, "UNAUTHENTICATED: anyone who can reach /servers/{}/mcp can use this MCP server (auth = \"none\")", up.name);
            }
            upstreams.insert(
                up.name.clone(),
                Upstream {
                    name: up.name.clone(),
                    auth: up.auth,
                    resource: format!("{public_url}/servers/{}/mcp", up.name),
                    validators,
                    challenge: Arc::new(ResourceChallenge {
                        resource_metadata: format!(
                            "{public_url}/.well-known/oauth-protected-resource/servers/{}/mcp",
                            up.name
                        ),
                        scopes: up.scopes.clone(),
                    }),
                    identity_headers: up.identity_headers,
                    identity_token,
                    credential,
                    provider_token,
                    scopes: up.scopes.clone(),
                    rules,
                    transport,
                    in_flight: Arc::new(Semaphore::new(up.max_in_flight)),
                    streams: Arc::new(Semaphore::new(up.max_streams)),
                    busy: metrics::counter!("portcullis_upstream_errors_total", "upstream" => up.name.clone(), "reason" => "busy"),
                    decision_counts: Decisions::new(&up.name),
                    tool_limits: rate_limit::ToolLimits::new(&up.tool_rate_limits),
                },
            );
        }
        Ok(Gateway {
            upstreams,
            admin,
            authenticator: Authenticator::new(),
            revocations,
            revoked: tokio::sync::watch::Sender::new(0),
            revocation_retention: config.tokens.access_token_ttl + Duration::from_secs(300),
            identity_tokens,
            public_url,
            policy,
            limits: Limits {
                max_depth: config.server.max_json_depth,
            },
            max_body_bytes: config.server.max_body_bytes,
            sessions,
            shutdown_started: CancellationToken::new(),
            provider_tokens: std::sync::OnceLock::new(),
            shutdown_deadline,
            policy_slot: PolicySlot::new(initial_policy),
            conditions: None,
            denied: metrics::counter!("portcullis_authorization_denied_total"),
            decisions,
            rate_limits: rate_limit::McpLimits::new(&config.rate_limits),
        })
    }

    /// The audit trail of authorization decisions (and whether the audit log is on at all).
    pub fn decisions(&self) -> &audit::DecisionLog {
        &self.decisions
    }

    /// Puts `conditions` in force: every request the roles allow is then evaluated against
    /// them, and refused when one forbids it.
    pub fn with_conditions(mut self, conditions: portcullis_policy::Conditions) -> Gateway {
        self.conditions = Some(Arc::new(conditions));
        self
    }

    /// Makes MCP rate limits draw from `limiter` (once; a second call changes nothing): Redis,
    /// shared with other replicas. Until then they use this process's own buckets.
    pub fn set_rate_limiter(&self, limiter: Arc<dyn portcullis_core::rate_limit::Limiter>) {
        self.rate_limits.set_limiter(limiter);
    }

    /// The roles and grants in force; `replace` it when they change.
    pub fn policy(&self) -> &PolicySlot {
        &self.policy_slot
    }

    /// Decides every message of a request for `caller`; on success, the filter its answer
    /// needs (list results the caller may see only part of).
    fn authorize(
        &self,
        upstream: &Upstream,
        caller: &Arc<Principal>,
        body: &jsonrpc::Body,
        origin: Option<&audit::RequestOrigin>,
    ) -> Result<Option<ListFilter>, RelayError> {
        let rights = Rights::new(
            self.policy_slot.current(),
            caller.clone(),
            upstream.rules.clone(),
        )
        .with_conditions(self.conditions.clone());
        // Conditions on the time see one instant for the whole body.
        let now = if self.conditions.is_some() {
            time::OffsetDateTime::now_utc().unix_timestamp()
        } else {
            0
        };
        let messages = match body {
            jsonrpc::Body::Single(m) => std::slice::from_ref(m),
            jsonrpc::Body::Batch(ms) => ms.as_slice(),
        };
        let mut targets = Vec::new();
        for message in messages {
            let decision = authorize::check(&rights, message, now);
            upstream.decision_counts.count(&decision);
            // Methods every caller may use (the handshake, pings, notifications) are not
            // authorization decisions worth a record.
            if let Some(method) = message.method.as_deref()
                && authorize::needs_permission(method)
            {
                let name = message.name.as_deref().or(message.uri.as_deref());
                let refusal = decision.as_ref().err().map(authorize::Refusal::reason);
                self.decisions.decision(
                    origin,
                    caller,
                    &upstream.name,
                    method,
                    name,
                    refusal.as_deref(),
                );
            }
            match decision {
                Ok(None) => {}
                Ok(Some(kind)) => {
                    if let Some(id) = message
                        .id
                        .and_then(|id| serde_json::from_str(id.get()).ok())
                    {
                        targets.push((id, kind));
                    }
                }
                Err(refusal) => {
                    self.denied.increment(1);
                    let (policy, error) = match &refusal {
                        authorize::Refusal::Condition(outcome) => (
                            outcome.policy(),
                            match outcome {
                                portcullis_policy::Outcome::Failed { error, .. } => {
                                    Some(error.as_str())
                                }
                                _ => None,
                            },
                        ),
                        _ => (None, None),
                    };
                    tracing::info!(
                        upstream = %upstream.name,
                        subject = %caller.subject,
                        method = message.method.as_deref().unwrap_or_default(),
                        name = message.name.as_deref().or(message.uri.as_deref()).unwrap_or_default(),
                        step_up = matches!(refusal, authorize::Refusal::StepUp(_)),
                        policy,
                        evaluation_error = error,
                        "MCP request refused by the authorization policy"
                    );
                    if let Some(error) = error {
                        // A policy that fails is the operator's to fix: it refuses until then.
                        tracing::warn!(
                            upstream = %upstream.name,
                            policy,
                            error,
                            "a condition could not be evaluated: the request was refused"
                        );
                    }
                    if messages.len() > 1 {
                        return Err(RelayError::Refused {
                            code: mcp::code::INVALID_REQUEST,
                            message: "the batch holds a request this caller may not make"
                                .to_owned(),
                            id: None,
                        });
                    }
                    return Err(refusal.into_error(
                        &rights,
                        upstream.challenge.clone(),
                        message.id,
                    ));
                }
            }
        }
        Ok((!targets.is_empty()).then(|| ListFilter {
            rights,
            targets: Targets::Ids(targets),
            upstream: upstream.name.clone(),
        }))
    }

    /// Guards a long-lived stream of `caller` (see `filter::guard_stream`).
    fn guard_stream(
        &self,
        upstream: &Upstream,
        caller: &Arc<Principal>,
        response: Response<Body>,
    ) -> Response<Body> {
        let rights = Rights::new(
            self.policy_slot.current(),
            caller.clone(),
            upstream.rules.clone(),
        );
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let expires = caller.expires_at.map(|at| {
            let left = u64::try_from(at.saturating_sub(now)).unwrap_or(0);
            tokio::time::Instant::now() + std::time::Duration::from_secs(left)
        });
        filter::guard_stream(
            response,
            rights,
            self.policy_slot.watch(),
            upstream.name.clone(),
            filter::Liveness {
                caller: caller.clone(),
                revocations: self.revocations.clone(),
                revoked: self.revoked.subscribe(),
                expires,
            },
        )
    }

    /// The `Host`/`Origin` policy, shared with the CORS layer.
    pub fn origin_policy(&self) -> &OriginPolicy {
        &self.policy
    }

    /// Is `name` a configured upstream?
    pub fn has_upstream(&self, name: &str) -> bool {
        self.upstreams.contains_key(name)
    }

    /// The session registry (the janitor purges it).
    pub fn sessions(&self) -> &Arc<Sessions> {
        &self.sessions
    }

    /// Starts the child processes of stdio upstreams; returns once each has been spawned once.
    pub async fn start(&self) {
        for up in self.upstreams.values() {
            if let Transport::Bridge(b) = &up.transport {
                b.start().await;
            }
        }
    }

    /// Ends bridged sessions unused for `idle`; returns how many ended.
    pub fn sweep_bridges(&self, idle: Duration) -> usize {
        self.upstreams
            .values()
            .map(|up| match &up.transport {
                Transport::Bridge(b) => b.sweep(idle),
                Transport::Http(_) | Transport::Isolated(_) => 0,
            })
            .sum()
    }

    /// Stops the per-tenant and per-user child processes unused for `idle` with no session
    /// open; returns how many stopped.
    pub async fn stop_idle_instances(&self, idle: Duration) -> usize {
        let mut stopped = 0;
        for up in self.upstreams.values() {
            if let Transport::Isolated(i) = &up.transport {
                stopped += i.stop_idle(idle).await;
            }
        }
        stopped
    }

    /// How many per-tenant or per-user child processes upstream `name` runs now.
    pub async fn running_instances(&self, name: &str) -> usize {
        match self.upstreams.get(name).map(|u| &u.transport) {
            Some(Transport::Isolated(i)) => i.running().await,
            _ => 0,
        }
    }

    /// Where a request of `caller` to `upstream` goes (starting its isolated child if needed).
    async fn route<'a>(
        &self,
        upstream: &'a Upstream,
        caller: Option<&Arc<Principal>>,
    ) -> Result<Route<'a>, RelayError> {
        Ok(match &upstream.transport {
            Transport::Http(http) => Route::Http(http),
            Transport::Bridge(bridge) => Route::Bridge(bridge.clone()),
            Transport::Isolated(isolated) => {
                Route::Bridge(isolated.bridge_for(caller.map(Arc::as_ref)).await?)
            }
        })
    }

    /// A graceful shutdown began: standalone streams end now, requests drain.
    pub fn begin_shutdown(&self) {
        self.shutdown_started.cancel();
    }

    /// The shutdown deadline passed: every relayed body ends, child processes stop.
    pub async fn finish_shutdown(&self) {
        self.shutdown_deadline.cancel();
        for up in self.upstreams.values() {
            match &up.transport {
                Transport::Bridge(b) => b.stop().await,
                Transport::Isolated(i) => i.stop().await,
                Transport::Http(_) => {}
            }
        }
    }

    fn upstream(&self, name: &str) -> Result<&Upstream, RelayError> {
        self.upstreams
            .get(name)
            .ok_or_else(|| RelayError::UnknownUpstream(name.to_owned()))
    }

    /// The upstream named `name`, looked up once for everything a request does with it.
    pub fn find(&self, name: &str) -> Option<UpstreamRef<'_>> {
        self.upstreams.get(name).map(UpstreamRef)
    }

    /// The checks every method shares (the upstream is known): Host/Origin, authentication.
    async fn admit<'g>(
        &self,
        upstream: UpstreamRef<'g>,
        parts: &Parts,
    ) -> Result<Admitted<'g>, RelayError> {
        let upstream = upstream.0;
        self.policy
            .check(&parts.headers, parts.uri.authority().map(|a| a.as_str()))?;
        let principal = match upstream.auth {
            AuthMode::None => None,
            AuthMode::Oauth => {
                let address = parts
                    .extensions
                    .get::<audit::RequestOrigin>()
                    .and_then(|o| o.source);
                Some(
                    self.authenticate_upstream(
                        upstream,
                        &parts.headers,
                        parts.uri.query(),
                        address,
                    )
                    .await?,
                )
            }
        };
        Ok(Admitted {
            upstream,
            principal,
        })
    }

    /// Authenticates a request from `address` (`None`: not known) for `upstream`. A credential
    /// the cache does not know first takes from `rate_limits.credential_check`: validators may
    /// take it to the network.
    async fn authenticate_upstream(
        &self,
        upstream: &Upstream,
        headers: &HeaderMap,
        query: Option<&str>,
        address: Option<std::net::IpAddr>,
    ) -> Result<Arc<Caller>, RelayError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        match self.authenticator.lookup(&upstream.name, headers, now) {
            auth::Lookup::Hit(caller) if query.is_none() => return Ok(caller),
            auth::Lookup::Hit(_) | auth::Lookup::Nothing => {}
            auth::Lookup::Miss => self.rate_limits.take_credential_check(address).await?,
        }
        self.authenticator
            .authenticate(
                &upstream.name,
                &upstream.resource,
                &upstream.validators,
                headers,
                query,
                now,
            )
            .await
            .map_err(|failure| RelayError::Unauthenticated {
                failure,
                challenge: upstream.challenge.clone(),
            })
    }

    /// Authenticates a request from `address` for upstream `name` the way its MCP endpoint
    /// would, for ForwardAuth: `Ok(None)` for an `auth = "none"` upstream, the caller otherwise.
    pub async fn authenticate(
        &self,
        name: &str,
        headers: &HeaderMap,
        query: Option<&str>,
        address: Option<std::net::IpAddr>,
    ) -> Result<Option<Arc<Principal>>, RelayError> {
        let upstream = self.upstream(name)?;
        match upstream.auth {
            AuthMode::None => Ok(None),
            AuthMode::Oauth => self
                .authenticate_upstream(upstream, headers, query, address)
                .await
                .map(|caller| Some(caller.principal().clone())),
        }
    }

    /// Authenticates a caller of the admin REST API from `address`: a Portcullis access token
    /// issued for `{public_url}/admin/api/v1`, or a Portcullis API key or service token. What it
    /// may do there is for the policy to say.
    pub async fn authenticate_admin(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
        address: Option<std::net::IpAddr>,
    ) -> Result<Arc<Principal>, RelayError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        match self.authenticator.lookup(ADMIN_CACHE_NAME, headers, now) {
            auth::Lookup::Hit(caller) if query.is_none() => return Ok(caller.principal().clone()),
            auth::Lookup::Hit(_) | auth::Lookup::Nothing => {}
            auth::Lookup::Miss => self.rate_limits.take_credential_check(address).await?,
        }
        self.authenticator
            .authenticate(
                ADMIN_CACHE_NAME,
                &self.admin.resource,
                &self.admin.validators,
                headers,
                query,
                now,
            )
            .await
            .map(|caller| caller.principal().clone())
            .map_err(|failure| RelayError::Unauthenticated {
                failure,
                challenge: self.admin.challenge.clone(),
            })
    }

    /// The RFC 9728 metadata of the admin REST API.
    pub fn admin_resource_metadata(&self) -> portcullis_proto::oauth::ProtectedResourceMetadata {
        portcullis_proto::oauth::ProtectedResourceMetadata {
            resource: self.admin.resource.clone(),
            authorization_servers: vec![self.public_url.clone()],
            scopes_supported: Vec::new(),
            bearer_methods_supported: vec!["header".to_owned()],
            resource_name: Some("Portcullis admin API".to_owned()),
        }
    }

    /// The conditions in force (`[authorization] cedar_policies`), when there are some.
    pub fn conditions(&self) -> Option<&Arc<portcullis_policy::Conditions>> {
        self.conditions.as_ref()
    }

    /// The names of the upstreams and their canonical resource URLs.
    pub fn resources(&self) -> impl Iterator<Item = (&str, &str)> {
        self.upstreams
            .values()
            .map(|u| (u.name.as_str(), u.resource.as_str()))
    }

    /// The verified-credential cache, for revocations to reach it.
    pub fn authenticator(&self) -> &Authenticator {
        &self.authenticator
    }

    /// Drops from the verified-credential cache every API key, service token, Portcullis access
    /// token and grant revoked at or after `since` (by whichever replica), so a revocation made
    /// anywhere takes effect here on the next request. Returns how many revocations were new to
    /// this call's `seen`.
    pub async fn drop_revoked(
        &self,
        store: &dyn Store,
        since: time::OffsetDateTime,
        seen: &mut std::collections::HashSet<String>,
    ) -> Result<usize, portcullis_store::StoreError> {
        let mut new = 0;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        for key in store.api_keys_revoked_since(since).await? {
            if seen.insert(format!("key:{}", key.id)) {
                self.authenticator.forget(key.secret_hash);
                // An API key's principal carries the key's id as its credential id.
                self.revocations.revoke_token(&key.id, now);
                new += 1;
            }
        }
        let mut tokens_revoked = false;
        for grant in store.grants_revoked_since(since).await? {
            if seen.insert(format!("grant:{}", grant.id)) {
                self.revocations.revoke_grant(&grant.id, now);
                tokens_revoked = true;
                new += 1;
            }
        }
        for token in store.access_tokens_revoked_since(since).await? {
            if seen.insert(format!("jti:{}", token.jti)) {
                self.revocations.revoke_token(&token.jti, now);
                tokens_revoked = true;
                new += 1;
            }
        }
        if tokens_revoked {
            self.authenticator.forget_revoked(&self.revocations);
        }
        if new > 0 {
            self.revoked.send_modify(|n| *n = n.wrapping_add(1));
        }
        self.revocations
            .prune(now - i64::try_from(self.revocation_retention.as_secs()).unwrap_or(i64::MAX));
        Ok(new)
    }

    /// Turns on provider tokens for upstreams with `pass_provider_token` (once; a second call
    /// changes nothing). Until then such upstreams answer 403 to everyone.
    pub fn set_provider_tokens(&self, source: ProviderTokenSource) {
        let _ = self.provider_tokens.set(source);
    }

    /// Forgets the provider tokens of `user_id` held in memory (after their grants ended).
    pub fn forget_provider_tokens(&self, user_id: &str) {
        if let Some(source) = self.provider_tokens.get() {
            source.forget_user(user_id);
        }
    }

    /// Whether a Portcullis access token (its `jti`) or its grant is known to be revoked.
    pub fn is_revoked(&self, jti: Option<&str>, grant_id: Option<&str>) -> bool {
        self.revocations.revokes(&Principal {
            token_id: jti.map(str::to_owned),
            grant_id: grant_id.map(str::to_owned),
            ..Principal::default()
        })
    }

    /// Refuses a Portcullis access token (by `jti`) or every token of a grant from now on, in
    /// this process at once (the authorization server calls this when it revokes; other
    /// replicas learn it from the store).
    pub fn revoke_tokens(&self, jti: Option<&str>, grant_id: Option<&str>) {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        if let Some(jti) = jti {
            self.revocations.revoke_token(jti, now);
        }
        if let Some(grant_id) = grant_id {
            self.revocations.revoke_grant(grant_id, now);
        }
        self.authenticator.forget_revoked(&self.revocations);
        self.revoked.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The RFC 9728 metadata of upstream `name`; `None` for an unknown upstream or one with
    /// `auth = "none"` (there is nothing to authorize).
    pub fn protected_resource_metadata(
        &self,
        name: &str,
    ) -> Option<portcullis_proto::oauth::ProtectedResourceMetadata> {
        let upstream = self.upstreams.get(name)?;
        if upstream.auth == AuthMode::None {
            return None;
        }
        // Portcullis's own authorization server first: upstreams with `auth = "oauth"` accept
        // its tokens. Then the issuers of accepted validators that clients can get tokens from.
        let mut authorization_servers = vec![self.public_url.clone()];
        for validator in &upstream.validators {
            if let Some(issuer) = validator.authorization_server()
                && !authorization_servers.iter().any(|s| s == issuer)
            {
                authorization_servers.push(issuer.to_owned());
            }
        }
        Some(portcullis_proto::oauth::ProtectedResourceMetadata {
            resource: upstream.resource.clone(),
            authorization_servers,
            scopes_supported: upstream.scopes.clone(),
            bearer_methods_supported: vec!["header".to_owned()],
            resource_name: Some(upstream.name.clone()),
        })
    }

    /// What Portcullis adds to a request it relays to `upstream` for `caller`: the caller's
    /// identity-provider token, the identity headers (the caller's own, written once per verified
    /// credential), the identity token and the upstream's own static credential. Nothing is
    /// allocated when there is none of them.
    async fn added_headers<'c>(
        &self,
        upstream: &Upstream,
        caller: Option<&'c Arc<Caller>>,
    ) -> Result<Added<'c>, RelayError> {
        let mut added = Added::default();
        if let Some((provider, header)) = &upstream.provider_token {
            // Boxed: a store read and perhaps a refresh at the provider, only for the upstreams
            // that ask for it.
            let value = Box::pin(provider_token::header_value(
                self.provider_tokens.get(),
                &upstream.name,
                provider,
                header,
                caller.map(|c| c.principal().as_ref()),
            ))
            .await?;
            added.first = Some((header.clone(), value));
        }
        if let Some(caller) = caller {
            if upstream.identity_headers {
                added.identity = Some(caller.identity_headers());
            }
            if let Some(header) = &upstream.identity_token {
                let token = self.identity_tokens.get(upstream, caller.principal())?;
                added.last.insert(header.clone(), token);
            }
        }
        if let Some((name, value)) = &upstream.credential {
            added.last.insert(name.clone(), value.clone());
        }
        Ok(added)
    }

    /// The JWKS that verifies identity tokens (and, later, Portcullis's access tokens).
    pub fn jwks(&self, now: time::OffsetDateTime) -> serde_json::Value {
        self.identity_tokens.jwks(now)
    }

    /// Looks a session up and checks it belongs to the caller: another principal's session, or
    /// one created without authentication used with it (or the reverse), is unknown (404).
    async fn session(
        &self,
        name: &str,
        session_id: &str,
        principal: Option<&Principal>,
    ) -> Result<SessionInfo, RelayError> {
        match self.sessions.lookup(name, session_id).await? {
            Some(info) if info.principal.as_deref() == principal.map(|p| p.subject.as_str()) => {
                Ok(info)
            }
            Some(_) => {
                tracing::warn!(
                    upstream = name,
                    "session used by a principal that did not create it"
                );
                Err(RelayError::SessionNotFound { id: None })
            }
            None => Err(RelayError::SessionNotFound { id: None }),
        }
    }

    /// POST: one JSON-RPC message (or a batch, for revisions before 2025-06-18).
    pub async fn post(
        &self,
        upstream: UpstreamRef<'_>,
        parts: &Parts,
        body: Body,
    ) -> Result<Response<Body>, RelayError> {
        let name = upstream.name();
        let Admitted {
            upstream,
            principal: caller,
        } = self.admit(upstream, parts).await?;
        let caller = caller.as_ref();
        let principal = caller.map(|c| &**c.principal());
        require_json(&parts.headers)?;
        let bytes = read_body(body, &parts.headers, self.max_body_bytes).await?;
        let inspected =
            jsonrpc::inspect(&bytes, self.limits).map_err(|e| RelayError::BadMessage {
                code: e.code(),
                message: e.to_string(),
                id: None,
            })?;
        let single = match &inspected {
            jsonrpc::Body::Single(m) => Some(m),
            jsonrpc::Body::Batch(_) => None,
        };
        let request_id = single.and_then(|m| m.id);
        let header_version =
            headers::check_post(&parts.headers, &inspected).map_err(|e| e.with_id(request_id))?;
        let is_initialize = single.is_some_and(|m| m.method.as_deref() == Some("initialize"));
        let requested_version = single.and_then(|m| m.requested_version.as_deref());
        let stateless = header_version
            .or(single.and_then(|m| m.meta_version.as_deref()))
            .is_some_and(mcp::is_stateless);

        let session_id = if stateless || is_initialize {
            None
        } else {
            session_header(&parts.headers)?
        };
        let mut session_version = None;
        if let Some(sid) = session_id {
            let info = self
                .session(name, sid, principal)
                .await
                .map_err(|e| e.with_id(request_id))?;
            session_version = info.protocol_version;
        }
        let version = header_version
            .or(if is_initialize {
                requested_version
            } else {
                None
            })
            .or(session_version.as_deref())
            .unwrap_or(mcp::DEFAULT_NEGOTIATED_VERSION);
        if single.is_none() && !mcp::allows_batches(version) {
            return Err(RelayError::BadMessage {
                code: mcp::code::INVALID_REQUEST,
                message: format!("JSON-RPC batches are not allowed in protocol version {version}"),
                id: None,
            });
        }

        let filter = match caller {
            Some(caller) => self
                .authorize(
                    upstream,
                    caller.principal(),
                    &inspected,
                    parts.extensions.get::<audit::RequestOrigin>(),
                )
                .map_err(|e| e.with_id(request_id))?,
            None => None,
        };
        self.rate_limits
            .take(&upstream.name, &upstream.tool_limits, principal, &inspected)
            .await
            .map_err(|e| e.with_id(request_id))?;

        let permit = upstream
            .in_flight
            .clone()
            .try_acquire_owned()
            .map_err(|_| {
                upstream.busy.increment(1);
                RelayError::Busy {
                    upstream: upstream.name.clone(),
                    id: None,
                }
                .with_id(request_id)
            })?;
        match self
            .route(upstream, caller.map(|c| c.principal()))
            .await
            .map_err(|e| e.with_id(request_id))?
        {
            Route::Http(http) => {
                let response = http
                    .send(
                        Method::POST,
                        &parts.headers,
                        &self.added_headers(upstream, caller).await?,
                        // The inspection borrows from `bytes`: a second handle, not a copy.
                        bytes.clone(),
                        request_id,
                        Some(permit),
                        Some(self.shutdown_deadline.clone()),
                    )
                    .await?;
                // Sessions begin and end rarely: their store writes are boxed, so the future
                // of every other request stays small.
                if is_initialize && response.status().is_success() {
                    if let Some(sid) = response
                        .headers()
                        .get(headers::SESSION_ID)
                        .and_then(|v| v.to_str().ok())
                    {
                        Box::pin(self.sessions.register(
                            name,
                            sid,
                            requested_version,
                            subject(principal),
                        ))
                        .await?;
                    }
                } else if let Some(sid) = session_id
                    && response.status() == StatusCode::NOT_FOUND
                {
                    // The upstream ended the session on its own.
                    Box::pin(self.sessions.remove(name, sid)).await?;
                }
                filtered(filter, response, request_id).await
            }
            Route::Bridge(bridge) => {
                let Some(message) = single else {
                    return Err(RelayError::BadMessage {
                        code: mcp::code::INVALID_REQUEST,
                        message: "this MCP server does not accept batches".to_owned(),
                        id: None,
                    });
                };
                let post = bridge::Post {
                    bytes: bytes.clone(),
                    message,
                    session_id,
                    stateless,
                    accepts_sse: accepts(&parts.headers, "text/event-stream"),
                    version,
                    added: &self.added_headers(upstream, caller).await?.to_map(),
                };
                let response = Box::pin(self.post_bridged(
                    &bridge,
                    post,
                    permit,
                    name,
                    requested_version,
                    principal,
                ))
                .await?;
                filtered(filter, response, request_id).await
            }
        }
    }

    /// A POST to a bridged upstream (boxed by the caller: a large future, on a path that is
    /// not the common one).
    async fn post_bridged(
        &self,
        bridge: &Bridge,
        post: bridge::Post<'_>,
        permit: tokio::sync::OwnedSemaphorePermit,
        name: &str,
        requested_version: Option<&str>,
        principal: Option<&Principal>,
    ) -> Result<Response<Body>, RelayError> {
        let outcome = bridge.post(post, permit).await?;
        if let Some(created) = &outcome.created_session {
            self.sessions
                .register(name, created, requested_version, subject(principal))
                .await?;
        }
        Ok(outcome.response)
    }

    /// GET: the standalone server-to-client stream of a 2025-era session.
    pub async fn get(
        &self,
        upstream: UpstreamRef<'_>,
        parts: &Parts,
    ) -> Result<Response<Body>, RelayError> {
        let name = upstream.name();
        let Admitted {
            upstream,
            principal: caller,
        } = self.admit(upstream, parts).await?;
        let caller = caller.as_ref();
        let principal = caller.map(|c| &**c.principal());
        let version = headers::protocol_version(&parts.headers)?;
        let session_id = session_header(&parts.headers)?;
        if let Some(sid) = session_id {
            self.session(name, sid, principal).await?;
        }
        let permit =
            upstream
                .streams
                .clone()
                .try_acquire_owned()
                .map_err(|_| RelayError::Busy {
                    upstream: upstream.name.clone(),
                    id: None,
                })?;
        let response = match self.route(upstream, caller.map(|c| c.principal())).await? {
            Route::Http(http) => {
                // Standalone streams end as soon as a shutdown starts; the client reconnects
                // elsewhere with Last-Event-ID.
                http.send(
                    Method::GET,
                    &parts.headers,
                    &self.added_headers(upstream, caller).await?,
                    Bytes::new(),
                    None,
                    Some(permit),
                    Some(self.shutdown_started.clone()),
                )
                .await
            }
            Route::Bridge(bridge) => {
                if version.is_some_and(mcp::is_stateless) {
                    return Err(RelayError::MethodNotAllowed);
                }
                if !accepts(&parts.headers, "text/event-stream") {
                    return Err(RelayError::NotAcceptable(
                        "the GET stream needs Accept: text/event-stream",
                    ));
                }
                let Some(sid) = session_id else {
                    return Err(RelayError::SessionRequired {
                        message: "the GET stream needs an Mcp-Session-Id",
                        id: None,
                    });
                };
                let last_event_id = parts
                    .headers
                    .get(headers::LAST_EVENT_ID)
                    .and_then(|v| v.to_str().ok());
                bridge
                    .get(sid, last_event_id, permit, self.shutdown_started.clone())
                    .await
            }
        }?;
        Ok(match caller {
            Some(caller) => self.guard_stream(upstream, caller.principal(), response),
            None => response,
        })
    }

    /// DELETE: ends a 2025-era session.
    pub async fn delete(
        &self,
        upstream: UpstreamRef<'_>,
        parts: &Parts,
    ) -> Result<Response<Body>, RelayError> {
        let name = upstream.name();
        let Admitted {
            upstream,
            principal: caller,
        } = self.admit(upstream, parts).await?;
        let caller = caller.as_ref();
        let principal = caller.map(|c| &**c.principal());
        let version = headers::protocol_version(&parts.headers)?;
        let Some(sid) = session_header(&parts.headers)? else {
            return match &upstream.transport {
                Transport::Http(http) => {
                    http.send(
                        Method::DELETE,
                        &parts.headers,
                        &self.added_headers(upstream, caller).await?,
                        Bytes::new(),
                        None,
                        None,
                        None,
                    )
                    .await
                }
                Transport::Bridge(_) | Transport::Isolated(_)
                    if version.is_some_and(mcp::is_stateless) =>
                {
                    Err(RelayError::MethodNotAllowed)
                }
                Transport::Bridge(_) | Transport::Isolated(_) => Err(RelayError::SessionRequired {
                    message: "DELETE needs an Mcp-Session-Id",
                    id: None,
                }),
            };
        };
        self.session(name, sid, principal).await?;
        let response = match self.route(upstream, caller.map(|c| c.principal())).await? {
            Route::Http(http) => {
                http.send(
                    Method::DELETE,
                    &parts.headers,
                    &self.added_headers(upstream, caller).await?,
                    Bytes::new(),
                    None,
                    None,
                    None,
                )
                .await?
            }
            Route::Bridge(bridge) => bridge.delete(sid).await?,
        };
        if response.status().is_success() || response.status() == StatusCode::NOT_FOUND {
            self.sessions.remove(name, sid).await?;
        }
        Ok(response)
    }
}

/// A configured upstream, as [`Gateway::find`] found it.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamRef<'g>(&'g Upstream);

impl<'g> UpstreamRef<'g> {
    /// The upstream's configured name.
    pub fn name(&self) -> &'g str {
        &self.0.name
    }
}

/// A request that passed the shared checks.
struct Admitted<'a> {
    upstream: &'a Upstream,
    /// Who is calling; `None` for `auth = "none"`.
    principal: Option<Arc<Caller>>,
}

/// The headers Portcullis adds to a relayed request, in the order they are set (a later one
/// replaces an earlier one of the same name).
#[derive(Debug, Default)]
pub(crate) struct Added<'c> {
    /// The caller's identity-provider token.
    first: Option<(HeaderName, HeaderValue)>,
    /// The caller's identity headers, shared by every request with the same credential.
    identity: Option<&'c HeaderMap>,
    /// The identity token and the upstream's own credential.
    last: HeaderMap,
}

impl Added<'_> {
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        self.first
            .iter()
            .map(|(name, value)| (name, value))
            .chain(self.identity.into_iter().flatten())
            .chain(self.last.iter())
    }

    pub(crate) fn len(&self) -> usize {
        usize::from(self.first.is_some())
            + self.identity.map_or(0, HeaderMap::len)
            + self.last.len()
    }

    /// All of them in one map.
    fn to_map(&self) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(self.len());
        for (name, value) in self.iter() {
            map.insert(name.clone(), value.clone());
        }
        map
    }
}

/// The answer with its lists filtered, when it needs a filter.
async fn filtered(
    filter: Option<ListFilter>,
    response: Response<Body>,
    request_id: Option<&serde_json::value::RawValue>,
) -> Result<Response<Body>, RelayError> {
    match filter {
        None => Ok(response),
        Some(filter) => filter
            .apply(response)
            .await
            .map_err(|e| e.with_id(request_id)),
    }
}

fn subject(principal: Option<&Principal>) -> Option<&str> {
    principal.map(|p| p.subject.as_str())
}

fn http_upstream(up: &UpstreamConfig, url: &str) -> Result<HttpUpstream, String> {
    HttpUpstream::new(
        &up.name,
        url,
        up.connect_timeout,
        up.first_byte_timeout,
        up.idle_timeout,
    )
}

fn session_header(headers: &HeaderMap) -> Result<Option<&str>, RelayError> {
    match headers.get(headers::SESSION_ID) {
        None => Ok(None),
        Some(v) => match v.to_str() {
            // Session ids are visible ASCII (0x21-0x7E) by the transport's rules.
            Ok(s) if !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b)) => Ok(Some(s)),
            _ => Err(RelayError::SessionNotFound { id: None }),
        },
    }
}

fn require_json(headers: &HeaderMap) -> Result<(), RelayError> {
    let ok = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if ok {
        Ok(())
    } else {
        Err(RelayError::UnsupportedMediaType)
    }
}

fn accepts(headers: &HeaderMap, media_type: &str) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let item = item.split(';').next().unwrap_or_default().trim();
            item.eq_ignore_ascii_case(media_type)
                || item == "*/*"
                || item.eq_ignore_ascii_case("text/*") && media_type.starts_with("text/")
        })
}

async fn read_body(mut body: Body, headers: &HeaderMap, max: usize) -> Result<Bytes, RelayError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(RelayError::BodyTooLarge(max));
    }
    // A small body usually comes in one frame, which is kept as it is; only a body in several
    // frames is copied into one buffer.
    let mut first: Option<Bytes> = None;
    let mut joined: Option<bytes::BytesMut> = None;
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|_| RelayError::BodyUnreadable)?.into_data() else {
            continue;
        };
        total = total.saturating_add(data.len());
        if total > max {
            return Err(RelayError::BodyTooLarge(max));
        }
        if let Some(joined) = &mut joined {
            joined.extend_from_slice(&data);
        } else if let Some(head) = first.take() {
            let capacity = declared.map_or(total, |n| usize::try_from(n).unwrap_or(total));
            let mut buffer = bytes::BytesMut::with_capacity(capacity.max(total));
            buffer.extend_from_slice(&head);
            buffer.extend_from_slice(&data);
            joined = Some(buffer);
        } else {
            first = Some(data);
        }
    }
    Ok(joined
        .map(bytes::BytesMut::freeze)
        .or(first)
        .unwrap_or_default())
}

/// How long a per-tenant or per-user child process may sit unused (with no session open)
/// before the janitor stops it.
pub const INSTANCE_IDLE_LIMIT: Duration = Duration::from_secs(15 * 60);

/// How long idle sessions are kept before the janitor forgets them.
pub const SESSION_IDLE_LIMIT: Duration = Duration::from_secs(24 * 3600);

impl portcullis_core::oauth::RevocationListener for Gateway {
    fn revoked(&self, revoked: &portcullis_core::oauth::Revoked) {
        self.revoke_tokens(revoked.jti.as_deref(), revoked.grant_id.as_deref());
    }
}
