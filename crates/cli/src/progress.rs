//! What users see while a run is going: a progress bar on a terminal, the application's log
//! lines otherwise (or when asked), and the logging setup itself.

use crate::cli::{GlobalArgs, LogFormat};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pforge_orchestrator::{EventSink, RunEvent};
use std::io::IsTerminal;
use std::sync::Arc;
use tracing_subscriber::EnvFilter;

/// Sets up `tracing` on stderr: human text by default, JSON lines with `--log-format json`.
pub fn init_logging(args: &GlobalArgs) {
    let default = match args.verbose {
        0 => "warn,pforge=info",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_env("PFORGE_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match args.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Builds the event sink for a run: a bar when stderr is a terminal (and not disabled), log lines
/// otherwise. Returns the bar so the caller can finish it.
pub fn reporter(no_progress: bool, modules_per_domain: usize) -> (EventSink, Option<ProgressBar>) {
    if !no_progress && std::io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} module runs  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        let b = bar.clone();
        let sink: EventSink = Arc::new(move |ev: &RunEvent| match ev {
            RunEvent::DomainStarted { domain } => {
                b.inc_length(modules_per_domain as u64);
                b.set_message(domain.clone());
            }
            RunEvent::ModuleFinished { .. } => b.inc(1),
            RunEvent::DomainFinished { .. } => {}
        });
        (sink, Some(bar))
    } else {
        (pforge_app::progress::log_sink(), None)
    }
}
