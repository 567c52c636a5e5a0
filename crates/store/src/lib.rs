//! Persistence for PartnerForge. This crate owns what is kept between runs and shared between
//! processes: jobs and their work items, versioned snapshots with their change events, the work
//! queue, the budget ledger's charges, shared rate pacing, the alert outbox and the daemon's
//! target list; the rules that keep them consistent (dense versions, at most one version per
//! job, a job completing with its last queue row, nothing half-written); and two backends for
//! them, SQLite (the embedded default: WAL, migrations embedded and applied on open) and
//! PostgreSQL (several processes and machines), which pass one conformance suite. It must not
//! know business rules: whether two results differ is decided by content hash, what a change
//! means is computed by the caller through [`DeriveChanges`] inside the store's transaction,
//! and a job's specification is JSON the application layer defines.
//!
//! The API is a set of small capability traits, one per concern, so a component asks for only
//! what it uses ([`OutboxStore`] for the alert dispatcher, [`ChargeStore`] for the ledger, ...):
//! [`SnapshotStore`], [`JobStore`], [`QueueStore`], [`ChargeStore`], [`PacingStore`],
//! [`OutboxStore`], [`TargetStore`]. [`Store`] is all of them, so callers can hold one
//! `Arc<dyn Store>` and hand out `Arc<dyn OutboxStore>` from it (trait upcasting);
//! `use pforge_store::prelude::*` brings every method into scope. Each rule is written once, in
//! the capability's module, over the primitives in [`backend`]; the backends implement only
//! those primitives and their queries, in SQL.

mod accounts;
pub mod backend;
mod charges;
mod error;
mod fence;
mod jobs;
mod model;
mod outbox;
mod pacing;
mod postgres;
mod queue;
mod rows;
mod snapshots;
mod sqlite;
mod summary;
mod targets;

pub use accounts::{AccountFields, AccountPage, AccountQuery, AccountRow, AccountSort, FieldRef};
pub use charges::{ChargeStore, HoldOutcome, SpendCap};
pub use error::StoreError;
pub use fence::{describe, retry_unreachable, Fence, FencedStore};
pub use jobs::JobStore;
pub use model::*;
pub use outbox::OutboxStore;
pub use pacing::PacingStore;
pub use postgres::PgStore;
pub use queue::{QueueItem, QueueStatus, QueueStore, MAX_QUEUE_ATTEMPTS, QUEUE_CHANNEL};
pub use snapshots::{SnapshotStore, CURSOR_PATTERN};
pub use sqlite::SqliteStore;
pub use summary::HISTORY_POINTS;
pub use targets::TargetStore;

use std::sync::Arc;

/// Every capability trait, so one `use pforge_store::prelude::*;` makes all store methods
/// callable on an `Arc<dyn Store>` (or on any one capability).
pub mod prelude {
    pub use crate::{
        ChargeStore, JobStore, OutboxStore, PacingStore, QueueStore, SnapshotStore, Store,
        TargetStore,
    };
}

/// Everything the rest of the system persists: the union of the capability traits, implemented
/// for every type that has them all (both backends). Hold an `Arc<dyn Store>` where a component
/// needs several concerns; pass `Arc<dyn OutboxStore>` (etc.) where it needs one.
pub trait Store:
    SnapshotStore + JobStore + QueueStore + ChargeStore + PacingStore + OutboxStore + TargetStore
{
}

impl<T> Store for T where
    T: SnapshotStore
        + JobStore
        + QueueStore
        + ChargeStore
        + PacingStore
        + OutboxStore
        + TargetStore
        + ?Sized
{
}

/// Opens the backend a URL names, so callers (CLI, daemon, API) hold one `Arc<dyn Store>` and
/// never care which database is behind it: `postgres://` / `postgresql://` open a [`PgStore`];
/// `sqlite://PATH`, `sqlite:PATH`, `sqlite::memory:` or a plain path open a [`SqliteStore`];
/// any other `scheme://` is [`StoreError::UnsupportedUrl`]. Migrations are applied on open.
pub async fn open_store(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    open_store_with(url, &StoreOptions::default()).await
}

/// What a process tells the store at open, beyond where the database is.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// Which module outputs the accounts summary's columns come from. Every process that
    /// writes through the application passes them, so the summary is rebuilt at open when it
    /// was built with other fields (or not at all: a database from before the summary) and kept
    /// by every write after. Without them the store follows the fields recorded in the
    /// database by whoever passed them last.
    pub account_fields: Option<AccountFields>,
}

/// [`open_store`] with [`StoreOptions`].
pub async fn open_store_with(
    url: &str,
    options: &StoreOptions,
) -> Result<Arc<dyn Store>, StoreError> {
    let trimmed = url.trim();
    let lower = trimmed.to_ascii_lowercase();
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        return Ok(Arc::new(PgStore::open_with(trimmed, options).await?));
    }
    // SqliteStore::open rejects every other `scheme://` (and empty input) itself.
    Ok(Arc::new(SqliteStore::open_with(trimmed, options).await?))
}

/// Now, truncated to the microseconds both backends keep, so what the store returns equals what
/// it later reads back.
pub(crate) fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(6)
}
