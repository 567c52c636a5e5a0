//! `pforge alerts`: inspect the outbox, deliver what is due, resend dead-lettered alerts.

use crate::cli::{AlertsArgs, AlertsCommand, GlobalArgs};
use crate::exit;
use anyhow::{Context, Result};
use pforge_versioning::DispatchReport;

pub async fn run(global: &GlobalArgs, args: AlertsArgs) -> Result<u8> {
    let app = super::open(global).await?;
    match args.command {
        AlertsCommand::List {
            status,
            limit,
            json,
        } => {
            let alerts = app.alerts().list(status.as_deref(), limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&alerts)?);
                return Ok(exit::OK);
            }
            if alerts.is_empty() {
                println!(
                    "no alerts{}",
                    status
                        .map(|s| format!(" with status {s}"))
                        .unwrap_or_default()
                );
            }
            for a in &alerts {
                let title = a
                    .payload
                    .get("title")
                    .and_then(|t| t.as_str())
                    .unwrap_or("-");
                println!(
                    "{}  {:<9} {:<10} {:<12} {:<9} attempts {}  {}  {}",
                    a.created_at.format("%Y-%m-%d %H:%M"),
                    a.status,
                    a.recipient,
                    a.channel,
                    a.delivery,
                    a.attempts,
                    a.id,
                    title
                );
                if let Some(e) = &a.last_error {
                    println!("      last error: {e}");
                }
            }
            Ok(exit::OK)
        }
        AlertsCommand::Deliver { flush_digests } => {
            if flush_digests {
                app.alerts()
                    .flush_digests()
                    .await
                    .context("rescheduling digests")?;
            }
            let r = app.alerts().deliver().await?;
            println!(
                "{} message(s): {} delivered, {} to retry, {} dead, {} disabled",
                r.messages, r.delivered, r.retried, r.dead, r.disabled
            );
            Ok(delivery_code(&r))
        }
        AlertsCommand::Retry { id } => {
            let id = id
                .as_deref()
                .map(|i| {
                    uuid::Uuid::parse_str(i.trim()).with_context(|| {
                        format!("--id {i:?} is not an alert id (see `pforge alerts list --status dead`)")
                    })
                })
                .transpose()?;
            let n = app.alerts().requeue_dead(id).await?;
            println!("{n} alert(s) requeued; delivering now");
            let r = app.alerts().deliver().await?;
            println!(
                "{} message(s): {} delivered, {} to retry, {} dead",
                r.messages, r.delivered, r.retried, r.dead
            );
            Ok(delivery_code(&r))
        }
    }
}

/// 1 when some alerts still wait for a retry or went dead.
fn delivery_code(r: &DispatchReport) -> u8 {
    if r.retried + r.dead > 0 {
        exit::MODULE_FAILURES
    } else {
        exit::OK
    }
}
