//! Helpers shared by the end-to-end tests: they drive the real `pforge` binary against the real
//! fixture server on 127.0.0.1 and a real SQLite file in a temporary folder.
#![allow(dead_code)]

use pforge_fixture_server::FixtureServer;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (tests run with the crate folder as working directory).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A scratch folder holding a database and a config that points at the repo's fixtures.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = repo();
        let cfg = std::fs::read_to_string(root.join("config/pforge.toml")).expect("config");
        let fingerprints = root.join("config/fingerprints");
        let rank = root.join("fixtures/tranco-demo.csv");
        let cfg = cfg
            .replace(
                "fingerprints = \"fingerprints\"",
                &format!("fingerprints = {:?}", fingerprints.display().to_string()),
            )
            .replace(
                "[traffic]\n",
                &format!("[traffic]\nrank_list = {:?}\n", rank.display().to_string()),
            );
        std::fs::write(dir.path().join("pforge.toml"), cfg).expect("write config");
        Sandbox { dir }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("pforge.db")
    }

    /// Copies this sandbox's database into `other`, with its write-ahead log when there is
    /// one: the main file alone is only the database once the WAL has been checkpointed.
    pub fn copy_db_to(&self, other: &Sandbox) {
        std::fs::copy(self.db(), other.db()).expect("copy the database");
        for suffix in ["-wal", "-shm"] {
            let from = PathBuf::from(format!("{}{suffix}", self.db().display()));
            let to = PathBuf::from(format!("{}{suffix}", other.db().display()));
            if from.exists() {
                std::fs::copy(&from, &to).expect("copy the database's WAL");
            } else {
                let _ = std::fs::remove_file(&to);
            }
        }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("pforge.toml")
    }

    /// Runs `pforge` with this sandbox's config and database.
    pub fn pforge(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run pforge")
    }

    /// The `pforge` command with this sandbox's config and database, not yet started.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pforge"));
        cmd.arg("--config")
            .arg(self.config())
            .arg("--db")
            .arg(self.db())
            .args(args)
            .current_dir(repo())
            .env_remove("PFORGE_DATABASE_URL")
            .env_remove("PFORGE_CONFIG");
        cmd
    }
}

/// Starts the fixture server on a free loopback port for `epoch` of `dir`.
pub async fn fixtures(dir: &Path, epoch: u32) -> FixtureServer {
    FixtureServer::start(dir, epoch, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("fixture server")
}

/// Parses stdout as JSON, showing stderr when it is not.
pub fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Sum of one counter (`new_version`, `unchanged`, `failed`, ...) over all modules of a summary.
pub fn total(summary: &Value, counter: &str) -> u64 {
    summary["modules"]
        .as_object()
        .map(|m| m.values().map(|c| c[counter].as_u64().unwrap_or(0)).sum())
        .unwrap_or(0)
}

/// The latest data of one module for a domain, via `pforge show --json`.
pub fn show_module(sb: &Sandbox, domain: &str, module: &str) -> Value {
    let out = sb.pforge(&["show", domain, "--module", module, "--json"]);
    assert!(
        out.status.success(),
        "show failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    v["modules"][0].clone()
}
