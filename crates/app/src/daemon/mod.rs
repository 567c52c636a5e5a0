//! The daemon's application side: cron schedules over target lists, freshness refresh of
//! modules whose TTL expired (spread in time), alert delivery, and the worker tasks that run its
//! jobs. Every job goes on the work queue (SQLite or PostgreSQL alike) and is run by worker tasks
//! in this process (`[daemon] workers`) or in `pforge worker` processes elsewhere, so a job has
//! one lifecycle and a restart resumes whatever a shutdown or a crash left: the queue hands the
//! unfinished rows out again. The HTTP server is the `pforge-http` crate's; the front end (the
//! CLI's `daemon` command) starts both.

pub mod schedule;

use crate::error::AppResult;
use crate::input::{self, Item, Source};
use crate::jobs::JobSpec;
use crate::settings::{DaemonSettings, Refresh};
use crate::worker::{Worker, WorkerOptions};
use crate::App;
use chrono::Utc;
use pforge_core::Domain;
use pforge_orchestrator::EventSink;
use pforge_store::{JobStatus, QueueStatus};
use schedule::{Schedule, TargetSource};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

/// Every job the daemon starts has an origin with this prefix (`daemon:api`, `daemon:refresh`,
/// `daemon:schedule:<name>`).
pub const LABEL_PREFIX: &str = "daemon:";

/// How often due alerts (retries, digests) are delivered besides right after each job.
const ALERT_INTERVAL: Duration = Duration::from_secs(30);

/// How many recent jobs are looked at when starting (to say which ones resume).
const RESUME_SCAN_JOBS: i64 = 1000;

/// A running daemon (without its HTTP server).
pub struct Daemon {
    app: App,
    /// Cancelled at shutdown: schedules stop, workers stop claiming, `/readyz` turns 503.
    stop: CancellationToken,
    tasks: TaskTracker,
    workers: Vec<Arc<Worker>>,
    worker_tasks: TaskTracker,
}

impl Daemon {
    /// Starts the worker tasks, schedules, refresh and alert loops. A configuration that cannot
    /// build the modules fails here, before anything is claimed.
    pub async fn start(app: App, settings: &DaemonSettings) -> AppResult<Daemon> {
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        let worker_tasks = TaskTracker::new();
        let count = app.settings().config.daemon.workers;
        let mut workers = Vec::with_capacity(count);
        let events: Option<EventSink> = app.metrics().map(|m| m.sink(crate::progress::log_sink()));
        for i in 0..count {
            let w = Worker::start(
                app.clone(),
                WorkerOptions {
                    deliver_alerts: true,
                    // Jobs are queued by this process, which wakes its workers at once; the poll
                    // only matters for work queued elsewhere.
                    poll: Duration::from_secs(2),
                    ..WorkerOptions::default()
                },
                Some(&format!("w{i}")),
                stop.child_token(),
                events.clone(),
            )?;
            workers.push(w);
        }
        log_resumed_jobs(&app).await?;
        for w in &workers {
            let w = w.clone();
            let owner = w.owner().to_string();
            worker_tasks.spawn(async move {
                if let Err(e) = w.run().await {
                    tracing::error!(%owner, "worker stopped: {e}");
                }
            });
        }
        if count > 0 {
            tracing::info!(workers = count, "worker tasks started");
        } else {
            tracing::info!("no worker tasks ([daemon] workers = 0): `pforge worker` processes elsewhere run the jobs");
        }
        for s in settings.schedules.iter().cloned() {
            tasks.spawn(schedule_loop(s, app.clone(), stop.clone()));
        }
        if let Some(r) = settings.refresh.clone() {
            tasks.spawn(refresh_loop(r, app.clone(), stop.clone()));
        }
        tasks.spawn(alert_loop(app.clone(), stop.clone()));
        Ok(Daemon {
            app,
            stop,
            tasks,
            workers,
            worker_tasks,
        })
    }

    /// Queues a job for `domains` (duplicates dropped) and returns its id at once.
    pub async fn submit(&self, spec: JobSpec, domains: &[Domain]) -> AppResult<Uuid> {
        if self.stop.is_cancelled() {
            return Err(crate::AppError::ShuttingDown);
        }
        Ok(self.app.jobs().enqueue(spec, domains).await?.id)
    }

    /// The token cancelled at shutdown (the HTTP server's readiness follows it).
    pub fn stopping(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Stops scheduling and claiming, lets the domains in progress finish within `grace`, then
    /// gives back whatever is still held (the next start redoes it) and flushes the alert
    /// outbox. Returns whether everything in progress finished in time.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        self.stop.cancel();
        self.tasks.close();
        self.worker_tasks.close();
        // Keep a slice of the grace period for flushing the alert outbox.
        let flush = (grace / 4).min(Duration::from_secs(5));
        let finished = tokio::time::timeout(grace.saturating_sub(flush), self.worker_tasks.wait())
            .await
            .is_ok();
        if !finished {
            tracing::warn!(
                grace_secs = grace.as_secs_f64(),
                "grace period over: releasing unfinished work for the next start"
            );
            for w in &self.workers {
                w.release_all().await;
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), self.tasks.wait()).await;
        if tokio::time::timeout(flush.max(Duration::from_millis(200)), async {
            crate::alerts::deliver_logged(&self.app).await
        })
        .await
        .is_err()
        {
            tracing::warn!(
                "alert outbox not flushed in time; pending alerts go out at the next start"
            );
        }
        finished
    }
}

/// Says which interrupted jobs the queue will resume (their rows are handed out again).
async fn log_resumed_jobs(app: &App) -> AppResult<()> {
    for job in app.store().list_jobs(RESUME_SCAN_JOBS).await? {
        if job.status != JobStatus::Running {
            continue;
        }
        let counts = app.store().queue_counts(job.id).await?;
        let open = counts.get(&QueueStatus::Pending).copied().unwrap_or(0)
            + counts.get(&QueueStatus::Running).copied().unwrap_or(0);
        if open > 0 {
            tracing::info!(job = %job.id, label = %job.label, domains = open, "resuming interrupted job");
        }
    }
    Ok(())
}

/// Whether a job with this origin is still unfinished anywhere (a schedule whose previous run
/// is still going skips a firing).
async fn origin_running(app: &App, origin: &str) -> bool {
    match app.store().list_jobs(200).await {
        Ok(jobs) => jobs
            .iter()
            .any(|j| j.label == origin && j.status == JobStatus::Running),
        Err(e) => {
            tracing::warn!("cannot list jobs ({e}); assuming {origin} is still running");
            true
        }
    }
}

/// Fires one schedule at each cron time until shutdown. A firing whose previous run is still
/// going is skipped (logged), so slow runs never pile up.
async fn schedule_loop(s: Schedule, app: App, stop: CancellationToken) {
    let origin = s.label();
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
        if origin_running(&app, &origin).await {
            tracing::warn!(schedule = %s.name, "previous run still in progress; this firing is skipped");
            continue;
        }
        match load_targets(&s.targets, &app).await {
            Ok(domains) if domains.is_empty() => {
                tracing::info!(schedule = %s.name, "no targets; nothing to do")
            }
            Ok(domains) => match app.jobs().enqueue(JobSpec::new(&origin), &domains).await {
                Ok(job) => {
                    tracing::info!(schedule = %s.name, job = %job.id, "scheduled run started")
                }
                Err(e) => tracing::error!(schedule = %s.name, "scheduled run not started: {e}"),
            },
            Err(e) => tracing::error!(schedule = %s.name, "cannot read targets: {e}"),
        }
    }
}

/// The domains of a target list, read fresh at each firing. Invalid lines are logged and skipped.
async fn load_targets(source: &TargetSource, app: &App) -> AppResult<Vec<Domain>> {
    match source {
        TargetSource::Table => Ok(app
            .store()
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

/// Scans the targets table at each interval and queues one `daemon:refresh` job for the domains
/// with a module past its (spread) TTL, at most `max_domains` per scan.
async fn refresh_loop(r: Refresh, app: App, stop: CancellationToken) {
    let origin = format!("{LABEL_PREFIX}refresh");
    let mut tick = tokio::time::interval(r.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if origin_running(&app, &origin).await {
            continue;
        }
        match due_targets(&r, &app).await {
            Ok(due) if due.is_empty() => {}
            Ok(due) => {
                let n = due.len();
                match app.jobs().enqueue(JobSpec::new(&origin), &due).await {
                    Ok(job) => tracing::info!(job = %job.id, domains = n, "refresh started"),
                    Err(e) => tracing::error!("refresh not started: {e}"),
                }
            }
            Err(e) => tracing::error!("refresh scan failed: {e}"),
        }
    }
}

async fn due_targets(r: &Refresh, app: &App) -> AppResult<Vec<Domain>> {
    let now = Utc::now();
    let ttls = &app.settings().ttls;
    let mut due = Vec::new();
    for t in app.store().list_targets().await? {
        if due.len() >= r.max_domains {
            break;
        }
        let snaps = app.store().latest_snapshots(&t.domain).await?;
        if schedule::is_due(&t.domain, &snaps, ttls, r.spread, now) {
            if let Ok(d) = Domain::parse(&t.domain) {
                due.push(d);
            }
        }
    }
    Ok(due)
}

/// Delivers due alerts (retries, digests) every [`ALERT_INTERVAL`] until shutdown.
async fn alert_loop(app: App, stop: CancellationToken) {
    let mut tick = tokio::time::interval(ALERT_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        crate::alerts::deliver_logged(&app).await;
    }
}
