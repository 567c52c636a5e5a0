//! Versioned snapshots and the change events they raised: the save-snapshot rule, retention,
//! and the changes query, each written once over [`SnapshotTx`] and [`Backend`].

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use pforge_core::Level;
use serde_json::Value;
use uuid::Uuid;

use crate::backend::{Backend, ChangeFilter};
use crate::{
    Alert, ChangeEvent, ChangePage, ChangeQuery, DeriveChanges, NewSnapshot, SaveOutcome, Snapshot,
    StoreError, WorkItem,
};

/// Snapshots of module results, their versions and change events.
///
/// Invariant: versions of a (domain, module) are dense (1, 2, 3, ...) and never reused, even
/// after pruning; a new version is written only when the content hash differs from the latest
/// one's, at most once per job, together with its patch, change events and alerts in one
/// transaction (so the outbox never misses an alert and no event points at a missing version).
#[async_trait]
pub trait SnapshotStore: Backend {
    /// Stores a module result: [`SnapshotStore::save_snapshots`] for one snapshot.
    async fn save_snapshot(
        &self,
        new: &NewSnapshot,
        derive: &dyn DeriveChanges,
    ) -> Result<SaveOutcome, StoreError> {
        let mut out = self
            .save_snapshots(std::slice::from_ref(new), derive)
            .await?;
        out.pop().ok_or_else(|| {
            StoreError::Invalid("saving one snapshot returned no outcome".to_string())
        })
    }

    /// Stores module results in one transaction, one outcome each, in order; each snapshot sees
    /// the ones before it, so the outcomes equal those of saving them one by one, and an error
    /// writes nothing at all. Per snapshot, under a lock on its (domain, module):
    /// - same content hash as the latest version: only its `checked_at` moves (`Unchanged`);
    /// - else, when `new.job_id` already stored a version of this (domain, module), that version
    ///   is returned as `Unchanged` and nothing is written, so a retried work item (a worker died
    ///   after saving but before closing its queue row) never adds a second version;
    /// - else it becomes version latest+1 with whatever `derive` computes from the latest
    ///   version (patch, change events, alerts).
    async fn save_snapshots(
        &self,
        news: &[NewSnapshot],
        derive: &dyn DeriveChanges,
    ) -> Result<Vec<SaveOutcome>, StoreError> {
        if news.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        let out = save_batch(tx.as_mut(), news, derive).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// [`SnapshotStore::save_snapshots`] and the work items that record them, in one
    /// transaction: `items` is handed the outcomes (in order) and returns the items to upsert
    /// (as [`crate::JobStore::upsert_items`] would: a later item with the same key wins). Either
    /// everything commits or nothing does, so an item never says a version exists that is not
    /// stored, and a busy executor pays one commit for both.
    async fn save_snapshots_and_items(
        &self,
        news: &[NewSnapshot],
        derive: &dyn DeriveChanges,
        items: &(dyn for<'o> Fn(&'o [SaveOutcome]) -> Vec<WorkItem> + Send + Sync),
    ) -> Result<Vec<SaveOutcome>, StoreError> {
        let mut tx = self.begin().await?;
        let out = if news.is_empty() {
            Vec::new()
        } else {
            save_batch(tx.as_mut(), news, derive).await?
        };
        let items = items(&out);
        if !items.is_empty() {
            tx.upsert_items(&crate::jobs::last_per_key(&items)).await?;
        }
        tx.commit().await?;
        Ok(out)
    }

    /// The latest version of one module for a domain.
    async fn latest_snapshot(
        &self,
        domain: &str,
        module: &str,
    ) -> Result<Option<Snapshot>, StoreError>;

    /// The latest version of every module for a domain, ordered by module id (byte order).
    async fn latest_snapshots(&self, domain: &str) -> Result<Vec<Snapshot>, StoreError>;

    /// When the latest version of each module of each of `domains` was last confirmed, as
    /// `(domain, module, checked_at)` in no particular order: one set-based read for many
    /// domains that loads no data, for freshness checks over long lists (`plan --estimate`).
    /// Domains without snapshots are simply absent.
    async fn latest_checked(
        &self,
        domains: &[String],
    ) -> Result<Vec<(String, String, DateTime<Utc>)>, StoreError>;

    /// Every version, oldest first (insertion order), optionally for one module.
    async fn snapshot_history(
        &self,
        domain: &str,
        module: Option<&str>,
    ) -> Result<Vec<Snapshot>, StoreError>;

    /// One version, if it exists (and was not pruned).
    async fn get_snapshot(
        &self,
        domain: &str,
        module: &str,
        version: i64,
    ) -> Result<Option<Snapshot>, StoreError>;

    /// Change events matching `query`, newest first, one page at a time (see [`ChangePage`]).
    /// A cursor this store did not issue is [`StoreError::Invalid`].
    async fn list_change_events(&self, query: &ChangeQuery) -> Result<ChangePage, StoreError> {
        if query.limit == 0 {
            return Ok(ChangePage::default());
        }
        let before = query.cursor.as_deref().map(decode_cursor).transpose()?;
        let filter = ChangeFilter {
            domain: query.domain.clone(),
            module: query.module.clone(),
            levels: query.min_level.map(levels_at_or_above),
            since: query.since,
            until: query.until,
            before,
            // One more than asked: whether it comes back says whether there is a next page.
            limit: query.limit.saturating_add(1),
        };
        let mut events = self.query_change_events(&filter).await?;
        let more = events.len() > query.limit as usize;
        events.truncate(query.limit as usize);
        let next_cursor = match events.last() {
            Some(last) if more => Some(encode_cursor(last.detected_at, last.id)),
            _ => None,
        };
        Ok(ChangePage {
            events,
            next_cursor,
        })
    }

    /// One page of the accounts summary (every domain with snapshots or on the target list,
    /// with the scalars `query.fields` names read from its latest snapshots), filtered, sorted
    /// and paged in the database, plus counts per tier and intent band over all matches. A
    /// limit outside 1 ..= 1000 is [`StoreError::Invalid`].
    async fn list_accounts(
        &self,
        query: &crate::AccountQuery,
    ) -> Result<crate::AccountPage, StoreError>;

    /// Every (domain, module) with stored snapshots and how many versions it has, ordered by
    /// domain then module (byte order): the walk retention pruning makes.
    async fn snapshot_keys(&self) -> Result<Vec<(String, String, i64)>, StoreError>;

    /// Executes a retention plan for one (domain, module) in one transaction: deletes the listed
    /// snapshot versions and clears the patch of `new_base` (whose patch pointed at a deleted
    /// version). Returns how many versions were deleted; listed versions that do not exist are
    /// ignored. Refuses (`StoreError::Invalid`, nothing changed) to delete the latest version,
    /// since the next save would then reuse its number; a `new_base` that does not exist after
    /// the deletion is `StoreError::NotFound`, also changing nothing. Change events are history
    /// and are kept.
    async fn prune_versions(
        &self,
        domain: &str,
        module: &str,
        delete_versions: &[i64],
        new_base: Option<i64>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let deleted = prune(tx.as_mut(), domain, module, delete_versions, new_base).await?;
        tx.commit().await?;
        Ok(deleted)
    }
}

/// A new version as the save rule hands it to [`SnapshotTx::insert_snapshots`]: the result,
/// its version number and patch, and the time it was stored (its `created_at` and
/// `checked_at`).
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotRow<'a> {
    pub new: &'a NewSnapshot,
    pub version: i64,
    pub patch: Option<Value>,
    pub at: DateTime<Utc>,
}

/// The snapshot primitives of a write transaction. Keys are `(domain, module)`. The accounts
/// summary's primitives come with them, so the save rule keeps the summary in its transaction.
#[async_trait]
pub trait SnapshotTx: crate::summary::AccountTx + Send {
    /// Locks `keys` (sorted, distinct) against every other writer of them until the
    /// transaction ends, then returns the latest snapshot of each key that has one. Two
    /// transactions locking overlapping keys must not deadlock (lock in the given order).
    async fn lock_latest(&mut self, keys: &[(&str, &str)]) -> Result<Vec<Snapshot>, StoreError>;

    /// For each `(domain, module, job)` (sorted, distinct) that stored a version, that job's
    /// highest version, as `(domain, module, job, version)`.
    async fn versions_for_jobs(
        &mut self,
        keys: &[(&str, &str, Uuid)],
    ) -> Result<Vec<(String, String, Uuid, i64)>, StoreError>;

    /// Sets `checked_at = at` on each `(domain, module, version)`.
    async fn touch_checked(
        &mut self,
        versions: &[(&str, &str, i64)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Inserts new versions (non-empty).
    async fn insert_snapshots(&mut self, rows: &[SnapshotRow<'_>]) -> Result<(), StoreError>;

    /// Inserts change events (non-empty).
    async fn insert_events(&mut self, events: &[&ChangeEvent]) -> Result<(), StoreError>;

    /// Inserts alerts into the outbox (non-empty).
    async fn insert_alerts(&mut self, alerts: &[&Alert]) -> Result<(), StoreError>;

    /// Deletes the listed versions of one key (non-empty); returns how many existed.
    async fn delete_versions(
        &mut self,
        domain: &str,
        module: &str,
        versions: &[i64],
    ) -> Result<u64, StoreError>;

    /// Clears the patch of one version; returns whether that version exists.
    async fn clear_patch(
        &mut self,
        domain: &str,
        module: &str,
        version: i64,
    ) -> Result<bool, StoreError>;
}

/// The (domain, module) a result belongs to.
fn key_of(n: &NewSnapshot) -> (&str, &str) {
    (n.domain.as_str(), n.module.as_str())
}

/// What a key's latest version is while a batch is being saved: one read from the database, or
/// one this batch just created (index into its rows).
enum Latest {
    Stored(Box<Snapshot>),
    Batch(usize),
}

/// The save-snapshot rule (see [`SnapshotStore::save_snapshots`]), with a constant number of
/// statements per batch: one lock-and-read of every key, one job lookup when needed, one
/// multi-row write per table.
pub(crate) async fn save_batch<T: SnapshotTx + ?Sized>(
    tx: &mut T,
    news: &[NewSnapshot],
    derive: &dyn DeriveChanges,
) -> Result<Vec<SaveOutcome>, StoreError> {
    let stamp = crate::now();
    let mut keys: Vec<(&str, &str)> = news.iter().map(key_of).collect();
    keys.sort_unstable();
    keys.dedup();
    let slot = |keys: &[(&str, &str)], k: (&str, &str)| keys.binary_search(&k).ok();

    let mut latest: Vec<Option<Latest>> = keys.iter().map(|_| None).collect();
    for s in tx.lock_latest(&keys).await? {
        if let Some(i) = slot(&keys, (s.domain.as_str(), s.module.as_str())) {
            latest[i] = Some(Latest::Stored(Box::new(s)));
        }
    }

    // Which jobs already stored a version: only asked for keys that have one at all.
    let mut job_keys: Vec<(&str, &str, Uuid)> = news
        .iter()
        .filter_map(|n| {
            let job = n.job_id?;
            let i = slot(&keys, key_of(n))?;
            latest[i].as_ref().map(|_| (key_of(n).0, key_of(n).1, job))
        })
        .collect();
    job_keys.sort_unstable();
    job_keys.dedup();
    let mut job_versions: Vec<Option<i64>> = vec![None; job_keys.len()];
    if !job_keys.is_empty() {
        for (d, m, j, v) in tx.versions_for_jobs(&job_keys).await? {
            if let Ok(i) = job_keys.binary_search(&(d.as_str(), m.as_str(), j)) {
                job_versions[i] = Some(v);
            }
        }
    }
    let mut created_by_job: Vec<((&str, &str, Uuid), i64)> = Vec::new();

    let mut rows: Vec<SnapshotRow<'_>> = Vec::new();
    let mut touches: Vec<(&str, &str, i64)> = Vec::new();
    let mut out = Vec::with_capacity(news.len());
    for new in news {
        let (domain, module) = key_of(new);
        let Some(k) = slot(&keys, (domain, module)) else {
            return Err(StoreError::Invalid(
                "snapshot key vanished from its batch".into(),
            ));
        };
        let (prev_version, prev_hash) = match &latest[k] {
            Some(Latest::Stored(s)) => (Some(s.version), Some(s.content_hash.as_str())),
            Some(Latest::Batch(r)) => (
                Some(rows[*r].version),
                Some(rows[*r].new.content_hash.as_str()),
            ),
            None => (None, None),
        };
        if let Some(version) = prev_version {
            if prev_hash == Some(new.content_hash.as_str()) {
                // A version this batch created was stored with checked_at = stamp already.
                if matches!(latest[k], Some(Latest::Stored(_))) {
                    touches.push((domain, module, version));
                }
                out.push(SaveOutcome::Unchanged { version });
                continue;
            }
            if let Some(job) = new.job_id {
                let stored = job_keys
                    .binary_search(&(domain, module, job))
                    .ok()
                    .and_then(|i| job_versions[i])
                    .or_else(|| {
                        created_by_job
                            .iter()
                            .find(|(key, _)| *key == (domain, module, job))
                            .map(|(_, v)| *v)
                    });
                if let Some(version) = stored {
                    out.push(SaveOutcome::Unchanged { version });
                    continue;
                }
            }
        }
        let version = prev_version.map_or(1, |v| v + 1);
        let derived = match &latest[k] {
            Some(Latest::Stored(s)) => derive.derive(Some(s.as_ref()), new, version),
            Some(Latest::Batch(r)) => derive.derive(Some(&as_stored(&rows[*r])), new, version),
            None => derive.derive(None, new, version),
        };
        rows.push(SnapshotRow {
            new,
            version,
            patch: derived.patch,
            at: stamp,
        });
        latest[k] = Some(Latest::Batch(rows.len() - 1));
        if let Some(job) = new.job_id {
            created_by_job.push(((domain, module, job), version));
        }
        out.push(SaveOutcome::Created {
            version,
            events: derived.events,
            alerts: derived.alerts,
        });
    }

    if !rows.is_empty() {
        tx.insert_snapshots(&rows).await?;
    }
    if !touches.is_empty() {
        tx.touch_checked(&touches, stamp).await?;
    }
    let (mut events, mut alerts) = (Vec::new(), Vec::new());
    for o in &out {
        if let SaveOutcome::Created {
            events: e,
            alerts: a,
            ..
        } = o
        {
            events.extend(e);
            alerts.extend(a);
        }
    }
    if !events.is_empty() {
        tx.insert_events(&events).await?;
    }
    if !alerts.is_empty() {
        tx.insert_alerts(&alerts).await?;
    }
    crate::summary::follow_batch(tx, &rows, &touches, &events, stamp).await?;
    Ok(out)
}

/// A version created earlier in the same batch, as the database will return it once committed
/// (the previous version `derive` sees when a batch holds two results of one module).
fn as_stored(row: &SnapshotRow<'_>) -> Snapshot {
    Snapshot {
        domain: row.new.domain.clone(),
        module: row.new.module.clone(),
        version: row.version,
        data: row.new.data.clone(),
        citations: row.new.citations.clone(),
        content_hash: row.new.content_hash.clone(),
        fetched_at: row.new.fetched_at.trunc_subsecs(6),
        checked_at: row.at,
        created_at: row.at,
        job_id: row.new.job_id,
        patch: row.patch.clone(),
    }
}

/// The retention rule (see [`SnapshotStore::prune_versions`]).
async fn prune<T: SnapshotTx + ?Sized>(
    tx: &mut T,
    domain: &str,
    module: &str,
    delete: &[i64],
    new_base: Option<i64>,
) -> Result<u64, StoreError> {
    if let Some(latest) = tx.lock_latest(&[(domain, module)]).await?.first() {
        if delete.contains(&latest.version) {
            return Err(StoreError::Invalid(format!(
                "refusing to delete the latest version {} of {domain}/{module}",
                latest.version
            )));
        }
    }
    let deleted = if delete.is_empty() {
        0
    } else {
        tx.delete_versions(domain, module, delete).await?
    };
    if let Some(base) = new_base {
        if !tx.clear_patch(domain, module, base).await? {
            return Err(StoreError::not_found(format!(
                "version {base} of {domain}/{module} to become the new base"
            )));
        }
    }
    Ok(deleted)
}

/// The levels a minimum admits, by [`Level`]'s order (the one ranking of levels).
fn levels_at_or_above(min: Level) -> Vec<Level> {
    [Level::Low, Level::Medium, Level::High, Level::Critical]
        .into_iter()
        .filter(|l| *l >= min)
        .collect()
}

/// How long a cursor is: 16 hex digits of the position's time (microseconds since the epoch,
/// as the bits of an `i64`) and 32 of its event id. Every string of this many lower-case hex
/// digits is a cursor ([`CURSOR_PATTERN`]), so a client that sends one never gets an error.
pub const CURSOR_LEN: usize = 48;

/// The form of every cursor, as a regular expression (the API documents it).
pub const CURSOR_PATTERN: &str = "^[0-9a-f]{48}$";

/// A page position as an opaque cursor (see [`CURSOR_LEN`]).
pub(crate) fn encode_cursor(at: DateTime<Utc>, id: Uuid) -> String {
    format!("{:016x}{}", at.timestamp_micros() as u64, id.simple())
}

/// Inverse of [`encode_cursor`]; anything not of its form is [`StoreError::Invalid`]. A time
/// beyond what dates can hold is clamped to the nearest one, so every well-formed cursor reads.
pub(crate) fn decode_cursor(cursor: &str) -> Result<(DateTime<Utc>, Uuid), StoreError> {
    let bad = || {
        StoreError::Invalid(format!(
            "cursor {cursor:?} is not one this server issued: pass next_cursor back unchanged, \
             or leave the cursor out to start from the newest"
        ))
    };
    let c = cursor.trim();
    if c.len() != CURSOR_LEN
        || !c
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(bad());
    }
    let micros = u64::from_str_radix(&c[..16], 16).map_err(|_| bad())? as i64;
    let at = DateTime::from_timestamp_micros(micros).unwrap_or(if micros < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    });
    let id = Uuid::parse_str(&c[16..]).map_err(|_| bad())?;
    Ok((at, id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn levels_follow_the_one_ranking() {
        assert_eq!(
            levels_at_or_above(Level::High),
            [Level::High, Level::Critical]
        );
        assert_eq!(levels_at_or_above(Level::Low).len(), 4);
    }

    #[test]
    fn bad_cursors_are_invalid_with_a_fix() {
        for bad in [
            "",
            "!!!",
            "bm90LWEtY3Vyc29y",
            "0123456789abcdef0123456789abcdef0123456789abcde",
            "0123456789ABCDEF0123456789abcdef0123456789abcdef",
        ] {
            let err = decode_cursor(bad).unwrap_err();
            assert!(
                matches!(&err, StoreError::Invalid(m) if m.contains("next_cursor")),
                "{bad:?}: {err}"
            );
        }
    }

    proptest! {
        #[test]
        fn cursors_round_trip(micros in -62_000_000_000_000_000i64..250_000_000_000_000_000, id in any::<u128>()) {
            let at = DateTime::from_timestamp_micros(micros).unwrap();
            let id = Uuid::from_u128(id);
            prop_assert_eq!(decode_cursor(&encode_cursor(at, id)).unwrap(), (at, id));
        }

        #[test]
        fn arbitrary_cursors_never_panic(text in ".{0,80}") {
            let _ = decode_cursor(&text);
        }

        /// The API promises that every string of the documented form is accepted.
        #[test]
        fn every_cursor_of_the_documented_form_decodes(text in "[0-9a-f]{48}") {
            prop_assert!(regex::Regex::new(CURSOR_PATTERN).unwrap().is_match(&text));
            prop_assert!(decode_cursor(&text).is_ok());
        }
    }
}
