//! The target list (the domains schedules enrich when they name no file) and the readiness
//! check front ends report: the operations the API and the UI share.

use crate::error::AppResult;
use crate::App;
use pforge_core::Domain;
use pforge_store::{Job, Target};

impl App {
    /// Every listed target, by domain.
    pub async fn targets(&self) -> AppResult<Vec<Target>> {
        Ok(self.store().list_targets().await?)
    }

    /// Lists domains (one transaction); returns how many were not listed before.
    pub async fn add_targets(&self, domains: &[Domain]) -> AppResult<u64> {
        let names: Vec<String> = domains.iter().map(|d| d.to_string()).collect();
        Ok(self.store().add_targets(&names).await?)
    }

    /// Unlists domains; returns how many were listed.
    pub async fn remove_targets(&self, domains: &[Domain]) -> AppResult<u64> {
        let mut removed = 0;
        for d in domains {
            removed += u64::from(self.store().remove_target(d.as_str()).await?);
        }
        Ok(removed)
    }

    /// The newest `limit` jobs as stored (without progress counts: cheap for lists).
    pub async fn recent_jobs(&self, limit: i64) -> AppResult<Vec<Job>> {
        Ok(self.store().list_jobs(limit.clamp(1, 10_000)).await?)
    }

    /// Whether the database answers with the current schema (the store migrates on open;
    /// reading the newest tables proves the migrations are there).
    pub async fn check_ready(&self) -> AppResult<()> {
        self.store().list_jobs(1).await?;
        self.store().list_targets().await?;
        Ok(())
    }

    /// Brings the database-derived metric gauges (queue depth, budget left) up to date before
    /// a scrape; nothing when metrics are not collected.
    pub async fn refresh_metrics(&self) -> Result<(), String> {
        match self.metrics() {
            Some(m) => {
                m.refresh(self.store().clone(), &self.settings().config.budget)
                    .await
            }
            None => Ok(()),
        }
    }
}
