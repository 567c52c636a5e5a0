//! Progress as log lines: what services (the daemon, workers) and runs without a terminal report
//! for every executor event. The CLI draws a bar instead when it has a terminal.

use pforge_orchestrator::{EventSink, RunEvent};
use pforge_store::ItemStatus;
use std::sync::Arc;

/// An event sink that logs: failures as warnings, finished domains as info, the rest as debug.
pub fn log_sink() -> EventSink {
    Arc::new(|ev: &RunEvent| match ev {
        RunEvent::DomainStarted { domain } => tracing::debug!(domain, "domain started"),
        RunEvent::ModuleFinished {
            domain,
            module,
            status,
            version,
            error,
            duration_ms,
        } => {
            if *status == ItemStatus::Failed {
                tracing::warn!(
                    domain,
                    module,
                    status = status.as_str(),
                    error = error.as_deref().unwrap_or(""),
                    duration_ms,
                    "module failed"
                );
            } else {
                tracing::debug!(
                    domain,
                    module,
                    status = status.as_str(),
                    version,
                    duration_ms,
                    "module finished"
                );
            }
        }
        RunEvent::DomainFinished {
            domain,
            failed_modules,
        } => tracing::info!(domain, failed_modules, "domain done"),
    })
}
