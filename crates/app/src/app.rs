//! `App`: the resolved settings and the library objects they build (store, plan, versioner,
//! gateway), opened once per process and shared by every front end. The plan and the versioner
//! are built on first use, so commands that only read the store never load fingerprints.

use crate::adapters::{StoreLedger, StoreLimiter, DEFAULT_HOLD};
use crate::error::{AppError, AppResult};
use crate::metrics::AppMetrics;
use crate::settings::Settings;
use pforge_budget::Gateway;
use pforge_core::SetArray;
use pforge_orchestrator::{Plan, Registry};
use pforge_store::Store;
use pforge_versioning::Versioner;
use prometheus_client::registry::Registry as MetricsRegistry;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// How long a process's gateway is used, which decides what `[budget] per_run` means and
/// whether pacing is shared with other processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// One run in this process (`pforge enrich`, `pforge demo`): `[budget] per_run` caps it.
    OneShot,
    /// A long-lived service (`pforge daemon`, `pforge worker`): there is no "run", so per_run
    /// does not apply; with PostgreSQL, rate limits are paced through the database so that all
    /// workers together keep them.
    Service,
}

/// The application. Cheap to clone.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    role: Role,
    /// How long credit holds last (see [`OpenOptions::hold`]).
    hold: Duration,
    store: Arc<dyn Store>,
    plan: OnceLock<Arc<Plan>>,
    versioner: OnceLock<Arc<Versioner>>,
    gateway: OnceLock<Gateway>,
    selections: Mutex<HashMap<Vec<String>, Arc<Plan>>>,
    /// Present when something will scrape it (the daemon's and workers' `/metrics`).
    metrics: Option<Metrics>,
    /// Wakes this process's idle worker tasks when it queues work (SQLite has no NOTIFY).
    work_arrived: tokio::sync::Notify,
}

struct Metrics {
    registry: Mutex<Option<MetricsRegistry>>,
    app: AppMetrics,
    frozen: OnceLock<Arc<MetricsRegistry>>,
}

/// How a front end opens the application.
#[derive(Debug, Clone, Copy)]
pub struct OpenOptions {
    pub role: Role,
    /// Collect metrics for a `/metrics` endpoint (the daemon, workers with `--metrics-bind`).
    pub metrics: bool,
    /// How long the budget's holds on credits last before a dead holder's are settled as
    /// "outcome unknown" (still counted): the worker lease, so both expire together.
    pub hold: Duration,
}

impl OpenOptions {
    /// A one-shot command without metrics.
    pub fn one_shot() -> Self {
        OpenOptions {
            role: Role::OneShot,
            metrics: false,
            hold: DEFAULT_HOLD,
        }
    }

    /// A long-lived service; `metrics` says whether something will scrape it.
    pub fn service(metrics: bool) -> Self {
        OpenOptions {
            role: Role::Service,
            metrics,
            hold: DEFAULT_HOLD,
        }
    }

    /// Sets how long credit holds last (a worker passes its `--lease-secs`).
    pub fn with_hold(mut self, hold: Duration) -> Self {
        self.hold = hold;
        self
    }
}

impl App {
    /// Opens the database named by the settings (migrations applied), telling the store
    /// which module outputs the accounts summary follows ([`crate::account_fields`]), so every
    /// process that writes through the application keeps the summary (and rebuilds it at open
    /// when it was built with other fields, or before the summary existed).
    pub async fn open(settings: Settings, options: OpenOptions) -> AppResult<App> {
        let store_options = pforge_store::StoreOptions {
            account_fields: Some(crate::queries::accounts::account_fields()),
        };
        let store = pforge_store::open_store_with(&settings.database_url, &store_options)
            .await
            .map_err(|e| {
                AppError::config(format!(
                    "opening the database {}: {e}",
                    settings.redacted_database_url()
                ))
            })?;
        Ok(App::with_store(settings, store, options))
    }

    /// An application over an already open store (tests, benchmarks).
    pub fn with_store(settings: Settings, store: Arc<dyn Store>, options: OpenOptions) -> App {
        let metrics = options.metrics.then(|| {
            let mut registry = MetricsRegistry::default();
            let app = AppMetrics::new(&mut registry);
            Metrics {
                registry: Mutex::new(Some(registry)),
                app,
                frozen: OnceLock::new(),
            }
        });
        App {
            inner: Arc::new(Inner {
                settings,
                role: options.role,
                hold: options.hold,
                store,
                plan: OnceLock::new(),
                versioner: OnceLock::new(),
                gateway: OnceLock::new(),
                selections: Mutex::new(HashMap::new()),
                metrics,
                work_arrived: tokio::sync::Notify::new(),
            }),
        }
    }

    /// The resolved settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The store every operation reads and writes.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// Closes the database connections before the process exits, so a SQLite file is
    /// checkpointed and whole on its own (safe to copy) once the command returns.
    pub async fn close(&self) {
        self.inner.store.close().await;
    }

    /// What this process is.
    pub fn role(&self) -> Role {
        self.inner.role
    }

    /// The application's own metrics (module runs, alerts, queue), when collected.
    pub fn metrics(&self) -> Option<&AppMetrics> {
        self.inner.metrics.as_ref().map(|m| &m.app)
    }

    /// Every metric of the process (gateway and application) for `/metrics`; `None` when the
    /// application was opened without metrics. Builds the gateway first so its counters exist.
    pub fn metrics_registry(&self) -> AppResult<Option<Arc<MetricsRegistry>>> {
        let Some(m) = &self.inner.metrics else {
            return Ok(None);
        };
        self.gateway()?;
        if let Some(r) = m.frozen.get() {
            return Ok(Some(r.clone()));
        }
        let registry = lock(&m.registry).take().unwrap_or_default();
        Ok(Some(m.frozen.get_or_init(|| Arc::new(registry)).clone()))
    }

    /// Wakes this process's idle worker tasks (work was just queued).
    pub fn wake_workers(&self) {
        self.inner.work_arrived.notify_waiters();
    }

    /// Resolves when [`App::wake_workers`] is called.
    pub(crate) async fn work_arrived(&self) {
        self.inner.work_arrived.notified().await
    }

    /// The plan of every module (built-in and declarative), validated once per process. A
    /// config that cannot build the modules is an [`AppError::Config`].
    pub fn plan(&self) -> AppResult<Arc<Plan>> {
        if let Some(p) = self.inner.plan.get() {
            return Ok(p.clone());
        }
        let plan = Arc::new(build_plan(&self.inner.settings)?);
        Ok(self.inner.plan.get_or_init(|| plan).clone())
    }

    /// The plan restricted to `modules` and what they depend on (all modules when empty);
    /// built once per selection. An unknown module id is [`AppError::Invalid`].
    pub fn plan_for(&self, modules: &[String]) -> AppResult<Arc<Plan>> {
        let full = self.plan()?;
        if modules.is_empty() {
            return Ok(full);
        }
        let mut cache = lock(&self.inner.selections);
        if let Some(p) = cache.get(modules) {
            return Ok(p.clone());
        }
        let plan =
            Arc::new(full.select(modules).map_err(|e| {
                AppError::invalid(format!("{e} (see `pforge plan` for module ids)"))
            })?);
        cache.insert(modules.to_vec(), plan.clone());
        Ok(plan)
    }

    /// The versioner (patches, change events, alerts) over every module's set arrays.
    pub fn versioner(&self) -> AppResult<Arc<Versioner>> {
        if let Some(v) = self.inner.versioner.get() {
            return Ok(v.clone());
        }
        let plan = self.plan()?;
        let sets: HashMap<String, Vec<SetArray>> = plan
            .modules()
            .iter()
            .map(|m| (m.spec().id.clone(), m.spec().set_arrays.clone()))
            .collect();
        let versioner = Versioner::new(&self.inner.settings.versioning, sets).map_err(|e| {
            AppError::config(format!("in {}: {e}", self.inner.settings.config.source))
        })?;
        Ok(self
            .inner
            .versioner
            .get_or_init(|| Arc::new(versioner))
            .clone())
    }

    /// The process's gateway: one for the whole process, so rate limits, the cache and budget
    /// holds are shared by everything it runs.
    pub fn gateway(&self) -> AppResult<Gateway> {
        if let Some(g) = self.inner.gateway.get() {
            return Ok(g.clone());
        }
        let gateway = self.build_gateway(None)?;
        Ok(self.inner.gateway.get_or_init(|| gateway).clone())
    }

    /// The gateway a job runs with: the process's own, or, when the job has its own spend cap,
    /// one that also holds every call against that cap, summed in the ledger over every process
    /// running the job (same ledger and caps; its pacing is shared with other processes through
    /// the database like every service's).
    pub fn gateway_for_spend_cap(&self, max_spend: Option<f64>) -> AppResult<Gateway> {
        match max_spend {
            None => self.gateway(),
            Some(credits) => self.build_gateway(Some(credits)),
        }
    }

    fn build_gateway(&self, run_budget: Option<f64>) -> AppResult<Gateway> {
        let cfg = &self.inner.settings.config;
        let mut caps = cfg.budget.clone();
        let store = self.inner.store.clone();
        let mut ledger = StoreLedger::new(store.clone()).hold_for(self.inner.hold);
        if let Some(m) = self.metrics() {
            ledger = ledger.count_holds(m.worker_reservations_held.clone());
        }
        let mut builder =
            pforge_budget::Gateway::builder(cfg.providers.clone()).ledger(Arc::new(ledger));
        if self.inner.role == Role::Service {
            caps.per_run = None;
            if self.inner.settings.is_postgres() {
                builder = builder.shared_limiter(Arc::new(StoreLimiter::new(store)));
            }
        }
        builder = builder.caps(caps);
        if let Some(credits) = run_budget {
            builder = builder.job_spend_cap(credits);
        }
        // Only the process's own gateway registers its counters (a registry takes each name
        // once); per-job gateways count their spend in the ledger like every other.
        if run_budget.is_none() {
            if let Some(m) = &self.inner.metrics {
                if let Some(registry) = lock(&m.registry).as_mut() {
                    builder = builder.metrics(registry);
                }
            }
        }
        builder
            .build()
            .map_err(|e| AppError::config(format!("building the HTTP gateway: {e}")))
    }
}

/// Builds and validates the plan of built-in and declarative modules.
fn build_plan(settings: &Settings) -> AppResult<Plan> {
    let cfg = &settings.config;
    let modules = pforge_modules::builtin_modules(&cfg.intelligence, &cfg.base_dir)
        .map_err(|e| AppError::config(format!("building the modules: {e}")))?;
    let mut registry = Registry::new();
    for m in modules {
        registry.register(m);
    }
    // Modules users declared in the config file, validated with errors that name the line.
    let known: Vec<String> = cfg.providers.keys().cloned().collect();
    for m in pforge_modules::declarative_modules(&cfg.text, &cfg.source, &known)
        .map_err(|e| AppError::config(e.to_string()))?
    {
        registry.register(m);
    }
    registry
        .plan()
        .map_err(|e| AppError::config(format!("planning the module graph: {e}")))
}

/// Locks a mutex whose data stays consistent even if a holder panicked.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
