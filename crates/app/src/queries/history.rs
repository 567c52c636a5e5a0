//! Versions and what changed: a domain's history, the diff between two versions of a module,
//! and the change timeline across accounts (filtered in the database, newest first, paged).

use crate::error::{AppError, AppResult};
use crate::App;
use chrono::{DateTime, Utc};
use pforge_core::{ChangeEvent, Domain, Level, SetArray};
use pforge_store::{ChangePage, ChangeQuery, Snapshot};
use pforge_versioning::Change;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use uuid::Uuid;

/// Most events one page of the timeline holds.
pub const MAX_PAGE: i64 = 10_000;

/// One stored version of a module, with the change events it raised.
#[derive(Debug, Clone, Serialize)]
pub struct VersionEntry {
    pub module: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub checked_at: DateTime<Utc>,
    pub job_id: Option<Uuid>,
    pub changes: Vec<ChangeEvent>,
}

/// Which change events to list.
#[derive(Debug, Clone, Default)]
pub struct ChangeFilter {
    pub domain: Option<Domain>,
    pub module: Option<String>,
    /// Only events at this level or above.
    pub min_level: Option<Level>,
    /// Only events detected at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Continue after the page that returned this cursor.
    pub cursor: Option<String>,
    /// At most this many (1 ..= [`MAX_PAGE`]).
    pub limit: i64,
}

/// Two versions of a module and what changed between them.
#[derive(Debug, Clone, Serialize)]
pub struct VersionDiff {
    pub domain: String,
    pub module: String,
    pub from: i64,
    pub to: i64,
    /// The newest stored version (for stepping through versions).
    pub latest: i64,
    /// RFC 6902 patch from `from` to `to`.
    pub patch: Value,
    /// The patch explained: paths with set elements named by identity.
    pub changes: Vec<Change>,
    pub old: Snapshot,
    pub new: Snapshot,
}

impl App {
    /// Change events matching `filter`, newest first, up to `filter.limit` of them; the
    /// page's `next_cursor` continues after the last one. Large limits are read from the
    /// database [`MAX_PAGE`] events at a time.
    pub async fn changes(&self, filter: &ChangeFilter) -> AppResult<ChangePage> {
        if filter.limit < 1 {
            return Err(AppError::invalid(format!(
                "limit {} is out of range: use 1 or more",
                filter.limit
            )));
        }
        let mut page = ChangePage::default();
        let mut next = filter.clone();
        loop {
            let want = (filter.limit - page.events.len() as i64).min(MAX_PAGE);
            next.limit = want;
            let part = self.changes_page(&next).await?;
            page.events.extend(part.events);
            page.next_cursor = part.next_cursor;
            match &page.next_cursor {
                Some(c) if (page.events.len() as i64) < filter.limit => {
                    next.cursor = Some(c.clone())
                }
                _ => return Ok(page),
            }
        }
    }

    /// One page of at most [`MAX_PAGE`] events.
    async fn changes_page(&self, filter: &ChangeFilter) -> AppResult<ChangePage> {
        let query = ChangeQuery {
            domain: filter.domain.as_ref().map(ToString::to_string),
            module: filter.module.clone(),
            min_level: filter.min_level,
            since: filter.since,
            cursor: filter.cursor.clone(),
            limit: filter.limit as u32,
            until: None,
        };
        self.store()
            .list_change_events(&query)
            .await
            .map_err(|e| match e {
                pforge_store::StoreError::Invalid(m) => AppError::invalid(m),
                other => other.into(),
            })
    }

    /// Every stored version of `domain` (optionally of one module), oldest first per module,
    /// each with the change events it raised. Nothing stored is [`AppError::NotFound`].
    pub async fn history(
        &self,
        domain: &Domain,
        module: Option<&str>,
    ) -> AppResult<Vec<VersionEntry>> {
        let snaps = self
            .store()
            .snapshot_history(domain.as_str(), module)
            .await?;
        if snaps.is_empty() {
            return Err(AppError::not_found(format!(
                "nothing stored for {domain}: run `pforge enrich {domain}` first"
            )));
        }
        let mut by_version: BTreeMap<(String, i64), Vec<ChangeEvent>> = BTreeMap::new();
        let mut filter = ChangeFilter {
            domain: Some(domain.clone()),
            module: module.map(str::to_string),
            limit: MAX_PAGE,
            ..Default::default()
        };
        loop {
            let page = self.changes_page(&filter).await?;
            for e in page.events {
                by_version
                    .entry((e.module.clone(), e.version))
                    .or_default()
                    .push(e);
            }
            match page.next_cursor {
                Some(c) => filter.cursor = Some(c),
                None => break,
            }
        }
        Ok(snaps
            .into_iter()
            .map(|s| {
                let mut changes = by_version
                    .remove(&(s.module.clone(), s.version))
                    .unwrap_or_default();
                // Oldest first within a version, as they were detected.
                changes.reverse();
                VersionEntry {
                    module: s.module,
                    version: s.version,
                    created_at: s.created_at,
                    checked_at: s.checked_at,
                    job_id: s.job_id,
                    changes,
                }
            })
            .collect())
    }

    /// What changed in `module` between versions `from` and `to` (default: the latest and the
    /// one before it; equal versions give an empty diff). Set arrays are compared by identity, so the diff reads "Algolia
    /// removed", not index shuffles.
    pub async fn diff(
        &self,
        domain: &Domain,
        module: &str,
        from: Option<i64>,
        to: Option<i64>,
    ) -> AppResult<VersionDiff> {
        let store = self.store();
        let latest = store
            .latest_snapshot(domain.as_str(), module)
            .await?
            .ok_or_else(|| {
                AppError::not_found(format!(
                    "nothing stored for {domain} module {module}: check the module id (`pforge plan`) or enrich first"
                ))
            })?;
        // Any two versions compare, in either order (`from` > `to` reads what changed going
        // back); the default is the newest change, or nothing at all when there is one version.
        let to = to.unwrap_or(latest.version);
        let from = from.unwrap_or((to - 1).max(1));
        for v in [from, to] {
            if v < 1 {
                return Err(AppError::invalid(format!(
                    "version {v} does not exist: versions count from 1 (the latest is {})",
                    latest.version
                )));
            }
        }
        let fetch = |v: i64| async move {
            store
                .get_snapshot(domain.as_str(), module, v)
                .await?
                .ok_or_else(|| {
                    AppError::not_found(format!(
                        "version {v} of {module} for {domain} is not stored (pruned, or never existed)"
                    ))
                })
        };
        let old = fetch(from).await?;
        let new = fetch(to).await?;
        let sets = self.set_arrays(module);
        let patch = pforge_versioning::diff(&old.data, &new.data, &sets);
        let changes = pforge_versioning::changes(&old.data, &patch, &sets)
            .map_err(|e| AppError::Conflict(format!("the stored versions do not diff: {e}")))?;
        Ok(VersionDiff {
            domain: domain.to_string(),
            module: module.to_string(),
            from,
            to,
            latest: latest.version,
            patch: pforge_versioning::patch_to_value(&patch),
            changes,
            old,
            new,
        })
    }

    /// The set arrays a module declares (none when the modules cannot be built).
    pub fn set_arrays(&self, module: &str) -> Vec<SetArray> {
        self.plan()
            .ok()
            .and_then(|p| p.module(module).map(|m| m.spec().set_arrays.clone()))
            .unwrap_or_default()
    }
}
