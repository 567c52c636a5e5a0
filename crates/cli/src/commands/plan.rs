//! `pforge plan`: the module DAG as waves, JSON or Graphviz.

use crate::cli::{GlobalArgs, PlanArgs};
use crate::config::Config;
use crate::input::Source;
use crate::{exit, wiring};
use anyhow::Result;

pub async fn run(global: &GlobalArgs, args: PlanArgs) -> Result<u8> {
    let cfg = Config::load(global.config.as_deref())?;
    let mut plan = wiring::build_plan(&cfg)?;
    if !args.modules.is_empty() {
        plan = plan.select(&args.modules)?;
    }
    if let Some(file) = &args.estimate {
        let source = if file.as_os_str() == "-" {
            Source::Stdin
        } else {
            Source::File(file.clone())
        };
        let store = wiring::open_store(global).await?;
        let gateway = wiring::build_gateway(&cfg, store.clone(), None)?;
        let e = super::estimate::estimate(&cfg, &plan, store, &gateway, source).await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&e)?);
        } else {
            super::estimate::print(&e);
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
