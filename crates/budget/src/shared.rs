//! Pacing shared across processes. The gateway's `governor` limiters are per process, so N
//! workers would together send N times a provider's limit; a [`SharedLimiter`] (implemented
//! over the shared database by the CLI) makes the limit hold for all of them together.

use crate::RateLimitConfig;
use async_trait::async_trait;

/// Waits for a request slot that every process sharing the limiter's state respects.
#[async_trait]
pub trait SharedLimiter: Send + Sync {
    /// Returns when one request to `provider` may be sent under `limit` across all processes.
    /// The gateway sends it immediately after. An `Err` (the shared state is unreachable) is
    /// logged and the call proceeds under the local limiter only: availability over strictness.
    async fn acquire(&self, provider: &str, limit: &RateLimitConfig) -> Result<(), String>;
}
