//! `portcullis admin client …`: OAuth clients, each command a thin shell around one
//! `portcullis_core::admin::clients` function. Listing and showing include the clients of the
//! configuration file (`source` `config`), which are changed in the file, not here.

use clap::Subcommand;
use portcullis_core::admin::{clients, views};
use portcullis_core::audit::AuditContext;
use portcullis_core::clients::Client;
use portcullis_core::config::Config;
use portcullis_store::Store;
use serde_json::Value;
use time::OffsetDateTime;

use crate::admin::{Output, rfc3339};

#[derive(Debug, Subcommand)]
pub(crate) enum ClientCommand {
    /// Register a client: public by default (it authenticates with its client id alone), or
    /// confidential with a secret printed once.
    Create {
        /// The name people see on the consent page.
        #[arg(long)]
        name: String,
        /// A redirect URI (repeat for several): https, loopback http (any port matches), or a
        /// native app's reverse-domain scheme such as com.example.app:/cb.
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// A confidential client: it authenticates with a secret (client_secret_basic).
        #[arg(long)]
        confidential: bool,
        /// A grant the client may use (repeat for several): authorization_code, refresh_token,
        /// client_credentials (confidential only). Default: authorization_code and refresh_token.
        #[arg(long = "grant-type")]
        grant_types: Vec<String>,
        /// Space-separated scopes the client may ask for; any, when absent.
        #[arg(long)]
        scope: Option<String>,
    },
    /// List the clients (never their secrets).
    List,
    /// Show one client.
    Show {
        #[arg(long)]
        client_id: String,
    },
    /// Delete a stored client (an operator's or a dynamic registration).
    Delete {
        #[arg(long)]
        client_id: String,
    },
    /// Give a confidential client a new secret, printed once; the old one stops working.
    #[command(name = "rotate-secret")]
    RotateSecret {
        #[arg(long)]
        client_id: String,
    },
}

pub(crate) async fn run(
    config: &Config,
    store: &dyn Store,
    audit: &AuditContext,
    command: ClientCommand,
    now: OffsetDateTime,
) -> anyhow::Result<Output> {
    Ok(match command {
        ClientCommand::Create {
            name,
            redirect_uris,
            confidential,
            grant_types,
            scope,
        } => {
            let request = clients::NewClient {
                name: &name,
                redirect_uris: &redirect_uris,
                confidential,
                grant_types: &grant_types,
                scope: scope.as_deref(),
            };
            let created = clients::create(store, audit, request, now, &mut rand::rng()).await?;
            secret_output(&created, "created")
        }
        ClientCommand::List => {
            let listed = clients::list_all(store, config, now).await?;
            Output {
                json: Value::Array(listed.iter().map(client_json).collect()),
                text: list_text(&listed),
            }
        }
        ClientCommand::Show { client_id } => {
            let client = clients::find(store, config, &client_id, now).await?;
            Output {
                json: client_json(&client),
                text: show_text(&client),
            }
        }
        ClientCommand::Delete { client_id } => {
            clients::refuse_configured(config, &client_id)?;
            let client = clients::delete(store, audit, &client_id, now).await?;
            Output {
                json: client_json(&client),
                text: format!("deleted client {} ({})\n", client.client_id, client.name),
            }
        }
        ClientCommand::RotateSecret { client_id } => {
            clients::refuse_configured(config, &client_id)?;
            let rotated =
                clients::rotate_secret(store, audit, &client_id, now, &mut rand::rng()).await?;
            secret_output(&rotated, "new secret for")
        }
    })
}

/// A created or rotated client: the secret, when there is one, is printed this once.
fn secret_output(created: &clients::Created, verb: &str) -> Output {
    let client = &created.client;
    let json = views::client_with_secret(created);
    let mut text = format!(
        "{verb} client {} ({})\n\n  client_id: {}\n",
        client.client_id, client.name, client.client_id
    );
    if let Some(secret) = &created.secret {
        text.push_str(&format!(
            "  client_secret: {secret}\n\nThe secret is shown only now: store it safely.\n"
        ));
    } else {
        text.push_str(
            "\nA public client: it sends its client_id and no secret (PKCE protects its codes).\n",
        );
    }
    Output { json, text }
}

fn client_json(client: &Client) -> Value {
    views::client(client)
}

fn list_text(listed: &[Client]) -> String {
    if listed.is_empty() {
        return "no clients\n".to_owned();
    }
    let mut out = format!(
        "{:<28} {:<8} {:<20} {:<24} {}\n",
        "CLIENT ID", "SOURCE", "AUTH", "NAME", "LAST USED"
    );
    for client in listed {
        out.push_str(&format!(
            "{:<28} {:<8} {:<20} {:<24} {}\n",
            client.client_id,
            client.source.as_str(),
            client.token_endpoint_auth_method.as_str(),
            client.name,
            client.last_used_at.map_or("never".to_owned(), rfc3339)
        ));
    }
    out
}

fn show_text(client: &Client) -> String {
    let mut out = format!(
        "client_id: {}\nname: {}\nsource: {}\ntoken_endpoint_auth_method: {}\ngrant_types: {}\n",
        client.client_id,
        client.name,
        client.source.as_str(),
        client.token_endpoint_auth_method.as_str(),
        client.grant_types.join(" "),
    );
    for uri in &client.redirect_uris {
        out.push_str(&format!("redirect_uri: {uri}\n"));
    }
    if let Some(scope) = &client.scope {
        out.push_str(&format!("scope: {scope}\n"));
    }
    out.push_str(&format!(
        "last used: {}\n",
        client.last_used_at.map_or("never".to_owned(), rfc3339)
    ));
    out
}
