//! Persistence for PartnerForge. This crate owns the `Store` trait (jobs, work items, versioned
//! snapshots, change events, the alert outbox), its SQLite implementation (the embedded default,
//! WAL mode, migrations embedded and applied on open) and a PostgreSQL one for shared/server
//! deployments; [`open_store`] picks one from a URL. It knows no
//! business rules: whether two results differ is decided by content hash, and what a change means
//! is computed by the caller through [`DeriveChanges`] inside the store's transaction.

mod error;
mod model;
mod postgres;
mod queue;
mod sqlite;

pub use error::StoreError;
pub use model::*;
pub use postgres::PgStore;
pub use queue::{QueueItem, QueueStatus, MAX_QUEUE_ATTEMPTS, QUEUE_CHANNEL};
pub use sqlite::SqliteStore;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Opens the backend a URL names, so callers (CLI, daemon, API) hold one `Arc<dyn Store>` and
/// never care which database is behind it: `postgres://` / `postgresql://` open a [`PgStore`];
/// `sqlite://PATH`, `sqlite:PATH`, `sqlite::memory:` or a plain path open a [`SqliteStore`];
/// any other `scheme://` is [`StoreError::UnsupportedUrl`]. Migrations are applied on open.
pub async fn open_store(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    let trimmed = url.trim();
    let lower = trimmed.to_ascii_lowercase();
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        return Ok(Arc::new(PgStore::open(trimmed).await?));
    }
    // SqliteStore::open rejects every other `scheme://` (and empty input) itself.
    Ok(Arc::new(SqliteStore::open(trimmed).await?))
}

/// Everything the rest of the system persists. Implementations must make every method atomic.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Records a new job as `running`.
    async fn create_job(&self, id: Uuid, label: &str) -> Result<Job, StoreError>;
    /// Marks a job finished with the given status.
    async fn finish_job(&self, id: Uuid, status: JobStatus) -> Result<(), StoreError>;
    async fn get_job(&self, id: Uuid) -> Result<Option<Job>, StoreError>;
    /// Most recent first.
    async fn list_jobs(&self, limit: i64) -> Result<Vec<Job>, StoreError>;
    /// Marks a `running` job `cancelled` (with `finished_at`) so that it is no longer resumed and
    /// a worker polling [`Store::get_job`] can stop. Returns whether it was running; a job that
    /// already finished is left as it is (`false`). An unknown id is
    /// `StoreError::Database(sqlx::Error::RowNotFound)`. Items keep their last status, which
    /// records how far the job got.
    async fn cancel_job(&self, id: Uuid) -> Result<bool, StoreError>;
    /// How many of a job's items are in each status (statuses with no items are absent), for
    /// `pforge jobs` progress without loading every item.
    async fn job_counts(&self, job: Uuid) -> Result<BTreeMap<ItemStatus, i64>, StoreError>;

    /// Inserts or replaces the item keyed by (job, domain, module).
    async fn upsert_item(&self, item: &WorkItem) -> Result<(), StoreError>;
    async fn items_for_job(&self, job: Uuid) -> Result<Vec<WorkItem>, StoreError>;
    /// [`Store::upsert_item`] for many items at once (in order), so that a busy executor pays
    /// one commit per batch instead of one per item. Backends that can should do it in one
    /// transaction; the default just loops.
    async fn upsert_items(&self, items: &[WorkItem]) -> Result<(), StoreError> {
        for item in items {
            self.upsert_item(item).await?;
        }
        Ok(())
    }
    /// [`Store::save_snapshot`] for many snapshots at once, in order, with one outcome per
    /// snapshot: the same rules, one commit per batch where the backend can (group commit).
    /// The default just loops.
    async fn save_snapshots(
        &self,
        news: &[NewSnapshot],
        derive: &dyn DeriveChanges,
    ) -> Result<Vec<SaveOutcome>, StoreError> {
        let mut out = Vec::with_capacity(news.len());
        for new in news {
            out.push(self.save_snapshot(new, derive).await?);
        }
        Ok(out)
    }

    /// Stores a module result. If its hash equals the latest version's, only `checked_at` moves;
    /// otherwise it becomes version latest+1 together with whatever `derive` computes from the
    /// previous version, all in one transaction.
    ///
    /// Keyed by job: when `new.job_id` already stored a version of this (domain, module), that
    /// version is returned as `Unchanged` and nothing is written, so a retried work item (a
    /// worker died after saving but before closing its queue row) never adds a second version.
    async fn save_snapshot(
        &self,
        new: &NewSnapshot,
        derive: &dyn DeriveChanges,
    ) -> Result<SaveOutcome, StoreError>;
    async fn latest_snapshot(
        &self,
        domain: &str,
        module: &str,
    ) -> Result<Option<Snapshot>, StoreError>;
    /// The latest version of every module for a domain, ordered by module id.
    async fn latest_snapshots(&self, domain: &str) -> Result<Vec<Snapshot>, StoreError>;
    /// Every version, oldest first, optionally for one module.
    async fn snapshot_history(
        &self,
        domain: &str,
        module: Option<&str>,
    ) -> Result<Vec<Snapshot>, StoreError>;
    async fn get_snapshot(
        &self,
        domain: &str,
        module: &str,
        version: i64,
    ) -> Result<Option<Snapshot>, StoreError>;

    /// Change events, oldest first, optionally for one domain and only those detected at or
    /// after `since`.
    async fn list_change_events(
        &self,
        domain: Option<&str>,
        since: Option<DateTime<Utc>>,
        limit: i64,
    ) -> Result<Vec<ChangeEvent>, StoreError>;
    /// Alerts due for a delivery attempt (`pending`, `next_attempt_at <= now`), most overdue first.
    async fn pending_alerts(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Alert>, StoreError>;
    /// Alerts in the outbox, newest first, optionally only those with `status`.
    async fn list_alerts(&self, status: Option<&str>, limit: i64)
        -> Result<Vec<Alert>, StoreError>;
    /// Records the outcome of a delivery attempt (status, attempts, errors, times, payload).
    async fn update_alert(&self, alert: &Alert) -> Result<(), StoreError>;

    /// The daemon's target list, ordered by domain (byte order).
    async fn list_targets(&self) -> Result<Vec<Target>, StoreError>;
    /// Adds domains to the target list in one transaction; domains already listed keep their
    /// `added_at`, duplicates in `domains` count once. Returns how many were new.
    async fn add_targets(&self, domains: &[String]) -> Result<u64, StoreError>;
    /// Removes a domain from the target list; returns whether it was listed.
    async fn remove_target(&self, domain: &str) -> Result<bool, StoreError>;

    /// Every (domain, module) with stored snapshots and how many versions it has, ordered by
    /// domain then module: the walk retention pruning makes.
    async fn snapshot_keys(&self) -> Result<Vec<(String, String, i64)>, StoreError>;
    /// Executes a retention plan for one (domain, module) in one transaction: deletes the listed
    /// snapshot versions and clears the patch of `new_base` (whose patch pointed at a deleted
    /// version). Returns how many versions were deleted; listed versions that do not exist are
    /// ignored. Refuses (`StoreError::Invalid`, nothing changed) to delete the latest version,
    /// since the next save would then reuse its number; a `new_base` that does not exist after
    /// the deletion is `StoreError::Database(sqlx::Error::RowNotFound)`, also changing nothing.
    /// Change events are history and are kept.
    async fn prune_versions(
        &self,
        domain: &str,
        module: &str,
        delete_versions: &[i64],
        new_base: Option<i64>,
    ) -> Result<u64, StoreError>;

    /// Appends one charged call to the budget ledger.
    async fn record_charge(&self, entry: &ChargeRecord) -> Result<(), StoreError>;
    /// Credits charged at or after `since`, for one provider or (`None`) for all; 0 when none.
    async fn spent_since(
        &self,
        provider: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<f64, StoreError>;

    // --- Work queue (`enrich --enqueue` + `pforge worker`; see the `queue` module) -------------

    /// Creates a `running` job and queues one `pending` row per distinct domain, in one
    /// transaction, so no worker ever sees a half-enqueued job (and so never completes it early).
    /// A job with no domains is completed at once. Wakes idle workers (PostgreSQL NOTIFY).
    async fn enqueue_job(
        &self,
        id: Uuid,
        label: &str,
        domains: &[String],
    ) -> Result<Job, StoreError>;
    /// Claims up to `limit` rows for `owner` with a lease of `lease`: pending rows and rows whose
    /// lease expired (their holder died), oldest first, all from one running job (`job`, or the
    /// job of the oldest claimable row). Concurrent claimers never get the same row. Rows lost
    /// [`MAX_QUEUE_ATTEMPTS`] times are failed instead. Returns the rows ordered by id.
    async fn claim_queue_items(
        &self,
        owner: &str,
        job: Option<Uuid>,
        limit: i64,
        lease: std::time::Duration,
    ) -> Result<Vec<QueueItem>, StoreError>;
    /// Extends the lease of the listed rows `owner` still holds; returns those ids (a row
    /// missing from the answer was reclaimed by another worker after its lease expired).
    async fn heartbeat_queue_items(
        &self,
        owner: &str,
        ids: &[i64],
        lease: std::time::Duration,
    ) -> Result<Vec<i64>, StoreError>;
    /// Closes a row `owner` holds as `Done` or `Failed` (others are `StoreError::Invalid`); when
    /// it was the job's last open row the job becomes `completed` in the same transaction.
    /// Returns false (changing nothing) when `owner` no longer holds the row.
    async fn complete_queue_item(
        &self,
        owner: &str,
        id: i64,
        status: QueueStatus,
        error: Option<&str>,
    ) -> Result<bool, StoreError>;
    /// Puts rows `owner` holds but did not start back to `pending` (graceful shutdown), without
    /// counting the claim as an attempt. Returns how many were released.
    async fn release_queue_items(&self, owner: &str, ids: &[i64]) -> Result<u64, StoreError>;
    /// How many of a job's queue rows are in each status (absent statuses are not listed).
    async fn queue_counts(&self, job: Uuid) -> Result<BTreeMap<QueueStatus, i64>, StoreError>;
    /// Deletes closed rows (done, failed, cancelled) finished before `before`, so the queue
    /// table stays small. Per-module results stay in `work_items`.
    async fn prune_queue(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Waits until work may have arrived (PostgreSQL: a NOTIFY on [`QUEUE_CHANNEL`]) or
    /// `timeout` passes (SQLite: just the timeout). Callers poll after it either way.
    async fn wait_for_queue(&self, timeout: std::time::Duration) -> Result<(), StoreError>;

    /// Shared request pacing (GCRA): reserves `count` consecutive request slots `interval` apart
    /// on `bucket`, atomically across every process using this database, and returns how far
    /// after "now" the first slot's theoretical arrival time lies. Slot `j` may be used
    /// `max(0, returned + j * interval - tolerance)` from now, where `tolerance` is
    /// `(burst - 1) * interval`.
    async fn reserve_rate_slots(
        &self,
        bucket: &str,
        interval: std::time::Duration,
        count: u32,
    ) -> Result<std::time::Duration, StoreError>;
}
