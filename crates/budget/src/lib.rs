//! The Gateway: the one door every outbound call goes through. This crate owns provider policy
//! (base URLs, auth, timeouts, rate limits, budgets, caching, retries, circuit breakers) and the
//! mechanism that enforces it. It knows nothing of what modules compute with the answers.

mod batch;
mod breaker;
mod budget;
mod cache;
mod call;
mod caps;
mod config;
mod error;
mod gateway;
mod health;
mod http;
mod ledger;
mod metrics;
mod provider;
mod ratelimit;
mod retry;
mod secrets;
mod shared;
mod ssrf;
mod status;

pub use call::{Call, Response};
pub use caps::{BudgetConfig, Period, ProviderCaps};
pub use config::{
    AuthConfig, BatchConfig, BreakerConfig, ChargeMode, ProviderConfig, ProvidersConfig,
    RateLimitConfig, RetryConfig,
};
pub use error::GatewayError;
pub use gateway::{Gateway, GatewayBuilder};
pub use health::{BreakerState, BreakerStatus, ProviderHealth, RateLimitWaits};
pub use ledger::{Hold, HoldId, Ledger, LedgerCap, LedgerEntry, LedgerError, MemoryLedger};
pub use metrics::{CallLabels, GatewayMetrics, ProviderLabel, RefusalLabels};
pub use shared::SharedLimiter;
pub use ssrf::forbidden_range;
pub use status::{cap_status, CapStatus};
