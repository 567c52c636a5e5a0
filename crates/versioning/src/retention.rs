//! Retention planning: which old snapshot versions to delete so history stays bounded while the
//! stored patch chain stays consistent. Pure: the store executes the plan.
//!
//! A version is kept when it is among the last `keep_last` versions **or** newer than
//! `max_age_days` (either condition keeps it; a policy with neither keeps everything), and the
//! latest version is always kept. Only a prefix of the history (the oldest versions) is ever
//! deleted, so the kept versions form one unbroken chain; the oldest kept version becomes the new
//! base: it keeps its full data and its patch (towards a deleted version) must be cleared.

use crate::ConfigError;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How much history one module keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicy {
    /// Keep at least the newest N versions.
    #[serde(default)]
    pub keep_last: Option<u32>,
    /// Keep versions created within the last D days.
    #[serde(default)]
    pub max_age_days: Option<u32>,
}

/// The `[retention]` config section: a default policy and per-module overrides
/// (`[retention.modules.m03_traffic]`). An override replaces the default policy as a whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    #[serde(default)]
    pub default: RetentionPolicy,
    #[serde(default)]
    pub modules: BTreeMap<String, RetentionPolicy>,
}

impl RetentionConfig {
    /// The policy that applies to `module`.
    pub fn policy_for(&self, module: &str) -> RetentionPolicy {
        self.modules.get(module).copied().unwrap_or(self.default)
    }

    /// `keep_last = 0` would contradict "never the latest"; reject it so the intent is explicit.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let all = std::iter::once(("default", &self.default))
            .chain(self.modules.iter().map(|(k, v)| (k.as_str(), v)));
        for (name, p) in all {
            if p.keep_last == Some(0) {
                return Err(ConfigError::Invalid(format!(
                    "retention {name}: keep_last must be at least 1 (the latest version is always kept)"
                )));
            }
        }
        Ok(())
    }
}

/// What the planner needs to know about one stored version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionInfo {
    pub version: i64,
    pub created_at: DateTime<Utc>,
}

/// The outcome of planning for one (domain, module).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RetentionPlan {
    /// Versions to delete (with their patches), oldest first.
    pub delete: Vec<i64>,
    /// The oldest kept version when something is deleted: keep its full data, clear its patch.
    pub new_base: Option<i64>,
}

/// Plans retention for the versions of one (domain, module), given in any order.
pub fn plan_retention(
    versions: &[VersionInfo],
    policy: &RetentionPolicy,
    now: DateTime<Utc>,
) -> RetentionPlan {
    if versions.is_empty() || (policy.keep_last.is_none() && policy.max_age_days.is_none()) {
        return RetentionPlan::default();
    }
    let mut sorted = versions.to_vec();
    sorted.sort_by_key(|v| v.version);
    let n = sorted.len();
    let keep_from_count = policy
        .keep_last
        .map(|k| n.saturating_sub(k.max(1) as usize))
        .unwrap_or(n - 1);
    let cutoff = policy
        .max_age_days
        .map(|d| now - Duration::days(i64::from(d)));
    // The oldest version some condition keeps; the latest is always kept.
    let mut oldest_kept = n - 1;
    for (i, v) in sorted.iter().enumerate() {
        let by_count = policy.keep_last.is_some() && i >= keep_from_count;
        let by_age = cutoff.is_some_and(|c| v.created_at >= c);
        if by_count || by_age {
            oldest_kept = i;
            break;
        }
    }
    if oldest_kept == 0 {
        return RetentionPlan::default();
    }
    RetentionPlan {
        delete: sorted[..oldest_kept].iter().map(|v| v.version).collect(),
        new_base: Some(sorted[oldest_kept].version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn history(ages_days: &[i64], now: DateTime<Utc>) -> Vec<VersionInfo> {
        ages_days
            .iter()
            .enumerate()
            .map(|(i, age)| VersionInfo {
                version: i as i64 + 1,
                created_at: now - Duration::days(*age),
            })
            .collect()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap()
    }

    #[test]
    fn keep_last_n() {
        let v = history(&[50, 40, 30, 20, 10], now());
        let plan = plan_retention(
            &v,
            &RetentionPolicy {
                keep_last: Some(2),
                max_age_days: None,
            },
            now(),
        );
        assert_eq!(plan.delete, vec![1, 2, 3]);
        assert_eq!(plan.new_base, Some(4));
    }

    #[test]
    fn newer_than_d_days_never_deletes_the_latest() {
        let v = history(&[50, 40, 30], now());
        let plan = plan_retention(
            &v,
            &RetentionPolicy {
                keep_last: None,
                max_age_days: Some(7),
            },
            now(),
        );
        assert_eq!(plan.delete, vec![1, 2]);
        assert_eq!(plan.new_base, Some(3));
        let plan = plan_retention(
            &v,
            &RetentionPolicy {
                keep_last: None,
                max_age_days: Some(45),
            },
            now(),
        );
        assert_eq!(plan.delete, vec![1]);
    }

    #[test]
    fn either_condition_keeps_a_version() {
        let v = history(&[50, 40, 30, 20, 10], now());
        // Last 1 would delete 1..=4, but 25 days keeps 4 (20d) as well.
        let plan = plan_retention(
            &v,
            &RetentionPolicy {
                keep_last: Some(1),
                max_age_days: Some(25),
            },
            now(),
        );
        assert_eq!(plan.delete, vec![1, 2, 3]);
        // Last 3 keeps 3..=5 even though 10 days would only keep 5.
        let plan = plan_retention(
            &v,
            &RetentionPolicy {
                keep_last: Some(3),
                max_age_days: Some(10),
            },
            now(),
        );
        assert_eq!(plan.delete, vec![1, 2]);
    }

    #[test]
    fn nothing_to_do() {
        let v = history(&[3, 2, 1], now());
        assert_eq!(
            plan_retention(&v, &RetentionPolicy::default(), now()),
            RetentionPlan::default()
        );
        assert_eq!(
            plan_retention(
                &v,
                &RetentionPolicy {
                    keep_last: Some(10),
                    max_age_days: None
                },
                now()
            ),
            RetentionPlan::default()
        );
        assert_eq!(
            plan_retention(
                &[],
                &RetentionPolicy {
                    keep_last: Some(1),
                    max_age_days: None
                },
                now()
            ),
            RetentionPlan::default()
        );
    }

    #[test]
    fn only_a_prefix_is_deleted_even_with_clock_skew() {
        // Version 2 looks older than version 1 (clock skew); deletion still stops at the first
        // kept version so the chain has no hole.
        let mut v = history(&[5, 60, 50, 1], now());
        v.reverse();
        let plan = plan_retention(
            &v,
            &RetentionPolicy {
                keep_last: None,
                max_age_days: Some(10),
            },
            now(),
        );
        assert!(plan.delete.is_empty());
    }

    #[test]
    fn module_overrides_and_validation() {
        let cfg: RetentionConfig =
            toml::from_str("[default]\nkeep_last = 50\n[modules.m03_traffic]\nmax_age_days = 90\n")
                .unwrap();
        assert_eq!(cfg.policy_for("m02_tech_stack").keep_last, Some(50));
        assert_eq!(
            cfg.policy_for("m03_traffic"),
            RetentionPolicy {
                keep_last: None,
                max_age_days: Some(90)
            }
        );
        cfg.validate().unwrap();
        let bad: RetentionConfig = toml::from_str("[default]\nkeep_last = 0\n").unwrap();
        assert!(bad.validate().is_err());
    }
}
