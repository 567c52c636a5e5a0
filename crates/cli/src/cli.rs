//! The clap definition of every command and flag. Help text explains each flag. Flags become
//! the application's `SettingsSources` here and nowhere else.

use clap::{Args, Parser, Subcommand, ValueEnum};
use pforge_app::SettingsSources;
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Exit codes:
  0  everything requested was done
  1  the run finished but some modules failed (see the summary), or nothing is stored for
     what was asked (`show`, `brief`, `history` of a domain never enriched)
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
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        conflicts_with = "database_url"
    )]
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

impl GlobalArgs {
    /// The settings sources these flags name; commands add their own (fixtures, fingerprints,
    /// concurrency).
    pub fn sources(&self) -> SettingsSources {
        SettingsSources {
            config: self.config.clone(),
            database_url: self.database_url.clone(),
            db_path: self.db.clone(),
            ..Default::default()
        }
    }
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
    /// List stored versions of a domain's modules, with when and what changed.
    History(HistoryArgs),
    /// Show what changed in one module between two versions.
    Diff(DiffArgs),
    /// List recent change events with their significance.
    Changes(ChangesArgs),
    /// Print or write the latest account brief (Markdown, every claim cited) for a domain.
    Brief(crate::commands::BriefArgs),
    /// Spend against every budget cap.
    Budget(BudgetArgs),
    /// Delete old snapshot versions per the [retention] policy (never the latest).
    Prune(PruneArgs),
    /// Inspect and deliver the alert outbox.
    Alerts(AlertsArgs),
    /// Run the offline demo: start the fixture server and enrich the bundled demo companies.
    Demo(DemoArgs),
    /// Serve recorded provider responses (for offline runs and tests).
    Fixtures(FixturesArgs),
    /// Process queued work (`enrich --enqueue`) from the shared database until SIGTERM.
    Worker(WorkerArgs),
    /// List queued jobs with progress, show one, or cancel one.
    Jobs(JobsArgs),
    /// Run scheduled enrichment with an HTTP API and /metrics until SIGTERM/SIGINT ([daemon]).
    Daemon(DaemonArgs),
    /// Serve the web UI (and the API) over the configured database, without schedules.
    Ui(UiArgs),
    /// Scale benchmark: simulated providers on 127.0.0.1, makespan vs. its lower bound.
    Bench(BenchArgs),
}

/// Which modules to re-run.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub enum RefreshArg {
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
    #[arg(long, value_enum, default_value_t = RefreshArg::Stale)]
    pub refresh: RefreshArg,
    /// Run only these modules (and what they depend on); comma-separated ids.
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    pub modules: Vec<String>,
    /// Load technology fingerprints (Wappalyzer format) from this folder instead of the config's.
    #[arg(long, value_name = "DIR")]
    pub fingerprints: Option<PathBuf>,
    /// Stop spending after this many credits in this run (on top of the caps in [budget]).
    #[arg(long, value_name = "CREDITS")]
    pub max_spend: Option<f64>,
    /// Point every provider at this fixture server (offline runs and tests).
    #[arg(long, value_name = "URL")]
    pub fixtures_url: Option<String>,
    /// Print the run summary as JSON on standard output (alerts then stay in the outbox for
    /// `pforge alerts deliver` or the next run, so standard output stays pure JSON).
    #[arg(long)]
    pub json: bool,
    /// Never draw a progress bar, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
    /// Queue the domains for `pforge worker` processes instead of running them here; prints
    /// the job id at once (as `{"job_id": ...}` with --json).
    #[arg(long)]
    pub enqueue: bool,
}

#[derive(Debug, Args, Clone)]
pub struct PlanArgs {
    /// Print the plan (or, with --estimate, the estimate) as JSON.
    #[arg(long, conflicts_with = "dot")]
    pub json: bool,
    /// Predict the calls, cost per provider and shortest duration of enriching the domains in
    /// this file (`-` for standard input), skipping modules that are still fresh. Spends nothing.
    /// Calls only some domains make count for the share of domains `[estimate.shares]` gives;
    /// calls carrying ids that a `[[providers.X.batch]]` rule merges across domains are
    /// simulated (cache, batch windows, rate limits), with the items shared across domains
    /// drawn from `[estimate.pools]`. The output names the basis and the numbers used.
    #[arg(long, value_name = "FILE", conflicts_with = "dot")]
    pub estimate: Option<PathBuf>,
    /// Only these modules (and what they depend on); comma-separated ids.
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    pub modules: Vec<String>,
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
    /// A fixtures folder instead of the recordings built into the binary.
    #[arg(long, value_name = "DIR")]
    pub fixtures: Option<PathBuf>,
    /// Domain to show at the end.
    #[arg(long, default_value = "techstart.io", value_name = "DOMAIN")]
    pub show: String,
    /// Port on 127.0.0.1 for the fixture server (a free one is used if it is taken).
    #[arg(long, default_value_t = 47800)]
    pub port: u16,
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

#[derive(Debug, Args, Clone)]
pub struct HistoryArgs {
    /// The domain (any form `enrich` accepts).
    pub domain: String,
    /// Only this module.
    #[arg(long, value_name = "ID")]
    pub module: Option<String>,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone)]
pub struct DiffArgs {
    /// The domain (any form `enrich` accepts).
    pub domain: String,
    /// Module id (see `pforge plan`).
    #[arg(long, value_name = "ID")]
    pub module: String,
    /// Older version (default: the one before --to).
    #[arg(long, value_name = "N")]
    pub from: Option<i64>,
    /// Newer version (default: the latest).
    #[arg(long, value_name = "N")]
    pub to: Option<i64>,
    /// Print the RFC 6902 JSON Patch instead of the readable diff.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone)]
pub struct ChangesArgs {
    /// Only changes detected within this period (e.g. 7d, 12h, 30m).
    #[arg(long, default_value = "7d", value_name = "AGE")]
    pub since: String,
    /// Only changes at this level or above: low, medium, high or critical.
    #[arg(long, default_value = "low", value_name = "LEVEL")]
    pub min_level: pforge_core::Level,
    /// Only this domain.
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Option<String>,
    /// Only this module id.
    #[arg(long, value_name = "ID")]
    pub module: Option<String>,
    /// At most this many events, newest first.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub limit: i64,
    /// Continue after the page that printed this cursor.
    #[arg(long, value_name = "CURSOR")]
    pub cursor: Option<String>,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone)]
pub struct BudgetArgs {
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone)]
pub struct AlertsArgs {
    #[command(subcommand)]
    pub command: AlertsCommand,
}

#[derive(Debug, Subcommand, Clone)]
pub enum AlertsCommand {
    /// List alerts in the outbox, newest first.
    List {
        /// Only alerts with this status: pending, delivered, dead or disabled.
        #[arg(long, value_name = "STATUS")]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100, value_name = "N")]
        limit: i64,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Deliver every alert that is due now.
    Deliver {
        /// Also send hourly/daily digests now instead of at the end of their window.
        #[arg(long)]
        flush_digests: bool,
    },
    /// Requeue dead-lettered alerts (all, or one by --id) and deliver them.
    Retry {
        /// Only the alert with this id.
        #[arg(long, value_name = "ID")]
        id: Option<String>,
    },
}

#[derive(Debug, Args, Clone)]
pub struct DaemonArgs {
    /// Address of the HTTP server (default from [daemon] bind: 127.0.0.1:8480; port 0 picks a
    /// free one). The first line on standard output names the address actually bound.
    #[arg(long, value_name = "IP:PORT")]
    pub bind: Option<String>,
    /// Point every provider at this fixture server (offline runs and tests).
    #[arg(long, value_name = "URL")]
    pub fixtures_url: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct UiArgs {
    /// Address of the UI (default 127.0.0.1:8480; port 0 picks a free one). The first line on
    /// standard output is the URL to open, with a one-time login code.
    #[arg(long, value_name = "IP:PORT")]
    pub bind: Option<String>,
    /// Point every provider at this fixture server (re-enrich offline; tests).
    #[arg(long, value_name = "URL")]
    pub fixtures_url: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct WorkerArgs {
    /// Most module runs in progress at once in this worker (default from [run] concurrency).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Domains claimed per round trip to the queue.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub batch: i64,
    /// Seconds a claim is held without a heartbeat; a worker that dies is replaced after this.
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub lease_secs: f64,
    /// Seconds between queue polls when idle (PostgreSQL also wakes workers with NOTIFY).
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    pub poll_secs: f64,
    /// Exit once no queued job has work left (tests, batch runs) instead of waiting for more.
    #[arg(long)]
    pub once: bool,
    /// Seconds before a module run is abandoned as failed (default from [run]).
    #[arg(long, value_name = "SECS")]
    pub module_timeout: Option<f64>,
    /// Load technology fingerprints (Wappalyzer format) from this folder instead of the config's.
    #[arg(long, value_name = "DIR")]
    pub fingerprints: Option<PathBuf>,
    /// Point every provider at this fixture server (offline runs and tests).
    #[arg(long, value_name = "URL")]
    pub fixtures_url: Option<String>,
    /// Days finished queue rows are kept before workers prune them (checked every ten minutes,
    /// or every half of this when that is shorter).
    #[arg(long, default_value_t = 7.0, value_name = "DAYS")]
    pub keep_days: f64,
    /// Serve `/metrics` (Prometheus: claims, leases lost, heartbeats missed, reservations held,
    /// module runs) and `/healthz` on this address (port 0 picks a free one; the first line on
    /// standard output names it).
    #[arg(long, value_name = "IP:PORT")]
    pub metrics_bind: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct JobsArgs {
    #[command(subcommand)]
    pub command: Option<JobsCommand>,
    /// Print as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// At most this many jobs, newest first.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub limit: i64,
}

#[derive(Debug, Subcommand, Clone)]
pub enum JobsCommand {
    /// One job with its counts by state (queue and modules) and first failures.
    Show {
        /// Job id (from `pforge jobs` or `enrich --enqueue`).
        id: String,
    },
    /// Cancel a job: queued domains are not started, domains in progress finish.
    Cancel {
        /// Job id.
        id: String,
    },
}

#[derive(Debug, Args, Clone)]
pub struct PruneArgs {
    /// Show what would be deleted without deleting anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

impl From<RefreshArg> for pforge_app::Refresh {
    fn from(r: RefreshArg) -> Self {
        match r {
            RefreshArg::Stale => pforge_app::Refresh::Stale,
            RefreshArg::All => pforge_app::Refresh::All,
        }
    }
}

/// Flags of `pforge bench`.
#[derive(Debug, Args, Clone)]
pub struct BenchArgs {
    /// Synthetic domains to enrich (company0.com, company1.com, ...), streamed.
    #[arg(long, default_value_t = 1000)]
    pub domains: u64,
    /// `eager`: a module starts as soon as its own dependencies are done (the executor).
    /// `waves`: the original plan's baseline, wave k runs for every domain before wave k+1.
    #[arg(long, value_enum, default_value_t = BenchSchedule::Eager)]
    pub schedule: BenchSchedule,
    /// Most module runs in progress at once.
    #[arg(long, default_value_t = 512)]
    pub concurrency: usize,
    /// Most domains in progress at once (default: the concurrency).
    #[arg(long)]
    pub domains_in_flight: Option<usize>,
    /// Override simulated providers: `name=MEAN_MS[+-JITTER_MS]@RPS[/BURST]`, comma separated
    /// (e.g. `sec=80+-30@10`). Names: homepage, dns, traffic, sec, jobs, news, search.
    #[arg(long, value_name = "SPEC")]
    pub providers: Option<String>,
    /// Where snapshots go: a fresh SQLite file in the temp directory, SQLite in memory, or
    /// (`postgres`) a fresh schema in the PostgreSQL database of `--database-url`, dropped
    /// afterwards.
    #[arg(long, value_enum, default_value_t = BenchStoreArg::Sqlite)]
    pub store: BenchStoreArg,
    /// Modules call no provider (no HTTP, no rate limits): measures the engine's own overhead,
    /// every run's work item and snapshot still stored.
    #[arg(long)]
    pub noop: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// How the benchmark orders module runs.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum BenchSchedule {
    Eager,
    Waves,
}

/// Which store the benchmark writes to.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum BenchStoreArg {
    Sqlite,
    Memory,
    Postgres,
}
