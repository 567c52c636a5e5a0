//! Persistence for PartnerForge. This crate owns the `Store` trait (jobs, work items, versioned
//! snapshots, change events, the alert outbox), its SQLite implementation (the embedded default,
//! WAL mode, migrations embedded and applied on open) and later a PostgreSQL one. It knows no
//! business rules: whether two results differ is decided by content hash, and what a change means
//! is computed by the caller through [`DeriveChanges`] inside the store's transaction.

mod error;
mod model;
mod sqlite;

pub use error::StoreError;
pub use model::*;
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use uuid::Uuid;

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

    /// Inserts or replaces the item keyed by (job, domain, module).
    async fn upsert_item(&self, item: &WorkItem) -> Result<(), StoreError>;
    async fn items_for_job(&self, job: Uuid) -> Result<Vec<WorkItem>, StoreError>;

    /// Stores a module result. If its hash equals the latest version's, only `checked_at` moves;
    /// otherwise it becomes version latest+1 together with whatever `derive` computes from the
    /// previous version, all in one transaction.
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
}
