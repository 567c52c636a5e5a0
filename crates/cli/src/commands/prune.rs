//! `pforge prune`: apply the retention policy (`[retention]`): keep the last N versions and/or
//! those newer than D days per module, never the latest.

use crate::cli::{GlobalArgs, PruneArgs};
use crate::exit;
use anyhow::Result;

pub async fn run(global: &GlobalArgs, args: PruneArgs) -> Result<u8> {
    let app = super::open(global).await?;
    let report = app.prune(args.dry_run).await?;
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
