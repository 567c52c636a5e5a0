//! Versioning owns what happens after a module produced a result: the canonical form that makes
//! "unchanged" reliable, JSON Patch diffs between versions, change events with significance,
//! alert rules, and delivery of alerts from the outbox. It knows nothing of how data was fetched.
//!
//! Flow: [`Versioner::prepare`] canonicalizes a result into a `NewSnapshot`; the store calls
//! [`Versioner`] (a `DeriveChanges`) inside its transaction to get the patch, scored
//! [`ChangeEvent`](pforge_store::ChangeEvent)s and outbox alerts; a [`Dispatcher`] later delivers
//! due alerts from the store's outbox (`pforge_store::OutboxStore`) through [`channels`];
//! [`plan_retention`] says which old versions may go.

pub mod alerts;
mod canonical;
pub mod channels;
mod config;
pub mod diff;
pub mod dispatch;
mod pattern;
pub mod retention;
pub mod significance;
mod versioner;

pub use alerts::{
    due_at, group_messages, AlertRouter, AlertRule, AlertsConfig, ChannelConfig, Delivery,
    DeliveryConfig, Message, Recipient,
};
pub use canonical::{canonicalize, content_hash, remap_pointer, SetArray};
pub use channels::webhook::{
    decode_secret, sign as sign_webhook, verify as verify_webhook, SignatureError,
};
pub use channels::{Channel, DeliveryOutcome};
pub use config::{ConfigError, VersioningConfig, DEFAULT_CONFIG_TOML};
pub use diff::{
    apply, changes, diff, patch_from_value, patch_to_value, Change, ChangeKind, DiffError,
};
pub use dispatch::{AttemptRecord, DispatchError, DispatchReport, Dispatcher};
pub use pattern::{glob_matches, pointer_matches};
pub use retention::{plan_retention, RetentionConfig, RetentionPlan, RetentionPolicy, VersionInfo};
pub use significance::{
    Level, LevelThresholds, Score, Significance, SignificanceConfig, SignificanceRule,
};
pub use versioner::{evidence_for, summary, Clock, Versioner};
