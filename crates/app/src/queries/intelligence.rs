//! The latest intelligence of a domain, module by module, with its sources: what `pforge show`,
//! `GET /api/v1/domains/{domain}` and the account page read.

use crate::error::{AppError, AppResult};
use crate::App;
use chrono::{DateTime, Utc};
use pforge_core::Domain;
use serde::Serialize;
use serde_json::Value;

/// One module's latest stored result for a domain.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleIntel {
    pub module: String,
    /// The module's title from the plan (`None` for modules no longer configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub version: i64,
    pub fetched_at: DateTime<Utc>,
    pub checked_at: DateTime<Utc>,
    pub data: Value,
    /// The citations covering `data` (source, provider, fetched_at, covers).
    pub sources: Value,
}

/// The latest intelligence of one domain.
#[derive(Debug, Clone, Serialize)]
pub struct DomainIntel {
    pub domain: Domain,
    pub modules: Vec<ModuleIntel>,
}

impl App {
    /// The latest snapshot of every module for `domain` (or of `module` only), ordered by module
    /// id. Nothing stored is [`AppError::NotFound`] with the command that fixes it.
    pub async fn latest(&self, domain: &Domain, module: Option<&str>) -> AppResult<DomainIntel> {
        let mut snaps = self.store().latest_snapshots(domain.as_str()).await?;
        if let Some(m) = module {
            snaps.retain(|s| s.module == m);
        }
        if snaps.is_empty() {
            return Err(AppError::not_found(format!(
                "nothing stored for {domain}{}: run `pforge enrich {domain}` first",
                module.map(|m| format!(" module {m}")).unwrap_or_default()
            )));
        }
        let titles = self.module_titles();
        let modules = snaps
            .into_iter()
            .map(|s| ModuleIntel {
                title: titles.get(&s.module).cloned(),
                module: s.module,
                version: s.version,
                fetched_at: s.fetched_at,
                checked_at: s.checked_at,
                data: s.data,
                sources: s.citations,
            })
            .collect();
        Ok(DomainIntel {
            domain: domain.clone(),
            modules,
        })
    }

    /// Module id → human title, from the plan (empty when the modules cannot be built: reading
    /// what is stored must not depend on the modules' config).
    pub fn module_titles(&self) -> std::collections::HashMap<String, String> {
        self.plan()
            .map(|plan| {
                plan.modules()
                    .iter()
                    .map(|m| (m.spec().id.clone(), m.spec().title.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }
}
