//! The budget ledger's records: one row per charged provider call.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{ChargeRecord, StoreError};

/// Charges, so that budget caps hold across runs and processes. The store only records and
/// sums them; what a charge means is the budget crate's business.
///
/// Invariant: a charge with a call key is counted once however often it is recorded (a retried
/// work item repeating a charged call does not pay twice); every other charge is counted each
/// time it is recorded.
#[async_trait]
pub trait ChargeStore: Send + Sync {
    /// Appends one charged call (ignored when its `call_key` was recorded before).
    async fn record_charge(&self, entry: &ChargeRecord) -> Result<(), StoreError>;

    /// Credits charged at or after `since`, for one provider or (`None`) for all; 0 when none.
    async fn spent_since(
        &self,
        provider: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<f64, StoreError>;
}
