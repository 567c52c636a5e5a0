//! Executor overhead: module runs per second with no-op modules (no HTTP), so what is measured
//! is the scheduling, bookkeeping and persistence around a module, not the module. Every run
//! stores a new snapshot version and two work-item rows (running, then done), through the real
//! SQLite store: in memory (`sqlite::memory:`) and in a WAL file.
//!
//! `cargo bench -p pforge-orchestrator --bench executor`

#[path = "common/mod.rs"]
mod common;

use async_trait::async_trait;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures::stream;
use pforge_budget::Gateway;
use pforge_core::{Citation, Domain, Module, ModuleContext, ModuleError, ModuleOutput, ModuleSpec};
use pforge_orchestrator::{EventSink, Executor, ExecutorConfig, RefreshPolicy, Registry};
use pforge_store::prelude::*;
use pforge_store::{NoDerivation, SqliteStore};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Bumped every run so each output differs from the stored one: every run writes a version.
static EPOCH: AtomicU64 = AtomicU64::new(0);

struct Noop(ModuleSpec);

#[async_trait]
impl Module for Noop {
    fn spec(&self) -> &ModuleSpec {
        &self.0
    }
    async fn run(&self, ctx: &ModuleContext) -> Result<ModuleOutput, ModuleError> {
        let cite = Citation::config("bench", &[]);
        let mut out = ModuleOutput::new();
        out.set("domain", ctx.domain.as_str(), &cite);
        out.set("epoch", EPOCH.load(Ordering::Relaxed), &cite);
        Ok(out)
    }
}

fn plan() -> Arc<pforge_orchestrator::Plan> {
    let shape = common::product_shape();
    let mut r = Registry::new();
    for (id, deps) in shape {
        r.register(Arc::new(Noop(ModuleSpec {
            title: id.clone(),
            id,
            dependencies: deps,
            providers: vec![],
            runs_degraded: false,
            set_arrays: vec![],
        })));
    }
    Arc::new(r.plan().expect("valid plan"))
}

const DOMAINS: u64 = 400;

async fn run_once(executor: &Executor, store: &Arc<dyn Store>) -> Duration {
    EPOCH.fetch_add(1, Ordering::Relaxed);
    let job = Uuid::new_v4();
    store
        .create_job(job, "bench", &serde_json::json!({}))
        .await
        .expect("job");
    let domains = stream::iter(
        (0..DOMAINS).map(|i| Domain::parse(&format!("company{i}.com")).expect("domain")),
    );
    let sink: EventSink = Arc::new(|_| {});
    let t = Instant::now();
    let summary = executor.run(job, domains, sink).await.expect("run");
    let elapsed = t.elapsed();
    assert_eq!(summary.failed(), 0);
    elapsed
}

fn bench_executor(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let file_url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let mut g = c.benchmark_group("executor_noop");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(DOMAINS * 15));
    for (name, url) in [
        ("sqlite_memory", "sqlite::memory:".to_string()),
        ("sqlite_file", file_url),
    ] {
        let store: Arc<dyn Store> = Arc::new(rt.block_on(SqliteStore::open(&url)).expect("store"));
        for concurrency in [64usize, 512] {
            let executor = Executor::new(
                plan(),
                Gateway::new(BTreeMap::new()).expect("gateway"),
                store.clone(),
                Arc::new(NoDerivation),
                ExecutorConfig {
                    concurrency,
                    max_domains_in_flight: concurrency,
                    module_timeout: Duration::from_secs(60),
                    refresh: RefreshPolicy::All,
                    ttls: HashMap::new(),
                },
            );
            g.bench_function(BenchmarkId::new(name, concurrency), |b| {
                b.to_async(&rt).iter_custom(|iters| {
                    let executor = executor.clone();
                    let store = store.clone();
                    async move {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            total += run_once(&executor, &store).await;
                        }
                        total
                    }
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench_executor);
criterion_main!(benches);
