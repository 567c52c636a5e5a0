//! `pforge worker`: one worker task over the shared work queue, in this process, until SIGTERM
//! (or, with `--once`, until no queued job has work left). A configuration that cannot build the
//! modules exits 2 at once, before anything is claimed.
//!
//! With `--metrics-bind ADDR` it serves `/metrics` and `/healthz` like the daemon, so every
//! worker of a fleet can be scraped (claims, leases lost, heartbeats missed, reservations held).
//!
//! First SIGTERM/SIGINT: stop claiming, give back rows not started, finish the domains in
//! progress, exit 0. A second one gives back everything held and exits at once (another worker
//! redoes it; nothing is stored or charged twice).

use crate::cli::{GlobalArgs, WorkerArgs};
use crate::exit;
use anyhow::{Context, Result};
use pforge_app::worker::{Worker, WorkerOptions};
use pforge_app::OpenOptions;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub async fn run(global: &GlobalArgs, args: WorkerArgs) -> Result<u8> {
    if !(args.lease_secs.is_finite() && args.lease_secs >= 0.5) {
        anyhow::bail!("--lease-secs must be at least 0.5");
    }
    let mut sources = global.sources();
    sources.fixtures_url = args.fixtures_url.clone();
    sources.fingerprints = args.fingerprints.clone();
    sources.concurrency = args.concurrency;
    sources.module_timeout_secs = args.module_timeout;
    let lease = Duration::from_secs_f64(args.lease_secs);
    let metrics_addr: Option<SocketAddr> = args
        .metrics_bind
        .as_deref()
        .map(|a| {
            a.parse().with_context(|| {
                format!("--metrics-bind {a:?} is not an IP:PORT address (e.g. 127.0.0.1:9464)")
            })
        })
        .transpose()?;
    let app = super::open_with(
        sources,
        OpenOptions::service(metrics_addr.is_some()).with_hold(lease),
    )
    .await?;
    let server = match metrics_addr {
        Some(addr) => Some(serve_metrics(app.clone(), addr).await?),
        None => None,
    };
    // Module runs and durations go to /metrics too when it is served.
    let events = match app.metrics() {
        Some(m) => m.sink(pforge_app::progress::log_sink()),
        None => pforge_app::progress::log_sink(),
    };
    let stop = CancellationToken::new();
    let worker = Worker::start(
        app,
        WorkerOptions {
            batch: args.batch,
            lease,
            poll: Duration::from_secs_f64(args.poll_secs.clamp(0.05, 300.0)),
            once: args.once,
            keep: Duration::from_secs_f64(args.keep_days.max(0.0) * 86400.0),
            deliver_alerts: false,
        },
        None,
        stop.clone(),
        Some(events),
    )?;
    let signals = {
        let worker = worker.clone();
        tokio::spawn(async move {
            super::daemon::wait_for_signal().await;
            tracing::info!(
                "shutting down: no new claims; finishing domains in progress (signal again to stop now)"
            );
            stop.cancel();
            super::daemon::wait_for_signal().await;
            worker.release_all().await;
            eprintln!("stopped: queued domains released to other workers");
            std::process::exit(130);
        })
    };
    let result = worker.run().await;
    signals.abort();
    if let Some(server) = server {
        server.abort();
    }
    result?;
    Ok(exit::OK)
}

/// Listens on `addr` and serves `/metrics` and `/healthz` in the background; prints the address
/// first on stdout (port 0 picks one).
async fn serve_metrics(
    app: pforge_app::App,
    addr: SocketAddr,
) -> Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (see --metrics-bind)"))?;
    let addr = listener
        .local_addr()
        .context("reading the listening address")?;
    println!("pforge worker metrics on http://{addr}/metrics");
    std::io::stdout().flush().ok();
    let router = pforge_http::metrics_router(app);
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!("the metrics server failed: {e}");
        }
    }))
}
