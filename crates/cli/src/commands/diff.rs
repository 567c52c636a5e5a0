//! `pforge diff`: what changed in one module between two versions, readable or as JSON Patch.

use crate::cli::{DiffArgs, GlobalArgs};
use crate::config::Config;
use crate::{exit, wiring};
use anyhow::{bail, Result};
use pforge_core::Domain;
use pforge_versioning::ChangeKind;

pub async fn run(global: &GlobalArgs, args: DiffArgs) -> Result<u8> {
    let domain = Domain::parse(&args.domain)?;
    let store = wiring::open_store(global).await?;
    let latest = store
        .latest_snapshot(domain.as_str(), &args.module)
        .await?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "nothing stored for {domain} module {}: check the module id (`pforge plan`) or enrich first",
                args.module
            )
        })?;
    let to = args.to.unwrap_or(latest.version);
    let from = args.from.unwrap_or(to - 1);
    if from < 1 || from >= to {
        bail!(
            "nothing to compare: --from {from} --to {to} (the latest version is {}; --from must be below --to)",
            latest.version
        );
    }
    let fetch = |v: i64| {
        let store = store.clone();
        let domain = domain.clone();
        let module = args.module.clone();
        async move {
            store
                .get_snapshot(domain.as_str(), &module, v)
                .await?
                .ok_or_else(|| anyhow::anyhow!("version {v} of {module} for {domain} is not stored (pruned, or never existed)"))
        }
    };
    let old = fetch(from).await?;
    let new = fetch(to).await?;
    // Set arrays make the diff read "Algolia added", not index shuffles.
    let sets = Config::load(global.config.as_deref())
        .and_then(|cfg| wiring::build_plan(&cfg))
        .ok()
        .and_then(|p| p.module(&args.module).map(|m| m.spec().set_arrays.clone()))
        .unwrap_or_default();
    let patch = pforge_versioning::diff(&old.data, &new.data, &sets);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&pforge_versioning::patch_to_value(&patch))?
        );
        return Ok(exit::OK);
    }
    println!("{domain} {}: v{from} → v{to}", args.module);
    let changes = pforge_versioning::changes(&old.data, &patch, &sets)?;
    if changes.is_empty() {
        println!("  no differences");
    }
    for c in changes {
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
