//! `[daemon]` in `pforge.toml`: where the HTTP server listens, the API token, the grace period,
//! cron schedules and freshness refresh. Parsed leniently by serde, then checked once by
//! [`DaemonConfig::resolve`] so that every mistake is reported at start with the key to fix.

use super::parse_duration;
use crate::daemon::schedule::{Schedule, TargetSource};
use crate::error::{AppError, AppResult, ResultExt};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// The address the server binds when neither `[daemon] bind` nor `--bind` says otherwise:
/// loopback only, so nothing is exposed until someone decides to.
pub const DEFAULT_BIND: &str = "127.0.0.1:8480";

/// Environment variable holding the API token unless `[daemon] token_env` names another.
pub const DEFAULT_TOKEN_ENV: &str = "PFORGE_API_TOKEN";

/// `[daemon]`: settings of `pforge daemon`. Every key has a default, so the section is optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// Address of the HTTP server (`/metrics`, health, `/api/v1`).
    #[serde(default = "default_bind")]
    pub bind: String,
    /// The API bearer token itself. Prefer `token_env`, so the secret stays out of the file.
    #[serde(default)]
    pub token: Option<String>,
    /// Environment variable the API token is read from when `token` is not set.
    #[serde(default = "default_token_env")]
    pub token_env: String,
    /// How long in-flight modules may take to finish after SIGTERM/SIGINT before they are
    /// released (left for the next start to redo).
    #[serde(default = "default_grace")]
    pub grace_period: String,
    /// Cron schedules (`[[daemon.schedules]]`).
    #[serde(default)]
    pub schedules: Vec<ScheduleConfig>,
    /// Freshness-driven refresh of the target table (`[daemon.refresh]`).
    #[serde(default)]
    pub refresh: RefreshConfig,
    /// How many worker tasks the daemon runs itself over the work queue its jobs go on (0
    /// leaves the work to `pforge worker` processes started elsewhere).
    #[serde(default = "default_workers")]
    pub workers: usize,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            bind: default_bind(),
            token: None,
            token_env: default_token_env(),
            grace_period: default_grace(),
            schedules: Vec::new(),
            refresh: RefreshConfig::default(),
            workers: default_workers(),
        }
    }
}

/// `[[daemon.schedules]]`: one cron schedule over one target list.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Name used in job labels (`daemon:schedule:<name>`) and logs.
    pub name: String,
    /// Cron pattern: 5 fields, or 6 with seconds first (`*/5 * * * * *`).
    pub cron: String,
    /// IANA time zone the pattern is read in (`Europe/Berlin`); default UTC.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// `table` (the targets table, edited through the API) or `file:PATH` (one domain per line
    /// or a CSV with a `domain` column; relative paths are relative to the config file).
    pub targets: String,
}

/// `[daemon.refresh]`: re-run modules whose freshness TTL (`[modules.<id>] ttl`) expired, for
/// the domains in the targets table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshConfig {
    /// Whether the refresh loop runs at all.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// How often the targets table is scanned for expired modules.
    #[serde(default = "default_refresh_interval")]
    pub interval: String,
    /// Fraction of a module's TTL over which refreshes are spread: a module becomes due between
    /// `ttl` and `ttl * (1 + spread)` after it was last checked, at a point fixed per (domain,
    /// module), so domains enriched in the same second do not all come due in the same second.
    #[serde(default = "default_spread")]
    pub spread: f64,
    /// Most domains one scan starts; the rest wait for the next scan.
    #[serde(default = "default_max_domains")]
    pub max_domains: usize,
}

impl Default for RefreshConfig {
    fn default() -> Self {
        RefreshConfig {
            enabled: true,
            interval: default_refresh_interval(),
            spread: default_spread(),
            max_domains: default_max_domains(),
        }
    }
}

fn default_bind() -> String {
    DEFAULT_BIND.into()
}
fn default_token_env() -> String {
    DEFAULT_TOKEN_ENV.into()
}
fn default_grace() -> String {
    "30s".into()
}
fn default_workers() -> usize {
    1
}
fn default_timezone() -> String {
    "UTC".into()
}
fn default_true() -> bool {
    true
}
fn default_refresh_interval() -> String {
    "60s".into()
}
fn default_spread() -> f64 {
    0.1
}
fn default_max_domains() -> usize {
    100
}

/// `[daemon]` checked and parsed: what the daemon actually runs with.
#[derive(Debug)]
pub struct DaemonSettings {
    pub bind: SocketAddr,
    pub token: String,
    pub grace: Duration,
    pub schedules: Vec<Schedule>,
    pub refresh: Option<Refresh>,
}

/// Parsed `[daemon.refresh]` (absent when disabled).
#[derive(Debug, Clone)]
pub struct Refresh {
    pub interval: Duration,
    pub spread: f64,
    pub max_domains: usize,
}

impl DaemonConfig {
    /// Checks every value and resolves the token; `bind` overrides `[daemon] bind` (`--bind`).
    /// `source` names the config file in messages; `base_dir` anchors relative target files.
    pub fn resolve(
        &self,
        bind: Option<&str>,
        source: &str,
        base_dir: &Path,
    ) -> AppResult<DaemonSettings> {
        let bind_text = bind.unwrap_or(&self.bind);
        let bind: SocketAddr = bind_text.parse().or_config(|| {
            format!("[daemon] bind = {bind_text:?} (or --bind): use IP:PORT like {DEFAULT_BIND}")
        })?;
        let grace = parse_duration(&self.grace_period).or_config(|| {
            format!(
                "[daemon] grace_period = {:?} in {source}: use a duration like \"30s\"",
                self.grace_period
            )
        })?;
        let token = match &self.token {
            Some(t) => t.trim().to_string(),
            None => std::env::var(&self.token_env)
                .map(|t| t.trim().to_string())
                .unwrap_or_default(),
        };
        if token.is_empty() {
            return Err(AppError::config(format!(
                "no API token: set the environment variable {} (or [daemon] token_env / token in \
                 {source}); clients then send `Authorization: Bearer <token>`",
                self.token_env
            )));
        }
        let mut schedules = Vec::with_capacity(self.schedules.len());
        for s in &self.schedules {
            if schedules.iter().any(|o: &Schedule| o.name == s.name) {
                return Err(AppError::config(format!(
                    "[[daemon.schedules]] name {:?} is used twice in {source}",
                    s.name
                )));
            }
            let targets = TargetSource::parse(&s.targets, base_dir).or_config(|| {
                format!(
                    "[[daemon.schedules]] {:?} targets = {:?} in {source}",
                    s.name, s.targets
                )
            })?;
            let schedule = Schedule::new(&s.name, &s.cron, &s.timezone, targets)
                .or_config(|| format!("[[daemon.schedules]] {:?} in {source}", s.name))?;
            schedules.push(schedule);
        }
        let refresh = if self.refresh.enabled {
            let interval = parse_duration(&self.refresh.interval).or_config(|| {
                format!(
                    "[daemon.refresh] interval = {:?} in {source}: use a duration like \"60s\"",
                    self.refresh.interval
                )
            })?;
            if interval < Duration::from_millis(100) {
                return Err(AppError::config(format!(
                    "[daemon.refresh] interval in {source} must be at least 100ms"
                )));
            }
            if !(0.0..=10.0).contains(&self.refresh.spread) {
                return Err(AppError::config(format!(
                    "[daemon.refresh] spread = {} in {source}: use a fraction of the TTL between 0 and 10",
                    self.refresh.spread
                )));
            }
            Some(Refresh {
                interval,
                spread: self.refresh.spread,
                max_domains: self.refresh.max_domains.max(1),
            })
        } else {
            None
        };
        Ok(DaemonSettings {
            bind,
            token,
            grace,
            schedules,
            refresh,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> DaemonConfig {
        #[derive(Deserialize)]
        struct Wrapper {
            daemon: DaemonConfig,
        }
        toml::from_str::<Wrapper>(text).unwrap().daemon
    }

    #[test]
    fn defaults_bind_loopback_and_need_a_token() {
        let cfg = DaemonConfig {
            token_env: "PFORGE_TEST_TOKEN_THAT_IS_NOT_SET".into(),
            ..DaemonConfig::default()
        };
        let err = cfg.resolve(None, "test", Path::new(".")).unwrap_err();
        assert!(
            err.to_string()
                .contains("PFORGE_TEST_TOKEN_THAT_IS_NOT_SET"),
            "{err}"
        );
        let cfg = DaemonConfig {
            token: Some("s3cret".into()),
            ..DaemonConfig::default()
        };
        let s = cfg.resolve(None, "test", Path::new(".")).unwrap();
        assert!(s.bind.ip().is_loopback());
        assert_eq!(s.grace, Duration::from_secs(30));
        assert!(s.refresh.is_some());
        let s = cfg
            .resolve(Some("127.0.0.1:0"), "test", Path::new("."))
            .unwrap();
        assert_eq!(s.bind.port(), 0);
    }

    #[test]
    fn schedules_parse_and_mistakes_name_the_key() {
        let cfg = parse(
            r#"
            [daemon]
            token = "t"
            grace_period = "5s"
            [[daemon.schedules]]
            name = "nightly"
            cron = "0 2 * * *"
            timezone = "Europe/Berlin"
            targets = "table"
            [[daemon.schedules]]
            name = "fast"
            cron = "*/3 * * * * *"
            targets = "file:accounts.csv"
            [daemon.refresh]
            enabled = false
            "#,
        );
        let s = cfg.resolve(None, "test", Path::new("/etc/pforge")).unwrap();
        assert_eq!(s.schedules.len(), 2);
        assert_eq!(
            s.schedules[1].targets,
            TargetSource::File("/etc/pforge/accounts.csv".into())
        );
        assert!(s.refresh.is_none());

        let bad = parse(
            "[daemon]\ntoken = \"t\"\n[[daemon.schedules]]\nname = \"x\"\ncron = \"61 * * * *\"\ntargets = \"table\"\n",
        );
        let err = format!(
            "{:#}",
            bad.resolve(None, "test", Path::new(".")).unwrap_err()
        );
        assert!(err.contains("\"x\""), "{err}");
        let bad = parse(
            "[daemon]\ntoken = \"t\"\n[[daemon.schedules]]\nname = \"x\"\ncron = \"* * * * *\"\ntimezone = \"Mars/Olympus\"\ntargets = \"table\"\n",
        );
        let err = format!(
            "{:#}",
            bad.resolve(None, "test", Path::new(".")).unwrap_err()
        );
        assert!(err.contains("Mars/Olympus"), "{err}");
        let bad = parse("[daemon]\ntoken = \"t\"\nbind = \"localhost\"\n");
        assert!(bad.resolve(None, "test", Path::new(".")).is_err());
    }
}
