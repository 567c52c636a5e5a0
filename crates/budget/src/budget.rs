//! Spend accounting: hold before a call is sent, commit or release after. Every cap that applies
//! to a call (per provider and in total, per day and per month, and the job's own spend cap) is
//! checked and held by the [`Ledger`] atomically with the check, so processes sharing one ledger
//! (workers on one database) together never spend past a cap, not by one credit. Only the
//! per-run cap (`[budget] per_run`, one process's run by definition) is counted here, in memory.

use crate::caps::{BudgetConfig, Period};
use crate::ledger::{Hold, HoldId, Ledger, LedgerCap, LedgerEntry};
use crate::GatewayError;
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};

/// Tolerance for float sums of credits.
const EPS: f64 = 1e-9;

#[derive(Default)]
struct RunState {
    spent: f64,
    reserved: f64,
}

/// One cap that applies to a call, named the way errors and `[budget]` keys name it.
struct Cap {
    /// `similarweb daily`, `total monthly`, `job`.
    name: String,
    cap: LedgerCap,
    resets_at: Option<DateTime<Utc>>,
}

/// The gateway's budget: caps, the per-run count and the ledger that holds everything else.
pub(crate) struct Budget {
    caps: BudgetConfig,
    /// The spend cap of the job every call belongs to, summed over all its processes.
    job_cap: Option<f64>,
    ledger: Arc<dyn Ledger>,
    run: Mutex<RunState>,
}

/// Credits held for one call in flight. Dropping it without [`Reservation::commit`] releases
/// the credits (the call was not charged, or the task was cancelled).
pub(crate) struct Reservation {
    budget: Arc<Budget>,
    /// None when no cap needed the ledger to hold (the charge is then recorded on commit).
    hold: Option<HoldId>,
    entry: LedgerEntry,
    /// The charge is being written to the ledger: if the task is cancelled now, keep the hold
    /// (it is settled as unknown, still counted) and count it in this run.
    committing: bool,
    done: bool,
}

/// What a call is, for the ledger: who makes it and for whom.
pub(crate) struct CallParts<'a> {
    pub provider: &'a str,
    pub module: Option<&'a str>,
    pub domain: Option<&'a str>,
    pub job: Option<&'a str>,
}

impl Budget {
    pub(crate) fn new(caps: BudgetConfig, job_cap: Option<f64>, ledger: Arc<dyn Ledger>) -> Self {
        Budget {
            caps,
            job_cap,
            ledger,
            run: Mutex::new(RunState::default()),
        }
    }

    fn caps_for(&self, call: &CallParts<'_>, now: DateTime<Utc>) -> Vec<Cap> {
        let mut caps = Vec::new();
        let mut window = |who: &str, provider: Option<&str>, period: Period, limit: f64| {
            caps.push(Cap {
                name: format!("{who} {}", period.name()),
                cap: LedgerCap {
                    provider: provider.map(str::to_string),
                    job: None,
                    since: Some(period.start(now)),
                    limit,
                },
                resets_at: Some(period.reset(now)),
            })
        };
        if let Some(pc) = self.caps.providers.get(call.provider) {
            if let Some(limit) = pc.daily {
                window(call.provider, Some(call.provider), Period::Day, limit);
            }
            if let Some(limit) = pc.monthly {
                window(call.provider, Some(call.provider), Period::Month, limit);
            }
        }
        if let Some(limit) = self.caps.total_daily {
            window("total", None, Period::Day, limit);
        }
        if let Some(limit) = self.caps.total_monthly {
            window("total", None, Period::Month, limit);
        }
        if let (Some(limit), Some(job)) = (self.job_cap, call.job) {
            caps.push(Cap {
                name: "job".into(),
                cap: LedgerCap {
                    provider: None,
                    job: Some(job.to_string()),
                    since: None,
                    limit,
                },
                resets_at: None,
            });
        }
        caps
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RunState> {
        // A panic while holding this lock cannot leave counters half-updated (each update is a
        // couple of float additions), so a poisoned lock is safe to keep using.
        self.run.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The per-run cap, or (when a job cap is set but the call names no job) the job cap counted
    /// in this process: checked and reserved in memory.
    fn run_limit(&self, call: &CallParts<'_>) -> Option<f64> {
        match (
            self.caps.per_run,
            self.job_cap.filter(|_| call.job.is_none()),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Holds `cost` credits against every cap that applies, or names the first cap it would break.
    pub(crate) async fn reserve(
        self: &Arc<Self>,
        call: CallParts<'_>,
        cost: f64,
    ) -> Result<Reservation, GatewayError> {
        let now = Utc::now();
        if let Some(limit) = self.run_limit(&call) {
            let mut st = self.lock();
            let used = st.spent + st.reserved;
            if used + cost > limit + EPS {
                return Err(GatewayError::Budget {
                    cap: "run".into(),
                    spent: used,
                    limit,
                    cost,
                    resets_at: None,
                });
            }
            st.reserved += cost;
        }
        let mut reservation = Reservation {
            budget: Arc::clone(self),
            hold: None,
            entry: LedgerEntry {
                provider: call.provider.to_string(),
                module: call.module.map(str::to_string),
                domain: call.domain.map(str::to_string),
                job: call.job.map(str::to_string),
                cost,
                status: None,
                at: now,
                request: None,
            },
            committing: false,
            done: false,
        };
        let caps = self.caps_for(&call, now);
        if caps.is_empty() {
            return Ok(reservation);
        }
        let ledger_caps: Vec<LedgerCap> = caps.iter().map(|c| c.cap.clone()).collect();
        let held = self
            .ledger
            .hold(&reservation.entry, &ledger_caps)
            .await
            .map_err(|e| GatewayError::Config {
                provider: call.provider.to_string(),
                reason: format!("cannot hold credits for this call (not sent): {e}"),
            })?;
        match held {
            Hold::Held(id) => {
                reservation.hold = Some(id);
                Ok(reservation)
            }
            Hold::Refused { cap, spent } => {
                let (name, limit, resets_at) = caps
                    .get(cap)
                    .map(|c| (c.name.clone(), c.cap.limit, c.resets_at))
                    .unwrap_or_else(|| ("unknown".into(), 0.0, None));
                Err(GatewayError::Budget {
                    cap: name,
                    spent,
                    limit,
                    cost,
                    resets_at,
                })
            }
        }
    }

    /// Credits committed in this process run.
    pub(crate) fn run_spent(&self) -> f64 {
        self.lock().spent
    }

    /// Settles a call in this run's counters: what it reserved (only calls under a run limit
    /// reserve) is given back, and a charged call always adds to what this run spent.
    fn settle_run(&self, cost: f64, charged: bool, counted: bool) {
        let mut st = self.lock();
        if counted {
            st.reserved = (st.reserved - cost).max(0.0);
        }
        if charged {
            st.spent += cost;
        }
    }
}

impl Reservation {
    fn counted_in_run(&self) -> bool {
        let call = CallParts {
            provider: &self.entry.provider,
            module: None,
            domain: None,
            job: self.entry.job.as_deref(),
        };
        self.budget.run_limit(&call).is_some()
    }

    /// Turns the hold into a charge in the ledger. A ledger write failure is logged, not
    /// returned: the call has happened and its answer is still worth using (the hold then
    /// expires as unknown and stays counted).
    pub(crate) async fn commit(mut self, parts: LedgerEntryParts) {
        self.committing = true;
        let entry = LedgerEntry {
            status: parts.status,
            request: parts.request,
            ..self.entry.clone()
        };
        let written = match self.hold {
            Some(id) => self.budget.ledger.commit(id, &entry).await,
            None => match self.budget.ledger.hold(&entry, &[]).await {
                Ok(Hold::Held(id)) => self.budget.ledger.commit(id, &entry).await,
                Ok(Hold::Refused { .. }) => Ok(()),
                Err(e) => Err(e),
            },
        };
        if let Err(e) = written {
            tracing::error!(provider = %entry.provider, cost = entry.cost, "{e}");
        }
        self.done = true;
        self.budget
            .settle_run(self.entry.cost, true, self.counted_in_run());
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        self.budget
            .settle_run(self.entry.cost, self.committing, self.counted_in_run());
        if self.committing {
            return;
        }
        // Not charged: give the credits back. A release that cannot run (no runtime) or fails
        // leaves the hold to expire as unknown, which only ever errs towards spending less.
        if let (Some(id), Ok(rt)) = (self.hold, tokio::runtime::Handle::try_current()) {
            let ledger = self.budget.ledger.clone();
            let provider = self.entry.provider.clone();
            rt.spawn(async move {
                if let Err(e) = ledger.release(id).await {
                    tracing::warn!(%provider, "cannot release held credits (they stay counted until the day/month ends): {e}");
                }
            });
        }
    }
}

/// What the caller knows about a charged call once it answered.
pub(crate) struct LedgerEntryParts {
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
            status: Some(200),
            request: None,
        }
    }

    fn call<'a>(job: Option<&'a str>) -> CallParts<'a> {
        CallParts {
            provider: "sw",
            module: None,
            domain: None,
            job,
        }
    }

    #[tokio::test]
    async fn holds_count_until_released_and_commits_persist() {
        let ledger = Arc::new(MemoryLedger::new());
        let mut caps = BudgetConfig::default();
        caps.providers.insert(
            "sw".into(),
            ProviderCaps {
                daily: Some(3.0),
                monthly: None,
            },
        );
        let b = Arc::new(Budget::new(caps, None, ledger.clone()));
        let r1 = b.reserve(call(None), 1.0).await.unwrap();
        let r2 = b.reserve(call(None), 1.0).await.unwrap();
        let r3 = b.reserve(call(None), 1.0).await.unwrap();
        let err = b.reserve(call(None), 1.0).await.err().unwrap();
        assert!(err.to_string().contains("`sw daily` reached (3/3"), "{err}");
        drop(r2);
        // The release runs on the runtime; let it.
        tokio::task::yield_now().await;
        r1.commit(parts()).await;
        r3.commit(parts()).await;
        let r4 = b.reserve(call(None), 1.0).await.unwrap();
        r4.commit(parts()).await;
        assert!(b.reserve(call(None), 1.0).await.is_err());
        assert_eq!(ledger.entries().len(), 3);
        assert_eq!(
            b.run_spent(),
            3.0,
            "a run's spend counts every charged call, cap or no cap"
        );

        // A new budget over the same ledger (a restart, another process) sees the spend.
        let again = Arc::new(Budget::new(b.caps.clone(), None, ledger.clone()));
        assert!(again.reserve(call(None), 1.0).await.is_err());
    }

    #[tokio::test]
    async fn a_job_cap_sums_the_job_in_the_ledger_and_no_other() {
        let ledger = Arc::new(MemoryLedger::new());
        let a = Arc::new(Budget::new(
            BudgetConfig::default(),
            Some(2.0),
            ledger.clone(),
        ));
        let b = Arc::new(Budget::new(
            BudgetConfig::default(),
            Some(2.0),
            ledger.clone(),
        ));
        a.reserve(call(Some("j1")), 1.0)
            .await
            .unwrap()
            .commit(parts())
            .await;
        b.reserve(call(Some("j1")), 1.0)
            .await
            .unwrap()
            .commit(parts())
            .await;
        let err = a.reserve(call(Some("j1")), 1.0).await.err().unwrap();
        assert!(err.to_string().contains("`job` reached (2/2"), "{err}");
        b.reserve(call(Some("j2")), 1.0)
            .await
            .unwrap()
            .commit(parts())
            .await;
    }
}
