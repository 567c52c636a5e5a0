//! `pforge jobs`: queued and past jobs with progress (queue rows and module items by state),
//! `jobs show ID`, `jobs cancel ID`.

use crate::cli::{GlobalArgs, JobsArgs, JobsCommand};
use crate::exit;
use anyhow::Result;
use pforge_app::queries::parse_job_id;
use std::collections::BTreeMap;

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
    let app = super::open(global).await?;
    match args.command {
        None => {
            let jobs = app.list_jobs(args.limit).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&jobs)?);
            } else if jobs.is_empty() {
                println!("no jobs yet");
            } else {
                println!(
                    "{:<36}  {:<9}  {:<20}  {:<40}  modules",
                    "job", "status", "created", "queue"
                );
                for v in &jobs {
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
            Ok(exit::OK)
        }
        Some(JobsCommand::Show { id }) => {
            let v = app.job(parse_job_id(&id)?).await?;
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
            Ok(exit::OK)
        }
        Some(JobsCommand::Cancel { id }) => {
            let out = app.jobs().cancel(parse_job_id(&id)?).await?;
            let (id, status) = (out.job_id, out.status.as_str());
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({"job_id": id, "cancelled": out.cancelled, "status": status})
                );
            } else if out.cancelled {
                println!(
                    "job {id} cancelled: queued domains will not start; domains in progress finish"
                );
            } else {
                println!("job {id} was already {status}; nothing to cancel");
            }
            Ok(exit::OK)
        }
    }
}
