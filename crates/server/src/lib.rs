//! The axum application: MCP endpoints, health, readiness and metrics, and the graceful
//! shutdown that drains them.
//!
//! Handlers are thin: they hand the request to `portcullis_gateway::Gateway` and map its errors
//! in `error`, the one place errors become HTTP.

mod admin_api;
mod audit;
pub mod changes;
mod error;
mod forward_auth;
mod jwks;
mod mcp;
mod oauth;
mod observe;
mod ops;
pub mod pages;
pub mod rate_limit;
mod registration;
mod resource_metadata;

use std::future::{Future, IntoFuture};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::serve::ListenerExt as _;
use portcullis_core::clients::ClientRegistry;
use portcullis_core::oauth::AuthorizationServer;
use portcullis_core::oauth::metadata::RegistrationOptions;
use portcullis_gateway::Gateway;
use portcullis_store::{Change, ChangeSignals, Store};
use tokio::net::{TcpListener, TcpStream};

pub use admin_api::AdminApi;
pub use error::ApiError;
pub use forward_auth::TrustedProxies;
pub use mcp::Front;
pub use observe::install_metrics;
pub use registration::spawn_client_janitor;

/// Everything a handler can reach. Cloned for every request, so it is one `Arc`.
#[derive(Debug, Clone)]
pub struct AppState(Arc<AppInner>);

/// The fields behind [`AppState`].
#[derive(Debug)]
pub struct AppInner {
    pub gateway: Arc<Gateway>,
    pub store: Arc<dyn Store>,
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// Peers whose `X-Forwarded-*` headers ForwardAuth believes.
    pub trusted_proxies: TrustedProxies,
    /// The OAuth authorization server, when this deployment runs one.
    pub authorization_server: Option<Arc<AuthorizationServer>>,
    /// What the metadata says about client registration.
    pub registration: RegistrationOptions,
    /// The OAuth clients: resolution, redirect URIs, client authentication, registration.
    pub clients: Arc<ClientRegistry>,
    ready: AtomicBool,
    http_metrics: observe::HttpMetrics,
    /// Sign-in, account and error pages; set once at start-up (see [`AppState::set_pages`]).
    pages: OnceLock<pages::Pages>,
    /// `[rate_limits]` per source address; set once at start-up (see
    /// [`AppState::set_rate_limits`]), the defaults in this process's own buckets until then.
    rate_limits: OnceLock<rate_limit::HttpLimits>,
    /// The admin REST API's settings; set once at start-up (see [`AppState::set_admin_api`]),
    /// its routes answer 404 until then.
    admin_api: OnceLock<admin_api::AdminApi>,
}

impl std::ops::Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl AppState {
    pub fn new(
        gateway: Arc<Gateway>,
        store: Arc<dyn Store>,
        metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
        trusted_proxies: TrustedProxies,
        authorization: Option<(Arc<AuthorizationServer>, RegistrationOptions)>,
        clients: Arc<ClientRegistry>,
    ) -> Self {
        let (authorization_server, registration) = match authorization {
            Some((server, registration)) => (Some(server), registration),
            None => (
                None,
                RegistrationOptions {
                    dynamic_client_registration: false,
                    client_id_metadata_documents: false,
                },
            ),
        };
        AppState(Arc::new(AppInner {
            gateway,
            store,
            metrics,
            trusted_proxies,
            authorization_server,
            registration,
            clients,
            ready: AtomicBool::new(false),
            http_metrics: observe::HttpMetrics::default(),
            pages: OnceLock::new(),
            rate_limits: OnceLock::new(),
            admin_api: OnceLock::new(),
        }))
    }

    /// Turns the pages on (once; a second call changes nothing). Until then they answer 404 and
    /// nobody is signed in.
    pub fn set_pages(&self, pages: pages::Pages) {
        let _ = self.pages.set(pages);
    }

    /// The pages' settings, once set.
    pub fn pages(&self) -> Option<&pages::Pages> {
        self.pages.get()
    }

    /// Turns the admin REST API on (once; a second call changes nothing).
    pub fn set_admin_api(&self, api: admin_api::AdminApi) {
        let _ = self.admin_api.set(api);
    }

    /// The admin REST API's settings, once set.
    pub(crate) fn admin_api(&self) -> Option<&admin_api::AdminApi> {
        self.admin_api.get()
    }

    /// Sets the per-address rate limits (once; a second call changes nothing).
    pub fn set_rate_limits(&self, limits: rate_limit::HttpLimits) {
        let _ = self.rate_limits.set(limits);
    }

    /// The per-address rate limits in force.
    pub(crate) fn rate_limits(&self) -> &rate_limit::HttpLimits {
        self.rate_limits
            .get_or_init(rate_limit::HttpLimits::default)
    }

    /// Whether `/readyz` may say yes (the store is checked on each call too).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

/// CORS for public, credential-free documents (metadata, keys) that browser MCP clients fetch
/// during discovery: any origin, GET only, and whatever request headers the preflight names
/// (discovery requests carry `MCP-Protocol-Version`).
pub(crate) fn public_document_cors() -> tower_http::cors::CorsLayer {
    tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::AllowOrigin::any())
        .allow_methods([http::Method::GET, http::Method::OPTIONS])
        .allow_headers(tower_http::cors::AllowHeaders::mirror_request())
        .max_age(Duration::from_secs(600))
}

/// The authorization server of `config` over `store`, its clients and signing keys, with what
/// its metadata says about client registration: what `AppState::new` takes.
pub fn authorization_server(
    config: &portcullis_core::config::Config,
    store: Arc<dyn Store>,
    clients: Arc<ClientRegistry>,
    keys: Arc<portcullis_core::signing::LiveKeys>,
    gateway: Arc<Gateway>,
) -> (Arc<AuthorizationServer>, RegistrationOptions) {
    let registration = RegistrationOptions {
        dynamic_client_registration: clients.registration_endpoint().is_some(),
        client_id_metadata_documents: clients.client_id_metadata_document_supported(),
    };
    let server = AuthorizationServer::new(
        &config.server.public_url,
        config.tokens.clone(),
        portcullis_core::oauth::resources_of(config),
        store.clone(),
        clients,
        Arc::new(portcullis_core::oauth::StoreProfiles(store)),
        keys,
    )
    // The gateway in this process refuses revoked tokens at once.
    .with_revocation_listener(gateway);
    (Arc::new(server), registration)
}

/// The metadata routes of an issuer with a path (`https://gw.example/auth`): the discovery
/// paths MCP clients probe for it, beside the path-less ones.
fn issuer_path_metadata(state: &AppState) -> Router<AppState> {
    let Some(server) = &state.authorization_server else {
        return Router::new();
    };
    oauth::metadata_paths(server.issuer())
        .into_iter()
        .filter(|path| !oauth::METADATA_ROUTES.contains(&path.as_str()))
        .fold(Router::new(), |router, path| {
            router.route(&path, axum::routing::get(oauth::metadata_get))
        })
}

/// Every route but the MCP endpoint, which [`app`] answers in front of it.
fn router(state: AppState) -> Router {
    Router::new()
        .merge(ops::router())
        .merge(resource_metadata::router())
        .merge(forward_auth::router())
        .merge(jwks::router())
        .merge(oauth::router())
        .merge(issuer_path_metadata(&state))
        .merge(pages::router())
        .merge(registration::router())
        .merge(admin_api::router())
        .fallback(ops::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::track,
        ))
        .with_state(state)
}

/// The whole HTTP surface: the MCP endpoint (`mcp::Front`) in front of the router.
pub fn app(state: AppState) -> mcp::Front {
    mcp::Front::new(state.clone(), router(state))
}

/// Makes the service of each accepted connection: [`app`], knowing the peer's address.
#[derive(Clone)]
struct MakeFront(mcp::Front);

/// The listener as the server accepts from it: every connection without Nagle's algorithm.
type Accepting = axum::serve::TapIo<TcpListener, fn(&mut TcpStream)>;

/// Wraps `listener` so that every accepted connection sends what is written at once
/// (`TCP_NODELAY`). Answers are written whole or event by event (SSE), never byte by byte, so
/// Nagle's algorithm only holds back the next SSE event, or a body written after its head, until
/// the client's delayed acknowledgement of the previous write arrives: tens of milliseconds.
fn accepting(listener: TcpListener) -> Accepting {
    fn no_delay(tcp: &mut TcpStream) {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on an accepted connection");
        }
    }
    listener.tap_io(no_delay as fn(&mut TcpStream))
}

impl tower::Service<axum::serve::IncomingStream<'_, Accepting>> for MakeFront {
    type Response = mcp::Front;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<mcp::Front, std::convert::Infallible>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, stream: axum::serve::IncomingStream<'_, Accepting>) -> Self::Future {
        std::future::ready(Ok(self.0.for_peer(*stream.remote_addr())))
    }
}

/// Serves until `shutdown` resolves, then shuts down gracefully: readiness goes false at once,
/// no new connections are accepted, in-flight requests and streams get `grace` to finish, and
/// whatever is still open after that is cut. Stdio child processes are stopped last.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    // ForwardAuth needs the peer's address to decide whether to believe `X-Forwarded-*`.
    let app = MakeFront(app(state.clone()));
    let started = Arc::new(tokio::sync::Notify::new());
    let signal_state = state.clone();
    let signal_started = started.clone();
    let server = axum::serve(accepting(listener), app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!(grace = ?grace, "shutting down: draining in-flight requests");
            signal_state.set_ready(false);
            signal_state.gateway.begin_shutdown();
            signal_started.notify_one();
        })
        .into_future();
    tokio::pin!(server);
    let result = tokio::select! {
        result = &mut server => result,
        () = async { started.notified().await; tokio::time::sleep(grace).await } => {
            tracing::warn!("shutdown deadline reached: cutting open streams");
            state.gateway.finish_shutdown().await;
            match tokio::time::timeout(Duration::from_secs(5), &mut server).await {
                Ok(result) => result,
                Err(_) => Ok(()),
            }
        }
    };
    state.gateway.finish_shutdown().await;
    tracing::info!("stopped");
    result
}

/// How far back each poll for revocations looks: covers clock differences between replicas and
/// a missed poll or two.
const REVOCATION_WINDOW: Duration = Duration::from_secs(120);

/// Drops from the gateway's caches every API key, grant and access token revoked by any replica
/// (or the CLI), until the process ends: at once when `signals` is woken (an announcement), and
/// every `poll` in any case.
pub fn spawn_revocation_watch(
    gateway: Arc<Gateway>,
    store: Arc<dyn Store>,
    signals: Arc<ChangeSignals>,
    poll: Duration,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Revocations seen within the window, so each is applied once.
        let mut seen = std::collections::HashSet::new();
        let mut window_start = time::OffsetDateTime::now_utc();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = signals.woken(Change::Revocation) => {}
            }
            let since = time::OffsetDateTime::now_utc() - REVOCATION_WINDOW;
            if since - window_start > REVOCATION_WINDOW {
                // Revocations older than the window can no longer be returned: start over.
                seen.clear();
                window_start = since;
            }
            match gateway.drop_revoked(store.as_ref(), since, &mut seen).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    revocations = n,
                    "revoked credentials dropped from the credential cache"
                ),
                Err(e) => tracing::debug!(error = %e, "could not poll for revocations"),
            }
        }
    });
}

/// Builds the authorization policy from the configuration and the store and puts it in force.
/// Returns the store's authorization version it was built at.
pub async fn load_policy(
    gateway: &Gateway,
    store: &dyn Store,
    config: &portcullis_core::config::Config,
) -> Result<i64, portcullis_core::admin::AdminError> {
    // Read the version first: a change made while the policy is built moves it again, and the
    // next poll rebuilds.
    let version = store.authorization_version().await?;
    let policy = portcullis_core::admin::roles::policy(store, config).await?;
    gateway.policy().replace(policy);
    // Lets an operator see that every replica has loaded the same roles and grants.
    metrics::gauge!("portcullis_authorization_policy_version").set(version as f64);
    Ok(version)
}

/// The conditions `[authorization] cedar_policies` names, read and validated: a file that cannot
/// be read or does not validate, or a build without Cedar, is an error naming the key and the
/// file (and the policy and the problem, for an invalid one). Read once, at start-up.
pub fn load_conditions(
    config: &portcullis_core::config::Config,
) -> Result<Option<portcullis_policy::Conditions>, String> {
    let Some(file) = &config.authorization.cedar_policies else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("authorization.cedar_policies: {file}: {e}"))?;
    portcullis_policy::Conditions::parse(file, &text)
        .map(Some)
        .map_err(|e| format!("authorization.cedar_policies: {e}"))
}

/// Rebuilds the authorization policy whenever the store's authorization version moves (a role
/// or grant written by the CLI, another replica, or an account created with default roles),
/// until the process ends: the version is read when `signals` is woken (an announcement) and
/// every `poll` in any case. A rebuild that fails keeps the policy in force and is retried.
pub fn spawn_policy_watch(
    gateway: Arc<Gateway>,
    store: Arc<dyn Store>,
    config: Arc<portcullis_core::config::Config>,
    mut version: i64,
    signals: Arc<ChangeSignals>,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(config.store.change_poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = signals.woken(Change::Authorization) => {}
            }
            match store.authorization_version().await {
                Ok(now) if now == version => {}
                Ok(_) => match load_policy(&gateway, store.as_ref(), &config).await {
                    Ok(loaded) => {
                        tracing::info!(version = loaded, "authorization policy reloaded");
                        version = loaded;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "the roles and grants in the store do not resolve: keeping the policy in force")
                    }
                },
                Err(e) => tracing::debug!(error = %e, "could not poll the authorization version"),
            }
        }
    });
}

/// Reloads the signing keys from the store every minute, so a rotation made by the CLI or another
/// replica is published here (a new key's publish delay is ten minutes by default) and signs
/// from its time; a reload that fails keeps the ring in use.
pub fn spawn_key_reload(
    keys: Arc<portcullis_core::signing::LiveKeys>,
    store: Arc<dyn Store>,
    sealer: Arc<portcullis_core::crypto::Sealer>,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let now = time::OffsetDateTime::now_utc();
            match portcullis_core::signing::KeyRing::load(store.as_ref(), &sealer, now).await {
                Ok(ring) if ring.signing_key(now).is_some() => keys.replace(ring),
                Ok(_) => {
                    tracing::error!("the store holds no key that may sign: keeping the keys in use")
                }
                Err(e) => tracing::warn!(error = %e, "could not reload the signing keys"),
            }
        }
    });
}

/// Forgets relay sessions (and ends bridged sessions) idle for a day, every ten minutes,
/// until the process ends.
pub fn spawn_janitor(gateway: Arc<Gateway>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            let idle_before =
                time::OffsetDateTime::now_utc() - portcullis_gateway::SESSION_IDLE_LIMIT;
            match gateway.sessions().purge(idle_before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(sessions = n, "forgot idle relay sessions"),
                Err(e) => tracing::warn!(error = %e, "could not purge idle relay sessions"),
            }
            let stopped = gateway
                .stop_idle_instances(portcullis_gateway::INSTANCE_IDLE_LIMIT)
                .await;
            if stopped > 0 {
                tracing::info!(
                    processes = stopped,
                    "stopped idle per-tenant and per-user processes"
                );
            }
        }
    });
}

#[cfg(test)]
mod tests {
    // Test code: a failed unwrap is a failed test.
    #![allow(clippy::unwrap_used)]

    use axum::serve::Listener as _;

    use super::*;

    #[tokio::test]
    async fn accepted_connections_send_without_delay() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut accepting = accepting(listener);
        let _client = TcpStream::connect(address).await.unwrap();
        let (accepted, _) = accepting.accept().await;
        assert!(accepted.nodelay().unwrap());
    }
}
