//! The versioning sections of `pforge.toml` (`[significance]`, `[alerts]`, `[retention]`) and
//! the shipped defaults, so that a fresh install scores and routes changes sensibly.

use crate::alerts::AlertsConfig;
use crate::retention::RetentionConfig;
use crate::significance::SignificanceConfig;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The shipped defaults as TOML (also the snippet merged into `config/pforge.toml`).
pub const DEFAULT_CONFIG_TOML: &str = include_str!("../../../config/pforge.toml");

/// A config section that cannot be used; the message names the rule/recipient/channel and what
/// to fix.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("invalid versioning config: {0}")]
    Invalid(String),
    #[error("cannot parse versioning config: {0}")]
    Parse(String),
}

/// Everything this crate reads from config. Unknown top-level sections are ignored so that the
/// whole `pforge.toml` can be parsed into it; unknown keys inside these sections are errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct VersioningConfig {
    #[serde(default)]
    pub significance: SignificanceConfig,
    #[serde(default)]
    pub alerts: AlertsConfig,
    #[serde(default)]
    pub retention: RetentionConfig,
}

impl VersioningConfig {
    /// Parses the versioning sections out of a TOML document (other sections are ignored).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))
    }

    /// The shipped defaults ([`DEFAULT_CONFIG_TOML`]).
    pub fn defaults() -> Result<Self, ConfigError> {
        Self::from_toml(DEFAULT_CONFIG_TOML)
    }

    /// Checks every section (compiles rules, resolves references) without building anything
    /// long-lived; `pforge config check` can call this.
    pub fn validate(&self) -> Result<(), ConfigError> {
        crate::significance::Significance::new(&self.significance)?;
        crate::alerts::validate(&self.alerts)?;
        self.retention.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_defaults_parse_and_validate() {
        let cfg = VersioningConfig::defaults().unwrap();
        cfg.validate().unwrap();
        assert!(cfg.significance.rules.len() >= 15);
        // Every module of the product has at least one rule.
        for m in [
            "m01_company_context",
            "m02_tech_stack",
            "m03_traffic",
            "m04_financials",
            "m05_competitors",
            "m06_hiring",
            "m07_strategic_triggers",
            "m08_investors",
            "m09_executives",
            "m10_buying_committee",
            "m11_displacement_targets",
            "m12_case_studies",
            "m13_icp_priority",
            "m14_signal_scoring",
            "m15_strategic_brief",
        ] {
            assert!(
                cfg.significance
                    .rules
                    .iter()
                    .any(|r| r.modules.iter().any(|g| g == m)),
                "no default significance rule for {m}"
            );
        }
        assert!(cfg.alerts.recipients.contains_key("console"));
        assert_eq!(cfg.retention.policy_for("m03_traffic").keep_last, Some(24));
    }

    #[test]
    fn parses_out_of_a_whole_config_file_and_rejects_typos() {
        let text = format!("[providers.x]\nbase_url = \"http://127.0.0.1\"\n{DEFAULT_CONFIG_TOML}");
        VersioningConfig::from_toml(&text).unwrap();
        let typo = "[[significance.rules]]\nname = \"x\"\nscore = 5\npath = \"/a\"\n";
        let err = VersioningConfig::from_toml(typo).unwrap_err().to_string();
        assert!(err.contains("path"), "{err}");
    }
}
