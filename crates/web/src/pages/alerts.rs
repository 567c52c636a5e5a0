//! The alert outbox by status (pending, delivered, dead, disabled) with attempts, last error and
//! next attempt; dead alerts can be retried one at a time or all together.

use super::{html, opt, Shell};
use crate::auth::Session;
use crate::error::WebError;
use crate::render::short_time;
use crate::WebState;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use pforge_store::AlertStatus;
use serde::Deserialize;

/// Most alerts listed.
const LIMIT: i64 = 500;

/// `?status=` and `?message=`.
#[derive(Debug, Deserialize)]
pub struct AlertsQuery {
    status: Option<String>,
    message: Option<String>,
}

/// One alert.
pub struct AlertView {
    pub id: String,
    pub status: String,
    pub rule: String,
    pub channel: String,
    pub recipient: String,
    pub domain: String,
    pub attempts: i64,
    pub last_error: String,
    pub created_at: String,
    pub next_attempt_at: String,
    pub dead: bool,
}

/// A status tab.
pub struct Tab {
    pub label: &'static str,
    pub href: &'static str,
    pub active: bool,
}

/// The alerts page.
#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    shell: Shell,
    tabs: Vec<Tab>,
    alerts: Vec<AlertView>,
    any_dead: bool,
    message: Option<String>,
}

/// `GET /alerts`.
pub async fn page(
    State(st): State<WebState>,
    Extension(session): Extension<Session>,
    Query(q): Query<AlertsQuery>,
) -> Result<Response, WebError> {
    let status = opt(&q.status);
    let alerts = st.app.alerts().list(status.as_deref(), LIMIT).await?;
    let tabs = [
        ("All", "/alerts", None),
        ("Pending", "/alerts?status=pending", Some("pending")),
        ("Delivered", "/alerts?status=delivered", Some("delivered")),
        ("Dead", "/alerts?status=dead", Some("dead")),
        ("Disabled", "/alerts?status=disabled", Some("disabled")),
    ]
    .into_iter()
    .map(|(label, href, s)| Tab {
        label,
        href,
        active: s == status.as_deref(),
    })
    .collect();
    let views: Vec<AlertView> = alerts
        .into_iter()
        .map(|a| AlertView {
            id: a.id.to_string(),
            status: a.status.as_str().to_string(),
            dead: a.status == AlertStatus::Dead,
            rule: a.rule,
            channel: a.channel,
            recipient: a.recipient,
            domain: a.domain,
            attempts: a.attempts,
            last_error: a.last_error.unwrap_or_default(),
            created_at: short_time(a.created_at),
            // Only a pending alert will be tried again; the others have no next attempt.
            next_attempt_at: if a.status == AlertStatus::Pending {
                short_time(a.next_attempt_at)
            } else {
                "—".to_string()
            },
        })
        .collect();
    html(&AlertsPage {
        shell: Shell::new("Alerts", "alerts", &session),
        tabs,
        any_dead: views.iter().any(|a| a.dead),
        alerts: views,
        message: opt(&q.message),
    })
}

/// `POST /alerts/retry` with `id=` (one) or without (all dead): requeues and delivers now.
pub async fn retry(State(st): State<WebState>, body: Bytes) -> Result<Response, WebError> {
    let id = url::form_urlencoded::parse(&body)
        .find(|(k, v)| k == "id" && !v.is_empty())
        .map(|(_, v)| {
            uuid::Uuid::parse_str(&v)
                .map_err(|_| WebError::invalid(format!("{v:?} is not an alert id")))
        })
        .transpose()?;
    let requeued = st.app.alerts().requeue_dead(id).await?;
    let r = st.app.alerts().deliver().await?;
    let message = format!(
        "Requeued {requeued}: {} delivered, {} will be retried, {} dead again",
        r.delivered, r.retried, r.dead
    );
    Ok(Redirect::to(&format!("/alerts?message={}", super::enc(&message))).into_response())
}
