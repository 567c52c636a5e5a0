//! The API's wire types: what `/api/v1` accepts and returns, with the constraints the server
//! enforces, described to clients through the generated OpenAPI document. They are separate
//! from the store's rows and the application's results (each converted here), so the API can
//! stay stable while storage changes, and so the document says exactly what crosses the wire.

use chrono::{DateTime, Utc};
use pforge_app::queries::{Brief, JobProgress, VersionDiff};
use pforge_budget::CapStatus;
use pforge_core::ChangeEvent;
use pforge_store::{Alert, Job, Snapshot, Target, WorkItem};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};
use uuid::Uuid;

/// Most domains one request may carry (bigger lists belong in a target file or the table).
pub const MAX_DOMAINS_PER_REQUEST: usize = 10_000;

/// Longest domain text accepted (a URL or e-mail address that contains the domain).
pub const MAX_DOMAIN_TEXT: usize = 2048;

/// A list of domains, as `POST /targets` and `DELETE /targets` take it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainsBody {
    /// Domains in any form `pforge enrich` accepts (host, URL, e-mail address); each is
    /// normalized to its registrable domain. Any invalid one fails the whole request.
    #[schema(min_items = 1, max_items = 10000, inline)]
    pub domains: Vec<DomainText>,
}

/// A domain as a client writes it.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct DomainText(pub String);

/// A string schema with a custom format and length bounds (utoipa cannot derive bounds for a
/// newtype).
fn bounded_string(format: &str, max: usize) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::Custom(format.to_string())))
        .min_length(Some(1))
        .max_length(Some(max))
        .into()
}

impl PartialSchema for DomainText {
    fn schema() -> RefOr<Schema> {
        bounded_string("domain", MAX_DOMAIN_TEXT)
    }
}

impl ToSchema for DomainText {}

/// `POST /enrich`: what to enrich and how; the same choices `pforge enrich` offers.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrichRequest {
    #[schema(min_items = 1, max_items = 10000, inline)]
    pub domains: Vec<DomainText>,
    /// Only these modules and what they depend on (see `GET /plan` for ids); all when absent.
    #[serde(default)]
    #[schema(inline)]
    pub modules: Option<Vec<ModuleId>>,
    /// `stale` (default) skips modules still within their freshness TTL; `all` re-runs them.
    #[serde(default)]
    pub refresh: Option<RefreshWire>,
    /// Credits the job may spend at most, on top of the caps in `[budget]`.
    #[serde(default)]
    #[schema(minimum = 0.0, maximum = 1e12)]
    pub max_spend: Option<f64>,
}

/// A module id (`m02_tech_stack`, or a declarative module's id).
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct ModuleId(pub String);

impl PartialSchema for ModuleId {
    fn schema() -> RefOr<Schema> {
        bounded_string("module-id", 128)
    }
}

impl ToSchema for ModuleId {}

/// Which modules a job re-runs.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefreshWire {
    Stale,
    All,
}

/// `202` for `POST /enrich`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnrichAccepted {
    pub job_id: Uuid,
    /// Distinct domains queued.
    pub domains: u64,
    /// Where to follow the job.
    pub status_url: String,
}

/// A job's lifecycle state.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatusWire {
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl From<pforge_store::JobStatus> for JobStatusWire {
    fn from(s: pforge_store::JobStatus) -> Self {
        use pforge_store::JobStatus as S;
        match s {
            S::Running => JobStatusWire::Running,
            S::Completed => JobStatusWire::Completed,
            S::Failed => JobStatusWire::Failed,
            S::Cancelled => JobStatusWire::Cancelled,
        }
    }
}

/// One job.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobWire {
    pub id: Uuid,
    /// Where it came from (`cli`, `daemon:api`, `daemon:schedule:nightly`, ...).
    pub label: String,
    pub status: JobStatusWire,
    /// What it runs: modules, refresh, spend cap, origin. A queued job's per-domain hints
    /// (names from its input file, possibly one per domain of a 100k list) are not repeated
    /// here: `hinted_domains` counts them.
    #[schema(value_type = Object)]
    pub spec: Value,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<Job> for JobWire {
    fn from(j: Job) -> Self {
        JobWire {
            id: j.id,
            label: j.label,
            status: j.status.into(),
            spec: without_hints(j.spec),
            created_at: j.created_at,
            finished_at: j.finished_at,
        }
    }
}

/// A stored job spec with its `hints` map replaced by their number.
fn without_hints(mut spec: Value) -> Value {
    if let Some(o) = spec.as_object_mut() {
        if let Some(h) = o.remove("hints") {
            let n = h.as_object().map_or(0, |m| m.len());
            o.insert("hinted_domains".into(), Value::from(n));
        }
    }
    spec
}

/// `GET /jobs`.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobsPage {
    pub jobs: Vec<JobWire>,
}

/// `GET /jobs/{id}`: the job with its progress.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobDetail {
    pub job: JobWire,
    /// Module runs recorded so far.
    pub items: i64,
    /// Module runs by state: pending, running, new_version, unchanged, fresh, failed, skipped.
    pub counts: BTreeMap<String, i64>,
    /// Queued domains by state: pending, running, done, failed, cancelled.
    pub queue: BTreeMap<String, i64>,
}

impl From<JobProgress> for JobDetail {
    fn from(p: JobProgress) -> Self {
        JobDetail {
            items: p.items(),
            counts: p.modules.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            queue: p.queue.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            job: p.job.into(),
        }
    }
}

/// One (job, domain, module) unit of work.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkItemWire {
    pub domain: String,
    pub module: String,
    /// pending, running, new_version, unchanged, fresh, failed or skipped.
    pub status: String,
    pub attempts: i64,
    pub error: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The snapshot version it produced or confirmed.
    pub version: Option<i64>,
}

impl From<WorkItem> for WorkItemWire {
    fn from(i: WorkItem) -> Self {
        WorkItemWire {
            domain: i.domain,
            module: i.module,
            status: i.status.as_str().to_string(),
            attempts: i.attempts,
            error: i.error,
            started_at: i.started_at,
            finished_at: i.finished_at,
            version: i.version,
        }
    }
}

/// `GET /jobs/{id}/items`.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobItems {
    pub job_id: Uuid,
    pub items: Vec<WorkItemWire>,
}

/// `POST /jobs/{id}/cancel`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CancelResult {
    pub job_id: Uuid,
    /// Whether this request cancelled it (false: it had already ended).
    pub cancelled: bool,
    pub status: JobStatusWire,
}

/// One stored, versioned module result.
#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotWire {
    pub domain: String,
    pub module: String,
    /// 1 for the first result, +1 for every result that differed from the previous one.
    #[schema(minimum = 1)]
    pub version: i64,
    /// The module's output.
    #[schema(value_type = Object)]
    pub data: Value,
    /// Where every value came from: source, provider, fetched_at, covers (JSON Pointers).
    #[schema(value_type = Vec<Object>)]
    pub citations: Value,
    /// SHA-256 of the canonical data.
    pub content_hash: String,
    pub fetched_at: DateTime<Utc>,
    /// Last time a run confirmed this version was still current.
    pub checked_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub job_id: Option<Uuid>,
    /// RFC 6902 patch from the previous version (absent for version 1 and pruned bases).
    #[schema(value_type = Option<Vec<Object>>)]
    pub patch: Option<Value>,
}

impl From<Snapshot> for SnapshotWire {
    fn from(s: Snapshot) -> Self {
        SnapshotWire {
            domain: s.domain,
            module: s.module,
            version: s.version,
            data: s.data,
            citations: s.citations,
            content_hash: s.content_hash,
            fetched_at: s.fetched_at,
            checked_at: s.checked_at,
            created_at: s.created_at,
            job_id: s.job_id,
            patch: s.patch,
        }
    }
}

/// `GET /domains/{domain}`: the newest snapshot of every module.
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainLatest {
    pub domain: String,
    pub modules: Vec<SnapshotWire>,
}

/// `GET /domains/{domain}/snapshots`: every stored version, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotHistory {
    pub domain: String,
    pub snapshots: Vec<SnapshotWire>,
}

/// What happened at a path.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKindWire {
    Added,
    Removed,
    Changed,
}

impl From<pforge_core::ChangeKind> for ChangeKindWire {
    fn from(k: pforge_core::ChangeKind) -> Self {
        match k {
            pforge_core::ChangeKind::Added => ChangeKindWire::Added,
            pforge_core::ChangeKind::Removed => ChangeKindWire::Removed,
            pforge_core::ChangeKind::Changed => ChangeKindWire::Changed,
        }
    }
}

/// How much a change matters, lowest first.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LevelWire {
    Low,
    Medium,
    High,
    Critical,
}

impl From<pforge_core::Level> for LevelWire {
    fn from(l: pforge_core::Level) -> Self {
        match l {
            pforge_core::Level::Low => LevelWire::Low,
            pforge_core::Level::Medium => LevelWire::Medium,
            pforge_core::Level::High => LevelWire::High,
            pforge_core::Level::Critical => LevelWire::Critical,
        }
    }
}

impl From<LevelWire> for pforge_core::Level {
    fn from(l: LevelWire) -> Self {
        match l {
            LevelWire::Low => pforge_core::Level::Low,
            LevelWire::Medium => pforge_core::Level::Medium,
            LevelWire::High => pforge_core::Level::High,
            LevelWire::Critical => pforge_core::Level::Critical,
        }
    }
}

/// One change between two versions, explained.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeWire {
    /// JSON Pointer with set elements named by identity (`/technologies/Algolia`).
    pub path: String,
    pub kind: ChangeKindWire,
    /// Any JSON value (absent for an addition or removal).
    pub old_value: Option<Value>,
    /// Any JSON value (absent for an addition or removal).
    pub new_value: Option<Value>,
}

/// `GET /domains/{domain}/modules/{module}/diff`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DiffWire {
    pub domain: String,
    pub module: String,
    pub from: i64,
    pub to: i64,
    /// The newest stored version.
    pub latest: i64,
    /// RFC 6902 patch from `from` to `to`.
    #[schema(value_type = Vec<Object>)]
    pub patch: Value,
    pub changes: Vec<ChangeWire>,
}

impl From<VersionDiff> for DiffWire {
    fn from(d: VersionDiff) -> Self {
        DiffWire {
            domain: d.domain,
            module: d.module,
            from: d.from,
            to: d.to,
            latest: d.latest,
            patch: d.patch,
            changes: d
                .changes
                .into_iter()
                .map(|c| ChangeWire {
                    path: c.path,
                    kind: c.kind.into(),
                    old_value: c.old_value,
                    new_value: c.new_value,
                })
                .collect(),
        }
    }
}

/// A scored change event.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeEventWire {
    pub id: Uuid,
    pub domain: String,
    pub module: String,
    /// The version that introduced the change.
    pub version: i64,
    pub path: String,
    pub kind: ChangeKindWire,
    /// Any JSON value (absent for an addition or removal).
    pub old_value: Option<Value>,
    /// Any JSON value (absent for an addition or removal).
    pub new_value: Option<Value>,
    /// 0-100.
    pub significance: i64,
    pub level: LevelWire,
    /// The significance rule that scored it.
    pub rule: String,
    pub detected_at: DateTime<Utc>,
}

impl From<ChangeEvent> for ChangeEventWire {
    fn from(e: ChangeEvent) -> Self {
        ChangeEventWire {
            id: e.id,
            domain: e.domain,
            module: e.module,
            version: e.version,
            path: e.path,
            kind: e.kind.into(),
            old_value: e.old_value,
            new_value: e.new_value,
            significance: e.significance,
            level: e.level.into(),
            rule: e.rule,
            detected_at: e.detected_at,
        }
    }
}

/// `GET /changes`: one page, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangesPage {
    pub since: DateTime<Utc>,
    pub min_level: LevelWire,
    pub changes: Vec<ChangeEventWire>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// An alert's delivery state.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatusWire {
    Pending,
    Delivered,
    Dead,
    Disabled,
}

impl AlertStatusWire {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatusWire::Pending => "pending",
            AlertStatusWire::Delivered => "delivered",
            AlertStatusWire::Dead => "dead",
            AlertStatusWire::Disabled => "disabled",
        }
    }
}

/// One alert in the outbox.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertWire {
    /// Stable across retries, so receivers can de-duplicate.
    pub id: Uuid,
    pub rule: String,
    pub recipient: String,
    pub channel: String,
    /// immediate, hourly or daily.
    pub delivery: String,
    pub domain: String,
    #[schema(value_type = Object)]
    pub payload: Value,
    /// pending, delivered, dead or disabled.
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

impl From<Alert> for AlertWire {
    fn from(a: Alert) -> Self {
        AlertWire {
            id: a.id,
            rule: a.rule,
            recipient: a.recipient,
            channel: a.channel,
            delivery: a.delivery.to_string(),
            domain: a.domain,
            payload: a.payload,
            status: a.status.to_string(),
            attempts: a.attempts,
            last_error: a.last_error,
            created_at: a.created_at,
            next_attempt_at: a.next_attempt_at,
            delivered_at: a.delivered_at,
        }
    }
}

/// `GET /alerts`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertsPage {
    pub alerts: Vec<AlertWire>,
}

/// `POST /alerts/retry`: which dead letters to resend.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryRequest {
    /// Only this alert; every dead-lettered alert when absent.
    #[serde(default)]
    pub id: Option<Uuid>,
}

/// What resending did.
#[derive(Debug, Serialize, ToSchema)]
pub struct RetryResult {
    pub requeued: u64,
    pub delivered: u64,
    pub retried: u64,
    pub dead: u64,
}

/// One budget cap and how much of it is used.
#[derive(Debug, Serialize, ToSchema)]
pub struct CapWire {
    /// `total` or a provider id.
    pub scope: String,
    /// daily or monthly.
    pub period: String,
    /// Charged, held and unknown credits in the period.
    pub spent: f64,
    /// Part of `spent` held by a worker that died before saying whether the call was billed.
    pub unknown: f64,
    pub limit: f64,
    pub remaining: f64,
    pub resets_at: DateTime<Utc>,
}

impl From<CapStatus> for CapWire {
    fn from(c: CapStatus) -> Self {
        CapWire {
            scope: c.scope,
            period: c.period.to_string(),
            spent: c.spent,
            unknown: c.unknown,
            limit: c.limit,
            remaining: c.remaining,
            resets_at: c.resets_at,
        }
    }
}

/// `GET /budget`.
#[derive(Debug, Serialize, ToSchema)]
pub struct BudgetWire {
    pub caps: Vec<CapWire>,
}

/// One module of the plan.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanModule {
    pub id: String,
    pub title: String,
    pub dependencies: Vec<String>,
    pub providers: Vec<String>,
}

/// One wave of the plan (a display grouping; modules start as soon as their own dependencies
/// are done).
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanWave {
    pub wave: u64,
    pub modules: Vec<PlanModule>,
}

/// `GET /plan`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanWire {
    pub waves: Vec<PlanWave>,
}

impl From<&pforge_orchestrator::Plan> for PlanWire {
    fn from(plan: &pforge_orchestrator::Plan) -> Self {
        PlanWire {
            waves: plan
                .waves()
                .iter()
                .enumerate()
                .map(|(n, ids)| PlanWave {
                    wave: n as u64 + 1,
                    modules: ids
                        .iter()
                        .filter_map(|id| plan.module(id))
                        .map(|m| {
                            let s = m.spec();
                            PlanModule {
                                id: s.id.clone(),
                                title: s.title.clone(),
                                dependencies: s.dependencies.clone(),
                                providers: s.providers.clone(),
                            }
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// `GET /domains/{domain}/brief`.
#[derive(Debug, Serialize, ToSchema)]
pub struct BriefWire {
    pub domain: String,
    pub version: i64,
    pub fetched_at: DateTime<Utc>,
    /// The brief, every claim cited with `[n]`.
    pub markdown: String,
    /// The numbered sources: `{"n", "source", "provider"}` each.
    #[schema(value_type = Vec<Object>)]
    pub footnotes: Value,
    /// Modules the brief had no data from (ids).
    #[schema(value_type = Vec<String>)]
    pub missing_modules: Value,
}

impl From<Brief> for BriefWire {
    fn from(b: Brief) -> Self {
        BriefWire {
            domain: b.domain,
            version: b.version,
            fetched_at: b.fetched_at,
            markdown: b.markdown,
            footnotes: b.footnotes,
            missing_modules: b.missing_modules,
        }
    }
}

/// One domain on the target list.
#[derive(Debug, Serialize, ToSchema)]
pub struct TargetWire {
    pub domain: String,
    pub added_at: DateTime<Utc>,
}

impl From<Target> for TargetWire {
    fn from(t: Target) -> Self {
        TargetWire {
            domain: t.domain,
            added_at: t.added_at,
        }
    }
}

/// `GET /targets`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TargetsPage {
    pub targets: Vec<TargetWire>,
}

/// `POST /targets`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Added {
    pub added: u64,
}

/// `DELETE /targets`, `DELETE /targets/{domain}`, `POST /accounts/remove`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Removed {
    pub removed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jobs_hints_are_counted_not_repeated() {
        let spec = serde_json::json!({
            "origin": "cli",
            "hints": {"apple.com": {"name": "Apple Inc."}, "docker.com": {"name": "Docker"}}
        });
        let shown = without_hints(spec);
        assert_eq!(
            shown,
            serde_json::json!({"origin": "cli", "hinted_domains": 2})
        );
        let plain = serde_json::json!({"origin": "api"});
        assert_eq!(without_hints(plain.clone()), plain);
    }
}
