//! `pforge changes`: recent change events across domains, filtered by age, level, domain and
//! module in the database, newest first.

use crate::cli::{ChangesArgs, GlobalArgs};
use crate::exit;
use anyhow::{Context, Result};
use pforge_app::queries::ChangeFilter;
use pforge_app::settings::parse_duration;
use pforge_core::Domain;

pub async fn run(global: &GlobalArgs, args: ChangesArgs) -> Result<u8> {
    let since = parse_duration(&args.since)
        .with_context(|| format!("--since {:?}: use a duration like 7d or 12h", args.since))?;
    let since =
        chrono::Utc::now() - chrono::Duration::from_std(since).context("--since is too large")?;
    let domain = args.domain.as_deref().map(Domain::parse).transpose()?;
    let app = super::open(global).await?;
    let min = args.min_level;
    let page = app
        .changes(&ChangeFilter {
            domain,
            module: args.module.clone(),
            min_level: Some(min),
            since: Some(since),
            cursor: args.cursor.clone(),
            limit: args.limit,
        })
        .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&page.events)?);
        if let Some(c) = &page.next_cursor {
            eprintln!("more: --cursor {c}");
        }
        return Ok(exit::OK);
    }
    if page.events.is_empty() {
        println!(
            "no changes at level {} or above since {}",
            min,
            since.format("%Y-%m-%d %H:%M UTC")
        );
        return Ok(exit::OK);
    }
    for e in &page.events {
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
    if let Some(c) = &page.next_cursor {
        println!("(more: pforge changes ... --cursor {c})");
    }
    Ok(exit::OK)
}
