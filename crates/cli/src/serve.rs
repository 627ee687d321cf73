//! `portcullis serve`: store, built-in servers, gateway, HTTP listener, signals.

use std::sync::Arc;

use anyhow::Context as _;
use portcullis_core::config::{BuiltinServer, Config};
use portcullis_gateway::Gateway;
use portcullis_server::pages::{self, Pages};
use portcullis_server::{AppState, TrustedProxies};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub(crate) async fn serve(config: Config, demo: bool) -> anyhow::Result<()> {
    // A policy file that does not validate stops the start before anything is written: it
    // never means "allow".
    let conditions = crate::conditions(&config).map_err(anyhow::Error::msg)?;
    // Then the keys: missing or wrong encryption keys stop start-up (before the store
    // is even reached) rather than the first request that needs a signature.
    let shutdown = shutdown_signal()?;
    let sealer = Arc::new(crate::keys::encryption_keys(&config)?);
    let store = crate::store::open(&config.store, crate::store::Announcing::Yes).await?;
    // Identity tokens for upstreams sign with these (the authorization server will too).
    let signing_keys = Arc::new(portcullis_core::signing::LiveKeys::new(
        crate::keys::signing_keys(&config, &*store, &sealer).await?,
    ));
    let metrics = portcullis_server::install_metrics();
    // The demo starts with an account to sign in with.
    let first_admin = if demo {
        portcullis_core::admin::users::create_first_admin(
            store.as_ref(),
            &portcullis_core::audit::AuditContext {
                enabled: config.audit.enabled,
                actor: Some("portcullis:demo".to_owned()),
                ..Default::default()
            },
            &portcullis_core::accounts::InlineHashing,
            &portcullis_core::accounts::PasswordPolicy::from_config(&config.accounts),
            time::OffsetDateTime::now_utc(),
            &mut rand::rng(),
        )
        .await
        .context("creating the demo's first account")?
    } else {
        None
    };

    // Built-in servers listen on loopback ports of their own and are relayed like any upstream.
    let builtins_stop = CancellationToken::new();
    let mut demo_url = None;
    if config
        .upstreams
        .iter()
        .any(|u| u.builtin == Some(BuiltinServer::Demo))
    {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("starting the demo MCP server")?;
        let addr = listener.local_addr()?;
        let stop = builtins_stop.clone();
        tokio::spawn(async move {
            if let Err(e) =
                portcullis_demo::serve(listener, async move { stop.cancelled().await }).await
            {
                tracing::error!(error = %e, "the demo MCP server stopped");
            }
        });
        demo_url = Some(format!("http://{addr}/mcp"));
    }
    let validators = crate::validators(&config)?;
    let gateway = Gateway::new(
        &config,
        store.clone(),
        &|server| match server {
            BuiltinServer::Demo => demo_url.clone(),
        },
        validators,
        &|var| std::env::var(var).ok(),
        Some(signing_keys.clone()),
    )?;
    let gateway = match conditions {
        Some(conditions) => {
            tracing::info!(
                file = config
                    .authorization
                    .cedar_policies
                    .as_deref()
                    .unwrap_or_default(),
                policies = conditions.ids().len(),
                "conditions in force"
            );
            gateway.with_conditions(conditions)
        }
        None => gateway,
    };
    let gateway = Arc::new(gateway);
    let policy_version = portcullis_server::load_policy(&gateway, store.as_ref(), &config)
        .await
        .context("loading the roles and grants")?;
    gateway.start().await;

    let clients = Arc::new(crate::clients(&config, store.clone())?);
    let authorization = portcullis_server::authorization_server(
        &config,
        store.clone(),
        clients.clone(),
        signing_keys.clone(),
        gateway.clone(),
    );

    let listener = TcpListener::bind(&config.server.listen)
        .await
        .with_context(|| format!("listening on {}", config.server.listen))?;
    let state = AppState::new(
        gateway.clone(),
        store.clone(),
        metrics,
        TrustedProxies::new(&config.server.trusted_proxies),
        Some(authorization),
        clients.clone(),
    );
    // Rate limits share their buckets through Redis when there is one (each replica's own
    // otherwise); an unreachable Redis at start-up is an error, as for announcements.
    let limiter: Arc<dyn portcullis_core::rate_limit::Limiter> = match &config.store.redis_url {
        Some(url) => Arc::new(
            portcullis_server::rate_limit::RedisLimiter::connect(url)
                .await
                .context("connecting to Redis for rate limits (store.redis_url)")?,
        ),
        None => Arc::new(portcullis_core::rate_limit::LocalLimiter::default()),
    };
    gateway.set_rate_limiter(limiter.clone());
    state.set_rate_limits(portcullis_server::rate_limit::HttpLimits::new(
        &config.rate_limits,
        limiter,
    ));
    let providers = crate::providers(&config)?;
    if !providers.is_empty() {
        gateway.set_provider_tokens(portcullis_gateway::ProviderTokenSource::new(
            store.clone(),
            sealer.clone(),
            providers.clone(),
        ));
    }
    state.set_pages(
        Pages::new(&config, sealer.clone(), pages::system_clock()).with_providers(providers),
    );
    if config.server.admin_api {
        state.set_admin_api(portcullis_server::AdminApi::new(
            Arc::new(config.clone()),
            sealer.clone(),
        ));
    }
    pages::spawn_session_janitor(store.clone());
    let signals = Arc::new(portcullis_store::ChangeSignals::default());
    let sources = portcullis_server::changes::listen(
        store.as_ref(),
        config.store.redis_url.as_deref(),
        &signals,
    )
    .await?;
    tracing::info!(announcements = ?sources, poll = ?config.store.change_poll, "watching for role, grant and revocation changes");
    portcullis_server::spawn_revocation_watch(
        gateway.clone(),
        store.clone(),
        signals.clone(),
        config.store.change_poll,
    );
    portcullis_server::spawn_policy_watch(
        gateway.clone(),
        store.clone(),
        Arc::new(config.clone()),
        policy_version,
        signals,
    );
    portcullis_server::spawn_key_reload(signing_keys.clone(), store, sealer);
    portcullis_server::spawn_janitor(gateway);
    portcullis_server::spawn_client_janitor(clients);
    state.set_ready(true);
    tracing::info!(listen = %config.server.listen, public_url = %config.server.public_url, "Portcullis is ready");
    if demo {
        println!("Portcullis demo running at {}", config.server.public_url);
        println!(
            "  MCP endpoint: {}/servers/demo/mcp  (clients sign in with OAuth)",
            config.server.public_url
        );
        if let Some(admin) = first_admin {
            println!(
                "  First account: {} with the one-time password {}  (shown once; you choose a new one at first sign-in)",
                admin.user.username,
                admin.one_time_password.as_ref().map_or("", |p| p.as_str())
            );
        }
        println!("  State: {}", config.store.url);
    } else {
        for up in &config.upstreams {
            println!(
                "serving {}/servers/{}/mcp",
                config.server.public_url, up.name
            );
        }
    }

    let result =
        portcullis_server::serve(listener, state, shutdown, config.server.shutdown_grace).await;
    builtins_stop.cancel();
    result.context("serving HTTP")
}

/// A future that resolves on SIGTERM or Ctrl-C. The handlers are installed when this is called,
/// not when the future is first polled: a signal that arrives once the process says it is ready
/// must shut it down gracefully, never kill it.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    #[cfg(unix)]
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("installing the SIGINT handler")?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = term.recv() => {}
            _ = interrupt.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    })
}
