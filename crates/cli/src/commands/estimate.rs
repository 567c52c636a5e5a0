//! `pforge plan --estimate FILE`: what enriching a list would call and cost, before spending
//! anything. Modules declare their calls (`Module::expected_calls`); calls shared through the
//! gateway's cache (same provider and endpoint) count once per domain or once per run; modules
//! whose latest snapshot is still fresh count nothing, exactly as `pforge enrich` would skip them.

use crate::config::Config;
use crate::input::{self, Item, Source};
use anyhow::Result;
use chrono::Utc;
use pforge_budget::Gateway;
use pforge_core::CallScope;
use pforge_orchestrator::Plan;
use pforge_store::Store;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

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

/// Builds the estimate for the domains in `source`.
pub async fn estimate(
    cfg: &Config,
    plan: &Plan,
    store: Arc<dyn Store>,
    gateway: &Gateway,
    source: Source,
) -> Result<Estimate> {
    let ttls = cfg.ttls()?;
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
        for m in plan.modules() {
            let id = &m.spec().id;
            if let Some(ttl) = ttls.get(id) {
                if let Some(s) = store.latest_snapshot(domain.as_str(), id).await? {
                    let age = Utc::now().signed_duration_since(s.checked_at);
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

/// Prints the estimate as a table.
pub fn print(e: &Estimate) {
    println!(
        "{} domain(s) ({} invalid line(s)); {} module run(s), {} skipped as fresh",
        e.domains, e.invalid_lines, e.module_runs, e.fresh_module_runs
    );
    println!(
        "{:<14} {:>8} {:>10} {:>12}",
        "provider", "calls", "cost", "min time"
    );
    for (id, p) in &e.providers {
        println!(
            "{:<14} {:>8} {:>10.2} {:>11.1}s",
            id, p.calls, p.cost, p.min_seconds
        );
    }
    println!(
        "total cost {:.2} credits; shortest possible duration {:.1}s (rate limits)",
        e.total_cost, e.min_seconds
    );
}
