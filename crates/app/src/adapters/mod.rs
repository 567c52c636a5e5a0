//! The gateway's narrow interfaces over the store, written once: the budget ledger (charges) and
//! the shared rate limiter (pacing). The gateway must not know the store and the store must not
//! know budgets, so the application joins them here.

mod ledger;
mod limiter;

pub use ledger::{StoreLedger, DEFAULT_HOLD};
pub use limiter::StoreLimiter;
