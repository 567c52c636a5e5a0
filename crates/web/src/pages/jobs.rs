//! Jobs: the list with progress, one job with its per-domain, per-module status (refreshing
//! itself while it runs through server-sent events, see `job_events`), and cancel.

use super::{enc, html, Shell};
use crate::auth::Session;
use crate::error::WebError;
use crate::render::short_time;
use crate::WebState;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use pforge_app::queries::{parse_job_id, JobProgress};
use pforge_store::JobStatus;

/// Jobs listed.
const LIMIT: i64 = 100;

/// One job in the list.
pub struct JobView {
    pub id: String,
    pub href: String,
    pub label: String,
    pub status: String,
    pub created_at: String,
    pub finished_at: String,
    pub progress: String,
    pub done_pct: String,
    pub running: bool,
}

fn is_open(s: JobStatus) -> bool {
    matches!(s, JobStatus::Running)
}

impl From<&JobProgress> for JobView {
    fn from(p: &JobProgress) -> JobView {
        let total: i64 = p.queue.values().sum();
        let closed: i64 = ["done", "failed", "cancelled"]
            .iter()
            .filter_map(|s| p.queue.get(s))
            .sum();
        let (progress, pct) = if total > 0 {
            (format!("{closed} of {total} domains"), closed * 100 / total)
        } else {
            (
                format!("{} module runs", p.items()),
                if is_open(p.job.status) { 0 } else { 100 },
            )
        };
        JobView {
            id: p.job.id.to_string(),
            href: format!("/jobs/{}", p.job.id),
            label: p.job.label.clone(),
            status: p.job.status.as_str().to_string(),
            created_at: short_time(p.job.created_at),
            finished_at: p.job.finished_at.map(short_time).unwrap_or_default(),
            progress,
            done_pct: pct.to_string(),
            running: is_open(p.job.status),
        }
    }
}

/// The jobs page.
#[derive(Template)]
#[template(path = "jobs.html")]
struct JobsPage {
    shell: Shell,
    jobs: Vec<JobView>,
}

/// `GET /jobs`.
pub async fn list(
    State(st): State<WebState>,
    Extension(session): Extension<Session>,
) -> Result<Response, WebError> {
    let jobs = st.app.list_jobs(LIMIT).await?;
    html(&JobsPage {
        shell: Shell::new("Jobs", "jobs", &session),
        jobs: jobs.iter().map(JobView::from).collect(),
    })
}

/// One work item.
pub struct ItemView {
    pub domain: String,
    pub account_href: String,
    pub module: String,
    pub status: String,
    pub attempts: i64,
    pub error: String,
    pub finished_at: String,
}

/// Counts by state.
pub struct Count {
    pub label: String,
    pub n: i64,
}

/// The live part of a job's page: status, cancel button, progress, counts and work items. The
/// page embeds it and `/jobs/{id}/events` sends it again whenever it changes.
#[derive(Template)]
#[template(path = "job_live.html")]
pub(crate) struct JobLive {
    job: JobView,
    queue: Vec<Count>,
    modules: Vec<Count>,
    items: Vec<ItemView>,
    cancel_href: String,
    csrf: String,
}

impl JobLive {
    /// Whether the job still runs (the event stream ends when it does not).
    pub(crate) fn running(&self) -> bool {
        self.job.running
    }
}

/// One job's page.
#[derive(Template)]
#[template(path = "job.html")]
struct JobPage {
    shell: Shell,
    events_href: String,
    job: JobView,
    queue: Vec<Count>,
    modules: Vec<Count>,
    items: Vec<ItemView>,
    cancel_href: String,
    csrf: String,
}

/// Reads a job's progress and work items as the live part of its page.
pub(crate) async fn live(st: &WebState, id: uuid::Uuid, csrf: &str) -> Result<JobLive, WebError> {
    let progress = st.app.job(id).await?;
    let items = st.app.job_items(id).await?;
    let counts = |m: &std::collections::BTreeMap<&'static str, i64>| {
        m.iter()
            .map(|(k, n)| Count {
                label: k.to_string(),
                n: *n,
            })
            .collect::<Vec<_>>()
    };
    Ok(JobLive {
        job: JobView::from(&progress),
        queue: counts(&progress.queue),
        modules: counts(&progress.modules),
        items: items
            .into_iter()
            .map(|i| ItemView {
                account_href: format!("/accounts/{}", enc(&i.domain)),
                domain: i.domain,
                module: i.module,
                status: i.status.as_str().to_string(),
                attempts: i.attempts,
                error: i.error.unwrap_or_default(),
                finished_at: i.finished_at.map(short_time).unwrap_or_default(),
            })
            .collect(),
        cancel_href: format!("/jobs/{id}/cancel"),
        csrf: csrf.to_string(),
    })
}

/// `GET /jobs/{id}`.
pub async fn page(
    State(st): State<WebState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let id = parse_job_id(&id)?;
    let l = live(&st, id, &session.csrf).await?;
    html(&JobPage {
        shell: Shell::new(format!("Job {id}"), "jobs", &session),
        events_href: format!("/jobs/{id}/events"),
        job: l.job,
        queue: l.queue,
        modules: l.modules,
        items: l.items,
        cancel_href: l.cancel_href,
        csrf: l.csrf,
    })
}

/// `POST /jobs/{id}/cancel`.
pub async fn cancel(
    State(st): State<WebState>,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let id = parse_job_id(&id)?;
    st.app.jobs().cancel(id).await?;
    Ok(Redirect::to(&format!("/jobs/{id}")).into_response())
}
