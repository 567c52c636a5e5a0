//! `pforge worker` and `pforge enrich --enqueue`: scale-out over a shared database.
//!
//! `enrich --enqueue` creates the job and one queue row per domain in one transaction and
//! returns. Each worker loops: claim a small batch of one job's domains (FOR UPDATE SKIP LOCKED
//! on PostgreSQL), feed them to the normal [`Executor`] as a stream (claiming more as it pulls),
//! heartbeat the leases of everything it holds, and close each row when its domain finishes.
//! A worker killed mid-run stops heartbeating; its rows become claimable when their leases
//! expire and another worker redoes them. Redoing is safe: snapshots are keyed by job (one
//! version per (job, domain, module)), modules already stored are fresh (TTL) and not fetched
//! again, and charges carry a call key, so nothing is stored or charged twice.
//!
//! SIGTERM/SIGINT: stop claiming, release rows not yet started, finish the domains in progress,
//! exit 0. A second signal releases everything still held and exits at once.

use crate::cli::{GlobalArgs, Refresh, WorkerArgs};
use crate::config::Config;
use crate::input::{self, Item, Source};
use crate::ledger::{JobScope, StoreLedger};
use crate::limiter::StoreLimiter;
use crate::wiring;
use anyhow::{Context, Result};
use futures::stream::StreamExt;
use pforge_budget::Gateway;
use pforge_core::Domain;
use pforge_orchestrator::{Executor, ExecutorConfig, Plan, RefreshPolicy, RunEvent, RunSummary};
use pforge_store::{QueueItem, QueueStatus, Store};
use serde_json::json;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use uuid::Uuid;

/// How often spend is re-read from the ledger in a worker: each worker can overshoot a shared
/// budget cap by what the others charge within this interval.
const LEDGER_REFRESH: Duration = Duration::from_secs(2);

/// How often finished queue rows are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// The job label for queued work; the worker reads the run options back from it.
fn queued_label(modules: &[String], refresh: Refresh) -> String {
    let refresh = match refresh {
        Refresh::Stale => "stale",
        Refresh::All => "all",
    };
    format!("enqueue modules={} refresh={refresh}", modules.join(","))
}

/// Run options of a queued job, parsed from its label.
fn options_from_label(label: &str) -> (Vec<String>, RefreshPolicy) {
    let mut modules = Vec::new();
    let mut refresh = RefreshPolicy::Stale;
    for token in label.split_whitespace() {
        if let Some(list) = token.strip_prefix("modules=") {
            modules = list
                .split(',')
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .collect();
        } else if token == "refresh=all" {
            refresh = RefreshPolicy::All;
        }
    }
    (modules, refresh)
}

/// `pforge enrich --enqueue`: read and validate every domain, then queue them as one job.
pub async fn enqueue(
    store: Arc<dyn Store>,
    source: Source,
    modules: &[String],
    refresh: Refresh,
    as_json: bool,
) -> Result<u8> {
    let mut items = input::spawn_reader(source).await?;
    let mut domains = Vec::new();
    let mut errors = Vec::new();
    while let Some(item) = items.recv().await {
        match item {
            Item::Domain(d) => domains.push(d.to_string()),
            Item::Invalid(e) => {
                eprintln!("error: input line {}: {}", e.line, e.message);
                errors.push(e);
            }
        }
    }
    let id = Uuid::new_v4();
    let job = store
        .enqueue_job(id, &queued_label(modules, refresh), &domains)
        .await
        .context("queueing the job")?;
    if as_json {
        let out = json!({
            "job_id": job.id,
            "status": job.status.as_str(),
            "domains": domains.len(),
            "input_errors": errors,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "job {} queued: {} domain(s); run `pforge worker` to process it, `pforge jobs show {}` to follow it",
            job.id,
            domains.len(),
            job.id
        );
    }
    Ok(if errors.is_empty() {
        crate::exit::OK
    } else {
        crate::exit::BAD_INPUT
    })
}

/// Everything a worker shares between its loop, its heartbeat task and its signal handler.
struct Worker {
    store: Arc<dyn Store>,
    owner: String,
    cfg: Config,
    args: WorkerArgs,
    gateway: Gateway,
    scope: JobScope,
    lease: Duration,
    /// Queue rows this worker holds (claimed, not yet closed or released).
    held: Mutex<HashSet<i64>>,
    stopping: AtomicBool,
    stop: Notify,
    plans: tokio::sync::Mutex<HashMap<Vec<String>, Arc<Plan>>>,
}

pub async fn run(global: &GlobalArgs, args: WorkerArgs) -> Result<u8> {
    let mut cfg = Config::load(global.config.as_deref())?;
    if let Some(url) = &args.fixtures_url {
        cfg.use_fixture_server(url);
    }
    if let Some(dir) = &args.fingerprints {
        let dir = if dir.is_absolute() {
            dir.clone()
        } else {
            std::env::current_dir()?.join(dir)
        };
        cfg.intelligence.tech_stack.fingerprints = Some(dir);
    }
    if !(args.lease_secs.is_finite() && args.lease_secs >= 0.5) {
        anyhow::bail!("--lease-secs must be at least 0.5");
    }
    if args.batch < 1 {
        anyhow::bail!("--batch must be at least 1");
    }
    let store = wiring::open_store(global).await?;
    let scope: JobScope = Arc::default();
    let gateway = Gateway::builder(cfg.providers.clone())
        .caps(cfg.budget.clone())
        .ledger(Arc::new(
            StoreLedger::new(store.clone()).with_job_scope(scope.clone()),
        ))
        .shared_limiter(Arc::new(StoreLimiter::new(store.clone())))
        .ledger_refresh(LEDGER_REFRESH)
        .build()
        .context("building the HTTP gateway")?;
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into());
    let owner = format!(
        "{host}:{}:{}",
        std::process::id(),
        &Uuid::new_v4().simple().to_string()[..8]
    );
    let worker = Arc::new(Worker {
        store,
        owner,
        lease: Duration::from_secs_f64(args.lease_secs),
        cfg,
        args,
        gateway,
        scope,
        held: Mutex::default(),
        stopping: AtomicBool::new(false),
        stop: Notify::new(),
        plans: tokio::sync::Mutex::default(),
    });
    tracing::info!(owner = %worker.owner, "worker started");

    tokio::spawn(signals(worker.clone()));
    let heartbeat = tokio::spawn(heartbeat(worker.clone()));
    let prune = tokio::spawn(prune(worker.clone()));
    let result = main_loop(worker.clone()).await;
    heartbeat.abort();
    prune.abort();
    worker.release_all().await;
    tracing::info!(owner = %worker.owner, "worker stopped");
    result.map(|()| crate::exit::OK)
}

impl Worker {
    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn hold(&self, ids: impl IntoIterator<Item = i64>) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.extend(ids);
    }

    fn drop_held(&self, id: i64) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.remove(&id);
    }

    fn held_ids(&self) -> Vec<i64> {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.iter().copied().collect()
    }

    async fn release(&self, ids: &[i64]) {
        if ids.is_empty() {
            return;
        }
        match self.store.release_queue_items(&self.owner, ids).await {
            Ok(n) => tracing::info!(released = n, "released queued domains not started"),
            Err(e) => tracing::warn!(
                "cannot release queued domains (they return when the lease expires): {e}"
            ),
        }
        for id in ids {
            self.drop_held(*id);
        }
    }

    async fn release_all(&self) {
        let ids = self.held_ids();
        self.release(&ids).await;
    }

    async fn claim(&self, job: Option<Uuid>) -> Result<Vec<QueueItem>> {
        let items = self
            .store
            .claim_queue_items(&self.owner, job, self.args.batch, self.lease)
            .await
            .context("claiming queued work")?;
        self.hold(items.iter().map(|i| i.id));
        Ok(items)
    }

    /// The plan for a job's module selection, built once per selection.
    async fn plan(&self, modules: &[String]) -> Result<Arc<Plan>> {
        let mut plans = self.plans.lock().await;
        if let Some(p) = plans.get(modules) {
            return Ok(p.clone());
        }
        let mut plan = wiring::build_plan(&self.cfg)?;
        if !modules.is_empty() {
            plan = plan.select(modules)?;
        }
        let plan = Arc::new(plan);
        plans.insert(modules.to_vec(), plan.clone());
        Ok(plan)
    }

    /// Whether any running job still has open queue rows (held by anyone): `--once` waits for
    /// those, since their holder may die and leave them to us.
    async fn work_remains(&self) -> Result<bool> {
        for job in self.store.list_jobs(1000).await? {
            if job.status != pforge_store::JobStatus::Running {
                continue;
            }
            let counts = self.store.queue_counts(job.id).await?;
            let open = counts.get(&QueueStatus::Pending).copied().unwrap_or(0)
                + counts.get(&QueueStatus::Running).copied().unwrap_or(0);
            if open > 0 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Runs one job's queued domains through the executor until none are left to claim.
    async fn run_job(self: &Arc<Self>, job: Uuid, first: Vec<QueueItem>) -> Result<RunSummary> {
        let label = self
            .store
            .get_job(job)
            .await?
            .map(|j| j.label)
            .unwrap_or_default();
        let (modules, refresh) = options_from_label(&label);
        let plan = self.plan(&modules).await?;
        let concurrency = self
            .args
            .concurrency
            .unwrap_or(self.cfg.run.concurrency)
            .max(1);
        let exec_cfg = ExecutorConfig {
            concurrency,
            max_domains_in_flight: (concurrency * 2).max(4),
            module_timeout: Duration::from_secs_f64(
                self.args
                    .module_timeout
                    .unwrap_or(self.cfg.run.module_timeout_secs)
                    .max(0.01),
            ),
            refresh,
            ttls: self.cfg.ttls()?,
        };
        let versioner = Arc::new(wiring::build_versioner(&self.cfg, &plan)?);
        let executor = Executor::new(
            plan,
            self.gateway.clone(),
            self.store.clone(),
            versioner,
            exec_cfg,
        );
        if let Ok(mut s) = self.scope.write() {
            *s = Some(job);
        }

        // Domain -> queue row, for closing rows as their domains finish.
        let rows: Arc<Mutex<HashMap<String, i64>>> = Arc::default();
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let closer = {
            let this = self.clone();
            let rows = rows.clone();
            tokio::spawn(async move {
                let mut closed = 0u64;
                while let Some(domain) = done_rx.recv().await {
                    let id = rows
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&domain);
                    let Some(id) = id else { continue };
                    this.close(id, QueueStatus::Done, None).await;
                    closed += 1;
                }
                closed
            })
        };
        let sink: pforge_orchestrator::EventSink = Arc::new(move |e: &RunEvent| {
            if let RunEvent::DomainFinished { domain, .. } = e {
                let _ = done_tx.send(domain.clone());
            }
        });

        struct Feed {
            worker: Arc<Worker>,
            job: Uuid,
            queue: VecDeque<QueueItem>,
            rows: Arc<Mutex<HashMap<String, i64>>>,
            exhausted: bool,
        }
        let feed = Feed {
            worker: self.clone(),
            job,
            queue: first.into(),
            rows: rows.clone(),
            exhausted: false,
        };
        let domains = futures::stream::unfold(feed, |mut feed| async move {
            loop {
                if feed.worker.stopping() {
                    let ids: Vec<i64> = feed.queue.drain(..).map(|i| i.id).collect();
                    feed.worker.release(&ids).await;
                    return None;
                }
                if let Some(item) = feed.queue.pop_front() {
                    match Domain::parse(&item.domain) {
                        Ok(d) => {
                            feed.rows
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(d.to_string(), item.id);
                            return Some((d, feed));
                        }
                        Err(e) => {
                            let why = format!("not a domain: {e}");
                            feed.worker
                                .close(item.id, QueueStatus::Failed, Some(&why))
                                .await;
                            continue;
                        }
                    }
                }
                if feed.exhausted {
                    return None;
                }
                match feed.worker.claim(Some(feed.job)).await {
                    Ok(more) if !more.is_empty() => feed.queue.extend(more),
                    Ok(_) => feed.exhausted = true,
                    Err(e) => {
                        tracing::warn!("{e:#}");
                        feed.exhausted = true;
                    }
                }
            }
        })
        .boxed();
        let result = executor.run(job, domains, sink).await;
        drop(executor);
        let closed = closer.await.unwrap_or(0);
        // Rows handed to the executor but not finished (the run stopped on a store error):
        // give them back so another worker (or this one) retries them now, not after the lease.
        let left: Vec<i64> = rows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .map(|(_, id)| id)
            .collect();
        self.release(&left).await;
        let summary = result.context("the run stopped")?;
        tracing::info!(job = %job, domains = summary.domains, closed, failed_modules = summary.failed(), "batch of job finished");
        Ok(summary)
    }

    async fn close(&self, id: i64, status: QueueStatus, error: Option<&str>) {
        match self
            .store
            .complete_queue_item(&self.owner, id, status, error)
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!(id, "queue row was reclaimed by another worker (lease expired); its results are stored once either way"),
            Err(e) => tracing::warn!(id, "cannot close queue row (it will be redone after its lease): {e}"),
        }
        self.drop_held(id);
    }
}

async fn main_loop(worker: Arc<Worker>) -> Result<()> {
    let poll = Duration::from_secs_f64(worker.args.poll_secs.clamp(0.05, 300.0));
    loop {
        if worker.stopping() {
            return Ok(());
        }
        let batch = match worker.claim(None).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!("{e:#}; retrying");
                tokio::time::sleep(poll).await;
                continue;
            }
        };
        let Some(job) = batch.first().map(|i| i.job_id) else {
            if worker.args.once && !worker.work_remains().await? {
                return Ok(());
            }
            tokio::select! {
                r = worker.store.wait_for_queue(poll) => {
                    if let Err(e) = r {
                        tracing::debug!("queue notifications unavailable, polling: {e}");
                        tokio::time::sleep(poll).await;
                    }
                }
                _ = worker.stop.notified() => {}
            }
            continue;
        };
        if let Err(e) = worker.run_job(job, batch).await {
            tracing::error!(job = %job, "{e:#}");
            tokio::time::sleep(poll).await;
        }
    }
}

/// Renews the lease of every held row well before it expires.
async fn heartbeat(worker: Arc<Worker>) {
    let every = worker.lease / 3;
    loop {
        tokio::time::sleep(every).await;
        let ids = worker.held_ids();
        if ids.is_empty() {
            continue;
        }
        match worker
            .store
            .heartbeat_queue_items(&worker.owner, &ids, worker.lease)
            .await
        {
            Ok(kept) => {
                if kept.len() < ids.len() {
                    let kept: HashSet<i64> = kept.into_iter().collect();
                    let lost: Vec<i64> = ids.into_iter().filter(|i| !kept.contains(i)).collect();
                    tracing::warn!(
                        ?lost,
                        "leases lost (expired and reclaimed or closed meanwhile)"
                    );
                }
            }
            Err(e) => {
                tracing::warn!("heartbeat failed (retrying; leases expire if this persists): {e}")
            }
        }
    }
}

/// Deletes finished queue rows older than `--keep-days`, at start and every ten minutes.
async fn prune(worker: Arc<Worker>) {
    let keep = chrono::Duration::seconds((worker.args.keep_days.max(0.0) * 86400.0) as i64);
    loop {
        match worker.store.prune_queue(chrono::Utc::now() - keep).await {
            Ok(n) if n > 0 => tracing::info!(pruned = n, "old finished queue rows deleted"),
            Ok(_) => {}
            Err(e) => tracing::warn!("pruning the queue failed: {e}"),
        }
        tokio::time::sleep(PRUNE_EVERY).await;
    }
}

/// First SIGTERM/SIGINT: stop claiming and finish what is in progress. Second: release
/// everything held and exit now (another worker redoes it; nothing is stored or charged twice).
async fn signals(worker: Arc<Worker>) {
    let wait = || async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            match signal(SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = tokio::signal::ctrl_c() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    };
    wait().await;
    tracing::info!(
        "shutting down: no new claims; finishing domains in progress (signal again to stop now)"
    );
    worker.stopping.store(true, Ordering::SeqCst);
    worker.stop.notify_waiters();
    wait().await;
    worker.release_all().await;
    eprintln!("stopped: queued domains released to other workers");
    std::process::exit(130);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_options_round_trip_through_the_label() {
        let label = queued_label(
            &["m02_tech_stack".into(), "m01_company_context".into()],
            Refresh::All,
        );
        let (modules, refresh) = options_from_label(&label);
        assert_eq!(modules, vec!["m02_tech_stack", "m01_company_context"]);
        assert_eq!(refresh, RefreshPolicy::All);
        let (modules, refresh) = options_from_label(&queued_label(&[], Refresh::Stale));
        assert!(modules.is_empty());
        assert_eq!(refresh, RefreshPolicy::Stale);
    }
}
