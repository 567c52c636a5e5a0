//! Caps and limits that hold across workers (issue 15), end to end: real `pforge worker`
//! processes on the local PostgreSQL (skipped, with a message, when PFORGE_TEST_DATABASE_URL is
//! not set; each test uses its own schema) and `pforge enrich` on SQLite, against a counting
//! SimilarWeb stand-in on 127.0.0.1 that records when every request arrived.
//!
//! The workload is the one a user would try: `m03_traffic` over generated domains, SimilarWeb
//! at 1 credit a call, charged on every attempt.

mod common;
#[path = "common/workers.rs"]
mod workers_common;

use axum::extract::{Path as UrlPath, State};
use axum::routing::get;
use axum::{Json, Router};
use common::{json, Sandbox};
use serde_json::{json as j, Value};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use workers_common::*;

const MODULE: &str = "m03_traffic";

/// A SimilarWeb stand-in: answers every visits request after `delay`, and records when each
/// one arrived (so counts and rate windows are measured at the provider, not in the client).
struct Provider {
    url: String,
    hits: Arc<Mutex<Vec<Instant>>>,
}

#[derive(Clone)]
struct ProviderState {
    hits: Arc<Mutex<Vec<Instant>>>,
    delay: Duration,
}

async fn visits(State(st): State<ProviderState>, UrlPath(domain): UrlPath<String>) -> Json<Value> {
    st.hits.lock().unwrap().push(Instant::now());
    if !st.delay.is_zero() {
        tokio::time::sleep(st.delay).await;
    }
    Json(j!({
        "meta": {"request": {"domain": domain}, "status": "Success"},
        "visits": [{"date": "2026-09-01", "visits": 1000.0}, {"date": "2026-10-01", "visits": 1200.0}]
    }))
}

impl Provider {
    async fn start(delay: Duration) -> Provider {
        let hits = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route(
                "/similarweb/v1/website/{domain}/total-traffic-and-engagement/visits",
                get(visits),
            )
            .with_state(ProviderState {
                hits: hits.clone(),
                delay,
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Provider { url, hits }
    }

    /// Paid calls served so far.
    fn served(&self) -> usize {
        self.hits.lock().unwrap().len()
    }

    fn times(&self) -> Vec<Instant> {
        let mut t = self.hits.lock().unwrap().clone();
        t.sort();
        t
    }
}

/// The sandbox config with SimilarWeb charged on every attempt at 1 credit, its daily cap set
/// to `daily`, and its rate limit `rate` (per second, burst) or out of the way.
fn caps_config(config: &Path, daily: f64, rate: Option<(f64, u32)>) {
    let mut cfg = std::fs::read_to_string(config).unwrap();
    let replace = |cfg: &mut String, from: &str, to: &str| {
        assert!(cfg.contains(from), "config/pforge.toml changed: `{from}`");
        *cfg = cfg.replacen(from, to, 1);
    };
    replace(&mut cfg, "charge = \"on_success\"\ncache_ttl_secs = 604800\nrate_limit = { per_second = 5.0, burst = 5 }\nmax_in_flight = 4",
        &match rate {
            Some((r, b)) => format!("charge = \"every_attempt\"\ncache_ttl_secs = 604800\nrate_limit = {{ per_second = {r}, burst = {b} }}\nmax_in_flight = 16"),
            None => "charge = \"every_attempt\"\ncache_ttl_secs = 604800\nmax_in_flight = 8".to_string(),
        });
    // No rank list: M03's only source is the paid API, so a refused call fails the module.
    let rank = cfg
        .lines()
        .find(|l| l.starts_with("rank_list = "))
        .map(|l| format!("{l}\n"));
    if let Some(line) = rank {
        cfg = cfg.replacen(&line, "", 1);
    }
    replace(
        &mut cfg,
        "[budget.providers.similarweb]\ndaily = 100.0",
        &format!("[budget.providers.similarweb]\ndaily = {daily:.1}"),
    );
    std::fs::write(config, cfg).unwrap();
}

/// Queues `domains` for M03 (with a job spend cap when `max_spend` is set); returns the job id.
fn enqueue(sb: &Sandbox, db: &str, domains: &[String], max_spend: Option<&str>) -> String {
    let list = sb.dir.path().join("domains.txt");
    std::fs::write(&list, domains.join("\n")).unwrap();
    let mut args = vec![
        "enrich",
        "--enqueue",
        "--json",
        "--modules",
        MODULE,
        "--file",
        list.to_str().unwrap(),
    ];
    if let Some(credits) = max_spend {
        args.extend(["--max-spend", credits]);
    }
    let out = pforge_out(&sb.config(), db, &args);
    assert!(
        out.status.success(),
        "enqueue: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    json(&out)["job_id"].as_str().unwrap().to_string()
}

fn worker(sb: &Sandbox, db: &str, provider: &Provider, log: &Path, extra: &[&str]) -> Child {
    let file = std::fs::File::create(log).unwrap();
    pforge_cmd(&sb.config(), db)
        .args(["worker", "--once", "--fixtures-url", &provider.url])
        .args(["--poll-secs", "0.2", "--batch", "8"])
        .args(extra)
        .env("SIMILARWEB_API_KEY", "test-key")
        .stdout(Stdio::null())
        .stderr(Stdio::from(file))
        .spawn()
        .expect("spawn worker")
}

fn logs(sb: &Sandbox) -> Vec<std::path::PathBuf> {
    (0..3)
        .map(|i| sb.dir.path().join(format!("worker{i}.log")))
        .collect()
}

async fn wait_all(workers: &mut [Child], logs: &[std::path::PathBuf], skip: usize) {
    for (i, w) in workers.iter_mut().enumerate().skip(skip) {
        let status = wait_exit(w, 120, "worker", &logs[i]).await;
        assert!(status.success(), "worker {i}: {}", log_text(&logs[i]));
    }
}

async fn scalar_f64(pool: &sqlx::PgPool, sql: &str) -> f64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

async fn scalar_i64(pool: &sqlx::PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// Module runs of the job that failed with the budget error for `cap`.
async fn cap_errors(pool: &sqlx::PgPool, cap: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT error FROM work_items WHERE module = $1 AND status = 'failed' AND error LIKE $2",
    )
    .bind(MODULE)
    .bind(format!("%budget cap `{cap}` reached%"))
    .fetch_all(pool)
    .await
    .unwrap()
}

/// 3 workers, 300 domains, `[budget.providers.similarweb] daily = 50`: the provider serves
/// exactly 50 paid calls, the ledger says 50, the other 250 domains fail M03 with the cap error
/// naming its reset time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn daily_cap_is_exact_across_three_workers() {
    let Some(pg) = PgSchema::create().await else {
        return;
    };
    let sb = Sandbox::new();
    caps_config(&sb.config(), 50.0, None);
    let provider = Provider::start(Duration::from_millis(20)).await;
    let job = enqueue(&sb, &pg.url, &generated_domains(300), None);
    let logs = logs(&sb);
    let mut workers: Vec<_> = logs
        .iter()
        .map(|l| worker(&sb, &pg.url, &provider, l, &["--concurrency", "8"]))
        .collect();
    wait_all(&mut workers, &logs, 0).await;

    let pool = pg.pool().await;
    let ledger = scalar_f64(
        &pool,
        "SELECT COALESCE(SUM(cost), 0)::float8 FROM charges WHERE provider = 'similarweb'",
    )
    .await;
    let committed = scalar_i64(
        &pool,
        "SELECT COUNT(*) FROM charges WHERE provider = 'similarweb' AND state = 'committed'",
    )
    .await;
    let errors = cap_errors(&pool, "similarweb daily").await;
    println!(
        "daily cap 50, 3 workers, 300 domains: provider served {}, ledger {ledger} ({committed} committed charges), {} cap errors; e.g. {}",
        provider.served(),
        errors.len(),
        errors.first().map_or("-", String::as_str)
    );
    assert_eq!(provider.served(), 50, "paid calls served");
    assert_eq!(ledger, 50.0, "ledger total");
    assert_eq!(committed, 50);
    assert_eq!(errors.len(), 250, "every other domain reports the cap");
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .format("%Y-%m-%dT00:00:00Z")
        .to_string();
    assert!(
        errors
            .iter()
            .all(|e| e.contains(&format!("resets at {tomorrow}"))),
        "{:?}",
        errors.first()
    );
    let show = pforge_out(&sb.config(), &pg.url, &["jobs", "show", &job, "--json"]);
    assert_eq!(json(&show)["status"], "completed");
    let budget = pforge_out(&sb.config(), &pg.url, &["budget", "--json"]);
    let caps = json(&budget);
    let day = caps
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["scope"] == "similarweb" && c["period"] == "daily")
        .cloned()
        .unwrap();
    assert_eq!(day["spent"], 50.0, "{day}");
    assert_eq!(day["unknown"], 0.0, "{day}");
}

/// A job's own spend cap (`--max-spend 20`) holds for the job across all 3 of its workers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn job_spend_cap_is_exact_across_three_workers() {
    let Some(pg) = PgSchema::create().await else {
        return;
    };
    let sb = Sandbox::new();
    caps_config(&sb.config(), 1000.0, None);
    let provider = Provider::start(Duration::from_millis(20)).await;
    let job = enqueue(&sb, &pg.url, &generated_domains(300), Some("20"));
    let logs = logs(&sb);
    let mut workers: Vec<_> = logs
        .iter()
        .map(|l| worker(&sb, &pg.url, &provider, l, &["--concurrency", "8"]))
        .collect();
    wait_all(&mut workers, &logs, 0).await;

    let pool = pg.pool().await;
    let ledger: f64 = sqlx::query_scalar(
        "SELECT COALESCE(SUM(cost), 0)::float8 FROM charges WHERE job_id = $1::uuid",
    )
    .bind(&job)
    .fetch_one(&pool)
    .await
    .unwrap();
    let errors = cap_errors(&pool, "job").await;
    println!(
        "job spend cap 20, 3 workers, 300 domains: provider served {}, ledger {ledger} for the job, {} cap errors; e.g. {}",
        provider.served(),
        errors.len(),
        errors.first().map_or("-", String::as_str)
    );
    assert_eq!(provider.served(), 20, "paid calls served");
    assert_eq!(ledger, 20.0, "the job's ledger total");
    assert_eq!(errors.len(), 280);
    assert!(errors.iter().all(|e| e.contains("max_spend")), "{errors:?}");
}

/// One of 3 workers is SIGKILLed while it holds reservations (calls in flight). Its holds are
/// settled as "outcome unknown" when they expire and stay counted, so the survivors, which
/// redo its domains after its lease expires, still stop exactly at the cap: the ledger says 50
/// (committed + unknown), the provider served at most 50, and `pforge budget` shows the
/// unknown part apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_workers_holds_stay_counted_and_the_cap_stays_exact() {
    let Some(pg) = PgSchema::create().await else {
        return;
    };
    let sb = Sandbox::new();
    caps_config(&sb.config(), 50.0, None);
    // Slow answers, so every worker always has calls in flight (holds taken, not settled).
    let provider = Provider::start(Duration::from_millis(400)).await;
    let job = enqueue(&sb, &pg.url, &generated_domains(300), None);
    let logs = logs(&sb);
    let mut workers: Vec<_> = logs
        .iter()
        .map(|l| {
            worker(
                &sb,
                &pg.url,
                &provider,
                l,
                &["--lease-secs", "2", "--concurrency", "8"],
            )
        })
        .collect();
    let pool = pg.pool().await;
    let started = Instant::now();
    loop {
        let committed = scalar_i64(
            &pool,
            "SELECT COUNT(*) FROM charges WHERE state = 'committed'",
        )
        .await;
        let held: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM queue WHERE status = 'running' AND lease_owner LIKE $1",
        )
        .bind(format!("%:{}:%", workers[0].id()))
        .fetch_one(&pool)
        .await
        .unwrap();
        if committed >= 5 && held > 0 {
            workers[0].kill().unwrap(); // SIGKILL
            workers[0].wait().unwrap();
            break;
        }
        assert!(committed < 40, "the cap was nearly reached before the kill");
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no progress: {}",
            log_text(&logs[1])
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    wait_all(&mut workers, &logs, 1).await;

    let total = scalar_f64(
        &pool,
        "SELECT COALESCE(SUM(cost), 0)::float8 FROM charges WHERE provider = 'similarweb'",
    )
    .await;
    let committed = scalar_f64(
        &pool,
        "SELECT COALESCE(SUM(cost), 0)::float8 FROM charges WHERE state = 'committed'",
    )
    .await;
    let unknown = scalar_f64(
        &pool,
        "SELECT COALESCE(SUM(cost), 0)::float8 FROM charges WHERE state <> 'committed'",
    )
    .await;
    let done = scalar_i64(&pool, "SELECT COUNT(*) FROM queue WHERE status = 'done'").await;
    let served = provider.served();
    println!(
        "SIGKILL with holds: provider served {served}, ledger {total} = {committed} committed + {unknown} unknown; {done}/300 queue rows done"
    );
    assert_eq!(
        total, 50.0,
        "the cap is exact, holds of the dead worker included"
    );
    assert!(unknown > 0.0, "the killed worker held reservations");
    assert!(
        served as f64 >= committed && served as f64 <= total,
        "served {served}, committed {committed}, total {total}"
    );
    assert_eq!(
        done, 300,
        "the survivors finished the killed worker's domains"
    );
    let show = pforge_out(&sb.config(), &pg.url, &["jobs", "show", &job, "--json"]);
    assert_eq!(json(&show)["status"], "completed");
    // `pforge budget` shows the unknown part apart (the holds expired with the lease).
    let out = pforge_out(&sb.config(), &pg.url, &["budget", "--json"]);
    let caps = json(&out);
    let day = caps
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["scope"] == "similarweb" && c["period"] == "daily")
        .cloned()
        .unwrap();
    assert_eq!(day["spent"], 50.0, "{day}");
    assert_eq!(day["unknown"], unknown, "{day}");
    let table = pforge_out(&sb.config(), &pg.url, &["budget"]);
    let text = String::from_utf8_lossy(&table.stdout);
    println!("{text}");
    assert!(text.contains("unknown"), "{text}");
}

/// 3 workers share SimilarWeb's 20 requests/second with burst 5. Measured at the provider from
/// request arrival times: no sliding one-second window holds more than 20 + 5 requests, and
/// the mean rate over the run is at least 18/s (90% of the limit).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shared_rate_limit_is_a_limit_and_wastes_little() {
    let Some(pg) = PgSchema::create().await else {
        return;
    };
    let sb = Sandbox::new();
    let (rate, burst) = (20.0, 5usize);
    caps_config(&sb.config(), 1_000_000.0, Some((rate, burst as u32)));
    let mut cfg = std::fs::read_to_string(sb.config()).unwrap();
    cfg = cfg
        .replace("total_daily = 500.0", "total_daily = 1000000.0")
        .replace("total_monthly = 5000.0", "total_monthly = 1000000.0");
    std::fs::write(sb.config(), cfg).unwrap();
    let provider = Provider::start(Duration::ZERO).await;
    let n = 300;
    enqueue(&sb, &pg.url, &generated_domains(n), None);
    let logs = logs(&sb);
    let mut workers: Vec<_> = logs
        .iter()
        .map(|l| worker(&sb, &pg.url, &provider, l, &["--concurrency", "16"]))
        .collect();
    wait_all(&mut workers, &logs, 0).await;

    let times = provider.times();
    assert_eq!(times.len(), n);
    // Worst sliding window: for each request, how many arrive within one second from it.
    let mut worst = 0;
    for (i, t) in times.iter().enumerate() {
        let within = times[i..]
            .iter()
            .take_while(|u| u.duration_since(*t) < Duration::from_secs(1))
            .count();
        worst = worst.max(within);
    }
    let span = times[n - 1].duration_since(times[0]).as_secs_f64();
    // Mean achieved rate over the run: requests after the first, over the time they took.
    let mean = (n - 1) as f64 / span;
    println!(
        "shared limit {rate}/s burst {burst}, 3 workers, {n} requests: worst 1 s window {worst}, mean {mean:.2}/s over {span:.2}s"
    );
    assert!(
        worst <= rate as usize + burst,
        "worst one-second window {worst} > {rate} + {burst}"
    );
    assert!(
        mean >= 18.0,
        "the shared limiter wastes too much: {mean:.2}/s"
    );
}

/// The single-process path on SQLite goes through the same hold rule: `pforge enrich` over 300
/// domains stops at exactly 50 paid calls under the daily cap, and at exactly 20 under a spend
/// cap of 20.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_single_process_holds_the_same_caps() {
    for (daily, max_spend, expect) in [(50.0, None, 50usize), (1000.0, Some("20"), 20)] {
        let sb = Sandbox::new();
        caps_config(&sb.config(), daily, None);
        let provider = Provider::start(Duration::from_millis(5)).await;
        let list = sb.dir.path().join("domains.txt");
        std::fs::write(&list, generated_domains(300).join("\n")).unwrap();
        let mut args = vec![
            "enrich",
            "--file",
            list.to_str().unwrap(),
            "--fixtures-url",
            &provider.url,
            "--modules",
            MODULE,
            "--json",
            "--no-progress",
        ];
        if let Some(c) = max_spend {
            args.extend(["--max-spend", c]);
        }
        let out = sb
            .command(&args)
            .env("SIMILARWEB_API_KEY", "test-key")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(3),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary = json(&out);
        let budget = pforge_out_sqlite(&sb, &["budget", "--json"]);
        println!(
            "SQLite, one process, daily {daily}, max_spend {max_spend:?}: provider served {}, budget failures {}",
            provider.served(),
            summary["modules"][MODULE]["budget"]
        );
        assert_eq!(provider.served(), expect);
        assert_eq!(summary["modules"][MODULE]["budget"], 300 - expect);
        if max_spend.is_none() {
            let day = budget
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["scope"] == "similarweb" && c["period"] == "daily")
                .cloned()
                .unwrap();
            assert_eq!(day["spent"], 50.0, "{day}");
        }
    }
}

fn pforge_out_sqlite(sb: &Sandbox, args: &[&str]) -> Value {
    json(&sb.pforge(args))
}
