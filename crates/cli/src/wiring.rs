//! Turns config and flags into the running parts: store, gateway, modules and plan.

use crate::cli::GlobalArgs;
use crate::config::Config;
use crate::ledger::StoreLedger;
use anyhow::{Context, Result};
use pforge_budget::Gateway;
use pforge_core::SetArray;
use pforge_orchestrator::{Plan, Registry};
use pforge_store::Store;
use pforge_versioning::{DispatchReport, Dispatcher, StoreOutbox, Versioner};
use std::collections::HashMap;
use std::sync::Arc;

/// The database URL from flags, environment, or the embedded default `sqlite://pforge.db`.
pub fn database_url(global: &GlobalArgs) -> String {
    if let Some(db) = &global.db {
        return format!("sqlite://{}", db.display());
    }
    global
        .database_url
        .clone()
        .unwrap_or_else(|| "sqlite://pforge.db".to_string())
}

/// Opens the store named by the flags: SQLite or PostgreSQL by URL (migrations applied on open).
pub async fn open_store(global: &GlobalArgs) -> Result<Arc<dyn Store>> {
    let url = database_url(global);
    pforge_store::open_store(&url)
        .await
        .with_context(|| format!("opening the database {}", redact_url(&url)))
}

/// The URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// Builds the validated plan of built-in modules.
pub fn build_plan(cfg: &Config) -> Result<Plan> {
    let modules = pforge_modules::builtin_modules(&cfg.intelligence, &cfg.base_dir)
        .context("building the modules")?;
    let mut registry = Registry::new();
    for m in modules {
        registry.register(m);
    }
    // Modules users declared in the config file, validated with errors that name the line.
    let known: Vec<String> = cfg.providers.keys().cloned().collect();
    for m in pforge_modules::declarative_modules(&cfg.text, &cfg.source, &known)? {
        registry.register(m);
    }
    registry.plan().context("planning the module graph")
}

/// Builds the gateway over the configured providers, with the budget caps from config and an
/// optional per-run cap (`--max-spend`).
pub fn build_gateway(
    cfg: &Config,
    store: Arc<dyn Store>,
    max_spend: Option<f64>,
) -> Result<Gateway> {
    build_gateway_with_metrics(cfg, store, max_spend, None)
}

/// [`build_gateway`], also registering the gateway's metrics into `registry` when given (the
/// daemon's `/metrics`; one-shot commands have nobody to scrape them).
pub fn build_gateway_with_metrics(
    cfg: &Config,
    store: Arc<dyn Store>,
    max_spend: Option<f64>,
    registry: Option<&mut prometheus_client::registry::Registry>,
) -> Result<Gateway> {
    let mut builder = Gateway::builder(cfg.providers.clone())
        .caps(cfg.budget.clone())
        .ledger(Arc::new(StoreLedger::new(store)));
    if let Some(credits) = max_spend {
        builder = builder.run_budget(credits);
    }
    if let Some(registry) = registry {
        builder = builder.metrics(registry);
    }
    builder.build().context("building the HTTP gateway")
}

/// Builds the versioner (patches, change events, alerts) from the config's rules and the set
/// arrays every planned module declares.
pub fn build_versioner(cfg: &Config, plan: &Plan) -> Result<Versioner> {
    let sets: HashMap<String, Vec<SetArray>> = plan
        .modules()
        .iter()
        .map(|m| (m.spec().id.clone(), m.spec().set_arrays.clone()))
        .collect();
    Versioner::new(&cfg.versioning()?, sets).with_context(|| format!("in {}", cfg.source))
}

/// Delivers due alerts from the outbox once; failures are logged, never fatal to a run.
pub async fn deliver_alerts(cfg: &Config, store: Arc<dyn Store>) -> Result<DispatchReport> {
    let versioning = cfg.versioning()?;
    let dispatcher = Dispatcher::new(&versioning.alerts)
        .with_context(|| format!("alert channels in {}", cfg.source))?;
    let outbox = StoreOutbox::new(store);
    let mut total = DispatchReport::default();
    // A few rounds, so a backlog larger than one batch drains; retries wait for their time.
    for _ in 0..10 {
        let report = dispatcher
            .dispatch_once(&outbox, chrono::Utc::now())
            .await?;
        let done = report.messages == 0;
        total.messages += report.messages;
        total.delivered += report.delivered;
        total.retried += report.retried;
        total.dead += report.dead;
        total.disabled += report.disabled;
        if done || report.delivered == 0 {
            break;
        }
    }
    Ok(total)
}
