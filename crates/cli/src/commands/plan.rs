//! `pforge plan`: the module DAG as waves, JSON or Graphviz, and `--estimate FILE`: what
//! enriching a list would call and cost, before spending anything.

use crate::cli::{GlobalArgs, PlanArgs};
use crate::exit;
use anyhow::Result;
use pforge_app::input::Source;
use pforge_app::queries::Estimate;

pub async fn run(global: &GlobalArgs, args: PlanArgs) -> Result<u8> {
    let app = super::open(global).await?;
    let plan = app.plan_for(&args.modules)?;
    if let Some(file) = &args.estimate {
        let source = if file.as_os_str() == "-" {
            Source::Stdin
        } else {
            Source::File(file.clone())
        };
        let e = app.estimate(&args.modules, source).await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&e)?);
        } else {
            print_estimate(&e);
        }
        return Ok(exit::OK);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&plan.to_json())?);
    } else if args.dot {
        print!("{}", plan.to_dot());
    } else {
        for (i, wave) in plan.waves().iter().enumerate() {
            println!("wave {}", i + 1);
            for id in wave {
                let Some(m) = plan.module(id) else { continue };
                let spec = m.spec();
                let deps = if spec.dependencies.is_empty() {
                    "-".to_string()
                } else {
                    spec.dependencies.join(", ")
                };
                println!(
                    "  {:<28} {:<26} needs: {:<40} calls: {}",
                    spec.id,
                    spec.title,
                    deps,
                    spec.providers.join(", ")
                );
            }
        }
    }
    Ok(exit::OK)
}

/// Prints the estimate as a table: per provider, then the items of batchable calls and the
/// requests they become, then what the numbers rest on.
fn print_estimate(e: &Estimate) {
    println!(
        "{} domain(s) ({} invalid line(s)); {} module run(s), {} skipped as fresh",
        e.domains, e.invalid_lines, e.module_runs, e.fresh_module_runs
    );
    println!(
        "{:<14} {:>8} {:>10} {:>12}",
        "provider", "calls", "cost", "min time"
    );
    for (id, p) in &e.providers {
        println!(
            "{:<14} {:>8} {:>10.2} {:>11.1}s",
            id, p.calls, p.cost, p.min_seconds
        );
        for i in &p.items {
            let rule = match i.max_items {
                Some(max) => format!("batched, at most {max} a call"),
                None => "no batch rule: one call per set".into(),
            };
            println!(
                "  {:>8} item(s) in {:>6} call(s) ({rule}): {}",
                i.items, i.calls, i.endpoint
            );
        }
    }
    println!(
        "total cost {:.2} credits; shortest possible duration {:.1}s (rate limits)",
        e.total_cost, e.min_seconds
    );
    if let Some(s) = e.simulated_seconds {
        println!("simulated duration {s:.1}s");
    }
    println!("basis: {}", e.basis);
    for a in &e.assumptions {
        match a.value {
            Some(v) => println!("  {} {} = {} ({})", a.kind, a.key, v, a.basis),
            None => println!("  {} {}: {}", a.kind, a.key, a.basis),
        }
    }
}
