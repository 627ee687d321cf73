//! `portcullis admin …`: operator commands against the configured store, each a thin shell
//! around one `portcullis_core::admin` function. `--config` and `--json` are accepted in any
//! position; with `--json` the result is one JSON document on stdout, and a secret shown once
//! appears under a self-explanatory key (`api_key`, `client_secret`, `password`).

mod audit;
mod groups;
mod roles;
mod users;

use std::path::PathBuf;

use clap::{Args, Subcommand};
use portcullis_core::admin::{api_keys, views};
use portcullis_core::audit::AuditContext;
use portcullis_core::config::{Config, parse_duration};
use portcullis_store::{ApiKey, ApiKeyKind};
use serde_json::Value;
use time::OffsetDateTime;

#[derive(Debug, Args)]
pub(crate) struct AdminArgs {
    /// The configuration file (TOML); its store is the one administered.
    #[arg(long, global = true, env = "PORTCULLIS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print one JSON document on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AdminCommand {
    /// Portcullis's signing keys (the JWKS at /.well-known/jwks.json).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Portcullis API keys and service tokens.
    #[command(name = "api-key")]
    ApiKey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
    /// Local accounts: people who sign in to Portcullis with a username and password.
    User {
        #[command(subcommand)]
        command: users::UserCommand,
    },
    /// OAuth clients of the authorization server.
    Client {
        #[command(subcommand)]
        command: crate::admin_clients::ClientCommand,
    },
    /// Local groups and their members.
    Group {
        #[command(subcommand)]
        command: groups::GroupCommand,
    },
    /// Roles (built in, configured and stored) and their grants.
    Role {
        #[command(subcommand)]
        command: roles::RoleCommand,
    },
    /// Authorization decisions.
    Authz {
        #[command(subcommand)]
        command: roles::AuthzCommand,
    },
    /// The audit log: list, export and verify its hash chain.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// List the signing keys: the one signing now, any published ahead of signing, and those
    /// retiring.
    List,
    /// Start a rotation without downtime: a new key is published now and signs after
    /// --publish-delay (long enough for every verifier to have fetched the JWKS again); the
    /// current key leaves the JWKS once every token it signed has expired.
    Rotate {
        /// How long the new key is published before it signs.
        #[arg(long, default_value = "10m")]
        publish_delay: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ApiKeyCommand {
    /// Create a key (prints it once) or, with --service-token, a service token (prints its
    /// client id and secret once).
    Create {
        /// A label: where or what the key is for (`laptop`, `ci`).
        #[arg(long)]
        name: String,
        /// The subject the key acts for (for example `service:ci`); grants given to that
        /// subject apply to requests made with the key.
        #[arg(long)]
        subject: String,
        /// Space-separated scopes the key carries.
        #[arg(long, default_value = "")]
        scopes: String,
        /// How long until the key stops working (`30d`, `12h`); never, when absent.
        #[arg(long)]
        expires: Option<String>,
        /// Create a service token: a client id and a secret, sent in the
        /// `Portcullis-Client-Id` and `Portcullis-Client-Secret` headers.
        #[arg(long)]
        service_token: bool,
    },
    /// List keys (never their secrets).
    List {
        /// Only the keys of this subject.
        #[arg(long)]
        subject: Option<String>,
    },
    /// Revoke a key: every running Portcullis refuses it from its next request (at once with
    /// PostgreSQL or `store.redis_url`, otherwise within `store.change_poll`) and ends its streams.
    Revoke {
        /// The key's id (`key_…`), as `list` shows it.
        #[arg(long)]
        id: String,
    },
}

pub(crate) async fn run(config: Config, json: bool, command: AdminCommand) -> anyhow::Result<()> {
    let store = crate::store::open(&config.store, crate::store::Announcing::Yes).await?;
    let now = OffsetDateTime::now_utc();
    let audit = AuditContext::cli(&operator(), config.audit.enabled);
    let output = match command {
        AdminCommand::Keys { command } => {
            keys(&config, store.as_ref(), &audit, command, now).await?
        }
        AdminCommand::ApiKey { command } => match command {
            ApiKeyCommand::Create {
                name,
                subject,
                scopes,
                expires,
                service_token,
            } => {
                let expires_at = match expires {
                    None => None,
                    Some(text) => {
                        let after =
                            parse_duration(&text).map_err(|e| anyhow::anyhow!("--expires: {e}"))?;
                        Some(now + after)
                    }
                };
                let request = api_keys::NewKey {
                    subject: &subject,
                    name: &name,
                    scopes: &scopes,
                    expires_at,
                    service_token,
                };
                let created =
                    api_keys::create(store.as_ref(), &audit, request, now, &mut rand::rng())
                        .await?;
                created_output(&created, now)
            }
            ApiKeyCommand::List { subject } => {
                let keys = api_keys::list(store.as_ref(), subject.as_deref()).await?;
                Output {
                    json: Value::Array(keys.iter().map(|k| key_json(k, now)).collect()),
                    text: list_text(&keys, now),
                }
            }
            ApiKeyCommand::Revoke { id } => {
                let key = api_keys::revoke(store.as_ref(), &audit, &id, now).await?;
                Output {
                    json: key_json(&key, now),
                    text: format!("revoked {} ({} for {})\n", key.id, key.name, key.subject),
                }
            }
        },
        AdminCommand::User { command } => {
            users::run(store.as_ref(), &audit, &config, command, now).await?
        }
        AdminCommand::Client { command } => {
            crate::admin_clients::run(&config, store.as_ref(), &audit, command, now).await?
        }
        AdminCommand::Group { command } => {
            groups::run(store.as_ref(), &audit, command, now).await?
        }
        AdminCommand::Role { command } => {
            roles::run(store.as_ref(), &audit, &config, command, now).await?
        }
        AdminCommand::Authz { command } => roles::authz(store.as_ref(), &config, command).await?,
        AdminCommand::Audit { command } => {
            return audit::run(store.as_ref(), json, command, now).await;
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&output.json)?);
    } else {
        print!("{}", output.text);
    }
    Ok(())
}

/// The operator as the audit log names them: the Unix user running the command (by uid, so that
/// a changed `USER` does not change it), or the uid when it has no name.
fn operator() -> String {
    let uid = nix::unistd::getuid();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(user)) => user.name,
        _ => format!("uid {uid}"),
    }
}

async fn keys(
    config: &Config,
    store: &dyn portcullis_store::Store,
    audit: &AuditContext,
    command: KeysCommand,
    now: OffsetDateTime,
) -> anyhow::Result<Output> {
    if let KeysCommand::Rotate { publish_delay } = &command {
        let publish_delay =
            parse_duration(publish_delay).map_err(|e| anyhow::anyhow!("--publish-delay: {e}"))?;
        let sealer = crate::keys::encryption_keys(config)?;
        let rotation = portcullis_core::admin::keys::rotate(
            store,
            audit,
            config,
            &sealer,
            publish_delay,
            now,
            &mut rand::rng(),
        )
        .await?;
        let mut text = format!(
            "published key {} now; it signs from {}\n",
            rotation.new_kid,
            rfc3339(rotation.signs_from)
        );
        for (kid, at) in &rotation.retiring {
            text.push_str(&format!(
                "key {kid} leaves the JWKS after {}\n",
                rfc3339(*at)
            ));
        }
        return Ok(Output {
            json: views::rotation(&rotation),
            text,
        });
    }
    let keys = portcullis_core::admin::keys::list(store, now).await?;
    let mut text = format!(
        "{:<46} {:<6} {:<10} {}\n",
        "KID", "ALG", "STATUS", "SIGNS FROM"
    );
    for (k, status) in &keys {
        text.push_str(&format!(
            "{:<46} {:<6} {:<10} {}\n",
            k.kid,
            k.alg,
            status.as_str(),
            rfc3339(k.not_before)
        ));
    }
    Ok(Output {
        json: Value::Array(
            keys.iter()
                .map(|(k, status)| views::signing_key(k, *status))
                .collect(),
        ),
        text,
    })
}

pub(crate) struct Output {
    pub(crate) json: Value,
    pub(crate) text: String,
}

fn created_output(created: &api_keys::Created, now: OffsetDateTime) -> Output {
    let json = views::created_api_key(created, now);
    let key = &created.key;
    let expiry = key.expires_at.map_or("never expires".to_owned(), |at| {
        format!("expires {}", rfc3339(at))
    });
    let text = match &key.kind {
        ApiKeyKind::ApiKey => {
            format!(
                "created API key {} ({} for {}, {expiry})\n\n  {}\n\nSend it as `Authorization: Bearer <key>`. It is shown only now: store it safely.\n",
                key.id, key.name, key.subject, created.secret
            )
        }
        ApiKeyKind::ServiceToken { client_id } => {
            format!(
                "created service token {} ({} for {}, {expiry})\n\n  Portcullis-Client-Id: {client_id}\n  Portcullis-Client-Secret: {}\n\nThe secret is shown only now: store it safely.\n",
                key.id, key.name, key.subject, created.secret
            )
        }
    };
    Output { json, text }
}

fn key_json(key: &ApiKey, now: OffsetDateTime) -> Value {
    views::api_key(key, now)
}

fn list_text(keys: &[ApiKey], now: OffsetDateTime) -> String {
    if keys.is_empty() {
        return "no API keys\n".to_owned();
    }
    let mut out = format!(
        "{:<24} {:<14} {:<8} {:<24} {:<20} {}\n",
        "ID", "KIND", "STATUS", "SUBJECT", "NAME", "LAST USED"
    );
    for key in keys {
        out.push_str(&format!(
            "{:<24} {:<14} {:<8} {:<24} {:<20} {}\n",
            key.id,
            key.kind.as_str(),
            api_keys::status(key, now),
            key.subject,
            key.name,
            key.last_used_at.map_or("never".to_owned(), rfc3339)
        ));
    }
    out
}

pub(crate) use portcullis_core::admin::views::rfc3339;
