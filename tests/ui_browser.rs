//! The web UI in a real headless browser (Debian's chromium driven through chromedriver with
//! fantoccini): log in with the printed URL, sort and filter the accounts table, open
//! TechStart, see the epoch-2 diff of its tech stack, and save a PNG of every page under
//! `target/ui-screenshots/`. Set `PFORGE_UI_BROWSER=0` to skip it (CI never does: `.ci/run`
//! installs chromium and chromium-driver).

#[path = "common/ui.rs"]
mod ui_common;

use fantoccini::{ClientBuilder, Locator};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use ui_common::*;

/// chromedriver on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn driver() -> Driver {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver is not installed: apt-get install chromium chromium-driver (or set PFORGE_UI_BROWSER=0 to skip)");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(20), "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

/// `target/ui-screenshots/` in the repository (beside CI's other artefacts such as the metrics
/// scrape), wherever the build itself goes.
fn shots_dir() -> PathBuf {
    let dir = repo().join("target/ui-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

async fn shot(c: &fantoccini::Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(shots_dir().join(format!("{name}.png")), png).expect("write screenshot");
}

async fn wait_for_url(c: &fantoccini::Client, part: &str) {
    let start = Instant::now();
    loop {
        let u = c.current_url().await.expect("url");
        if u.as_str().contains(part) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "url {u} never contained {part}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn body_text(c: &fantoccini::Client) -> String {
    c.find(Locator::Css("main"))
        .await
        .expect("main")
        .text()
        .await
        .expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_walks_the_demo_in_chromium() {
    if std::env::var("PFORGE_UI_BROWSER").as_deref() == Ok("0") {
        eprintln!("SKIPPED: PFORGE_UI_BROWSER=0 (the browser test needs chromium and chromium-driver)");
        return;
    }
    let demo = DemoDb::new();
    let ui = Ui::start(&demo).await;
    let driver = driver().await;
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1400,1800",
                format!("--user-data-dir={}", profile.path().display()),
            ]
        }),
    );
    let c = ClientBuilder::rustls()
        .expect("tls")
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("connect to chromedriver");

    // Log in with the printed URL: the code becomes a session cookie and we land on the table.
    c.goto(&ui.login_url).await.unwrap();
    wait_for_url(&c, &format!("{}/", ui.base)).await;
    let text = body_text(&c).await;
    assert!(text.contains("TechStart"), "{text}");
    shot(&c, "accounts").await;

    // Sort by intent (a header click), then filter by text (the form).
    c.find(Locator::LinkText("Intent")).await.unwrap().click().await.unwrap();
    wait_for_url(&c, "sort=intent_score").await;
    let sorted = c
        .find(Locator::Css("th[aria-sort=descending]"))
        .await
        .expect("the sorted column says so")
        .text()
        .await
        .unwrap();
    assert!(sorted.contains("Intent"), "{sorted}");
    shot(&c, "accounts-sorted").await;
    let q = c.find(Locator::Id("f-q")).await.unwrap();
    q.send_keys("techstart").await.unwrap();
    c.find(Locator::Css(".filters button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_url(&c, "q=techstart").await;
    // The sort survives the filter: both live in the URL.
    wait_for_url(&c, "sort=intent_score").await;
    let text = body_text(&c).await;
    assert!(text.contains("techstart.io") && !text.contains("northwind-retail.com"), "{text}");
    shot(&c, "accounts-filtered").await;

    // Open TechStart: panels, source badges that link to their sources, the brief.
    c.find(Locator::LinkText("techstart.io")).await.unwrap().click().await.unwrap();
    wait_for_url(&c, "/accounts/techstart.io").await;
    let h1 = c.find(Locator::Css("h1")).await.unwrap().text().await.unwrap();
    assert!(h1.contains("TechStart"), "{h1}");
    let source = c
        .find(Locator::Css(".source a[href^='http']"))
        .await
        .expect("a source badge with a link");
    let href = source.attr("href").await.unwrap().unwrap_or_default();
    assert!(href.starts_with("http://127.0.0.1:"), "{href}");
    shot(&c, "account").await;

    // The epoch-2 diff of the tech stack: Algolia removed, previous/next stepping.
    c.goto(&ui.url("/accounts/techstart.io/diff/m02_tech_stack")).await.unwrap();
    let text = body_text(&c).await;
    assert!(text.contains("/technologies/Algolia") && text.contains("remove"), "{text}");
    shot(&c, "diff").await;

    for (path, name, expect) in [
        ("/changes", "changes", "techstart.io"),
        ("/alerts", "alerts", "Alerts"),
        ("/budget", "budget", "Budget"),
        ("/jobs", "jobs", "completed"),
        ("/accounts/techstart.io/history", "history", "m02_tech_stack"),
    ] {
        c.goto(&ui.url(path)).await.unwrap();
        let text = body_text(&c).await;
        assert!(text.contains(expect), "{path}: {text}");
        shot(&c, name).await;
    }
    c.close().await.unwrap();
}
