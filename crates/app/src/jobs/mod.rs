//! Jobs: the one lifecycle of an enrichment job, whoever starts it.
//!
//! A job is created with its typed [`JobSpec`] and then either
//! - run here, over a stream of domains (`pforge enrich`, `pforge demo`): [`Jobs::run`] records
//!   it, feeds the executor and records how it ended; or
//! - queued (`enrich --enqueue`, the daemon's schedules, refreshes and API submissions, the
//!   UI): [`Jobs::enqueue`] writes the job and one queue row per domain in one transaction, and
//!   worker tasks ([`crate::worker`]) in this or other processes run it, resuming whatever a
//!   crash or a shutdown left.
//!
//! Either way the executor is built in one place ([`Jobs::executor`]) from the settings and the
//! spec, so a job runs the same modules under the same limits wherever it runs.

mod spec;

pub use spec::{JobSpec, Refresh};

use crate::error::{AppError, AppResult};
use crate::input::{self, InputError, Item, Source};
use crate::App;
use futures::Stream;
use pforge_budget::Gateway;
use pforge_core::Domain;
use pforge_orchestrator::{EventSink, Executor, ExecutorConfig, RunSummary};
use pforge_store::{Job, JobStatus};
use serde::Serialize;

/// Domains in progress per permit when a job runs in this process (`pforge enrich`): enough
/// to keep every permit busy while dependents wait. `plan --estimate` simulates the same.
pub(crate) const LOCAL_DOMAINS_PER_PERMIT: usize = 4;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Called with each invalid input line as soon as it is read (the CLI prints it at once).
pub type InputErrorSink = Arc<dyn Fn(&InputError) + Send + Sync>;

/// What a job run here reports (`pforge enrich --json` prints it).
#[derive(Debug, Serialize)]
pub struct RunReport {
    #[serde(flatten)]
    pub summary: RunSummary,
    pub input_errors: Vec<InputError>,
}

/// The result of asking to cancel a job.
#[derive(Debug, Clone, Serialize)]
pub struct CancelOutcome {
    pub job_id: Uuid,
    /// Whether this request cancelled it (false: it had already ended).
    pub cancelled: bool,
    /// Its status afterwards.
    pub status: JobStatus,
}

/// The job service over an [`App`].
#[derive(Clone)]
pub struct Jobs {
    app: App,
}

impl App {
    /// The job service.
    pub fn jobs(&self) -> Jobs {
        Jobs { app: self.clone() }
    }
}

impl Jobs {
    /// The executor for a job: the plan of its modules, the process's versioner, the gateway
    /// for its spend cap, the settings' run knobs. `domains_in_flight_per_permit` bounds memory:
    /// at most that many domains per concurrent module run are in progress.
    pub fn executor(
        &self,
        spec: &JobSpec,
        gateway: Gateway,
        domains_in_flight_per_permit: usize,
    ) -> AppResult<Executor> {
        self.executor_over(
            spec,
            gateway,
            domains_in_flight_per_permit,
            self.app.store().clone(),
        )
    }

    /// [`Jobs::executor`] writing through `store` instead of the application's (a worker
    /// passes its fenced store, so results of domains it no longer holds are refused).
    pub fn executor_over(
        &self,
        spec: &JobSpec,
        gateway: Gateway,
        domains_in_flight_per_permit: usize,
        store: Arc<dyn pforge_store::Store>,
    ) -> AppResult<Executor> {
        let settings = self.app.settings();
        let plan = self.app.plan_for(&spec.modules)?;
        let versioner = self.app.versioner()?;
        let concurrency = settings.run.concurrency.max(1);
        let executor = Executor::new(
            plan,
            gateway,
            store,
            versioner,
            ExecutorConfig {
                concurrency,
                max_domains_in_flight: (concurrency * domains_in_flight_per_permit).max(4),
                module_timeout: settings.run.module_timeout,
                refresh: spec.refresh.into(),
                ttls: settings.ttls.clone(),
            },
        );
        // A queued job carries what its input said about each domain to whichever worker runs it.
        Ok(if spec.hints.is_empty() {
            executor
        } else {
            executor.with_hints(spec.hint_book())
        })
    }

    /// Checks that a spec can run here before anything is recorded: its limits make sense and
    /// its modules exist in this configuration.
    pub fn validate(&self, spec: &JobSpec) -> AppResult<()> {
        spec.check().map_err(AppError::invalid)?;
        self.app.plan_for(&spec.modules)?;
        self.app.versioner()?;
        Ok(())
    }

    /// Records a job and runs every domain of `source` here, streaming (a file of a million
    /// lines is never held in memory). Invalid lines go to `on_input_error` as they are read and
    /// into the report; module failures are in the summary, not errors.
    pub async fn run(
        &self,
        spec: JobSpec,
        source: Source,
        events: EventSink,
        on_input_error: InputErrorSink,
    ) -> AppResult<RunReport> {
        self.validate(&spec)?;
        let gateway = self.app.gateway_for_spend_cap(spec.max_spend)?;
        // What the input file says about each domain (its own name, pins) reaches the modules.
        let hints = pforge_core::HintBook::default();
        let executor = self
            .executor(&spec, gateway, LOCAL_DOMAINS_PER_PERMIT)?
            .with_hints(hints.clone());
        let mut items = input::spawn_reader_with_hints(source, Some(hints)).await?;
        let store = self.app.store().clone();
        let job_id = Uuid::new_v4();
        store
            .create_job(job_id, &spec.origin, &spec.to_json())
            .await?;
        tracing::info!(job = %job_id, origin = %spec.origin, "job started");

        let errors: Arc<Mutex<Vec<InputError>>> = Arc::default();
        let (tx, rx) = tokio::sync::mpsc::channel::<Domain>(64);
        let errs = errors.clone();
        tokio::spawn(async move {
            while let Some(item) = items.recv().await {
                match item {
                    Item::Domain(d) => {
                        if tx.send(d).await.is_err() {
                            break;
                        }
                    }
                    Item::Invalid(e) => {
                        on_input_error(&e);
                        crate::app::lock(&errs).push(e);
                    }
                }
            }
        });
        let domains = receiver_stream(rx);
        let summary = match executor.run(job_id, domains, events).await {
            Ok(s) => s,
            Err(e) => {
                store.finish_job(job_id, JobStatus::Failed).await.ok();
                return Err(AppError::Store(store_error(e)));
            }
        };
        store.finish_job(job_id, JobStatus::Completed).await?;
        let input_errors = std::mem::take(&mut *crate::app::lock(&errors));
        Ok(RunReport {
            summary,
            input_errors,
        })
    }

    /// Queues a job for worker tasks: the job and one row per distinct domain in one
    /// transaction, after checking that the spec can run (a misconfiguration fails here, before
    /// anything is queued). Wakes idle workers.
    pub async fn enqueue(&self, spec: JobSpec, domains: &[Domain]) -> AppResult<Job> {
        self.validate(&spec)?;
        let mut seen = std::collections::HashSet::new();
        let names: Vec<String> = domains
            .iter()
            .filter(|d| seen.insert(d.as_str()))
            .map(ToString::to_string)
            .collect();
        if names.is_empty() {
            return Err(AppError::invalid("no domains to enrich"));
        }
        let job = self
            .app
            .store()
            .enqueue_job(Uuid::new_v4(), &spec.origin, &spec.to_json(), &names)
            .await?;
        tracing::info!(job = %job.id, origin = %spec.origin, domains = names.len(), "job queued");
        self.app.wake_workers();
        Ok(job)
    }

    /// Cancels a job: queued domains are not started; domains in progress finish.
    pub async fn cancel(&self, id: Uuid) -> AppResult<CancelOutcome> {
        let store = self.app.store();
        let cancelled = store
            .cancel_job(id)
            .await
            .map_err(|e| not_found_job(id, e))?;
        let status = store
            .get_job(id)
            .await?
            .map(|j| j.status)
            .ok_or_else(|| AppError::not_found(format!("no job {id} (see `pforge jobs`)")))?;
        Ok(CancelOutcome {
            job_id: id,
            cancelled,
            status,
        })
    }
}

/// Reads the source fully with what it says about each domain (names, pins), for a queued job's
/// [`JobSpec::hints`].
pub async fn read_domains_with_hints(
    source: Source,
) -> AppResult<(
    Vec<Domain>,
    Vec<InputError>,
    std::collections::BTreeMap<String, pforge_core::DomainHints>,
)> {
    input::read_all_with_hints(source).await
}

fn receiver_stream(rx: tokio::sync::mpsc::Receiver<Domain>) -> impl Stream<Item = Domain> + Send {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|d| (d, rx)) })
}

fn store_error(e: pforge_orchestrator::ExecError) -> pforge_store::StoreError {
    match e {
        pforge_orchestrator::ExecError::Store(s) => s,
    }
}

/// A store error on a job id, with "no such job" said plainly.
pub(crate) fn not_found_job(id: Uuid, e: pforge_store::StoreError) -> AppError {
    match e {
        pforge_store::StoreError::NotFound { .. } => {
            AppError::not_found(format!("no job {id} (see `pforge jobs`)"))
        }
        other => AppError::Store(other),
    }
}
