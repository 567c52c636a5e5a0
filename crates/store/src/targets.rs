//! The daemon's target list.

use async_trait::async_trait;

use crate::{StoreError, Target};

/// Domains the daemon's `targets = "table"` schedules enrich and whose expired modules it
/// refreshes, kept in the database so the API can edit the list while the daemon runs and
/// every process sharing the database sees the same list.
///
/// Invariant: a domain is listed at most once, and re-adding it keeps its first `added_at`.
#[async_trait]
pub trait TargetStore: Send + Sync {
    /// The list, ordered by domain (byte order).
    async fn list_targets(&self) -> Result<Vec<Target>, StoreError>;

    /// Adds domains (normalized by the caller) in one transaction; domains already listed keep
    /// their `added_at`, duplicates in `domains` count once. Returns how many were new.
    async fn add_targets(&self, domains: &[String]) -> Result<u64, StoreError>;

    /// Removes a domain; returns whether it was listed. A domain with snapshots stays an
    /// account (the accounts summary lists it); one without stops being one.
    async fn remove_target(&self, domain: &str) -> Result<bool, StoreError>;

    /// Removes accounts from the accounts table without destroying history, in one
    /// transaction: drops them from the target list (so schedules stop enriching them) and
    /// hides them from the accounts summary, keeping every snapshot and change event. Adding
    /// a domain again, or saving a result for it, shows it again. Returns how many of
    /// `domains` were shown accounts.
    async fn remove_accounts(&self, domains: &[String]) -> Result<u64, StoreError>;
}
