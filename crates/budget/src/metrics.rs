//! Gateway metrics (`prometheus-client`), registered into a registry the daemon serves.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// Labels for per-provider series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderLabel {
    pub provider: String,
}

/// Labels for the per-attempt call counter: `status` is the HTTP code or an error kind
/// (`timeout`, `connect`, `body`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub provider: String,
    pub status: String,
}

/// Labels for refusals: `reason` is the cap name (`similarweb daily`, `run`) or `circuit_open`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    pub provider: String,
    pub reason: String,
}

type Hist = Family<ProviderLabel, Histogram, fn() -> Histogram>;

fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// Every gateway metric. Cheap to clone: the series are shared, so a clone registered elsewhere
/// reports the same numbers.
#[derive(Clone)]
pub struct GatewayMetrics {
    /// Requests sent, by provider and status code or error kind.
    pub calls: Family<CallLabels, Counter>,
    /// Credits charged.
    pub spend: Family<ProviderLabel, Counter<f64, AtomicU64>>,
    /// Answers served from the cache.
    pub cache_hits: Family<ProviderLabel, Counter>,
    /// Calls that waited for an identical call in flight instead of sending their own.
    pub coalesced: Family<ProviderLabel, Counter>,
    /// Retries of transient failures.
    pub retries: Family<ProviderLabel, Counter>,
    /// Calls refused by a budget cap or an open circuit.
    pub refused: Family<RefusalLabels, Counter>,
    /// Time spent waiting for a rate-limit permit.
    pub rate_limit_wait: Hist,
    /// Time from sending a request to reading its whole body.
    pub latency: Hist,
}

impl Default for GatewayMetrics {
    fn default() -> Self {
        GatewayMetrics {
            calls: Family::default(),
            spend: Family::default(),
            cache_hits: Family::default(),
            coalesced: Family::default(),
            retries: Family::default(),
            refused: Family::default(),
            rate_limit_wait: Family::new_with_constructor(seconds_histogram),
            latency: Family::new_with_constructor(seconds_histogram),
        }
    }
}

impl GatewayMetrics {
    /// Registers every series under the `pforge_gateway_` prefix.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("pforge_gateway");
        r.register(
            "calls",
            "Requests sent, by provider and status",
            self.calls.clone(),
        );
        r.register("spend_credits", "Credits charged", self.spend.clone());
        r.register(
            "cache_hits",
            "Answers served from cache",
            self.cache_hits.clone(),
        );
        r.register(
            "coalesced",
            "Calls coalesced into an identical in-flight call",
            self.coalesced.clone(),
        );
        r.register(
            "retries",
            "Retries of transient failures",
            self.retries.clone(),
        );
        r.register(
            "refused",
            "Calls refused by a budget cap or open circuit",
            self.refused.clone(),
        );
        r.register(
            "rate_limit_wait_seconds",
            "Time waiting for a rate-limit permit",
            self.rate_limit_wait.clone(),
        );
        r.register(
            "request_duration_seconds",
            "Request latency including body",
            self.latency.clone(),
        );
    }

    pub(crate) fn provider(p: &str) -> ProviderLabel {
        ProviderLabel {
            provider: p.to_string(),
        }
    }

    /// Count of calls for a provider and status (tests and summaries).
    pub fn calls_for(&self, provider: &str, status: &str) -> u64 {
        self.calls
            .get_or_create(&CallLabels {
                provider: provider.into(),
                status: status.into(),
            })
            .get()
    }
}
