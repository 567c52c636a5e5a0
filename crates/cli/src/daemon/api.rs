//! The JSON API under `/api/v1`: submit enrichment, follow jobs, read intelligence, changes and
//! alerts, and edit the target list. Every error is `{"error": {"code", "message"}}` with a
//! stable `code` clients can branch on; every route except `openapi.json` needs the bearer token.

use super::openapi;
use super::runner::SubmitError;
use super::server::AppState;
use crate::config::parse_duration;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use pforge_core::{Domain, DomainError};
use pforge_store::StoreError;
use serde::Deserialize;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;
use uuid::Uuid;

/// Most domains one request may carry (bigger lists belong in a target file or the table).
const MAX_DOMAINS_PER_REQUEST: usize = 10_000;

/// An API error: HTTP status, stable code, human message, optional details.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    /// 401 `unauthorized`.
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or invalid bearer token: send `Authorization: Bearer <token>`",
        )
    }

    /// 404 `not_found`.
    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    /// 400 `invalid_input`.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", message)
    }

    /// 405 `method_not_allowed`.
    pub fn method_not_allowed() -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this route does not accept that method (see /api/v1/openapi.json)",
        )
    }

    fn invalid_domains(errors: Vec<DomainError>) -> ApiError {
        let details = errors
            .iter()
            .map(|e| json!({"input": e.input, "reason": e.reason}))
            .collect();
        let mut err = ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_domain",
            format!(
                "{} invalid domain(s), first: {}; nothing was done",
                errors.len(),
                errors.first().map(ToString::to_string).unwrap_or_default()
            ),
        );
        err.details = Some(Value::Array(details));
        err
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": {"code": self.code, "message": self.message}});
        if let Some(d) = self.details {
            body["error"]["details"] = d;
        }
        let mut resp = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        tracing::error!("API store error: {e}");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            format!("the database failed: {e}"),
        )
    }
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> ApiError {
        match e {
            SubmitError::ShuttingDown => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                e.to_string(),
            ),
            SubmitError::Empty => ApiError::invalid(e.to_string()),
            SubmitError::Store(s) => s.into(),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> ApiError {
        ApiError::invalid(format!("request body: {}", e.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> ApiError {
        ApiError::invalid(format!("query string: {}", e.body_text()))
    }
}

type ApiResult = Result<Response, ApiError>;

/// The `/api/v1` routes: `openapi.json` is public, everything else needs the token.
pub fn router(state: AppState) -> Router<AppState> {
    let protected = Router::new()
        .route("/enrich", post(enrich))
        .route("/jobs", get(list_jobs))
        .route("/jobs/{id}", get(get_job))
        .route("/domains/{domain}", get(domain_latest))
        .route("/domains/{domain}/snapshots", get(domain_snapshots))
        .route("/changes", get(changes))
        .route("/alerts", get(alerts))
        .route(
            "/targets",
            get(list_targets).post(add_targets).delete(remove_targets),
        )
        .route("/targets/{domain}", delete(remove_target))
        .route_layer(middleware::from_fn_with_state(state, require_token));
    Router::new()
        .route("/openapi.json", get(openapi_doc))
        .merge(protected)
}

/// Compares the bearer token in constant time (for equal lengths), answering 401 otherwise.
async fn require_token(State(st): State<AppState>, req: Request, next: Next) -> Response {
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

async fn openapi_doc() -> Json<Value> {
    Json(openapi::document())
}

/// Body of `POST /enrich` and `POST`/`DELETE /targets`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DomainsBody {
    domains: Vec<String>,
}

/// Parses every domain (duplicates after normalization dropped); any invalid one fails the whole
/// request (nothing half-done).
fn parse_domains(inputs: &[String]) -> Result<Vec<Domain>, ApiError> {
    if inputs.is_empty() {
        return Err(ApiError::invalid(
            "`domains` is empty: give at least one domain",
        ));
    }
    if inputs.len() > MAX_DOMAINS_PER_REQUEST {
        return Err(ApiError::invalid(format!(
            "{} domains in one request; the limit is {MAX_DOMAINS_PER_REQUEST} (use the targets table or a target file)",
            inputs.len()
        )));
    }
    let mut ok: Vec<Domain> = Vec::with_capacity(inputs.len());
    let mut bad = Vec::new();
    for i in inputs {
        match Domain::parse(i) {
            Ok(d) if ok.contains(&d) => {}
            Ok(d) => ok.push(d),
            Err(e) => bad.push(e),
        }
    }
    if bad.is_empty() {
        Ok(ok)
    } else {
        Err(ApiError::invalid_domains(bad))
    }
}

fn parse_one_domain(input: &str) -> Result<Domain, ApiError> {
    Domain::parse(input).map_err(|e| ApiError::invalid_domains(vec![e]))
}

async fn enrich(
    State(st): State<AppState>,
    body: Result<Json<DomainsBody>, JsonRejection>,
) -> ApiResult {
    let Json(body) = body?;
    let domains = parse_domains(&body.domains)?;
    let n = domains.len();
    let label = format!("{}api", super::LABEL_PREFIX);
    let job_id = st.runner.submit(&label, domains).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "job_id": job_id,
            "domains": n,
            "status_url": format!("/api/v1/jobs/{job_id}"),
        })),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitQuery {
    limit: Option<i64>,
}

async fn list_jobs(
    State(st): State<AppState>,
    q: Result<Query<LimitQuery>, QueryRejection>,
) -> ApiResult {
    let Query(q) = q?;
    let jobs = st
        .store
        .list_jobs(q.limit.unwrap_or(50).clamp(1, 1000))
        .await?;
    Ok(Json(json!({ "jobs": jobs })).into_response())
}

async fn get_job(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = Uuid::parse_str(&id)
        .map_err(|_| ApiError::invalid(format!("{id:?} is not a job id (a UUID)")))?;
    let Some(job) = st.store.get_job(id).await? else {
        return Err(ApiError::not_found(format!("no job {id}")));
    };
    let counts = st.store.job_counts(id).await?;
    let items: i64 = counts.values().sum();
    Ok(Json(json!({ "job": job, "items": items, "counts": counts })).into_response())
}

async fn domain_latest(State(st): State<AppState>, Path(domain): Path<String>) -> ApiResult {
    let domain = parse_one_domain(&domain)?;
    let snapshots = st.store.latest_snapshots(domain.as_str()).await?;
    if snapshots.is_empty() {
        return Err(ApiError::not_found(format!(
            "no intelligence stored for {domain} (enrich it first)"
        )));
    }
    Ok(Json(json!({ "domain": domain, "modules": snapshots })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotsQuery {
    module: Option<String>,
}

async fn domain_snapshots(
    State(st): State<AppState>,
    Path(domain): Path<String>,
    q: Result<Query<SnapshotsQuery>, QueryRejection>,
) -> ApiResult {
    let Query(q) = q?;
    let domain = parse_one_domain(&domain)?;
    let snapshots = st
        .store
        .snapshot_history(domain.as_str(), q.module.as_deref())
        .await?;
    Ok(Json(json!({ "domain": domain, "snapshots": snapshots })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangesQuery {
    since: Option<String>,
    min_level: Option<String>,
    domain: Option<String>,
    limit: Option<i64>,
}

/// `since` as an age (`7d`, `12h`) or an RFC 3339 time.
fn parse_since(text: &str) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let age = parse_duration(text)
        .ok()
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "since={text:?}: use an age like 7d or 12h, or an RFC 3339 time"
            ))
        })?;
    Ok(Utc::now() - age)
}

async fn changes(
    State(st): State<AppState>,
    q: Result<Query<ChangesQuery>, QueryRejection>,
) -> ApiResult {
    let Query(q) = q?;
    let since = parse_since(q.since.as_deref().unwrap_or("7d"))?;
    let min_name = q.min_level.as_deref().unwrap_or("low");
    let min: pforge_core::Level = min_name
        .parse()
        .map_err(|e| ApiError::invalid(format!("min_level: {e}")))?;
    let domain = q.domain.as_deref().map(parse_one_domain).transpose()?;
    let mut events = st
        .store
        .list_change_events(
            domain.as_ref().map(Domain::as_str),
            Some(since),
            q.limit.unwrap_or(1000).clamp(1, 10_000),
        )
        .await?;
    events.retain(|e| e.level >= min);
    Ok(Json(json!({ "since": since, "min_level": min_name, "changes": events })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertsQuery {
    status: Option<String>,
    limit: Option<i64>,
}

async fn alerts(
    State(st): State<AppState>,
    q: Result<Query<AlertsQuery>, QueryRejection>,
) -> ApiResult {
    let Query(q) = q?;
    if let Some(s) = &q.status {
        if !["pending", "delivered", "dead", "disabled"].contains(&s.as_str()) {
            return Err(ApiError::invalid(format!(
                "status={s:?}: use pending, delivered, dead or disabled"
            )));
        }
    }
    let alerts = st
        .store
        .list_alerts(q.status.as_deref(), q.limit.unwrap_or(100).clamp(1, 10_000))
        .await?;
    Ok(Json(json!({ "alerts": alerts })).into_response())
}

async fn list_targets(State(st): State<AppState>) -> ApiResult {
    let targets = st.store.list_targets().await?;
    Ok(Json(json!({ "targets": targets })).into_response())
}

async fn add_targets(
    State(st): State<AppState>,
    body: Result<Json<DomainsBody>, JsonRejection>,
) -> ApiResult {
    let Json(body) = body?;
    let domains: Vec<String> = parse_domains(&body.domains)?
        .into_iter()
        .map(|d| d.to_string())
        .collect();
    let added = st.store.add_targets(&domains).await?;
    let status = if added > 0 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({ "added": added }))).into_response())
}

async fn remove_targets(
    State(st): State<AppState>,
    body: Result<Json<DomainsBody>, JsonRejection>,
) -> ApiResult {
    let Json(body) = body?;
    let mut removed = 0;
    for d in parse_domains(&body.domains)? {
        removed += u64::from(st.store.remove_target(d.as_str()).await?);
    }
    Ok(Json(json!({ "removed": removed })).into_response())
}

async fn remove_target(State(st): State<AppState>, Path(domain): Path<String>) -> ApiResult {
    let domain = parse_one_domain(&domain)?;
    if st.store.remove_target(domain.as_str()).await? {
        Ok(Json(json!({ "removed": 1 })).into_response())
    } else {
        Err(ApiError::not_found(format!(
            "{domain} is not on the target list"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_ages_and_times() {
        let t = parse_since("2024-01-02T03:04:05Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-01-02T03:04:05+00:00");
        let age = Utc::now() - parse_since("2h").unwrap();
        assert!((age.num_seconds() - 7200).abs() < 5);
        assert_eq!(parse_since("soon").unwrap_err().code, "invalid_input");
    }

    #[test]
    fn domain_lists_fail_whole_with_details() {
        let err = parse_domains(&["ok.com".into(), "not a domain".into()]).unwrap_err();
        assert_eq!(err.code, "invalid_domain");
        assert_eq!(err.details.unwrap().as_array().unwrap().len(), 1);
        assert_eq!(parse_domains(&[]).unwrap_err().code, "invalid_input");
        assert_eq!(
            parse_domains(&["https://www.Example.com/x".into()]).unwrap()[0].as_str(),
            "example.com"
        );
    }
}
