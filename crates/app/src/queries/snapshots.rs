//! Stored versions as front ends read them: a domain's newest snapshots, every version, one
//! version. Thin on purpose: the store answers; this is the one place front ends ask it.

use crate::error::{AppError, AppResult};
use crate::App;
use pforge_core::Domain;
use pforge_store::Snapshot;

impl App {
    /// The newest version of every module for a domain (empty when nothing is stored).
    pub async fn latest_snapshots(&self, domain: &Domain) -> AppResult<Vec<Snapshot>> {
        Ok(self.store().latest_snapshots(domain.as_str()).await?)
    }

    /// Every stored version of a domain, oldest first, optionally of one module.
    pub async fn snapshots(
        &self,
        domain: &Domain,
        module: Option<&str>,
    ) -> AppResult<Vec<Snapshot>> {
        Ok(self
            .store()
            .snapshot_history(domain.as_str(), module)
            .await?)
    }

    /// One version; one that was never stored (or was pruned) is [`AppError::NotFound`].
    pub async fn snapshot(
        &self,
        domain: &Domain,
        module: &str,
        version: i64,
    ) -> AppResult<Snapshot> {
        self.store()
            .get_snapshot(domain.as_str(), module, version)
            .await?
            .ok_or_else(|| {
                AppError::not_found(format!(
                    "version {version} of {module} for {domain} is not stored (see its versions with `pforge history {domain}`)"
                ))
            })
    }
}
