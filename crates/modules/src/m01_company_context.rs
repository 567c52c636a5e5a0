//! M01 company context: who the company says it is (homepage title, description, Open Graph,
//! JSON-LD Organization) and, when Wikidata has an entity whose official website is on this
//! domain, what Wikidata knows (inception, employees, industries, headquarters, listing).
//!
//! The homepage is required (its failure is the module's error); Wikidata is best-effort: a
//! failure or no match gives `wikidata: null` plus a note, never an error.

use crate::clients::cite::cover;
use crate::clients::wikidata::{
    self, en_text, item_id, main_value, official_websites, qualifier, statements, wikidata_time,
};
use crate::html::{self, PageFacts};
use crate::resolution::{self, Confidence, EntityLink};
use async_trait::async_trait;
use pforge_budget::Call;
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
                providers: vec![
                    "homepage".into(),
                    wikidata::PROVIDER.into(),
                    wikidata::SPARQL_PROVIDER.into(),
                ],
                runs_degraded: false,
                set_arrays: vec![
                    SetArray::scalars("/social_profiles"),
                    SetArray::keyed("/feeds", "url"),
                    SetArray::keyed("/wikidata/industries", "id"),
                    SetArray::keyed("/wikidata/stock_exchanges", "id"),
                    SetArray::keyed("/entity_links", "key"),
                    SetArray::scalars("/wikidata/official_websites"),
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

    /// The homepage (shared with the tech stack), the query service, then the calls only some
    /// domains make (their shares are policy: `[estimate.shares]`): the name search, the
    /// candidates' entities and their labels, the last two batchable across domains.
    fn expected_calls(&self) -> Vec<ExpectedCall> {
        vec![
            ExpectedCall::per_domain("homepage", "/"),
            ExpectedCall::per_domain(wikidata::SPARQL_PROVIDER, "/sparql"),
            // Only when the query service finds no item by the official website.
            ExpectedCall::per_domain("wikidata", "search").only_for(wikidata::SHARE_NAME_SEARCH),
            // The candidate entity (usually one), then the labels of the headquarters,
            // industry, country and exchange it refers to: items shared across companies.
            ExpectedCall::per_domain("wikidata", "entities")
                .only_for(wikidata::SHARE_ITEM_FOUND)
                .with_items(wikidata::expected_entities(1)),
            ExpectedCall::per_domain("wikidata", "labels")
                .only_for(wikidata::SHARE_ITEM_FOUND)
                .with_items(wikidata::expected_labels(3, wikidata::POOL_FACETS)),
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

        // Wikidata, best-effort: by official website first, then by name.
        let lookup_name = name
            .as_ref()
            .map(|(n, _)| n.clone())
            .or_else(|| ctx.hints().name.clone());
        let wikidata = if lookup_name.is_none()
            && !ctx.gateway.has_provider(wikidata::SPARQL_PROVIDER)
        {
            notes.push((
                "no company name on the homepage (no JSON-LD, og:site_name or title): Wikidata not searched".into(),
                home.clone(),
            ));
            None
        } else if !ctx.gateway.has_provider(wikidata::PROVIDER) {
            notes.push((
                "Wikidata not searched: provider \"wikidata\" is not configured".into(),
                Citation::config("providers.wikidata", &[]),
            ));
            None
        } else {
            match wikidata_lookup(ctx, lookup_name.as_deref()).await {
                Ok(found) => Some(found),
                Err((note, cite)) => {
                    notes.push((note, cite));
                    None
                }
            }
        };
        let mut links: Vec<Value> = Vec::new();
        if let Some(m) = &wikidata {
            links.push(m.link.to_json());
        }
        out.set(
            "entity_links",
            links,
            &wikidata
                .as_ref()
                .map(|m| m.entity_cite.clone())
                .unwrap_or_else(|| home.clone()),
        );
        out.set("employees_on_site", org.number_of_employees, &home);

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
    link: EntityLink,
    notes: Vec<(String, Citation)>,
}

type Note = (String, Citation);

/// Finds the domain's Wikidata item: first the items whose official website (P856) is the
/// domain (the query service), then a search by the company's name, accepting only a candidate
/// whose P856 is on the domain. `Err` carries the note explaining why there is no match (no hit,
/// no hit on this domain, provider failure, unusable answer) and the source it refers to.
async fn wikidata_lookup(ctx: &ModuleContext, name: Option<&str>) -> Result<WikidataMatch, Note> {
    let mut notes: Vec<Note> = Vec::new();
    match wikidata::search_by_official_website(ctx, ID).await {
        Ok(Some((resp, ids))) if !ids.is_empty() => {
            let sparql_cite = Citation::from_response(&resp, &[]);
            let evidence = format!(
                "Wikidata query service: items whose official website (P856) is on {}",
                ctx.domain
            );
            match accept(ctx, &ids, name, "wikidata_official_website", evidence).await {
                Ok(Some(mut m)) => {
                    m.notes.extend(notes);
                    m.notes.push((
                        format!("Wikidata item {} found by its official website", m.link.id),
                        sparql_cite,
                    ));
                    return Ok(m);
                }
                Ok(None) => notes.push((
                    format!(
                        "the Wikidata items the query service gave for {} do not list it as their official website",
                        ctx.domain
                    ),
                    sparql_cite,
                )),
                Err(n) => notes.push(n),
            }
        }
        Ok(Some(_)) | Ok(None) => {}
        Err(e) => notes.push(e.note("search by official website")),
    }
    let Some(name) = name else {
        return Err(notes.pop().unwrap_or_else(|| {
            (
                "no company name on the homepage and no Wikidata item with this official website"
                    .into(),
                Citation::config("providers.wikidata", &[]),
            )
        }));
    };
    let (resp, ids) = wikidata::search_by_name(ctx, ID, name)
        .await
        .map_err(|e| e.note("search"))?;
    let ids: Vec<String> = ids.into_iter().take(MAX_CANDIDATES).collect();
    if ids.is_empty() {
        return Err((
            format!("no Wikidata entity found for {name:?}"),
            Citation::from_response(&resp, &[]),
        ));
    }
    let evidence = format!("Wikidata search for {name:?}, official website (P856) checked");
    match accept(ctx, &ids, Some(name), "wikidata_name_search", evidence).await? {
        Some(m) => Ok(m),
        None => Err((
            format!(
                "none of the {} Wikidata result(s) for {name:?} lists an official website (P856) on {}",
                ids.len(),
                ctx.domain
            ),
            Citation::from_response(&resp, &[]),
        )),
    }
}

/// Fetches the candidates and accepts the one whose official website (P856) is on the domain
/// (several: the one whose label is the company's name, else the oldest item). The match is
/// confirmed: Wikidata itself names the domain.
async fn accept(
    ctx: &ModuleContext,
    ids: &[String],
    name: Option<&str>,
    method: &str,
    evidence: String,
) -> Result<Option<WikidataMatch>, Note> {
    let Some((eresp, entities)) = wikidata::entities(ctx, ID, ids)
        .await
        .map_err(|e| e.note("entity lookup"))?
    else {
        return Ok(None);
    };
    let entity_cite = Citation::from_response(&eresp, &[]);
    let on_domain: Vec<(&String, &Value)> = wikidata::canonical_ids(ids)
        .iter()
        .filter_map(|id| entities.get_key_value(id))
        .filter(|(_, e)| {
            wikidata::official_websites(e)
                .iter()
                .any(|w| Domain::parse(w).is_ok_and(|d| d == ctx.domain))
        })
        .collect();
    let chosen = on_domain
        .iter()
        .find(|(_, e)| {
            let label = wikidata::en_text(e, "labels");
            matches!((name, label), (Some(n), Some(l)) if resolution::same_name(n, &l))
        })
        .or_else(|| on_domain.first());
    let Some((id, entity)) = chosen else {
        return Ok(None);
    };
    let mut parsed = parse_entity(id, entity);
    let mut notes = Vec::new();
    let mut labels_cite = None;
    let refs = parsed.referenced_ids();
    match wikidata::labels(ctx, ID, &refs).await {
        Ok(Some((lresp, labels))) => {
            parsed.apply_labels(&labels);
            labels_cite = Some(Citation::from_response(&lresp, &[]));
        }
        Ok(None) => {}
        Err(e) => notes.push(e.note("label lookup")),
    }
    let mut ev = vec![
        evidence,
        format!(
            "{id} lists {} as its official website (P856)",
            parsed.official_website.as_deref().unwrap_or_default()
        ),
    ];
    if let Some(c) = parsed.ciks.first() {
        ev.push(format!("{id} names SEC CIK {c} (P5531)"));
    }
    let link = EntityLink::new(
        "wikidata_item",
        id.to_string(),
        parsed.label.clone(),
        method,
        ev,
        Confidence::Confirmed,
    );
    Ok(Some(WikidataMatch {
        data: parsed.to_json(&link),
        entity_cite,
        labels_cite,
        link,
        notes,
    }))
}

/// The facts kept from one Wikidata entity.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Entity {
    pub id: String,
    pub label: Option<String>,
    pub description: Option<String>,
    pub official_website: Option<String>,
    pub official_websites: Vec<String>,
    pub inception: Option<String>,
    pub employees: Option<(i64, Option<String>)>,
    pub industries: Vec<(String, Option<String>)>,
    pub headquarters: Option<(String, Option<String>)>,
    /// (exchange id, label, ticker)
    pub exchanges: Vec<(String, Option<String>, Option<String>)>,
    /// SEC CIKs (P5531), ten digits.
    pub ciks: Vec<String>,
}

/// Reads the claims M01 reports from a `wbgetentities` entity. The id is the key the entity
/// was asked (and answered) under, not the body's own `id` field, which an answer restricted by
/// `props=` leaves out.
pub(crate) fn parse_entity(id: &str, e: &Value) -> Entity {
    let websites = official_websites(e);
    Entity {
        id: id.to_string(),
        label: en_text(e, "labels"),
        description: en_text(e, "descriptions"),
        official_website: websites.first().cloned(),
        official_websites: websites,
        inception: statements(e, "P571")
            .into_iter()
            .find_map(|s| wikidata_time(main_value(s)?)),
        employees: wikidata::employees(e),
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
        ciks: wikidata::ciks(e),
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

    /// Fills labels from a labels lookup.
    pub(crate) fn apply_labels(&mut self, labels: &std::collections::BTreeMap<String, String>) {
        let label = |id: &str| labels.get(id).cloned();
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

    pub(crate) fn to_json(&self, link: &EntityLink) -> Map<String, Value> {
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
            "official_websites": self.official_websites,
            "cik": self.ciks.first(),
            "match": {"method": link.method, "evidence": link.evidence, "confidence": link.confidence},
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
        use crate::clients::wikidata::search_ids;
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
        let e = parse_entity("Q130000001", &v["entities"]["Q130000001"]);
        assert_eq!(e.id, "Q130000001");
        assert_eq!(e.label.as_deref(), Some("TechStart Inc"));
        assert_eq!(e.official_website.as_deref(), Some("https://techstart.io"));
        assert_eq!(e.inception.as_deref(), Some("2017"));
        assert_eq!(e.employees, Some((240, Some("2024".into()))));
        assert_eq!(e.industries, vec![("Q638608".to_string(), None)]);
        assert_eq!(e.referenced_ids(), vec!["Q62", "Q638608"]);
        let mut e = e;
        let lv = fixture_json("epoch1/wikidata/labels-techstart.json");
        e.apply_labels(&crate::clients::wikidata::parse_labels(
            &lv,
            &["Q62".into(), "Q638608".into()],
        ));
        assert_eq!(
            e.headquarters,
            Some(("Q62".into(), Some("San Francisco".into())))
        );
        let link = EntityLink::new(
            "wikidata_item",
            "Q130000001",
            None,
            "test",
            vec![],
            Confidence::Confirmed,
        );
        let j = e.to_json(&link);
        assert_eq!(j["match"]["confidence"], "confirmed");
        assert_eq!(j["founded_year"], 2017);
        assert_eq!(j["url"], "https://www.wikidata.org/wiki/Q130000001");
        assert_eq!(j["industries"][0]["label"], "software industry");
    }

    #[test]
    fn the_id_is_the_key_asked_not_the_body_field() {
        let e = json!({"labels": {"en": {"value": "Apple Inc."}}, "claims": {}});
        assert_eq!(parse_entity("Q312", &e).id, "Q312");
    }

    #[test]
    fn northwind_listing_and_precise_inception() {
        let v = fixture_json("epoch1/wikidata/entities-northwind.json");
        let e = parse_entity("Q130000002", &v["entities"]["Q130000002"]);
        assert_eq!(e.inception.as_deref(), Some("1986-04-14"));
        assert_eq!(
            e.exchanges,
            vec![("Q13677".into(), None, Some("NWRC".into()))]
        );
        assert_eq!(e.industries.len(), 2);
        assert_eq!(e.employees.map(|x| x.0), Some(18200));
    }
}
