//! One file per command; `dispatch` routes the parsed command line to it.

mod demo;
mod enrich;
mod fixtures;
mod plan;
mod show;

use crate::cli::{Cli, Command};
use anyhow::Result;

/// Runs the command and returns the process exit code.
pub async fn dispatch(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Enrich(args) => enrich::run(&cli.global, args).await,
        Command::Plan(args) => plan::run(&cli.global, args),
        Command::Show(args) => show::run(&cli.global, args).await,
        Command::Demo(args) => demo::run(&cli.global, args).await,
        Command::Fixtures(args) => fixtures::run(args).await,
    }
}
