//! The write-transaction primitives over SQLite. A transaction starts with `BEGIN IMMEDIATE`, so
//! it holds the database's single write lock from its first statement: every "lock" below is
//! that lock, and the clock is this process's, read once when the lock was taken.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool, Transaction};
use uuid::Uuid;

use super::{json_text, sized_chunks, ts, Cells};
use crate::backend::{ChargeTx, JobTx, QueueTx, SnapshotRow, SnapshotTx, WriteTx};
use crate::queue::chrono_lease;
use crate::rows::{self, Cols, ALERT_COLS, EVENT_COLS, JOB_COLS, SNAP_COLS};
use crate::{
    Alert, ChangeEvent, ChargeRecord, Job, JobStatus, QueueItem, QueueStatus, Snapshot, SpendCap,
    StoreError, WorkItem,
};

/// Rows per multi-row statement: SQLite allows 32,766 bound parameters per statement.
const CHUNK: usize = 1000;

/// One `BEGIN IMMEDIATE` transaction on the store's writer connection.
pub(super) struct SqliteTx {
    pub(super) tx: Transaction<'static, Sqlite>,
    /// When the write lock was taken: the transaction's "now" for leases and stamps.
    now: DateTime<Utc>,
    /// The fields the accounts summary follows (see [`crate::backend::AccountTx`]).
    pub(super) fields: Option<std::sync::Arc<crate::AccountFields>>,
}

impl SqliteTx {
    pub(super) async fn begin(
        writer: &SqlitePool,
        fields: Option<std::sync::Arc<crate::AccountFields>>,
    ) -> Result<Self, StoreError> {
        let tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        Ok(SqliteTx {
            tx,
            now: crate::now(),
            fields,
        })
    }

    /// Adds domains to the target list (already listed ones keep their `added_at`); returns
    /// how many were new.
    pub(super) async fn insert_targets(&mut self, domains: &[String]) -> Result<u64, StoreError> {
        let at = self.now();
        let mut added = 0;
        for chunk in domains.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new("INSERT INTO targets (domain, added_at) ");
            qb.push_values(chunk, |mut b, d| {
                b.push_bind(d.as_str()).push_bind(at.as_str());
            });
            qb.push(" ON CONFLICT (domain) DO NOTHING");
            added += qb.build().execute(&mut *self.tx).await?.rows_affected();
        }
        Ok(added)
    }

    /// Drops domains from the target list; returns how many were listed.
    pub(super) async fn delete_targets(&mut self, domains: &[String]) -> Result<u64, StoreError> {
        let mut removed = 0;
        for chunk in domains.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new("DELETE FROM targets WHERE domain IN (");
            let mut list = qb.separated(", ");
            for d in chunk {
                list.push_bind(d.as_str());
            }
            list.push_unseparated(")");
            removed += qb.build().execute(&mut *self.tx).await?.rows_affected();
        }
        Ok(removed)
    }

    fn now(&self) -> String {
        ts(self.now)
    }
}

#[async_trait]
impl WriteTx for SqliteTx {
    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        Ok(self.tx.commit().await?)
    }
}

/// `id IN (?, ?, ...)` for a list of row ids.
fn push_ids(qb: &mut QueryBuilder<'_, Sqlite>, ids: &[i64]) {
    qb.push(" id IN (");
    let mut list = qb.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    list.push_unseparated(")");
}

#[async_trait]
impl SnapshotTx for SqliteTx {
    async fn lock_latest(&mut self, keys: &[(&str, &str)]) -> Result<Vec<Snapshot>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in sized_chunks(keys, CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new("WITH k(d, m) AS (");
            qb.push_values(chunk, |mut b, (d, m)| {
                b.push_bind(*d).push_bind(*m);
            });
            qb.push(format!(
                ") SELECT {SNAP_COLS} FROM k JOIN snapshots ON domain = k.d AND module = k.m \
                 AND version = (SELECT MAX(version) FROM snapshots WHERE domain = k.d AND module = k.m)"
            ));
            for row in qb.build().fetch_all(&mut *self.tx).await? {
                out.push(rows::snapshot(&Cells::new(row, "snapshots"))?);
            }
        }
        Ok(out)
    }

    async fn versions_for_jobs(
        &mut self,
        keys: &[(&str, &str, Uuid)],
    ) -> Result<Vec<(String, String, Uuid, i64)>, StoreError> {
        let mut out = Vec::new();
        for chunk in sized_chunks(keys, CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new("WITH k(d, m, j) AS (");
            qb.push_values(chunk, |mut b, (d, m, j)| {
                b.push_bind(*d).push_bind(*m).push_bind(j.to_string());
            });
            qb.push(
                ") SELECT domain, module, job_id, MAX(version) AS version FROM k JOIN snapshots \
                 ON domain = k.d AND module = k.m AND job_id = k.j GROUP BY domain, module, job_id",
            );
            for row in qb.build().fetch_all(&mut *self.tx).await? {
                let c = Cells::new(row, "snapshots");
                out.push((
                    c.text("domain")?,
                    c.text("module")?,
                    c.uuid("job_id")?,
                    c.int("version")?,
                ));
            }
        }
        Ok(out)
    }

    async fn touch_checked(
        &mut self,
        versions: &[(&str, &str, i64)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for chunk in sized_chunks(versions, CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new("UPDATE snapshots SET checked_at = ");
            qb.push_bind(ts(at))
                .push(" WHERE (domain, module, version) IN (");
            qb.push_values(chunk, |mut b, (d, m, v)| {
                b.push_bind(*d).push_bind(*m).push_bind(*v);
            });
            qb.push(")");
            qb.build().execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    async fn insert_snapshots(&mut self, rows: &[SnapshotRow<'_>]) -> Result<(), StoreError> {
        for chunk in sized_chunks(rows, CHUNK) {
            let mut qb =
                QueryBuilder::<Sqlite>::new(format!("INSERT INTO snapshots ({SNAP_COLS}) "));
            qb.push_values(chunk, |mut b, r| {
                b.push_bind(r.new.domain.as_str())
                    .push_bind(r.new.module.as_str())
                    .push_bind(r.version)
                    .push_bind(r.new.data_text())
                    .push_bind(r.new.citations_text())
                    .push_bind(r.new.content_hash.as_str())
                    .push_bind(ts(r.new.fetched_at))
                    .push_bind(ts(r.at))
                    .push_bind(ts(r.at))
                    .push_bind(r.new.job_id.map(|u| u.to_string()))
                    .push_bind(r.patch.as_ref().map(json_text));
            });
            qb.build().execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    async fn insert_events(&mut self, events: &[&ChangeEvent]) -> Result<(), StoreError> {
        for chunk in sized_chunks(events, CHUNK) {
            let mut qb =
                QueryBuilder::<Sqlite>::new(format!("INSERT INTO change_events ({EVENT_COLS}) "));
            qb.push_values(chunk, |mut b, e| {
                b.push_bind(e.id.to_string())
                    .push_bind(e.domain.as_str())
                    .push_bind(e.module.as_str())
                    .push_bind(e.version)
                    .push_bind(e.path.as_str())
                    .push_bind(e.kind.as_str())
                    .push_bind(e.old_value.as_ref().map(json_text))
                    .push_bind(e.new_value.as_ref().map(json_text))
                    .push_bind(e.significance)
                    .push_bind(e.level.as_str())
                    .push_bind(e.rule.as_str())
                    .push_bind(ts(e.detected_at));
            });
            qb.build().execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    async fn insert_alerts(&mut self, alerts: &[&Alert]) -> Result<(), StoreError> {
        for chunk in sized_chunks(alerts, CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new(format!("INSERT INTO alerts ({ALERT_COLS}) "));
            qb.push_values(chunk, |mut b, a| {
                b.push_bind(a.id.to_string())
                    .push_bind(a.rule.as_str())
                    .push_bind(a.recipient.as_str())
                    .push_bind(a.channel.as_str())
                    .push_bind(a.delivery.as_str())
                    .push_bind(a.domain.as_str())
                    .push_bind(json_text(&a.payload))
                    .push_bind(a.status.as_str())
                    .push_bind(a.attempts)
                    .push_bind(a.last_error.as_deref())
                    .push_bind(ts(a.created_at))
                    .push_bind(ts(a.next_attempt_at))
                    .push_bind(a.delivered_at.map(ts));
            });
            qb.build().execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    async fn delete_versions(
        &mut self,
        domain: &str,
        module: &str,
        versions: &[i64],
    ) -> Result<u64, StoreError> {
        let mut deleted = 0;
        for chunk in versions.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new("DELETE FROM snapshots WHERE domain = ");
            qb.push_bind(domain)
                .push(" AND module = ")
                .push_bind(module)
                .push(" AND version IN (");
            let mut list = qb.separated(", ");
            for v in chunk {
                list.push_bind(*v);
            }
            list.push_unseparated(")");
            deleted += qb.build().execute(&mut *self.tx).await?.rows_affected();
        }
        Ok(deleted)
    }

    async fn clear_patch(
        &mut self,
        domain: &str,
        module: &str,
        version: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE snapshots SET patch = NULL WHERE domain = ? AND module = ? AND version = ?",
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
impl JobTx for SqliteTx {
    async fn insert_job(&mut self, job: &Job) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO jobs ({JOB_COLS}) VALUES (?, ?, ?, ?, ?, ?)"
        ))
        .bind(job.id.to_string())
        .bind(&job.label)
        .bind(json_text(&job.spec))
        .bind(job.status.as_str())
        .bind(ts(job.created_at))
        .bind(job.finished_at.map(ts))
        .execute(&mut *self.tx)
        .await
        .map_err(|e| StoreError::on_insert(e, || format!("job {}", job.id), || "job".into()))?;
        Ok(())
    }

    async fn lock_job(&mut self, id: Uuid) -> Result<Option<JobStatus>, StoreError> {
        let row = sqlx::query("SELECT status FROM jobs WHERE id = ?")
            .bind(id.to_string())
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
        let done = sqlx::query("UPDATE jobs SET status = ?, finished_at = ? WHERE id = ?")
            .bind(status.as_str())
            .bind(ts(at))
            .bind(id.to_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn upsert_items(&mut self, items: &[WorkItem]) -> Result<(), StoreError> {
        for chunk in sized_chunks(items, CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new(format!(
                "INSERT INTO work_items ({}) ",
                rows::ITEM_COLS
            ));
            qb.push_values(chunk, |mut b, item| {
                b.push_bind(item.job_id.to_string())
                    .push_bind(item.domain.as_str())
                    .push_bind(item.module.as_str())
                    .push_bind(item.status.as_str())
                    .push_bind(item.attempts)
                    .push_bind(item.error.as_deref())
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
            qb.build().execute(&mut *self.tx).await.map_err(|e| {
                StoreError::on_insert(
                    e,
                    || "work item".into(),
                    || format!("job {} of the work items", chunk[0].job_id),
                )
            })?;
        }
        Ok(())
    }
}

#[async_trait]
impl QueueTx for SqliteTx {
    async fn insert_queue_rows(
        &mut self,
        job: Uuid,
        domains: &[String],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (job, at) = (job.to_string(), ts(at));
        for chunk in domains.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT INTO queue (job_id, domain, status, enqueued_at) ",
            );
            qb.push_values(chunk, |mut b, domain| {
                b.push_bind(job.as_str())
                    .push_bind(domain.as_str())
                    .push_bind(QueueStatus::Pending.as_str())
                    .push_bind(at.as_str());
            });
            qb.push(" ON CONFLICT DO NOTHING");
            qb.build().execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    async fn finish_if_drained(&mut self, job: Uuid) -> Result<Option<DateTime<Utc>>, StoreError> {
        let now = self.now();
        let done: Option<String> = sqlx::query_scalar(
            "UPDATE jobs SET status = 'completed', finished_at = ?1 \
             WHERE id = ?2 AND status = 'running' AND NOT EXISTS \
             (SELECT 1 FROM queue WHERE job_id = ?2 AND status IN ('pending', 'running')) \
             RETURNING finished_at",
        )
        .bind(&now)
        .bind(job.to_string())
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(done.map(|_| self.now))
    }

    async fn fail_exhausted(&mut self, max_attempts: i64) -> Result<Vec<Uuid>, StoreError> {
        let now = self.now();
        let jobs: Vec<String> = sqlx::query_scalar(
            "UPDATE queue SET status = 'failed', finished_at = ?1, lease_owner = NULL, \
             lease_expires_at = NULL, \
             error = 'gave up: the worker holding it was lost ' || attempts || ' times' \
             WHERE status = 'running' AND lease_expires_at < ?1 AND attempts >= ?2 \
             RETURNING job_id",
        )
        .bind(&now)
        .bind(max_attempts)
        .fetch_all(&mut *self.tx)
        .await?;
        jobs.iter()
            .map(|j| super::parse_uuid("queue", "job_id", j))
            .collect()
    }

    async fn oldest_claimable_job(
        &mut self,
        max_attempts: i64,
    ) -> Result<Option<Uuid>, StoreError> {
        let job: Option<String> = sqlx::query_scalar(
            "SELECT q.job_id FROM queue q JOIN jobs j ON j.id = q.job_id \
             WHERE q.status IN ('pending', 'running') \
             AND (q.status = 'pending' OR q.lease_expires_at < ?) \
             AND q.attempts < ? AND j.status = 'running' ORDER BY q.id LIMIT 1",
        )
        .bind(self.now())
        .bind(max_attempts)
        .fetch_optional(&mut *self.tx)
        .await?;
        job.map(|j| super::parse_uuid("queue", "job_id", &j))
            .transpose()
    }

    async fn claim_rows(
        &mut self,
        owner: &str,
        job: Uuid,
        limit: i64,
        lease: Duration,
        max_attempts: i64,
    ) -> Result<Vec<QueueItem>, StoreError> {
        let until = ts(self.now + chrono_lease(lease));
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
        .bind(job.to_string())
        .bind(self.now())
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
        let until = ts(self.now + chrono_lease(lease));
        let mut held = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new("UPDATE queue SET lease_expires_at = ");
            qb.push_bind(until.as_str())
                .push(" WHERE lease_owner = ")
                .push_bind(owner)
                .push(" AND status = 'running' AND");
            push_ids(&mut qb, chunk);
            qb.push(" RETURNING id");
            for row in qb.build().fetch_all(&mut *self.tx).await? {
                held.push(row.try_get::<i64, _>("id")?);
            }
        }
        Ok(held)
    }

    async fn close_row(
        &mut self,
        owner: &str,
        id: i64,
        status: QueueStatus,
        error: Option<&str>,
    ) -> Result<Option<Uuid>, StoreError> {
        let job: Option<String> = sqlx::query_scalar(
            "UPDATE queue SET status = ?, finished_at = ?, error = ?, lease_owner = NULL, \
             lease_expires_at = NULL WHERE id = ? AND lease_owner = ? AND status = 'running' \
             RETURNING job_id",
        )
        .bind(status.as_str())
        .bind(self.now())
        .bind(error)
        .bind(id)
        .bind(owner)
        .fetch_optional(&mut *self.tx)
        .await?;
        job.map(|j| super::parse_uuid("queue", "job_id", &j))
            .transpose()
    }

    async fn close_rows_done(
        &mut self,
        owner: &str,
        ids: &[i64],
    ) -> Result<Vec<(i64, Uuid)>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        let now = self.now();
        for chunk in ids.chunks(CHUNK) {
            let mut qb =
                QueryBuilder::<Sqlite>::new("UPDATE queue SET status = 'done', finished_at = ");
            qb.push_bind(now.clone())
                .push(", error = NULL, lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = ")
                .push_bind(owner)
                .push(" AND status = 'running' AND id IN (");
            let mut list = qb.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            list.push_unseparated(") RETURNING id, job_id");
            for row in qb.build().fetch_all(&mut *self.tx).await? {
                let id: i64 = row
                    .try_get("id")
                    .map_err(|e| crate::rows::corrupt("queue", format!("column id: {e}")))?;
                let job: String = row
                    .try_get("job_id")
                    .map_err(|e| crate::rows::corrupt("queue", format!("column job_id: {e}")))?;
                out.push((id, super::parse_uuid("queue", "job_id", &job)?));
            }
        }
        Ok(out)
    }

    async fn release_rows(&mut self, owner: &str, ids: &[i64]) -> Result<u64, StoreError> {
        let mut n = 0;
        for chunk in ids.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "UPDATE queue SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, \
                 attempts = MAX(attempts - 1, 0) WHERE lease_owner = ",
            );
            qb.push_bind(owner).push(" AND status = 'running' AND");
            push_ids(&mut qb, chunk);
            n += qb.build().execute(&mut *self.tx).await?.rows_affected();
        }
        Ok(n)
    }

    async fn lock_leases(
        &mut self,
        job: Uuid,
        domains: &[String],
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        // The write transaction (BEGIN IMMEDIATE) already excludes every other writer.
        let mut out = Vec::with_capacity(domains.len());
        for chunk in domains.chunks(CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "SELECT domain, lease_owner, attempts FROM queue WHERE status = 'running' \
                 AND lease_owner IS NOT NULL AND job_id = ",
            );
            qb.push_bind(job.to_string()).push(" AND domain IN (");
            let mut list = qb.separated(", ");
            for d in chunk {
                list.push_bind(d.as_str());
            }
            list.push_unseparated(") ORDER BY id");
            for row in qb.build().fetch_all(&mut *self.tx).await? {
                out.push((
                    row.try_get::<String, _>("domain")?,
                    row.try_get::<String, _>("lease_owner")?,
                    row.try_get::<i64, _>("attempts")?,
                ));
            }
        }
        Ok(out)
    }

    async fn cancel_pending(&mut self, job: Uuid) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE queue SET status = 'cancelled', finished_at = ? \
             WHERE job_id = ? AND status = 'pending'",
        )
        .bind(self.now())
        .bind(job.to_string())
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected())
    }

    /// SQLite has no notifications: idle workers poll.
    async fn notify_workers(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl ChargeTx for SqliteTx {
    /// The transaction already holds the database's write lock (`BEGIN IMMEDIATE`).
    async fn lock_charges(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn settle_expired_holds(&mut self) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE charges SET state = 'unknown' WHERE state = 'held' AND hold_until < ?",
        )
        .bind(self.now())
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected())
    }

    async fn sum_charges(&mut self, cap: &SpendCap) -> Result<f64, StoreError> {
        let total: f64 = sqlx::query_scalar(
            "SELECT TOTAL(cost) FROM charges WHERE (?1 IS NULL OR provider = ?1) \
             AND (?2 IS NULL OR job_id = ?2) AND (?3 IS NULL OR at >= ?3)",
        )
        .bind(cap.provider.as_deref())
        .bind(cap.job.map(|u| u.to_string()))
        .bind(cap.since.map(ts))
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(total)
    }

    async fn insert_hold(
        &mut self,
        entry: &ChargeRecord,
        hold: Duration,
    ) -> Result<i64, StoreError> {
        let until = self.now + chrono_lease(hold);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO charges (provider, module, domain, job_id, cost, status, at, state, \
             hold_until) VALUES (?, ?, ?, ?, ?, ?, ?, 'held', ?) RETURNING id",
        )
        .bind(&entry.provider)
        .bind(&entry.module)
        .bind(&entry.domain)
        .bind(entry.job_id.map(|u| u.to_string()))
        .bind(entry.cost)
        .bind(&entry.status)
        .bind(ts(entry.at))
        .bind(ts(until))
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(id)
    }

    async fn charge_key_taken(&mut self, key: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM charges WHERE call_key = ?")
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
            "UPDATE charges SET state = 'committed', hold_until = NULL, cost = ?, status = ?, \
             call_key = ? WHERE id = ? AND state IN ('held', 'unknown')",
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
        sqlx::query("DELETE FROM charges WHERE id = ? AND state IN ('held', 'unknown')")
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}
