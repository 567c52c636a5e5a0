//! The gateway's narrow interfaces over the store, written once: the budget ledger (charges) and
//! the shared rate limiter (pacing). The gateway must not know the store and the store must not
//! know budgets, so the application joins them here.

mod ledger;
mod limiter;

pub use ledger::{StoreLedger, DEFAULT_HOLD};
pub use limiter::StoreLimiter;

/// How long the ledger and the limiter keep retrying while the database cannot be reached (a
/// PostgreSQL restart): the paid call waits instead of failing its module.
const DB_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);
