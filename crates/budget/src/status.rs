//! Spend against every configured cap, read from the ledger: what `pforge budget` prints and the
//! daemon exports as `pforge_budget_remaining`.

use crate::caps::{BudgetConfig, Period};
use crate::ledger::{Ledger, LedgerError};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One cap and how much of it is used.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CapStatus {
    /// `total` or a provider id.
    pub scope: String,
    /// `daily` or `monthly`.
    pub period: &'static str,
    /// Charged, held and unknown credits in the period.
    pub spent: f64,
    /// The part of `spent` whose outcome is unknown: held by a worker that died before it could
    /// say whether the provider billed the call (counted as spent, shown apart).
    pub unknown: f64,
    pub limit: f64,
    pub remaining: f64,
    pub resets_at: DateTime<Utc>,
}

/// Reads the spend behind every cap in `cfg` as of `now` (total caps first, then providers).
pub async fn cap_status(
    cfg: &BudgetConfig,
    ledger: &dyn Ledger,
    now: DateTime<Utc>,
) -> Result<Vec<CapStatus>, LedgerError> {
    let mut caps: Vec<(Option<&str>, Period, f64)> = Vec::new();
    if let Some(l) = cfg.total_daily {
        caps.push((None, Period::Day, l));
    }
    if let Some(l) = cfg.total_monthly {
        caps.push((None, Period::Month, l));
    }
    for (id, p) in &cfg.providers {
        if let Some(l) = p.daily {
            caps.push((Some(id.as_str()), Period::Day, l));
        }
        if let Some(l) = p.monthly {
            caps.push((Some(id.as_str()), Period::Month, l));
        }
    }
    let mut out = Vec::with_capacity(caps.len());
    for (provider, period, limit) in caps {
        let spent = ledger.spent_since(provider, period.start(now)).await?;
        let unknown = ledger.unknown_since(provider, period.start(now)).await?;
        out.push(CapStatus {
            scope: provider.unwrap_or("total").to_string(),
            period: period.name(),
            spent,
            unknown,
            limit,
            remaining: (limit - spent).max(0.0),
            resets_at: period.reset(now),
        });
    }
    Ok(out)
}
