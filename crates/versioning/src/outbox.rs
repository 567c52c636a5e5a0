//! The alert outbox over the store: the dispatcher reads due alerts from, and writes outcomes
//! back to, the same table the snapshot transaction filled, so nothing is lost between them.

use crate::dispatch::{AlertOutbox, OutboxError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pforge_store::{Alert, Store};
use std::sync::Arc;

/// [`AlertOutbox`] backed by any [`Store`] (SQLite or PostgreSQL).
pub struct StoreOutbox {
    store: Arc<dyn Store>,
}

impl StoreOutbox {
    /// Wraps a store.
    pub fn new(store: Arc<dyn Store>) -> Self {
        StoreOutbox { store }
    }
}

#[async_trait]
impl AlertOutbox for StoreOutbox {
    async fn pending(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<Alert>, OutboxError> {
        self.store
            .pending_alerts(now, limit)
            .await
            .map_err(|e| OutboxError(e.to_string()))
    }

    async fn update(&self, alert: &Alert) -> Result<(), OutboxError> {
        self.store
            .update_alert(alert)
            .await
            .map_err(|e| OutboxError(e.to_string()))
    }
}
