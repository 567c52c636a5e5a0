//! Worker tasks: scale-out over the shared work queue, in-process.
//!
//! `pforge worker` runs one; `pforge daemon` runs `[daemon] workers` of them beside its schedules
//! and API. Each loops: claim a small batch of one job's domains (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, `BEGIN IMMEDIATE` on SQLite), feed them to the job's executor as a stream
//! (claiming more as it pulls), heartbeat the leases of everything it holds, and close each row
//! when its domain finishes. A worker killed mid-run stops heartbeating; its rows become
//! claimable when their leases expire and another worker redoes them. Redoing is safe:
//! snapshots are keyed by job (one version per (job, domain, module)), modules already stored are
//! fresh (TTL) and not fetched again, and charges carry a call key, so nothing is stored or
//! charged twice.
//!
//! Stopping: cancelling `stop` ends claiming, gives back rows not yet started (recording them as
//! pending work of their job) and lets the domains in progress finish; cancelling `abort` gives
//! back everything held at once (another worker redoes it).
//!
//! A configuration that cannot build the modules is refused before the first claim
//! ([`Worker::start`] returns the error): a worker must never claim work it cannot do.
//!
//! Faults. Results are written through a [`FencedStore`]: each write for a claimed domain
//! checks, in its own transaction and under a lock on the queue row, that the row is still held
//! by this worker's claim (its lease token), so a worker paused past its lease writes nothing
//! for work another worker now owns ("lease lost for DOMAIN; another worker owns it"). When a
//! heartbeat cannot reach the database the worker stops claiming until it answers again.
//! Reads, result writes and queue closes that fail because the database cannot be reached (a
//! PostgreSQL restart) are retried with backoff instead of failing the domain.

use crate::error::{AppError, AppResult};
use crate::jobs::JobSpec;
use crate::App;
use futures::stream::StreamExt;
use pforge_core::Domain;
use pforge_orchestrator::{EventSink, Executor, RunEvent, RunSummary};
use pforge_store::{
    describe, Fence, FencedStore, ItemStatus, JobStatus, QueueItem, QueueStatus, Store, StoreError,
    WorkItem,
};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How often finished queue rows are pruned at most: every ten minutes, or every half of the
/// keep time when that is shorter (a queue that keeps rows for a minute is pruned twice a
/// minute), never more than once a second.
fn prune_every(keep: Duration) -> Duration {
    (keep / 2).clamp(Duration::from_secs(1), Duration::from_secs(600))
}

/// How long reads and writes keep retrying while the database cannot be reached (at least;
/// longer leases wait longer): a PostgreSQL restart takes seconds, a failover under a minute.
const DB_PATIENCE: Duration = Duration::from_secs(90);

/// Most finished rows closed in one transaction.
const CLOSE_BATCH: usize = 256;

/// What one worker did, for logs, tests and `/metrics` (which adds them up per process).
#[derive(Debug, Default)]
pub struct WorkerCounts {
    /// Queue rows claimed.
    pub claims: AtomicU64,
    /// Claims lost to another worker (found by a heartbeat or by a refused fenced write).
    pub leases_lost: AtomicU64,
    /// Heartbeats that could not reach the database.
    pub heartbeats_missed: AtomicU64,
}

/// Knobs of one worker.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Domains claimed per round trip to the queue.
    pub batch: i64,
    /// How long a claim is held without a heartbeat.
    pub lease: Duration,
    /// Between queue polls when idle (PostgreSQL also wakes workers with NOTIFY).
    pub poll: Duration,
    /// Return once no queued job has work left, instead of waiting for more.
    pub once: bool,
    /// How long finished queue rows are kept before they are pruned.
    pub keep: Duration,
    /// Deliver due alerts after each job (the daemon's workers do; its alert loop does the rest).
    pub deliver_alerts: bool,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            batch: 8,
            lease: Duration::from_secs(30),
            poll: Duration::from_secs(5),
            once: false,
            keep: Duration::from_secs(7 * 86400),
            deliver_alerts: false,
        }
    }
}

impl WorkerOptions {
    /// Checks the knobs a front end was given.
    pub fn check(&self) -> AppResult<()> {
        if self.lease < Duration::from_millis(500) {
            return Err(AppError::invalid("--lease-secs must be at least 0.5"));
        }
        if self.batch < 1 {
            return Err(AppError::invalid("--batch must be at least 1"));
        }
        Ok(())
    }
}

/// One worker: a queue consumer with its own lease owner id.
pub struct Worker {
    app: App,
    owner: String,
    opts: WorkerOptions,
    /// Queue rows this worker holds (claimed, not yet closed or released): id -> (job, domain).
    held: Mutex<HashMap<i64, (Uuid, String)>>,
    /// The claims its fenced writes check.
    fence: Arc<Fence>,
    /// The application's store with result writes fenced and unreachable-database retries.
    store: Arc<dyn Store>,
    /// Set while heartbeats cannot reach the database: no new claims until it answers.
    db_down: AtomicBool,
    /// Claims found lost, by (job, domain) (each is counted once).
    lost: Mutex<HashSet<(Uuid, String)>>,
    counts: WorkerCounts,
    stop: CancellationToken,
    events: Option<EventSink>,
}

impl Worker {
    /// A worker over `app`'s queue, refused at once if the config cannot build the modules.
    /// `tag` tells the daemon's workers apart in lease owner ids and logs.
    /// `events` receives every executor event (metrics, logs).
    pub fn start(
        app: App,
        opts: WorkerOptions,
        tag: Option<&str>,
        stop: CancellationToken,
        events: Option<EventSink>,
    ) -> AppResult<Arc<Worker>> {
        opts.check()?;
        app.plan()?;
        app.versioner()?;
        app.gateway()?;
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into());
        let rand = Uuid::new_v4().simple().to_string();
        let owner = match tag {
            Some(t) => format!("{host}:{}:{t}-{}", std::process::id(), &rand[..8]),
            None => format!("{host}:{}:{}", std::process::id(), &rand[..8]),
        };
        let fence = Arc::new(Fence::new(&owner, DB_PATIENCE.max(opts.lease * 3)));
        let store: Arc<dyn Store> = Arc::new(FencedStore::new(app.store().clone(), fence.clone()));
        Ok(Arc::new(Worker {
            app,
            owner,
            opts,
            held: Mutex::default(),
            fence,
            store,
            db_down: AtomicBool::new(false),
            lost: Mutex::default(),
            counts: WorkerCounts::default(),
            stop,
            events,
        }))
    }

    /// The lease owner id this worker claims under.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// What this worker did so far.
    pub fn counts(&self) -> &WorkerCounts {
        &self.counts
    }

    /// Whether the worker stopped claiming because its heartbeat cannot reach the database.
    pub fn database_unreachable(&self) -> bool {
        self.db_down.load(Ordering::SeqCst)
    }

    /// Runs until `stop` is cancelled (or, with `once`, until no queued job has work left);
    /// then gives back what it holds. Errors only on what it cannot recover from.
    pub async fn run(self: Arc<Self>) -> AppResult<()> {
        tracing::info!(owner = %self.owner, "worker started");
        let background = CancellationToken::new();
        let hb = tokio::spawn(heartbeat(self.clone(), background.clone()));
        let pr = tokio::spawn(prune(self.clone(), background.clone()));
        let result = self.main_loop().await;
        background.cancel();
        let _ = hb.await;
        let _ = pr.await;
        self.release_all().await;
        tracing::info!(owner = %self.owner, "worker stopped");
        result
    }

    /// Gives back every row held at once (a second signal; the hard end of a grace period).
    pub async fn release_all(&self) {
        let ids = self.held_ids();
        self.release(&ids).await;
    }

    fn stopping(&self) -> bool {
        self.stop.is_cancelled()
    }

    fn hold(&self, items: &[QueueItem]) {
        let mut held = crate::app::lock(&self.held);
        for i in items {
            self.fence.hold(i);
            held.insert(i.id, (i.job_id, i.domain.clone()));
        }
    }

    fn drop_held(&self, id: i64) {
        if let Some((job, domain)) = crate::app::lock(&self.held).remove(&id) {
            self.fence.forget(job, &domain);
        }
    }

    fn held_ids(&self) -> Vec<i64> {
        crate::app::lock(&self.held).keys().copied().collect()
    }

    /// The (job, domain) of held rows.
    fn keys_of(&self, ids: &[i64]) -> Vec<(Uuid, String)> {
        let held = crate::app::lock(&self.held);
        ids.iter().filter_map(|id| held.get(id).cloned()).collect()
    }

    /// Counts claims found lost (once each) in the worker's counts and `/metrics`.
    fn count_lost(&self, keys: Vec<(Uuid, String)>) {
        let mut lost = crate::app::lock(&self.lost);
        for key in keys {
            if lost.insert(key) {
                self.counts.leases_lost.fetch_add(1, Ordering::Relaxed);
                if let Some(m) = self.app.metrics() {
                    m.worker_leases_lost.inc();
                }
            }
        }
    }

    /// Records a refused fenced write: says so and counts the lost claim.
    fn lease_lost(&self, job: Uuid, domain: &str) {
        tracing::warn!(job = %job, "lease lost for {domain}; another worker owns it");
        self.count_lost(vec![(job, domain.to_string())]);
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

    async fn claim(&self, job: Option<Uuid>) -> AppResult<Vec<QueueItem>> {
        let started = std::time::Instant::now();
        let items = self
            .store
            .claim_queue_items(&self.owner, job, self.opts.batch, self.opts.lease)
            .await?;
        self.hold(&items);
        self.counts
            .claims
            .fetch_add(items.len() as u64, Ordering::Relaxed);
        if let Some(m) = self.app.metrics() {
            m.worker_claims.inc_by(items.len() as u64);
            // Empty claims are idle polls, not the hot path.
            if !items.is_empty() {
                m.worker_claim_duration
                    .observe(started.elapsed().as_secs_f64());
            }
        }
        Ok(items)
    }

    /// Whether any running job still has open queue rows (held by anyone): `once` waits for
    /// those, since their holder may die and leave them to us.
    async fn work_remains(&self) -> AppResult<bool> {
        let store = self.app.store();
        for job in store.list_jobs(1000).await? {
            if job.status != JobStatus::Running {
                continue;
            }
            let counts = store.queue_counts(job.id).await?;
            let open = counts.get(&QueueStatus::Pending).copied().unwrap_or(0)
                + counts.get(&QueueStatus::Running).copied().unwrap_or(0);
            if open > 0 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn main_loop(self: &Arc<Self>) -> AppResult<()> {
        let poll = self
            .opts
            .poll
            .clamp(Duration::from_millis(50), Duration::from_secs(300));
        loop {
            if self.stopping() {
                return Ok(());
            }
            if self.database_unreachable() {
                // The heartbeat says the database does not answer: claim nothing until it does.
                tokio::select! {
                    _ = tokio::time::sleep(poll) => {}
                    _ = self.stop.cancelled() => {}
                }
                continue;
            }
            let batch = match self.claim(None).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!("claiming queued work: {e}; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(poll) => {}
                        _ = self.stop.cancelled() => {}
                    }
                    continue;
                }
            };
            let Some(job) = batch.first().map(|i| i.job_id) else {
                if self.opts.once {
                    match self.work_remains().await {
                        Ok(false) => return Ok(()),
                        Ok(true) => {}
                        Err(e) => tracing::warn!("checking for queued work: {e}; retrying"),
                    }
                }
                tokio::select! {
                    r = self.app.store().wait_for_queue(poll) => {
                        if let Err(e) = r {
                            tracing::debug!("queue notifications unavailable, polling: {e}");
                            tokio::time::sleep(poll).await;
                        }
                    }
                    _ = self.app.work_arrived() => {}
                    _ = self.stop.cancelled() => {}
                }
                continue;
            };
            if let Err(e) = self.run_job(job, batch).await {
                match &e {
                    AppError::Store(StoreError::LeaseLost { domain }) => {
                        self.lease_lost(job, domain);
                    }
                    AppError::Store(s) => tracing::error!(job = %job, "{}", describe(s)),
                    _ => tracing::error!(job = %job, "{e}"),
                }
                // Rows claimed but not run (the job stopped early): back to the queue now.
                self.release_all().await;
                tokio::select! {
                    _ = tokio::time::sleep(poll) => {}
                    _ = self.stop.cancelled() => {}
                }
            }
        }
    }

    /// The spec a job was queued with; a job this worker cannot run has its claimed rows failed
    /// with the reason (once, not at every poll).
    async fn spec_of(&self, job: Uuid, first: &[QueueItem]) -> AppResult<Option<JobSpec>> {
        let stored = self.app.store().get_job(job).await?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        let spec = JobSpec::from_stored(&stored.spec, &stored.label)
            .map_err(AppError::invalid)
            .and_then(|s| self.app.jobs().validate(&s).map(|()| s));
        match spec {
            Ok(s) => Ok(Some(s)),
            Err(e) => {
                let why = format!("this worker cannot run job {job}: {e}");
                tracing::error!("{why}");
                for item in first {
                    self.close(item.id, QueueStatus::Failed, Some(&why)).await;
                }
                Ok(None)
            }
        }
    }

    /// Runs one job's queued domains through its executor until none are left to claim.
    async fn run_job(self: &Arc<Self>, job: Uuid, first: Vec<QueueItem>) -> AppResult<()> {
        let Some(spec) = self.spec_of(job, &first).await? else {
            return Ok(());
        };
        let gateway = self.app.gateway_for_spend_cap(spec.max_spend)?;
        let executor = self
            .app
            .jobs()
            .executor_over(&spec, gateway, 2, self.store.clone())?;
        let first_module = self
            .app
            .plan_for(&spec.modules)?
            .modules()
            .first()
            .map(|m| m.spec().id.clone())
            .unwrap_or_default();
        let summary = self.feed(job, &executor, &first_module, first).await;
        drop(executor);
        let summary = summary?;
        tracing::info!(job = %job, domains = summary.domains, failed_modules = summary.failed(), "batch of job finished");
        if self.opts.deliver_alerts && !self.stopping() {
            crate::alerts::deliver_logged(&self.app).await;
        }
        Ok(())
    }

    /// Feeds claimed domains to the executor, closing each row as its domain finishes.
    async fn feed(
        self: &Arc<Self>,
        job: Uuid,
        executor: &Executor,
        first_module: &str,
        first: Vec<QueueItem>,
    ) -> AppResult<RunSummary> {
        // Domain -> queue row, for closing rows as their domains finish.
        let rows: Arc<Mutex<HashMap<String, i64>>> = Arc::default();
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let closer = {
            let this = self.clone();
            let rows = rows.clone();
            tokio::spawn(async move {
                // Whatever finished while the last batch was being closed is closed together:
                // one by one, closing fell behind the executor at a few hundred domains a
                // second, and every finished row not yet closed was heartbeated meanwhile.
                let mut finished = Vec::with_capacity(CLOSE_BATCH);
                while done_rx.recv_many(&mut finished, CLOSE_BATCH).await > 0 {
                    let ids: Vec<i64> = {
                        let mut rows = crate::app::lock(&rows);
                        finished.drain(..).filter_map(|d| rows.remove(&d)).collect()
                    };
                    this.close_done(&ids).await;
                }
            })
        };
        let next = self.events.clone();
        let sink: EventSink = Arc::new(move |e: &RunEvent| {
            if let RunEvent::DomainFinished { domain, .. } = e {
                let _ = done_tx.send(domain.clone());
            }
            if let Some(next) = &next {
                next(e);
            }
        });

        struct Feed {
            worker: Arc<Worker>,
            job: Uuid,
            first_module: String,
            queue: VecDeque<QueueItem>,
            rows: Arc<Mutex<HashMap<String, i64>>>,
            exhausted: bool,
        }
        let feed = Feed {
            worker: self.clone(),
            job,
            first_module: first_module.to_string(),
            queue: first.into(),
            rows: rows.clone(),
            exhausted: false,
        };
        let domains = futures::stream::unfold(feed, |mut feed| async move {
            loop {
                if feed.worker.stopping() {
                    let left: Vec<QueueItem> = feed.queue.drain(..).collect();
                    feed.worker
                        .give_back(feed.job, &feed.first_module, &left)
                        .await;
                    return None;
                }
                if let Some(item) = feed.queue.pop_front() {
                    match Domain::parse(&item.domain) {
                        Ok(d) => {
                            crate::app::lock(&feed.rows).insert(d.to_string(), item.id);
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
                if feed.exhausted || feed.worker.database_unreachable() {
                    return None;
                }
                match feed.worker.claim(Some(feed.job)).await {
                    Ok(more) if !more.is_empty() => feed.queue.extend(more),
                    Ok(_) => feed.exhausted = true,
                    Err(e) => {
                        tracing::warn!("claiming more of job {}: {e}", feed.job);
                        feed.exhausted = true;
                    }
                }
            }
        })
        .boxed();
        let result = executor.run(job, domains, sink).await;
        let _ = closer.await;
        // Rows handed to the executor but not finished (the run stopped on a store error):
        // give them back so another worker (or this one) retries them now, not after the lease.
        let left: Vec<i64> = crate::app::lock(&rows).drain().map(|(_, id)| id).collect();
        self.release(&left).await;
        result.map_err(|pforge_orchestrator::ExecError::Store(e)| AppError::Store(e))
    }

    /// On shutdown: gives back the job's claimed rows that were not started and records them as
    /// pending work of the job (its progress then says what is left), so the next start (of
    /// this or any worker) resumes exactly that.
    async fn give_back(&self, job: Uuid, first_module: &str, left: &[QueueItem]) {
        if left.is_empty() {
            return;
        }
        let ids: Vec<i64> = left.iter().map(|i| i.id).collect();
        let pending: Vec<WorkItem> = left
            .iter()
            .map(|i| WorkItem {
                job_id: job,
                domain: i.domain.clone(),
                module: first_module.to_string(),
                status: ItemStatus::Pending,
                attempts: 0,
                error: None,
                started_at: None,
                finished_at: None,
                version: None,
            })
            .collect();
        if let Err(e) = self.app.store().upsert_items(&pending).await {
            tracing::warn!(job = %job, "cannot record the job's pending domains: {e}");
        }
        self.release(&ids).await;
        tracing::warn!(job = %job, left = left.len(),
            "job interrupted by shutdown; the next start resumes it");
    }

    /// Closes finished rows as done in one transaction ([`Worker::close`] for many).
    async fn close_done(&self, ids: &[i64]) {
        if ids.is_empty() {
            return;
        }
        match self.store.complete_queue_items_done(&self.owner, ids).await {
            Ok(closed) => {
                for id in ids.iter().filter(|id| closed.binary_search(id).is_err()) {
                    tracing::warn!(id, "queue row was reclaimed by another worker (lease expired); its results are stored once either way");
                }
            }
            Err(e) => tracing::warn!(
                rows = ids.len(),
                "cannot close queue rows (they will be redone after their leases): {e}"
            ),
        }
        for id in ids {
            self.drop_held(*id);
        }
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

/// Renews the lease of every held row well before it expires. A heartbeat that cannot reach
/// the database stops claiming (see [`Worker::database_unreachable`]) until one gets through;
/// with nothing held it pings instead, so claiming resumes as soon as the database answers.
async fn heartbeat(worker: Arc<Worker>, stop: CancellationToken) {
    let every = worker.opts.lease / 3;
    // Short, so a database that went away is noticed long before the leases expire.
    let deadline = (worker.opts.lease / 2).min(Duration::from_secs(2));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let ids = worker.held_ids();
        if ids.is_empty() && !worker.database_unreachable() {
            continue;
        }
        let store = worker.app.store();
        let beat = async {
            if ids.is_empty() {
                store.ping().await.map(|()| Vec::new())
            } else {
                store
                    .heartbeat_queue_items(&worker.owner, &ids, worker.opts.lease)
                    .await
            }
        };
        // A database that is down makes the pool wait for a connection; a heartbeat that does
        // not answer well within the lease has failed.
        let answer = match tokio::time::timeout(deadline, beat).await {
            Ok(r) => r.map_err(|e| describe(&e)),
            Err(_) => Err(format!("the database did not answer within {deadline:?}")),
        };
        match answer {
            Ok(kept) => {
                if worker.db_down.swap(false, Ordering::SeqCst) {
                    tracing::warn!("heartbeat: the database answers again; claiming resumed");
                }
                if kept.len() < ids.len() {
                    let kept: HashSet<i64> = kept.into_iter().collect();
                    // Rows closed meanwhile are no longer held: not lost.
                    let still: HashSet<i64> = worker.held_ids().into_iter().collect();
                    let lost: Vec<i64> = ids
                        .into_iter()
                        .filter(|i| !kept.contains(i) && still.contains(i))
                        .collect();
                    if !lost.is_empty() {
                        tracing::warn!(
                            ?lost,
                            "leases lost (expired and reclaimed by another worker); \
                             their results will not be written by this worker"
                        );
                        worker.count_lost(worker.keys_of(&lost));
                    }
                }
            }
            Err(e) => {
                worker
                    .counts
                    .heartbeats_missed
                    .fetch_add(1, Ordering::Relaxed);
                if let Some(m) = worker.app.metrics() {
                    m.worker_heartbeats_missed.inc();
                }
                if !worker.db_down.swap(true, Ordering::SeqCst) {
                    tracing::warn!(
                        "heartbeat failed: {e}; not claiming until the database answers"
                    );
                } else {
                    tracing::debug!("heartbeat failed again: {e}");
                }
            }
        }
    }
}

/// Deletes finished queue rows older than `keep`, at start and then on [`prune_every`].
async fn prune(worker: Arc<Worker>, stop: CancellationToken) {
    let keep = chrono::Duration::from_std(worker.opts.keep).unwrap_or(chrono::Duration::days(7));
    let every = prune_every(worker.opts.keep);
    loop {
        match worker
            .app
            .store()
            .prune_queue(chrono::Utc::now() - keep)
            .await
        {
            Ok(n) if n > 0 => {
                tracing::info!(pruned = n, "old finished queue rows deleted");
                if let Some(m) = worker.app.metrics() {
                    m.worker_rows_pruned.inc_by(n);
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("pruning the queue failed: {e}"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::prune_every;
    use std::time::Duration;

    #[test]
    fn the_prune_schedule_follows_the_keep_time() {
        let d = Duration::from_secs;
        // A week's keep: every ten minutes, as before.
        assert_eq!(prune_every(d(7 * 86400)), d(600));
        // A minute's keep is pruned twice a minute; a tiny keep at most once a second.
        assert_eq!(prune_every(d(60)), d(30));
        assert_eq!(prune_every(Duration::ZERO), d(1));
    }
}
