//! The `Gateway`: every outbound call goes cache/single-flight → circuit breaker → budget
//! reservation → in-flight limit → rate limit → HTTP → budget commit/release → metrics, with
//! transient failures retried around everything after the cache. Calls to endpoints declared
//! batchable are served item by item and merged into shared requests (`batch.rs`).

use crate::batch::Batcher;
use crate::budget::{Budget, CallParts, LedgerEntryParts};
use crate::cache::{new_cache, CacheKey, Cached, Entry, ResponseCache};
use crate::caps::BudgetConfig;
use crate::config::ChargeMode;
use crate::health::ProviderHealth;
use crate::http::{Attempt, Failure};
use crate::ledger::{Ledger, MemoryLedger};
use crate::metrics::{CallLabels, GatewayMetrics, RefusalLabels};
use crate::provider::ProviderRuntime;
use crate::{Call, GatewayError, ProviderConfig, ProvidersConfig, Response, SharedLimiter};
use backon::Retryable;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The single path for outbound HTTP. Cheap to clone (shared state behind an `Arc`).
#[derive(Clone)]
pub struct Gateway {
    pub(crate) inner: Arc<Inner>,
    /// Job every call through this handle belongs to, when the call does not say (see
    /// [`Gateway::for_job`]).
    job: Option<Arc<str>>,
}

pub(crate) struct Inner {
    providers: ProvidersConfig,
    runtimes: HashMap<String, Arc<ProviderRuntime>>,
    budget: Arc<Budget>,
    pub(crate) cache: ResponseCache,
    pub(crate) metrics: GatewayMetrics,
    /// Cross-process pacing, on top of the local `governor` limiters.
    shared: Option<Arc<dyn SharedLimiter>>,
    /// Queues and in-flight items of batchable endpoints.
    pub(crate) batcher: Batcher,
}

/// Called once when a request gets past every limiter (or gives up before): lets the batcher
/// send the next batch of a group as soon as the previous one has left.
pub(crate) struct Departure(Mutex<Option<Box<dyn FnOnce() + Send>>>);

impl Departure {
    pub(crate) fn new(f: impl FnOnce() + Send + 'static) -> Self {
        Departure(Mutex::new(Some(Box::new(f))))
    }

    /// Runs the callback the first time only.
    pub(crate) fn fire(&self) {
        let f = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(f) = f {
            f();
        }
    }
}

impl Drop for Departure {
    /// A request abandoned before it got past the limiters (a panic) still leaves.
    fn drop(&mut self) {
        self.fire();
    }
}

/// Assembles a [`Gateway`] with its ledger, caps and metrics registry.
pub struct GatewayBuilder {
    providers: ProvidersConfig,
    ledger: Option<Arc<dyn Ledger>>,
    caps: BudgetConfig,
    run_budget: Option<f64>,
    metrics: GatewayMetrics,
    cache_capacity_bytes: u64,
    shared: Option<Arc<dyn SharedLimiter>>,
    job_cap: Option<f64>,
}

impl GatewayBuilder {
    /// Where charged calls are written and spend so far is read (default: in memory only, so
    /// daily/monthly caps then only count this process).
    pub fn ledger(mut self, ledger: Arc<dyn Ledger>) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// Spending caps (`[budget]`).
    pub fn caps(mut self, caps: BudgetConfig) -> Self {
        self.caps = caps;
        self
    }

    /// Most credits this run may spend (`--max-spend`); overrides `[budget] per_run`.
    pub fn run_budget(mut self, credits: f64) -> Self {
        self.run_budget = Some(credits);
        self
    }

    /// Registers the gateway's metrics into `registry` (the daemon's `/metrics`).
    pub fn metrics(self, registry: &mut Registry) -> Self {
        self.metrics.register(registry);
        self
    }

    /// Bound on cached response bodies, in bytes (default 256 MiB).
    pub fn cache_capacity_bytes(mut self, bytes: u64) -> Self {
        self.cache_capacity_bytes = bytes;
        self
    }

    /// Paces providers that have a `rate_limit` through `limiter` too, so the limit holds across
    /// every process sharing it (workers on one database), not just within this one.
    pub fn shared_limiter(mut self, limiter: Arc<dyn SharedLimiter>) -> Self {
        self.shared = Some(limiter);
        self
    }

    /// Most credits one job may spend, summed in the ledger over every process working on it
    /// (a job's `max_spend`): calls through [`Gateway::for_job`] handles are held against the
    /// job's charges; calls that name no job count against this process's run instead.
    pub fn job_spend_cap(mut self, credits: f64) -> Self {
        self.job_cap = Some(credits);
        self
    }

    /// Validates every provider's policy and builds the gateway.
    pub fn build(self) -> Result<Gateway, GatewayError> {
        let mut runtimes = HashMap::new();
        for (id, cfg) in &self.providers {
            runtimes.insert(id.clone(), Arc::new(ProviderRuntime::new(id, cfg)?));
        }
        let mut caps = self.caps;
        if let Some(run) = self.run_budget {
            caps.per_run = Some(run);
        }
        let ledger = self.ledger.unwrap_or_else(|| Arc::new(MemoryLedger::new()));
        let budget = Budget::new(caps, self.job_cap, ledger);
        Ok(Gateway {
            inner: Arc::new(Inner {
                providers: self.providers,
                runtimes,
                budget: Arc::new(budget),
                cache: new_cache(self.cache_capacity_bytes),
                metrics: self.metrics,
                shared: self.shared,
                batcher: Batcher::default(),
            }),
            job: None,
        })
    }
}

impl Gateway {
    /// Builds a gateway over the given provider policy, with no caps and an in-memory ledger.
    pub fn new(providers: ProvidersConfig) -> Result<Self, GatewayError> {
        Self::builder(providers).build()
    }

    /// Starts a gateway with ledger, caps and metrics.
    pub fn builder(providers: ProvidersConfig) -> GatewayBuilder {
        GatewayBuilder {
            providers,
            ledger: None,
            caps: BudgetConfig::default(),
            run_budget: None,
            metrics: GatewayMetrics::default(),
            cache_capacity_bytes: 256 * 1024 * 1024,
            shared: None,
            job_cap: None,
        }
    }

    /// Policy of a provider, if configured.
    pub fn provider(&self, id: &str) -> Option<&ProviderConfig> {
        self.inner.providers.get(id)
    }

    /// Whether a provider is configured at all (modules use this to say "no source configured").
    pub fn has_provider(&self, id: &str) -> bool {
        self.inner.providers.contains_key(id)
    }

    /// Why a configured provider cannot be called (its secret is missing), if it cannot.
    pub fn missing_credentials(&self, id: &str) -> Option<String> {
        self.inner
            .runtimes
            .get(id)
            .and_then(|rt| rt.missing_secret())
    }

    /// The gateway's metrics (also registered into the builder's registry, if one was given).
    pub fn metrics(&self) -> &GatewayMetrics {
        &self.inner.metrics
    }

    /// Every provider's rate-limit waits and unhealthy circuit breakers in this process, sorted
    /// by provider id (at most `breakers_per_provider` breakers each: a per-host provider can
    /// have one per site).
    pub fn health(&self, breakers_per_provider: usize) -> Vec<ProviderHealth> {
        let mut out: Vec<ProviderHealth> = self
            .inner
            .runtimes
            .iter()
            .map(|(id, rt)| ProviderHealth {
                provider: id.clone(),
                rate_limited: rt.cfg.rate_limit.is_some() || rt.cfg.per_host_rate_limit.is_some(),
                waits: rt.waits.read(),
                breakers: rt.breakers.status(breakers_per_provider),
            })
            .collect();
        out.sort_by(|a, b| a.provider.cmp(&b.provider));
        out
    }

    /// Credits charged since this gateway was built.
    pub fn spent_this_run(&self) -> f64 {
        self.inner.budget.run_spent()
    }

    /// The URL a call resolves to, without sending it (and without the provider's secret).
    pub fn url_for(&self, call: &Call) -> Result<url::Url, GatewayError> {
        let cfg = self
            .provider(&call.provider)
            .ok_or_else(|| GatewayError::UnknownProvider(call.provider.clone()))?;
        let base = match &call.domain {
            Some(d) => cfg.base_url.replace("{domain}", d),
            None => cfg.base_url.clone(),
        };
        let raw = format!("{}{}", base.trim_end_matches('/'), call.path);
        let mut url = url::Url::parse(&raw).map_err(|e| GatewayError::BadUrl {
            provider: call.provider.clone(),
            url: raw.clone(),
            reason: e.to_string(),
        })?;
        if !call.query.is_empty() {
            url.query_pairs_mut().extend_pairs(call.query.iter());
        }
        Ok(url)
    }

    /// Sends a call and returns the 2xx answer, or an error naming the provider. Answers are
    /// reused within the provider's cache TTL and identical concurrent calls share one request.
    /// Calls to an endpoint declared batchable ([`crate::BatchConfig`]) are merged with other
    /// callers' into shared requests; the answer holds only this call's items and its `url`
    /// names the request actually made.
    pub async fn fetch(&self, call: &Call) -> Result<Response, GatewayError> {
        if let (None, Some(job)) = (&call.job, &self.job) {
            let mut call = call.clone();
            call.job = Some(job.to_string());
            return self.fetch_call(&call).await;
        }
        self.fetch_call(call).await
    }

    /// A handle on the same gateway (shared limits, cache and budget) whose calls are recorded
    /// under `job` in the ledger, so the executor can attribute spend without every module
    /// passing the job id along.
    pub fn for_job(&self, job: &str) -> Gateway {
        Gateway {
            inner: self.inner.clone(),
            job: Some(Arc::from(job)),
        }
    }

    async fn fetch_call(&self, call: &Call) -> Result<Response, GatewayError> {
        let rt = self
            .inner
            .runtimes
            .get(&call.provider)
            .ok_or_else(|| GatewayError::UnknownProvider(call.provider.clone()))?;
        if let Some(reason) = rt.missing_secret() {
            return Err(GatewayError::MissingSecret {
                provider: call.provider.clone(),
                reason,
            });
        }
        let url = self.url_for(call)?;
        rt.guard
            .check_url(&url)
            .map_err(|blocked| GatewayError::Forbidden {
                provider: call.provider.clone(),
                url: rt.masker.url(&url),
                reason: blocked.0,
            })?;
        if let Some(items) = crate::batch::classify(self, rt, call) {
            return self.fetch_items(rt, call, items).await;
        }
        let mut headers = call.headers.clone();
        headers.sort();
        let key = CacheKey {
            provider: call.provider.clone(),
            method: "GET",
            url: url.to_string(),
            headers,
            item: None,
        };
        let label = GatewayMetrics::provider(&call.provider);
        if let Some(Entry::Whole(hit)) = self
            .inner
            .cache
            .get(&key)
            .await
            .as_deref()
            .map(|c| &c.entry)
        {
            self.inner.metrics.cache_hits.get_or_create(&label).inc();
            return Ok(hit.clone());
        }
        let ran = AtomicBool::new(false);
        let ttl = Duration::from_secs(rt.cfg.cache_ttl_secs);
        let result = self
            .inner
            .cache
            .try_get_with(key, async {
                ran.store(true, Ordering::Relaxed);
                let response = self
                    .fetch_with_retries(rt, call, &url, rt.cfg.max_body_bytes, None)
                    .await?;
                Ok::<_, GatewayError>(Arc::new(Cached {
                    entry: Entry::Whole(response),
                    ttl,
                }))
            })
            .await;
        if !ran.load(Ordering::Relaxed) {
            self.inner.metrics.coalesced.get_or_create(&label).inc();
        }
        match result {
            Ok(c) => match &c.entry {
                Entry::Whole(r) => Ok(r.clone()),
                Entry::Item(_) => Err(GatewayError::Config {
                    provider: call.provider.clone(),
                    reason: "cache entry of a batch item found for a whole call".into(),
                }),
            },
            Err(e) => Err((*e).clone().map_text(|s| rt.masker.text(s))),
        }
    }

    /// Sends one request with retries. `body_limit` caps the answer; `departure` is told when
    /// the first attempt gets past the limiters.
    pub(crate) async fn fetch_with_retries(
        &self,
        rt: &ProviderRuntime,
        call: &Call,
        url: &url::Url,
        body_limit: u64,
        departure: Option<&Departure>,
    ) -> Result<Response, GatewayError> {
        let started = Instant::now();
        let max_elapsed = crate::retry::max_elapsed(&rt.cfg.retry);
        let label = GatewayMetrics::provider(&call.provider);
        let attempts = std::sync::atomic::AtomicU32::new(0);
        let result = (|| {
            let n = attempts.fetch_add(1, Ordering::Relaxed) + 1;
            self.attempt(rt, call, url, n, body_limit, departure)
        })
        .retry(crate::retry::backoff(&rt.cfg.retry))
        .sleep(tokio::time::sleep)
        .when(|f: &Failure| f.error.is_transient())
        .adjust(|f, backoff| {
            crate::retry::next_delay(backoff, f.retry_after, started.elapsed(), max_elapsed)
        })
        .notify(|f, delay| {
            self.inner.metrics.retries.get_or_create(&label).inc();
            tracing::info!(provider = %call.provider, delay_ms = delay.as_millis() as u64,
                    "retrying after: {}", f.error);
        })
        .await;
        result.map_err(|f| match (f.error, f.retry_after) {
            (
                GatewayError::Status {
                    provider,
                    url,
                    status,
                    message,
                },
                Some(ra),
            ) if f.sent && matches!(status, 429 | 503) => {
                let message = format!(
                    "{message} (asked to retry after {}s; not retried past the {}s retry budget)",
                    ra.as_secs_f64(),
                    max_elapsed.as_secs_f64()
                );
                GatewayError::Status {
                    provider,
                    url,
                    status,
                    message,
                }
            }
            (error, _) => error,
        })
    }

    /// One attempt: breaker, budget, concurrency and pacing, then HTTP and accounting.
    async fn attempt(
        &self,
        rt: &ProviderRuntime,
        call: &Call,
        url: &url::Url,
        attempt_no: u32,
        body_limit: u64,
        departure: Option<&Departure>,
    ) -> Result<Response, Failure> {
        let metrics = &self.inner.metrics;
        let host = call
            .domain
            .clone()
            .or_else(|| url.host_str().map(str::to_string))
            .unwrap_or_default();
        let refuse = |error: GatewayError| {
            let reason = match &error {
                GatewayError::Budget { cap, .. } => cap.clone(),
                _ => "circuit_open".to_string(),
            };
            metrics
                .refused
                .get_or_create(&RefusalLabels {
                    provider: call.provider.clone(),
                    reason,
                })
                .inc();
            Failure {
                error,
                retry_after: None,
                sent: false,
                status: None,
            }
        };
        let breaker_key = if rt.cfg.is_per_domain() {
            host.as_str()
        } else {
            ""
        };
        let permit = rt.breakers.acquire(breaker_key).map_err(refuse)?;
        let cost = rt.cfg.cost_for(&call.path);
        let reservation = if cost > 0.0 {
            Some(
                self.inner
                    .budget
                    .reserve(
                        CallParts {
                            provider: &call.provider,
                            module: call.module.as_deref(),
                            domain: call.domain.as_deref(),
                            job: call.job.as_deref(),
                        },
                        cost,
                    )
                    .await
                    .map_err(refuse)?,
            )
        } else {
            None
        };
        let _slot = match &rt.in_flight {
            Some(sem) => Some(sem.acquire().await.map_err(|_| Failure {
                error: GatewayError::Config {
                    provider: call.provider.clone(),
                    reason: "in-flight limiter closed".into(),
                },
                retry_after: None,
                sent: false,
                status: None,
            })?),
            None => None,
        };
        let label = GatewayMetrics::provider(&call.provider);
        let mut waited = rt.pacer.wait(&host).await;
        // Shared pacing last: the slot it grants is used at once, never held while waiting on
        // the local limiters (a held slot sent late could bunch with later ones).
        if let (Some(shared), Some(limit)) = (&self.inner.shared, &rt.cfg.rate_limit) {
            let t = Instant::now();
            if let Err(e) = shared.acquire(&call.provider, limit).await {
                tracing::warn!(provider = %call.provider, "shared rate limit unavailable, pacing locally only: {e}");
            }
            waited += t.elapsed();
        }
        metrics
            .rate_limit_wait
            .get_or_create(&label)
            .observe(waited.as_secs_f64());
        if rt.cfg.rate_limit.is_some() || rt.cfg.per_host_rate_limit.is_some() {
            rt.waits.observe(waited);
        }
        if let Some(d) = departure {
            d.fire();
        }

        let (req, sent_url) = rt.request(url, &call.headers).map_err(|error| Failure {
            error,
            retry_after: None,
            sent: false,
            status: None,
        })?;
        let t0 = Instant::now();
        let attempt = Attempt {
            provider: &call.provider,
            cfg: &rt.cfg,
            masker: &rt.masker,
            max_body_bytes: body_limit,
        };
        let result = attempt.run(req, &sent_url).await;
        metrics
            .latency
            .get_or_create(&label)
            .observe(t0.elapsed().as_secs_f64());
        let status = match &result {
            Ok(r) => Some(r.status),
            Err(f) => f.status,
        };
        let status_label = match (&result, status) {
            (_, Some(s)) => s.to_string(),
            (Err(f), None) => error_kind(&f.error).to_string(),
            (Ok(_), None) => "ok".to_string(),
        };
        metrics
            .calls
            .get_or_create(&CallLabels {
                provider: call.provider.clone(),
                code: status_label,
            })
            .inc();
        permit.record(match &result {
            Err(f) if f.error.is_transient() => Some(f.error.to_string()),
            _ => None,
        });
        if let Some(reservation) = reservation {
            let charged = match rt.cfg.charge {
                ChargeMode::EveryAttempt => result.as_ref().map_or_else(|f| f.sent, |_| true),
                ChargeMode::OnSuccess => status.is_some_and(|s| (200..300).contains(&s)),
            };
            if charged {
                metrics.spend.get_or_create(&label).inc_by(cost);
                reservation
                    .commit(LedgerEntryParts {
                        status,
                        request: Some(format!("GET {}#{attempt_no}", rt.masker.url(url))),
                    })
                    .await;
            }
        }
        match &result {
            Ok(r) => {
                tracing::debug!(provider = %call.provider, url = %r.url, status = r.status, "fetched")
            }
            Err(f) => tracing::debug!(provider = %call.provider, "attempt failed: {}", f.error),
        }
        result
    }
}

fn error_kind(e: &GatewayError) -> &'static str {
    match e {
        GatewayError::Timeout { .. } => "timeout",
        GatewayError::Connect { .. } => "connect",
        GatewayError::TooManyRedirects { .. } => "redirects",
        GatewayError::Body { .. } => "body",
        GatewayError::TooLarge { .. } => "too_large",
        GatewayError::ContentType { .. } => "content_type",
        GatewayError::Forbidden { .. } => "forbidden",
        _ => "error",
    }
}
