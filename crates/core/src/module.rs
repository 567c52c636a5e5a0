//! The `Module` trait and the values that flow in and out of a module run.

use crate::{ChangeEvent, SetArray};
use crate::{Domain, DomainHints};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pforge_budget::{Gateway, GatewayError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use thiserror::Error;

/// Static description of a module: what the planner and the versioning layer need to know
/// without running it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModuleSpec {
    /// Stable id, e.g. `m01_company_context`. Used as the storage key: never rename.
    pub id: String,
    /// Human title for tables and briefs.
    pub title: String,
    /// Ids of the modules whose outputs this one reads. Exact, not "the previous wave".
    pub dependencies: Vec<String>,
    /// Provider ids this module may call through the gateway.
    pub providers: Vec<String>,
    /// Whether the module still runs (with the failure visible in its context) when a dependency
    /// failed or was skipped. If false, it is skipped instead.
    pub runs_degraded: bool,
    /// Arrays inside the output that are sets, with the key that identifies an element; used to
    /// canonicalize snapshots so that order never looks like change.
    pub set_arrays: Vec<SetArray>,
}

/// How far an expected call's answer is shared: per domain, or once per run for all domains
/// (e.g. SEC's ticker list, cached by the gateway).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallScope {
    PerDomain,
    PerRun,
}

/// A call a module expects to make, for `pforge plan --estimate`. Calls with the same provider,
/// endpoint and scope are made once (the gateway caches and coalesces them), so modules that
/// share an endpoint (the homepage) name it the same way.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ExpectedCall {
    pub provider: String,
    /// Path (or a stable label) of the endpoint; also used for per-endpoint costs.
    pub endpoint: String,
    pub scope: CallScope,
    /// Set when only some runs make the call (a fallback made when an earlier lookup found
    /// nothing, or a lookup that needs something an earlier call may not have found): the key
    /// of `[estimate.shares]` in the config that says which share of runs do. `None`: every run.
    /// Without it an estimate counts fallbacks as always made and overshoots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<String>,
    /// Set for calls that carry items (ids) the gateway may batch across domains: the request
    /// and its items, so the estimate can find the provider's `[[providers.X.batch]]` rule and
    /// predict the batch requests the items become instead of one call per domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<ExpectedItems>,
}

/// The items a batchable call asks for (see [`ExpectedCall::items`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ExpectedItems {
    /// The request's path, as the module sends it (`/w/api.php`).
    pub path: String,
    /// The request's parameters other than the items' own one, as the module sends them: they
    /// select the batch rule (its `match`) and the group items are merged in (calls whose other
    /// parameters differ are never merged).
    pub query: Vec<(String, String)>,
    /// The parameter holding the items (`ids`).
    pub param: String,
    /// How many items one call typically asks for.
    pub count: u32,
    /// `None`: the items are the domain's own (its entity), asked by no other domain, though
    /// other modules of the same domain may ask them again (then the cache answers). `Some`: the
    /// key of `[estimate.pools]` naming how many distinct items all domains draw theirs from
    /// (cities, industries, investors: shared, so fetched once per run and then cached).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
}

impl ExpectedCall {
    /// A call made once per domain.
    pub fn per_domain(provider: &str, endpoint: &str) -> Self {
        ExpectedCall {
            provider: provider.into(),
            endpoint: endpoint.into(),
            scope: CallScope::PerDomain,
            share: None,
            items: None,
        }
    }

    /// A call made once per run, whatever the number of domains.
    pub fn per_run(provider: &str, endpoint: &str) -> Self {
        ExpectedCall {
            provider: provider.into(),
            endpoint: endpoint.into(),
            scope: CallScope::PerRun,
            share: None,
            items: None,
        }
    }

    /// Made by only the share of runs that `[estimate.shares]` gives under `key`.
    pub fn only_for(mut self, key: &str) -> Self {
        self.share = Some(key.into());
        self
    }

    /// Carries items the gateway may batch (see [`ExpectedItems`]).
    pub fn with_items(mut self, items: ExpectedItems) -> Self {
        self.items = Some(items);
        self
    }
}

impl ExpectedItems {
    /// `count` items of the domain's own, in parameter `param` of a request to `path` with the
    /// other parameters `query`.
    pub fn own(path: &str, query: &[(&str, &str)], param: &str, count: u32) -> Self {
        ExpectedItems {
            path: path.into(),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            param: param.into(),
            count,
            pool: None,
        }
    }

    /// Like [`ExpectedItems::own`], but drawn from the items all domains share, `pool` naming
    /// their number in `[estimate.pools]`.
    pub fn shared(path: &str, query: &[(&str, &str)], param: &str, count: u32, pool: &str) -> Self {
        ExpectedItems {
            pool: Some(pool.into()),
            ..ExpectedItems::own(path, query, param, count)
        }
    }
}

/// Where a value came from. A value without a source is a bug, so every output carries these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citation {
    /// Source URL, or `provider:request` for API calls whose URL holds a secret.
    pub source: String,
    /// Provider id that served it (`homepage`, `dns`, `config`, `derived`, ...).
    pub provider: String,
    pub fetched_at: DateTime<Utc>,
    /// JSON Pointers (into the output data) of the values this source supports. A pointer covers
    /// everything beneath it.
    pub covers: Vec<String>,
    /// When `source` is a batch request that carried these values among other callers' items:
    /// the URL asking for just the cited items. The batch URL differs from run to run (it
    /// depends on who else was asking); this one does not, so briefs and diffs cite it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canonical: Option<String>,
    /// Further requests the cited answer was put together from, beyond `source` (items of one
    /// answer that different batch requests fetched).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub via: Vec<String>,
}

impl Citation {
    /// A citation for an HTTP answer from the gateway, covering the given pointers: it names
    /// the request actually made and, for a batched answer, every request and the caller's own.
    pub fn from_response(resp: &pforge_budget::Response, covers: &[&str]) -> Self {
        Citation {
            source: resp.url.clone(),
            provider: resp.provider.clone(),
            fetched_at: resp.fetched_at,
            covers: covers.iter().map(|s| s.to_string()).collect(),
            canonical: (resp.requested != resp.url && !resp.requested.is_empty())
                .then(|| resp.requested.clone()),
            via: resp
                .sources
                .iter()
                .filter(|s| **s != resp.url)
                .cloned()
                .collect(),
        }
    }

    /// The URL to show a reader: the caller's own request for a batched answer, else `source`.
    /// Stable across runs whatever else a batch carried.
    pub fn shown_source(&self) -> &str {
        self.canonical.as_deref().unwrap_or(&self.source)
    }

    /// A citation for a value that came from configuration (e.g. "no source configured").
    pub fn config(what: &str, covers: &[&str]) -> Self {
        Citation {
            source: format!("config:{what}"),
            provider: "config".into(),
            fetched_at: Utc::now(),
            covers: covers.iter().map(|s| s.to_string()).collect(),
            canonical: None,
            via: Vec::new(),
        }
    }

    /// A citation for a value derived from another module's stored output.
    pub fn derived(module: &str, covers: &[&str]) -> Self {
        Citation {
            source: format!("module:{module}"),
            provider: "derived".into(),
            fetched_at: Utc::now(),
            covers: covers.iter().map(|s| s.to_string()).collect(),
            canonical: None,
            via: Vec::new(),
        }
    }
}

/// What a module returns: JSON data plus the citations that cover every value in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModuleOutput {
    pub data: Value,
    pub sources: Vec<Citation>,
    pub fetched_at: DateTime<Utc>,
}

impl ModuleOutput {
    /// An output with no data yet; fill it with [`ModuleOutput::set`].
    pub fn new() -> Self {
        ModuleOutput {
            data: Value::Object(Default::default()),
            sources: Vec::new(),
            fetched_at: Utc::now(),
        }
    }

    /// Sets top-level field `key` to `value`, recording the citation that supports it. This is
    /// the normal way to fill an output: the value and its source arrive together.
    pub fn set(&mut self, key: &str, value: impl Into<Value>, source: &Citation) -> &mut Self {
        if let Value::Object(map) = &mut self.data {
            map.insert(key.to_string(), value.into());
        }
        let pointer = format!("/{}", key.replace('~', "~0").replace('/', "~1"));
        match self
            .sources
            .iter_mut()
            .find(|c| c.source == source.source && c.provider == source.provider)
        {
            Some(c) => {
                if !c.covers.contains(&pointer) {
                    c.covers.push(pointer);
                }
            }
            None => {
                let mut c = source.clone();
                c.covers = vec![pointer];
                self.sources.push(c);
            }
        }
        self
    }

    /// Checks that every top-level value is covered by a citation. The executor refuses outputs
    /// that fail this, so an uncited value can never be stored.
    pub fn check_cited(&self) -> Result<(), String> {
        let Value::Object(map) = &self.data else {
            return Err("module output must be a JSON object".into());
        };
        for key in map.keys() {
            let pointer = format!("/{}", key.replace('~', "~0").replace('/', "~1"));
            let covered = self.sources.iter().any(|c| {
                c.covers.iter().any(|p| {
                    p.is_empty()
                        || *p == pointer
                        || pointer.starts_with(&format!("{p}/"))
                        || p.starts_with(&format!("{pointer}/"))
                })
            });
            if !covered {
                return Err(format!("value at {pointer} has no citation"));
            }
        }
        Ok(())
    }
}

impl Default for ModuleOutput {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a module produced no output.
#[derive(Debug, Error, Clone)]
pub enum ModuleError {
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    #[error("unexpected data from {source_name}: {detail}")]
    Parse { source_name: String, detail: String },
    #[error("required dependency {0} has no output")]
    MissingDependency(String),
    #[error("{0}")]
    Other(String),
}

impl ModuleError {
    /// A parse error naming where the bad data came from.
    pub fn parse(source_name: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        ModuleError::Parse {
            source_name: source_name.into(),
            detail: detail.to_string(),
        }
    }
}

/// The outcome of a dependency as seen by a dependent module.
#[derive(Debug, Clone)]
pub enum DependencyResult {
    /// The dependency produced (or confirmed) this output.
    Ready(Arc<ModuleOutput>),
    /// The dependency failed or was skipped; the message says why.
    Failed(String),
}

/// Everything a module run may use: the domain, its declared dependencies' results (and only
/// those), and the gateway for outbound calls.
pub struct ModuleContext {
    pub domain: Domain,
    pub gateway: Gateway,
    dependencies: BTreeMap<String, DependencyResult>,
    previous: Option<Value>,
    history: Vec<ChangeEvent>,
    hints: DomainHints,
}

impl ModuleContext {
    /// Builds a context; the executor passes exactly the declared dependencies.
    pub fn new(
        domain: Domain,
        gateway: Gateway,
        dependencies: BTreeMap<String, DependencyResult>,
    ) -> Self {
        ModuleContext {
            domain,
            gateway,
            dependencies,
            previous: None,
            history: Vec::new(),
            hints: DomainHints::default(),
        }
    }

    /// Adds this module's latest stored data for the domain (for "growth since last time").
    pub fn with_previous(mut self, previous: Option<Value>) -> Self {
        self.previous = previous;
        self
    }

    /// Adds the domain's recent change events (only for modules that ask via
    /// [`Module::reads_history`]).
    pub fn with_history(mut self, history: Vec<ChangeEvent>) -> Self {
        self.history = history;
        self
    }

    /// Adds what the user's input said about the domain (its name, pins).
    pub fn with_hints(mut self, hints: DomainHints) -> Self {
        self.hints = hints;
        self
    }

    /// What the user's input said about the domain (empty when it said nothing).
    pub fn hints(&self) -> &DomainHints {
        &self.hints
    }

    /// This module's latest stored data for the domain, if any.
    pub fn previous(&self) -> Option<&Value> {
        self.previous.as_ref()
    }

    /// Recent change events for the domain, oldest first (empty unless the module reads history).
    pub fn recent_changes(&self) -> &[ChangeEvent] {
        &self.history
    }

    /// The output of a declared dependency, if it succeeded.
    pub fn dependency(&self, id: &str) -> Option<&ModuleOutput> {
        match self.dependencies.get(id) {
            Some(DependencyResult::Ready(o)) => Some(o),
            _ => None,
        }
    }

    /// The output of a dependency the module cannot work without.
    pub fn require(&self, id: &str) -> Result<&ModuleOutput, ModuleError> {
        self.dependency(id)
            .ok_or_else(|| ModuleError::MissingDependency(id.to_string()))
    }

    /// Dependencies that failed, with why (for degraded runs to report).
    pub fn failed_dependencies(&self) -> impl Iterator<Item = (&str, &str)> {
        self.dependencies.iter().filter_map(|(k, v)| match v {
            DependencyResult::Failed(why) => Some((k.as_str(), why.as_str())),
            DependencyResult::Ready(_) => None,
        })
    }
}

/// An intelligence module. Implementations are stateless between runs: everything they need
/// arrives through the context or was given at construction from config.
#[async_trait]
pub trait Module: Send + Sync {
    /// The module's static description.
    fn spec(&self) -> &ModuleSpec;
    /// Computes the module's output for `ctx.domain`.
    async fn run(&self, ctx: &ModuleContext) -> Result<ModuleOutput, ModuleError>;

    /// The calls one run of the module makes (an upper bound where they depend on the data).
    /// The default assumes one call per declared provider; modules override it when they know
    /// better, so that `pforge plan --estimate` matches what a run then spends.
    fn expected_calls(&self) -> Vec<ExpectedCall> {
        let spec = self.spec();
        spec.providers
            .iter()
            .map(|p| ExpectedCall::per_domain(p, &spec.id))
            .collect()
    }

    /// Whether the module reads the domain's recent change events (the executor then loads the
    /// last 90 days of them into the context). Most modules do not.
    fn reads_history(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(url: &str, sources: &[&str], requested: &str) -> pforge_budget::Response {
        pforge_budget::Response {
            provider: "wikidata".into(),
            url: url.into(),
            status: 200,
            headers: Vec::new(),
            body: Default::default(),
            fetched_at: Utc::now(),
            sources: sources.iter().map(|s| s.to_string()).collect(),
            requested: requested.into(),
        }
    }

    #[test]
    fn a_plain_answer_is_cited_by_its_url_alone() {
        let c = Citation::from_response(
            &response("https://x/a", &["https://x/a"], "https://x/a"),
            &["/n"],
        );
        assert_eq!(c.source, "https://x/a");
        assert_eq!(c.canonical, None);
        assert!(c.via.is_empty());
        assert_eq!(c.shown_source(), "https://x/a");
        // Stored citations written before these fields existed still read.
        let old: Citation = serde_json::from_value(serde_json::json!({
            "source": "https://x/a", "provider": "p", "fetched_at": "2026-01-01T00:00:00Z", "covers": []
        }))
        .unwrap();
        assert_eq!(old.canonical, None);
        assert!(!serde_json::to_string(&c).unwrap().contains("canonical"));
    }

    #[test]
    fn a_batched_answer_names_every_request_and_shows_the_callers_own() {
        let batch = "https://w/api?ids=Q1%7CQ2%7CQ3";
        let other = "https://w/api?ids=Q9";
        let own = "https://w/api?ids=Q2%7CQ9";
        let c = Citation::from_response(&response(batch, &[batch, other], own), &[]);
        assert_eq!(c.source, batch, "the request actually made");
        assert_eq!(c.via, vec![other.to_string()]);
        assert_eq!(c.canonical.as_deref(), Some(own));
        assert_eq!(c.shown_source(), own);
    }
}
