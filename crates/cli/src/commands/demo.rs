//! `pforge demo`: the whole product offline. Starts the fixture server, points every provider at
//! it, enriches the bundled demo companies into the local database and shows one of them.

use super::enrich::{self, RunOptions};
use crate::cli::{DemoArgs, GlobalArgs, Refresh};
use crate::config::Config;
use crate::input::Source;
use crate::{exit, wiring};
use anyhow::{Context, Result};
use pforge_fixture_server::FixtureServer;
use pforge_orchestrator::Domain;
use std::net::SocketAddr;

pub async fn run(global: &GlobalArgs, args: DemoArgs) -> Result<u8> {
    let mut cfg = Config::load(global.config.as_deref())?;
    let fixtures = args.fixtures.canonicalize().with_context(|| {
        format!(
            "fixtures folder {} not found: run the demo from the repository root or pass --fixtures DIR",
            args.fixtures.display()
        )
    })?;
    let server = FixtureServer::start(&fixtures, args.epoch, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .context("starting the fixture server")?;
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
    println!();
    let titles = super::show::module_titles(global);
    super::show::show(store.as_ref(), &domain, None, false, &titles).await?;
    println!();
    println!("next: `pforge demo --epoch 2` re-enriches against later recordings and shows what changed;");
    println!("      `pforge show <domain>` shows any demo company; `pforge plan` shows the module graph.");
    // The demo's fixtures include a provider that errors on purpose: module failures are expected
    // and shown above, so they do not make the demo itself fail.
    Ok(if report.input_errors.is_empty() {
        exit::OK
    } else {
        exit::BAD_INPUT
    })
}
