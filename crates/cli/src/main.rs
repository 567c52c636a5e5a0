//! `pforge`: the PartnerForge command line. This crate knows clap and the terminal: it parses
//! flags into the application's settings, calls one `pforge-app` operation per command and
//! prints what comes back (tables for people, `--json` for scripts), choosing the exit code from
//! the error's kind. It holds no SQL and no job lifecycle.

mod cli;
mod commands;
// Used by commands that write files named after user input (`brief --out`, exports).
mod paths;
mod progress;

use clap::Parser;
use std::process::ExitCode;

/// mimalloc instead of glibc malloc: the engine allocates and frees small objects on one thread
/// and drops them on another all the time (module outputs, store rows), which glibc serves with
/// arena locks and consolidation (a quarter of the no-op benchmark's CPU time).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit codes, documented in `pforge --help`.
pub mod exit {
    /// Everything requested was done.
    pub const OK: u8 = 0;
    /// The run finished but some modules failed, or nothing is stored for what was asked.
    pub const MODULE_FAILURES: u8 = 1;
    /// Bad usage or bad input (including invalid domains in a batch; the rest still ran), or a
    /// configuration that cannot work.
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
    // The command runs as a task on the runtime's workers rather than on this thread: a run's
    // top future (the executor's stream of domains) is woken by every module run, and waking a
    // parked main thread costs a futex round trip each time.
    let outcome = runtime.block_on(async {
        match tokio::spawn(commands::dispatch(cli)).await {
            Ok(outcome) => outcome,
            Err(join) => Err(anyhow::anyhow!("the command stopped unexpectedly: {join}")),
        }
    });
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // One line, with the causes chained, so scripts and people both read it easily.
            // Commands that report "nothing stored" as a finding return 1 themselves.
            eprintln!("error: {e:#}");
            ExitCode::from(exit::BAD_INPUT)
        }
    }
}
