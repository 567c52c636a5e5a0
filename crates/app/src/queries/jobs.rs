//! Jobs as people follow them: the list with progress, one job with its counts, its work items.

use crate::error::{AppError, AppResult};
use crate::App;
use pforge_store::{ItemStatus, Job, QueueStatus, WorkItem};
use serde::Serialize;
use std::collections::BTreeMap;
use uuid::Uuid;

/// A job with its progress: queued domains by state and module runs by state.
#[derive(Debug, Clone, Serialize)]
pub struct JobProgress {
    #[serde(flatten)]
    pub job: Job,
    /// Queued domains by state (empty for jobs run directly by `enrich`).
    pub queue: BTreeMap<&'static str, i64>,
    /// Module runs by state.
    pub modules: BTreeMap<&'static str, i64>,
}

impl JobProgress {
    /// Module runs recorded so far (every state).
    pub fn items(&self) -> i64 {
        self.modules.values().sum()
    }
}

/// Parses a job id as users paste it.
pub fn parse_job_id(text: &str) -> AppResult<Uuid> {
    Uuid::parse_str(text.trim()).map_err(|_| {
        AppError::invalid(format!(
            "{text:?} is not a job id (see `pforge jobs` for ids)"
        ))
    })
}

impl App {
    /// The newest `limit` jobs with their progress.
    pub async fn list_jobs(&self, limit: i64) -> AppResult<Vec<JobProgress>> {
        let mut out = Vec::new();
        for job in self.store().list_jobs(limit.clamp(1, 10_000)).await? {
            out.push(self.progress(job).await?);
        }
        Ok(out)
    }

    /// One job with its progress; an unknown id is [`AppError::NotFound`].
    pub async fn job(&self, id: Uuid) -> AppResult<JobProgress> {
        let job = self
            .store()
            .get_job(id)
            .await?
            .ok_or_else(|| AppError::not_found(format!("no job {id} (see `pforge jobs`)")))?;
        self.progress(job).await
    }

    /// Every work item of a job (per domain and module), ordered by domain then module.
    pub async fn job_items(&self, id: Uuid) -> AppResult<Vec<WorkItem>> {
        self.job(id).await?;
        Ok(self.store().items_for_job(id).await?)
    }

    async fn progress(&self, job: Job) -> AppResult<JobProgress> {
        let queue = self
            .store()
            .queue_counts(job.id)
            .await?
            .into_iter()
            .map(|(s, n): (QueueStatus, i64)| (s.as_str(), n))
            .collect();
        let modules = self
            .store()
            .job_counts(job.id)
            .await?
            .into_iter()
            .map(|(s, n): (ItemStatus, i64)| (s.as_str(), n))
            .collect();
        Ok(JobProgress {
            job,
            queue,
            modules,
        })
    }
}
