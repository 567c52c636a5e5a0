//! `pforge demo`: the whole product offline. Starts the fixture server, points every provider at
//! it, enriches the bundled demo companies into the local database and shows one of them.

use super::enrich::{self, RunOptions};
use crate::cli::{DemoArgs, GlobalArgs, Refresh};
use crate::config::Config;
use crate::input::Source;
use crate::{exit, wiring};
use anyhow::{Context, Result};
use pforge_core::Domain;
use pforge_fixture_server::FixtureServer;
use std::net::SocketAddr;

pub async fn run(global: &GlobalArgs, args: DemoArgs) -> Result<u8> {
    let mut cfg = Config::load(global.config.as_deref())?;
    let fixtures = args.fixtures.canonicalize().with_context(|| {
        format!(
            "fixtures folder {} not found: run the demo from the repository root or pass --fixtures DIR",
            args.fixtures.display()
        )
    })?;
    // A stable port keeps the source URLs in the briefs identical between demo runs, so an
    // unchanged recording really shows up as "unchanged"; any free port if it is taken.
    let server = match FixtureServer::start(
        &fixtures,
        args.epoch,
        SocketAddr::from(([127, 0, 0, 1], args.port)),
    )
    .await
    {
        Ok(s) => s,
        Err(_) => {
            FixtureServer::start(&fixtures, args.epoch, SocketAddr::from(([127, 0, 0, 1], 0)))
                .await
                .context("starting the fixture server")?
        }
    };
    cfg.use_fixture_server(&server.url());
    if cfg.intelligence.traffic.rank_list.is_none() {
        cfg.intelligence.traffic.rank_list = Some(fixtures.join("tranco-demo.csv"));
    }
    let store = wiring::open_store(global).await?;
    eprintln!(
        "demo: serving fixtures epoch {} at {} (no network needed), database {}",
        args.epoch,
        server.url(),
        wiring::redact_url(&wiring::database_url(global))
    );
    let started = chrono::Utc::now();
    let report = enrich::enrich(
        &cfg,
        store.clone(),
        RunOptions {
            source: Source::File(fixtures.join("demo-accounts.csv")),
            concurrency: None,
            module_timeout: None,
            refresh: Refresh::All,
            modules: Vec::new(),
            no_progress: false,
            label: format!("demo:epoch{}", args.epoch),
            max_spend: None,
            deliver_alerts: !args.json,
        },
    )
    .await?;
    server.shutdown().await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(report.exit_code());
    }
    enrich::print_summary(&report);
    let domain = Domain::parse(&args.show)?;

    // What this run learned that matters: the scored change events it raised.
    let events = store
        .list_change_events(None, Some(started), 10_000)
        .await?;
    let notable: Vec<_> = events
        .iter()
        .filter(|e| e.level >= pforge_core::Level::Medium)
        .collect();
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
    match store
        .latest_snapshot(domain.as_str(), "m15_strategic_brief")
        .await?
        .and_then(|s| {
            s.data
                .get("markdown")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        }) {
        Some(md) => println!("{md}"),
        None => {
            let titles = super::show::module_titles(global);
            super::show::show(store.as_ref(), &domain, None, false, &titles).await?;
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
    Ok(if report.input_errors.is_empty() {
        exit::OK
    } else {
        exit::BAD_INPUT
    })
}
