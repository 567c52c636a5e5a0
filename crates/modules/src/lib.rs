//! The intelligence modules. Each file holds one module and the parsing of the real response
//! formats it reads (homepage HTML, DNS-over-HTTPS JSON, Wikidata, SEC EDGAR, ...); shared
//! extractors live beside them. Modules only compute: scheduling is the orchestrator's, and every
//! outbound call goes through the gateway they are handed.

pub mod dns;
pub mod fingerprints;
pub mod html;
mod m01_company_context;
mod m02_tech_stack;
mod m03_traffic;
mod m04_financials;

pub use m01_company_context::CompanyContext;
pub use m02_tech_stack::{TechStack, TechStackConfig};
pub use m03_traffic::{Traffic, TrafficConfig};
pub use m04_financials::Financials;

use pforge_orchestrator::Module;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;

/// Module-specific settings from `pforge.toml` (`[tech_stack]`, `[traffic]`). Paths in them are
/// relative to the config file's folder.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ModulesConfig {
    #[serde(default)]
    pub tech_stack: TechStackConfig,
    #[serde(default)]
    pub traffic: TrafficConfig,
}

/// Why the built-in modules could not be constructed (bad fingerprints folder, unreadable rank
/// list). The message names the file and what to fix.
#[derive(Debug, Error)]
pub enum ModulesError {
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("invalid {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// Builds every built-in module from config. `base_dir` is the config file's folder.
pub fn builtin_modules(
    cfg: &ModulesConfig,
    base_dir: &Path,
) -> Result<Vec<Arc<dyn Module>>, ModulesError> {
    Ok(vec![
        Arc::new(CompanyContext::new()),
        Arc::new(TechStack::new(&cfg.tech_stack, base_dir)?),
        Arc::new(Traffic::new(&cfg.traffic, base_dir)?),
        Arc::new(Financials::new()),
    ])
}
