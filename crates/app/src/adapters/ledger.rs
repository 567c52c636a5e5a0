//! The budget ledger kept in the store, so spend survives restarts and is shared by every
//! process on the same database. The gateway only knows its `Ledger` trait; this adapter maps it
//! onto the store's charge records (the one place that does).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pforge_budget::{Ledger, LedgerEntry, LedgerError};
use pforge_store::{ChargeRecord, Store};
use std::sync::Arc;
use uuid::Uuid;

/// [`Ledger`] over any [`Store`]. Charges made through a gateway handle for a job
/// (`Gateway::for_job`, which the executor uses for every module run) carry that job, and with it
/// an idempotency key: a retried work item repeating a charged call pays once.
pub struct StoreLedger {
    store: Arc<dyn Store>,
}

impl StoreLedger {
    /// Wraps a store.
    pub fn new(store: Arc<dyn Store>) -> Self {
        StoreLedger { store }
    }
}

#[async_trait]
impl Ledger for StoreLedger {
    async fn record(&self, entry: &LedgerEntry) -> Result<(), LedgerError> {
        let job_id = entry.job.as_deref().and_then(|j| Uuid::parse_str(j).ok());
        let call_key = match (job_id, &entry.request) {
            (Some(job), Some(request)) => Some(format!(
                "{job}|{}|{}|{}|{request}",
                entry.module.as_deref().unwrap_or(""),
                entry.domain.as_deref().unwrap_or(""),
                entry.provider
            )),
            _ => None,
        };
        let record = ChargeRecord {
            call_key,
            provider: entry.provider.clone(),
            module: entry.module.clone(),
            domain: entry.domain.clone(),
            job_id,
            cost: entry.cost,
            status: entry.status.map(|s| s.to_string()).unwrap_or_default(),
            at: entry.at,
        };
        self.store
            .record_charge(&record)
            .await
            .map_err(|e| LedgerError(e.to_string()))
    }

    async fn spent_since(
        &self,
        provider: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<f64, LedgerError> {
        self.store
            .spent_since(provider, since)
            .await
            .map_err(|e| LedgerError(e.to_string()))
    }
}
