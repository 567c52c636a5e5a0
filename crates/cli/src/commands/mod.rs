//! One file per command; `dispatch` routes the parsed command line to it.

mod alerts;
mod bench;
pub mod brief;
mod budget;
mod changes;
mod daemon;
mod demo;
mod diff;
mod enrich;
mod estimate;
mod fixtures;
mod history;
mod jobs;
mod plan;
mod prune;
mod show;
mod worker;
pub use bench::BenchArgs;

use crate::cli::{Cli, Command};
use anyhow::Result;

/// Runs the command and returns the process exit code.
pub async fn dispatch(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Enrich(args) => enrich::run(&cli.global, args).await,
        Command::Plan(args) => plan::run(&cli.global, args).await,
        Command::Show(args) => show::run(&cli.global, args).await,
        Command::History(args) => history::run(&cli.global, args).await,
        Command::Diff(args) => diff::run(&cli.global, args).await,
        Command::Changes(args) => changes::run(&cli.global, args).await,
        Command::Brief(args) => brief::run(&cli.global, args).await,
        Command::Budget(args) => budget::run(&cli.global, args).await,
        Command::Prune(args) => prune::run(&cli.global, args).await,
        Command::Alerts(args) => alerts::run(&cli.global, args).await,
        Command::Demo(args) => demo::run(&cli.global, args).await,
        Command::Fixtures(args) => fixtures::run(args).await,
        Command::Worker(args) => worker::run(&cli.global, args).await,
        Command::Jobs(args) => jobs::run(&cli.global, args).await,
        Command::Daemon(args) => daemon::run(&cli.global, args).await,
        Command::Bench(args) => bench::run(args).await,
    }
}
