//! M04 financials: whether the company files with the SEC and, if so, its listing (SIC,
//! exchanges, tickers, fiscal year end), its latest filings and its latest annual revenue, net
//! income and head count from XBRL company facts, each value with the filing it came from.
//!
//! Which filer is the company is decided by entity resolution with evidence
//! ([`crate::resolution`]): a pin by the user, then the CIK (P5531) of the Wikidata item whose
//! official website is the domain, then the company's own full name (input file, JSON-LD,
//! `og:site_name`) equal to SEC's title; the filer's own website field naming the domain
//! confirms. A match on the domain's label alone is only *possible*: nothing is attached and the
//! output says so. A company that is not a filer is a normal answer (`sec_filer: false`).
//! SEC's required User-Agent is provider config, not module code.

use crate::clients::cite::{attempted, cover};
use crate::clients::sec::{self, all_filings, financials, parse_tickers, Submissions, TickerRow};
use crate::clients::wikidata;
use crate::resolution::{self, Confidence, EntityLink, LabelMatch};
use crate::ModulesError;
use async_trait::async_trait;
use pforge_core::{
    Citation, Domain, EntityPin, ExpectedCall, Module, ModuleContext, ModuleError, ModuleOutput,
    ModuleSpec, SetArray,
};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const ID: &str = "m04_financials";
const DEP: &str = "m01_company_context";
/// How many recent filings are reported.
const MAX_FILINGS: usize = 10;
/// How many possible matches are offered.
const MAX_POSSIBLE: usize = 3;
/// Forms worth reporting (insider Form 4s and ownership schedules are noise here).
const FORMS: &[&str] = &[
    "10-K", "10-K/A", "10-Q", "10-Q/A", "8-K", "8-K/A", "20-F", "40-F", "6-K", "S-1", "S-1/A",
    "S-4", "DEF 14A", "424B4",
];

/// `[resolution]` in `pforge.toml`: the user's pins and rejections of outside entities.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolutionConfig {
    /// `[[resolution.pins]]`: per domain, the SEC filer it is (`sec_cik = "320193"`) or
    /// `sec_cik = "none"` (it files nothing: reject every name match).
    #[serde(default)]
    pub pins: Vec<PinConfig>,
}

/// One `[[resolution.pins]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinConfig {
    pub domain: String,
    pub sec_cik: Option<String>,
}

/// Parses a CIK cell or setting: digits (padded to ten) or `none`.
fn parse_pin(v: &str) -> Option<EntityPin> {
    let v = v.trim();
    if v.eq_ignore_ascii_case("none") {
        Some(EntityPin::None)
    } else if !v.is_empty() && v.len() <= 10 && v.chars().all(|c| c.is_ascii_digit()) {
        Some(EntityPin::Is(format!("{v:0>10}")))
    } else {
        None
    }
}

/// The financials module (`m04_financials`).
pub struct Financials {
    spec: ModuleSpec,
    pins: BTreeMap<Domain, EntityPin>,
}

impl Financials {
    /// Builds the module without pins.
    pub fn new() -> Self {
        Financials {
            spec: ModuleSpec {
                id: ID.into(),
                title: "Financials".into(),
                dependencies: vec![DEP.into()],
                providers: vec![
                    "sec_files".into(),
                    "sec_edgar".into(),
                    wikidata::PROVIDER.into(),
                    wikidata::SPARQL_PROVIDER.into(),
                ],
                runs_degraded: true,
                set_arrays: vec![
                    SetArray::keyed("/filings", "accession_number"),
                    SetArray::scalars("/tickers"),
                    SetArray::scalars("/exchanges"),
                    SetArray::scalars("/searched_names"),
                    SetArray::keyed("/entity_links", "key"),
                    SetArray::keyed("/possible_matches", "cik"),
                    SetArray::scalars("/notes"),
                ],
            },
            pins: BTreeMap::new(),
        }
    }

    /// Builds the module with the pins of `[resolution]`; a bad domain or CIK is a config error
    /// naming the entry.
    pub fn with_config(cfg: &ResolutionConfig) -> Result<Self, ModulesError> {
        let mut m = Self::new();
        for (i, p) in cfg.pins.iter().enumerate() {
            let bad = |reason: String| ModulesError::Config {
                section: format!("resolution.pins[{i}]"),
                reason,
            };
            let d = Domain::parse(&p.domain).map_err(|e| bad(e.to_string()))?;
            if let Some(c) = &p.sec_cik {
                let pin = parse_pin(c).ok_or_else(|| {
                    bad(format!(
                        "sec_cik {c:?} is not a CIK: give the SEC's CIK digits or \"none\""
                    ))
                })?;
                m.pins.insert(d, pin);
            }
        }
        Ok(m)
    }
}

impl Default for Financials {
    fn default() -> Self {
        Self::new()
    }
}

/// A filer chosen for the domain, with how.
struct Chosen {
    cik: u64,
    title: Option<String>,
    tickers: Vec<String>,
    matched_by: String,
    matched_name: Option<String>,
    link: EntityLink,
    cite: Citation,
}

fn tickers_of(rows: &[TickerRow], cik: u64) -> Vec<String> {
    rows.iter()
        .filter(|r| r.cik_str == cik)
        .map(|r| r.ticker.clone())
        .collect()
}

fn title_of(rows: &[TickerRow], cik: u64) -> Option<String> {
    rows.iter()
        .find(|r| r.cik_str == cik)
        .map(|r| r.title.clone())
}

fn cik_num(cik: &str) -> Option<u64> {
    cik.trim().parse::<u64>().ok()
}

/// The Wikidata item tied to the domain (by its official website) and its CIK: from M01's
/// output when M01 ran, else asked here through the same client (same URLs, so cached).
async fn wikidata_cik(
    ctx: &ModuleContext,
    m01: Option<&Value>,
    notes: &mut Vec<(String, Citation)>,
) -> Option<(String, String, Vec<String>, Citation)> {
    if let Some(wd) = m01
        .and_then(|d| d.get("wikidata"))
        .filter(|w| w.is_object())
    {
        let qid = wd.get("id").and_then(Value::as_str)?.to_string();
        let cik = wd.get("cik").and_then(Value::as_str)?.to_string();
        let mut ev: Vec<String> = wd
            .pointer("/match/evidence")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if ev.is_empty() {
            ev.push(format!(
                "{qid} lists {} as its official website (P856)",
                ctx.domain
            ));
        }
        return Some((qid, cik, ev, Citation::derived(DEP, &[])));
    }
    if m01.is_some() {
        // M01 ran and found no item on this domain: nothing more to ask.
        return None;
    }
    let (resp, ids) = match wikidata::search_by_official_website(ctx, ID).await {
        Ok(Some(found)) => found,
        Ok(None) => return None,
        Err(e) => {
            notes.push(e.note("search by official website"));
            return None;
        }
    };
    let sparql = Citation::from_response(&resp, &[]);
    let (eresp, entities) = match wikidata::entities(ctx, ID, &ids).await {
        Ok(Some(x)) => x,
        Ok(None) => return None,
        Err(e) => {
            notes.push(e.note("entity lookup"));
            return None;
        }
    };
    let _ = sparql;
    entities.iter().find_map(|(qid, e)| {
        let site = wikidata::official_websites(e)
            .into_iter()
            .find(|w| Domain::parse(w).is_ok_and(|d| d == ctx.domain))?;
        let cik = wikidata::ciks(e).into_iter().next()?;
        Some((
            qid.clone(),
            cik.clone(),
            vec![
                format!("{qid} lists {site} as its official website (P856)"),
                format!("{qid} names SEC CIK {cik} (P5531)"),
            ],
            Citation::from_response(&eresp, &[]),
        ))
    })
}

#[async_trait]
impl Module for Financials {
    fn spec(&self) -> &ModuleSpec {
        &self.spec
    }

    /// The ticker list once per run (the gateway caches it), then submissions and company facts
    /// for filers (an upper bound: private companies stop after the list).
    fn expected_calls(&self) -> Vec<ExpectedCall> {
        vec![
            ExpectedCall::per_run("sec_files", "/files/company_tickers.json"),
            ExpectedCall::per_domain("sec_edgar", "/submissions"),
            ExpectedCall::per_domain("sec_edgar", "/api/xbrl/companyfacts"),
        ]
    }

    async fn run(&self, ctx: &ModuleContext) -> Result<ModuleOutput, ModuleError> {
        let mut out = ModuleOutput::new();
        let mut notes: Vec<(String, Citation)> = Vec::new();
        let domain = ctx.domain.as_str();
        let m01 = ctx.dependency(DEP).map(|o| o.data.clone());
        if m01.is_none() {
            let why = ctx
                .failed_dependencies()
                .find(|(id, _)| *id == DEP)
                .map(|(_, w)| w.to_string())
                .unwrap_or_else(|| "no output".into());
            notes.push((
                format!("company context unavailable ({why}): matched without the homepage"),
                Citation::derived(DEP, &[]),
            ));
        }

        // The company's own full names: the input file's name column, the site's JSON-LD or
        // og:site_name. A name taken from the page title is not the company's own full name.
        let hints = ctx.hints();
        let hint_cite = Citation {
            source: hints.source.clone().unwrap_or_else(|| "input:file".into()),
            provider: "input".into(),
            fetched_at: chrono::Utc::now(),
            covers: vec![],
            canonical: None,
            via: Vec::new(),
        };
        let mut own_names: Vec<(String, String, Citation)> = Vec::new();
        if let Some(n) = &hints.name {
            own_names.push((
                n.clone(),
                "the input file's name column".into(),
                hint_cite.clone(),
            ));
        }
        let m01_name = m01
            .as_ref()
            .and_then(|d| Some((d.get("name")?.as_str()?, d.get("name_source")?.as_str()?)));
        if let Some((n, src)) = m01_name {
            if matches!(src, "json-ld" | "og:site_name") {
                own_names.push((
                    n.to_string(),
                    format!("the homepage's {src}"),
                    Citation::derived(DEP, &[]),
                ));
            }
        }

        let tcall = sec::tickers_call(ctx, ID);
        let (tresp, tv) = sec::fetch_json(ctx, &tcall).await?;
        let tcite = Citation::from_response(&tresp, &[]);
        let rows = parse_tickers(&tv).ok_or_else(|| {
            ModuleError::parse(&tresp.url, "company_tickers.json is not an object of rows")
        })?;
        let mut searched: Vec<String> = own_names.iter().map(|(n, _, _)| n.clone()).collect();
        if let Some((n, _)) = m01_name {
            if !searched.iter().any(|s| s == n) {
                searched.push(n.to_string());
            }
        }
        searched.push(resolution::domain_label(domain));
        out.set("searched_names", searched, &tcite);
        if m01_name.is_some() {
            cover(&mut out, &Citation::derived(DEP, &[]), "/searched_names");
        }
        if hints.name.is_some() {
            cover(&mut out, &hint_cite, "/searched_names");
        }

        // 1. A pin by the user decides.
        let pin = match &hints.sec_cik {
            Some(p) => Some((p.clone(), hint_cite.clone())),
            None => self
                .pins
                .get(&ctx.domain)
                .map(|p| (p.clone(), Citation::config("resolution.pins", &[]))),
        };
        let mut chosen: Option<Chosen> = None;
        match &pin {
            Some((EntityPin::None, c)) => {
                out.set("sec_filer", false, c);
                out.set("entity_links", Vec::<Value>::new(), c);
                notes.push((
                    format!("pinned as not an SEC filer by {}", c.source),
                    c.clone(),
                ));
                return finish(out, notes, &tcite);
            }
            Some((EntityPin::Is(cik), c)) => {
                if let Some(n) = cik_num(cik) {
                    chosen = Some(Chosen {
                        cik: n,
                        title: title_of(&rows, n),
                        tickers: tickers_of(&rows, n),
                        matched_by: "pin".into(),
                        matched_name: None,
                        link: EntityLink::new(
                            "sec_filer",
                            format!("{n:010}"),
                            title_of(&rows, n),
                            "pin",
                            vec![format!("pinned to CIK {n:010} by {}", c.source)],
                            Confidence::Confirmed,
                        ),
                        cite: c.clone(),
                    });
                }
            }
            None => {}
        }

        // 2. The CIK of the Wikidata item whose official website is the domain.
        if chosen.is_none() {
            if let Some((qid, cik, ev, c)) = wikidata_cik(ctx, m01.as_ref(), &mut notes).await {
                if let Some(n) = cik_num(&cik) {
                    chosen = Some(Chosen {
                        cik: n,
                        title: title_of(&rows, n),
                        tickers: tickers_of(&rows, n),
                        matched_by: "wikidata_cik".into(),
                        matched_name: None,
                        link: EntityLink::new(
                            "sec_filer",
                            format!("{n:010}"),
                            title_of(&rows, n),
                            "wikidata_cik",
                            ev.into_iter()
                                .chain([format!("CIK {n:010} taken from Wikidata item {qid}")])
                                .collect(),
                            Confidence::Confirmed,
                        ),
                        cite: c,
                    });
                }
            }
        }

        // 3. The company's own full name equals SEC's title.
        if chosen.is_none() {
            chosen = own_names.iter().find_map(|(n, whence, c)| {
                let row = rows.iter().find(|r| resolution::same_name(n, &r.title))?;
                Some(Chosen {
                    cik: row.cik_str,
                    title: Some(row.title.clone()),
                    tickers: tickers_of(&rows, row.cik_str),
                    matched_by: "own_name".into(),
                    matched_name: Some(n.clone()),
                    link: EntityLink::new(
                        "sec_filer",
                        format!("{:010}", row.cik_str),
                        Some(row.title.clone()),
                        "own_name",
                        vec![format!(
                            "the company's name {n:?} ({whence}) equals SEC's title {:?} after normalization",
                            row.title
                        )],
                        Confidence::Probable,
                    ),
                    cite: c.clone(),
                })
            });
        }

        // 4. Only the domain's label matches: possible matches, attached to nothing unless the
        // filer's own website field names the domain.
        let mut possible: Vec<EntityLink> = Vec::new();
        if chosen.is_none() {
            let mut seen = Vec::new();
            for r in &rows {
                if seen.contains(&r.cik_str) || seen.len() >= MAX_POSSIBLE {
                    continue;
                }
                let Some(how) = resolution::label_match(domain, &r.title) else {
                    continue;
                };
                seen.push(r.cik_str);
                let why = match how {
                    LabelMatch::Equal => "equals",
                    LabelMatch::FirstWords => "is the first word of",
                };
                possible.push(EntityLink::new(
                    "sec_filer",
                    format!("{:010}", r.cik_str),
                    Some(r.title.clone()),
                    "domain_label",
                    vec![format!(
                        "the domain's label {:?} {why} SEC's title {:?}; nothing independent ties the filer to {domain}",
                        resolution::domain_label(domain),
                        r.title
                    )],
                    Confidence::Possible,
                ));
            }
        }

        // The filer's own website field confirms a probable or possible match.
        let mut subs_cache: Option<(pforge_budget::Response, Submissions)> = None;
        let first_possible = possible.first().and_then(|l| cik_num(&l.id));
        let check = chosen.as_ref().map(|c| c.cik).or(first_possible);
        if let Some(cik) = check {
            let scall = sec::submissions_call(ctx, ID, cik);
            match sec::fetch_json(ctx, &scall).await {
                Ok((sresp, sv)) => match serde_json::from_value::<Submissions>(sv) {
                    Ok(subs) => {
                        let site = [subs.website.as_deref(), subs.investor_website.as_deref()]
                            .into_iter()
                            .flatten()
                            .find(|w| resolution::url_on_domain(w, domain))
                            .map(str::to_string);
                        if let Some(site) = site {
                            let ev = format!("the filer's own website field is {site:?}");
                            match chosen.as_mut() {
                                Some(c) => {
                                    c.link.evidence.push(ev);
                                    c.link.confidence = Confidence::Confirmed;
                                    c.link.attached = true;
                                }
                                None => {
                                    let mut l = possible.remove(0);
                                    l.evidence.push(ev);
                                    l.method = "sec_website".into();
                                    l.confidence = Confidence::Confirmed;
                                    l.attached = true;
                                    chosen = Some(Chosen {
                                        cik,
                                        title: l.name.clone(),
                                        tickers: tickers_of(&rows, cik),
                                        matched_by: "sec_website".into(),
                                        matched_name: None,
                                        link: l,
                                        cite: Citation::from_response(&sresp, &[]),
                                    });
                                }
                            }
                        }
                        subs_cache = Some((sresp, subs));
                    }
                    Err(e) => {
                        if chosen.is_some() {
                            return Err(ModuleError::parse(
                                &sresp.url,
                                format!("submissions: {e}"),
                            ));
                        }
                    }
                },
                Err(e) => {
                    if chosen.is_some() {
                        return Err(e);
                    }
                    notes.push((
                        format!("could not read the possible filer's website field: {e}"),
                        attempted(ctx, &scall),
                    ));
                }
            }
        }

        let Some(m) = chosen else {
            out.set("sec_filer", false, &tcite);
            let links: Vec<Value> = possible.iter().map(EntityLink::to_json).collect();
            out.set("entity_links", links, &tcite);
            let offered: Vec<Value> = possible
                .iter()
                .map(|l| json!({"cik": l.id, "title": l.name, "tickers": tickers_of(&rows, cik_num(&l.id).unwrap_or(0))}))
                .collect();
            out.set("possible_matches", offered, &tcite);
            if possible.is_empty() {
                notes.push((
                    format!(
                        "not an SEC filer: no company in SEC's ticker list ({} rows) matches {}",
                        rows.len(),
                        out.data["searched_names"]
                            .as_array()
                            .map(|a| a
                                .iter()
                                .map(|x| x.to_string())
                                .collect::<Vec<_>>()
                                .join(" or "))
                            .unwrap_or_default()
                    ),
                    tcite.clone(),
                ));
            }
            for l in &possible {
                notes.push((
                    format!(
                        "possible match: {} (CIK {}), not confirmed: only the domain's label matches; pin it (a `cik` column in the input file or [[resolution.pins]]) to attach it",
                        l.name.as_deref().unwrap_or("?"),
                        l.id
                    ),
                    tcite.clone(),
                ));
            }
            return finish(out, notes, &tcite);
        };

        out.set("sec_filer", true, &tcite);
        cover(&mut out, &m.cite, "/sec_filer");
        out.set("cik", format!("{:010}", m.cik), &m.cite);
        out.set("matched_by", m.matched_by.clone(), &m.cite);
        out.set("matched_name", m.matched_name.clone(), &m.cite);
        out.set("confidence", m.link.confidence.as_str(), &m.cite);
        out.set(
            "match",
            json!({"method": m.link.method, "evidence": m.link.evidence, "confidence": m.link.confidence}),
            &m.cite,
        );
        out.set("entity_links", vec![m.link.to_json()], &m.cite);
        out.set("possible_matches", Vec::<Value>::new(), &tcite);

        let (sresp, subs) = match subs_cache {
            Some(x) => x,
            None => {
                let scall = sec::submissions_call(ctx, ID, m.cik);
                let (sresp, sv) = sec::fetch_json(ctx, &scall).await?;
                let subs: Submissions = serde_json::from_value(sv)
                    .map_err(|e| ModuleError::parse(&sresp.url, format!("submissions: {e}")))?;
                (sresp, subs)
            }
        };
        let scite = Citation::from_response(&sresp, &[]);
        for p in ["/sec_filer", "/match", "/entity_links", "/confidence"] {
            cover(&mut out, &scite, p);
        }
        let title = m.title.clone().or_else(|| subs.name.clone());
        out.set("sec_title", title.clone(), &tcite);
        cover(&mut out, &scite, "/sec_title");
        let filings = all_filings(m.cik, &subs.filings.recent);
        let tickers = if subs.tickers.is_empty() {
            m.tickers.clone()
        } else {
            subs.tickers.clone()
        };
        out.set(
            "name",
            subs.name.clone().or(title).unwrap_or_default(),
            &scite,
        );
        out.set("tickers", tickers, &scite);
        out.set(
            "exchanges",
            subs.exchanges.iter().flatten().cloned().collect::<Vec<_>>(),
            &scite,
        );
        out.set("sic", subs.sic.clone(), &scite);
        out.set("sic_description", subs.sic_description.clone(), &scite);
        out.set("fiscal_year_end", subs.fiscal_year_end.clone(), &scite);
        out.set(
            "state_of_incorporation",
            subs.state_of_incorporation.clone(),
            &scite,
        );
        out.set("filer_category", subs.category.clone(), &scite);
        let reported: Vec<Value> = filings
            .iter()
            .filter(|f| FORMS.contains(&f.form.as_str()))
            .take(MAX_FILINGS)
            .map(|f| {
                json!({
                    "accession_number": f.accession_number,
                    "form": f.form,
                    "filing_date": f.filing_date,
                    "report_date": f.report_date,
                    "items": f.items,
                    "url": f.url,
                })
            })
            .collect();
        out.set("filings", reported, &scite);

        let fcall = sec::company_facts_call(ctx, ID, m.cik);
        match ctx.gateway.fetch(&fcall).await {
            Ok(fresp) => {
                let fv: Value = fresp.json()?;
                let fin = financials(m.cik, &fv, &filings);
                if fin.is_null() {
                    return Err(ModuleError::parse(
                        &fresp.url,
                        "companyfacts answer has no \"facts\"",
                    ));
                }
                out.set("financials", fin, &Citation::from_response(&fresp, &[]));
            }
            // No XBRL financial data (e.g. a recent registrant): say so, keep the rest.
            Err(e) if e.status() == Some(404) => {
                notes.push((
                    "SEC has no XBRL company facts for this filer".into(),
                    attempted(ctx, &fcall),
                ));
                out.set("financials", Value::Null, &attempted(ctx, &fcall));
            }
            Err(e) => return Err(e.into()),
        }
        if m.link.confidence == Confidence::Probable {
            notes.push((
                format!(
                    "probable match: {} (CIK {:010}), matched on the company's own name; pin it to confirm",
                    m.title.as_deref().unwrap_or("?"),
                    m.cik
                ),
                m.cite.clone(),
            ));
        }
        finish(out, notes, &scite)
    }
}

/// Sets the notes (each note's source covers them) and returns the output.
fn finish(
    mut out: ModuleOutput,
    notes: Vec<(String, Citation)>,
    base: &Citation,
) -> Result<ModuleOutput, ModuleError> {
    let texts: Vec<String> = notes.iter().map(|(t, _)| t.clone()).collect();
    out.set("notes", texts, base);
    for (_, c) in &notes {
        cover(&mut out, c, "/notes");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_and_bad_ones_name_the_entry() {
        assert_eq!(
            parse_pin("320193"),
            Some(EntityPin::Is("0000320193".into()))
        );
        assert_eq!(parse_pin(" NONE "), Some(EntityPin::None));
        assert_eq!(parse_pin("12ab"), None);
        let cfg: ResolutionConfig = toml::from_str(
            "[[pins]]\ndomain = \"apple.com\"\nsec_cik = \"320193\"\n[[pins]]\ndomain = \"acme.co\"\nsec_cik = \"none\"\n",
        )
        .unwrap();
        let m = Financials::with_config(&cfg).unwrap();
        assert_eq!(m.pins.len(), 2);
        let bad: ResolutionConfig =
            toml::from_str("[[pins]]\ndomain = \"apple.com\"\nsec_cik = \"x1\"\n").unwrap();
        let e = Financials::with_config(&bad)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("resolution.pins[0]") && e.contains("\"x1\""),
            "{e}"
        );
    }
}
