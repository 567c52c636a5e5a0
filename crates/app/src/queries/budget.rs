//! Spend against every cap, read from the ledger: what `pforge budget`, `/api/v1/budget`, the
//! budget page and `pforge_budget_remaining` all show (one reading, one naming of scopes).

use crate::adapters::StoreLedger;
use crate::error::{AppError, AppResult};
use crate::App;
use pforge_budget::CapStatus;

impl App {
    /// Every configured cap with what is spent in its current period (total caps first).
    pub async fn budget_status(&self) -> AppResult<Vec<CapStatus>> {
        let ledger = StoreLedger::new(self.store().clone());
        pforge_budget::cap_status(&self.settings().config.budget, &ledger, chrono::Utc::now())
            .await
            .map_err(|e| AppError::Unavailable(e.to_string()))
    }
}
