//! The executor: runs the plan over a stream of domains. Within a domain a module starts the
//! moment its own dependencies have produced their outputs (waves are the plan, not a barrier;
//! it does not wait for their saves, which are queued first and so commit first, while a module
//! is reported finished only once its own save is committed); across domains a
//! bounded number are in flight at once, each a task of its own with its modules' runs inside
//! it, so input is streamed, memory stays flat and domains use every core; a global semaphore
//! bounds concurrent module runs. Every (job, domain, module) is recorded in the store.

use crate::Plan;
use chrono::Utc;
use futures::future::{Either, FutureExt};
use futures::stream::{FuturesUnordered, Stream, StreamExt};
use pforge_budget::{Gateway, GatewayError};
use pforge_core::{
    DependencyResult, Domain, HintBook, Module, ModuleContext, ModuleError, ModuleOutput,
};
use pforge_store::prelude::*;
use pforge_store::{
    ChangeQuery, DeriveChanges, ItemStatus, NewSnapshot, SaveOutcome, Snapshot, StoreError,
    WorkItem,
};
use pforge_versioning::{canonicalize, content_hash, remap_pointer};
use serde::Serialize;
use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinSet;
use uuid::Uuid;

/// Whether modules whose latest snapshot is still fresh are re-run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RefreshPolicy {
    /// Skip modules whose latest snapshot is younger than their TTL (the default: no money spent
    /// twice for the same answer).
    #[default]
    Stale,
    /// Run every module.
    All,
}

/// Knobs of one run. Policy values come from config and flags.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// Most module runs in progress at once, across all domains.
    pub concurrency: usize,
    /// Most domains in progress at once (bounds memory on huge inputs).
    pub max_domains_in_flight: usize,
    /// A module run taking longer than this fails with a timeout.
    pub module_timeout: Duration,
    pub refresh: RefreshPolicy,
    /// Freshness TTL per module id; modules without one are always re-run.
    pub ttls: HashMap<String, Duration>,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            concurrency: 16,
            max_domains_in_flight: 64,
            module_timeout: Duration::from_secs(60),
            refresh: RefreshPolicy::Stale,
            ttls: HashMap::new(),
        }
    }
}

/// Progress notifications, in the order things happen.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    DomainStarted {
        domain: String,
    },
    ModuleFinished {
        domain: String,
        module: String,
        status: ItemStatus,
        version: Option<i64>,
        error: Option<String>,
        duration_ms: u64,
    },
    DomainFinished {
        domain: String,
        failed_modules: usize,
    },
}

/// Per-module counts at the end of a run.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ModuleCounts {
    pub ok: u64,
    pub new_version: u64,
    pub unchanged: u64,
    pub fresh: u64,
    pub failed: u64,
    pub skipped: u64,
    /// Failures caused by a budget cap (also counted in `failed`).
    pub budget: u64,
}

/// What a run did, for the summary table and `--json`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunSummary {
    pub job_id: Uuid,
    pub domains: u64,
    pub domains_with_failures: u64,
    pub modules: BTreeMap<String, ModuleCounts>,
    /// First few failures, for the summary (domain, module, error).
    pub failures: Vec<FailureNote>,
}

/// One failed module run, as shown after a run.
#[derive(Debug, Clone, Serialize)]
pub struct FailureNote {
    pub domain: String,
    pub module: String,
    pub error: String,
}

impl RunSummary {
    /// Total failed module runs.
    pub fn failed(&self) -> u64 {
        self.modules.values().map(|c| c.failed).sum()
    }

    /// Total module runs stopped by a budget cap.
    pub fn budget_failures(&self) -> u64 {
        self.modules.values().map(|c| c.budget).sum()
    }
}

/// Why a run could not proceed at all (as opposed to a module failing, which is recorded).
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Store(#[from] pforge_store::StoreError),
}

/// Callback receiving progress events; must be cheap (it runs on executor tasks).
pub type EventSink = Arc<dyn Fn(&RunEvent) + Send + Sync>;

/// Runs a plan over domains. Cheap to clone.
#[derive(Clone)]
pub struct Executor {
    plan: Arc<Plan>,
    gateway: Gateway,
    store: Arc<dyn Store>,
    derive: Arc<dyn DeriveChanges>,
    cfg: Arc<ExecutorConfig>,
    permits: Arc<Semaphore>,
    hints: Option<HintBook>,
}

/// How a module ended for one domain, as its dependents see it.
#[derive(Clone)]
enum Finished {
    Ok(Arc<ModuleOutput>),
    NotAvailable(String),
}

/// What a module run came to: a final result, or an output still to be saved (the snapshot
/// and the work item that records it).
enum Ran {
    Done(ModuleResult),
    Output(Arc<ModuleOutput>, Box<(NewSnapshot, WorkItem)>),
}

/// One step of a domain's run: a module ran, or the saves of a group of its outputs committed.
enum Step {
    Ran(Arc<dyn Module>, Result<Ran, ExecError>, Instant),
    Saved(Vec<Unsaved>, Result<Vec<SaveOutcome>, ExecError>),
}

/// A module whose output exists but whose save has not committed yet: what its event needs.
struct Unsaved {
    module: Arc<dyn Module>,
    output: Arc<ModuleOutput>,
    started: Instant,
}

/// A domain's run: the domain and each module's result, in the order they finished.
type DomainOutcome = Result<(Domain, Vec<(String, ModuleResult)>), ExecError>;

struct ModuleResult {
    status: ItemStatus,
    version: Option<i64>,
    error: Option<String>,
    budget: bool,
    output: Finished,
}

impl Executor {
    /// Builds an executor; `derive` computes patches/change events inside the store transaction.
    pub fn new(
        plan: Arc<Plan>,
        gateway: Gateway,
        store: Arc<dyn Store>,
        derive: Arc<dyn DeriveChanges>,
        cfg: ExecutorConfig,
    ) -> Self {
        let permits = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
        Executor {
            plan,
            gateway,
            store,
            derive,
            cfg: Arc::new(cfg),
            permits,
            hints: None,
        }
    }

    /// Hands each module run the hints the input gave for its domain (a company name, pins);
    /// a domain's hints are forgotten once the domain is finished.
    pub fn with_hints(mut self, hints: HintBook) -> Self {
        self.hints = Some(hints);
        self
    }

    /// Runs every domain of `domains` under job `job_id`, reporting progress to `events`.
    /// Module failures are recorded and summarized, never returned as errors.
    pub async fn run<S>(
        &self,
        job_id: Uuid,
        domains: S,
        events: EventSink,
    ) -> Result<RunSummary, ExecError>
    where
        S: Stream<Item = Domain> + Send,
    {
        let mut summary = RunSummary {
            job_id,
            ..Default::default()
        };
        for m in self.plan.modules() {
            summary
                .modules
                .insert(m.spec().id.clone(), ModuleCounts::default());
        }
        let limit = self.cfg.max_domains_in_flight.max(1);
        let writer = Writer::spawn(self.store.clone(), self.derive.clone());
        // Each domain in flight is a task of its own (its modules run inside it), so domains
        // use every core; the set aborts them all if this run is dropped.
        let mut domains = std::pin::pin!(domains);
        let mut input_left = true;
        let mut running: JoinSet<DomainOutcome> = JoinSet::new();
        loop {
            let res = tokio::select! {
                next = domains.next(), if input_left && running.len() < limit => match next {
                    Some(domain) => {
                        let this = self.clone();
                        let events = events.clone();
                        let writer = writer.clone();
                        running.spawn(async move {
                            this.run_domain(job_id, domain, events, &writer).await
                        });
                        continue;
                    }
                    None => {
                        input_left = false;
                        continue;
                    }
                },
                Some(joined) = running.join_next() => joined,
                else => break,
            };
            let res = match res {
                Ok(res) => res,
                // A panic in the executor itself (module panics are caught in `invoke`).
                Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
                Err(_) => Err(ExecError::Store(StoreError::Invalid(
                    "a domain's task was cancelled".into(),
                ))),
            };
            let (domain, modules) = match res {
                Ok(done) => done,
                Err(e) => {
                    // Stop the other domains before saying so, so none writes after the caller
                    // has moved on (a worker gives their queue rows back).
                    running.shutdown().await;
                    return Err(e);
                }
            };
            summary.domains += 1;
            let mut any_failed = false;
            for (module, r) in modules {
                let c = summary.modules.entry(module.clone()).or_default();
                match r.status {
                    ItemStatus::NewVersion => {
                        c.ok += 1;
                        c.new_version += 1
                    }
                    ItemStatus::Unchanged => {
                        c.ok += 1;
                        c.unchanged += 1
                    }
                    ItemStatus::Fresh => c.fresh += 1,
                    ItemStatus::Skipped => c.skipped += 1,
                    _ => {
                        any_failed = true;
                        c.failed += 1;
                        if r.budget {
                            c.budget += 1;
                        }
                        if summary.failures.len() < 50 {
                            summary.failures.push(FailureNote {
                                domain: domain.to_string(),
                                module,
                                error: r.error.unwrap_or_default(),
                            });
                        }
                    }
                }
            }
            if any_failed {
                summary.domains_with_failures += 1;
            }
        }
        Ok(summary)
    }

    /// Runs all modules of one domain, each as soon as its dependencies are done.
    async fn run_domain(
        &self,
        job_id: Uuid,
        domain: Domain,
        events: EventSink,
        writer: &Writer,
    ) -> DomainOutcome {
        events(&RunEvent::DomainStarted {
            domain: domain.to_string(),
        });
        let modules = self.plan.modules();
        // One read of the domain's latest snapshots serves every module's freshness check and
        // `previous` (they cannot change meanwhile: only this run writes this domain's modules).
        let mut latest: HashMap<String, Snapshot> = self
            .store
            .latest_snapshots(domain.as_str())
            .await?
            .into_iter()
            .map(|s| (s.module.clone(), s))
            .collect();
        let mut waiting: HashMap<&str, usize> = modules
            .iter()
            .map(|m| (m.spec().id.as_str(), m.spec().dependencies.len()))
            .collect();
        let mut finished: HashMap<String, Finished> = HashMap::new();
        let mut results = Vec::with_capacity(modules.len());
        // Module runs and the saves of their outputs, in one set: a module's dependents start
        // as soon as its output exists (the save is queued first, so it commits first or with
        // them), and the module counts as finished, with its event, once its save is committed.
        // The domain ends only when every save has.
        let mut pending = FuturesUnordered::new();
        let start = |m: &Arc<dyn Module>,
                     finished: &HashMap<String, Finished>,
                     latest: Option<Snapshot>| {
            let deps: BTreeMap<String, DependencyResult> = m
                .spec()
                .dependencies
                .iter()
                .map(|d| {
                    let r = match finished.get(d) {
                        Some(Finished::Ok(o)) => DependencyResult::Ready(o.clone()),
                        Some(Finished::NotAvailable(why)) => DependencyResult::Failed(why.clone()),
                        None => DependencyResult::Failed("not run".into()),
                    };
                    (d.clone(), r)
                })
                .collect();
            let this = self.clone();
            let module = m.clone();
            let domain = domain.clone();
            let writer = writer.clone();
            Either::Left(async move {
                let started = Instant::now();
                let r = this
                    .run_module(job_id, &domain, module.clone(), deps, latest, &writer)
                    .await;
                Step::Ran(module, r, started)
            })
        };
        for m in modules.iter().filter(|m| m.spec().dependencies.is_empty()) {
            pending.push(start(m, &finished, latest.remove(&m.spec().id)));
        }
        let mut failed_modules = 0;
        // Outputs whose saves are not queued yet. They are queued together, as one group,
        // whenever no other step of this domain is ready: modules that answer at once (a cache
        // hit, no provider) are then saved in one hand-off instead of one each, and a module
        // that waits on the network still has its save queued as soon as it is the only thing
        // left to do. Within a group the saves keep the order the modules finished in.
        let mut unsaved: Vec<(Unsaved, (NewSnapshot, WorkItem))> = Vec::new();
        loop {
            let step = match futures::poll!(pending.next()) {
                Poll::Ready(Some(step)) => step,
                Poll::Ready(None) if unsaved.is_empty() => break,
                _ if !unsaved.is_empty() => {
                    let (group, saves) = std::mem::take(&mut unsaved).into_iter().unzip();
                    let save = writer.submit_results(saves);
                    pending.push(Either::Right(async move {
                        Step::Saved(group, save.wait().await)
                    }));
                    continue;
                }
                _ => match pending.next().await {
                    Some(step) => step,
                    None => break,
                },
            };
            let (module, result, started) = match step {
                Step::Ran(module, ran, started) => match ran? {
                    Ran::Done(result) => (module, result, started),
                    Ran::Output(output, save) => {
                        let id = module.spec().id.clone();
                        finished.insert(id.clone(), Finished::Ok(output.clone()));
                        self.start_ready(&id, &mut waiting, |m| {
                            pending.push(start(m, &finished, latest.remove(&m.spec().id)));
                        });
                        let u = Unsaved {
                            module,
                            output,
                            started,
                        };
                        unsaved.push((u, *save));
                        continue;
                    }
                },
                Step::Saved(group, saved) => {
                    let saved = saved?;
                    if saved.len() != group.len() {
                        return Err(ExecError::Store(StoreError::Invalid(format!(
                            "the store answered {} saves with {} outcomes",
                            group.len(),
                            saved.len()
                        ))));
                    }
                    for (u, outcome) in group.into_iter().zip(saved) {
                        let (status, version) = saved_as(&outcome);
                        let result = ModuleResult {
                            status,
                            version: Some(version),
                            error: None,
                            budget: false,
                            output: Finished::Ok(u.output),
                        };
                        self.record(&domain, &u.module, result, u.started, &events, &mut results);
                    }
                    continue;
                }
            };
            let id = module.spec().id.clone();
            if matches!(result.status, ItemStatus::Failed) {
                failed_modules += 1;
            }
            finished.insert(id.clone(), result.output.clone());
            self.record(&domain, &module, result, started, &events, &mut results);
            self.start_ready(&id, &mut waiting, |m| {
                pending.push(start(m, &finished, latest.remove(&m.spec().id)));
            });
        }
        if let Some(book) = &self.hints {
            book.remove(&domain);
        }
        events(&RunEvent::DomainFinished {
            domain: domain.to_string(),
            failed_modules,
        });
        Ok((domain, results))
    }

    /// Reports a module's final result and keeps it for the domain's summary.
    fn record(
        &self,
        domain: &Domain,
        module: &Arc<dyn Module>,
        result: ModuleResult,
        started: Instant,
        events: &EventSink,
        results: &mut Vec<(String, ModuleResult)>,
    ) {
        let id = module.spec().id.clone();
        events(&RunEvent::ModuleFinished {
            domain: domain.to_string(),
            module: id.clone(),
            status: result.status,
            version: result.version,
            error: result.error.clone(),
            duration_ms: started.elapsed().as_millis() as u64,
        });
        results.push((id, result));
    }

    /// Starts (through `start`) every dependent of `done` whose last dependency this was.
    fn start_ready(
        &self,
        done: &str,
        waiting: &mut HashMap<&str, usize>,
        mut start: impl FnMut(&Arc<dyn Module>),
    ) {
        for dependent in self.plan.dependents(done) {
            if let Some(n) = waiting.get_mut(dependent.as_str()) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    if let Some(m) = self.plan.module(&dependent) {
                        start(m);
                    }
                }
            }
        }
    }

    /// Runs (or skips) one module for one domain and records the outcome.
    async fn run_module(
        &self,
        job_id: Uuid,
        domain: &Domain,
        module: Arc<dyn Module>,
        deps: BTreeMap<String, DependencyResult>,
        latest: Option<Snapshot>,
        writer: &Writer,
    ) -> Result<Ran, ExecError> {
        let spec = module.spec();
        let mut item = WorkItem {
            job_id,
            domain: domain.to_string(),
            module: spec.id.clone(),
            status: ItemStatus::Running,
            attempts: 0,
            error: None,
            started_at: Some(Utc::now()),
            finished_at: None,
            version: None,
        };

        if let Some(result) = self.fresh_result(&spec.id, latest.as_ref()) {
            item.status = ItemStatus::Fresh;
            item.version = result.version;
            item.finished_at = Some(Utc::now());
            writer.upsert_item(item).await?;
            return Ok(Ran::Done(result));
        }

        let failed_deps: Vec<String> = deps
            .iter()
            .filter_map(|(k, v)| match v {
                DependencyResult::Failed(_) => Some(k.clone()),
                DependencyResult::Ready(_) => None,
            })
            .collect();
        if !failed_deps.is_empty() && !spec.runs_degraded {
            let why = format!(
                "skipped: dependency {} not available",
                failed_deps.join(", ")
            );
            item.status = ItemStatus::Skipped;
            item.error = Some(why.clone());
            item.finished_at = Some(Utc::now());
            writer.upsert_item(item).await?;
            return Ok(Ran::Done(ModuleResult {
                status: ItemStatus::Skipped,
                version: None,
                error: Some(why.clone()),
                budget: false,
                output: Finished::NotAvailable(why),
            }));
        }

        let _permit = self.permits.acquire().await.ok();
        item.attempts = 1;

        let previous = latest.map(|s| s.data);
        let history = if module.reads_history() {
            // The newest 1,000 events of the last 90 days, handed over oldest first.
            let query = ChangeQuery {
                domain: Some(domain.as_str().to_string()),
                since: Some(Utc::now() - chrono::Duration::days(90)),
                limit: 1000,
                ..ChangeQuery::default()
            };
            let mut events = self.store.list_change_events(&query).await?.events;
            events.reverse();
            events
        } else {
            Vec::new()
        };
        let gateway = self.gateway.for_job(&job_id.to_string());
        let hints = self
            .hints
            .as_ref()
            .and_then(|b| b.get(domain))
            .unwrap_or_default();
        let ctx = ModuleContext::new(domain.clone(), gateway, deps)
            .with_previous(previous)
            .with_history(history)
            .with_hints(hints);
        let mut run = std::pin::pin!(self.invoke(module.clone(), ctx));
        let outcome = match futures::poll!(run.as_mut()) {
            Poll::Ready(outcome) => outcome,
            // The `running` row is progress, not an acknowledgement: it is queued for the next
            // group commit without waiting for it (the outcome is written after it and waited
            // for, so it wins). A run that answers on its first poll was never seen running, so
            // it writes only its outcome.
            Poll::Pending => {
                writer.queue_item(item.clone());
                run.await
            }
        };
        match outcome {
            // The snapshot and its work item are committed together.
            Ok(output) => Ok(self.persist(domain, &module, output, item)),
            Err(Failure { message, budget }) => {
                let result = ModuleResult {
                    status: ItemStatus::Failed,
                    version: None,
                    error: Some(message.clone()),
                    budget,
                    output: Finished::NotAvailable(format!("failed: {message}")),
                };
                item.status = result.status;
                item.error = result.error.clone();
                item.finished_at = Some(Utc::now());
                writer.upsert_item(item).await?;
                Ok(Ran::Done(result))
            }
        }
    }

    /// Runs the module inside its domain's task, so that a panic or a timeout fails this
    /// module only: the panic is caught as the run unwinds, and a run past its timeout is
    /// dropped. (A task per module run cost a spawn and a cross-thread wake-up each, a sixth of
    /// the engine's time with no-op modules; the domains are the tasks, so CPU-heavy modules of
    /// different domains still run in parallel.)
    async fn invoke(
        &self,
        module: Arc<dyn Module>,
        ctx: ModuleContext,
    ) -> Result<ModuleOutput, Failure> {
        let timeout = self.cfg.module_timeout;
        let run = AssertUnwindSafe(async move { module.run(&ctx).await }).catch_unwind();
        match tokio::time::timeout(timeout, run).await {
            Err(_) => Err(Failure::plain(format!(
                "timed out after {}s (raise --module-timeout)",
                timeout.as_secs_f64()
            ))),
            Ok(Err(payload)) => Err(Failure::plain(format!(
                "module panicked: {}",
                panic_message(payload.as_ref())
            ))),
            Ok(Ok(Err(e))) => Err(Failure::from_module_error(&e)),
            Ok(Ok(Ok(output))) => match output.check_cited() {
                Ok(()) => Ok(output),
                Err(why) => Err(Failure::plain(format!("refused output: {why}"))),
            },
        }
    }

    /// Canonicalizes a module output into the snapshot to store as a new version or a
    /// confirmation, with its finished work item (`item`, completed from the save's outcome).
    /// The output is handed back at once, for the dependents; the domain queues the save.
    fn persist(
        &self,
        domain: &Domain,
        module: &Arc<dyn Module>,
        mut output: ModuleOutput,
        item: WorkItem,
    ) -> Ran {
        let job_id = item.job_id;
        let mut item = item;
        item.finished_at = Some(Utc::now());
        let spec = module.spec();
        let canonical = canonicalize(&output.data, &spec.set_arrays);
        if canonical != output.data {
            // Citations point into the data by index: keep each on its element after the sort.
            for c in output.sources.iter_mut() {
                for p in c.covers.iter_mut() {
                    *p = remap_pointer(&output.data, &canonical, &spec.set_arrays, p);
                }
            }
            output.data = canonical;
        }
        let hash = content_hash(&output.data);
        let citations = serde_json::to_value(&output.sources).unwrap_or_default();
        let new = NewSnapshot {
            domain: domain.to_string(),
            module: spec.id.clone(),
            data: output.data.clone(),
            citations,
            content_hash: hash,
            fetched_at: output.fetched_at,
            job_id: Some(job_id),
            text: None,
        }
        .encoded();
        Ran::Output(Arc::new(output), Box::new((new, item)))
    }

    /// The stored result if the module's latest snapshot is within its TTL and refresh allows.
    fn fresh_result(&self, module: &str, latest: Option<&Snapshot>) -> Option<ModuleResult> {
        if self.cfg.refresh == RefreshPolicy::All {
            return None;
        }
        let ttl = self.cfg.ttls.get(module)?;
        let snap = latest?;
        let age = Utc::now().signed_duration_since(snap.checked_at);
        if age.to_std().map(|a| a >= *ttl).unwrap_or(false) {
            return None;
        }
        let sources = serde_json::from_value(snap.citations.clone()).unwrap_or_default();
        let output = ModuleOutput {
            data: snap.data.clone(),
            sources,
            fetched_at: snap.fetched_at,
        };
        Some(ModuleResult {
            status: ItemStatus::Fresh,
            version: Some(snap.version),
            error: None,
            budget: false,
            output: Finished::Ok(Arc::new(output)),
        })
    }
}

/// Most writes committed in one transaction by the [`Writer`].
const MAX_WRITE_BATCH: usize = 512;

/// Group commit: module runs hand their store writes to one task that commits whatever has
/// queued up meanwhile (outputs and work items) in one transaction, so a busy run pays one
/// commit per batch instead of one per write (SQLite has a single writer anyway). Each caller still waits until
/// its own write is committed, so nothing is acknowledged early and resumability is unchanged.
#[derive(Clone)]
struct Writer {
    ops: mpsc::UnboundedSender<WriteOp>,
    store: Arc<dyn Store>,
    derive: Arc<dyn DeriveChanges>,
}

enum WriteOp {
    /// A work item; `None` when nobody waits for its commit (the `running` row).
    Item(WorkItem, Option<oneshot::Sender<Result<(), StoreError>>>),
    /// A group of one domain's module outputs, each with its finished work item (whose status
    /// and version the save's outcome decides), in the order the modules finished; committed in
    /// one transaction, answered with one outcome per output.
    Results(Vec<(NewSnapshot, WorkItem)>, oneshot::Sender<SavedGroup>),
}

/// The outcomes of a group of saves, in order, once they are committed.
type SavedGroup = Result<Vec<SaveOutcome>, StoreError>;

impl Writer {
    /// Starts the committing task; it ends once every clone of the writer is dropped.
    fn spawn(store: Arc<dyn Store>, derive: Arc<dyn DeriveChanges>) -> Self {
        let (ops, mut rx) = mpsc::unbounded_channel::<WriteOp>();
        let (s, d) = (store.clone(), derive.clone());
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_WRITE_BATCH);
            while rx.recv_many(&mut batch, MAX_WRITE_BATCH).await > 0 {
                commit_batch(s.as_ref(), d.as_ref(), std::mem::take(&mut batch)).await;
            }
        });
        Writer { ops, store, derive }
    }

    /// Queues a work item for the next commit without waiting for it. The queue is unbounded,
    /// but every module run that queues one then waits for its own outcome's commit, so at most
    /// one unwaited item per running module is ever queued.
    fn queue_item(&self, item: WorkItem) {
        if let Err(mpsc::error::SendError(WriteOp::Item(item, _))) =
            self.ops.send(WriteOp::Item(item, None))
        {
            // The committing task is gone (a panic): write it directly, in the background.
            let store = self.store.clone();
            tokio::spawn(async move {
                let _ = store.upsert_item(&item).await;
            });
        }
    }

    /// Upserts a work item; returns once it is committed.
    async fn upsert_item(&self, item: WorkItem) -> Result<(), ExecError> {
        let (tx, rx) = oneshot::channel();
        match self.ops.send(WriteOp::Item(item, Some(tx))) {
            Ok(()) => match rx.await {
                Ok(r) => Ok(r?),
                // The committing task died (a panic) before answering.
                Err(_) => Err(writer_stopped()),
            },
            Err(mpsc::error::SendError(WriteOp::Item(item, _))) => {
                Ok(self.store.upsert_item(&item).await?)
            }
            Err(_) => unreachable_write(),
        }
    }

    /// Queues module outputs and their finished work items (status and version from the
    /// outcomes) for the next group commit, in the order of the calls; the outcomes arrive
    /// through the returned [`PendingSave`] once all of them are committed.
    fn submit_results(&self, saves: Vec<(NewSnapshot, WorkItem)>) -> PendingSave {
        let (tx, rx) = oneshot::channel();
        if let Err(mpsc::error::SendError(WriteOp::Results(saves, tx))) =
            self.ops.send(WriteOp::Results(saves, tx))
        {
            // The committing task is gone (a panic): save these directly.
            let (store, derive) = (self.store.clone(), self.derive.clone());
            tokio::spawn(async move {
                let (news, items): (Vec<_>, Vec<_>) = saves.into_iter().unzip();
                let r = save_group(store.as_ref(), derive.as_ref(), &news, &items).await;
                let _ = tx.send(r);
            });
        }
        PendingSave(rx)
    }
}

/// The outcomes of a queued group of saves, once they are committed.
struct PendingSave(oneshot::Receiver<SavedGroup>);

impl PendingSave {
    async fn wait(self) -> Result<Vec<SaveOutcome>, ExecError> {
        match self.0.await {
            Ok(r) => Ok(r?),
            // The committing task died (a panic) before answering.
            Err(_) => Err(writer_stopped()),
        }
    }
}

fn writer_stopped() -> ExecError {
    ExecError::Store(StoreError::Invalid("the store writer task stopped".into()))
}

/// A send error hands back the op that was sent, so the other variant cannot occur.
fn unreachable_write<T>() -> Result<T, ExecError> {
    Err(ExecError::Store(StoreError::Invalid(
        "the store writer returned a different write".into(),
    )))
}

/// A finished work item as a save's outcome makes it: a new version or a confirmation.
fn completed(item: &WorkItem, outcome: &SaveOutcome) -> WorkItem {
    let mut item = item.clone();
    let (status, version) = saved_as(outcome);
    item.status = status;
    item.version = Some(version);
    item
}

/// What a save's outcome makes of a module run: a new version or a confirmation, and which.
fn saved_as(outcome: &SaveOutcome) -> (ItemStatus, i64) {
    match outcome {
        SaveOutcome::Unchanged { version } => (ItemStatus::Unchanged, *version),
        SaveOutcome::Created { version, .. } => (ItemStatus::NewVersion, *version),
    }
}

/// Saves a group of results and their work items (`items[i]` records `news[i]`) in one
/// transaction.
async fn save_group(
    store: &dyn Store,
    derive: &dyn DeriveChanges,
    news: &[NewSnapshot],
    items: &[WorkItem],
) -> SavedGroup {
    let completed_items = |outcomes: &[SaveOutcome]| {
        items
            .iter()
            .zip(outcomes)
            .map(|(item, o)| completed(item, o))
            .collect::<Vec<_>>()
    };
    // The domain that waits for these checks that every save has its outcome.
    store
        .save_snapshots_and_items(news, derive, &completed_items)
        .await
}

/// Commits one batch in one transaction: every output with its work item, and every other work
/// item (in the order they were queued, so a later write of an item wins). If the batch fails,
/// its writes are retried one caller at a time so that each gets its own exact outcomes or error.
async fn commit_batch(store: &dyn Store, derive: &dyn DeriveChanges, batch: Vec<WriteOp>) {
    /// One write in queue order; a group's items are filled from its outcomes.
    enum Slot {
        Plain(WorkItem, Option<oneshot::Sender<Result<(), StoreError>>>),
        Results(Range<usize>, oneshot::Sender<SavedGroup>),
    }
    let mut slots = Vec::with_capacity(batch.len());
    let mut snaps = Vec::new();
    let mut result_items = Vec::new();
    for op in batch {
        match op {
            WriteOp::Item(item, reply) => slots.push(Slot::Plain(item, reply)),
            WriteOp::Results(saves, reply) => {
                let first = snaps.len();
                for (new, item) in saves {
                    snaps.push(new);
                    result_items.push(item);
                }
                slots.push(Slot::Results(first..snaps.len(), reply));
            }
        }
    }
    let items = |outcomes: &[SaveOutcome]| {
        let mut items = Vec::with_capacity(slots.len() + result_items.len());
        for slot in &slots {
            match slot {
                Slot::Plain(item, _) => items.push(item.clone()),
                Slot::Results(range, _) => items.extend(
                    range
                        .clone()
                        .filter_map(|i| outcomes.get(i).map(|o| completed(&result_items[i], o))),
                ),
            }
        }
        items
    };
    let committed = match store.save_snapshots_and_items(&snaps, derive, &items).await {
        Ok(outcomes) if outcomes.len() == snaps.len() => Some(outcomes),
        _ => None,
    };
    match committed {
        Some(outcomes) => {
            let mut outcomes = outcomes.into_iter();
            for slot in slots {
                match slot {
                    Slot::Plain(_, reply) => {
                        if let Some(reply) = reply {
                            let _ = reply.send(Ok(()));
                        }
                    }
                    Slot::Results(range, reply) => {
                        let _ = reply.send(Ok(outcomes.by_ref().take(range.len()).collect()));
                    }
                }
            }
        }
        None => {
            // Caller by caller, in queue order: each gets its own outcomes or error.
            for slot in slots {
                match slot {
                    Slot::Plain(item, reply) => {
                        let r = store.upsert_item(&item).await;
                        if let Some(reply) = reply {
                            let _ = reply.send(r);
                        }
                    }
                    Slot::Results(range, reply) => {
                        let r =
                            save_group(store, derive, &snaps[range.clone()], &result_items[range])
                                .await;
                        let _ = reply.send(r);
                    }
                }
            }
        }
    }
}

/// A module failure as recorded: its message and whether a budget cap caused it.
struct Failure {
    message: String,
    budget: bool,
}

impl Failure {
    fn plain(message: String) -> Self {
        Failure {
            message,
            budget: false,
        }
    }

    fn from_module_error(e: &ModuleError) -> Self {
        Failure {
            message: e.to_string(),
            budget: is_budget_error(e),
        }
    }
}

fn is_budget_error(e: &ModuleError) -> bool {
    matches!(e, ModuleError::Gateway(g) if gateway_is_budget(g))
}

fn gateway_is_budget(e: &GatewayError) -> bool {
    e.is_budget()
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-text panic payload".into()
    }
}
