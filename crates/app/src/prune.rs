//! Retention (`[retention]`): keep the last N versions and/or those newer than D days per
//! module, never the latest; the oldest kept version becomes the new base (full data, no patch),
//! so the stored patches stay consistent. Change events are history and are kept.

use crate::error::AppResult;
use crate::App;
use chrono::Utc;
use pforge_versioning::{plan_retention, VersionInfo};
use serde::Serialize;

/// What pruning did (or would do) to one (domain, module).
#[derive(Debug, Clone, Serialize)]
pub struct Pruned {
    pub domain: String,
    pub module: String,
    pub deleted: Vec<i64>,
    pub new_base: Option<i64>,
}

impl App {
    /// Applies the retention policy to every stored history (or, with `dry_run`, only says what
    /// it would delete).
    pub async fn prune(&self, dry_run: bool) -> AppResult<Vec<Pruned>> {
        let retention = &self.settings().versioning.retention;
        let store = self.store();
        let now = Utc::now();
        let mut report = Vec::new();
        for (domain, module, count) in store.snapshot_keys().await? {
            if count < 2 {
                continue;
            }
            let history = store.snapshot_history(&domain, Some(&module)).await?;
            let versions: Vec<VersionInfo> = history
                .iter()
                .map(|s| VersionInfo {
                    version: s.version,
                    created_at: s.created_at,
                })
                .collect();
            let plan = plan_retention(&versions, &retention.policy_for(&module), now);
            if plan.delete.is_empty() {
                continue;
            }
            if !dry_run {
                store
                    .prune_versions(&domain, &module, &plan.delete, plan.new_base)
                    .await?;
            }
            report.push(Pruned {
                domain,
                module,
                deleted: plan.delete,
                new_base: plan.new_base,
            });
        }
        Ok(report)
    }
}
