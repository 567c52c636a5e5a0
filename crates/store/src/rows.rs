//! Reading records out of result rows, written once for both backends. A backend only says how
//! one column of its row type decodes into a Rust value ([`Cols`]: SQLite parses its text
//! conventions, PostgreSQL reads native types); which columns make a [`Job`], a [`Snapshot`] or
//! an [`Alert`], and what counts as corrupt, is decided here.

use chrono::{DateTime, Utc};
use pforge_core::{ChangeKind, Level};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    Alert, AlertStatus, ChangeEvent, Delivery, ItemStatus, Job, JobStatus, QueueItem, Snapshot,
    StoreError, Target, WorkItem,
};

/// Columns of `jobs`, in the order the schema and [`job`] use.
pub(crate) const JOB_COLS: &str = "id, label, spec, status, created_at, finished_at";
/// Columns of `work_items`.
pub(crate) const ITEM_COLS: &str =
    "job_id, domain, module, status, attempts, error, started_at, finished_at, version";
/// Columns of `snapshots` (without the surrogate `id`).
pub(crate) const SNAP_COLS: &str = "domain, module, version, data, citations, content_hash, \
                                    fetched_at, checked_at, created_at, job_id, patch";
/// Columns of `change_events`.
pub(crate) const EVENT_COLS: &str = "id, domain, module, version, path, kind, old_value, \
                                     new_value, significance, level, rule, detected_at";
/// Columns of `alerts`.
pub(crate) const ALERT_COLS: &str = "id, rule, recipient, channel, delivery, domain, payload, \
                                     status, attempts, last_error, created_at, next_attempt_at, \
                                     delivered_at";

/// A corrupt-row error for `table`.
pub(crate) fn corrupt(table: &'static str, detail: String) -> StoreError {
    StoreError::Corrupt { table, detail }
}

/// One result row of one table, as the backend decodes it. Backends implement the `opt_*`
/// readers (a type mismatch or unparsable text is [`StoreError::Corrupt`]); the rest follows.
pub(crate) trait Cols {
    /// The table the row came from, for error messages.
    fn table(&self) -> &'static str;
    fn opt_text(&self, name: &str) -> Result<Option<String>, StoreError>;
    fn opt_int(&self, name: &str) -> Result<Option<i64>, StoreError>;
    fn opt_ts(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
    fn opt_uuid(&self, name: &str) -> Result<Option<Uuid>, StoreError>;
    fn opt_json(&self, name: &str) -> Result<Option<Value>, StoreError>;

    fn required<T>(&self, name: &str, v: Option<T>) -> Result<T, StoreError> {
        v.ok_or_else(|| corrupt(self.table(), format!("column {name} is NULL")))
    }
    fn text(&self, name: &str) -> Result<String, StoreError> {
        self.required(name, self.opt_text(name)?)
    }
    fn int(&self, name: &str) -> Result<i64, StoreError> {
        self.required(name, self.opt_int(name)?)
    }
    fn ts(&self, name: &str) -> Result<DateTime<Utc>, StoreError> {
        self.required(name, self.opt_ts(name)?)
    }
    fn uuid(&self, name: &str) -> Result<Uuid, StoreError> {
        self.required(name, self.opt_uuid(name)?)
    }
    fn json(&self, name: &str) -> Result<Value, StoreError> {
        self.required(name, self.opt_json(name)?)
    }
    /// A text column holding one of an enum's stored names.
    fn named<T>(&self, name: &str, parse: fn(&str) -> Option<T>) -> Result<T, StoreError> {
        let text = self.text(name)?;
        parse(&text).ok_or_else(|| corrupt(self.table(), format!("unknown {name} {text:?}")))
    }
}

pub(crate) fn job(c: &impl Cols) -> Result<Job, StoreError> {
    Ok(Job {
        id: c.uuid("id")?,
        label: c.text("label")?,
        spec: c.json("spec")?,
        status: c.named("status", JobStatus::parse)?,
        created_at: c.ts("created_at")?,
        finished_at: c.opt_ts("finished_at")?,
    })
}

pub(crate) fn item(c: &impl Cols) -> Result<WorkItem, StoreError> {
    Ok(WorkItem {
        job_id: c.uuid("job_id")?,
        domain: c.text("domain")?,
        module: c.text("module")?,
        status: c.named("status", ItemStatus::parse)?,
        attempts: c.int("attempts")?,
        error: c.opt_text("error")?,
        started_at: c.opt_ts("started_at")?,
        finished_at: c.opt_ts("finished_at")?,
        version: c.opt_int("version")?,
    })
}

pub(crate) fn snapshot(c: &impl Cols) -> Result<Snapshot, StoreError> {
    Ok(Snapshot {
        domain: c.text("domain")?,
        module: c.text("module")?,
        version: c.int("version")?,
        data: c.json("data")?,
        citations: c.json("citations")?,
        content_hash: c.text("content_hash")?,
        fetched_at: c.ts("fetched_at")?,
        checked_at: c.ts("checked_at")?,
        created_at: c.ts("created_at")?,
        job_id: c.opt_uuid("job_id")?,
        patch: c.opt_json("patch")?,
    })
}

pub(crate) fn event(c: &impl Cols) -> Result<ChangeEvent, StoreError> {
    Ok(ChangeEvent {
        id: c.uuid("id")?,
        domain: c.text("domain")?,
        module: c.text("module")?,
        version: c.int("version")?,
        path: c.text("path")?,
        kind: c.named("kind", ChangeKind::parse)?,
        old_value: c.opt_json("old_value")?,
        new_value: c.opt_json("new_value")?,
        significance: c.int("significance")?,
        level: c.named("level", Level::parse)?,
        rule: c.text("rule")?,
        detected_at: c.ts("detected_at")?,
    })
}

pub(crate) fn alert(c: &impl Cols) -> Result<Alert, StoreError> {
    Ok(Alert {
        id: c.uuid("id")?,
        rule: c.text("rule")?,
        recipient: c.text("recipient")?,
        channel: c.text("channel")?,
        delivery: c.named("delivery", Delivery::parse)?,
        domain: c.text("domain")?,
        payload: c.json("payload")?,
        status: c.named("status", AlertStatus::parse)?,
        attempts: c.int("attempts")?,
        last_error: c.opt_text("last_error")?,
        created_at: c.ts("created_at")?,
        next_attempt_at: c.ts("next_attempt_at")?,
        delivered_at: c.opt_ts("delivered_at")?,
    })
}

pub(crate) fn target(c: &impl Cols) -> Result<Target, StoreError> {
    Ok(Target {
        domain: c.text("domain")?,
        added_at: c.ts("added_at")?,
    })
}

pub(crate) fn queue_item(c: &impl Cols) -> Result<QueueItem, StoreError> {
    Ok(QueueItem {
        id: c.int("id")?,
        job_id: c.uuid("job_id")?,
        domain: c.text("domain")?,
        attempts: c.int("attempts")?,
    })
}

/// One `(status, n)` row of a `GROUP BY status` count.
pub(crate) fn status_count<T>(
    c: &impl Cols,
    parse: fn(&str) -> Option<T>,
) -> Result<(T, i64), StoreError> {
    Ok((c.named("status", parse)?, c.int("n")?))
}
