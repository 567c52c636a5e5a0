//! The application's own Prometheus series, next to the gateway's (registered into the same
//! registry): module runs and durations from the executor's events, queue depth, alert
//! deliveries, remaining budget and build info. Gauges that mirror the database are refreshed
//! at scrape time, so `/metrics` is as current as the store.

use crate::adapters::StoreLedger;
use chrono::Utc;
use pforge_budget::BudgetConfig;
use pforge_orchestrator::{EventSink, RunEvent};
use pforge_store::{ItemStatus, JobStatus, QueueStatus, Store};
use pforge_versioning::DispatchReport;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// `module`, `status` of a finished module run (`new_version`, `unchanged`, `fresh`, `failed`,
/// `skipped`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModuleRunLabels {
    pub module: String,
    pub status: String,
}

/// `module` of a timed module run.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModuleLabel {
    pub module: String,
}

/// `state` of queued work (`pending`, `running`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: String,
}

/// `channel`, `status` of one alert delivery attempt (`delivered`, `retry`, `dead`,
/// `disabled`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AlertLabels {
    pub channel: String,
    pub status: String,
}

/// `provider` (`total` for the total caps, as `pforge budget` names them), `period` (`daily`,
/// `monthly`) of a budget cap.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BudgetLabels {
    pub provider: String,
    pub period: String,
}

/// `version` of the running binary.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
}

type DurationFamily = Family<ModuleLabel, Histogram, fn() -> Histogram>;

fn module_histogram() -> Histogram {
    // 5 ms .. ~164 s: module runs range from a cache hit to a slow paid API with retries.
    Histogram::new(exponential_buckets(0.005, 2.0, 16))
}

/// Every application series. Cheap to clone (series are shared).
#[derive(Clone)]
pub struct AppMetrics {
    pub module_runs: Family<ModuleRunLabels, Counter>,
    pub module_duration: DurationFamily,
    pub queue_items: Family<StateLabel, Gauge>,
    pub alerts: Family<AlertLabels, Counter>,
    pub budget_remaining: Family<BudgetLabels, Gauge<f64, AtomicU64>>,
    pub build_info: Family<BuildLabels, Gauge>,
    /// Queue rows claimed by this process's workers.
    pub worker_claims: Counter,
    /// Claims this process's workers lost: expired and taken by another worker, found by a
    /// heartbeat or by a fenced write that was refused.
    pub worker_leases_lost: Counter,
    /// Heartbeats that could not reach the database (the worker stops claiming meanwhile).
    pub worker_heartbeats_missed: Counter,
    /// Credit reservations (charge holds) this process holds in the database right now.
    pub worker_reservations_held: Gauge,
    /// Round-trip time of one claim (the queue's hot query): should stay flat as the queue
    /// fills and drains, which is what a growing or bloated table would break first.
    pub worker_claim_duration: Histogram,
    /// Finished queue rows this process's workers deleted on their prune schedule.
    pub worker_rows_pruned: Counter,
}

impl AppMetrics {
    /// Creates the series and registers them (names follow Prometheus conventions: counters
    /// get `_total` from the encoder, durations are in seconds).
    pub fn new(registry: &mut Registry) -> AppMetrics {
        let m = AppMetrics {
            module_runs: Family::default(),
            module_duration: Family::new_with_constructor(module_histogram),
            queue_items: Family::default(),
            alerts: Family::default(),
            budget_remaining: Family::default(),
            build_info: Family::default(),
            worker_claims: Counter::default(),
            worker_leases_lost: Counter::default(),
            worker_heartbeats_missed: Counter::default(),
            worker_reservations_held: Gauge::default(),
            // 0.5 ms .. ~16 s.
            worker_claim_duration: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            worker_rows_pruned: Counter::default(),
        };
        registry.register(
            "pforge_module_runs",
            "Finished module runs, by module and outcome",
            m.module_runs.clone(),
        );
        registry.register(
            "pforge_module_duration_seconds",
            "Wall time of module runs that did work (not fresh or skipped)",
            m.module_duration.clone(),
        );
        registry.register(
            "pforge_queue_items",
            "Queued domains of unfinished jobs by state (one queue row per domain)",
            m.queue_items.clone(),
        );
        registry.register(
            "pforge_alerts",
            "Alert delivery attempts, by channel and outcome",
            m.alerts.clone(),
        );
        registry.register(
            "pforge_budget_remaining",
            "Credits left under each budget cap in its current period (provider total = the total caps)",
            m.budget_remaining.clone(),
        );
        registry.register(
            "pforge_build_info",
            "Always 1; the labels describe the running build",
            m.build_info.clone(),
        );
        registry.register(
            "pforge_worker_claims",
            "Queue rows (domains) claimed by this process's workers",
            m.worker_claims.clone(),
        );
        registry.register(
            "pforge_worker_leases_lost",
            "Claims lost to another worker after their lease expired (heartbeat or refused write)",
            m.worker_leases_lost.clone(),
        );
        registry.register(
            "pforge_worker_heartbeats_missed",
            "Worker heartbeats that could not reach the database (no claims until it answers)",
            m.worker_heartbeats_missed.clone(),
        );
        registry.register(
            "pforge_worker_reservations_held",
            "Credit reservations (charge holds) this process holds in the database now",
            m.worker_reservations_held.clone(),
        );
        registry.register(
            "pforge_worker_claim_duration_seconds",
            "Round-trip time of one claim of queued domains (claims that returned rows)",
            m.worker_claim_duration.clone(),
        );
        registry.register(
            "pforge_worker_queue_rows_pruned",
            "Finished queue rows deleted by this process's workers on their prune schedule",
            m.worker_rows_pruned.clone(),
        );
        m.build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_string(),
            })
            .set(1);
        for state in ["pending", "running"] {
            m.queue_items
                .get_or_create(&StateLabel {
                    state: state.into(),
                })
                .set(0);
        }
        m
    }

    /// Records one executor event.
    pub fn observe(&self, event: &RunEvent) {
        if let RunEvent::ModuleFinished {
            module,
            status,
            duration_ms,
            ..
        } = event
        {
            self.module_runs
                .get_or_create(&ModuleRunLabels {
                    module: module.clone(),
                    status: status.as_str().to_string(),
                })
                .inc();
            if !matches!(status, ItemStatus::Fresh | ItemStatus::Skipped) {
                self.module_duration
                    .get_or_create(&ModuleLabel {
                        module: module.clone(),
                    })
                    .observe(*duration_ms as f64 / 1000.0);
            }
        }
    }

    /// An event sink that records metrics and then passes the event on to `next` (the log
    /// lines).
    pub fn sink(&self, next: EventSink) -> EventSink {
        let me = self.clone();
        Arc::new(move |ev: &RunEvent| {
            me.observe(ev);
            next(ev);
        })
    }

    /// Counts the attempts of one alert dispatch round.
    pub fn record_dispatch(&self, report: &DispatchReport) {
        for a in &report.attempts {
            self.alerts
                .get_or_create(&AlertLabels {
                    channel: a.channel.clone(),
                    status: a.outcome.clone(),
                })
                .inc();
        }
    }

    /// Re-reads the gauges that mirror the database: queue depth and remaining budget (read
    /// the way `pforge budget` reads it: one implementation of "spend against a cap").
    pub async fn refresh(&self, store: Arc<dyn Store>, caps: &BudgetConfig) -> Result<(), String> {
        let (pending, running) = queue_depth(store.as_ref())
            .await
            .map_err(|e| e.to_string())?;
        self.queue_items
            .get_or_create(&StateLabel {
                state: "pending".into(),
            })
            .set(pending);
        self.queue_items
            .get_or_create(&StateLabel {
                state: "running".into(),
            })
            .set(running);
        let ledger = StoreLedger::new(store);
        for cap in pforge_budget::cap_status(caps, &ledger, Utc::now())
            .await
            .map_err(|e| e.to_string())?
        {
            self.budget_remaining
                .get_or_create(&BudgetLabels {
                    provider: cap.scope,
                    period: cap.period.to_string(),
                })
                .set(cap.remaining);
        }
        Ok(())
    }
}

/// Rewrites `prometheus-client`'s OpenMetrics text into the Prometheus text format 0.0.4, for
/// scrapers that do not ask for OpenMetrics (curl, `promtool check metrics`, older agents). The
/// two differ, for the metric types used here, only in that 0.0.4 names a counter family by its
/// sample name (`x_total`), has no `# UNIT` lines and no `# EOF` terminator.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(l) => out.push_str(&l),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// How many jobs are looked at for queue depth: unfinished jobs are few, and the newest are
/// listed first.
const QUEUE_SCAN_JOBS: i64 = 500;

/// Pending and running queue rows over the unfinished jobs.
async fn queue_depth(store: &dyn Store) -> Result<(i64, i64), pforge_store::StoreError> {
    let mut pending = 0;
    let mut running = 0;
    for job in store.list_jobs(QUEUE_SCAN_JOBS).await? {
        if job.status != JobStatus::Running {
            continue;
        }
        let counts = store.queue_counts(job.id).await?;
        pending += counts.get(&QueueStatus::Pending).copied().unwrap_or(0);
        running += counts.get(&QueueStatus::Running).copied().unwrap_or(0);
    }
    Ok((pending, running))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_move_counters_and_names_follow_conventions() {
        let mut registry = Registry::default();
        let m = AppMetrics::new(&mut registry);
        m.observe(&RunEvent::ModuleFinished {
            domain: "a.com".into(),
            module: "m01".into(),
            status: ItemStatus::NewVersion,
            version: Some(1),
            error: None,
            duration_ms: 250,
        });
        m.observe(&RunEvent::ModuleFinished {
            domain: "a.com".into(),
            module: "m01".into(),
            status: ItemStatus::Fresh,
            version: Some(1),
            error: None,
            duration_ms: 0,
        });
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for series in [
            r#"pforge_module_runs_total{module="m01",status="new_version"} 1"#,
            r#"pforge_module_runs_total{module="m01",status="fresh"} 1"#,
            r#"pforge_module_duration_seconds_count{module="m01"} 1"#,
            r#"pforge_module_duration_seconds_sum{module="m01"} 0.25"#,
            r#"pforge_queue_items{state="pending"} 0"#,
            r#"pforge_build_info{version=""#,
        ] {
            assert!(text.contains(series), "missing {series} in\n{text}");
        }
    }

    #[test]
    fn prometheus_text_names_counters_by_their_samples() {
        let om = "# HELP a_runs Runs.\n# TYPE a_runs counter\na_runs_total{m=\"x\"} 2\n\
                  # HELP b_seconds Wait.\n# TYPE b_seconds histogram\n# UNIT b_seconds seconds\n\
                  b_seconds_sum 0.0\nb_seconds_count 0\nb_seconds_bucket{le=\"+Inf\"} 0\n# EOF\n";
        let text = to_prometheus_text(om);
        assert_eq!(
            text,
            "# HELP a_runs_total Runs.\n# TYPE a_runs_total counter\na_runs_total{m=\"x\"} 2\n\
             # HELP b_seconds Wait.\n# TYPE b_seconds histogram\n\
             b_seconds_sum 0.0\nb_seconds_count 0\nb_seconds_bucket{le=\"+Inf\"} 0\n"
        );
    }
}
