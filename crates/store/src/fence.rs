//! Fencing by lease token: a store a worker hands to its executor, through which every write of
//! results for a claimed domain checks, in its own transaction and under a lock on the queue
//! row, that the row is still held by the claim that started the domain.
//!
//! Why: a worker paused past its lease (a long GC-like stall, SIGSTOP, a VM migration) wakes up
//! with results for domains another worker has since claimed and maybe finished. Without a
//! check it would overwrite the new holder's work items and touch its snapshots; with it, its
//! late writes change nothing and fail with [`StoreError::LeaseLost`].
//!
//! A claim's token is the row's `(lease_owner, attempts)`: the owner id is unique per worker
//! process and `attempts` grows with every claim, so even a worker that reclaims its own
//! expired row gets a new token and its older claim is fenced out.
//!
//! The same store retries reads and fenced writes with backoff when the database cannot be
//! reached (a PostgreSQL restart): the pool reconnects by itself, and retrying is safe because
//! the save rule stores at most one version per (job, domain, module) and work items are upserts.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::backend::{Backend, ChangeFilter, WriteTx};
use crate::charges::{HoldOutcome, SpendCap};
use crate::queue::{QueueItem, QueueStatus};
use crate::{
    AccountPage, AccountQuery, Alert, AlertStatus, ChangeEvent, ChangePage, ChangeQuery,
    ChargeRecord, ChargeStore, DeriveChanges, ItemStatus, Job, JobStatus, JobStore, NewSnapshot,
    OutboxStore, PacingStore, QueueStore, SaveOutcome, Snapshot, SnapshotStore, SpendGroup, Store,
    StoreError, Target, TargetStore, WorkItem,
};

/// The claims one worker holds, by (job, domain): what its fenced writes must still find on the
/// queue rows. Shared between the worker (which adds a claim when it hands a domain to the
/// executor and forgets it when it closes the row) and its [`FencedStore`].
#[derive(Debug)]
pub struct Fence {
    owner: String,
    claims: Mutex<HashMap<(Uuid, String), i64>>,
    /// How long to keep retrying an operation while the database cannot be reached.
    patience: Duration,
}

impl Fence {
    /// A fence for the worker whose lease owner id is `owner`; reads and writes through it
    /// retry for up to `patience` while the database cannot be reached.
    pub fn new(owner: impl Into<String>, patience: Duration) -> Fence {
        Fence {
            owner: owner.into(),
            claims: Mutex::default(),
            patience,
        }
    }

    /// Records the claim of a queue row (its `attempts` is the claim's number).
    pub fn hold(&self, item: &QueueItem) {
        self.lock()
            .insert((item.job_id, item.domain.clone()), item.attempts);
    }

    /// Forgets the claim of (job, domain): its row was closed or released.
    pub fn forget(&self, job: Uuid, domain: &str) {
        self.lock().remove(&(job, domain.to_string()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Uuid, String), i64>> {
        self.claims.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn claim_of(&self, job: Uuid, domain: &str) -> Option<i64> {
        self.lock().get(&(job, domain.to_string())).copied()
    }

    /// Locks the queue rows of `keys` in `tx` and checks each is still held by this worker's
    /// claim; the first that is not is [`StoreError::LeaseLost`].
    async fn check(
        &self,
        tx: &mut dyn WriteTx,
        keys: &BTreeSet<(Uuid, String)>,
    ) -> Result<(), StoreError> {
        let mut by_job: BTreeMap<Uuid, Vec<String>> = BTreeMap::new();
        for (job, domain) in keys {
            by_job.entry(*job).or_default().push(domain.clone());
        }
        for (job, domains) in by_job {
            let held: HashMap<String, (String, i64)> = tx
                .lock_leases(job, &domains)
                .await?
                .into_iter()
                .map(|(d, owner, attempts)| (d, (owner, attempts)))
                .collect();
            for d in &domains {
                let ours = self.claim_of(job, d);
                let ok = match (held.get(d), ours) {
                    (Some((owner, attempts)), Some(claim)) => {
                        owner == &self.owner && *attempts == claim
                    }
                    _ => false,
                };
                if !ok {
                    return Err(StoreError::LeaseLost { domain: d.clone() });
                }
            }
        }
        Ok(())
    }

    /// Runs `op` again with backoff while the database cannot be reached (see
    /// [`retry_unreachable`]), for at most this fence's patience.
    async fn retry<T, F, Fut>(&self, what: &str, op: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        retry_unreachable(self.patience, what, op).await
    }
}

/// Runs `op` again with exponential backoff (100 ms doubling to 2 s, jittered) while it fails
/// because the database cannot be reached ([`StoreError::is_connection`]), for about
/// `patience` in all; any other error, or the last one, is returned. Each retry is logged with
/// `what` was being done. Only for operations that are safe to repeat.
pub async fn retry_unreachable<T, F, Fut>(
    patience: Duration,
    what: &str,
    op: F,
) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    // After the first few, retries are about 2 s apart.
    let times = (patience.as_secs_f64() / 2.0).ceil().max(1.0) as usize + 4;
    op.retry(
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(2))
            .with_max_times(times)
            .with_jitter(),
    )
    .when(|e: &StoreError| e.is_connection())
    .notify(|e, delay| {
        tracing::warn!(
            "{what}: the database cannot be reached ({}); retrying in {delay:.1?}",
            describe(e)
        )
    })
    .await
}

/// An error with its source (a backend error's own text is only in its source).
pub fn describe(e: &StoreError) -> String {
    match std::error::Error::source(e) {
        Some(s) => format!("{e}: {s}"),
        None => e.to_string(),
    }
}

/// The (job, domain) pairs a batch writes.
fn keys_of(news: &[NewSnapshot], items: &[WorkItem]) -> BTreeSet<(Uuid, String)> {
    let mut keys = BTreeSet::new();
    for n in news {
        if let Some(job) = n.job_id {
            keys.insert((job, n.domain.clone()));
        }
    }
    for i in items {
        keys.insert((i.job_id, i.domain.clone()));
    }
    keys
}

/// A store whose result writes are fenced by a worker's [`Fence`]; everything else is the
/// inner store's (reads retried while the database cannot be reached).
pub struct FencedStore {
    inner: Arc<dyn Store>,
    fence: Arc<Fence>,
}

impl FencedStore {
    /// `inner` with its result writes fenced by `fence`.
    pub fn new(inner: Arc<dyn Store>, fence: Arc<Fence>) -> FencedStore {
        FencedStore { inner, fence }
    }

    /// Saves snapshots and their items in one transaction that first locks and checks the
    /// claims of every domain they write.
    async fn fenced_save(
        &self,
        news: &[NewSnapshot],
        derive: &dyn DeriveChanges,
        items: &(dyn for<'o> Fn(&'o [SaveOutcome]) -> Vec<WorkItem> + Send + Sync),
    ) -> Result<Vec<SaveOutcome>, StoreError> {
        // Items that do not depend on an outcome are known before saving: lock every row up
        // front, in id order, so two fenced writers never deadlock.
        let keys = keys_of(news, &items(&[]));
        let mut tx = self.inner.begin().await?;
        self.fence.check(tx.as_mut(), &keys).await?;
        let out = if news.is_empty() {
            Vec::new()
        } else {
            crate::snapshots::save_batch(tx.as_mut(), news, derive).await?
        };
        let items = items(&out);
        let late: BTreeSet<(Uuid, String)> = keys_of(&[], &items)
            .into_iter()
            .filter(|k| !keys.contains(k))
            .collect();
        if !late.is_empty() {
            self.fence.check(tx.as_mut(), &late).await?;
        }
        if !items.is_empty() {
            tx.upsert_items(&crate::jobs::last_per_key(&items)).await?;
        }
        tx.commit().await?;
        Ok(out)
    }
}

#[async_trait]
impl Backend for FencedStore {
    async fn begin(&self) -> Result<Box<dyn WriteTx>, StoreError> {
        self.inner.begin().await
    }

    async fn query_change_events(
        &self,
        filter: &ChangeFilter,
    ) -> Result<Vec<ChangeEvent>, StoreError> {
        self.fence
            .retry("reading change events", || {
                self.inner.query_change_events(filter)
            })
            .await
    }

    async fn queue_grew(&self, rows: usize) -> Result<(), StoreError> {
        self.inner.queue_grew(rows).await
    }

    async fn close(&self) {
        self.inner.close().await;
    }
}

#[async_trait]
impl SnapshotStore for FencedStore {
    async fn save_snapshots(
        &self,
        news: &[NewSnapshot],
        derive: &dyn DeriveChanges,
    ) -> Result<Vec<SaveOutcome>, StoreError> {
        if news.is_empty() {
            return Ok(Vec::new());
        }
        let no_items = |_: &[SaveOutcome]| Vec::<WorkItem>::new();
        self.fence
            .retry("saving results", || {
                self.fenced_save(news, derive, &no_items)
            })
            .await
    }

    async fn save_snapshots_and_items(
        &self,
        news: &[NewSnapshot],
        derive: &dyn DeriveChanges,
        items: &(dyn for<'o> Fn(&'o [SaveOutcome]) -> Vec<WorkItem> + Send + Sync),
    ) -> Result<Vec<SaveOutcome>, StoreError> {
        self.fence
            .retry("saving results", || self.fenced_save(news, derive, items))
            .await
    }

    async fn latest_snapshot(
        &self,
        domain: &str,
        module: &str,
    ) -> Result<Option<Snapshot>, StoreError> {
        self.fence
            .retry("reading snapshots", || {
                self.inner.latest_snapshot(domain, module)
            })
            .await
    }

    async fn latest_snapshots(&self, domain: &str) -> Result<Vec<Snapshot>, StoreError> {
        self.fence
            .retry("reading snapshots", || self.inner.latest_snapshots(domain))
            .await
    }

    async fn latest_checked(
        &self,
        domains: &[String],
    ) -> Result<Vec<(String, String, DateTime<Utc>)>, StoreError> {
        self.inner.latest_checked(domains).await
    }

    async fn snapshot_history(
        &self,
        domain: &str,
        module: Option<&str>,
    ) -> Result<Vec<Snapshot>, StoreError> {
        self.fence
            .retry("reading history", || {
                self.inner.snapshot_history(domain, module)
            })
            .await
    }

    async fn get_snapshot(
        &self,
        domain: &str,
        module: &str,
        version: i64,
    ) -> Result<Option<Snapshot>, StoreError> {
        self.inner.get_snapshot(domain, module, version).await
    }

    async fn list_change_events(&self, query: &ChangeQuery) -> Result<ChangePage, StoreError> {
        self.fence
            .retry("reading change events", || {
                self.inner.list_change_events(query)
            })
            .await
    }

    async fn list_accounts(&self, query: &AccountQuery) -> Result<AccountPage, StoreError> {
        self.inner.list_accounts(query).await
    }

    async fn snapshot_keys(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        self.inner.snapshot_keys().await
    }

    async fn prune_versions(
        &self,
        domain: &str,
        module: &str,
        delete_versions: &[i64],
        new_base: Option<i64>,
    ) -> Result<u64, StoreError> {
        self.inner
            .prune_versions(domain, module, delete_versions, new_base)
            .await
    }
}

#[async_trait]
impl JobStore for FencedStore {
    async fn create_job(&self, id: Uuid, label: &str, spec: &Value) -> Result<Job, StoreError> {
        self.inner.create_job(id, label, spec).await
    }

    async fn finish_job(&self, id: Uuid, status: JobStatus) -> Result<(), StoreError> {
        self.inner.finish_job(id, status).await
    }

    async fn get_job(&self, id: Uuid) -> Result<Option<Job>, StoreError> {
        self.inner.get_job(id).await
    }

    async fn get_jobs(&self, ids: &[Uuid]) -> Result<Vec<Job>, StoreError> {
        self.inner.get_jobs(ids).await
    }

    async fn list_jobs(&self, limit: i64) -> Result<Vec<Job>, StoreError> {
        self.inner.list_jobs(limit).await
    }

    async fn cancel_job(&self, id: Uuid) -> Result<bool, StoreError> {
        self.inner.cancel_job(id).await
    }

    async fn job_counts(&self, job: Uuid) -> Result<BTreeMap<ItemStatus, i64>, StoreError> {
        self.inner.job_counts(job).await
    }

    async fn upsert_item(&self, item: &WorkItem) -> Result<(), StoreError> {
        self.upsert_items(std::slice::from_ref(item)).await
    }

    async fn upsert_items(&self, items: &[WorkItem]) -> Result<(), StoreError> {
        if items.is_empty() {
            return Ok(());
        }
        let owned = items.to_vec();
        let items = |_: &[SaveOutcome]| owned.clone();
        self.fence
            .retry("recording work items", || {
                self.fenced_save(&[], &crate::NoDerivation, &items)
            })
            .await
            .map(|_| ())
    }

    async fn items_for_job(&self, job: Uuid) -> Result<Vec<WorkItem>, StoreError> {
        self.inner.items_for_job(job).await
    }
}

#[async_trait]
impl QueueStore for FencedStore {
    async fn enqueue_job(
        &self,
        id: Uuid,
        label: &str,
        spec: &Value,
        domains: &[String],
    ) -> Result<Job, StoreError> {
        self.inner.enqueue_job(id, label, spec, domains).await
    }

    async fn claim_queue_items(
        &self,
        owner: &str,
        job: Option<Uuid>,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<QueueItem>, StoreError> {
        self.inner.claim_queue_items(owner, job, limit, lease).await
    }

    async fn heartbeat_queue_items(
        &self,
        owner: &str,
        ids: &[i64],
        lease: Duration,
    ) -> Result<Vec<i64>, StoreError> {
        self.inner.heartbeat_queue_items(owner, ids, lease).await
    }

    async fn complete_queue_item(
        &self,
        owner: &str,
        id: i64,
        status: QueueStatus,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.fence
            .retry("closing a queue row", || {
                self.inner.complete_queue_item(owner, id, status, error)
            })
            .await
    }

    async fn complete_queue_items_done(
        &self,
        owner: &str,
        ids: &[i64],
    ) -> Result<Vec<i64>, StoreError> {
        self.fence
            .retry("closing queue rows", || {
                self.inner.complete_queue_items_done(owner, ids)
            })
            .await
    }

    async fn release_queue_items(&self, owner: &str, ids: &[i64]) -> Result<u64, StoreError> {
        self.fence
            .retry("releasing queue rows", || {
                self.inner.release_queue_items(owner, ids)
            })
            .await
    }

    async fn queue_counts(&self, job: Uuid) -> Result<BTreeMap<QueueStatus, i64>, StoreError> {
        self.inner.queue_counts(job).await
    }

    async fn prune_queue(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.inner.prune_queue(before).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    async fn wait_for_queue(&self, timeout: Duration) -> Result<(), StoreError> {
        self.inner.wait_for_queue(timeout).await
    }
}

#[async_trait]
impl ChargeStore for FencedStore {
    async fn record_charge(&self, entry: &ChargeRecord) -> Result<(), StoreError> {
        self.inner.record_charge(entry).await
    }

    async fn spent_since(
        &self,
        provider: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<f64, StoreError> {
        self.inner.spent_since(provider, since).await
    }

    async fn unknown_since(
        &self,
        provider: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<f64, StoreError> {
        self.inner.unknown_since(provider, since).await
    }

    async fn spend_groups(&self, since: DateTime<Utc>) -> Result<Vec<SpendGroup>, StoreError> {
        self.inner.spend_groups(since).await
    }

    async fn hold_charge(
        &self,
        entry: &ChargeRecord,
        caps: &[SpendCap],
        hold: Duration,
    ) -> Result<HoldOutcome, StoreError> {
        self.inner.hold_charge(entry, caps, hold).await
    }

    async fn commit_charge(
        &self,
        id: i64,
        cost: f64,
        status: &str,
        call_key: Option<&str>,
    ) -> Result<(), StoreError> {
        self.inner.commit_charge(id, cost, status, call_key).await
    }

    async fn release_charge(&self, id: i64) -> Result<(), StoreError> {
        self.inner.release_charge(id).await
    }
}

#[async_trait]
impl PacingStore for FencedStore {
    async fn reserve_rate_slots(
        &self,
        bucket: &str,
        interval: Duration,
        count: u32,
    ) -> Result<Duration, StoreError> {
        self.inner.reserve_rate_slots(bucket, interval, count).await
    }
}

#[async_trait]
impl OutboxStore for FencedStore {
    async fn pending_alerts(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Alert>, StoreError> {
        self.inner.pending_alerts(now, limit).await
    }

    async fn list_alerts(
        &self,
        status: Option<AlertStatus>,
        limit: i64,
    ) -> Result<Vec<Alert>, StoreError> {
        self.inner.list_alerts(status, limit).await
    }

    async fn update_alert(&self, alert: &Alert) -> Result<(), StoreError> {
        self.inner.update_alert(alert).await
    }
}

#[async_trait]
impl TargetStore for FencedStore {
    async fn list_targets(&self) -> Result<Vec<Target>, StoreError> {
        self.inner.list_targets().await
    }

    async fn add_targets(&self, domains: &[String]) -> Result<u64, StoreError> {
        self.inner.add_targets(domains).await
    }

    async fn remove_target(&self, domain: &str) -> Result<bool, StoreError> {
        self.inner.remove_target(domain).await
    }

    async fn remove_accounts(&self, domains: &[String]) -> Result<u64, StoreError> {
        self.inner.remove_accounts(domains).await
    }
}
