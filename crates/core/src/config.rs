//! The configuration file: a versioned TOML document, overridable by environment variables.
//!
//! Loading is a pure function of the file text and the environment (`Config::load`), so every
//! precedence rule is testable without touching the process environment. The list of keys in
//! [`reference::KEYS`] is the single source for `docs/configuration.md` and for the types of
//! environment overrides; tests keep it, the structs and the docs in step.

mod duration;
mod env;
mod error;
mod identity_providers;
pub mod reference;
mod registration;
mod types;
pub mod validate;
mod validators;

pub use duration::parse_duration;
pub use error::{ConfigError, ConfigProblem};
pub use identity_providers::*;
pub use registration::{ClientAuthMethod, ClientConfig, RegistrationConfig};
pub use types::*;
pub(crate) use validators::defaults as validator_defaults;
pub use validators::*;

/// The environment-variable prefix of every override: `PORTCULLIS_<SECTION>__<KEY>`.
pub const ENV_PREFIX: &str = "PORTCULLIS_";

impl Config {
    /// Parses `text`, applies overrides from `env` (name, value pairs), and validates the result.
    ///
    /// Every problem found is returned, each naming the key (or variable) it concerns.
    pub fn load<I, K, V>(text: &str, env: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            ConfigError::single("(file)", format!("invalid TOML: {}", e.message().trim()))
                .with_span(text, e.span())
        })?;
        env::apply_overrides(&mut table, env)?;
        let config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                let path = e.path().to_string();
                let key = if path == "." {
                    "(file)".to_owned()
                } else {
                    path
                };
                ConfigError::single(key, e.into_inner().message().trim().to_owned())
            })?;
        validate::validate(&config)?;
        Ok(config)
    }

    /// The demo configuration with environment overrides applied (what `portcullis serve` runs
    /// when no configuration file is given).
    pub fn load_demo<I, K, V>(env: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let text = toml::to_string(&Config::demo())
            .map_err(|e| ConfigError::single("(demo)", e.to_string()))?;
        Config::load(&text, env)
    }

    /// The configuration `portcullis serve` uses when started with no configuration at all: the
    /// built-in demo server behind Portcullis's own OAuth, so an MCP client signs in to use it.
    pub fn demo() -> Config {
        let mut config = Config::default();
        let mut demo = UpstreamConfig::builtin("demo", BuiltinServer::Demo);
        demo.auth = AuthMode::Oauth;
        config.upstreams.push(demo);
        config
    }
}

#[cfg(test)]
mod tests;
