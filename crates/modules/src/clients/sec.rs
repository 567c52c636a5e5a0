//! The one SEC EDGAR client: the ticker list (once per run, cached by the gateway), a filer's
//! submissions and its XBRL company facts, always asked with the same URLs, and the parsers of
//! those real formats (rows keyed by position, parallel `filings.recent` arrays, facts by
//! taxonomy, concept and unit). Shared by M04, M05, M07 and M09.

use chrono::NaiveDate;
use pforge_budget::{Call, Response};
use pforge_core::{ModuleContext, ModuleError};
use serde::Deserialize;
use serde_json::{json, Value};

/// Annual revenue, most specific tag last (companies switch tags over time).
pub(crate) const REVENUE_CONCEPTS: &[&str] = &[
    "Revenues",
    "RevenueFromContractWithCustomerExcludingAssessedTax",
    "RevenueFromContractWithCustomerIncludingAssessedTax",
    "SalesRevenueNet",
    "SalesRevenueGoodsNet",
];
/// Annual net income.
pub(crate) const NET_INCOME_CONCEPTS: &[&str] = &["NetIncomeLoss", "ProfitLoss"];

/// The ticker list: `GET {sec_files}/files/company_tickers.json`.
pub(crate) fn tickers_call(ctx: &ModuleContext, module: &str) -> Call {
    Call::get("sec_files", "/files/company_tickers.json")
        .for_domain(ctx.domain.as_str())
        .by_module(module)
}

/// A filer's submissions: `GET {sec_edgar}/submissions/CIK##########.json`.
pub(crate) fn submissions_call(ctx: &ModuleContext, module: &str, cik: u64) -> Call {
    Call::get("sec_edgar", format!("/submissions/CIK{cik:010}.json"))
        .for_domain(ctx.domain.as_str())
        .by_module(module)
}

/// A filer's XBRL company facts: `GET {sec_edgar}/api/xbrl/companyfacts/CIK##########.json`.
pub(crate) fn company_facts_call(ctx: &ModuleContext, module: &str, cik: u64) -> Call {
    Call::get(
        "sec_edgar",
        format!("/api/xbrl/companyfacts/CIK{cik:010}.json"),
    )
    .for_domain(ctx.domain.as_str())
    .by_module(module)
}

/// Fetches a call and reads its JSON.
pub(crate) async fn fetch_json(
    ctx: &ModuleContext,
    call: &Call,
) -> Result<(Response, Value), ModuleError> {
    let resp = ctx.gateway.fetch(call).await?;
    let v: Value = resp.json()?;
    Ok((resp, v))
}

/// One row of `company_tickers.json`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub(crate) struct TickerRow {
    pub cik_str: u64,
    pub ticker: String,
    pub title: String,
}

/// Parses `company_tickers.json` (`{"0": {"cik_str": .., "ticker": .., "title": ..}, ...}`) in
/// file order (the rows are keyed by position); rows that do not parse are skipped.
pub(crate) fn parse_tickers(v: &Value) -> Option<Vec<TickerRow>> {
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

/// `filings.recent` of a submissions answer: parallel arrays.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Recent {
    pub accession_number: Vec<String>,
    pub filing_date: Vec<String>,
    pub report_date: Vec<String>,
    pub form: Vec<String>,
    pub primary_document: Vec<String>,
    pub items: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Filings {
    pub recent: Recent,
}

/// The parts of `data.sec.gov/submissions/CIK##########.json` M04 reports.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Submissions {
    pub name: Option<String>,
    pub sic: Option<String>,
    pub sic_description: Option<String>,
    pub tickers: Vec<String>,
    pub exchanges: Vec<Option<String>>,
    pub fiscal_year_end: Option<String>,
    pub state_of_incorporation: Option<String>,
    pub category: Option<String>,
    /// The filer's own website field (often empty); naming the domain confirms a match.
    pub website: Option<String>,
    pub investor_website: Option<String>,
    pub filings: Filings,
}

/// One filing as reported.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Filing {
    pub accession_number: String,
    pub form: String,
    pub filing_date: String,
    pub report_date: Option<String>,
    pub items: Vec<String>,
    pub url: String,
}

/// URL of a filing's document (or its folder when the primary document is unknown).
pub(crate) fn filing_url(cik: u64, accession: &str, primary_document: Option<&str>) -> String {
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
pub(crate) fn all_filings(cik: u64, r: &Recent) -> Vec<Filing> {
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
pub(crate) struct Fact {
    pub start: Option<String>,
    pub end: String,
    pub val: f64,
    pub accn: String,
    pub fy: Option<i64>,
    pub fp: Option<String>,
    pub form: String,
    pub filed: String,
}

pub(crate) fn is_annual_form(form: &str) -> bool {
    ["10-K", "20-F", "40-F"].iter().any(|f| form.starts_with(f))
}

pub(crate) fn days(start: &str, end: &str) -> Option<i64> {
    let s = NaiveDate::parse_from_str(start, "%Y-%m-%d").ok()?;
    let e = NaiveDate::parse_from_str(end, "%Y-%m-%d").ok()?;
    Some((e - s).num_days())
}

/// The latest full-year value of a concept as reported in an annual report: form 10-K (or
/// 20-F/40-F), `fp` FY, and for durations a period of about a year (10-Ks also carry quarters
/// and prior years). Latest period end wins, then latest filing.
pub(crate) fn latest_annual(
    facts: &Value,
    taxonomy: &str,
    concept: &str,
) -> Option<(Fact, String)> {
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
pub(crate) fn latest_of(
    facts: &Value,
    taxonomy: &str,
    concepts: &[&str],
) -> Option<(Fact, String, String)> {
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

pub(crate) fn fact_json(
    cik: u64,
    f: &Fact,
    unit: &str,
    concept: &str,
    filings: &[Filing],
) -> Value {
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
pub(crate) fn financials(cik: u64, cf: &Value, filings: &[Filing]) -> Value {
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
