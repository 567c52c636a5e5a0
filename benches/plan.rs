//! Planning cost: validating a module graph and deriving its waves, for the product-sized
//! 15-module DAG and a 1,000-module synthetic one (config-declared modules could grow the graph).
//!
//! `cargo bench -p pforge-orchestrator --bench plan`

#[path = "common/mod.rs"]
mod common;

use async_trait::async_trait;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pforge_core::{Module, ModuleContext, ModuleError, ModuleOutput, ModuleSpec};
use pforge_orchestrator::Registry;
use std::sync::Arc;
use std::time::Duration;

struct Node(ModuleSpec);

#[async_trait]
impl Module for Node {
    fn spec(&self) -> &ModuleSpec {
        &self.0
    }
    async fn run(&self, _: &ModuleContext) -> Result<ModuleOutput, ModuleError> {
        Ok(ModuleOutput::new())
    }
}

fn node(id: String, deps: Vec<String>) -> Arc<dyn Module> {
    Arc::new(Node(ModuleSpec {
        title: id.clone(),
        id,
        dependencies: deps,
        providers: vec![],
        runs_degraded: false,
        set_arrays: vec![],
    }))
}

/// The product's 15 modules and exact dependencies, from the real module specs.
fn product_dag() -> Registry {
    let shape = common::product_shape();
    let mut r = Registry::new();
    // Registered in reverse so the planner has to sort.
    for (id, deps) in shape.into_iter().rev() {
        r.register(node(id, deps));
    }
    r
}

/// `n` modules, each depending on up to three earlier ones chosen by a fixed hash, so the
/// graph is deep and wide at once; registered in reverse order.
fn synthetic_dag(n: usize) -> Registry {
    let mut r = Registry::new();
    for i in (0..n).rev() {
        let mut deps = Vec::new();
        if i > 0 {
            for k in 1..=3u64 {
                let h = (i as u64)
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    .rotate_left(k as u32 * 17);
                let d = (h % i as u64) as usize;
                let id = format!("m{d:04}");
                if !deps.contains(&id) {
                    deps.push(id);
                }
            }
        }
        r.register(node(format!("m{i:04}"), deps));
    }
    r
}

fn bench_plan(c: &mut Criterion) {
    let mut g = c.benchmark_group("plan");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let small = product_dag();
    g.throughput(Throughput::Elements(15));
    g.bench_function(BenchmarkId::new("validate_and_layer", 15), |b| {
        b.iter(|| small.plan().expect("valid"))
    });
    let big = synthetic_dag(1000);
    let plan = big.plan().expect("valid");
    assert!(plan.wave_count() > 5);
    g.throughput(Throughput::Elements(1000));
    g.bench_function(BenchmarkId::new("validate_and_layer", 1000), |b| {
        b.iter(|| big.plan().expect("valid"))
    });
    g.bench_function(BenchmarkId::new("critical_path", 1000), |b| {
        b.iter(|| plan.critical_path())
    });
    g.finish();
}

criterion_group!(benches, bench_plan);
criterion_main!(benches);
