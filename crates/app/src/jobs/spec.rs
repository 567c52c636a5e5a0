//! The typed specification of a job: what to run and under which limits, stored with the job as
//! JSON so that whoever runs it (this process, a worker on another machine, a restarted daemon)
//! runs exactly what was asked.

use pforge_core::{Domain, DomainHints, HintBook};
use pforge_orchestrator::RefreshPolicy;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a job runs. Serialized into the job's `spec` column.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// Only these modules and what they depend on (empty: every module).
    #[serde(default)]
    pub modules: Vec<String>,
    /// Whether modules still within their freshness TTL are re-run.
    #[serde(default)]
    pub refresh: Refresh,
    /// Credits the job may spend at most (on top of the caps in `[budget]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_spend: Option<f64>,
    /// Who asked for it: `cli`, `demo:epoch1`, `api`, `ui`, `daemon:schedule:<name>`,
    /// `daemon:refresh`. Also the job's label.
    pub origin: String,
    /// What the input said about its domains (the `name` column, pins), by domain, for a job
    /// queued for workers: a worker on another machine has no input file to read them from.
    /// Jobs run in one process read them as they stream the file instead.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hints: BTreeMap<String, DomainHints>,
}

/// Which modules a job re-runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refresh {
    /// Skip modules whose latest snapshot is younger than their TTL (no money spent twice).
    #[default]
    Stale,
    /// Run every module, fresh or not.
    All,
}

impl From<Refresh> for RefreshPolicy {
    fn from(r: Refresh) -> Self {
        match r {
            Refresh::Stale => RefreshPolicy::Stale,
            Refresh::All => RefreshPolicy::All,
        }
    }
}

impl JobSpec {
    /// A spec running every module, stale ones only, for `origin`.
    pub fn new(origin: impl Into<String>) -> Self {
        JobSpec {
            origin: origin.into(),
            ..Default::default()
        }
    }

    /// The hints as the executor takes them (domains that no longer parse are left out).
    pub fn hint_book(&self) -> HintBook {
        let book = HintBook::default();
        for (d, h) in &self.hints {
            if let Ok(d) = Domain::parse(d) {
                book.insert(d, h.clone());
            }
        }
        book
    }

    /// The spec as stored.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// The spec stored with a job. Jobs recorded before specs existed (an empty object) read as
    /// "every module, stale only", which is what they ran.
    pub fn from_stored(value: &serde_json::Value, label: &str) -> Result<JobSpec, String> {
        if value.as_object().is_some_and(|o| o.is_empty()) || value.is_null() {
            return Ok(JobSpec::new(label));
        }
        serde_json::from_value(value.clone()).map_err(|e| format!("unreadable job spec: {e}"))
    }

    /// Checks the limits a front end was given (a spend cap must be a positive number).
    pub fn check(&self) -> Result<(), String> {
        if let Some(c) = self.max_spend {
            if !(c.is_finite() && c >= 0.0) {
                return Err(format!(
                    "max spend {c} is not a number of credits: use 0 or more"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_round_trip_and_old_jobs_read_as_defaults() {
        let spec = JobSpec {
            modules: vec!["m02_tech_stack".into()],
            refresh: Refresh::All,
            max_spend: Some(5.0),
            origin: "api".into(),
            hints: BTreeMap::from([(
                "apple.com".to_string(),
                DomainHints {
                    name: Some("Apple Inc.".into()),
                    sec_cik: None,
                    source: Some("input:accounts.csv:2".into()),
                },
            )]),
        };
        assert_eq!(JobSpec::from_stored(&spec.to_json(), "x").unwrap(), spec);
        let book = spec.hint_book();
        let apple = Domain::parse("apple.com").unwrap();
        assert_eq!(
            book.get(&apple).and_then(|h| h.name),
            Some("Apple Inc.".into())
        );
        let old = JobSpec::from_stored(&serde_json::json!({}), "cli").unwrap();
        assert_eq!(old, JobSpec::new("cli"));
        assert!(JobSpec::from_stored(&serde_json::json!({"modules": 3}), "x").is_err());
        assert!(JobSpec {
            max_spend: Some(f64::NAN),
            ..JobSpec::new("x")
        }
        .check()
        .is_err());
    }
}
