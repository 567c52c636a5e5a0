//! `pforge changes`: recent change events across domains, filtered by age, level and domain.

use crate::cli::{ChangesArgs, GlobalArgs};
use crate::config::parse_duration;
use crate::{exit, wiring};
use anyhow::{Context, Result};
use pforge_core::Domain;

pub async fn run(global: &GlobalArgs, args: ChangesArgs) -> Result<u8> {
    let since = parse_duration(&args.since)
        .with_context(|| format!("--since {:?}: use a duration like 7d or 12h", args.since))?;
    let since =
        chrono::Utc::now() - chrono::Duration::from_std(since).context("--since is too large")?;
    let domain = args.domain.as_deref().map(Domain::parse).transpose()?;
    let store = wiring::open_store(global).await?;
    let min = args.min_level;
    let min_name = min.as_str();
    let mut events = store
        .list_change_events(domain.as_ref().map(|d| d.as_str()), Some(since), args.limit)
        .await?;
    events.retain(|e| e.level >= min);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&events)?);
        return Ok(exit::OK);
    }
    if events.is_empty() {
        println!(
            "no changes at level {} or above since {}",
            min_name,
            since.format("%Y-%m-%d %H:%M UTC")
        );
        return Ok(exit::OK);
    }
    for e in &events {
        println!(
            "{}  {:<8} {:>3}  {:<24} {:<24} {}",
            e.detected_at.format("%Y-%m-%d %H:%M"),
            e.level,
            e.significance,
            e.domain,
            e.module,
            pforge_versioning::summary(e)
        );
    }
    Ok(exit::OK)
}
