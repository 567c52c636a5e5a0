//! The clap definition of every command and flag. Help text explains each flag.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Exit codes:
  0  everything requested was done
  1  the run finished but some modules failed (see the summary)
  2  bad usage or bad input: invalid flags, unreadable files, or invalid domains in a batch
     (every valid domain was still enriched)
  3  a budget cap stopped some modules (see `pforge budget`)

Environment:
  PFORGE_CONFIG          config file (default: config/pforge.toml, else the built-in default)
  PFORGE_DATABASE_URL    database (default: sqlite://pforge.db in the working directory)";

/// PartnerForge: account-intelligence enrichment for lists of company domains.
#[derive(Debug, Parser)]
#[command(name = "pforge", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Config file with providers, caps, TTLs and rules.
    #[arg(long, global = true, env = "PFORGE_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// SQLite database file (shorthand for --database-url sqlite://PATH).
    #[arg(long, global = true, value_name = "PATH", conflicts_with = "database_url")]
    pub db: Option<PathBuf>,
    /// Database URL: sqlite://PATH (embedded default) or postgres://...
    #[arg(long, global = true, env = "PFORGE_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// Log format on stderr: human text or JSON lines for collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// More log detail (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Enrich domains: arguments, a file (--file), or `-` for standard input.
    Enrich(EnrichArgs),
    /// Show the module plan: waves, dependencies and providers.
    Plan(PlanArgs),
    /// Show the latest intelligence for a domain, module by module, with sources.
    Show(ShowArgs),
    /// Run the offline demo: start the fixture server and enrich the bundled demo companies.
    Demo(DemoArgs),
    /// Serve recorded provider responses (for offline runs and tests).
    Fixtures(FixturesArgs),
}

/// Which modules to re-run.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub enum Refresh {
    /// Skip modules whose latest snapshot is younger than their TTL.
    #[default]
    Stale,
    /// Run every module, fresh or not.
    All,
}

#[derive(Debug, Args, Clone)]
pub struct EnrichArgs {
    /// Domains, URLs or e-mail addresses to enrich; `-` reads the list from standard input.
    #[arg(value_name = "DOMAIN")]
    pub domains: Vec<String>,
    /// File of domains: one per line, or a CSV with a `domain` column; `-` for standard input.
    #[arg(short, long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Most module runs in progress at once (default from [run] concurrency).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Seconds before a module run is abandoned as failed (default from [run]).
    #[arg(long, value_name = "SECS")]
    pub module_timeout: Option<f64>,
    /// Which modules to re-run: `stale` skips those still within their freshness TTL.
    #[arg(long, value_enum, default_value_t = Refresh::Stale)]
    pub refresh: Refresh,
    /// Run only these modules (and what they depend on); comma-separated ids.
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    pub modules: Vec<String>,
    /// Load technology fingerprints (Wappalyzer format) from this folder instead of the config's.
    #[arg(long, value_name = "DIR")]
    pub fingerprints: Option<PathBuf>,
    /// Point every provider at this fixture server (offline runs and tests).
    #[arg(long, value_name = "URL")]
    pub fixtures_url: Option<String>,
    /// Print the run summary as JSON on standard output.
    #[arg(long)]
    pub json: bool,
    /// Never draw a progress bar, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Args, Clone)]
pub struct PlanArgs {
    /// Print the plan as JSON.
    #[arg(long, conflicts_with = "dot")]
    pub json: bool,
    /// Print the plan as a Graphviz DOT graph.
    #[arg(long)]
    pub dot: bool,
}

#[derive(Debug, Args, Clone)]
pub struct ShowArgs {
    /// The domain to show (any form `enrich` accepts).
    pub domain: String,
    /// Only this module.
    #[arg(long, value_name = "ID")]
    pub module: Option<String>,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone)]
pub struct DemoArgs {
    /// Fixture epoch to serve: 1 is the first recording, 2 a later one with changes.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub epoch: u32,
    /// Fixtures folder.
    #[arg(long, default_value = "fixtures", value_name = "DIR")]
    pub fixtures: PathBuf,
    /// Domain to show at the end.
    #[arg(long, default_value = "techstart.io", value_name = "DOMAIN")]
    pub show: String,
    /// Print the run summary as JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone)]
pub struct FixturesArgs {
    #[command(subcommand)]
    pub command: FixturesCommand,
}

#[derive(Debug, Subcommand, Clone)]
pub enum FixturesCommand {
    /// Serve fixtures on 127.0.0.1 until interrupted; prints the base URL on the first line.
    Serve {
        /// Fixtures folder.
        #[arg(long, default_value = "fixtures", value_name = "DIR")]
        dir: PathBuf,
        /// Epoch to serve (later epochs fall back to earlier ones).
        #[arg(long, default_value_t = 1, value_name = "N")]
        epoch: u32,
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
}
