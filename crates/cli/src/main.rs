//! `portcullis`: serve the gateway, apply migrations, check a configuration, administer.

mod admin;
mod admin_clients;
mod keys;
mod logging;
mod serve;
mod store;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mimalloc::MiMalloc;
use portcullis_core::config::Config;

// The relay allocates small, short-lived buffers on many threads; glibc's allocator spent a
// seventh of the relay's CPU on them (and its arena locks) under load, mimalloc far less.
#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "portcullis",
    version,
    about = "An authentication and authorization gateway for MCP servers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway. With no configuration, runs the demo on 127.0.0.1:8080.
    Serve {
        /// The configuration file (TOML).
        #[arg(long, env = "PORTCULLIS_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Apply the store's migrations and exit.
    Migrate {
        #[arg(long, env = "PORTCULLIS_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Administer the store: local accounts, API keys and OAuth clients (roles and more arrive with
    /// them).
    Admin(admin::AdminArgs),
    /// Work with configuration files.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate a configuration: exits non-zero naming each key and its problem.
    Check {
        #[arg(long, env = "PORTCULLIS_CONFIG")]
        config: PathBuf,
    },
}

/// Loads the configuration file (or the demo) with environment overrides applied.
fn load_config(path: Option<&PathBuf>) -> Result<Config, String> {
    let env = std::env::vars();
    match path {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            Config::load(&text, env).map_err(|e| format!("{}:\n{e}", path.display()))
        }
        None => Config::load_demo(env).map_err(|e| e.to_string()),
    }
}

/// Reads an environment variable as raw bytes (an `hs256` secret is the variable's bytes).
fn env_bytes(name: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStringExt;
    std::env::var_os(name).map(OsStringExt::into_vec)
}

/// Builds the configured `[[validators]]` with the real outbound client. Building makes no
/// request, so `config check` uses it too: a missing or short secret is reported by key.
fn validators(
    config: &Config,
) -> anyhow::Result<Vec<std::sync::Arc<dyn portcullis_core::auth::Validator>>> {
    let fetch = portcullis_gateway::fetch::HttpFetch::new(Default::default())
        .map_err(anyhow::Error::msg)?;
    Ok(portcullis_core::auth::build_validators(
        config,
        std::sync::Arc::new(fetch),
        &env_bytes,
    )?)
}

/// The configured `[[identity_providers]]` with the real guarded outbound client. Building makes
/// no request; a missing client secret is reported by key.
fn providers(config: &Config) -> anyhow::Result<portcullis_core::federation::Providers> {
    let fetch = portcullis_gateway::fetch::HttpFetch::new(Default::default())
        .map_err(anyhow::Error::msg)?;
    Ok(portcullis_core::federation::Providers::build(
        config,
        std::sync::Arc::new(fetch),
        &env_bytes,
    )?)
}

/// The OAuth client registry of `config` over `store`, with the real guarded outbound client for
/// client ID metadata documents and client keys. `[[clients]]` secrets and the initial access
/// token are read now, so a missing or short one stops start-up naming its key.
fn clients(
    config: &Config,
    store: std::sync::Arc<dyn portcullis_store::Store>,
) -> anyhow::Result<portcullis_core::clients::ClientRegistry> {
    let fetch = portcullis_gateway::fetch::HttpFetch::new(Default::default())
        .map_err(anyhow::Error::msg)?;
    Ok(portcullis_core::clients::ClientRegistry::from_config(
        config,
        store,
        std::sync::Arc::new(fetch),
        &env_bytes,
        time::OffsetDateTime::now_utc(),
    )?)
}

/// The conditions of `[authorization] cedar_policies`, read and validated.
fn conditions(config: &Config) -> Result<Option<portcullis_policy::Conditions>, String> {
    portcullis_server::load_conditions(config)
}

/// What `config check` verifies beyond the file: the secrets and variables it names exist, and
/// the policy files it names are valid.
fn check_environment(config: &Config) -> Result<(), String> {
    let mut problems = Vec::new();
    if let Err(e) = conditions(config) {
        problems.push(e);
    }
    if let Err(e) = validators(config) {
        problems.push(e.to_string());
    }
    if let Err(e) = providers(config) {
        problems.push(e.to_string());
    }
    if let Err(e) = keys::check(config) {
        problems.push(e);
    }
    let now = time::OffsetDateTime::now_utc();
    if let Err(e) = portcullis_core::clients::configured_clients(config, &env_bytes, now) {
        problems.push(e.to_string());
    }
    if let Err(e) = portcullis_core::clients::initial_access_token(config, &env_bytes) {
        problems.push(e.to_string());
    }
    for up in &config.upstreams {
        if let Some(var) = &up.credential_env
            && std::env::var_os(var).is_none()
        {
            problems.push(format!(
                "upstreams[{}].credential_env: the environment variable {var} is not set",
                up.name
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

fn main() -> ExitCode {
    // Before anything can verify a JWT (jsonwebtoken panics on first use without a provider).
    portcullis_core::auth::install_crypto_provider();
    let cli = Cli::parse();
    match cli.command {
        Command::Config {
            command: ConfigCommand::Check { config },
        } => match load_config(Some(&config)).and_then(|c| {
            check_environment(&c).map_err(|e| format!("{}:\n{e}", config.display()))?;
            Ok(c)
        }) {
            Ok(c) => {
                println!(
                    "{}: ok ({} upstream{})",
                    config.display(),
                    c.upstreams.len(),
                    if c.upstreams.len() == 1 { "" } else { "s" }
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Migrate { config } => run(config.as_ref(), |config| async move {
            let store = store::open(&config.store, store::Announcing::No).await?;
            let applied = store.applied_migrations().await?;
            println!(
                "{} store migrated: {} migration{} applied",
                store.backend(),
                applied.len(),
                if applied.len() == 1 { "" } else { "s" }
            );
            Ok(())
        }),
        Command::Admin(args) => run(args.config.as_ref(), move |config| {
            admin::run(config, args.json, args.command)
        }),
        Command::Serve { config } => {
            let demo = config.is_none();
            run(config.as_ref(), move |config| serve::serve(config, demo))
        }
    }
}

fn run<F, Fut>(path: Option<&PathBuf>, f: F) -> ExitCode
where
    F: FnOnce(Config) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let config = match load_config(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let telemetry = {
        let _runtime = runtime.enter();
        match logging::init(&config.log) {
            Ok(telemetry) => telemetry,
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::FAILURE;
            }
        }
    };
    let code = match runtime.block_on(f(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    };
    telemetry.shutdown();
    code
}
