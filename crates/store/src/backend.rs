//! What a database backend implements. The capability traits' rules (saving a snapshot,
//! claiming queue rows, cancelling a job, ...) are written once, as provided methods, over the
//! primitives of a write transaction ([`WriteTx`]: [`SnapshotTx`], [`JobTx`], [`QueueTx`],
//! [`ChargeTx`]); a backend supplies those primitives (each one or two SQL statements, no
//! decisions), its read queries (the required methods of each capability trait) and
//! [`Backend`] itself.
//!
//! Adding a backend: implement [`Backend`] (open a write transaction whose primitives hold the
//! locks their docs name; answer [`ChangeFilter`]s), then the required methods of every
//! capability trait; [`crate::Store`] follows. Run `tests/conformance.rs` against it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pforge_core::Level;
use uuid::Uuid;

use crate::{ChangeEvent, StoreError};

pub use crate::charges::ChargeTx;
pub use crate::jobs::JobTx;
pub use crate::queue::QueueTx;
pub use crate::snapshots::{SnapshotRow, SnapshotTx};
pub use crate::summary::{
    AccountTx, FieldsCache, LastChange, LatestData, SummaryCol, SummaryUpdate, SummaryValue,
};

/// A database the rules can run on. Implementations must make a [`WriteTx`] atomic (all of it
/// commits or none of it) and isolated enough for what each primitive's doc promises.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Opens a write transaction. Dropping it without [`WriteTx::commit`] rolls it back, so a
    /// rule that returns an error early leaves nothing behind.
    async fn begin(&self) -> Result<Box<dyn WriteTx>, StoreError>;

    /// The change events matching `filter`, newest first (`detected_at` descending, then `id`
    /// descending), at most `filter.limit` of them.
    async fn query_change_events(
        &self,
        filter: &ChangeFilter,
    ) -> Result<Vec<ChangeEvent>, StoreError>;

    /// After a rebuild of the accounts summary committed: refreshes what the planner knows of
    /// the summary tables, which the rebuild changed wholesale (a database analyzed with six
    /// accounts and rebuilt with 100,000 would otherwise be planned as six).
    async fn summary_rebuilt(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// After `rows` queue rows were enqueued and committed. A backend whose planner works from
    /// statistics refreshes the queue's here: planned with the statistics of an empty queue, a
    /// claim over 100,000 fresh rows sorted them all (85 ms) instead of reading the first few in
    /// index order, until autovacuum next analyzed the table.
    async fn queue_grew(&self, _rows: usize) -> Result<(), StoreError> {
        Ok(())
    }

    /// Closes the connections, waiting for in-flight work. A process calls it before it exits:
    /// SQLite checkpoints its write-ahead log into the database file when the last connection
    /// closes, so a file copied afterwards holds everything (a process that just exits can be
    /// cut off in the middle of that checkpoint, leaving the file readable only with its WAL).
    async fn close(&self) {}
}

/// One write transaction: every primitive of every concern, then commit.
#[async_trait]
pub trait WriteTx: SnapshotTx + JobTx + QueueTx + ChargeTx {
    /// Makes everything done in the transaction durable and visible at once.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// A change-event query decoded for a backend: [`crate::ChangeQuery`] with its cursor parsed
/// and its minimum level turned into the set of levels it admits.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeFilter {
    pub domain: Option<String>,
    pub module: Option<String>,
    /// Only events with one of these levels; `None` admits every level.
    pub levels: Option<Vec<Level>>,
    /// `detected_at >= since`.
    pub since: Option<DateTime<Utc>>,
    /// `detected_at < until`.
    pub until: Option<DateTime<Utc>>,
    /// Only events strictly older than this position: `(detected_at, id) < before`.
    pub before: Option<(DateTime<Utc>, Uuid)>,
    /// Most rows to return.
    pub limit: u32,
}
