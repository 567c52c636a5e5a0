//! Helpers for the daemon end-to-end tests: a sandbox config with a `[daemon]` section of the
//! test's choosing, a running `pforge daemon` child process, and an HTTP client for its API.
#![allow(dead_code)]

use crate::common::{repo, Sandbox};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The token the tests' daemons require.
pub const TOKEN: &str = "test-token-0123456789abcdef";
/// The environment variable the tests' configs name for the token.
pub const TOKEN_ENV: &str = "PFORGE_E2E_API_TOKEN";

/// Replaces the config's `[daemon]` tables (wherever they are) with `daemon_toml`, and applies
/// plain text replacements to the rest.
pub fn configure(sb: &Sandbox, daemon_toml: &str, replacements: &[(&str, &str)]) {
    let text = std::fs::read_to_string(sb.config()).expect("read sandbox config");
    let mut kept = String::new();
    let mut skipping = false;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with('[') {
            skipping = t.starts_with("[daemon") || t.starts_with("[[daemon");
        }
        if !skipping {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    for (from, to) in replacements {
        assert!(kept.contains(from), "config has no {from:?}");
        kept = kept.replacen(from, to, 1);
    }
    kept.push('\n');
    kept.push_str(daemon_toml);
    std::fs::write(sb.config(), kept).expect("write sandbox config");
}

/// A running `pforge daemon`; killed (SIGKILL) if the test ends without stopping it.
pub struct Daemon {
    pub child: Option<Child>,
    /// Kept open so the daemon never writes into a closed pipe.
    _stdout: BufReader<std::process::ChildStdout>,
    pub base: String,
    pub stderr_path: std::path::PathBuf,
}

impl Daemon {
    /// Starts the daemon on a free loopback port and waits for its address line.
    pub fn start(sb: &Sandbox, fixtures_url: &str, log_name: &str) -> Daemon {
        let db = format!("sqlite://{}", sb.db().display());
        Daemon::start_with_db(sb, fixtures_url, log_name, &db)
    }

    /// [`Daemon::start`] over the database at `db_url` (e.g. a PostgreSQL test schema).
    pub fn start_with_db(sb: &Sandbox, fixtures_url: &str, log_name: &str, db_url: &str) -> Daemon {
        let stderr_path = sb.dir.path().join(log_name);
        let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_pforge"))
            .arg("--config")
            .arg(sb.config())
            .arg("--database-url")
            .arg(db_url)
            .args([
                "-v",
                "daemon",
                "--bind",
                "127.0.0.1:0",
                "--fixtures-url",
                fixtures_url,
            ])
            .current_dir(repo())
            .env_remove("PFORGE_DATABASE_URL")
            .env_remove("PFORGE_CONFIG")
            .env(TOKEN_ENV, TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("spawn pforge daemon");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        let mut stdout = BufReader::new(stdout);
        stdout.read_line(&mut line).expect("read address line");
        let base = line
            .trim()
            .rsplit(' ')
            .next()
            .filter(|u| u.starts_with("http://"))
            .unwrap_or_else(|| {
                panic!(
                    "no address line ({line:?}); stderr:\n{}",
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                )
            })
            .to_string();
        Daemon {
            child: Some(child),
            _stdout: stdout,
            base,
            stderr_path,
        }
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Sends SIGTERM and waits up to `limit` for the exit; returns the status and how long it took.
    pub fn terminate(&mut self, limit: Duration) -> (ExitStatus, Duration) {
        let mut child = self.child.take().expect("daemon running");
        let pid = child.id().to_string();
        let started = Instant::now();
        let ok = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(ok.success(), "kill -TERM failed");
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return (status, started.elapsed());
            }
            if started.elapsed() > limit {
                child.kill().ok();
                panic!(
                    "daemon did not exit within {limit:?} of SIGTERM; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().ok();
        }
    }
}

/// A small blocking-free client: every call returns (status, JSON body or Null).
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn new(base: &str) -> Api {
        Api {
            base: base.to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
        }
    }

    /// Sends `method path` with an optional JSON body, with `token` as bearer when given.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Authenticated call.
    pub async fn auth(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.call(method, path, body, Some(TOKEN)).await
    }

    /// The raw `/metrics` text.
    pub async fn scrape(&self) -> String {
        let resp = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("scrape");
        assert_eq!(resp.status().as_u16(), 200);
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(
            ct.contains("openmetrics-text") || ct.contains("text/plain"),
            "{ct}"
        );
        resp.text().await.unwrap()
    }

    /// Polls `GET /jobs/{id}` until its status is `want` or `limit` passes; returns the body.
    pub async fn wait_job(&self, id: &str, want: &str, limit: Duration) -> Value {
        let started = Instant::now();
        loop {
            let (status, body) = self.auth("GET", &format!("/api/v1/jobs/{id}"), None).await;
            if status == 200 && body["job"]["status"] == want {
                return body;
            }
            assert!(
                started.elapsed() < limit,
                "job {id} not {want} within {limit:?}: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Sum of every sample of a metric family whose line starts with `prefix` (name and labels).
pub fn metric_sum(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Copies a folder tree (fixtures) so a test can alter it.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
