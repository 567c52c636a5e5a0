//! PostgreSQL implementation of the capability traits, for deployments where several processes
//! (CLI runs, the daemon, workers on several machines) share one database.
//!
//! Semantics match [`crate::SqliteStore`] exactly (the conformance suite in `tests/` runs against
//! both, and the rules above the primitives are the same code). Differences are only in
//! mechanism:
//! - Native types (`uuid`, `timestamptz`, `jsonb`, `bigint`, `double precision`); timestamps keep
//!   microseconds, like the SQLite text format, and the store truncates the ones it generates.
//! - Saving snapshots and pruning serialise per (domain, module) with transaction-scoped
//!   advisory locks (see [`tx`]), so writers in any number of processes can never compute the
//!   same "next version" or diff against a stale previous one; `UNIQUE (domain, module,
//!   version)` is the backstop. Writers to different modules do not wait for each other.
//! - Text ordering uses `COLLATE "C"` (byte order) so results are ordered exactly like SQLite's,
//!   whatever the database's default collation.
//!
//! Migrations live in `migrations/postgres/` and are applied on open into the first schema of the
//! connection's search_path (tests use that to isolate themselves in throwaway schemas).

mod accounts;
mod summary;
mod tx;
mod waker;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, Postgres, QueryBuilder, Row};
use uuid::Uuid;

use crate::backend::{AccountTx, Backend, ChangeFilter, WriteTx};
use crate::rows::{self, corrupt, Cols, ALERT_COLS, EVENT_COLS, ITEM_COLS, JOB_COLS, SNAP_COLS};
use crate::{
    Alert, AlertStatus, ChangeEvent, ChargeRecord, ChargeStore, ItemStatus, Job, JobStore,
    OutboxStore, PacingStore, QueueStatus, QueueStore, Snapshot, SnapshotStore, SpendGroup,
    StoreError, Target, TargetStore, WorkItem,
};

/// How many pruned queue rows make [`QueueStore::prune_queue`] vacuum the table at once.
const VACUUM_AFTER_PRUNED: u64 = 1_000;

/// How many rows one enqueue must add for [`Backend::queue_grew`] to analyze the queue table.
const ANALYZE_AFTER_ENQUEUED: usize = 1_000;

/// Schema migrations, embedded so that `pforge` needs no files beside itself.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per process. Enough for the executor's parallel module runs plus API reads, while
/// leaving room under PostgreSQL's default `max_connections = 100` for several processes.
const MAX_CONNECTIONS: u32 = 10;

/// How long a caller waits for a free pooled connection before failing instead of hanging.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// The shared-database store. Cheap to clone; clones share one connection pool.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    /// The `LISTEN` connection idle workers wait on (opened on first use).
    waker: waker::Waker,
    /// The fields the accounts summary follows (shared by clones and their transactions).
    fields: crate::backend::FieldsCache,
}

impl PgStore {
    /// Connects to `url` (`postgres://` or `postgresql://`, any libpq-style parameters such as
    /// `?options=-c search_path=...`) and applies pending migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, &crate::StoreOptions::default()).await
    }

    /// [`PgStore::open`] with [`crate::StoreOptions`]; the accounts summary is rebuilt here
    /// when it does not follow the given fields.
    pub async fn open_with(url: &str, opts: &crate::StoreOptions) -> Result<Self, StoreError> {
        let store = Self::connect(url).await?;
        crate::summary::on_open(&store, &store.fields, opts.account_fields.as_ref()).await?;
        Ok(store)
    }

    async fn connect(url: &str) -> Result<Self, StoreError> {
        let open_err = |source: sqlx::Error| StoreError::Open {
            url: redact(url),
            source,
        };
        // A process paused or cut off inside a transaction (SIGSTOP, a frozen VM) would hold its
        // row locks, and with them every other worker's fenced writes and heartbeats, for as long
        // as it stays frozen. No transaction here waits on anything but the database, so one idle
        // for 10 s is stuck: the server ends it and the locks are freed.
        let options = PgConnectOptions::from_str(url)
            .map_err(open_err)?
            .options([("idle_in_transaction_session_timeout", "10s")]);
        // One direct connection first: a wrong host, password or database fails at once with the
        // server's own error, instead of the pool retrying until its acquire timeout.
        let probe = PgConnection::connect_with(&options)
            .await
            .map_err(open_err)?;
        probe.close().await.map_err(open_err)?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .idle_timeout(Some(Duration::from_secs(300)))
            .connect_lazy_with(options);
        MIGRATOR.run(&pool).await?;
        Ok(Self {
            pool,
            waker: Default::default(),
            fields: Default::default(),
        })
    }

    /// The connection pool, for extensions that need SQL this type does not offer yet.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes the pool, waiting for in-flight work.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Runs a read and decodes every row with `decode`.
    async fn fetch<T>(
        &self,
        query: sqlx::query::Query<'_, Postgres, PgArguments>,
        table: &'static str,
        decode: fn(&Cells) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = query.fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|r| decode(&Cells::new(r, table)))
            .collect()
    }

    /// A read of `(status, n)` counts for one job.
    async fn counts<T: Ord>(
        &self,
        sql: &str,
        job: Uuid,
        table: &'static str,
        parse: fn(&str) -> Option<T>,
    ) -> Result<BTreeMap<T, i64>, StoreError> {
        let rows = sqlx::query(sql).bind(job).fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|r| rows::status_count(&Cells::new(r, table), parse))
            .collect()
    }
}

#[async_trait]
impl Backend for PgStore {
    async fn begin(&self) -> Result<Box<dyn WriteTx>, StoreError> {
        Ok(Box::new(
            tx::PgTx::begin(&self.pool, self.fields.get()).await?,
        ))
    }

    async fn close(&self) {
        PgStore::close(self).await;
    }

    async fn queue_grew(&self, rows: usize) -> Result<(), StoreError> {
        if rows >= ANALYZE_AFTER_ENQUEUED {
            sqlx::raw_sql("ANALYZE queue").execute(&self.pool).await?;
        }
        Ok(())
    }

    async fn summary_rebuilt(&self) -> Result<(), StoreError> {
        // VACUUM too: it marks the rewritten pages all-visible, so the counts per tier and band
        // are an index-only scan of `account_summary_counts` at once, not after autovacuum.
        sqlx::raw_sql("VACUUM (ANALYZE) account_summary, account_technologies")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn query_change_events(&self, f: &ChangeFilter) -> Result<Vec<ChangeEvent>, StoreError> {
        let mut qb = QueryBuilder::<Postgres>::new(format!(
            "SELECT {EVENT_COLS} FROM change_events WHERE TRUE"
        ));
        if let Some(domain) = &f.domain {
            qb.push(" AND domain = ").push_bind(domain.as_str());
        }
        if let Some(module) = &f.module {
            qb.push(" AND module = ").push_bind(module.as_str());
        }
        if let Some(levels) = &f.levels {
            let names: Vec<&str> = levels.iter().map(|l| l.as_str()).collect();
            qb.push(" AND level = ANY(").push_bind(names).push(")");
        }
        if let Some(since) = f.since {
            qb.push(" AND detected_at >= ").push_bind(since);
        }
        if let Some(until) = f.until {
            qb.push(" AND detected_at < ").push_bind(until);
        }
        if let Some((at, id)) = f.before {
            qb.push(" AND (detected_at, id) < (")
                .push_bind(at)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        qb.push(" ORDER BY detected_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(f.limit));
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|r| rows::event(&Cells::new(r, "change_events")))
            .collect()
    }
}

#[async_trait]
impl SnapshotStore for PgStore {
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
            "SELECT {SNAP_COLS} FROM snapshots WHERE domain = $1 AND module = $2 \
             ORDER BY version DESC LIMIT 1"
        );
        let q = sqlx::query(&sql).bind(domain).bind(module);
        Ok(self.fetch(q, "snapshots", rows::snapshot).await?.pop())
    }

    async fn latest_snapshots(&self, domain: &str) -> Result<Vec<Snapshot>, StoreError> {
        let sql = format!(
            "SELECT DISTINCT ON (module COLLATE \"C\") {SNAP_COLS} FROM snapshots \
             WHERE domain = $1 ORDER BY module COLLATE \"C\", version DESC"
        );
        self.fetch(sqlx::query(&sql).bind(domain), "snapshots", rows::snapshot)
            .await
    }

    async fn latest_checked(
        &self,
        domains: &[String],
    ) -> Result<Vec<(String, String, DateTime<Utc>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT ON (domain, module) domain, module, checked_at FROM snapshots \
             WHERE domain = ANY($1) ORDER BY domain, module, version DESC",
        )
        .bind(domains)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let c = Cells::new(r, "snapshots");
                Ok((c.text("domain")?, c.text("module")?, c.ts("checked_at")?))
            })
            .collect()
    }

    /// Oldest first means insertion order, which for one module is version order.
    async fn snapshot_history(
        &self,
        domain: &str,
        module: Option<&str>,
    ) -> Result<Vec<Snapshot>, StoreError> {
        let sql = format!(
            "SELECT {SNAP_COLS} FROM snapshots \
             WHERE domain = $1 AND ($2::text IS NULL OR module = $2) ORDER BY id"
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
            "SELECT {SNAP_COLS} FROM snapshots \
             WHERE domain = $1 AND module = $2 AND version = $3"
        );
        let q = sqlx::query(&sql).bind(domain).bind(module).bind(version);
        Ok(self.fetch(q, "snapshots", rows::snapshot).await?.pop())
    }

    async fn snapshot_keys(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let q = sqlx::query(
            "SELECT domain, module, COUNT(*) AS n FROM snapshots GROUP BY domain, module \
             ORDER BY domain COLLATE \"C\", module COLLATE \"C\"",
        );
        self.fetch(q, "snapshots", |c| {
            Ok((c.text("domain")?, c.text("module")?, c.int("n")?))
        })
        .await
    }
}

#[async_trait]
impl JobStore for PgStore {
    async fn get_job(&self, id: Uuid) -> Result<Option<Job>, StoreError> {
        let sql = format!("SELECT {JOB_COLS} FROM jobs WHERE id = $1");
        Ok(self
            .fetch(sqlx::query(&sql).bind(id), "jobs", rows::job)
            .await?
            .pop())
    }

    async fn get_jobs(&self, ids: &[Uuid]) -> Result<Vec<Job>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!("SELECT {JOB_COLS} FROM jobs WHERE id = ANY($1)");
        self.fetch(sqlx::query(&sql).bind(ids), "jobs", rows::job)
            .await
    }

    async fn list_jobs(&self, limit: i64) -> Result<Vec<Job>, StoreError> {
        let sql =
            format!("SELECT {JOB_COLS} FROM jobs ORDER BY created_at DESC, seq DESC LIMIT $1");
        self.fetch(sqlx::query(&sql).bind(limit.max(0)), "jobs", rows::job)
            .await
    }

    async fn job_counts(&self, job: Uuid) -> Result<BTreeMap<ItemStatus, i64>, StoreError> {
        let sql = "SELECT status, COUNT(*) AS n FROM work_items WHERE job_id = $1 GROUP BY status";
        self.counts(sql, job, "work_items", ItemStatus::parse).await
    }

    async fn items_for_job(&self, job: Uuid) -> Result<Vec<WorkItem>, StoreError> {
        let sql = format!(
            "SELECT {ITEM_COLS} FROM work_items WHERE job_id = $1 \
             ORDER BY domain COLLATE \"C\", module COLLATE \"C\""
        );
        self.fetch(sqlx::query(&sql).bind(job), "work_items", rows::item)
            .await
    }
}

#[async_trait]
impl QueueStore for PgStore {
    async fn queue_counts(&self, job: Uuid) -> Result<BTreeMap<QueueStatus, i64>, StoreError> {
        let sql = "SELECT status, COUNT(*) AS n FROM queue WHERE job_id = $1 GROUP BY status";
        self.counts(sql, job, "queue", QueueStatus::parse).await
    }

    async fn prune_queue(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM queue WHERE status IN ('done', 'failed', 'cancelled') AND finished_at < $1",
        )
        .bind(before)
        .execute(&self.pool)
        .await?;
        let pruned = done.rows_affected();
        if pruned >= VACUUM_AFTER_PRUNED {
            // A round of 100,000 domains is enqueued right after the last round's rows are
            // pruned: unless the deleted rows' space is reclaimed first, the new rows go to the
            // end of the table and it grows by a round's worth each time (BENCHMARKS.md §5).
            // Autovacuum gets there only on its own schedule, so vacuum now. SKIP_LOCKED: a
            // vacuum already running (another worker's, or autovacuum) is enough.
            if let Err(e) = sqlx::raw_sql("VACUUM (SKIP_LOCKED, ANALYZE) queue")
                .execute(&self.pool)
                .await
            {
                tracing::warn!(error = %e, "could not vacuum the queue table after pruning it; autovacuum will");
            }
        }
        Ok(pruned)
    }

    async fn wait_for_queue(&self, timeout: Duration) -> Result<(), StoreError> {
        self.waker.wait(&self.pool, timeout).await
    }
}

#[async_trait]
impl ChargeStore for PgStore {
    async fn record_charge(&self, entry: &ChargeRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO charges (provider, module, domain, job_id, cost, status, at, call_key) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(&entry.provider)
        .bind(&entry.module)
        .bind(&entry.domain)
        .bind(entry.job_id)
        .bind(entry.cost)
        .bind(&entry.status)
        .bind(entry.at.trunc_subsecs(6))
        .bind(&entry.call_key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn spent_since(
        &self,
        provider: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<f64, StoreError> {
        let total: f64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(cost), 0)::double precision FROM charges \
             WHERE at >= $1 AND ($2::text IS NULL OR provider = $2)",
        )
        .bind(since)
        .bind(provider)
        .fetch_one(&self.pool)
        .await?;
        Ok(total)
    }

    async fn unknown_since(
        &self,
        provider: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<f64, StoreError> {
        let total: f64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(cost), 0)::double precision FROM charges \
             WHERE at >= $1 AND ($2::text IS NULL OR provider = $2) \
             AND (state = 'unknown' OR (state = 'held' AND hold_until < clock_timestamp()))",
        )
        .bind(since)
        .bind(provider)
        .fetch_one(&self.pool)
        .await?;
        Ok(total)
    }

    async fn spend_groups(&self, since: DateTime<Utc>) -> Result<Vec<SpendGroup>, StoreError> {
        let rows = sqlx::query(
            "SELECT job_id, module, provider, COUNT(*) AS calls, \
             COALESCE(SUM(cost), 0)::double precision AS credits \
             FROM charges WHERE at >= $1 GROUP BY job_id, module, provider",
        )
        .bind(since)
        .fetch_all(&self.pool)
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
impl PacingStore for PgStore {
    /// GCRA in one statement: the row's theoretical arrival time moves to
    /// `max(tat, now) + count * interval`; the caller learns where its first slot starts.
    async fn reserve_rate_slots(
        &self,
        bucket: &str,
        interval: Duration,
        count: u32,
    ) -> Result<Duration, StoreError> {
        let span = interval.as_secs_f64() * f64::from(count);
        let ahead: f64 = sqlx::query_scalar(
            "INSERT INTO rate_buckets AS b (bucket, tat) \
             VALUES ($1, clock_timestamp() + make_interval(secs => $2)) \
             ON CONFLICT (bucket) DO UPDATE \
             SET tat = GREATEST(b.tat, clock_timestamp()) + make_interval(secs => $2) \
             RETURNING EXTRACT(EPOCH FROM (tat - clock_timestamp()))::float8",
        )
        .bind(bucket)
        .bind(span)
        .fetch_one(&self.pool)
        .await?;
        Ok(crate::pacing::offset(ahead - span))
    }
}

#[async_trait]
impl OutboxStore for PgStore {
    async fn pending_alerts(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Alert>, StoreError> {
        let sql = format!(
            "SELECT {ALERT_COLS} FROM alerts WHERE status = 'pending' AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at, created_at, id LIMIT $2"
        );
        let q = sqlx::query(&sql).bind(now).bind(limit.max(0));
        self.fetch(q, "alerts", rows::alert).await
    }

    async fn list_alerts(
        &self,
        status: Option<AlertStatus>,
        limit: i64,
    ) -> Result<Vec<Alert>, StoreError> {
        let sql = format!(
            "SELECT {ALERT_COLS} FROM alerts WHERE ($1::text IS NULL OR status = $1) \
             ORDER BY created_at DESC, id LIMIT $2"
        );
        let q = sqlx::query(&sql)
            .bind(status.map(AlertStatus::as_str))
            .bind(limit.max(0));
        self.fetch(q, "alerts", rows::alert).await
    }

    async fn update_alert(&self, alert: &Alert) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE alerts SET status = $1, attempts = $2, last_error = $3, \
             next_attempt_at = $4, delivered_at = $5, payload = $6 WHERE id = $7",
        )
        .bind(alert.status.as_str())
        .bind(alert.attempts)
        .bind(&alert.last_error)
        .bind(alert.next_attempt_at.trunc_subsecs(6))
        .bind(alert.delivered_at.map(|t| t.trunc_subsecs(6)))
        .bind(&alert.payload)
        .bind(alert.id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(crate::outbox::not_found(alert));
        }
        Ok(())
    }
}

#[async_trait]
impl TargetStore for PgStore {
    async fn list_targets(&self) -> Result<Vec<Target>, StoreError> {
        let q = sqlx::query(r#"SELECT domain, added_at FROM targets ORDER BY domain COLLATE "C""#);
        self.fetch(q, "targets", rows::target).await
    }

    /// One statement: duplicates in `domains` collapse before the insert.
    async fn add_targets(&self, domains: &[String]) -> Result<u64, StoreError> {
        if domains.is_empty() {
            return Ok(0);
        }
        let mut tx = tx::PgTx::begin(&self.pool, self.fields.get()).await?;
        let added = tx.insert_targets(domains).await?;
        tx.summary_shown(domains).await?;
        Box::new(tx).commit().await?;
        Ok(added)
    }

    async fn remove_target(&self, domain: &str) -> Result<bool, StoreError> {
        let one = [domain.to_string()];
        let mut tx = tx::PgTx::begin(&self.pool, self.fields.get()).await?;
        let removed = tx.delete_targets(&one).await?;
        tx.summary_forget(&one).await?;
        Box::new(tx).commit().await?;
        Ok(removed > 0)
    }

    async fn remove_accounts(&self, domains: &[String]) -> Result<u64, StoreError> {
        if domains.is_empty() {
            return Ok(0);
        }
        let mut tx = tx::PgTx::begin(&self.pool, self.fields.get()).await?;
        tx.delete_targets(domains).await?;
        let hidden = tx.summary_hidden(domains).await?;
        Box::new(tx).commit().await?;
        Ok(hidden)
    }
}

/// The URL without its password, for error messages.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// One PostgreSQL row read by the shared record decoders: native types; a type mismatch is a
/// corrupt row, not a panic.
struct Cells {
    row: PgRow,
    table: &'static str,
}

impl Cells {
    fn new(row: PgRow, table: &'static str) -> Self {
        Cells { row, table }
    }

    fn get<'r, T>(&'r self, name: &str) -> Result<Option<T>, StoreError>
    where
        T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
    {
        self.row
            .try_get::<Option<T>, _>(name)
            .map_err(|e| corrupt(self.table, format!("column {name}: {e}")))
    }
}

impl Cols for Cells {
    fn table(&self) -> &'static str {
        self.table
    }
    fn opt_text(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.get(name)
    }
    /// `bigint` columns, and the queue's `integer` attempts.
    fn opt_int(&self, name: &str) -> Result<Option<i64>, StoreError> {
        self.get::<i64>(name)
            .or_else(|_| Ok(self.get::<i32>(name)?.map(i64::from)))
    }
    fn opt_ts(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.get(name)
    }
    fn opt_uuid(&self, name: &str) -> Result<Option<Uuid>, StoreError> {
        self.get(name)
    }
    fn opt_json(&self, name: &str) -> Result<Option<Value>, StoreError> {
        self.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_hides_only_the_password() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
    }
}
