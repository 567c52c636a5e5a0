//! [`SharedLimiter`] over the store: provider rate limits that hold across every worker sharing
//! one database.
//!
//! Mechanism: GCRA with the theoretical arrival time in one database row per provider
//! (`Store::reserve_rate_slots`). A worker reserves a small batch of consecutive slots in one
//! round trip (as many as it has callers waiting, at most a quarter second's worth) and hands
//! them out locally; each caller sleeps until its slot and sends at once.
//!
//! Accuracy/throughput trade-off: slots are *scheduled*, not counted, so batching costs no
//! accuracy: every request is sent at or after the time GCRA allows it, whichever worker
//! reserved it, and any window of length L sees at most `burst + rate * L` requests (plus the
//! database round trip's skew, a few ms of `rate`). A slot that nobody used within
//! [`GRACE`] of its time is discarded rather than sent late (late slots could bunch with later
//! ones); that, and slots a worker reserved but no longer needs, is capacity lost, bounded by one
//! batch per worker per quarter second. Round trips: one per batch, i.e. about `rate / batch`
//! per second per busy provider.

use async_trait::async_trait;
use pforge_budget::{RateLimitConfig, SharedLimiter};
use pforge_store::Store;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// How late a reserved slot may still be used.
const GRACE: Duration = Duration::from_millis(10);

/// Most of a second's rate reserved in one round trip.
const BATCH_WINDOW_SECS: f64 = 0.25;

/// Hard cap on slots per round trip.
const MAX_BATCH: u32 = 16;

#[derive(Default)]
struct ProviderSlots {
    slots: tokio::sync::Mutex<VecDeque<Instant>>,
    waiting: AtomicUsize,
}

/// Shared pacing through the store (PostgreSQL for several machines; SQLite for several
/// processes on one).
pub struct StoreLimiter {
    store: Arc<dyn Store>,
    providers: Mutex<HashMap<String, Arc<ProviderSlots>>>,
}

impl StoreLimiter {
    /// A limiter whose state lives in `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        StoreLimiter {
            store,
            providers: Mutex::new(HashMap::new()),
        }
    }

    fn slots(&self, provider: &str) -> Arc<ProviderSlots> {
        let mut map = self.providers.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(provider.to_string()).or_default().clone()
    }
}

/// Emission interval and burst tolerance of a limit, or None when it is not a valid rate.
fn gcra(limit: &RateLimitConfig) -> Option<(Duration, Duration, f64)> {
    let rate = match (limit.per_second, limit.per_minute) {
        (Some(r), None) => r,
        (None, Some(r)) => r / 60.0,
        _ => return None,
    };
    if !(rate.is_finite() && rate > 0.0) {
        return None;
    }
    let interval = Duration::from_secs_f64(1.0 / rate);
    let tolerance = interval.mul_f64(f64::from(limit.burst.max(1) - 1));
    Some((interval, tolerance, rate))
}

#[async_trait]
impl SharedLimiter for StoreLimiter {
    async fn acquire(&self, provider: &str, limit: &RateLimitConfig) -> Result<(), String> {
        let Some((interval, tolerance, rate)) = gcra(limit) else {
            return Ok(());
        };
        let state = self.slots(provider);
        state.waiting.fetch_add(1, Ordering::SeqCst);
        let slot = {
            let mut slots = state.slots.lock().await;
            loop {
                let now = Instant::now();
                while slots.front().is_some_and(|s| *s + GRACE < now) {
                    slots.pop_front();
                }
                if let Some(slot) = slots.pop_front() {
                    break Ok(slot);
                }
                let most = ((rate * BATCH_WINDOW_SECS).floor() as u32).clamp(1, MAX_BATCH);
                let want = (state.waiting.load(Ordering::SeqCst) as u32).clamp(1, most);
                // A database restart delays the call instead of failing it.
                let reserved = pforge_store::retry_unreachable(
                    super::DB_PATIENCE,
                    "reserving request slots",
                    || self.store.reserve_rate_slots(provider, interval, want),
                )
                .await;
                match reserved {
                    Ok(first) => {
                        // Measured from when the answer arrived: never earlier than the
                        // database's "now", so the schedule errs late, not early.
                        let base = Instant::now();
                        for j in 0..want {
                            let at = (first + interval * j).saturating_sub(tolerance);
                            slots.push_back(base + at);
                        }
                    }
                    Err(e) => break Err(e.to_string()),
                }
            }
        };
        state.waiting.fetch_sub(1, Ordering::SeqCst);
        tokio::time::sleep_until(slot?).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real SQLite file, real clock: 60 acquisitions at 40/s with burst 4 from two limiters
    /// (two "processes") never exceed burst + rate * window in any window.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_limiters_share_one_rate() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("l.db").display());
        let a = Arc::new(StoreLimiter::new(
            pforge_store::open_store(&url).await.unwrap(),
        ));
        let b = Arc::new(StoreLimiter::new(
            pforge_store::open_store(&url).await.unwrap(),
        ));
        let limit = RateLimitConfig {
            per_second: Some(40.0),
            per_minute: None,
            burst: 4,
        };
        let start = std::time::Instant::now();
        let mut tasks = Vec::new();
        for i in 0..60 {
            let l = if i % 2 == 0 { a.clone() } else { b.clone() };
            let limit = limit.clone();
            tasks.push(tokio::spawn(async move {
                l.acquire("p", &limit).await.unwrap();
                start.elapsed().as_secs_f64()
            }));
        }
        let mut times = Vec::new();
        for t in tasks {
            times.push(t.await.unwrap());
        }
        times.sort_by(|x, y| x.partial_cmp(y).unwrap());
        // 60 requests at 40/s with a burst of 4 need at least (60 - 4) / 40 s.
        assert!(times[59] >= 56.0 / 40.0 - 0.02, "too fast: {}", times[59]);
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..].iter().take_while(|u| **u < t + 0.5).count();
            assert!(in_window <= 4 + 20 + 1, "{in_window} in 0.5 s from {t}");
        }
    }
}
