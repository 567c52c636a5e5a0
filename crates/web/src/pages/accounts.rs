//! The accounts table (home): sort by any column, filter by tier, minimum intent, technology,
//! change level and text (all in the URL), paged on the server, charts of accounts per tier and
//! intent band, CSV export of the filtered table, and the actions on it: re-enrich the selected
//! accounts or everything matching, remove them (after a confirmation; history is kept), add
//! domains (pasted or a CSV file). Each row's intent score carries a sparkline of its history.

use super::{enc, html, opt, Shell};
use crate::auth::Session;
use crate::error::WebError;
use crate::render::short_time;
use crate::svg::{bars, sparkline, Bar};
use crate::WebState;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Multipart, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use pforge_app::jobs::{JobSpec, Refresh};
use pforge_app::queries::AccountFilter;
use pforge_core::{Domain, Level};
use pforge_store::{AccountRow, AccountSort};
use serde::Deserialize;

/// Rows per page of the table.
const PAGE_SIZE: u32 = 50;
/// Most accounts one "re-enrich everything matching" submits.
const MAX_SELECT_ALL: usize = 100_000;

/// The table's URL: filters, sort and page.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct AccountsQuery {
    q: Option<String>,
    tier: Option<String>,
    min_intent: Option<String>,
    tech: Option<String>,
    level: Option<String>,
    sort: Option<String>,
    dir: Option<String>,
    page: Option<String>,
}

impl AccountsQuery {
    /// The filter the application reads, or a message naming the bad field.
    fn filter(&self, limit: u32) -> Result<AccountFilter, WebError> {
        let min_intent = match opt(&self.min_intent) {
            Some(t) => Some(t.parse::<i64>().map_err(|_| {
                WebError::invalid(format!(
                    "min_intent={t:?} is not a whole number: use e.g. 40"
                ))
            })?),
            None => None,
        };
        let min_change_level = match opt(&self.level) {
            Some(t) => Some(Level::parse(&t).ok_or_else(|| {
                WebError::invalid(format!(
                    "level={t:?} is not a change level: use low, medium, high or critical"
                ))
            })?),
            None => None,
        };
        let sort = match opt(&self.sort) {
            Some(t) => AccountSort::parse(&t).ok_or_else(|| {
                WebError::invalid(format!(
                    "sort={t:?} is not a column: use one of {}",
                    AccountSort::ALL.map(|s| s.as_str()).join(", ")
                ))
            })?,
            None => AccountSort::Domain,
        };
        let page = match opt(&self.page) {
            Some(t) => t.parse::<u64>().ok().filter(|p| *p >= 1).ok_or_else(|| {
                WebError::invalid(format!("page={t:?}: use a page number from 1"))
            })?,
            None => 1,
        };
        Ok(AccountFilter {
            text: opt(&self.q),
            tier: opt(&self.tier),
            min_intent,
            technology: opt(&self.tech),
            min_change_level,
            sort,
            descending: opt(&self.dir).as_deref() == Some("desc"),
            offset: (page - 1) * u64::from(limit),
            limit,
        })
    }

    fn page_number(&self) -> u64 {
        opt(&self.page).and_then(|p| p.parse().ok()).unwrap_or(1)
    }

    /// This URL's query string with some fields replaced (empty values dropped).
    fn with(&self, changes: &[(&str, &str)]) -> String {
        let mut pairs: Vec<(&str, String)> = vec![
            ("q", opt(&self.q).unwrap_or_default()),
            ("tier", opt(&self.tier).unwrap_or_default()),
            ("min_intent", opt(&self.min_intent).unwrap_or_default()),
            ("tech", opt(&self.tech).unwrap_or_default()),
            ("level", opt(&self.level).unwrap_or_default()),
            ("sort", opt(&self.sort).unwrap_or_default()),
            ("dir", opt(&self.dir).unwrap_or_default()),
            ("page", opt(&self.page).unwrap_or_default()),
        ];
        for (k, v) in changes {
            if let Some(p) = pairs.iter_mut().find(|(pk, _)| pk == k) {
                p.1 = v.to_string();
            }
        }
        let q: Vec<String> = pairs
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", enc(&v)))
            .collect();
        q.join("&")
    }
}

/// One row as the table shows it.
pub struct RowView {
    pub domain: String,
    pub href: String,
    pub name: String,
    pub tier: String,
    pub tier_class: String,
    pub icp_score: String,
    pub intent_score: String,
    pub intent_band: String,
    /// Inline SVG of the intent score's history (drawn here, escaped labels).
    pub sparkline: String,
    pub last_change_level: String,
    pub last_change_at: String,
    pub last_enriched: String,
    pub failing: Vec<String>,
}

fn dash(v: Option<String>) -> String {
    v.unwrap_or_else(|| "—".to_string())
}

impl From<AccountRow> for RowView {
    fn from(r: AccountRow) -> RowView {
        RowView {
            href: format!("/accounts/{}", enc(&r.domain)),
            tier_class: r
                .tier
                .as_deref()
                .map(|t| format!("tier-{}", t.to_ascii_lowercase()))
                .unwrap_or_default(),
            domain: r.domain,
            name: dash(r.name),
            tier: dash(r.tier),
            icp_score: dash(r.icp_score.map(|s| s.to_string())),
            intent_score: dash(r.intent_score.map(|s| s.to_string())),
            intent_band: r.intent_band.unwrap_or_default(),
            sparkline: if r.intent_history.len() > 1 {
                sparkline("intent", &r.intent_history)
            } else {
                String::new()
            },
            last_change_level: r.last_change_level.unwrap_or_default(),
            last_change_at: dash(r.last_change_at.map(short_time)),
            last_enriched: dash(r.last_enriched.map(short_time)),
            failing: r.failing_modules,
        }
    }
}

/// A sortable column header.
pub struct Header {
    pub label: &'static str,
    pub href: String,
    /// `ascending`, `descending` or `none` (for `aria-sort`).
    pub aria: &'static str,
    pub arrow: &'static str,
}

/// One option of a filter's select.
pub struct Choice {
    pub value: String,
    pub selected: bool,
}

/// The options `values`, with `current` selected.
fn options(values: &[String], current: &str) -> Vec<Choice> {
    values
        .iter()
        .map(|v| Choice {
            value: v.clone(),
            selected: v == current,
        })
        .collect()
}

/// The change levels in their order, with `current` selected.
pub fn level_options(current: &str) -> Vec<Choice> {
    let levels: Vec<String> = [Level::Low, Level::Medium, Level::High, Level::Critical]
        .iter()
        .map(|l| l.as_str().to_string())
        .collect();
    options(&levels, current)
}

/// The accounts page.
#[derive(Template)]
#[template(path = "accounts.html")]
struct AccountsPage {
    shell: Shell,
    q: String,
    tier: String,
    min_intent: String,
    tech: String,
    level: String,
    sort: String,
    dir: String,
    headers: Vec<Header>,
    rows: Vec<RowView>,
    total: i64,
    first: u64,
    last: u64,
    prev_href: Option<String>,
    next_href: Option<String>,
    csv_href: String,
    tier_chart: String,
    band_chart: String,
    tier_options: Vec<Choice>,
    level_options: Vec<Choice>,
    message: Option<String>,
}

/// `?message=` shown after an action.
#[derive(Debug, Deserialize)]
pub struct Flash {
    message: Option<String>,
}

/// `GET /`.
pub async fn page(
    State(st): State<WebState>,
    Extension(session): Extension<Session>,
    Query(q): Query<AccountsQuery>,
    Query(flash): Query<Flash>,
) -> Result<Response, WebError> {
    let filter = q.filter(PAGE_SIZE)?;
    let page = st.app.accounts(&filter).await?;
    let columns: [(&str, AccountSort); 7] = [
        ("Domain", AccountSort::Domain),
        ("Company", AccountSort::Name),
        ("Tier", AccountSort::Tier),
        ("ICP score", AccountSort::IcpScore),
        ("Intent", AccountSort::IntentScore),
        ("Last change", AccountSort::LastChange),
        ("Last enriched", AccountSort::LastEnriched),
    ];
    let headers = columns
        .iter()
        .map(|(label, s)| {
            let active = *s == filter.sort;
            // Scores and times read best highest first; names A to Z.
            let first_dir = match s {
                AccountSort::Domain | AccountSort::Name | AccountSort::Tier => "asc",
                _ => "desc",
            };
            let dir = if active {
                if filter.descending {
                    "asc"
                } else {
                    "desc"
                }
            } else {
                first_dir
            };
            Header {
                label,
                href: format!(
                    "/?{}",
                    q.with(&[("sort", s.as_str()), ("dir", dir), ("page", "")])
                ),
                aria: match (active, filter.descending) {
                    (false, _) => "none",
                    (true, false) => "ascending",
                    (true, true) => "descending",
                },
                arrow: match (active, filter.descending) {
                    (false, _) => "",
                    (true, false) => "▲",
                    (true, true) => "▼",
                },
            }
        })
        .collect();
    let n = page.rows.len() as u64;
    let page_no = q.page_number();
    let first = if n == 0 { 0 } else { filter.offset + 1 };
    let last = filter.offset + n;
    let prev_page = page_no.saturating_sub(1).to_string();
    let next_page = (page_no + 1).to_string();
    let prev_href = (page_no > 1).then(|| format!("/?{}", q.with(&[("page", prev_page.as_str())])));
    let next_href = ((last as i64) < page.total)
        .then(|| format!("/?{}", q.with(&[("page", next_page.as_str())])));
    let tier_chart = bars(
        "Accounts per ICP tier",
        &page
            .by_tier
            .iter()
            .map(|(t, n)| Bar {
                label: t
                    .clone()
                    .map(|t| format!("Tier {t}"))
                    .unwrap_or_else(|| "Unscored".into()),
                value: *n as f64,
                class: t
                    .as_deref()
                    .map(|t| format!("tier-{}", t.to_ascii_lowercase()))
                    .unwrap_or_else(|| "none".into()),
            })
            .collect::<Vec<_>>(),
    );
    let band_chart = bars(
        "Accounts per intent band",
        &page
            .by_intent_band
            .iter()
            .map(|(b, n)| Bar {
                label: b.clone().unwrap_or_else(|| "Unscored".into()),
                value: *n as f64,
                class: b
                    .as_deref()
                    .map(|b| format!("band-{b}"))
                    .unwrap_or_else(|| "none".into()),
            })
            .collect::<Vec<_>>(),
    );
    let current_tier = opt(&q.tier).unwrap_or_default();
    let mut tiers: Vec<String> = page.by_tier.iter().filter_map(|(t, _)| t.clone()).collect();
    if !current_tier.is_empty() && !tiers.contains(&current_tier) {
        tiers.push(current_tier.clone());
    }
    let tier_options = options(&tiers, &current_tier);
    let level_options = level_options(&opt(&q.level).unwrap_or_default());
    html(&AccountsPage {
        shell: Shell::new("Accounts", "accounts", &session),
        q: opt(&q.q).unwrap_or_default(),
        tier: opt(&q.tier).unwrap_or_default(),
        min_intent: opt(&q.min_intent).unwrap_or_default(),
        tech: opt(&q.tech).unwrap_or_default(),
        level: opt(&q.level).unwrap_or_default(),
        sort: opt(&q.sort).unwrap_or_default(),
        dir: opt(&q.dir).unwrap_or_default(),
        headers,
        rows: page.rows.into_iter().map(RowView::from).collect(),
        total: page.total,
        first,
        last,
        prev_href,
        next_href,
        csv_href: format!("/accounts.csv?{}", q.with(&[("page", "")])),
        tier_chart,
        band_chart,
        tier_options,
        level_options,
        message: opt(&flash.message),
    })
}

/// One CSV field, quoted when needed; a leading `=`, `+`, `-` or `@` is neutralized so a
/// spreadsheet never runs provider text as a formula.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// `GET /accounts.csv`: the whole filtered table (every page) as CSV.
pub async fn csv(
    State(st): State<WebState>,
    Query(q): Query<AccountsQuery>,
) -> Result<Response, WebError> {
    let mut filter = q.filter(pforge_app::queries::MAX_ACCOUNTS_PAGE)?;
    filter.offset = 0;
    let mut out = String::from(
        "domain,company,tier,icp_score,intent_score,intent_band,last_change_level,last_change_at,last_enriched,failing_modules\n",
    );
    loop {
        let page = st.app.accounts(&filter).await?;
        let n = page.rows.len();
        for r in page.rows {
            let fields = [
                r.domain,
                r.name.unwrap_or_default(),
                r.tier.unwrap_or_default(),
                r.icp_score.map(|s| s.to_string()).unwrap_or_default(),
                r.intent_score.map(|s| s.to_string()).unwrap_or_default(),
                r.intent_band.unwrap_or_default(),
                r.last_change_level.unwrap_or_default(),
                r.last_change_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                r.last_enriched.map(|t| t.to_rfc3339()).unwrap_or_default(),
                r.failing_modules.join(" "),
            ];
            let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            out.push_str(&line.join(","));
            out.push('\n');
        }
        if n < filter.limit as usize {
            break;
        }
        filter.offset += n as u64;
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"accounts.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}

/// Queues a re-enrichment (refresh everything) of `domains` as a UI job; returns its page.
async fn submit(st: &WebState, domains: &[Domain]) -> Result<Response, WebError> {
    let spec = JobSpec {
        modules: Vec::new(),
        refresh: Refresh::All,
        max_spend: None,
        origin: format!("{}ui", pforge_app::daemon::LABEL_PREFIX),
        hints: Default::default(),
    };
    let id = st.daemon.submit(spec, domains).await?;
    Ok(Redirect::to(&format!("/jobs/{id}")).into_response())
}

/// A selection form's fields (the table's, the confirmation's).
struct Selection {
    pairs: Vec<(String, String)>,
}

impl Selection {
    fn parse(body: &Bytes) -> Selection {
        Selection {
            pairs: url::form_urlencoded::parse(body).into_owned().collect(),
        }
    }

    fn get(&self, k: &str) -> Option<String> {
        self.pairs
            .iter()
            .find(|(pk, _)| pk == k)
            .map(|(_, v)| v.clone())
    }

    /// `all=1`: everything matching the filter fields.
    fn all(&self) -> bool {
        self.get("all").as_deref() == Some("1")
    }

    fn query(&self) -> AccountsQuery {
        AccountsQuery {
            q: self.get("q"),
            tier: self.get("tier"),
            min_intent: self.get("min_intent"),
            tech: self.get("tech"),
            level: self.get("level"),
            ..Default::default()
        }
    }

    /// The domains selected: `domain=` fields (ticked rows), or with `all=1` every account
    /// matching the filter (at most [`MAX_SELECT_ALL`]); none is an error saying what to do.
    async fn domains(&self, st: &WebState) -> Result<Vec<Domain>, WebError> {
        let domains = if self.all() {
            matching(st, &self.query()).await?
        } else {
            let mut out = Vec::new();
            for (k, v) in &self.pairs {
                if k == "domain" {
                    out.push(Domain::parse(v).map_err(|e| WebError::invalid(e.to_string()))?);
                }
            }
            out
        };
        if domains.is_empty() {
            return Err(WebError::invalid(
                "no account selected: tick rows in the table (or choose “all matching”) and try again",
            ));
        }
        Ok(domains)
    }
}

/// `POST /accounts/enrich`: `domain=` fields (selected rows), or `all=1` with the table's
/// filter fields (everything matching).
pub async fn enrich(State(st): State<WebState>, body: Bytes) -> Result<Response, WebError> {
    let domains = Selection::parse(&body).domains(&st).await?;
    submit(&st, &domains).await
}

/// The confirmation of a removal.
#[derive(Template)]
#[template(path = "remove.html")]
struct RemovePage {
    shell: Shell,
    count: usize,
    /// The first domains (all of them for ticked rows, which are re-posted).
    preview: Vec<String>,
    more: usize,
    all: bool,
    q: String,
    tier: String,
    min_intent: String,
    tech: String,
    level: String,
}

/// Domains a removal confirmation lists by name when everything matching is selected.
const REMOVE_PREVIEW: usize = 20;

/// `POST /accounts/remove`: the same selection as re-enrich. Without `confirm=1` it answers a
/// confirmation page naming what would go (nothing changes); with it, the application's
/// [`pforge_app::App::remove_accounts`] hides them and drops them from the target list
/// (history kept), and the table says how many went.
pub async fn remove(
    State(st): State<WebState>,
    Extension(session): Extension<Session>,
    body: Bytes,
) -> Result<Response, WebError> {
    let sel = Selection::parse(&body);
    let domains = sel.domains(&st).await?;
    if sel.get("confirm").as_deref() != Some("1") {
        let all = sel.all();
        let shown = if all {
            REMOVE_PREVIEW.min(domains.len())
        } else {
            domains.len()
        };
        let q = sel.query();
        return html(&RemovePage {
            shell: Shell::new("Remove accounts", "accounts", &session),
            count: domains.len(),
            preview: domains[..shown].iter().map(|d| d.to_string()).collect(),
            more: domains.len() - shown,
            all,
            q: opt(&q.q).unwrap_or_default(),
            tier: opt(&q.tier).unwrap_or_default(),
            min_intent: opt(&q.min_intent).unwrap_or_default(),
            tech: opt(&q.tech).unwrap_or_default(),
            level: opt(&q.level).unwrap_or_default(),
        });
    }
    let removed = st.app.remove_accounts(&domains).await?;
    let message = format!(
        "Removed {removed} {} from the table and the target list; their history is kept (add a domain again to bring it back).",
        if removed == 1 { "account" } else { "accounts" }
    );
    Ok(Redirect::to(&format!("/?message={}", enc(&message))).into_response())
}

/// Every account matching the table's filter fields (at most [`MAX_SELECT_ALL`]).
async fn matching(st: &WebState, q: &AccountsQuery) -> Result<Vec<Domain>, WebError> {
    let mut domains: Vec<Domain> = Vec::new();
    let mut filter = q.filter(pforge_app::queries::MAX_ACCOUNTS_PAGE)?;
    loop {
        let page = st.app.accounts(&filter).await?;
        let n = page.rows.len();
        for r in page.rows {
            if let Ok(d) = Domain::parse(&r.domain) {
                domains.push(d);
            }
        }
        if n < filter.limit as usize || domains.len() >= MAX_SELECT_ALL {
            break;
        }
        filter.offset += n as u64;
    }
    Ok(domains)
}

/// The add-domains form.
#[derive(Template)]
#[template(path = "add.html")]
struct AddPage {
    shell: Shell,
    text: String,
    errors: Vec<String>,
    added: Option<String>,
}

/// `GET /accounts/add`.
pub async fn add_form(Extension(session): Extension<Session>) -> Result<Response, WebError> {
    html(&AddPage {
        shell: Shell::new("Add accounts", "accounts", &session),
        text: String::new(),
        errors: Vec::new(),
        added: None,
    })
}

/// Parses pasted lines or CSV text: the first field of each non-empty line is a domain; a
/// header line (`domain`) and `#` comments are skipped. Every bad line gives one message.
pub fn parse_lines(text: &str) -> (Vec<Domain>, Vec<String>) {
    let mut ok: Vec<Domain> = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let field = line
            .split(',')
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches('"')
            .trim();
        if field.is_empty()
            || field.starts_with('#')
            || (i == 0 && field.eq_ignore_ascii_case("domain"))
        {
            continue;
        }
        match Domain::parse(field) {
            Ok(d) if ok.contains(&d) => {}
            Ok(d) => ok.push(d),
            Err(e) => bad.push(format!("line {}: {e}", i + 1)),
        }
    }
    (ok, bad)
}

/// `POST /accounts/add` (multipart: a `domains` text field and/or a `file`): adds the good
/// domains to the target list and queues their enrichment; bad lines are listed, one message
/// each, and nothing is added while any line is bad.
pub async fn add(
    State(st): State<WebState>,
    Extension(session): Extension<Session>,
    mut form: Multipart,
) -> Result<Response, WebError> {
    let mut text = String::new();
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| WebError::invalid(format!("the form could not be read: {e}")))?
    {
        let name = field.name().unwrap_or("").to_string();
        if name == "domains" || name == "file" {
            let body = field.text().await.map_err(|e| {
                WebError::invalid(format!("the {name} field is not UTF-8 text: {e}"))
            })?;
            text.push_str(&body);
            text.push('\n');
        }
    }
    let (domains, errors) = parse_lines(&text);
    if !errors.is_empty() || domains.is_empty() {
        let errors = if errors.is_empty() {
            vec!["no domain given: paste one per line or choose a CSV file".to_string()]
        } else {
            errors
        };
        let page = AddPage {
            shell: Shell::new("Add accounts", "accounts", &session),
            text,
            errors,
            added: None,
        };
        let mut res = html(&page)?;
        *res.status_mut() = axum::http::StatusCode::BAD_REQUEST;
        return Ok(res);
    }
    st.app.add_targets(&domains).await?;
    submit(&st, &domains).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_lines_give_one_error_per_bad_line() {
        let (ok, bad) = parse_lines(
            "domain\nacme.com\n\nnot a domain\nhttps://www.Acme.com/x\n# note\nb.io,Some Co\n",
        );
        assert_eq!(
            ok.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
            ["acme.com", "b.io"]
        );
        assert_eq!(bad.len(), 1);
        assert!(bad[0].starts_with("line 4: "), "{bad:?}");
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_neutralized() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn filters_keep_the_url_and_name_bad_fields() {
        let q = AccountsQuery {
            tier: Some("A".into()),
            sort: Some("intent_score".into()),
            ..Default::default()
        };
        assert_eq!(q.with(&[("page", "2")]), "tier=A&sort=intent_score&page=2");
        let f = q.filter(50).unwrap();
        assert_eq!(f.sort, AccountSort::IntentScore);
        let bad = AccountsQuery {
            min_intent: Some("lots".into()),
            ..Default::default()
        };
        assert!(bad.filter(50).is_err());
    }
}
