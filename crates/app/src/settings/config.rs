//! The file format of `pforge.toml`: where it is found, what it holds, and how offline runs
//! rewrite it. [`crate::Settings`] resolves it once, with the flags and the environment.

use crate::error::{AppError, AppResult};
use pforge_budget::ProvidersConfig;
use pforge_modules::ModulesConfig;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The default config shipped with the binary, used when no file is found.
pub const EMBEDDED: &str = include_str!("../../../../config/pforge.toml");

/// The whole configuration file. Policy lives here; mechanism lives in the crates.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    #[serde(default)]
    pub run: RunConfig,
    #[serde(default)]
    pub providers: ProvidersConfig,
    /// Generic per-module settings (`[modules.<id>]`).
    #[serde(default)]
    pub modules: BTreeMap<String, ModuleSettings>,
    /// Spending caps (`[budget]`).
    #[serde(default)]
    pub budget: pforge_budget::BudgetConfig,
    /// What `pforge plan --estimate` cannot know from the modules (`[estimate]`).
    #[serde(default)]
    pub estimate: EstimateConfig,
    /// `pforge daemon`: server, token, schedules, refresh (`[daemon]`).
    #[serde(default)]
    pub daemon: super::daemon::DaemonConfig,
    /// Module-specific settings (`[tech_stack]`, `[traffic]`, ...).
    #[serde(flatten)]
    pub intelligence: ModulesConfig,
    /// Folder that relative paths in the file are resolved against.
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// Where the config came from, for messages.
    #[serde(skip)]
    pub source: String,
    /// The file's text, for sections other crates parse themselves (versioning rules).
    #[serde(skip)]
    pub text: String,
}

/// `[run]`: defaults for runs, overridable by flags.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    #[serde(default = "default_module_timeout")]
    pub module_timeout_secs: f64,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            concurrency: default_concurrency(),
            module_timeout_secs: default_module_timeout(),
        }
    }
}

fn default_concurrency() -> usize {
    16
}

fn default_module_timeout() -> f64 {
    60.0
}

/// `[estimate]`: the policy numbers of `pforge plan --estimate`, where the answer depends on
/// the data (which share of domains needs a fallback, how many items they share) rather than
/// on the modules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EstimateConfig {
    /// Seconds a request takes to answer, in milliseconds: while requests are held, other
    /// domains' items queue for the next batch.
    #[serde(default = "default_latency_ms")]
    pub latency_ms: f64,
    /// Share of domains (0..1) making each conditional call, by the key the module names.
    #[serde(default)]
    pub shares: BTreeMap<String, f64>,
    /// Distinct shared items, by the key the module names.
    #[serde(default)]
    pub pools: BTreeMap<String, u64>,
}

impl Default for EstimateConfig {
    fn default() -> Self {
        EstimateConfig {
            latency_ms: default_latency_ms(),
            shares: BTreeMap::new(),
            pools: BTreeMap::new(),
        }
    }
}

fn default_latency_ms() -> f64 {
    300.0
}

impl EstimateConfig {
    /// Refuses shares outside 0..1, empty pools and negative latencies, naming the key.
    pub fn validate(&self) -> AppResult<()> {
        if !(self.latency_ms.is_finite() && self.latency_ms >= 0.0) {
            return Err(AppError::config(
                "[estimate] latency_ms must be a number of milliseconds, 0 or more",
            ));
        }
        for (k, v) in &self.shares {
            if !(0.0..=1.0).contains(v) {
                return Err(AppError::config(format!(
                    "[estimate.shares] {k} = {v}: a share is between 0 and 1"
                )));
            }
        }
        for (k, v) in &self.pools {
            if *v == 0 {
                return Err(AppError::config(format!(
                    "[estimate.pools] {k} = 0: a pool holds at least one item"
                )));
            }
        }
        Ok(())
    }
}

/// `[modules.<id>]`: settings every module has.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleSettings {
    /// Freshness TTL such as `30m`, `12h`, `7d`: a snapshot younger than this is not re-fetched.
    pub ttl: Option<String>,
}

impl Config {
    /// Loads `path`, or `config/pforge.toml` under the working directory, or the embedded
    /// default (so an installed binary needs no files beside it).
    pub fn load(path: Option<&Path>) -> AppResult<Config> {
        let (text, source, base_dir) = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    AppError::config(format!(
                        "cannot read config {} (check --config / PFORGE_CONFIG): {e}",
                        p.display()
                    ))
                })?;
                let base = p.parent().map(Path::to_path_buf).unwrap_or_default();
                (text, p.display().to_string(), base)
            }
            None => {
                let default = Path::new("config/pforge.toml");
                if default.is_file() {
                    let text = std::fs::read_to_string(default).map_err(|e| {
                        AppError::config(format!("cannot read config {}: {e}", default.display()))
                    })?;
                    (text, default.display().to_string(), PathBuf::from("config"))
                } else {
                    // The built-in config is written out with its fingerprints, so relative
                    // paths in it resolve as they do in a checkout.
                    let dir = super::embedded::config_dir()?;
                    (EMBEDDED.to_string(), "built-in default config".into(), dir)
                }
            }
        };
        Config::parse(&text, &source, base_dir)
    }

    /// Parses the text of a config file; `source` names it in messages and `base_dir` anchors
    /// relative paths in it.
    pub fn parse(text: &str, source: &str, base_dir: PathBuf) -> AppResult<Config> {
        let mut cfg: Config = toml::from_str(text)
            .map_err(|e| AppError::config(format!("invalid config {source}: {e}")))?;
        cfg.base_dir = if base_dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            base_dir
        };
        cfg.source = source.to_string();
        cfg.text = text.to_string();
        Ok(cfg)
    }

    /// Significance, alert and retention rules (`[significance]`, `[alerts]`, `[retention]`).
    pub fn versioning(&self) -> AppResult<pforge_versioning::VersioningConfig> {
        let v = pforge_versioning::VersioningConfig::from_toml(&self.text)
            .map_err(|e| AppError::config(format!("in {}: {e}", self.source)))?;
        v.validate()
            .map_err(|e| AppError::config(format!("in {}: {e}", self.source)))?;
        Ok(v)
    }

    /// Freshness TTLs per module id, parsed; a bad value names the module and the fix.
    pub fn ttls(&self) -> AppResult<HashMap<String, Duration>> {
        let mut out = HashMap::new();
        for (id, s) in &self.modules {
            if let Some(ttl) = &s.ttl {
                let d = parse_duration(ttl).map_err(|e| {
                    AppError::config(format!("[modules.{id}] ttl = {ttl:?} in {}: {e}; use a number with s, m, h or d, like \"7d\"", self.source))
                })?;
                out.insert(id.clone(), d);
            }
        }
        Ok(out)
    }

    /// Points every provider at a fixture server (offline runs, tests and the demo).
    pub fn use_fixture_server(&mut self, fixture_url: &str) {
        for (id, p) in self.providers.iter_mut() {
            p.base_url = pforge_fixture_server::rewrite_base_url(&p.base_url, fixture_url, id);
            // Recorded responses need no key; keyed providers then work offline as they would
            // with one, spending (fixture) credits through the same budget path.
            p.auth = None;
        }
    }
}

/// Why a duration could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DurationError(String);

/// Parses `90s`, `30m`, `12h`, `7d` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => (&s[..i], s[i..].trim()),
        None => (s, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| DurationError(format!("{s:?} is not a duration")))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        "w" => n * 7.0 * 86400.0,
        _ => return Err(DurationError(format!("{s:?} has unknown unit {unit:?}"))),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(DurationError(format!("{s:?} is not a valid duration")));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(
            parse_duration("7d").unwrap(),
            Duration::from_secs(7 * 86400)
        );
        assert!(parse_duration("7 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn embedded_config_parses_and_has_ttls() {
        let cfg: Config = toml::from_str(EMBEDDED).unwrap();
        assert!(cfg.providers.contains_key("homepage"));
        let mut cfg = cfg;
        cfg.source = "embedded".into();
        assert!(!cfg.ttls().unwrap().is_empty());
    }
}
