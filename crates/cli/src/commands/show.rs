//! `pforge show`: the latest intelligence per module for one domain, with its sources.

use crate::cli::{GlobalArgs, ShowArgs};
use crate::exit;
use anyhow::Result;
use pforge_app::queries::{DomainIntel, ModuleIntel};
use pforge_app::App;
use pforge_core::Domain;
use serde_json::Value;

pub async fn run(global: &GlobalArgs, args: ShowArgs) -> Result<u8> {
    let domain = Domain::parse(&args.domain)?;
    let app = super::open(global).await?;
    show(&app, &domain, args.module.as_deref(), args.json).await
}

/// Prints the latest snapshots of `domain`; exit 1 when nothing is stored for it.
pub async fn show(app: &App, domain: &Domain, module: Option<&str>, json: bool) -> Result<u8> {
    let intel = match app.latest(domain, module).await {
        Ok(i) => i,
        Err(e) if e.kind() == pforge_app::ErrorKind::NotFound => {
            eprintln!("error: {e}");
            return Ok(exit::MODULE_FAILURES);
        }
        Err(e) => return Err(e.into()),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&as_json(&intel))?);
        return Ok(exit::OK);
    }
    println!("{domain}");
    for m in &intel.modules {
        print_snapshot(m);
    }
    Ok(exit::OK)
}

/// The `--json` shape: the domain and, per module, its version, times, data and sources.
fn as_json(intel: &DomainIntel) -> Value {
    let modules: Vec<Value> = intel
        .modules
        .iter()
        .map(|s| {
            serde_json::json!({
                "module": s.module,
                "version": s.version,
                "fetched_at": s.fetched_at,
                "checked_at": s.checked_at,
                "data": s.data,
                "sources": s.sources,
            })
        })
        .collect();
    serde_json::json!({"domain": intel.domain, "modules": modules})
}

fn print_snapshot(s: &ModuleIntel) {
    println!();
    println!(
        "== {} ({})  v{}  fetched {}  checked {}",
        s.module,
        s.title.as_deref().unwrap_or("-"),
        s.version,
        s.fetched_at.format("%Y-%m-%d %H:%M UTC"),
        s.checked_at.format("%Y-%m-%d %H:%M UTC")
    );
    if let Value::Object(map) = &s.data {
        for (k, v) in map {
            println!("   {k}: {}", render(v));
        }
    }
    if let Value::Array(cites) = &s.sources {
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
