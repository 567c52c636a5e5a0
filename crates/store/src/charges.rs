//! The budget ledger's records: one row per charged (or reserved) provider call, and the
//! reservation rule that makes spending caps exact across processes, written once over
//! [`ChargeTx`].
//!
//! A paid call is first *held*: in one write transaction that serialises every holder (a
//! transaction-scoped lock on PostgreSQL, the single write lock on SQLite), the spend behind each
//! cap that applies is summed (committed, held and unknown rows alike) and, only if every cap
//! has room, a `held` row is inserted. After the call the row is committed with the real cost, or
//! deleted when the call was not charged. A held row whose holder never came back (the process
//! died) is settled as `unknown` once its hold expires: it still counts as spent, because the
//! provider may well have billed that call, so a crash can never let a cap be overrun.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::backend::Backend;
use crate::{ChargeRecord, SpendGroup, StoreError};

/// Tolerance for float sums of credits.
const EPS: f64 = 1e-9;

/// One cap a hold must fit under: the rows it sums and its limit. Which caps apply to a call
/// is the budget crate's business; the store only sums and compares.
#[derive(Debug, Clone, PartialEq)]
pub struct SpendCap {
    /// Only charges of this provider (`None`: every provider).
    pub provider: Option<String>,
    /// Only charges of this job (`None`: every job and none).
    pub job: Option<Uuid>,
    /// Only charges at or after this instant (`None`: all time, e.g. a job's own cap).
    pub since: Option<DateTime<Utc>>,
    /// Most credits the summed rows plus the new hold may reach.
    pub limit: f64,
}

/// What [`ChargeStore::hold_charge`] decided.
#[derive(Debug, Clone, PartialEq)]
pub enum HoldOutcome {
    /// The credits are held under this row id until committed or released.
    Held(i64),
    /// `caps[cap]` has no room: `spent` credits are already spent, held or unknown under it.
    Refused { cap: usize, spent: f64 },
}

/// Charges, so that budget caps hold across runs and processes. The store only records and
/// sums them; what a charge means is the budget crate's business.
///
/// Invariants: a charge with a call key is counted once however often it is recorded (a retried
/// work item repeating a charged call does not pay twice); every other charge is counted each
/// time it is recorded. Holds are checked and taken atomically: however many processes hold at
/// once, the rows under any cap never sum past its limit through holds.
#[async_trait]
pub trait ChargeStore: Backend {
    /// Appends one charged call (ignored when its `call_key` was recorded before). Unchecked:
    /// for charges no cap has to hold back (caps use [`ChargeStore::hold_charge`]).
    async fn record_charge(&self, entry: &ChargeRecord) -> Result<(), StoreError>;

    /// Credits charged at or after `since`, for one provider or (`None`) for all; 0 when none.
    /// Held and unknown charges count: they may have been billed.
    async fn spent_since(
        &self,
        provider: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<f64, StoreError>;

    /// The part of [`ChargeStore::spent_since`] whose outcome is unknown (held by a process
    /// whose hold expired before it said whether the call was charged), shown apart in reports.
    async fn unknown_since(
        &self,
        provider: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<f64, StoreError>;

    /// Spend at or after `since`, grouped by job, module and provider (in no particular
    /// order): one grouped read, so the budget page can say what each run and module spent.
    async fn spend_groups(&self, since: DateTime<Utc>) -> Result<Vec<SpendGroup>, StoreError>;

    /// Holds `entry.cost` credits for a call about to be sent, if every cap in `caps` has room
    /// for it, in one transaction that no other holder can interleave with. The hold expires
    /// `hold` from now: unless committed or released before, it is then settled as unknown
    /// (still counted). `entry.call_key` is ignored here (see [`ChargeStore::commit_charge`]).
    async fn hold_charge(
        &self,
        entry: &ChargeRecord,
        caps: &[SpendCap],
        hold: Duration,
    ) -> Result<HoldOutcome, StoreError> {
        let mut tx = self.begin().await?;
        tx.lock_charges().await?;
        tx.settle_expired_holds().await?;
        for (i, cap) in caps.iter().enumerate() {
            let spent = tx.sum_charges(cap).await?;
            if spent + entry.cost > cap.limit + EPS {
                return Ok(HoldOutcome::Refused { cap: i, spent });
            }
        }
        let id = tx.insert_hold(entry, hold).await?;
        tx.commit().await?;
        Ok(HoldOutcome::Held(id))
    }

    /// Turns hold `id` into a charge of `cost` with `status` (also when it was already settled
    /// as unknown: the holder came back and knows). When `call_key` was charged before, the hold
    /// is dropped instead, so a repeated call pays once. Unknown ids change nothing.
    async fn commit_charge(
        &self,
        id: i64,
        cost: f64,
        status: &str,
        call_key: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        tx.lock_charges().await?;
        let repeated = match call_key {
            Some(key) => tx.charge_key_taken(key).await?,
            None => false,
        };
        if repeated {
            tx.delete_hold(id).await?;
        } else {
            tx.commit_hold(id, cost, status, call_key).await?;
        }
        tx.commit().await
    }

    /// Drops hold `id` (held or settled as unknown): the call was not charged. Committed
    /// charges and unknown ids are left alone.
    async fn release_charge(&self, id: i64) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        tx.delete_hold(id).await?;
        tx.commit().await
    }
}

/// The charge primitives of a write transaction.
#[async_trait]
pub trait ChargeTx: Send {
    /// Serialises with every other transaction that takes this lock (holds and commits), until
    /// this transaction ends, so a sum read after it stays true until the insert.
    async fn lock_charges(&mut self) -> Result<(), StoreError>;

    /// Marks held rows whose hold expired (by the backend's clock) as unknown; returns how many.
    async fn settle_expired_holds(&mut self) -> Result<u64, StoreError>;

    /// Sum of the costs of every row (committed, held, unknown) the cap's filters select.
    async fn sum_charges(&mut self, cap: &SpendCap) -> Result<f64, StoreError>;

    /// Inserts a `held` row for `entry` (its call key is not stored yet) expiring `hold` from
    /// now; returns its id.
    async fn insert_hold(
        &mut self,
        entry: &ChargeRecord,
        hold: Duration,
    ) -> Result<i64, StoreError>;

    /// Whether a row with this call key exists.
    async fn charge_key_taken(&mut self, key: &str) -> Result<bool, StoreError>;

    /// Sets a held or unknown row to committed with `cost`, `status` and `call_key`.
    async fn commit_hold(
        &mut self,
        id: i64,
        cost: f64,
        status: &str,
        call_key: Option<&str>,
    ) -> Result<(), StoreError>;

    /// Deletes a held or unknown row.
    async fn delete_hold(&mut self, id: i64) -> Result<(), StoreError>;
}
