//! The budget ledger kept in the store, so spend survives restarts and is shared by every
//! process on the same database. The gateway only knows the `Ledger` trait; this adapter maps it
//! onto the store's charge records.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pforge_budget::{Ledger, LedgerEntry, LedgerError};
use pforge_store::{ChargeRecord, Store};
use std::sync::Arc;
use uuid::Uuid;

/// [`Ledger`] over any [`Store`].
pub struct StoreLedger {
    store: Arc<dyn Store>,
    /// The job whose work is being charged (set by `pforge worker` per job it runs), so charges
    /// carry an idempotency key: a retried work item repeating a charged call pays once.
    scope: Option<JobScope>,
}

/// The job a worker is currently running, shared with its [`StoreLedger`].
pub type JobScope = Arc<std::sync::RwLock<Option<Uuid>>>;

impl StoreLedger {
    /// Wraps a store.
    pub fn new(store: Arc<dyn Store>) -> Self {
        StoreLedger { store, scope: None }
    }

    /// Charges made while `scope` names a job are attributed to it and keyed by
    /// (job, module, domain, provider, request), so the same call is never charged twice.
    pub fn with_job_scope(mut self, scope: JobScope) -> Self {
        self.scope = Some(scope);
        self
    }

    fn current_job(&self, entry: &LedgerEntry) -> Option<Uuid> {
        entry
            .job
            .as_deref()
            .and_then(|j| Uuid::parse_str(j).ok())
            .or_else(|| {
                self.scope
                    .as_ref()
                    .and_then(|s| s.read().ok().and_then(|g| *g))
            })
    }
}

#[async_trait]
impl Ledger for StoreLedger {
    async fn record(&self, entry: &LedgerEntry) -> Result<(), LedgerError> {
        let job_id = self.current_job(entry);
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
