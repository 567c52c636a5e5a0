//! End-to-end tests of `pforge daemon`: the real binary, a real fixture server on 127.0.0.1 and a
//! real SQLite file. One test drives a schedule that fires every 3 seconds, every API route with
//! and without the token, and `/metrics` (checked with `promtool` when it is installed; the scrape
//! is also written to target/metrics-scrape.txt for .ci/run). The other sends SIGTERM in the
//! middle of a run and checks that the process exits within the grace period, that nothing in
//! flight is lost, and that the next start completes the run.

mod common;
#[path = "common/daemon.rs"]
mod daemon_support;

use common::{fixtures, repo, Sandbox};
use daemon_support::{configure, copy_dir, metric_sum, Api, Daemon, TOKEN_ENV};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn daemon_section(extra: &str) -> String {
    format!("[daemon]\ntoken_env = \"{TOKEN_ENV}\"\ngrace_period = \"20s\"\n{extra}\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_api_and_metrics() {
    let server = fixtures(&repo().join("fixtures"), 1).await;
    let sb = Sandbox::new();
    let targets = sb.dir.path().join("targets.txt");
    std::fs::write(
        &targets,
        "techstart.io\nhttps://www.northwind-retail.com/\nnot a domain\n",
    )
    .unwrap();
    configure(
        &sb,
        &daemon_section(&format!(
            "[daemon.refresh]\nenabled = true\ninterval = \"1s\"\n\n\
             [[daemon.schedules]]\nname = \"every3s\"\ncron = \"*/3 * * * * *\"\n\
             timezone = \"Europe/Berlin\"\ntargets = \"file:{}\"\n",
            targets.display()
        )),
        &[],
    );
    let mut daemon = Daemon::start(&sb, &server.url(), "daemon.log");
    let api = Api::new(&daemon.base);

    // Health needs no token.
    let (s, body) = api.call("GET", "/healthz", None, None).await;
    assert_eq!((s, body["status"].as_str()), (200, Some("ok")));
    let (s, body) = api.call("GET", "/readyz", None, None).await;
    assert_eq!((s, body["status"].as_str()), (200, Some("ready")), "{body}");

    // The schedule fires every 3 s: wait for a scheduled run to complete.
    let started = Instant::now();
    let scheduled = loop {
        let (s, body) = api.auth("GET", "/api/v1/jobs", None).await;
        assert_eq!(s, 200, "{body}");
        let done = body["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["label"] == "daemon:schedule:every3s" && j["status"] == "completed");
        if let Some(j) = done {
            break j.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no scheduled run completed in 30 s: {body}\nlog:\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let job_id = scheduled["id"].as_str().unwrap().to_string();
    let (s, job) = api
        .auth("GET", &format!("/api/v1/jobs/{job_id}"), None)
        .await;
    assert_eq!(s, 200);
    assert!(
        job["items"].as_i64().unwrap() >= 8,
        "two domains x modules: {job}"
    );
    assert!(
        job["counts"].get("pending").is_none() && job["counts"].get("running").is_none(),
        "{job}"
    );
    let first_scrape = api.scrape().await;
    let runs_before = metric_sum(&first_scrape, "pforge_module_runs_total{");
    assert!(
        runs_before >= 8.0,
        "module runs counted: {runs_before}\n{first_scrape}"
    );

    // Every protected route refuses a missing or wrong token with the stable error shape.
    let any_uuid = "00000000-0000-4000-8000-000000000000";
    let protected: Vec<(&str, String, Option<Value>)> = vec![
        (
            "POST",
            "/api/v1/enrich".into(),
            Some(json!({"domains": ["quantumleaf.ai"]})),
        ),
        ("GET", "/api/v1/jobs".into(), None),
        ("GET", format!("/api/v1/jobs/{job_id}"), None),
        ("GET", "/api/v1/domains/techstart.io".into(), None),
        ("GET", "/api/v1/domains/techstart.io/snapshots".into(), None),
        ("GET", "/api/v1/changes?since=1d&min_level=low".into(), None),
        ("GET", "/api/v1/alerts".into(), None),
        ("GET", "/api/v1/targets".into(), None),
        (
            "POST",
            "/api/v1/targets".into(),
            Some(json!({"domains": ["globex-logistics.com"]})),
        ),
        (
            "DELETE",
            "/api/v1/targets".into(),
            Some(json!({"domains": ["globex-logistics.com"]})),
        ),
        (
            "DELETE",
            "/api/v1/targets/globex-logistics.com".into(),
            None,
        ),
    ];
    for (method, path, body) in &protected {
        for token in [None, Some("wrong-token"), Some("")] {
            let (s, b) = api.call(method, path, body.as_ref(), token).await;
            assert_eq!(s, 401, "{method} {path} with {token:?}: {b}");
            assert_eq!(b["error"]["code"], "unauthorized", "{method} {path}: {b}");
            assert!(b["error"]["message"].as_str().unwrap().contains("Bearer"));
        }
    }

    // The OpenAPI document is public and describes every route.
    let (s, doc) = api.call("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(s, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    for p in [
        "/enrich",
        "/jobs/{id}",
        "/domains/{domain}",
        "/domains/{domain}/snapshots",
        "/changes",
        "/alerts",
        "/targets",
        "/targets/{domain}",
    ] {
        assert!(doc["paths"][p].is_object(), "openapi lacks {p}");
    }

    // Targets: add (normalized), list, remove one way and the other.
    let (s, b) = api
        .auth(
            "POST",
            "/api/v1/targets",
            Some(&json!({"domains": ["globex-logistics.com", "https://www.TechStart.io/x"]})),
        )
        .await;
    assert_eq!((s, b["added"].as_u64()), (201, Some(2)), "{b}");
    let (s, b) = api
        .auth(
            "POST",
            "/api/v1/targets",
            Some(&json!({"domains": ["techstart.io"]})),
        )
        .await;
    assert_eq!((s, b["added"].as_u64()), (200, Some(0)), "{b}");
    let (s, b) = api
        .auth(
            "POST",
            "/api/v1/targets",
            Some(&json!({"domains": ["ok.com", "not a domain"]})),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("invalid_domain")),
        "{b}"
    );
    assert_eq!(b["error"]["details"].as_array().unwrap().len(), 1);
    let (s, b) = api
        .auth("POST", "/api/v1/targets", Some(&json!({"nope": 1})))
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("invalid_input")),
        "{b}"
    );
    let (s, b) = api.auth("GET", "/api/v1/targets", None).await;
    assert_eq!(s, 200);
    let names: Vec<&str> = b["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["domain"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["globex-logistics.com", "techstart.io"]);
    let (s, _) = api
        .auth("DELETE", "/api/v1/targets/globex-logistics.com", None)
        .await;
    assert_eq!(s, 200);
    let (s, b) = api
        .auth("DELETE", "/api/v1/targets/globex-logistics.com", None)
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{b}"
    );
    let (s, b) = api
        .auth(
            "DELETE",
            "/api/v1/targets",
            Some(&json!({"domains": ["techstart.io"]})),
        )
        .await;
    assert_eq!((s, b["removed"].as_u64()), (200, Some(1)), "{b}");

    // Enrich through the API and follow the job.
    let (s, b) = api
        .auth(
            "POST",
            "/api/v1/enrich",
            Some(&json!({"domains": ["quantumleaf.ai", "QuantumLeaf.ai"]})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(
        b["domains"], 1,
        "duplicates after normalization count once: {b}"
    );
    let api_job = b["job_id"].as_str().unwrap().to_string();
    assert_eq!(b["status_url"], format!("/api/v1/jobs/{api_job}"));
    let done = api
        .wait_job(&api_job, "completed", Duration::from_secs(30))
        .await;
    assert_eq!(done["job"]["label"], "daemon:api");
    let (s, b) = api
        .auth("POST", "/api/v1/enrich", Some(&json!({"domains": []})))
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("invalid_input")),
        "{b}"
    );
    let (s, b) = api.auth("GET", "/api/v1/jobs/not-a-uuid", None).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("invalid_input")),
        "{b}"
    );
    let (s, b) = api
        .auth("GET", &format!("/api/v1/jobs/{any_uuid}"), None)
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{b}"
    );

    // Intelligence, history, changes, alerts.
    let (s, b) = api
        .auth(
            "GET",
            "/api/v1/domains/https%3A%2F%2Fwww.techstart.io",
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["domain"], "techstart.io");
    let modules = b["modules"].as_array().unwrap();
    assert!(
        modules.iter().any(|m| m["module"] == "m01_company_context"),
        "{b}"
    );
    assert!(modules
        .iter()
        .all(|m| m["citations"].is_array() || m["citations"].is_object()));
    let (s, b) = api
        .auth("GET", "/api/v1/domains/never-enriched-domain.com", None)
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{b}"
    );
    let (s, b) = api
        .auth(
            "GET",
            "/api/v1/domains/techstart.io/snapshots?module=m01_company_context",
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let snaps = b["snapshots"].as_array().unwrap();
    assert!(
        !snaps.is_empty() && snaps.iter().all(|s| s["module"] == "m01_company_context"),
        "{b}"
    );
    let (s, b) = api
        .auth("GET", "/api/v1/changes?since=1d&min_level=low", None)
        .await;
    assert_eq!(s, 200, "{b}");
    assert!(b["changes"].is_array());
    let (s, b) = api
        .auth(
            "GET",
            "/api/v1/changes?since=2020-01-01T00:00:00Z&min_level=critical&domain=techstart.io",
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert!(b["changes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["level"] == "critical"));
    let (s, b) = api
        .auth("GET", "/api/v1/changes?min_level=bogus", None)
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("invalid_input")),
        "{b}"
    );
    let (s, b) = api.auth("GET", "/api/v1/alerts?limit=10", None).await;
    assert_eq!(s, 200, "{b}");
    assert!(b["alerts"].is_array());
    let (s, b) = api.auth("GET", "/api/v1/alerts?status=weird", None).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("invalid_input")),
        "{b}"
    );
    let (s, b) = api.auth("GET", "/api/v1/no-such-route", None).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{b}"
    );
    let (s, b) = api.auth("PUT", "/api/v1/targets", None).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (405, Some("method_not_allowed")),
        "{b}"
    );

    // Metrics moved and are well-formed.
    let scrape = api.scrape().await;
    let runs_after = metric_sum(&scrape, "pforge_module_runs_total{");
    assert!(
        runs_after > runs_before,
        "module runs {runs_before} -> {runs_after}"
    );
    assert!(
        metric_sum(
            &scrape,
            "pforge_provider_requests_total{provider=\"homepage\",code=\"200\"}"
        ) >= 1.0,
        "{scrape}"
    );
    assert!(
        metric_sum(&scrape, "pforge_module_duration_seconds_count{") >= 1.0,
        "{scrape}"
    );
    for family in [
        "# TYPE pforge_module_runs_total counter",
        "# TYPE pforge_provider_requests_total counter",
        "# TYPE pforge_provider_spend_total counter",
        "# TYPE pforge_budget_remaining gauge",
        "# TYPE pforge_rate_limit_wait_seconds histogram",
        "# TYPE pforge_module_duration_seconds histogram",
        "# TYPE pforge_queue_items gauge",
        "# TYPE pforge_alerts_total counter",
        "pforge_build_info{version=\"",
        "pforge_queue_items{state=\"pending\"}",
        "pforge_budget_remaining{provider=\"similarweb\",period=\"daily\"}",
        "pforge_rate_limit_wait_seconds_count{provider=\"homepage\"}",
    ] {
        assert!(scrape.contains(family), "missing {family} in\n{scrape}");
    }
    // Prometheus itself asks for OpenMetrics and gets it.
    let om = api
        .http
        .get(format!("{}/metrics", api.base))
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .send()
        .await
        .unwrap();
    assert!(om.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let om = om.text().await.unwrap();
    assert!(
        om.contains("# TYPE pforge_module_runs counter") && om.trim_end().ends_with("# EOF"),
        "{om}"
    );
    let out = repo().join("target/metrics-scrape.txt");
    std::fs::create_dir_all(out.parent().unwrap()).ok();
    std::fs::write(&out, &scrape).unwrap();
    promtool_check(&scrape);

    let (status, took) = daemon.terminate(Duration::from_secs(25));
    assert!(status.success(), "exit {status:?}; log:\n{}", daemon.log());
    println!("daemon stopped {took:?} after SIGTERM");
    let log = daemon.log();
    assert!(log.contains("scheduled run started"), "{log}");
    assert!(
        log.contains("not a domain"),
        "the bad target line is reported: {log}"
    );
}

/// Runs `promtool check metrics` on the scrape when promtool is installed (.ci/run installs it).
fn promtool_check(scrape: &str) {
    use std::io::Write;
    let child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        println!("promtool not installed: skipping `promtool check metrics` (.ci/run runs it)");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(scrape.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics:\n{report}\n{scrape}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_run_finishes_in_flight_and_restart_completes() {
    // Slow homepages (0.8 s each) and one module at a time, four domains in flight: six domains
    // take several seconds, so SIGTERM lands mid-run with two domains not started.
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("fixtures"), tmp.path());
    let manifest = tmp.path().join("epoch1/manifest.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let slow = text.replace(
        "provider = \"homepage\"\n",
        "provider = \"homepage\"\ndelay_ms = 800\n",
    );
    assert_ne!(slow, text);
    std::fs::write(&manifest, slow).unwrap();
    let server = fixtures(tmp.path(), 1).await;

    let sb = Sandbox::new();
    configure(
        &sb,
        &daemon_section("[daemon.refresh]\nenabled = false\n"),
        &[("concurrency = 16", "concurrency = 1")],
    );
    let domains = [
        "techstart.io",
        "northwind-retail.com",
        "globex-logistics.com",
        "blueharbor-health.com",
        "quantumleaf.ai",
        "initech-software.com",
    ];
    let mut daemon = Daemon::start(&sb, &server.url(), "first.log");
    let api = Api::new(&daemon.base);
    let (s, b) = api
        .auth(
            "POST",
            "/api/v1/enrich",
            Some(&json!({ "domains": domains })),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let job = b["job_id"].as_str().unwrap().to_string();
    // Wait until the run is under way (some module finished or running).
    let started = Instant::now();
    loop {
        let (_, b) = api.auth("GET", &format!("/api/v1/jobs/{job}"), None).await;
        if b["counts"].get("running").is_some()
            || b["items"].as_i64().unwrap_or(0) > domains.len() as i64
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "run did not start: {b}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, took) = daemon.terminate(Duration::from_secs(20));
    assert!(status.success(), "exit {status:?}; log:\n{}", daemon.log());
    assert!(
        took < Duration::from_secs(20),
        "exited {took:?} after SIGTERM (grace 20 s)"
    );
    let log = daemon.log();
    assert!(log.contains("interrupted by shutdown"), "{log}");
    drop(daemon);

    // Nothing in flight was abandoned: no item is left running; the rest waits as pending.
    let store = pforge_store::open_store(&format!("sqlite://{}", sb.db().display()))
        .await
        .unwrap();
    let id: uuid::Uuid = job.parse().unwrap();
    let stored = store.get_job(id).await.unwrap().unwrap();
    assert_eq!(
        stored.status,
        pforge_store::JobStatus::Running,
        "interrupted, to be resumed"
    );
    let counts = store.job_counts(id).await.unwrap();
    assert!(
        !counts.contains_key(&pforge_store::ItemStatus::Running),
        "{counts:?}"
    );
    assert!(
        counts
            .get(&pforge_store::ItemStatus::Pending)
            .copied()
            .unwrap_or(0)
            > 0,
        "{counts:?}"
    );
    let finished_first: Vec<String> = per_domain(&store.items_for_job(id).await.unwrap())
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(d, _)| d)
        .collect();
    assert!(
        !finished_first.is_empty() && finished_first.len() < domains.len(),
        "{finished_first:?}"
    );
    drop(store);

    // The next start resumes the job and completes it.
    let mut daemon = Daemon::start(&sb, &server.url(), "second.log");
    let api = Api::new(&daemon.base);
    let done = api
        .wait_job(&job, "completed", Duration::from_secs(40))
        .await;
    assert!(
        done["counts"].get("pending").is_none() && done["counts"].get("running").is_none(),
        "{done}"
    );
    let (status, _) = daemon.terminate(Duration::from_secs(20));
    assert!(status.success());
    assert!(
        daemon.log().contains("resuming interrupted job"),
        "{}",
        daemon.log()
    );

    let store = pforge_store::open_store(&format!("sqlite://{}", sb.db().display()))
        .await
        .unwrap();
    let items = per_domain(&store.items_for_job(id).await.unwrap());
    assert_eq!(items.len(), domains.len(), "{items:?}");
    let modules = items.values().max().copied().unwrap();
    assert!(
        items.values().all(|n| *n == modules),
        "every domain ran every module: {items:?}"
    );
    for d in domains {
        assert!(
            !store.latest_snapshots(d).await.unwrap().is_empty(),
            "{d} has intelligence"
        );
    }
}

fn per_domain(items: &[pforge_store::WorkItem]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for it in items {
        *out.entry(it.domain.clone()).or_default() += 1;
    }
    out
}
