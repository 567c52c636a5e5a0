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
use std::collections::{BTreeMap, HashMap};

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

/// Domains whose freshness is read from the store in one query.
const CHUNK: usize = 2_000;

/// One module of the plan as the estimate needs it, worked out once per run (not per domain):
/// its TTL and the indexes of the (provider, endpoint) keys its usable calls hit.
struct ModuleCalls {
    id: String,
    ttl: Option<std::time::Duration>,
    /// Into the per-domain keys.
    per_domain: Vec<usize>,
    /// Into the per-run keys.
    per_run: Vec<usize>,
}

/// Interns (provider, endpoint) keys so that per-domain counting works on indexes.
#[derive(Default)]
struct Keys {
    keys: Vec<(String, String)>,
    index: HashMap<(String, String), usize>,
}

impl Keys {
    fn intern(&mut self, key: (String, String)) -> usize {
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        self.keys.push(key.clone());
        self.index.insert(key, self.keys.len() - 1);
        self.keys.len() - 1
    }
}

/// Builds the estimate for the domains in `source`: the plan's calls are resolved once, and
/// freshness is read for thousands of domains per query, so 10,000 domains take a few
/// milliseconds of work beyond reading the file.
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
    // Interned (provider, endpoint) keys: per-domain keys are counted once per domain however
    // many modules share them (the gateway's cache and single flight serve the others), per-run
    // keys once per run when any module making them runs.
    let mut per_domain_keys = Keys::default();
    let mut per_run_keys = Keys::default();
    let mut modules: Vec<ModuleCalls> = Vec::new();
    for m in plan.modules() {
        let id = m.spec().id.clone();
        let (mut per_domain, mut per_run) = (Vec::new(), Vec::new());
        for call in m.expected_calls() {
            if !usable(&call.provider) {
                continue;
            }
            let key = (call.provider, call.endpoint);
            match call.scope {
                CallScope::PerDomain => per_domain.push(per_domain_keys.intern(key)),
                CallScope::PerRun => per_run.push(per_run_keys.intern(key)),
            }
        }
        modules.push(ModuleCalls {
            ttl: ttls.get(&id).copied(),
            id,
            per_domain,
            per_run,
        });
    }

    let mut out = Estimate::default();
    let mut counts = vec![0u64; per_domain_keys.keys.len()];
    let mut hit = vec![false; per_domain_keys.keys.len()];
    let mut per_run_used = vec![false; per_run_keys.keys.len()];
    let now = Utc::now();
    let mut items = input::spawn_reader(source).await?;
    let mut chunk: Vec<String> = Vec::with_capacity(CHUNK);
    let mut done = false;
    while !done {
        chunk.clear();
        while chunk.len() < CHUNK {
            match items.recv().await {
                Some(Item::Domain(d)) => chunk.push(d.as_str().to_string()),
                Some(Item::Invalid(_)) => out.invalid_lines += 1,
                None => {
                    done = true;
                    break;
                }
            }
        }
        if chunk.is_empty() {
            continue;
        }
        // One read of the chunk's latest versions serves every module's freshness check.
        let mut checked: HashMap<String, HashMap<String, chrono::DateTime<Utc>>> = HashMap::new();
        for (d, m, at) in store.latest_checked(&chunk).await? {
            checked.entry(d).or_default().insert(m, at);
        }
        for domain in &chunk {
            out.domains += 1;
            hit.iter_mut().for_each(|h| *h = false);
            let stored = checked.get(domain.as_str());
            for m in &modules {
                if let (Some(ttl), Some(stored)) = (m.ttl, stored) {
                    if let Some(checked_at) = stored.get(m.id.as_str()) {
                        let age = now.signed_duration_since(*checked_at);
                        if age.to_std().map(|a| a < ttl).unwrap_or(true) {
                            out.fresh_module_runs += 1;
                            continue;
                        }
                    }
                }
                out.module_runs += 1;
                for &k in &m.per_domain {
                    hit[k] = true;
                }
                for &k in &m.per_run {
                    per_run_used[k] = true;
                }
            }
            for (k, h) in hit.iter().enumerate() {
                if *h {
                    counts[k] += 1;
                }
            }
        }
    }
    let mut calls: BTreeMap<(String, String), u64> = BTreeMap::new();
    for (key, n) in per_domain_keys.keys.into_iter().zip(counts) {
        if n > 0 {
            *calls.entry(key).or_default() += n;
        }
    }
    for (key, used) in per_run_keys.keys.into_iter().zip(per_run_used) {
        if used {
            *calls.entry(key).or_default() += 1;
        }
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
