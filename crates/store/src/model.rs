//! Plain records that cross the persistence boundary. They carry no behaviour so that every
//! backend (SQLite, PostgreSQL) can fill them the same way.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// One `pforge enrich` invocation (or one API/daemon submission). Work items hang off it so a
/// crashed run can be resumed by id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Job {
    pub id: Uuid,
    /// Free text describing where the job came from (`cli`, `demo`, `daemon:nightly`, ...).
    pub label: String,
    /// What the job is to do (modules, refresh, spend cap, ...), as JSON. The application layer
    /// defines and serializes the typed specification; the store only keeps it (`{}` for jobs
    /// created before specifications existed).
    pub spec: Value,
    pub status: JobStatus,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Lifecycle of a job; `Running` jobs found at start-up are resumable.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl JobStatus {
    /// Stable text used in the database and in `--json` output.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// Inverse of [`JobStatus::as_str`]; unknown text is a corrupt row, not a panic.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "running" => JobStatus::Running,
            "completed" => JobStatus::Completed,
            "failed" => JobStatus::Failed,
            "cancelled" => JobStatus::Cancelled,
            _ => return None,
        })
    }
}

/// State of one (job, domain, module) unit of work. Kept per item so that a resumed job only
/// redoes what did not finish.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Pending,
    Running,
    /// Produced a result that became a new snapshot version.
    NewVersion,
    /// Produced a result equal to the latest snapshot (only `checked_at` moved).
    Unchanged,
    /// Not run because the latest snapshot is still within the module's freshness TTL.
    Fresh,
    Failed,
    /// Not run because a dependency failed and the module cannot run degraded.
    Skipped,
}

impl ItemStatus {
    /// Stable text used in the database and in `--json` output.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Pending => "pending",
            ItemStatus::Running => "running",
            ItemStatus::NewVersion => "new_version",
            ItemStatus::Unchanged => "unchanged",
            ItemStatus::Fresh => "fresh",
            ItemStatus::Failed => "failed",
            ItemStatus::Skipped => "skipped",
        }
    }

    /// Inverse of [`ItemStatus::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => ItemStatus::Pending,
            "running" => ItemStatus::Running,
            "new_version" => ItemStatus::NewVersion,
            "unchanged" => ItemStatus::Unchanged,
            "fresh" => ItemStatus::Fresh,
            "failed" => ItemStatus::Failed,
            "skipped" => ItemStatus::Skipped,
            _ => return None,
        })
    }

    /// Whether the item needs no more work when its job is resumed.
    pub fn is_terminal(self) -> bool {
        !matches!(self, ItemStatus::Pending | ItemStatus::Running)
    }
}

/// Bookkeeping for one (job, domain, module).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WorkItem {
    pub job_id: Uuid,
    pub domain: String,
    pub module: String,
    pub status: ItemStatus,
    pub attempts: i64,
    pub error: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Snapshot version the item produced or confirmed, when it got that far.
    pub version: Option<i64>,
}

/// A stored, versioned module result for a domain.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    pub domain: String,
    pub module: String,
    /// 1 for the first result, +1 for every result that differs from the previous one.
    pub version: i64,
    pub data: Value,
    pub citations: Value,
    /// SHA-256 (hex) of the canonical data; equality of hashes means "unchanged".
    pub content_hash: String,
    pub fetched_at: DateTime<Utc>,
    /// Last time a run confirmed this version was still current.
    pub checked_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub job_id: Option<Uuid>,
    /// RFC 6902 patch from the previous version to this one (`None` for version 1).
    pub patch: Option<Value>,
}

/// What a run hands the store; the store decides whether it is a new version.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NewSnapshot {
    pub domain: String,
    pub module: String,
    pub data: Value,
    pub citations: Value,
    pub content_hash: String,
    pub fetched_at: DateTime<Utc>,
    pub job_id: Option<Uuid>,
    /// `data` and `citations` already written as JSON text (see [`NewSnapshot::encoded`]);
    /// `None` means the store writes them itself.
    #[serde(skip)]
    pub text: Option<std::sync::Arc<SnapshotText>>,
}

/// A result's data and citations as the JSON text the store writes. The executor makes it in
/// the domain's task, where it runs in parallel with other domains, rather than leaving it to
/// the store's single writer, whose time bounds a busy run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotText {
    pub data: String,
    pub citations: String,
}

impl NewSnapshot {
    /// This result with its JSON text written now (see [`SnapshotText`]).
    pub fn encoded(mut self) -> Self {
        self.text = Some(std::sync::Arc::new(SnapshotText {
            data: self.data.to_string(),
            citations: self.citations.to_string(),
        }));
        self
    }

    /// `data` as JSON text: the text written beforehand, or written now.
    pub fn data_text(&self) -> std::borrow::Cow<'_, str> {
        match &self.text {
            Some(t) => std::borrow::Cow::Borrowed(t.data.as_str()),
            None => std::borrow::Cow::Owned(self.data.to_string()),
        }
    }

    /// `citations` as JSON text: the text written beforehand, or written now.
    pub fn citations_text(&self) -> std::borrow::Cow<'_, str> {
        match &self.text {
            Some(t) => std::borrow::Cow::Borrowed(t.citations.as_str()),
            None => std::borrow::Cow::Owned(self.citations.to_string()),
        }
    }
}

pub use pforge_core::ChangeEvent;

/// An alert waiting in (or delivered from) the outbox. `id` is stable across retries so that
/// receivers can de-duplicate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Alert {
    pub id: Uuid,
    pub rule: String,
    pub recipient: String,
    pub channel: String,
    /// When the recipient wants it: at once or rolled into an hourly/daily digest.
    pub delivery: Delivery,
    pub domain: String,
    pub payload: Value,
    /// Where it is in the outbox's lifecycle.
    pub status: AlertStatus,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// Where an alert is in the outbox. Only `Pending` alerts are ever picked up for delivery; the
/// other three are final until someone requeues a dead one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// Waiting for its next delivery attempt (`next_attempt_at`).
    Pending,
    /// Accepted by its channel.
    Delivered,
    /// Every attempt failed (dead letter); `pforge alerts retry` requeues it.
    Dead,
    /// Its endpoint said it is gone (HTTP 410); never sent again.
    Disabled,
}

impl AlertStatus {
    /// Every status, in lifecycle order (for validating user input and listing choices).
    pub const ALL: [AlertStatus; 4] = [
        AlertStatus::Pending,
        AlertStatus::Delivered,
        AlertStatus::Dead,
        AlertStatus::Disabled,
    ];

    /// Stable text stored in the database and shown in `--json` output.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Pending => "pending",
            AlertStatus::Delivered => "delivered",
            AlertStatus::Dead => "dead",
            AlertStatus::Disabled => "disabled",
        }
    }

    /// Inverse of [`AlertStatus::as_str`]; unknown text is `None` (a corrupt row when read).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl std::str::FromStr for AlertStatus {
    type Err = String;

    /// Parses a status as users type it (`--status dead`, `?status=dead`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(&s.trim().to_ascii_lowercase()).ok_or_else(|| {
            format!("unknown alert status {s:?}: use pending, delivered, dead or disabled")
        })
    }
}

impl std::fmt::Display for AlertStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When a recipient's alerts go out: one message each, or one digest per hour or day. The
/// alert rules (versioning) choose it per recipient; the outbox stores it with each alert.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    #[default]
    Immediate,
    /// One message per recipient per clock hour.
    Hourly,
    /// One message per recipient per day, at the recipient's digest hour.
    Daily,
}

impl Delivery {
    /// Every delivery mode.
    pub const ALL: [Delivery; 3] = [Delivery::Immediate, Delivery::Hourly, Delivery::Daily];

    /// Stable text stored in the database (and in config files).
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Immediate => "immediate",
            Delivery::Hourly => "hourly",
            Delivery::Daily => "daily",
        }
    }

    /// Inverse of [`Delivery::as_str`]; unknown text is `None` (a corrupt row when read).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl std::fmt::Display for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Statuses and delivery modes compare equal to their stored names, so a test or a filter can
/// say `alert.status == "dead"` without spelling the enum (as levels and kinds do in core).
macro_rules! eq_name {
    ($t:ty) => {
        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }
        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}
eq_name!(AlertStatus);
eq_name!(Delivery);

/// What the caller derives from the previous version inside the store's transaction: the patch,
/// the change events and the alerts they raise. Computed under the same lock as the insert so
/// that concurrent writers can never diff against a stale "previous".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Derived {
    pub patch: Option<Value>,
    pub events: Vec<ChangeEvent>,
    pub alerts: Vec<Alert>,
}

/// Computes [`Derived`] from the previous snapshot (if any) and the new one.
pub trait DeriveChanges: Send + Sync {
    /// `version` is the version number the new snapshot will get.
    fn derive(&self, previous: Option<&Snapshot>, next: &NewSnapshot, version: i64) -> Derived;
}

/// A [`DeriveChanges`] that records no patch, events or alerts (used where versioning rules are
/// not wired, e.g. store tests).
pub struct NoDerivation;

impl DeriveChanges for NoDerivation {
    fn derive(&self, _: Option<&Snapshot>, _: &NewSnapshot, _: i64) -> Derived {
        Derived::default()
    }
}

/// Result of [`crate::SnapshotStore::save_snapshot`].
#[derive(Debug, Clone, PartialEq)]
pub enum SaveOutcome {
    /// Content hash equals the latest version's: only `checked_at` moved.
    Unchanged { version: i64 },
    /// Stored as a new version.
    Created {
        version: i64,
        events: Vec<ChangeEvent>,
        alerts: Vec<Alert>,
    },
}

/// Spend of one (job, module, provider) since some time: what the budget page breaks spend down
/// by, so a user can see what a run and each module cost, not only the totals behind the caps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpendGroup {
    /// The job that spent (`None`: calls made outside any job).
    pub job_id: Option<Uuid>,
    /// The module that made the calls (`None`: calls no module is named for).
    pub module: Option<String>,
    pub provider: String,
    /// Charged calls (held and unknown ones included: they may have been billed).
    pub calls: i64,
    pub credits: f64,
}

/// One charged provider call, persisted so that budget caps hold across runs and processes. The
/// store only records and sums these; what a charge means is the budget crate's business (its
/// `Ledger` adapter maps onto [`crate::ChargeStore`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChargeRecord {
    /// Provider id that billed the call.
    pub provider: String,
    /// Module that made the call, for "who spent it" reports.
    pub module: Option<String>,
    /// Domain being enriched.
    pub domain: Option<String>,
    /// Job the call belongs to (no foreign key: spend outlives job bookkeeping).
    pub job_id: Option<Uuid>,
    /// Credits charged.
    pub cost: f64,
    /// Outcome of the charged attempt as text (e.g. an HTTP status `200`), for reports.
    pub status: String,
    /// When the charge was committed (UTC); decides which day/month it counts against.
    pub at: DateTime<Utc>,
    /// Idempotency key of the charged call (job, module, domain, request, attempt). A second
    /// charge with the same key is ignored, so a retried work item repeating a call that was
    /// already charged does not pay twice. `None` charges are never de-duplicated.
    #[serde(default)]
    pub call_key: Option<String>,
}

/// One domain on the daemon's target list (`targets = "table"` schedules and freshness
/// refresh). Kept in the database so the API can edit the list while the daemon runs and every
/// process sharing the database sees the same list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Target {
    /// Normalized domain (the caller parses it before adding).
    pub domain: String,
    /// When it was first added; adding it again keeps this.
    pub added_at: DateTime<Utc>,
}

/// A filter over change events, answered newest first (`detected_at`, then id, both
/// descending) one page at a time. Every field narrows the result; `Default` is "everything,
/// first page, nothing" (set `limit`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChangeQuery {
    /// Only this domain's events.
    pub domain: Option<String>,
    /// Only this module's events.
    pub module: Option<String>,
    /// Only events at this level or above (by [`pforge_core::Level`]'s order).
    pub min_level: Option<pforge_core::Level>,
    /// Only events detected at or after this time (inclusive).
    pub since: Option<DateTime<Utc>>,
    /// Only events detected before this time (exclusive).
    pub until: Option<DateTime<Utc>>,
    /// Where the previous page ended: its [`ChangePage::next_cursor`], passed back unchanged.
    pub cursor: Option<String>,
    /// Most events on this page; 0 returns an empty page.
    pub limit: u32,
}

/// One page of change events, newest first. `next_cursor` is `Some` exactly when more events
/// match; passing it back as [`ChangeQuery::cursor`] (with the same filters) continues after the
/// last event of this page, so paging never repeats or skips an event, even while new events
/// arrive (they are newer than the cursor, so they land before the first page, not inside one).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChangePage {
    pub events: Vec<ChangeEvent>,
    pub next_cursor: Option<String>,
}
