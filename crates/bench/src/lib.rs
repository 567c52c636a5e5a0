//! The scale benchmark behind `pforge bench`. Simulated providers are served over real HTTP on
//! 127.0.0.1 (each with a latency distribution and a server-side rate limit that answers 429 when
//! exceeded); the product's 15-module DAG (ids and dependencies from the real module specs,
//! one simulated call per module) calls them through the real `Gateway` (governor pacing) and
//! the real executor stores every snapshot in SQLite. Synthetic domains are streamed, never
//! held in memory at once. The report compares the makespan with a lower bound
//! no schedule can beat (the busiest provider's calls ÷ its rate limit, or the critical path's
//! latency), so the cost of scheduling, and of the `--schedule waves` baseline, is measured.

use async_trait::async_trait;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures::stream::{self, Stream, StreamExt};
use pforge_budget::{Call, Gateway, ProviderConfig, ProvidersConfig, RateLimitConfig};
use pforge_core::{Citation, Domain, Module, ModuleContext, ModuleError, ModuleOutput, ModuleSpec};
use pforge_orchestrator::{
    EventSink, Executor, ExecutorConfig, RefreshPolicy, Registry, RunEvent, RunSummary,
};
use pforge_store::Store;
use pforge_versioning::{Versioner, VersioningConfig};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Why the benchmark could not run (a bad `--providers` spec, a port, the store).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BenchError(String);

type Result<T, E = BenchError> = std::result::Result<T, E>;

macro_rules! from_error {
    ($($t:ty),*) => {$(
        impl From<$t> for BenchError {
            fn from(e: $t) -> Self {
                BenchError(e.to_string())
            }
        }
    )*};
}
from_error!(
    std::io::Error,
    pforge_store::StoreError,
    pforge_orchestrator::ExecError,
    pforge_orchestrator::PlanError,
    pforge_versioning::ConfigError
);

/// What to run (the CLI's `pforge bench` flags).
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Synthetic domains to enrich (company0.com, company1.com, ...), streamed.
    pub domains: u64,
    /// `eager`: a module starts as soon as its own dependencies are done (the executor).
    /// `waves`: the original plan's baseline, wave k runs for every domain before wave k+1.
    pub schedule: Schedule,
    /// Most module runs in progress at once.
    pub concurrency: usize,
    /// Most domains in progress at once (default: the concurrency).
    pub domains_in_flight: Option<usize>,
    /// Override simulated providers: `name=MEAN_MS[+-JITTER_MS]@RPS[/BURST]`, comma separated
    /// (e.g. `sec=80+-30@10`). Names: homepage, dns, traffic, sec, jobs, news, search.
    pub providers: Option<String>,
    /// Where snapshots go: a fresh SQLite file in the temp directory, SQLite in memory, or a
    /// fresh schema in PostgreSQL.
    pub store: BenchStore,
    /// The PostgreSQL database for [`BenchStore::Postgres`] (`postgres://…`).
    pub database_url: Option<String>,
    /// Modules call no provider: the engine's own overhead (scheduling, persistence) alone.
    pub noop: bool,
    /// No progress lines on stderr (the CLI's `--json`).
    pub quiet: bool,
    /// The accounts summary's fields, as the product opens its store with them, so the
    /// benchmark's writes keep the summary exactly as production writes do (and pay for it).
    pub account_fields: Option<pforge_store::AccountFields>,
}

/// How module runs are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    Eager,
    Waves,
}

/// Which store the benchmark writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BenchStore {
    Sqlite,
    Memory,
    /// A fresh schema (dropped afterwards) in the PostgreSQL database of
    /// [`BenchOptions::database_url`]: what many workers sharing a server pay.
    Postgres,
}

/// One simulated provider: answer latency uniform in `mean ± jitter`, rate limit `rps`.
#[derive(Debug, Clone, Serialize)]
pub struct SimProvider {
    pub name: String,
    pub mean_ms: f64,
    pub jitter_ms: f64,
    pub rps: f64,
    /// Requests the client may send back to back (GCRA burst); also the server's tolerance.
    pub burst: u32,
}

/// The built-in provider mix. Rates are scaled so that 10,000 domains take about 40 s on the
/// busiest provider (`sec`), which keeps the benchmark runnable while every provider is
/// rate-limited and each wave has a different bottleneck.
pub fn default_providers() -> Vec<SimProvider> {
    let p = |name: &str, mean_ms: f64, jitter_ms: f64, rps: f64| SimProvider {
        name: name.into(),
        mean_ms,
        jitter_ms,
        rps,
        burst: default_burst(rps),
    };
    vec![
        p("homepage", 50.0, 20.0, 1600.0),
        p("dns", 10.0, 5.0, 2000.0),
        p("traffic", 60.0, 20.0, 600.0),
        p("sec", 80.0, 30.0, 500.0),
        p("jobs", 40.0, 15.0, 800.0),
        p("news", 70.0, 25.0, 600.0),
        p("search", 30.0, 10.0, 1200.0),
    ]
}

/// 20 ms worth of requests: absorbs timer granularity (tokio sleeps in whole milliseconds) so a
/// strictly spaced limiter does not lose slots, without changing the sustained rate.
fn default_burst(rps: f64) -> u32 {
    ((rps / 50.0).round() as u32).max(1)
}

/// Which simulated provider each of the product's modules calls (one call per module run, so
/// every wave has a different bottleneck). Ids and dependencies come from the real module specs
/// ([`pforge_modules::builtin_specs`]); only this load assignment is the benchmark's own.
pub const SIM_PROVIDERS: &[(&str, &str)] = &[
    ("m01_company_context", "homepage"),
    ("m02_tech_stack", "dns"),
    ("m03_traffic", "traffic"),
    ("m04_financials", "sec"),
    ("m05_competitors", "search"),
    ("m06_hiring", "jobs"),
    ("m07_strategic_triggers", "news"),
    ("m08_investors", "sec"),
    ("m09_executives", "search"),
    ("m10_buying_committee", "jobs"),
    ("m11_displacement_targets", "homepage"),
    ("m12_case_studies", "homepage"),
    ("m13_icp_priority", "traffic"),
    ("m14_signal_scoring", "news"),
    ("m15_strategic_brief", "search"),
];

/// One module of the benchmark's DAG: the product module's id and exact dependencies, and the
/// simulated provider it calls.
#[derive(Debug, Clone)]
pub struct SimModuleSpec {
    pub id: String,
    pub provider: &'static str,
    pub dependencies: Vec<String>,
}

/// The product's module graph (from the real specs) with a simulated provider per module. A
/// module without an entry in [`SIM_PROVIDERS`] is an error naming it, so a new module cannot
/// silently leave the benchmark.
pub fn sim_modules() -> Result<Vec<SimModuleSpec>> {
    pforge_modules::builtin_specs()
        .into_iter()
        .map(|spec| {
            let provider = SIM_PROVIDERS
                .iter()
                .find(|(id, _)| *id == spec.id)
                .map(|(_, p)| *p)
                .ok_or_else(|| {
                    BenchError(format!(
                        "module {} has no simulated provider: add it to SIM_PROVIDERS in \
                         crates/bench/src/lib.rs",
                        spec.id
                    ))
                })?;
            Ok(SimModuleSpec {
                id: spec.id,
                provider,
                dependencies: spec.dependencies,
            })
        })
        .collect()
}

/// Parses `--providers` overrides onto the default mix.
pub fn parse_providers(spec: Option<&str>) -> Result<Vec<SimProvider>> {
    let mut mix = default_providers();
    let Some(spec) = spec else {
        return Ok(mix);
    };
    for part in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let bad = || {
            BenchError(format!(
                "bad --providers entry {part:?}: expected NAME=MEAN_MS[+-JITTER_MS]@RPS[/BURST], \
                 e.g. sec=80+-30@10"
            ))
        };
        let (name, rest) = part.split_once('=').ok_or_else(bad)?;
        let (lat, rate) = rest.split_once('@').ok_or_else(bad)?;
        let lat = lat.replace('±', "+-");
        let (mean, jitter) = match lat.split_once("+-") {
            Some((m, j)) => (m.trim().parse::<f64>(), j.trim().parse::<f64>()),
            None => (lat.trim().parse::<f64>(), Ok(0.0)),
        };
        let (rps, burst) = match rate.split_once('/') {
            Some((r, b)) => (r.trim().parse::<f64>(), Some(b.trim().parse::<u32>())),
            None => (rate.trim().parse::<f64>(), None),
        };
        let (mean, jitter, rps) = (
            mean.map_err(|_| bad())?,
            jitter.map_err(|_| bad())?,
            rps.map_err(|_| bad())?,
        );
        if !(mean >= 0.0 && jitter >= 0.0 && jitter <= mean && rps > 0.0 && rps.is_finite()) {
            return Err(BenchError(format!(
                "bad --providers entry {part:?}: need 0 <= JITTER <= MEAN and RPS > 0"
            )));
        }
        let burst = match burst {
            Some(b) => b.map_err(|_| bad())?.max(1),
            None => default_burst(rps),
        };
        let Some(p) = mix.iter_mut().find(|p| p.name == name.trim()) else {
            return Err(BenchError(format!(
                "unknown provider {:?} in --providers (known: homepage, dns, traffic, sec, jobs, \
                 news, search)",
                name.trim()
            )));
        };
        p.mean_ms = mean;
        p.jitter_ms = jitter;
        p.rps = rps;
        p.burst = burst;
    }
    Ok(mix)
}

// ---------------------------------------------------------------------------------------------
// The simulated provider server.

/// Live state of one simulated provider on the server side.
struct SimState {
    cfg: SimProvider,
    /// Token bucket enforcing the rate limit: (tokens, last refill).
    bucket: Mutex<(f64, Instant)>,
    capacity: f64,
    calls: AtomicU64,
    rejected: AtomicU64,
}

struct Server {
    providers: HashMap<String, SimState>,
    seq: AtomicU64,
}

/// A running simulated provider server on 127.0.0.1.
pub struct SimServer {
    url: String,
    state: Arc<Server>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

/// What one provider saw during the run.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderReport {
    pub name: String,
    pub mean_ms: f64,
    pub jitter_ms: f64,
    pub rps: f64,
    pub burst: u32,
    /// Calls the plan makes to this provider.
    pub planned_calls: u64,
    /// Requests the server received (including rejected ones).
    pub calls: u64,
    /// Requests refused with 429 because they exceeded the rate limit (the gateway's pacing
    /// should keep this at 0).
    pub rejected_429: u64,
    /// planned calls ÷ rate: the least time this provider alone needs.
    pub bound_secs: f64,
    /// Requests per second achieved over the makespan.
    pub achieved_rps: f64,
}

impl SimServer {
    /// Starts the server on an ephemeral loopback port.
    pub async fn start(mix: &[SimProvider]) -> Result<Self> {
        let providers = mix
            .iter()
            .map(|p| {
                // Tolerance: the client's burst plus 50 ms of jitter in arrival times.
                let capacity = f64::from(p.burst) + p.rps * 0.05 + 1.0;
                (
                    p.name.clone(),
                    SimState {
                        cfg: p.clone(),
                        bucket: Mutex::new((capacity, Instant::now())),
                        capacity,
                        calls: AtomicU64::new(0),
                        rejected: AtomicU64::new(0),
                    },
                )
            })
            .collect();
        let state = Arc::new(Server {
            providers,
            seq: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/{provider}/lookup", axum::routing::get(handle))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| {
                BenchError(format!(
                    "binding the simulated provider server on 127.0.0.1: {e}"
                ))
            })?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(SimServer {
            url: format!("http://{addr}"),
            state,
            stop: Some(stop),
            task,
        })
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// (calls, rejected) per provider so far.
    fn counts(&self, name: &str) -> (u64, u64) {
        self.state
            .providers
            .get(name)
            .map(|s| {
                (
                    s.calls.load(Ordering::Relaxed),
                    s.rejected.load(Ordering::Relaxed),
                )
            })
            .unwrap_or_default()
    }

    /// Stops the server.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

#[derive(Deserialize)]
struct LookupQuery {
    domain: String,
}

async fn handle(
    State(server): State<Arc<Server>>,
    Path(provider): Path<String>,
    Query(q): Query<LookupQuery>,
) -> Response {
    let Some(p) = server.providers.get(&provider) else {
        return (StatusCode::NOT_FOUND, "unknown provider").into_response();
    };
    p.calls.fetch_add(1, Ordering::Relaxed);
    let allowed = {
        let mut bucket = match p.bucket.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        let now = Instant::now();
        let refill = now.duration_since(bucket.1).as_secs_f64() * p.cfg.rps;
        bucket.0 = (bucket.0 + refill).min(p.capacity);
        bucket.1 = now;
        if bucket.0 >= 1.0 {
            bucket.0 -= 1.0;
            true
        } else {
            false
        }
    };
    if !allowed {
        p.rejected.fetch_add(1, Ordering::Relaxed);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            "rate limit exceeded",
        )
            .into_response();
    }
    let n = server.seq.fetch_add(1, Ordering::Relaxed);
    let u = (splitmix64(n) >> 11) as f64 / (1u64 << 53) as f64; // uniform in [0, 1)
    let ms = p.cfg.mean_ms + p.cfg.jitter_ms * (2.0 * u - 1.0);
    tokio::time::sleep(Duration::from_secs_f64(ms.max(0.0) / 1000.0)).await;
    // Deterministic per (domain, provider), so a re-run finds its snapshots unchanged.
    let score = splitmix64(fnv1a(q.domain.as_bytes()) ^ fnv1a(provider.as_bytes())) % 1000;
    (
        [("content-type", "application/json")],
        json!({ "domain": q.domain, "provider": provider, "score": score }).to_string(),
    )
        .into_response()
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

// ---------------------------------------------------------------------------------------------
// Synthetic modules.

/// A module that makes one call to its provider through the gateway and stores the answer with
/// its citation. With `require_deps`, it fails unless every dependency produced output, which
/// proves the executor respected the DAG.
struct SimModule {
    spec: ModuleSpec,
    require_deps: bool,
    /// Answer at once without calling the provider.
    noop: bool,
}

#[async_trait]
impl Module for SimModule {
    fn spec(&self) -> &ModuleSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ModuleContext) -> Result<ModuleOutput, ModuleError> {
        if self.require_deps {
            for dep in &self.spec.dependencies {
                ctx.require(dep)?;
            }
        }
        let provider = self
            .spec
            .providers
            .first()
            .map(String::as_str)
            .unwrap_or("");
        let domain = ctx.domain.as_str();
        if self.noop {
            let cite = Citation::config("bench-noop", &[]);
            let mut out = ModuleOutput::new();
            out.set("domain", domain, &cite);
            out.set("provider", provider, &cite);
            return Ok(out);
        }
        // The module id keeps two modules' calls to one provider apart (the gateway would
        // otherwise serve the second from the first's single flight).
        let call = Call::get(provider, "/lookup")
            .query("domain", domain)
            .query("module", &self.spec.id)
            .for_domain(domain)
            .by_module(&self.spec.id);
        let resp = ctx.gateway.fetch(&call).await?;
        let body: Value = resp.json()?;
        let cite = Citation::from_response(&resp, &[]);
        let mut out = ModuleOutput::new();
        out.set(
            "score",
            body.get("score").cloned().unwrap_or(Value::Null),
            &cite,
        );
        out.set("provider", provider, &cite);
        Ok(out)
    }
}

fn sim_module(m: &SimModuleSpec, keep_deps: bool, noop: bool) -> Arc<dyn Module> {
    Arc::new(SimModule {
        spec: ModuleSpec {
            id: m.id.clone(),
            title: m.id.clone(),
            dependencies: if keep_deps {
                m.dependencies.clone()
            } else {
                Vec::new()
            },
            providers: vec![m.provider.into()],
            runs_degraded: false,
            set_arrays: Vec::new(),
        },
        require_deps: keep_deps,
        noop,
    })
}

/// The 15-module plan over the simulated providers.
fn full_plan(sims: &[SimModuleSpec], noop: bool) -> Result<pforge_orchestrator::Plan> {
    let mut registry = Registry::new();
    for m in sims {
        registry.register(sim_module(m, true, noop));
    }
    registry.plan().map_err(|e| BenchError(e.to_string()))
}

/// `company0.com`, `company1.com`, ... generated lazily.
fn domains(n: u64) -> impl Stream<Item = Domain> + Send {
    stream::iter(0..n).filter_map(|i| async move { Domain::parse(&format!("company{i}.com")).ok() })
}

// ---------------------------------------------------------------------------------------------
// The run and its report.

/// What `pforge bench` prints.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub domains: u64,
    /// Modules called no provider (`--noop`): only the engine's overhead was measured.
    pub noop: bool,
    pub schedule: Schedule,
    pub store: BenchStore,
    pub concurrency: usize,
    pub domains_in_flight: usize,
    pub modules: usize,
    pub module_runs: u64,
    pub failed_runs: u64,
    pub makespan_secs: f64,
    /// max(busiest provider's calls ÷ rate, critical path latency).
    pub lower_bound_secs: f64,
    /// What sets the lower bound: a provider name or `critical_path`.
    pub bound_by: String,
    pub critical_path_secs: f64,
    pub ratio: f64,
    /// Sum over waves of each wave's own busiest-provider bound: the least the waves schedule
    /// can take.
    pub waves_bound_secs: f64,
    pub module_runs_per_sec: f64,
    pub peak_rss_mb: f64,
    /// Resident memory sampled every few seconds (MB), to show it stays flat.
    pub rss_samples_mb: Vec<f64>,
    pub providers: Vec<ProviderReport>,
    /// First failures, if any.
    pub failures: Vec<String>,
}

/// Runs the benchmark described by `args`.
pub async fn bench(args: &BenchOptions) -> Result<BenchReport> {
    let mix = parse_providers(args.providers.as_deref())?;
    let sims = sim_modules()?;
    let plan = full_plan(&sims, args.noop)?;
    let server = SimServer::start(&mix).await?;

    let mut providers: ProvidersConfig = BTreeMap::new();
    for p in &mix {
        let mut cfg = ProviderConfig::new(format!("{}/{}", server.url(), p.name));
        cfg.rate_limit = Some(RateLimitConfig {
            per_second: Some(p.rps),
            per_minute: None,
            burst: p.burst,
        });
        cfg.timeout_secs = 30.0;
        cfg.expect_json = true;
        providers.insert(p.name.clone(), cfg);
    }
    let gateway =
        Gateway::new(providers).map_err(|e| BenchError(format!("building the gateway: {e}")))?;

    let sets = plan
        .modules()
        .iter()
        .map(|m| (m.spec().id.clone(), m.spec().set_arrays.clone()))
        .collect();
    let versioner = Arc::new(Versioner::new(&VersioningConfig::defaults()?, sets)?);
    let (store, scratch) = open_bench_store(
        args.store,
        args.database_url.as_deref(),
        args.account_fields.clone(),
    )
    .await?;
    let concurrency = args.concurrency.max(1);
    let in_flight = args.domains_in_flight.unwrap_or(concurrency).max(1);
    let exec_cfg = ExecutorConfig {
        concurrency,
        max_domains_in_flight: in_flight,
        module_timeout: Duration::from_secs(120),
        refresh: RefreshPolicy::All,
        ttls: HashMap::new(),
    };

    // Progress and memory sampling while the run goes.
    let finished = Arc::new(AtomicU64::new(0));
    let counter = finished.clone();
    let sink: EventSink = Arc::new(move |e: &RunEvent| {
        if matches!(e, RunEvent::ModuleFinished { .. }) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    let total_runs = args.domains * plan.len() as u64;
    let samples = Arc::new(Mutex::new(Vec::new()));
    let quiet = args.quiet;
    let ticker = {
        let finished = finished.clone();
        let samples = samples.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let rss = proc_status_mb("VmRSS:").unwrap_or(0.0);
                if let Ok(mut s) = samples.lock() {
                    s.push((rss * 10.0).round() / 10.0);
                }
                if !quiet {
                    let done = finished.load(Ordering::Relaxed);
                    eprintln!(
                        "  {:>6.1}s  {done}/{total_runs} module runs  rss {rss:.1} MB",
                        started.elapsed().as_secs_f64()
                    );
                }
            }
        })
    };

    // The run proper. Once the store is open, its scratch (file or schema) is removed whether
    // the run succeeds or fails partway.
    let ran: Result<(Vec<RunSummary>, f64)> = async {
        let job_id = Uuid::new_v4();
        store.create_job(job_id, "bench", &json!({})).await?;
        let started = Instant::now();
        let mut summaries = Vec::new();
        match args.schedule {
            Schedule::Eager => {
                let executor = Executor::new(
                    Arc::new(plan.clone()),
                    gateway.clone(),
                    store.clone(),
                    versioner.clone(),
                    exec_cfg,
                );
                summaries.push(executor.run(job_id, domains(args.domains), sink).await?);
            }
            Schedule::Waves => {
                // Wave k for every domain, then wave k+1: each wave is its own executor run over
                // the same streamed input (dependencies are already stored by then).
                for wave in plan.waves() {
                    let mut registry = Registry::new();
                    for id in &wave {
                        if let Some(m) = sims.iter().find(|m| &m.id == id) {
                            registry.register(sim_module(m, false, args.noop));
                        }
                    }
                    let executor = Executor::new(
                        Arc::new(registry.plan()?),
                        gateway.clone(),
                        store.clone(),
                        versioner.clone(),
                        exec_cfg.clone(),
                    );
                    summaries.push(
                        executor
                            .run(job_id, domains(args.domains), sink.clone())
                            .await?,
                    );
                }
            }
        }
        let makespan = started.elapsed().as_secs_f64();
        store
            .finish_job(job_id, pforge_store::JobStatus::Completed)
            .await?;
        Ok((summaries, makespan))
    }
    .await;
    ticker.abort();
    let (summaries, makespan) = match ran {
        Ok(ran) => ran,
        Err(e) => {
            server.shutdown().await;
            store.close().await;
            scratch.remove().await;
            return Err(e);
        }
    };

    let mean_of: HashMap<&str, f64> = mix
        .iter()
        .map(|p| (p.name.as_str(), if args.noop { 0.0 } else { p.mean_ms }))
        .collect();
    let mut finish_at: HashMap<&str, f64> = HashMap::new();
    // The plan's order is topological, so every dependency is finished before its dependents.
    for id in plan.ids() {
        let Some(m) = sims.iter().find(|m| m.id == id) else {
            continue;
        };
        let start = m
            .dependencies
            .iter()
            .map(|d| finish_at.get(d.as_str()).copied().unwrap_or(0.0))
            .fold(0.0, f64::max);
        finish_at.insert(
            m.id.as_str(),
            start + mean_of.get(m.provider).copied().unwrap_or(0.0) / 1000.0,
        );
    }
    let critical = finish_at.values().copied().fold(0.0, f64::max);
    let mut bound = critical;
    let mut bound_by = "critical_path".to_string();
    let mut reports = Vec::new();
    for p in &mix {
        let per_domain = if args.noop {
            0
        } else {
            sims.iter().filter(|m| m.provider == p.name).count() as u64
        };
        let planned = per_domain * args.domains;
        let secs = planned as f64 / p.rps;
        if secs > bound {
            bound = secs;
            bound_by = p.name.clone();
        }
        let (calls, rejected) = server.counts(&p.name);
        reports.push(ProviderReport {
            name: p.name.clone(),
            mean_ms: p.mean_ms,
            jitter_ms: p.jitter_ms,
            rps: p.rps,
            burst: p.burst,
            planned_calls: planned,
            calls,
            rejected_429: rejected,
            bound_secs: round3(secs),
            achieved_rps: round3(calls as f64 / makespan),
        });
    }
    let rate_of: HashMap<&str, f64> = mix.iter().map(|p| (p.name.as_str(), p.rps)).collect();
    let waves_bound: f64 = plan
        .waves()
        .iter()
        .map(|wave| {
            let mut per: HashMap<&str, u64> = HashMap::new();
            for id in wave {
                if let Some(m) = sims.iter().find(|m| &m.id == id) {
                    *per.entry(m.provider).or_default() += args.domains;
                }
            }
            per.iter()
                .map(|(p, n)| *n as f64 / rate_of.get(p).copied().unwrap_or(f64::INFINITY))
                .fold(0.0, f64::max)
        })
        .sum();

    let (runs, failed, failures) = tally(&summaries);
    server.shutdown().await;
    store.close().await;
    scratch.remove().await;
    let rss_samples_mb = samples.lock().map(|s| s.clone()).unwrap_or_default();
    Ok(BenchReport {
        domains: args.domains,
        noop: args.noop,
        schedule: args.schedule,
        store: args.store,
        concurrency,
        domains_in_flight: in_flight,
        modules: plan.len(),
        module_runs: runs,
        failed_runs: failed,
        makespan_secs: round3(makespan),
        lower_bound_secs: round3(bound),
        bound_by,
        critical_path_secs: round3(critical),
        // No bound without provider calls (`--noop`): the ratio is then 0.
        ratio: if bound > 0.0 {
            round3(makespan / bound)
        } else {
            0.0
        },
        waves_bound_secs: round3(waves_bound.max(critical)),
        module_runs_per_sec: (runs as f64 / makespan).round(),
        peak_rss_mb: proc_status_mb("VmHWM:").unwrap_or(0.0),
        rss_samples_mb,
        providers: reports,
        failures,
    })
}

/// What a benchmark run wrote besides its report, removed when it is done.
enum Scratch {
    None,
    /// A SQLite file, with its WAL and shared-memory files.
    File(PathBuf),
    /// A PostgreSQL schema, and the database URL to drop it through.
    Schema {
        base: String,
        name: String,
    },
}

impl Scratch {
    async fn remove(self) {
        match self {
            Scratch::None => {}
            Scratch::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(PathBuf::from(p));
                }
            }
            Scratch::Schema { base, name } => {
                if let Ok(admin) = sqlx::PgPool::connect(&base).await {
                    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                        .execute(&admin)
                        .await;
                    admin.close().await;
                }
            }
        }
    }
}

/// A fresh SQLite file in the temp directory, an in-memory database, or a fresh schema in
/// PostgreSQL (selected through the URL's search_path, where the store puts its tables).
async fn open_bench_store(
    kind: BenchStore,
    database_url: Option<&str>,
    account_fields: Option<pforge_store::AccountFields>,
) -> Result<(Arc<dyn Store>, Scratch)> {
    let options = pforge_store::StoreOptions { account_fields };
    match kind {
        BenchStore::Memory => Ok((
            pforge_store::open_store_with("sqlite::memory:", &options)
                .await
                .map_err(|e| BenchError(e.to_string()))?,
            Scratch::None,
        )),
        BenchStore::Sqlite => {
            let path = std::env::temp_dir().join(format!("pforge-bench-{}.db", Uuid::new_v4()));
            let store =
                pforge_store::open_store_with(&format!("sqlite://{}", path.display()), &options)
                    .await
                    .map_err(|e| BenchError(format!("opening {}: {e}", path.display())))?;
            Ok((store, Scratch::File(path)))
        }
        BenchStore::Postgres => {
            let base = database_url
                .filter(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
                .ok_or_else(|| {
                    BenchError(
                        "--store postgres needs --database-url postgres://USER@HOST/DB (the \
                         benchmark writes into a fresh schema there and drops it afterwards)"
                            .into(),
                    )
                })?;
            let name = format!("pforge_bench_{}", Uuid::new_v4().simple());
            let admin = sqlx::PgPool::connect(base)
                .await
                .map_err(|e| BenchError(format!("connecting to --database-url: {e}")))?;
            sqlx::query(&format!("CREATE SCHEMA {name}"))
                .execute(&admin)
                .await
                .map_err(|e| BenchError(format!("creating the schema {name}: {e}")))?;
            admin.close().await;
            let sep = if base.contains('?') { '&' } else { '?' };
            let url = format!("{base}{sep}options=-c%20search_path%3D{name}");
            let scratch = Scratch::Schema {
                base: base.to_string(),
                name,
            };
            match pforge_store::open_store_with(&url, &options).await {
                Ok(store) => Ok((store, scratch)),
                Err(e) => {
                    scratch.remove().await;
                    Err(BenchError(format!("opening the benchmark schema: {e}")))
                }
            }
        }
    }
}

fn tally(summaries: &[RunSummary]) -> (u64, u64, Vec<String>) {
    let mut runs = 0;
    let mut failed = 0;
    let mut failures = Vec::new();
    for s in summaries {
        for c in s.modules.values() {
            runs += c.ok + c.fresh + c.failed + c.skipped;
            failed += c.failed + c.skipped;
        }
        for f in s
            .failures
            .iter()
            .take(10usize.saturating_sub(failures.len()))
        {
            failures.push(format!("{} {}: {}", f.domain, f.module, f.error));
        }
    }
    (runs, failed, failures)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A `/proc/self/status` memory field (e.g. `VmHWM:` = peak RSS) in MB; None off Linux.
fn proc_status_mb(field: &str) -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}

/// Prints the report as the CLI shows it.
pub fn print_report(r: &BenchReport) {
    println!(
        "pforge bench: {} domains x {} modules, schedule {:?}, store {:?}, concurrency {}, \
         domains in flight {}{}",
        r.domains,
        r.modules,
        r.schedule,
        r.store,
        r.concurrency,
        r.domains_in_flight,
        if r.noop { ", no-op modules" } else { "" }
    );
    println!(
        "  makespan        {:>9.2} s\n  lower bound     {:>9.2} s  (bound by {}; critical path {:.3} s; waves schedule bound {:.2} s)\n  ratio           {:>9.3}\n  module runs     {:>9}  ({} failed)\n  runs per second {:>9.0}\n  peak RSS        {:>9.1} MB  (samples: {:?})",
        r.makespan_secs,
        r.lower_bound_secs,
        r.bound_by,
        r.critical_path_secs,
        r.waves_bound_secs,
        r.ratio,
        r.module_runs,
        r.failed_runs,
        r.module_runs_per_sec,
        r.peak_rss_mb,
        r.rss_samples_mb,
    );
    println!(
        "  {:<9} {:>12} {:>8} {:>10} {:>10} {:>6} {:>10} {:>12}",
        "provider", "latency ms", "rps", "planned", "served", "429s", "bound s", "achieved/s"
    );
    for p in &r.providers {
        println!(
            "  {:<9} {:>12} {:>8} {:>10} {:>10} {:>6} {:>10.2} {:>12.1}",
            p.name,
            format!("{}+-{}", p.mean_ms, p.jitter_ms),
            p.rps,
            p.planned_calls,
            p.calls,
            p.rejected_429,
            p.bound_secs,
            p.achieved_rps
        );
    }
    for f in &r.failures {
        println!("  failure: {f}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_overrides_parse_and_reject_junk() {
        let mix = parse_providers(Some("sec=80+-30@10, dns=5@1000/4")).unwrap();
        let sec = mix.iter().find(|p| p.name == "sec").unwrap();
        assert_eq!(
            (sec.mean_ms, sec.jitter_ms, sec.rps, sec.burst),
            (80.0, 30.0, 10.0, 1)
        );
        let dns = mix.iter().find(|p| p.name == "dns").unwrap();
        assert_eq!(
            (dns.mean_ms, dns.jitter_ms, dns.rps, dns.burst),
            (5.0, 0.0, 1000.0, 4)
        );
        assert!(parse_providers(Some("nope=1@1")).is_err());
        assert!(parse_providers(Some("sec=80")).is_err());
        assert!(parse_providers(Some("sec=10+-20@5")).is_err());
    }

    #[test]
    fn synthetic_plan_is_the_products_dag() {
        let sims = sim_modules().unwrap();
        let plan = full_plan(&sims, false).unwrap();
        assert_eq!(plan.len(), 15);
        let specs = pforge_modules::builtin_specs();
        assert_eq!(SIM_PROVIDERS.len(), specs.len(), "one provider per module");
        for spec in &specs {
            let m = plan
                .module(&spec.id)
                .expect("every product module is benchmarked");
            assert_eq!(m.spec().dependencies, spec.dependencies, "{}", spec.id);
        }
        // Four root modules start every domain; the brief reads all the others, so it is last.
        assert_eq!(plan.waves()[0].len(), 4);
        assert_eq!(
            plan.waves().last().unwrap(),
            &vec!["m15_strategic_brief".to_string()]
        );
    }

    /// A small real run: every module succeeds over real HTTP, nothing is rate-limited by the
    /// server (the gateway paced every call), and the makespan respects the lower bound.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn small_run_respects_limits_and_bound() {
        let args = BenchOptions {
            domains: 60,
            schedule: Schedule::Eager,
            concurrency: 64,
            domains_in_flight: None,
            providers: Some("sec=20+-5@200".into()),
            store: BenchStore::Memory,
            database_url: None,
            noop: false,
            quiet: true,
            account_fields: None,
        };
        let r = bench(&args).await.unwrap();
        assert_eq!(r.module_runs, 60 * 15);
        assert_eq!(r.failed_runs, 0, "{:?}", r.failures);
        assert!(r.providers.iter().all(|p| p.rejected_429 == 0));
        assert!(r.providers.iter().all(|p| p.calls == p.planned_calls));
        assert!(r.ratio >= 0.9, "makespan below the lower bound: {r:?}");
        let waves = bench(&BenchOptions {
            schedule: Schedule::Waves,
            ..args
        })
        .await
        .unwrap();
        assert_eq!(waves.module_runs, 60 * 15);
        assert_eq!(waves.failed_runs, 0, "{:?}", waves.failures);
    }

    /// `--store postgres`: the no-op run stores every result in a fresh schema of the
    /// PostgreSQL database (when `PFORGE_TEST_DATABASE_URL` names one) and drops it afterwards;
    /// without a PostgreSQL URL it refuses with what to pass.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_store_runs_in_a_schema_it_drops() {
        let args = BenchOptions {
            domains: 20,
            schedule: Schedule::Eager,
            concurrency: 16,
            domains_in_flight: None,
            providers: None,
            store: BenchStore::Postgres,
            database_url: Some("sqlite:///tmp/x.db".into()),
            noop: true,
            quiet: true,
            account_fields: None,
        };
        let err = bench(&args).await.unwrap_err().to_string();
        assert!(err.contains("--database-url postgres://"), "{err}");
        let Ok(url) = std::env::var("PFORGE_TEST_DATABASE_URL") else {
            println!("SKIPPED: PFORGE_TEST_DATABASE_URL not set");
            return;
        };
        let schemas = || async {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'pforge_bench_%'",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            pool.close().await;
            n
        };
        let before = schemas().await;
        let r = bench(&BenchOptions {
            database_url: Some(url.clone()),
            ..args
        })
        .await
        .unwrap();
        assert_eq!(r.module_runs, 20 * 15);
        assert_eq!(r.failed_runs, 0, "{:?}", r.failures);
        assert_eq!(
            schemas().await,
            before,
            "the benchmark's schema was dropped"
        );
    }
}
