//! The shared work queue (`pforge enrich --enqueue` + `pforge worker`): its rules, written once
//! over [`QueueTx`].
//!
//! One row per (job, domain). Workers claim small batches, hold a lease renewed by heartbeat, and
//! complete each row when its domain finishes; a worker that dies stops renewing, its lease
//! expires and another worker claims the row again (attempts + 1; after [`MAX_QUEUE_ATTEMPTS`]
//! the row is failed instead of being retried forever). Re-running a domain is safe because
//! snapshots are keyed: a (job, domain, module) stores at most one version (see
//! [`crate::SnapshotStore::save_snapshots`]) and charges carry a call key, so a retry never adds a
//! second version or a second charge for the same call.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::backend::Backend;
use crate::jobs::JobTx;
use crate::{Job, JobStatus, StoreError};

/// Claims of one row before it is given up as failed: a domain that takes down every worker
/// that touches it must not take down the fleet forever.
pub const MAX_QUEUE_ATTEMPTS: i64 = 5;

/// PostgreSQL channel that wakes idle workers when work is enqueued or released.
pub const QUEUE_CHANNEL: &str = "pforge_queue";

/// Lifecycle of one queued (job, domain).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum QueueStatus {
    /// Waiting for a worker.
    Pending,
    /// Claimed by a worker whose lease may or may not have expired.
    Running,
    /// Every module of the domain was run (module failures are recorded per module, not here).
    Done,
    /// Given up (too many lost leases) or failed before its modules could run.
    Failed,
    /// Its job was cancelled before a worker claimed it.
    Cancelled,
}

impl QueueStatus {
    /// Stable text used in the database and in `--json` output.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueStatus::Pending => "pending",
            QueueStatus::Running => "running",
            QueueStatus::Done => "done",
            QueueStatus::Failed => "failed",
            QueueStatus::Cancelled => "cancelled",
        }
    }

    /// Inverse of [`QueueStatus::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => QueueStatus::Pending,
            "running" => QueueStatus::Running,
            "done" => QueueStatus::Done,
            "failed" => QueueStatus::Failed,
            "cancelled" => QueueStatus::Cancelled,
            _ => return None,
        })
    }
}

/// A claimed queue row, as a worker sees it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QueueItem {
    /// Row id: what heartbeats, completion and release name.
    pub id: i64,
    pub job_id: Uuid,
    /// Normalized domain (as enqueued).
    pub domain: String,
    /// Claims so far, this one included (more than 1 means a previous holder lost its lease).
    pub attempts: i64,
}

/// The work queue.
///
/// Invariant: a row is held by at most one worker at a time (its lease owner) and only the
/// holder can close or release it; a job with queue rows becomes `completed` in the same
/// transaction that closes its last open row, and never before; a cancelled job's unclaimed
/// rows are never claimed.
#[async_trait]
pub trait QueueStore: Backend {
    /// Creates a `running` job (with its specification) and queues one `pending` row per
    /// distinct domain, in one transaction, so no worker ever sees a half-enqueued job (and so
    /// never completes it early). A job with no domains is completed at once. Wakes idle
    /// workers. An id already used is [`StoreError::Conflict`].
    async fn enqueue_job(
        &self,
        id: Uuid,
        label: &str,
        spec: &Value,
        domains: &[String],
    ) -> Result<Job, StoreError> {
        let mut tx = self.begin().await?;
        let job = enqueue(tx.as_mut(), id, label, spec, domains).await?;
        tx.commit().await?;
        // The job is queued whatever this says: a failure only leaves the planner's statistics
        // to autovacuum.
        if let Err(e) = self.queue_grew(domains.len()).await {
            tracing::warn!(error = %e, "could not refresh the queue table's statistics");
        }
        Ok(job)
    }

    /// Claims up to `limit` rows for `owner` with a lease of `lease`: pending rows and rows whose
    /// lease expired (their holder died), oldest first, all from one running job (`job`, or the
    /// job of the oldest claimable row). Concurrent claimers never get the same row. Rows lost
    /// [`MAX_QUEUE_ATTEMPTS`] times are failed instead (completing their job if that was its
    /// last open row). Returns the rows ordered by id.
    async fn claim_queue_items(
        &self,
        owner: &str,
        job: Option<Uuid>,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<QueueItem>, StoreError> {
        let mut tx = self.begin().await?;
        let items = claim(tx.as_mut(), owner, job, limit, lease).await?;
        tx.commit().await?;
        Ok(items)
    }

    /// Extends the lease of the listed rows `owner` still holds; returns those ids, sorted (a
    /// row missing from the answer was reclaimed by another worker after its lease expired).
    async fn heartbeat_queue_items(
        &self,
        owner: &str,
        ids: &[i64],
        lease: Duration,
    ) -> Result<Vec<i64>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        let mut held = tx.extend_leases(owner, ids, lease).await?;
        tx.commit().await?;
        held.sort_unstable();
        Ok(held)
    }

    /// Closes a row `owner` holds as `Done` or `Failed` (others are `StoreError::Invalid`); when
    /// it was the job's last open row the job becomes `completed` in the same transaction.
    /// Returns false (changing nothing) when `owner` no longer holds the row.
    async fn complete_queue_item(
        &self,
        owner: &str,
        id: i64,
        status: QueueStatus,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let closed = complete(tx.as_mut(), owner, id, status, error).await?;
        tx.commit().await?;
        Ok(closed)
    }

    /// [`QueueStore::complete_queue_item`] as `Done` for many rows in one transaction: one
    /// statement closes them all, then each job they belong to is locked and completed if that
    /// drained it. A worker finishing hundreds of domains a second pays one round trip per batch
    /// instead of four per domain, and holds each job's lock once per batch, not once per row.
    /// Returns the ids that were closed (the rest are no longer held by `owner`).
    async fn complete_queue_items_done(
        &self,
        owner: &str,
        ids: &[i64],
    ) -> Result<Vec<i64>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        let closed = tx.close_rows_done(owner, ids).await?;
        let mut jobs: Vec<Uuid> = closed.iter().map(|(_, job)| *job).collect();
        jobs.sort_unstable();
        jobs.dedup();
        for job in jobs {
            tx.lock_job(job).await?;
            tx.finish_if_drained(job).await?;
        }
        tx.commit().await?;
        let mut ids: Vec<i64> = closed.into_iter().map(|(id, _)| id).collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// Puts rows `owner` holds but did not start back to `pending` (graceful shutdown), without
    /// counting the claim as an attempt, and wakes idle workers. Returns how many were released.
    async fn release_queue_items(&self, owner: &str, ids: &[i64]) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin().await?;
        let n = tx.release_rows(owner, ids).await?;
        if n > 0 {
            tx.notify_workers().await?;
        }
        tx.commit().await?;
        Ok(n)
    }

    /// How many of a job's queue rows are in each status (absent statuses are not listed).
    async fn queue_counts(&self, job: Uuid) -> Result<BTreeMap<QueueStatus, i64>, StoreError>;

    /// Deletes closed rows (done, failed, cancelled) finished before `before`, so the queue
    /// table stays small. Per-module results stay in `work_items`.
    async fn prune_queue(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// One round trip to the database (opens and drops a write transaction): how a worker that
    /// stopped claiming because its heartbeat failed learns the database answers again.
    async fn ping(&self) -> Result<(), StoreError> {
        let tx = self.begin().await?;
        drop(tx);
        Ok(())
    }

    /// Waits until work may have arrived (PostgreSQL: a NOTIFY on [`QUEUE_CHANNEL`]) or
    /// `timeout` passes (SQLite: just the timeout). Callers poll after it either way.
    async fn wait_for_queue(&self, timeout: Duration) -> Result<(), StoreError>;
}

/// The queue primitives of a write transaction. Lease times use the backend's clock (the
/// database's for PostgreSQL, so machines with skewed clocks agree on expiry).
#[async_trait]
pub trait QueueTx: Send {
    /// Queues one `pending` row per distinct domain of `job`, enqueued at `at`.
    async fn insert_queue_rows(
        &mut self,
        job: Uuid,
        domains: &[String],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Completes a `running` job that has no open (pending or running) row left; returns its
    /// `finished_at` when it did. The caller holds the job's lock ([`JobTx::lock_job`]) or
    /// created it in this transaction.
    async fn finish_if_drained(&mut self, job: Uuid) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Fails every running row whose lease expired after `max_attempts` claims (rows locked by
    /// other transactions are skipped); returns the jobs of the failed rows.
    async fn fail_exhausted(&mut self, max_attempts: i64) -> Result<Vec<Uuid>, StoreError>;

    /// The running job of the oldest claimable row (pending, or lease expired with attempts
    /// left), if any.
    async fn oldest_claimable_job(&mut self, max_attempts: i64)
        -> Result<Option<Uuid>, StoreError>;

    /// Claims up to `limit` claimable rows of `job` (oldest first, skipping rows other
    /// transactions hold) for `owner`: status running, lease `lease` from now, attempts + 1.
    async fn claim_rows(
        &mut self,
        owner: &str,
        job: Uuid,
        limit: i64,
        lease: Duration,
        max_attempts: i64,
    ) -> Result<Vec<QueueItem>, StoreError>;

    /// Sets the lease of the listed running rows `owner` holds to `lease` from now; returns
    /// their ids.
    async fn extend_leases(
        &mut self,
        owner: &str,
        ids: &[i64],
        lease: Duration,
    ) -> Result<Vec<i64>, StoreError>;

    /// Closes the running row `id` if `owner` holds it (status, `finished_at`, error; lease
    /// cleared); returns its job, `None` when `owner` does not hold it.
    async fn close_row(
        &mut self,
        owner: &str,
        id: i64,
        status: QueueStatus,
        error: Option<&str>,
    ) -> Result<Option<Uuid>, StoreError>;

    /// Closes the listed running rows `owner` holds as `done` in one statement; returns the
    /// closed ones as `(id, job)`, in no particular order (rows it no longer holds are absent).
    async fn close_rows_done(
        &mut self,
        owner: &str,
        ids: &[i64],
    ) -> Result<Vec<(i64, Uuid)>, StoreError>;

    /// Puts the listed running rows `owner` holds back to `pending`, lease cleared and the
    /// claim's attempt taken back; returns how many.
    async fn release_rows(&mut self, owner: &str, ids: &[i64]) -> Result<u64, StoreError>;

    /// Locks the `running` rows of `job` for `domains` until the transaction ends (PostgreSQL:
    /// `FOR UPDATE`, in id order, so two lockers never deadlock; SQLite's write transaction
    /// holds every row) and returns each one's lease as `(domain, lease owner, attempts)`: the
    /// claim's lease token. Domains without a running row are absent. A fenced write checks the
    /// token first and, while the lock holds, no other worker can claim or close the row.
    async fn lock_leases(
        &mut self,
        job: Uuid,
        domains: &[String],
    ) -> Result<Vec<(String, String, i64)>, StoreError>;

    /// Cancels a job's `pending` rows; returns how many.
    async fn cancel_pending(&mut self, job: Uuid) -> Result<u64, StoreError>;

    /// Wakes idle workers once the transaction commits (PostgreSQL NOTIFY; SQLite: nothing).
    async fn notify_workers(&mut self) -> Result<(), StoreError>;
}

/// The enqueue rule (see [`QueueStore::enqueue_job`]).
async fn enqueue<T: JobTx + QueueTx + ?Sized>(
    tx: &mut T,
    id: Uuid,
    label: &str,
    spec: &Value,
    domains: &[String],
) -> Result<Job, StoreError> {
    let mut job = Job {
        id,
        label: label.to_string(),
        spec: spec.clone(),
        status: JobStatus::Running,
        created_at: crate::now(),
        finished_at: None,
    };
    tx.insert_job(&job).await?;
    if !domains.is_empty() {
        tx.insert_queue_rows(id, domains, job.created_at).await?;
    }
    if let Some(at) = tx.finish_if_drained(id).await? {
        job.status = JobStatus::Completed;
        job.finished_at = Some(at);
    } else {
        tx.notify_workers().await?;
    }
    Ok(job)
}

/// The claim rule (see [`QueueStore::claim_queue_items`]).
async fn claim<T: JobTx + QueueTx + ?Sized>(
    tx: &mut T,
    owner: &str,
    job: Option<Uuid>,
    limit: i64,
    lease: Duration,
) -> Result<Vec<QueueItem>, StoreError> {
    // Rows whose holders died too often are given up, not retried forever; a job whose last
    // open row that was is complete. Job locks in id order, so two claimers never deadlock.
    let mut given_up = tx.fail_exhausted(MAX_QUEUE_ATTEMPTS).await?;
    given_up.sort_unstable();
    given_up.dedup();
    for j in given_up {
        tx.lock_job(j).await?;
        tx.finish_if_drained(j).await?;
    }
    let job = match job {
        Some(j) => Some(j),
        None => tx.oldest_claimable_job(MAX_QUEUE_ATTEMPTS).await?,
    };
    let Some(job) = job else {
        return Ok(Vec::new());
    };
    if limit <= 0 {
        return Ok(Vec::new());
    }
    let mut items = tx
        .claim_rows(owner, job, limit, lease, MAX_QUEUE_ATTEMPTS)
        .await?;
    items.sort_by_key(|i| i.id);
    Ok(items)
}

/// The completion rule (see [`QueueStore::complete_queue_item`]).
async fn complete<T: JobTx + QueueTx + ?Sized>(
    tx: &mut T,
    owner: &str,
    id: i64,
    status: QueueStatus,
    error: Option<&str>,
) -> Result<bool, StoreError> {
    if !matches!(status, QueueStatus::Done | QueueStatus::Failed) {
        return Err(StoreError::Invalid(format!(
            "a queue item is completed as done or failed, not {}",
            status.as_str()
        )));
    }
    let Some(job) = tx.close_row(owner, id, status, error).await? else {
        return Ok(false);
    };
    // The job's lock orders concurrent completions of its last rows: the later one sees the
    // earlier one's row closed, so exactly one of them completes the job.
    tx.lock_job(job).await?;
    tx.finish_if_drained(job).await?;
    Ok(true)
}

/// A lease as a chrono duration (a lease too long for chrono is a day: leases are renewed).
pub(crate) fn chrono_lease(lease: Duration) -> chrono::Duration {
    chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::days(1))
}
