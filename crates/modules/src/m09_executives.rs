//! M09 executives: the leadership team's names and titles. Schema.org `Person` entries in the
//! JSON-LD of the company's about/team page (linked from the homepage, else `/about`, `/team`,
//! `/company` are tried), Wikidata (CEO P169, chairperson P488, director/manager P1037; ended
//! statements dropped), and, for SEC filers, the 8-K filings that report officer changes
//! (item 5.02) from M04.
//!
//! No team page and no Wikidata entity is a normal answer (an empty list with notes). When a
//! source that answered last time fails now, the people it gave last time are kept (with a
//! note), so that an outage never looks like the whole team leaving.

use crate::clients::cite::{attempted, cover};
use crate::clients::site::{fetch_site_page, page_links, rank_leadership_pages, site_url};
use crate::clients::wikidata::{self, claim_items, m01_wikidata_id, WdError};
use crate::m07_strategic_triggers::{set_cited_set, with_tagged_sources};
use async_trait::async_trait;
use pforge_core::{
    Citation, Module, ModuleContext, ModuleError, ModuleOutput, ModuleSpec, SetArray,
};
use scraper::Html;
use serde_json::{json, Value};

const ID: &str = "m09_executives";
const M01: &str = "m01_company_context";
const M04: &str = "m04_financials";
/// Team-page candidates fetched at most.
const MAX_PAGES: usize = 4;
const DEFAULT_PAGES: &[&str] = &["/about", "/team", "/company"];
/// Wikidata properties read, with the title they give.
const ROLES: &[(&str, &str)] = &[
    ("P169", "CEO"),
    ("P488", "Chairperson"),
    ("P1037", "Director/Manager"),
];

/// The executives module (`m09_executives`).
pub struct Executives {
    spec: ModuleSpec,
}

impl Executives {
    /// Builds the module; it needs no configuration.
    pub fn new() -> Self {
        Executives {
            spec: ModuleSpec {
                id: ID.into(),
                title: "Executives".into(),
                dependencies: vec![M01.into(), M04.into()],
                providers: vec!["homepage".into(), "wikidata".into()],
                runs_degraded: true,
                set_arrays: vec![
                    SetArray::keyed("/executives", "name"),
                    SetArray::scalars("/executives/*/sources"),
                    SetArray::keyed("/leadership_filings", "accession_number"),
                    SetArray::scalars("/notes"),
                ],
            },
        }
    }
}

impl Default for Executives {
    fn default() -> Self {
        Self::new()
    }
}

/// A person found in some source.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Person {
    pub name: String,
    pub title: Option<String>,
    pub linkedin: Option<String>,
}

fn is_person(node: &serde_json::Map<String, Value>) -> bool {
    match node.get("@type") {
        Some(Value::String(s)) => s.rsplit(['/', ':']).next() == Some("Person"),
        Some(Value::Array(a)) => a
            .iter()
            .any(|t| t.as_str().and_then(|s| s.rsplit(['/', ':']).next()) == Some("Person")),
        _ => false,
    }
}

fn clean(s: &str) -> Option<String> {
    let t = crate::html::decode_entities(s)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    (!t.is_empty()).then_some(t)
}

fn walk(v: &Value, out: &mut Vec<Person>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
        Value::Object(m) => {
            if is_person(m) {
                if let Some(name) = m.get("name").and_then(Value::as_str).and_then(clean) {
                    let title = m
                        .get("jobTitle")
                        .and_then(|t| match t {
                            Value::String(s) => Some(s.as_str()),
                            Value::Array(a) => a.iter().find_map(Value::as_str),
                            Value::Object(o) => o.get("name").and_then(Value::as_str),
                            _ => None,
                        })
                        .and_then(clean);
                    let same_as: Vec<&str> = match m.get("sameAs") {
                        Some(Value::String(s)) => vec![s.as_str()],
                        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
                        _ => Vec::new(),
                    };
                    let linkedin = same_as
                        .into_iter()
                        .find(|s| s.contains("linkedin.com/"))
                        .map(str::to_string);
                    if !out.iter().any(|p| norm(&p.name) == norm(&name)) {
                        out.push(Person {
                            name,
                            title,
                            linkedin,
                        });
                    }
                }
            }
            m.values().for_each(|x| walk(x, out));
        }
        _ => {}
    }
}

/// Every named schema.org `Person` in a page's JSON-LD, at any depth (an Organization's
/// `employee`/`founder`, an ItemList, `@graph`, ...), deduplicated by name.
pub(crate) fn persons_from_html(html: &str) -> Vec<Person> {
    let doc = Html::parse_document(html);
    let (nodes, _) = crate::html::json_ld(&doc);
    let mut out = Vec::new();
    for n in &nodes {
        walk(n, &mut out);
    }
    out
}

fn norm(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Adds or merges a person into the executives list (by normalized name). The first title
/// seen wins (team pages are read first: they are more specific than a Wikidata role).
fn merge(list: &mut Vec<Value>, p: &Person, source: &str, wikidata_id: Option<&str>) {
    let key = norm(&p.name);
    if let Some(e) = list
        .iter_mut()
        .find(|v| v.get("name").and_then(Value::as_str).map(norm) == Some(key.clone()))
    {
        if let Some(s) = e.get_mut("sources").and_then(Value::as_array_mut) {
            if !s.iter().any(|x| x == source) {
                s.push(json!(source));
            }
        }
        if let Some(o) = e.as_object_mut() {
            for (k, v) in [
                ("title", json!(p.title)),
                ("linkedin", json!(p.linkedin)),
                ("wikidata_id", json!(wikidata_id)),
            ] {
                if o.get(k).is_none_or(Value::is_null) {
                    o.insert(k.into(), v);
                }
            }
        }
        return;
    }
    list.push(json!({
        "name": p.name,
        "title": p.title,
        "linkedin": p.linkedin,
        "wikidata_id": wikidata_id,
        "sources": [source],
    }));
}

/// The previous version's executives that came from `source` (kept when that source fails).
fn carried(prev: Option<&Value>, source: &str) -> Vec<Value> {
    prev.and_then(|p| p.get("executives"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|e| {
                    e.get("sources")
                        .and_then(Value::as_array)
                        .is_some_and(|s| s.iter().any(|x| x == source))
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

fn person_of(v: &Value) -> Option<Person> {
    Some(Person {
        name: v.get("name")?.as_str()?.to_string(),
        title: v.get("title").and_then(Value::as_str).map(str::to_string),
        linkedin: v
            .get("linkedin")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// 8-K filings reporting officer/director changes (item 5.02), from M04's filing list.
fn leadership_filings(m04: &Value) -> Vec<Value> {
    m04.get("filings")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|f| {
                    f.get("form")
                        .and_then(Value::as_str)
                        .is_some_and(|x| x.starts_with("8-K"))
                        && f.get("items")
                            .and_then(Value::as_array)
                            .is_some_and(|i| i.iter().any(|x| x == "5.02"))
                })
                .map(|f| {
                    json!({
                        "accession_number": f.get("accession_number"),
                        "filing_date": f.get("filing_date"),
                        "url": f.get("url"),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

#[async_trait]
impl Module for Executives {
    fn spec(&self) -> &ModuleSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ModuleContext) -> Result<ModuleOutput, ModuleError> {
        let domain = ctx.domain.as_str().to_string();
        let mut execs: Vec<Value> = Vec::new();
        let mut cites: Vec<Citation> = Vec::new();
        // Citations per source tag, so each executive cites where it came from.
        let mut by_source: std::collections::BTreeMap<&str, Vec<Citation>> = Default::default();
        let mut notes: Vec<(String, Citation)> = Vec::new();

        // 1. Team page.
        let mut candidates: Vec<String> = Vec::new();
        match fetch_site_page(ctx, ID, "/").await {
            Ok(page) => {
                if let Some(base) = site_url(&domain, "/") {
                    for l in page_links(&page.text(), &base) {
                        let host = l.url.host_str().unwrap_or_default().to_ascii_lowercase();
                        if host != domain && host.strip_prefix("www.") != Some(domain.as_str()) {
                            continue;
                        }
                        let path = l.url.path().to_string();
                        if !candidates.contains(&path) {
                            candidates.push(path);
                        }
                    }
                }
            }
            Err((e, call)) => notes.push((
                format!("homepage unavailable ({e}): team-page links not read"),
                attempted(ctx, &call),
            )),
        }
        // About, team, leadership and company pages first, deep links that merely mention a
        // team (`/products/team/`) last.
        let candidates = rank_leadership_pages(&candidates, DEFAULT_PAGES);
        let mut team_page: Option<String> = None;
        let mut tried: Vec<String> = Vec::new();
        let mut team_failed = false;
        for path in candidates.iter().take(MAX_PAGES) {
            tried.push(path.clone());
            match fetch_site_page(ctx, ID, path).await {
                Ok(page) => {
                    let people = persons_from_html(&page.text());
                    if people.is_empty() {
                        continue;
                    }
                    let c = Citation::from_response(&page, &[]);
                    for p in &people {
                        merge(&mut execs, p, "team_page", None);
                    }
                    team_page = Some(path.clone());
                    by_source.entry("team_page").or_default().push(c.clone());
                    cites.push(c);
                    break;
                }
                Err((e, _)) if e.status() == Some(404) => {}
                Err((e, call)) => {
                    team_failed = true;
                    notes.push((
                        format!("team page {path} unavailable: {e}"),
                        attempted(ctx, &call),
                    ));
                }
            }
        }
        if team_page.is_none() {
            let kept = if team_failed {
                carried(ctx.previous(), "team_page")
            } else {
                Vec::new()
            };
            if !kept.is_empty() {
                by_source
                    .entry("team_page")
                    .or_default()
                    .push(Citation::derived(ID, &[]));
                for v in &kept {
                    if let Some(p) = person_of(v) {
                        merge(&mut execs, &p, "team_page", None);
                    }
                }
                notes.push((
                    format!(
                        "kept {} team-page executive(s) from the previous version",
                        kept.len()
                    ),
                    Citation::derived(ID, &[]),
                ));
            } else {
                notes.push((
                    format!(
                        "no team page with schema.org Person data (tried {})",
                        tried.join(", ")
                    ),
                    Citation::config("providers.homepage", &[]),
                ));
            }
        }

        // 2. Wikidata.
        let m01 = ctx.dependency(M01).map(|o| o.data.clone());
        match m01.as_ref().and_then(m01_wikidata_id) {
            None => notes.push((
                if m01.is_some() {
                    "no Wikidata entity for this company: no Wikidata roles".to_string()
                } else {
                    "company context unavailable: Wikidata not read".to_string()
                },
                Citation::derived(M01, &[]),
            )),
            Some(_) if !ctx.gateway.has_provider("wikidata") => notes.push((
                "Wikidata not read: provider \"wikidata\" is not configured".into(),
                Citation::config("providers.wikidata", &[]),
            )),
            Some(qid) => {
                match wikidata_people(ctx, &qid).await {
                    Ok((people, wc)) => {
                        for (p, id) in &people {
                            merge(&mut execs, p, "wikidata", Some(id));
                        }
                        by_source
                            .entry("wikidata")
                            .or_default()
                            .extend(wc.iter().cloned());
                        cites.extend(wc);
                    }
                    Err(e) => {
                        let kept = carried(ctx.previous(), "wikidata");
                        by_source
                            .entry("wikidata")
                            .or_default()
                            .push(Citation::derived(ID, &[]));
                        for v in &kept {
                            if let Some(p) = person_of(v) {
                                let id = v.get("wikidata_id").and_then(Value::as_str);
                                merge(&mut execs, &p, "wikidata", id);
                            }
                        }
                        let (msg, c) = match e {
                            WdError::Gateway(e, c) => (e.to_string(), c),
                            WdError::Unusable(d, c) => (d, c),
                        };
                        notes.push((
                        format!("Wikidata roles unavailable ({msg}); kept {} from the previous version", kept.len()),
                        c,
                    ));
                    }
                }
            }
        }

        // 3. SEC officer-change filings.
        let filings = match ctx.dependency(M04) {
            Some(o) => leadership_filings(&o.data),
            None => {
                notes.push((
                    "financials unavailable: SEC officer-change filings not read".into(),
                    Citation::derived(M04, &[]),
                ));
                Vec::new()
            }
        };

        let mut out = ModuleOutput::new();
        let first = cites
            .first()
            .cloned()
            .or_else(|| notes.first().map(|(_, c)| c.clone()))
            .unwrap_or_else(|| Citation::derived(ID, &[]));
        let cited = with_tagged_sources(execs, &by_source);
        set_cited_set(&mut out, "executives", "name", cited, &first);
        out.set("team_page", team_page, &first);
        out.set("leadership_filings", filings, &Citation::derived(M04, &[]));
        let texts: Vec<String> = notes.iter().map(|(t, _)| t.clone()).collect();
        out.set("notes", texts, &first);
        for (_, c) in &notes {
            cover(&mut out, c, "/notes");
        }
        Ok(out)
    }
}

/// Current holders of the roles in [`ROLES`], with their Wikidata ids, and the citations.
async fn wikidata_people(
    ctx: &ModuleContext,
    qid: &str,
) -> Result<(Vec<(Person, String)>, Vec<Citation>), WdError> {
    let (resp, entity) = wikidata::entity(ctx, ID, qid).await?;
    let mut cites = vec![Citation::from_response(&resp, &[])];
    let mut roles: Vec<(String, &str)> = Vec::new();
    for (prop, title) in ROLES {
        for c in claim_items(&entity, prop) {
            if c.end.is_none() {
                roles.push((c.id, title));
            }
        }
    }
    let ids: Vec<String> = roles.iter().map(|(id, _)| id.clone()).collect();
    let labels = match wikidata::labels(ctx, ID, &ids).await? {
        Some((lresp, l)) => {
            cites.push(Citation::from_response(&lresp, &[]));
            l
        }
        None => Default::default(),
    };
    let people = roles
        .into_iter()
        .filter_map(|(id, title)| {
            // A person without an English label has no name to report.
            let name = labels.get(&id)?.clone();
            Some((
                Person {
                    name,
                    title: Some(title.to_string()),
                    linkedin: None,
                },
                id,
            ))
        })
        .collect();
    Ok((people, cites))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(rel: &str) -> String {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures")
            .join(rel);
        std::fs::read_to_string(p).unwrap()
    }

    #[test]
    fn persons_in_team_pages() {
        let p = persons_from_html(&fixture("epoch2/homepage/techstart.io/about.html"));
        assert_eq!(p.len(), 4);
        assert_eq!(p[0].name, "Maya Chen");
        assert_eq!(p[0].title.as_deref(), Some("Co-founder & CEO"));
        assert_eq!(
            p[0].linkedin.as_deref(),
            Some("https://www.linkedin.com/in/mayachen")
        );
        assert_eq!(p[3].title.as_deref(), Some("Chief Technology Officer"));
        // Nested in an @graph Organization's employee list.
        let p = persons_from_html(&fixture(
            "epoch1/homepage/initech-software.com/company.html",
        ));
        assert_eq!(
            p.iter().map(|x| x.name.as_str()).collect::<Vec<_>>(),
            vec!["Margaret Bolton", "Peter Gibbons", "Joanna Lee"]
        );
        // Trailing commas repaired, the nameless Person dropped, sameAs as a plain string.
        let p = persons_from_html(&fixture("epoch1/homepage/quantumleaf.ai/company.html"));
        assert_eq!(p.len(), 2);
        assert_eq!(
            p[1].linkedin.as_deref(),
            Some("https://www.linkedin.com/in/kwatanabe")
        );
    }

    #[test]
    fn odd_pages_give_no_people() {
        assert!(persons_from_html("").is_empty());
        assert!(persons_from_html("<html><body><h1>Team</h1><p>Jane Doe, CEO").is_empty());
        assert!(
            persons_from_html(r#"<script type="application/ld+json">{not json</script>"#)
                .is_empty()
        );
        let p = persons_from_html(
            r#"<script type="application/ld+json">[{"@type":["Person"],"name":"  A &amp; B  ","jobTitle":["CFO"]},{"@type":"Person","name":""},{"@type":"Person","name":"a & b"}]</script>"#,
        );
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].name, "A & B");
        assert_eq!(p[0].title.as_deref(), Some("CFO"));
    }

    #[test]
    fn merging_and_carry_over() {
        let mut l = Vec::new();
        let maya = Person {
            name: "Maya Chen".into(),
            title: Some("Co-founder & CEO".into()),
            linkedin: None,
        };
        merge(&mut l, &maya, "team_page", None);
        let wd = Person {
            name: "Maya  Chen".into(),
            title: Some("CEO".into()),
            linkedin: None,
        };
        merge(&mut l, &wd, "wikidata", Some("Q130000041"));
        assert_eq!(l.len(), 1);
        assert_eq!(l[0]["title"], "Co-founder & CEO");
        assert_eq!(l[0]["wikidata_id"], "Q130000041");
        assert_eq!(l[0]["sources"], json!(["team_page", "wikidata"]));
        let prev = json!({"executives": l});
        assert_eq!(carried(Some(&prev), "wikidata").len(), 1);
        assert!(carried(Some(&prev), "other").is_empty());
        assert!(carried(Some(&json!({"executives": 3})), "wikidata").is_empty());
        assert!(carried(None, "wikidata").is_empty());
    }

    #[test]
    fn officer_change_filings() {
        let m04 = json!({"filings": [
            {"form": "8-K", "accession_number": "a", "items": ["5.02", "7.01"], "filing_date": "2025-03-04", "url": "u"},
            {"form": "8-K", "accession_number": "b", "items": ["2.02"]},
            {"form": "10-K", "accession_number": "c", "items": []},
            {"form": "8-K", "accession_number": "d"}
        ]});
        let f = leadership_filings(&m04);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0]["accession_number"], "a");
        assert!(leadership_filings(&json!({"sec_filer": false})).is_empty());
    }
}
