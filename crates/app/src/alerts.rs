//! The alert outbox as every front end uses it: list it, deliver what is due, resend dead
//! letters. Delivery itself (channels, signing, retries with backoff) is the versioning crate's;
//! this module decides when it runs and what it reports.

use crate::error::{AppError, AppResult};
use crate::App;
use chrono::Utc;
use pforge_store::prelude::*;
use pforge_store::{Alert, AlertStatus, Delivery};
use pforge_versioning::{DispatchReport, Dispatcher};
use uuid::Uuid;

/// Rounds of delivery per call, so a backlog larger than one batch drains; retries wait for
/// their time.
const ROUNDS: usize = 10;

/// The outbox operations over an [`App`].
#[derive(Clone)]
pub struct Alerts {
    app: App,
}

impl App {
    /// The alert outbox.
    pub fn alerts(&self) -> Alerts {
        Alerts { app: self.clone() }
    }
}

impl Alerts {
    /// Alerts newest first, optionally only those with `status` (pending, delivered, dead,
    /// disabled).
    pub async fn list(&self, status: Option<&str>, limit: i64) -> AppResult<Vec<Alert>> {
        let status = status
            .map(|s| {
                AlertStatus::parse(s).ok_or_else(|| {
                    AppError::invalid(format!(
                        "unknown alert status {s:?}: use pending, delivered, dead or disabled"
                    ))
                })
            })
            .transpose()?;
        Ok(self.app.store().list_alerts(status, limit).await?)
    }

    /// Delivers every alert that is due now (a few rounds); the report counts what happened.
    pub async fn deliver(&self) -> AppResult<DispatchReport> {
        let dispatcher = Dispatcher::new(&self.app.settings().versioning.alerts).map_err(|e| {
            AppError::config(format!(
                "alert channels in {}: {e}",
                self.app.settings().config.source
            ))
        })?;
        let outbox: &dyn OutboxStore = self.app.store().as_ref();
        let mut total = DispatchReport::default();
        for _ in 0..ROUNDS {
            let report = dispatcher
                .dispatch_once(outbox, Utc::now())
                .await
                .map_err(|e| AppError::Unavailable(format!("alert delivery: {e}")))?;
            let done = report.messages == 0;
            total.messages += report.messages;
            total.delivered += report.delivered;
            total.retried += report.retried;
            total.dead += report.dead;
            total.disabled += report.disabled;
            total.attempts.extend(report.attempts);
            if done || report.delivered == 0 {
                break;
            }
        }
        if let Some(m) = self.app.metrics() {
            m.record_dispatch(&total);
        }
        Ok(total)
    }

    /// Makes pending digests (hourly, daily) due now, so the next delivery sends them.
    pub async fn flush_digests(&self) -> AppResult<usize> {
        let now = Utc::now();
        let mut n = 0;
        for mut a in self
            .app
            .store()
            .list_alerts(Some(AlertStatus::Pending), 100_000)
            .await?
        {
            if a.delivery != Delivery::Immediate && a.next_attempt_at > now {
                a.next_attempt_at = now;
                self.app.store().update_alert(&a).await?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Requeues dead-lettered alerts (all, or the one with `id`) for delivery now; returns how
    /// many. None matching is [`AppError::NotFound`].
    pub async fn requeue_dead(&self, id: Option<Uuid>) -> AppResult<usize> {
        let dead = self
            .app
            .store()
            .list_alerts(Some(AlertStatus::Dead), 100_000)
            .await?;
        let chosen: Vec<Alert> = match id {
            Some(id) => dead.into_iter().filter(|a| a.id == id).collect(),
            None => dead,
        };
        if chosen.is_empty() {
            return Err(AppError::not_found(format!(
                "no dead-lettered alert{}: see `pforge alerts list --status dead`",
                id.map(|i| format!(" with id {i}")).unwrap_or_default()
            )));
        }
        for mut a in chosen.iter().cloned() {
            a.status = AlertStatus::Pending;
            a.attempts = 0;
            a.next_attempt_at = Utc::now();
            self.app.store().update_alert(&a).await?;
        }
        Ok(chosen.len())
    }
}

/// Delivers due alerts, logging (never failing on) problems: alerts stay in the outbox for the
/// next round. What runs and daemons call after their work.
pub async fn deliver_logged(app: &App) {
    match app.alerts().deliver().await {
        Ok(r) if r.messages > 0 => tracing::info!(
            messages = r.messages,
            delivered = r.delivered,
            retried = r.retried,
            dead = r.dead,
            "alerts delivered"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!("alert delivery failed (alerts stay in the outbox): {e}"),
    }
}
