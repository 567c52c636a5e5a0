//! PostgreSQL restarted in the middle of a run (issue 15, faults): two real `pforge worker`
//! processes over 60 domains against the fixture server; the database is stopped once both are
//! busy and started again once a worker has said its heartbeat failed. The run completes, each
//! (domain, module) has one version, no paid call is repeated, and the workers said they stopped
//! claiming while the database was away.
//!
//! Restarting the server disturbs every other connection to it, so this is a test binary of its
//! own (cargo runs test binaries one after another). Skipped (with a message) when
//! PFORGE_TEST_DATABASE_URL is not set; it needs `pg_ctlcluster` and the right to run it (root
//! on CI), and fails if those are missing while a database is configured.

mod common;
#[path = "common/workers.rs"]
mod workers_common;

use common::{fixtures, json, Sandbox};
use std::process::Command;
use std::time::{Duration, Instant};
use workers_common::*;

/// The local cluster's version (the one directory of /etc/postgresql).
fn cluster_version() -> String {
    let mut versions: Vec<String> = std::fs::read_dir("/etc/postgresql")
        .expect("PFORGE_TEST_DATABASE_URL is set but /etc/postgresql is missing: this test restarts the local cluster")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    versions.sort();
    versions.pop().expect("no cluster in /etc/postgresql")
}

fn pg_ctl(version: &str, action: &str) {
    let out = Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", version, "main", action])
        .output()
        .expect("run pg_ctlcluster");
    assert!(
        out.status.success(),
        "pg_ctlcluster {version} main {action}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts the cluster again if the test fails while it is stopped.
struct Restart(String);

impl Drop for Restart {
    fn drop(&mut self) {
        let _ = Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &self.0, "main", "start"])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_survive_a_postgres_restart() {
    let Some(pg) = PgSchema::create().await else {
        return;
    };
    let version = cluster_version();
    let sb = Sandbox::new();
    scale_config(&sb.config(), None);
    let domains = generated_domains(60);
    let fx_dir = tempfile::tempdir().unwrap();
    write_fixtures(fx_dir.path(), &domains);
    slow_homepages(fx_dir.path(), 500);
    let server = fixtures(fx_dir.path(), 1).await;

    let list = sb.dir.path().join("domains.txt");
    std::fs::write(&list, domains.join("\n")).unwrap();
    let out = pforge_out(
        &sb.config(),
        &pg.url,
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
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let job = json(&out)["job_id"].as_str().unwrap().to_string();

    let logs: Vec<_> = (0..2)
        .map(|i| sb.dir.path().join(format!("worker{i}.log")))
        .collect();
    // Leases long enough to outlive the outage: nothing is reclaimed, so nothing is redone.
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
                    "20",
                    "--batch",
                    "4",
                    "--concurrency",
                    "2",
                ],
            )
        })
        .collect();

    // Both busy, some done: stop the database.
    let pool = pg.pool().await;
    let started = Instant::now();
    let done_before = loop {
        let done: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM queue WHERE status = 'done'")
            .fetch_one(&pool)
            .await
            .unwrap();
        if done >= 8 {
            break done;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no progress: {}",
            log_text(&logs[0])
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    pool.close().await;
    let guard = Restart(version.clone());
    let stopped_at = Instant::now();
    pg_ctl(&version, "stop");
    // Until a worker's heartbeat notices (it says so), then start it again.
    while !logs
        .iter()
        .any(|l| log_text(l).contains("not claiming until the database answers"))
    {
        assert!(
            stopped_at.elapsed() < Duration::from_secs(30),
            "no worker noticed the database was gone: {}",
            log_text(&logs[0])
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let noticed = stopped_at.elapsed();
    pg_ctl(&version, "start");
    let outage = stopped_at.elapsed();
    drop(guard);

    for (i, w) in workers.iter_mut().enumerate() {
        let status = wait_exit(w, 120, "worker", &logs[i]).await;
        assert!(status.success(), "worker {i}: {}", log_text(&logs[i]));
    }
    let elapsed = started.elapsed();

    let pool = pg.pool().await;
    let by_status: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, COUNT(*) FROM queue GROUP BY status")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(by_status, vec![("done".to_string(), 60)]);
    let v = json(&pforge_out(
        &sb.config(),
        &pg.url,
        &["jobs", "show", &job, "--json"],
    ));
    assert_eq!(v["status"], "completed");
    let failed: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT domain, error FROM work_items WHERE status <> 'new_version'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(failed.is_empty(), "modules not stored: {failed:?}");

    // One version of every (domain, module).
    let versions: Vec<(String, i64)> =
        sqlx::query_as("SELECT domain, COUNT(*) FROM snapshots GROUP BY domain ORDER BY domain")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        versions,
        domains.iter().map(|d| (d.clone(), 1)).collect::<Vec<_>>()
    );

    // No paid call repeated: each homepage was fetched once, and charged once.
    let stats = server.stats();
    let homepage: Vec<(&String, &u64)> = stats
        .by_path
        .iter()
        .filter(|(p, _)| p.starts_with("/homepage/"))
        .collect();
    assert_eq!(homepage.len(), 60);
    let repeated: Vec<_> = homepage.iter().filter(|(_, n)| **n != 1).collect();
    assert!(repeated.is_empty(), "repeated paid calls: {repeated:?}");
    let spent: f64 = sqlx::query_scalar(
        "SELECT COALESCE(SUM(cost), 0)::float8 FROM charges WHERE provider = 'homepage'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(spent, 60.0);

    let text: String = logs.iter().map(log_text).collect();
    println!(
        "postgres restart: stopped at {done_before}/60 done; heartbeat failure noticed after {:.1}s; \
         down {:.1}s; run {:.1}s; {} retry line(s); homepage calls {}",
        noticed.as_secs_f64(),
        outage.as_secs_f64(),
        elapsed.as_secs_f64(),
        text.matches("retrying in").count(),
        stats.provider_hits("homepage")
    );
}
