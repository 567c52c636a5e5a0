//! Snapshot writes into a SQLite file (WAL): one transaction per snapshot (`save_snapshot`)
//! against group commit (`save_snapshots`, 256 per transaction, what the executor's writer
//! does under load), plus batched work-item upserts.
//!
//! `cargo bench -p pforge-store --bench store`

use chrono::Utc;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pforge_store::prelude::*;
use pforge_store::{ItemStatus, NewSnapshot, NoDerivation, SqliteStore, WorkItem};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

static SEQ: AtomicU64 = AtomicU64::new(0);
const N: u64 = 1024;

fn snapshots(job: Uuid) -> Vec<NewSnapshot> {
    (0..N)
        .map(|_| {
            let n = SEQ.fetch_add(1, Ordering::Relaxed);
            NewSnapshot {
                domain: format!("company{n}.com"),
                module: "m01_company_context".into(),
                data: json!({"name": format!("Company {n}"), "employees": n % 5000,
                             "description": "x".repeat(200)}),
                citations: json!([{"source": format!("https://company{n}.com/"),
                                   "provider": "homepage", "covers": ["/name"]}]),
                content_hash: format!("{n:064x}"),
                fetched_at: Utc::now(),
                job_id: Some(job),
                text: None,
            }
        })
        .collect()
}

fn bench_store(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store: Arc<dyn Store> = Arc::new(rt.block_on(SqliteStore::open(&url)).expect("open"));
    let job = Uuid::new_v4();
    rt.block_on(store.create_job(job, "bench", &serde_json::json!({})))
        .expect("job");

    let mut g = c.benchmark_group("sqlite_file");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Elements(N));
    g.bench_function("save_snapshot_one_per_tx", |b| {
        b.to_async(&rt).iter_batched(
            || snapshots(job),
            |snaps| {
                let store = store.clone();
                async move {
                    for s in &snaps {
                        store.save_snapshot(s, &NoDerivation).await.expect("save");
                    }
                }
            },
            criterion::BatchSize::LargeInput,
        )
    });
    for batch in [64usize, 256] {
        g.bench_function(BenchmarkId::new("save_snapshots_batched", batch), |b| {
            b.to_async(&rt).iter_batched(
                || snapshots(job),
                |snaps| {
                    let store = store.clone();
                    async move {
                        for chunk in snaps.chunks(batch) {
                            store
                                .save_snapshots(chunk, &NoDerivation)
                                .await
                                .expect("save");
                        }
                    }
                },
                criterion::BatchSize::LargeInput,
            )
        });
    }
    g.bench_function("upsert_items_batched_256", |b| {
        b.to_async(&rt).iter_batched(
            || {
                (0..N)
                    .map(|_| {
                        let n = SEQ.fetch_add(1, Ordering::Relaxed);
                        WorkItem {
                            job_id: job,
                            domain: format!("company{n}.com"),
                            module: "m01_company_context".into(),
                            status: ItemStatus::NewVersion,
                            attempts: 1,
                            error: None,
                            started_at: Some(Utc::now()),
                            finished_at: Some(Utc::now()),
                            version: Some(1),
                        }
                    })
                    .collect::<Vec<_>>()
            },
            |items| {
                let store = store.clone();
                async move {
                    for chunk in items.chunks(256) {
                        store.upsert_items(chunk).await.expect("upsert");
                    }
                }
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench_store);
criterion_main!(benches);
