//! `pforge alerts`: inspect the outbox, deliver what is due, resend dead-lettered alerts.

use crate::cli::{AlertsArgs, AlertsCommand, GlobalArgs};
use crate::config::Config;
use crate::{exit, wiring};
use anyhow::{Context, Result};
use chrono::Utc;

pub async fn run(global: &GlobalArgs, args: AlertsArgs) -> Result<u8> {
    let store = wiring::open_store(global).await?;
    match args.command {
        AlertsCommand::List {
            status,
            limit,
            json,
        } => {
            let alerts = store.list_alerts(status.as_deref(), limit).await?;
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
            let cfg = Config::load(global.config.as_deref())?;
            if flush_digests {
                let now = Utc::now();
                for mut a in store.list_alerts(Some("pending"), 100_000).await? {
                    if a.delivery != "immediate" && a.next_attempt_at > now {
                        a.next_attempt_at = now;
                        store
                            .update_alert(&a)
                            .await
                            .context("rescheduling a digest")?;
                    }
                }
            }
            let r = wiring::deliver_alerts(&cfg, store).await?;
            println!(
                "{} message(s): {} delivered, {} to retry, {} dead, {} disabled",
                r.messages, r.delivered, r.retried, r.dead, r.disabled
            );
            Ok(if r.retried + r.dead > 0 {
                exit::MODULE_FAILURES
            } else {
                exit::OK
            })
        }
        AlertsCommand::Retry { id } => {
            let dead = store.list_alerts(Some("dead"), 100_000).await?;
            let chosen: Vec<_> = match &id {
                Some(id) => dead
                    .into_iter()
                    .filter(|a| a.id.to_string() == *id)
                    .collect(),
                None => dead,
            };
            if chosen.is_empty() {
                anyhow::bail!(
                    "no dead-lettered alert{}: see `pforge alerts list --status dead`",
                    id.map(|i| format!(" with id {i}")).unwrap_or_default()
                );
            }
            for mut a in chosen.iter().cloned() {
                a.status = "pending".into();
                a.attempts = 0;
                a.next_attempt_at = Utc::now();
                store
                    .update_alert(&a)
                    .await
                    .context("requeueing an alert")?;
            }
            println!("{} alert(s) requeued; delivering now", chosen.len());
            let cfg = Config::load(global.config.as_deref())?;
            let r = wiring::deliver_alerts(&cfg, store).await?;
            println!(
                "{} message(s): {} delivered, {} to retry, {} dead",
                r.messages, r.delivered, r.retried, r.dead
            );
            Ok(if r.retried + r.dead > 0 {
                exit::MODULE_FAILURES
            } else {
                exit::OK
            })
        }
    }
}
