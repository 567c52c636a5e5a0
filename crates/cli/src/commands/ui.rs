//! `pforge ui`: serves the web UI (and the API beside it) over the configured database, with
//! worker tasks for the jobs it starts but no schedules and no refresh: the way to look at what
//! `pforge demo` or `pforge enrich` stored. The first line on standard output is the URL to open,
//! with a one-time login code.

use crate::cli::{GlobalArgs, UiArgs};
use crate::exit;
use anyhow::{Context, Result};
use pforge_app::daemon::Daemon;
use pforge_app::{App, OpenOptions, Settings};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

/// Where `pforge ui` listens unless `--bind` says otherwise: loopback only.
const DEFAULT_BIND: &str = "127.0.0.1:8480";
/// How long a browser session lasts.
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

pub async fn run(global: &GlobalArgs, args: UiArgs) -> Result<u8> {
    let mut sources = global.sources();
    sources.fixtures_url = args.fixtures_url.clone();
    let settings = Settings::resolve(&sources)?;
    let mut cfg = settings.config.daemon.clone();
    // No schedules and no refresh: the UI only runs what its user starts.
    cfg.schedules.clear();
    cfg.refresh.enabled = false;
    let token_given = cfg.token.as_deref().is_some_and(|t| !t.trim().is_empty())
        || std::env::var(&cfg.token_env).is_ok_and(|t| !t.trim().is_empty());
    if !token_given {
        // Without an API token the one-time code is the only way in; the API answers 401.
        cfg.token = Some(format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        ));
    }
    let bind = args
        .bind
        .clone()
        .unwrap_or_else(|| DEFAULT_BIND.to_string());
    let daemon_settings = cfg.resolve(
        Some(&bind),
        &settings.config.source,
        &settings.config.base_dir,
    )?;
    let app = super::remember(App::open(settings, OpenOptions::service(false)).await?);
    let daemon = Arc::new(Daemon::start(app.clone(), &daemon_settings).await?);
    let listener = tokio::net::TcpListener::bind(daemon_settings.bind)
        .await
        .with_context(|| format!("cannot listen on {} (see --bind)", daemon_settings.bind))?;
    let mut addr = listener
        .local_addr()
        .context("reading the listening address")?;
    let auth = Arc::new(pforge_web::Auth::new(&daemon_settings.token, SESSION_TTL));
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    } else if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "the UI listens beyond loopback: put TLS in front of it");
    }
    // First line of stdout: the URL to open (tests read it too).
    println!(
        "http://{addr}/login?code={}",
        auth.login_code().unwrap_or_default()
    );
    std::io::stdout().flush().ok();
    eprintln!("pforge ui: open the URL above (its code works once); Ctrl-C stops");

    let stopping = daemon.stopping();
    let web = pforge_web::router(pforge_web::WebState {
        app: app.clone(),
        daemon: daemon.clone(),
        auth,
    });
    let api = pforge_http::router(pforge_http::HttpState {
        app,
        daemon: daemon.clone(),
        token: Arc::from(daemon_settings.token.as_str()),
        stopping: stopping.clone(),
    });
    let router = web.merge(api);
    let server_stop = stopping.clone();
    let mut server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(server_stop.cancelled_owned())
            .await
    });
    tokio::select! {
        s = super::daemon::wait_for_signal() => tracing::info!("{s}: stopping the UI"),
        r = &mut server => {
            if let Ok(Err(e)) = r {
                tracing::error!("the HTTP server failed: {e}");
            }
        }
    }
    daemon.shutdown(daemon_settings.grace).await;
    if !server.is_finished()
        && tokio::time::timeout(Duration::from_secs(2), &mut server)
            .await
            .is_err()
    {
        server.abort();
    }
    Ok(exit::OK)
}
