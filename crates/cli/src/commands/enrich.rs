//! `pforge enrich`: stream domains through the plan here (or queue them for workers) and report
//! what happened.

use crate::cli::{EnrichArgs, GlobalArgs};
use crate::{exit, progress};
use anyhow::{bail, Result};
use pforge_app::input::{InputError, Source};
use pforge_app::jobs::InputErrorSink;
use pforge_app::{alerts, JobSpec, OpenOptions, RunReport};
use serde_json::json;
use std::sync::Arc;

pub async fn run(global: &GlobalArgs, args: EnrichArgs) -> Result<u8> {
    let source = match (&args.file, args.domains.as_slice()) {
        (Some(_), [_, ..]) => bail!("give domains as arguments or with --file, not both"),
        (Some(f), []) if f.as_os_str() == "-" => Source::Stdin,
        (Some(f), []) => Source::File(f.clone()),
        (None, [one]) if one == "-" => Source::Stdin,
        (None, []) => bail!(
            "no domains given: pass them as arguments, use --file PATH, or `-` for standard input"
        ),
        (None, many) => Source::Args(many.to_vec()),
    };
    let mut sources = global.sources();
    sources.fixtures_url = args.fixtures_url.clone();
    sources.fingerprints = args.fingerprints.clone();
    sources.concurrency = args.concurrency;
    sources.module_timeout_secs = args.module_timeout;
    let app = super::open_with(sources, OpenOptions::one_shot()).await?;
    let spec = JobSpec {
        modules: args.modules.clone(),
        refresh: args.refresh.into(),
        max_spend: args.max_spend,
        origin: "cli".into(),
        hints: Default::default(),
    };
    if args.enqueue {
        return enqueue(&app, spec, source, args.json).await;
    }
    let deliver = !args.json;
    if deliver {
        // Alerts left pending by an earlier run (or a crash) go out first.
        alerts::deliver_logged(&app).await;
    }
    let modules = app.plan_for(&spec.modules)?.modules().len();
    let (sink, bar) = progress::reporter(args.no_progress, modules);
    let bar_for_errors = bar.clone();
    let on_input_error: InputErrorSink = Arc::new(move |e: &InputError| {
        let line = format!("error: input line {}: {}", e.line, e.message);
        match &bar_for_errors {
            Some(b) => b.println(line),
            None => eprintln!("{line}"),
        }
    });
    let report = app.jobs().run(spec, source, sink, on_input_error).await;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let report = report?;
    if deliver {
        alerts::deliver_logged(&app).await;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_summary(&report);
    }
    Ok(exit_code(&report))
}

/// `--enqueue`: read and validate every domain, then queue them as one job for workers.
async fn enqueue(
    app: &pforge_app::App,
    mut spec: JobSpec,
    source: Source,
    as_json: bool,
) -> Result<u8> {
    let (domains, errors, hints) = pforge_app::jobs::read_domains_with_hints(source).await?;
    spec.hints = hints;
    for e in &errors {
        eprintln!("error: input line {}: {}", e.line, e.message);
    }
    let job = app.jobs().enqueue(spec, &domains).await?;
    if as_json {
        let out = json!({
            "job_id": job.id,
            "status": job.status.as_str(),
            "domains": domains.len(),
            "input_errors": errors,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "job {} queued: {} domain(s); run `pforge worker` to process it, `pforge jobs show {}` to follow it",
            job.id,
            domains.len(),
            job.id
        );
    }
    Ok(if errors.is_empty() {
        exit::OK
    } else {
        exit::BAD_INPUT
    })
}

/// The process exit code for a run (see `pforge --help`).
pub fn exit_code(report: &RunReport) -> u8 {
    if !report.input_errors.is_empty() {
        exit::BAD_INPUT
    } else if report.summary.budget_failures() > 0 {
        exit::BUDGET
    } else if report.summary.failed() > 0 {
        exit::MODULE_FAILURES
    } else {
        exit::OK
    }
}

/// Prints the per-module table and the first failures.
pub fn print_summary(report: &RunReport) {
    let s = &report.summary;
    println!(
        "job {}: {} domain(s), {} with failures, {} invalid input line(s)",
        s.job_id,
        s.domains,
        s.domains_with_failures,
        report.input_errors.len()
    );
    println!(
        "{:<28} {:>6} {:>8} {:>10} {:>6} {:>7} {:>8}",
        "module", "ok", "new ver", "unchanged", "fresh", "failed", "skipped"
    );
    for (id, c) in &s.modules {
        println!(
            "{:<28} {:>6} {:>8} {:>10} {:>6} {:>7} {:>8}",
            id, c.ok, c.new_version, c.unchanged, c.fresh, c.failed, c.skipped
        );
    }
    let budget = s.budget_failures();
    if budget > 0 {
        println!(
            "{budget} module run(s) stopped by a budget cap (their dependents degraded or were skipped); see `pforge budget`"
        );
    }
    if !s.failures.is_empty() {
        println!("failures:");
        for f in &s.failures {
            println!("  {} {}: {}", f.domain, f.module, f.error);
        }
    }
}
