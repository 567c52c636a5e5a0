//! `pforge bench`: the scale benchmark (`pforge-bench`), with its report printed or as JSON.

use crate::cli::{BenchArgs, BenchSchedule, BenchStoreArg, GlobalArgs};
use crate::exit;
use anyhow::Result;
use pforge_bench::{BenchOptions, BenchStore, Schedule};

pub async fn run(global: &GlobalArgs, args: BenchArgs) -> Result<u8> {
    let report = pforge_bench::bench(&BenchOptions {
        domains: args.domains,
        schedule: match args.schedule {
            BenchSchedule::Eager => Schedule::Eager,
            BenchSchedule::Waves => Schedule::Waves,
        },
        concurrency: args.concurrency,
        domains_in_flight: args.domains_in_flight,
        providers: args.providers.clone(),
        store: match args.store {
            BenchStoreArg::Sqlite => BenchStore::Sqlite,
            BenchStoreArg::Memory => BenchStore::Memory,
            BenchStoreArg::Postgres => BenchStore::Postgres,
        },
        database_url: global.database_url.clone(),
        noop: args.noop,
        quiet: args.json,
        account_fields: Some(pforge_app::queries::accounts::account_fields()),
    })
    .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        pforge_bench::print_report(&report);
    }
    Ok(if report.failed_runs > 0 {
        exit::MODULE_FAILURES
    } else {
        exit::OK
    })
}
