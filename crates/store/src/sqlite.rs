//! SQLite implementation of [`crate::Store`], the embedded default.
//!
//! Layout: one file in WAL mode. Writes go through a pool of exactly one connection and every
//! write transaction starts with `BEGIN IMMEDIATE`, so writers inside this process queue on the
//! pool instead of racing for SQLite's single write lock (no `SQLITE_BUSY` upgrade deadlocks),
//! and writers in other processes wait on `busy_timeout`. Reads use a separate small pool whose
//! connections are `query_only`, so they run in parallel with the writer (WAL readers never block
//! it). An in-memory database (`sqlite::memory:`) uses one connection for both, because every
//! connection would otherwise see its own empty database.
//!
//! Storage conventions (see `migrations/sqlite/`): uuids are hyphenated text, timestamps are UTC
//! RFC 3339 text with exactly microsecond precision (so text order is time order), JSON values are
//! text. Timestamps therefore round-trip at microsecond precision; the store truncates the
//! timestamps it generates itself to microseconds so that what it returns equals what it reads.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use serde_json::Value;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
use uuid::Uuid;

use crate::{
    Alert, ChangeEvent, DeriveChanges, ItemStatus, Job, JobStatus, NewSnapshot, SaveOutcome,
    Snapshot, Store, StoreError, WorkItem,
};

/// Schema migrations, embedded in the binary so that `pforge` needs no files beside itself.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Parallel readers for a file database. Small because the machine running the embedded store is
/// usually a laptop and reads are short.
const READ_CONNECTIONS: u32 = 4;

/// How long a connection waits for another process's write lock before failing with
/// `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const JOB_COLS: &str = "id, label, status, created_at, finished_at";
const ITEM_COLS: &str =
    "job_id, domain, module, status, attempts, error, started_at, finished_at, version";
const SNAP_COLS: &str = "domain, module, version, data, citations, content_hash, fetched_at, \
                         checked_at, created_at, job_id, patch";
const EVENT_COLS: &str = "id, domain, module, version, path, kind, old_value, new_value, \
                          significance, level, rule, detected_at";
const ALERT_COLS: &str = "id, rule, recipient, channel, delivery, domain, payload, status, \
                          attempts, last_error, created_at, next_attempt_at, delivered_at";

/// The embedded default store: one SQLite file (or memory), migrations applied on open.
/// Cheap to clone; clones share the same pools.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    /// Exactly one connection: the only way this process writes.
    writer: SqlitePool,
    /// `query_only` connections for reads (the writer pool itself for in-memory databases).
    reader: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing, parent directories included) the database at `url_or_path`
    /// and applies pending migrations. Accepts `sqlite://PATH`, `sqlite:PATH`, a plain path, or
    /// `sqlite::memory:` (also `:memory:`) for a private in-memory database.
    pub async fn open(url_or_path: &str) -> Result<Self, StoreError> {
        let (options, in_memory) = parse_location(url_or_path)?;
        let open_err = |source: sqlx::Error| StoreError::Open {
            url: url_or_path.to_string(),
            source,
        };
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);

        if in_memory {
            // One connection that never closes: the database lives exactly as long as the pool.
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await
                .map_err(open_err)?;
            MIGRATOR.run(&pool).await?;
            return Ok(Self {
                writer: pool.clone(),
                reader: pool,
            });
        }

        if let Some(parent) = options.get_filename().parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| open_err(sqlx::Error::Io(e)))?;
            }
        }
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(open_err)?;
        MIGRATOR.run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .connect_with(options.pragma("query_only", "ON"))
            .await
            .map_err(open_err)?;
        Ok(Self { writer, reader })
    }

    /// The write pool (one connection), for extensions that need SQL this type does not offer
    /// yet. Anything run on it queues behind the store's own writes, which keeps it safe.
    pub fn pool(&self) -> &SqlitePool {
        &self.writer
    }

    /// The read-only pool, for extensions that only query.
    pub fn read_pool(&self) -> &SqlitePool {
        &self.reader
    }

    /// Closes both pools, waiting for in-flight work; lets the last connection checkpoint the WAL.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    /// Change events, oldest first (`detected_at`, then version and path), optionally for one
    /// domain and only those detected at or after `since`. A non-positive `limit` returns nothing.
    pub async fn list_change_events(
        &self,
        domain: Option<&str>,
        since: Option<DateTime<Utc>>,
        limit: i64,
    ) -> Result<Vec<ChangeEvent>, StoreError> {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "SELECT {EVENT_COLS} FROM change_events WHERE 1 = 1"
        ));
        if let Some(domain) = domain {
            qb.push(" AND domain = ").push_bind(domain.to_string());
        }
        if let Some(since) = since {
            qb.push(" AND detected_at >= ").push_bind(ts(since));
        }
        qb.push(" ORDER BY detected_at, domain, module, version, path, id LIMIT ")
            .push_bind(limit.max(0));
        let rows = qb.build().fetch_all(&self.reader).await?;
        rows.iter().map(event_from_row).collect()
    }

    /// Alerts due for a delivery attempt: `pending` with `next_attempt_at <= now`, the most
    /// overdue first. A non-positive `limit` returns nothing.
    pub async fn pending_alerts(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Alert>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ALERT_COLS} FROM alerts WHERE status = 'pending' AND next_attempt_at <= ? \
             ORDER BY next_attempt_at, created_at, id LIMIT ?"
        ))
        .bind(ts(now))
        .bind(limit.max(0))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(alert_from_row).collect()
    }

    /// Records the outcome of a delivery attempt: writes the alert's status, attempts,
    /// last_error, next_attempt_at, delivered_at and payload, matched by id. An id that is not in
    /// the outbox is `StoreError::Database(sqlx::Error::RowNotFound)`.
    pub async fn update_alert(&self, alert: &Alert) -> Result<(), StoreError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query(
            "UPDATE alerts SET status = ?, attempts = ?, last_error = ?, next_attempt_at = ?, \
             delivered_at = ?, payload = ? WHERE id = ?",
        )
        .bind(&alert.status)
        .bind(alert.attempts)
        .bind(&alert.last_error)
        .bind(ts(alert.next_attempt_at))
        .bind(alert.delivered_at.map(ts))
        .bind(json_text(&alert.payload))
        .bind(alert.id.to_string())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Database(sqlx::Error::RowNotFound));
        }
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_job(&self, id: Uuid, label: &str) -> Result<Job, StoreError> {
        let job = Job {
            id,
            label: label.to_string(),
            status: JobStatus::Running,
            created_at: now(),
            finished_at: None,
        };
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("INSERT INTO jobs (id, label, status, created_at) VALUES (?, ?, ?, ?)")
            .bind(job.id.to_string())
            .bind(&job.label)
            .bind(job.status.as_str())
            .bind(ts(job.created_at))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(job)
    }

    /// An unknown id is `StoreError::Database(sqlx::Error::RowNotFound)`.
    async fn finish_job(&self, id: Uuid, status: JobStatus) -> Result<(), StoreError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query("UPDATE jobs SET status = ?, finished_at = ? WHERE id = ?")
            .bind(status.as_str())
            .bind(ts(now()))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Database(sqlx::Error::RowNotFound));
        }
        tx.commit().await?;
        Ok(())
    }

    async fn get_job(&self, id: Uuid) -> Result<Option<Job>, StoreError> {
        let row = sqlx::query(&format!("SELECT {JOB_COLS} FROM jobs WHERE id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    async fn list_jobs(&self, limit: i64) -> Result<Vec<Job>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLS} FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT ?"
        ))
        .bind(limit.max(0))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// The job must exist (foreign key), otherwise this is a database error.
    async fn upsert_item(&self, item: &WorkItem) -> Result<(), StoreError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "INSERT INTO work_items \
             (job_id, domain, module, status, attempts, error, started_at, finished_at, version) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (job_id, domain, module) DO UPDATE SET \
             status = excluded.status, attempts = excluded.attempts, error = excluded.error, \
             started_at = excluded.started_at, finished_at = excluded.finished_at, \
             version = excluded.version",
        )
        .bind(item.job_id.to_string())
        .bind(&item.domain)
        .bind(&item.module)
        .bind(item.status.as_str())
        .bind(item.attempts)
        .bind(&item.error)
        .bind(item.started_at.map(ts))
        .bind(item.finished_at.map(ts))
        .bind(item.version)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn items_for_job(&self, job: Uuid) -> Result<Vec<WorkItem>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ITEM_COLS} FROM work_items WHERE job_id = ? ORDER BY domain, module"
        ))
        .bind(job.to_string())
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(item_from_row).collect()
    }

    async fn save_snapshot(
        &self,
        new: &NewSnapshot,
        derive: &dyn DeriveChanges,
    ) -> Result<SaveOutcome, StoreError> {
        // IMMEDIATE takes the write lock before the read, so no other writer (in this process:
        // the one-connection pool; in others: the file lock) can slip a version in between.
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let previous = latest_in(&mut tx, &new.domain, &new.module).await?;
        let stamp = now();

        if let Some(prev) = &previous {
            if prev.content_hash == new.content_hash {
                sqlx::query(
                    "UPDATE snapshots SET checked_at = ? \
                     WHERE domain = ? AND module = ? AND version = ?",
                )
                .bind(ts(stamp))
                .bind(&new.domain)
                .bind(&new.module)
                .bind(prev.version)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                return Ok(SaveOutcome::Unchanged {
                    version: prev.version,
                });
            }
        }

        let version = previous.as_ref().map_or(1, |p| p.version + 1);
        let derived = derive.derive(previous.as_ref(), new, version);

        sqlx::query(&format!(
            "INSERT INTO snapshots ({SNAP_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&new.domain)
        .bind(&new.module)
        .bind(version)
        .bind(json_text(&new.data))
        .bind(json_text(&new.citations))
        .bind(&new.content_hash)
        .bind(ts(new.fetched_at))
        .bind(ts(stamp))
        .bind(ts(stamp))
        .bind(new.job_id.map(|u| u.to_string()))
        .bind(derived.patch.as_ref().map(json_text))
        .execute(&mut *tx)
        .await?;
        for event in &derived.events {
            insert_event(&mut tx, event).await?;
        }
        for alert in &derived.alerts {
            insert_alert(&mut tx, alert).await?;
        }
        tx.commit().await?;
        Ok(SaveOutcome::Created {
            version,
            events: derived.events,
            alerts: derived.alerts,
        })
    }

    async fn latest_snapshot(
        &self,
        domain: &str,
        module: &str,
    ) -> Result<Option<Snapshot>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        latest_in(&mut conn, domain, module).await
    }

    async fn latest_snapshots(&self, domain: &str) -> Result<Vec<Snapshot>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SNAP_COLS} FROM snapshots AS s WHERE s.domain = ?1 AND s.version = \
             (SELECT MAX(version) FROM snapshots WHERE domain = ?1 AND module = s.module) \
             ORDER BY s.module"
        ))
        .bind(domain)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(snapshot_from_row).collect()
    }

    /// Oldest first means insertion order, which for one module is version order.
    async fn snapshot_history(
        &self,
        domain: &str,
        module: Option<&str>,
    ) -> Result<Vec<Snapshot>, StoreError> {
        let mut qb: QueryBuilder<Sqlite> =
            QueryBuilder::new(format!("SELECT {SNAP_COLS} FROM snapshots WHERE domain = "));
        qb.push_bind(domain.to_string());
        if let Some(module) = module {
            qb.push(" AND module = ").push_bind(module.to_string());
        }
        qb.push(" ORDER BY id");
        let rows = qb.build().fetch_all(&self.reader).await?;
        rows.iter().map(snapshot_from_row).collect()
    }

    async fn get_snapshot(
        &self,
        domain: &str,
        module: &str,
        version: i64,
    ) -> Result<Option<Snapshot>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {SNAP_COLS} FROM snapshots WHERE domain = ? AND module = ? AND version = ?"
        ))
        .bind(domain)
        .bind(module)
        .bind(version)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(snapshot_from_row).transpose()
    }
}

/// Splits what the user typed into connect options and whether it is an in-memory database.
fn parse_location(url_or_path: &str) -> Result<(SqliteConnectOptions, bool), StoreError> {
    let trimmed = url_or_path.trim();
    let open_err = |source: sqlx::Error| StoreError::Open {
        url: url_or_path.to_string(),
        source,
    };
    if trimmed.is_empty() {
        return Err(StoreError::UnsupportedUrl(url_or_path.to_string()));
    }
    if trimmed == ":memory:" || trimmed == "sqlite::memory:" || trimmed == "sqlite://:memory:" {
        let options = SqliteConnectOptions::from_str("sqlite::memory:").map_err(open_err)?;
        return Ok((options, true));
    }
    if let Some(rest) = trimmed.strip_prefix("sqlite:") {
        let path_part = rest.trim_start_matches("//");
        if path_part.is_empty() || path_part.starts_with('?') {
            return Err(StoreError::UnsupportedUrl(url_or_path.to_string()));
        }
        let options = SqliteConnectOptions::from_str(trimmed).map_err(open_err)?;
        let in_memory = options
            .get_filename()
            .to_string_lossy()
            .starts_with("file:sqlx-in-memory");
        return Ok((options, in_memory));
    }
    if trimmed.contains("://") {
        return Err(StoreError::UnsupportedUrl(url_or_path.to_string()));
    }
    Ok((
        SqliteConnectOptions::new().filename(Path::new(trimmed)),
        false,
    ))
}

/// Now, truncated to the precision the database keeps.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// The one timestamp format the schema uses: fixed width, so text order is time order.
fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn json_text(v: &Value) -> String {
    v.to_string()
}

fn corrupt(table: &'static str, detail: String) -> StoreError {
    StoreError::Corrupt { table, detail }
}

/// Reads one column; a type mismatch (e.g. a blob where text belongs) is a corrupt row.
fn col<'r, T>(row: &'r SqliteRow, table: &'static str, name: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
{
    row.try_get(name)
        .map_err(|e| corrupt(table, format!("column {name}: {e}")))
}

fn col_ts(row: &SqliteRow, table: &'static str, name: &str) -> Result<DateTime<Utc>, StoreError> {
    let text: String = col(row, table, name)?;
    parse_ts(table, name, &text)
}

fn col_opt_ts(
    row: &SqliteRow,
    table: &'static str,
    name: &str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let text: Option<String> = col(row, table, name)?;
    text.map(|t| parse_ts(table, name, &t)).transpose()
}

fn parse_ts(table: &'static str, name: &str, text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| corrupt(table, format!("column {name}: timestamp {text:?}: {e}")))
}

fn col_uuid(row: &SqliteRow, table: &'static str, name: &str) -> Result<Uuid, StoreError> {
    let text: String = col(row, table, name)?;
    parse_uuid(table, name, &text)
}

fn col_opt_uuid(
    row: &SqliteRow,
    table: &'static str,
    name: &str,
) -> Result<Option<Uuid>, StoreError> {
    let text: Option<String> = col(row, table, name)?;
    text.map(|t| parse_uuid(table, name, &t)).transpose()
}

fn parse_uuid(table: &'static str, name: &str, text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|e| corrupt(table, format!("column {name}: uuid {text:?}: {e}")))
}

fn col_json(row: &SqliteRow, table: &'static str, name: &str) -> Result<Value, StoreError> {
    let text: String = col(row, table, name)?;
    parse_json(table, name, &text)
}

fn col_opt_json(
    row: &SqliteRow,
    table: &'static str,
    name: &str,
) -> Result<Option<Value>, StoreError> {
    let text: Option<String> = col(row, table, name)?;
    text.map(|t| parse_json(table, name, &t)).transpose()
}

fn parse_json(table: &'static str, name: &str, text: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(table, format!("column {name}: JSON: {e}")))
}

fn job_from_row(row: &SqliteRow) -> Result<Job, StoreError> {
    const T: &str = "jobs";
    let status: String = col(row, T, "status")?;
    Ok(Job {
        id: col_uuid(row, T, "id")?,
        label: col(row, T, "label")?,
        status: JobStatus::parse(&status)
            .ok_or_else(|| corrupt(T, format!("unknown job status {status:?}")))?,
        created_at: col_ts(row, T, "created_at")?,
        finished_at: col_opt_ts(row, T, "finished_at")?,
    })
}

fn item_from_row(row: &SqliteRow) -> Result<WorkItem, StoreError> {
    const T: &str = "work_items";
    let status: String = col(row, T, "status")?;
    Ok(WorkItem {
        job_id: col_uuid(row, T, "job_id")?,
        domain: col(row, T, "domain")?,
        module: col(row, T, "module")?,
        status: ItemStatus::parse(&status)
            .ok_or_else(|| corrupt(T, format!("unknown item status {status:?}")))?,
        attempts: col(row, T, "attempts")?,
        error: col(row, T, "error")?,
        started_at: col_opt_ts(row, T, "started_at")?,
        finished_at: col_opt_ts(row, T, "finished_at")?,
        version: col(row, T, "version")?,
    })
}

fn snapshot_from_row(row: &SqliteRow) -> Result<Snapshot, StoreError> {
    const T: &str = "snapshots";
    Ok(Snapshot {
        domain: col(row, T, "domain")?,
        module: col(row, T, "module")?,
        version: col(row, T, "version")?,
        data: col_json(row, T, "data")?,
        citations: col_json(row, T, "citations")?,
        content_hash: col(row, T, "content_hash")?,
        fetched_at: col_ts(row, T, "fetched_at")?,
        checked_at: col_ts(row, T, "checked_at")?,
        created_at: col_ts(row, T, "created_at")?,
        job_id: col_opt_uuid(row, T, "job_id")?,
        patch: col_opt_json(row, T, "patch")?,
    })
}

fn event_from_row(row: &SqliteRow) -> Result<ChangeEvent, StoreError> {
    const T: &str = "change_events";
    Ok(ChangeEvent {
        id: col_uuid(row, T, "id")?,
        domain: col(row, T, "domain")?,
        module: col(row, T, "module")?,
        version: col(row, T, "version")?,
        path: col(row, T, "path")?,
        kind: col(row, T, "kind")?,
        old_value: col_opt_json(row, T, "old_value")?,
        new_value: col_opt_json(row, T, "new_value")?,
        significance: col(row, T, "significance")?,
        level: col(row, T, "level")?,
        rule: col(row, T, "rule")?,
        detected_at: col_ts(row, T, "detected_at")?,
    })
}

fn alert_from_row(row: &SqliteRow) -> Result<Alert, StoreError> {
    const T: &str = "alerts";
    Ok(Alert {
        id: col_uuid(row, T, "id")?,
        rule: col(row, T, "rule")?,
        recipient: col(row, T, "recipient")?,
        channel: col(row, T, "channel")?,
        delivery: col(row, T, "delivery")?,
        domain: col(row, T, "domain")?,
        payload: col_json(row, T, "payload")?,
        status: col(row, T, "status")?,
        attempts: col(row, T, "attempts")?,
        last_error: col(row, T, "last_error")?,
        created_at: col_ts(row, T, "created_at")?,
        next_attempt_at: col_ts(row, T, "next_attempt_at")?,
        delivered_at: col_opt_ts(row, T, "delivered_at")?,
    })
}

async fn latest_in(
    conn: &mut SqliteConnection,
    domain: &str,
    module: &str,
) -> Result<Option<Snapshot>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {SNAP_COLS} FROM snapshots WHERE domain = ? AND module = ? \
         ORDER BY version DESC LIMIT 1"
    ))
    .bind(domain)
    .bind(module)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(snapshot_from_row).transpose()
}

async fn insert_event(conn: &mut SqliteConnection, e: &ChangeEvent) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO change_events ({EVENT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(e.id.to_string())
    .bind(&e.domain)
    .bind(&e.module)
    .bind(e.version)
    .bind(&e.path)
    .bind(&e.kind)
    .bind(e.old_value.as_ref().map(json_text))
    .bind(e.new_value.as_ref().map(json_text))
    .bind(e.significance)
    .bind(&e.level)
    .bind(&e.rule)
    .bind(ts(e.detected_at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn insert_alert(conn: &mut SqliteConnection, a: &Alert) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO alerts ({ALERT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(a.id.to_string())
    .bind(&a.rule)
    .bind(&a.recipient)
    .bind(&a.channel)
    .bind(&a.delivery)
    .bind(&a.domain)
    .bind(json_text(&a.payload))
    .bind(&a.status)
    .bind(a.attempts)
    .bind(&a.last_error)
    .bind(ts(a.created_at))
    .bind(ts(a.next_attempt_at))
    .bind(a.delivered_at.map(ts))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoDerivation;
    use serde_json::json;
    use std::sync::{Arc, Mutex};

    /// Records every (previous version, new version) it is asked about and derives a patch, one
    /// event and one alert per new version, so tests can see what the store persisted.
    #[derive(Default)]
    struct Recording {
        calls: Mutex<Vec<(Option<i64>, i64)>>,
    }

    impl DeriveChanges for Recording {
        fn derive(
            &self,
            previous: Option<&Snapshot>,
            next: &NewSnapshot,
            version: i64,
        ) -> crate::Derived {
            self.calls
                .lock()
                .unwrap()
                .push((previous.map(|p| p.version), version));
            let Some(prev) = previous else {
                return crate::Derived::default();
            };
            let at = now();
            crate::Derived {
                patch: Some(json!([{"op": "replace", "path": "/n", "value": next.data["n"]}])),
                events: vec![ChangeEvent {
                    id: Uuid::new_v4(),
                    domain: next.domain.clone(),
                    module: next.module.clone(),
                    version,
                    path: "/n".into(),
                    kind: "changed".into(),
                    old_value: Some(prev.data["n"].clone()),
                    new_value: Some(next.data["n"].clone()),
                    significance: 70,
                    level: "high".into(),
                    rule: "n_changed".into(),
                    detected_at: at,
                }],
                alerts: vec![Alert {
                    id: Uuid::new_v4(),
                    rule: "n_changed".into(),
                    recipient: "ae@example.com".into(),
                    channel: "stdout".into(),
                    delivery: "immediate".into(),
                    domain: next.domain.clone(),
                    payload: json!({"version": version}),
                    status: "pending".into(),
                    attempts: 0,
                    last_error: None,
                    created_at: at,
                    next_attempt_at: at,
                    delivered_at: None,
                }],
            }
        }
    }

    fn snap(domain: &str, module: &str, n: i64) -> NewSnapshot {
        NewSnapshot {
            domain: domain.into(),
            module: module.into(),
            data: json!({"n": n}),
            citations: json!([{"source": "https://example.com", "n": n}]),
            content_hash: format!("hash-{n}"),
            fetched_at: now(),
            job_id: None,
        }
    }

    async fn temp_store() -> (tempfile::TempDir, String, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/pforge.db");
        let url = format!("sqlite://{}", path.display());
        let store = SqliteStore::open(&url).await.unwrap();
        (dir, url, store)
    }

    #[tokio::test]
    async fn open_accepts_every_location_form_and_sets_pragmas() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain.db");
        let forms = [
            plain.display().to_string(),
            format!("sqlite:{}", dir.path().join("short.db").display()),
            format!("sqlite://{}", dir.path().join("long.db").display()),
        ];
        for form in &forms {
            let store = SqliteStore::open(form).await.unwrap();
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(store.pool())
                .await
                .unwrap();
            assert_eq!(mode, "wal", "{form}");
            let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
                .fetch_one(store.read_pool())
                .await
                .unwrap();
            assert_eq!(fk, 1);
            let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(store.pool())
                .await
                .unwrap();
            assert_eq!(sync, 1, "NORMAL");
            let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
                .fetch_one(store.pool())
                .await
                .unwrap();
            assert_eq!(busy, 5000);
            store.close().await;
        }
        assert!(plain.exists());

        let mem = SqliteStore::open("sqlite::memory:").await.unwrap();
        mem.create_job(Uuid::new_v4(), "mem").await.unwrap();
        assert_eq!(mem.list_jobs(10).await.unwrap().len(), 1);

        for bad in ["postgres://localhost/db", "", "sqlite://"] {
            assert!(
                matches!(
                    SqliteStore::open(bad).await,
                    Err(StoreError::UnsupportedUrl(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[tokio::test]
    async fn reader_pool_refuses_writes() {
        let (_dir, _url, store) = temp_store().await;
        let err = sqlx::query("DELETE FROM jobs")
            .execute(store.read_pool())
            .await;
        assert!(err.is_err());
    }

    #[tokio::test]
    async fn job_lifecycle() {
        let (_dir, _url, store) = temp_store().await;
        let a = Uuid::new_v4();
        let b = Uuid::new_v4();
        let job_a = store.create_job(a, "cli").await.unwrap();
        assert_eq!(job_a.status, JobStatus::Running);
        assert_eq!(store.get_job(a).await.unwrap(), Some(job_a.clone()));
        store.create_job(b, "daemon:nightly").await.unwrap();

        store.finish_job(a, JobStatus::Completed).await.unwrap();
        let done = store.get_job(a).await.unwrap().unwrap();
        assert_eq!(done.status, JobStatus::Completed);
        assert!(done.finished_at.unwrap() >= done.created_at);

        let listed = store.list_jobs(10).await.unwrap();
        assert_eq!(
            listed.iter().map(|j| j.id).collect::<Vec<_>>(),
            vec![b, a],
            "most recent first"
        );
        assert_eq!(store.list_jobs(1).await.unwrap().len(), 1);
        assert!(store.list_jobs(-1).await.unwrap().is_empty());
        assert_eq!(store.get_job(Uuid::new_v4()).await.unwrap(), None);
        assert!(matches!(
            store.finish_job(Uuid::new_v4(), JobStatus::Failed).await,
            Err(StoreError::Database(sqlx::Error::RowNotFound))
        ));
        // Same id twice is a constraint error, not a silent overwrite.
        assert!(store.create_job(a, "again").await.is_err());
    }

    #[tokio::test]
    async fn items_upsert_and_overwrite() {
        let (_dir, _url, store) = temp_store().await;
        let job = Uuid::new_v4();
        store.create_job(job, "cli").await.unwrap();
        let mut item = WorkItem {
            job_id: job,
            domain: "stripe.com".into(),
            module: "m02_tech_stack".into(),
            status: ItemStatus::Running,
            attempts: 1,
            error: None,
            started_at: Some(now()),
            finished_at: None,
            version: None,
        };
        store.upsert_item(&item).await.unwrap();
        let other = WorkItem {
            module: "m01_company_context".into(),
            status: ItemStatus::Pending,
            attempts: 0,
            started_at: None,
            ..item.clone()
        };
        store.upsert_item(&other).await.unwrap();

        item.status = ItemStatus::Failed;
        item.attempts = 2;
        item.error = Some("timeout".into());
        item.finished_at = Some(now());
        item.version = Some(3);
        store.upsert_item(&item).await.unwrap();

        let items = store.items_for_job(job).await.unwrap();
        assert_eq!(
            items,
            vec![other, item],
            "overwritten in place, ordered by module"
        );
        assert!(store
            .items_for_job(Uuid::new_v4())
            .await
            .unwrap()
            .is_empty());

        // Items must belong to a job: foreign keys are on.
        let orphan = WorkItem {
            job_id: Uuid::new_v4(),
            ..items[0].clone()
        };
        assert!(store.upsert_item(&orphan).await.is_err());
    }

    #[tokio::test]
    async fn snapshot_versions_unchanged_and_derived_rows() {
        let (_dir, _url, store) = temp_store().await;
        let derive = Recording::default();
        let job = Uuid::new_v4();
        let mut first = snap("stripe.com", "m02", 1);
        first.job_id = Some(job);

        let out = store.save_snapshot(&first, &derive).await.unwrap();
        assert_eq!(
            out,
            SaveOutcome::Created {
                version: 1,
                events: vec![],
                alerts: vec![]
            }
        );
        let v1 = store
            .latest_snapshot("stripe.com", "m02")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(v1.version, 1);
        assert_eq!(v1.data, first.data);
        assert_eq!(v1.citations, first.citations);
        assert_eq!(v1.job_id, Some(job));
        assert_eq!(v1.patch, None);
        assert_eq!(v1.fetched_at, first.fetched_at);

        tokio::time::sleep(Duration::from_millis(5)).await;
        let out = store.save_snapshot(&first, &derive).await.unwrap();
        assert_eq!(out, SaveOutcome::Unchanged { version: 1 });
        let touched = store
            .latest_snapshot("stripe.com", "m02")
            .await
            .unwrap()
            .unwrap();
        assert!(touched.checked_at > v1.checked_at, "checked_at moved");
        assert_eq!(touched.created_at, v1.created_at);
        assert_eq!(touched.version, 1);

        let second = snap("stripe.com", "m02", 2);
        let SaveOutcome::Created {
            version,
            events,
            alerts,
        } = store.save_snapshot(&second, &derive).await.unwrap()
        else {
            panic!("expected a new version");
        };
        assert_eq!(version, 2);
        assert_eq!(events.len(), 1);
        assert_eq!(alerts.len(), 1);
        assert_eq!(
            *derive.calls.lock().unwrap(),
            vec![(None, 1), (Some(1), 2)],
            "derive not called for an unchanged result"
        );
        let v2 = store
            .get_snapshot("stripe.com", "m02", 2)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            v2.patch,
            Some(json!([{"op": "replace", "path": "/n", "value": 2}]))
        );

        let stored_events = store
            .list_change_events(Some("stripe.com"), None, 100)
            .await
            .unwrap();
        assert_eq!(stored_events, events);
        assert_eq!(stored_events[0].old_value, Some(json!(1)));
        assert!(store
            .list_change_events(Some("other.com"), None, 100)
            .await
            .unwrap()
            .is_empty());
        let later = events[0].detected_at + chrono::Duration::seconds(1);
        assert!(store
            .list_change_events(None, Some(later), 100)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            store
                .list_change_events(None, Some(events[0].detected_at), 100)
                .await
                .unwrap()
                .len(),
            1,
            "since is inclusive"
        );

        let due = store.pending_alerts(now(), 10).await.unwrap();
        assert_eq!(due, alerts);
        let past = alerts[0].next_attempt_at - chrono::Duration::seconds(1);
        assert!(store.pending_alerts(past, 10).await.unwrap().is_empty());

        let mut delivered = alerts[0].clone();
        delivered.status = "delivered".into();
        delivered.attempts = 1;
        delivered.delivered_at = Some(now());
        store.update_alert(&delivered).await.unwrap();
        assert!(store.pending_alerts(now(), 10).await.unwrap().is_empty());
        let row = sqlx::query(&format!("SELECT {ALERT_COLS} FROM alerts"))
            .fetch_one(store.read_pool())
            .await
            .unwrap();
        assert_eq!(alert_from_row(&row).unwrap(), delivered);

        let mut unknown = delivered.clone();
        unknown.id = Uuid::new_v4();
        assert!(matches!(
            store.update_alert(&unknown).await,
            Err(StoreError::Database(sqlx::Error::RowNotFound))
        ));

        assert_eq!(
            store.get_snapshot("stripe.com", "m02", 3).await.unwrap(),
            None
        );
        assert_eq!(
            store.latest_snapshot("stripe.com", "nope").await.unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn history_latest_and_get() {
        let (_dir, _url, store) = temp_store().await;
        for (module, n) in [("m02", 1), ("m01", 10), ("m02", 2), ("m01", 11), ("m02", 3)] {
            store
                .save_snapshot(&snap("acme.io", module, n), &NoDerivation)
                .await
                .unwrap();
        }
        store
            .save_snapshot(&snap("other.io", "m01", 99), &NoDerivation)
            .await
            .unwrap();

        let all = store.snapshot_history("acme.io", None).await.unwrap();
        let seen: Vec<_> = all.iter().map(|s| (s.module.as_str(), s.version)).collect();
        assert_eq!(
            seen,
            vec![("m02", 1), ("m01", 1), ("m02", 2), ("m01", 2), ("m02", 3)],
            "oldest first"
        );
        let m02 = store
            .snapshot_history("acme.io", Some("m02"))
            .await
            .unwrap();
        assert_eq!(
            m02.iter().map(|s| s.data["n"].clone()).collect::<Vec<_>>(),
            vec![json!(1), json!(2), json!(3)]
        );

        let latest = store.latest_snapshots("acme.io").await.unwrap();
        let seen: Vec<_> = latest
            .iter()
            .map(|s| (s.module.as_str(), s.version))
            .collect();
        assert_eq!(seen, vec![("m01", 2), ("m02", 3)], "ordered by module");
        assert!(store.latest_snapshots("none.io").await.unwrap().is_empty());

        let v2 = store
            .get_snapshot("acme.io", "m01", 2)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(v2.data, json!({"n": 11}));
    }

    #[tokio::test]
    async fn data_persists_across_reopen() {
        let (_dir, url, store) = temp_store().await;
        let job = Uuid::new_v4();
        store.create_job(job, "cli").await.unwrap();
        store
            .save_snapshot(&snap("acme.io", "m01", 1), &NoDerivation)
            .await
            .unwrap();
        store
            .save_snapshot(&snap("acme.io", "m01", 2), &Recording::default())
            .await
            .unwrap();
        store.close().await;
        drop(store);

        let again = SqliteStore::open(&url).await.unwrap();
        assert_eq!(again.get_job(job).await.unwrap().unwrap().label, "cli");
        let latest = again
            .latest_snapshot("acme.io", "m01")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(latest.version, 2);
        assert_eq!(
            again
                .list_change_events(None, None, 10)
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(again.pending_alerts(now(), 10).await.unwrap().len(), 1);
        // Migrations are idempotent on reopen and the next version continues the sequence.
        let out = again
            .save_snapshot(&snap("acme.io", "m01", 3), &NoDerivation)
            .await
            .unwrap();
        assert!(matches!(out, SaveOutcome::Created { version: 3, .. }));
    }

    async fn assert_concurrent_saves_are_sequential(stores: Vec<SqliteStore>) {
        let derive = Arc::new(Recording::default());
        let mut tasks = Vec::new();
        for n in 0..20 {
            let store = stores[n % stores.len()].clone();
            let derive = derive.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .save_snapshot(&snap("race.io", "m01", n as i64), derive.as_ref())
                    .await
            }));
        }
        let mut versions = Vec::new();
        for task in tasks {
            match task.await.unwrap().unwrap() {
                SaveOutcome::Created { version, .. } => versions.push(version),
                other => panic!("distinct hashes must all be new versions, got {other:?}"),
            }
        }
        versions.sort_unstable();
        assert_eq!(versions, (1..=20).collect::<Vec<_>>());

        let history = stores[0]
            .snapshot_history("race.io", Some("m01"))
            .await
            .unwrap();
        assert_eq!(
            history.iter().map(|s| s.version).collect::<Vec<_>>(),
            (1..=20).collect::<Vec<_>>()
        );
        let mut hashes: Vec<_> = history.iter().map(|s| s.content_hash.clone()).collect();
        hashes.sort();
        hashes.dedup();
        assert_eq!(hashes.len(), 20, "no result lost");
        // Every derive saw exactly the version before its own: no stale "previous".
        let mut calls = derive.calls.lock().unwrap().clone();
        calls.sort_by_key(|c| c.1);
        for (prev, version) in calls {
            assert_eq!(prev, (version > 1).then_some(version - 1));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_saves_one_store() {
        let (_dir, _url, store) = temp_store().await;
        assert_concurrent_saves_are_sequential(vec![store]).await;
    }

    /// Two independent stores on one file behave like two processes: only SQLite's file lock
    /// (BEGIN IMMEDIATE + busy_timeout) keeps them apart.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_saves_two_stores_same_file() {
        let (_dir, url, store) = temp_store().await;
        let second = SqliteStore::open(&url).await.unwrap();
        assert_concurrent_saves_are_sequential(vec![store, second]).await;
    }

    #[tokio::test]
    async fn corrupt_rows_are_errors_not_panics() {
        let (_dir, _url, store) = temp_store().await;
        let job = Uuid::new_v4();
        store.create_job(job, "cli").await.unwrap();
        sqlx::query("UPDATE jobs SET status = 'exploded'")
            .execute(store.pool())
            .await
            .unwrap();
        assert!(matches!(
            store.get_job(job).await,
            Err(StoreError::Corrupt { table: "jobs", .. })
        ));
        sqlx::query("INSERT INTO jobs (id, label, status, created_at) VALUES ('not-a-uuid', 'x', 'running', '2024-01-01T00:00:00.000000Z')")
            .execute(store.pool())
            .await
            .unwrap();
        assert!(matches!(
            store.list_jobs(10).await,
            Err(StoreError::Corrupt { table: "jobs", .. })
        ));

        store
            .save_snapshot(&snap("bad.io", "m01", 1), &NoDerivation)
            .await
            .unwrap();
        sqlx::query("UPDATE snapshots SET data = '{not json'")
            .execute(store.pool())
            .await
            .unwrap();
        let err = store.latest_snapshot("bad.io", "m01").await.unwrap_err();
        assert!(
            matches!(err, StoreError::Corrupt { table: "snapshots", ref detail } if detail.contains("data")),
            "{err}"
        );
        // Saving on top of a corrupt previous version fails cleanly and writes nothing.
        assert!(matches!(
            store
                .save_snapshot(&snap("bad.io", "m01", 2), &NoDerivation)
                .await,
            Err(StoreError::Corrupt { .. })
        ));
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM snapshots")
            .fetch_one(store.read_pool())
            .await
            .unwrap();
        assert_eq!(count, 1);

        sqlx::query("UPDATE snapshots SET data = '{}', fetched_at = 'yesterday'")
            .execute(store.pool())
            .await
            .unwrap();
        assert!(matches!(
            store.get_snapshot("bad.io", "m01", 1).await,
            Err(StoreError::Corrupt {
                table: "snapshots",
                ..
            })
        ));
        // A value of the wrong SQLite type is corrupt too.
        sqlx::query("UPDATE snapshots SET fetched_at = X'00ff'")
            .execute(store.pool())
            .await
            .unwrap();
        assert!(matches!(
            store.latest_snapshots("bad.io").await,
            Err(StoreError::Corrupt {
                table: "snapshots",
                ..
            })
        ));

        let item = WorkItem {
            job_id: job,
            domain: "bad.io".into(),
            module: "m01".into(),
            status: ItemStatus::Pending,
            attempts: 0,
            error: None,
            started_at: None,
            finished_at: None,
            version: None,
        };
        store.upsert_item(&item).await.unwrap();
        sqlx::query("UPDATE work_items SET status = 'weird'")
            .execute(store.pool())
            .await
            .unwrap();
        assert!(matches!(
            store.items_for_job(job).await,
            Err(StoreError::Corrupt {
                table: "work_items",
                ..
            })
        ));
    }
}
