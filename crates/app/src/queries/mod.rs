//! The queries every front end shares (CLI, HTTP API, web UI), as methods on [`crate::App`]:
//! each reads the store through one implementation, so a filter or a ranking can never differ
//! between the terminal and the browser.

pub mod accounts;
pub mod brief;
pub mod budget;
pub mod estimate;
mod estimate_sim;
pub mod history;
pub mod intelligence;
pub mod jobs;
pub mod snapshots;
pub mod targets;

pub use accounts::{account_fields, AccountFilter, MAX_ACCOUNTS_PAGE};
pub use brief::{Brief, BRIEF_MODULE};
pub use estimate::{Assumption, Estimate, ItemsEstimate, ProviderEstimate};
pub use history::{ChangeFilter, VersionDiff, VersionEntry, MAX_PAGE};
pub use intelligence::{DomainIntel, ModuleIntel};
pub use jobs::{parse_job_id, JobProgress};
/// The form of every changes cursor (the API documents it; any string of this form is accepted).
pub use pforge_store::CURSOR_PATTERN;
