//! M01 company context: who the company says it is (homepage title, description, Open Graph,
//! JSON-LD Organization) and, when Wikidata has an entity whose official website is on this
//! domain, what Wikidata knows (inception, employees, industries, headquarters, listing).
//!
//! The homepage is required (its failure is the module's error); Wikidata is best-effort: a
//! failure or no match gives `wikidata: null` plus a note, never an error.

use crate::html::{self, PageFacts};
use async_trait::async_trait;
use chrono::Utc;
use pforge_budget::{Call, Response};
use pforge_core::{
    Citation, Domain, ExpectedCall, Module, ModuleContext, ModuleError, ModuleOutput, ModuleSpec,
    SetArray,
};
use serde_json::{json, Map, Value};
use url::Url;

const ID: &str = "m01_company_context";
/// How many Wikidata search hits are checked for a matching official website.
const MAX_CANDIDATES: usize = 5;

/// The company-context module (`m01_company_context`).
pub struct CompanyContext {
    spec: ModuleSpec,
}

impl CompanyContext {
    /// Builds the module; it needs no configuration.
    pub fn new() -> Self {
        CompanyContext {
            spec: ModuleSpec {
                id: ID.into(),
                title: "Company context".into(),
                dependencies: Vec::new(),
                providers: vec!["homepage".into(), "wikidata".into()],
                runs_degraded: false,
                set_arrays: vec![
                    SetArray::scalars("/social_profiles"),
                    SetArray::keyed("/feeds", "url"),
                    SetArray::keyed("/wikidata/industries", "id"),
                    SetArray::keyed("/wikidata/stock_exchanges", "id"),
                    SetArray::scalars("/notes"),
                ],
            },
        }
    }
}

impl Default for CompanyContext {
    fn default() -> Self {
        Self::new()
    }
}

/// Adds `pointer` to the citation for `c`'s source (creating it), like `ModuleOutput::set` does
/// for top-level keys; used for nested values and for keys supported by several sources.
pub(crate) fn cover(out: &mut ModuleOutput, c: &Citation, pointer: &str) {
    match out
        .sources
        .iter_mut()
        .find(|x| x.source == c.source && x.provider == c.provider)
    {
        Some(x) => {
            if !x.covers.iter().any(|p| p == pointer) {
                x.covers.push(pointer.to_string());
            }
        }
        None => {
            let mut x = c.clone();
            x.covers = vec![pointer.to_string()];
            out.sources.push(x);
        }
    }
}

/// A citation for a call that produced no usable answer (the note about it needs a source too).
pub(crate) fn attempted(ctx: &ModuleContext, call: &Call) -> Citation {
    let source = ctx
        .gateway
        .url_for(call)
        .map(|u| u.to_string())
        .unwrap_or_else(|_| format!("{}:{}", call.provider, call.path));
    Citation {
        source,
        provider: call.provider.clone(),
        fetched_at: Utc::now(),
        covers: Vec::new(),
    }
}

/// Where the company name came from, best first.
fn company_name(facts: &PageFacts, domain: &Domain) -> Option<(String, &'static str)> {
    if let Some(n) = facts.organization.as_ref().and_then(|o| o.name.clone()) {
        return Some((n, "json-ld"));
    }
    if let Some(n) = facts.open_graph.get("og:site_name") {
        return Some((n.clone(), "og:site_name"));
    }
    let title = facts.title.as_deref()?;
    Some((name_from_title(title, domain), "title"))
}

fn compact(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Picks the segment of a title like `Home | Acme Corp` that names the company: the one that
/// looks like the domain's label, else the first.
pub(crate) fn name_from_title(title: &str, domain: &Domain) -> String {
    let label = compact(domain.as_str().split('.').next().unwrap_or_default());
    let parts: Vec<&str> = title
        .split(['|', '–', '—', '·', '•', ':'])
        .flat_map(|p| p.split(" - "))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let fits = |p: &&&str| {
        let c = compact(p);
        !c.is_empty() && !label.is_empty() && (c.contains(&label) || label.contains(&c))
    };
    parts
        .iter()
        .find(fits)
        .or_else(|| parts.first())
        .map(|s| s.to_string())
        .unwrap_or_else(|| title.trim().to_string())
}

/// Year of a JSON-LD `foundingDate` (`2017`, `1998-02-19`, `2017-04`).
fn year_of(date: &str) -> Option<i64> {
    let y: String = date
        .trim()
        .trim_start_matches('+')
        .chars()
        .take(4)
        .collect();
    if y.len() == 4 && y.chars().all(|c| c.is_ascii_digit()) {
        y.parse().ok()
    } else {
        None
    }
}

#[async_trait]
impl Module for CompanyContext {
    fn spec(&self) -> &ModuleSpec {
        &self.spec
    }

    /// The homepage (shared with the tech stack) plus, at most, a Wikidata search, the
    /// candidates' entities and their labels.
    fn expected_calls(&self) -> Vec<ExpectedCall> {
        vec![
            ExpectedCall::per_domain("homepage", "/"),
            ExpectedCall::per_domain("wikidata", "search"),
            ExpectedCall::per_domain("wikidata", "entities"),
            ExpectedCall::per_domain("wikidata", "labels"),
        ]
    }

    async fn run(&self, ctx: &ModuleContext) -> Result<ModuleOutput, ModuleError> {
        let domain = ctx.domain.as_str().to_string();
        let call = Call::get("homepage", "/")
            .for_domain(domain.clone())
            .by_module(ID);
        let page = ctx.gateway.fetch(&call).await?;
        let base = Url::parse(&page.url).ok();
        let facts = html::analyze(&page.text(), base.as_ref());
        let home = Citation::from_response(&page, &[]);

        let mut out = ModuleOutput::new();
        let mut notes: Vec<(String, Citation)> = Vec::new();
        let name = company_name(&facts, &ctx.domain);
        let org = facts.organization.clone().unwrap_or_default();

        out.set("name", name.as_ref().map(|(n, _)| n.clone()), &home);
        out.set("name_source", name.as_ref().map(|(_, s)| *s), &home);
        out.set("title", facts.title.clone(), &home);
        let description = facts
            .meta_description
            .clone()
            .or_else(|| facts.open_graph.get("og:description").cloned())
            .or_else(|| org.description.clone());
        out.set("description", description, &home);
        out.set("legal_name", org.legal_name.clone(), &home);
        out.set(
            "logo",
            org.logo
                .clone()
                .or_else(|| facts.open_graph.get("og:image").cloned()),
            &home,
        );
        out.set("social_profiles", org.same_as.clone(), &home);
        out.set("address", to_value(&org.address), &home);
        out.set("founding_date", org.founding_date.clone(), &home);
        out.set("open_graph", to_value(&facts.open_graph), &home);
        out.set("feeds", to_value(&facts.feeds), &home);
        if facts.json_ld_invalid > 0 {
            notes.push((
                format!(
                    "{} JSON-LD block(s) on the homepage are not valid JSON and were ignored",
                    facts.json_ld_invalid
                ),
                home.clone(),
            ));
        }

        // Wikidata, best-effort.
        let wikidata = match &name {
            None => {
                notes.push((
                    "no company name on the homepage (no JSON-LD, og:site_name or title): Wikidata not searched".into(),
                    home.clone(),
                ));
                None
            }
            Some(_) if !ctx.gateway.has_provider("wikidata") => {
                notes.push((
                    "Wikidata not searched: provider \"wikidata\" is not configured".into(),
                    Citation::config("providers.wikidata", &[]),
                ));
                None
            }
            Some((n, _)) => match wikidata_lookup(ctx, n).await {
                Ok(found) => Some(found),
                Err((note, cite)) => {
                    notes.push((note, cite));
                    None
                }
            },
        };

        let mut founded: Option<(i64, &str, Citation)> = org
            .founding_date
            .as_deref()
            .and_then(year_of)
            .map(|y| (y, "homepage json-ld", home.clone()));
        match wikidata {
            Some(m) => {
                if founded.is_none() {
                    if let Some(y) = m.data.get("founded_year").and_then(Value::as_i64) {
                        founded = Some((y, "wikidata", m.entity_cite.clone()));
                    }
                }
                out.set("wikidata", Value::Object(m.data), &m.entity_cite);
                if let Some(lc) = &m.labels_cite {
                    for p in [
                        "/wikidata/industries",
                        "/wikidata/headquarters",
                        "/wikidata/stock_exchanges",
                    ] {
                        cover(&mut out, lc, p);
                    }
                }
                notes.extend(m.notes);
            }
            None => {
                let cite = notes
                    .last()
                    .map(|(_, c)| c.clone())
                    .unwrap_or_else(|| home.clone());
                out.set("wikidata", Value::Null, &cite);
            }
        }
        match founded {
            Some((y, src, c)) => {
                out.set("founded_year", y, &c);
                out.set("founded_year_source", src, &c);
            }
            None => {
                out.set("founded_year", Value::Null, &home);
                out.set("founded_year_source", Value::Null, &home);
            }
        }

        let texts: Vec<String> = notes.iter().map(|(t, _)| t.clone()).collect();
        out.set("notes", texts, &home);
        for (_, c) in &notes {
            cover(&mut out, c, "/notes");
        }
        Ok(out)
    }
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// A Wikidata entity accepted for this domain.
struct WikidataMatch {
    data: Map<String, Value>,
    entity_cite: Citation,
    labels_cite: Option<Citation>,
    notes: Vec<(String, Citation)>,
}

type Note = (String, Citation);

async fn fetch_json(
    ctx: &ModuleContext,
    call: &Call,
    what: &str,
) -> Result<(Response, Value), Note> {
    let resp = ctx
        .gateway
        .fetch(call)
        .await
        .map_err(|e| (format!("Wikidata {what} failed: {e}"), attempted(ctx, call)))?;
    let v: Value = resp.json().map_err(|e| {
        (
            format!("Wikidata {what} returned an unusable answer: {e}"),
            Citation::from_response(&resp, &[]),
        )
    })?;
    Ok((resp, v))
}

fn wd_call(ctx: &ModuleContext) -> Call {
    Call::get("wikidata", "/w/api.php")
        .for_domain(ctx.domain.as_str())
        .by_module(ID)
}

/// Searches Wikidata by name and accepts the first candidate whose official website (P856) is
/// on the domain being enriched. `Err` carries the note explaining why there is no match (no
/// hit, no hit on this domain, provider failure, unusable answer) and the source it refers to.
async fn wikidata_lookup(ctx: &ModuleContext, name: &str) -> Result<WikidataMatch, Note> {
    let search = wd_call(ctx)
        .query("action", "wbsearchentities")
        .query("search", name)
        .query("language", "en")
        .query("type", "item")
        .query("limit", "7")
        .query("format", "json");
    let (resp, v) = fetch_json(ctx, &search, "search").await?;
    let ids = search_ids(&v).map_err(|e| (e, Citation::from_response(&resp, &[])))?;
    let ids: Vec<String> = ids.into_iter().take(MAX_CANDIDATES).collect();
    if ids.is_empty() {
        return Err((
            format!("no Wikidata entity found for {name:?}"),
            Citation::from_response(&resp, &[]),
        ));
    }
    let get = wd_call(ctx)
        .query("action", "wbgetentities")
        .query("ids", ids.join("|"))
        .query("props", "labels|descriptions|claims")
        .query("languages", "en")
        .query("format", "json");
    let (eresp, ev) = fetch_json(ctx, &get, "entity lookup").await?;
    let entity_cite = Citation::from_response(&eresp, &[]);
    let Some(entity) = ids.iter().find_map(|id| {
        let e = ev.get("entities")?.get(id)?;
        official_websites(e)
            .iter()
            .any(|w| Domain::parse(w).is_ok_and(|d| d == ctx.domain))
            .then_some(e)
    }) else {
        return Err((
            format!(
                "none of the {} Wikidata result(s) for {name:?} lists an official website (P856) on {}",
                ids.len(),
                ctx.domain
            ),
            entity_cite,
        ));
    };
    let mut parsed = parse_entity(entity);
    let mut notes = Vec::new();
    let mut labels_cite = None;
    let refs = parsed.referenced_ids();
    if !refs.is_empty() {
        let lcall = wd_call(ctx)
            .query("action", "wbgetentities")
            .query("ids", refs.join("|"))
            .query("props", "labels")
            .query("languages", "en")
            .query("format", "json");
        match fetch_json(ctx, &lcall, "label lookup").await {
            Ok((lresp, lv)) => {
                parsed.apply_labels(&lv);
                labels_cite = Some(Citation::from_response(&lresp, &[]));
            }
            Err(note) => notes.push(note),
        }
    }
    Ok(WikidataMatch {
        data: parsed.to_json(),
        entity_cite,
        labels_cite,
        notes,
    })
}

/// Ids of a `wbsearchentities` answer, in rank order.
pub(crate) fn search_ids(v: &Value) -> Result<Vec<String>, String> {
    if let Some(err) = v.get("error") {
        return Err(format!("Wikidata search answered an error: {err}"));
    }
    let hits = v
        .get("search")
        .and_then(Value::as_array)
        .ok_or_else(|| "Wikidata search answer has no \"search\" list".to_string())?;
    Ok(hits
        .iter()
        .filter_map(|h| h.get("id").and_then(Value::as_str))
        .filter(|id| id.starts_with('Q'))
        .map(str::to_string)
        .collect())
}

/// Statements of `prop`, best rank first, deprecated ones dropped.
fn statements<'a>(entity: &'a Value, prop: &str) -> Vec<&'a Value> {
    let mut v: Vec<&Value> = entity
        .get("claims")
        .and_then(|c| c.get(prop))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|s| s.get("rank").and_then(Value::as_str) != Some("deprecated"))
                .collect()
        })
        .unwrap_or_default();
    v.sort_by_key(|s| s.get("rank").and_then(Value::as_str) != Some("preferred"));
    v
}

fn datavalue(snak: &Value) -> Option<&Value> {
    if snak.get("snaktype").and_then(Value::as_str) != Some("value") {
        return None;
    }
    snak.get("datavalue")?.get("value")
}

fn main_value(stmt: &Value) -> Option<&Value> {
    datavalue(stmt.get("mainsnak")?)
}

fn qualifier<'a>(stmt: &'a Value, prop: &str) -> Option<&'a Value> {
    stmt.get("qualifiers")?
        .get(prop)?
        .as_array()?
        .iter()
        .find_map(datavalue)
}

fn item_id(v: &Value) -> Option<String> {
    v.get("id").and_then(Value::as_str).map(str::to_string)
}

/// A Wikidata time value as `YYYY`, `YYYY-MM` or `YYYY-MM-DD` according to its precision.
pub(crate) fn wikidata_time(v: &Value) -> Option<String> {
    let t = v.get("time")?.as_str()?;
    let precision = v.get("precision").and_then(Value::as_u64).unwrap_or(11);
    let body = t.strip_prefix('+')?;
    let date = body.split('T').next()?;
    let mut parts = date.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if y.len() != 4 || !y.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(match precision {
        0..=9 => y.to_string(),
        10 => format!("{y}-{m}"),
        _ => format!("{y}-{m}-{d}"),
    })
}

/// P856 values of an entity.
pub(crate) fn official_websites(entity: &Value) -> Vec<String> {
    statements(entity, "P856")
        .into_iter()
        .filter_map(|s| main_value(s)?.as_str().map(str::to_string))
        .collect()
}

/// The facts kept from one Wikidata entity.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Entity {
    pub id: String,
    pub label: Option<String>,
    pub description: Option<String>,
    pub official_website: Option<String>,
    pub inception: Option<String>,
    pub employees: Option<(i64, Option<String>)>,
    pub industries: Vec<(String, Option<String>)>,
    pub headquarters: Option<(String, Option<String>)>,
    /// (exchange id, label, ticker)
    pub exchanges: Vec<(String, Option<String>, Option<String>)>,
}

fn en_text(entity: &Value, field: &str) -> Option<String> {
    entity
        .get(field)?
        .get("en")?
        .get("value")?
        .as_str()
        .map(str::to_string)
}

/// Reads the claims M01 reports from a `wbgetentities` entity.
pub(crate) fn parse_entity(e: &Value) -> Entity {
    let employees = statements(e, "P1128")
        .into_iter()
        .filter_map(|s| {
            let amount = main_value(s)?.get("amount")?.as_str()?;
            let n = amount
                .trim_start_matches('+')
                .split('.')
                .next()?
                .parse::<i64>()
                .ok()?;
            let as_of = qualifier(s, "P585").and_then(wikidata_time);
            Some((
                n,
                as_of,
                s.get("rank").and_then(Value::as_str) == Some("preferred"),
            ))
        })
        // Preferred rank wins; otherwise the most recent point in time.
        .max_by(|a, b| (a.2, &a.1).cmp(&(b.2, &b.1)))
        .map(|(n, as_of, _)| (n, as_of));
    Entity {
        id: e
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        label: en_text(e, "labels"),
        description: en_text(e, "descriptions"),
        official_website: official_websites(e).into_iter().next(),
        inception: statements(e, "P571")
            .into_iter()
            .find_map(|s| wikidata_time(main_value(s)?)),
        employees,
        industries: statements(e, "P452")
            .into_iter()
            .filter_map(|s| item_id(main_value(s)?))
            .map(|id| (id, None))
            .collect(),
        headquarters: statements(e, "P159")
            .into_iter()
            .find_map(|s| item_id(main_value(s)?))
            .map(|id| (id, None)),
        exchanges: statements(e, "P414")
            .into_iter()
            .filter_map(|s| {
                let id = item_id(main_value(s)?)?;
                let ticker = qualifier(s, "P249")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                Some((id, None, ticker))
            })
            .collect(),
    }
}

impl Entity {
    /// Item ids whose labels are worth one more call (HQ, industries, exchanges), deduplicated.
    pub(crate) fn referenced_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        let all = self
            .headquarters
            .iter()
            .map(|(i, _)| i)
            .chain(self.industries.iter().map(|(i, _)| i))
            .chain(self.exchanges.iter().map(|(i, _, _)| i));
        for id in all {
            if !ids.contains(id) {
                ids.push(id.clone());
            }
        }
        ids
    }

    /// Fills labels from a `wbgetentities&props=labels` answer.
    pub(crate) fn apply_labels(&mut self, v: &Value) {
        let label = |id: &str| {
            v.get("entities")
                .and_then(|e| e.get(id))
                .and_then(|e| en_text(e, "labels"))
        };
        for (id, l) in self.industries.iter_mut() {
            *l = label(id);
        }
        if let Some((id, l)) = self.headquarters.as_mut() {
            *l = label(id);
        }
        for (id, l, _) in self.exchanges.iter_mut() {
            *l = label(id);
        }
    }

    pub(crate) fn to_json(&self) -> Map<String, Value> {
        let founded_year = self.inception.as_deref().and_then(year_of);
        let v = json!({
            "id": self.id,
            "url": format!("https://www.wikidata.org/wiki/{}", self.id),
            "label": self.label,
            "description": self.description,
            "official_website": self.official_website,
            "inception": self.inception,
            "founded_year": founded_year,
            "employees": self.employees.as_ref().map(|(n, as_of)| json!({"count": n, "as_of": as_of})),
            "industries": self.industries.iter().map(|(id, l)| json!({"id": id, "label": l})).collect::<Vec<_>>(),
            "headquarters": self.headquarters.as_ref().map(|(id, l)| json!({"id": id, "label": l})),
            "stock_exchanges": self.exchanges.iter().map(|(id, l, t)| json!({"id": id, "label": l, "ticker": t})).collect::<Vec<_>>(),
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_json(rel: &str) -> Value {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures")
            .join(rel);
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        serde_json::from_str(&text).unwrap()
    }

    fn domain(s: &str) -> Domain {
        serde_json::from_value(json!(s)).unwrap()
    }

    #[test]
    fn title_segment_that_names_the_company() {
        let d = domain("blueharbor-health.com");
        assert_eq!(
            name_from_title("Home | Blue Harbor Health", &d),
            "Blue Harbor Health"
        );
        assert_eq!(
            name_from_title("Blue Harbor Health", &d),
            "Blue Harbor Health"
        );
        let d = domain("acme.com");
        assert_eq!(
            name_from_title("Welcome - Rockets & more – ACME", &d),
            "ACME"
        );
        assert_eq!(
            name_from_title("Totally unrelated | Other", &d),
            "Totally unrelated"
        );
    }

    #[test]
    fn search_answer_parsing() {
        let v = fixture_json("epoch1/wikidata/search-techstart.json");
        assert_eq!(search_ids(&v).unwrap(), vec!["Q130000005", "Q130000001"]);
        let v = fixture_json("epoch1/wikidata/search-blueharbor.json");
        assert!(search_ids(&v).unwrap().is_empty());
        assert!(search_ids(&json!({"error": {"code": "badvalue"}})).is_err());
        assert!(search_ids(&json!({"unexpected": true})).is_err());
    }

    #[test]
    fn techstart_entity_parsing() {
        let v = fixture_json("epoch1/wikidata/entities-techstart.json");
        let other = &v["entities"]["Q130000005"];
        assert_eq!(
            official_websites(other),
            vec!["https://www.techstart.com.br/"]
        );
        let e = parse_entity(&v["entities"]["Q130000001"]);
        assert_eq!(e.id, "Q130000001");
        assert_eq!(e.label.as_deref(), Some("TechStart Inc"));
        assert_eq!(e.official_website.as_deref(), Some("https://techstart.io"));
        assert_eq!(e.inception.as_deref(), Some("2017"));
        assert_eq!(e.employees, Some((240, Some("2024".into()))));
        assert_eq!(e.industries, vec![("Q638608".to_string(), None)]);
        assert_eq!(e.referenced_ids(), vec!["Q62", "Q638608"]);
        let mut e = e;
        e.apply_labels(&fixture_json("epoch1/wikidata/labels-techstart.json"));
        assert_eq!(
            e.headquarters,
            Some(("Q62".into(), Some("San Francisco".into())))
        );
        let j = e.to_json();
        assert_eq!(j["founded_year"], 2017);
        assert_eq!(j["url"], "https://www.wikidata.org/wiki/Q130000001");
        assert_eq!(j["industries"][0]["label"], "software industry");
    }

    #[test]
    fn northwind_listing_and_precise_inception() {
        let v = fixture_json("epoch1/wikidata/entities-northwind.json");
        let e = parse_entity(&v["entities"]["Q130000002"]);
        assert_eq!(e.inception.as_deref(), Some("1986-04-14"));
        assert_eq!(
            e.exchanges,
            vec![("Q13677".into(), None, Some("NWRC".into()))]
        );
        assert_eq!(e.industries.len(), 2);
        assert_eq!(e.employees.map(|x| x.0), Some(18200));
    }

    #[test]
    fn time_values() {
        let t = |s: &str, p: u64| wikidata_time(&json!({"time": s, "precision": p}));
        assert_eq!(t("+2017-00-00T00:00:00Z", 9).as_deref(), Some("2017"));
        assert_eq!(t("+2017-04-00T00:00:00Z", 10).as_deref(), Some("2017-04"));
        assert_eq!(
            t("+2017-04-14T00:00:00Z", 11).as_deref(),
            Some("2017-04-14")
        );
        assert_eq!(t("-0500-00-00T00:00:00Z", 9), None);
        assert_eq!(wikidata_time(&json!("garbage")), None);
    }

    #[test]
    fn deprecated_statements_are_ignored() {
        let e = json!({"id": "Q1", "claims": {"P856": [
            {"rank": "deprecated", "mainsnak": {"snaktype": "value", "datavalue": {"value": "https://old.example"}}},
            {"rank": "normal", "mainsnak": {"snaktype": "novalue"}},
            {"rank": "normal", "mainsnak": {"snaktype": "value", "datavalue": {"value": "https://new.example"}}}
        ]}});
        assert_eq!(official_websites(&e), vec!["https://new.example"]);
    }
}
