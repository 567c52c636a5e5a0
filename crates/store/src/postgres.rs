//! PostgreSQL implementation of [`crate::Store`], for deployments where several processes (CLI
//! runs, the daemon, the API) share one database.
//!
//! Semantics match [`crate::SqliteStore`] exactly (the conformance suite in `tests/` runs against
//! both). Differences are only in mechanism:
//! - Native types (`uuid`, `timestamptz`, `jsonb`, `bigint`, `double precision`); timestamps keep
//!   microseconds, like the SQLite text format, and the store truncates the ones it generates.
//! - `save_snapshot` and `prune_versions` serialise per (domain, module) with a transaction-scoped
//!   advisory lock, so writers in any number of processes can never compute the same "next
//!   version" or diff against a stale previous one; `UNIQUE (domain, module, version)` is the
//!   backstop. Writers to different modules do not wait for each other.
//! - Text ordering uses `COLLATE "C"` (byte order) so results are ordered exactly like SQLite's,
//!   whatever the database's default collation.
//!
//! Migrations live in `migrations/postgres/` and are applied on open into the first schema of the
//! connection's `search_path` (tests use that to isolate themselves in throwaway schemas).

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, Postgres, QueryBuilder, Row};
use uuid::Uuid;

use crate::{
    Alert, ChangeEvent, ChargeRecord, DeriveChanges, ItemStatus, Job, JobStatus, NewSnapshot,
    SaveOutcome, Snapshot, Store, StoreError, WorkItem,
};

/// Schema migrations, embedded so that `pforge` needs no files beside itself.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per process. Enough for the executor's parallel module runs plus API reads, while
/// leaving room under PostgreSQL's default `max_connections = 100` for several processes.
const MAX_CONNECTIONS: u32 = 10;

/// How long a caller waits for a free pooled connection before failing instead of hanging.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

const JOB_COLS: &str = "id, label, status, created_at, finished_at";
const ITEM_COLS: &str =
    "job_id, domain, module, status, attempts, error, started_at, finished_at, version";
const SNAP_COLS: &str = "domain, module, version, data, citations, content_hash, fetched_at, \
                         checked_at, created_at, job_id, patch";
const EVENT_COLS: &str = "id, domain, module, version, path, kind, old_value, new_value, \
                          significance, level, rule, detected_at";
const ALERT_COLS: &str = "id, rule, recipient, channel, delivery, domain, payload, status, \
                          attempts, last_error, created_at, next_attempt_at, delivered_at";

/// The shared-database store. Cheap to clone; clones share one connection pool.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    /// The `LISTEN` connection idle workers wait on (opened on first use).
    waker: crate::queue::postgres::Waker,
}

impl PgStore {
    /// Connects to `url` (`postgres://` or `postgresql://`, any libpq-style parameters such as
    /// `?options=-c search_path=...`) and applies pending migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let open_err = |source: sqlx::Error| StoreError::Open {
            url: redact(url),
            source,
        };
        let options = PgConnectOptions::from_str(url).map_err(open_err)?;
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
}

#[async_trait]
impl Store for PgStore {
    async fn enqueue_job(
        &self,
        id: Uuid,
        label: &str,
        domains: &[String],
    ) -> Result<Job, StoreError> {
        crate::queue::postgres::enqueue_job(&self.pool, id, label, domains).await
    }

    async fn claim_queue_items(
        &self,
        owner: &str,
        job: Option<Uuid>,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<crate::QueueItem>, StoreError> {
        crate::queue::postgres::claim(&self.pool, owner, job, limit, lease).await
    }

    async fn heartbeat_queue_items(
        &self,
        owner: &str,
        ids: &[i64],
        lease: Duration,
    ) -> Result<Vec<i64>, StoreError> {
        crate::queue::postgres::heartbeat(&self.pool, owner, ids, lease).await
    }

    async fn complete_queue_item(
        &self,
        owner: &str,
        id: i64,
        status: crate::QueueStatus,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        crate::queue::postgres::complete(&self.pool, owner, id, status, error).await
    }

    async fn release_queue_items(&self, owner: &str, ids: &[i64]) -> Result<u64, StoreError> {
        crate::queue::postgres::release(&self.pool, owner, ids).await
    }

    async fn queue_counts(
        &self,
        job: Uuid,
    ) -> Result<BTreeMap<crate::QueueStatus, i64>, StoreError> {
        crate::queue::postgres::counts(&self.pool, job).await
    }

    async fn prune_queue(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        crate::queue::postgres::prune(&self.pool, before).await
    }

    async fn wait_for_queue(&self, timeout: Duration) -> Result<(), StoreError> {
        self.waker.wait(&self.pool, timeout).await
    }

    async fn reserve_rate_slots(
        &self,
        bucket: &str,
        interval: Duration,
        count: u32,
    ) -> Result<Duration, StoreError> {
        crate::queue::postgres::reserve_rate_slots(&self.pool, bucket, interval, count).await
    }

    async fn list_targets(&self) -> Result<Vec<crate::Target>, StoreError> {
        let rows =
            sqlx::query(r#"SELECT domain, added_at FROM targets ORDER BY domain COLLATE "C""#)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|row| {
                Ok(crate::Target {
                    domain: row.try_get("domain").map_err(|e| StoreError::Corrupt {
                        table: "targets",
                        detail: format!("column domain: {e}"),
                    })?,
                    added_at: row.try_get("added_at").map_err(|e| StoreError::Corrupt {
                        table: "targets",
                        detail: format!("column added_at: {e}"),
                    })?,
                })
            })
            .collect()
    }

    async fn add_targets(&self, domains: &[String]) -> Result<u64, StoreError> {
        let at = Utc::now().trunc_subsecs(6);
        let mut tx = self.pool.begin().await?;
        let mut added = 0;
        for domain in domains {
            added += sqlx::query(
                "INSERT INTO targets (domain, added_at) VALUES ($1, $2) \
                 ON CONFLICT (domain) DO NOTHING",
            )
            .bind(domain)
            .bind(at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(added)
    }

    async fn remove_target(&self, domain: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM targets WHERE domain = $1")
            .bind(domain)
            .execute(&self.pool)
            .await?;
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
        sqlx::query("INSERT INTO jobs (id, label, status, created_at) VALUES ($1, $2, $3, $4)")
            .bind(job.id)
            .bind(&job.label)
            .bind(job.status.as_str())
            .bind(job.created_at)
            .execute(&self.pool)
            .await?;
        Ok(job)
    }

    /// An unknown id is `StoreError::Database(sqlx::Error::RowNotFound)`.
    async fn finish_job(&self, id: Uuid, status: JobStatus) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE jobs SET status = $1, finished_at = $2 WHERE id = $3")
            .bind(status.as_str())
            .bind(now())
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Database(sqlx::Error::RowNotFound));
        }
        Ok(())
    }

    async fn get_job(&self, id: Uuid) -> Result<Option<Job>, StoreError> {
        let row = sqlx::query(&format!("SELECT {JOB_COLS} FROM jobs WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    async fn list_jobs(&self, limit: i64) -> Result<Vec<Job>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLS} FROM jobs ORDER BY created_at DESC, seq DESC LIMIT $1"
        ))
        .bind(limit.max(0))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    async fn cancel_job(&self, id: Uuid) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM jobs WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(status) = status else {
            return Err(StoreError::Database(sqlx::Error::RowNotFound));
        };
        if status != JobStatus::Running.as_str() {
            return Ok(false);
        }
        sqlx::query("UPDATE jobs SET status = $1, finished_at = $2 WHERE id = $3")
            .bind(JobStatus::Cancelled.as_str())
            .bind(now())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        // Queued domains not yet claimed are never claimed now; claimed ones finish.
        crate::queue::postgres::cancel_pending(&mut tx, id).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn job_counts(&self, job: Uuid) -> Result<BTreeMap<ItemStatus, i64>, StoreError> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM work_items WHERE job_id = $1 GROUP BY status",
        )
        .bind(job)
        .fetch_all(&self.pool)
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

    /// The job must exist (foreign key), otherwise this is a database error.
    async fn upsert_item(&self, item: &WorkItem) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO work_items \
             (job_id, domain, module, status, attempts, error, started_at, finished_at, version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (job_id, domain, module) DO UPDATE SET \
             status = excluded.status, attempts = excluded.attempts, error = excluded.error, \
             started_at = excluded.started_at, finished_at = excluded.finished_at, \
             version = excluded.version",
        )
        .bind(item.job_id)
        .bind(&item.domain)
        .bind(&item.module)
        .bind(item.status.as_str())
        .bind(item.attempts)
        .bind(&item.error)
        .bind(item.started_at)
        .bind(item.finished_at)
        .bind(item.version)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn items_for_job(&self, job: Uuid) -> Result<Vec<WorkItem>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ITEM_COLS} FROM work_items WHERE job_id = $1 \
             ORDER BY domain COLLATE \"C\", module COLLATE \"C\""
        ))
        .bind(job)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(item_from_row).collect()
    }

    async fn save_snapshot(
        &self,
        new: &NewSnapshot,
        derive: &dyn DeriveChanges,
    ) -> Result<SaveOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Held until commit/rollback: every writer of this (domain, module), in any process,
        // queues here, so the "previous" read below is the one the insert follows.
        lock_module(&mut tx, &new.domain, &new.module).await?;
        let previous = latest_in(&mut tx, &new.domain, &new.module).await?;
        let stamp = now();

        if let Some(prev) = &previous {
            if prev.content_hash == new.content_hash {
                sqlx::query(
                    "UPDATE snapshots SET checked_at = $1 \
                     WHERE domain = $2 AND module = $3 AND version = $4",
                )
                .bind(stamp)
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

        if let Some(job) = new.job_id {
            // Keyed by job: a retried item never stores a second version for the same job.
            let stored: Option<i64> = sqlx::query_scalar(
                "SELECT MAX(version) FROM snapshots \
                 WHERE domain = $1 AND module = $2 AND job_id = $3",
            )
            .bind(&new.domain)
            .bind(&new.module)
            .bind(job)
            .fetch_one(&mut *tx)
            .await?;
            if let Some(version) = stored {
                tx.commit().await?;
                return Ok(SaveOutcome::Unchanged { version });
            }
        }

        let version = previous.as_ref().map_or(1, |p| p.version + 1);
        let derived = derive.derive(previous.as_ref(), new, version);

        sqlx::query(&format!(
            "INSERT INTO snapshots ({SNAP_COLS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(&new.domain)
        .bind(&new.module)
        .bind(version)
        .bind(&new.data)
        .bind(&new.citations)
        .bind(&new.content_hash)
        .bind(new.fetched_at.trunc_subsecs(6))
        .bind(stamp)
        .bind(stamp)
        .bind(new.job_id)
        .bind(&derived.patch)
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
        let mut conn = self.pool.acquire().await?;
        latest_in(&mut conn, domain, module).await
    }

    async fn latest_snapshots(&self, domain: &str) -> Result<Vec<Snapshot>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT DISTINCT ON (module COLLATE \"C\") {SNAP_COLS} FROM snapshots \
             WHERE domain = $1 ORDER BY module COLLATE \"C\", version DESC"
        ))
        .bind(domain)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(snapshot_from_row).collect()
    }

    /// Oldest first means insertion order, which for one module is version order.
    async fn snapshot_history(
        &self,
        domain: &str,
        module: Option<&str>,
    ) -> Result<Vec<Snapshot>, StoreError> {
        let mut qb: QueryBuilder<Postgres> =
            QueryBuilder::new(format!("SELECT {SNAP_COLS} FROM snapshots WHERE domain = "));
        qb.push_bind(domain.to_string());
        if let Some(module) = module {
            qb.push(" AND module = ").push_bind(module.to_string());
        }
        qb.push(" ORDER BY id");
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(snapshot_from_row).collect()
    }

    async fn get_snapshot(
        &self,
        domain: &str,
        module: &str,
        version: i64,
    ) -> Result<Option<Snapshot>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {SNAP_COLS} FROM snapshots WHERE domain = $1 AND module = $2 AND version = $3"
        ))
        .bind(domain)
        .bind(module)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(snapshot_from_row).transpose()
    }

    /// Same order as SQLite: `detected_at`, then domain, module, version, path, id.
    async fn list_change_events(
        &self,
        domain: Option<&str>,
        since: Option<DateTime<Utc>>,
        limit: i64,
    ) -> Result<Vec<ChangeEvent>, StoreError> {
        let mut qb: QueryBuilder<Postgres> =
            QueryBuilder::new(format!("SELECT {EVENT_COLS} FROM change_events WHERE TRUE"));
        if let Some(domain) = domain {
            qb.push(" AND domain = ").push_bind(domain.to_string());
        }
        if let Some(since) = since {
            qb.push(" AND detected_at >= ").push_bind(since);
        }
        qb.push(
            " ORDER BY detected_at, domain COLLATE \"C\", module COLLATE \"C\", version, \
             path COLLATE \"C\", id LIMIT ",
        )
        .push_bind(limit.max(0));
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn pending_alerts(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Alert>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ALERT_COLS} FROM alerts WHERE status = 'pending' AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at, created_at, id LIMIT $2"
        ))
        .bind(now)
        .bind(limit.max(0))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(alert_from_row).collect()
    }

    async fn list_alerts(
        &self,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Alert>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ALERT_COLS} FROM alerts WHERE ($1::text IS NULL OR status = $1) \
             ORDER BY created_at DESC, id LIMIT $2"
        ))
        .bind(status)
        .bind(limit.max(0))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(alert_from_row).collect()
    }

    /// An id that is not in the outbox is `StoreError::Database(sqlx::Error::RowNotFound)`.
    async fn update_alert(&self, alert: &Alert) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE alerts SET status = $1, attempts = $2, last_error = $3, \
             next_attempt_at = $4, delivered_at = $5, payload = $6 WHERE id = $7",
        )
        .bind(&alert.status)
        .bind(alert.attempts)
        .bind(&alert.last_error)
        .bind(alert.next_attempt_at.trunc_subsecs(6))
        .bind(alert.delivered_at.map(|t| t.trunc_subsecs(6)))
        .bind(&alert.payload)
        .bind(alert.id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Database(sqlx::Error::RowNotFound));
        }
        Ok(())
    }

    async fn snapshot_keys(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT domain, module, COUNT(*) AS versions FROM snapshots \
             GROUP BY domain, module ORDER BY domain, module",
        )
        .fetch_all(&self.pool)
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
        let mut tx = self.pool.begin().await?;
        // Same lock as save_snapshot: "latest" cannot change under us.
        lock_module(&mut tx, domain, module).await?;
        let latest: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(version) FROM snapshots WHERE domain = $1 AND module = $2",
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
        let deleted = sqlx::query(
            "DELETE FROM snapshots WHERE domain = $1 AND module = $2 AND version = ANY($3)",
        )
        .bind(domain)
        .bind(module)
        .bind(delete_versions)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if let Some(base) = new_base {
            let done = sqlx::query(
                "UPDATE snapshots SET patch = NULL \
                 WHERE domain = $1 AND module = $2 AND version = $3",
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
}

/// Takes the transaction-scoped advisory lock for one (domain, module). The 64-bit key combines
/// two 32-bit hashes, so unrelated modules practically never share a lock (and if they did, they
/// would only wait for each other, never corrupt anything).
async fn lock_module(
    conn: &mut PgConnection,
    domain: &str,
    module: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "SELECT pg_advisory_xact_lock((hashtext($1)::bigint << 32) | (hashtext($2)::bigint & 4294967295))",
    )
    .bind(domain)
    .bind(module)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Now, truncated to the precision the database keeps, so what the store returns equals what it
/// later reads back.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
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

fn corrupt(table: &'static str, detail: String) -> StoreError {
    StoreError::Corrupt { table, detail }
}

/// Reads one column; a type mismatch is a corrupt row, not a panic.
fn col<'r, T>(row: &'r PgRow, table: &'static str, name: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    row.try_get(name)
        .map_err(|e| corrupt(table, format!("column {name}: {e}")))
}

fn job_from_row(row: &PgRow) -> Result<Job, StoreError> {
    const T: &str = "jobs";
    let status: String = col(row, T, "status")?;
    Ok(Job {
        id: col(row, T, "id")?,
        label: col(row, T, "label")?,
        status: JobStatus::parse(&status)
            .ok_or_else(|| corrupt(T, format!("unknown job status {status:?}")))?,
        created_at: col(row, T, "created_at")?,
        finished_at: col(row, T, "finished_at")?,
    })
}

fn item_from_row(row: &PgRow) -> Result<WorkItem, StoreError> {
    const T: &str = "work_items";
    let status: String = col(row, T, "status")?;
    Ok(WorkItem {
        job_id: col(row, T, "job_id")?,
        domain: col(row, T, "domain")?,
        module: col(row, T, "module")?,
        status: ItemStatus::parse(&status)
            .ok_or_else(|| corrupt(T, format!("unknown item status {status:?}")))?,
        attempts: col(row, T, "attempts")?,
        error: col(row, T, "error")?,
        started_at: col(row, T, "started_at")?,
        finished_at: col(row, T, "finished_at")?,
        version: col(row, T, "version")?,
    })
}

fn snapshot_from_row(row: &PgRow) -> Result<Snapshot, StoreError> {
    const T: &str = "snapshots";
    Ok(Snapshot {
        domain: col(row, T, "domain")?,
        module: col(row, T, "module")?,
        version: col(row, T, "version")?,
        data: col::<Value>(row, T, "data")?,
        citations: col::<Value>(row, T, "citations")?,
        content_hash: col(row, T, "content_hash")?,
        fetched_at: col(row, T, "fetched_at")?,
        checked_at: col(row, T, "checked_at")?,
        created_at: col(row, T, "created_at")?,
        job_id: col(row, T, "job_id")?,
        patch: col::<Option<Value>>(row, T, "patch")?,
    })
}

fn event_from_row(row: &PgRow) -> Result<ChangeEvent, StoreError> {
    const T: &str = "change_events";
    Ok(ChangeEvent {
        id: col(row, T, "id")?,
        domain: col(row, T, "domain")?,
        module: col(row, T, "module")?,
        version: col(row, T, "version")?,
        path: col(row, T, "path")?,
        kind: {
            let text: String = col(row, T, "kind")?;
            pforge_core::ChangeKind::parse(&text)
                .ok_or_else(|| corrupt(T, format!("unknown change kind {text:?}")))?
        },
        old_value: col::<Option<Value>>(row, T, "old_value")?,
        new_value: col::<Option<Value>>(row, T, "new_value")?,
        significance: col(row, T, "significance")?,
        level: {
            let text: String = col(row, T, "level")?;
            pforge_core::Level::parse(&text)
                .ok_or_else(|| corrupt(T, format!("unknown level {text:?}")))?
        },
        rule: col(row, T, "rule")?,
        detected_at: col(row, T, "detected_at")?,
    })
}

fn alert_from_row(row: &PgRow) -> Result<Alert, StoreError> {
    const T: &str = "alerts";
    Ok(Alert {
        id: col(row, T, "id")?,
        rule: col(row, T, "rule")?,
        recipient: col(row, T, "recipient")?,
        channel: col(row, T, "channel")?,
        delivery: col(row, T, "delivery")?,
        domain: col(row, T, "domain")?,
        payload: col::<Value>(row, T, "payload")?,
        status: col(row, T, "status")?,
        attempts: col(row, T, "attempts")?,
        last_error: col(row, T, "last_error")?,
        created_at: col(row, T, "created_at")?,
        next_attempt_at: col(row, T, "next_attempt_at")?,
        delivered_at: col(row, T, "delivered_at")?,
    })
}

async fn latest_in(
    conn: &mut PgConnection,
    domain: &str,
    module: &str,
) -> Result<Option<Snapshot>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {SNAP_COLS} FROM snapshots WHERE domain = $1 AND module = $2 \
         ORDER BY version DESC LIMIT 1"
    ))
    .bind(domain)
    .bind(module)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(snapshot_from_row).transpose()
}

async fn insert_event(conn: &mut PgConnection, e: &ChangeEvent) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO change_events ({EVENT_COLS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(e.id)
    .bind(&e.domain)
    .bind(&e.module)
    .bind(e.version)
    .bind(&e.path)
    .bind(e.kind.as_str())
    .bind(&e.old_value)
    .bind(&e.new_value)
    .bind(e.significance)
    .bind(e.level.as_str())
    .bind(&e.rule)
    .bind(e.detected_at.trunc_subsecs(6))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn insert_alert(conn: &mut PgConnection, a: &Alert) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO alerts ({ALERT_COLS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    ))
    .bind(a.id)
    .bind(&a.rule)
    .bind(&a.recipient)
    .bind(&a.channel)
    .bind(&a.delivery)
    .bind(&a.domain)
    .bind(&a.payload)
    .bind(&a.status)
    .bind(a.attempts)
    .bind(&a.last_error)
    .bind(a.created_at.trunc_subsecs(6))
    .bind(a.next_attempt_at.trunc_subsecs(6))
    .bind(a.delivered_at.map(|t| t.trunc_subsecs(6)))
    .execute(&mut *conn)
    .await?;
    Ok(())
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
