//! The ledger: where every paid call is held before it is sent and charged after, so that spend
//! survives restarts and caps hold exactly across runs and processes. The store crate implements
//! [`Ledger`] over SQLite/PostgreSQL; this crate ships [`MemoryLedger`] for one-off runs and
//! tests.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Mutex;
use thiserror::Error;

/// Tolerance for float sums of credits.
const EPS: f64 = 1e-9;

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
    /// When the credits were held (UTC), which decides the day and month they count against.
    pub at: DateTime<Utc>,
    /// What was charged: method, URL (secrets masked) and attempt number within one fetch. With
    /// the job, module and domain it identifies the call, so a ledger can refuse to charge a
    /// retried work item twice for the same call.
    pub request: Option<String>,
}

/// One cap a hold must fit under, as the ledger sums it: the charges it covers and its limit.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerCap {
    /// Only this provider's charges (`None`: all providers).
    pub provider: Option<String>,
    /// Only this job's charges (`None`: any job), for a job's own spend cap.
    pub job: Option<String>,
    /// Only charges held at or after this instant (`None`: all time).
    pub since: Option<DateTime<Utc>>,
    /// Most credits the covered charges plus the new hold may reach.
    pub limit: f64,
}

/// Names a hold until it is committed or released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldId(pub i64);

/// What [`Ledger::hold`] decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Hold {
    /// Credits held: send the call, then commit or release.
    Held(HoldId),
    /// `caps[cap]` has no room: `spent` credits are already charged, held or unknown under it.
    Refused { cap: usize, spent: f64 },
}

/// Why the ledger could not be read or written (the store's error, as text).
#[derive(Debug, Error, Clone)]
#[error("budget ledger: {0}")]
pub struct LedgerError(pub String);

/// Persistent record of spend, and the one place caps are checked: a hold checks every cap and
/// takes the credits atomically, so however many processes share the ledger none of them can
/// spend past a cap.
#[async_trait]
pub trait Ledger: Send + Sync {
    /// Holds `entry.cost` credits if every cap in `caps` has room, atomically with the check.
    async fn hold(&self, entry: &LedgerEntry, caps: &[LedgerCap]) -> Result<Hold, LedgerError>;
    /// Turns a hold into a charge (`entry` says the outcome). A repeated call (same job,
    /// module, domain and request) is charged once.
    async fn commit(&self, hold: HoldId, entry: &LedgerEntry) -> Result<(), LedgerError>;
    /// Drops a hold: the call was not charged.
    async fn release(&self, hold: HoldId) -> Result<(), LedgerError>;
    /// Credits charged, held or unknown since `since` (inclusive): for one provider, or all
    /// when `provider` is None.
    async fn spent_since(
        &self,
        provider: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<f64, LedgerError>;
    /// The part of [`Ledger::spent_since`] whose outcome is unknown: held by a process that
    /// died (its hold expired) before it could say whether the provider billed the call.
    async fn unknown_since(
        &self,
        _provider: Option<&str>,
        _since: DateTime<Utc>,
    ) -> Result<f64, LedgerError> {
        Ok(0.0)
    }
}

#[derive(Debug, Default)]
struct Rows {
    next: i64,
    /// (id, entry, still held)
    rows: Vec<(i64, LedgerEntry, bool)>,
}

/// An in-process ledger: the default, and the per-run account behind `--max-spend`. Its holds
/// live and die with the process, so none is ever unknown.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    inner: Mutex<Rows>,
}

impl MemoryLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of every committed entry, oldest first (reports and tests).
    pub fn entries(&self) -> Vec<LedgerEntry> {
        self.inner
            .lock()
            .map(|r| {
                r.rows
                    .iter()
                    .filter(|(_, _, held)| !held)
                    .map(|(_, e, _)| e.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Rows>, LedgerError> {
        self.inner
            .lock()
            .map_err(|_| LedgerError("memory ledger lock poisoned".into()))
    }
}

fn covers(cap: &LedgerCap, e: &LedgerEntry) -> bool {
    cap.provider.as_ref().is_none_or(|p| *p == e.provider)
        && cap.job.as_ref().is_none_or(|j| e.job.as_ref() == Some(j))
        && cap.since.is_none_or(|s| e.at >= s)
}

#[async_trait]
impl Ledger for MemoryLedger {
    async fn hold(&self, entry: &LedgerEntry, caps: &[LedgerCap]) -> Result<Hold, LedgerError> {
        let mut rows = self.lock()?;
        for (i, cap) in caps.iter().enumerate() {
            let spent: f64 = rows
                .rows
                .iter()
                .filter(|(_, e, _)| covers(cap, e))
                .map(|(_, e, _)| e.cost)
                .sum();
            if spent + entry.cost > cap.limit + EPS {
                return Ok(Hold::Refused { cap: i, spent });
            }
        }
        rows.next += 1;
        let id = rows.next;
        rows.rows.push((id, entry.clone(), true));
        Ok(Hold::Held(HoldId(id)))
    }

    async fn commit(&self, hold: HoldId, entry: &LedgerEntry) -> Result<(), LedgerError> {
        let mut rows = self.lock()?;
        if let Some(row) = rows.rows.iter_mut().find(|(id, _, _)| *id == hold.0) {
            let at = row.1.at;
            row.1 = LedgerEntry {
                at,
                ..entry.clone()
            };
            row.2 = false;
        }
        Ok(())
    }

    async fn release(&self, hold: HoldId) -> Result<(), LedgerError> {
        let mut rows = self.lock()?;
        rows.rows.retain(|(id, _, held)| !(*id == hold.0 && *held));
        Ok(())
    }

    async fn spent_since(
        &self,
        provider: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<f64, LedgerError> {
        let rows = self.lock()?;
        Ok(rows
            .rows
            .iter()
            .filter(|(_, e, _)| e.at >= since && provider.is_none_or(|p| p == e.provider))
            .map(|(_, e, _)| e.cost)
            .sum())
    }
}
