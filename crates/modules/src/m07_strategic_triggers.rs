//! M07 strategic triggers: events worth a sales call, each with its date and source. SEC 8-K
//! filings with notable items (acquisitions, executive changes, ...) from M04's filing list,
//! funding, launches, acquisitions and leadership news from the company's own RSS/Atom feeds
//! (M01 lists them), and hiring surges from M06's growth.
//!
//! No single source is primary: a missing dependency or an unreadable feed gives a note and
//! the triggers the other sources support.

use crate::clients::cite::{attempted, cover};
use crate::clients::site::{fetch_site_page, same_site_path};
use async_trait::async_trait;
use pforge_core::{
    Citation, Module, ModuleContext, ModuleError, ModuleOutput, ModuleSpec, SetArray,
};
use regex::Regex;
use serde_json::{json, Value};
use std::sync::OnceLock;

const ID: &str = "m07_strategic_triggers";
const M01: &str = "m01_company_context";
const M04: &str = "m04_financials";
const M06: &str = "m06_hiring";
/// Feeds read per domain.
const MAX_FEEDS: usize = 3;
/// Most recent entries looked at per feed.
const MAX_ENTRIES: usize = 20;

/// The strategic-triggers module (`m07_strategic_triggers`).
pub struct StrategicTriggers {
    spec: ModuleSpec,
}

impl StrategicTriggers {
    /// Builds the module; it needs no configuration.
    pub fn new() -> Self {
        StrategicTriggers {
            spec: ModuleSpec {
                id: ID.into(),
                title: "Strategic triggers".into(),
                dependencies: vec![M01.into(), M04.into(), M06.into()],
                providers: vec!["homepage".into()],
                runs_degraded: true,
                set_arrays: vec![
                    SetArray::keyed("/triggers", "id"),
                    SetArray::keyed("/triggers/*/items", "code"),
                    SetArray::scalars("/triggers/*/new_signal_jobs"),
                    SetArray::keyed("/feeds", "url"),
                    SetArray::scalars("/notes"),
                ],
            },
        }
    }
}

impl Default for StrategicTriggers {
    fn default() -> Self {
        Self::new()
    }
}

/// Pairs each element with the citations of the sources it names in its `sources` field (tags
/// such as `"wikidata"` or `"team_page"`, looked up in `by_source`), ready for
/// [`set_cited_set`].
pub(crate) fn with_tagged_sources(
    elements: Vec<Value>,
    by_source: &std::collections::BTreeMap<&str, Vec<Citation>>,
) -> Vec<(Value, Vec<Citation>)> {
    elements
        .into_iter()
        .map(|e| {
            let c: Vec<Citation> = e
                .get("sources")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .flat_map(|t| by_source.get(t).cloned().unwrap_or_default())
                        .collect()
                })
                .unwrap_or_default();
            (e, c)
        })
        .collect()
}

/// Sets `key` to a keyed set array whose elements each have their own sources: elements are
/// put in canonical order (lower-cased `field`, as `pforge_versioning::canonicalize` sorts
/// them) and `/key/{i}` is cited with that element's citations, so that a change event about
/// one element points at the source of that element. An empty set is cited with `empty`.
pub(crate) fn set_cited_set(
    out: &mut ModuleOutput,
    key: &str,
    field: &str,
    mut elements: Vec<(Value, Vec<Citation>)>,
    empty: &Citation,
) {
    let sort_text = |v: &Value| match v.get(field) {
        Some(Value::String(s)) => s.to_lowercase(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    elements.sort_by_cached_key(|(v, _)| (sort_text(v), v.to_string()));
    if elements.is_empty() {
        out.set(key, Vec::<Value>::new(), empty);
        return;
    }
    if let Value::Object(m) = &mut out.data {
        m.insert(
            key.to_string(),
            Value::Array(elements.iter().map(|(v, _)| v.clone()).collect()),
        );
    }
    for (i, (_, cites)) in elements.iter().enumerate() {
        for c in cites {
            cover(out, c, &format!("/{key}/{i}"));
        }
    }
}

/// The readable name of a Form 8-K item (SEC's item list).
pub fn item_name(code: &str) -> Option<&'static str> {
    Some(match code {
        "1.01" => "Entry into a Material Definitive Agreement",
        "1.02" => "Termination of a Material Definitive Agreement",
        "1.03" => "Bankruptcy or Receivership",
        "1.04" => "Mine Safety - Reporting of Shutdowns and Patterns of Violations",
        "1.05" => "Material Cybersecurity Incidents",
        "2.01" => "Completion of Acquisition or Disposition of Assets",
        "2.02" => "Results of Operations and Financial Condition",
        "2.03" => "Creation of a Direct Financial Obligation",
        "2.04" => "Triggering Events That Accelerate or Increase a Direct Financial Obligation",
        "2.05" => "Costs Associated with Exit or Disposal Activities",
        "2.06" => "Material Impairments",
        "3.01" => "Notice of Delisting or Failure to Satisfy a Continued Listing Rule",
        "3.02" => "Unregistered Sales of Equity Securities",
        "3.03" => "Material Modification to Rights of Security Holders",
        "4.01" => "Changes in Registrant's Certifying Accountant",
        "4.02" => "Non-Reliance on Previously Issued Financial Statements",
        "5.01" => "Changes in Control of Registrant",
        "5.02" => "Departure of Directors or Certain Officers; Election of Directors; Appointment of Certain Officers",
        "5.03" => "Amendments to Articles of Incorporation or Bylaws; Change in Fiscal Year",
        "5.04" => "Temporary Suspension of Trading Under Registrant's Employee Benefit Plans",
        "5.05" => "Amendments to the Registrant's Code of Ethics",
        "5.07" => "Submission of Matters to a Vote of Security Holders",
        "5.08" => "Shareholder Director Nominations",
        "7.01" => "Regulation FD Disclosure",
        "8.01" => "Other Events",
        "9.01" => "Financial Statements and Exhibits",
        _ => return None,
    })
}

/// 8-K items that make a filing a trigger, with the trigger kind, in priority order. Routine
/// items (results 2.02, votes 5.07, Reg FD 7.01, exhibits 9.01) alone are not triggers.
const NOTABLE_ITEMS: &[(&str, &str)] = &[
    ("2.01", "acquisition_or_disposal"),
    ("5.01", "change_in_control"),
    ("5.02", "executive_change"),
    ("1.03", "bankruptcy"),
    ("2.05", "restructuring"),
    ("1.01", "material_agreement"),
    ("1.02", "material_agreement"),
    ("2.06", "impairment"),
    ("3.01", "delisting"),
    ("4.01", "auditor_change"),
    ("4.02", "restatement"),
    ("1.05", "cybersecurity_incident"),
    ("2.03", "new_debt"),
];

/// A trigger for an 8-K filing as M04 reports it, if any of its items is notable.
fn filing_trigger(f: &Value) -> Option<Value> {
    let form = f.get("form")?.as_str()?;
    if form != "8-K" && form != "8-K/A" {
        return None;
    }
    let accession = f.get("accession_number")?.as_str()?;
    let codes: Vec<&str> = f
        .get("items")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let kind = NOTABLE_ITEMS
        .iter()
        .find(|(c, _)| codes.contains(c))
        .map(|(_, k)| *k)?;
    let names: Vec<String> = codes
        .iter()
        .map(|c| item_name(c).unwrap_or("Unknown item").to_string())
        .collect();
    Some(json!({
        "id": format!("sec:{accession}"),
        "kind": kind,
        "title": format!("{form}: {}", names.join("; ")),
        "date": f.get("filing_date").cloned().unwrap_or(Value::Null),
        "url": f.get("url").cloned().unwrap_or(Value::Null),
        "source": "sec_edgar",
        "items": codes.iter().map(|c| json!({"code": c, "name": item_name(c)})).collect::<Vec<_>>(),
    }))
}

fn rules() -> &'static [(&'static str, Regex)] {
    static RULES: OnceLock<Vec<(&'static str, Regex)>> = OnceLock::new();
    RULES.get_or_init(|| {
        [
            ("acquisition", r"(?i)\b(acquires?|acquired|acquisition of|to acquire|merger|merges with)\b"),
            ("funding", r"(?i)(\braises?\b|\braised\b|\bfunding\b|\bseries [a-h]\b|\bseed round\b|\bgrowth round\b)"),
            ("leadership_change", r"(?i)\b(appoints?|appointed|names .+ (as )?(chief|ceo|cto|cfo|coo|president)|joins as|new (ceo|cto|cfo|coo|president)|steps down)\b"),
            ("product_launch", r"(?i)\b(introducing|launch(es|ed)?|unveils?|unveiled|debuts?|now (generally )?available|general availability|generally available)\b"),
            ("partnership", r"(?i)\b(partners with|partnership|teams up)\b"),
        ]
        .into_iter()
        .filter_map(|(k, p)| Regex::new(p).ok().map(|r| (k, r)))
        .collect()
    })
}

/// What kind of trigger a news headline is, if any.
pub fn classify_headline(title: &str) -> Option<&'static str> {
    rules()
        .iter()
        .find(|(_, re)| re.is_match(title))
        .map(|(k, _)| *k)
}

/// A feed entry as read from RSS or Atom.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    title: String,
    link: Option<String>,
    id: String,
    date: Option<String>,
}

/// Parses an RSS or Atom document (newest entries first); `Err` for anything that is not a feed.
fn parse_feed(body: &[u8]) -> Result<Vec<Entry>, String> {
    let feed = feed_rs::parser::parse(body).map_err(|e| e.to_string())?;
    let mut entries: Vec<Entry> = feed
        .entries
        .into_iter()
        .filter_map(|e| {
            let title = e
                .title
                .map(|t| t.content.split_whitespace().collect::<Vec<_>>().join(" "))
                .filter(|t| !t.is_empty())?;
            let date = e
                .published
                .or(e.updated)
                .map(|d| d.format("%Y-%m-%d").to_string());
            Some(Entry {
                title,
                link: e.links.first().map(|l| l.href.clone()),
                id: e.id,
                date,
            })
        })
        .collect();
    entries.sort_by(|a, b| b.date.cmp(&a.date));
    entries.truncate(MAX_ENTRIES);
    Ok(entries)
}

fn feed_trigger(e: &Entry, feed_url: &str) -> Option<Value> {
    let kind = classify_headline(&e.title)?;
    let key = e.link.clone().unwrap_or_else(|| e.id.clone());
    Some(json!({
        "id": format!("feed:{key}"),
        "kind": kind,
        "title": e.title,
        "date": e.date,
        "url": e.link,
        "source": feed_url,
    }))
}

/// A trigger for a hiring surge reported by M06.
fn hiring_trigger(m06: &Value) -> Option<Value> {
    let g = m06.get("growth")?;
    if g.get("surge").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let prev = g.get("previous_open_jobs")?.as_i64()?;
    let open = m06.get("open_jobs")?.as_i64()?;
    let pct = g.get("change_pct").and_then(Value::as_f64).unwrap_or(0.0);
    Some(json!({
        "id": format!("hiring-surge:{prev}->{open}"),
        "kind": "hiring_surge",
        "title": format!("Hiring surge: open roles {prev} -> {open} (+{pct}%)"),
        "date": Value::Null,
        "url": m06.get("board").and_then(|b| b.get("url")).cloned().unwrap_or(Value::Null),
        "source": M06,
        "new_signal_jobs": g.get("new_signal_jobs").cloned().unwrap_or(json!([])),
    }))
}

fn dep_note(ctx: &ModuleContext, id: &str, what: &str) -> String {
    let why = ctx
        .failed_dependencies()
        .find(|(d, _)| *d == id)
        .map(|(_, w)| w.to_string())
        .unwrap_or_else(|| "no output".into());
    format!("{id} unavailable ({why}): no {what} triggers")
}

#[async_trait]
impl Module for StrategicTriggers {
    fn spec(&self) -> &ModuleSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ModuleContext) -> Result<ModuleOutput, ModuleError> {
        let mut triggers: Vec<(Value, Citation)> = Vec::new();
        let mut cites: Vec<Citation> = Vec::new();
        let mut notes: Vec<(String, Citation)> = Vec::new();
        let mut feeds_read: Vec<Value> = Vec::new();

        // SEC 8-Ks, from M04.
        match ctx.dependency(M04) {
            Some(o) => {
                let c = Citation::derived(M04, &[]);
                if let Some(filings) = o.data.get("filings").and_then(Value::as_array) {
                    triggers.extend(
                        filings
                            .iter()
                            .filter_map(filing_trigger)
                            .map(|t| (t, c.clone())),
                    );
                }
                cites.push(c);
            }
            None => notes.push((
                dep_note(ctx, M04, "SEC filing"),
                Citation::derived(M04, &[]),
            )),
        }

        // Hiring surge, from M06.
        match ctx.dependency(M06) {
            Some(o) => {
                triggers.extend(hiring_trigger(&o.data).map(|t| (t, Citation::derived(M06, &[]))));
                cites.push(Citation::derived(M06, &[]));
            }
            None => notes.push((dep_note(ctx, M06, "hiring"), Citation::derived(M06, &[]))),
        }

        // News from the company's own feeds, listed by M01.
        match ctx.dependency(M01) {
            Some(o) => {
                let feeds: Vec<String> = o
                    .data
                    .get("feeds")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter(|f| {
                                let t = f.get("title").and_then(Value::as_str).unwrap_or("");
                                let u = f.get("url").and_then(Value::as_str).unwrap_or("");
                                !t.to_lowercase().contains("comments") && !u.contains("/comments/")
                            })
                            .filter_map(|f| {
                                f.get("url").and_then(Value::as_str).map(str::to_string)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                if feeds.is_empty() {
                    notes.push((
                        "no RSS/Atom feed linked from the homepage".into(),
                        Citation::derived(M01, &[]),
                    ));
                }
                for url in feeds.into_iter().take(MAX_FEEDS) {
                    let Some(path) = same_site_path(ctx, &url) else {
                        notes.push((
                            format!("feed {url} is on another site: not read"),
                            Citation::derived(M01, &[]),
                        ));
                        continue;
                    };
                    match fetch_site_page(ctx, ID, &path).await {
                        Ok(resp) => {
                            let c = Citation::from_response(&resp, &[]);
                            match parse_feed(&resp.body) {
                                Ok(entries) => {
                                    let found: Vec<Value> = entries
                                        .iter()
                                        .filter_map(|e| feed_trigger(e, &url))
                                        .collect();
                                    feeds_read.push(json!({"url": url, "entries": entries.len(), "triggers": found.len()}));
                                    triggers.extend(found.into_iter().map(|t| (t, c.clone())));
                                    cites.push(c);
                                }
                                Err(e) => {
                                    notes.push((format!("feed {url} is not RSS or Atom: {e}"), c))
                                }
                            }
                        }
                        Err((e, call)) => notes.push((
                            format!("feed {url} unavailable: {e}"),
                            attempted(ctx, &call),
                        )),
                    }
                }
            }
            None => notes.push((dep_note(ctx, M01, "news-feed"), Citation::derived(M01, &[]))),
        }

        // One trigger per id (a feed can repeat an entry).
        let mut seen = std::collections::BTreeSet::new();
        triggers
            .retain(|(t, _)| seen.insert(t.get("id").map(Value::to_string).unwrap_or_default()));

        let mut out = ModuleOutput::new();
        let first = cites
            .first()
            .cloned()
            .or_else(|| notes.first().map(|(_, c)| c.clone()))
            .unwrap_or_else(|| Citation::derived(ID, &[]));
        out.set("trigger_count", triggers.len(), &first);
        for c in &cites {
            cover(&mut out, c, "/trigger_count");
        }
        let cited: Vec<(Value, Vec<Citation>)> =
            triggers.into_iter().map(|(t, c)| (t, vec![c])).collect();
        set_cited_set(&mut out, "triggers", "id", cited, &first);
        out.set("feeds", feeds_read, &first);
        for c in cites.iter().filter(|c| c.provider == "homepage") {
            cover(&mut out, c, "/feeds");
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

    #[test]
    fn eight_k_items_map_to_triggers() {
        let f = json!({"form": "8-K", "accession_number": "0001999001-25-000011", "filing_date": "2025-03-04",
            "items": ["5.02", "7.01"], "url": "https://www.sec.gov/x.htm"});
        let t = filing_trigger(&f).unwrap();
        assert_eq!(t["id"], "sec:0001999001-25-000011");
        assert_eq!(t["kind"], "executive_change");
        assert!(t["title"]
            .as_str()
            .unwrap()
            .starts_with("8-K: Departure of Directors"));
        assert_eq!(t["items"][1]["name"], "Regulation FD Disclosure");
        let acq = json!({"form": "8-K", "accession_number": "a", "items": ["2.01", "9.01"]});
        assert_eq!(
            filing_trigger(&acq).unwrap()["kind"],
            "acquisition_or_disposal"
        );
        // Routine 8-Ks, other forms and malformed entries are not triggers.
        assert!(filing_trigger(
            &json!({"form": "8-K", "accession_number": "b", "items": ["2.02", "9.01"]})
        )
        .is_none());
        assert!(filing_trigger(
            &json!({"form": "10-K", "accession_number": "c", "items": ["5.02"]})
        )
        .is_none());
        assert!(filing_trigger(&json!({"form": "8-K", "items": ["5.02"]})).is_none());
        assert!(
            filing_trigger(&json!({"form": "8-K", "accession_number": "d", "items": "5.02"}))
                .is_none()
        );
        assert_eq!(
            item_name("2.01"),
            Some("Completion of Acquisition or Disposition of Assets")
        );
        assert_eq!(item_name("9.99"), None);
    }

    #[test]
    fn headlines() {
        assert_eq!(
            classify_headline("TechStart raises $18M Series A to help B2B teams ship faster"),
            Some("funding")
        );
        assert_eq!(
            classify_headline("Introducing TechStart Release Hub"),
            Some("product_launch")
        );
        assert_eq!(
            classify_headline("Globex launches FreightView real-time shipment tracking"),
            Some("product_launch")
        );
        assert_eq!(
            classify_headline("Initech acquires ReportLabs to extend TPS analytics"),
            Some("acquisition")
        );
        assert_eq!(
            classify_headline("Initech appoints Joanna Lee as Chief Financial Officer"),
            Some("leadership_change")
        );
        assert_eq!(classify_headline("Five release checklists we love"), None);
        assert_eq!(classify_headline("How we cut CI times in half"), None);
    }

    #[test]
    fn rss_and_atom_feeds() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
        let rss = std::fs::read(dir.join("epoch2/homepage/techstart.io/blog-rss.xml")).unwrap();
        let e = parse_feed(&rss).unwrap();
        assert_eq!(e.len(), 4);
        assert_eq!(e[0].title, "Introducing TechStart Release Hub");
        assert_eq!(e[0].date.as_deref(), Some("2025-03-04"));
        assert_eq!(
            e[0].link.as_deref(),
            Some("https://techstart.io/blog/introducing-release-hub")
        );
        let atom =
            std::fs::read(dir.join("epoch1/homepage/initech-software.com/newsroom-feed.atom"))
                .unwrap();
        let e = parse_feed(&atom).unwrap();
        assert_eq!(e[0].date.as_deref(), Some("2024-06-03"));
        let t = feed_trigger(&e[0], "https://www.initech-software.com/newsroom/feed.atom").unwrap();
        assert_eq!(t["kind"], "acquisition");
        assert_eq!(
            t["id"],
            "feed:https://www.initech-software.com/newsroom/initech-acquires-reportlabs"
        );
        // Not a feed: an HTML error page, garbage, an empty body.
        assert!(parse_feed(b"<!DOCTYPE html><html><body>503</body></html>").is_err());
        assert!(parse_feed(b"{\"not\": \"xml\"}").is_err());
        assert!(parse_feed(b"").is_err());
        // A feed with an untitled item keeps the others.
        let odd = br#"<rss version="2.0"><channel><title>x</title><item><link>https://a/1</link></item><item><title>We raised a seed round</title></item></channel></rss>"#;
        let e = parse_feed(odd).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].date, None);
    }

    #[test]
    fn hiring_surge_from_m06() {
        let m06 = json!({"open_jobs": 15, "board": {"url": "https://boards.greenhouse.io/techstart"},
            "growth": {"previous_open_jobs": 10, "change_pct": 50.0, "surge": true, "new_signal_jobs": ["Senior Search Engineer"]}});
        let t = hiring_trigger(&m06).unwrap();
        assert_eq!(t["id"], "hiring-surge:10->15");
        assert_eq!(t["new_signal_jobs"][0], "Senior Search Engineer");
        assert!(hiring_trigger(&json!({"open_jobs": 10, "growth": null})).is_none());
        assert!(hiring_trigger(&json!({"growth": {"surge": true}})).is_none());
    }
}
