//! M04 financials: whether the company files with the SEC and, if so, its listing (SIC,
//! exchanges, tickers, fiscal year end), its latest filings and its latest annual revenue, net
//! income and head count from XBRL company facts, each value with the filing it came from.
//!
//! A company that is not in SEC's ticker list is a normal answer (`sec_filer: false`), not an
//! error. SEC's required User-Agent is provider config, not module code.

use crate::m01_company_context::{attempted, cover};
use async_trait::async_trait;
use chrono::NaiveDate;
use pforge_budget::{Call, Response};
use pforge_core::{
    Citation, ExpectedCall, Module, ModuleContext, ModuleError, ModuleOutput, ModuleSpec, SetArray,
};
use serde::Deserialize;
use serde_json::{json, Value};

const ID: &str = "m04_financials";
const DEP: &str = "m01_company_context";
/// How many recent filings are reported.
const MAX_FILINGS: usize = 10;
/// Forms worth reporting (insider Form 4s and ownership schedules are noise here).
const FORMS: &[&str] = &[
    "10-K", "10-K/A", "10-Q", "10-Q/A", "8-K", "8-K/A", "20-F", "40-F", "6-K", "S-1", "S-1/A",
    "S-4", "DEF 14A", "424B4",
];
const REVENUE_CONCEPTS: &[&str] = &[
    "Revenues",
    "RevenueFromContractWithCustomerExcludingAssessedTax",
    "RevenueFromContractWithCustomerIncludingAssessedTax",
    "SalesRevenueNet",
    "SalesRevenueGoodsNet",
];
const NET_INCOME_CONCEPTS: &[&str] = &["NetIncomeLoss", "ProfitLoss"];

/// The financials module (`m04_financials`).
pub struct Financials {
    spec: ModuleSpec,
}

impl Financials {
    /// Builds the module; it needs no configuration.
    pub fn new() -> Self {
        Financials {
            spec: ModuleSpec {
                id: ID.into(),
                title: "Financials".into(),
                dependencies: vec![DEP.into()],
                providers: vec!["sec_files".into(), "sec_edgar".into()],
                runs_degraded: true,
                set_arrays: vec![
                    SetArray::keyed("/filings", "accession_number"),
                    SetArray::scalars("/tickers"),
                    SetArray::scalars("/exchanges"),
                    SetArray::scalars("/searched_names"),
                    SetArray::scalars("/notes"),
                ],
            },
        }
    }
}

impl Default for Financials {
    fn default() -> Self {
        Self::new()
    }
}

const SUFFIXES: &[&str] = &[
    "inc",
    "incorporated",
    "corp",
    "corporation",
    "co",
    "company",
    "ltd",
    "limited",
    "llc",
    "plc",
    "lp",
    "llp",
    "sa",
    "ag",
    "nv",
    "se",
    "com",
];

/// Normalizes a company name for matching against SEC titles: case, punctuation, `&`, a leading
/// "The" and trailing legal suffixes (`Inc`, `Corp`, `Ltd`, ...) are ignored, and spaces are
/// dropped so that `NorthwindRetail` and `Northwind Retail` agree.
pub fn normalize_company_name(name: &str) -> String {
    let lowered = name.to_lowercase().replace('&', " and ");
    let cleaned: String = lowered
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    let mut words: Vec<&str> = cleaned.split_whitespace().collect();
    if words.len() > 1 && words[0] == "the" {
        words.remove(0);
    }
    while words.len() > 1 && words.last().is_some_and(|w| SUFFIXES.contains(w)) {
        words.pop();
    }
    words.concat()
}

/// The company name a bare domain suggests: `northwind-retail.com` -> `northwind retail`.
fn name_from_domain(domain: &str) -> String {
    domain
        .split('.')
        .next()
        .unwrap_or_default()
        .replace(['-', '_'], " ")
}

/// One row of `company_tickers.json`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
struct TickerRow {
    cik_str: u64,
    ticker: String,
    title: String,
}

/// A company found in the ticker list, with every ticker listed for its CIK.
#[derive(Debug, Clone, PartialEq)]
struct TickerMatch {
    cik: u64,
    title: String,
    tickers: Vec<String>,
    matched_by: &'static str,
    matched_name: String,
}

/// Parses `company_tickers.json` (`{"0": {"cik_str": .., "ticker": .., "title": ..}, ...}`) in
/// file order (the rows are keyed by position); rows that do not parse are skipped.
fn parse_tickers(v: &Value) -> Option<Vec<TickerRow>> {
    let obj = v.as_object()?;
    let mut rows: Vec<(u64, TickerRow)> = obj
        .iter()
        .filter_map(|(k, row)| {
            let pos = k.parse::<u64>().unwrap_or(u64::MAX);
            serde_json::from_value::<TickerRow>(row.clone())
                .ok()
                .map(|r| (pos, r))
        })
        .collect();
    rows.sort_by_key(|(pos, _)| *pos);
    Some(rows.into_iter().map(|(_, r)| r).collect())
}

/// Finds the company: by its name first, then by the name its domain suggests.
fn match_company(rows: &[TickerRow], names: &[(String, &'static str)]) -> Option<TickerMatch> {
    for (name, how) in names {
        let want = normalize_company_name(name);
        if want.is_empty() {
            continue;
        }
        if let Some(row) = rows
            .iter()
            .find(|r| normalize_company_name(&r.title) == want)
        {
            let tickers = rows
                .iter()
                .filter(|r| r.cik_str == row.cik_str)
                .map(|r| r.ticker.clone())
                .collect();
            return Some(TickerMatch {
                cik: row.cik_str,
                title: row.title.clone(),
                tickers,
                matched_by: how,
                matched_name: name.clone(),
            });
        }
    }
    None
}

/// `filings.recent` of a submissions answer: parallel arrays.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Recent {
    accession_number: Vec<String>,
    filing_date: Vec<String>,
    report_date: Vec<String>,
    form: Vec<String>,
    primary_document: Vec<String>,
    items: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Filings {
    recent: Recent,
}

/// The parts of `data.sec.gov/submissions/CIK##########.json` M04 reports.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Submissions {
    name: Option<String>,
    sic: Option<String>,
    sic_description: Option<String>,
    tickers: Vec<String>,
    exchanges: Vec<Option<String>>,
    fiscal_year_end: Option<String>,
    state_of_incorporation: Option<String>,
    category: Option<String>,
    filings: Filings,
}

/// One filing as reported.
#[derive(Debug, Clone, PartialEq)]
struct Filing {
    accession_number: String,
    form: String,
    filing_date: String,
    report_date: Option<String>,
    items: Vec<String>,
    url: String,
}

/// URL of a filing's document (or its folder when the primary document is unknown).
fn filing_url(cik: u64, accession: &str, primary_document: Option<&str>) -> String {
    let folder = format!(
        "https://www.sec.gov/Archives/edgar/data/{cik}/{}/",
        accession.replace('-', "")
    );
    match primary_document.filter(|d| !d.is_empty()) {
        Some(d) => format!("{folder}{d}"),
        None => folder,
    }
}

/// Every filing of `filings.recent`, newest first.
fn all_filings(cik: u64, r: &Recent) -> Vec<Filing> {
    let get = |v: &Vec<String>, i: usize| v.get(i).filter(|s| !s.is_empty()).cloned();
    let mut out: Vec<Filing> = r
        .accession_number
        .iter()
        .enumerate()
        .filter_map(|(i, acc)| {
            Some(Filing {
                accession_number: acc.clone(),
                form: get(&r.form, i)?,
                filing_date: get(&r.filing_date, i).unwrap_or_default(),
                report_date: get(&r.report_date, i),
                items: get(&r.items, i)
                    .map(|s| {
                        s.split(',')
                            .map(|x| x.trim().to_string())
                            .filter(|x| !x.is_empty())
                            .collect()
                    })
                    .unwrap_or_default(),
                url: filing_url(cik, acc, r.primary_document.get(i).map(String::as_str)),
            })
        })
        .collect();
    out.sort_by(|a, b| b.filing_date.cmp(&a.filing_date));
    out
}

/// One XBRL fact (`facts.{taxonomy}.{concept}.units.{unit}[]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
struct Fact {
    start: Option<String>,
    end: String,
    val: f64,
    accn: String,
    fy: Option<i64>,
    fp: Option<String>,
    form: String,
    filed: String,
}

fn is_annual_form(form: &str) -> bool {
    ["10-K", "20-F", "40-F"].iter().any(|f| form.starts_with(f))
}

fn days(start: &str, end: &str) -> Option<i64> {
    let s = NaiveDate::parse_from_str(start, "%Y-%m-%d").ok()?;
    let e = NaiveDate::parse_from_str(end, "%Y-%m-%d").ok()?;
    Some((e - s).num_days())
}

/// The latest full-year value of a concept as reported in an annual report: form 10-K (or
/// 20-F/40-F), `fp` FY, and for durations a period of about a year (10-Ks also carry quarters
/// and prior years). Latest period end wins, then latest filing.
fn latest_annual(facts: &Value, taxonomy: &str, concept: &str) -> Option<(Fact, String)> {
    let units = facts
        .get(taxonomy)?
        .get(concept)?
        .get("units")?
        .as_object()?;
    let mut best: Option<(Fact, String)> = None;
    for (unit, list) in units {
        let Some(list) = list.as_array() else {
            continue;
        };
        for f in list
            .iter()
            .filter_map(|x| serde_json::from_value::<Fact>(x.clone()).ok())
        {
            if !is_annual_form(&f.form) || f.fp.as_deref() != Some("FY") {
                continue;
            }
            if let Some(start) = &f.start {
                if !days(start, &f.end).is_some_and(|d| (330..=380).contains(&d)) {
                    continue;
                }
            }
            let better = match &best {
                None => true,
                Some((b, _)) => (&f.end, &f.filed) > (&b.end, &b.filed),
            };
            if better {
                best = Some((f, unit.clone()));
            }
        }
    }
    best
}

/// The latest annual value among several concepts that mean the same thing (companies switch
/// tags over time, e.g. `Revenues` -> `RevenueFromContractWithCustomer...`).
fn latest_of(facts: &Value, taxonomy: &str, concepts: &[&str]) -> Option<(Fact, String, String)> {
    concepts
        .iter()
        .filter_map(|c| {
            latest_annual(facts, taxonomy, c).map(|(f, u)| (f, u, format!("{taxonomy}:{c}")))
        })
        .fold(
            None,
            |best: Option<(Fact, String, String)>, cur| match best {
                Some(b) if (&b.0.end, &b.0.filed) >= (&cur.0.end, &cur.0.filed) => Some(b),
                _ => Some(cur),
            },
        )
}

fn fact_json(cik: u64, f: &Fact, unit: &str, concept: &str, filings: &[Filing]) -> Value {
    let val = if f.val.fract() == 0.0 && f.val.abs() < 9.0e15 {
        json!(f.val as i64)
    } else {
        json!(f.val)
    };
    let url = filings
        .iter()
        .find(|x| x.accession_number == f.accn)
        .map(|x| x.url.clone())
        .unwrap_or_else(|| filing_url(cik, &f.accn, None));
    json!({
        "value": val,
        "unit": unit,
        "concept": concept,
        "period_start": f.start,
        "period_end": f.end,
        "fiscal_year": f.fy,
        "form": f.form,
        "filed": f.filed,
        "accession_number": f.accn,
        "filing_url": url,
    })
}

/// The latest annual revenue, net income and head count from a companyfacts answer.
fn financials(cik: u64, cf: &Value, filings: &[Filing]) -> Value {
    let Some(facts) = cf.get("facts") else {
        return Value::Null;
    };
    let revenue = latest_of(facts, "us-gaap", REVENUE_CONCEPTS);
    let net_income = latest_of(facts, "us-gaap", NET_INCOME_CONCEPTS);
    let employees = latest_of(facts, "dei", &["EntityNumberOfEmployees"]);
    let anchor = revenue.as_ref().or(net_income.as_ref());
    json!({
        "fiscal_year": anchor.and_then(|(f, _, _)| f.fy),
        "period_end": anchor.map(|(f, _, _)| f.end.clone()),
        "revenue": revenue.as_ref().map(|(f, u, c)| fact_json(cik, f, u, c, filings)),
        "net_income": net_income.as_ref().map(|(f, u, c)| fact_json(cik, f, u, c, filings)),
        "employees": employees.as_ref().map(|(f, u, c)| fact_json(cik, f, u, c, filings)),
    })
}

async fn fetch_json(ctx: &ModuleContext, call: &Call) -> Result<(Response, Value), ModuleError> {
    let resp = ctx.gateway.fetch(call).await?;
    let v: Value = resp.json()?;
    Ok((resp, v))
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
        let mut notes: Vec<String> = Vec::new();
        let domain = ctx.domain.as_str();

        // Names to look for: M01's company name, then the domain's.
        let mut names: Vec<(String, &'static str)> = Vec::new();
        let mut name_cite = None;
        match ctx.dependency(DEP) {
            Some(o) => {
                if let Some(n) = o.data.get("name").and_then(Value::as_str) {
                    names.push((n.to_string(), "company name"));
                    name_cite = Some(Citation::derived(DEP, &[]));
                }
            }
            None => {
                let why = ctx
                    .failed_dependencies()
                    .find(|(id, _)| *id == DEP)
                    .map(|(_, w)| w.to_string())
                    .unwrap_or_else(|| "no output".into());
                notes.push(format!(
                    "company context unavailable ({why}): matched on the domain name only"
                ));
            }
        }
        names.push((name_from_domain(domain), "domain"));

        let tcall = Call::get("sec_files", "/files/company_tickers.json")
            .for_domain(domain)
            .by_module(ID);
        let (tresp, tv) = fetch_json(ctx, &tcall).await?;
        let tcite = Citation::from_response(&tresp, &[]);
        let rows = parse_tickers(&tv).ok_or_else(|| {
            ModuleError::parse(&tresp.url, "company_tickers.json is not an object of rows")
        })?;
        let searched: Vec<String> = names.iter().map(|(n, _)| n.clone()).collect();
        out.set("searched_names", searched, &tcite);
        if let Some(c) = &name_cite {
            cover(&mut out, c, "/searched_names");
        }

        let Some(m) = match_company(&rows, &names) else {
            out.set("sec_filer", false, &tcite);
            notes.push(format!(
                "not an SEC filer: no company in SEC's ticker list ({} rows) matches {}",
                rows.len(),
                names
                    .iter()
                    .map(|(n, _)| format!("{n:?}"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ));
            out.set("notes", notes, &tcite);
            return Ok(out);
        };

        out.set("sec_filer", true, &tcite);
        out.set("cik", format!("{:010}", m.cik), &tcite);
        out.set("matched_by", m.matched_by, &tcite);
        out.set("matched_name", m.matched_name.clone(), &tcite);
        out.set("sec_title", m.title.clone(), &tcite);

        let scall = Call::get("sec_edgar", format!("/submissions/CIK{:010}.json", m.cik))
            .for_domain(domain)
            .by_module(ID);
        let (sresp, sv) = fetch_json(ctx, &scall).await?;
        let scite = Citation::from_response(&sresp, &[]);
        let subs: Submissions = serde_json::from_value(sv)
            .map_err(|e| ModuleError::parse(&sresp.url, format!("submissions: {e}")))?;
        let filings = all_filings(m.cik, &subs.filings.recent);
        let tickers = if subs.tickers.is_empty() {
            m.tickers.clone()
        } else {
            subs.tickers.clone()
        };
        out.set(
            "name",
            subs.name.clone().unwrap_or_else(|| m.title.clone()),
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

        let fcall = Call::get(
            "sec_edgar",
            format!("/api/xbrl/companyfacts/CIK{:010}.json", m.cik),
        )
        .for_domain(domain)
        .by_module(ID);
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
                notes.push("SEC has no XBRL company facts for this filer".into());
                out.set("financials", Value::Null, &attempted(ctx, &fcall));
            }
            Err(e) => return Err(e.into()),
        }
        out.set("notes", notes, &scite);
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
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn name_normalization() {
        let n = normalize_company_name;
        assert_eq!(n("NORTHWIND RETAIL CORP"), "northwindretail");
        assert_eq!(n("Northwind Retail Corp."), "northwindretail");
        assert_eq!(n("Globex Logistics, Inc."), "globexlogistics");
        assert_eq!(n("globex logistics"), "globexlogistics");
        assert_eq!(n("The Home Depot, Inc."), "homedepot");
        assert_eq!(n("AT&T INC"), "atandt");
        assert_eq!(n("AT and T"), "atandt");
        assert_eq!(n("AMAZON COM INC"), "amazon");
        assert_eq!(n("Acme Holdings Ltd"), "acmeholdings");
        // A lone suffix-like word is the name itself, not stripped to nothing.
        assert_eq!(n("Co"), "co");
        assert_eq!(n("  "), "");
        assert_ne!(n("TechStart Inc"), n("TechStar Technologies Corp"));
    }

    #[test]
    fn domain_names() {
        assert_eq!(name_from_domain("northwind-retail.com"), "northwind retail");
        assert_eq!(name_from_domain("quantumleaf.ai"), "quantumleaf");
    }

    #[test]
    fn ticker_matching_on_fixture() {
        let rows = parse_tickers(&fixture_json("epoch1/sec_files/company_tickers.json")).unwrap();
        assert_eq!(rows[0].ticker, "AAPL");
        let m = match_company(&rows, &[("Northwind Retail Corp".into(), "company name")]).unwrap();
        assert_eq!((m.cik, m.matched_by), (1999001, "company name"));
        let m = match_company(
            &rows,
            &[
                ("Something Else".into(), "company name"),
                ("globex logistics".into(), "domain"),
            ],
        )
        .unwrap();
        assert_eq!((m.cik, m.matched_by), (1999002, "domain"));
        let m = match_company(&rows, &[("Alphabet".into(), "company name")]).unwrap();
        assert_eq!(m.tickers, vec!["GOOGL", "GOOG"]);
        assert!(match_company(
            &rows,
            &[
                ("TechStart Inc".into(), "company name"),
                ("techstart".into(), "domain")
            ]
        )
        .is_none());
        assert!(match_company(&rows, &[("Blue Harbor Health".into(), "company name")]).is_none());
        assert!(parse_tickers(&json!([1, 2])).is_none());
    }

    #[test]
    fn submissions_parsing() {
        let s: Submissions = serde_json::from_value(fixture_json(
            "epoch1/sec_edgar/submissions/CIK0001999001.json",
        ))
        .unwrap();
        assert_eq!(s.sic.as_deref(), Some("5961"));
        assert_eq!(s.exchanges, vec![Some("NYSE".to_string())]);
        let f = all_filings(1999001, &s.filings.recent);
        assert_eq!(f[0].accession_number, "0001999001-24-000031");
        assert_eq!(f[0].items, vec!["5.02"]);
        let k = f.iter().find(|x| x.form == "10-K").unwrap();
        assert_eq!(k.accession_number, "0001999001-24-000008");
        assert_eq!(
            k.url,
            "https://www.sec.gov/Archives/edgar/data/1999001/000199900124000008/nwrc-20231231.htm"
        );
    }

    #[test]
    fn companyfacts_latest_annual_values() {
        let cf = fixture_json("epoch1/sec_edgar/companyfacts/CIK0001999001.json");
        let fin = financials(1999001, &cf, &[]);
        assert_eq!(fin["fiscal_year"], 2023);
        assert_eq!(fin["revenue"]["value"], 4_210_000_000i64);
        assert_eq!(fin["revenue"]["accession_number"], "0001999001-24-000008");
        assert_eq!(fin["revenue"]["concept"], "us-gaap:Revenues");
        assert_eq!(fin["net_income"]["value"], 212_400_000i64);
        assert_eq!(fin["employees"]["value"], 18_200);
        let cf = fixture_json("epoch2/sec_edgar/companyfacts/CIK0001999001.json");
        let fin = financials(1999001, &cf, &[]);
        assert_eq!(fin["fiscal_year"], 2024);
        assert_eq!(fin["revenue"]["value"], 4_630_000_000i64);
        assert_eq!(fin["revenue"]["accession_number"], "0001999001-25-000006");
        assert_eq!(fin["employees"]["value"], 19_450);
    }

    #[test]
    fn companyfacts_tag_switch_and_missing_employees() {
        let cf = fixture_json("epoch1/sec_edgar/companyfacts/CIK0001999002.json");
        let fin = financials(1999002, &cf, &[]);
        // The old `Revenues` tag stops in 2017; the ASC 606 tag carries the latest year.
        assert_eq!(
            fin["revenue"]["concept"],
            "us-gaap:RevenueFromContractWithCustomerExcludingAssessedTax"
        );
        assert_eq!(fin["revenue"]["value"], 2_870_000_000i64);
        assert_eq!(fin["employees"], Value::Null);
        let cf = fixture_json("epoch2/sec_edgar/companyfacts/CIK0001999002.json");
        assert_eq!(
            financials(1999002, &cf, &[])["revenue"]["value"],
            2_540_000_000i64
        );
        assert_eq!(financials(1, &json!({}), &[]), Value::Null);
    }

    #[test]
    fn quarterly_and_prior_year_facts_are_not_the_latest_annual() {
        let facts = json!({"us-gaap": {"Revenues": {"units": {"USD": [
            {"start": "2024-01-01", "end": "2024-12-31", "val": 100.0, "accn": "a", "fy": 2024, "fp": "FY", "form": "10-K", "filed": "2025-02-01"},
            {"start": "2024-10-01", "end": "2024-12-31", "val": 30.0, "accn": "a", "fy": 2024, "fp": "FY", "form": "10-K", "filed": "2025-02-01"},
            {"start": "2025-01-01", "end": "2025-03-31", "val": 40.0, "accn": "b", "fy": 2025, "fp": "Q1", "form": "10-Q", "filed": "2025-05-01"},
            {"start": "2023-01-01", "end": "2023-12-31", "val": 90.0, "accn": "a", "fy": 2024, "fp": "FY", "form": "10-K", "filed": "2025-02-01"},
            {"start": "2024-01-01", "end": "2024-12-31", "val": 101.0, "accn": "c", "fy": 2024, "fp": "FY", "form": "10-K/A", "filed": "2025-04-01"}
        ]}}}});
        let (f, unit) = latest_annual(&facts, "us-gaap", "Revenues").unwrap();
        assert_eq!((f.val, f.accn.as_str(), unit.as_str()), (101.0, "c", "USD"));
    }
}
