//! `portcullis admin role …` (roles and grants) and `portcullis admin authz explain`.

use clap::{ArgGroup, Args, Subcommand};
use portcullis_core::admin::roles::{self, Grantee, RoleView, Where};
use portcullis_core::admin::views;
use portcullis_core::audit::AuditContext;
use portcullis_core::config::Config;
use portcullis_store::{Store, StoredRoleGrant};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::Output;

#[derive(Debug, Subcommand)]
pub(crate) enum RoleCommand {
    /// List every role: built in, from the configuration, and stored.
    List,
    /// Create or replace a stored role (every role must still resolve with it).
    Create {
        #[arg(long)]
        name: String,
        /// A role whose permissions this one has too (repeatable).
        #[arg(long = "inherits")]
        inherits: Vec<String>,
        /// A permission pattern (repeatable), e.g. `mcp.tools.call:files/read_*`.
        #[arg(long = "permission")]
        permissions: Vec<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a stored role that no grant and no other role uses.
    Delete {
        #[arg(long)]
        name: String,
    },
    /// Grant a role to a user, group or service principal, everywhere or in one tenant or on
    /// one server.
    Grant(GrantArgs),
    /// Take a grant back (the same options as `grant`).
    Revoke(GrantArgs),
    /// List every grant.
    Grants,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("grantee").required(true).args(["user", "group", "service", "subject"])))]
pub(crate) struct GrantArgs {
    /// An account's username.
    #[arg(long)]
    user: Option<String>,
    /// A group (local, or from an identity provider's groups claim).
    #[arg(long)]
    group: Option<String>,
    /// A service principal's subject (the `--subject` of its API key).
    #[arg(long)]
    service: Option<String>,
    /// A person verified by another validator, by the subject Portcullis gives them:
    /// `{validator}:{sub}`, e.g. `corp:248289761001` or `github:583231`.
    #[arg(long)]
    subject: Option<String>,
    #[arg(long)]
    role: String,
    /// Only in this tenant.
    #[arg(long)]
    tenant: Option<String>,
    /// Only on this MCP server (an `[[upstreams]]` name).
    #[arg(long)]
    server: Option<String>,
}

impl GrantArgs {
    fn grantee(&self) -> Grantee<'_> {
        match (&self.user, &self.group, &self.subject, &self.service) {
            (Some(user), _, _, _) => Grantee::User(user),
            (None, Some(group), _, _) => Grantee::Group(group),
            (None, None, Some(subject), _) => Grantee::Subject(subject),
            (None, None, None, service) => Grantee::Service(service.as_deref().unwrap_or_default()),
        }
    }

    fn at(&self) -> Where<'_> {
        Where {
            tenant: self.tenant.as_deref(),
            server: self.server.as_deref(),
        }
    }
}

fn role_json(role: &RoleView) -> Value {
    views::role(role)
}

fn grant_json(grant: &StoredRoleGrant) -> Value {
    views::grant(grant)
}

fn grant_text(grant: &StoredRoleGrant) -> String {
    let scope = if grant.scope.is_empty() {
        "everywhere".to_owned()
    } else {
        format!("{} {}", grant.scope_kind.as_str(), grant.scope)
    };
    format!(
        "{}  {} {} → {} ({scope})",
        grant.id,
        grant.grantee_kind.as_str(),
        grant.grantee,
        grant.role
    )
}

pub(crate) async fn run(
    store: &dyn Store,
    audit: &AuditContext,
    config: &Config,
    command: RoleCommand,
    now: OffsetDateTime,
) -> anyhow::Result<Output> {
    Ok(match command {
        RoleCommand::List => {
            let all = roles::list(store, config).await?;
            let text = all
                .iter()
                .map(|r| {
                    format!(
                        "{:<20} {:<8} {}",
                        r.name,
                        r.source.as_str(),
                        r.description.as_deref().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            Output {
                json: Value::Array(all.iter().map(role_json).collect()),
                text,
            }
        }
        RoleCommand::Create {
            name,
            inherits,
            permissions,
            description,
        } => {
            let role = roles::put(
                store,
                audit,
                config,
                &name,
                inherits,
                permissions,
                description,
                now,
            )
            .await?;
            Output {
                json: views::stored_role(&role),
                text: format!("role {} saved", role.name),
            }
        }
        RoleCommand::Delete { name } => {
            roles::delete(store, audit, config, &name, now).await?;
            Output {
                json: json!({ "deleted": name }),
                text: format!("role {name} deleted"),
            }
        }
        RoleCommand::Grant(args) => {
            let grant = roles::grant(
                store,
                audit,
                config,
                &args.grantee(),
                &args.role,
                args.at(),
                now,
                &mut rand::rng(),
            )
            .await?;
            Output {
                json: grant_json(&grant),
                text: format!("granted: {}", grant_text(&grant)),
            }
        }
        RoleCommand::Revoke(args) => {
            let grant = roles::revoke(
                store,
                audit,
                config,
                &args.grantee(),
                &args.role,
                args.at(),
                now,
            )
            .await?;
            Output {
                json: grant_json(&grant),
                text: format!("revoked: {}", grant_text(&grant)),
            }
        }
        RoleCommand::Grants => {
            let all = store.role_grant_list().await?;
            Output {
                json: Value::Array(all.iter().map(grant_json).collect()),
                text: all.iter().map(grant_text).collect::<Vec<_>>().join("\n"),
            }
        }
    })
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuthzCommand {
    /// Whether an account may send an MCP request to a server, and the grant and rule behind
    /// the answer.
    Explain {
        #[arg(long)]
        user: String,
        #[arg(long)]
        server: String,
        /// The MCP method, e.g. `tools/call`.
        #[arg(long)]
        method: String,
        /// The tool, prompt or resource the request names.
        #[arg(long)]
        name: Option<String>,
        /// The request's arguments as a JSON object, for the conditions of
        /// `[authorization] cedar_policies`, e.g. `{"path": "/etc/passwd"}`.
        #[arg(long)]
        arguments: Option<String>,
    },
}

pub(crate) async fn authz(
    store: &dyn Store,
    config: &Config,
    command: AuthzCommand,
) -> anyhow::Result<Output> {
    let AuthzCommand::Explain {
        user,
        server,
        method,
        name,
        arguments,
    } = command;
    if let Some(arguments) = &arguments {
        match serde_json::from_str::<Value>(arguments) {
            Ok(Value::Object(_)) => {}
            Ok(_) => anyhow::bail!("--arguments must be a JSON object"),
            Err(e) => anyhow::bail!("--arguments is not JSON: {e}"),
        }
    }
    let conditions = crate::conditions(config).map_err(anyhow::Error::msg)?;
    let explanation = roles::explain(
        store,
        config,
        &user,
        &server,
        &method,
        name.as_deref(),
        conditions
            .as_ref()
            .map(|conditions| roles::ExplainConditions {
                conditions,
                arguments: arguments.as_deref(),
                now: OffsetDateTime::now_utc(),
            }),
    )
    .await?;
    let (json, text) = views::explanation(&explanation, &server, &method);
    Ok(Output { json, text })
}
