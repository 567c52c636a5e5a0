//! M12 case studies: the vendor's most relevant proof points for this account, scored on
//! industry match (40), size band (25) and replaced-technology match (35): a case study where a
//! similar company replaced the very product this account runs is the strongest opener.

use crate::derived::{cite, AccountFacts, Fact};
use crate::vendor::{human, size_band, CaseStudy, VendorConfig};
use async_trait::async_trait;
use chrono::Utc;
use pforge_core::{
    Citation, Module, ModuleContext, ModuleError, ModuleOutput, ModuleSpec, SetArray,
};
use serde_json::{json, Value};

/// Stable module id (storage key).
pub const ID: &str = "m12_case_studies";
const M11: &str = "m11_displacement_targets";
/// How many proof points are returned.
const TOP: usize = 3;
/// The least score a case study needs to be shown (more than a size-band match alone).
const MIN_SCORE: f64 = 35.0;

/// The case-study selection module.
pub struct CaseStudies {
    spec: ModuleSpec,
    vendor: VendorConfig,
}

impl CaseStudies {
    /// Builds the module over the configured vendor library.
    pub fn new(vendor: &VendorConfig) -> Self {
        CaseStudies {
            spec: ModuleSpec {
                id: ID.into(),
                title: "Case studies".into(),
                dependencies: vec![
                    "m01_company_context".into(),
                    "m02_tech_stack".into(),
                    "m04_financials".into(),
                    M11.into(),
                ],
                providers: Vec::new(),
                runs_degraded: true,
                set_arrays: vec![
                    SetArray::keyed("/case_studies", "id"),
                    SetArray::scalars("/notes"),
                ],
            },
            vendor: vendor.clone(),
        }
    }
}

/// Whether an industry label and a case-study industry name the same thing.
pub(crate) fn industry_matches(label: &str, industry: &str) -> bool {
    let (a, b) = (label.to_lowercase(), industry.to_lowercase());
    let (a, b) = (a.trim(), b.trim());
    !a.is_empty() && !b.is_empty() && (a.contains(b) || b.contains(a))
}

/// A scored case study and the facts that justified it.
struct Scored<'a> {
    study: &'a CaseStudy,
    score: f64,
    why: Vec<String>,
    facts: Vec<Fact<String>>,
    num_facts: Vec<Fact<f64>>,
    targets_used: bool,
}

#[async_trait]
impl Module for CaseStudies {
    fn spec(&self) -> &ModuleSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ModuleContext) -> Result<ModuleOutput, ModuleError> {
        let facts = AccountFacts::from_ctx(ctx);
        let targets: Vec<String> = ctx
            .dependency(M11)
            .map(|o| {
                crate::derived::array_at(&o.data, "/targets")
                    .iter()
                    .filter_map(|t| crate::derived::str_at(t, "/technology").map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let mut notes = crate::derived::failure_notes(ctx);
        if self.vendor.case_studies.is_empty() {
            notes
                .push("the vendor has no case studies configured ([[vendor.case_studies]])".into());
        }
        let account_band = facts.employees.as_ref().map(|e| size_band(e.value));

        let mut scored: Vec<Scored> = Vec::new();
        for cs in &self.vendor.case_studies {
            let mut s = Scored {
                study: cs,
                score: 0.0,
                why: Vec::new(),
                facts: Vec::new(),
                num_facts: Vec::new(),
                targets_used: false,
            };
            // Industry (40).
            if let Some(ind) = facts
                .industries
                .iter()
                .find(|f| industry_matches(&f.value, &cs.industry))
            {
                s.score += 40.0;
                s.why.push(format!(
                    "same industry: {} ({} says \"{}\")",
                    cs.industry, ind.origin, ind.value
                ));
                s.facts.push(ind.clone());
            } else if let Some(d) = facts.description.as_ref().filter(|d| {
                !cs.industry.is_empty()
                    && d.value.to_lowercase().contains(&cs.industry.to_lowercase())
            }) {
                s.score += 20.0;
                s.why.push(format!(
                    "the account describes itself in {} terms",
                    cs.industry.to_lowercase()
                ));
                s.facts.push(d.clone());
            }
            // Size band (25 same band, 10 adjacent).
            if let (Some(emp), Some(band), Some(cs_emp)) =
                (&facts.employees, account_band, cs.employees)
            {
                let cs_band = size_band(cs_emp as f64);
                let order = |b: &str| match b {
                    "SMB" => 0i32,
                    "mid-market" => 1,
                    _ => 2,
                };
                if cs_band == band {
                    s.score += 25.0;
                    s.why.push(format!(
                        "same size band: {band} ({} has {} employees, {} has {})",
                        cs.customer,
                        human(cs_emp as f64),
                        facts
                            .name
                            .as_ref()
                            .map(|n| n.value.as_str())
                            .unwrap_or("the account"),
                        human(emp.value)
                    ));
                    s.num_facts.push(emp.clone());
                } else if (order(cs_band) - order(band)).abs() == 1 {
                    s.score += 10.0;
                    s.why.push(format!(
                        "adjacent size band ({cs_band} customer, {band} account)"
                    ));
                    s.num_facts.push(emp.clone());
                }
            }
            // Replaced technology (35).
            let replaced_target = cs
                .replaced
                .iter()
                .find(|r| targets.iter().any(|t| crate::derived::same_name(t, r)));
            let replaced_seen = cs.replaced.iter().find_map(|r| facts.technology(r));
            if let Some(r) = replaced_target {
                s.score += 35.0;
                s.why
                    .push(format!("replaced {r}, which this account runs today"));
                s.targets_used = true;
                if let Some(t) = facts.technology(r) {
                    s.facts.push(t.clone());
                }
            } else if let Some(t) = replaced_seen {
                s.score += 35.0;
                s.why.push(format!(
                    "replaced {}, which this account runs today",
                    t.value
                ));
                s.facts.push(t.clone());
            }
            // Size alone is not a proof point: it needs industry or technology too.
            if s.score >= MIN_SCORE {
                scored.push(s);
            }
        }
        scored.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.study.id.cmp(&b.study.id))
        });
        scored.truncate(TOP);
        if scored.is_empty() && !self.vendor.case_studies.is_empty() {
            notes
                .push("no case study matches this account's industry, size or technologies".into());
        }

        let library = Citation::config("vendor.case_studies", &[]);
        let mut out = ModuleOutput::new();
        let values: Vec<Value> = scored
            .iter()
            .map(|s| {
                json!({
                    "id": s.study.id,
                    "customer": s.study.customer,
                    "industry": s.study.industry,
                    "headline": s.study.headline,
                    "url": s.study.url,
                    "replaced": s.study.replaced,
                    "score": s.score.round() as i64,
                    "why": s.why,
                })
            })
            .collect();
        out.set("case_studies", values, &library);
        out.set("account_size_band", account_band, &library);
        out.set("notes", notes, &library);
        for (k, s) in scored.iter().enumerate() {
            let p = format!("/case_studies/{k}");
            if s.study.url.starts_with("http") {
                let c = Citation {
                    source: s.study.url.clone(),
                    provider: "vendor".into(),
                    fetched_at: Utc::now(),
                    covers: vec![],
                    canonical: None,
                    via: Vec::new(),
                };
                cite(&mut out, &c, &p);
            }
            for f in &s.facts {
                f.carry_to(ctx, &mut out, &p);
            }
            for f in &s.num_facts {
                f.carry_to(ctx, &mut out, &p);
            }
            if s.targets_used {
                cite(&mut out, &Citation::derived(M11, &[]), &p);
            }
        }
        if let Some(e) = &facts.employees {
            e.carry_to(ctx, &mut out, "/account_size_band");
        }
        crate::derived::canonical_order(&mut out, &[("case_studies", "id")]);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::derived::test_support::{ctx_for, failed, ready};

    pub(crate) fn vendor() -> VendorConfig {
        toml::from_str(
            r#"
            product = "Lumora Search"
            [[case_studies]]
            id = "shopco"
            customer = "ShopCo"
            industry = "Retail"
            employees = 12000
            replaced = ["Bloomreach"]
            headline = "+21% search revenue"
            url = "https://lumora.example/customers/shopco"
            [[case_studies]]
            id = "devtool"
            customer = "DevTool"
            industry = "Software"
            employees = 300
            replaced = ["Algolia"]
            headline = "search cost halved"
            url = "https://lumora.example/customers/devtool"
            [[case_studies]]
            id = "clinic"
            customer = "Clinic"
            industry = "Health care"
            employees = 50
            replaced = []
            headline = "patients find doctors faster"
            url = "https://lumora.example/customers/clinic"
            "#,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn ranks_by_industry_size_and_replaced_technology() {
        let m = CaseStudies::new(&vendor());
        let m01 = ready(
            json!({"name": "TechStart Inc", "wikidata": {"industries": [{"id": "Q1", "label": "software industry"}], "employees": {"count": 240, "as_of": "2024-01-01"}}}),
            "https://www.wikidata.org/wiki/Q130000001",
        );
        let m02 = ready(
            json!({"technologies": [{"name": "Algolia"}]}),
            "https://techstart.io/",
        );
        let m11 = ready(
            json!({"targets": [{"technology": "Algolia"}]}),
            "module:m02",
        );
        let out = m
            .run(&ctx_for(
                "techstart.io",
                vec![
                    ("m01_company_context", m01),
                    ("m02_tech_stack", m02),
                    ("m04_financials", failed("not a filer")),
                    (M11, m11),
                ],
            ))
            .await
            .unwrap();
        out.check_cited().unwrap();
        let cs = out.data["case_studies"].as_array().unwrap();
        assert_eq!(cs[0]["id"], "devtool");
        assert_eq!(cs[0]["score"], 100);
        let why = cs[0]["why"].to_string();
        assert!(
            why.contains("same industry") && why.contains("replaced Algolia"),
            "{why}"
        );
        assert!(why.contains("mid-market"), "{why}");
        assert_eq!(out.data["account_size_band"], "mid-market");
        assert!(cs
            .iter()
            .all(|c| c["id"] != "clinic" || c["score"].as_i64() < Some(40)));
        let srcs: Vec<&str> = out.sources.iter().map(|c| c.source.as_str()).collect();
        assert!(
            srcs.contains(&"https://lumora.example/customers/devtool"),
            "{srcs:?}"
        );
        assert!(
            srcs.contains(&"https://www.wikidata.org/wiki/Q130000001"),
            "{srcs:?}"
        );
        assert_eq!(
            out.data["notes"][0],
            "m04_financials unavailable: not a filer"
        );
    }

    #[tokio::test]
    async fn nothing_known_gives_empty_list_with_note() {
        let m = CaseStudies::new(&vendor());
        let out = m
            .run(&ctx_for(
                "x.com",
                vec![
                    ("m01_company_context", failed("a")),
                    ("m02_tech_stack", failed("b")),
                    ("m04_financials", failed("c")),
                    (M11, failed("d")),
                ],
            ))
            .await
            .unwrap();
        out.check_cited().unwrap();
        assert_eq!(out.data["case_studies"], json!([]));
        assert_eq!(out.data["notes"].as_array().unwrap().len(), 5);
    }
}
