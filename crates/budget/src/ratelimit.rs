//! Request pacing with `governor` (GCRA): one limiter per provider, and one keyed by target host
//! for providers that fetch the companies' own sites.

use crate::config::RateLimitConfig;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Turns a configured rate into a GCRA quota, or says what is wrong with it.
pub(crate) fn quota(cfg: &RateLimitConfig) -> Result<Quota, String> {
    let period = match (cfg.per_second, cfg.per_minute) {
        (Some(r), None) if r > 0.0 && r.is_finite() => Duration::from_secs_f64(1.0 / r),
        (None, Some(r)) if r > 0.0 && r.is_finite() => Duration::from_secs_f64(60.0 / r),
        (Some(_), Some(_)) | (None, None) => {
            return Err("rate limit needs exactly one of `per_second` or `per_minute`".into())
        }
        _ => return Err("rate limit must be a positive number".into()),
    };
    let burst = NonZeroU32::new(cfg.burst).ok_or("rate limit `burst` must be at least 1")?;
    Quota::with_period(period)
        .map(|q| q.allow_burst(burst))
        .ok_or_else(|| "rate limit is too high".to_string())
}

/// The pacing for one provider.
pub(crate) struct Pacer {
    provider: Option<DefaultDirectRateLimiter>,
    per_host: Option<DefaultKeyedRateLimiter<String>>,
    calls: AtomicU64,
}

impl Pacer {
    pub(crate) fn new(
        provider: Option<&RateLimitConfig>,
        per_host: Option<&RateLimitConfig>,
    ) -> Result<Self, String> {
        Ok(Pacer {
            provider: provider.map(quota).transpose()?.map(RateLimiter::direct),
            per_host: per_host.map(quota).transpose()?.map(RateLimiter::keyed),
            calls: AtomicU64::new(0),
        })
    }

    /// Waits until both the provider and the host allow one more request; returns the time spent
    /// waiting (reported as a metric, so slow runs can be explained).
    pub(crate) async fn wait(&self, host: &str) -> Duration {
        let started = Instant::now();
        if let Some(l) = &self.per_host {
            l.until_key_ready(&host.to_string()).await;
            // Forget hosts not seen for a while so a long run over many domains stays small.
            if self.calls.fetch_add(1, Ordering::Relaxed) % 1024 == 1023 {
                l.retain_recent();
            }
        }
        if let Some(l) = &self.provider {
            l.until_ready().await;
        }
        started.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_rejects_ambiguous_or_zero_rates() {
        assert!(quota(&RateLimitConfig::per_second(20.0)).is_ok());
        assert!(quota(&RateLimitConfig::per_second(0.0)).is_err());
        let both = RateLimitConfig {
            per_second: Some(1.0),
            per_minute: Some(1.0),
            burst: 1,
        };
        assert!(quota(&both).is_err());
        let zero_burst = RateLimitConfig {
            per_second: Some(1.0),
            per_minute: None,
            burst: 0,
        };
        assert!(quota(&zero_burst).is_err());
    }
}
