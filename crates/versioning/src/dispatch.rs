//! Delivery from the alert outbox: at-least-once, with exponential backoff (backon's schedule)
//! between attempts, `Retry-After` honoured, HTTP 410 disabling the endpoint, and dead-lettering
//! after the last attempt. An alert keeps its id across attempts so receivers can de-duplicate.
//!
//! The outbox is the store's [`OutboxStore`] capability, used directly. Each round reads the
//! due alerts, groups digest recipients' alerts into one message each, sends, and writes every
//! alert back with its outcome. A crash between sending and writing back means the message is
//! sent again later with the same id: at-least-once, never lost.

use crate::alerts::{group_messages, AlertsConfig, DeliveryConfig, Message};
use crate::channels::{Channel, DeliveryOutcome};
use crate::ConfigError;
use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::{DateTime, Utc};
use pforge_store::{AlertStatus, OutboxStore, StoreError};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;
use thiserror::Error;
use uuid::Uuid;

/// Why a dispatch round stopped early.
#[derive(Debug, Error)]
pub enum DispatchError {
    /// The outbox (the database) failed; the round stops and can be retried.
    #[error("alert outbox: {0}")]
    Outbox(#[from] StoreError),
}

/// One delivery attempt of one alert, for the audit trail.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    pub alert_id: Uuid,
    /// The message (`webhook-id`) it travelled in; a digest carries several alerts.
    pub message_id: Uuid,
    pub channel: String,
    /// 1-based attempt number.
    pub attempt: i64,
    pub at: DateTime<Utc>,
    /// `delivered`, `retry`, `disabled` or `dead`.
    pub outcome: String,
    pub error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DispatchReport {
    pub messages: usize,
    pub delivered: usize,
    pub retried: usize,
    pub dead: usize,
    pub disabled: usize,
    pub attempts: Vec<AttemptRecord>,
}

/// Sends due alerts through their channels.
pub struct Dispatcher {
    channels: BTreeMap<String, Channel>,
    delivery: DeliveryConfig,
    client: reqwest::Client,
    /// Channels that answered 410 during this process's life: their alerts are disabled without
    /// sending. (Persisting this across restarts is the store's/config's job.)
    gone: Mutex<BTreeSet<String>>,
}

impl Dispatcher {
    /// Builds every configured channel (reading secrets from the environment) and the HTTP
    /// client with the configured timeout.
    pub fn new(cfg: &AlertsConfig) -> Result<Self, ConfigError> {
        crate::alerts::validate(cfg)?;
        let mut channels = BTreeMap::new();
        for (name, c) in &cfg.channels {
            channels.insert(name.clone(), Channel::from_config(name, c)?);
        }
        Self::with_channels(channels, cfg.delivery.clone())
    }

    /// Builds a dispatcher over already-resolved channels.
    pub fn with_channels(
        channels: BTreeMap<String, Channel>,
        delivery: DeliveryConfig,
    ) -> Result<Self, ConfigError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(delivery.timeout_secs.max(1)))
            .user_agent(concat!("pforge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConfigError::Invalid(format!("HTTP client: {e}")))?;
        Ok(Dispatcher {
            channels,
            delivery,
            client,
            gone: Mutex::new(BTreeSet::new()),
        })
    }

    /// Delay before the next attempt after `attempts` failed ones, from backon's exponential
    /// schedule; `None` once `max_attempts` is reached (dead-letter).
    pub fn retry_delay(&self, attempts: i64) -> Option<Duration> {
        let d = &self.delivery;
        if attempts < 1 || attempts >= i64::from(d.max_attempts) {
            return None;
        }
        let mut b = ExponentialBuilder::default()
            .with_min_delay(Duration::from_secs(d.min_delay_secs))
            .with_max_delay(Duration::from_secs(d.max_delay_secs))
            .with_factor(d.factor)
            .with_max_times(d.max_attempts.saturating_sub(1) as usize);
        if d.jitter {
            b = b.with_jitter();
        }
        b.build().nth(usize::try_from(attempts - 1).ok()?)
    }

    fn is_gone(&self, channel: &str) -> bool {
        self.gone
            .lock()
            .map(|g| g.contains(channel))
            .unwrap_or(false)
    }

    fn mark_gone(&self, channel: &str) {
        if let Ok(mut g) = self.gone.lock() {
            g.insert(channel.to_string());
        }
    }

    /// Runs one round: reads up to `batch_size` due alerts, delivers them (digests grouped) and
    /// writes each back. Returns what happened; an outbox error stops the round.
    pub async fn dispatch_once(
        &self,
        outbox: &dyn OutboxStore,
        now: DateTime<Utc>,
    ) -> Result<DispatchReport, DispatchError> {
        let due = outbox.pending_alerts(now, self.delivery.batch_size).await?;
        let mut report = DispatchReport::default();
        for msg in group_messages(due) {
            report.messages += 1;
            let outcome = match self.channels.get(&msg.channel) {
                _ if self.is_gone(&msg.channel) => DeliveryOutcome::Gone {
                    error: "endpoint disabled after HTTP 410".into(),
                },
                Some(ch) => ch.send(&self.client, &msg).await,
                None => DeliveryOutcome::Retry {
                    error: format!("channel {:?} is not configured", msg.channel),
                    retry_after: None,
                },
            };
            if matches!(outcome, DeliveryOutcome::Gone { .. }) {
                self.mark_gone(&msg.channel);
            }
            self.settle(outbox, &msg, &outcome, now, &mut report)
                .await?;
        }
        Ok(report)
    }

    /// Writes the outcome of one message back to each alert it carried.
    async fn settle(
        &self,
        outbox: &dyn OutboxStore,
        msg: &Message,
        outcome: &DeliveryOutcome,
        now: DateTime<Utc>,
        report: &mut DispatchReport,
    ) -> Result<(), StoreError> {
        for alert in &msg.alerts {
            let mut a = alert.clone();
            a.attempts += 1;
            let (label, error, next) = match outcome {
                DeliveryOutcome::Delivered => {
                    a.status = AlertStatus::Delivered;
                    a.delivered_at = Some(now);
                    a.last_error = None;
                    report.delivered += 1;
                    ("delivered", None, None)
                }
                DeliveryOutcome::Gone { error } => {
                    a.status = AlertStatus::Disabled;
                    a.last_error = Some(error.clone());
                    report.disabled += 1;
                    ("disabled", Some(error.clone()), None)
                }
                DeliveryOutcome::Retry { error, retry_after } => {
                    a.last_error = Some(error.clone());
                    match self.retry_delay(a.attempts) {
                        Some(backoff) => {
                            // The server's Retry-After wins when it asks for longer.
                            let wait = retry_after.map_or(backoff, |ra| ra.max(backoff));
                            let next = now
                                + chrono::Duration::from_std(wait)
                                    .unwrap_or(chrono::Duration::days(1));
                            a.next_attempt_at = next;
                            report.retried += 1;
                            ("retry", Some(error.clone()), Some(next))
                        }
                        None => {
                            a.status = AlertStatus::Dead;
                            report.dead += 1;
                            ("dead", Some(error.clone()), None)
                        }
                    }
                }
            };
            outbox.update_alert(&a).await?;
            let rec = AttemptRecord {
                alert_id: a.id,
                message_id: msg.id,
                channel: msg.channel.clone(),
                attempt: a.attempts,
                at: now,
                outcome: label.to_string(),
                error,
                next_attempt_at: next,
            };
            // The alert row keeps the latest outcome; the log and the report keep every one.
            tracing::info!(
                alert = %rec.alert_id,
                message = %rec.message_id,
                channel = %rec.channel,
                attempt = rec.attempt,
                outcome = %rec.outcome,
                error = rec.error.as_deref().unwrap_or(""),
                "alert delivery attempt"
            );
            report.attempts.push(rec);
        }
        Ok(())
    }
}
