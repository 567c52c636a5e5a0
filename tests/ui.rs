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
        "/accounts/add",
    ] {
        let r = s.get(page).await;
        assert_eq!(r.status, 200, "{page}: {}", r.body);
        assert!(r.body.contains("PartnerForge"), "{page}");
    }
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
