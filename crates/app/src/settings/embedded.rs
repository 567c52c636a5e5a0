//! The default config (with the curated fingerprints) and the demo's recordings, shipped inside
//! the binary, so that a user who installed `pforge` and runs it from any folder gets the same
//! product as a checkout of the repository. Loaders read folders, so the embedded trees are
//! written once to a folder of their own under the system's temporary directory, named by a hash
//! of their contents: later runs (and concurrent ones) reuse it, and a new binary with other
//! contents never sees a stale copy.

use crate::error::{AppError, AppResult};
use include_dir::{include_dir, Dir, DirEntry};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// `config/`: `pforge.toml` and the curated fingerprints.
static CONFIG: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../config");

/// The demo's recordings: both epochs, the demo accounts and the demo rank list.
static FIXTURES_EPOCH1: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../fixtures/epoch1");
static FIXTURES_EPOCH2: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../fixtures/epoch2");
const DEMO_ACCOUNTS: &[u8] = include_bytes!("../../../../fixtures/demo-accounts.csv");
const DEMO_RANKS: &[u8] = include_bytes!("../../../../fixtures/tranco-demo.csv");

/// The folder holding the embedded `config/` (with `pforge.toml` and `fingerprints/`).
pub fn config_dir() -> AppResult<PathBuf> {
    materialize("config", &[("", &CONFIG)], &[])
}

/// The folder holding the embedded demo fixtures (`epoch1/`, `epoch2/`, `demo-accounts.csv`,
/// `tranco-demo.csv`), in the layout the fixture server reads.
pub fn fixtures_dir() -> AppResult<PathBuf> {
    materialize(
        "fixtures",
        &[("epoch1", &FIXTURES_EPOCH1), ("epoch2", &FIXTURES_EPOCH2)],
        &[
            ("demo-accounts.csv", DEMO_ACCOUNTS),
            ("tranco-demo.csv", DEMO_RANKS),
        ],
    )
}

/// Writes the trees and files into `<tmp>/pforge-<name>-<hash>/` unless a complete copy is
/// already there; the copy is assembled under a unique name and renamed into place, so a reader
/// never sees half of it.
fn materialize(
    name: &str,
    dirs: &[(&str, &Dir<'static>)],
    files: &[(&str, &[u8])],
) -> AppResult<PathBuf> {
    let mut hash = Sha256::new();
    for (prefix, dir) in dirs {
        hash_dir(&mut hash, prefix, dir);
    }
    for (path, bytes) in files {
        hash.update(path.as_bytes());
        hash.update(bytes);
    }
    let root = std::env::temp_dir();
    let digest = hash.finalize();
    let short: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let target = root.join(format!(
        "pforge-{name}-{}-{short}",
        env!("CARGO_PKG_VERSION")
    ));
    if target.join(".complete").is_file() {
        return Ok(target);
    }
    let staging = root.join(format!(".pforge-{name}-{}", uuid::Uuid::new_v4().simple()));
    let write = || -> std::io::Result<()> {
        for (prefix, dir) in dirs {
            write_dir(&staging.join(prefix), dir)?;
        }
        for (path, bytes) in files {
            let p = staging.join(path);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(p, bytes)?;
        }
        std::fs::write(staging.join(".complete"), b"")?;
        Ok(())
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(AppError::io(
            format!("writing the built-in {name} to {}", staging.display()),
            e,
        ));
    }
    match std::fs::rename(&staging, &target) {
        Ok(()) => Ok(target),
        // Another process put a complete copy there first: use it.
        Err(_) if target.join(".complete").is_file() => {
            let _ = std::fs::remove_dir_all(&staging);
            Ok(target)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(AppError::io(
                format!("moving the built-in {name} into {}", target.display()),
                e,
            ))
        }
    }
}

fn write_dir(to: &Path, dir: &Dir<'static>) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in dir.entries() {
        match entry {
            DirEntry::Dir(d) => write_dir(&to.join(file_name(d.path())), d)?,
            DirEntry::File(f) => std::fs::write(to.join(file_name(f.path())), f.contents())?,
        }
    }
    Ok(())
}

fn file_name(p: &Path) -> &std::ffi::OsStr {
    p.file_name().unwrap_or(p.as_os_str())
}

fn hash_dir(hash: &mut Sha256, prefix: &str, dir: &Dir<'static>) {
    for entry in dir.entries() {
        match entry {
            DirEntry::Dir(d) => hash_dir(hash, prefix, d),
            DirEntry::File(f) => {
                hash.update(prefix.as_bytes());
                hash.update(f.path().to_string_lossy().as_bytes());
                hash.update(f.contents());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_trees_are_written_once_and_complete() {
        let config = config_dir().unwrap();
        assert!(config.join("pforge.toml").is_file());
        assert!(config.join("fingerprints/technologies/a.json").is_file());
        assert_eq!(config_dir().unwrap(), config, "reused, not rewritten");
        let fixtures = fixtures_dir().unwrap();
        assert!(fixtures.join("epoch1/manifest.toml").is_file());
        assert!(fixtures.join("epoch2").is_dir());
        assert!(fixtures.join("demo-accounts.csv").is_file());
    }
}
