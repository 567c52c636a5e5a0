//! The one Wikidata client. Every Wikidata request of every module is built here, so the same
//! resource is always asked for with the same URL (same parameters, same order, ids in numeric
//! order): the gateway's cache and single flight then serve M01, M05, M08 and M09 from one call,
//! and the gateway can later batch `wbgetentities` ids across domains without the modules
//! knowing. The parsers of Wikidata's answer formats (statements, ranks, qualifiers, time values,
//! labels, search hits, SPARQL bindings) live here too.
//!
//! Requests:
//! - [`entities`] asks `action=wbgetentities&ids=…&props=labels|descriptions|claims&languages=en`
//! - [`labels`] asks `action=wbgetentities&ids=…&props=labels&languages=en`
//! - [`search_by_name`] asks `action=wbsearchentities&search=…&language=en&type=item&limit=7`
//! - [`search_statement`] asks `action=query&list=search&srsearch=haswbstatement:P=V&srlimit=20`
//! - [`search_by_official_website`] runs a SPARQL query on the `wikidata_sparql` provider for items
//!   whose official website (P856) is the domain. CirrusSearch's `haswbstatement` does not index
//!   URL-typed properties such as P856, so the search by website needs the query service.

use crate::clients::cite::attempted;
use pforge_budget::{Call, GatewayError, Response};
use pforge_core::{Citation, ExpectedItems, ModuleContext, ModuleError};
use serde_json::Value;
use std::collections::BTreeMap;

/// The Wikibase API provider (`https://www.wikidata.org`, path `/w/api.php`).
pub(crate) const PROVIDER: &str = "wikidata";
/// The Wikidata Query Service provider (`https://query.wikidata.org`, path `/sparql`).
pub(crate) const SPARQL_PROVIDER: &str = "wikidata_sparql";
/// The `props` every entity lookup asks for, whoever asks: one URL per entity.
const ENTITY_PROPS: &str = "labels|descriptions|claims";
/// How many name-search hits are asked for.
const SEARCH_LIMIT: &str = "7";

/// `[estimate.shares]` key: share of domains whose item the query service does not find by
/// its official website, so that M01 searches by name.
pub(crate) const SHARE_NAME_SEARCH: &str = "wikidata_name_search";
/// `[estimate.shares]` key: share of domains with a Wikidata item (entities and labels asked).
pub(crate) const SHARE_ITEM_FOUND: &str = "wikidata_item_found";
/// `[estimate.pools]` key: distinct headquarters, industries, countries and exchanges the
/// companies' items refer to (M01 asks their labels).
pub(crate) const POOL_FACETS: &str = "wikidata_company_facets";

/// What [`entities`] sends for `count` ids, for `Module::expected_calls` (the estimate finds
/// the batch rule from it): kept next to the request so the two cannot drift apart.
pub(crate) fn expected_entities(count: u32) -> ExpectedItems {
    ExpectedItems::own(
        "/w/api.php",
        &[
            ("action", "wbgetentities"),
            ("props", ENTITY_PROPS),
            ("languages", "en"),
            ("format", "json"),
        ],
        "ids",
        count,
    )
}

/// What [`labels`] sends for `count` ids drawn from the shared items of `pool`.
pub(crate) fn expected_labels(count: u32, pool: &str) -> ExpectedItems {
    ExpectedItems::shared(
        "/w/api.php",
        &[
            ("action", "wbgetentities"),
            ("props", "labels"),
            ("languages", "en"),
            ("format", "json"),
        ],
        "ids",
        count,
        pool,
    )
}

/// Why a Wikidata lookup gave nothing usable.
#[derive(Debug)]
pub(crate) enum WdError {
    /// The provider failed (status, timeout, budget, breaker); the citation names the call.
    Gateway(GatewayError, Citation),
    /// The answer was not what Wikidata sends (garbage, error object, no such entity).
    Unusable(String, Citation),
}

impl WdError {
    /// The module error for modules that cannot go on without the answer.
    pub(crate) fn into_module_error(self) -> ModuleError {
        match self {
            WdError::Gateway(e, _) => e.into(),
            WdError::Unusable(d, c) => ModuleError::parse(c.source, d),
        }
    }

    /// A one-line note and its citation, for modules that go on without the answer.
    pub(crate) fn note(self, what: &str) -> (String, Citation) {
        match self {
            WdError::Gateway(e, c) => (format!("Wikidata {what} failed: {e}"), c),
            WdError::Unusable(d, c) => (
                format!("Wikidata {what} returned an unusable answer: {d}"),
                c,
            ),
        }
    }
}

fn api_call(ctx: &ModuleContext, module: &str) -> Call {
    Call::get(PROVIDER, "/w/api.php")
        .for_domain(ctx.domain.as_str())
        .by_module(module)
}

async fn fetch(ctx: &ModuleContext, call: &Call) -> Result<(Response, Value), WdError> {
    let resp = ctx
        .gateway
        .fetch(call)
        .await
        .map_err(|e| WdError::Gateway(e, attempted(ctx, call)))?;
    let v: Value = resp
        .json()
        .map_err(|e| WdError::Unusable(e.to_string(), Citation::from_response(&resp, &[])))?;
    if let Some(err) = v.get("error") {
        return Err(WdError::Unusable(
            format!("Wikidata answered an error: {err}"),
            Citation::from_response(&resp, &[]),
        ));
    }
    Ok((resp, v))
}

/// Item ids in numeric order without repeats, so one set of ids is always one URL.
pub(crate) fn canonical_ids(ids: &[String]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().filter(|q| is_item_id(q)).cloned().collect();
    ids.sort_by_key(|q| (q[1..].parse::<u64>().unwrap_or(u64::MAX), q.clone()));
    ids.dedup();
    ids
}

/// `Q` followed by digits.
pub(crate) fn is_item_id(s: &str) -> bool {
    s.len() > 1 && s.starts_with('Q') && s[1..].chars().all(|c| c.is_ascii_digit())
}

/// Entities by id (labels, descriptions and claims in English), keyed by the id they were asked
/// for, never by the body's own `id` field (an answer may omit it). Missing entities are left
/// out. `Ok(None)` when there is nothing to ask.
pub(crate) async fn entities(
    ctx: &ModuleContext,
    module: &str,
    ids: &[String],
) -> Result<Option<(Response, BTreeMap<String, Value>)>, WdError> {
    let ids = canonical_ids(ids);
    if ids.is_empty() {
        return Ok(None);
    }
    let call = api_call(ctx, module)
        .query("action", "wbgetentities")
        .query("ids", ids.join("|"))
        .query("props", ENTITY_PROPS)
        .query("languages", "en")
        .query("format", "json");
    let (resp, v) = fetch(ctx, &call).await?;
    Ok(Some((resp, entities_by_key(&v, &ids))))
}

/// The entities of a `wbgetentities` answer under the keys that were asked for.
pub(crate) fn entities_by_key(v: &Value, ids: &[String]) -> BTreeMap<String, Value> {
    ids.iter()
        .filter_map(|id| {
            let e = v.get("entities")?.get(id)?;
            (e.is_object() && e.get("missing").is_none()).then(|| (id.clone(), e.clone()))
        })
        .collect()
}

/// One entity's claims: `entities` for a single id, an error when it is missing.
pub(crate) async fn entity(
    ctx: &ModuleContext,
    module: &str,
    qid: &str,
) -> Result<(Response, Value), WdError> {
    match entities(ctx, module, &[qid.to_string()]).await? {
        Some((resp, mut map)) => match map.remove(qid) {
            Some(e) => Ok((resp, e)),
            None => {
                let c = Citation::from_response(&resp, &[]);
                Err(WdError::Unusable(format!("answer has no entity {qid}"), c))
            }
        },
        None => Err(WdError::Unusable(
            format!("{qid:?} is not a Wikidata item id"),
            Citation::config("wikidata", &[]),
        )),
    }
}

/// English labels of items, ids asked in numeric order. Items without an English label are
/// left out of the map; `Ok(None)` when there is nothing to ask.
pub(crate) async fn labels(
    ctx: &ModuleContext,
    module: &str,
    ids: &[String],
) -> Result<Option<(Response, BTreeMap<String, String>)>, WdError> {
    let ids = canonical_ids(ids);
    if ids.is_empty() {
        return Ok(None);
    }
    let call = api_call(ctx, module)
        .query("action", "wbgetentities")
        .query("ids", ids.join("|"))
        .query("props", "labels")
        .query("languages", "en")
        .query("format", "json");
    let (resp, v) = fetch(ctx, &call).await?;
    Ok(Some((resp, parse_labels(&v, &ids))))
}

/// `{id: label}` from a labels (or entities) answer.
pub(crate) fn parse_labels(v: &Value, ids: &[String]) -> BTreeMap<String, String> {
    ids.iter()
        .filter_map(|id| {
            let l = en_text(v.get("entities")?.get(id)?, "labels")?;
            let l = l.trim();
            (!l.is_empty()).then(|| (id.clone(), l.to_string()))
        })
        .collect()
}

/// Items whose label or alias matches `name` (`wbsearchentities`), in rank order.
pub(crate) async fn search_by_name(
    ctx: &ModuleContext,
    module: &str,
    name: &str,
) -> Result<(Response, Vec<String>), WdError> {
    let call = api_call(ctx, module)
        .query("action", "wbsearchentities")
        .query("search", name)
        .query("language", "en")
        .query("type", "item")
        .query("limit", SEARCH_LIMIT)
        .query("format", "json");
    let (resp, v) = fetch(ctx, &call).await?;
    let ids =
        search_ids(&v).map_err(|e| WdError::Unusable(e, Citation::from_response(&resp, &[])))?;
    Ok((resp, ids))
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
        .filter(|id| is_item_id(id))
        .map(str::to_string)
        .collect())
}

/// Items with a statement `prop=value` (CirrusSearch `haswbstatement`), e.g. the items whose
/// industry (P452) is an item.
pub(crate) async fn search_statement(
    ctx: &ModuleContext,
    module: &str,
    prop: &str,
    value: &str,
) -> Result<(Response, Vec<String>), WdError> {
    let call = api_call(ctx, module)
        .query("action", "query")
        .query("list", "search")
        .query("srsearch", format!("haswbstatement:{prop}={value}"))
        .query("srlimit", "20")
        .query("format", "json");
    let (resp, v) = fetch(ctx, &call).await?;
    let ids = parse_query_search(&v)
        .map_err(|e| WdError::Unusable(e, Citation::from_response(&resp, &[])))?;
    Ok((resp, ids))
}

/// Titles (item ids) of an `action=query&list=search` answer.
pub(crate) fn parse_query_search(v: &Value) -> Result<Vec<String>, String> {
    if let Some(e) = v.get("error") {
        return Err(format!("Wikidata search answered an error: {e}"));
    }
    let hits = v
        .get("query")
        .and_then(|q| q.get("search"))
        .and_then(Value::as_array)
        .ok_or("Wikidata search answer has no query.search list")?;
    Ok(hits
        .iter()
        .filter_map(|h| h.get("title")?.as_str())
        .filter(|t| is_item_id(t))
        .map(str::to_string)
        .collect())
}

/// The official-website values (P856) a domain may be written as on Wikidata: both schemes,
/// with and without `www.`, with and without the trailing slash.
pub(crate) fn website_variants(domain: &str) -> Vec<String> {
    let mut out = Vec::new();
    for scheme in ["https", "http"] {
        for host in [domain.to_string(), format!("www.{domain}")] {
            out.push(format!("{scheme}://{host}"));
            out.push(format!("{scheme}://{host}/"));
        }
    }
    out
}

/// The SPARQL text that finds items whose official website (P856) is one of the domain's
/// variants. Deterministic, so one domain is one URL.
pub(crate) fn official_website_query(domain: &str) -> String {
    let values: Vec<String> = website_variants(domain)
        .into_iter()
        .map(|v| format!("<{v}>"))
        .collect();
    format!(
        "SELECT ?item ?site WHERE {{ VALUES ?site {{ {} }} ?item wdt:P856 ?site . }} LIMIT 20",
        values.join(" ")
    )
}

/// Items whose official website (P856) is on the domain, by the Wikidata Query Service, in
/// numeric order. `Ok(None)` when the query service is not configured.
pub(crate) async fn search_by_official_website(
    ctx: &ModuleContext,
    module: &str,
) -> Result<Option<(Response, Vec<String>)>, WdError> {
    if !ctx.gateway.has_provider(SPARQL_PROVIDER) {
        return Ok(None);
    }
    let call = Call::get(SPARQL_PROVIDER, "/sparql")
        .query("query", official_website_query(ctx.domain.as_str()))
        .query("format", "json")
        .for_domain(ctx.domain.as_str())
        .by_module(module);
    let (resp, v) = fetch(ctx, &call).await?;
    let ids = sparql_items(&v, "item")
        .map_err(|e| WdError::Unusable(e, Citation::from_response(&resp, &[])))?;
    Ok(Some((resp, canonical_ids(&ids))))
}

/// Item ids bound to `var` in a SPARQL JSON result (`results.bindings[].var.value` holding
/// `http://www.wikidata.org/entity/Q…`).
pub(crate) fn sparql_items(v: &Value, var: &str) -> Result<Vec<String>, String> {
    let rows = v
        .get("results")
        .and_then(|r| r.get("bindings"))
        .and_then(Value::as_array)
        .ok_or("SPARQL answer has no results.bindings list")?;
    Ok(rows
        .iter()
        .filter_map(|b| b.get(var)?.get("value")?.as_str())
        .filter_map(|uri| uri.rsplit('/').next())
        .filter(|q| is_item_id(q))
        .map(str::to_string)
        .collect())
}

// ------------------------------------------------------------------ entity parsing

/// Statements of `prop`, best rank first, deprecated ones dropped.
pub(crate) fn statements<'a>(entity: &'a Value, prop: &str) -> Vec<&'a Value> {
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

/// The value of a snak that has one (`snaktype: value`).
pub(crate) fn datavalue(snak: &Value) -> Option<&Value> {
    if snak.get("snaktype").and_then(Value::as_str) != Some("value") {
        return None;
    }
    snak.get("datavalue")?.get("value")
}

/// The main value of a statement.
pub(crate) fn main_value(stmt: &Value) -> Option<&Value> {
    datavalue(stmt.get("mainsnak")?)
}

/// The first value of a qualifier of a statement.
pub(crate) fn qualifier<'a>(stmt: &'a Value, prop: &str) -> Option<&'a Value> {
    stmt.get("qualifiers")?
        .get(prop)?
        .as_array()?
        .iter()
        .find_map(datavalue)
}

/// The item id of an item value.
pub(crate) fn item_id(v: &Value) -> Option<String> {
    v.get("id").and_then(Value::as_str).map(str::to_string)
}

/// An entity's English label or description.
pub(crate) fn en_text(entity: &Value, field: &str) -> Option<String> {
    entity
        .get(field)?
        .get("en")?
        .get("value")?
        .as_str()
        .map(str::to_string)
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
    string_values(entity, "P856")
}

/// String values of `prop` (URLs, external ids such as the CIK P5531), best rank first.
pub(crate) fn string_values(entity: &Value, prop: &str) -> Vec<String> {
    statements(entity, prop)
        .into_iter()
        .filter_map(|s| main_value(s)?.as_str().map(str::to_string))
        .collect()
}

/// The SEC CIKs (P5531) of an entity, zero-padded to ten digits.
pub(crate) fn ciks(entity: &Value) -> Vec<String> {
    string_values(entity, "P5531")
        .into_iter()
        .filter(|c| !c.is_empty() && c.len() <= 10 && c.chars().all(|x| x.is_ascii_digit()))
        .map(|c| format!("{c:0>10}"))
        .collect()
}

/// The head count (P1128) with its point in time (P585): preferred rank wins, otherwise the
/// most recent point in time.
pub(crate) fn employees(e: &Value) -> Option<(i64, Option<String>)> {
    statements(e, "P1128")
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
        .max_by(|a, b| (a.2, &a.1).cmp(&(b.2, &b.1)))
        .map(|(n, as_of, _)| (n, as_of))
}

/// An item-valued statement: the item, its start/end qualifiers (P580/P582) and whether it has
/// preferred rank.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ClaimItem {
    pub id: String,
    pub start: Option<String>,
    pub end: Option<String>,
    pub preferred: bool,
}

/// Item values of `prop` on an entity, deprecated statements dropped, in statement order.
pub(crate) fn claim_items(entity: &Value, prop: &str) -> Vec<ClaimItem> {
    entity
        .get("claims")
        .and_then(|c| c.get(prop))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|s| s.get("rank").and_then(Value::as_str) != Some("deprecated"))
                .filter_map(|s| {
                    let id = datavalue(s.get("mainsnak")?)?.get("id")?.as_str()?;
                    let time = |p: &str| qualifier(s, p).and_then(wikidata_time);
                    Some(ClaimItem {
                        id: id.to_string(),
                        start: time("P580"),
                        end: time("P582"),
                        preferred: s.get("rank").and_then(Value::as_str) == Some("preferred"),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The Wikidata id M01 accepted for this domain, if any.
pub(crate) fn m01_wikidata_id(m01: &Value) -> Option<String> {
    m01.get("wikidata")?
        .get("id")?
        .as_str()
        .filter(|s| is_item_id(s))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_are_canonical() {
        let ids: Vec<String> = ["Q62", "Q5083", "Q62", "P31", "Q13677", "x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(canonical_ids(&ids), vec!["Q62", "Q5083", "Q13677"]);
    }

    #[test]
    fn entities_are_keyed_by_the_asked_id() {
        // An answer restricted by `props=` carries no `id` field in the entity body.
        let v = json!({"entities": {"Q1": {"labels": {"en": {"value": "One"}}}, "Q2": {"id": "Q2", "missing": ""}}});
        let m = entities_by_key(&v, &["Q1".into(), "Q2".into(), "Q3".into()]);
        assert_eq!(m.keys().collect::<Vec<_>>(), vec!["Q1"]);
    }

    #[test]
    fn sparql_bindings() {
        let v = json!({"head": {"vars": ["item", "site"]}, "results": {"bindings": [
            {"item": {"type": "uri", "value": "http://www.wikidata.org/entity/Q312"}, "site": {"type": "uri", "value": "https://www.apple.com/"}},
            {"item": {"type": "uri", "value": "http://www.wikidata.org/entity/L5"}}
        ]}});
        assert_eq!(sparql_items(&v, "item").unwrap(), vec!["Q312"]);
        assert!(sparql_items(&json!({"boolean": true}), "item").is_err());
        let q = official_website_query("apple.com");
        assert!(q.contains("<https://www.apple.com/>") && q.contains("<http://apple.com>"));
        assert_eq!(website_variants("apple.com").len(), 8);
    }

    #[test]
    fn cik_values_are_padded() {
        let e = json!({"claims": {"P5531": [
            {"rank": "normal", "mainsnak": {"snaktype": "value", "datavalue": {"value": "320193"}}},
            {"rank": "normal", "mainsnak": {"snaktype": "value", "datavalue": {"value": "n/a"}}}
        ]}});
        assert_eq!(ciks(&e), vec!["0000320193"]);
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

    /// A body from `fixtures/real` (real Wikidata answers saved by public projects' tests).
    fn real(name: &str) -> Value {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/real/wikidata")
            .join(name);
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn real_entity_with_a_novalue_snak() {
        let v = real("Q483718-novalue.json");
        let m = entities_by_key(&v, &["Q483718".into()]);
        let e = &m["Q483718"];
        assert_eq!(en_text(e, "labels").as_deref(), Some("Foo Fighters"));
        assert_eq!(
            en_text(e, "descriptions").as_deref(),
            Some("American rock band, formed in Seattle in 1994")
        );
        // P576 (dissolved) is `novalue`: a statement without a value, never a value.
        assert_eq!(statements(e, "P576").len(), 1);
        assert!(main_value(statements(e, "P576")[0]).is_none());
        assert!(claim_items(e, "P576").is_empty());
        assert_eq!(string_values(e, "P373"), vec!["Foo Fighters"]);
        // No official website, CIK or head count on this item: nothing invented.
        assert!(official_websites(e).is_empty());
        assert!(ciks(e).is_empty());
        assert_eq!(employees(e), None);
    }

    #[test]
    fn real_missing_entity_is_left_out() {
        let v = real("Q10908976-missing.json");
        assert!(entities_by_key(&v, &["Q10908976".into()]).is_empty());
        assert!(parse_labels(&v, &["Q10908976".into()]).is_empty());
    }

    #[test]
    fn real_labels_answer_for_mixed_ids() {
        let v = real("labels-mixed.json");
        let ids: Vec<String> = ["Q6581097", "Q691283", "Q1042294", "Q999999999"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let labels = parse_labels(&v, &ids);
        assert_eq!(labels["Q6581097"], "male");
        assert_eq!(labels["Q691283"], "St John's College");
        assert_eq!(labels["Q1042294"], "So Long, and Thanks for All the Fish");
        assert!(
            !labels.contains_key("Q999999999"),
            "not asked, not answered"
        );
        // Only item ids are ever asked for, so a property label in the same answer is ignored.
        assert_eq!(
            canonical_ids(&["P856".to_string(), "Q7979".to_string()]),
            vec!["Q7979"]
        );
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
