//! `pforge plan --estimate FILE`: what enriching a list would call and cost, before spending
//! anything. Modules declare their calls (`Module::expected_calls`); calls shared through the
//! gateway's cache (same provider and endpoint) count once per domain or once per run; modules
//! whose latest snapshot is still fresh count nothing, exactly as `pforge enrich` would skip them.

use crate::error::AppResult;
use crate::input::{self, Item, Source};
use crate::App;
use chrono::Utc;
use pforge_core::CallScope;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Predicted calls and cost for one provider.
#[derive(Debug, Default, Serialize)]
pub struct ProviderEstimate {
    pub calls: u64,
    pub cost: f64,
    /// Seconds the provider's rate limit needs for these calls at best.
    pub min_seconds: f64,
}

/// The whole prediction.
#[derive(Debug, Default, Serialize)]
pub struct Estimate {
    pub domains: u64,
    pub invalid_lines: u64,
    /// Module runs that would be skipped because their snapshot is still fresh.
    pub fresh_module_runs: u64,
    pub module_runs: u64,
    pub providers: BTreeMap<String, ProviderEstimate>,
    pub total_cost: f64,
    /// The shortest possible duration: the slowest provider's rate-limit bound.
    pub min_seconds: f64,
}

impl App {
    /// Predicts what enriching the domains in `source` with `modules` (all when empty) would
    /// call and cost, skipping modules that are still fresh. Spends nothing.
    pub async fn estimate(&self, modules: &[String], source: Source) -> AppResult<Estimate> {
        let plan = self.plan_for(modules)?;
        let gateway = self.gateway()?;
        estimate(self, &plan, &gateway, source).await
    }
}

/// Builds the estimate for the domains in `source`.
async fn estimate(
    app: &App,
    plan: &pforge_orchestrator::Plan,
    gateway: &pforge_budget::Gateway,
    source: Source,
) -> AppResult<Estimate> {
    let ttls = &app.settings().ttls;
    let store = app.store();
    let usable = |provider: &str| {
        gateway.has_provider(provider) && gateway.missing_credentials(provider).is_none()
    };
    let mut out = Estimate::default();
    let mut per_run: BTreeSet<(String, String)> = BTreeSet::new();
    let mut calls: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut items = input::spawn_reader(source).await?;
    while let Some(item) = items.recv().await {
        let domain = match item {
            Item::Domain(d) => d,
            Item::Invalid(_) => {
                out.invalid_lines += 1;
                continue;
            }
        };
        out.domains += 1;
        let mut this_domain: BTreeSet<(String, String)> = BTreeSet::new();
        // One read of the domain's latest snapshots serves every module's freshness check.
        let latest: HashMap<String, chrono::DateTime<Utc>> = store
            .latest_snapshots(domain.as_str())
            .await?
            .into_iter()
            .map(|s| (s.module, s.checked_at))
            .collect();
        for m in plan.modules() {
            let id = &m.spec().id;
            if let Some(ttl) = ttls.get(id) {
                if let Some(checked_at) = latest.get(id) {
                    let age = Utc::now().signed_duration_since(*checked_at);
                    if age.to_std().map(|a| a < *ttl).unwrap_or(true) {
                        out.fresh_module_runs += 1;
                        continue;
                    }
                }
            }
            out.module_runs += 1;
            for call in m.expected_calls() {
                if !usable(&call.provider) {
                    continue;
                }
                let key = (call.provider.clone(), call.endpoint.clone());
                match call.scope {
                    CallScope::PerDomain => {
                        this_domain.insert(key);
                    }
                    CallScope::PerRun => {
                        per_run.insert(key);
                    }
                }
            }
        }
        for key in this_domain {
            *calls.entry(key).or_default() += 1;
        }
    }
    for key in per_run {
        *calls.entry(key).or_default() += 1;
    }
    for ((provider, endpoint), n) in calls {
        let e = out.providers.entry(provider.clone()).or_default();
        e.calls += n;
        if let Some(p) = gateway.provider(&provider) {
            e.cost += n as f64 * p.cost_for(&endpoint);
        }
    }
    for (id, e) in out.providers.iter_mut() {
        if let Some(rl) = gateway.provider(id).and_then(|p| p.rate_limit.as_ref()) {
            let rate = rl
                .per_second
                .or(rl.per_minute.map(|m| m / 60.0))
                .unwrap_or(0.0);
            if rate > 0.0 {
                let beyond_burst = e.calls.saturating_sub(u64::from(rl.burst)) as f64;
                e.min_seconds = beyond_burst / rate;
            }
        }
        out.total_cost += e.cost;
        out.min_seconds = out.min_seconds.max(e.min_seconds);
    }
    Ok(out)
}
