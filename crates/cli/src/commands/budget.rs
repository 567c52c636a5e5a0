//! `pforge budget`: spend against every cap, from the ledger in the store.

use crate::cli::{BudgetArgs, GlobalArgs};
use crate::exit;
use anyhow::Result;

pub async fn run(global: &GlobalArgs, args: BudgetArgs) -> Result<u8> {
    let app = super::open(global).await?;
    let caps = app.budget_status().await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&caps)?);
        return Ok(exit::OK);
    }
    if caps.is_empty() {
        println!(
            "no spending caps configured (add a [budget] section to {})",
            app.settings().config.source
        );
        return Ok(exit::OK);
    }
    // "unknown": held by a worker that died before saying whether the call was billed;
    // already part of "spent" (counted, so a crash cannot overrun a cap), shown apart.
    println!(
        "{:<14} {:<8} {:>10} {:>10} {:>10} {:>10} {:>6}  resets at",
        "scope", "period", "spent", "unknown", "limit", "remaining", "used"
    );
    for c in &caps {
        let used = if c.limit > 0.0 {
            c.spent / c.limit * 100.0
        } else {
            100.0
        };
        println!(
            "{:<14} {:<8} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>5.0}%  {}",
            c.scope,
            c.period,
            c.spent,
            c.unknown,
            c.limit,
            c.remaining,
            used,
            c.resets_at.format("%Y-%m-%d %H:%M UTC")
        );
    }
    Ok(exit::OK)
}
