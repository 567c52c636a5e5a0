//! The HTTP front end of `pforge daemon` (and of `pforge ui`): the token-protected JSON API under
//! `/api/v1` with its OpenAPI document generated from the handlers and wire types, `/metrics`
//! for Prometheus, and the `/healthz` and `/readyz` checks. It owns routing, authentication,
//! wire types and status codes; every handler calls one operation of `pforge-app` and knows no
//! SQL, no job lifecycle and no business rule.

mod api;
pub mod error;
mod ops;
pub mod wire;

pub use error::{ApiError, ErrorBody, ErrorCode};

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use pforge_app::daemon::Daemon;
use pforge_app::App;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{OpenApi as OpenApiDoc, Server};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Everything a request handler needs. Cheap to clone.
#[derive(Clone)]
pub struct HttpState {
    pub app: App,
    /// Where submitted jobs go (its worker tasks run them).
    pub daemon: Arc<Daemon>,
    /// The API bearer token.
    pub token: Arc<str>,
    /// Cancelled at shutdown: `/readyz` turns 503 so load balancers stop sending work.
    pub stopping: CancellationToken,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "PartnerForge API",
        description = "Submit enrichment, follow and cancel jobs, read the latest intelligence, versions, diffs, briefs, changes, alerts, budget and the plan, and edit the target list. Every route except this document needs `Authorization: Bearer <token>` (the token comes from [daemon] token or the environment variable named by [daemon] token_env, PFORGE_API_TOKEN by default). Errors are `{\"error\": {\"code\", \"message\"}}` with a stable code. /metrics, /healthz and /readyz (outside /api/v1) need no token."
    ),
    modifiers(&Security),
    security(("bearer" = []))
)]
struct ApiDoc;

/// Declares the bearer scheme and the `/api/v1` base every path is relative to.
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut OpenApiDoc) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        doc.servers = Some(vec![Server::new("/api/v1")]);
    }
}

/// The `/api/v1` routes, each registered with its OpenAPI description (generated, not written).
fn api_routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(api::enrich))
        .routes(routes!(api::list_jobs))
        .routes(routes!(api::get_job))
        .routes(routes!(api::job_items))
        .routes(routes!(api::cancel_job))
        .routes(routes!(api::domain_latest))
        .routes(routes!(api::domain_snapshots))
        .routes(routes!(api::snapshot_version))
        .routes(routes!(api::diff))
        .routes(routes!(api::brief))
        .routes(routes!(api::changes))
        .routes(routes!(api::alerts))
        .routes(routes!(api::retry_alerts))
        .routes(routes!(api::budget))
        .routes(routes!(api::plan))
        .routes(routes!(
            api::list_targets,
            api::add_targets,
            api::remove_targets
        ))
        .routes(routes!(api::remove_target))
        .routes(routes!(api::remove_accounts))
}

/// The OpenAPI document of `/api/v1`, as served at `/api/v1/openapi.json`.
pub fn openapi() -> OpenApiDoc {
    let (_, mut doc) = api_routes().split_for_parts();
    describe_openapi_route(&mut doc);
    doc
}

/// The whole route table: `/metrics`, `/healthz`, `/readyz` (no token: scrapers and
/// orchestrators call them) and the token-protected API.
pub fn router(state: HttpState) -> Router {
    let (api, mut doc) = api_routes().split_for_parts();
    describe_openapi_route(&mut doc);
    let doc = Arc::new(serde_json::to_value(&doc).unwrap_or_default());
    let api = api
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token))
        .route(
            "/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        );
    Router::new()
        .route("/metrics", get(ops::metrics))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .nest("/api/v1", api)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// The routes of a process that only exposes itself to operators (`pforge worker
/// --metrics-bind`): `/metrics` and `/healthz`, the same handlers as the daemon's, no API.
pub fn metrics_router(app: App) -> Router {
    Router::new()
        .route("/metrics", get(ops::app_metrics))
        .route("/healthz", get(ops::healthz))
        .fallback(not_found)
        .with_state(app)
}

/// Adds `GET /openapi.json` itself to the document, marked as needing no token.
fn describe_openapi_route(doc: &mut OpenApiDoc) {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
    use utoipa::openapi::ResponseBuilder;
    let op = OperationBuilder::new()
        .summary(Some("This document (no token needed)"))
        .security(utoipa::openapi::security::SecurityRequirement::default())
        .response(
            "200",
            ResponseBuilder::new().description("The OpenAPI document"),
        )
        .build();
    doc.paths
        .paths
        .insert("/openapi.json".into(), PathItem::new(HttpMethod::Get, op));
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route (see /api/v1/openapi.json)")
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// Compares the bearer token in constant time (for equal lengths), answering 401 otherwise.
async fn require_token(State(st): State<HttpState>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    match presented {
        Some(t) if bool::from(t.as_bytes().ct_eq(st.token.as_bytes())) => next.run(req).await,
        _ => ApiError::unauthorized().into_response(),
    }
}
