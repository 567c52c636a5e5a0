//! `pforge daemon`: the long-running mode. It opens the store, serves `/metrics`, health checks
//! and the JSON API, fires cron schedules over target lists, refreshes modules whose TTL expired
//! (spread out in time), delivers alerts, and on SIGTERM/SIGINT stops taking work, lets what is
//! in flight finish within the grace period, flushes the alert outbox and exits; a restart
//! resumes whatever was left.
//!
//! Jobs run in this process through one executor and one gateway (see [`runner`]).

mod api;
pub mod config;
mod metrics;
mod openapi;
mod runner;
mod schedule;
mod server;

pub use config::DaemonConfig;

use crate::cli::{DaemonArgs, GlobalArgs};
use crate::config::Config;
use crate::input::{self, Item, Source};
use crate::{exit, wiring};
use anyhow::{Context, Result};
use chrono::Utc;
use metrics::DaemonMetrics;
use pforge_core::Domain;
use pforge_orchestrator::{Executor, ExecutorConfig, RefreshPolicy};
use pforge_store::Store;
use prometheus_client::registry::Registry;
use runner::Runner;
use schedule::{Schedule, TargetSource};
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Every job the daemon starts carries a label with this prefix (`daemon:api`,
/// `daemon:refresh`, `daemon:schedule:<name>`); only such jobs are resumed at start.
pub const LABEL_PREFIX: &str = "daemon:";

/// How often due alerts (retries, digests) are delivered besides right after each job.
const ALERT_INTERVAL: Duration = Duration::from_secs(30);

/// Runs the daemon until SIGTERM or SIGINT; returns the exit code.
pub async fn run(global: &GlobalArgs, args: DaemonArgs) -> Result<u8> {
    let mut cfg = Config::load(global.config.as_deref())?;
    if let Some(url) = &args.fixtures_url {
        cfg.use_fixture_server(url);
    }
    let settings = cfg
        .daemon
        .resolve(args.bind.as_deref(), &cfg.source, &cfg.base_dir)?;
    let store = wiring::open_store(global).await?;
    let cfg = Arc::new(cfg);

    let mut registry = Registry::default();
    let metrics = DaemonMetrics::new(&mut registry);
    // One gateway for the daemon's whole life, so rate limits, the cache and budget holds are
    // shared by concurrent jobs. A daemon has no "run", so [budget] per_run does not apply;
    // daily and monthly caps hold through the ledger in the database.
    let mut gateway_cfg = (*cfg).clone();
    gateway_cfg.budget.per_run = None;
    let gateway =
        wiring::build_gateway_with_metrics(&gateway_cfg, store.clone(), None, Some(&mut registry))?;
    let plan = Arc::new(wiring::build_plan(&cfg)?);
    let versioner = Arc::new(wiring::build_versioner(&cfg, &plan)?);
    let ttls = cfg.ttls()?;
    let concurrency = cfg.run.concurrency.max(1);
    let executor = Executor::new(
        plan.clone(),
        gateway,
        store.clone(),
        versioner,
        ExecutorConfig {
            concurrency,
            max_domains_in_flight: (concurrency * 4).max(4),
            module_timeout: Duration::from_secs_f64(cfg.run.module_timeout_secs.max(0.01)),
            refresh: RefreshPolicy::Stale,
            ttls: ttls.clone(),
        },
    );
    let module_ids: Vec<String> = plan.modules().iter().map(|m| m.spec().id.clone()).collect();
    let url = wiring::database_url(global).to_ascii_lowercase();
    let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let queue = cfg.daemon.queue.unwrap_or(postgres);
    let stop = CancellationToken::new();
    let runner = Arc::new(Runner::new(
        executor,
        store.clone(),
        cfg.clone(),
        metrics.clone(),
        &module_ids,
        stop.clone(),
        queue,
    ));

    let listener = tokio::net::TcpListener::bind(settings.bind)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (see [daemon] bind / --bind)",
                settings.bind
            )
        })?;
    let addr = listener
        .local_addr()
        .context("reading the listening address")?;
    // First line of stdout, so scripts and tests that bind port 0 learn the address.
    println!("pforge daemon listening on http://{addr}");
    std::io::stdout().flush().ok();
    tracing::info!(%addr, database = %wiring::redact_url(&wiring::database_url(global)),
        schedules = settings.schedules.len(), refresh = settings.refresh.is_some(),
        "daemon started");
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "the API listens beyond loopback: put TLS in front of it");
    }

    let mut workers = JoinSet::new();
    if queue {
        tracing::info!(workers = cfg.daemon.workers, "jobs go on the work queue");
        for i in 0..cfg.daemon.workers {
            workers.spawn(supervise_worker(
                i,
                global.clone(),
                args.fixtures_url.clone(),
                stop.clone(),
                settings.grace,
            ));
        }
    }
    let resumed = runner.resume().await.context("resuming interrupted jobs")?;
    if resumed > 0 {
        tracing::info!(jobs = resumed, "resumed interrupted jobs");
    }

    let mut background = JoinSet::new();
    for s in settings.schedules {
        background.spawn(schedule_loop(
            s,
            runner.clone(),
            store.clone(),
            stop.clone(),
        ));
    }
    if let Some(r) = settings.refresh.clone() {
        background.spawn(refresh_loop(
            r,
            ttls,
            runner.clone(),
            store.clone(),
            stop.clone(),
        ));
    }
    background.spawn(alert_loop(
        cfg.clone(),
        store.clone(),
        metrics.clone(),
        stop.clone(),
    ));

    let state = server::AppState {
        store: store.clone(),
        runner: runner.clone(),
        metrics: metrics.clone(),
        registry: Arc::new(registry),
        cfg: cfg.clone(),
        token: Arc::from(settings.token.as_str()),
        stopping: stop.clone(),
    };
    let app = server::router(state);
    let server_stop = stop.clone();
    let mut server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(server_stop.cancelled_owned())
            .await
    });

    let why = tokio::select! {
        s = wait_for_signal() => s,
        r = &mut server => {
            match r {
                Ok(Ok(())) => "the HTTP server stopped".to_string(),
                Ok(Err(e)) => format!("the HTTP server failed: {e}"),
                Err(e) => format!("the HTTP server task failed: {e}"),
            }
        }
    };
    let started = Instant::now();
    tracing::info!(
        grace_secs = settings.grace.as_secs_f64(),
        "{why}: shutting down"
    );
    stop.cancel();

    // Keep a slice of the grace period for flushing the alert outbox.
    let flush_budget = (settings.grace / 4).min(Duration::from_secs(5));
    let all_done = runner
        .shutdown(settings.grace.saturating_sub(flush_budget))
        .await;
    // Worker processes got SIGTERM from their supervisors (the stop token) and finish their
    // domains within the same grace period.
    while workers.join_next().await.is_some() {}
    background.shutdown().await;
    let left = settings
        .grace
        .saturating_sub(started.elapsed())
        .max(Duration::from_millis(200));
    if !server.is_finished() && tokio::time::timeout(left, &mut server).await.is_err() {
        server.abort();
    }
    let left = settings
        .grace
        .saturating_sub(started.elapsed())
        .max(Duration::from_millis(200));
    if tokio::time::timeout(left, runner::deliver_alerts(&cfg, store.clone(), &metrics))
        .await
        .is_err()
    {
        tracing::warn!("alert outbox not flushed in time; pending alerts go out at the next start");
    }
    tracing::info!(
        finished_in_flight = all_done,
        secs = started.elapsed().as_secs_f64(),
        "daemon stopped"
    );
    Ok(exit::OK)
}

/// Waits for SIGTERM or SIGINT and names it.
async fn wait_for_signal() -> String {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM".to_string(),
                _ = tokio::signal::ctrl_c() => "SIGINT".to_string(),
            },
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM ({e}); only SIGINT stops the daemon");
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT".to_string()
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C".to_string()
    }
}

/// Fires one schedule at each cron time until shutdown. A firing whose previous run is still
/// going is skipped (logged), so slow runs never pile up.
async fn schedule_loop(
    s: Schedule,
    runner: Arc<Runner>,
    store: Arc<dyn Store>,
    stop: CancellationToken,
) {
    let label = s.label();
    let mut last = Utc::now();
    loop {
        // Never before the last firing: a timer that wakes a hair early must not fire twice.
        let base = Utc::now().max(last);
        let Some(next) = s.next_after(base) else {
            tracing::warn!(schedule = %s.name, "the cron pattern never fires again");
            return;
        };
        let wait = (next - Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        last = next;
        if runner.label_running(&label).await {
            tracing::warn!(schedule = %s.name, "previous run still in progress; this firing is skipped");
            continue;
        }
        match load_targets(&s.targets, store.as_ref()).await {
            Ok(domains) if domains.is_empty() => {
                tracing::info!(schedule = %s.name, "no targets; nothing to do")
            }
            Ok(domains) => match runner.submit(&label, domains).await {
                Ok(job) => tracing::info!(schedule = %s.name, %job, "scheduled run started"),
                Err(e) => tracing::error!(schedule = %s.name, "scheduled run not started: {e}"),
            },
            Err(e) => tracing::error!(schedule = %s.name, "cannot read targets: {e:#}"),
        }
    }
}

/// The domains of a target list, read fresh at each firing. Invalid lines are logged and skipped.
async fn load_targets(source: &TargetSource, store: &dyn Store) -> Result<Vec<Domain>> {
    match source {
        TargetSource::Table => Ok(store
            .list_targets()
            .await?
            .into_iter()
            .filter_map(|t| match Domain::parse(&t.domain) {
                Ok(d) => Some(d),
                Err(e) => {
                    tracing::warn!("targets table: {e}");
                    None
                }
            })
            .collect()),
        TargetSource::File(path) => {
            let mut rx = input::spawn_reader(Source::File(path.clone())).await?;
            let mut out = Vec::new();
            while let Some(item) = rx.recv().await {
                match item {
                    Item::Domain(d) => out.push(d),
                    Item::Invalid(e) => {
                        tracing::warn!(file = %path.display(), line = e.line, "{}", e.message)
                    }
                }
            }
            Ok(out)
        }
    }
}

/// Scans the targets table at each interval and starts one `daemon:refresh` job for the domains
/// with a module past its (spread) TTL, at most `max_domains` per scan.
async fn refresh_loop(
    r: config::Refresh,
    ttls: HashMap<String, Duration>,
    runner: Arc<Runner>,
    store: Arc<dyn Store>,
    stop: CancellationToken,
) {
    let label = format!("{LABEL_PREFIX}refresh");
    let mut tick = tokio::time::interval(r.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if runner.label_running(&label).await {
            continue;
        }
        match due_targets(&r, &ttls, &runner, store.as_ref()).await {
            Ok(due) if due.is_empty() => {}
            Ok(due) => {
                let n = due.len();
                match runner.submit(&label, due).await {
                    Ok(job) => tracing::info!(%job, domains = n, "refresh started"),
                    Err(e) => tracing::error!("refresh not started: {e}"),
                }
            }
            Err(e) => tracing::error!("refresh scan failed: {e}"),
        }
    }
}

async fn due_targets(
    r: &config::Refresh,
    ttls: &HashMap<String, Duration>,
    runner: &Runner,
    store: &dyn Store,
) -> Result<Vec<Domain>, pforge_store::StoreError> {
    let now = Utc::now();
    let mut due = Vec::new();
    for t in store.list_targets().await? {
        if due.len() >= r.max_domains {
            break;
        }
        if runner.is_domain_busy(&t.domain) {
            continue;
        }
        let snaps = store.latest_snapshots(&t.domain).await?;
        if schedule::is_due(&t.domain, &snaps, ttls, r.spread, now) {
            if let Ok(d) = Domain::parse(&t.domain) {
                due.push(d);
            }
        }
    }
    Ok(due)
}

/// Delivers due alerts (retries, digests) every [`ALERT_INTERVAL`] until shutdown.
async fn alert_loop(
    cfg: Arc<Config>,
    store: Arc<dyn Store>,
    metrics: DaemonMetrics,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(ALERT_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        runner::deliver_alerts(&cfg, store.clone(), &metrics).await;
    }
}

/// Runs one `pforge worker` process for the daemon's queue (same config, database and log
/// format), restarting it if it dies; at shutdown sends it SIGTERM (it stops claiming, releases
/// what it has not started and finishes the rest) and waits up to `grace`.
async fn supervise_worker(
    index: usize,
    global: GlobalArgs,
    fixtures_url: Option<String>,
    stop: CancellationToken,
    grace: Duration,
) {
    loop {
        if stop.is_cancelled() {
            return;
        }
        let mut child = match worker_command(&global, fixtures_url.as_deref())
            .and_then(|mut c| c.spawn().context("starting `pforge worker`"))
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(worker = index, "{e:#}; retrying in 5 s");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(5)) => continue,
                }
            }
        };
        tracing::info!(worker = index, pid = child.id(), "worker process started");
        tokio::select! {
            status = child.wait() => {
                tracing::warn!(worker = index, "worker process exited ({status:?}); restarting in 5 s");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
            }
            _ = stop.cancelled() => {
                terminate(&child);
                if tokio::time::timeout(grace, child.wait()).await.is_err() {
                    tracing::warn!(worker = index, "worker did not stop within the grace period; killing it");
                    child.kill().await.ok();
                }
                return;
            }
        }
    }
}

/// The command line of a worker process equivalent to this daemon.
fn worker_command(
    global: &GlobalArgs,
    fixtures_url: Option<&str>,
) -> Result<tokio::process::Command> {
    let exe = std::env::current_exe().context("finding the pforge executable")?;
    let mut cmd = tokio::process::Command::new(exe);
    if let Some(c) = &global.config {
        cmd.arg("--config").arg(c);
    }
    cmd.arg("--database-url").arg(wiring::database_url(global));
    cmd.arg("--log-format").arg(match global.log_format {
        crate::cli::LogFormat::Json => "json",
        crate::cli::LogFormat::Text => "text",
    });
    for _ in 0..global.verbose {
        cmd.arg("-v");
    }
    cmd.arg("worker");
    if let Some(u) = fixtures_url {
        cmd.arg("--fixtures-url").arg(u);
    }
    // The daemon's stdout carries only its address line; worker logs go to stderr as usual.
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true);
    Ok(cmd)
}

/// Asks a child process to stop gracefully (SIGTERM).
fn terminate(child: &tokio::process::Child) {
    #[cfg(unix)]
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped: `wait` has not
        // returned), so it cannot name an unrelated process.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    #[cfg(not(unix))]
    let _ = child;
}
