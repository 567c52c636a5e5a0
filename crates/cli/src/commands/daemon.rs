//! `pforge daemon`: the long-running mode. Starts the application's daemon (worker tasks,
//! schedules, refresh, alert delivery) and the HTTP server (the web UI, `/api/v1`, `/metrics`,
//! health), and on SIGTERM/SIGINT stops taking work, lets what is in flight finish within the
//! grace period, flushes the alert outbox and exits 0; a restart resumes whatever was left.

use crate::cli::{DaemonArgs, GlobalArgs};
use crate::exit;
use anyhow::{Context, Result};
use pforge_app::daemon::Daemon;
use pforge_app::{App, OpenOptions, Settings};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub async fn run(global: &GlobalArgs, args: DaemonArgs) -> Result<u8> {
    let mut sources = global.sources();
    sources.fixtures_url = args.fixtures_url.clone();
    let settings = Settings::resolve(&sources)?;
    let daemon_settings = settings.daemon(args.bind.as_deref())?;
    let database = settings.redacted_database_url();
    let app = super::remember(App::open(settings, OpenOptions::service(true)).await?);
    let daemon = Arc::new(Daemon::start(app.clone(), &daemon_settings).await?);

    let listener = tokio::net::TcpListener::bind(daemon_settings.bind)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (see [daemon] bind / --bind)",
                daemon_settings.bind
            )
        })?;
    let addr = listener
        .local_addr()
        .context("reading the listening address")?;
    // First line of stdout, so scripts and tests that bind port 0 learn the address.
    println!("pforge daemon listening on http://{addr}");
    std::io::stdout().flush().ok();
    tracing::info!(%addr, %database,
        schedules = daemon_settings.schedules.len(), refresh = daemon_settings.refresh.is_some(),
        "daemon started");
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "the API listens beyond loopback: put TLS in front of it");
    }

    let stopping = daemon.stopping();
    let state = pforge_http::HttpState {
        app,
        daemon: daemon.clone(),
        token: Arc::from(daemon_settings.token.as_str()),
        stopping: stopping.clone(),
    };
    // The web UI beside the API: log in with the API token, or once with this code.
    let auth = Arc::new(pforge_web::Auth::new(
        &daemon_settings.token,
        Duration::from_secs(12 * 3600),
    ));
    tracing::info!(
        "web UI: http://{addr}/login?code={}",
        auth.login_code().unwrap_or_default()
    );
    let web = pforge_web::router(pforge_web::WebState {
        app: state.app.clone(),
        daemon: daemon.clone(),
        auth,
    });
    let router = web.merge(pforge_http::router(state));
    let server_stop = stopping.clone();
    let mut server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(server_stop.cancelled_owned())
            .await
    });

    let why = tokio::select! {
        s = wait_for_signal() => s,
        r = &mut server => {
            match r {
                Ok(Ok(())) => "the HTTP server stopped".to_string(),
                Ok(Err(e)) => format!("the HTTP server failed: {e}"),
                Err(e) => format!("the HTTP server task failed: {e}"),
            }
        }
    };
    let started = Instant::now();
    let grace = daemon_settings.grace;
    tracing::info!(grace_secs = grace.as_secs_f64(), "{why}: shutting down");
    let all_done = daemon.shutdown(grace).await;
    let left = grace
        .saturating_sub(started.elapsed())
        .max(Duration::from_millis(200));
    if !server.is_finished() && tokio::time::timeout(left, &mut server).await.is_err() {
        server.abort();
    }
    tracing::info!(
        finished_in_flight = all_done,
        secs = started.elapsed().as_secs_f64(),
        "daemon stopped"
    );
    Ok(exit::OK)
}

/// Waits for SIGTERM or SIGINT and names it.
pub async fn wait_for_signal() -> String {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM".to_string(),
                _ = tokio::signal::ctrl_c() => "SIGINT".to_string(),
            },
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM ({e}); only SIGINT stops the daemon");
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT".to_string()
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C".to_string()
    }
}
