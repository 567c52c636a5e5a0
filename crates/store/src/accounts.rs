//! The accounts summary: one row per known domain (with snapshots or on the target list) with a
//! few scalar values read out of the latest snapshots of named modules, filtered, sorted and
//! paged in SQL so the accounts table stays one query per page at any size. Which module and
//! which JSON key hold a company's name or score is the caller's knowledge ([`AccountFields`]);
//! the store only extracts what it is told to.

use chrono::{DateTime, Utc};
use pforge_core::Level;
use serde::{Deserialize, Serialize};

use crate::rows::Cols;
use crate::StoreError;

/// Where a scalar lives: the top-level `key` of the latest snapshot of `module`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldRef {
    pub module: String,
    pub key: String,
}

impl FieldRef {
    /// A field reference (module id, top-level key).
    pub fn new(module: &str, key: &str) -> FieldRef {
        FieldRef {
            module: module.to_string(),
            key: key.to_string(),
        }
    }
}

/// Which module keys the summary's columns come from (the application layer decides). The
/// store records them beside the summary it keeps (serialized), so it can tell when the
/// summary was built with other fields and must be rebuilt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountFields {
    /// The company name (text).
    pub name: FieldRef,
    /// The ICP tier (text, e.g. "A").
    pub tier: FieldRef,
    /// The ICP score (integer).
    pub icp_score: FieldRef,
    /// The intent score (integer).
    pub intent_score: FieldRef,
    /// The intent band (text, e.g. "hot").
    pub intent_band: FieldRef,
    /// An array of objects naming technologies; `technology_name` is the key of each name.
    pub technologies: FieldRef,
    pub technology_name: String,
}

/// Columns the summary sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountSort {
    #[default]
    Domain,
    Name,
    Tier,
    IcpScore,
    IntentScore,
    LastChange,
    LastEnriched,
}

impl AccountSort {
    /// Every column, for front ends that offer them.
    pub const ALL: [AccountSort; 7] = [
        AccountSort::Domain,
        AccountSort::Name,
        AccountSort::Tier,
        AccountSort::IcpScore,
        AccountSort::IntentScore,
        AccountSort::LastChange,
        AccountSort::LastEnriched,
    ];

    /// The stable name used in URLs and the summary's column alias.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountSort::Domain => "domain",
            AccountSort::Name => "name",
            AccountSort::Tier => "tier",
            AccountSort::IcpScore => "icp_score",
            AccountSort::IntentScore => "intent_score",
            AccountSort::LastChange => "last_change_at",
            AccountSort::LastEnriched => "last_enriched",
        }
    }

    /// Inverse of [`AccountSort::as_str`].
    pub fn parse(text: &str) -> Option<AccountSort> {
        AccountSort::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The ORDER BY clause over the summary's aliases: missing values last, domain breaks ties.
    pub(crate) fn order_by(self, descending: bool) -> String {
        let dir = if descending { "DESC" } else { "ASC" };
        match self {
            AccountSort::Domain => format!("domain {dir}"),
            other => format!("{} {dir} NULLS LAST, domain ASC", other.as_str()),
        }
    }
}

/// What to list.
#[derive(Debug, Clone)]
pub struct AccountQuery {
    pub fields: AccountFields,
    /// Substring of the domain or the name (case-insensitive).
    pub text: Option<String>,
    /// Exactly this tier.
    pub tier: Option<String>,
    /// Intent score at least this.
    pub min_intent: Option<i64>,
    /// Runs this technology (case-insensitive name match).
    pub technology: Option<String>,
    /// The newest change event is at this level or above.
    pub min_change_level: Option<Level>,
    pub sort: AccountSort,
    pub descending: bool,
    pub offset: u64,
    /// At most this many rows (1 ..= 1000).
    pub limit: u32,
}

/// One account of the summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountRow {
    pub domain: String,
    pub name: Option<String>,
    pub tier: Option<String>,
    pub icp_score: Option<i64>,
    pub intent_score: Option<i64>,
    pub intent_band: Option<String>,
    pub last_change_level: Option<String>,
    pub last_change_at: Option<DateTime<Utc>>,
    pub last_enriched: Option<DateTime<Utc>>,
    /// Modules that failed in the newest job that ran this domain.
    pub failing_modules: Vec<String>,
    /// The intent score of each of the newest versions of the intent module (at most
    /// [`crate::HISTORY_POINTS`], oldest first; versions without a score are left out): the
    /// sparkline of the accounts table, read in one query for the whole page.
    pub intent_history: Vec<i64>,
}

/// One page of the summary, with counts over everything the filter matches.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AccountPage {
    pub rows: Vec<AccountRow>,
    /// Accounts matching the filter (all pages).
    pub total: i64,
    /// Matching accounts per tier (`None`: not scored, last), ordered by tier.
    pub by_tier: Vec<(Option<String>, i64)>,
    /// Matching accounts per intent band (`None`: not scored, last), ordered by band.
    pub by_intent_band: Vec<(Option<String>, i64)>,
}

/// Checks the limit before any SQL runs.
pub(crate) fn check(query: &AccountQuery) -> Result<(), StoreError> {
    if !(1..=1000).contains(&query.limit) {
        return Err(StoreError::Invalid(format!(
            "account page limit {} is out of range: use 1 to 1000",
            query.limit
        )));
    }
    Ok(())
}

/// The levels a minimum admits (the one ranking of [`Level`]).
pub(crate) fn levels_at_or_above(min: Level) -> Vec<&'static str> {
    [Level::Low, Level::Medium, Level::High, Level::Critical]
        .into_iter()
        .filter(|l| *l >= min)
        .map(Level::as_str)
        .collect()
}

/// Decodes a summary row (columns named like [`AccountRow`]'s fields; `failing` is a
/// comma-separated list).
pub(crate) fn row(c: &impl Cols) -> Result<AccountRow, StoreError> {
    let mut failing_modules: Vec<String> = c
        .opt_text("failing")?
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    failing_modules.sort();
    Ok(AccountRow {
        domain: c.text("domain")?,
        name: c.opt_text("name")?,
        tier: c.opt_text("tier")?,
        icp_score: c.opt_int("icp_score")?,
        intent_score: c.opt_int("intent_score")?,
        intent_band: c.opt_text("intent_band")?,
        last_change_level: c.opt_text("last_change_level")?,
        last_change_at: c.opt_ts("last_change_at")?,
        last_enriched: c.opt_ts("last_enriched")?,
        failing_modules,
        intent_history: Vec::new(),
    })
}

/// Fills each row's [`AccountRow::intent_history`] from `(domain, data)` rows of the intent
/// module, ordered by domain and then version (what one query over the page's domains
/// returns), with the same extraction the summary uses.
pub(crate) fn attach_history(
    page: &mut AccountPage,
    fields: &AccountFields,
    history: &[(String, serde_json::Value)],
) {
    for row in &mut page.rows {
        row.intent_history = history
            .iter()
            .filter(|(d, _)| *d == row.domain)
            .filter_map(|(_, data)| {
                match crate::summary::extract(crate::summary::SummaryCol::IntentScore, fields, data)
                {
                    crate::summary::SummaryValue::Int(v) => v,
                    crate::summary::SummaryValue::Text(_) => None,
                }
            })
            .collect();
    }
}

/// Decodes a `(dim, key, n)` count row into the page's charts.
pub(crate) fn add_count(page: &mut AccountPage, c: &impl Cols) -> Result<(), StoreError> {
    let dim = c.text("dim")?;
    let key = c.opt_text("key")?;
    let n = c.int("n")?;
    if dim == "tier" {
        page.total += n;
        page.by_tier.push((key, n));
    } else {
        page.by_intent_band.push((key, n));
    }
    Ok(())
}
