//! The web UI in a real headless browser (Debian's Chromium through chromedriver, driven with
//! fantoccini), walked as a user would over the offline demo: log in with the form, sort and
//! filter the accounts table, open TechStart, follow a source badge to its citation's URL, open
//! the tech stack's history and diff and step to the epoch-2 change (Algolia removed), retry a
//! dead alert, start a re-enrich and watch its job page update live (server-sent events, no
//! reload), cancel a job. Every page visited is screenshotted into `target/ui-screenshots/` and
//! checked by axe-core (no serious or critical violation), in the light theme and again in the
//! dark one (`prefers-color-scheme` emulated through chromedriver's CDP endpoint).
//!
//! Needs `chromium`, `chromium-driver` and `PFORGE_AXE_JS` (axe-core's axe.min.js); `.ci/run`
//! installs all three. Without them the test fails saying how to get them: it never skips.

#[path = "common/browser.rs"]
mod browser;
#[path = "common/ui.rs"]
mod ui_common;

use browser::{Browser, WAIT};
use fantoccini::Locator;
use std::time::{Duration, Instant};
use ui_common::*;

/// The API token the walk types into the login form.
const TOKEN: &str = "browser-walk-token-5f0c2a9e7d314b8c";
/// Every recorded provider answer takes this long, so that jobs run long enough to watch.
const SLOW_MS: u64 = 300;

/// The domains shown in the accounts table, top to bottom.
async fn table_domains(b: &Browser) -> Vec<String> {
    let mut out = Vec::new();
    for el in b
        .client
        .find_all(Locator::Css("table.accounts tbody td:nth-child(2) a"))
        .await
        .expect("rows")
    {
        out.push(el.text().await.expect("text"));
    }
    out
}

/// The intent scores shown in the accounts table (unscored rows are left out).
async fn table_intents(b: &Browser) -> Vec<i64> {
    let mut out = Vec::new();
    for el in b
        .client
        .find_all(Locator::Css("table.accounts tbody td:nth-child(6)"))
        .await
        .expect("rows")
    {
        let t = el.text().await.expect("text");
        if let Some(n) = t.split_whitespace().next().and_then(|w| w.parse().ok()) {
            out.push(n);
        }
    }
    out
}

/// Clicks the first element matching `css` whose text contains `text`.
async fn click_text(b: &Browser, css: &str, text: &str) {
    b.wait_text(css, text).await;
    for el in b.client.find_all(Locator::Css(css)).await.expect("find") {
        if el
            .text()
            .await
            .is_ok_and(|t| t.to_lowercase().contains(&text.to_lowercase()))
        {
            el.click()
                .await
                .unwrap_or_else(|e| panic!("click {css} {text:?}: {e}"));
            return;
        }
    }
    panic!("no {css} with text {text:?}");
}

/// Clicks a button inside the job page's live part (re-rendered by every event: retried when
/// the element was replaced between finding and clicking it).
async fn click_live(b: &Browser, css: &str) {
    let start = Instant::now();
    loop {
        let el = b.find(css).await;
        match el.click().await {
            Ok(()) => return,
            Err(e) if start.elapsed() < WAIT => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("click {css}: {e}"),
        }
    }
}

/// Text of `#job-status` once it is no longer `running`.
async fn wait_job_finished(b: &Browser) -> String {
    let start = Instant::now();
    loop {
        if let Ok(el) = b.client.find(Locator::Css("#job-status")).await {
            if let Ok(t) = el.text().await {
                if t != "running" {
                    return t;
                }
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "the job was still running after 180 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_walks_the_demo_in_a_real_browser() {
    // Alerts go to the console and to a webhook; the webhook is down while they are first
    // delivered (so its alerts are dead-lettered), then comes back before the UI retries.
    let demo = DemoDb::with_webhook();
    demo.add_hostile("evil-corp.com").await;
    // A later version of TechStart's tech stack, so that the diff opens on the newest change
    // and the epoch-2 change (Algolia removed) is one step back.
    demo.add_tech_version("techstart.io", "Plausible Analytics")
        .await;
    let dead = demo.dead_letter_alerts().await;
    let hook = HookReceiver::start(demo.hook_port.expect("a webhook port")).await;
    let tech = demo.a_technology_of("techstart.io").await;
    let citations = demo.citation_urls("techstart.io", "m02_tech_stack").await;
    let fixtures = slow_fixtures(SLOW_MS);
    let ui = Ui::start_with(&demo, fixtures.path(), Some(TOKEN)).await;
    let mut b = Browser::start(&repo()).await;

    // Without a session the UI shows the login form; a wrong token is refused with a message.
    b.goto(&ui.url("/")).await;
    b.wait_path("the login page", |p| p.starts_with("/login"))
        .await;
    b.check_page("login").await;
    b.find("#token")
        .await
        .send_keys("not-the-token")
        .await
        .unwrap();
    b.find("form[action='/login'] button")
        .await
        .click()
        .await
        .unwrap();
    b.wait_text("[role=alert]", "wrong token").await;
    b.find("#token").await.send_keys(TOKEN).await.unwrap();
    b.find("form[action='/login'] button")
        .await
        .click()
        .await
        .unwrap();
    b.wait_text("main h1", "Accounts").await;
    assert_eq!(b.path().await, "/");

    // Accounts: the demo's six, TechStart among them.
    b.check_page("accounts").await;
    let all = table_domains(&b).await;
    assert!(all.contains(&"techstart.io".to_string()), "{all:?}");
    assert!(all.len() >= 6, "{all:?}");

    // Sort by intent: highest first, then lowest first; the URL keeps it.
    click_text(&b, "table.accounts th a", "Intent").await;
    b.wait_text("th[aria-sort=descending]", "Intent").await;
    let desc = table_intents(&b).await;
    assert!(desc.len() >= 2, "{desc:?}");
    assert!(
        desc.windows(2).all(|w| w[0] >= w[1]),
        "descending: {desc:?}"
    );
    assert!(b.path().await.contains("sort=intent_score"));
    click_text(&b, "table.accounts th a", "Intent").await;
    b.wait_text("th[aria-sort=ascending]", "Intent").await;
    let asc = table_intents(&b).await;
    assert!(asc.windows(2).all(|w| w[0] <= w[1]), "ascending: {asc:?}");

    // Filter by text, then by a technology TechStart runs.
    let q = b.find("#f-q").await;
    q.clear().await.unwrap();
    q.send_keys("northwind").await.unwrap();
    b.find("form.filters button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    b.wait_path("the text filter", |p| p.contains("q=northwind"))
        .await;
    b.wait_text(".table-bar p", "of 1 accounts").await;
    assert_eq!(table_domains(&b).await, vec!["northwind-retail.com"]);
    let q = b.find("#f-q").await;
    q.clear().await.unwrap();
    b.find("#f-tech").await.send_keys(&tech).await.unwrap();
    b.find("form.filters button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    b.wait_path("the technology filter", |p| p.contains("tech="))
        .await;
    b.wait_text("table.accounts tbody", "techstart.io").await;
    let with_tech = table_domains(&b).await;
    assert!(with_tech.len() < all.len(), "{tech}: {with_tech:?}");
    b.check_page("accounts-filtered").await;

    // TechStart's page: one panel per module, values with their sources.
    click_text(&b, "table.accounts tbody a", "techstart.io").await;
    b.wait_text("main h1", "TechStart").await;
    assert_eq!(b.path().await, "/accounts/techstart.io");
    let panels = b
        .client
        .find_all(Locator::Css("section.panel"))
        .await
        .unwrap();
    assert_eq!(panels.len(), 15, "one panel per module");
    b.wait_text("#m02_tech_stack", &tech).await;
    b.check_page("account").await;

    // A source badge links to the URL of the citation that covers the value; following it opens
    // that URL (the fixture server's recording) in a new tab.
    let badge = b.find("#m02_tech_stack .source a").await;
    let href = badge.attr("href").await.unwrap().expect("a source link");
    assert!(
        citations.contains(&href),
        "badge {href} is not one of the citations {citations:?}"
    );
    let before = b.client.windows().await.unwrap();
    badge.click().await.unwrap();
    let start = Instant::now();
    let tab = loop {
        let now = b.client.windows().await.unwrap();
        if let Some(w) = now.into_iter().find(|w| !before.contains(w)) {
            break w;
        }
        assert!(start.elapsed() < WAIT, "the source link opened no tab");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    b.client.switch_to_window(tab).await.unwrap();
    let start = Instant::now();
    loop {
        let at = b.client.current_url().await.unwrap().to_string();
        if at == href {
            break;
        }
        assert!(start.elapsed() < WAIT, "the new tab shows {at}, not {href}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.client.close_window().await.unwrap();
    b.client.switch_to_window(before[0].clone()).await.unwrap();

    // History of the tech stack, then its diff: it opens on the newest change; one step back is
    // epoch 2's (Algolia removed), one step forward returns.
    click_text(&b, "#m02_tech_stack .meta a", "history").await;
    b.wait_text("main h1", "History of techstart.io").await;
    b.check_page("history").await;
    click_text(&b, "main table a", "v2 → v3").await;
    b.wait_text("main h1", "version 2 → 3").await;
    b.wait_text("table.diff", "Plausible Analytics").await;
    b.check_page("diff-newest").await;
    click_text(&b, "nav.stepper a", "Previous change").await;
    b.wait_text("main h1", "version 1 → 2").await;
    assert!(b.path().await.contains("from=1&to=2"), "{}", b.path().await);
    b.wait_text("table.diff", "Algolia").await;
    let removed = b
        .js(
            "return Array.from(document.querySelectorAll('table.diff tr[class*=kind-remove]'))\
             .map(r => r.textContent).join(' | ');",
        )
        .await;
    let removed = removed.as_str().unwrap_or("").to_string();
    assert!(removed.contains("Algolia"), "removed rows: {removed}");
    b.check_page("diff-epoch2").await;
    click_text(&b, "nav.stepper a", "Next change").await;
    b.wait_text("main h1", "version 2 → 3").await;

    // Alerts: the dead letters, retried one at a time (the webhook is back and takes it).
    click_text(&b, "header.top nav a", "Alerts").await;
    b.wait_text("main h1", "Alerts").await;
    click_text(&b, "nav.tabs a", "Dead").await;
    b.wait_path("the dead tab", |p| p.contains("status=dead"))
        .await;
    b.wait_text("table.data tbody", "dead").await;
    let rows = b
        .client
        .find_all(Locator::Css("table.data tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), dead, "dead alerts listed");
    // Each names the channel that failed and the error is that channel's.
    for row in &rows {
        let text = row.text().await.unwrap();
        assert!(
            text.contains(HOOK_CHANNEL) && text.contains("/hooks/partnerforge"),
            "a dead alert's channel and error: {text}"
        );
        assert!(!text.contains("console"), "{text}");
    }
    b.check_page("alerts-dead").await;
    b.find("table.data tbody tr button")
        .await
        .click()
        .await
        .unwrap();
    b.wait_text(
        "[role=status]",
        "Requeued 1: 1 delivered, 0 will be retried, 0 dead again",
    )
    .await;
    let received = hook.received();
    assert!(
        received
            .iter()
            .any(|h| h.starts_with("POST /hooks/partnerforge")
                && h.to_lowercase().contains("webhook-signature: v1,")),
        "the retried alert reached the webhook, signed: {received:?}"
    );
    b.check_page("alerts-retried").await;

    // Re-enrich TechStart: its job page follows the job live without reloading.
    b.goto(&ui.url("/accounts/techstart.io")).await;
    b.find("form[action='/accounts/enrich'] button")
        .await
        .click()
        .await
        .unwrap();
    b.wait_path("the job page", |p| p.starts_with("/jobs/"))
        .await;
    b.wait_text("main h1", "Job").await;
    b.js("window.__walk = 'same document'; return 1;").await;
    let first_progress = b.text("#job-progress").await;
    b.screenshot("job-running").await;
    let status = wait_job_finished(&b).await;
    assert_eq!(status, "completed", "the re-enrich ended {status}");
    assert_eq!(
        b.js("return window.__walk;").await,
        serde_json::json!("same document"),
        "the job page reloaded instead of updating in place"
    );
    let updates = b
        .js("return Number(document.getElementById('job-live').getAttribute('data-updates') || 0);")
        .await;
    assert!(
        updates.as_i64().unwrap_or(0) >= 1,
        "no server-sent update arrived"
    );
    let last_progress = b.text("#job-progress").await;
    assert_ne!(first_progress, last_progress, "progress never moved");
    b.wait_text("#job-live table", "m02_tech_stack").await;
    let no_cancel = b
        .client
        .find_all(Locator::Css("#job-live button.danger"))
        .await
        .unwrap();
    assert!(no_cancel.is_empty(), "a finished job offers no cancel");
    b.check_page("job-completed").await;

    // Re-enrich every account, then cancel it from its page.
    b.goto(&ui.url("/")).await;
    b.find("button[name=all]").await.click().await.unwrap();
    b.wait_path("the job page", |p| p.starts_with("/jobs/"))
        .await;
    b.wait_text("#job-status", "running").await;
    click_live(&b, "#job-live button.danger").await;
    let status = wait_job_finished(&b).await;
    assert_eq!(status, "cancelled");
    b.check_page("job-cancelled").await;
    click_text(&b, "header.top nav a", "Jobs").await;
    b.wait_text("main table", "cancelled").await;
    b.check_page("jobs").await;

    // The remaining pages, and hostile provider data shown as text with no script run.
    for (name, path, shows) in [
        ("changes", "/changes", "Algolia"),
        ("budget", "/budget", "Budget"),
        ("plan", "/plan", "Modules by wave"),
        ("add", "/accounts/add", "Add"),
        ("hostile", "/accounts/evil-corp.com", "Evil Corp"),
    ] {
        b.goto(&ui.url(path)).await;
        b.wait_text("main", shows).await;
        b.check_page(name).await;
    }
    assert!(
        b.client.get_alert_text().await.is_err(),
        "a provider's script opened a dialog"
    );
    let name = b.text("main h1").await;
    assert!(name.contains("<script>alert('name')</script>"), "{name}");

    // The dark theme: every page again under prefers-color-scheme: dark.
    b.emulate_dark().await;
    for (name, path) in [
        ("accounts-dark", "/".to_string()),
        ("account-dark", "/accounts/techstart.io".to_string()),
        (
            "diff-dark",
            "/accounts/techstart.io/diff/m02_tech_stack?from=1&to=2".to_string(),
        ),
        ("changes-dark", "/changes".to_string()),
        ("alerts-dark", "/alerts".to_string()),
        ("budget-dark", "/budget".to_string()),
        ("plan-dark", "/plan".to_string()),
        ("jobs-dark", "/jobs".to_string()),
        ("hostile-dark", "/accounts/evil-corp.com".to_string()),
    ] {
        b.goto(&ui.url(&path)).await;
        b.wait_text("main", "").await;
        let dark = b
            .js("return matchMedia('(prefers-color-scheme: dark)').matches;")
            .await;
        assert_eq!(dark, serde_json::json!(true), "dark theme emulated");
        b.check_page(name).await;
    }
    eprintln!(
        "checked {} pages with axe-core; screenshots: {}",
        b.visited.len(),
        b.visited
            .iter()
            .map(|(_, f)| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    b.client.clone().close().await.ok();
}
