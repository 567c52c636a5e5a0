//! `pforge history`: every stored version of a domain's modules, with when and what changed.

use crate::cli::{GlobalArgs, HistoryArgs};
use crate::exit;
use anyhow::Result;
use pforge_core::Domain;

pub async fn run(global: &GlobalArgs, args: HistoryArgs) -> Result<u8> {
    let domain = Domain::parse(&args.domain)?;
    let app = super::open(global).await?;
    let versions = match app.history(&domain, args.module.as_deref()).await {
        Ok(v) => v,
        Err(e) if e.kind() == pforge_app::ErrorKind::NotFound => {
            eprintln!("error: {e}");
            return Ok(exit::MODULE_FAILURES);
        }
        Err(e) => return Err(e.into()),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&versions)?);
        return Ok(exit::OK);
    }
    println!("{domain}");
    let mut current = String::new();
    for v in &versions {
        if v.module != current {
            current = v.module.clone();
            println!("\n== {current}");
        }
        let what = match (v.version, v.changes.len()) {
            (1, _) => "first version".to_string(),
            (_, 0) => "changed (no scored events)".to_string(),
            (_, n) => format!("{n} change(s)"),
        };
        println!(
            "  v{:<3} {}  last confirmed {}  {}",
            v.version,
            v.created_at.format("%Y-%m-%d %H:%M UTC"),
            v.checked_at.format("%Y-%m-%d %H:%M UTC"),
            what
        );
        for e in &v.changes {
            println!("        [{:<8}] {}", e.level, pforge_versioning::summary(e));
        }
    }
    Ok(exit::OK)
}
