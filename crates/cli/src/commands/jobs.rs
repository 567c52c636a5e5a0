//! `pforge jobs`: queued and past jobs with progress (queue rows and module items by state),
//! `jobs show ID`, `jobs cancel ID`.

use crate::cli::{GlobalArgs, JobsArgs, JobsCommand};
use crate::wiring;
use anyhow::{Context, Result};
use pforge_store::{ItemStatus, Job, QueueStatus, Store};
use serde::Serialize;
use std::collections::BTreeMap;
use uuid::Uuid;

/// One job as `pforge jobs --json` prints it.
#[derive(Serialize)]
struct JobView {
    #[serde(flatten)]
    job: Job,
    /// Queued domains by state (empty for jobs run directly by `enrich`).
    queue: BTreeMap<&'static str, i64>,
    /// Module runs by state.
    modules: BTreeMap<&'static str, i64>,
}

async fn view(store: &dyn Store, job: Job) -> Result<JobView> {
    let queue = store
        .queue_counts(job.id)
        .await?
        .into_iter()
        .map(|(s, n): (QueueStatus, i64)| (s.as_str(), n))
        .collect();
    let modules = store
        .job_counts(job.id)
        .await?
        .into_iter()
        .map(|(s, n): (ItemStatus, i64)| (s.as_str(), n))
        .collect();
    Ok(JobView {
        job,
        queue,
        modules,
    })
}

fn parse_id(id: &str) -> Result<Uuid> {
    Uuid::parse_str(id.trim())
        .with_context(|| format!("{id:?} is not a job id (see `pforge jobs` for ids)"))
}

fn counts_text(counts: &BTreeMap<&'static str, i64>) -> String {
    if counts.is_empty() {
        return "-".into();
    }
    counts
        .iter()
        .map(|(s, n)| format!("{s}={n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

pub async fn run(global: &GlobalArgs, args: JobsArgs) -> Result<u8> {
    let store = wiring::open_store(global).await?;
    match args.command {
        None => {
            let mut views = Vec::new();
            for job in store.list_jobs(args.limit).await? {
                views.push(view(store.as_ref(), job).await?);
            }
            if args.json {
                println!("{}", serde_json::to_string_pretty(&views)?);
            } else if views.is_empty() {
                println!("no jobs yet");
            } else {
                println!(
                    "{:<36}  {:<9}  {:<20}  {:<40}  modules",
                    "job", "status", "created", "queue"
                );
                for v in &views {
                    println!(
                        "{:<36}  {:<9}  {:<20}  {:<40}  {}",
                        v.job.id,
                        v.job.status.as_str(),
                        v.job.created_at.format("%Y-%m-%d %H:%M:%S"),
                        counts_text(&v.queue),
                        counts_text(&v.modules)
                    );
                }
            }
            Ok(crate::exit::OK)
        }
        Some(JobsCommand::Show { id }) => {
            let id = parse_id(&id)?;
            let job = store
                .get_job(id)
                .await?
                .with_context(|| format!("no job {id} (see `pforge jobs`)"))?;
            let v = view(store.as_ref(), job).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("job {} ({})", v.job.id, v.job.label);
                println!("status:   {}", v.job.status.as_str());
                println!("created:  {}", v.job.created_at.to_rfc3339());
                if let Some(f) = v.job.finished_at {
                    println!("finished: {}", f.to_rfc3339());
                }
                println!("queue:    {}", counts_text(&v.queue));
                println!("modules:  {}", counts_text(&v.modules));
            }
            Ok(crate::exit::OK)
        }
        Some(JobsCommand::Cancel { id }) => {
            let id = parse_id(&id)?;
            let cancelled = match store.cancel_job(id).await {
                Ok(c) => c,
                Err(pforge_store::StoreError::Database(sqlx_not_found))
                    if sqlx_not_found.to_string().contains("no rows") =>
                {
                    anyhow::bail!("no job {id} (see `pforge jobs`)")
                }
                Err(e) => return Err(e.into()),
            };
            let status = store
                .get_job(id)
                .await?
                .map(|j| j.status.as_str())
                .unwrap_or("unknown");
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({"job_id": id, "cancelled": cancelled, "status": status})
                );
            } else if cancelled {
                println!(
                    "job {id} cancelled: queued domains will not start; domains in progress finish"
                );
            } else {
                println!("job {id} was already {status}; nothing to cancel");
            }
            Ok(crate::exit::OK)
        }
    }
}
