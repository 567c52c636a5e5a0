//! SQLite implementation of the capability traits, the embedded default.
//!
//! Layout: one file in WAL mode. Writes go through a pool of exactly one connection and every
//! write transaction starts with `BEGIN IMMEDIATE` (see [`tx`]), so writers inside this process
//! queue on the pool instead of racing for SQLite's single write lock (no `SQLITE_BUSY` upgrade
//! deadlocks), and writers in other processes wait on `busy_timeout`. Reads use a separate small
//! pool whose connections are `query_only`, so they run in parallel with the writer (WAL readers
//! never block it). An in-memory database (`sqlite::memory:`) uses one connection for both,
//! because every connection would otherwise see its own empty database.
//!
//! Storage conventions (see `migrations/sqlite/`): uuids are hyphenated text, timestamps are UTC
//! RFC 3339 text with exactly microsecond precision (so text order is time order), JSON values are
//! text. Timestamps therefore round-trip at microsecond precision; the store truncates the
//! timestamps it generates itself to microseconds so that what it returns equals what it reads.

mod accounts;
mod summary;
mod tx;

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite};
use uuid::Uuid;

use crate::backend::{AccountTx, Backend, ChangeFilter, WriteTx};
use crate::rows::{self, corrupt, Cols, ALERT_COLS, EVENT_COLS, ITEM_COLS, JOB_COLS, SNAP_COLS};
use crate::{
    Alert, AlertStatus, ChangeEvent, ChargeRecord, ChargeStore, ItemStatus, Job, JobStore,
    OutboxStore, PacingStore, QueueStatus, QueueStore, Snapshot, SnapshotStore, SpendGroup,
    StoreError, Target, TargetStore, WorkItem,
};

/// Schema migrations, embedded in the binary so that `pforge` needs no files beside itself.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Parallel readers for a file database. Small because the machine running the embedded store is
/// usually a laptop and reads are short.
const READ_CONNECTIONS: u32 = 4;

/// Domains per statement in set-based reads (well under SQLite's 32,766 bound parameters).
const LATEST_CHECKED_CHUNK: usize = 2_000;

/// Prepared statements the writer connection keeps (sqlx's default is 100). The multi-row
/// statements of a save come in up to ten row counts each (see [`sized_chunks`]), a dozen kinds
/// of them, so a batch of any size finds every statement it needs already prepared.
const WRITER_STATEMENT_CACHE: usize = 400;

/// Splits rows for a multi-row statement into chunks whose sizes are powers of two, largest
/// first, none above `max`. A statement's text depends on its row count, so with batches of
/// every size from 1 to 512 nearly every batch would otherwise prepare new texts (a fifth of a
/// millisecond each at 500 rows) and push older ones out of the statement cache; this way a
/// batch of any size uses at most ten texts per statement, each prepared once.
pub(super) fn sized_chunks<T>(rows: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    let max = max.max(1);
    let mut rest = rows;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = 1usize << rest.len().min(max).ilog2();
        let (head, tail) = rest.split_at(size);
        rest = tail;
        Some(head)
    })
}

/// How long a connection waits for another process's write lock before failing with
/// `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The embedded default store: one SQLite file (or memory), migrations applied on open.
/// Cheap to clone; clones share the same pools.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    /// Exactly one connection: the only way this process writes.
    writer: SqlitePool,
    /// `query_only` connections for reads (the writer pool itself for in-memory databases).
    reader: SqlitePool,
    /// The fields the accounts summary follows (shared by clones and their transactions).
    fields: crate::backend::FieldsCache,
}

impl SqliteStore {
    /// Opens (creating if missing, parent directories included) the database at `url_or_path`
    /// and applies pending migrations. Accepts `sqlite://PATH`, `sqlite:PATH`, a plain path, or
    /// `sqlite::memory:` (also `:memory:`) for a private in-memory database.
    pub async fn open(url_or_path: &str) -> Result<Self, StoreError> {
        Self::open_with(url_or_path, &crate::StoreOptions::default()).await
    }

    /// [`SqliteStore::open`] with [`crate::StoreOptions`]; the accounts summary is rebuilt
    /// here when it does not follow the given fields.
    pub async fn open_with(
        url_or_path: &str,
        opts: &crate::StoreOptions,
    ) -> Result<Self, StoreError> {
        let store = Self::connect(url_or_path).await?;
        crate::summary::on_open(&store, &store.fields, opts.account_fields.as_ref()).await?;
        Ok(store)
    }

    async fn connect(url_or_path: &str) -> Result<Self, StoreError> {
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
            .busy_timeout(BUSY_TIMEOUT)
            // Statement journals (a multi-row upsert keeps one) in memory, not in temp files.
            .pragma("temp_store", "MEMORY");

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
                fields: Default::default(),
            });
        }

        if let Some(parent) = options.get_filename().parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| open_err(sqlx::Error::Io(e)))?;
            }
        }
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                options
                    .clone()
                    .statement_cache_capacity(WRITER_STATEMENT_CACHE),
            )
            .await
            .map_err(open_err)?;
        MIGRATOR.run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .connect_with(options.pragma("query_only", "ON"))
            .await
            .map_err(open_err)?;
        Ok(Self {
            writer,
            reader,
            fields: Default::default(),
        })
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

    /// Closes both pools, waiting for in-flight work. The WAL is checkpointed into the database
    /// file first, explicitly: the last connection's own checkpoint-on-close is skipped when it
    /// cannot take its lock, and a process can exit before it finishes, and then the file alone
    /// (a copy, a backup) is not the whole database. (In CI a command's WAL was once left at
    /// 494 KB after its pools were closed.)
    pub async fn close(&self) {
        self.reader.close().await;
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&self.writer)
            .await
        {
            // In memory the pools are one, already closed: nothing to checkpoint.
            tracing::debug!(error = %e, "no WAL checkpoint at close");
        }
        self.writer.close().await;
    }

    /// Runs a read and decodes every row with `decode`.
    async fn fetch<'q, T>(
        &self,
        query: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
        table: &'static str,
        decode: fn(&Cells) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = query.fetch_all(&self.reader).await?;
        rows.into_iter()
            .map(|r| decode(&Cells::new(r, table)))
            .collect()
    }

    /// A read of `(status, n)` counts.
    async fn counts<T: Ord>(
        &self,
        sql: &str,
        job: Uuid,
        table: &'static str,
        parse: fn(&str) -> Option<T>,
    ) -> Result<BTreeMap<T, i64>, StoreError> {
        let rows = sqlx::query(sql)
            .bind(job.to_string())
            .fetch_all(&self.reader)
            .await?;
        rows.into_iter()
            .map(|r| rows::status_count(&Cells::new(r, table), parse))
            .collect()
    }
}

#[async_trait]
impl Backend for SqliteStore {
    async fn begin(&self) -> Result<Box<dyn WriteTx>, StoreError> {
        Ok(Box::new(
            tx::SqliteTx::begin(&self.writer, self.fields.get()).await?,
        ))
    }

    async fn close(&self) {
        SqliteStore::close(self).await;
    }

    async fn summary_rebuilt(&self) -> Result<(), StoreError> {
        sqlx::raw_sql("ANALYZE account_summary; ANALYZE account_technologies")
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn query_change_events(&self, f: &ChangeFilter) -> Result<Vec<ChangeEvent>, StoreError> {
        let mut qb = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {EVENT_COLS} FROM change_events WHERE 1 = 1"
        ));
        if let Some(domain) = &f.domain {
            qb.push(" AND domain = ").push_bind(domain.as_str());
        }
        if let Some(module) = &f.module {
            qb.push(" AND module = ").push_bind(module.as_str());
        }
        if let Some(levels) = &f.levels {
            qb.push(" AND level IN (");
            let mut list = qb.separated(", ");
            for l in levels {
                list.push_bind(l.as_str());
            }
            list.push_unseparated(")");
        }
        if let Some(since) = f.since {
            qb.push(" AND detected_at >= ").push_bind(ts(since));
        }
        if let Some(until) = f.until {
            qb.push(" AND detected_at < ").push_bind(ts(until));
        }
        if let Some((at, id)) = f.before {
            qb.push(" AND (detected_at, id) < (")
                .push_bind(ts(at))
                .push(", ")
                .push_bind(id.to_string())
                .push(")");
        }
        qb.push(" ORDER BY detected_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(f.limit));
        let rows = qb.build().fetch_all(&self.reader).await?;
        rows.into_iter()
            .map(|r| rows::event(&Cells::new(r, "change_events")))
            .collect()
    }
}

#[async_trait]
impl SnapshotStore for SqliteStore {
    async fn list_accounts(
        &self,
        query: &crate::AccountQuery,
    ) -> Result<crate::AccountPage, StoreError> {
        self.accounts_page(query).await
    }

    async fn latest_snapshot(
        &self,
        domain: &str,
        module: &str,
    ) -> Result<Option<Snapshot>, StoreError> {
        let sql = format!(
            "SELECT {SNAP_COLS} FROM snapshots WHERE domain = ? AND module = ? \
             ORDER BY version DESC LIMIT 1"
        );
        let q = sqlx::query(&sql).bind(domain).bind(module);
        Ok(self.fetch(q, "snapshots", rows::snapshot).await?.pop())
    }

    async fn latest_snapshots(&self, domain: &str) -> Result<Vec<Snapshot>, StoreError> {
        let sql = format!(
            "SELECT {SNAP_COLS} FROM snapshots AS s WHERE s.domain = ?1 AND s.version = \
             (SELECT MAX(version) FROM snapshots WHERE domain = ?1 AND module = s.module) \
             ORDER BY s.module"
        );
        self.fetch(sqlx::query(&sql).bind(domain), "snapshots", rows::snapshot)
            .await
    }

    /// SQLite returns the other columns of the row holding `MAX(version)` in an aggregate,
    /// so one grouped scan of the `(domain, module, version)` index answers it.
    async fn latest_checked(
        &self,
        domains: &[String],
    ) -> Result<Vec<(String, String, DateTime<Utc>)>, StoreError> {
        let mut out = Vec::new();
        for chunk in domains.chunks(LATEST_CHECKED_CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "SELECT domain, module, MAX(version) AS version, checked_at FROM snapshots \
                 WHERE domain IN (",
            );
            let mut list = qb.separated(", ");
            for d in chunk {
                list.push_bind(d.as_str());
            }
            list.push_unseparated(") GROUP BY domain, module");
            for r in qb.build().fetch_all(&self.reader).await? {
                let c = Cells::new(r, "snapshots");
                out.push((c.text("domain")?, c.text("module")?, c.ts("checked_at")?));
            }
        }
        Ok(out)
    }

    /// Oldest first means insertion order, which for one module is version order.
    async fn snapshot_history(
        &self,
        domain: &str,
        module: Option<&str>,
    ) -> Result<Vec<Snapshot>, StoreError> {
        let sql = format!(
            "SELECT {SNAP_COLS} FROM snapshots WHERE domain = ?1 AND (?2 IS NULL OR module = ?2) \
             ORDER BY id"
        );
        let q = sqlx::query(&sql).bind(domain).bind(module);
        self.fetch(q, "snapshots", rows::snapshot).await
    }

    async fn get_snapshot(
        &self,
        domain: &str,
        module: &str,
        version: i64,
    ) -> Result<Option<Snapshot>, StoreError> {
        let sql = format!(
            "SELECT {SNAP_COLS} FROM snapshots WHERE domain = ? AND module = ? AND version = ?"
        );
        let q = sqlx::query(&sql).bind(domain).bind(module).bind(version);
        Ok(self.fetch(q, "snapshots", rows::snapshot).await?.pop())
    }

    async fn snapshot_keys(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let q = sqlx::query(
            "SELECT domain, module, COUNT(*) AS n FROM snapshots \
             GROUP BY domain, module ORDER BY domain, module",
        );
        self.fetch(q, "snapshots", |c| {
            Ok((c.text("domain")?, c.text("module")?, c.int("n")?))
        })
        .await
    }
}

#[async_trait]
impl JobStore for SqliteStore {
    async fn get_job(&self, id: Uuid) -> Result<Option<Job>, StoreError> {
        let sql = format!("SELECT {JOB_COLS} FROM jobs WHERE id = ?");
        let q = sqlx::query(&sql).bind(id.to_string());
        Ok(self.fetch(q, "jobs", rows::job).await?.pop())
    }

    async fn get_jobs(&self, ids: &[Uuid]) -> Result<Vec<Job>, StoreError> {
        let mut jobs = Vec::with_capacity(ids.len());
        // Well under SQLite's limit on bound parameters per statement.
        for chunk in ids.chunks(500) {
            let mut qb =
                QueryBuilder::<Sqlite>::new(format!("SELECT {JOB_COLS} FROM jobs WHERE id IN ("));
            let mut list = qb.separated(", ");
            for id in chunk {
                list.push_bind(id.to_string());
            }
            list.push_unseparated(")");
            jobs.extend(self.fetch(qb.build(), "jobs", rows::job).await?);
        }
        Ok(jobs)
    }

    async fn list_jobs(&self, limit: i64) -> Result<Vec<Job>, StoreError> {
        let sql =
            format!("SELECT {JOB_COLS} FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT ?");
        self.fetch(sqlx::query(&sql).bind(limit.max(0)), "jobs", rows::job)
            .await
    }

    async fn job_counts(&self, job: Uuid) -> Result<BTreeMap<ItemStatus, i64>, StoreError> {
        let sql = "SELECT status, COUNT(*) AS n FROM work_items WHERE job_id = ? GROUP BY status";
        self.counts(sql, job, "work_items", ItemStatus::parse).await
    }

    async fn items_for_job(&self, job: Uuid) -> Result<Vec<WorkItem>, StoreError> {
        let sql =
            format!("SELECT {ITEM_COLS} FROM work_items WHERE job_id = ? ORDER BY domain, module");
        let q = sqlx::query(&sql).bind(job.to_string());
        self.fetch(q, "work_items", rows::item).await
    }
}

#[async_trait]
impl QueueStore for SqliteStore {
    async fn queue_counts(&self, job: Uuid) -> Result<BTreeMap<QueueStatus, i64>, StoreError> {
        let sql = "SELECT status, COUNT(*) AS n FROM queue WHERE job_id = ? GROUP BY status";
        self.counts(sql, job, "queue", QueueStatus::parse).await
    }

    async fn prune_queue(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM queue WHERE status IN ('done', 'failed', 'cancelled') AND finished_at < ?",
        )
        .bind(ts(before))
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }

    /// SQLite has no notifications: waiting is polling.
    async fn wait_for_queue(&self, timeout: Duration) -> Result<(), StoreError> {
        tokio::time::sleep(timeout).await;
        Ok(())
    }
}

#[async_trait]
impl ChargeStore for SqliteStore {
    async fn record_charge(&self, entry: &ChargeRecord) -> Result<(), StoreError> {
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
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn spent_since(
        &self,
        provider: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<f64, StoreError> {
        let total: f64 = sqlx::query_scalar(
            "SELECT TOTAL(cost) FROM charges WHERE at >= ?1 AND (?2 IS NULL OR provider = ?2)",
        )
        .bind(ts(since))
        .bind(provider)
        .fetch_one(&self.reader)
        .await?;
        Ok(total)
    }

    async fn unknown_since(
        &self,
        provider: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<f64, StoreError> {
        let total: f64 = sqlx::query_scalar(
            "SELECT TOTAL(cost) FROM charges WHERE at >= ?1 AND (?2 IS NULL OR provider = ?2) \
             AND (state = 'unknown' OR (state = 'held' AND hold_until < ?3))",
        )
        .bind(ts(since))
        .bind(provider)
        .bind(ts(crate::now()))
        .fetch_one(&self.reader)
        .await?;
        Ok(total)
    }

    async fn spend_groups(&self, since: DateTime<Utc>) -> Result<Vec<SpendGroup>, StoreError> {
        let rows = sqlx::query(
            "SELECT job_id, module, provider, COUNT(*) AS calls, TOTAL(cost) AS credits \
             FROM charges WHERE at >= ? GROUP BY job_id, module, provider",
        )
        .bind(ts(since))
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(|row| {
                let credits: f64 = row
                    .try_get("credits")
                    .map_err(|e| corrupt("charges", format!("column credits: {e}")))?;
                let c = Cells::new(row, "charges");
                Ok(SpendGroup {
                    job_id: c.opt_uuid("job_id")?,
                    module: c.opt_text("module")?,
                    provider: c.text("provider")?,
                    calls: c.int("calls")?,
                    credits,
                })
            })
            .collect()
    }
}

#[async_trait]
impl PacingStore for SqliteStore {
    /// GCRA under the write lock: read the bucket's theoretical arrival time (Unix seconds),
    /// move it to `max(tat, now) + count * interval`, answer where the first slot starts.
    async fn reserve_rate_slots(
        &self,
        bucket: &str,
        interval: Duration,
        count: u32,
    ) -> Result<Duration, StoreError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let now = Utc::now().timestamp_micros() as f64 / 1e6;
        let tat: Option<f64> = sqlx::query_scalar("SELECT tat FROM rate_buckets WHERE bucket = ?")
            .bind(bucket)
            .fetch_optional(&mut *tx)
            .await?;
        let start = tat.unwrap_or(now).max(now);
        sqlx::query(
            "INSERT INTO rate_buckets (bucket, tat) VALUES (?1, ?2) \
             ON CONFLICT (bucket) DO UPDATE SET tat = ?2",
        )
        .bind(bucket)
        .bind(start + interval.as_secs_f64() * f64::from(count))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(crate::pacing::offset(start - now))
    }
}

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn pending_alerts(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Alert>, StoreError> {
        let sql = format!(
            "SELECT {ALERT_COLS} FROM alerts WHERE status = 'pending' AND next_attempt_at <= ? \
             ORDER BY next_attempt_at, created_at, id LIMIT ?"
        );
        let q = sqlx::query(&sql).bind(ts(now)).bind(limit.max(0));
        self.fetch(q, "alerts", rows::alert).await
    }

    async fn list_alerts(
        &self,
        status: Option<AlertStatus>,
        limit: i64,
    ) -> Result<Vec<Alert>, StoreError> {
        let sql = format!(
            "SELECT {ALERT_COLS} FROM alerts WHERE (?1 IS NULL OR status = ?1) \
             ORDER BY created_at DESC, id LIMIT ?2"
        );
        let q = sqlx::query(&sql)
            .bind(status.map(AlertStatus::as_str))
            .bind(limit.max(0));
        self.fetch(q, "alerts", rows::alert).await
    }

    async fn update_alert(&self, alert: &Alert) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE alerts SET status = ?, attempts = ?, last_error = ?, next_attempt_at = ?, \
             delivered_at = ?, payload = ? WHERE id = ?",
        )
        .bind(alert.status.as_str())
        .bind(alert.attempts)
        .bind(&alert.last_error)
        .bind(ts(alert.next_attempt_at))
        .bind(alert.delivered_at.map(ts))
        .bind(json_text(&alert.payload))
        .bind(alert.id.to_string())
        .execute(&self.writer)
        .await?;
        if done.rows_affected() == 0 {
            return Err(crate::outbox::not_found(alert));
        }
        Ok(())
    }
}

#[async_trait]
impl TargetStore for SqliteStore {
    async fn list_targets(&self) -> Result<Vec<Target>, StoreError> {
        let q = sqlx::query("SELECT domain, added_at FROM targets ORDER BY domain");
        self.fetch(q, "targets", rows::target).await
    }

    async fn add_targets(&self, domains: &[String]) -> Result<u64, StoreError> {
        if domains.is_empty() {
            return Ok(0);
        }
        let mut tx = tx::SqliteTx::begin(&self.writer, self.fields.get()).await?;
        let added = tx.insert_targets(domains).await?;
        tx.summary_shown(domains).await?;
        Box::new(tx).commit().await?;
        Ok(added)
    }

    async fn remove_target(&self, domain: &str) -> Result<bool, StoreError> {
        let one = [domain.to_string()];
        let mut tx = tx::SqliteTx::begin(&self.writer, self.fields.get()).await?;
        let removed = tx.delete_targets(&one).await?;
        tx.summary_forget(&one).await?;
        Box::new(tx).commit().await?;
        Ok(removed > 0)
    }

    async fn remove_accounts(&self, domains: &[String]) -> Result<u64, StoreError> {
        if domains.is_empty() {
            return Ok(0);
        }
        let mut tx = tx::SqliteTx::begin(&self.writer, self.fields.get()).await?;
        tx.delete_targets(domains).await?;
        let hidden = tx.summary_hidden(domains).await?;
        Box::new(tx).commit().await?;
        Ok(hidden)
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

/// The one timestamp format the schema uses: fixed width, so text order is time order.
fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn json_text(v: &Value) -> String {
    v.to_string()
}

fn parse_uuid(table: &'static str, name: &str, text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|e| corrupt(table, format!("column {name}: uuid {text:?}: {e}")))
}

/// One SQLite row read by the shared record decoders: text columns parsed by the conventions
/// above; a value of the wrong type (e.g. a blob where text belongs) is a corrupt row.
struct Cells {
    row: SqliteRow,
    table: &'static str,
}

impl Cells {
    fn new(row: SqliteRow, table: &'static str) -> Self {
        Cells { row, table }
    }

    fn get<'r, T>(&'r self, name: &str) -> Result<Option<T>, StoreError>
    where
        T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
    {
        self.row
            .try_get::<Option<T>, _>(name)
            .map_err(|e| corrupt(self.table, format!("column {name}: {e}")))
    }

    fn parsed<T, E: std::fmt::Display>(
        &self,
        name: &str,
        what: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Option<T>, StoreError> {
        self.get::<String>(name)?
            .map(|text| {
                parse(&text).map_err(|e| {
                    corrupt(self.table, format!("column {name}: {what} {text:?}: {e}"))
                })
            })
            .transpose()
    }
}

impl Cols for Cells {
    fn table(&self) -> &'static str {
        self.table
    }
    fn opt_text(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.get(name)
    }
    fn opt_int(&self, name: &str) -> Result<Option<i64>, StoreError> {
        self.get(name)
    }
    fn opt_ts(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.parsed(name, "timestamp", |t| {
            DateTime::parse_from_rfc3339(t).map(|t| t.with_timezone(&Utc))
        })
    }
    fn opt_uuid(&self, name: &str) -> Result<Option<Uuid>, StoreError> {
        self.parsed(name, "uuid", Uuid::parse_str)
    }
    fn opt_json(&self, name: &str) -> Result<Option<Value>, StoreError> {
        self.parsed(name, "JSON", |t| serde_json::from_str::<Value>(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ChangeQuery, DeriveChanges, NewSnapshot, NoDerivation, SaveOutcome};
    use serde_json::json;
    use std::sync::Mutex;

    /// Every batch size from 0 to 3,000 is cut into chunks that keep the rows in order, are
    /// powers of two no larger than the cap, and come in at most one per size (so at most ten
    /// statement texts per statement under a cap of 1,000).
    #[test]
    fn sized_chunks_cover_the_rows_in_power_of_two_pieces() {
        for n in 0..3000usize {
            let rows: Vec<usize> = (0..n).collect();
            let chunks: Vec<&[usize]> = sized_chunks(&rows, 1000).collect();
            let joined: Vec<usize> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
            assert_eq!(joined, rows, "{n}");
            let mut sizes: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
            assert!(
                sizes.iter().all(|s| s.is_power_of_two() && *s <= 512),
                "{n}: {sizes:?}"
            );
            assert!(
                sizes.windows(2).all(|w| w[0] >= w[1]),
                "largest first: {sizes:?}"
            );
            sizes.retain(|s| *s < 512);
            let distinct = sizes.len();
            sizes.dedup();
            assert_eq!(
                sizes.len(),
                distinct,
                "{n}: one chunk per size below the cap"
            );
        }
    }

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
            let at = crate::now();
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
                    delivery: crate::Delivery::Immediate,
                    domain: next.domain.clone(),
                    payload: json!({"version": version}),
                    status: AlertStatus::Pending,
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
            fetched_at: crate::now(),
            job_id: None,
            text: None,
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
            let temp: i64 = sqlx::query_scalar("PRAGMA temp_store")
                .fetch_one(store.pool())
                .await
                .unwrap();
            assert_eq!(temp, 2, "MEMORY");
            store.close().await;
        }
        assert!(plain.exists());

        let mem = SqliteStore::open("sqlite::memory:").await.unwrap();
        mem.create_job(Uuid::new_v4(), "mem", &serde_json::json!({}))
            .await
            .unwrap();
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
        store
            .create_job(job, "cli", &json!({"modules": ["m01"]}))
            .await
            .unwrap();
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
        let job = again.get_job(job).await.unwrap().unwrap();
        assert_eq!(job.label, "cli");
        assert_eq!(job.spec, json!({"modules": ["m01"]}));
        let latest = again
            .latest_snapshot("acme.io", "m01")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(latest.version, 2);
        let all = ChangeQuery {
            limit: 10,
            ..ChangeQuery::default()
        };
        assert_eq!(
            again.list_change_events(&all).await.unwrap().events.len(),
            1
        );
        assert_eq!(
            again.pending_alerts(crate::now(), 10).await.unwrap().len(),
            1
        );
        // Migrations are idempotent on reopen and the next version continues the sequence.
        let out = again
            .save_snapshot(&snap("acme.io", "m01", 3), &NoDerivation)
            .await
            .unwrap();
        assert!(matches!(out, SaveOutcome::Created { version: 3, .. }));
    }

    /// A database created by the first release (only migration 0001 applied) is upgraded on
    /// open and keeps its data: jobs get the empty specification, the ledger works.
    #[tokio::test]
    async fn migrations_upgrade_a_first_release_database() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("old.db").display());
        let options = SqliteConnectOptions::from_str(&url)
            .unwrap()
            .create_if_missing(true);
        let pool = SqlitePool::connect_with(options).await.unwrap();
        let first = sqlx::migrate::Migrator {
            migrations: std::borrow::Cow::Owned(MIGRATOR.migrations[..1].to_vec()),
            ..sqlx::migrate::Migrator::DEFAULT
        };
        first.run(&pool).await.unwrap();
        let job = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO jobs (id, label, status, created_at) \
             VALUES (?, 'old', 'running', '2024-01-01T00:00:00.000000Z')",
        )
        .bind(job.to_string())
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;

        let again = SqliteStore::open(&url).await.unwrap();
        let old = again.get_job(job).await.unwrap().unwrap();
        assert_eq!(old.label, "old");
        assert_eq!(old.spec, json!({}));
        let at = crate::now();
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
        store
            .create_job(job, "cli", &json!({"modules": ["m01"]}))
            .await
            .unwrap();
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
