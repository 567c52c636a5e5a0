//! Helpers for the scale-out tests: a throwaway PostgreSQL schema, a generated fixture tree of
//! many domains, and `pforge worker` processes.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub const PG_ENV: &str = "PFORGE_TEST_DATABASE_URL";

/// A schema of its own on the test database, dropped on drop.
pub struct PgSchema {
    pub base: String,
    pub name: String,
    pub url: String,
}

impl PgSchema {
    /// `None` (after printing why) when PFORGE_TEST_DATABASE_URL is not set.
    pub async fn create() -> Option<PgSchema> {
        let Ok(base) = std::env::var(PG_ENV) else {
            println!("SKIPPED: {PG_ENV} not set (e.g. postgres://postgres@127.0.0.1:5432/test)");
            return None;
        };
        let name = format!("w_{}", uuid::Uuid::new_v4().simple());
        let admin = sqlx::PgPool::connect(&base)
            .await
            .expect("connect to the test database");
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&admin)
            .await
            .expect("create schema");
        admin.close().await;
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{name}");
        Some(PgSchema { base, name, url })
    }

    /// A pool whose connections use this schema.
    pub async fn pool(&self) -> sqlx::PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&self.url)
            .await
            .expect("connect to the test schema")
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let base = self.base.clone();
        let name = self.name.clone();
        // Drop on a fresh runtime in a thread: Drop may run inside the test's runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(admin) = sqlx::PgPool::connect(&base).await {
                    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                        .execute(&admin)
                        .await;
                    admin.close().await;
                }
            });
        })
        .join();
    }
}

/// `n` generated domains (`acme0000.com`, ...).
pub fn generated_domains(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("acme{i:04}.com")).collect()
}

/// Writes an epoch-1 fixture tree serving a homepage and MX/TXT DNS answers for every domain.
pub fn write_fixtures(dir: &Path, domains: &[String]) {
    let epoch = dir.join("epoch1");
    std::fs::create_dir_all(epoch.join("homepage")).unwrap();
    std::fs::create_dir_all(epoch.join("dns")).unwrap();
    let mut manifest = String::new();
    for (i, d) in domains.iter().enumerate() {
        let search = if i % 3 == 0 {
            "<script src=\"https://cdn.jsdelivr.net/npm/algoliasearch@4/dist/algoliasearch-lite.umd.js\"></script>"
        } else {
            ""
        };
        let html = format!(
            "<!DOCTYPE html><html><head><title>{d}</title>\
             <script src=\"https://www.googletagmanager.com/gtag/js?id=G-{i}\"></script>{search}\
             </head><body><h1>Welcome to {d}</h1></body></html>"
        );
        std::fs::write(epoch.join(format!("homepage/{d}.html")), html).unwrap();
        let mx = format!(
            r#"{{"Status":0,"Answer":[{{"name":"{d}","type":15,"TTL":3600,"data":"1 aspmx.l.google.com."}}]}}"#
        );
        let txt = format!(
            r#"{{"Status":0,"Answer":[{{"name":"{d}","type":16,"TTL":3600,"data":"\"v=spf1 include:_spf.google.com ~all\""}}]}}"#
        );
        std::fs::write(epoch.join(format!("dns/{d}-MX.json")), mx).unwrap();
        std::fs::write(epoch.join(format!("dns/{d}-TXT.json")), txt).unwrap();
        manifest.push_str(&format!(
            "[[route]]\nprovider = \"homepage\"\npath = \"/{d}/\"\n\
             headers = {{ \"content-type\" = \"text/html; charset=utf-8\" }}\n\
             body = \"homepage/{d}.html\"\n\n\
             [[route]]\nprovider = \"dns\"\npath = \"\"\nquery = {{ name = \"{d}\", type = \"MX\" }}\n\
             headers = {{ \"content-type\" = \"application/dns-json\" }}\nbody = \"dns/{d}-MX.json\"\n\n\
             [[route]]\nprovider = \"dns\"\npath = \"\"\nquery = {{ name = \"{d}\", type = \"TXT\" }}\n\
             headers = {{ \"content-type\" = \"application/dns-json\" }}\nbody = \"dns/{d}-TXT.json\"\n\n"
        ));
    }
    std::fs::write(epoch.join("manifest.toml"), manifest).unwrap();
}

/// Rewrites the sandbox config for scale tests: the homepage provider costs 1 credit per call
/// (so spend can be compared with calls), caps are out of the way, DNS is not the bottleneck,
/// and `homepage_rate` (if any) becomes the homepage provider's shared rate limit.
pub fn scale_config(config: &Path, homepage_rate: Option<(f64, u32)>) {
    let mut cfg = std::fs::read_to_string(config).unwrap();
    let mut homepage = String::from("[providers.homepage]\ncost = 1.0\ncharge = \"on_success\"\n");
    if let Some((rate, burst)) = homepage_rate {
        homepage.push_str(&format!(
            "rate_limit = {{ per_second = {rate}, burst = {burst} }}\n"
        ));
    }
    assert!(cfg.contains("[providers.homepage]\n"));
    cfg = cfg.replacen("[providers.homepage]\n", &homepage, 1);
    let dns = "rate_limit = { per_second = 20.0, burst = 20 }";
    assert!(
        cfg.contains(dns),
        "dns rate limit line changed in config/pforge.toml"
    );
    cfg = cfg.replacen(dns, "rate_limit = { per_second = 5000.0, burst = 100 }", 1);
    cfg = cfg
        .replace("total_daily = 500.0", "total_daily = 1000000.0")
        .replace("total_monthly = 5000.0", "total_monthly = 1000000.0");
    std::fs::write(config, cfg).unwrap();
}

/// `pforge` with this config and database URL.
pub fn pforge_cmd(config: &Path, db_url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pforge"));
    cmd.arg("--config")
        .arg(config)
        .arg("--database-url")
        .arg(db_url)
        .current_dir(crate::common::repo())
        .env_remove("PFORGE_DATABASE_URL")
        .env_remove("PFORGE_CONFIG");
    cmd
}

/// Runs `pforge` to completion.
pub fn pforge_out(config: &Path, db_url: &str, args: &[&str]) -> Output {
    pforge_cmd(config, db_url)
        .args(args)
        .output()
        .expect("run pforge")
}

/// Starts a `pforge worker` whose log goes to `log`.
pub fn spawn_worker(
    config: &Path,
    db_url: &str,
    fixtures_url: &str,
    log: &Path,
    extra: &[&str],
) -> Child {
    let file = std::fs::File::create(log).unwrap();
    pforge_cmd(config, db_url)
        .args([
            "worker",
            "--fixtures-url",
            fixtures_url,
            "--poll-secs",
            "0.2",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::from(file))
        .spawn()
        .expect("spawn worker")
}

/// Waits for a child with a deadline; kills it and fails if it does not exit in time.
pub async fn wait_exit(
    child: &mut Child,
    secs: u64,
    what: &str,
    log: &Path,
) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "{what} did not exit within {secs}s; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The log of a worker, for failure messages.
pub fn log_text(log: &PathBuf) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

/// Makes every homepage answer of a fixture tree written by [`write_fixtures`] take `ms`
/// milliseconds, so a worker can be caught with calls in flight.
pub fn slow_homepages(dir: &Path, ms: u64) {
    let path = dir.join("epoch1/manifest.toml");
    let manifest = std::fs::read_to_string(&path).unwrap();
    let slow = manifest.replace(".html\"\n\n", &format!(".html\"\ndelay_ms = {ms}\n\n"));
    assert_ne!(slow, manifest, "homepage routes not found in the manifest");
    std::fs::write(path, slow).unwrap();
}

/// Sends `signal` (`STOP`, `CONT`, ...) to a child process.
pub fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {}", child.id());
}
