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

/// Labels for the per-attempt request counter: `code` is the HTTP status code or an error kind
/// (`timeout`, `connect`, `body`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub provider: String,
    pub code: String,
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

/// Items per batch request: 1, 2, 4, ... 1024.
fn items_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 11))
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
    /// Items asked for by each batch request (see [`crate::BatchConfig`]).
    pub batch_size: Hist,
    /// Items answered by batch requests (each item once per request that answered it; later
    /// callers served from the cache count under `cache_hits`).
    pub batched_items: Family<ProviderLabel, Counter>,
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
            batch_size: Family::new_with_constructor(items_histogram),
            batched_items: Family::default(),
        }
    }
}

impl GatewayMetrics {
    /// Registers every series under the names the daemon's `/metrics` documents (Prometheus
    /// conventions: counters end in `_total`, durations are `_seconds`):
    /// `pforge_provider_requests_total{provider,code}`, `pforge_provider_spend_total{provider}`
    /// (credits), `pforge_provider_cache_hits_total`, `pforge_provider_coalesced_total`,
    /// `pforge_provider_retries_total`, `pforge_provider_refused_total{provider,reason}`,
    /// `pforge_rate_limit_wait_seconds{provider}`,
    /// `pforge_provider_request_duration_seconds{provider}` and
    /// `pforge_provider_batch_size{provider}` (histograms), and
    /// `pforge_provider_batched_items_total{provider}`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "pforge_provider_requests",
            "Requests sent to providers, by provider and HTTP status code or error kind",
            self.calls.clone(),
        );
        registry.register(
            "pforge_provider_spend",
            "Credits charged by providers",
            self.spend.clone(),
        );
        registry.register(
            "pforge_provider_cache_hits",
            "Provider answers served from the gateway cache",
            self.cache_hits.clone(),
        );
        registry.register(
            "pforge_provider_coalesced",
            "Provider calls coalesced into an identical call in flight",
            self.coalesced.clone(),
        );
        registry.register(
            "pforge_provider_retries",
            "Retries of transient provider failures",
            self.retries.clone(),
        );
        registry.register(
            "pforge_provider_refused",
            "Provider calls refused by a budget cap or an open circuit",
            self.refused.clone(),
        );
        registry.register(
            "pforge_rate_limit_wait_seconds",
            "Time spent waiting for a provider rate-limit permit",
            self.rate_limit_wait.clone(),
        );
        registry.register(
            "pforge_provider_request_duration_seconds",
            "Provider request latency, body included",
            self.latency.clone(),
        );
        registry.register(
            "pforge_provider_batch_size",
            "Items asked for by one batch request to a provider",
            self.batch_size.clone(),
        );
        registry.register(
            "pforge_provider_batched_items",
            "Items answered by batch requests to providers",
            self.batched_items.clone(),
        );
    }

    pub(crate) fn provider(p: &str) -> ProviderLabel {
        ProviderLabel {
            provider: p.to_string(),
        }
    }

    /// Count of calls for a provider and status code or error kind (tests and summaries).
    pub fn calls_for(&self, provider: &str, code: &str) -> u64 {
        self.calls
            .get_or_create(&CallLabels {
                provider: provider.into(),
                code: code.into(),
            })
            .get()
    }
}
