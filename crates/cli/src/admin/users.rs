//! `portcullis admin user …`: local accounts. A password is read from stdin (never from the
//! command line, where `ps` and shell history would keep it) or generated: a generated one is
//! printed once, under `password` with `--json`, and must be changed at first sign-in.

use std::io::{IsTerminal, Read};

use clap::{ArgGroup, Args, Subcommand};
use portcullis_core::accounts::{InlineHashing, MAX_PASSWORD_BYTES, Password, PasswordPolicy};
use portcullis_core::admin::users::{self, InitialPassword, NewUser};
use portcullis_core::admin::views;
use portcullis_core::audit::AuditContext;
use portcullis_core::config::Config;
use portcullis_store::{Store, User, UserStatus};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{Output, rfc3339};

#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Create an account with a password read from stdin, or a generated one-time password
    /// (printed once) that must be changed at first sign-in.
    Create(CreateArgs),
    /// List accounts (never their passwords or hashes).
    List,
    /// Show one account.
    Show {
        /// The username (any case).
        #[arg(long)]
        username: String,
    },
    /// Disable an account: its sign-ins are refused and its browser sessions end at once.
    Disable {
        #[arg(long)]
        username: String,
    },
    /// Enable a disabled account again.
    Enable {
        #[arg(long)]
        username: String,
    },
    /// Delete an account: its grants are revoked (every token issued under them stops working),
    /// then the account, its sessions, second factors and recovery codes are removed.
    Delete {
        #[arg(long)]
        username: String,
    },
    /// Give an account a new one-time password (printed once; the person chooses a new one at
    /// the next sign-in) and end its browser sessions.
    ResetPassword {
        #[arg(long)]
        username: String,
    },
    /// Remove every second factor and recovery code of an account (a lost authenticator) and end
    /// its browser sessions.
    ResetMfa {
        #[arg(long)]
        username: String,
    },
}

#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("initial_password")
        .required(true)
        .args(["password_stdin", "generate_password"])
))]
pub(crate) struct CreateArgs {
    /// What the person types to sign in: ASCII letters, digits, '.', '_', '-', '@' or '+';
    /// unique without regard to case.
    #[arg(long)]
    username: String,
    #[arg(long)]
    email: String,
    /// The name shown to people (the username when absent).
    #[arg(long)]
    display_name: Option<String>,
    /// The tenant the account belongs to.
    #[arg(long)]
    tenant: Option<String>,
    /// Read the password from stdin (one line; a final newline is dropped).
    #[arg(long)]
    password_stdin: bool,
    /// Generate a one-time password, print it once, and make the user choose a new one at first
    /// sign-in.
    #[arg(long)]
    generate_password: bool,
}

pub(crate) async fn run(
    store: &dyn Store,
    audit: &AuditContext,
    config: &Config,
    command: UserCommand,
    now: OffsetDateTime,
) -> anyhow::Result<Output> {
    Ok(match command {
        UserCommand::Create(args) => {
            let password = if args.password_stdin {
                InitialPassword::Given(read_password()?)
            } else {
                InitialPassword::Generate
            };
            let new = NewUser {
                username: &args.username,
                email: &args.email,
                display_name: args.display_name.as_deref(),
                tenant: args.tenant.as_deref(),
                password,
            };
            let policy = PasswordPolicy::from_config(&config.accounts);
            let created = users::create(
                store,
                audit,
                &InlineHashing,
                &policy,
                new,
                now,
                &mut rand::rng(),
            )
            .await?;
            portcullis_core::admin::roles::grant_defaults(
                store,
                audit,
                &created.user,
                &config.accounts.default_roles,
                now,
                &mut rand::rng(),
            )
            .await?;
            created_output(&created, &config.server.public_url)
        }
        UserCommand::List => {
            let all = users::list(store).await?;
            Output {
                json: Value::Array(all.iter().map(user_json).collect()),
                text: list_text(&all),
            }
        }
        UserCommand::Show { username } => {
            let user = users::show(store, &username).await?;
            Output {
                text: show_text(&user),
                json: user_json(&user),
            }
        }
        UserCommand::Disable { username } => status_output(
            users::set_status(store, audit, &username, UserStatus::Disabled, now).await?,
        ),
        UserCommand::Enable { username } => status_output(
            users::set_status(store, audit, &username, UserStatus::Active, now).await?,
        ),
        UserCommand::Delete { username } => {
            let (user, grants) = users::delete(store, audit, &username, now).await?;
            let mut json = user_json(&user);
            if let Some(object) = json.as_object_mut() {
                object.insert("deleted".to_owned(), json!(true));
                object.insert("grants_revoked".to_owned(), json!(grants));
            }
            Output {
                text: format!(
                    "deleted account {} ({}); {grants} grant(s) revoked\n",
                    user.username, user.id
                ),
                json,
            }
        }
        UserCommand::ResetPassword { username } => {
            let reset = users::reset_password(
                store,
                audit,
                &InlineHashing,
                &username,
                now,
                &mut rand::rng(),
            )
            .await?;
            reset_output(&reset, &config.server.public_url)
        }
        UserCommand::ResetMfa { username } => {
            let (user, factors) = users::reset_mfa(store, audit, &username, now).await?;
            let mut json = user_json(&user);
            if let Some(object) = json.as_object_mut() {
                object.insert("factors_removed".to_owned(), json!(factors));
            }
            Output {
                text: format!(
                    "removed {factors} second factor(s) and the recovery codes of {}; their sessions have ended\n",
                    user.username
                ),
                json,
            }
        }
    })
}

/// One password from stdin, which must not be a terminal (it would echo what is typed).
fn read_password() -> anyhow::Result<Password> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        anyhow::bail!(
            "--password-stdin reads a password piped to the command (for example from a password manager); use --generate-password to get a one-time password instead"
        );
    }
    let mut text = String::new();
    // One byte more than a password may have, plus a line break, so overlong input is noticed.
    let limit = u64::try_from(MAX_PASSWORD_BYTES + 3).unwrap_or(u64::MAX);
    stdin
        .lock()
        .take(limit)
        .read_to_string(&mut text)
        .map_err(|e| anyhow::anyhow!("reading the password from stdin: {e}"))?;
    let password = Password::new(text);
    let trimmed = password
        .as_str()
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t));
    let password = match trimmed {
        Some(trimmed) => Password::new(trimmed.to_owned()),
        None => password,
    };
    if password.as_str().is_empty() {
        anyhow::bail!("--password-stdin: stdin held no password");
    }
    Ok(password)
}

fn user_json(user: &User) -> Value {
    views::user(user)
}

fn created_output(created: &users::Created, public_url: &str) -> Output {
    let heading = format!(
        "created account {} ({})\n",
        created.user.username, created.user.id
    );
    with_one_time_password(created, heading, public_url)
}

fn reset_output(reset: &users::Created, public_url: &str) -> Output {
    let heading = format!(
        "reset the password of {} ({})\n",
        reset.user.username, reset.user.id
    );
    with_one_time_password(reset, heading, public_url)
}

/// The account, and its one-time password (if any) printed once.
fn with_one_time_password(created: &users::Created, mut text: String, public_url: &str) -> Output {
    let user = &created.user;
    let json = views::user_with_password(created);
    if let Some(password) = &created.one_time_password {
        text.push_str(&format!(
            "\n  One-time password: {}\n\nIt is shown only now. {} signs in at {public_url}/login and must choose a new password first.\n",
            password.as_str(),
            user.username
        ));
    }
    Output { json, text }
}

fn status_output(user: User) -> Output {
    Output {
        text: format!("{} is {}\n", user.username, user.status.as_str()),
        json: user_json(&user),
    }
}

fn show_text(user: &User) -> String {
    let optional = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".to_owned());
    format!(
        "username:             {}\nid:                   {}\nemail:                {}{}\ndisplay name:         {}\ntenant:               {}\nstatus:               {}\nmust change password: {}\ncreated:              {}\nupdated:              {}\n",
        user.username,
        user.id,
        user.email,
        if user.email_verified {
            " (verified)"
        } else {
            ""
        },
        optional(&user.display_name),
        optional(&user.tenant),
        user.status.as_str(),
        if user.must_change_password {
            "yes"
        } else {
            "no"
        },
        rfc3339(user.created_at),
        rfc3339(user.updated_at),
    )
}

fn list_text(all: &[User]) -> String {
    if all.is_empty() {
        return "no accounts\n".to_owned();
    }
    let mut out = format!(
        "{:<24} {:<26} {:<9} {:<32} {}\n",
        "USERNAME", "ID", "STATUS", "EMAIL", "NAME"
    );
    for user in all {
        out.push_str(&format!(
            "{:<24} {:<26} {:<9} {:<32} {}\n",
            user.username,
            user.id,
            user.status.as_str(),
            user.email,
            user.display_name.as_deref().unwrap_or("-")
        ));
    }
    out
}
