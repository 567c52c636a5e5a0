//! A real headless browser for the UI tests: Debian's Chromium driven through chromedriver
//! (started on a free loopback port, stopped on drop) with `fantoccini`, a fresh profile in a
//! temporary folder, axe-core injected into pages (`PFORGE_AXE_JS`), and full-page screenshots
//! saved under `target/ui-screenshots/`. A missing browser, driver or axe-core is a failure
//! that says how to install it, never a skip: CI must not pass without having looked.
#![allow(dead_code)]

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The flags the issue asks for: headless, no sandbox (root in CI), nothing phoning home.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
];

/// How long waits for the page to show something last.
pub const WAIT: Duration = Duration::from_secs(30);

/// Finds `name` as given by `env` or on the usual Debian paths and `PATH`.
fn find_program(env: &str, name: &str) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::iter::once(PathBuf::from("/usr/bin"))
        .chain(std::env::split_paths(&path))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A chromedriver process and the browser session it drives.
pub struct Browser {
    pub client: Client,
    driver: Child,
    driver_url: String,
    _profile: tempfile::TempDir,
    axe_js: String,
    shots: PathBuf,
    /// Pages checked by axe, with their screenshot file.
    pub visited: Vec<(String, PathBuf)>,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session; fails with install instructions when
    /// either program or axe-core is missing.
    pub async fn start(repo: &Path) -> Browser {
        let driver_bin = find_program("PFORGE_CHROMEDRIVER", "chromedriver").unwrap_or_else(|| {
            panic!(
                "chromedriver not found: install Debian's Chromium and its driver with \
                 `apt-get install -y chromium chromium-driver` (as root; .ci/run does it), or set \
                 PFORGE_CHROMEDRIVER to its path"
            )
        });
        let chromium = find_program("PFORGE_CHROMIUM", "chromium").unwrap_or_else(|| {
            panic!(
                "chromium not found: install it with `apt-get install -y chromium chromium-driver` \
                 (as root; .ci/run does it), or set PFORGE_CHROMIUM to its path"
            )
        });
        let axe_path = std::env::var("PFORGE_AXE_JS").unwrap_or_else(|_| {
            panic!(
                "PFORGE_AXE_JS is not set: it must name axe-core's axe.min.js, e.g. \
                 `npm install --prefix ~/.cache/pforge-axe/4.14.1 axe-core@4.14.1` then \
                 PFORGE_AXE_JS=~/.cache/pforge-axe/4.14.1/node_modules/axe-core/axe.min.js \
                 (.ci/run does both)"
            )
        });
        let axe_js = std::fs::read_to_string(&axe_path)
            .unwrap_or_else(|e| panic!("PFORGE_AXE_JS={axe_path}: cannot read it ({e})"));
        let port = free_port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver_bin.display()));
        let profile = tempfile::tempdir().expect("tempdir for the browser profile");
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args },
        });
        let caps = caps.as_object().cloned().expect("an object");
        let url = format!("http://127.0.0.1:{port}");
        let start = Instant::now();
        let client = loop {
            let mut builder = ClientBuilder::new(HttpConnector::new());
            match builder.capabilities(caps.clone()).connect(&url).await {
                Ok(c) => break c,
                Err(e) if start.elapsed() < Duration::from_secs(30) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("no browser session from chromedriver at {url} within 30 s: {e}"),
            }
        };
        let shots = repo.join("target/ui-screenshots");
        std::fs::create_dir_all(&shots).expect("create target/ui-screenshots");
        Browser {
            client,
            driver,
            driver_url: url,
            _profile: profile,
            axe_js,
            shots,
            visited: Vec::new(),
        }
    }

    /// Makes pages match `prefers-color-scheme: dark` from now on (Chromium's
    /// `Emulation.setEmulatedMedia` through chromedriver's CDP endpoint; it outlives navigation).
    pub async fn emulate_dark(&self) {
        let session = self
            .client
            .session_id()
            .await
            .expect("session id")
            .expect("a session");
        let r = reqwest::Client::new()
            .post(format!(
                "{}/session/{session}/goog/cdp/execute",
                self.driver_url
            ))
            .json(&json!({
                "cmd": "Emulation.setEmulatedMedia",
                "params": { "features": [{ "name": "prefers-color-scheme", "value": "dark" }] },
            }))
            .send()
            .await
            .expect("chromedriver CDP endpoint");
        assert!(
            r.status().is_success(),
            "CDP: {}",
            r.text().await.unwrap_or_default()
        );
    }

    /// Opens `url` and waits for the document to be complete.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The current URL's path and query.
    pub async fn path(&self) -> String {
        let u = self.client.current_url().await.expect("current url");
        match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        }
    }

    /// Waits until the element matching `css` exists and its text contains `text`; returns its
    /// text. hx-boost swaps pages in place, so clicks return before the new page is there.
    pub async fn wait_text(&self, css: &str, text: &str) -> String {
        let start = Instant::now();
        let mut last = String::new();
        loop {
            if let Ok(els) = self.client.find_all(Locator::Css(css)).await {
                for el in els {
                    if let Ok(t) = el.text().await {
                        // Case-insensitive: CSS upper-cases table headings.
                        if t.to_lowercase().contains(&text.to_lowercase()) {
                            return t;
                        }
                        last = t;
                    }
                }
            }
            assert!(
                start.elapsed() < WAIT,
                "{css:?} never showed {text:?} within {WAIT:?} (last text {last:?}, at {})",
                self.path().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The text of the element matching `css`, read again if a live page replaced the element
    /// between finding and reading it (the job page swaps its progress in as the job goes).
    pub async fn text(&self, css: &str) -> String {
        let start = Instant::now();
        loop {
            match self.find(css).await.text().await {
                Ok(t) => return t,
                Err(e) => assert!(
                    start.elapsed() < WAIT,
                    "could not read the text of {css:?} within {WAIT:?}: {e}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the current path (with query) satisfies `ok`.
    pub async fn wait_path(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let p = self.path().await;
            if ok(&p) {
                return p;
            }
            assert!(
                start.elapsed() < WAIT,
                "never reached {what} (still at {p})"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The one element matching `css` (waiting for it to appear).
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(el) => el,
            Err(e) => panic!("no element {css:?} at {}: {e}", self.path().await),
        }
    }

    /// Runs JavaScript in the page and returns its value.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script {script:?}: {e}"))
    }

    /// Saves a full-page screenshot as `target/ui-screenshots/<name>.png` and runs axe-core on
    /// the page, failing on any serious or critical violation (listed with their elements).
    pub async fn check_page(&mut self, name: &str) {
        let file = self.screenshot(name).await;
        let violations = self.axe().await;
        let bad: Vec<&Value> = violations
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        assert!(
            bad.is_empty(),
            "axe-core found {} serious/critical accessibility violation(s) on {name} ({}):\n{}",
            bad.len(),
            self.path().await,
            bad.iter()
                .map(|v| describe(v))
                .collect::<Vec<_>>()
                .join("\n")
        );
        for v in &violations {
            eprintln!("axe (minor, {name}): {}", describe(v));
        }
        self.visited.push((name.to_string(), file));
    }

    /// A PNG of the whole page (the window grows to the document's height for the shot).
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let height = self
            .js("return Math.ceil(document.documentElement.scrollHeight);")
            .await
            .as_u64()
            .unwrap_or(900)
            .clamp(600, 6000) as u32;
        self.client
            .set_window_size(1280, height + 90)
            .await
            .expect("resize the window");
        let png = self.client.screenshot().await.expect("screenshot");
        self.client
            .set_window_size(1280, 900)
            .await
            .expect("resize the window back");
        let file = self.shots.join(format!("{name}.png"));
        std::fs::write(&file, png).unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
        file
    }

    /// axe-core's violations on the current page (injected fresh: pages swap in place).
    pub async fn axe(&self) -> Vec<Value> {
        self.client
            .execute(&self.axe_js, vec![])
            .await
            .expect("inject axe-core");
        let r = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];\
                 axe.run(document, { resultTypes: ['violations'] })\
                   .then(r => done(r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,\
                     nodes: v.nodes.map(n => ({ target: n.target.join(' '), summary: n.failureSummary })) }))))\
                   .catch(e => done({ error: String(e) }));",
                vec![],
            )
            .await
            .expect("run axe-core");
        if let Some(e) = r.get("error") {
            panic!("axe-core failed: {e}");
        }
        r.as_array().cloned().unwrap_or_default()
    }
}

/// One violation, one line per element.
fn describe(v: &Value) -> String {
    let nodes = v["nodes"]
        .as_array()
        .map(|ns| {
            ns.iter()
                .take(8)
                .map(|n| {
                    format!(
                        "    {} — {}",
                        n["target"].as_str().unwrap_or(""),
                        n["summary"].as_str().unwrap_or("").replace('\n', " ")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    format!(
        "  [{}] {}: {}\n{nodes}",
        v["impact"].as_str().unwrap_or("?"),
        v["id"].as_str().unwrap_or("?"),
        v["help"].as_str().unwrap_or("")
    )
}
