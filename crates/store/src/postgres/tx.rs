//! The write-transaction primitives over PostgreSQL (READ COMMITTED). Locks are row locks
//! (`FOR UPDATE`, `SKIP LOCKED` where a claimer should pass over rows others hold) and
//! transaction-scoped advisory locks per (domain, module); multi-row writes bind one array per
//! column and `unnest` them, so each statement's text is fixed (prepared once) whatever the
//! batch size. Lease times use the database clock.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use sqlx::{PgPool, Postgres, Row, Transaction};
use uuid::Uuid;

use super::Cells;
use crate::backend::{ChargeTx, JobTx, QueueTx, SnapshotRow, SnapshotTx, WriteTx};
use crate::rows::{self, Cols, ALERT_COLS, EVENT_COLS, ITEM_COLS, JOB_COLS, SNAP_COLS};
use crate::{
    Alert, ChangeEvent, ChargeRecord, Job, JobStatus, QueueItem, QueueStatus, Snapshot, SpendCap,
    StoreError, WorkItem, QUEUE_CHANNEL,
};

/// One transaction on a pooled connection.
pub(super) struct PgTx {
    pub(super) tx: Transaction<'static, Postgres>,
    /// The fields the accounts summary follows (see [`crate::backend::AccountTx`]).
    pub(super) fields: Option<std::sync::Arc<crate::AccountFields>>,
}

impl PgTx {
    pub(super) async fn begin(
        pool: &PgPool,
        fields: Option<std::sync::Arc<crate::AccountFields>>,
    ) -> Result<Self, StoreError> {
        Ok(PgTx {
            tx: pool.begin().await?,
            fields,
        })
    }

    /// Adds domains to the target list (duplicates collapse; listed ones keep their
    /// `added_at`); returns how many were new.
    pub(super) async fn insert_targets(&mut self, domains: &[String]) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "INSERT INTO targets (domain, added_at) SELECT DISTINCT d, $2 FROM unnest($1::text[]) \
             AS t(d) ON CONFLICT (domain) DO NOTHING",
        )
        .bind(domains)
        .bind(crate::now())
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected())
    }

    /// Drops domains from the target list; returns how many were listed.
    pub(super) async fn delete_targets(&mut self, domains: &[String]) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM targets WHERE domain = ANY($1::text[])")
            .bind(domains)
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl WriteTx for PgTx {
    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        Ok(self.tx.commit().await?)
    }
}

/// One column of a batch, as one array parameter.
fn column<'a, K, T>(keys: &'a [K], pick: impl Fn(&'a K) -> T) -> Vec<T> {
    keys.iter().map(pick).collect()
}

#[async_trait]
impl SnapshotTx for PgTx {
    /// One advisory lock per key, taken in lock-key order so that two batches over overlapping
    /// keys queue behind each other instead of deadlocking; then one index seek per key.
    async fn lock_latest(&mut self, keys: &[(&str, &str)]) -> Result<Vec<Snapshot>, StoreError> {
        let (domains, modules) = (column(keys, |k| k.0), column(keys, |k| k.1));
        sqlx::query(
            "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT \
             (hashtext(d)::bigint << 32) | (hashtext(m)::bigint & 4294967295) AS k \
             FROM unnest($1::text[], $2::text[]) AS t(d, m)) AS keys ORDER BY k",
        )
        .bind(&domains)
        .bind(&modules)
        .execute(&mut *self.tx)
        .await?;
        // A statement of its own: READ COMMITTED takes its snapshot after the locks are held.
        let rows = sqlx::query(&format!(
            "SELECT s.* FROM unnest($1::text[], $2::text[]) AS t(d, m) CROSS JOIN LATERAL \
             (SELECT {SNAP_COLS} FROM snapshots WHERE domain = t.d AND module = t.m \
              ORDER BY version DESC LIMIT 1) AS s"
        ))
        .bind(&domains)
        .bind(&modules)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.into_iter()
            .map(|r| rows::snapshot(&Cells::new(r, "snapshots")))
            .collect()
    }

    async fn versions_for_jobs(
        &mut self,
        keys: &[(&str, &str, Uuid)],
    ) -> Result<Vec<(String, String, Uuid, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT domain, module, job_id, MAX(version) AS version FROM snapshots \
             JOIN unnest($1::text[], $2::text[], $3::uuid[]) AS t(d, m, j) \
             ON domain = t.d AND module = t.m AND job_id = t.j GROUP BY domain, module, job_id",
        )
        .bind(column(keys, |k| k.0))
        .bind(column(keys, |k| k.1))
        .bind(column(keys, |k| k.2))
        .fetch_all(&mut *self.tx)
        .await?;
        rows.into_iter()
            .map(|r| {
                let c = Cells::new(r, "snapshots");
                Ok((
                    c.text("domain")?,
                    c.text("module")?,
                    c.uuid("job_id")?,
                    c.int("version")?,
                ))
            })
            .collect()
    }

    async fn touch_checked(
        &mut self,
        versions: &[(&str, &str, i64)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE snapshots AS s SET checked_at = $1 \
             FROM unnest($2::text[], $3::text[], $4::bigint[]) AS t(d, m, v) \
             WHERE s.domain = t.d AND s.module = t.m AND s.version = t.v",
        )
        .bind(at)
        .bind(column(versions, |v| v.0))
        .bind(column(versions, |v| v.1))
        .bind(column(versions, |v| v.2))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn insert_snapshots(&mut self, rows: &[SnapshotRow<'_>]) -> Result<(), StoreError> {
        // Data and citations go as the JSON text the executor already wrote, when it did.
        let data = column(rows, |r| r.new.data_text());
        let citations = column(rows, |r| r.new.citations_text());
        sqlx::query(&format!(
            "INSERT INTO snapshots ({SNAP_COLS}) SELECT d, m, v, data::jsonb, c::jsonb, h, f, a, \
             a, j, p \
             FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], \
             $6::text[], $7::timestamptz[], $8::timestamptz[], $9::uuid[], $10::jsonb[]) \
             WITH ORDINALITY AS t(d, m, v, data, c, h, f, a, j, p, n) ORDER BY n"
        ))
        .bind(column(rows, |r| r.new.domain.as_str()))
        .bind(column(rows, |r| r.new.module.as_str()))
        .bind(column(rows, |r| r.version))
        .bind(column(&data, |t| t.as_ref()))
        .bind(column(&citations, |t| t.as_ref()))
        .bind(column(rows, |r| r.new.content_hash.as_str()))
        .bind(column(rows, |r| r.new.fetched_at.trunc_subsecs(6)))
        .bind(column(rows, |r| r.at))
        .bind(column(rows, |r| r.new.job_id))
        .bind(column(rows, |r| r.patch.as_ref()))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn insert_events(&mut self, events: &[&ChangeEvent]) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO change_events ({EVENT_COLS}) SELECT * FROM unnest($1::uuid[], \
             $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::jsonb[], \
             $8::jsonb[], $9::bigint[], $10::text[], $11::text[], $12::timestamptz[])"
        ))
        .bind(column(events, |e| e.id))
        .bind(column(events, |e| e.domain.as_str()))
        .bind(column(events, |e| e.module.as_str()))
        .bind(column(events, |e| e.version))
        .bind(column(events, |e| e.path.as_str()))
        .bind(column(events, |e| e.kind.as_str()))
        .bind(column(events, |e| e.old_value.as_ref()))
        .bind(column(events, |e| e.new_value.as_ref()))
        .bind(column(events, |e| e.significance))
        .bind(column(events, |e| e.level.as_str()))
        .bind(column(events, |e| e.rule.as_str()))
        .bind(column(events, |e| e.detected_at.trunc_subsecs(6)))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn insert_alerts(&mut self, alerts: &[&Alert]) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO alerts ({ALERT_COLS}) SELECT * FROM unnest($1::uuid[], $2::text[], \
             $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::text[], \
             $9::bigint[], $10::text[], $11::timestamptz[], $12::timestamptz[], \
             $13::timestamptz[])"
        ))
        .bind(column(alerts, |a| a.id))
        .bind(column(alerts, |a| a.rule.as_str()))
        .bind(column(alerts, |a| a.recipient.as_str()))
        .bind(column(alerts, |a| a.channel.as_str()))
        .bind(column(alerts, |a| a.delivery.as_str()))
        .bind(column(alerts, |a| a.domain.as_str()))
        .bind(column(alerts, |a| &a.payload))
        .bind(column(alerts, |a| a.status.as_str()))
        .bind(column(alerts, |a| a.attempts))
        .bind(column(alerts, |a| a.last_error.as_deref()))
        .bind(column(alerts, |a| a.created_at.trunc_subsecs(6)))
        .bind(column(alerts, |a| a.next_attempt_at.trunc_subsecs(6)))
        .bind(column(alerts, |a| {
            a.delivered_at.map(|t| t.trunc_subsecs(6))
        }))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn delete_versions(
        &mut self,
        domain: &str,
        module: &str,
        versions: &[i64],
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM snapshots WHERE domain = $1 AND module = $2 AND version = ANY($3)",
        )
        .bind(domain)
        .bind(module)
        .bind(versions)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected())
    }

    async fn clear_patch(
        &mut self,
        domain: &str,
        module: &str,
        version: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE snapshots SET patch = NULL WHERE domain = $1 AND module = $2 AND version = $3",
        )
        .bind(domain)
        .bind(module)
        .bind(version)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

#[async_trait]
impl JobTx for PgTx {
    async fn insert_job(&mut self, job: &Job) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO jobs ({JOB_COLS}) VALUES ($1, $2, $3, $4, $5, $6)"
        ))
        .bind(job.id)
        .bind(&job.label)
        .bind(&job.spec)
        .bind(job.status.as_str())
        .bind(job.created_at)
        .bind(job.finished_at)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| StoreError::on_insert(e, || format!("job {}", job.id), || "job".into()))?;
        Ok(())
    }

    async fn lock_job(&mut self, id: Uuid) -> Result<Option<JobStatus>, StoreError> {
        let row = sqlx::query("SELECT status FROM jobs WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| Cells::new(r, "jobs").named("status", JobStatus::parse))
            .transpose()
    }

    async fn set_job_status(
        &mut self,
        id: Uuid,
        status: JobStatus,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE jobs SET status = $1, finished_at = $2 WHERE id = $3")
            .bind(status.as_str())
            .bind(at)
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn upsert_items(&mut self, items: &[WorkItem]) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO work_items ({ITEM_COLS}) SELECT * FROM unnest($1::uuid[], $2::text[], \
             $3::text[], $4::text[], $5::bigint[], $6::text[], $7::timestamptz[], \
             $8::timestamptz[], $9::bigint[]) \
             ON CONFLICT (job_id, domain, module) DO UPDATE SET \
             status = excluded.status, attempts = excluded.attempts, error = excluded.error, \
             started_at = excluded.started_at, finished_at = excluded.finished_at, \
             version = excluded.version"
        ))
        .bind(column(items, |i| i.job_id))
        .bind(column(items, |i| i.domain.as_str()))
        .bind(column(items, |i| i.module.as_str()))
        .bind(column(items, |i| i.status.as_str()))
        .bind(column(items, |i| i.attempts))
        .bind(column(items, |i| i.error.as_deref()))
        .bind(column(items, |i| i.started_at))
        .bind(column(items, |i| i.finished_at))
        .bind(column(items, |i| i.version))
        .execute(&mut *self.tx)
        .await
        .map_err(|e| {
            StoreError::on_insert(
                e,
                || "work item".into(),
                || format!("job {} of the work items", items[0].job_id),
            )
        })?;
        Ok(())
    }
}

/// A job id read back from a queue row.
fn queue_job(row: sqlx::postgres::PgRow) -> Result<Uuid, StoreError> {
    Cells::new(row, "queue").uuid("job_id")
}

#[async_trait]
impl QueueTx for PgTx {
    async fn insert_queue_rows(
        &mut self,
        job: Uuid,
        domains: &[String],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO queue (job_id, domain, status, enqueued_at) \
             SELECT $1, d, 'pending', $3 FROM unnest($2::text[]) WITH ORDINALITY AS t(d, n) \
             ORDER BY n ON CONFLICT DO NOTHING",
        )
        .bind(job)
        .bind(domains)
        .bind(at)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn finish_if_drained(&mut self, job: Uuid) -> Result<Option<DateTime<Utc>>, StoreError> {
        let at: Option<DateTime<Utc>> = sqlx::query_scalar(
            "UPDATE jobs SET status = 'completed', finished_at = date_trunc('microseconds', now()) \
             WHERE id = $1 AND status = 'running' AND NOT EXISTS \
             (SELECT 1 FROM queue WHERE job_id = $1 AND status IN ('pending', 'running')) \
             RETURNING finished_at",
        )
        .bind(job)
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(at)
    }

    async fn fail_exhausted(&mut self, max_attempts: i64) -> Result<Vec<Uuid>, StoreError> {
        let rows = sqlx::query(
            "UPDATE queue SET status = 'failed', finished_at = date_trunc('microseconds', now()), \
             lease_owner = NULL, lease_expires_at = NULL, \
             error = 'gave up: the worker holding it was lost ' || attempts || ' times' \
             WHERE id IN (SELECT id FROM queue WHERE status = 'running' \
             AND lease_expires_at < now() AND attempts >= $1 FOR UPDATE SKIP LOCKED) \
             RETURNING job_id",
        )
        .bind(max_attempts)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.into_iter().map(queue_job).collect()
    }

    async fn oldest_claimable_job(
        &mut self,
        max_attempts: i64,
    ) -> Result<Option<Uuid>, StoreError> {
        let row = sqlx::query(
            "SELECT q.job_id FROM queue q JOIN jobs j ON j.id = q.job_id \
             WHERE q.status IN ('pending', 'running') \
             AND (q.status = 'pending' OR q.lease_expires_at < now()) \
             AND q.attempts < $1 AND j.status = 'running' ORDER BY q.id LIMIT 1",
        )
        .bind(max_attempts)
        .fetch_optional(&mut *self.tx)
        .await?;
        row.map(queue_job).transpose()
    }

    async fn claim_rows(
        &mut self,
        owner: &str,
        job: Uuid,
        limit: i64,
        lease: Duration,
        max_attempts: i64,
    ) -> Result<Vec<QueueItem>, StoreError> {
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
        .bind(lease.as_secs_f64())
        .bind(job)
        .bind(max_attempts)
        .bind(limit)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.into_iter()
            .map(|r| rows::queue_item(&Cells::new(r, "queue")))
            .collect()
    }

    async fn extend_leases(
        &mut self,
        owner: &str,
        ids: &[i64],
        lease: Duration,
    ) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            // Rows locked in id order, as fenced writes lock them, so the two never deadlock.
            "UPDATE queue SET lease_expires_at = now() + make_interval(secs => $1) \
             WHERE id IN (SELECT id FROM queue WHERE id = ANY($2) AND lease_owner = $3 \
               AND status = 'running' ORDER BY id FOR UPDATE) RETURNING id",
        )
        .bind(lease.as_secs_f64())
        .bind(ids)
        .bind(owner)
        .fetch_all(&mut *self.tx)
        .await?)
    }

    async fn close_row(
        &mut self,
        owner: &str,
        id: i64,
        status: QueueStatus,
        error: Option<&str>,
    ) -> Result<Option<Uuid>, StoreError> {
        let row = sqlx::query(
            "UPDATE queue SET status = $1, finished_at = date_trunc('microseconds', now()), \
             error = $2, lease_owner = NULL, lease_expires_at = NULL \
             WHERE id = $3 AND lease_owner = $4 AND status = 'running' RETURNING job_id",
        )
        .bind(status.as_str())
        .bind(error)
        .bind(id)
        .bind(owner)
        .fetch_optional(&mut *self.tx)
        .await?;
        row.map(queue_job).transpose()
    }

    async fn close_rows_done(
        &mut self,
        owner: &str,
        ids: &[i64],
    ) -> Result<Vec<(i64, Uuid)>, StoreError> {
        let rows = sqlx::query(
            "UPDATE queue SET status = 'done', finished_at = date_trunc('microseconds', now()), \
             error = NULL, lease_owner = NULL, lease_expires_at = NULL \
             WHERE id = ANY($1) AND lease_owner = $2 AND status = 'running' RETURNING id, job_id",
        )
        .bind(ids)
        .bind(owner)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.into_iter()
            .map(|row| {
                let id: i64 = row
                    .try_get("id")
                    .map_err(|e| crate::rows::corrupt("queue", format!("column id: {e}")))?;
                Ok((id, queue_job(row)?))
            })
            .collect()
    }

    async fn release_rows(&mut self, owner: &str, ids: &[i64]) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE queue SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, \
             attempts = GREATEST(attempts - 1, 0) \
             WHERE id = ANY($1) AND lease_owner = $2 AND status = 'running'",
        )
        .bind(ids)
        .bind(owner)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected())
    }

    async fn lock_leases(
        &mut self,
        job: Uuid,
        domains: &[String],
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT domain, lease_owner, attempts::int8 AS attempts FROM queue \
             WHERE job_id = $1 AND domain = ANY($2) AND status = 'running' \
             AND lease_owner IS NOT NULL ORDER BY id FOR UPDATE",
        )
        .bind(job)
        .bind(domains)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok((
                    r.try_get::<String, _>("domain")?,
                    r.try_get::<String, _>("lease_owner")?,
                    r.try_get::<i64, _>("attempts")?,
                ))
            })
            .collect()
    }

    async fn cancel_pending(&mut self, job: Uuid) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE queue SET status = 'cancelled', finished_at = date_trunc('microseconds', now()) \
             WHERE job_id = $1 AND status = 'pending'",
        )
        .bind(job)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected())
    }

    /// Delivered by PostgreSQL when (and only if) the transaction commits.
    async fn notify_workers(&mut self) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(QUEUE_CHANNEL)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}

/// The advisory lock key every charge hold and commit takes ("pforge charges" in ASCII).
const CHARGES_LOCK: i64 = 0x7066_6368_6172_6765;

#[async_trait]
impl ChargeTx for PgTx {
    /// One transaction-scoped advisory lock for the whole ledger: holds are short (a few
    /// indexed sums and one insert) and only paid calls take it.
    async fn lock_charges(&mut self) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(CHARGES_LOCK)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    async fn settle_expired_holds(&mut self) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE charges SET state = 'unknown' \
             WHERE state = 'held' AND hold_until < clock_timestamp()",
        )
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected())
    }

    async fn sum_charges(&mut self, cap: &SpendCap) -> Result<f64, StoreError> {
        // A statement of its own after the lock: READ COMMITTED sees every committed hold.
        let total: f64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(cost), 0)::double precision FROM charges \
             WHERE ($1::text IS NULL OR provider = $1) AND ($2::uuid IS NULL OR job_id = $2) \
             AND ($3::timestamptz IS NULL OR at >= $3)",
        )
        .bind(cap.provider.as_deref())
        .bind(cap.job)
        .bind(cap.since)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(total)
    }

    async fn insert_hold(
        &mut self,
        entry: &ChargeRecord,
        hold: Duration,
    ) -> Result<i64, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO charges (provider, module, domain, job_id, cost, status, at, state, \
             hold_until) VALUES ($1, $2, $3, $4, $5, $6, $7, 'held', \
             clock_timestamp() + make_interval(secs => $8)) RETURNING id",
        )
        .bind(&entry.provider)
        .bind(&entry.module)
        .bind(&entry.domain)
        .bind(entry.job_id)
        .bind(entry.cost)
        .bind(&entry.status)
        .bind(entry.at.trunc_subsecs(6))
        .bind(hold.as_secs_f64())
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(id)
    }

    async fn charge_key_taken(&mut self, key: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM charges WHERE call_key = $1")
            .bind(key)
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(found.is_some())
    }

    async fn commit_hold(
        &mut self,
        id: i64,
        cost: f64,
        status: &str,
        call_key: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE charges SET state = 'committed', hold_until = NULL, cost = $1, status = $2, \
             call_key = $3 WHERE id = $4 AND state IN ('held', 'unknown')",
        )
        .bind(cost)
        .bind(status)
        .bind(call_key)
        .bind(id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn delete_hold(&mut self, id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM charges WHERE id = $1 AND state IN ('held', 'unknown')")
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}
