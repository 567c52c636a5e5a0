//! Shared request pacing: provider rate limits that hold across every process on one database.

use std::time::Duration;

use async_trait::async_trait;

use crate::StoreError;

/// GCRA buckets kept in the database, one per provider.
///
/// Invariant: reservations on one bucket never overlap, whichever process makes them: each
/// moves the bucket's theoretical arrival time to `max(tat, now) + count * interval`
/// atomically, so `count` consecutive slots belong to the caller alone; an idle bucket banks
/// no capacity.
#[async_trait]
pub trait PacingStore: Send + Sync {
    /// Reserves `count` consecutive request slots `interval` apart on `bucket` and returns how
    /// far after "now" the first slot's theoretical arrival time lies. Slot `j` may be used
    /// `max(0, returned + j * interval - tolerance)` from now, where `tolerance` is
    /// `(burst - 1) * interval`.
    async fn reserve_rate_slots(
        &self,
        bucket: &str,
        interval: Duration,
        count: u32,
    ) -> Result<Duration, StoreError>;
}

/// Offset of the first reserved slot from "now", from a (possibly negative) number of seconds.
pub(crate) fn offset(secs: f64) -> Duration {
    if secs.is_finite() && secs > 0.0 {
        Duration::from_secs_f64(secs)
    } else {
        Duration::ZERO
    }
}
