//! The daemon's HTTP server: `/metrics`, `/healthz`, `/readyz` (no token: scrapers and
//! orchestrators call them) and the token-protected JSON API under `/api/v1`.

use super::api::{self, ApiError};
use super::metrics::DaemonMetrics;
use super::runner::Runner;
use crate::config::Config;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use pforge_store::Store;
use prometheus_client::registry::Registry;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The OpenMetrics text content type `prometheus-client` encodes (Prometheus asks for it).
const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The classic Prometheus text format, for every scraper that does not ask for OpenMetrics.
const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long a scrape waits for the database gauges before answering with what it has.
const SCRAPE_DB_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything a request handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub runner: Arc<Runner>,
    pub metrics: DaemonMetrics,
    pub registry: Arc<Registry>,
    pub cfg: Arc<Config>,
    /// The API bearer token.
    pub token: Arc<str>,
    /// Cancelled at shutdown: `/readyz` turns 503 so load balancers stop sending work.
    pub stopping: CancellationToken,
}

/// The whole route table.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .nest("/api/v1", api::router(state.clone()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route (see /api/v1/openapi.json)")
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// Alive: the process answers HTTP.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Ready: not shutting down, and the database answers with the current schema (the store applies
/// migrations on open; reading the newest table proves they are there).
async fn readyz(State(st): State<AppState>) -> Response {
    if st.stopping.is_cancelled() {
        return not_ready("shutting down");
    }
    let check = async {
        st.store.list_jobs(1).await?;
        st.store.list_targets().await?;
        Ok::<_, pforge_store::StoreError>(())
    };
    match tokio::time::timeout(SCRAPE_DB_TIMEOUT, check).await {
        Ok(Ok(())) => Json(json!({"status": "ready"})).into_response(),
        Ok(Err(e)) => not_ready(&format!("database: {e}")),
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
async fn metrics(State(st): State<AppState>, headers: HeaderMap) -> Response {
    match tokio::time::timeout(
        SCRAPE_DB_TIMEOUT,
        st.metrics
            .refresh(st.store.as_ref(), &st.cfg.budget, st.runner.queues()),
    )
    .await
    {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("metrics: database gauges not refreshed: {e}"),
        Err(_) => tracing::warn!("metrics: database gauges not refreshed in time"),
    }
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &st.registry) {
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
            super::metrics::to_prometheus_text(&text),
        )
            .into_response()
    }
}
