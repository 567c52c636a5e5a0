//! End to end through the binary: what the application layer promises every front end. The
//! changes query filters in the database and returns the newest events (on SQLite and, when
//! `PFORGE_TEST_DATABASE_URL` is set, PostgreSQL); the demo runs from an empty folder with the
//! recordings and config built into the binary; a configuration that cannot build the modules
//! fails at once, before anything is queued or claimed; the daemon runs its worker tasks in its
//! own process.

mod common;
#[path = "common/daemon.rs"]
mod daemon_common;
#[path = "common/workers.rs"]
mod workers_common;

use common::*;
use daemon_common::{configure, Api, Daemon};
use pforge_store::ChangeQuery;
use serde_json::{json, Value};
use std::process::Command;
use std::time::{Duration, Instant};
use workers_common::*;

/// Runs the demo (epoch 1 then 2) into `db_args` and checks `changes --limit 5 --min-level
/// high` against every high-or-critical event read straight from the store.
async fn five_newest_high_events(db_args: &[&str], store_url: &str) {
    let tmp = tempfile::tempdir().unwrap();
    for epoch in ["1", "2"] {
        let out = Command::new(env!("CARGO_BIN_EXE_pforge"))
            .args(db_args)
            .args(["demo", "--epoch", epoch, "--json"])
            .current_dir(tmp.path())
            .env_remove("PFORGE_DATABASE_URL")
            .env_remove("PFORGE_CONFIG")
            .output()
            .expect("run the demo");
        // QuantumLeaf's job board answers 500 on purpose: exit 1 at most.
        assert!(
            out.status.code().is_some_and(|c| c <= 1),
            "demo epoch {epoch}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let store = pforge_store::open_store(store_url).await.unwrap();
    let all = store
        .list_change_events(&ChangeQuery {
            limit: 100_000,
            ..Default::default()
        })
        .await
        .unwrap()
        .events;
    let expected: Vec<String> = all
        .iter()
        .filter(|e| e.level >= pforge_core::Level::High)
        .take(5)
        .map(|e| e.id.to_string())
        .collect();
    let high = all
        .iter()
        .filter(|e| e.level >= pforge_core::Level::High)
        .count();
    assert!(
        high > 5 && all.len() > high,
        "the demo must raise more than five high events among others ({high} of {})",
        all.len()
    );
    let out = Command::new(env!("CARGO_BIN_EXE_pforge"))
        .args(db_args)
        .args([
            "changes",
            "--limit",
            "5",
            "--min-level",
            "high",
            "--since",
            "30d",
            "--json",
        ])
        .current_dir(tmp.path())
        .env_remove("PFORGE_DATABASE_URL")
        .env_remove("PFORGE_CONFIG")
        .output()
        .unwrap();
    let got = json(&out);
    let got: Vec<String> = got
        .as_array()
        .expect("a list of events")
        .iter()
        .map(|e| e["id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(got, expected, "the five newest high-or-critical events");
    // Newest first.
    let times: Vec<_> = all
        .iter()
        .filter(|e| expected.contains(&e.id.to_string()))
        .map(|e| e.detected_at)
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_limit_applies_after_the_level_filter_on_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("demo.db");
    let db_text = db.display().to_string();
    five_newest_high_events(&["--db", &db_text], &format!("sqlite://{db_text}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_limit_applies_after_the_level_filter_on_postgres() {
    let Some(pg) = PgSchema::create().await else {
        return;
    };
    five_newest_high_events(&["--database-url", &pg.url], &pg.url).await;
}

/// A user who installed the binary has no `fixtures/` or `config/` beside them.
#[test]
fn the_demo_runs_from_an_empty_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pforge"))
        .args(["demo", "--port", "0"])
        .current_dir(tmp.path())
        .env_remove("PFORGE_DATABASE_URL")
        .env_remove("PFORGE_CONFIG")
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("TechStart"),
        "the brief is shown:\n{stdout}"
    );
    assert!(
        tmp.path().join("pforge.db").is_file(),
        "the database is created in the working folder"
    );
    // Every module ran against the built-in recordings: no fingerprint or rank list missing.
    let report = stdout.lines().find(|l| l.starts_with("m02_tech_stack"));
    assert!(
        report.is_some_and(|l| l.split_whitespace().nth(1) == Some("6")),
        "tech stack ran for all six accounts: {report:?}"
    );
}

/// Re-running the demo on the same recordings stores no new version of anything, the brief
/// included: Wikidata items reach the modules in batch requests whose URLs depend on which other
/// accounts' items rode along, and the brief cites each item by the account's own request.
#[tokio::test(flavor = "multi_thread")]
async fn the_demo_rerun_on_the_same_recordings_stores_no_new_version() {
    let tmp = tempfile::tempdir().unwrap();
    // One fixed port for all three runs: the recordings' URLs (job postings, feeds) carry it.
    // No other test uses it.
    for run in 1..=3 {
        let out = Command::new(env!("CARGO_BIN_EXE_pforge"))
            .args(["demo", "--port", "47813", "--json"])
            .current_dir(tmp.path())
            .env_remove("PFORGE_DATABASE_URL")
            .env_remove("PFORGE_CONFIG")
            .output()
            .expect("run the demo");
        assert!(
            out.status.code().is_some_and(|c| c <= 1),
            "demo run {run}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let url = format!("sqlite://{}", tmp.path().join("pforge.db").display());
    let store = pforge_store::open_store(&url).await.unwrap();
    let mut versions = std::collections::BTreeMap::new();
    for domain in [
        "techstart.io",
        "northwind-retail.com",
        "globex-logistics.com",
        "blueharbor-health.com",
        "quantumleaf.ai",
        "initech-software.com",
    ] {
        for s in store.snapshot_history(domain, None).await.unwrap() {
            *versions.entry((domain, s.module.clone())).or_insert(0) += 1;
        }
    }
    assert!(versions.len() >= 6 * 14, "{versions:?}");
    let churned: Vec<_> = versions.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        churned.is_empty(),
        "new versions on identical recordings: {churned:?}"
    );
}

/// A config whose modules cannot be built (a fingerprints folder that does not exist).
fn broken_config(sb: &Sandbox) {
    let text = std::fs::read_to_string(sb.config()).unwrap();
    let broken = text
        .lines()
        .map(|l| {
            if l.starts_with("fingerprints = ") {
                "fingerprints = \"/nonexistent/fingerprints\"".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(broken, text);
    std::fs::write(sb.config(), broken).unwrap();
}

#[test]
fn a_worker_that_cannot_build_its_modules_exits_at_once() {
    let sb = Sandbox::new();
    broken_config(&sb);
    let started = Instant::now();
    let out = sb
        .command(&["worker", "--poll-secs", "0.1"])
        .output()
        .expect("run the worker");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "it failed fast, not in a loop"
    );
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one line: {stderr}");
    assert!(errors[0].contains("/nonexistent/fingerprints"), "{stderr}");
}

#[test]
fn enqueue_validates_the_config_before_queueing_anything() {
    let sb = Sandbox::new();
    // A valid config first, so the database exists with its schema.
    let out = sb.pforge(&["jobs", "--json"]);
    assert!(out.status.success());
    broken_config(&sb);
    let out = sb.pforge(&["enrich", "--enqueue", "techstart.io"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sb_ok = Sandbox::new();
    sb.copy_db_to(&sb_ok);
    let jobs = json(&sb_ok.pforge(&["jobs", "--json"]));
    assert_eq!(jobs, json!([]), "nothing was queued");
    // An unknown module is refused as bad input, also before queueing.
    let out = sb_ok.pforge(&[
        "enrich",
        "--enqueue",
        "--modules",
        "m99_nothing",
        "techstart.io",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("m99_nothing"));
    assert_eq!(json(&sb_ok.pforge(&["jobs", "--json"])), json!([]));
}

/// Every command checkpoints SQLite's write-ahead log into the database file and closes the
/// database before it exits: the database file alone, copied as a user would back it up, holds
/// what the command wrote. (A process that exits without doing so usually gets the same, when
/// its connections' threads finish first; this pins the outcome, it cannot force that race.)
#[test]
fn a_database_file_copied_after_a_command_is_whole() {
    let sb = Sandbox::new();
    let out = sb.pforge(&["enrich", "--enqueue", "techstart.io"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let copy = Sandbox::new();
    std::fs::copy(sb.db(), copy.db()).unwrap();
    let jobs = json(&copy.pforge(&["jobs", "--json"]));
    assert_eq!(jobs.as_array().map(Vec::len), Some(1), "{jobs}");
}

/// `pforge daemon` with PostgreSQL and `[daemon] workers = 3` runs three worker tasks itself:
/// one process (its pid in every lease owner), three owners, the job done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_runs_its_workers_in_process() {
    let Some(pg) = PgSchema::create().await else {
        return;
    };
    let sb = Sandbox::new();
    let domains = generated_domains(60);
    write_fixtures(sb.dir.path(), &domains);
    scale_config(&sb.config(), None);
    configure(
        &sb,
        &format!(
            "[daemon]\ntoken_env = {:?}\ngrace_period = \"10s\"\nworkers = 3\n[daemon.refresh]\nenabled = false\n",
            daemon_common::TOKEN_ENV
        ),
        &[],
    );
    let server = fixtures(sb.dir.path(), 1).await;
    let mut daemon = Daemon::start_with_db(&sb, &server.url(), "daemon.log", &pg.url);
    let api = Api::new(&daemon.base);
    let (s, b) = api
        .auth(
            "POST",
            "/api/v1/enrich",
            Some(&json!({ "domains": domains, "modules": ["m02_tech_stack"] })),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let job = b["job_id"].as_str().unwrap().to_string();
    let done: Value = api
        .wait_job(&job, "completed", Duration::from_secs(120))
        .await;
    assert_eq!(done["queue"]["done"], 60, "{done}");
    let pool = pg.pool().await;
    let owners: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT lease_owner FROM queue WHERE lease_owner IS NOT NULL")
            .fetch_all(&pool)
            .await
            .unwrap();
    let pid = daemon.child.as_ref().unwrap().id();
    assert!(
        owners.iter().all(|o| o.contains(&format!(":{pid}:"))),
        "every claim was made by the daemon's own process {pid}: {owners:?}"
    );
    let log = daemon.log();
    let started = log.matches("worker started").count();
    assert_eq!(started, 3, "three worker tasks:\n{log}");
    let (status, _) = daemon.terminate(Duration::from_secs(20));
    assert!(status.success(), "{}", daemon.log());
}
