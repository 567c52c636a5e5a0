//! Spend against every cap, read from the ledger: what `pforge budget`, `/api/v1/budget`, the
//! budget page and `pforge_budget_remaining` all show (one reading, one naming of scopes); and
//! the providers' rate-limit waits and circuit breakers as this process's gateway sees them.

use crate::adapters::StoreLedger;
use crate::error::{AppError, AppResult};
use crate::App;
use chrono::{DateTime, Datelike, Utc};
use pforge_budget::{CapStatus, ProviderHealth};
use pforge_store::Job;
use serde::Serialize;
use std::collections::HashMap;
use uuid::Uuid;

impl App {
    /// Every configured cap with what is spent in its current period (total caps first).
    pub async fn budget_status(&self) -> AppResult<Vec<CapStatus>> {
        let ledger = StoreLedger::new(self.store().clone());
        pforge_budget::cap_status(&self.settings().config.budget, &ledger, chrono::Utc::now())
            .await
            .map_err(|e| AppError::Unavailable(e.to_string()))
    }

    /// Every configured provider's rate-limit waits and unhealthy circuit breakers (at most
    /// `breakers_per_provider` each, open ones first) in this process: what explains a slow or
    /// skipped provider beside what it cost. Jobs with their own spend cap run on a gateway of
    /// their own, whose waits are not in here.
    pub fn provider_health(&self, breakers_per_provider: usize) -> AppResult<Vec<ProviderHealth>> {
        Ok(self.gateway()?.health(breakers_per_provider))
    }
}

/// What one run (job) spent this month.
#[derive(Debug, Clone, Serialize)]
pub struct RunSpend {
    /// `None`: calls made outside any job (e.g. by an API request that fetched directly).
    pub job_id: Option<Uuid>,
    /// The job's label and creation time, when the job is still recorded.
    pub label: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub calls: i64,
    pub credits: f64,
    /// The module of this run that spent the most, with its credits.
    pub top_module: Option<(String, f64)>,
}

/// What one module spent this month, over every run.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleSpend {
    pub module: String,
    pub calls: i64,
    pub credits: f64,
    /// Providers the module paid, most credits first.
    pub providers: Vec<String>,
}

/// Spend since the start of the month, broken down by run and by module: the "what did this
/// table cost me" answer beside the caps.
#[derive(Debug, Clone, Serialize)]
pub struct SpendBreakdown {
    pub since: DateTime<Utc>,
    /// Runs, newest first (runs whose job is no longer recorded last), at most the asked number.
    pub runs: Vec<RunSpend>,
    /// Runs left out by that limit.
    pub more_runs: usize,
    /// Modules, most credits first.
    pub modules: Vec<ModuleSpend>,
    pub calls: i64,
    pub credits: f64,
}

/// The first instant of `now`'s month (UTC), where monthly caps start counting.
fn month_start(now: DateTime<Utc>) -> DateTime<Utc> {
    now.date_naive()
        .with_day(1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or(now)
}

impl App {
    /// This month's spend by run (the newest `max_runs`) and by module, from one grouped read of
    /// the ledger plus one read of the runs' jobs.
    pub async fn spend_breakdown(&self, max_runs: usize) -> AppResult<SpendBreakdown> {
        let since = month_start(Utc::now());
        let groups = self.store().spend_groups(since).await?;
        let (mut calls, mut credits) = (0, 0.0);
        let mut runs: HashMap<Option<Uuid>, (i64, f64, HashMap<String, f64>)> = HashMap::new();
        let mut modules: HashMap<String, (i64, f64, HashMap<String, f64>)> = HashMap::new();
        for g in groups {
            calls += g.calls;
            credits += g.credits;
            let module = g.module.unwrap_or_else(|| "(no module)".into());
            let r = runs.entry(g.job_id).or_default();
            r.0 += g.calls;
            r.1 += g.credits;
            *r.2.entry(module.clone()).or_default() += g.credits;
            let m = modules.entry(module).or_default();
            m.0 += g.calls;
            m.1 += g.credits;
            *m.2.entry(g.provider).or_default() += g.credits;
        }
        let ids: Vec<Uuid> = runs.keys().flatten().copied().collect();
        let jobs: HashMap<Uuid, Job> = self
            .store()
            .get_jobs(&ids)
            .await?
            .into_iter()
            .map(|j| (j.id, j))
            .collect();
        let mut listed = Vec::with_capacity(runs.len());
        for (job_id, (calls, credits, by_module)) in runs {
            let job = job_id.and_then(|id| jobs.get(&id));
            let top_module = by_module
                .into_iter()
                .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.cmp(&a.0)));
            listed.push(RunSpend {
                job_id,
                label: job.as_ref().map(|j| j.label.clone()),
                created_at: job.as_ref().map(|j| j.created_at),
                calls,
                credits,
                top_module,
            });
        }
        // Newest first; runs without a recorded job after them, by credits.
        listed.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| b.credits.total_cmp(&a.credits))
        });
        let more_runs = listed.len().saturating_sub(max_runs);
        listed.truncate(max_runs);
        let mut modules: Vec<ModuleSpend> = modules
            .into_iter()
            .map(|(module, (calls, credits, providers))| {
                let mut providers: Vec<(String, f64)> = providers.into_iter().collect();
                providers.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                ModuleSpend {
                    module,
                    calls,
                    credits,
                    providers: providers.into_iter().map(|p| p.0).collect(),
                }
            })
            .collect();
        modules.sort_by(|a, b| {
            b.credits
                .total_cmp(&a.credits)
                .then_with(|| a.module.cmp(&b.module))
        });
        Ok(SpendBreakdown {
            since,
            runs: listed,
            more_runs,
            modules,
            calls,
            credits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_month_starts_on_its_first_day_at_midnight_utc() {
        let t = DateTime::parse_from_rfc3339("2026-12-02T13:57:03Z")
            .map(|t| t.with_timezone(&Utc))
            .expect("a valid time");
        assert_eq!(month_start(t).to_rfc3339(), "2026-12-01T00:00:00+00:00");
    }
}
