//! Turns config and flags into the running parts: store, gateway, modules and plan.

use crate::cli::GlobalArgs;
use crate::config::Config;
use anyhow::{Context, Result};
use pforge_budget::Gateway;
use pforge_orchestrator::{Plan, Registry};
use pforge_store::{SqliteStore, Store};
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

/// Opens the store named by the flags (migrations are applied on open).
pub async fn open_store(global: &GlobalArgs) -> Result<Arc<dyn Store>> {
    let url = database_url(global);
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        anyhow::bail!(
            "PostgreSQL is not supported by this build yet: use --db PATH or a sqlite:// URL"
        );
    }
    let store = SqliteStore::open(&url)
        .await
        .with_context(|| format!("opening the database {url}"))?;
    Ok(Arc::new(store))
}

/// Builds the validated plan of built-in modules.
pub fn build_plan(cfg: &Config) -> Result<Plan> {
    let modules = pforge_modules::builtin_modules(&cfg.intelligence, &cfg.base_dir)
        .context("building the modules")?;
    let mut registry = Registry::new();
    for m in modules {
        registry.register(m);
    }
    registry.plan().context("planning the module graph")
}

/// Builds the gateway over the configured providers.
pub fn build_gateway(cfg: &Config) -> Result<Gateway> {
    Gateway::new(cfg.providers.clone()).context("building the HTTP gateway")
}
