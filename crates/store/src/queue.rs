//! The shared work queue (`pforge enrich --enqueue` + `pforge worker`) and shared request pacing.
//!
//! One row per (job, domain). Workers claim small batches, hold a lease renewed by heartbeat, and
//! complete each row when its domain finishes; a worker that dies stops renewing, its lease
//! expires and another worker claims the row again (attempts + 1; after [`MAX_QUEUE_ATTEMPTS`]
//! the row is failed instead of being retried forever). Re-running a domain is safe because
//! snapshots are keyed: a (job, domain, module) stores at most one version (see
//! [`crate::Store::save_snapshot`]) and charges carry a call key, so a retry never adds a second
//! version or a second charge for the same call.
//!
//! The functions here are the two backends' implementations; [`crate::Store`] exposes them.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::StoreError;

/// Claims of one row before it is given up as failed: a domain that takes down every worker
/// that touches it must not take down the fleet forever.
pub const MAX_QUEUE_ATTEMPTS: i64 = 5;

/// PostgreSQL channel that wakes idle workers when work is enqueued or released.
pub const QUEUE_CHANNEL: &str = "pforge_queue";

/// Lifecycle of one queued (job, domain).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum QueueStatus {
    /// Waiting for a worker.
    Pending,
    /// Claimed by a worker whose lease may or may not have expired.
    Running,
    /// Every module of the domain was run (module failures are recorded per module, not here).
    Done,
    /// Given up (too many lost leases) or failed before its modules could run.
    Failed,
    /// Its job was cancelled before a worker claimed it.
    Cancelled,
}

impl QueueStatus {
    /// Stable text used in the database and in `--json` output.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueStatus::Pending => "pending",
            QueueStatus::Running => "running",
            QueueStatus::Done => "done",
            QueueStatus::Failed => "failed",
            QueueStatus::Cancelled => "cancelled",
        }
    }

    /// Inverse of [`QueueStatus::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => QueueStatus::Pending,
            "running" => QueueStatus::Running,
            "done" => QueueStatus::Done,
            "failed" => QueueStatus::Failed,
            "cancelled" => QueueStatus::Cancelled,
            _ => return None,
        })
    }
}

/// A claimed queue row, as a worker sees it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QueueItem {
    /// Row id: what heartbeats, completion and release name.
    pub id: i64,
    pub job_id: Uuid,
    /// Normalized domain (as enqueued).
    pub domain: String,
    /// Claims so far, this one included (more than 1 means a previous holder lost its lease).
    pub attempts: i64,
}

fn corrupt(detail: String) -> StoreError {
    StoreError::Corrupt {
        table: "queue",
        detail,
    }
}

fn parse_status(s: &str) -> Result<QueueStatus, StoreError> {
    QueueStatus::parse(s).ok_or_else(|| corrupt(format!("unknown queue status {s:?}")))
}

fn chrono_lease(lease: Duration) -> chrono::Duration {
    chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::days(1))
}

/// Offset of the first reserved slot from "now", in GCRA terms (see `reserve_rate_slots`).
fn offset(secs: f64) -> Duration {
    if secs.is_finite() && secs > 0.0 {
        Duration::from_secs_f64(secs)
    } else {
        Duration::ZERO
    }
}

pub(crate) mod sqlite {
    //! Single-node queue over SQLite: every mutation runs under `BEGIN IMMEDIATE` on the store's
    //! one writer connection (and the file lock across processes), so claims never overlap.

    use super::*;
    use sqlx::{Row, SqliteConnection, SqlitePool};

    fn ts(t: DateTime<Utc>) -> String {
        t.trunc_subsecs(6)
            .to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    fn uuid(text: &str) -> Result<Uuid, StoreError> {
        Uuid::parse_str(text).map_err(|e| corrupt(format!("job_id {text:?}: {e}")))
    }

    async fn finish_if_drained(
        conn: &mut SqliteConnection,
        job: &str,
        now: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET status = 'completed', finished_at = ?1 \
             WHERE id = ?2 AND status = 'running' AND NOT EXISTS \
             (SELECT 1 FROM queue WHERE job_id = ?2 AND status IN ('pending', 'running'))",
        )
        .bind(now)
        .bind(job)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    pub(crate) async fn enqueue_job(
        writer: &SqlitePool,
        id: Uuid,
        label: &str,
        domains: &[String],
    ) -> Result<crate::Job, StoreError> {
        let created = Utc::now().trunc_subsecs(6);
        let now = ts(created);
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("INSERT INTO jobs (id, label, status, created_at) VALUES (?, ?, 'running', ?)")
            .bind(id.to_string())
            .bind(label)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        for domain in domains {
            sqlx::query(
                "INSERT INTO queue (job_id, domain, status, enqueued_at) \
                 VALUES (?, ?, 'pending', ?) ON CONFLICT DO NOTHING",
            )
            .bind(id.to_string())
            .bind(domain)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        finish_if_drained(&mut tx, &id.to_string(), &now).await?;
        let status: String = sqlx::query_scalar("SELECT status FROM jobs WHERE id = ?")
            .bind(id.to_string())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(crate::Job {
            id,
            label: label.to_string(),
            status: crate::JobStatus::parse(&status)
                .ok_or_else(|| corrupt(format!("job status {status:?}")))?,
            created_at: created,
            finished_at: (status != "running").then_some(created),
        })
    }

    pub(crate) async fn claim(
        writer: &SqlitePool,
        owner: &str,
        job: Option<Uuid>,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<QueueItem>, StoreError> {
        let now_t = Utc::now();
        let now = ts(now_t);
        let until = ts(now_t + chrono_lease(lease));
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        // Rows whose holders died too often are given up, not retried forever.
        let poisoned: Vec<String> = sqlx::query_scalar(
            "UPDATE queue SET status = 'failed', finished_at = ?1, lease_owner = NULL, \
             lease_expires_at = NULL, error = 'gave up: the worker holding it was lost ' || attempts || ' times' \
             WHERE status IN ('pending', 'running') AND status = 'running' \
             AND lease_expires_at < ?1 AND attempts >= ?2 RETURNING job_id",
        )
        .bind(&now)
        .bind(MAX_QUEUE_ATTEMPTS)
        .fetch_all(&mut *tx)
        .await?;
        for j in &poisoned {
            finish_if_drained(&mut tx, j, &now).await?;
        }
        let job: Option<String> = match job {
            Some(j) => Some(j.to_string()),
            None => {
                sqlx::query_scalar(
                    "SELECT q.job_id FROM queue q JOIN jobs j ON j.id = q.job_id \
                     WHERE q.status IN ('pending', 'running') \
                     AND (q.status = 'pending' OR q.lease_expires_at < ?) \
                     AND j.status = 'running' ORDER BY q.id LIMIT 1",
                )
                .bind(&now)
                .fetch_optional(&mut *tx)
                .await?
            }
        };
        let Some(job) = job else {
            tx.commit().await?;
            return Ok(Vec::new());
        };
        let rows = sqlx::query(
            "UPDATE queue SET status = 'running', lease_owner = ?1, lease_expires_at = ?2, \
             attempts = attempts + 1 WHERE id IN (SELECT q.id FROM queue q \
             WHERE q.job_id = ?3 AND q.status IN ('pending', 'running') \
             AND (q.status = 'pending' OR q.lease_expires_at < ?4) AND q.attempts < ?5 \
             AND EXISTS (SELECT 1 FROM jobs j WHERE j.id = q.job_id AND j.status = 'running') \
             ORDER BY q.id LIMIT ?6) RETURNING id, job_id, domain, attempts",
        )
        .bind(owner)
        .bind(&until)
        .bind(&job)
        .bind(&now)
        .bind(MAX_QUEUE_ATTEMPTS)
        .bind(limit.max(0))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut items = rows
            .iter()
            .map(|r| {
                Ok(QueueItem {
                    id: r.try_get("id")?,
                    job_id: uuid(&r.try_get::<String, _>("job_id")?)?,
                    domain: r.try_get("domain")?,
                    attempts: r.try_get("attempts")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        items.sort_by_key(|i| i.id);
        Ok(items)
    }

    pub(crate) async fn heartbeat(
        writer: &SqlitePool,
        owner: &str,
        ids: &[i64],
        lease: Duration,
    ) -> Result<Vec<i64>, StoreError> {
        let until = ts(Utc::now() + chrono_lease(lease));
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let mut held = Vec::new();
        for id in ids {
            let done = sqlx::query(
                "UPDATE queue SET lease_expires_at = ? \
                 WHERE id = ? AND lease_owner = ? AND status = 'running'",
            )
            .bind(&until)
            .bind(id)
            .bind(owner)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() > 0 {
                held.push(*id);
            }
        }
        tx.commit().await?;
        Ok(held)
    }

    pub(crate) async fn complete(
        writer: &SqlitePool,
        owner: &str,
        id: i64,
        status: QueueStatus,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        if !matches!(status, QueueStatus::Done | QueueStatus::Failed) {
            return Err(StoreError::Invalid(format!(
                "a queue item is completed as done or failed, not {}",
                status.as_str()
            )));
        }
        let now = ts(Utc::now());
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let job: Option<String> = sqlx::query_scalar(
            "UPDATE queue SET status = ?, finished_at = ?, error = ?, lease_owner = NULL, \
             lease_expires_at = NULL WHERE id = ? AND lease_owner = ? AND status = 'running' \
             RETURNING job_id",
        )
        .bind(status.as_str())
        .bind(&now)
        .bind(error)
        .bind(id)
        .bind(owner)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(job) = job else {
            return Ok(false);
        };
        finish_if_drained(&mut tx, &job, &now).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub(crate) async fn release(
        writer: &SqlitePool,
        owner: &str,
        ids: &[i64],
    ) -> Result<u64, StoreError> {
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let mut n = 0;
        for id in ids {
            n += sqlx::query(
                "UPDATE queue SET status = 'pending', lease_owner = NULL, \
                 lease_expires_at = NULL, attempts = MAX(attempts - 1, 0) \
                 WHERE id = ? AND lease_owner = ? AND status = 'running'",
            )
            .bind(id)
            .bind(owner)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    pub(crate) async fn cancel_pending(
        conn: &mut SqliteConnection,
        job: Uuid,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE queue SET status = 'cancelled', finished_at = ? \
             WHERE job_id = ? AND status = 'pending'",
        )
        .bind(ts(now))
        .bind(job.to_string())
        .execute(&mut *conn)
        .await?
        .rows_affected())
    }

    pub(crate) async fn counts(
        reader: &SqlitePool,
        job: Uuid,
    ) -> Result<BTreeMap<QueueStatus, i64>, StoreError> {
        let rows =
            sqlx::query("SELECT status, COUNT(*) AS n FROM queue WHERE job_id = ? GROUP BY status")
                .bind(job.to_string())
                .fetch_all(reader)
                .await?;
        let mut out = BTreeMap::new();
        for r in &rows {
            let s: String = r.try_get("status")?;
            out.insert(parse_status(&s)?, r.try_get::<i64, _>("n")?);
        }
        Ok(out)
    }

    pub(crate) async fn prune(
        writer: &SqlitePool,
        before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let n = sqlx::query(
            "DELETE FROM queue WHERE status IN ('done', 'failed', 'cancelled') \
             AND finished_at < ?",
        )
        .bind(ts(before))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    pub(crate) async fn reserve_rate_slots(
        writer: &SqlitePool,
        bucket: &str,
        interval: Duration,
        count: u32,
    ) -> Result<Duration, StoreError> {
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let now = Utc::now().timestamp_micros() as f64 / 1e6;
        let tat: Option<f64> = sqlx::query_scalar("SELECT tat FROM rate_buckets WHERE bucket = ?")
            .bind(bucket)
            .fetch_optional(&mut *tx)
            .await?;
        let start = tat.unwrap_or(now).max(now);
        let next = start + interval.as_secs_f64() * f64::from(count);
        sqlx::query(
            "INSERT INTO rate_buckets (bucket, tat) VALUES (?1, ?2) \
             ON CONFLICT (bucket) DO UPDATE SET tat = ?2",
        )
        .bind(bucket)
        .bind(next)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(offset(start - now))
    }
}

pub(crate) mod postgres {
    //! Multi-node queue over PostgreSQL: claims lock candidate rows with `FOR UPDATE SKIP
    //! LOCKED`, so concurrent claimers never wait for or double-claim each other's rows; leases
    //! use the database clock, so machines with skewed clocks agree on expiry.

    use super::*;
    use sqlx::postgres::{PgListener, PgPool};
    use sqlx::{PgConnection, Row};
    use std::sync::Arc;

    async fn finish_if_drained(conn: &mut PgConnection, job: Uuid) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET status = 'completed', finished_at = date_trunc('microseconds', now()) \
             WHERE id = $1 AND status = 'running' AND NOT EXISTS \
             (SELECT 1 FROM queue WHERE job_id = $1 AND status IN ('pending', 'running'))",
        )
        .bind(job)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Locks a job row before a drained-check inside a transaction that also closed rows.
    async fn lock_job(conn: &mut PgConnection, job: Uuid) -> Result<(), StoreError> {
        sqlx::query("SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE")
            .bind(job)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn notify(conn: &mut PgConnection) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(QUEUE_CHANNEL)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    pub(crate) async fn enqueue_job(
        pool: &PgPool,
        id: Uuid,
        label: &str,
        domains: &[String],
    ) -> Result<crate::Job, StoreError> {
        let created = Utc::now().trunc_subsecs(6);
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO jobs (id, label, status, created_at) VALUES ($1, $2, 'running', $3)",
        )
        .bind(id)
        .bind(label)
        .bind(created)
        .execute(&mut *tx)
        .await?;
        for chunk in domains.chunks(10_000) {
            sqlx::query(
                "INSERT INTO queue (job_id, domain, status, enqueued_at) \
                 SELECT $1, d, 'pending', $3 FROM unnest($2::text[]) WITH ORDINALITY AS t(d, n) \
                 ORDER BY n ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(chunk)
            .bind(created)
            .execute(&mut *tx)
            .await?;
        }
        finish_if_drained(&mut tx, id).await?;
        let row = sqlx::query("SELECT status, finished_at FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        notify(&mut tx).await?;
        tx.commit().await?;
        let status: String = row.try_get("status")?;
        Ok(crate::Job {
            id,
            label: label.to_string(),
            status: crate::JobStatus::parse(&status)
                .ok_or_else(|| corrupt(format!("job status {status:?}")))?,
            created_at: created,
            finished_at: row.try_get("finished_at")?,
        })
    }

    pub(crate) async fn claim(
        pool: &PgPool,
        owner: &str,
        job: Option<Uuid>,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<QueueItem>, StoreError> {
        let lease_secs = lease.as_secs_f64();
        let mut tx = pool.begin().await?;
        let poisoned: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE queue SET status = 'failed', finished_at = date_trunc('microseconds', now()), \
             lease_owner = NULL, lease_expires_at = NULL, \
             error = 'gave up: the worker holding it was lost ' || attempts || ' times' \
             WHERE id IN (SELECT id FROM queue WHERE status IN ('pending', 'running') \
             AND status = 'running' AND lease_expires_at < now() AND attempts >= $1 \
             FOR UPDATE SKIP LOCKED) RETURNING job_id",
        )
        .bind(MAX_QUEUE_ATTEMPTS as i32)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut jobs = poisoned;
        jobs.sort();
        jobs.dedup();
        for j in jobs {
            let mut tx = pool.begin().await?;
            lock_job(&mut tx, j).await?;
            finish_if_drained(&mut tx, j).await?;
            tx.commit().await?;
        }

        let job = match job {
            Some(j) => Some(j),
            None => {
                sqlx::query_scalar(
                    "SELECT q.job_id FROM queue q JOIN jobs j ON j.id = q.job_id \
                     WHERE q.status IN ('pending', 'running') \
                     AND (q.status = 'pending' OR q.lease_expires_at < now()) \
                     AND q.attempts < $1 AND j.status = 'running' ORDER BY q.id LIMIT 1",
                )
                .bind(MAX_QUEUE_ATTEMPTS as i32)
                .fetch_optional(pool)
                .await?
            }
        };
        let Some(job) = job else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(
            "UPDATE queue q SET status = 'running', lease_owner = $1, \
             lease_expires_at = now() + make_interval(secs => $2), attempts = q.attempts + 1 \
             WHERE q.id IN (SELECT c.id FROM queue c \
               WHERE c.job_id = $3 AND c.status IN ('pending', 'running') \
               AND (c.status = 'pending' OR c.lease_expires_at < now()) AND c.attempts < $4 \
               AND EXISTS (SELECT 1 FROM jobs j WHERE j.id = c.job_id AND j.status = 'running') \
               ORDER BY c.id LIMIT $5 FOR UPDATE SKIP LOCKED) \
             RETURNING q.id, q.job_id, q.domain, q.attempts",
        )
        .bind(owner)
        .bind(lease_secs)
        .bind(job)
        .bind(MAX_QUEUE_ATTEMPTS as i32)
        .bind(limit.max(0))
        .fetch_all(pool)
        .await?;
        let mut items = rows
            .iter()
            .map(|r| {
                Ok(QueueItem {
                    id: r.try_get("id")?,
                    job_id: r.try_get("job_id")?,
                    domain: r.try_get("domain")?,
                    attempts: i64::from(r.try_get::<i32, _>("attempts")?),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        items.sort_by_key(|i| i.id);
        Ok(items)
    }

    pub(crate) async fn heartbeat(
        pool: &PgPool,
        owner: &str,
        ids: &[i64],
        lease: Duration,
    ) -> Result<Vec<i64>, StoreError> {
        let mut held: Vec<i64> = sqlx::query_scalar(
            "UPDATE queue SET lease_expires_at = now() + make_interval(secs => $1) \
             WHERE id = ANY($2) AND lease_owner = $3 AND status = 'running' RETURNING id",
        )
        .bind(lease.as_secs_f64())
        .bind(ids)
        .bind(owner)
        .fetch_all(pool)
        .await?;
        held.sort_unstable();
        Ok(held)
    }

    pub(crate) async fn complete(
        pool: &PgPool,
        owner: &str,
        id: i64,
        status: QueueStatus,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        if !matches!(status, QueueStatus::Done | QueueStatus::Failed) {
            return Err(StoreError::Invalid(format!(
                "a queue item is completed as done or failed, not {}",
                status.as_str()
            )));
        }
        let job: Option<Uuid> = sqlx::query_scalar(
            "UPDATE queue SET status = $1, finished_at = date_trunc('microseconds', now()), \
             error = $2, lease_owner = NULL, lease_expires_at = NULL \
             WHERE id = $3 AND lease_owner = $4 AND status = 'running' RETURNING job_id",
        )
        .bind(status.as_str())
        .bind(error)
        .bind(id)
        .bind(owner)
        .fetch_optional(pool)
        .await?;
        let Some(job) = job else {
            return Ok(false);
        };
        // Checked after the row's commit, in a statement of its own: of two workers closing a
        // job's last rows at once, the later check sees both commits, so the job is completed
        // exactly when drained, without serialising every completion on the job row.
        finish_if_drained(&mut *pool.acquire().await?, job).await?;
        Ok(true)
    }

    pub(crate) async fn release(
        pool: &PgPool,
        owner: &str,
        ids: &[i64],
    ) -> Result<u64, StoreError> {
        let mut tx = pool.begin().await?;
        let n = sqlx::query(
            "UPDATE queue SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, \
             attempts = GREATEST(attempts - 1, 0) \
             WHERE id = ANY($1) AND lease_owner = $2 AND status = 'running'",
        )
        .bind(ids)
        .bind(owner)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n > 0 {
            notify(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(n)
    }

    pub(crate) async fn cancel_pending(
        conn: &mut PgConnection,
        job: Uuid,
    ) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE queue SET status = 'cancelled', finished_at = date_trunc('microseconds', now()) \
             WHERE job_id = $1 AND status = 'pending'",
        )
        .bind(job)
        .execute(&mut *conn)
        .await?
        .rows_affected())
    }

    pub(crate) async fn counts(
        pool: &PgPool,
        job: Uuid,
    ) -> Result<BTreeMap<QueueStatus, i64>, StoreError> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM queue WHERE job_id = $1 GROUP BY status",
        )
        .bind(job)
        .fetch_all(pool)
        .await?;
        let mut out = BTreeMap::new();
        for r in &rows {
            let s: String = r.try_get("status")?;
            out.insert(parse_status(&s)?, r.try_get::<i64, _>("n")?);
        }
        Ok(out)
    }

    pub(crate) async fn prune(pool: &PgPool, before: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "DELETE FROM queue WHERE status IN ('done', 'failed', 'cancelled') AND finished_at < $1",
        )
        .bind(before)
        .execute(pool)
        .await?
        .rows_affected())
    }

    /// GCRA in one statement: the row's theoretical arrival time moves to
    /// `max(tat, now) + count * interval`; the caller learns where its first slot starts.
    pub(crate) async fn reserve_rate_slots(
        pool: &PgPool,
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
        .fetch_one(pool)
        .await?;
        Ok(offset(ahead - span))
    }

    /// A lazily opened `LISTEN` connection shared by clones of one store.
    #[derive(Clone, Default)]
    pub(crate) struct Waker {
        listener: Arc<tokio::sync::Mutex<Option<PgListener>>>,
    }

    impl std::fmt::Debug for Waker {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Waker")
        }
    }

    impl Waker {
        /// Returns when a notification arrives on [`QUEUE_CHANNEL`] or `timeout` passes.
        /// Notifications sent while nobody waited are buffered by the connection, so a wake-up
        /// between two waits is not lost.
        pub(crate) async fn wait(
            &self,
            pool: &PgPool,
            timeout: Duration,
        ) -> Result<(), StoreError> {
            let mut guard = self.listener.lock().await;
            if guard.is_none() {
                let mut l = PgListener::connect_with(pool).await?;
                l.listen(QUEUE_CHANNEL).await?;
                *guard = Some(l);
            }
            let Some(listener) = guard.as_mut() else {
                return Ok(());
            };
            match tokio::time::timeout(timeout, listener.recv()).await {
                Ok(Ok(_)) | Err(_) => Ok(()),
                Ok(Err(e)) => {
                    // Reconnect on the next wait; polling covers the gap.
                    *guard = None;
                    Err(StoreError::Database(e))
                }
            }
        }
    }
}
