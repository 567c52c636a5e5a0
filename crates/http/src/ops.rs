//! The operator's routes: `/metrics` (Prometheus), `/healthz` (alive) and `/readyz` (ready to
//! take work). They need no token, so scrapers and orchestrators can call them.

use crate::HttpState;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pforge_app::App;
use serde_json::json;
use std::time::Duration;

/// The OpenMetrics text content type `prometheus-client` encodes (Prometheus asks for it).
const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The classic Prometheus text format, for every scraper that does not ask for OpenMetrics.
const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long a scrape or a readiness check waits for the database.
const DB_TIMEOUT: Duration = Duration::from_secs(5);

/// Alive: the process answers HTTP.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Ready: not shutting down, and the database answers with the current schema (the store applies
/// migrations on open; reading the newest table proves they are there).
pub async fn readyz(State(st): State<HttpState>) -> Response {
    if st.stopping.is_cancelled() {
        return not_ready("shutting down");
    }
    let check = st.app.check_ready();
    match tokio::time::timeout(DB_TIMEOUT, check).await {
        Ok(Ok(())) => Json(json!({"status": "ready"})).into_response(),
        Ok(Err(e)) => {
            tracing::warn!("readiness: database: {e}");
            not_ready("database unavailable")
        }
        Err(_) => not_ready("database did not answer in time"),
    }
}

fn not_ready(reason: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"status": "not_ready", "reason": reason})),
    )
        .into_response()
}

/// Prometheus exposition: refreshes the database-backed gauges, then encodes the registry as
/// OpenMetrics when the scraper accepts it (Prometheus does), else as Prometheus text 0.0.4.
pub async fn metrics(State(st): State<HttpState>, headers: HeaderMap) -> Response {
    render_metrics(&st.app, &headers).await
}

/// `/metrics` of a process that serves nothing else (`pforge worker --metrics-bind`).
pub async fn app_metrics(State(app): State<App>, headers: HeaderMap) -> Response {
    render_metrics(&app, &headers).await
}

/// The exposition of `app`'s registry, in the format the scraper asked for.
async fn render_metrics(app: &App, headers: &HeaderMap) -> Response {
    let registry = match app.metrics_registry() {
        Ok(Some(r)) => r,
        Ok(None) => return (StatusCode::NOT_FOUND, "metrics are not collected").into_response(),
        Err(e) => {
            tracing::error!("metrics: {e}");
            return (StatusCode::SERVICE_UNAVAILABLE, "metrics unavailable").into_response();
        }
    };
    if app.metrics().is_some() {
        match tokio::time::timeout(DB_TIMEOUT, app.refresh_metrics()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("metrics: database gauges not refreshed: {e}"),
            Err(_) => tracing::warn!("metrics: database gauges not refreshed in time"),
        }
    }
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &registry) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode metrics: {e}"),
        )
            .into_response();
    }
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    if openmetrics {
        ([(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)], text).into_response()
    } else {
        (
            [(header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)],
            pforge_app::metrics::to_prometheus_text(&text),
        )
            .into_response()
    }
}
