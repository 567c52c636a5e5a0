//! `pforge plan --estimate FILE`: what enriching a list would call and cost, before spending
//! anything. Modules declare their calls (`Module::expected_calls`); calls shared through the
//! gateway's cache (same provider and endpoint) count once per domain or once per run; modules
//! whose latest snapshot is still fresh count nothing, exactly as `pforge enrich` would skip them.

use super::estimate_sim::{
    simulate as simulate_run, SimCall, SimGroup, SimInput, SimModule, SimProvider, SimStep,
};
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
    /// Calls carrying items (ids), by endpoint and group: the items asked and the requests they
    /// become (batched across domains when the provider has a batch rule for them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<ItemsEstimate>,
}

/// The items of one batch group (calls to one endpoint with the same other parameters).
#[derive(Debug, Default, Serialize)]
pub struct ItemsEstimate {
    /// The endpoint and the parameters that make the group (`/w/api.php action=... props=...`).
    pub endpoint: String,
    /// Items sent: each distinct item once when the cache can share it.
    pub items: u64,
    /// Requests they become.
    pub calls: u64,
    /// The batch rule's `max_items`; `None`: no batch rule matches, one request per call.
    pub max_items: Option<u32>,
}

/// A number the estimate used that the data decides, and where it came from.
#[derive(Debug, Serialize)]
pub struct Assumption {
    /// `share` (of domains making a conditional call) or `pool` (distinct shared items).
    pub kind: &'static str,
    pub key: String,
    /// `None` when not configured: counted as made by every domain (a share) or as the
    /// domain's own items (a pool), i.e. an upper bound.
    pub value: Option<f64>,
    /// `config [estimate.shares]`, `config [estimate.pools]` or `not configured (upper bound)`.
    pub basis: &'static str,
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
    /// How the calls were counted: declared calls per domain and run, shares of conditional
    /// calls, and, for providers with batch rules, a simulation of the run's batching.
    pub basis: String,
    /// The run's duration in the batching simulation (only when a provider batches items).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub simulated_seconds: Option<f64>,
    /// The shares and pools used.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub assumptions: Vec<Assumption>,
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
    /// Into the per-domain keys, with the share decision the call depends on.
    per_domain: Vec<(usize, Option<usize>)>,
    /// Into the per-run keys.
    per_run: Vec<usize>,
    /// Every usable call in declared order, for the batching simulation.
    steps: Vec<Step>,
}

/// A usable call, resolved against the config.
struct Step {
    provider: usize,
    share: Option<usize>,
    kind: StepKind,
}

enum StepKind {
    Plain {
        key: usize,
        per_run: bool,
    },
    Items {
        group: usize,
        count: u32,
        pool: Option<(usize, u64)>,
    },
}

/// Interns keys so that per-domain counting works on indexes.
struct Keys<K> {
    keys: Vec<K>,
    index: HashMap<K, usize>,
}

impl<K> Default for Keys<K> {
    fn default() -> Self {
        Keys {
            keys: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<K: Clone + Eq + std::hash::Hash> Keys<K> {
    fn intern(&mut self, key: K) -> usize {
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        self.keys.push(key.clone());
        self.index.insert(key, self.keys.len() - 1);
        self.keys.len() - 1
    }
}

/// A batch group: provider, path and the other parameters, sorted.
#[derive(Clone, PartialEq, Eq, Hash)]
struct GroupKey {
    provider: String,
    path: String,
    query: Vec<(String, String)>,
}

/// The share decision of the `seen`-th domain reaching a share: spread evenly over the list
/// (`share` 0.1 makes every tenth domain take it), so that the same list always gets the
/// same estimate and `round(share * domains)` domains count (one domain at 0.5 does).
fn decide(share: f64, seen: u64) -> bool {
    ((seen + 1) as f64 * share + 0.5).floor() > (seen as f64 * share + 0.5).floor()
}

/// Builds the estimate for the domains in `source`: the plan's calls are resolved once, and
/// freshness is read for thousands of domains per query, so 10,000 domains take a few
/// milliseconds of work beyond reading the file (and the batching simulation, a few more).
async fn estimate(
    app: &App,
    plan: &pforge_orchestrator::Plan,
    gateway: &pforge_budget::Gateway,
    source: Source,
) -> AppResult<Estimate> {
    let settings = app.settings();
    let ttls = &settings.ttls;
    let policy = &settings.config.estimate;
    let store = app.store();
    let usable = |provider: &str| {
        gateway.has_provider(provider) && gateway.missing_credentials(provider).is_none()
    };
    // Interned (provider, endpoint) keys: per-domain keys are counted once per domain however
    // many modules share them (the gateway's cache and single flight serve the others), per-run
    // keys once per run when any module making them runs. Calls carrying items go to groups.
    let mut per_domain_keys: Keys<(String, String)> = Keys::default();
    let mut per_run_keys: Keys<(String, String)> = Keys::default();
    let mut providers: Keys<String> = Keys::default();
    let mut groups: Keys<GroupKey> = Keys::default();
    let mut group_rule: Vec<Option<(u32, u64, String)>> = Vec::new();
    let mut share_keys: Keys<String> = Keys::default();
    let mut pool_keys: Keys<String> = Keys::default();
    let mut modules: Vec<ModuleCalls> = Vec::new();
    for m in plan.modules() {
        let id = m.spec().id.clone();
        let (mut per_domain, mut per_run, mut steps) = (Vec::new(), Vec::new(), Vec::new());
        for call in m.expected_calls() {
            if !usable(&call.provider) {
                continue;
            }
            let provider = providers.intern(call.provider.clone());
            let share = call.share.as_ref().map(|k| share_keys.intern(k.clone()));
            if let Some(items) = &call.items {
                let mut query = items.query.clone();
                query.sort();
                let key = GroupKey {
                    provider: call.provider.clone(),
                    path: items.path.clone(),
                    query,
                };
                let group = groups.intern(key);
                if group == group_rule.len() {
                    let rule = gateway.provider(&call.provider).and_then(|p| {
                        p.batch.iter().find(|b| {
                            b.path == items.path
                                && b.param == items.param
                                && b.match_query.iter().all(|(k, v)| {
                                    items.query.iter().any(|(qk, qv)| qk == k && qv == v)
                                })
                        })
                    });
                    group_rule.push(rule.map(|b| (b.max_items, b.window_ms, b.path.clone())));
                }
                let pool = items.pool.as_ref().and_then(|k| {
                    let size = policy.pools.get(k).copied();
                    let i = pool_keys.intern(k.clone());
                    size.map(|s| (i, s))
                });
                steps.push(Step {
                    provider,
                    share,
                    kind: StepKind::Items {
                        group,
                        count: items.count,
                        pool,
                    },
                });
                continue;
            }
            let key = (call.provider, call.endpoint);
            match call.scope {
                CallScope::PerDomain => {
                    let k = per_domain_keys.intern(key);
                    per_domain.push((k, share));
                    steps.push(Step {
                        provider,
                        share,
                        kind: StepKind::Plain {
                            key: k,
                            per_run: false,
                        },
                    });
                }
                CallScope::PerRun => {
                    let k = per_run_keys.intern(key);
                    per_run.push(k);
                    steps.push(Step {
                        provider,
                        share,
                        kind: StepKind::Plain {
                            key: k,
                            per_run: true,
                        },
                    });
                }
            }
        }
        modules.push(ModuleCalls {
            ttl: ttls.get(&id).copied(),
            id,
            per_domain,
            per_run,
            steps,
        });
    }
    let shares: Vec<Option<f64>> = share_keys
        .keys
        .iter()
        .map(|k| policy.shares.get(k).copied())
        .collect();
    // Items are counted by the simulation: the cache shares them across domains, and batches
    // carry them, in ways only the run's timing decides.
    let simulate = !groups.keys.is_empty();

    let mut out = Estimate::default();
    let mut counts = vec![0u64; per_domain_keys.keys.len()];
    let mut hit = vec![false; per_domain_keys.keys.len()];
    let mut per_run_used = vec![false; per_run_keys.keys.len()];
    let mut seen = vec![0u64; shares.len()];
    let mut made_now = vec![false; shares.len()];
    let mut runs: Vec<bool> = Vec::new();
    let mut made: Vec<bool> = Vec::new();
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
            // Every domain takes its share decisions once, whichever modules depend on them
            // (a domain without a Wikidata item has none for M01 nor for M08).
            for (k, s) in shares.iter().enumerate() {
                made_now[k] = match s {
                    Some(s) => decide(*s, seen[k]),
                    None => true,
                };
                seen[k] += 1;
            }
            if simulate {
                made.extend_from_slice(&made_now);
            }
            let stored = checked.get(domain.as_str());
            for m in &modules {
                let mut fresh = false;
                if let (Some(ttl), Some(stored)) = (m.ttl, stored) {
                    if let Some(checked_at) = stored.get(m.id.as_str()) {
                        let age = now.signed_duration_since(*checked_at);
                        fresh = age.to_std().map(|a| a < ttl).unwrap_or(true);
                    }
                }
                if simulate {
                    runs.push(!fresh);
                }
                if fresh {
                    out.fresh_module_runs += 1;
                    continue;
                }
                out.module_runs += 1;
                for &(k, share) in &m.per_domain {
                    if share.is_none_or(|s| made_now[s]) {
                        hit[k] = true;
                    }
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
    for (key, n) in per_domain_keys.keys.iter().cloned().zip(counts) {
        if n > 0 {
            *calls.entry(key).or_default() += n;
        }
    }
    for (key, used) in per_run_keys.keys.iter().cloned().zip(per_run_used) {
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
    out.basis = "declared calls: per-domain calls once per domain, per-run calls once".into();
    if !shares.is_empty() {
        out.basis
            .push_str(", conditional calls for their share of domains");
    }
    if simulate && out.module_runs > 0 {
        let concurrency = settings.run.concurrency.max(1);
        let input = SimInput {
            providers: providers
                .keys
                .iter()
                .map(|id| {
                    let p = gateway.provider(id);
                    let rl = p.and_then(|p| p.rate_limit.as_ref());
                    let rate = rl
                        .and_then(|rl| rl.per_second.or(rl.per_minute.map(|m| m / 60.0)))
                        .filter(|r| *r > 0.0);
                    SimProvider {
                        interval: rate.map(|r| 1.0 / r),
                        burst: rl.map_or(1, |rl| rl.burst),
                        max_in_flight: p.and_then(|p| p.max_in_flight),
                    }
                })
                .collect(),
            groups: groups
                .keys
                .iter()
                .zip(&group_rule)
                .map(|(g, rule)| SimGroup {
                    provider: providers.index.get(&g.provider).copied().unwrap_or(0),
                    max_items: rule.as_ref().map(|r| r.0.max(1) as usize),
                    window: rule.as_ref().map_or(0.0, |r| r.1 as f64 / 1000.0),
                })
                .collect(),
            modules: modules
                .iter()
                .map(|m| SimModule {
                    deps: plan
                        .module(&m.id)
                        .map(|pm| {
                            pm.spec()
                                .dependencies
                                .iter()
                                .filter_map(|d| modules.iter().position(|o| &o.id == d))
                                .collect()
                        })
                        .unwrap_or_default(),
                    steps: m
                        .steps
                        .iter()
                        .map(|s| SimStep {
                            share: s.share,
                            call: match &s.kind {
                                StepKind::Plain { key, per_run } => SimCall::Plain {
                                    provider: s.provider,
                                    key: *key,
                                    per_run: *per_run,
                                },
                                StepKind::Items { group, count, pool } => SimCall::Items {
                                    group: *group,
                                    count: *count,
                                    pool: *pool,
                                },
                            },
                        })
                        .collect(),
                })
                .collect(),
            runs,
            made,
            shares: shares.len(),
            permits: concurrency,
            domains_in_flight: (concurrency * crate::jobs::LOCAL_DOMAINS_PER_PERMIT).max(4),
            latency: policy.latency_ms / 1000.0,
        };
        let sim = simulate_run(&input);
        for (g, key) in groups.keys.iter().enumerate() {
            let (requests, sent) = (sim.requests[g], sim.items[g]);
            if requests == 0 {
                continue;
            }
            let e = out.providers.entry(key.provider.clone()).or_default();
            e.calls += requests;
            if let Some(p) = gateway.provider(&key.provider) {
                e.cost += requests as f64 * p.cost_for(&key.path);
            }
            let mut endpoint = key.path.clone();
            for (k, v) in &key.query {
                endpoint.push_str(&format!(" {k}={v}"));
            }
            e.items.push(ItemsEstimate {
                endpoint,
                items: sent,
                calls: requests,
                max_items: group_rule[g].as_ref().map(|r| r.0),
            });
        }
        out.simulated_seconds = Some(sim.seconds);
        out.basis.push_str(&format!(
            "; calls carrying items simulated in virtual time (batch rules, cache, rate limits, \
             {concurrency} module runs at once, {} ms a request)",
            policy.latency_ms
        ));
    }
    for (k, s) in share_keys.keys.iter().zip(&shares) {
        out.assumptions.push(Assumption {
            kind: "share",
            key: k.clone(),
            value: *s,
            basis: if s.is_some() {
                "config [estimate.shares]"
            } else {
                "not configured (upper bound)"
            },
        });
    }
    for k in &pool_keys.keys {
        let v = policy.pools.get(k).map(|v| *v as f64);
        out.assumptions.push(Assumption {
            kind: "pool",
            key: k.clone(),
            value: v,
            basis: if v.is_some() {
                "config [estimate.pools]"
            } else {
                "not configured (upper bound)"
            },
        });
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
    out.providers.retain(|_, e| e.calls > 0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::decide;

    #[test]
    fn shares_are_spread_evenly_and_rounded() {
        let count = |share: f64, n: u64| (0..n).filter(|&i| decide(share, i)).count();
        assert_eq!(count(0.1, 1000), 100);
        assert_eq!(count(0.5, 1), 1);
        assert_eq!(count(0.0, 50), 0);
        assert_eq!(count(1.0, 50), 50);
        assert_eq!(count(0.25, 10), 3);
        // Every tenth domain, not the first hundred.
        assert!((0..1000).filter(|&i| decide(0.1, i)).all(|i| i % 10 == 4));
    }
}
