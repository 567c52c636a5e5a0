//! `pforge diff`: what changed in one module between two versions, readable or as JSON Patch.

use crate::cli::{DiffArgs, GlobalArgs};
use crate::exit;
use anyhow::Result;
use pforge_core::{ChangeKind, Domain};

pub async fn run(global: &GlobalArgs, args: DiffArgs) -> Result<u8> {
    let domain = Domain::parse(&args.domain)?;
    let app = super::open(global).await?;
    let d = app.diff(&domain, &args.module, args.from, args.to).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&d.patch)?);
        return Ok(exit::OK);
    }
    println!("{domain} {}: v{} → v{}", d.module, d.from, d.to);
    if d.changes.is_empty() {
        println!("  no differences");
    }
    for c in &d.changes {
        let (mark, text) = match c.kind {
            ChangeKind::Added => ("+", render(c.new_value.as_ref())),
            ChangeKind::Removed => ("-", render(c.old_value.as_ref())),
            ChangeKind::Changed => (
                "~",
                format!(
                    "{} → {}",
                    render(c.old_value.as_ref()),
                    render(c.new_value.as_ref())
                ),
            ),
        };
        println!("  {mark} {}: {text}", c.path);
    }
    Ok(exit::OK)
}

fn render(v: Option<&serde_json::Value>) -> String {
    let text = match v {
        None => "-".to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    if text.chars().count() > 120 {
        format!("{}...", text.chars().take(117).collect::<String>())
    } else {
        text
    }
}
