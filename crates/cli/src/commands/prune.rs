//! `pforge prune`: apply the retention policy (`[retention]`): keep the last N versions and/or
//! those newer than D days per module, never the latest; the oldest kept version becomes the new
//! base (full data, no patch), so the stored patches stay consistent.

use crate::cli::{GlobalArgs, PruneArgs};
use crate::config::Config;
use crate::{exit, wiring};
use anyhow::Result;
use chrono::Utc;
use pforge_versioning::{plan_retention, VersionInfo};
use serde::Serialize;

/// What pruning did (or would do) to one (domain, module).
#[derive(Serialize)]
struct Pruned {
    domain: String,
    module: String,
    deleted: Vec<i64>,
    new_base: Option<i64>,
}

pub async fn run(global: &GlobalArgs, args: PruneArgs) -> Result<u8> {
    let cfg = Config::load(global.config.as_deref())?;
    let retention = cfg.versioning()?.retention;
    let store = wiring::open_store(global).await?;
    let now = Utc::now();
    let mut report = Vec::new();
    for (domain, module, count) in store.snapshot_keys().await? {
        if count < 2 {
            continue;
        }
        let history = store.snapshot_history(&domain, Some(&module)).await?;
        let versions: Vec<VersionInfo> = history
            .iter()
            .map(|s| VersionInfo {
                version: s.version,
                created_at: s.created_at,
            })
            .collect();
        let plan = plan_retention(&versions, &retention.policy_for(&module), now);
        if plan.delete.is_empty() {
            continue;
        }
        if !args.dry_run {
            store
                .prune_versions(&domain, &module, &plan.delete, plan.new_base)
                .await?;
        }
        report.push(Pruned {
            domain,
            module,
            deleted: plan.delete,
            new_base: plan.new_base,
        });
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(exit::OK);
    }
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    let total: usize = report.iter().map(|r| r.deleted.len()).sum();
    for r in &report {
        println!(
            "{} {}: {verb} {} version(s); v{} is the new base",
            r.domain,
            r.module,
            r.deleted.len(),
            r.new_base.unwrap_or_default()
        );
    }
    println!(
        "{verb} {total} version(s) in {} module history(ies)",
        report.len()
    );
    Ok(exit::OK)
}
