//! `pforge enrich`: stream domains through the plan and report what happened.

use crate::cli::{EnrichArgs, GlobalArgs, Refresh};
use crate::config::Config;
use crate::input::{self, InputError, Item, Source};
use crate::{exit, progress, wiring};
use anyhow::{Context, Result};
use pforge_orchestrator::{Executor, ExecutorConfig, RefreshPolicy, RunSummary};
use pforge_store::{JobStatus, Store};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

/// Options of one enrichment run, shared by `enrich` and `demo`.
pub struct RunOptions {
    pub source: Source,
    pub concurrency: Option<usize>,
    pub module_timeout: Option<f64>,
    pub refresh: Refresh,
    pub modules: Vec<String>,
    pub no_progress: bool,
    pub label: String,
    /// Per-run spending cap in credits (`--max-spend`).
    pub max_spend: Option<f64>,
    /// Deliver due alerts before and after the run (off for `--json`, whose stdout is data).
    pub deliver_alerts: bool,
}

/// Everything a finished run reports (`--json` prints this).
#[derive(Serialize)]
pub struct RunReport {
    #[serde(flatten)]
    pub summary: RunSummary,
    pub input_errors: Vec<InputError>,
}

impl RunReport {
    /// The process exit code for this run (see `pforge --help`).
    pub fn exit_code(&self) -> u8 {
        if !self.input_errors.is_empty() {
            exit::BAD_INPUT
        } else if self.summary.budget_failures() > 0 {
            exit::BUDGET
        } else if self.summary.failed() > 0 {
            exit::MODULE_FAILURES
        } else {
            exit::OK
        }
    }
}

pub async fn run(global: &GlobalArgs, args: EnrichArgs) -> Result<u8> {
    let mut cfg = Config::load(global.config.as_deref())?;
    if let Some(url) = &args.fixtures_url {
        cfg.use_fixture_server(url);
    }
    if let Some(dir) = &args.fingerprints {
        cfg.intelligence.tech_stack.fingerprints = Some(absolute(dir)?);
    }
    let source = match (&args.file, args.domains.as_slice()) {
        (Some(_), [_, ..]) => {
            anyhow::bail!("give domains as arguments or with --file, not both")
        }
        (Some(f), []) if f.as_os_str() == "-" => Source::Stdin,
        (Some(f), []) => Source::File(f.clone()),
        (None, [one]) if one == "-" => Source::Stdin,
        (None, []) => anyhow::bail!(
            "no domains given: pass them as arguments, use --file PATH, or `-` for standard input"
        ),
        (None, many) => Source::Args(many.to_vec()),
    };
    let store = wiring::open_store(global).await?;
    if args.enqueue {
        let (modules, refresh) = (&args.modules, args.refresh);
        return super::worker::enqueue(store, source, modules, refresh, args.json).await;
    }
    let report = enrich(
        &cfg,
        store,
        RunOptions {
            source,
            concurrency: args.concurrency,
            module_timeout: args.module_timeout,
            refresh: args.refresh,
            modules: args.modules.clone(),
            no_progress: args.no_progress,
            label: "cli".into(),
            max_spend: args.max_spend,
            deliver_alerts: !args.json,
        },
    )
    .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_summary(&report);
    }
    Ok(report.exit_code())
}

/// Runs the plan over the input and records the job; shared by `enrich` and `demo`.
pub async fn enrich(cfg: &Config, store: Arc<dyn Store>, opts: RunOptions) -> Result<RunReport> {
    let mut plan = wiring::build_plan(cfg)?;
    if !opts.modules.is_empty() {
        plan = plan.select(&opts.modules)?;
    }
    let plan = Arc::new(plan);
    let gateway = wiring::build_gateway(cfg, store.clone(), opts.max_spend)?;
    let versioner = Arc::new(wiring::build_versioner(cfg, &plan)?);
    let exec_cfg = ExecutorConfig {
        concurrency: opts.concurrency.unwrap_or(cfg.run.concurrency).max(1),
        max_domains_in_flight: (opts.concurrency.unwrap_or(cfg.run.concurrency) * 4).max(4),
        module_timeout: Duration::from_secs_f64(
            opts.module_timeout
                .unwrap_or(cfg.run.module_timeout_secs)
                .max(0.01),
        ),
        refresh: match opts.refresh {
            Refresh::Stale => RefreshPolicy::Stale,
            Refresh::All => RefreshPolicy::All,
        },
        ttls: cfg.ttls()?,
    };
    let hints = pforge_core::HintBook::default();
    let executor = Executor::new(plan.clone(), gateway, store.clone(), versioner, exec_cfg)
        .with_hints(hints.clone());

    if opts.deliver_alerts {
        // Alerts left pending by an earlier run (or a crash) go out first.
        deliver(cfg, store.clone()).await;
    }
    let job_id = Uuid::new_v4();
    store.create_job(job_id, &opts.label).await?;
    tracing::info!(job = %job_id, "job started");

    let mut items = input::spawn_reader_with_hints(opts.source, Some(hints)).await?;
    let errors: Arc<Mutex<Vec<InputError>>> = Arc::default();
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let errs = errors.clone();
    let (sink, bar) = progress::reporter(opts.no_progress, plan.modules().len());
    let bar_for_errors = bar.clone();
    tokio::spawn(async move {
        while let Some(item) = items.recv().await {
            match item {
                Item::Domain(d) => {
                    if tx.send(d).await.is_err() {
                        break;
                    }
                }
                Item::Invalid(e) => {
                    let line = format!("error: input line {}: {}", e.line, e.message);
                    match &bar_for_errors {
                        Some(b) => b.println(line),
                        None => eprintln!("{line}"),
                    }
                    if let Ok(mut v) = errs.lock() {
                        v.push(e);
                    }
                }
            }
        }
    });
    let domains =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|d| (d, rx)) });
    let result = executor.run(job_id, domains, sink).await;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let summary = match result {
        Ok(s) => s,
        Err(e) => {
            store.finish_job(job_id, JobStatus::Failed).await.ok();
            return Err(e).context("the run stopped");
        }
    };
    store.finish_job(job_id, JobStatus::Completed).await?;
    if opts.deliver_alerts {
        deliver(cfg, store.clone()).await;
    }
    let input_errors = errors.lock().map(|v| v.clone()).unwrap_or_default();
    Ok(RunReport {
        summary,
        input_errors,
    })
}

/// Delivers due alerts, logging (not failing on) problems: alerts stay in the outbox for later.
async fn deliver(cfg: &Config, store: Arc<dyn Store>) {
    match wiring::deliver_alerts(cfg, store).await {
        Ok(r) if r.messages > 0 => tracing::info!(
            messages = r.messages,
            delivered = r.delivered,
            retried = r.retried,
            dead = r.dead,
            "alerts delivered"
        ),
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "alert delivery failed; alerts stay pending")
        }
    }
}

/// Prints the per-module table and the first failures.
pub fn print_summary(report: &RunReport) {
    let s = &report.summary;
    println!(
        "job {}: {} domain(s), {} with failures, {} invalid input line(s)",
        s.job_id,
        s.domains,
        s.domains_with_failures,
        report.input_errors.len()
    );
    println!(
        "{:<28} {:>6} {:>8} {:>10} {:>6} {:>7} {:>8}",
        "module", "ok", "new ver", "unchanged", "fresh", "failed", "skipped"
    );
    for (id, c) in &s.modules {
        println!(
            "{:<28} {:>6} {:>8} {:>10} {:>6} {:>7} {:>8}",
            id, c.ok, c.new_version, c.unchanged, c.fresh, c.failed, c.skipped
        );
    }
    let budget = s.budget_failures();
    if budget > 0 {
        println!(
            "{budget} module run(s) stopped by a budget cap (their dependents degraded or were skipped); see `pforge budget`"
        );
    }
    if !s.failures.is_empty() {
        println!("failures:");
        for f in &s.failures {
            println!("  {} {}: {}", f.domain, f.module, f.error);
        }
    }
}

fn absolute(p: &std::path::Path) -> Result<PathBuf> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        Ok(std::env::current_dir()
            .context("cannot read the working directory")?
            .join(p))
    }
}
