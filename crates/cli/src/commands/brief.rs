//! `pforge brief DOMAIN [--out PATH] [--json]`: the latest strategic brief (module
//! `m15_strategic_brief`) for one account, printed as Markdown or written to a file.
//!
//! `--out` never writes outside the folder the user chose: given a folder, the file name is
//! derived from the domain (`techstart.io-brief.md`); given a file path, its name is reduced to a
//! safe file name inside its folder; a symlink in the way is refused (see `crate::paths`).

use crate::cli::GlobalArgs;
use crate::{exit, paths};
use anyhow::{Context, Result};
use clap::Args;
use pforge_app::App;
use pforge_core::Domain;
use serde_json::json;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Arguments of `pforge brief`.
#[derive(Debug, Args, Clone)]
pub struct BriefArgs {
    /// The account's domain (a URL or e-mail address works too).
    #[arg(value_name = "DOMAIN")]
    pub domain: String,
    /// Write the brief here instead of standard output: a folder (the file is named after the
    /// domain) or a file path (its name is made safe; it stays in its folder).
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Print (or write) the brief as JSON: Markdown, footnotes, missing modules and version.
    #[arg(long)]
    pub json: bool,
}

/// Runs `pforge brief`.
pub async fn run(global: &GlobalArgs, args: BriefArgs) -> Result<u8> {
    let domain = match Domain::parse(&args.domain) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::BAD_INPUT);
        }
    };
    let app = super::open(global).await?;
    brief(&app, &domain, &args).await
}

/// Reads the latest brief of `domain` and prints or writes it.
pub async fn brief(app: &App, domain: &Domain, args: &BriefArgs) -> Result<u8> {
    let b = match app.brief(domain).await {
        Ok(b) => b,
        Err(e) if e.kind() == pforge_app::ErrorKind::NotFound => {
            eprintln!("error: {e}");
            return Ok(exit::MODULE_FAILURES);
        }
        Err(e) => return Err(e.into()),
    };
    let text = if args.json {
        let mut s = serde_json::to_string_pretty(&json!({
            "domain": domain.as_str(),
            "version": b.version,
            "fetched_at": b.fetched_at,
            "markdown": b.markdown,
            "footnotes": b.footnotes,
            "missing_modules": b.missing_modules,
        }))?;
        s.push('\n');
        s
    } else {
        let mut s = b.markdown.clone();
        if !s.ends_with('\n') {
            s.push('\n');
        }
        s
    };
    match &args.out {
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
        Some(target) => {
            let path = match output_path(target, domain, args.json) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: --out {}: {e}", target.display());
                    return Ok(exit::BAD_INPUT);
                }
            };
            write_atomically(&path, text.as_bytes())
                .with_context(|| format!("writing the brief to {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(exit::OK)
}

/// Where `--out TARGET` writes: inside TARGET when it is a folder (or ends with a separator),
/// else a safe file name inside TARGET's folder.
pub fn output_path(
    target: &Path,
    domain: &Domain,
    json: bool,
) -> Result<PathBuf, paths::PathError> {
    let raw = target.as_os_str().to_string_lossy();
    let names_folder = target.is_dir()
        || raw.ends_with(std::path::MAIN_SEPARATOR)
        || raw.ends_with('/')
        || target.file_name().is_none();
    if names_folder {
        let ext = if json { "json" } else { "md" };
        return paths::safe_output_path(target, &format!("{}-brief.{ext}", domain.as_str()));
    }
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    paths::safe_output_path(dir, &name)
}

/// Writes via a temporary file in the same folder and a rename, so a reader never sees half a
/// brief and an existing symlink is replaced rather than followed.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".pforge-brief-{}.tmp",
        uuid::Uuid::new_v4().simple()
    ));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use pforge_app::queries::BRIEF_MODULE;
    use pforge_app::settings::{Config, EMBEDDED};
    use pforge_app::{OpenOptions, Settings, SettingsSources};
    use pforge_store::prelude::*;
    use pforge_store::{NewSnapshot, NoDerivation, SqliteStore};
    use serde_json::Value;

    fn d(s: &str) -> Domain {
        Domain::parse(s).unwrap()
    }

    #[test]
    fn folder_targets_get_a_domain_derived_name() {
        let tmp = tempfile::tempdir().unwrap();
        let p = output_path(tmp.path(), &d("https://www.TechStart.io/about"), false).unwrap();
        assert_eq!(p, tmp.path().join("techstart.io-brief.md"));
        let p = output_path(tmp.path(), &d("techstart.io"), true).unwrap();
        assert_eq!(p.file_name().unwrap(), "techstart.io-brief.json");
        // A folder that does not exist yet, named with a trailing separator, is created.
        let new = tmp.path().join("briefs/");
        let p = output_path(&new, &d("xn--80ak6aa92e.com"), false).unwrap();
        assert_eq!(p.parent().unwrap(), tmp.path().join("briefs"));
        assert_eq!(p.file_name().unwrap(), "xn--80ak6aa92e.com-brief.md");
    }

    #[test]
    fn file_targets_stay_in_their_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let p = output_path(&tmp.path().join("acme.md"), &d("acme.com"), false).unwrap();
        assert_eq!(p, tmp.path().join("acme.md"));
        // A hostile file name is reduced to one component of the chosen folder.
        let p = output_path(&tmp.path().join("..bashrc"), &d("acme.com"), false).unwrap();
        assert_eq!(p, tmp.path().join("bashrc"));
        for hostile in ["..", "."] {
            let p = output_path(&tmp.path().join(hostile), &d("acme.com"), false).unwrap();
            assert_eq!(p.file_name().unwrap(), "acme.com-brief.md", "{hostile}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim.md");
        std::fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, tmp.path().join("acme.com-brief.md")).unwrap();
        let err = output_path(tmp.path(), &d("acme.com"), false).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    }

    #[tokio::test]
    async fn reads_the_latest_brief_from_sqlite_and_writes_it() {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("t.db");
        let store = SqliteStore::open(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let settings = Settings::from_config(
            Config::parse(EMBEDDED, "embedded", ".".into()).unwrap(),
            &SettingsSources::default(),
        )
        .unwrap();
        let app = App::with_store(
            settings,
            std::sync::Arc::new(store.clone()),
            OpenOptions::one_shot(),
        );
        let args = |out: Option<PathBuf>, json: bool| BriefArgs {
            domain: "acme.com".into(),
            out,
            json,
        };
        // Nothing stored yet: exit 1 with a hint.
        let code = brief(&app, &d("acme.com"), &args(None, false))
            .await
            .unwrap();
        assert_eq!(code, exit::MODULE_FAILURES);

        let data = json!({"markdown": "# Acme: account brief\n\nRuns Algolia[1]\n", "footnotes": [{"n": 1, "source": "https://acme.com/"}], "missing_modules": []});
        let new = NewSnapshot {
            domain: "acme.com".into(),
            module: BRIEF_MODULE.into(),
            data: data.clone(),
            citations: json!([]),
            content_hash: "h1".into(),
            fetched_at: chrono::Utc::now(),
            job_id: None,
            text: None,
        };
        store.save_snapshot(&new, &NoDerivation).await.unwrap();

        let outdir = tmp.path().join("out");
        std::fs::create_dir(&outdir).unwrap();
        let code = brief(&app, &d("acme.com"), &args(Some(outdir.clone()), false))
            .await
            .unwrap();
        assert_eq!(code, exit::OK);
        let written = std::fs::read_to_string(outdir.join("acme.com-brief.md")).unwrap();
        assert!(written.contains("Runs Algolia[1]"));
        let code = brief(
            &app,
            &d("acme.com"),
            &args(Some(outdir.join("b.json")), true),
        )
        .await
        .unwrap();
        assert_eq!(code, exit::OK);
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(outdir.join("b.json")).unwrap()).unwrap();
        assert_eq!(v["footnotes"][0]["source"], "https://acme.com/");
        assert_eq!(v["version"], 1);
        let leftovers: Vec<_> = std::fs::read_dir(&outdir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files cleaned up");
    }
}
