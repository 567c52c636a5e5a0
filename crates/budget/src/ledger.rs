//! The ledger: where every charged call is written, so that spend survives restarts and caps
//! hold across runs. The store crate implements [`Ledger`] over SQLite/PostgreSQL; this crate
//! ships [`MemoryLedger`] for one-off runs and tests.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Mutex;
use thiserror::Error;

/// One charged call, as written to the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerEntry {
    /// Provider id that billed the call.
    pub provider: String,
    /// Module that made the call, for "who spent it" reports.
    pub module: Option<String>,
    /// Domain being enriched.
    pub domain: Option<String>,
    /// Job the call belongs to.
    pub job: Option<String>,
    /// Credits charged.
    pub cost: f64,
    /// HTTP status of the charged attempt, if the provider answered.
    pub status: Option<u16>,
    /// When the charge was committed (UTC), which decides its day and month.
    pub at: DateTime<Utc>,
    /// What was charged: method, URL (secrets masked) and attempt number within one fetch. With
    /// the job, module and domain it identifies the call, so a ledger can refuse to charge a
    /// retried work item twice for the same call.
    pub request: Option<String>,
}

/// Why the ledger could not be read or written (the store's error, as text).
#[derive(Debug, Error, Clone)]
#[error("budget ledger: {0}")]
pub struct LedgerError(pub String);

/// Persistent record of spend. Reservations are kept in-process by the gateway; the ledger only
/// sees committed charges and answers "how much since then".
#[async_trait]
pub trait Ledger: Send + Sync {
    /// Writes one charged call.
    async fn record(&self, entry: &LedgerEntry) -> Result<(), LedgerError>;
    /// Credits spent since `since` (inclusive): for one provider, or all when `provider` is None.
    async fn spent_since(
        &self,
        provider: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<f64, LedgerError>;
}

/// An in-process ledger: the default, and the per-run account behind `--max-spend`.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    entries: Mutex<Vec<LedgerEntry>>,
}

impl MemoryLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of every entry, oldest first (reports and tests).
    pub fn entries(&self) -> Vec<LedgerEntry> {
        self.entries.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Ledger for MemoryLedger {
    async fn record(&self, entry: &LedgerEntry) -> Result<(), LedgerError> {
        let mut entries = self
            .entries
            .lock()
            .map_err(|_| LedgerError("memory ledger lock poisoned".into()))?;
        entries.push(entry.clone());
        Ok(())
    }

    async fn spent_since(
        &self,
        provider: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<f64, LedgerError> {
        let entries = self
            .entries
            .lock()
            .map_err(|_| LedgerError("memory ledger lock poisoned".into()))?;
        Ok(entries
            .iter()
            .filter(|e| e.at >= since && provider.is_none_or(|p| p == e.provider))
            .map(|e| e.cost)
            .sum())
    }
}
