//! One file per command: each parses its flags, calls one application operation and prints
//! the answer. `dispatch` routes the parsed command line to it.

mod alerts;
mod bench;
mod brief;
mod budget;
mod changes;
mod daemon;
mod demo;
mod diff;
mod enrich;
mod fixtures;
mod history;
mod jobs;
mod plan;
mod prune;
mod show;
mod ui;
mod worker;

pub use brief::BriefArgs;

use crate::cli::{Cli, Command, GlobalArgs};
use anyhow::Result;
use pforge_app::{App, OpenOptions, Settings, SettingsSources};
use std::sync::Mutex;

/// Every application a command opened, closed by [`dispatch`] when the command returns (with
/// success or an error), so no command leaves its SQLite file waiting on a WAL checkpoint.
static OPENED: Mutex<Vec<App>> = Mutex::new(Vec::new());

/// Runs the command and returns the process exit code.
pub async fn dispatch(cli: Cli) -> Result<u8> {
    let outcome = run_command(cli).await;
    let opened = std::mem::take(&mut *OPENED.lock().unwrap_or_else(|p| p.into_inner()));
    for app in opened {
        app.close().await;
    }
    outcome
}

/// Routes the parsed command line to its command.
async fn run_command(cli: Cli) -> Result<u8> {
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
        Command::Ui(args) => ui::run(&cli.global, args).await,
        Command::Bench(args) => bench::run(&cli.global, args).await,
    }
}

/// Resolves the settings from the global flags plus a command's own sources, and opens the
/// application for a one-shot command.
async fn open(global: &GlobalArgs) -> Result<App> {
    open_with(global.sources(), OpenOptions::one_shot()).await
}

/// [`open`] with explicit sources and options.
async fn open_with(sources: SettingsSources, options: OpenOptions) -> Result<App> {
    let settings = Settings::resolve(&sources)?;
    Ok(remember(App::open(settings, options).await?))
}

/// Registers an opened application for [`dispatch`] to close when the command returns.
fn remember(app: App) -> App {
    OPENED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(app.clone());
    app
}
