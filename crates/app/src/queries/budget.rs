//! Spend against every cap, read from the ledger: what `pforge budget`, `/api/v1/budget`, the
//! budget page and `pforge_budget_remaining` all show (one reading, one naming of scopes); and
//! the providers' rate-limit waits and circuit breakers as this process's gateway sees them.

use crate::adapters::StoreLedger;
use crate::error::{AppError, AppResult};
use crate::App;
use pforge_budget::{CapStatus, ProviderHealth};

impl App {
    /// Every configured cap with what is spent in its current period (total caps first).
    pub async fn budget_status(&self) -> AppResult<Vec<CapStatus>> {
        let ledger = StoreLedger::new(self.store().clone());
        pforge_budget::cap_status(&self.settings().config.budget, &ledger, chrono::Utc::now())
            .await
            .map_err(|e| AppError::Unavailable(e.to_string()))
    }

    /// Every configured provider's rate-limit waits and unhealthy circuit breakers (at most
    /// `breakers_per_provider` each, open ones first) in this process: what explains a slow or
    /// skipped provider beside what it cost. Jobs with their own spend cap run on a gateway of
    /// their own, whose waits are not in here.
    pub fn provider_health(&self, breakers_per_provider: usize) -> AppResult<Vec<ProviderHealth>> {
        Ok(self.gateway()?.health(breakers_per_provider))
    }
}
