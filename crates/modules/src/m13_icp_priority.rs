//! M13 ICP priority: how well the account fits the vendor's ideal customer profile, as a 0–100
//! score with every factor, its weight and the evidence behind it, and a tier (A–D).
//!
//! A factor whose data is unknown gets half credit (and is marked `known: false`): a thin
//! record should neither look perfect nor be buried. `data_coverage` says how much of the
//! weight rests on evidence.

use crate::derived::{array_at, cite, first_str, region_key, same_name, AccountFacts, Fact};
use crate::vendor::{human, Icp, VendorConfig};
use async_trait::async_trait;
use pforge_core::{
    Citation, Module, ModuleContext, ModuleError, ModuleOutput, ModuleSpec, SetArray,
};
use serde_json::{json, Value};

/// Stable module id (storage key).
pub const ID: &str = "m13_icp_priority";
const M01: &str = "m01_company_context";
const M02: &str = "m02_tech_stack";
const M03: &str = "m03_traffic";
const M04: &str = "m04_financials";
const M05: &str = "m05_competitors";
/// Only for its paid head count (Crunchbase's band), one of the employee sources.
const M08: &str = "m08_investors";

/// The ICP-priority module.
pub struct IcpPriority {
    spec: ModuleSpec,
    vendor: VendorConfig,
}

impl IcpPriority {
    /// Builds the module over the configured ICP.
    pub fn new(vendor: &VendorConfig) -> Self {
        IcpPriority {
            spec: ModuleSpec {
                id: ID.into(),
                title: "ICP priority".into(),
                dependencies: vec![
                    M01.into(),
                    M02.into(),
                    M03.into(),
                    M04.into(),
                    M05.into(),
                    M08.into(),
                ],
                providers: Vec::new(),
                runs_degraded: true,
                set_arrays: vec![
                    SetArray::keyed("/factors", "name"),
                    SetArray::scalars("/notes"),
                ],
            },
            vendor: vendor.clone(),
        }
    }
}

/// One scored factor, with the facts it rests on (for citations).
pub(crate) struct Factor {
    pub name: &'static str,
    /// 0..=1, or `None` when the data is unknown (half credit).
    pub fit: Option<f64>,
    pub evidence: String,
    pub facts: Vec<(&'static str, String)>,
}

impl Factor {
    fn new(name: &'static str, fit: Option<f64>, evidence: impl Into<String>) -> Self {
        Factor {
            name,
            fit,
            evidence: evidence.into(),
            facts: Vec::new(),
        }
    }
    fn with<T>(mut self, f: &Fact<T>) -> Self {
        self.facts.push((f.module, f.pointer.clone()));
        self
    }
}

/// Whether a region entry (`US`, `North America`, `Europe`) covers a country key.
fn region_covers(entry: &str, country: &str) -> bool {
    let e = region_key(entry);
    if e == country {
        return true;
    }
    let members: &[&str] = match e.as_str() {
        "north america" | "namer" => &["us", "ca", "mx"],
        "europe" | "eu" | "emea" => &[
            "gb", "de", "fr", "nl", "es", "it", "se", "dk", "no", "fi", "ie", "be", "at", "ch",
            "pl", "pt",
        ],
        _ => &[],
    };
    members.contains(&country)
}

/// Scores every factor of the ICP against what is known. Pure: the unit tests drive it.
pub(crate) fn factors(
    icp: &Icp,
    vendor: &VendorConfig,
    f: &AccountFacts,
    known: &Known,
) -> Vec<Factor> {
    let mut out = Vec::new();

    // Industry.
    out.push(if icp.industries.is_empty() {
        Factor::new(
            "industry",
            Some(1.0),
            "the ICP names no industries: any fits",
        )
    } else if let Some((ind, kw)) = f.industries.iter().find_map(|i| {
        icp.industries
            .iter()
            .find(|k| crate::m12_case_studies::industry_matches(&i.value, k))
            .map(|k| (i, k))
    }) {
        Factor::new(
            "industry",
            Some(1.0),
            format!(
                "{} lists the industry \"{}\" (ICP: {kw})",
                ind.origin, ind.value
            ),
        )
        .with(ind)
    } else if let Some((d, kw)) = f.description.as_ref().and_then(|d| {
        let text = d.value.to_lowercase();
        icp.industries
            .iter()
            .find(|k| text.contains(&k.to_lowercase()))
            .map(|k| (d, k))
    }) {
        Factor::new(
            "industry",
            Some(0.6),
            format!("no industry on record, but the homepage description mentions \"{kw}\""),
        )
        .with(d)
    } else if f.industries.is_empty() {
        Factor::new(
            "industry",
            None,
            "industry unknown (no Wikidata or SEC industry)",
        )
    } else {
        let list: Vec<&str> = f.industries.iter().map(|i| i.value.as_str()).collect();
        let mut x = Factor::new(
            "industry",
            Some(0.0),
            format!(
                "industry {} is outside the ICP ({})",
                list.join(", "),
                icp.industries.join(", ")
            ),
        );
        for i in &f.industries {
            x = x.with(i);
        }
        x
    });

    // Size.
    out.push(match &f.employees {
        Some(e) => {
            let fit = icp.employees.fit(e.value);
            Factor::new(
                "employees",
                Some(fit),
                format!(
                    "{} employees ({}); ICP range {}",
                    human(e.value),
                    e.origin,
                    icp.employees.describe()
                ),
            )
            .with(e)
        }
        None => Factor::new("employees", None, "employee count unknown"),
    });
    out.push(match &f.revenue {
        Some(r) => Factor::new(
            "revenue",
            Some(icp.revenue_usd.fit(r.value)),
            format!(
                "revenue ${} ({}); ICP range ${}",
                human(r.value),
                r.origin,
                icp.revenue_usd.describe()
            ),
        )
        .with(r),
        None if known.not_sec_filer => Factor::new(
            "revenue",
            None,
            "revenue unknown: private company (not an SEC filer)",
        ),
        None => Factor::new("revenue", None, "revenue unknown"),
    });

    // Traffic.
    out.push(match (&f.rank, icp.max_traffic_rank, known.traffic_depth) {
        (_, None, _) => Factor::new("traffic", Some(1.0), "the ICP sets no traffic threshold"),
        (Some(r), Some(max), _) => {
            let fit = if r.value <= max as f64 {
                1.0
            } else if r.value <= 2.0 * max as f64 {
                0.5
            } else {
                0.0
            };
            Factor::new(
                "traffic",
                Some(fit),
                format!(
                    "ranked #{} ({}); ICP wants the top {}",
                    human(r.value),
                    r.origin,
                    human(max as f64)
                ),
            )
            .with(r)
        }
        (None, Some(max), Some(depth)) => Factor::new(
            "traffic",
            Some(0.0),
            format!(
                "not in the top {} of the rank list; ICP wants the top {}",
                human(depth),
                human(max as f64)
            ),
        ),
        (None, Some(_), None) => Factor::new("traffic", None, "traffic unknown"),
    });

    // Technology fit (required any-of + bonus).
    out.push(if !known.stack {
        Factor::new("technology", None, "tech stack unknown")
    } else {
        let req: Vec<&Fact<String>> = icp
            .required_technologies
            .iter()
            .filter_map(|t| f.technology(t))
            .collect();
        let bonus: Vec<&Fact<String>> = icp
            .bonus_technologies
            .iter()
            .filter_map(|t| f.technology(t))
            .collect();
        let bonus_share = if icp.bonus_technologies.is_empty() {
            1.0
        } else {
            (bonus.len() as f64 / (icp.bonus_technologies.len().min(3) as f64)).min(1.0)
        };
        let names = |v: &[&Fact<String>]| {
            v.iter()
                .map(|t| t.value.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (fit, text) = if !icp.required_technologies.is_empty() && req.is_empty() {
            (
                0.0,
                format!(
                    "runs none of the required technologies ({})",
                    icp.required_technologies.join(", ")
                ),
            )
        } else {
            let base = if icp.required_technologies.is_empty() {
                0.0
            } else {
                0.6
            };
            let fit = base + (1.0 - base) * bonus_share;
            let mut parts = Vec::new();
            if !req.is_empty() {
                parts.push(format!("runs required {}", names(&req)));
            }
            if bonus.is_empty() {
                parts.push("none of the bonus technologies".into());
            } else {
                parts.push(format!("bonus: {}", names(&bonus)));
            }
            (fit, parts.join("; "))
        };
        let mut x = Factor::new("technology", Some(fit), text);
        for t in req.iter().chain(bonus.iter()) {
            x = x.with(*t);
        }
        x
    });

    // Competitor installed (a displacement motion).
    out.push(if !known.stack {
        Factor::new("competitor", None, "tech stack unknown")
    } else {
        let comps: Vec<&Fact<String>> = f
            .technologies
            .iter()
            .filter(|t| vendor.competitor(&t.value).is_some())
            .collect();
        if comps.is_empty() {
            Factor::new(
                "competitor",
                Some(0.25),
                "no competing product detected (greenfield, or a home-grown search)",
            )
        } else {
            let mut x = Factor::new(
                "competitor",
                Some(1.0),
                format!(
                    "runs {}, which {} replaces",
                    comps
                        .iter()
                        .map(|t| t.value.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    vendor.product_name()
                ),
            );
            for t in comps {
                x = x.with(t);
            }
            x
        }
    });

    // Region.
    out.push(if icp.regions.is_empty() {
        Factor::new("region", Some(1.0), "the ICP names no regions")
    } else {
        match &f.country {
            Some(c) => {
                let key = region_key(&c.value);
                let ok = icp.regions.iter().any(|r| region_covers(r, &key));
                Factor::new(
                    "region",
                    Some(if ok { 1.0 } else { 0.0 }),
                    format!(
                        "based in {} ({}); ICP regions {}",
                        c.value,
                        c.origin,
                        icp.regions.join(", ")
                    ),
                )
                .with(c)
            }
            None => Factor::new("region", None, "country unknown"),
        }
    });

    // Peers who are already customers.
    out.push(match &known.peers {
        None => Factor::new("peers", None, "competitors of the account unknown"),
        Some(peers) => {
            let hits: Vec<(&String, usize)> = peers
                .iter()
                .filter(|(p, _)| {
                    vendor.case_studies.iter().any(|c| {
                        same_name(&c.customer, p)
                            || c.customer.to_lowercase().starts_with(&p.to_lowercase())
                    })
                })
                .map(|(p, i)| (p, *i))
                .collect();
            if hits.is_empty() {
                Factor::new(
                    "peers",
                    Some(0.0),
                    format!(
                        "none of its {} known competitors is a {} reference customer",
                        peers.len(),
                        vendor.product_name()
                    ),
                )
            } else {
                let mut x = Factor::new(
                    "peers",
                    Some(1.0),
                    format!(
                        "competitor(s) {} already use {}",
                        hits.iter()
                            .map(|(p, _)| p.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        vendor.product_name()
                    ),
                );
                for (_, i) in hits {
                    x.facts.push((M05, format!("/competitors/{i}")));
                }
                x
            }
        }
    });
    out
}

/// What is known beyond the facts: whether the stack was read, the rank list depth, the peers.
#[derive(Debug, Default)]
pub(crate) struct Known {
    pub stack: bool,
    pub traffic_depth: Option<f64>,
    pub not_sec_filer: bool,
    /// Competitor names with their index in M05's `/competitors`.
    pub peers: Option<Vec<(String, usize)>>,
}

impl Known {
    fn from_ctx(ctx: &ModuleContext) -> Self {
        Known {
            stack: ctx.dependency(M02).is_some(),
            traffic_depth: ctx
                .dependency(M03)
                .and_then(|o| crate::derived::num_at(&o.data, "/rank_list_depth")),
            not_sec_filer: ctx
                .dependency(M04)
                .is_some_and(|o| o.data.get("sec_filer") == Some(&Value::Bool(false))),
            peers: ctx.dependency(M05).map(|o| {
                array_at(&o.data, "/competitors")
                    .iter()
                    .enumerate()
                    .filter_map(|(i, c)| {
                        c.as_str()
                            .or_else(|| first_str(c, &["name", "domain"]))
                            .map(|n| (n.to_string(), i))
                    })
                    .collect()
            }),
        }
    }
}

#[async_trait]
impl Module for IcpPriority {
    fn spec(&self) -> &ModuleSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ModuleContext) -> Result<ModuleOutput, ModuleError> {
        let facts = AccountFacts::from_ctx(ctx);
        let known = Known::from_ctx(ctx);
        let icp = &self.vendor.icp;
        let list = factors(icp, &self.vendor, &facts, &known);

        let total_weight: f64 = list.iter().map(|x| icp.weight(x.name)).sum();
        let mut score = 0.0;
        let mut known_weight = 0.0;
        let mut values = Vec::new();
        for x in &list {
            let w = icp.weight(x.name);
            let fit = x.fit.unwrap_or(0.5);
            let points = if total_weight > 0.0 {
                100.0 * w * fit / total_weight
            } else {
                0.0
            };
            score += points;
            if x.fit.is_some() {
                known_weight += w;
            }
            values.push(json!({
                "name": x.name,
                "weight": w,
                "fit": (fit * 100.0).round() as i64,
                "points": (points * 10.0).round() / 10.0,
                "known": x.fit.is_some(),
                "evidence": x.evidence,
            }));
        }
        let score = score.round().clamp(0.0, 100.0);
        let tier = icp.tiers.tier(score);
        let coverage = if total_weight > 0.0 {
            (100.0 * known_weight / total_weight).round()
        } else {
            0.0
        };
        let strong: Vec<&str> = list
            .iter()
            .filter(|x| x.fit.is_some_and(|f| f >= 0.99) && icp.weight(x.name) > 0.0)
            .map(|x| x.name)
            .collect();
        let weak: Vec<&str> = list
            .iter()
            .filter(|x| x.fit.is_some_and(|f| f <= 0.01) && icp.weight(x.name) > 0.0)
            .map(|x| x.name)
            .collect();
        let mut summary = format!("Tier {tier} ({score}/100)");
        if !strong.is_empty() {
            summary.push_str(&format!("; fits on {}", strong.join(", ")));
        }
        if !weak.is_empty() {
            summary.push_str(&format!("; misses on {}", weak.join(", ")));
        }
        if coverage < 60.0 {
            summary.push_str(&format!(
                "; only {coverage}% of the weight rests on evidence"
            ));
        }

        let icp_cite = Citation::config("vendor.icp", &[]);
        let mut out = ModuleOutput::new();
        out.set("score", score as i64, &icp_cite);
        out.set("tier", tier, &icp_cite);
        out.set("data_coverage", coverage as i64, &icp_cite);
        out.set("summary", summary, &icp_cite);
        out.set("factors", values, &icp_cite);
        out.set("notes", crate::derived::failure_notes(ctx), &icp_cite);
        for (k, x) in list.iter().enumerate() {
            let p = format!("/factors/{k}");
            for (module, pointer) in &x.facts {
                if let Some(dep) = ctx.dependency(module) {
                    if crate::derived::carry(&mut out, dep, pointer, &p) == 0 {
                        cite(&mut out, &Citation::derived(module, &[]), &p);
                    }
                }
            }
        }
        for id in [M01, M02, M03, M04, M05] {
            if ctx.dependency(id).is_some() {
                cite(&mut out, &Citation::derived(id, &[]), "/score");
            }
        }
        crate::derived::canonical_order(&mut out, &[("factors", "name")]);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::derived::test_support::{ctx_for, failed, ready};

    fn vendor() -> VendorConfig {
        toml::from_str(
            r#"
            product = "Lumora Search"
            competitors = ["Algolia", "Bloomreach"]
            [icp]
            industries = ["retail", "software"]
            employees = { min = 200, max = 20000 }
            revenue_usd = { min = 50_000_000, max = 10_000_000_000 }
            max_traffic_rank = 100000
            bonus_technologies = ["Magento", "Next.js"]
            regions = ["North America"]
            [[case_studies]]
            id = "a"
            customer = "Contoso Shops"
            industry = "Retail"
            headline = "x"
            url = "https://l.example/a"
            "#,
        )
        .unwrap()
    }

    fn full_ctx() -> pforge_core::ModuleContext {
        ctx_for("northwind-retail.com", full_deps())
    }

    fn full_deps() -> Vec<(&'static str, pforge_core::DependencyResult)> {
        vec![
            (
                M01,
                ready(
                    json!({"name": "Northwind", "address": {"country": "US"},
                    "wikidata": {"industries": [{"id": "Q1", "label": "retail"}], "employees": {"count": 18200}}}),
                    "https://www.wikidata.org/wiki/Q130000002",
                ),
            ),
            (
                M02,
                ready(
                    json!({"technologies": [{"name": "Bloomreach"}, {"name": "Magento"}, {"name": "Next.js"}]}),
                    "https://www.northwind-retail.com/",
                ),
            ),
            (
                M03,
                ready(
                    json!({"rank": 2841, "rank_list_depth": 1000000}),
                    "config:rank_list",
                ),
            ),
            (
                M04,
                ready(
                    json!({"sec_filer": true, "financials": {"fiscal_year": 2023, "revenue": {"value": 4210000000u64}, "employees": {"value": 18200}}}),
                    "https://data.sec.gov/api/xbrl/companyfacts/CIK0001999001.json",
                ),
            ),
            (
                M05,
                ready(
                    json!({"competitors": [{"name": "Contoso Shops", "domain": "contoso.example"}, {"name": "Fabrikam"}]}),
                    "https://cb.example/northwind",
                ),
            ),
        ]
    }

    fn factor<'a>(out: &'a ModuleOutput, name: &str) -> &'a Value {
        out.data["factors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap()
    }

    #[tokio::test]
    async fn perfect_fit_is_tier_a_with_evidence_per_factor() {
        let m = IcpPriority::new(&vendor());
        let out = m.run(&full_ctx()).await.unwrap();
        out.check_cited().unwrap();
        assert_eq!(out.data["tier"], "A", "{:#}", out.data);
        assert_eq!(out.data["score"], 100);
        assert_eq!(out.data["data_coverage"], 100);
        let ind = factor(&out, "industry");
        assert_eq!(ind["weight"], 20.0);
        assert!(ind["evidence"].as_str().unwrap().contains("retail"));
        assert!(factor(&out, "revenue")["evidence"]
            .as_str()
            .unwrap()
            .contains("$4.21B"));
        assert!(factor(&out, "revenue")["evidence"]
            .as_str()
            .unwrap()
            .contains("SEC 10-K FY2023"));
        assert!(factor(&out, "competitor")["evidence"]
            .as_str()
            .unwrap()
            .contains("Bloomreach"));
        assert!(factor(&out, "peers")["evidence"]
            .as_str()
            .unwrap()
            .contains("Contoso Shops"));
        assert!(factor(&out, "region")["evidence"]
            .as_str()
            .unwrap()
            .contains("based in US"));
        let i = out.data["factors"]
            .as_array()
            .unwrap()
            .iter()
            .position(|f| f["name"] == "revenue")
            .unwrap();
        assert!(out
            .sources
            .iter()
            .any(|c| c.source.contains("companyfacts")
                && c.covers.contains(&format!("/factors/{i}"))));
    }

    #[tokio::test]
    async fn a_paid_head_count_band_counts_when_it_is_the_newest() {
        let m = IcpPriority::new(&vendor());
        let m08 = |as_of: &str| {
            ready(
                json!({"employees": {"count": 75, "min": 51, "max": 100, "band": "51–100",
                    "crunchbase_enum": "c_00051_00100", "as_of": as_of}}),
                "https://api.crunchbase.com/api/v4/entities/organizations/northwind",
            )
        };
        // Dated, against the undated Wikidata and 10-K counts: the band decides the factor,
        // cited to Crunchbase.
        let mut deps = full_deps();
        deps.push((M08, m08("2026-11-30")));
        let out = m.run(&ctx_for("northwind-retail.com", deps)).await.unwrap();
        out.check_cited().unwrap();
        let e = factor(&out, "employees");
        assert_eq!(e["fit"], 0, "{e}");
        assert!(
            e["evidence"]
                .as_str()
                .unwrap()
                .contains("75 employees (Crunchbase band 51–100)"),
            "{e}"
        );
        let i = out.data["factors"]
            .as_array()
            .unwrap()
            .iter()
            .position(|f| f["name"] == "employees")
            .unwrap();
        assert!(out.sources.iter().any(
            |c| c.source.contains("crunchbase") && c.covers.contains(&format!("/factors/{i}"))
        ));

        // Undated like the others, the band loses the tie to the filing.
        let mut deps = full_deps();
        deps.push((
            M08,
            ready(
                json!({"employees": {"count": 75, "band": "51–100"}}),
                "https://api.crunchbase.com/x",
            ),
        ));
        let out = m.run(&ctx_for("northwind-retail.com", deps)).await.unwrap();
        assert_eq!(factor(&out, "employees")["fit"], 100);
    }

    #[tokio::test]
    async fn unknown_factors_get_half_credit_and_misses_score_zero() {
        let m = IcpPriority::new(&vendor());
        let out = m
            .run(&ctx_for(
                "blueharbor-health.com",
                vec![
                    (
                        M01,
                        ready(
                            json!({"name": "Blue Harbor Health", "wikidata": null}),
                            "https://blueharbor-health.com/",
                        ),
                    ),
                    (
                        M02,
                        ready(
                            json!({"technologies": [{"name": "Squarespace"}]}),
                            "https://blueharbor-health.com/",
                        ),
                    ),
                    (
                        M03,
                        ready(
                            json!({"rank": null, "rank_list_depth": 1000000}),
                            "config:rank_list",
                        ),
                    ),
                    (
                        M04,
                        ready(
                            json!({"sec_filer": false}),
                            "https://www.sec.gov/files/company_tickers.json",
                        ),
                    ),
                    (M05, failed("no provider")),
                ],
            ))
            .await
            .unwrap();
        out.check_cited().unwrap();
        assert_eq!(factor(&out, "traffic")["fit"], 0);
        assert!(factor(&out, "traffic")["evidence"]
            .as_str()
            .unwrap()
            .contains("not in the top 1M"));
        assert_eq!(factor(&out, "revenue")["known"], false);
        assert!(factor(&out, "revenue")["evidence"]
            .as_str()
            .unwrap()
            .contains("private company"));
        assert_eq!(factor(&out, "employees")["fit"], 50);
        assert_eq!(factor(&out, "competitor")["fit"], 25);
        assert_eq!(factor(&out, "technology")["fit"], 0);
        let score = out.data["score"].as_i64().unwrap();
        assert!(score < 40, "{score}");
        assert_eq!(out.data["tier"], if score >= 35 { "C" } else { "D" });
        assert!(out.data["data_coverage"].as_i64().unwrap() < 100);
        assert_eq!(
            out.data["notes"][0],
            "m05_competitors unavailable: no provider"
        );
    }

    #[test]
    fn weights_and_regions() {
        let mut v = vendor();
        v.icp.weights.insert("industry".into(), 0.0);
        assert_eq!(v.icp.weight("industry"), 0.0);
        assert!(region_covers("North America", "us"));
        assert!(region_covers("USA", "us"));
        assert!(!region_covers("Europe", "us"));
    }
}
