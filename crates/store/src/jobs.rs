//! Jobs and their work items: creating, finishing and cancelling a job, and the per-(job,
//! domain, module) bookkeeping that makes a job resumable, written once over [`JobTx`].

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::backend::Backend;
use crate::queue::QueueTx;
use crate::{ItemStatus, Job, JobStatus, StoreError, WorkItem};

/// Jobs (one enrichment submission each) and their work items.
///
/// Invariant: a job id is used once; a job leaves `running` once (completed, failed or
/// cancelled) and a finished job is never turned into a cancelled one; every work item belongs
/// to an existing job and there is one per (job, domain, module).
#[async_trait]
pub trait JobStore: Backend {
    /// Records a new job as `running`, with its specification (JSON the application layer
    /// defines; the store only keeps it). An id already used is [`StoreError::Conflict`].
    async fn create_job(&self, id: Uuid, label: &str, spec: &Value) -> Result<Job, StoreError> {
        let job = Job {
            id,
            label: label.to_string(),
            spec: spec.clone(),
            status: JobStatus::Running,
            created_at: crate::now(),
            finished_at: None,
        };
        let mut tx = self.begin().await?;
        tx.insert_job(&job).await?;
        tx.commit().await?;
        Ok(job)
    }

    /// Marks a job finished with the given status. An unknown id is [`StoreError::NotFound`].
    async fn finish_job(&self, id: Uuid, status: JobStatus) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        if !tx.set_job_status(id, status, crate::now()).await? {
            return Err(not_found(id));
        }
        tx.commit().await
    }

    /// One job, if it exists.
    async fn get_job(&self, id: Uuid) -> Result<Option<Job>, StoreError>;

    /// The jobs with these ids, in no particular order (unknown ids are simply absent): one
    /// read for a page that names many runs (the budget page's spend by run), not one per run.
    async fn get_jobs(&self, ids: &[Uuid]) -> Result<Vec<Job>, StoreError>;

    /// Most recent first; a non-positive `limit` returns nothing.
    async fn list_jobs(&self, limit: i64) -> Result<Vec<Job>, StoreError>;

    /// Marks a `running` job `cancelled` (with `finished_at`) so that it is no longer resumed
    /// and a worker polling [`JobStore::get_job`] can stop, and cancels its queue rows no worker
    /// has claimed yet (claimed ones finish). Returns whether it was running; a job that already
    /// finished is left as it is (`false`). An unknown id is [`StoreError::NotFound`]. Items
    /// keep their last status, which records how far the job got.
    async fn cancel_job(&self, id: Uuid) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let cancelled = cancel(tx.as_mut(), id).await?;
        tx.commit().await?;
        Ok(cancelled)
    }

    /// How many of a job's items are in each status (statuses with no items are absent), for
    /// `pforge jobs` progress without loading every item.
    async fn job_counts(&self, job: Uuid) -> Result<BTreeMap<ItemStatus, i64>, StoreError>;

    /// Inserts or replaces the item keyed by (job, domain, module). Its job must exist
    /// ([`StoreError::NotFound`] otherwise).
    async fn upsert_item(&self, item: &WorkItem) -> Result<(), StoreError> {
        self.upsert_items(std::slice::from_ref(item)).await
    }

    /// [`JobStore::upsert_item`] for many items at once (in order; a later item with the same
    /// key wins), in one transaction with multi-row statements, so that a busy executor pays
    /// one commit per batch instead of one per item.
    async fn upsert_items(&self, items: &[WorkItem]) -> Result<(), StoreError> {
        if items.is_empty() {
            return Ok(());
        }
        let items = last_per_key(items);
        let mut tx = self.begin().await?;
        tx.upsert_items(&items).await?;
        tx.commit().await
    }

    /// A job's items, ordered by domain then module (byte order).
    async fn items_for_job(&self, job: Uuid) -> Result<Vec<WorkItem>, StoreError>;
}

/// The job primitives of a write transaction.
#[async_trait]
pub trait JobTx: Send {
    /// Inserts a job; an id already used is [`StoreError::Conflict`].
    async fn insert_job(&mut self, job: &Job) -> Result<(), StoreError>;

    /// Locks one job row until the transaction ends (other transactions locking it wait) and
    /// returns its status, `None` when there is no such job.
    async fn lock_job(&mut self, id: Uuid) -> Result<Option<JobStatus>, StoreError>;

    /// Sets a job's status and `finished_at = at`; returns whether the job exists.
    async fn set_job_status(
        &mut self,
        id: Uuid,
        status: JobStatus,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Inserts or replaces work items (non-empty) by (job, domain, module). An item whose job
    /// does not exist is [`StoreError::NotFound`].
    async fn upsert_items(&mut self, items: &[WorkItem]) -> Result<(), StoreError>;
}

/// The items with the last one of each (job, domain, module) only, in order: one multi-row
/// upsert may not touch a row twice (PostgreSQL refuses), and a later item wins anyway.
pub(crate) fn last_per_key(items: &[WorkItem]) -> std::borrow::Cow<'_, [WorkItem]> {
    fn key(i: &WorkItem) -> (Uuid, &str, &str) {
        (i.job_id, i.domain.as_str(), i.module.as_str())
    }
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    if items.iter().all(|i| seen.insert(key(i))) {
        return std::borrow::Cow::Borrowed(items);
    }
    seen.clear();
    let mut kept: Vec<WorkItem> = items
        .iter()
        .rev()
        .filter(|i| seen.insert(key(i)))
        .cloned()
        .collect();
    kept.reverse();
    std::borrow::Cow::Owned(kept)
}

/// `NotFound` for a job id.
pub(crate) fn not_found(id: Uuid) -> StoreError {
    StoreError::not_found(format!("job {id}"))
}

/// The cancel rule (see [`JobStore::cancel_job`]).
async fn cancel<T: JobTx + QueueTx + ?Sized>(tx: &mut T, id: Uuid) -> Result<bool, StoreError> {
    match tx.lock_job(id).await? {
        None => Err(not_found(id)),
        Some(JobStatus::Running) => {
            tx.set_job_status(id, JobStatus::Cancelled, crate::now())
                .await?;
            // Queued domains not yet claimed are never claimed now; claimed ones finish.
            tx.cancel_pending(id).await?;
            Ok(true)
        }
        Some(_) => Ok(false),
    }
}
