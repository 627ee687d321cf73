//! `portcullis admin audit …`: the audit log. `list` shows recent records, `export` writes every
//! record (hashes included) as JSON lines for anyone to verify independently, and `verify` walks the
//! whole chain and fails naming the first broken record.

use std::io::Write;

use clap::Subcommand;
use portcullis_core::admin::audit::{self, Verification};
use portcullis_core::config::parse_duration;
use portcullis_store::{AuditRecord, Store};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// The most recent records, oldest first.
    List {
        /// Only records at or after this time: RFC 3339 (`2026-05-01T00:00:00Z`) or a duration
        /// before now (`1h`, `7d`).
        #[arg(long)]
        since: Option<String>,
        /// At most this many (the newest).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Every record (at or after --since) as one JSON object per line on stdout, with its
    /// `prev_hash` and `hash`, for verification outside Portcullis (docs/audit.md).
    Export {
        #[arg(long)]
        since: Option<String>,
    },
    /// Walk the whole chain from the first record: exits 0 with the count when every record is
    /// intact and linked, non-zero naming the first broken record otherwise.
    Verify,
}

pub(crate) async fn run(
    store: &dyn Store,
    json: bool,
    command: AuditCommand,
    now: OffsetDateTime,
) -> anyhow::Result<()> {
    match command {
        AuditCommand::List { since, limit } => {
            let since = since.map(|s| parse_since(&s, now)).transpose()?;
            let records = audit::list(store, since, limit).await?;
            if json {
                let all: Vec<Value> = records.iter().map(record_json).collect();
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                print!("{}", list_text(&records));
            }
        }
        AuditCommand::Export { since } => {
            let since = since.map(|s| parse_since(&s, now)).transpose()?;
            let mut out = std::io::stdout().lock();
            audit::export(store, since, |page| {
                for record in page {
                    writeln!(out, "{}", record_json(record))?;
                }
                Ok(())
            })
            .await?;
            out.flush()?;
        }
        AuditCommand::Verify => match audit::verify(store).await? {
            Verification::Intact { count, head } => {
                let head = head.map(|h| hex(&h));
                if json {
                    let doc = json!({ "intact": true, "count": count, "head": head });
                    println!("{}", serde_json::to_string_pretty(&doc)?);
                } else {
                    println!(
                        "audit log intact: {count} records{}",
                        head.map_or(String::new(), |h| format!(", head {h}"))
                    );
                }
            }
            Verification::Broken { checked, at } => {
                if json {
                    let doc = json!({
                        "intact": false,
                        "broken_at": at.seq(),
                        "problem": at.to_string(),
                        "intact_before": checked,
                    });
                    println!("{}", serde_json::to_string_pretty(&doc)?);
                }
                anyhow::bail!("audit log broken: {at} ({checked} records before it are intact)");
            }
        },
    }
    Ok(())
}

/// `--since`: an RFC 3339 instant, or a duration before `now`.
fn parse_since(text: &str, now: OffsetDateTime) -> anyhow::Result<OffsetDateTime> {
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(at);
    }
    let ago = parse_duration(text).map_err(|_| {
        anyhow::anyhow!("--since: {text:?} is neither an RFC 3339 time nor a duration like 1h")
    })?;
    Ok(now - time::Duration::try_from(ago)?)
}

use portcullis_core::admin::views::{audit_record as record_json, audit_time as time_text, hex};

fn list_text(records: &[AuditRecord]) -> String {
    if records.is_empty() {
        return "no audit records\n".to_owned();
    }
    let mut out = format!(
        "{:<7} {:<27} {:<24} {:<8} {:<28} {}\n",
        "SEQ", "TIME", "ACTION", "DECISION", "ACTOR", "TARGET"
    );
    for record in records {
        let event = &record.event;
        let mut target = event.target.clone().unwrap_or_default();
        if let Some(reason) = &event.reason {
            target.push_str(&format!(" ({reason})"));
        }
        out.push_str(&format!(
            "{:<7} {:<27} {:<24} {:<8} {:<28} {}\n",
            record.seq,
            time_text(event.time),
            event.action,
            event.decision,
            event.actor.as_deref().unwrap_or("-"),
            target
        ));
    }
    out
}
