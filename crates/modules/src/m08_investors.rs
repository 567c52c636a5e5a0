//! M08 investors: who invested in or owns the company, and where it is listed. Wikidata
//! (investor P1951, owned by P127; listings come from M01's P414/P249) for every company that
//! has an entity, and Crunchbase (investors, funding rounds, total funding, head-count band)
//! when that keyed provider is configured with its credentials. The band is the paid
//! provider's head count M13 weighs against the filer's tag, Wikidata and the site's JSON-LD.
//!
//! A company with no Wikidata entity and no Crunchbase key is a normal answer (empty lists,
//! unknown funding, notes). A source that is asked and fails is the module's error: a partial
//! answer would look like investors leaving.

use crate::clients::cite::cover;
use crate::clients::wikidata::{self, claim_items, m01_wikidata_id, WdError};
use crate::m07_strategic_triggers::{set_cited_set, with_tagged_sources};
use async_trait::async_trait;
use pforge_budget::Call;
use pforge_core::{
    Citation, Domain, ExpectedCall, Module, ModuleContext, ModuleError, ModuleOutput, ModuleSpec,
    SetArray,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const ID: &str = "m08_investors";
const M01: &str = "m01_company_context";
const CRUNCHBASE: &str = "crunchbase";
/// Crunchbase autocomplete candidates checked for a website on this domain.
const MAX_CB_CANDIDATES: usize = 3;

/// The investors module (`m08_investors`).
pub struct Investors {
    spec: ModuleSpec,
}

impl Investors {
    /// Builds the module; it needs no configuration.
    pub fn new() -> Self {
        Investors {
            spec: ModuleSpec {
                id: ID.into(),
                title: "Investors and ownership".into(),
                dependencies: vec![M01.into()],
                providers: vec!["wikidata".into(), CRUNCHBASE.into()],
                runs_degraded: true,
                set_arrays: vec![
                    SetArray::keyed("/investors", "name"),
                    SetArray::scalars("/investors/*/sources"),
                    SetArray::keyed("/owned_by", "name"),
                    SetArray::keyed("/listings", "exchange"),
                    SetArray::keyed("/funding_rounds", "id"),
                    SetArray::scalars("/notes"),
                ],
            },
        }
    }
}

/// `[estimate.shares]` key: share of Wikidata items that list investors or owners (M08 asks
/// their labels).
const SHARE_INVESTORS: &str = "wikidata_lists_investors";
/// `[estimate.pools]` key: distinct investors and owners the items refer to.
const POOL_INVESTORS: &str = "wikidata_investors";

impl Default for Investors {
    fn default() -> Self {
        Self::new()
    }
}

// ------------------------------------------------------------------ Crunchbase

/// What M08 keeps from a Crunchbase organization (`GET /api/v4/entities/organizations/{id}`
/// with `field_ids` and `card_ids=raised_funding_rounds`).
#[derive(Debug, Clone, PartialEq, Default)]
struct CbOrg {
    website: Option<String>,
    total_funding_usd: Option<f64>,
    last_funding_type: Option<String>,
    /// (name, permalink, kind)
    investors: Vec<(String, Option<String>, Option<String>)>,
    rounds: Vec<Value>,
    /// The head-count band (`num_employees_enum`), raw and decoded.
    employees: Option<(String, Option<HeadCountBand>)>,
}

/// A Crunchbase head-count band: `c_00051_00100` is 51 to 100 people, `c_10001_max` is
/// 10,001 or more. Crunchbase gives only bands, so M13 scores the band's middle and says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HeadCountBand {
    min: u64,
    max: Option<u64>,
}

impl HeadCountBand {
    /// Decodes `c_MIN_MAX` (MAX may be `max`); anything else is `None`, never a guess.
    fn parse(code: &str) -> Option<HeadCountBand> {
        let rest = code.strip_prefix("c_")?;
        let (min, max) = rest.split_once('_')?;
        let min: u64 = min.parse().ok()?;
        let max = match max {
            "max" => None,
            m => Some(m.parse::<u64>().ok()?),
        };
        if max.is_some_and(|m| m < min) {
            return None;
        }
        Some(HeadCountBand { min, max })
    }

    /// The number M13 scores: the band's middle, or its floor when it is open-ended.
    fn estimate(self) -> u64 {
        match self.max {
            Some(max) => (self.min + max) / 2,
            None => self.min,
        }
    }

    /// "51–100" or "10,001+".
    fn label(self) -> String {
        match self.max {
            Some(max) => format!("{}–{}", thousands(self.min), thousands(max)),
            None => format!("{}+", thousands(self.min)),
        }
    }
}

/// 10001 → "10,001".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// M08's `employees` value from a band: what M13 reads as a head count, with its date.
fn employees_value(code: &str, band: Option<HeadCountBand>, as_of: &str) -> Value {
    match band {
        Some(b) => json!({
            "count": b.estimate(),
            "min": b.min,
            "max": b.max,
            "band": b.label(),
            "crunchbase_enum": code,
            "as_of": as_of,
        }),
        None => json!({ "count": null, "crunchbase_enum": code, "as_of": as_of }),
    }
}

fn parse_cb_org(v: &Value) -> Option<CbOrg> {
    let p = v.get("properties")?;
    let s = |x: Option<&Value>| x.and_then(Value::as_str).map(str::to_string);
    Some(CbOrg {
        website: s(p.get("website_url")).or_else(|| s(p.get("website").and_then(|w| w.get("value")))),
        total_funding_usd: p
            .get("funding_total")
            .and_then(|f| f.get("value_usd"))
            .and_then(Value::as_f64),
        last_funding_type: s(p.get("last_funding_type")),
        employees: s(p.get("num_employees_enum")).map(|code| {
            let band = HeadCountBand::parse(&code);
            (code, band)
        }),
        investors: p
            .get("investor_identifiers")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|i| {
                        Some((
                            s(i.get("value"))?,
                            s(i.get("permalink")),
                            s(i.get("entity_def_id")),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default(),
        rounds: v
            .get("cards")
            .and_then(|c| c.get("raised_funding_rounds"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|r| {
                        let ident = r.get("identifier")?;
                        let id = s(ident.get("permalink")).or_else(|| s(ident.get("uuid")))?;
                        Some(json!({
                            "id": id,
                            "name": s(ident.get("value")),
                            "announced_on": s(r.get("announced_on")),
                            "type": s(r.get("investment_type")),
                            "money_raised_usd": r.get("money_raised").and_then(|m| m.get("value_usd")).and_then(Value::as_f64).map(usd),
                        }))
                    })
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// Whole dollars as an integer when they are one.
fn usd(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

/// Permalinks of a Crunchbase autocomplete answer, in rank order.
fn parse_cb_autocomplete(v: &Value) -> Option<Vec<String>> {
    Some(
        v.get("entities")?
            .as_array()?
            .iter()
            .filter_map(|e| {
                e.get("identifier")?
                    .get("permalink")?
                    .as_str()
                    .map(str::to_string)
            })
            .collect(),
    )
}

struct CbFound {
    org: CbOrg,
    cite: Citation,
}

async fn crunchbase(
    ctx: &ModuleContext,
    name: &str,
) -> Result<Result<CbFound, (String, Citation)>, ModuleError> {
    let call = Call::get(CRUNCHBASE, "/autocompletes")
        .query("query", name)
        .query("collection_ids", "organizations")
        .query("limit", "5")
        .for_domain(ctx.domain.as_str())
        .by_module(ID);
    let resp = match ctx.gateway.fetch(&call).await {
        Ok(r) => r,
        // "No such organization" is an answer, not an outage.
        Err(e) if e.status() == Some(404) => {
            return Ok(Err((
                format!("Crunchbase has no organization named {name:?}"),
                crate::clients::cite::attempted(ctx, &call),
            )))
        }
        Err(e) => return Err(e.into()),
    };
    let v: Value = resp.json()?;
    let cite = Citation::from_response(&resp, &[]);
    let Some(permalinks) = parse_cb_autocomplete(&v) else {
        return Err(ModuleError::parse(
            &resp.url,
            "autocomplete answer has no \"entities\" list",
        ));
    };
    for p in permalinks.iter().take(MAX_CB_CANDIDATES) {
        let call = Call::get(CRUNCHBASE, format!("/entities/organizations/{p}"))
            .query("field_ids", "website_url,funding_total,num_funding_rounds,last_funding_type,investor_identifiers,num_employees_enum")
            .query("card_ids", "raised_funding_rounds")
            .for_domain(ctx.domain.as_str())
            .by_module(ID);
        let resp = match ctx.gateway.fetch(&call).await {
            Ok(r) => r,
            Err(e) if e.status() == Some(404) => continue,
            Err(e) => return Err(e.into()),
        };
        let v: Value = resp.json()?;
        let Some(org) = parse_cb_org(&v) else {
            return Err(ModuleError::parse(
                &resp.url,
                "organization answer has no \"properties\"",
            ));
        };
        if org
            .website
            .as_deref()
            .is_some_and(|w| Domain::parse(w).is_ok_and(|d| d == ctx.domain))
        {
            return Ok(Ok(CbFound {
                org,
                cite: Citation::from_response(&resp, &[]),
            }));
        }
    }
    Ok(Err((
        format!(
            "no Crunchbase organization for {name:?} has a website on {}",
            ctx.domain
        ),
        cite,
    )))
}

fn norm(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Adds or merges an investor (by normalized name).
fn add_investor(list: &mut Vec<Value>, name: &str, source: &str, extra: Value) {
    let key = norm(name);
    if let Some(existing) = list
        .iter_mut()
        .find(|v| v.get("name").and_then(Value::as_str).map(norm) == Some(key.clone()))
    {
        if let Some(s) = existing.get_mut("sources").and_then(Value::as_array_mut) {
            if !s.iter().any(|x| x == source) {
                s.push(json!(source));
            }
        }
        if let (Some(obj), Value::Object(ex)) = (existing.as_object_mut(), extra) {
            for (k, v) in ex {
                obj.entry(k).or_insert(v);
            }
        }
        return;
    }
    let mut v = json!({"name": name, "sources": [source]});
    if let (Some(obj), Value::Object(ex)) = (v.as_object_mut(), extra) {
        obj.extend(ex);
    }
    list.push(v);
}

#[async_trait]
impl Module for Investors {
    fn spec(&self) -> &ModuleSpec {
        &self.spec
    }

    /// M01's entity again (the gateway's cache answers it), the labels of the investors and
    /// owners it lists (shared across companies, batchable), and Crunchbase when keyed.
    fn expected_calls(&self) -> Vec<ExpectedCall> {
        vec![
            ExpectedCall::per_domain(wikidata::PROVIDER, "entities")
                .only_for(wikidata::SHARE_ITEM_FOUND)
                .with_items(wikidata::expected_entities(1)),
            ExpectedCall::per_domain(wikidata::PROVIDER, "investor labels")
                .only_for(SHARE_INVESTORS)
                .with_items(wikidata::expected_labels(3, POOL_INVESTORS)),
            ExpectedCall::per_domain(CRUNCHBASE, ID),
        ]
    }

    async fn run(&self, ctx: &ModuleContext) -> Result<ModuleOutput, ModuleError> {
        let mut out = ModuleOutput::new();
        let mut notes: Vec<(String, Citation)> = Vec::new();
        let mut investors: Vec<Value> = Vec::new();
        let mut owners: Vec<Value> = Vec::new();
        let mut cites: Vec<Citation> = Vec::new();
        let mut by_source: BTreeMap<&str, Vec<Citation>> = BTreeMap::new();
        let m01 = ctx.dependency(M01).map(|o| o.data.clone());
        let m01_cite = Citation::derived(M01, &[]);

        // Listings: M01 already read P414 (exchange) with its P249 ticker qualifier.
        let listings: Vec<Value> = m01
            .as_ref()
            .and_then(|d| d.get("wikidata")?.get("stock_exchanges")?.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|x| {
                let exchange = x.get("label").and_then(Value::as_str).or_else(|| x.get("id")?.as_str())?;
                Some(json!({"exchange": exchange, "ticker": x.get("ticker").cloned().unwrap_or(Value::Null), "wikidata_id": x.get("id").cloned().unwrap_or(Value::Null)}))
            })
            .collect();

        match (&m01, m01.as_ref().and_then(m01_wikidata_id)) {
            (None, _) => {
                let why = ctx
                    .failed_dependencies()
                    .find(|(d, _)| *d == M01)
                    .map(|(_, w)| w.to_string())
                    .unwrap_or_else(|| "no output".into());
                notes.push((format!("company context unavailable ({why}): Wikidata not read"), m01_cite.clone()));
            }
            (Some(_), None) => notes.push((
                "no Wikidata entity for this company (see m01_company_context): no Wikidata investors".into(),
                m01_cite.clone(),
            )),
            (Some(_), Some(_)) if !ctx.gateway.has_provider("wikidata") => notes.push((
                "Wikidata not read: provider \"wikidata\" is not configured".into(),
                Citation::config("providers.wikidata", &[]),
            )),
            (Some(_), Some(qid)) => {
                let (resp, entity) = wikidata::entity(ctx, ID, &qid)
                    .await
                    .map_err(WdError::into_module_error)?;
                cites.push(Citation::from_response(&resp, &[]));
                by_source
                    .entry("wikidata")
                    .or_default()
                    .push(Citation::from_response(&resp, &[]));
                let inv = claim_items(&entity, "P1951");
                let own = claim_items(&entity, "P127");
                let ids: Vec<String> = inv.iter().chain(own.iter()).map(|c| c.id.clone()).collect();
                let labels = match wikidata::labels(ctx, ID, &ids).await.map_err(WdError::into_module_error)? {
                    Some((lresp, l)) => {
                        cites.push(Citation::from_response(&lresp, &[]));
                        by_source
                            .entry("wikidata")
                            .or_default()
                            .push(Citation::from_response(&lresp, &[]));
                        l
                    }
                    None => BTreeMap::new(),
                };
                let name = |id: &str| labels.get(id).cloned().unwrap_or_else(|| id.to_string());
                for c in inv.iter().filter(|c| c.end.is_none()) {
                    add_investor(&mut investors, &name(&c.id), "wikidata", json!({"wikidata_id": c.id}));
                }
                for c in own.iter().filter(|c| c.end.is_none()) {
                    add_investor(&mut owners, &name(&c.id), "wikidata", json!({"wikidata_id": c.id}));
                }
            }
        }

        // Crunchbase, only with credentials.
        let mut funding: Option<(Value, Value, Value, Citation)> = None;
        let mut employees: Option<(Value, Citation)> = None;
        if !ctx.gateway.has_provider(CRUNCHBASE) {
            notes.push((
                "Crunchbase not configured: funding rounds and total funding unknown".into(),
                Citation::config("providers.crunchbase", &[]),
            ));
        } else if let Some(why) = ctx.gateway.missing_credentials(CRUNCHBASE) {
            notes.push((
                format!("Crunchbase not used: {why}"),
                Citation::config("providers.crunchbase", &[]),
            ));
        } else {
            let name = m01
                .as_ref()
                .and_then(|d| d.get("name")?.as_str().map(str::to_string))
                .unwrap_or_else(|| {
                    ctx.domain
                        .as_str()
                        .split('.')
                        .next()
                        .unwrap_or_default()
                        .to_string()
                });
            match crunchbase(ctx, &name).await? {
                Ok(found) => {
                    for (n, permalink, kind) in &found.org.investors {
                        add_investor(
                            &mut investors,
                            n,
                            "crunchbase",
                            json!({"crunchbase_permalink": permalink, "kind": kind}),
                        );
                    }
                    if let Some((code, band)) = &found.org.employees {
                        if band.is_none() {
                            notes.push((
                                format!("Crunchbase head-count band {code:?} is not one this version reads"),
                                found.cite.clone(),
                            ));
                        }
                        let as_of = found.cite.fetched_at.format("%Y-%m-%d").to_string();
                        employees =
                            Some((employees_value(code, *band, &as_of), found.cite.clone()));
                    }
                    funding = Some((
                        json!(found.org.rounds),
                        found.org.total_funding_usd.map(usd).unwrap_or(Value::Null),
                        json!(found.org.last_funding_type),
                        found.cite.clone(),
                    ));
                    by_source
                        .entry("crunchbase")
                        .or_default()
                        .push(found.cite.clone());
                    cites.push(found.cite);
                }
                Err(note) => notes.push(note),
            }
        }

        let first = cites.first().cloned().unwrap_or_else(|| m01_cite.clone());
        let with_sources = |list: Vec<Value>| with_tagged_sources(list, &by_source);
        set_cited_set(
            &mut out,
            "investors",
            "name",
            with_sources(investors),
            &first,
        );
        set_cited_set(&mut out, "owned_by", "name", with_sources(owners), &first);
        out.set("is_listed", !listings.is_empty(), &m01_cite);
        out.set("listings", listings, &m01_cite);
        match funding {
            Some((rounds, total, last, c)) => {
                out.set("funding_rounds", rounds, &c);
                out.set("total_funding", total, &c);
                out.set("last_funding_type", last, &c);
            }
            None => {
                let c = Citation::config("providers.crunchbase", &[]);
                out.set("funding_rounds", Value::Null, &c);
                out.set("total_funding", Value::Null, &c);
                out.set("last_funding_type", Value::Null, &c);
            }
        }
        // Only when Crunchbase gave a band: an account without one keeps the shape it had.
        if let Some((value, c)) = employees {
            out.set("employees", value, &c);
        }
        let texts: Vec<String> = notes.iter().map(|(t, _)| t.clone()).collect();
        out.set("notes", texts, &first);
        for (_, c) in &notes {
            cover(&mut out, c, "/notes");
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_json(rel: &str) -> Value {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures")
            .join(rel);
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    }

    #[test]
    fn wikidata_investor_and_owner_claims() {
        let v = fixture_json("epoch1/wikidata/entity-Q130000001.json");
        let e = &v["entities"]["Q130000001"];
        let ids: Vec<String> = claim_items(e, "P1951").into_iter().map(|c| c.id).collect();
        assert_eq!(ids, vec!["Q130000031", "Q130000032"]);
        assert!(claim_items(e, "P127").is_empty());
        let v = fixture_json("epoch1/wikidata/entities-initech.json");
        let own = claim_items(&v["entities"]["Q130000003"], "P127");
        assert_eq!(own[0].id, "Q130000033");
        // Odd statements: novalue, non-item values, deprecated rank are skipped.
        let odd = json!({"claims": {"P1951": [
            {"rank": "normal", "mainsnak": {"snaktype": "novalue"}},
            {"rank": "normal", "mainsnak": {"snaktype": "value", "datavalue": {"value": "text"}}},
            {"rank": "deprecated", "mainsnak": {"snaktype": "value", "datavalue": {"value": {"id": "Q1"}}}},
            {"rank": "preferred", "mainsnak": {"snaktype": "value", "datavalue": {"value": {"id": "Q2"}}}}
        ]}});
        let c = claim_items(&odd, "P1951");
        assert_eq!(c.len(), 1);
        assert!(c[0].preferred);
        assert!(claim_items(&json!("garbage"), "P1951").is_empty());
    }

    #[test]
    fn end_qualifiers_are_read() {
        let v = fixture_json("epoch2/wikidata/entities-northwind.json");
        let ceos = claim_items(&v["entities"]["Q130000002"], "P169");
        assert_eq!(ceos[0].end.as_deref(), Some("2025-03-03"));
        assert_eq!(ceos[1].id, "Q130000046");
        assert_eq!(ceos[1].end, None);
    }

    #[test]
    fn labels_answer() {
        let v = fixture_json("epoch1/wikidata/labels-investors-techstart.json");
        let ids = vec!["Q130000031".to_string(), "Q130000032".into(), "Q9".into()];
        let l = crate::clients::wikidata::parse_labels(&v, &ids);
        assert_eq!(
            l.get("Q130000031").map(String::as_str),
            Some("Foundry Peak Ventures")
        );
        assert_eq!(l.len(), 2);
        assert!(crate::clients::wikidata::parse_labels(&json!({"error": "x"}), &ids).is_empty());
    }

    #[test]
    fn crunchbase_shapes() {
        let v = fixture_json("epoch1/crunchbase/autocomplete-techstart.json");
        assert_eq!(
            parse_cb_autocomplete(&v).unwrap(),
            vec!["techstart-3", "techstart-ventures"]
        );
        assert!(parse_cb_autocomplete(&json!({"count": 0})).is_none());
        let v = fixture_json("epoch1/crunchbase/org-techstart-3.json");
        let o = parse_cb_org(&v).unwrap();
        assert_eq!(o.website.as_deref(), Some("https://www.techstart.io"));
        assert_eq!(o.total_funding_usd, Some(24_500_000.0));
        assert_eq!(o.investors.len(), 2);
        assert_eq!(o.rounds[0]["id"], "techstart-series-a--aaaaaaaa");
        assert_eq!(o.rounds[0]["money_raised_usd"], 18_000_000);
        let bare = parse_cb_org(&json!({"properties": {}})).unwrap();
        assert_eq!(bare, CbOrg::default());
        assert!(parse_cb_org(&json!([1])).is_none());
    }

    #[test]
    fn head_count_bands_decode_or_are_refused() {
        let b = HeadCountBand::parse("c_00051_00100").unwrap();
        assert_eq!(
            b,
            HeadCountBand {
                min: 51,
                max: Some(100)
            }
        );
        assert_eq!(b.estimate(), 75);
        assert_eq!(b.label(), "51–100");
        let open = HeadCountBand::parse("c_10001_max").unwrap();
        assert_eq!(open.max, None);
        assert_eq!(open.estimate(), 10001);
        assert_eq!(open.label(), "10,001+");
        for bad in ["", "c_", "c_10", "c_abc_100", "c_100_10", "51-100", "c_1_x"] {
            assert_eq!(HeadCountBand::parse(bad), None, "{bad:?}");
        }
        let v = employees_value(
            "c_01001_05000",
            HeadCountBand::parse("c_01001_05000"),
            "2026-12-02",
        );
        assert_eq!(v["count"], 3000);
        assert_eq!(v["band"], "1,001–5,000");
        assert_eq!(v["as_of"], "2026-12-02");
        let unknown = employees_value("c_weird", None, "2026-12-02");
        assert_eq!(unknown["count"], Value::Null);
        assert_eq!(unknown["crunchbase_enum"], "c_weird");

        let mut org = fixture_json("epoch1/crunchbase/org-techstart-3.json");
        org["properties"]["num_employees_enum"] = json!("c_00011_00050");
        let o = parse_cb_org(&org).unwrap();
        assert_eq!(
            o.employees,
            Some((
                "c_00011_00050".to_string(),
                Some(HeadCountBand {
                    min: 11,
                    max: Some(50)
                })
            ))
        );
    }

    #[test]
    fn investors_merge_by_normalized_name() {
        let mut l = Vec::new();
        add_investor(
            &mut l,
            "Foundry Peak Ventures",
            "wikidata",
            json!({"wikidata_id": "Q1"}),
        );
        add_investor(
            &mut l,
            "Foundry Peak Ventures ",
            "crunchbase",
            json!({"crunchbase_permalink": "fpv"}),
        );
        add_investor(&mut l, "Angela Park", "crunchbase", json!({}));
        assert_eq!(l.len(), 2);
        assert_eq!(l[0]["sources"], json!(["wikidata", "crunchbase"]));
        assert_eq!(l[0]["crunchbase_permalink"], "fpv");
        assert_eq!(l[0]["wikidata_id"], "Q1");
    }
}
