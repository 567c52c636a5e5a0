//! Spend accounting: reserve before a call is sent, commit or release after. Reservations are
//! checked and taken under one in-process lock, so concurrent modules can never push spend past
//! a cap; committed charges go to the [`Ledger`] so caps hold across restarts.
//!
//! Spend is re-read from the ledger every [`REFRESH`], so workers sharing one database see each
//! other's charges within that delay (the cross-process bound is therefore "cap + what other
//! workers spend in one refresh interval"; within a process the cap is exact).

use crate::caps::{BudgetConfig, Period};
use crate::ledger::{Ledger, LedgerEntry};
use crate::GatewayError;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Tolerance for float sums of credits.
const EPS: f64 = 1e-9;

/// How often persisted spend is re-read, to see charges made by other processes.
const REFRESH: std::time::Duration = std::time::Duration::from_secs(30);

/// Whose spend a counter tracks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Scope {
    Provider(String),
    Total,
}

/// Spend in one window of one scope.
#[derive(Debug, Clone)]
struct Window {
    start: DateTime<Utc>,
    /// Committed spend: the ledger's total when loaded, plus this process's commits since.
    spent: f64,
    /// Held by calls in flight (including commits still being written to the ledger).
    reserved: f64,
    loaded_at: Instant,
}

#[derive(Default)]
struct State {
    windows: HashMap<(Scope, Period), Window>,
    run_spent: f64,
    run_reserved: f64,
}

/// One cap that applies to a call.
struct Cap {
    scope: Scope,
    period: Period,
    limit: f64,
}

/// The gateway's budget: caps, the in-process reservations and the persistent ledger.
pub(crate) struct Budget {
    caps: BudgetConfig,
    ledger: Arc<dyn Ledger>,
    state: Mutex<State>,
    /// How often persisted spend is re-read ([`REFRESH`] unless the builder set it).
    refresh: std::time::Duration,
}

/// Credits held for one call in flight. Dropping it without [`Reservation::commit`] releases
/// the credits (the call was not charged, or the task was cancelled).
pub(crate) struct Reservation {
    budget: Arc<Budget>,
    provider: String,
    cost: f64,
    windows: Vec<((Scope, Period), DateTime<Utc>)>,
    /// The charge is being written to the ledger: if the task is cancelled now, still count it.
    committing: bool,
    done: bool,
}

impl Budget {
    pub(crate) fn new(caps: BudgetConfig, ledger: Arc<dyn Ledger>) -> Self {
        Budget {
            caps,
            ledger,
            state: Mutex::new(State::default()),
            refresh: REFRESH,
        }
    }

    /// Re-reads persisted spend this often: shorter tightens caps shared by several workers
    /// (each can overshoot by what the others spend in one interval) at one ledger read per cap
    /// per interval.
    pub(crate) fn with_refresh(mut self, every: std::time::Duration) -> Self {
        self.refresh = every;
        self
    }

    fn caps_for(&self, provider: &str) -> Vec<Cap> {
        let mut caps = Vec::new();
        if let Some(pc) = self.caps.providers.get(provider) {
            let scope = Scope::Provider(provider.to_string());
            if let Some(limit) = pc.daily {
                caps.push(Cap {
                    scope: scope.clone(),
                    period: Period::Day,
                    limit,
                });
            }
            if let Some(limit) = pc.monthly {
                caps.push(Cap {
                    scope,
                    period: Period::Month,
                    limit,
                });
            }
        }
        if let Some(limit) = self.caps.total_daily {
            caps.push(Cap {
                scope: Scope::Total,
                period: Period::Day,
                limit,
            });
        }
        if let Some(limit) = self.caps.total_monthly {
            caps.push(Cap {
                scope: Scope::Total,
                period: Period::Month,
                limit,
            });
        }
        caps
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave counters half-updated (each update is a
        // couple of float additions), so a poisoned lock is safe to keep using.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Loads persisted spend for windows not yet seen (first use, a new day/month) or not
    /// re-read for [`REFRESH`].
    async fn load_missing(&self, caps: &[Cap], now: DateTime<Utc>) -> Result<(), GatewayError> {
        let missing: Vec<(Scope, Period, DateTime<Utc>)> = {
            let st = self.lock();
            caps.iter()
                .map(|c| (c.scope.clone(), c.period, c.period.start(now)))
                .filter(|(s, p, start)| {
                    st.windows
                        .get(&(s.clone(), *p))
                        .is_none_or(|w| w.start != *start || w.loaded_at.elapsed() > self.refresh)
                })
                .collect()
        };
        for (scope, period, start) in missing {
            let provider = match &scope {
                Scope::Provider(p) => Some(p.as_str()),
                Scope::Total => None,
            };
            let spent = self
                .ledger
                .spent_since(provider, start)
                .await
                .map_err(|e| GatewayError::Config {
                    provider: provider.unwrap_or("*").to_string(),
                    reason: format!("cannot read spend so far: {e}"),
                })?;
            let mut st = self.lock();
            let fresh = Window {
                start,
                spent,
                reserved: 0.0,
                loaded_at: Instant::now(),
            };
            let w = st.windows.entry((scope, period)).or_insert(fresh.clone());
            if w.start != start {
                *w = fresh;
            } else {
                // Commits reach the ledger before they leave `reserved`, so the ledger's total
                // never misses a charge this process still counts only as reserved.
                w.spent = spent;
                w.loaded_at = fresh.loaded_at;
            }
        }
        Ok(())
    }

    /// Holds `cost` credits against every cap that applies, or names the first cap it would break.
    pub(crate) async fn reserve(
        self: &Arc<Self>,
        provider: &str,
        cost: f64,
    ) -> Result<Reservation, GatewayError> {
        let now = Utc::now();
        let caps = self.caps_for(provider);
        self.load_missing(&caps, now).await?;
        let mut st = self.lock();
        if let Some(limit) = self.caps.per_run {
            let used = st.run_spent + st.run_reserved;
            if used + cost > limit + EPS {
                return Err(GatewayError::Budget {
                    cap: "run".into(),
                    spent: used,
                    limit,
                    cost,
                    resets_at: None,
                });
            }
        }
        let mut windows = Vec::with_capacity(caps.len());
        for cap in &caps {
            let start = cap.period.start(now);
            let used = st
                .windows
                .get(&(cap.scope.clone(), cap.period))
                .filter(|w| w.start == start)
                .map(|w| w.spent + w.reserved)
                .unwrap_or(0.0);
            if used + cost > cap.limit + EPS {
                let who = match &cap.scope {
                    Scope::Provider(p) => p.as_str(),
                    Scope::Total => "total",
                };
                return Err(GatewayError::Budget {
                    cap: format!("{who} {}", cap.period.name()),
                    spent: used,
                    limit: cap.limit,
                    cost,
                    resets_at: Some(cap.period.reset(now)),
                });
            }
            windows.push(((cap.scope.clone(), cap.period), start));
        }
        for (key, start) in &windows {
            let w = st.windows.entry(key.clone()).or_insert(Window {
                start: *start,
                spent: 0.0,
                reserved: 0.0,
                loaded_at: Instant::now(),
            });
            w.reserved += cost;
        }
        st.run_reserved += cost;
        Ok(Reservation {
            budget: Arc::clone(self),
            provider: provider.to_string(),
            cost,
            windows,
            committing: false,
            done: false,
        })
    }

    /// Credits committed in this process run.
    pub(crate) fn run_spent(&self) -> f64 {
        self.lock().run_spent
    }

    fn settle(&self, r: &Reservation, charged: bool) {
        let mut st = self.lock();
        for (key, start) in &r.windows {
            if let Some(w) = st.windows.get_mut(key) {
                if w.start == *start {
                    w.reserved = (w.reserved - r.cost).max(0.0);
                    if charged {
                        w.spent += r.cost;
                    }
                }
            }
        }
        st.run_reserved = (st.run_reserved - r.cost).max(0.0);
        if charged {
            st.run_spent += r.cost;
        }
    }
}

impl Reservation {
    /// Turns the hold into a charge and writes it to the ledger. A ledger write failure is
    /// logged, not returned: the call has happened and its answer is still worth using.
    pub(crate) async fn commit(mut self, entry: LedgerEntryParts) {
        self.committing = true;
        let entry = LedgerEntry {
            provider: self.provider.clone(),
            module: entry.module,
            domain: entry.domain,
            job: entry.job,
            cost: self.cost,
            status: entry.status,
            at: Utc::now(),
            request: entry.request,
        };
        if let Err(e) = self.budget.ledger.record(&entry).await {
            tracing::error!(provider = %entry.provider, cost = entry.cost, "{e}");
        }
        self.done = true;
        self.budget.settle(&self, true);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.done {
            self.budget.settle(self, self.committing);
        }
    }
}

/// What the caller knows about a charged call, beyond provider and cost.
pub(crate) struct LedgerEntryParts {
    pub module: Option<String>,
    pub domain: Option<String>,
    pub job: Option<String>,
    pub status: Option<u16>,
    pub request: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::ProviderCaps;
    use crate::ledger::MemoryLedger;

    fn parts() -> LedgerEntryParts {
        LedgerEntryParts {
            module: None,
            domain: None,
            job: None,
            status: Some(200),
            request: None,
        }
    }

    #[tokio::test]
    async fn spend_loaded_from_ledger_counts_and_release_frees() {
        let ledger = Arc::new(MemoryLedger::new());
        ledger
            .record(&LedgerEntry {
                provider: "sw".into(),
                module: None,
                domain: None,
                job: None,
                cost: 8.0,
                status: Some(200),
                at: Utc::now(),
                request: None,
            })
            .await
            .unwrap();
        let mut caps = BudgetConfig::default();
        caps.providers.insert(
            "sw".into(),
            ProviderCaps {
                daily: Some(10.0),
                monthly: None,
            },
        );
        let b = Arc::new(Budget::new(caps, ledger.clone()));
        let r1 = b.reserve("sw", 1.0).await.unwrap();
        let r2 = b.reserve("sw", 1.0).await.unwrap();
        let err = b.reserve("sw", 1.0).await.err().unwrap();
        assert!(
            err.to_string().contains("`sw daily` reached (10/10"),
            "{err}"
        );
        drop(r2);
        r1.commit(parts()).await;
        let r3 = b.reserve("sw", 1.0).await.unwrap();
        r3.commit(parts()).await;
        assert!(b.reserve("sw", 1.0).await.is_err());
        assert_eq!(ledger.entries().len(), 3);
        assert_eq!(b.run_spent(), 2.0);
    }
}
