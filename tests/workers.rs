//! Scale-out end to end (issue 6): real `pforge worker` processes sharing one PostgreSQL
//! database, against the real fixture server on 127.0.0.1. Skipped (with a message) when
//! PFORGE_TEST_DATABASE_URL is not set; each test uses its own schema.

mod common;
#[path = "common/workers.rs"]
mod workers_common;

use common::{fixtures, json, Sandbox};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use workers_common::*;

/// Queues `domains` (only M02, which calls the homepage and DNS providers) and returns the job id.
fn enqueue(sb: &Sandbox, url: &str, dir: &std::path::Path, domains: &[String]) -> String {
    let list = dir.join("domains.txt");
    std::fs::write(&list, domains.join("\n")).unwrap();
    let out = pforge_out(
        &sb.config(),
        url,
        &[
            "enrich",
            "--enqueue",
            "--json",
            "--modules",
            "m02_tech_stack",
            "--file",
            list.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "enqueue: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    assert_eq!(v["domains"], domains.len());
    v["job_id"].as_str().unwrap().to_string()
}

/// 3 workers, 500 domains, one worker SIGKILLed mid-run: every domain completes, each
/// (domain, module) has exactly one version, and the ledger's spend equals the distinct
/// homepage calls the fixture server saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_worker_loses_nothing_and_nothing_is_doubled() {
    let Some(pg) = PgSchema::create().await else {
        return;
    };
    let sb = Sandbox::new();
    scale_config(&sb.config(), None);
    let domains = generated_domains(500);
    let fx_dir = tempfile::tempdir().unwrap();
    write_fixtures(fx_dir.path(), &domains);
    let server = fixtures(fx_dir.path(), 1).await;
    let job = enqueue(&sb, &pg.url, sb.dir.path(), &domains);

    let started = Instant::now();
    let logs: Vec<_> = (0..3)
        .map(|i| sb.dir.path().join(format!("worker{i}.log")))
        .collect();
    let mut workers: Vec<_> = logs
        .iter()
        .map(|log| {
            spawn_worker(
                &sb.config(),
                &pg.url,
                &server.url(),
                log,
                &[
                    "--once",
                    "--lease-secs",
                    "3",
                    "--batch",
                    "8",
                    "--concurrency",
                    "8",
                ],
            )
        })
        .collect();

    // Kill worker 0 once real progress is visible, while it holds claimed work.
    let pool = pg.pool().await;
    let killed_at_done = loop {
        let done: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM queue WHERE status = 'done'")
            .fetch_one(&pool)
            .await
            .unwrap();
        let held: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM queue WHERE status = 'running' AND lease_owner LIKE $1",
        )
        .bind(format!("%:{}:%", workers[0].id()))
        .fetch_one(&pool)
        .await
        .unwrap();
        if done >= 60 && held > 0 {
            workers[0].kill().unwrap(); // SIGKILL
            workers[0].wait().unwrap();
            break done;
        }
        assert!(
            done < 500,
            "finished before a worker could be killed; use more domains"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no progress: {}",
            log_text(&logs[1])
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    for (i, w) in workers.iter_mut().enumerate().skip(1) {
        let status = wait_exit(w, 80, "worker", &logs[i]).await;
        assert!(status.success(), "worker {i}: {}", log_text(&logs[i]));
    }
    let elapsed = started.elapsed();

    // Every domain completed, some of them after the killed worker's lease expired.
    let by_status: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, COUNT(*) FROM queue GROUP BY status")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(by_status, vec![("done".to_string(), 500)]);
    let retried: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM queue WHERE attempts > 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        retried > 0,
        "the killed worker's claims were redone by others"
    );
    let show = pforge_out(&sb.config(), &pg.url, &["jobs", "show", &job, "--json"]);
    let v = json(&show);
    assert_eq!(v["status"], "completed");
    assert_eq!(v["queue"]["done"], 500);

    // Exactly one version of every (domain, module).
    let versions: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT domain, module, COUNT(*), MAX(version) FROM snapshots GROUP BY domain, module",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(versions.len(), 500);
    assert!(
        versions
            .iter()
            .all(|(_, m, n, v)| m == "m02_tech_stack" && *n == 1 && *v == 1),
        "duplicated versions: {:?}",
        versions.iter().filter(|r| r.2 != 1).collect::<Vec<_>>()
    );
    let stored: BTreeSet<&str> = versions.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(stored, domains.iter().map(String::as_str).collect());

    // Spend == distinct charged calls the fixture server counted.
    let stats = server.stats();
    let distinct = stats
        .by_path
        .keys()
        .filter(|p| p.starts_with("/homepage/"))
        .count();
    // Charges whose outcome is known; the killed worker's calls in flight stay held until
    // their lease expires and are then counted as unknown (issue 15: the provider may have
    // billed them), never as a second known charge.
    let spent: f64 = sqlx::query_scalar(
        "SELECT COALESCE(SUM(cost), 0)::float8 FROM charges \
         WHERE provider = 'homepage' AND state = 'committed'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(distinct, 500);
    assert_eq!(
        spent, distinct as f64,
        "ledger spend vs distinct homepage calls"
    );
    println!(
        "killed worker 0 at {killed_at_done}/500 done; {retried} domain(s) redone; 500 domains in {:.1}s; homepage calls: {} total, {distinct} distinct",
        elapsed.as_secs_f64(),
        stats.provider_hits("homepage")
    );
}

/// 3 workers share a homepage limit of 20 requests/s (burst 5): in every one-second window the
/// fixture server sees at most 20 + 5 requests, although each worker alone could send 20/s.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shared_rate_limit_holds_across_workers() {
    let Some(pg) = PgSchema::create().await else {
        return;
    };
    let sb = Sandbox::new();
    let (rate, burst) = (20.0, 5);
    scale_config(&sb.config(), Some((rate, burst)));
    let domains = generated_domains(240);
    let fx_dir = tempfile::tempdir().unwrap();
    write_fixtures(fx_dir.path(), &domains);
    let server = fixtures(fx_dir.path(), 1).await;
    enqueue(&sb, &pg.url, sb.dir.path(), &domains);

    let logs: Vec<_> = (0..3)
        .map(|i| sb.dir.path().join(format!("worker{i}.log")))
        .collect();
    let mut workers: Vec<_> = logs
        .iter()
        .map(|log| {
            spawn_worker(
                &sb.config(),
                &pg.url,
                &server.url(),
                log,
                &["--once", "--concurrency", "16"],
            )
        })
        .collect();
    // Sample the fixture server's homepage count every 25 ms until all workers exit.
    let start = Instant::now();
    let mut samples: Vec<(f64, u64)> = Vec::new();
    loop {
        samples.push((
            start.elapsed().as_secs_f64(),
            server.stats().provider_hits("homepage"),
        ));
        if workers.iter_mut().all(|w| w.try_wait().unwrap().is_some()) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(80),
            "workers too slow: {}",
            log_text(&logs[0])
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    for (i, w) in workers.iter_mut().enumerate() {
        let status = wait_exit(w, 5, "worker", &logs[i]).await;
        assert!(status.success(), "worker {i}: {}", log_text(&logs[i]));
    }
    assert_eq!(server.stats().provider_hits("homepage"), 240);

    // Every window between two samples at most one second apart: requests seen in it.
    let mut worst = 0;
    for (i, (t0, c0)) in samples.iter().enumerate() {
        for (t1, c1) in &samples[i + 1..] {
            if t1 - t0 > 1.0 {
                break;
            }
            worst = worst.max(c1 - c0);
        }
    }
    let first = samples.iter().find(|s| s.1 > 0).map_or(0.0, |s| s.0);
    let last = samples.iter().find(|s| s.1 == 240).map_or(0.0, |s| s.0);
    let mean = 240.0 / (last - first).max(1e-3);
    println!("shared limit {rate}/s burst {burst}: worst 1 s window {worst}, mean {mean:.1}/s over {:.1}s", last - first);
    assert!(
        worst <= rate as u64 + burst as u64,
        "worst one-second window {worst} > {rate} + {burst}"
    );
    assert!(mean <= rate * 1.1 + burst as f64, "mean rate {mean:.1}/s");
    assert!(
        mean >= rate * 0.6,
        "the limiter wastes too much capacity: {mean:.1}/s"
    );
}

/// Throughput of 1, 2 and 3 workers on a workload that is not rate-limit bound (M02 over
/// generated domains, DNS limit raised): printed for the report; asserts only completion.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "measurement: run with --ignored to print throughput"]
async fn throughput_of_1_2_3_workers() {
    for n in 1..=3 {
        let Some(pg) = PgSchema::create().await else {
            return;
        };
        let sb = Sandbox::new();
        scale_config(&sb.config(), None);
        let domains = generated_domains(600);
        let fx_dir = tempfile::tempdir().unwrap();
        write_fixtures(fx_dir.path(), &domains);
        let server = fixtures(fx_dir.path(), 1).await;
        enqueue(&sb, &pg.url, sb.dir.path(), &domains);
        let logs: Vec<_> = (0..n)
            .map(|i| sb.dir.path().join(format!("w{i}.log")))
            .collect();
        let start = Instant::now();
        let mut workers: Vec<_> = logs
            .iter()
            .map(|log| {
                spawn_worker(
                    &sb.config(),
                    &pg.url,
                    &server.url(),
                    log,
                    &["--once", "--concurrency", "16"],
                )
            })
            .collect();
        for (i, w) in workers.iter_mut().enumerate() {
            assert!(wait_exit(w, 120, "worker", &logs[i]).await.success());
        }
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(server.stats().provider_hits("homepage"), 600);
        println!(
            "THROUGHPUT workers={n}: 600 domains in {secs:.2}s = {:.1} domains/s",
            600.0 / secs
        );
    }
}
