//! `pforge demo`: the whole product offline. Starts the fixture server over the recordings that
//! ship inside the binary (or a folder given instead), points every provider at it, and enriches
//! the demo companies into the configured database through the normal job path.

use crate::error::{AppError, AppResult};
use crate::input::Source;
use crate::jobs::{InputErrorSink, JobSpec, Refresh, RunReport};
use crate::settings::{embedded, Settings, SettingsSources};
use crate::{App, OpenOptions};
use chrono::{DateTime, Utc};
use pforge_fixture_server::FixtureServer;
use pforge_orchestrator::EventSink;
use std::net::SocketAddr;
use std::path::PathBuf;

/// How the demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Fixture epoch: 1 is the first recording, 2 a later one with changes.
    pub epoch: u32,
    /// A fixtures folder instead of the built-in recordings.
    pub fixtures: Option<PathBuf>,
    /// Port on 127.0.0.1 for the fixture server (a free one if it is taken). A stable port
    /// keeps the source URLs identical between demo runs, so an unchanged recording really
    /// shows up as unchanged.
    pub port: u16,
}

/// What a demo run did.
pub struct DemoRun {
    /// The application the demo ran in (its database holds the results).
    pub app: App,
    pub report: RunReport,
    /// When the run started: change events since then are what this run learned.
    pub started: DateTime<Utc>,
    /// Where the recordings were served.
    pub fixture_url: String,
}

/// The demo's recordings, served on 127.0.0.1.
pub struct DemoFixtures {
    server: FixtureServer,
    dir: PathBuf,
    epoch: u32,
}

/// Starts the fixture server over the recordings `opts` names.
pub async fn serve(opts: &DemoOptions) -> AppResult<DemoFixtures> {
    let dir = match &opts.fixtures {
        Some(dir) => dir.canonicalize().map_err(|e| {
            AppError::invalid(format!(
                "fixtures folder {} not found ({e}): pass an existing folder to --fixtures, or leave it out to use the built-in recordings",
                dir.display()
            ))
        })?,
        None => embedded::fixtures_dir()?,
    };
    let server = match FixtureServer::start(
        &dir,
        opts.epoch,
        SocketAddr::from(([127, 0, 0, 1], opts.port)),
    )
    .await
    {
        Ok(s) => s,
        Err(_) => FixtureServer::start(&dir, opts.epoch, SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(|e| AppError::invalid(format!("starting the fixture server: {e}")))?,
    };
    Ok(DemoFixtures {
        server,
        dir,
        epoch: opts.epoch,
    })
}

impl DemoFixtures {
    /// The fixture server's base URL.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Enriches the demo accounts with every provider pointed at the fixture server, over the
    /// config and database `sources` name; stops the server afterwards.
    pub async fn run(
        self,
        sources: &SettingsSources,
        events: EventSink,
        on_input_error: InputErrorSink,
    ) -> AppResult<DemoRun> {
        let url = self.server.url();
        let sources = SettingsSources {
            fixtures_url: Some(url.clone()),
            ..sources.clone()
        };
        let result = async {
            let mut settings = Settings::resolve(&sources)?;
            if settings.config.intelligence.traffic.rank_list.is_none() {
                settings.config.intelligence.traffic.rank_list =
                    Some(self.dir.join("tranco-demo.csv"));
            }
            let app = App::open(settings, OpenOptions::one_shot()).await?;
            let started = Utc::now();
            let spec = JobSpec {
                refresh: Refresh::All,
                ..JobSpec::new(format!("demo:epoch{}", self.epoch))
            };
            let report = app
                .jobs()
                .run(
                    spec,
                    Source::File(self.dir.join("demo-accounts.csv")),
                    events,
                    on_input_error,
                )
                .await?;
            Ok::<_, AppError>(DemoRun {
                app,
                report,
                started,
                fixture_url: url.clone(),
            })
        }
        .await;
        self.server.shutdown().await;
        result
    }
}
