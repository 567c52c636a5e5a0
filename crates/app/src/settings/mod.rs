//! Settings: the config file, the environment and the flags, resolved ONCE into one object that
//! every operation reads (ripgrep's `HiArgs` model). Parsing happens here and nowhere else: the
//! versioning rules, module TTLs, providers and run knobs are checked when the settings are
//! built, so a misconfiguration fails at start with one line naming the key, never in a retry
//! loop of a worker.

mod config;
mod daemon;
pub mod embedded;

pub use config::{
    parse_duration, Config, DurationError, EstimateConfig, ModuleSettings, RunConfig, EMBEDDED,
};
pub use daemon::{
    DaemonConfig, DaemonSettings, Refresh, RefreshConfig, ScheduleConfig, DEFAULT_BIND,
    DEFAULT_TOKEN_ENV,
};

use crate::error::{AppError, AppResult};
use pforge_versioning::VersioningConfig;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

/// Where the settings come from besides the file: what a front end read from its flags and the
/// environment. Every field is optional; `None` means "the file's value, or the default".
#[derive(Debug, Clone, Default)]
pub struct SettingsSources {
    /// `--config` / `PFORGE_CONFIG`.
    pub config: Option<PathBuf>,
    /// `--database-url` / `PFORGE_DATABASE_URL`.
    pub database_url: Option<String>,
    /// `--db PATH` (shorthand for a SQLite URL; wins over `database_url`).
    pub db_path: Option<PathBuf>,
    /// Point every provider at this fixture server (offline runs and tests).
    pub fixtures_url: Option<String>,
    /// A Wappalyzer-format fingerprint folder instead of the config's.
    pub fingerprints: Option<PathBuf>,
    /// Most module runs in progress at once.
    pub concurrency: Option<usize>,
    /// Seconds before a module run is abandoned as failed.
    pub module_timeout_secs: Option<f64>,
}

/// Knobs of every run, with flags applied.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub concurrency: usize,
    pub module_timeout: Duration,
}

/// Everything resolved. Cheap to share behind an `Arc`; never re-parsed.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The config file as parsed, with the fixture URL and fingerprint overrides applied.
    pub config: Config,
    /// `[significance]`, `[alerts]`, `[retention]`, parsed and validated.
    pub versioning: VersioningConfig,
    /// Freshness TTL per module id (`[modules.<id>] ttl`).
    pub ttls: HashMap<String, Duration>,
    /// The database the operations use.
    pub database_url: String,
    pub run: RunSettings,
    /// The fixture server every provider points at, if any (workers the daemon runs inherit it).
    pub fixtures_url: Option<String>,
}

impl Settings {
    /// Loads the config file and applies `sources`; every mistake is a [`AppError::Config`]
    /// naming the key and the fix.
    pub fn resolve(sources: &SettingsSources) -> AppResult<Settings> {
        let config = Config::load(sources.config.as_deref())?;
        Settings::from_config(config, sources)
    }

    /// Resolves settings over an already loaded config file (tests, the demo's own config).
    pub fn from_config(mut config: Config, sources: &SettingsSources) -> AppResult<Settings> {
        if let Some(url) = &sources.fixtures_url {
            config.use_fixture_server(url);
        }
        if let Some(dir) = &sources.fingerprints {
            config.intelligence.tech_stack.fingerprints = Some(absolute(dir)?);
        }
        let versioning = config.versioning()?;
        let ttls = config.ttls()?;
        config.estimate.validate()?;
        let concurrency = sources.concurrency.unwrap_or(config.run.concurrency);
        if concurrency == 0 {
            return Err(AppError::config(
                "concurrency must be at least 1 (--concurrency or [run] concurrency)",
            ));
        }
        let timeout = sources
            .module_timeout_secs
            .unwrap_or(config.run.module_timeout_secs);
        if !(timeout.is_finite() && timeout > 0.0) {
            return Err(AppError::config(format!(
                "module timeout {timeout} is not a positive number of seconds (--module-timeout or [run] module_timeout_secs)"
            )));
        }
        Ok(Settings {
            database_url: database_url(sources),
            run: RunSettings {
                concurrency,
                module_timeout: Duration::from_secs_f64(timeout.max(0.01)),
            },
            fixtures_url: sources.fixtures_url.clone(),
            config,
            versioning,
            ttls,
        })
    }

    /// `[daemon]` checked, with `--bind` applied: only the daemon and `pforge ui` need it (it
    /// requires the API token).
    pub fn daemon(&self, bind: Option<&str>) -> AppResult<DaemonSettings> {
        self.config
            .daemon
            .resolve(bind, &self.config.source, &self.config.base_dir)
    }

    /// Whether the database is PostgreSQL (shared by many workers) rather than a SQLite file.
    pub fn is_postgres(&self) -> bool {
        let url = self.database_url.to_ascii_lowercase();
        url.starts_with("postgres://") || url.starts_with("postgresql://")
    }

    /// The database URL without its password, for messages.
    pub fn redacted_database_url(&self) -> String {
        redact_url(&self.database_url)
    }
}

/// The database URL from flags, environment, or the embedded default `sqlite://pforge.db`.
fn database_url(sources: &SettingsSources) -> String {
    if let Some(db) = &sources.db_path {
        return format!("sqlite://{}", db.display());
    }
    sources
        .database_url
        .clone()
        .unwrap_or_else(|| "sqlite://pforge.db".to_string())
}

/// A URL without its password, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

fn absolute(p: &std::path::Path) -> AppResult<PathBuf> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    let cwd = std::env::current_dir()
        .map_err(|e| AppError::io("cannot read the working directory", e))?;
    Ok(cwd.join(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_and_mistakes_are_config_errors() {
        let cfg = Config::parse(EMBEDDED, "embedded", PathBuf::from(".")).unwrap();
        let s = Settings::from_config(
            cfg.clone(),
            &SettingsSources {
                concurrency: Some(3),
                db_path: Some("x.db".into()),
                fixtures_url: Some("http://127.0.0.1:9".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(s.run.concurrency, 3);
        assert_eq!(s.database_url, "sqlite://x.db");
        assert!(s.config.providers["homepage"]
            .base_url
            .starts_with("http://127.0.0.1:9"));
        let err = Settings::from_config(
            cfg,
            &SettingsSources {
                module_timeout_secs: Some(-1.0),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(matches!(err, AppError::Config(_)), "{err}");
        assert!(err.to_string().contains("--module-timeout"), "{err}");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("sqlite://pforge.db"), "sqlite://pforge.db");
    }
}
