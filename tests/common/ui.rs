//! Helpers of the UI tests: the demo in a temporary database, `pforge ui` started on a free
//! loopback port (its first line is the login URL), and an HTTP session that logs in with it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// URL-encodes a query value.
pub fn enc(s: &str) -> String {
    url_encode(s)
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The demo (epoch 1, then epoch 2 with its changes) in a temporary SQLite file.
pub struct DemoDb {
    pub dir: tempfile::TempDir,
    /// The config of [`DemoDb::with_webhook`], used by every command run on this database.
    pub config: Option<PathBuf>,
    /// The loopback port of the `ops-webhook` alert channel (nothing listens there at first).
    pub hook_port: Option<u16>,
}

/// The secret of the test webhook channel (Standard Webhooks `whsec_` form).
pub const HOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The name of the test webhook channel.
pub const HOOK_CHANNEL: &str = "ops-webhook";

/// The repository's `config/pforge.toml` with its relative paths made absolute (so the copy
/// works from any folder) and `edit` applied, written to `path`.
pub fn write_config(path: &Path, edit: impl FnOnce(String) -> String) -> PathBuf {
    let cfg = std::fs::read_to_string(repo().join("config/pforge.toml")).expect("config");
    let fingerprints = "fingerprints = \"fingerprints\"";
    assert_eq!(
        cfg.matches(fingerprints).count(),
        1,
        "the fingerprints folder"
    );
    let cfg = cfg.replace(
        fingerprints,
        &format!(
            "fingerprints = {:?}",
            repo().join("config/fingerprints").display().to_string()
        ),
    );
    std::fs::write(path, edit(cfg)).expect("write the config");
    path.to_path_buf()
}

/// A free loopback port (nothing listens on it when this returns).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl DemoDb {
    pub fn new() -> DemoDb {
        DemoDb::build(None)
    }

    /// The demo with a second alert recipient, `ops`, on the webhook channel `ops-webhook` at
    /// `http://127.0.0.1:{hook_port}/hooks/partnerforge` beside the built-in `console` (stdout)
    /// one, so that the outbox holds webhook alerts whose delivery can really fail, under a
    /// channel name that says what it is.
    pub fn with_webhook() -> DemoDb {
        DemoDb::build(Some(free_port()))
    }

    fn build(hook_port: Option<u16>) -> DemoDb {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = hook_port.map(|port| {
            write_config(&dir.path().join("hook.toml"), |cfg| {
                let rule = "recipients = [\"console\"]";
                assert_eq!(cfg.matches(rule).count(), 1, "the demo's alert rule");
                cfg.replace(rule, "recipients = [\"console\", \"ops\"]")
                    + &format!(
                        "\n[alerts.channels.{HOOK_CHANNEL}]\nkind = \"webhook\"\n\
                         url = \"http://127.0.0.1:{port}/hooks/partnerforge\"\n\
                         secret_env = \"PFORGE_TEST_HOOK_SECRET\"\n\n\
                         [alerts.recipients.ops]\nchannel = \"{HOOK_CHANNEL}\"\n\
                         min_level = \"high\"\ndelivery = \"immediate\"\n"
                    )
            })
        });
        let db = DemoDb {
            dir,
            config,
            hook_port,
        };
        for epoch in ["1", "2"] {
            let out = db
                .command()
                .args(["demo", "--epoch", epoch, "--json"])
                .output()
                .expect("run the demo");
            // QuantumLeaf's job board answers 500 on purpose: exit 1 at most.
            assert!(
                out.status.code().is_some_and(|c| c <= 1),
                "demo epoch {epoch}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        db
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("demo.db")
    }

    /// `pforge --db <this db>` run from the empty folder (built-in config and recordings, or
    /// the webhook config of [`DemoDb::with_webhook`]).
    pub fn command(&self) -> Command {
        let mut cmd = self.bare_command();
        if let Some(c) = &self.config {
            cmd.arg("--config").arg(c);
        }
        cmd
    }

    /// [`DemoDb::command`] without a `--config` (for a caller that passes its own).
    pub fn bare_command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pforge"));
        cmd.arg("--db")
            .arg(self.db())
            .current_dir(self.dir.path())
            .env_remove("PFORGE_DATABASE_URL")
            .env_remove("PFORGE_CONFIG")
            .env_remove("PFORGE_API_TOKEN")
            .env("PFORGE_TEST_HOOK_SECRET", HOOK_SECRET);
        cmd
    }

    /// Stores an account whose provider data is hostile: a company name with a script, a
    /// description with an `onerror=` attribute, a `javascript:` source URL, a brief with raw HTML.
    pub async fn add_hostile(&self, domain: &str) {
        use pforge_store::{NewSnapshot, NoDerivation};
        let store = pforge_store::open_store(&format!("sqlite://{}", self.db().display()))
            .await
            .expect("open the demo database");
        let cite = serde_json::json!([{
            "source": "javascript:alert(document.cookie)",
            "provider": "homepage",
            "fetched_at": "2024-05-01T12:00:00Z",
            "covers": [""]
        }]);
        for (module, data) in [
            (
                "m01_company_context",
                serde_json::json!({
                    "name": "<script>alert('name')</script>Evil Corp",
                    "description": "<img src=x onerror=alert('description')>",
                    "website": "javascript:alert('website')",
                }),
            ),
            (
                "m15_strategic_brief",
                serde_json::json!({
                    "markdown": "# Evil\n\n<script>alert('brief')</script><a href=\"javascript:alert(1)\">x</a>[1]",
                    "footnotes": [{"n": 1, "source": "javascript:alert('footnote')"}],
                    "missing_modules": [],
                }),
            ),
        ] {
            store
                .save_snapshot(
                    &NewSnapshot {
                        domain: domain.into(),
                        module: module.into(),
                        content_hash: data.to_string(),
                        data,
                        citations: cite.clone(),
                        fetched_at: chrono::Utc::now(),
                        job_id: None,
                        text: None,
                    },
                    &NoDerivation,
                )
                .await
                .expect("store hostile data");
        }
    }

    /// The name of one technology in the latest tech stack of `domain`.
    pub async fn a_technology_of(&self, domain: &str) -> String {
        let store = pforge_store::open_store(&format!("sqlite://{}", self.db().display()))
            .await
            .expect("open the demo database");
        let snap = store
            .latest_snapshot(domain, "m02_tech_stack")
            .await
            .expect("read")
            .expect("a tech stack");
        snap.data["technologies"][0]["name"]
            .as_str()
            .expect("a technology name")
            .to_string()
    }
}

impl DemoDb {
    /// Delivers the demo's pending alerts once with `max_attempts = 1` (a config written beside
    /// the database) while nothing listens on the `ops-webhook` port, so that the webhook's
    /// alerts are dead-lettered as a real failed delivery leaves them (the console's are
    /// delivered). Needs [`DemoDb::with_webhook`]. Returns how many alerts are dead.
    pub async fn dead_letter_alerts(&self) -> usize {
        let config = self
            .config
            .as_ref()
            .expect("dead_letter_alerts needs DemoDb::with_webhook");
        let cfg = std::fs::read_to_string(config).expect("config");
        assert_eq!(cfg.matches("max_attempts = 8").count(), 1);
        let path = self.dir.path().join("dead-webhook.toml");
        std::fs::write(&path, cfg.replace("max_attempts = 8", "max_attempts = 1"))
            .expect("write the config");
        let out = self
            .bare_command()
            .arg("--config")
            .arg(&path)
            .args(["alerts", "deliver"])
            .output()
            .expect("run pforge alerts deliver");
        let store = pforge_store::open_store(&format!("sqlite://{}", self.db().display()))
            .await
            .expect("open the demo database");
        let dead = store
            .list_alerts(Some(pforge_store::AlertStatus::Dead), 1000)
            .await
            .expect("list alerts");
        assert!(
            !dead.is_empty(),
            "no alert was dead-lettered: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for a in &dead {
            assert_eq!(a.channel, HOOK_CHANNEL, "only the webhook fails: {a:?}");
        }
        dead.len()
    }

    /// Stores a new version of `domain`'s tech stack: the latest one plus the technology `name`
    /// (what a later enrichment that found it would store).
    pub async fn add_tech_version(&self, domain: &str, name: &str) {
        use pforge_store::{NewSnapshot, NoDerivation};
        let store = pforge_store::open_store(&format!("sqlite://{}", self.db().display()))
            .await
            .expect("open the demo database");
        let latest = store
            .latest_snapshot(domain, "m02_tech_stack")
            .await
            .expect("read")
            .expect("a tech stack");
        let mut data = latest.data.clone();
        let mut added = data["technologies"][0].clone();
        added["name"] = serde_json::json!(name);
        data["technologies"]
            .as_array_mut()
            .expect("a list of technologies")
            .push(added);
        store
            .save_snapshot(
                &NewSnapshot {
                    domain: domain.into(),
                    module: "m02_tech_stack".into(),
                    content_hash: data.to_string(),
                    data,
                    citations: latest.citations.clone(),
                    fetched_at: chrono::Utc::now(),
                    job_id: None,
                    text: None,
                },
                &NoDerivation,
            )
            .await
            .expect("store the new version");
    }

    /// Stores one version of `domain`'s intent scoring per score, oldest first (what that many
    /// enrichments with changing signals would store).
    pub async fn add_intent_versions(&self, domain: &str, scores: &[i64]) {
        use pforge_store::{NewSnapshot, NoDerivation};
        let store = pforge_store::open_store(&format!("sqlite://{}", self.db().display()))
            .await
            .expect("open the demo database");
        for score in scores {
            let data = serde_json::json!({"score": score, "level": "warm"});
            store
                .save_snapshot(
                    &NewSnapshot {
                        domain: domain.into(),
                        module: "m14_signal_scoring".into(),
                        content_hash: data.to_string(),
                        data,
                        citations: serde_json::json!([{
                            "source": "https://news.example/a",
                            "provider": "news",
                            "fetched_at": "2024-05-01T12:00:00Z",
                            "covers": [""]
                        }]),
                        fetched_at: chrono::Utc::now(),
                        job_id: None,
                        text: None,
                    },
                    &NoDerivation,
                )
                .await
                .expect("store an intent version");
        }
    }

    /// The source URLs of the citations of `domain`'s latest `module` version.
    pub async fn citation_urls(&self, domain: &str, module: &str) -> Vec<String> {
        let store = pforge_store::open_store(&format!("sqlite://{}", self.db().display()))
            .await
            .expect("open the demo database");
        let snap = store
            .latest_snapshot(domain, module)
            .await
            .expect("read")
            .expect("a version");
        snap.citations
            .as_array()
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c["source"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A copy of the repository's fixtures with `edit(epoch folder, manifest text)` applied to the
/// manifest of each epoch.
pub fn fixtures_copy(edit: impl Fn(&str, String) -> String) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for e in std::fs::read_dir(from).expect("read fixtures") {
            let e = e.expect("entry");
            let target = to.join(e.file_name());
            if e.file_type().expect("type").is_dir() {
                copy(&e.path(), &target);
            } else {
                std::fs::copy(e.path(), &target).expect("copy a fixture");
            }
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    copy(&repo().join("fixtures"), dir.path());
    for epoch in ["epoch1", "epoch2"] {
        let manifest = dir.path().join(epoch).join("manifest.toml");
        let text = std::fs::read_to_string(&manifest).expect("manifest");
        std::fs::write(&manifest, edit(epoch, text)).expect("write manifest");
    }
    dir
}

/// A copy of the repository's fixtures where every recorded answer takes `delay_ms` to come:
/// re-enrich jobs then run long enough to watch their progress and to cancel them.
pub fn slow_fixtures(delay_ms: u64) -> tempfile::TempDir {
    fixtures_copy(|epoch, text| {
        let slow = text.replace(
            "[[route]]\n",
            &format!("[[route]]\ndelay_ms = {delay_ms}\n"),
        );
        assert!(slow.contains("delay_ms"), "{epoch} has routes");
        slow
    })
}

/// A running `pforge ui`, stopped when dropped.
pub struct Ui {
    child: Child,
    pub base: String,
    pub login_url: String,
    _fixtures: pforge_fixture_server::FixtureServer,
}

impl Drop for Ui {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client that does not follow redirects (tests look at them).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

impl Ui {
    /// Starts `pforge ui --bind 127.0.0.1:0` over the demo database with providers pointed at
    /// a fixture server of epoch 2 (for re-enrich), and reads the login URL from its first line.
    pub async fn start(demo: &DemoDb) -> Ui {
        Ui::start_with(demo, &repo().join("fixtures"), None).await
    }

    /// [`Ui::start`] with the fixtures read from `fixtures` (e.g. [`slow_fixtures`]) and, when
    /// `token` is given, that API token (for the login form). Standard output is read to its end
    /// so that the stdout alert channel never writes into a closed pipe.
    pub async fn start_with(demo: &DemoDb, fixtures: &Path, token: Option<&str>) -> Ui {
        Ui::start_configured(demo, fixtures, token, None).await
    }

    /// [`Ui::start_with`] reading its configuration from `config` (`--config`) when given.
    pub async fn start_configured(
        demo: &DemoDb,
        fixtures: &Path,
        token: Option<&str>,
        config: Option<&Path>,
    ) -> Ui {
        let fixtures = pforge_fixture_server::FixtureServer::start(
            fixtures,
            2,
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        )
        .await
        .expect("fixture server");
        let mut cmd = match config {
            Some(c) => {
                let mut cmd = demo.bare_command();
                cmd.arg("--config").arg(c);
                cmd
            }
            None => demo.command(),
        };
        cmd.args(["ui", "--bind", "127.0.0.1:0", "--fixtures-url"])
            .arg(fixtures.url())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(t) = token {
            cmd.env("PFORGE_API_TOKEN", t);
        }
        let mut child = cmd.spawn().expect("start pforge ui");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("pforge ui printed no first line within 60 s");
        let login_url = line.trim().to_string();
        assert!(
            login_url.starts_with("http://127.0.0.1:") && login_url.contains("/login?code="),
            "first line: {login_url:?}"
        );
        let base = login_url[..login_url.find("/login").unwrap()].to_string();
        Ui {
            child,
            base,
            login_url,
            _fixtures: fixtures,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The origin browsers send with this UI's forms.
    pub fn origin(&self) -> String {
        self.base.clone()
    }

    /// Logs in with the one-time code and reads the CSRF token from a page.
    pub async fn login(&self) -> Session {
        let c = client();
        let r = c.get(&self.login_url).send().await.expect("login");
        assert_eq!(r.status(), 303, "login with the code");
        let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        let cookie = cookie.split(';').next().unwrap().to_string();
        let mut s = Session {
            client: c,
            base: self.base.clone(),
            cookie,
            csrf: String::new(),
        };
        let page = s.get("/jobs").await;
        let marker = "name=\"csrf\" value=\"";
        let at = page.body.find(marker).expect("a CSRF field on every page") + marker.len();
        s.csrf = page.body[at..at + 64].to_string();
        s
    }
}

/// A logged-in HTTP session.
pub struct Session {
    client: reqwest::Client,
    base: String,
    cookie: String,
    pub csrf: String,
}

/// An answer: status, headers (lower-case names), body.
pub struct Page {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: String,
}

async fn page(r: reqwest::Response) -> Page {
    let status = r.status().as_u16();
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    Page {
        status,
        headers,
        body: r.text().await.unwrap_or_default(),
    }
}

impl Session {
    pub async fn get(&self, path: &str) -> Page {
        page(
            self.client
                .get(format!("{}{path}", self.base))
                .header("cookie", &self.cookie)
                .send()
                .await
                .expect("GET"),
        )
        .await
    }

    /// POSTs a form from this origin (`same_origin`) or without an Origin header.
    pub async fn post(&self, path: &str, form: &[(&str, &str)], same_origin: bool) -> Page {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .form(form);
        if same_origin {
            req = req.header("origin", &self.base);
        }
        page(req.send().await.expect("POST")).await
    }

    pub async fn post_with_origin(&self, path: &str, form: &[(&str, &str)], origin: &str) -> Page {
        page(
            self.client
                .post(format!("{}{path}", self.base))
                .header("cookie", &self.cookie)
                .header("origin", origin)
                .form(form)
                .send()
                .await
                .expect("POST"),
        )
        .await
    }

    /// The add-domains form, as a browser sends it (multipart, CSRF token in the action URL).
    pub async fn add_domains(&self, text: &str) -> Page {
        let boundary = "pforge-test-boundary-7d1c";
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"domains\"\r\n\r\n{text}\r\n--{boundary}--\r\n"
        );
        page(
            self.client
                .post(format!("{}/accounts/add?csrf={}", self.base, self.csrf))
                .header("cookie", &self.cookie)
                .header("origin", &self.base)
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(body)
                .send()
                .await
                .expect("POST"),
        )
        .await
    }

    /// Polls a job page until the job is no longer running (at most 120 s); returns the page.
    pub async fn wait_for_job(&self, path: &str) -> String {
        let start = Instant::now();
        loop {
            let p = self.get(path).await;
            assert_eq!(p.status, 200, "{path}: {}", p.body);
            if !p.body.contains("status-running\">running") {
                return p.body;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "job still running after 120 s"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

/// A webhook endpoint on a loopback port: answers 204 to every request and keeps each
/// request's head (request line and headers), so a test can see what a retried alert sent.
pub struct HookReceiver {
    pub requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HookReceiver {
    /// Starts listening on `127.0.0.1:port` (the endpoint "comes back").
    pub async fn start(port: u16) -> HookReceiver {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("listen on the webhook port");
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    // Read the head, then as much body as Content-Length says.
                    let (head, body_len) = loop {
                        let Ok(n) = conn.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).to_string();
                            let len = head
                                .lines()
                                .find_map(|l| {
                                    let (k, v) = l.split_once(':')?;
                                    k.eq_ignore_ascii_case("content-length")
                                        .then(|| v.trim().parse::<usize>().ok())
                                        .flatten()
                                })
                                .unwrap_or(0);
                            break (head, end + 4 + len);
                        }
                    };
                    while buf.len() < body_len {
                        let Ok(n) = conn.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            break;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    if let Ok(mut s) = seen.lock() {
                        s.push(head);
                    }
                    let _ = conn
                        .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                        .await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        HookReceiver { requests, task }
    }

    /// The heads of the requests received so far.
    pub fn received(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}
