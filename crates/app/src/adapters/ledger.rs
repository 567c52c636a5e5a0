//! The budget ledger kept in the store, so spend survives restarts and is shared by every
//! process on the same database. The gateway only knows its `Ledger` trait; this adapter maps it
//! onto the store's charge records and holds (the one place that does).

use super::DB_PATIENCE;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pforge_budget::{Hold, HoldId, Ledger, LedgerCap, LedgerEntry, LedgerError};
use pforge_store::{retry_unreachable, ChargeRecord, HoldOutcome, SpendCap, Store};
use prometheus_client::metrics::gauge::Gauge;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// How long a hold lasts unless the process says otherwise: a worker's default lease.
pub const DEFAULT_HOLD: Duration = Duration::from_secs(30);

/// [`Ledger`] over any [`Store`]. Charges made through a gateway handle for a job
/// (`Gateway::for_job`, which the executor uses for every module run) carry that job, and with it
/// an idempotency key: a retried work item repeating a charged call pays once.
pub struct StoreLedger {
    store: Arc<dyn Store>,
    hold: Duration,
    /// Holds this ledger took and has not yet committed or released (a `/metrics` gauge).
    held: Option<Gauge>,
}

impl StoreLedger {
    /// Wraps a store; holds last [`DEFAULT_HOLD`].
    pub fn new(store: Arc<dyn Store>) -> Self {
        StoreLedger {
            store,
            hold: DEFAULT_HOLD,
            held: None,
        }
    }

    /// Counts this ledger's open holds in `gauge`: the reservations a worker holds right now,
    /// which its `/metrics` shows (the database does not record which process holds what).
    pub fn count_holds(mut self, gauge: Gauge) -> Self {
        self.held = Some(gauge);
        self
    }

    fn settled(&self) {
        if let Some(g) = &self.held {
            g.dec();
        }
    }

    /// Holds expire (and are settled as "outcome unknown", still counted) this long after they
    /// are taken unless committed or released: a worker's lease, so the holds of a worker that
    /// died are settled when its queue rows become claimable again.
    pub fn hold_for(mut self, hold: Duration) -> Self {
        self.hold = hold;
        self
    }
}

fn job_id(job: Option<&str>) -> Result<Option<Uuid>, LedgerError> {
    job.map(|j| Uuid::parse_str(j).map_err(|_| LedgerError(format!("job id `{j}` is not a UUID"))))
        .transpose()
}

fn record(entry: &LedgerEntry) -> ChargeRecord {
    ChargeRecord {
        call_key: None,
        provider: entry.provider.clone(),
        module: entry.module.clone(),
        domain: entry.domain.clone(),
        job_id: entry.job.as_deref().and_then(|j| Uuid::parse_str(j).ok()),
        cost: entry.cost,
        status: entry.status.map(|s| s.to_string()).unwrap_or_default(),
        at: entry.at,
    }
}

/// The idempotency key of a call: job, module, domain, provider and request (with attempt).
fn call_key(entry: &LedgerEntry) -> Option<String> {
    let job = entry.job.as_deref().and_then(|j| Uuid::parse_str(j).ok())?;
    let request = entry.request.as_ref()?;
    Some(format!(
        "{job}|{}|{}|{}|{request}",
        entry.module.as_deref().unwrap_or(""),
        entry.domain.as_deref().unwrap_or(""),
        entry.provider
    ))
}

fn err(e: pforge_store::StoreError) -> LedgerError {
    LedgerError(e.to_string())
}

#[async_trait]
impl Ledger for StoreLedger {
    async fn hold(&self, entry: &LedgerEntry, caps: &[LedgerCap]) -> Result<Hold, LedgerError> {
        let caps = caps
            .iter()
            .map(|c| {
                Ok(SpendCap {
                    provider: c.provider.clone(),
                    job: job_id(c.job.as_deref())?,
                    since: c.since,
                    limit: c.limit,
                })
            })
            .collect::<Result<Vec<_>, LedgerError>>()?;
        // Retried while the database cannot be reached: a hold whose answer was lost expires
        // and is counted as spent ("outcome unknown"), so a retry can only err on the safe side.
        let record = record(entry);
        let held = retry_unreachable(DB_PATIENCE, "holding credits", || {
            self.store.hold_charge(&record, &caps, self.hold)
        })
        .await
        .map_err(err)?;
        match held {
            HoldOutcome::Held(id) => {
                if let Some(g) = &self.held {
                    g.inc();
                }
                Ok(Hold::Held(HoldId(id)))
            }
            HoldOutcome::Refused { cap, spent } => Ok(Hold::Refused { cap, spent }),
        }
    }

    async fn commit(&self, hold: HoldId, entry: &LedgerEntry) -> Result<(), LedgerError> {
        let status = entry.status.map(|s| s.to_string()).unwrap_or_default();
        // Settled either way: a commit that failed leaves a hold the database settles as
        // "outcome unknown" when it expires, not one this process still holds.
        self.settled();
        let key = call_key(entry);
        retry_unreachable(DB_PATIENCE, "committing a charge", || {
            self.store
                .commit_charge(hold.0, entry.cost, &status, key.as_deref())
        })
        .await
        .map_err(err)
    }

    async fn release(&self, hold: HoldId) -> Result<(), LedgerError> {
        self.settled();
        retry_unreachable(DB_PATIENCE, "releasing a hold", || {
            self.store.release_charge(hold.0)
        })
        .await
        .map_err(err)
    }

    async fn spent_since(
        &self,
        provider: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<f64, LedgerError> {
        self.store.spent_since(provider, since).await.map_err(err)
    }

    async fn unknown_since(
        &self,
        provider: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<f64, LedgerError> {
        self.store.unknown_since(provider, since).await.map_err(err)
    }
}
