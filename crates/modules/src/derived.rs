//! Helpers shared by the derived modules (M10–M15): reading dependency JSON defensively and
//! carrying the dependencies' own citations forward, so that a value computed from another
//! module's output still points at the page or API answer it ultimately came from.

use crate::clients::cite::cover;
use pforge_core::{Citation, ModuleContext, ModuleOutput};
use serde_json::Value;

/// Whether citation pointer `p` supports (or is supported within) the value at `pointer`.
fn overlaps(p: &str, pointer: &str) -> bool {
    p.is_empty()
        || pointer.is_empty()
        || p == pointer
        || pointer.starts_with(&format!("{p}/"))
        || p.starts_with(&format!("{pointer}/"))
}

/// The citations of `dep` that support the value at `pointer` in its data.
pub(crate) fn sources_for<'a>(dep: &'a ModuleOutput, pointer: &str) -> Vec<&'a Citation> {
    dep.sources
        .iter()
        .filter(|c| c.covers.iter().any(|p| overlaps(p, pointer)))
        .collect()
}

/// Copies the citations of `dep` that support `dep_pointer` so that they also cover
/// `my_pointer` in `out`; returns how many were carried.
pub(crate) fn carry(
    out: &mut ModuleOutput,
    dep: &ModuleOutput,
    dep_pointer: &str,
    my_pointer: &str,
) -> usize {
    let cites: Vec<Citation> = sources_for(dep, dep_pointer).into_iter().cloned().collect();
    for c in &cites {
        cover(out, c, my_pointer);
    }
    cites.len()
}

/// Adds `pointer` to the citations of `out` for `c` (re-export of the shared helper).
pub(crate) fn cite(out: &mut ModuleOutput, c: &Citation, pointer: &str) {
    cover(out, c, pointer);
}

/// The string at `pointer`, if it is a non-empty string.
pub(crate) fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The number at `pointer` (a JSON number, or a string holding one).
pub(crate) fn num_at(v: &Value, pointer: &str) -> Option<f64> {
    match v.pointer(pointer)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().replace(',', "").parse().ok(),
        _ => None,
    }
}

/// The array at `pointer` (empty when absent or not an array).
pub(crate) fn array_at<'a>(v: &'a Value, pointer: &str) -> &'a [Value] {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The first of several candidate string fields of an object (dependency outputs written by
/// other helpers may name things slightly differently; missing fields degrade, never panic).
pub(crate) fn first_str<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| str_at(v, &format!("/{k}")))
}

/// A line per failed dependency (`m06_hiring unavailable: ...`), for degraded outputs.
pub(crate) fn failure_notes(ctx: &ModuleContext) -> Vec<String> {
    ctx.failed_dependencies()
        .map(|(id, why)| format!("{id} unavailable: {why}"))
        .collect()
}

/// Puts top-level set arrays (`field` keyed by `key`) in the order the executor's
/// canonicalization gives them (by the lower-cased key) and remaps citation pointers, so that
/// `/field/3` keeps pointing at the same element once the snapshot is stored. Keys must be
/// unique within the array.
pub(crate) fn canonical_order(out: &mut ModuleOutput, arrays: &[(&str, &str)]) {
    for (field, key) in arrays {
        let Some(Value::Array(items)) = out.data.get_mut(*field) else {
            continue;
        };
        let sort_key = |v: &Value| -> (String, String) {
            let id = match v.get(*key) {
                Some(Value::String(s)) => s.to_lowercase(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            (id, v.to_string())
        };
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by_cached_key(|&i| sort_key(&items[i]));
        let mut new_pos = vec![0; items.len()];
        for (new, &old) in order.iter().enumerate() {
            new_pos[old] = new;
        }
        *items = order.iter().map(|&i| items[i].clone()).collect();
        let prefix = format!("/{}/", field.replace('~', "~0").replace('/', "~1"));
        for c in &mut out.sources {
            for p in &mut c.covers {
                let Some(rest) = p.strip_prefix(&prefix) else {
                    continue;
                };
                let (num, tail) = match rest.split_once('/') {
                    Some((n, t)) => (n, format!("/{t}")),
                    None => (rest, String::new()),
                };
                if let Some(n) = num.parse::<usize>().ok().and_then(|i| new_pos.get(i)) {
                    *p = format!("{prefix}{n}{tail}");
                }
            }
        }
    }
}

/// A date written as `YYYY`, `YYYY-MM` or `YYYY-MM-DD`, padded to the start of its period so
/// that dates of different precision compare.
fn date_key(d: &str) -> String {
    let mut parts: Vec<&str> = d.split('-').collect();
    while parts.len() < 3 {
        parts.push("01");
    }
    parts.join("-")
}

/// The newest of several dated facts (undated ones lose); on equal dates the later entry wins,
/// so a filing (pushed last) beats Wikidata for the same period.
fn newest(mut facts: Vec<(Option<String>, Fact<f64>)>) -> Option<Fact<f64>> {
    let mut best: Option<(Option<String>, Fact<f64>)> = None;
    for (date, fact) in facts.drain(..) {
        let key = date.as_deref().map(date_key);
        let better = match &best {
            None => true,
            Some((b, _)) => key >= b.as_deref().map(date_key),
        };
        if better {
            best = Some((date, fact));
        }
    }
    best.map(|(_, f)| f)
}

/// Case-insensitive equality, ignoring spaces, dots and dashes (`Constructor.io` ~ `constructor io`).
pub(crate) fn same_name(a: &str, b: &str) -> bool {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    let (a, b) = (norm(a), norm(b));
    !a.is_empty() && a == b
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_newest_head_count_wins() {
        let f = |v: f64, o: &str| Fact::new(v, M01, "/x", o);
        let got = newest(vec![
            (Some("2024".into()), f(240.0, "Wikidata")),
            (Some("2023-12-31".into()), f(230.0, "SEC")),
            (None, f(1.0, "undated")),
        ])
        .unwrap();
        assert_eq!(got.value, 240.0);
        let got = newest(vec![
            (Some("2024-01-01".into()), f(240.0, "Wikidata")),
            (Some("2024-12-31".into()), f(250.0, "SEC")),
        ])
        .unwrap();
        assert_eq!(got.origin, "SEC");
        assert!(newest(vec![]).is_none());
    }

    #[test]
    fn carries_only_overlapping_citations() {
        let mut dep = ModuleOutput::new();
        let a = Citation::config("a", &[]);
        let b = Citation::config("b", &[]);
        dep.set("technologies", json!([{"name": "Algolia"}]), &a);
        dep.set("mx", json!([]), &b);
        let mut out = ModuleOutput::new();
        assert_eq!(carry(&mut out, &dep, "/technologies/0", "/targets"), 1);
        assert_eq!(out.sources.len(), 1);
        assert_eq!(out.sources[0].source, "config:a");
        assert_eq!(out.sources[0].covers, vec!["/targets"]);
    }

    #[test]
    fn canonical_order_matches_the_executor_and_keeps_citations_on_their_element() {
        use pforge_core::SetArray;
        let mut out = ModuleOutput::new();
        let base = Citation::config("x", &[]);
        out.set(
            "items",
            json!([{"id": "b", "v": 1}, {"id": "C", "v": 2}, {"id": "a", "v": 3}]),
            &base,
        );
        let only_c = Citation::config("c", &[]);
        cite(&mut out, &only_c, "/items/1/v");
        canonical_order(&mut out, &[("items", "id")]);
        let canon = pforge_versioning::canonicalize(&out.data, &[SetArray::keyed("/items", "id")]);
        assert_eq!(
            canon, out.data,
            "already canonical: the executor changes nothing"
        );
        let c = out.sources.iter().find(|c| c.source == "config:c").unwrap();
        assert_eq!(c.covers, vec!["/items/2/v"]);
        assert_eq!(out.data["items"][2]["id"], "C");
    }

    #[test]
    fn accessors_degrade_on_missing_or_wrong_types() {
        let v = json!({"a": {"n": "1,200", "s": "  ", "arr": 3}});
        assert_eq!(num_at(&v, "/a/n"), Some(1200.0));
        assert_eq!(str_at(&v, "/a/s"), None);
        assert!(array_at(&v, "/a/arr").is_empty());
        assert!(array_at(&v, "/missing").is_empty());
        assert!(same_name("Constructor.io", "constructor io"));
        assert!(!same_name("", ""));
    }
}

/// One fact about the account, with where it came from (module + pointer) so that the
/// dependency's citations can be carried to whatever is computed from it.
#[derive(Debug, Clone)]
pub(crate) struct Fact<T> {
    pub value: T,
    pub module: &'static str,
    pub pointer: String,
    /// Human text of where it came from ("Wikidata", "SEC 10-K FY2023", "homepage JSON-LD").
    pub origin: String,
}

impl<T> Fact<T> {
    fn new(value: T, module: &'static str, pointer: &str, origin: impl Into<String>) -> Self {
        Fact {
            value,
            module,
            pointer: pointer.to_string(),
            origin: origin.into(),
        }
    }

    /// Carries the citations of this fact's source to `my_pointer` in `out`.
    pub fn carry_to(&self, ctx: &ModuleContext, out: &mut ModuleOutput, my_pointer: &str) {
        if let Some(dep) = ctx.dependency(self.module) {
            if carry(out, dep, &self.pointer, my_pointer) == 0 {
                cover(out, &Citation::derived(self.module, &[]), my_pointer);
            }
        }
    }
}

/// What the firmographic modules (M01 company context, M03 traffic, M04 financials) and M02
/// say about the account, read defensively: any module may be missing or partial.
#[derive(Debug, Clone, Default)]
pub(crate) struct AccountFacts {
    pub name: Option<Fact<String>>,
    pub description: Option<Fact<String>>,
    pub industries: Vec<Fact<String>>,
    pub employees: Option<Fact<f64>>,
    pub revenue: Option<Fact<f64>>,
    pub rank: Option<Fact<f64>>,
    pub monthly_visits: Option<Fact<f64>>,
    pub country: Option<Fact<String>>,
    pub headquarters: Option<Fact<String>>,
    pub technologies: Vec<Fact<String>>,
}

const M01: &str = "m01_company_context";
const M02: &str = "m02_tech_stack";
const M03: &str = "m03_traffic";
const M04: &str = "m04_financials";
const M08: &str = "m08_investors";

impl AccountFacts {
    /// Reads whichever of M01–M04 (and M08's paid head count) the context holds.
    pub fn from_ctx(ctx: &ModuleContext) -> Self {
        let mut f = AccountFacts::default();
        // Every cited head count with its date (filer tag, Wikidata P1128, JSON-LD, a paid
        // provider's band); the newest wins, a filing breaking ties.
        let mut head_counts: Vec<(Option<String>, Fact<f64>)> = Vec::new();
        if let Some(o) = ctx.dependency(M08) {
            let d = &o.data;
            if let Some(n) = num_at(d, "/employees/count") {
                let date = str_at(d, "/employees/as_of").map(str::to_string);
                let band = str_at(d, "/employees/band")
                    .map(|b| format!(" band {b}"))
                    .unwrap_or_default();
                head_counts.push((
                    date,
                    Fact::new(n, M08, "/employees", format!("Crunchbase{band}")),
                ));
            }
        }
        if let Some(o) = ctx.dependency(M01) {
            let d = &o.data;
            if let Some(n) = str_at(d, "/name") {
                f.name = Some(Fact::new(n.to_string(), M01, "/name", "homepage"));
            }
            if let Some(n) = str_at(d, "/description") {
                f.description = Some(Fact::new(n.to_string(), M01, "/description", "homepage"));
            }
            for (i, ind) in array_at(d, "/wikidata/industries").iter().enumerate() {
                if let Some(l) = first_str(ind, &["label", "id"]) {
                    f.industries.push(Fact::new(
                        l.to_string(),
                        M01,
                        &format!("/wikidata/industries/{i}"),
                        "Wikidata",
                    ));
                }
            }
            if let Some(n) = num_at(d, "/wikidata/employees/count") {
                let date = str_at(d, "/wikidata/employees/as_of").map(str::to_string);
                let as_of = date
                    .as_deref()
                    .map(|a| format!(" ({})", a.chars().take(4).collect::<String>()))
                    .unwrap_or_default();
                head_counts.push((
                    date,
                    Fact::new(n, M01, "/wikidata/employees", format!("Wikidata{as_of}")),
                ));
            }
            if let Some(n) = num_at(d, "/employees_on_site") {
                // The site's own JSON-LD count is as of the fetch.
                let date = Some(o.fetched_at.format("%Y-%m-%d").to_string());
                head_counts.push((
                    date,
                    Fact::new(n, M01, "/employees_on_site", "homepage JSON-LD"),
                ));
            }
            if let Some(c) = str_at(d, "/address/country") {
                f.country = Some(Fact::new(
                    c.to_string(),
                    M01,
                    "/address",
                    "homepage address",
                ));
            }
            let hq = str_at(d, "/wikidata/headquarters/label")
                .map(|h| (h, "/wikidata/headquarters", "Wikidata"))
                .or_else(|| {
                    str_at(d, "/address/locality").map(|h| (h, "/address", "homepage address"))
                });
            if let Some((h, p, o)) = hq {
                f.headquarters = Some(Fact::new(h.to_string(), M01, p, o));
            }
        }
        if let Some(o) = ctx.dependency(M04) {
            let d = &o.data;
            if let Some(s) = str_at(d, "/sic_description") {
                f.industries.push(Fact::new(
                    s.to_string(),
                    M04,
                    "/sic_description",
                    "SEC SIC code",
                ));
            }
            let fy = num_at(d, "/financials/fiscal_year")
                .map(|y| format!(" FY{y}"))
                .unwrap_or_default();
            if let Some(r) = num_at(d, "/financials/revenue/value") {
                f.revenue = Some(Fact::new(
                    r,
                    M04,
                    "/financials/revenue",
                    format!("SEC 10-K{fy}"),
                ));
            }
            if let Some(e) = num_at(d, "/financials/employees/value") {
                let date = str_at(d, "/financials/employees/period_end").map(str::to_string);
                head_counts.push((
                    date,
                    Fact::new(e, M04, "/financials/employees", format!("SEC 10-K{fy}")),
                ));
            }
            let files_10k = array_at(d, "/filings").iter().any(|x| {
                str_at(x, "/form").is_some_and(|f| f.starts_with("10-K") || f.starts_with("10-Q"))
            });
            if f.country.is_none() && d.get("sec_filer") == Some(&Value::Bool(true)) && files_10k {
                f.country = Some(Fact::new(
                    "US".to_string(),
                    M04,
                    "/filings",
                    "files 10-K/10-Q with the SEC",
                ));
            }
        }
        f.employees = newest(head_counts);
        if let Some(o) = ctx.dependency(M03) {
            let d = &o.data;
            if let Some(r) = num_at(d, "/rank") {
                f.rank = Some(Fact::new(r, M03, "/rank", "popularity rank list"));
            }
            if let Some(v) = num_at(d, "/average_monthly_visits") {
                f.monthly_visits = Some(Fact::new(v, M03, "/average_monthly_visits", "SimilarWeb"));
            }
        }
        if let Some(o) = ctx.dependency(M02) {
            for (i, t) in array_at(&o.data, "/technologies").iter().enumerate() {
                if let Some(n) = first_str(t, &["name"]) {
                    f.technologies.push(Fact::new(
                        n.to_string(),
                        M02,
                        &format!("/technologies/{i}"),
                        "tech stack",
                    ));
                }
            }
        }
        f
    }

    /// The detected technology named `name`, if any.
    pub fn technology(&self, name: &str) -> Option<&Fact<String>> {
        self.technologies.iter().find(|t| same_name(&t.value, name))
    }
}

/// A country or region name normalised for comparison (`USA`, `United States` → `us`).
pub(crate) fn region_key(s: &str) -> String {
    let l = s.trim().to_lowercase();
    match l.as_str() {
        "us" | "usa" | "u.s." | "u.s.a." | "united states" | "united states of america" => {
            "us".into()
        }
        "gb" | "uk" | "united kingdom" | "great britain" => "gb".into(),
        "de" | "germany" | "deutschland" => "de".into(),
        "fr" | "france" => "fr".into(),
        "ca" | "canada" => "ca".into(),
        _ => l,
    }
}

/// Builders for derived-module tests: real dependency outputs, built by hand.
#[cfg(test)]
pub(crate) mod test_support {
    use pforge_budget::{Gateway, ProvidersConfig};
    use pforge_core::{Citation, DependencyResult, Domain, ModuleContext, ModuleOutput};
    use serde_json::Value;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    /// A dependency output whose every top-level field is cited to `source`.
    pub fn output(data: Value, source: &str) -> ModuleOutput {
        let mut o = ModuleOutput::new();
        let c = Citation {
            source: source.into(),
            provider: "test".into(),
            fetched_at: chrono::Utc::now(),
            covers: vec![],
            canonical: None,
            via: Vec::new(),
        };
        if let Value::Object(m) = data {
            for (k, v) in m {
                o.set(&k, v, &c);
            }
        }
        o
    }

    /// A ready dependency (see [`output`]).
    pub fn ready(data: Value, source: &str) -> DependencyResult {
        DependencyResult::Ready(Arc::new(output(data, source)))
    }

    /// A failed dependency.
    pub fn failed(why: &str) -> DependencyResult {
        DependencyResult::Failed(why.into())
    }

    /// A context for `domain` with these dependencies and a gateway with no providers.
    pub fn ctx_for(domain: &str, deps: Vec<(&str, DependencyResult)>) -> ModuleContext {
        ModuleContext::new(
            Domain::parse(domain).unwrap(),
            Gateway::new(ProvidersConfig::new()).unwrap(),
            deps.into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect::<BTreeMap<_, _>>(),
        )
    }
}
