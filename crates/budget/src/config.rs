//! Provider policy as read from `[providers.*]` in `config/pforge.toml`.
//!
//! Every field added after the first version has a serde default, so older config files still
//! parse; unknown keys are still rejected so that a typo never silently disables a limit.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// All configured providers, keyed by provider id (`homepage`, `dns`, `sec_edgar`, ...).
pub type ProvidersConfig = BTreeMap<String, ProviderConfig>;

/// Policy for one provider. Mechanism lives in [`crate::Gateway`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Base URL calls are appended to. `{domain}` is replaced by the call's domain, so the
    /// homepage provider can be `https://{domain}` in production and a fixture path offline.
    pub base_url: String,
    /// Per-request timeout in seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: f64,
    /// Extra headers sent on every call (e.g. SEC's required `User-Agent`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Largest response body accepted, in bytes.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: u64,
    /// How the provider's secret is sent. The secret itself never lives in config text.
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// Credits one call costs. 0 means free: free calls are not budgeted nor written to the ledger.
    #[serde(default)]
    pub cost: f64,
    /// Cost overrides by path prefix (longest prefix wins), for providers whose endpoints are
    /// priced differently.
    #[serde(default)]
    pub endpoint_costs: BTreeMap<String, f64>,
    /// When a call is charged.
    #[serde(default)]
    pub charge: ChargeMode,
    /// Provider-wide request rate. None means unlimited.
    #[serde(default)]
    pub rate_limit: Option<RateLimitConfig>,
    /// Rate per target host (keyed by the call's domain, else the URL host): politeness for
    /// providers that fetch the companies' own sites.
    #[serde(default)]
    pub per_host_rate_limit: Option<RateLimitConfig>,
    /// Most requests to this provider in flight at once. None means unbounded.
    #[serde(default)]
    pub max_in_flight: Option<u32>,
    /// Retry policy for transient failures.
    #[serde(default)]
    pub retry: RetryConfig,
    /// Circuit breaker policy.
    #[serde(default)]
    pub circuit_breaker: BreakerConfig,
    /// How long a successful answer is reused, in seconds. 0 disables caching, but identical
    /// concurrent calls are still coalesced into one request.
    #[serde(default)]
    pub cache_ttl_secs: u64,
    /// Require a JSON content type on successful answers (API providers), so an HTML error page
    /// served with 200 is reported as such instead of as a JSON parse error.
    #[serde(default)]
    pub expect_json: bool,
    /// Most redirects followed. 0 means redirects are returned as errors.
    #[serde(default = "default_max_redirects")]
    pub max_redirects: u32,
    /// Let this provider reach non-public addresses (loopback, private, link-local, metadata...)
    /// through domain-derived URLs and redirects. Off by default: the SSRF guard refuses them,
    /// except the host and port of `base_url` itself. Turn on only to enrich intranet sites.
    #[serde(default)]
    pub allow_private: bool,
    /// Endpoints whose calls may be merged into one request (`[[providers.X.batch]]`), e.g.
    /// Wikidata's `wbgetentities`, which takes up to 50 ids: callers keep asking for their own
    /// items and the gateway sends one request for many of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub batch: Vec<BatchConfig>,
}

/// A batchable endpoint: calls to `path` whose query has every `match` pair and exactly one
/// `param` are split into items (`param`'s value split on `separator`). Items wanted by calls
/// whose *other* parameters and headers are identical, and that arrive within `window_ms`, are
/// asked for in one request (at most `max_items` each); the JSON answer is split by the keys of
/// the object at `split`, and each caller gets an answer of the provider's shape holding only its
/// own items. Items are cached and single-flighted one by one, so an item fetched for one caller
/// is not fetched again for another within the provider's `cache_ttl_secs`.
///
/// A batch request is one call for rate limits, the breaker, retries and the budget: it costs
/// what one call to `path` costs, reserved and charged once, and its ledger entry names the
/// module, domain and job of the call whose item opened the batch (the other callers, possibly
/// of other domains or jobs, are not charged). Caps are per provider, total and per run, so they
/// hold exactly; per-job spend reports attribute shared requests to the opener.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Path of the endpoint, exactly as calls give it (e.g. `/w/api.php`).
    pub path: String,
    /// Query parameters a call must have, with these values, to be batched (e.g.
    /// `{ action = "wbgetentities" }`): they tell apart endpoints sharing one path.
    #[serde(default, rename = "match")]
    pub match_query: BTreeMap<String, String>,
    /// The query parameter holding the items (e.g. `ids`).
    pub param: String,
    /// What joins items in `param` (e.g. `|`).
    #[serde(default = "default_separator")]
    pub separator: String,
    /// Most items one request may ask for (the provider's own limit, 50 for `wbgetentities`).
    pub max_items: u32,
    /// JSON Pointer to the object, keyed by item, in the answer (e.g. `/entities`; `""` for the
    /// root).
    pub split: String,
    /// How long the first item of a batch waits for others, in milliseconds. While one batch
    /// waits for a rate-limit or in-flight slot, the next one keeps filling.
    #[serde(default = "default_window_ms")]
    pub window_ms: u64,
    /// Largest answer accepted for one batch request, in bytes (default: the provider's
    /// `max_body_bytes`). Answers that are too large are split in two and asked again.
    #[serde(default)]
    pub max_body_bytes: Option<u64>,
}

/// Upper bound on `max_items`: beyond this a URL is too long for any server anyway.
pub(crate) const MAX_BATCH_ITEMS: u32 = 10_000;
/// Upper bound on `window_ms`: the window delays the first call of every batch.
pub(crate) const MAX_BATCH_WINDOW_MS: u64 = 1_000;

impl BatchConfig {
    /// Why this declaration cannot work, if it cannot (checked when the gateway is built).
    pub(crate) fn problem(&self) -> Option<String> {
        if !(self.path.is_empty() || self.path.starts_with('/')) {
            return Some(format!("`path` must start with '/', got {:?}", self.path));
        }
        if self.param.is_empty() {
            return Some("`param` must name the query parameter holding the items".into());
        }
        if self.match_query.contains_key(&self.param) {
            return Some(format!(
                "`match` may not constrain the batched parameter {:?}",
                self.param
            ));
        }
        if self.separator.is_empty() {
            return Some("`separator` must not be empty".into());
        }
        if !(1..=MAX_BATCH_ITEMS).contains(&self.max_items) {
            return Some(format!(
                "`max_items` must be between 1 and {MAX_BATCH_ITEMS}, got {}",
                self.max_items
            ));
        }
        if !(self.split.is_empty() || self.split.starts_with('/')) {
            return Some(format!(
                "`split` must be a JSON Pointer (\"\" or starting with '/'), got {:?}",
                self.split
            ));
        }
        if self.window_ms > MAX_BATCH_WINDOW_MS {
            return Some(format!(
                "`window_ms` must be at most {MAX_BATCH_WINDOW_MS} (it delays calls), got {}",
                self.window_ms
            ));
        }
        if self.max_body_bytes == Some(0) {
            return Some("`max_body_bytes` must be at least 1".into());
        }
        None
    }
}

/// Where the provider's secret goes and where it is read from. Exactly one of `header`/`query`
/// and exactly one of `env`/`file` must be set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Send the secret in this request header (e.g. `Authorization`).
    #[serde(default)]
    pub header: Option<String>,
    /// Text put before the secret in the header value (e.g. `Bearer `).
    #[serde(default)]
    pub prefix: String,
    /// Send the secret as this query parameter (e.g. `api_key`); it is masked as `***` in every
    /// URL the gateway shows.
    #[serde(default)]
    pub query: Option<String>,
    /// Read the secret from this environment variable.
    #[serde(default)]
    pub env: Option<String>,
    /// Read the secret from this file (trailing whitespace trimmed), e.g. a mounted secret.
    #[serde(default)]
    pub file: Option<PathBuf>,
}

/// Whether a provider bills every attempt or only answers that carry data.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ChargeMode {
    /// Every request sent is charged, whatever the answer (the safe assumption).
    #[default]
    EveryAttempt,
    /// Only 2xx answers are charged; failed attempts release their reservation.
    OnSuccess,
}

/// A GCRA rate: `per_second` or `per_minute` (one of them), with a burst size.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained requests per second (fractions allowed, e.g. 0.5).
    #[serde(default)]
    pub per_second: Option<f64>,
    /// Sustained requests per minute.
    #[serde(default)]
    pub per_minute: Option<f64>,
    /// Requests that may go back to back before the rate applies.
    #[serde(default = "default_burst")]
    pub burst: u32,
}

impl RateLimitConfig {
    /// `n` requests per second with a burst of 1: strictly spaced, the polite default.
    pub fn per_second(n: f64) -> Self {
        RateLimitConfig {
            per_second: Some(n),
            per_minute: None,
            burst: default_burst(),
        }
    }
}

/// Exponential backoff with jitter for transient failures (connect errors, timeouts, 429, 502,
/// 503, 504). Other errors are never retried.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Total attempts including the first. 1 disables retries.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// First backoff delay, in milliseconds.
    #[serde(default = "default_min_delay_ms")]
    pub min_delay_ms: u64,
    /// Largest backoff delay, in milliseconds (a longer Retry-After is still honoured).
    #[serde(default = "default_max_delay_ms")]
    pub max_delay_ms: u64,
    /// Give up rather than wait past this many seconds since the first attempt.
    #[serde(default = "default_max_elapsed_secs")]
    pub max_elapsed_secs: f64,
    /// Randomize delays so that many workers do not retry in lockstep.
    #[serde(default = "default_true")]
    pub jitter: bool,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: default_max_attempts(),
            min_delay_ms: default_min_delay_ms(),
            max_delay_ms: default_max_delay_ms(),
            max_elapsed_secs: default_max_elapsed_secs(),
            jitter: true,
        }
    }
}

/// After `failures` consecutive transient failures the provider is skipped for `cooldown_secs`,
/// then one probe call decides whether it is back.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BreakerConfig {
    /// Consecutive failures that open the circuit. 0 disables the breaker.
    #[serde(default = "default_breaker_failures")]
    pub failures: u32,
    /// Seconds the circuit stays open before a probe is let through.
    #[serde(default = "default_cooldown_secs")]
    pub cooldown_secs: f64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failures: default_breaker_failures(),
            cooldown_secs: default_cooldown_secs(),
        }
    }
}

fn default_timeout_secs() -> f64 {
    20.0
}
fn default_max_body_bytes() -> u64 {
    10 * 1024 * 1024
}
fn default_max_redirects() -> u32 {
    5
}
fn default_burst() -> u32 {
    1
}
fn default_max_attempts() -> u32 {
    3
}
fn default_min_delay_ms() -> u64 {
    500
}
fn default_max_delay_ms() -> u64 {
    10_000
}
fn default_max_elapsed_secs() -> f64 {
    60.0
}
fn default_true() -> bool {
    true
}
fn default_breaker_failures() -> u32 {
    5
}
fn default_cooldown_secs() -> f64 {
    30.0
}
fn default_separator() -> String {
    "|".into()
}
fn default_window_ms() -> u64 {
    5
}

impl ProviderConfig {
    /// A provider with default policy, for tests and fixture rewrites.
    pub fn new(base_url: impl Into<String>) -> Self {
        ProviderConfig {
            base_url: base_url.into(),
            timeout_secs: default_timeout_secs(),
            headers: BTreeMap::new(),
            max_body_bytes: default_max_body_bytes(),
            auth: None,
            cost: 0.0,
            endpoint_costs: BTreeMap::new(),
            charge: ChargeMode::default(),
            rate_limit: None,
            per_host_rate_limit: None,
            max_in_flight: None,
            retry: RetryConfig::default(),
            circuit_breaker: BreakerConfig::default(),
            cache_ttl_secs: 0,
            expect_json: false,
            max_redirects: default_max_redirects(),
            allow_private: false,
            batch: Vec::new(),
        }
    }

    /// Credits a call to `path` costs: the longest matching `endpoint_costs` prefix, else `cost`.
    pub fn cost_for(&self, path: &str) -> f64 {
        self.endpoint_costs
            .iter()
            .filter(|(prefix, _)| path.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, c)| *c)
            .unwrap_or(self.cost)
    }

    /// Whether the base URL is per target site, so politeness and breakers are kept per host.
    pub fn is_per_domain(&self) -> bool {
        self.base_url.contains("{domain}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_configs_still_parse_and_new_keys_are_read() {
        let old: ProviderConfig = toml_like(r#"{"base_url":"https://x","timeout_secs":5}"#);
        assert_eq!(old.cache_ttl_secs, 0);
        assert_eq!(old.retry.max_attempts, 3);
        let new: ProviderConfig = toml_like(
            r#"{"base_url":"https://x","cost":2,"endpoint_costs":{"/v1/big":5},
                "charge":"on_success","rate_limit":{"per_second":10},
                "auth":{"query":"api_key","env":"K"}}"#,
        );
        assert_eq!(new.charge, ChargeMode::OnSuccess);
        assert_eq!(new.cost_for("/v1/big/x"), 5.0);
        assert_eq!(new.cost_for("/v1/small"), 2.0);
        assert_eq!(new.rate_limit.unwrap().burst, 1);
        let typo = serde_json::from_str::<ProviderConfig>(r#"{"base_url":"x","cost_per_cal":1}"#);
        assert!(typo.is_err());
    }

    fn toml_like(json: &str) -> ProviderConfig {
        serde_json::from_str(json).unwrap()
    }
}
