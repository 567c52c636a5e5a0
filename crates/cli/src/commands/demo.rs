//! `pforge demo`: the whole product offline, from any folder: the recordings and the default
//! config ship inside the binary. Shows the run, what changed and one account's brief.

use super::enrich;
use crate::cli::{DemoArgs, GlobalArgs};
use crate::{exit, progress};
use anyhow::Result;
use pforge_app::demo::{self, DemoOptions};
use pforge_app::input::InputError;
use pforge_app::queries::ChangeFilter;
use pforge_app::settings::redact_url;
use pforge_app::Settings;
use pforge_core::{Domain, Level};
use std::sync::Arc;

pub async fn run(global: &GlobalArgs, args: DemoArgs) -> Result<u8> {
    let domain = Domain::parse(&args.show)?;
    let fixtures = demo::serve(&DemoOptions {
        epoch: args.epoch,
        fixtures: args.fixtures.clone(),
        port: args.port,
    })
    .await?;
    let sources = global.sources();
    let database = Settings::resolve(&sources)
        .map(|s| s.database_url)
        .unwrap_or_default();
    eprintln!(
        "demo: serving fixtures epoch {} at {} (no network needed), database {}",
        args.epoch,
        fixtures.url(),
        redact_url(&database)
    );
    let (sink, bar) = progress::reporter(false, 15);
    let bar_for_errors = bar.clone();
    let on_input_error = Arc::new(move |e: &InputError| {
        let line = format!("error: input line {}: {}", e.line, e.message);
        match &bar_for_errors {
            Some(b) => b.println(line),
            None => eprintln!("{line}"),
        }
    });
    let run = fixtures.run(&sources, sink, on_input_error).await;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let run = run?;
    let app = super::remember(run.app);
    if !args.json {
        pforge_app::alerts::deliver_logged(&app).await;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&run.report)?);
        return Ok(enrich::exit_code(&run.report));
    }
    enrich::print_summary(&run.report);

    // What this run learned that matters: the scored change events it raised.
    let events = app
        .changes(&ChangeFilter {
            since: Some(run.started),
            limit: 10_000,
            ..Default::default()
        })
        .await?
        .events;
    let notable: Vec<_> = events.iter().filter(|e| e.level >= Level::Medium).collect();
    println!();
    if events.is_empty() {
        println!("== What changed: nothing since the last run (first versions are a baseline)");
    } else {
        println!(
            "== What changed: {} change event(s), {} at medium level or above",
            events.len(),
            notable.len()
        );
        for e in notable {
            println!(
                "  [{:<8}] {:<22} {:<26} {}",
                e.level,
                e.domain,
                e.module,
                pforge_versioning::summary(e)
            );
        }
    }

    // The account as a sales rep reads it: the strategic brief, every claim cited.
    println!();
    match app.brief(&domain).await {
        Ok(b) => println!("{}", b.markdown),
        Err(_) => {
            super::show::show(&app, &domain, None, false).await?;
        }
    }
    println!();
    println!("next: `pforge demo --epoch 2` re-enriches against later recordings and shows what changed;");
    println!(
        "      `pforge show <domain>` shows every module with sources; `pforge brief <domain>`,"
    );
    println!("      `pforge changes`, `pforge history <domain>`, `pforge plan` show the rest.");
    // The demo's fixtures include a provider that errors on purpose: module failures are expected
    // and shown above, so they do not make the demo itself fail.
    Ok(if run.report.input_errors.is_empty() {
        exit::OK
    } else {
        exit::BAD_INPUT
    })
}
