//! M05 competitors: the account's own market peers, merged from three sources. SEC: listed
//! companies (in SEC's ticker list) filed under the same SIC code as the account (M04 reads the
//! SIC from its submissions JSON; EDGAR's company browse by SIC lists the filers). Wikidata:
//! entities sharing an industry (P452) with the account's entity (M01). SimilarWeb: similar
//! sites, only when that keyed provider is configured with credentials.
//!
//! A peer is identified by its domain when known, else by its normalized name. When a source
//! that supplied peers last time fails now, those peers are kept with a note, so that an
//! outage never reads as competitors disappearing.

use crate::clients::cite::cover;
use crate::clients::wikidata::{self, official_websites};
use crate::m07_strategic_triggers::{set_cited_set, with_tagged_sources};
use crate::resolution::normalize_company_name;
use async_trait::async_trait;
use pforge_budget::{Call, GatewayError};
use pforge_core::{
    Citation, Domain, Module, ModuleContext, ModuleError, ModuleOutput, ModuleSpec, SetArray,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const ID: &str = "m05_competitors";
const M01: &str = "m01_company_context";
const M04: &str = "m04_financials";
const SIMILARWEB: &str = "similarweb";
/// Industries searched on Wikidata, and peers kept per source.
const MAX_INDUSTRIES: usize = 3;
const MAX_PER_SOURCE: usize = 10;

/// The competitors module (`m05_competitors`).
pub struct Competitors {
    spec: ModuleSpec,
}

impl Competitors {
    /// Builds the module; it needs no configuration.
    pub fn new() -> Self {
        Competitors {
            spec: ModuleSpec {
                id: ID.into(),
                title: "Competitors".into(),
                dependencies: vec![M01.into(), M04.into()],
                providers: vec![
                    "sec_browse".into(),
                    "sec_files".into(),
                    "wikidata".into(),
                    SIMILARWEB.into(),
                ],
                runs_degraded: true,
                set_arrays: vec![
                    SetArray::keyed("/competitors", "id"),
                    SetArray::scalars("/competitors/*/sources"),
                    SetArray::scalars("/notes"),
                ],
            },
        }
    }
}

impl Default for Competitors {
    fn default() -> Self {
        Self::new()
    }
}

/// A peer as one source reports it.
#[derive(Debug, Clone, PartialEq, Default)]
struct Peer {
    name: Option<String>,
    domain: Option<String>,
    cik: Option<String>,
    ticker: Option<String>,
    wikidata_id: Option<String>,
    similarity: Option<f64>,
}

fn peer_id(p: &Peer) -> Option<String> {
    p.domain.clone().or_else(|| {
        p.name
            .as_deref()
            .map(normalize_company_name)
            .filter(|n| !n.is_empty())
    })
}

/// CIK and name of each company in EDGAR's company browse Atom feed
/// (`/cgi-bin/browse-edgar?action=getcompany&SIC=....&output=atom`). Its entries carry the
/// company in `<content type="text/xml"><company-info><cik>..<name>..`, which general feed
/// parsers reject, so it is read as plain XML; the CIK falls back to the entry's
/// `urn:tag:www.sec.gov:cik=` id or its link, the name to the entry title.
fn parse_sic_listing(body: &[u8]) -> Result<Vec<(u64, String)>, String> {
    use quick_xml::events::Event;
    #[derive(Default)]
    struct E {
        cik: String,
        name: String,
        title: String,
        id: String,
        link_cik: Option<String>,
    }
    let text = String::from_utf8_lossy(body);
    let mut reader = quick_xml::Reader::from_str(&text);
    let mut stack: Vec<String> = Vec::new();
    let mut saw_feed = false;
    let mut cur: Option<E> = None;
    let mut out = Vec::new();
    let local = |n: &[u8]| String::from_utf8_lossy(n).to_ascii_lowercase();
    loop {
        let piece: Option<String> = match reader.read_event() {
            Err(e) => return Err(format!("not XML: {e}")),
            Ok(Event::Eof) => break,
            Ok(Event::Start(s)) => {
                let n = local(s.local_name().as_ref());
                saw_feed |= n == "feed";
                if n == "entry" {
                    cur = Some(E::default());
                }
                stack.push(n);
                None
            }
            Ok(Event::Empty(s)) => {
                if let (Some(e), true) = (cur.as_mut(), local(s.local_name().as_ref()) == "link") {
                    let href = s
                        .attributes()
                        .flatten()
                        .find(|a| a.key.local_name().as_ref() == b"href")
                        .map(|a| String::from_utf8_lossy(&a.value).replace("&amp;", "&"));
                    e.link_cik = href.and_then(|h| {
                        h.split(['?', '&'])
                            .find_map(|kv| kv.strip_prefix("CIK=").map(str::to_string))
                    });
                }
                None
            }
            Ok(Event::End(_)) => {
                if stack.pop().as_deref() == Some("entry") {
                    if let Some(e) = cur.take() {
                        let cik = [
                            e.cik.trim(),
                            e.id.rsplit("cik=")
                                .next()
                                .filter(|_| e.id.contains("cik="))
                                .unwrap_or(""),
                            e.link_cik.as_deref().unwrap_or(""),
                        ]
                        .into_iter()
                        .find_map(|c| c.trim().parse::<u64>().ok());
                        let name = if e.name.trim().is_empty() {
                            e.title.trim()
                        } else {
                            e.name.trim()
                        };
                        if let (Some(cik), false) = (cik, name.is_empty()) {
                            out.push((cik, name.split_whitespace().collect::<Vec<_>>().join(" ")));
                        }
                    }
                }
                None
            }
            Ok(Event::Text(t)) => t.decode().ok().map(|c| c.into_owned()),
            Ok(Event::CData(t)) => t.decode().ok().map(|c| c.into_owned()),
            Ok(Event::GeneralRef(r)) => match r.resolve_char_ref() {
                Ok(Some(c)) => Some(c.to_string()),
                _ => Some(
                    match r.decode().ok().as_deref() {
                        Some("amp") => "&",
                        Some("lt") => "<",
                        Some("gt") => ">",
                        Some("quot") => "\"",
                        Some("apos") => "'",
                        _ => "",
                    }
                    .to_string(),
                ),
            },
            Ok(_) => None,
        };
        if let (Some(p), Some(e)) = (piece, cur.as_mut()) {
            let parent = stack
                .len()
                .checked_sub(2)
                .and_then(|i| stack.get(i))
                .map(String::as_str);
            match (stack.last().map(String::as_str), parent) {
                (Some("cik"), _) => e.cik.push_str(&p),
                (Some("name"), Some("company-info")) => e.name.push_str(&p),
                (Some("title"), Some("entry")) => e.title.push_str(&p),
                (Some("id"), Some("entry")) => e.id.push_str(&p),
                _ => {}
            }
        }
    }
    if !saw_feed {
        return Err("not an Atom feed".into());
    }
    Ok(out)
}

/// `{cik: [tickers]}` of `company_tickers.json`.
fn ticker_index(v: &Value) -> Option<BTreeMap<u64, Vec<String>>> {
    let mut m: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut rows: Vec<(u64, u64, String)> = v
        .as_object()?
        .iter()
        .filter_map(|(k, r)| {
            Some((
                k.parse().unwrap_or(u64::MAX),
                r.get("cik_str")?.as_u64()?,
                r.get("ticker")?.as_str()?.to_string(),
            ))
        })
        .collect();
    rows.sort();
    for (_, cik, t) in rows {
        m.entry(cik).or_default().push(t);
    }
    Some(m)
}

/// Domains and scores of a SimilarWeb similar-sites answer.
fn parse_similar_sites(v: &Value) -> Result<Vec<(String, Option<f64>)>, String> {
    let list = v
        .get("similar_sites")
        .and_then(Value::as_array)
        .ok_or("SimilarWeb answer has no \"similar_sites\" list")?;
    Ok(list
        .iter()
        .filter_map(|s| {
            let url = s.get("url")?.as_str()?;
            let d = Domain::parse(url).ok()?;
            Some((
                d.as_str().to_string(),
                s.get("score").and_then(Value::as_f64),
            ))
        })
        .collect())
}

fn registrable(url: &str) -> Option<String> {
    Domain::parse(url).ok().map(|d| d.as_str().to_string())
}

/// What one source gave: peers, the citation, or why it gave nothing.
enum SourceResult {
    Peers(Vec<Peer>, Vec<Citation>),
    /// Not applicable (private company, no entity, not configured): a note, nothing carried.
    Skipped(String, Citation),
    /// Asked and failed: a note, and last version's peers from this source are kept.
    Failed(String, Citation),
}

fn failed(e: GatewayError, c: Citation) -> SourceResult {
    SourceResult::Failed(e.to_string(), c)
}

async fn sec_peers(ctx: &ModuleContext, m04: Option<&Value>) -> SourceResult {
    let dep = Citation::derived(M04, &[]);
    let Some(m04) = m04 else {
        return SourceResult::Skipped("financials unavailable: no SEC SIC peers".into(), dep);
    };
    if m04.get("sec_filer").and_then(Value::as_bool) != Some(true) {
        return SourceResult::Skipped("not an SEC filer: no SIC-code peers".into(), dep);
    }
    let Some(sic) = m04
        .get("sic")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    else {
        return SourceResult::Skipped("SEC lists no SIC code for this filer".into(), dep);
    };
    let own_cik: Option<u64> = m04
        .get("cik")
        .and_then(Value::as_str)
        .and_then(|c| c.parse().ok());
    let call = Call::get("sec_browse", "/cgi-bin/browse-edgar")
        .query("action", "getcompany")
        .query("SIC", sic)
        .query("owner", "include")
        .query("count", "40")
        .query("output", "atom")
        .for_domain(ctx.domain.as_str())
        .by_module(ID);
    let src = Citation::config("providers.sec_browse", &[]);
    let resp = match ctx.gateway.fetch(&call).await {
        Ok(r) => r,
        Err(e) => return failed(e, src),
    };
    let c1 = Citation::from_response(&resp, &[]);
    let listing = match parse_sic_listing(&resp.body) {
        Ok(l) => l,
        Err(e) => {
            return SourceResult::Failed(format!("SIC {sic} company list is not Atom: {e}"), c1)
        }
    };
    let tcall = Call::get("sec_files", "/files/company_tickers.json")
        .for_domain(ctx.domain.as_str())
        .by_module(ID);
    let tresp = match ctx.gateway.fetch(&tcall).await {
        Ok(r) => r,
        Err(e) => return failed(e, c1),
    };
    let c2 = Citation::from_response(&tresp, &[]);
    let Some(index) = tresp.json::<Value>().ok().as_ref().and_then(ticker_index) else {
        return SourceResult::Failed("SEC ticker list is not an object of rows".into(), c2);
    };
    let peers = listing
        .into_iter()
        .filter(|(cik, _)| Some(*cik) != own_cik)
        .filter_map(|(cik, name)| {
            let tickers = index.get(&cik)?;
            Some(Peer {
                name: Some(name),
                cik: Some(format!("{cik:010}")),
                ticker: tickers.first().cloned(),
                ..Default::default()
            })
        })
        .take(MAX_PER_SOURCE)
        .collect();
    SourceResult::Peers(peers, vec![c1, c2])
}

async fn wikidata_peers(ctx: &ModuleContext, m01: Option<&Value>) -> SourceResult {
    let dep = Citation::derived(M01, &[]);
    let Some(wd) = m01
        .and_then(|d| d.get("wikidata"))
        .filter(|w| w.is_object())
    else {
        return SourceResult::Skipped(
            "no Wikidata entity for this company: no industry peers".into(),
            dep,
        );
    };
    if !ctx.gateway.has_provider("wikidata") {
        return SourceResult::Skipped(
            "Wikidata not read: provider \"wikidata\" is not configured".into(),
            Citation::config("providers.wikidata", &[]),
        );
    }
    let own = wd
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut industries: Vec<String> = wd
        .get("industries")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|i| i.get("id")?.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    industries.sort_by_key(|q| q[1..].parse::<u64>().unwrap_or(u64::MAX));
    industries.truncate(MAX_INDUSTRIES);
    if industries.is_empty() {
        return SourceResult::Skipped("the Wikidata entity lists no industry (P452)".into(), dep);
    }
    let mut cites = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    for ind in &industries {
        match wikidata::search_statement(ctx, ID, "P452", ind).await {
            Ok((resp, found)) => {
                ids.extend(found.into_iter().filter(|q| *q != own));
                cites.push(Citation::from_response(&resp, &[]));
            }
            Err(e) => {
                let (msg, c) = e.note("industry search");
                return SourceResult::Failed(msg, c);
            }
        }
    }
    let mut ids = wikidata::canonical_ids(&ids);
    ids.truncate(MAX_PER_SOURCE);
    if ids.is_empty() {
        return SourceResult::Peers(Vec::new(), cites);
    }
    let (resp, entities) = match wikidata::entities(ctx, ID, &ids).await {
        Ok(Some(x)) => x,
        Ok(None) => return SourceResult::Peers(Vec::new(), cites),
        Err(e) => {
            let (msg, c) = e.note("peer lookup");
            return SourceResult::Failed(msg, c);
        }
    };
    let c = Citation::from_response(&resp, &[]);
    let peers = ids
        .iter()
        .filter_map(|id| {
            let e = entities.get(id)?;
            let domain = official_websites(e).iter().find_map(|w| registrable(w));
            if domain.as_deref() == Some(ctx.domain.as_str()) {
                return None;
            }
            Some(Peer {
                name: wikidata::en_text(e, "labels"),
                domain,
                wikidata_id: Some(id.clone()),
                ..Default::default()
            })
        })
        .filter(|p| p.name.is_some() || p.domain.is_some())
        .collect();
    cites.push(c);
    SourceResult::Peers(peers, cites)
}

async fn similarweb_peers(ctx: &ModuleContext) -> SourceResult {
    let cfg = Citation::config("providers.similarweb", &[]);
    if !ctx.gateway.has_provider(SIMILARWEB) {
        return SourceResult::Skipped("SimilarWeb not configured: no similar sites".into(), cfg);
    }
    if let Some(why) = ctx.gateway.missing_credentials(SIMILARWEB) {
        return SourceResult::Skipped(format!("SimilarWeb not used: {why}"), cfg);
    }
    let call = Call::get(
        SIMILARWEB,
        format!(
            "/v4/website/{}/similar-sites/similarsites",
            ctx.domain.as_str()
        ),
    )
    .for_domain(ctx.domain.as_str())
    .by_module(ID);
    let resp = match ctx.gateway.fetch(&call).await {
        // SimilarWeb has no data for small sites: not a failure.
        Err(e) if e.status() == Some(404) => {
            return SourceResult::Peers(Vec::new(), vec![cfg]);
        }
        Err(e) => return failed(e, cfg),
        Ok(r) => r,
    };
    let c = Citation::from_response(&resp, &[]);
    let v: Value = match resp.json() {
        Ok(v) => v,
        Err(e) => return SourceResult::Failed(e.to_string(), c),
    };
    match parse_similar_sites(&v) {
        Ok(sites) => SourceResult::Peers(
            sites
                .into_iter()
                .filter(|(d, _)| d != ctx.domain.as_str())
                .take(MAX_PER_SOURCE)
                .map(|(d, s)| Peer {
                    domain: Some(d),
                    similarity: s,
                    ..Default::default()
                })
                .collect(),
            vec![c],
        ),
        Err(e) => SourceResult::Failed(e, c),
    }
}

/// Merges a peer into the list: same id, or same normalized name, is the same peer.
fn merge(list: &mut Vec<Value>, p: &Peer, source: &str) {
    let Some(id) = peer_id(p) else { return };
    let name_key = p.name.as_deref().map(normalize_company_name);
    let existing = list.iter_mut().find(|v| {
        v.get("id").and_then(Value::as_str) == Some(id.as_str())
            || (name_key.is_some()
                && v.get("name")
                    .and_then(Value::as_str)
                    .map(normalize_company_name)
                    == name_key)
    });
    let fields = json!({
        "name": p.name, "domain": p.domain, "sec_cik": p.cik, "ticker": p.ticker,
        "wikidata_id": p.wikidata_id, "similarity": p.similarity,
    });
    match existing {
        Some(e) => {
            if let Some(s) = e.get_mut("sources").and_then(Value::as_array_mut) {
                if !s.iter().any(|x| x == source) {
                    s.push(json!(source));
                }
            }
            if let (Some(o), Value::Object(f)) = (e.as_object_mut(), fields) {
                for (k, v) in f {
                    if o.get(&k).is_none_or(Value::is_null) {
                        o.insert(k, v);
                    }
                }
            }
        }
        None => {
            let mut v = fields;
            if let Some(o) = v.as_object_mut() {
                o.insert("id".into(), json!(id));
                o.insert("sources".into(), json!([source]));
            }
            list.push(v);
        }
    }
}

/// Last version's peers that came from `source`, as peers to merge again.
fn carried(prev: Option<&Value>, source: &str) -> Vec<Peer> {
    prev.and_then(|p| p.get("competitors"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|e| {
                    e.get("sources")
                        .and_then(Value::as_array)
                        .is_some_and(|s| s.iter().any(|x| x == source))
                })
                .map(|e| {
                    let s = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_string);
                    Peer {
                        name: s("name"),
                        domain: s("domain"),
                        cik: s("sec_cik"),
                        ticker: s("ticker"),
                        wikidata_id: s("wikidata_id"),
                        similarity: e.get("similarity").and_then(Value::as_f64),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

#[async_trait]
impl Module for Competitors {
    fn spec(&self) -> &ModuleSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ModuleContext) -> Result<ModuleOutput, ModuleError> {
        let m01 = ctx.dependency(M01).map(|o| o.data.clone());
        let m04 = ctx.dependency(M04).map(|o| o.data.clone());
        let results = [
            ("sec", sec_peers(ctx, m04.as_ref()).await),
            ("wikidata", wikidata_peers(ctx, m01.as_ref()).await),
            ("similarweb", similarweb_peers(ctx).await),
        ];
        let mut list: Vec<Value> = Vec::new();
        let mut cites: Vec<Citation> = Vec::new();
        let mut by_source: BTreeMap<&str, Vec<Citation>> = BTreeMap::new();
        let mut notes: Vec<(String, Citation)> = Vec::new();
        for (source, r) in &results {
            match r {
                SourceResult::Peers(peers, c) => {
                    for p in peers {
                        merge(&mut list, p, source);
                    }
                    cites.extend(c.iter().cloned());
                    by_source
                        .entry(source)
                        .or_default()
                        .extend(c.iter().cloned());
                }
                SourceResult::Skipped(n, c) => notes.push((n.clone(), c.clone())),
                SourceResult::Failed(n, c) => {
                    let kept = carried(ctx.previous(), source);
                    for p in &kept {
                        merge(&mut list, p, source);
                    }
                    notes.push((
                        format!(
                            "{source} peers unavailable ({n}); kept {} from the previous version",
                            kept.len()
                        ),
                        c.clone(),
                    ));
                    if !kept.is_empty() {
                        cites.push(Citation::derived(ID, &[]));
                        by_source
                            .entry(source)
                            .or_default()
                            .push(Citation::derived(ID, &[]));
                    }
                }
            }
        }
        let mut out = ModuleOutput::new();
        let first = cites
            .first()
            .cloned()
            .or_else(|| notes.first().map(|(_, c)| c.clone()))
            .unwrap_or_else(|| Citation::derived(ID, &[]));
        out.set("competitor_count", list.len(), &first);
        for c in &cites {
            cover(&mut out, c, "/competitor_count");
        }
        // A peer known only by its domain (SimilarWeb) is named by it.
        for e in list.iter_mut() {
            if e.get("name").is_none_or(Value::is_null) {
                let d = e.get("domain").cloned().unwrap_or(Value::Null);
                if let Some(o) = e.as_object_mut() {
                    o.insert("name".into(), d);
                }
            }
        }
        let cited = with_tagged_sources(list, &by_source);
        set_cited_set(&mut out, "competitors", "id", cited, &first);
        let sic = m04
            .as_ref()
            .and_then(|d| d.get("sic").cloned())
            .unwrap_or(Value::Null);
        out.set("sic", sic, &Citation::derived(M04, &[]));
        let industries: Vec<Value> = m01
            .as_ref()
            .and_then(|d| d.get("wikidata")?.get("industries")?.as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|i| i.get("label").and_then(Value::as_str).map(|s| json!(s)))
            .collect();
        out.set("industries", industries, &Citation::derived(M01, &[]));
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

    fn fixture(rel: &str) -> Vec<u8> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures")
            .join(rel);
        std::fs::read(p).unwrap()
    }

    fn fixture_json(rel: &str) -> Value {
        serde_json::from_slice(&fixture(rel)).unwrap()
    }

    #[test]
    fn edgar_sic_listing() {
        let l = parse_sic_listing(&fixture("epoch1/sec_browse/browse-sic-5961.atom")).unwrap();
        assert_eq!(l.len(), 4);
        assert_eq!(l[0], (1018724, "AMAZON COM INC".to_string()));
        // CIK from the link when the id has none; entries without a CIK are skipped.
        let atom = br#"<feed xmlns="http://www.w3.org/2005/Atom"><title>x</title><id>x</id><updated>2024-01-01T00:00:00Z</updated>
            <entry><id>urn:x</id><title>ACME CORP</title><updated>2024-01-01T00:00:00Z</updated><link href="https://www.sec.gov/cgi-bin/browse-edgar?action=getcompany&amp;CIK=0000000042"/></entry>
            <entry><id>urn:y</id><title>NO CIK</title><updated>2024-01-01T00:00:00Z</updated></entry></feed>"#;
        assert_eq!(
            parse_sic_listing(atom).unwrap(),
            vec![(42, "ACME CORP".to_string())]
        );
        assert!(parse_sic_listing(b"<html>SEC is down</html>").is_err());
    }

    #[test]
    fn ticker_index_groups_tickers_by_cik() {
        let i = ticker_index(&fixture_json("epoch1/sec_files/company_tickers.json")).unwrap();
        assert_eq!(
            i.get(&1652044).unwrap(),
            &vec!["GOOGL".to_string(), "GOOG".into()]
        );
        assert_eq!(i.get(&1043277).unwrap(), &vec!["CHRW".to_string()]);
        assert!(ticker_index(&json!([1])).is_none());
    }

    #[test]
    fn wikidata_search_and_similar_sites() {
        let v = fixture_json("epoch1/wikidata/haswbstatement-P452-Q638608.json");
        assert_eq!(wikidata::parse_query_search(&v).unwrap()[2], "Q130000021");
        assert!(wikidata::parse_query_search(&json!({"error": {"code": "x"}})).is_err());
        assert!(wikidata::parse_query_search(&json!({"batchcomplete": ""})).is_err());
        let v = fixture_json("epoch1/similarweb/techstart.io-similar-sites.json");
        let s = parse_similar_sites(&v).unwrap();
        assert_eq!(s[0], ("launchpadlabs.dev".to_string(), Some(0.81)));
        let odd = json!({"similar_sites": [{"url": "not a domain!"}, {"score": 1}, {"url": "https://www.x.com/"}]});
        assert_eq!(
            parse_similar_sites(&odd).unwrap(),
            vec![("x.com".to_string(), None)]
        );
        assert!(parse_similar_sites(&json!({"meta": {"status": "Error"}})).is_err());
    }

    #[test]
    fn peers_merge_across_sources_and_carry_over() {
        let mut l = Vec::new();
        merge(
            &mut l,
            &Peer {
                name: Some("Launchpad Labs".into()),
                domain: Some("launchpadlabs.dev".into()),
                wikidata_id: Some("Q1".into()),
                ..Default::default()
            },
            "wikidata",
        );
        merge(
            &mut l,
            &Peer {
                domain: Some("launchpadlabs.dev".into()),
                similarity: Some(0.8),
                ..Default::default()
            },
            "similarweb",
        );
        merge(
            &mut l,
            &Peer {
                name: Some("AMAZON COM INC".into()),
                cik: Some("0001018724".into()),
                ..Default::default()
            },
            "sec",
        );
        merge(&mut l, &Peer::default(), "sec");
        assert_eq!(l.len(), 2);
        assert_eq!(l[0]["sources"], json!(["wikidata", "similarweb"]));
        assert_eq!(l[0]["similarity"], 0.8);
        assert_eq!(l[1]["id"], "amazon");
        let prev = json!({"competitors": l});
        let kept = carried(Some(&prev), "similarweb");
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].domain.as_deref(), Some("launchpadlabs.dev"));
        assert!(carried(Some(&json!({"competitors": {}})), "sec").is_empty());
    }
}
