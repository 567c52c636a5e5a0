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

use pforge_core::{Module, ModuleSpec};
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

/// The specs (ids, exact dependencies, providers) of the built-in modules, in registration
/// order, without loading any file: the module graph the product runs. Tests and benchmarks that
/// need "the product's DAG" build it from these, so they cannot drift from what the modules
/// declare. The modules are built with default settings (the tech-stack module over an empty
/// fingerprint database); no setting changes a spec.
pub fn builtin_specs() -> Vec<ModuleSpec> {
    let cfg = ModulesConfig::default();
    let modules: Vec<Result<Arc<dyn Module>, ModulesError>> = vec![
        Ok(Arc::new(CompanyContext::new())),
        Ok(Arc::new(TechStack::with_db(Arc::new(
            fingerprints::FingerprintDb::from_values(&serde_json::json!({}), None),
        )))),
        Traffic::new(&cfg.traffic, Path::new(".")).map(|m| Arc::new(m) as Arc<dyn Module>),
        Financials::with_config(&cfg.resolution).map(|m| Arc::new(m) as Arc<dyn Module>),
        Ok(Arc::new(Competitors::new())),
        Hiring::new(&cfg.hiring).map(|m| Arc::new(m) as Arc<dyn Module>),
        Ok(Arc::new(StrategicTriggers::new())),
        Ok(Arc::new(Investors::new())),
        Ok(Arc::new(Executives::new())),
        BuyingCommittee::new(&cfg.buying_committee).map(|m| Arc::new(m) as Arc<dyn Module>),
        Ok(Arc::new(DisplacementTargets::new(&cfg.vendor))),
        Ok(Arc::new(CaseStudies::new(&cfg.vendor))),
        Ok(Arc::new(IcpPriority::new(&cfg.vendor))),
        SignalScoring::new(&cfg.signal_scoring).map(|m| Arc::new(m) as Arc<dyn Module>),
        Ok(Arc::new(StrategicBrief::new(&cfg.vendor))),
    ];
    // Default settings always build (a unit test holds this); a module whose defaults stopped
    // building is left out, which that test and every DAG test then report.
    modules
        .into_iter()
        .filter_map(Result::ok)
        .map(|m| m.spec().clone())
        .collect()
}

#[cfg(test)]
mod spec_tests {
    use super::*;

    /// The specs are the ones `builtin_modules` builds from the shipped config, in the same
    /// order, so the DAG tests and benchmarks see exactly the product's graph.
    #[test]
    fn builtin_specs_are_the_built_modules_specs() {
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        let built = builtin_modules(&ModulesConfig::default(), &config).expect("modules build");
        let built: Vec<ModuleSpec> = built.iter().map(|m| m.spec().clone()).collect();
        assert_eq!(builtin_specs().len(), 15);
        assert_eq!(builtin_specs(), built);
    }
}
