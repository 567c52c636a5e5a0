//! `pforge`: the PartnerForge command line. This crate owns wiring (config → gateway, store,
//! modules, executor), the commands, progress display and exit codes; the work itself happens
//! in the library crates.

mod cli;
mod commands;
mod config;
mod daemon;
mod input;
mod ledger;
mod limiter;
// Used by commands that write files named after user input (`brief --out`, exports).
mod paths;
mod progress;
mod wiring;

use clap::Parser;
use std::process::ExitCode;

/// Exit codes, documented in `pforge --help`.
pub mod exit {
    /// Everything requested was done.
    pub const OK: u8 = 0;
    /// The run finished but some modules failed.
    pub const MODULE_FAILURES: u8 = 1;
    /// Bad usage or bad input (including invalid domains in a batch; the rest still ran).
    pub const BAD_INPUT: u8 = 2;
    /// A budget cap stopped some modules.
    pub const BUDGET: u8 = 3;
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    progress::init_logging(&cli.global);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::MODULE_FAILURES);
        }
    };
    match runtime.block_on(commands::dispatch(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // One line, with the causes chained, so scripts and people both read it easily.
            eprintln!("error: {e:#}");
            ExitCode::from(exit::BAD_INPUT)
        }
    }
}
