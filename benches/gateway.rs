//! Gateway overhead per call against a loopback HTTP server: a bare `reqwest` GET as the
//! baseline, then the same request through `Gateway::fetch` (URL building, SSRF check, cache
//! lookup and single flight, breaker, pacing with a generous governor limit, metrics), serially
//! (latency) and 64 at a time (throughput). Every call has a unique URL, so nothing is served
//! from the cache; a cache-hit case is measured separately. The batched case sends 256
//! single-id callers, 64 at a time, to an endpoint declared batchable (`ids` joined by `|`, at
//! most 50 per request, window 0 ms, no caching): the cost per item of merging and splitting.
//!
//! `cargo bench -p pforge-budget --bench gateway`

use axum::Router;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures::stream::{self, StreamExt};
use pforge_budget::{BatchConfig, Call, Gateway, ProviderConfig, RateLimitConfig};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

static SEQ: AtomicU64 = AtomicU64::new(0);

/// `{"entities": {id: {...}}}` for every id in `ids=a|b|c`, like Wikidata's `wbgetentities`.
async fn entities(query: axum::extract::RawQuery) -> ([(&'static str, &'static str); 1], String) {
    let ids = url::form_urlencoded::parse(query.0.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "ids")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let body: serde_json::Map<String, serde_json::Value> = ids
        .split('|')
        .map(|id| (id.to_string(), serde_json::json!({"id": id, "score": 42})))
        .collect();
    (
        [("content-type", "application/json")],
        serde_json::json!({ "entities": body, "success": 1 }).to_string(),
    )
}

async fn serve() -> String {
    let app = Router::new()
        .route(
            "/api/lookup",
            axum::routing::get(|| async {
                (
                    [("content-type", "application/json")],
                    r#"{"ok":true,"score":42}"#,
                )
            }),
        )
        .route("/api/entities", axum::routing::get(entities));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    format!("http://{addr}")
}

fn gateway(base: &str, cache_ttl_secs: u64) -> Gateway {
    let mut cfg = ProviderConfig::new(format!("{base}/api"));
    cfg.rate_limit = Some(RateLimitConfig {
        per_second: Some(1_000_000.0),
        per_minute: None,
        burst: 1000,
    });
    cfg.cache_ttl_secs = cache_ttl_secs;
    cfg.expect_json = true;
    cfg.batch = vec![BatchConfig {
        path: "/entities".into(),
        match_query: BTreeMap::new(),
        param: "ids".into(),
        separator: "|".into(),
        max_items: 50,
        split: "/entities".into(),
        window_ms: 0,
        max_body_bytes: None,
    }];
    Gateway::new(BTreeMap::from([("sim".to_string(), cfg)])).expect("gateway")
}

fn call() -> Call {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    Call::get("sim", "/lookup")
        .query("domain", format!("company{n}.com"))
        .for_domain(format!("company{n}.com"))
}

fn bench_gateway(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let base = rt.block_on(serve());
    let gw = gateway(&base, 0);
    let cached = gateway(&base, 3600);
    let client = reqwest::Client::new();
    let mut g = c.benchmark_group("gateway");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(1));
    g.bench_function("reqwest_baseline_serial", |b| {
        b.to_async(&rt).iter(|| {
            let client = client.clone();
            let n = SEQ.fetch_add(1, Ordering::Relaxed);
            let url = format!("{base}/api/lookup?domain=company{n}.com");
            async move {
                let r = client.get(url).send().await.expect("send");
                r.bytes().await.expect("body")
            }
        })
    });
    g.bench_function("gateway_fetch_serial", |b| {
        b.to_async(&rt)
            .iter(|| async { gw.fetch(&call()).await.expect("fetch") })
    });
    let hit = Call::get("sim", "/lookup").query("domain", "same.com");
    rt.block_on(cached.fetch(&hit)).expect("warm the cache");
    g.bench_function("gateway_fetch_cache_hit", |b| {
        b.to_async(&rt)
            .iter(|| async { cached.fetch(&hit).await.expect("fetch") })
    });
    const BATCH: u64 = 256;
    g.throughput(Throughput::Elements(BATCH));
    g.bench_function("gateway_fetch_64_in_flight", |b| {
        b.to_async(&rt).iter(|| async {
            stream::iter(0..BATCH)
                .map(|_| async { gw.fetch(&call()).await.expect("fetch") })
                .buffer_unordered(64)
                .count()
                .await
        })
    });
    g.bench_function("gateway_fetch_batched_256_items_64_in_flight", |b| {
        b.to_async(&rt).iter(|| async {
            stream::iter(0..BATCH)
                .map(|_| async {
                    let n = SEQ.fetch_add(1, Ordering::Relaxed);
                    let item = Call::get("sim", "/entities").query("ids", format!("Q{n}"));
                    gw.fetch(&item).await.expect("fetch")
                })
                .buffer_unordered(64)
                .count()
                .await
        })
    });
    g.finish();
}

criterion_group!(benches, bench_gateway);
criterion_main!(benches);
