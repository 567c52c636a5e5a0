//! The web UI end to end: the offline demo (epochs 1 and 2) into a temporary SQLite file, then
//! the real `pforge ui` binary on a free loopback port, driven over real HTTP. Login with the
//! printed one-time code, every page with real content (TechStart, a technology of its stack,
//! the epoch-2 change, a citation link), the accounts filters, CSV export, and the security
//! rules: no session → login page, POST without the CSRF token or from another origin →
//! refused, a re-enrich through the job service.

#[path = "common/ui.rs"]
mod ui_common;

use ui_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_shows_the_demo_through_a_session() {
    let demo = DemoDb::new();
    demo.add_hostile("evil-corp.com").await;
    let ui = Ui::start(&demo).await;
    let anon = client();

    // Without a session every page goes to the login page, keeping where it was going.
    let r = anon
        .get(ui.url("/changes?level=high"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        "/login?next=%2Fchanges%3Flevel%3Dhigh"
    );
    // Assets need no session and are cacheable.
    let r = anon
        .get(ui.url("/assets/htmx.min.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));

    let s = ui.login().await;
    // The code works once.
    let again = anon.get(&ui.login_url).send().await.unwrap();
    assert_eq!(again.status(), 401);

    // Accounts: TechStart with its tier, charts, security headers.
    let r = s.get("/").await;
    let csp = r.headers["content-security-policy"].clone();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(r.body.contains("TechStart"), "{}", r.body);
    assert!(r.body.contains("href=\"/accounts/techstart.io\""));
    assert!(r.body.contains("Accounts per ICP tier") && r.body.contains("<svg"));
    assert!(!r.body.contains("<script>"), "no inline script");

    // Filters in the URL: a technology TechStart runs keeps it, an unknown one empties the table.
    let tech = demo.a_technology_of("techstart.io").await;
    let r = s.get(&format!("/?tech={}", enc(&tech))).await;
    assert!(r.body.contains("techstart.io"), "tech={tech}: {}", r.body);
    let r = s.get("/?tech=NoSuchTechnologyAnywhere").await;
    assert!(r.body.contains("No accounts match"), "{}", r.body);
    let r = s.get("/?q=northwind&sort=intent_score&dir=desc").await;
    assert!(r.body.contains("northwind-retail.com") && !r.body.contains("techstart.io\""));
    assert!(r.body.contains("aria-sort=\"descending\""));
    let r = s.get("/?min_intent=lots").await;
    assert_eq!(r.status, 400);
    assert!(
        r.body.contains("is not a whole number: use e.g. 40"),
        "{}",
        r.body
    );

    // CSV export of the filtered table.
    let r = s.get("/accounts.csv?q=techstart").await;
    assert!(r.headers["content-type"].starts_with("text/csv"));
    let lines: Vec<&str> = r.body.lines().collect();
    assert!(lines[0].starts_with("domain,company,tier"));
    assert_eq!(lines.len(), 2, "{}", r.body);
    assert!(lines[1].starts_with("techstart.io,"));

    // Account: every module has a panel, values are tables, sources are links, the brief is HTML.
    let r = s.get("/accounts/techstart.io").await;
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains("<h1>TechStart"),
        "{}",
        &r.body[..2000.min(r.body.len())]
    );
    assert!(r.body.contains(&tech));
    for m in [
        "m01_company_context",
        "m02_tech_stack",
        "m13_icp_priority",
        "m15_strategic_brief",
    ] {
        assert!(r.body.contains(&format!("id=\"{m}\"")), "panel {m}");
    }
    assert_eq!(
        r.body.matches("<section class=\"panel").count(),
        15,
        "one panel per module"
    );
    assert!(
        r.body.contains("class=\"source\"") && r.body.contains("href=\"http://127.0.0.1:"),
        "a citation link"
    );
    assert!(r.body.contains("<article class=\"brief\">"));
    assert!(
        r.body.contains("<table class=\"data\">"),
        "lists of records are tables"
    );

    // Hostile provider data is shown as text, never run, and never becomes a live link.
    for path in ["/accounts/evil-corp.com", "/?q=evil"] {
        let r = s.get(path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert!(r.body.contains("Evil Corp"), "{path}");
        for bad in [
            "<script>alert",
            "<img src=x",
            "href=\"javascript:",
            "href='javascript:",
        ] {
            assert!(!r.body.contains(bad), "{path} contains {bad:?}");
        }
        assert!(
            !r.body.to_lowercase().contains("href=\"javascript"),
            "{path}"
        );
    }
    let r = s.get("/accounts/evil-corp.com").await;
    assert!(
        r.body.contains("&lt;script&gt;alert("),
        "the name is shown as text"
    );

    // Diff of the tech stack: epoch 2 removed Algolia; the permalink carries both versions.
    let r = s.get("/accounts/techstart.io/diff/m02_tech_stack").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("/technologies/Algolia"), "{}", r.body);
    assert!(r.body.contains("kind-remove"));
    let r = s
        .get("/accounts/techstart.io/history?module=m02_tech_stack")
        .await;
    assert!(
        r.body
            .contains("/accounts/techstart.io/diff/m02_tech_stack?from=1&#38;to=2")
            || r.body
                .contains("/accounts/techstart.io/diff/m02_tech_stack?from=1&to=2"),
        "{}",
        r.body
    );

    // Changes: the timeline holds the epoch-2 change and links to its diff.
    let r = s
        .get("/changes?domain=techstart.io&module=m02_tech_stack")
        .await;
    assert!(r.body.contains("/technologies/Algolia"), "{}", r.body);
    assert!(r.body.contains("diff/m02_tech_stack?from=1"));

    for page in [
        "/alerts",
        "/alerts?status=dead",
        "/budget",
        "/jobs",
        "/plan",
        "/accounts/add",
    ] {
        let r = s.get(page).await;
        assert_eq!(r.status, 200, "{page}: {}", r.body);
        assert!(r.body.contains("PartnerForge"), "{page}");
    }
    // Plan: the DAG `pforge plan` prints, every module in its wave, waves in order, the DOT
    // file behind its link.
    plan_page_matches_the_cli(&demo, &s).await;

    let jobs = s.get("/jobs").await;
    assert!(jobs.body.contains("completed"), "{}", jobs.body);
    // A delivered alert has no next attempt to show.
    let delivered = s.get("/alerts?status=delivered").await;
    assert!(delivered.body.contains("delivered"), "{}", delivered.body);
    assert!(
        delivered.body.contains("<td class=\"when\">—</td>"),
        "{}",
        delivered.body
    );

    // State changes need this origin and the session's CSRF token.
    let r = s.post("/alerts/retry", &[], true).await;
    assert_eq!(r.status, 403, "no CSRF token: {}", r.body);
    assert!(r.body.contains("CSRF"));
    let csrf = s.csrf.clone();
    let r = s
        .post_with_origin("/alerts/retry", &[("csrf", &csrf)], "http://evil.example")
        .await;
    assert_eq!(r.status, 403, "foreign origin");
    // Without a session a POST is refused outright.
    let r = anon
        .post(ui.url("/accounts/enrich"))
        .header("origin", ui.origin())
        .form(&[("domain", "techstart.io")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Add domains: one clear error per bad line, nothing added.
    let r = s
        .add_domains("ok-domain.com\nnot a domain\nalso bad!\n")
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body.contains("line 2:") && r.body.contains("line 3:"),
        "{}",
        r.body
    );

    // Re-enrich one account: a job is queued and its page shows it.
    let r = s
        .post(
            "/accounts/enrich",
            &[("csrf", &csrf), ("domain", "techstart.io")],
            true,
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let job = r.headers["location"].clone();
    assert!(job.starts_with("/jobs/"), "{job}");
    let page = s.wait_for_job(&job).await;
    assert!(page.contains("techstart.io"), "{page}");
}

/// The intent column draws each account's score history as a labelled SVG sparkline, and
/// "Remove" takes accounts out of the table (after a confirmation, with the CSRF token) while
/// keeping their history; adding the domain again brings it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sparklines_and_removing_accounts_with_history_kept() {
    let demo = DemoDb::new();
    demo.add_intent_versions("sparkline.io", &[40, 55, 72])
        .await;
    let ui = Ui::start(&demo).await;
    let s = ui.login().await;
    let csrf = s.csrf.clone();

    let r = s.get("/?q=sparkline.io").await;
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains("href=\"/accounts/sparkline.io\""),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("role=\"img\" aria-label=\"intent 40 → 72 over 3 versions\""),
        "{}",
        r.body
    );
    assert_eq!(r.body.matches("class=\"sparkline\"").count(), 1);

    // Without the CSRF token nothing is removed.
    let r = s
        .post("/accounts/remove", &[("domain", "sparkline.io")], true)
        .await;
    assert_eq!(r.status, 403, "{}", r.body);

    // The first post only asks: it names the account and changes nothing.
    let r = s
        .post(
            "/accounts/remove",
            &[("csrf", &csrf), ("domain", "sparkline.io")],
            true,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Remove 1 account?"), "{}", r.body);
    assert!(r.body.contains("<li>sparkline.io</li>"), "{}", r.body);
    assert!(r.body.contains("name=\"confirm\" value=\"1\""));
    assert!(s
        .get("/?q=sparkline.io")
        .await
        .body
        .contains("href=\"/accounts/sparkline.io\""));

    // Confirmed: gone from the table, with a message saying how many; the history stays.
    let r = s
        .post(
            "/accounts/remove",
            &[
                ("csrf", &csrf),
                ("domain", "sparkline.io"),
                ("confirm", "1"),
            ],
            true,
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let to = r.headers["location"].clone();
    assert!(to.starts_with("/?message="), "{to}");
    let flash = s.get(&to).await;
    assert!(flash.body.contains("Removed 1 account"), "{}", flash.body);
    let r = s.get("/?q=sparkline.io").await;
    assert!(r.body.contains("No accounts match."), "{}", r.body);
    let history = s.get("/accounts/sparkline.io/history").await;
    assert_eq!(history.status, 200, "{}", history.body);

    // "All matching" asks first too, counting what the filter matches.
    let r = s
        .post(
            "/accounts/remove",
            &[("csrf", &csrf), ("all", "1"), ("q", "techstart")],
            true,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Remove 1 account?"), "{}", r.body);
    assert!(r.body.contains("name=\"all\" value=\"1\""), "{}", r.body);

    // Adding the domain again brings it back (the enrichment it queues may add versions).
    let r = s.add_domains("sparkline.io\n").await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = s.get("/?q=sparkline.io").await;
    assert!(
        r.body.contains("href=\"/accounts/sparkline.io\""),
        "{}",
        r.body
    );
    assert!(r.body.contains("aria-label=\"intent 40 → "), "{}", r.body);
}

/// Module ids per wave as `pforge plan --json` prints them.
fn cli_waves(demo: &DemoDb, modules: Option<&str>) -> Vec<Vec<String>> {
    let mut cmd = demo.command();
    cmd.args(["plan", "--json"]);
    if let Some(m) = modules {
        cmd.args(["--modules", m]);
    }
    let out = cmd.output().expect("run pforge plan");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan JSON");
    plan["waves"]
        .as_array()
        .expect("waves")
        .iter()
        .map(|w| {
            w["modules"]
                .as_array()
                .expect("modules")
                .iter()
                .map(|m| m["id"].as_str().expect("id").to_string())
                .collect()
        })
        .collect()
}

/// (wave, module id) of every row of the plan page's table, top to bottom.
fn table_rows(body: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for part in body.split("<tr class=\"wave-").skip(1) {
        let wave: usize = part
            .split('"')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("a wave number");
        let id = part
            .split("<code>")
            .nth(1)
            .and_then(|r| r.split("</code>").next())
            .expect("a module id");
        out.push((wave, id.to_string()));
    }
    out
}

async fn plan_page_matches_the_cli(demo: &DemoDb, s: &Session) {
    let waves = cli_waves(demo, None);
    assert!(waves.len() >= 5, "{waves:?}");
    let r = s.get("/plan").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("href=\"/plan\" aria-current=\"page\""),
        "in the navigation"
    );
    assert!(r.body.contains("<svg class=\"dag\""), "{}", r.body);
    // Every module is a box in the drawing and a row of the table, in the CLI's wave.
    let rows = table_rows(&r.body);
    let expected: Vec<(usize, String)> = waves
        .iter()
        .enumerate()
        .flat_map(|(i, w)| w.iter().map(move |id| (i + 1, id.clone())))
        .collect();
    assert_eq!(rows, expected, "table rows in wave order");
    for (_, id) in &expected {
        assert!(r.body.contains(&format!("id=\"dag-{id}\"")), "box of {id}");
    }
    // Waves are columns, left to right in order.
    let mut last = -1.0;
    for n in 1..=waves.len() {
        let marker = format!(">Wave {n}</text>");
        let at = r
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("column of wave {n}"));
        let x: f64 = r.body[..at]
            .rsplit("x=\"")
            .next()
            .and_then(|t| t.split('"').next())
            .and_then(|t| t.parse().ok())
            .expect("the column's x");
        assert!(x > last, "wave {n} at x={x} is right of the previous one");
        last = x;
    }
    // One arrow per dependency; providers are shown.
    let deps = r.body.matches("class=\"dag-edge\"").count();
    let dot = demo
        .command()
        .args(["plan", "--dot"])
        .output()
        .expect("plan --dot");
    let dot = String::from_utf8(dot.stdout).expect("DOT text");
    assert_eq!(deps, dot.matches(" -> ").count(), "an arrow per edge");
    assert!(r.body.contains("class=\"dag-providers\""));
    // The DOT link serves what `pforge plan --dot` prints.
    assert!(r.body.contains("href=\"/plan.dot\""));
    let d = s.get("/plan.dot").await;
    assert_eq!(d.status, 200);
    assert!(
        d.headers["content-type"].starts_with("text/vnd.graphviz"),
        "{:?}",
        d.headers
    );
    assert_eq!(d.body, dot);
    // A subset, as `--modules` plans it: the module and what it needs, nothing else.
    let sub = s.get("/plan?modules=m10_buying_committee").await;
    assert_eq!(sub.status, 200, "{}", sub.body);
    let rows: Vec<String> = table_rows(&sub.body)
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    let cli: Vec<String> = cli_waves(demo, Some("m10_buying_committee")).concat();
    assert_eq!(rows, cli);
    assert!(!sub.body.contains("id=\"dag-m15_strategic_brief\""));
    assert!(sub
        .body
        .contains("href=\"/plan.dot?modules=m10_buying_committee\""));
    let d = s.get("/plan.dot?modules=m10_buying_committee").await;
    assert!(
        d.body
            .contains("\"m06_hiring\" -> \"m10_buying_committee\";"),
        "{}",
        d.body
    );
    let bad = s.get("/plan?modules=m99_nothing").await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.body.contains("unknown module m99_nothing"),
        "{}",
        bad.body
    );
}

/// The budget page explains slow and skipped providers with real events: a re-enrich through a
/// configuration whose DNS limit is tight (calls wait for permits) and whose Greenhouse breaker
/// opens after two failures, with QuantumLeaf's job board answering 503 (a transient failure,
/// retried and counted by the breaker; the recorded 500 is not).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_page_shows_real_rate_limit_waits_and_an_open_breaker() {
    let demo = DemoDb::new();
    let dns_limit = "rate_limit = { per_second = 20.0, burst = 20 }";
    let path = write_config(&demo.dir.path().join("tight.toml"), |cfg| {
        assert_eq!(cfg.matches(dns_limit).count(), 1, "the DNS rate limit");
        assert_eq!(cfg.matches("[providers.greenhouse]\n").count(), 1);
        cfg.replace(dns_limit, "rate_limit = { per_second = 4.0, burst = 1 }")
            .replace(
                "[providers.greenhouse]\n",
                "[providers.greenhouse]\ncircuit_breaker = { failures = 2, cooldown_secs = 900.0 }\n",
            )
    });
    let unavailable = fixtures_copy(|epoch, text| {
        let down = "path = \"/v1/boards/quantumleaf/jobs\"\nstatus = 500\n";
        if epoch == "epoch1" {
            assert_eq!(
                text.matches(down).count(),
                1,
                "QuantumLeaf's failing job board"
            );
        }
        text.replace(
            down,
            "path = \"/v1/boards/quantumleaf/jobs\"\nstatus = 503\n",
        )
    });
    let ui = Ui::start_configured(&demo, unavailable.path(), None, Some(&path)).await;
    let s = ui.login().await;

    // Before any call: every circuit closed, nothing waited.
    let r = s.get("/budget").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("All circuits of the"), "{}", r.body);
    assert!(
        r.body.contains("<td>dns</td><td class=\"num\">0</td>"),
        "{}",
        r.body
    );

    let csrf = s.csrf.clone();
    for domain in ["quantumleaf.ai", "techstart.io"] {
        let r = s
            .post(
                "/accounts/enrich",
                &[("csrf", &csrf), ("domain", domain)],
                true,
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        s.wait_for_job(&r.headers["location"]).await;
    }

    let r = s.get("/budget").await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The open breaker: Greenhouse, since when, the error that opened it.
    let breakers = r
        .body
        .split("<table class=\"data breakers\">")
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .unwrap_or_else(|| panic!("a breakers table: {}", r.body));
    let row = breakers
        .split("<tr>")
        .find(|row| row.contains("<td>greenhouse</td>"))
        .unwrap_or_else(|| panic!("greenhouse's breaker: {breakers}"));
    assert!(row.contains("breaker-open\">open"), "{row}");
    assert!(row.contains("2 of 2"), "{row}");
    assert!(
        row.contains("503"),
        "the last error names the status: {row}"
    );
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert!(
        row.contains(&format!("<td class=\"when\">{today} ")),
        "open since a time of today: {row}"
    );
    // DNS calls waited for permits: counted, with their total time.
    let waits = r
        .body
        .split("<table class=\"data waits\">")
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .expect("a waits table");
    let dns = waits
        .split("<tr>")
        .find(|row| row.contains("<td>dns</td>"))
        .unwrap_or_else(|| panic!("dns waits: {waits}"));
    let cells: Vec<&str> = dns
        .split("<td class=\"num\">")
        .skip(1)
        .map(|c| c.split("</td>").next().unwrap_or(""))
        .collect();
    let paced: u64 = cells[0].parse().expect("calls paced");
    let waited: u64 = cells[1].parse().expect("calls that waited");
    assert!(paced >= 2 && waited >= 1, "dns: {cells:?}");
    assert!(
        cells[2].ends_with(" s") && cells[2] != "0.00 s",
        "{cells:?}"
    );
    assert!(r
        .body
        .contains("Seconds spent waiting for a rate-limit permit"));
    eprintln!(
        "dns waits: {cells:?}; greenhouse breaker: {}",
        row.split_whitespace().collect::<Vec<_>>().join(" ")
    );
}

/// The budget page says what each run and each module spent this month: the demo's two runs
/// pay SimilarWeb, Crunchbase and BuiltWith (it sets test keys), and the page lists each run,
/// linked to its job, and each module with its providers, with the calls and credits the
/// ledger holds (read here straight from the database).
#[tokio::test]
async fn the_budget_page_says_what_each_run_and_module_spent() {
    let demo = DemoDb::new();
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", demo.db().display()))
        .await
        .expect("open the demo database");
    let by_job: Vec<(String, i64, f64)> = sqlx::query_as(
        "SELECT job_id, COUNT(*), TOTAL(cost) FROM charges WHERE job_id IS NOT NULL \
         GROUP BY job_id",
    )
    .fetch_all(&pool)
    .await
    .expect("charges by job");
    let by_module: Vec<(String, i64, f64)> = sqlx::query_as(
        "SELECT module, COUNT(*), TOTAL(cost) FROM charges WHERE module IS NOT NULL \
         GROUP BY module",
    )
    .fetch_all(&pool)
    .await
    .expect("charges by module");
    let (calls, credits): (i64, f64) = sqlx::query_as("SELECT COUNT(*), TOTAL(cost) FROM charges")
        .fetch_one(&pool)
        .await
        .expect("all charges");
    pool.close().await;
    assert_eq!(
        by_job.len(),
        2,
        "the demo's two runs both spent: {by_job:?}"
    );
    assert!(by_module.len() >= 2, "{by_module:?}");

    let ui = Ui::start(&demo).await;
    let s = ui.login().await;
    let r = s.get("/budget").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let table = |class: &str| {
        r.body
            .split(&format!("<table class=\"data {class}\">"))
            .nth(1)
            .and_then(|t| t.split("</table>").next())
            .unwrap_or_else(|| panic!("a {class} table: {}", r.body))
            .to_string()
    };
    let runs = table("runs-spend");
    for (job, n, total) in &by_job {
        let run = runs
            .split("<tr>")
            .find(|row| row.contains(&format!("/jobs/{job}")))
            .unwrap_or_else(|| panic!("run {job}, linked to its job: {runs}"));
        assert!(run.contains(&job[..8]), "{run}");
        assert!(
            run.contains(&format!(
                "<td class=\"num\">{n}</td><td class=\"num\">{total:.2}</td>"
            )),
            "{n} calls, {total:.2} credits: {run}"
        );
    }
    assert!(
        runs.find("demo:epoch2") < runs.find("demo:epoch1"),
        "newest run first: {runs}"
    );
    let modules = table("modules-spend");
    for (module, n, total) in &by_module {
        let row = modules
            .split("<tr>")
            .find(|row| row.contains(&format!("<td>{module}</td>")))
            .unwrap_or_else(|| panic!("{module}: {modules}"));
        assert!(
            row.contains(&format!(
                "<td class=\"num\">{n}</td><td class=\"num\">{total:.2}</td>"
            )),
            "{module}: {row}"
        );
    }
    assert!(
        r.body
            .contains(&format!("{calls} charged calls, {credits:.2} credits")),
        "{}",
        r.body
    );
    // The chart of credits per module comes before its table.
    let chart = r
        .body
        .find("Credits spent this month, per module")
        .expect("a chart");
    assert!(chart < r.body.find("modules-spend").expect("the table"));
}
