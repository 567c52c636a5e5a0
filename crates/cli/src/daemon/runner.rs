//! Runs the daemon's jobs in this process: scheduled runs, refreshes and API submissions all go
//! through one long-lived executor (one gateway, so rate limits, caches and budgets are shared
//! across concurrent jobs). A job feeds its domains to the executor one by one; on shutdown the
//! feed stops, domains already started finish (within the grace period), and the job stays
//! `running` with the rest recorded as pending, so the next start resumes exactly that work.

use super::metrics::DaemonMetrics;
use super::LABEL_PREFIX;
use crate::config::Config;
use crate::{progress, wiring};
use futures::StreamExt;
use pforge_core::Domain;
use pforge_orchestrator::Executor;
use pforge_store::{ItemStatus, JobStatus, Store, StoreError, WorkItem};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

/// How many recent jobs are examined for resumption at start.
const RESUME_SCAN_JOBS: i64 = 1000;

/// Why a submission was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("the daemon is shutting down and accepts no new work")]
    ShuttingDown,
    #[error("no domains to enrich")]
    Empty,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The daemon's job runner. Shared behind an `Arc` by the scheduler, the refresh loop and the API.
pub struct Runner {
    executor: Executor,
    store: Arc<dyn Store>,
    cfg: Arc<Config>,
    metrics: DaemonMetrics,
    /// The plan's first module: each submitted domain gets a `pending` item for it at once, so a
    /// domain the executor has not reached yet is still on record for resumption.
    first_module: String,
    module_count: usize,
    /// Cancelled at shutdown: no new jobs, no more domains fed to running ones.
    stop: CancellationToken,
    tracker: TaskTracker,
    aborts: Mutex<Vec<AbortHandle>>,
    /// Labels of jobs in progress (a schedule whose previous run is still going skips a firing).
    busy_labels: Mutex<HashSet<String>>,
    /// Domains in progress in some job, with how many jobs hold them (refresh skips them).
    busy_domains: Mutex<HashMap<String, usize>>,
    /// Jobs go on the work queue for `pforge worker` processes instead of running here.
    queue: bool,
}

impl Runner {
    /// Builds a runner over an executor built from the same plan as `module_ids`.
    pub fn new(
        executor: Executor,
        store: Arc<dyn Store>,
        cfg: Arc<Config>,
        metrics: DaemonMetrics,
        module_ids: &[String],
        stop: CancellationToken,
        queue: bool,
    ) -> Runner {
        Runner {
            executor,
            store,
            cfg,
            metrics,
            first_module: module_ids.first().cloned().unwrap_or_default(),
            module_count: module_ids.len(),
            stop,
            tracker: TaskTracker::new(),
            aborts: Mutex::new(Vec::new()),
            busy_labels: Mutex::new(HashSet::new()),
            busy_domains: Mutex::new(HashMap::new()),
            queue,
        }
    }

    /// Whether jobs go on the work queue (PostgreSQL deployments with `pforge worker`s).
    pub fn queues(&self) -> bool {
        self.queue
    }

    /// Whether a job with this label is still unfinished: in this process, or (queue mode) in
    /// the database, where workers anywhere may be processing it.
    pub async fn label_running(&self, label: &str) -> bool {
        if !self.queue {
            return self.is_busy(label);
        }
        match self.store.list_jobs(200).await {
            Ok(jobs) => jobs
                .iter()
                .any(|j| j.label == label && j.status == JobStatus::Running),
            Err(e) => {
                tracing::warn!("cannot list jobs ({e}); assuming {label} is still running");
                true
            }
        }
    }

    /// Whether a job with this label is in progress.
    pub fn is_busy(&self, label: &str) -> bool {
        lock(&self.busy_labels).contains(label)
    }

    /// Whether some job in progress holds this domain.
    pub fn is_domain_busy(&self, domain: &str) -> bool {
        lock(&self.busy_domains).contains_key(domain)
    }

    /// Records a new job for `domains` (duplicates dropped) and starts it; returns its id at
    /// once. The job and a pending item per domain are written before this returns, so a crash
    /// right after still leaves the work on record.
    pub async fn submit(
        self: &Arc<Self>,
        label: &str,
        domains: Vec<Domain>,
    ) -> Result<Uuid, SubmitError> {
        if self.stop.is_cancelled() {
            return Err(SubmitError::ShuttingDown);
        }
        let mut seen = HashSet::new();
        let domains: Vec<Domain> = domains
            .into_iter()
            .filter(|d| seen.insert(d.clone()))
            .collect();
        if domains.is_empty() {
            return Err(SubmitError::Empty);
        }
        let job_id = Uuid::new_v4();
        if self.queue {
            let names: Vec<String> = domains.iter().map(ToString::to_string).collect();
            self.store.enqueue_job(job_id, label, &names).await?;
            tracing::info!(job = %job_id, label, domains = names.len(), "job queued for workers");
            return Ok(job_id);
        }
        self.store.create_job(job_id, label).await?;
        for d in &domains {
            self.store
                .upsert_item(&WorkItem {
                    job_id,
                    domain: d.to_string(),
                    module: self.first_module.clone(),
                    status: ItemStatus::Pending,
                    attempts: 0,
                    error: None,
                    started_at: None,
                    finished_at: None,
                    version: None,
                })
                .await?;
        }
        tracing::info!(job = %job_id, label, domains = domains.len(), "job submitted");
        self.spawn(job_id, label.to_string(), domains);
        Ok(job_id)
    }

    /// Restarts the daemon's own jobs (label `daemon:...`) that an earlier process left
    /// `running`: each re-runs the domains that have unfinished or missing items, under the same
    /// job id; a job with nothing left is marked completed. Returns how many were resumed.
    ///
    /// Assumes one daemon per SQLite database (a second daemon on the same file would resume the
    /// same jobs); with PostgreSQL, run several daemons only with resumption handled by the queue.
    pub async fn resume(self: &Arc<Self>) -> Result<usize, StoreError> {
        if self.queue {
            // Queued work is resumed by the queue itself: expired leases are claimed again.
            return Ok(0);
        }
        let mut resumed = 0;
        for job in self.store.list_jobs(RESUME_SCAN_JOBS).await? {
            if job.status != JobStatus::Running || !job.label.starts_with(LABEL_PREFIX) {
                continue;
            }
            let items = self.store.items_for_job(job.id).await?;
            let mut per_domain: BTreeMap<String, (usize, bool)> = BTreeMap::new();
            for it in &items {
                let e = per_domain.entry(it.domain.clone()).or_insert((0, true));
                e.0 += 1;
                e.1 &= it.status.is_terminal();
            }
            let todo: Vec<Domain> = per_domain
                .into_iter()
                .filter(|(_, (n, done))| !*done || *n < self.module_count)
                .filter_map(|(d, _)| Domain::parse(&d).ok())
                .collect();
            if todo.is_empty() {
                self.store.finish_job(job.id, JobStatus::Completed).await?;
                tracing::info!(job = %job.id, label = %job.label, "interrupted job had nothing left; completed");
                continue;
            }
            tracing::info!(job = %job.id, label = %job.label, domains = todo.len(), "resuming interrupted job");
            self.spawn(job.id, job.label.clone(), todo);
            resumed += 1;
        }
        Ok(resumed)
    }

    fn spawn(self: &Arc<Self>, job_id: Uuid, label: String, domains: Vec<Domain>) {
        lock(&self.busy_labels).insert(label.clone());
        {
            let mut busy = lock(&self.busy_domains);
            for d in &domains {
                *busy.entry(d.to_string()).or_default() += 1;
            }
        }
        let this = self.clone();
        let handle = self.tracker.spawn(async move {
            this.run_job(job_id, &label, &domains).await;
            lock(&this.busy_labels).remove(&label);
            let mut busy = lock(&this.busy_domains);
            for d in &domains {
                if let Some(n) = busy.get_mut(d.as_str()) {
                    *n -= 1;
                    if *n == 0 {
                        busy.remove(d.as_str());
                    }
                }
            }
        });
        let mut aborts = lock(&self.aborts);
        aborts.retain(|h| !h.is_finished());
        aborts.push(handle.abort_handle());
    }

    async fn run_job(&self, job_id: Uuid, label: &str, domains: &[Domain]) {
        let total = domains.len();
        let fed = Arc::new(AtomicUsize::new(0));
        let counter = fed.clone();
        let feed = futures::stream::iter(domains.to_vec())
            .take_until(self.stop.clone().cancelled_owned())
            .inspect(move |_| {
                counter.fetch_add(1, Ordering::Relaxed);
            });
        let (log_sink, _) = progress::reporter(true, self.module_count);
        let sink = self.metrics.sink(log_sink);
        let result = self.executor.run(job_id, feed, sink).await;
        let fed = fed.load(Ordering::Relaxed);
        let finished = match result {
            Err(e) => {
                tracing::error!(job = %job_id, label, "job stopped: {e}");
                self.store.finish_job(job_id, JobStatus::Failed).await
            }
            Ok(_) if fed < total => {
                tracing::warn!(job = %job_id, label, done = fed, left = total - fed,
                    "job interrupted by shutdown; the next start resumes it");
                Ok(())
            }
            Ok(summary) => {
                tracing::info!(job = %job_id, label, domains = summary.domains,
                    failed_modules = summary.failed(), "job completed");
                self.store.finish_job(job_id, JobStatus::Completed).await
            }
        };
        if let Err(e) = finished {
            tracing::error!(job = %job_id, "cannot record the job's end: {e}");
        }
        if !self.stop.is_cancelled() {
            deliver_alerts(&self.cfg, self.store.clone(), &self.metrics).await;
        }
    }

    /// Stops feeding domains, waits up to `grace` for jobs in progress, then aborts what is
    /// left (its items stay `running`/`pending`; the next start resumes them). Returns whether
    /// everything finished in time.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        self.stop.cancel();
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_ok()
        {
            return true;
        }
        let aborts = std::mem::take(&mut *lock(&self.aborts));
        let left = aborts.iter().filter(|h| !h.is_finished()).count();
        tracing::warn!(
            jobs = left,
            grace_secs = grace.as_secs_f64(),
            "grace period over: releasing unfinished work for the next start"
        );
        for h in aborts {
            h.abort();
        }
        // Aborted tasks stop at their next await; give them a moment to unwind.
        let _ = tokio::time::timeout(Duration::from_secs(1), self.tracker.wait()).await;
        false
    }
}

/// Delivers due alerts once, counting attempts in the metrics; problems are logged (alerts stay
/// in the outbox for the next round).
pub async fn deliver_alerts(cfg: &Config, store: Arc<dyn Store>, metrics: &DaemonMetrics) {
    match wiring::deliver_alerts(cfg, store).await {
        Ok(report) => {
            metrics.record_dispatch(&report);
            if report.messages > 0 {
                tracing::info!(
                    messages = report.messages,
                    delivered = report.delivered,
                    retried = report.retried,
                    dead = report.dead,
                    "alerts delivered"
                );
            }
        }
        Err(e) => tracing::warn!("alert delivery failed (alerts stay in the outbox): {e:#}"),
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked (plain sets and maps
/// updated in single statements).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
