//! The intelligence modules. Each file holds one module and the parsing of the real response
//! formats it reads (homepage HTML, DNS-over-HTTPS JSON, Wikidata, SEC EDGAR, ...); shared
//! extractors live beside them. Modules only compute: scheduling is the orchestrator's, and every
//! outbound call goes through the gateway they are handed.

mod clients;
pub mod declarative;
mod derived;
pub mod dns;
pub mod fingerprints;
pub mod html;
mod m01_company_context;
mod m02_tech_stack;
mod m03_traffic;
mod m04_financials;
mod m05_competitors;
mod m06_hiring;
mod m07_strategic_triggers;
mod m08_investors;
mod m09_executives;
mod m10_buying_committee;
mod m11_displacement_targets;
mod m12_case_studies;
mod m13_icp_priority;
mod m14_signal_scoring;
mod m15_strategic_brief;
pub mod resolution;
pub mod vendor;

pub use declarative::{declarative_modules, DeclarativeError};
pub use m01_company_context::CompanyContext;
pub use m02_tech_stack::{TechStack, TechStackConfig};
pub use m03_traffic::{Traffic, TrafficConfig};
pub use m04_financials::{Financials, PinConfig, ResolutionConfig};
pub use m05_competitors::Competitors;
pub use m06_hiring::{Hiring, HiringConfig};
pub use m07_strategic_triggers::StrategicTriggers;
pub use m08_investors::Investors;
pub use m09_executives::Executives;
pub use m10_buying_committee::BuyingCommittee;
pub use m11_displacement_targets::DisplacementTargets;
pub use m12_case_studies::CaseStudies;
pub use m13_icp_priority::IcpPriority;
pub use m14_signal_scoring::SignalScoring;
pub use m15_strategic_brief::StrategicBrief;
pub use vendor::{BuyingCommitteeConfig, SignalScoringConfig, VendorConfig};

use pforge_core::Module;
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
    /// `[hiring]`: buying-signal keywords and the surge threshold (M06).
    #[serde(default)]
    pub hiring: HiringConfig,
    /// `[vendor]`: the product, competitors, ICP and case studies (M11–M15).
    #[serde(default)]
    pub vendor: VendorConfig,
    /// `[buying_committee]`: persona rules (M10).
    #[serde(default)]
    pub buying_committee: BuyingCommitteeConfig,
    /// `[signal_scoring]`: intent scoring policy (M14).
    #[serde(default)]
    pub signal_scoring: SignalScoringConfig,
    /// `[resolution]`: the user's pins and rejections of outside entities (M04).
    #[serde(default)]
    pub resolution: ResolutionConfig,
}

/// Why the built-in modules could not be constructed (bad fingerprints folder, unreadable rank
/// list). The message names the file and what to fix.
#[derive(Debug, Error)]
pub enum ModulesError {
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("invalid {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    /// A config section holds an unusable value (bad regex, zero half-life).
    #[error("invalid config {section}: {reason}")]
    Config { section: String, reason: String },
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
        Arc::new(Financials::with_config(&cfg.resolution)?),
        Arc::new(Competitors::new()),
        Arc::new(Hiring::new(&cfg.hiring)?),
        Arc::new(StrategicTriggers::new()),
        Arc::new(Investors::new()),
        Arc::new(Executives::new()),
        Arc::new(BuyingCommittee::new(&cfg.buying_committee)?),
        Arc::new(DisplacementTargets::new(&cfg.vendor)),
        Arc::new(CaseStudies::new(&cfg.vendor)),
        Arc::new(IcpPriority::new(&cfg.vendor)),
        Arc::new(SignalScoring::new(&cfg.signal_scoring)?),
        Arc::new(StrategicBrief::new(&cfg.vendor)),
    ])
}
