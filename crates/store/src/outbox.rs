//! The alert outbox: alerts are written with the snapshot that raised them (see
//! [`crate::SnapshotStore::save_snapshots`]) and drained by the dispatcher through this trait.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{Alert, AlertStatus, StoreError};

/// Where alerts wait for delivery and record how it went.
///
/// Invariant: an alert exists only if the snapshot version that raised it was committed, keeps
/// its id for life (receivers de-duplicate on it), and is offered for delivery only while it is
/// `pending` and due (`next_attempt_at <= now`).
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Alerts due for a delivery attempt (`pending`, `next_attempt_at <= now`), most overdue
    /// first. A non-positive `limit` returns nothing.
    async fn pending_alerts(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Alert>, StoreError>;

    /// Alerts in the outbox, newest first, optionally only those with `status`.
    async fn list_alerts(
        &self,
        status: Option<AlertStatus>,
        limit: i64,
    ) -> Result<Vec<Alert>, StoreError>;

    /// Records the outcome of a delivery attempt: writes the alert's status, attempts,
    /// last_error, next_attempt_at, delivered_at and payload, matched by id. An id that is not
    /// in the outbox is [`StoreError::NotFound`].
    async fn update_alert(&self, alert: &Alert) -> Result<(), StoreError>;
}

/// `NotFound` for an alert id.
pub(crate) fn not_found(alert: &Alert) -> StoreError {
    StoreError::not_found(format!("alert {} in the outbox", alert.id))
}
