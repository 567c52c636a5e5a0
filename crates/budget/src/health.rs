//! What the gateway can say about each provider right now, in this process: how often and how
//! long calls waited for a rate-limit permit, and what its circuit breakers are doing (open
//! since when, until when, after which error). The budget page shows it, so that a slow or
//! skipped provider is explained where spend is. The counters are the process's own: other
//! processes sharing the database pace through the shared limiter, which records slots, not
//! waits.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A wait shorter than this is the limiter answering at once, not a wait.
const WAIT_FLOOR: Duration = Duration::from_millis(1);

/// What a circuit breaker is doing. Ordered most urgent first (open, half-open, closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls fail fast until `retry_at`.
    Open,
    /// The cool-down is over: the next call is a probe that closes or reopens it.
    HalfOpen,
    /// Calls go through; `failures` consecutive transient failures are counted so far.
    Closed,
}

impl BreakerState {
    /// The word the UI and logs use: `open`, `half-open`, `closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
            BreakerState::Closed => "closed",
        }
    }
}

/// One breaker that is not simply healthy.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BreakerStatus {
    pub provider: String,
    /// The target host, for providers that fetch companies' own sites (one breaker per host);
    /// `None` for the provider's single breaker.
    pub host: Option<String>,
    pub state: BreakerState,
    /// When it entered `state`.
    pub since: DateTime<Utc>,
    /// Consecutive transient failures counted (the threshold, once open).
    pub failures: u32,
    /// Failures that open it (`circuit_breaker.failures`).
    pub threshold: u32,
    /// When an open breaker lets a probe through.
    pub retry_at: Option<DateTime<Utc>>,
    /// The last transient failure it counted (secrets masked like every gateway error).
    pub last_error: Option<String>,
}

/// Rate-limit waits of one provider since the process started.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct RateLimitWaits {
    /// Attempts that went through the provider's limiters.
    pub paced: u64,
    /// Of those, the ones that had to wait (1 ms or more).
    pub waits: u64,
    /// Total time waited, in seconds.
    pub waited_secs: f64,
    /// The longest single wait, in seconds.
    pub longest_secs: f64,
}

/// Everything [`crate::Gateway::health`] says about one provider.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProviderHealth {
    pub provider: String,
    pub rate_limited: bool,
    pub waits: RateLimitWaits,
    /// Open, half-open and failing breakers (open first); empty when all are healthy.
    pub breakers: Vec<BreakerStatus>,
}

/// Lock-free counters of one provider's rate-limit waits.
#[derive(Default)]
pub(crate) struct WaitStats {
    paced: AtomicU64,
    waits: AtomicU64,
    waited_micros: AtomicU64,
    longest_micros: AtomicU64,
}

impl WaitStats {
    /// Counts one attempt that spent `waited` in the limiters.
    pub(crate) fn observe(&self, waited: Duration) {
        self.paced.fetch_add(1, Ordering::Relaxed);
        if waited >= WAIT_FLOOR {
            let micros = u64::try_from(waited.as_micros()).unwrap_or(u64::MAX);
            self.waits.fetch_add(1, Ordering::Relaxed);
            self.waited_micros.fetch_add(micros, Ordering::Relaxed);
            self.longest_micros.fetch_max(micros, Ordering::Relaxed);
        }
    }

    /// The counters as of now.
    pub(crate) fn read(&self) -> RateLimitWaits {
        RateLimitWaits {
            paced: self.paced.load(Ordering::Relaxed),
            waits: self.waits.load(Ordering::Relaxed),
            waited_secs: self.waited_micros.load(Ordering::Relaxed) as f64 / 1e6,
            longest_secs: self.longest_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_real_waits_count() {
        let s = WaitStats::default();
        s.observe(Duration::from_micros(20));
        s.observe(Duration::from_millis(250));
        s.observe(Duration::from_millis(500));
        let r = s.read();
        assert_eq!((r.paced, r.waits), (3, 2));
        assert!((r.waited_secs - 0.75).abs() < 1e-9, "{r:?}");
        assert!((r.longest_secs - 0.5).abs() < 1e-9);
        assert!(BreakerState::Open < BreakerState::HalfOpen);
        assert_eq!(BreakerState::HalfOpen.as_str(), "half-open");
    }
}
