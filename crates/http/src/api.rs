//! The JSON API under `/api/v1`: submit enrichment, follow and cancel jobs, read intelligence,
//! versions, diffs, briefs, changes, alerts, budget and the plan, edit the target list. Each
//! handler parses, calls one application operation and serializes a wire type; the OpenAPI
//! document is generated from these handlers and types (`utoipa`), so it cannot drift.

use crate::error::{ApiError, ErrorBody};
use crate::wire::*;
use crate::HttpState;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use pforge_app::jobs::{JobSpec, Refresh};
use pforge_app::queries::ChangeFilter;
use pforge_app::settings::parse_duration;
use pforge_core::{Domain, DomainError};
use serde::Deserialize;
use utoipa::IntoParams;

type ApiResult = Result<Response, ApiError>;

/// Parses every domain (duplicates after normalization dropped); any invalid one fails the whole
/// request (nothing half-done).
fn parse_domains(inputs: &[DomainText]) -> Result<Vec<Domain>, ApiError> {
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
    let mut bad: Vec<DomainError> = Vec::new();
    for DomainText(i) in inputs {
        match parse_domain_text(i) {
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

fn parse_domain_text(input: &str) -> Result<Domain, DomainError> {
    if input.len() > MAX_DOMAIN_TEXT {
        return Err(DomainError {
            input: input.chars().take(40).collect::<String>() + "...",
            reason: format!("longer than {MAX_DOMAIN_TEXT} characters"),
        });
    }
    Domain::parse(input)
}

fn parse_one_domain(input: &str) -> Result<Domain, ApiError> {
    parse_domain_text(input).map_err(|e| ApiError::invalid_domains(vec![e]))
}

/// The ages `since` takes: what `pforge changes --since` takes, in whole units.
/// Five digits: the oldest age, 99999 weeks, still ends after year 1 (RFC 3339 has no earlier).
const AGE_PATTERN: &str = "^[0-9]{1,5}[smhdw]$";

/// The schema of `since`: an age of [`AGE_PATTERN`]'s form or an RFC 3339 time, exactly what
/// [`parse_since`] accepts.
fn since_schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type};
    let one_of = OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(AGE_PATTERN)),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
        )
        .build();
    utoipa::openapi::Schema::OneOf(one_of).into()
}

/// `since` as an age (`7d`, `12h`) or an RFC 3339 time; nothing else, so that the schema
/// ([`since_schema`]) says exactly what is accepted.
fn parse_since(text: &str) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let is_age = text.len() >= 2
        && text.len() <= 6
        && text[..text.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && text.ends_with(['s', 'm', 'h', 'd', 'w']);
    let age = Some(text)
        .filter(|_| is_age)
        .and_then(|t| parse_duration(t).ok())
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .and_then(|age| Utc::now().checked_sub_signed(age))
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "since={text:?}: use an age like 7d or 12h, or an RFC 3339 time"
            ))
        })?;
    Ok(age)
}

/// Queues enrichment of domains now (a job; follow its `status_url`).
#[utoipa::path(post, path = "/enrich", tag = "jobs",
    request_body = EnrichRequest,
    responses(
        (status = 202, description = "Job accepted", body = EnrichAccepted),
        (status = 400, description = "Bad input (`invalid_input`, `invalid_domain`)", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 503, description = "Shutting down or database unavailable", body = ErrorBody),
    ))]
pub async fn enrich(
    State(st): State<HttpState>,
    body: Result<Json<EnrichRequest>, JsonRejection>,
) -> ApiResult {
    let Json(body) = body?;
    let domains = parse_domains(&body.domains)?;
    let spec = JobSpec {
        modules: body
            .modules
            .unwrap_or_default()
            .into_iter()
            .map(|ModuleId(m)| m)
            .collect(),
        refresh: match body.refresh {
            Some(RefreshWire::All) => Refresh::All,
            _ => Refresh::Stale,
        },
        max_spend: checked_spend(body.max_spend)?,
        origin: format!("{}api", pforge_app::daemon::LABEL_PREFIX),
        hints: Default::default(),
    };
    let job_id = st.daemon.submit(spec, &domains).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(EnrichAccepted {
            job_id,
            domains: domains.len() as u64,
            status_url: format!("/api/v1/jobs/{job_id}"),
        }),
    )
        .into_response())
}

/// `?limit=N`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LimitQuery {
    /// At most this many, newest first.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// Recent jobs, newest first.
#[utoipa::path(get, path = "/jobs", tag = "jobs", params(LimitQuery),
    responses(
        (status = 200, description = "Jobs", body = JobsPage),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
    ))]
pub async fn list_jobs(
    State(st): State<HttpState>,
    q: Result<Query<LimitQuery>, QueryRejection>,
) -> ApiResult {
    let Query(q) = q?;
    let limit = checked_limit(q.limit, 50, 1000)?;
    let jobs = st.app.recent_jobs(limit).await?;
    Ok(Json(JobsPage {
        jobs: jobs.into_iter().map(Into::into).collect(),
    })
    .into_response())
}

/// A `limit` within `1..=max` (default `default`).
/// A job's spend cap as the schema allows it: a finite number from 0 to 10^12 credits.
fn checked_spend(max: Option<f64>) -> Result<Option<f64>, ApiError> {
    match max {
        Some(m) if !(0.0..=1e12).contains(&m) => Err(ApiError::invalid(format!(
            "max_spend={m} is out of range: give 0 to 1000000000000 credits"
        ))),
        other => Ok(other),
    }
}

/// A module id given as a filter: an empty one is a mistake, not "every module".
fn checked_module(module: &str) -> Result<&str, ApiError> {
    if module.is_empty() || module.len() > 128 {
        return Err(ApiError::invalid(
            "module must be a module id of 1 to 128 characters (see GET /plan)",
        ));
    }
    Ok(module)
}

fn checked_limit(limit: Option<u32>, default: i64, max: i64) -> Result<i64, ApiError> {
    match limit {
        None => Ok(default),
        Some(n) if (1..=max).contains(&i64::from(n)) => Ok(i64::from(n)),
        Some(n) => Err(ApiError::invalid(format!(
            "limit={n} is out of range: use 1 to {max}"
        ))),
    }
}

/// A job id in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct JobPath {
    /// The job's id (a UUID).
    id: uuid::Uuid,
}

/// One job with its progress: module runs and queued domains by state.
#[utoipa::path(get, path = "/jobs/{id}", tag = "jobs", params(JobPath),
    responses(
        (status = 200, description = "The job", body = JobDetail),
        (status = 400, description = "Not a job id", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
    ))]
pub async fn get_job(
    State(st): State<HttpState>,
    p: Result<Path<JobPath>, PathRejection>,
) -> ApiResult {
    let id = job_id(p)?;
    Ok(Json(JobDetail::from(st.app.job(id).await?)).into_response())
}

fn job_id(p: Result<Path<JobPath>, PathRejection>) -> Result<uuid::Uuid, ApiError> {
    match p {
        Ok(Path(p)) => Ok(p.id),
        Err(e) => Err(ApiError::invalid(format!(
            "not a job id (a UUID): {}",
            e.body_text()
        ))),
    }
}

/// A job's work items: one per (domain, module), with status, attempts, error and version.
#[utoipa::path(get, path = "/jobs/{id}/items", tag = "jobs", params(JobPath),
    responses(
        (status = 200, description = "The job's work items", body = JobItems),
        (status = 400, description = "Not a job id", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
    ))]
pub async fn job_items(
    State(st): State<HttpState>,
    p: Result<Path<JobPath>, PathRejection>,
) -> ApiResult {
    let id = job_id(p)?;
    let items = st.app.job_items(id).await?;
    Ok(Json(JobItems {
        job_id: id,
        items: items.into_iter().map(Into::into).collect(),
    })
    .into_response())
}

/// Cancels a job: queued domains are not started; domains in progress finish.
#[utoipa::path(post, path = "/jobs/{id}/cancel", tag = "jobs", params(JobPath),
    responses(
        (status = 200, description = "Cancelled, or already ended (`cancelled: false`)", body = CancelResult),
        (status = 400, description = "Not a job id", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
    ))]
pub async fn cancel_job(
    State(st): State<HttpState>,
    p: Result<Path<JobPath>, PathRejection>,
) -> ApiResult {
    let id = job_id(p)?;
    let out = st.app.jobs().cancel(id).await?;
    Ok(Json(CancelResult {
        job_id: out.job_id,
        cancelled: out.cancelled,
        status: out.status.into(),
    })
    .into_response())
}

/// A domain in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DomainPath {
    /// A domain in any form `pforge enrich` accepts (host, URL-encoded URL, e-mail address).
    #[param(value_type = String, format = "domain", min_length = 1, max_length = 2048)]
    domain: String,
}

/// The newest snapshot of every module for a domain, with citations.
#[utoipa::path(get, path = "/domains/{domain}", tag = "intelligence", params(DomainPath),
    responses(
        (status = 200, description = "Latest snapshots", body = DomainLatest),
        (status = 400, description = "Not a domain", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 404, description = "Nothing stored for the domain", body = ErrorBody),
    ))]
pub async fn domain_latest(
    State(st): State<HttpState>,
    p: Result<Path<DomainPath>, PathRejection>,
) -> ApiResult {
    let Path(p) = p?;
    let domain = parse_one_domain(&p.domain)?;
    let snapshots = st.app.latest_snapshots(&domain).await?;
    if snapshots.is_empty() {
        return Err(ApiError::not_found(format!(
            "no intelligence stored for {domain} (enrich it first)"
        )));
    }
    Ok(Json(DomainLatest {
        domain: domain.to_string(),
        modules: snapshots.into_iter().map(Into::into).collect(),
    })
    .into_response())
}

/// `?module=ID`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ModuleQuery {
    /// Only this module id.
    #[param(format = "module-id", min_length = 1, max_length = 128)]
    module: Option<String>,
}

/// Every stored version of a domain's modules, oldest first.
#[utoipa::path(get, path = "/domains/{domain}/snapshots", tag = "intelligence",
    params(DomainPath, ModuleQuery),
    responses(
        (status = 200, description = "Snapshot history", body = SnapshotHistory),
        (status = 400, description = "Not a domain", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
    ))]
pub async fn domain_snapshots(
    State(st): State<HttpState>,
    p: Result<Path<DomainPath>, PathRejection>,
    q: Result<Query<ModuleQuery>, QueryRejection>,
) -> ApiResult {
    let Path(p) = p?;
    let Query(q) = q?;
    let domain = parse_one_domain(&p.domain)?;
    let module = q.module.as_deref().map(checked_module).transpose()?;
    let snapshots = st.app.snapshots(&domain, module).await?;
    Ok(Json(SnapshotHistory {
        domain: domain.to_string(),
        snapshots: snapshots.into_iter().map(Into::into).collect(),
    })
    .into_response())
}

/// A domain, module and version in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct VersionPath {
    #[param(value_type = String, format = "domain", min_length = 1, max_length = 2048)]
    domain: String,
    /// A module id (see `GET /plan`).
    #[param(format = "module-id", min_length = 1, max_length = 128)]
    module: String,
    #[param(minimum = 1)]
    version: u32,
}

/// One stored version of a module's result.
#[utoipa::path(get, path = "/domains/{domain}/modules/{module}/versions/{version}",
    tag = "intelligence", params(VersionPath),
    responses(
        (status = 200, description = "The snapshot", body = SnapshotWire),
        (status = 400, description = "Bad path", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 404, description = "No such version", body = ErrorBody),
    ))]
pub async fn snapshot_version(
    State(st): State<HttpState>,
    p: Result<Path<VersionPath>, PathRejection>,
) -> ApiResult {
    let Path(p) = p?;
    let domain = parse_one_domain(&p.domain)?;
    let snap = st
        .app
        .snapshot(&domain, &p.module, i64::from(p.version))
        .await?;
    Ok(Json(SnapshotWire::from(snap)).into_response())
}

/// A domain and module in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ModulePath {
    #[param(value_type = String, format = "domain", min_length = 1, max_length = 2048)]
    domain: String,
    #[param(format = "module-id", min_length = 1, max_length = 128)]
    module: String,
}

/// `?from=N&to=M`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    /// The older version (default: the one before `to`).
    #[param(minimum = 1)]
    from: Option<u32>,
    /// The newer version (default: the latest).
    #[param(minimum = 1)]
    to: Option<u32>,
}

/// What changed in one module between two versions (set elements named by identity).
#[utoipa::path(get, path = "/domains/{domain}/modules/{module}/diff", tag = "intelligence",
    params(ModulePath, DiffQuery),
    responses(
        (status = 200, description = "The diff", body = DiffWire),
        (status = 400, description = "Bad path or versions", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 404, description = "Nothing stored, or a version is missing", body = ErrorBody),
    ))]
pub async fn diff(
    State(st): State<HttpState>,
    p: Result<Path<ModulePath>, PathRejection>,
    q: Result<Query<DiffQuery>, QueryRejection>,
) -> ApiResult {
    let Path(p) = p?;
    let Query(q) = q?;
    let domain = parse_one_domain(&p.domain)?;
    let d = st
        .app
        .diff(
            &domain,
            &p.module,
            q.from.map(i64::from),
            q.to.map(i64::from),
        )
        .await?;
    Ok(Json(DiffWire::from(d)).into_response())
}

/// The latest account brief (Markdown, every claim cited).
#[utoipa::path(get, path = "/domains/{domain}/brief", tag = "intelligence", params(DomainPath),
    responses(
        (status = 200, description = "The brief", body = BriefWire),
        (status = 400, description = "Not a domain", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 404, description = "No brief stored", body = ErrorBody),
    ))]
pub async fn brief(
    State(st): State<HttpState>,
    p: Result<Path<DomainPath>, PathRejection>,
) -> ApiResult {
    let Path(p) = p?;
    let domain = parse_one_domain(&p.domain)?;
    Ok(Json(BriefWire::from(st.app.brief(&domain).await?)).into_response())
}

/// Filters of `GET /changes`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// An age (a whole number of `s`, `m`, `h`, `d` or `w`: `30m`, `12h`, `7d`) or an RFC 3339
    /// time; default `7d`.
    #[param(schema_with = since_schema)]
    since: Option<String>,
    /// Only events at this level or above (default low).
    min_level: Option<LevelWire>,
    /// Only this domain.
    #[param(value_type = Option<String>, format = "domain", min_length = 1, max_length = 2048)]
    domain: Option<String>,
    /// Only this module id.
    #[param(format = "module-id", min_length = 1, max_length = 128)]
    module: Option<String>,
    /// At most this many per page (default 1000).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<u32>,
    /// The previous page's `next_cursor`, unchanged.
    #[param(pattern = "^[0-9a-f]{48}$")]
    cursor: Option<String>,
}

/// Change events, newest first, filtered in the database and paged with a cursor.
#[utoipa::path(get, path = "/changes", tag = "changes", params(ChangesQuery),
    responses(
        (status = 200, description = "One page of changes", body = ChangesPage),
        (status = 400, description = "Bad filter or cursor", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
    ))]
pub async fn changes(
    State(st): State<HttpState>,
    q: Result<Query<ChangesQuery>, QueryRejection>,
) -> ApiResult {
    let Query(q) = q?;
    let since = parse_since(q.since.as_deref().unwrap_or("7d"))?;
    let min_level = q.min_level.unwrap_or(LevelWire::Low);
    let domain = q.domain.as_deref().map(parse_one_domain).transpose()?;
    let page = st
        .app
        .changes(&ChangeFilter {
            domain,
            module: q
                .module
                .as_deref()
                .map(checked_module)
                .transpose()?
                .map(str::to_string),
            min_level: Some(min_level.into()),
            since: Some(since),
            cursor: q.cursor,
            limit: checked_limit(q.limit, 1000, pforge_app::queries::MAX_PAGE)?,
        })
        .await?;
    Ok(Json(ChangesPage {
        since,
        min_level,
        changes: page.events.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    })
    .into_response())
}

/// Filters of `GET /alerts`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertsQuery {
    /// Only alerts in this state.
    #[param(inline)]
    status: Option<AlertStatusWire>,
    /// At most this many, newest first (default 100).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<u32>,
}

/// Alerts in the outbox, newest first.
#[utoipa::path(get, path = "/alerts", tag = "alerts", params(AlertsQuery),
    responses(
        (status = 200, description = "Alerts", body = AlertsPage),
        (status = 400, description = "Bad filter", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
    ))]
pub async fn alerts(
    State(st): State<HttpState>,
    q: Result<Query<AlertsQuery>, QueryRejection>,
) -> ApiResult {
    let Query(q) = q?;
    let limit = checked_limit(q.limit, 100, 10_000)?;
    let alerts = st
        .app
        .alerts()
        .list(q.status.map(AlertStatusWire::as_str), limit)
        .await?;
    Ok(Json(AlertsPage {
        alerts: alerts.into_iter().map(Into::into).collect(),
    })
    .into_response())
}

/// Resends dead-lettered alerts (all, or one by id) now.
#[utoipa::path(post, path = "/alerts/retry", tag = "alerts", request_body = RetryRequest,
    responses(
        (status = 200, description = "Requeued and delivered what could be", body = RetryResult),
        (status = 400, description = "Bad body", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 404, description = "No dead-lettered alert (with that id)", body = ErrorBody),
    ))]
pub async fn retry_alerts(
    State(st): State<HttpState>,
    body: Result<Json<RetryRequest>, JsonRejection>,
) -> ApiResult {
    let Json(body) = body?;
    let requeued = st.app.alerts().requeue_dead(body.id).await?;
    let r = st.app.alerts().deliver().await?;
    Ok(Json(RetryResult {
        requeued: requeued as u64,
        delivered: r.delivered as u64,
        retried: r.retried as u64,
        dead: r.dead as u64,
    })
    .into_response())
}

/// Spend against every budget cap in its current period.
#[utoipa::path(get, path = "/budget", tag = "budget",
    responses(
        (status = 200, description = "Caps", body = BudgetWire),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
    ))]
pub async fn budget(State(st): State<HttpState>) -> ApiResult {
    let caps = st.app.budget_status().await?;
    Ok(Json(BudgetWire {
        caps: caps.into_iter().map(Into::into).collect(),
    })
    .into_response())
}

/// The module plan: waves, exact dependencies, providers.
#[utoipa::path(get, path = "/plan", tag = "plan",
    responses(
        (status = 200, description = "The plan", body = PlanWire),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
    ))]
pub async fn plan(State(st): State<HttpState>) -> ApiResult {
    let plan = st.app.plan()?;
    Ok(Json(PlanWire::from(plan.as_ref())).into_response())
}

/// The target list (schedules with `targets = "table"` and freshness refresh use it).
#[utoipa::path(get, path = "/targets", tag = "targets",
    responses(
        (status = 200, description = "Targets", body = TargetsPage),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
    ))]
pub async fn list_targets(State(st): State<HttpState>) -> ApiResult {
    let targets = st.app.targets().await?;
    Ok(Json(TargetsPage {
        targets: targets.into_iter().map(Into::into).collect(),
    })
    .into_response())
}

/// Adds domains to the target list (already listed ones are kept as they are).
#[utoipa::path(post, path = "/targets", tag = "targets", request_body = DomainsBody,
    responses(
        (status = 201, description = "Some were new", body = Added),
        (status = 200, description = "All were listed already", body = Added),
        (status = 400, description = "Bad input", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
    ))]
pub async fn add_targets(
    State(st): State<HttpState>,
    body: Result<Json<DomainsBody>, JsonRejection>,
) -> ApiResult {
    let Json(body) = body?;
    let domains = parse_domains(&body.domains)?;
    let added = st.app.add_targets(&domains).await?;
    let status = if added > 0 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(Added { added })).into_response())
}

/// Removes domains from the target list.
#[utoipa::path(delete, path = "/targets", tag = "targets", request_body = DomainsBody,
    responses(
        (status = 200, description = "Removed", body = Removed),
        (status = 400, description = "Bad input", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
    ))]
pub async fn remove_targets(
    State(st): State<HttpState>,
    body: Result<Json<DomainsBody>, JsonRejection>,
) -> ApiResult {
    let Json(body) = body?;
    let removed = st
        .app
        .remove_targets(&parse_domains(&body.domains)?)
        .await?;
    Ok(Json(Removed { removed }).into_response())
}

/// Removes one domain from the target list.
#[utoipa::path(delete, path = "/targets/{domain}", tag = "targets", params(DomainPath),
    responses(
        (status = 200, description = "Removed", body = Removed),
        (status = 400, description = "Not a domain", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 404, description = "Not on the target list", body = ErrorBody),
    ))]
pub async fn remove_target(
    State(st): State<HttpState>,
    p: Result<Path<DomainPath>, PathRejection>,
) -> ApiResult {
    let Path(p) = p?;
    let domain = parse_one_domain(&p.domain)?;
    if st.app.remove_targets(std::slice::from_ref(&domain)).await? == 1 {
        Ok(Json(Removed { removed: 1 }).into_response())
    } else {
        Err(ApiError::not_found(format!(
            "{domain} is not on the target list"
        )))
    }
}

/// Removes accounts from the accounts table, keeping their history: they leave the target
/// list (schedules stop) and are hidden until added or enriched again. The UI's "Remove" calls
/// the same operation.
#[utoipa::path(post, path = "/accounts/remove", tag = "targets", request_body = DomainsBody,
    responses(
        (status = 200, description = "How many shown accounts were removed", body = Removed),
        (status = 400, description = "Bad input", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
    ))]
pub async fn remove_accounts(
    State(st): State<HttpState>,
    body: Result<Json<DomainsBody>, JsonRejection>,
) -> ApiResult {
    let Json(body) = body?;
    let removed = st
        .app
        .remove_accounts(&parse_domains(&body.domains)?)
        .await?;
    Ok(Json(Removed { removed }).into_response())
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
        assert_eq!(
            parse_since("soon").unwrap_err().code.name(),
            "invalid_input"
        );
        // Only the documented forms: what the schema rejects, the server rejects too.
        for outside in ["90", "1.5h", "7 d", "123456d", "d"] {
            assert!(parse_since(outside).is_err(), "{outside}");
        }
        assert!(parse_since("99999w").is_ok());
        assert!(parse_since("999999w").is_err());
    }

    #[test]
    fn domain_lists_fail_whole_with_details() {
        let text = |s: &str| DomainText(s.to_string());
        let err = parse_domains(&[text("ok.com"), text("not a domain")]).unwrap_err();
        assert_eq!(err.code.name(), "invalid_domain");
        assert_eq!(err.details.unwrap().as_array().unwrap().len(), 1);
        assert_eq!(parse_domains(&[]).unwrap_err().code.name(), "invalid_input");
        assert_eq!(
            parse_domains(&[text("https://www.Example.com/x")]).unwrap()[0].as_str(),
            "example.com"
        );
    }
}
