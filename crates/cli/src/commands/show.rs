//! `pforge show`: the latest intelligence per module for one domain, with its sources.

use crate::cli::{GlobalArgs, ShowArgs};
use crate::config::Config;
use crate::{exit, wiring};
use anyhow::Result;
use pforge_core::Domain;
use pforge_store::{Snapshot, Store};
use serde_json::Value;
use std::collections::HashMap;

pub async fn run(global: &GlobalArgs, args: ShowArgs) -> Result<u8> {
    let domain = Domain::parse(&args.domain)?;
    let store = wiring::open_store(global).await?;
    let titles = module_titles(global);
    show(
        store.as_ref(),
        &domain,
        args.module.as_deref(),
        args.json,
        &titles,
    )
    .await
}

/// Module id → human title, from the plan (ids alone if the config cannot be loaded).
pub fn module_titles(global: &GlobalArgs) -> HashMap<String, String> {
    Config::load(global.config.as_deref())
        .and_then(|cfg| wiring::build_plan(&cfg))
        .map(|plan| {
            plan.modules()
                .iter()
                .map(|m| (m.spec().id.clone(), m.spec().title.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Prints the latest snapshots of `domain`; exit 1 when nothing is stored for it.
pub async fn show(
    store: &dyn Store,
    domain: &Domain,
    module: Option<&str>,
    json: bool,
    titles: &HashMap<String, String>,
) -> Result<u8> {
    let mut snaps = store.latest_snapshots(domain.as_str()).await?;
    if let Some(m) = module {
        snaps.retain(|s| s.module == m);
    }
    if snaps.is_empty() {
        eprintln!(
            "error: nothing stored for {domain}{}: run `pforge enrich {domain}` first",
            module.map(|m| format!(" module {m}")).unwrap_or_default()
        );
        return Ok(exit::MODULE_FAILURES);
    }
    if json {
        let out: Vec<Value> = snaps
            .iter()
            .map(|s| {
                serde_json::json!({
                    "module": s.module,
                    "version": s.version,
                    "fetched_at": s.fetched_at,
                    "checked_at": s.checked_at,
                    "data": s.data,
                    "sources": s.citations,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"domain": domain, "modules": out}))?
        );
        return Ok(exit::OK);
    }
    println!("{domain}");
    for s in &snaps {
        print_snapshot(s, titles.get(&s.module).map(String::as_str));
    }
    Ok(exit::OK)
}

fn print_snapshot(s: &Snapshot, title: Option<&str>) {
    println!();
    println!(
        "== {} ({})  v{}  fetched {}  checked {}",
        s.module,
        title.unwrap_or("-"),
        s.version,
        s.fetched_at.format("%Y-%m-%d %H:%M UTC"),
        s.checked_at.format("%Y-%m-%d %H:%M UTC")
    );
    if let Value::Object(map) = &s.data {
        for (k, v) in map {
            println!("   {k}: {}", render(v));
        }
    }
    if let Value::Array(cites) = &s.citations {
        println!("   sources:");
        for c in cites {
            let source = c.get("source").and_then(Value::as_str).unwrap_or("?");
            let covers: Vec<&str> = c
                .get("covers")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            println!("     - {source}  [{}]", covers.join(" "));
        }
    }
}

/// A one-line rendering: scalars as text, lists of named things by name, the rest as JSON.
fn render(v: &Value) -> String {
    let text = match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items)
            if items.iter().all(|i| i.get("name").is_some()) && !items.is_empty() =>
        {
            items
                .iter()
                .filter_map(|i| {
                    i.get("name").map(|n| {
                        n.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| n.to_string())
                    })
                })
                .collect::<Vec<_>>()
                .join(", ")
        }
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| i.to_string())
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    };
    if text.chars().count() > 160 {
        let cut: String = text.chars().take(157).collect();
        format!("{cut}...")
    } else {
        text
    }
}
