//! `portcullis admin group …`: local groups and their members. A role granted to a group
//! (`admin role grant --group NAME`) applies to its members.

use clap::Subcommand;
use portcullis_core::admin::groups::{self, GroupView, NewGroup};
use portcullis_core::admin::views;
use portcullis_core::audit::AuditContext;
use portcullis_store::Store;
use serde_json::Value;
use time::OffsetDateTime;

use super::Output;

#[derive(Debug, Subcommand)]
pub(crate) enum GroupCommand {
    /// Create a local group (with --tenant, only that tenant's accounts can be members).
    Create {
        /// 1-63 lowercase letters, digits, '-' or '_'.
        #[arg(long)]
        name: String,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// List the local groups and their members.
    List,
    /// Show one group and its members.
    Show {
        #[arg(long)]
        name: String,
    },
    /// Delete a group: its memberships end (grants to its name stay).
    Delete {
        #[arg(long)]
        name: String,
    },
    /// Make an account a member of a group.
    #[command(name = "add-member")]
    AddMember {
        /// The group.
        #[arg(long)]
        name: String,
        /// The account's username.
        #[arg(long)]
        user: String,
    },
    /// End an account's membership of a group.
    #[command(name = "remove-member")]
    RemoveMember {
        #[arg(long)]
        name: String,
        #[arg(long)]
        user: String,
    },
}

fn text(view: &GroupView) -> String {
    let members: Vec<&str> = view.members.iter().map(|u| u.username.as_str()).collect();
    format!(
        "{}{}: {}\n",
        view.group.name,
        view.group
            .tenant
            .as_ref()
            .map_or(String::new(), |t| format!(" (tenant {t})")),
        if members.is_empty() {
            "no members".to_owned()
        } else {
            members.join(", ")
        }
    )
}

fn one(view: &GroupView) -> Output {
    Output {
        json: views::group(view),
        text: text(view),
    }
}

pub(crate) async fn run(
    store: &dyn Store,
    audit: &AuditContext,
    command: GroupCommand,
    now: OffsetDateTime,
) -> anyhow::Result<Output> {
    Ok(match command {
        GroupCommand::Create {
            name,
            tenant,
            description,
        } => {
            let new = NewGroup {
                name: &name,
                tenant: tenant.as_deref(),
                description: description.as_deref(),
            };
            groups::create(store, audit, new, now).await?;
            one(&groups::show(store, &name).await?)
        }
        GroupCommand::List => {
            let all = groups::list(store).await?;
            Output {
                json: Value::Array(all.iter().map(views::group).collect()),
                text: if all.is_empty() {
                    "no groups\n".to_owned()
                } else {
                    all.iter().map(text).collect()
                },
            }
        }
        GroupCommand::Show { name } => one(&groups::show(store, &name).await?),
        GroupCommand::Delete { name } => {
            let gone = groups::delete(store, audit, &name, now).await?;
            Output {
                json: views::group(&gone),
                text: format!("deleted group {name}\n"),
            }
        }
        GroupCommand::AddMember { name, user } => {
            one(&groups::add_member(store, audit, &name, &user, now).await?)
        }
        GroupCommand::RemoveMember { name, user } => {
            one(&groups::remove_member(store, audit, &name, &user, now).await?)
        }
    })
}
