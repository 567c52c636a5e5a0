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

use std::collections::BTreeMap;
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
    Alert, ChangeEvent, ChargeRecord, DeriveChanges, ItemStatus, Job, JobStatus, NewSnapshot,
    SaveOutcome, Snapshot, Store, StoreError, WorkItem,
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
}

#[async_trait]
impl Store for SqliteStore {
    async fn enqueue_job(
        &self,
        id: Uuid,
        label: &str,
        domains: &[String],
    ) -> Result<Job, StoreError> {
        crate::queue::sqlite::enqueue_job(&self.writer, id, label, domains).await
    }

    async fn claim_queue_items(
        &self,
        owner: &str,
        job: Option<Uuid>,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<crate::QueueItem>, StoreError> {
        crate::queue::sqlite::claim(&self.writer, owner, job, limit, lease).await
    }

    async fn heartbeat_queue_items(
        &self,
        owner: &str,
        ids: &[i64],
        lease: Duration,
    ) -> Result<Vec<i64>, StoreError> {
        crate::queue::sqlite::heartbeat(&self.writer, owner, ids, lease).await
    }

    async fn complete_queue_item(
        &self,
        owner: &str,
        id: i64,
        status: crate::QueueStatus,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        crate::queue::sqlite::complete(&self.writer, owner, id, status, error).await
    }

    async fn release_queue_items(&self, owner: &str, ids: &[i64]) -> Result<u64, StoreError> {
        crate::queue::sqlite::release(&self.writer, owner, ids).await
    }

    async fn queue_counts(
        &self,
        job: Uuid,
    ) -> Result<BTreeMap<crate::QueueStatus, i64>, StoreError> {
        crate::queue::sqlite::counts(&self.reader, job).await
    }

    async fn prune_queue(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        crate::queue::sqlite::prune(&self.writer, before).await
    }

    /// SQLite has no notifications: waiting is polling.
    async fn wait_for_queue(&self, timeout: Duration) -> Result<(), StoreError> {
        tokio::time::sleep(timeout).await;
        Ok(())
    }

    async fn reserve_rate_slots(
        &self,
        bucket: &str,
        interval: Duration,
        count: u32,
    ) -> Result<Duration, StoreError> {
        crate::queue::sqlite::reserve_rate_slots(&self.writer, bucket, interval, count).await
    }

    /// Change events, oldest first (`detected_at`, then version and path), optionally for one
    /// domain and only those detected at or after `since`. A non-positive `limit` returns nothing.
    async fn list_change_events(
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
    async fn pending_alerts(
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

    async fn list_alerts(
        &self,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Alert>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ALERT_COLS} FROM alerts WHERE (? IS NULL OR status = ?) \
             ORDER BY created_at DESC, id LIMIT ?"
        ))
        .bind(status)
        .bind(status)
        .bind(limit.max(0))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(alert_from_row).collect()
    }

    /// Records the outcome of a delivery attempt: writes the alert's status, attempts,
    /// last_error, next_attempt_at, delivered_at and payload, matched by id. An id that is not in
    /// the outbox is `StoreError::Database(sqlx::Error::RowNotFound)`.
    async fn update_alert(&self, alert: &Alert) -> Result<(), StoreError> {
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

    async fn list_targets(&self) -> Result<Vec<crate::Target>, StoreError> {
        let rows = sqlx::query("SELECT domain, added_at FROM targets ORDER BY domain")
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(crate::Target {
                    domain: col(row, "targets", "domain")?,
                    added_at: col_ts(row, "targets", "added_at")?,
                })
            })
            .collect()
    }

    async fn add_targets(&self, domains: &[String]) -> Result<u64, StoreError> {
        let at = ts(now());
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let mut added = 0;
        for domain in domains {
            added += sqlx::query(
                "INSERT INTO targets (domain, added_at) VALUES (?, ?) ON CONFLICT (domain) DO NOTHING",
            )
            .bind(domain)
            .bind(&at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(added)
    }

    async fn remove_target(&self, domain: &str) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query("DELETE FROM targets WHERE domain = ?")
            .bind(domain)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

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
        let outcome = save_in(&mut tx, new, derive).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// One `BEGIN IMMEDIATE` transaction for the whole batch (group commit); each snapshot sees
    /// the ones before it, so the outcomes equal those of saving them one by one.
    async fn save_snapshots(
        &self,
        news: &[NewSnapshot],
        derive: &dyn DeriveChanges,
    ) -> Result<Vec<SaveOutcome>, StoreError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let mut out = Vec::with_capacity(news.len());
        for new in news {
            out.push(save_in(&mut tx, new, derive).await?);
        }
        tx.commit().await?;
        Ok(out)
    }

    /// One transaction and multi-row statements for the whole batch.
    async fn upsert_items(&self, items: &[WorkItem]) -> Result<(), StoreError> {
        if items.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        // 9 parameters a row; SQLite allows 32766 per statement.
        for chunk in items.chunks(1000) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO work_items \
                 (job_id, domain, module, status, attempts, error, started_at, finished_at, version) ",
            );
            qb.push_values(chunk, |mut b, item| {
                b.push_bind(item.job_id.to_string())
                    .push_bind(item.domain.clone())
                    .push_bind(item.module.clone())
                    .push_bind(item.status.as_str())
                    .push_bind(item.attempts)
                    .push_bind(item.error.clone())
                    .push_bind(item.started_at.map(ts))
                    .push_bind(item.finished_at.map(ts))
                    .push_bind(item.version);
            });
            qb.push(
                " ON CONFLICT (job_id, domain, module) DO UPDATE SET \
                 status = excluded.status, attempts = excluded.attempts, error = excluded.error, \
                 started_at = excluded.started_at, finished_at = excluded.finished_at, \
                 version = excluded.version",
            );
            qb.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
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

    async fn cancel_job(&self, id: Uuid) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let status: Option<String> = sqlx::query_scalar("SELECT status FROM jobs WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(status) = status else {
            return Err(StoreError::Database(sqlx::Error::RowNotFound));
        };
        if status != JobStatus::Running.as_str() {
            return Ok(false);
        }
        let at = now();
        sqlx::query("UPDATE jobs SET status = ?, finished_at = ? WHERE id = ?")
            .bind(JobStatus::Cancelled.as_str())
            .bind(ts(at))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        // Queued domains not yet claimed are never claimed now; claimed ones finish.
        crate::queue::sqlite::cancel_pending(&mut tx, id, at).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn job_counts(&self, job: Uuid) -> Result<BTreeMap<ItemStatus, i64>, StoreError> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM work_items WHERE job_id = ? GROUP BY status",
        )
        .bind(job.to_string())
        .fetch_all(&self.reader)
        .await?;
        let mut counts = BTreeMap::new();
        for row in &rows {
            let status: String = col(row, "work_items", "status")?;
            let status = ItemStatus::parse(&status)
                .ok_or_else(|| corrupt("work_items", format!("unknown item status {status:?}")))?;
            counts.insert(status, col::<i64>(row, "work_items", "n")?);
        }
        Ok(counts)
    }

    async fn snapshot_keys(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT domain, module, COUNT(*) AS versions FROM snapshots \
             GROUP BY domain, module ORDER BY domain, module",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<String, _>("domain")?,
                    r.try_get::<String, _>("module")?,
                    r.try_get::<i64, _>("versions")?,
                ))
            })
            .collect()
    }

    async fn prune_versions(
        &self,
        domain: &str,
        module: &str,
        delete_versions: &[i64],
        new_base: Option<i64>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let latest: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(version) FROM snapshots WHERE domain = ? AND module = ?",
        )
        .bind(domain)
        .bind(module)
        .fetch_one(&mut *tx)
        .await?;
        if let Some(latest) = latest {
            if delete_versions.contains(&latest) {
                return Err(StoreError::Invalid(format!(
                    "refusing to delete the latest version {latest} of {domain}/{module}"
                )));
            }
        }
        let mut deleted = 0;
        for version in delete_versions {
            deleted += sqlx::query(
                "DELETE FROM snapshots WHERE domain = ? AND module = ? AND version = ?",
            )
            .bind(domain)
            .bind(module)
            .bind(version)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        if let Some(base) = new_base {
            let done = sqlx::query(
                "UPDATE snapshots SET patch = NULL WHERE domain = ? AND module = ? AND version = ?",
            )
            .bind(domain)
            .bind(module)
            .bind(base)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::Database(sqlx::Error::RowNotFound));
            }
        }
        tx.commit().await?;
        Ok(deleted)
    }

    async fn record_charge(&self, entry: &ChargeRecord) -> Result<(), StoreError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "INSERT INTO charges (provider, module, domain, job_id, cost, status, at, call_key) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(&entry.provider)
        .bind(&entry.module)
        .bind(&entry.domain)
        .bind(entry.job_id.map(|u| u.to_string()))
        .bind(entry.cost)
        .bind(&entry.status)
        .bind(ts(entry.at))
        .bind(&entry.call_key)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn spent_since(
        &self,
        provider: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<f64, StoreError> {
        let mut qb: QueryBuilder<Sqlite> =
            QueryBuilder::new("SELECT TOTAL(cost) FROM charges WHERE at >= ");
        qb.push_bind(ts(since));
        if let Some(provider) = provider {
            qb.push(" AND provider = ").push_bind(provider.to_string());
        }
        let total: f64 = qb.build_query_scalar().fetch_one(&self.reader).await?;
        Ok(total)
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
        kind: {
            let text: String = col(row, T, "kind")?;
            pforge_core::ChangeKind::parse(&text)
                .ok_or_else(|| corrupt(T, format!("unknown change kind {text:?}")))?
        },
        old_value: col_opt_json(row, T, "old_value")?,
        new_value: col_opt_json(row, T, "new_value")?,
        significance: col(row, T, "significance")?,
        level: {
            let text: String = col(row, T, "level")?;
            pforge_core::Level::parse(&text)
                .ok_or_else(|| corrupt(T, format!("unknown level {text:?}")))?
        },
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

/// The body of `save_snapshot`, inside a write transaction the caller opened and commits.
async fn save_in(
    conn: &mut SqliteConnection,
    new: &NewSnapshot,
    derive: &dyn DeriveChanges,
) -> Result<SaveOutcome, StoreError> {
    let previous = latest_in(&mut *conn, &new.domain, &new.module).await?;
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
            .execute(&mut *conn)
            .await?;
            return Ok(SaveOutcome::Unchanged {
                version: prev.version,
            });
        }
    }

    // No previous version means no version at all, so none from this job either.
    if let (Some(job), Some(_)) = (new.job_id, &previous) {
        // Keyed by job: a retried item never stores a second version for the same job.
        let stored: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(version) FROM snapshots WHERE domain = ? AND module = ? AND job_id = ?",
        )
        .bind(&new.domain)
        .bind(&new.module)
        .bind(job.to_string())
        .fetch_one(&mut *conn)
        .await?;
        if let Some(version) = stored {
            return Ok(SaveOutcome::Unchanged { version });
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
    .execute(&mut *conn)
    .await?;
    for event in &derived.events {
        insert_event(&mut *conn, event).await?;
    }
    for alert in &derived.alerts {
        insert_alert(&mut *conn, alert).await?;
    }
    Ok(SaveOutcome::Created {
        version,
        events: derived.events,
        alerts: derived.alerts,
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
    .bind(e.kind.as_str())
    .bind(e.old_value.as_ref().map(json_text))
    .bind(e.new_value.as_ref().map(json_text))
    .bind(e.significance)
    .bind(e.level.as_str())
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
    use std::sync::Mutex;

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
                    kind: pforge_core::ChangeKind::Changed,
                    old_value: Some(prev.data["n"].clone()),
                    new_value: Some(next.data["n"].clone()),
                    significance: 70,
                    level: pforge_core::Level::High,
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

    /// A database created before the ledger existed (only 0001 applied) is upgraded on open and
    /// keeps its data.
    #[tokio::test]
    async fn ledger_migration_upgrades_an_existing_database() {
        let (_dir, url, store) = temp_store().await;
        let job = Uuid::new_v4();
        store.create_job(job, "old").await.unwrap();
        // Roll back to "only 0001 applied": drop what 0002 and later migrations created.
        for table in ["charges", "targets", "queue", "rate_buckets"] {
            sqlx::query(&format!("DROP TABLE IF EXISTS {table}"))
                .execute(store.pool())
                .await
                .unwrap();
        }
        sqlx::query("DELETE FROM _sqlx_migrations WHERE version >= 2")
            .execute(store.pool())
            .await
            .unwrap();
        store.close().await;

        let again = SqliteStore::open(&url).await.unwrap();
        assert_eq!(again.get_job(job).await.unwrap().unwrap().label, "old");
        let at = now();
        again
            .record_charge(&crate::ChargeRecord {
                provider: "builtwith".into(),
                module: None,
                domain: None,
                job_id: Some(job),
                cost: 2.5,
                status: "200".into(),
                at,
                call_key: None,
            })
            .await
            .unwrap();
        assert_eq!(again.spent_since(None, at).await.unwrap(), 2.5);
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
        assert!(matches!(
            store.job_counts(job).await,
            Err(StoreError::Corrupt {
                table: "work_items",
                ..
            })
        ));
    }
}
