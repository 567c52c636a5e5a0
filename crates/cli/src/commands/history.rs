//! `pforge history`: every stored version of a domain's modules, with when and what changed.

use crate::cli::{GlobalArgs, HistoryArgs};
use crate::{exit, wiring};
use anyhow::Result;
use pforge_core::Domain;
use std::collections::BTreeMap;

pub async fn run(global: &GlobalArgs, args: HistoryArgs) -> Result<u8> {
    let domain = Domain::parse(&args.domain)?;
    let store = wiring::open_store(global).await?;
    let snaps = store
        .snapshot_history(domain.as_str(), args.module.as_deref())
        .await?;
    if snaps.is_empty() {
        eprintln!("error: nothing stored for {domain}: run `pforge enrich {domain}` first");
        return Ok(exit::MODULE_FAILURES);
    }
    let events = store
        .list_change_events(Some(domain.as_str()), None, 100_000)
        .await?;
    let mut by_version: BTreeMap<(String, i64), Vec<&pforge_store::ChangeEvent>> = BTreeMap::new();
    for e in &events {
        by_version
            .entry((e.module.clone(), e.version))
            .or_default()
            .push(e);
    }
    if args.json {
        let out: Vec<serde_json::Value> = snaps
            .iter()
            .map(|s| {
                let changes: Vec<serde_json::Value> = by_version
                    .get(&(s.module.clone(), s.version))
                    .map(|v| {
                        v.iter()
                            .map(|e| serde_json::to_value(e).unwrap_or_default())
                            .collect()
                    })
                    .unwrap_or_default();
                serde_json::json!({
                    "module": s.module,
                    "version": s.version,
                    "created_at": s.created_at,
                    "checked_at": s.checked_at,
                    "job_id": s.job_id,
                    "changes": changes,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(exit::OK);
    }
    println!("{domain}");
    let mut current = String::new();
    for s in &snaps {
        if s.module != current {
            current = s.module.clone();
            println!("\n== {current}");
        }
        let changes = by_version.get(&(s.module.clone(), s.version));
        let what = match (s.version, changes) {
            (1, _) => "first version".to_string(),
            (_, Some(list)) => format!("{} change(s)", list.len()),
            (_, None) => "changed (no scored events)".to_string(),
        };
        println!(
            "  v{:<3} {}  last confirmed {}  {}",
            s.version,
            s.created_at.format("%Y-%m-%d %H:%M UTC"),
            s.checked_at.format("%Y-%m-%d %H:%M UTC"),
            what
        );
        for e in changes.into_iter().flatten() {
            println!("        [{:<8}] {}", e.level, pforge_versioning::summary(e));
        }
    }
    Ok(exit::OK)
}
