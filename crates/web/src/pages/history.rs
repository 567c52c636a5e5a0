//! Versions per module and the side-by-side diff of two versions, with previous/next stepping
//! through the history; the diff's URL carries both versions, so it is a permalink.

use super::{enc, html, opt, Shell};
use crate::auth::Session;
use crate::error::WebError;
use crate::render::{self, short_time};
use crate::WebState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Extension;
use pforge_core::Domain;
use serde::Deserialize;

/// One version in the history table.
pub struct VersionView {
    pub module: String,
    pub version: i64,
    pub created_at: String,
    pub checked_at: String,
    pub changes: usize,
    pub top_level: String,
    pub diff_href: Option<String>,
}

/// The history page.
#[derive(Template)]
#[template(path = "history.html")]
struct HistoryPage {
    shell: Shell,
    domain: String,
    account_href: String,
    module: String,
    versions: Vec<VersionView>,
}

/// `?module=`.
#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    module: Option<String>,
}

fn parse_domain(text: &str) -> Result<Domain, WebError> {
    Domain::parse(text).map_err(|e| WebError::invalid(e.to_string()))
}

/// `GET /accounts/{domain}/history`.
pub async fn page(
    State(st): State<WebState>,
    Extension(session): Extension<Session>,
    Path(domain): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<Response, WebError> {
    let domain = parse_domain(&domain)?;
    let module = opt(&q.module);
    let entries = st.app.history(&domain, module.as_deref()).await?;
    let d = enc(domain.as_str());
    let mut versions: Vec<VersionView> = entries
        .into_iter()
        .map(|e| {
            let top = e.changes.iter().map(|c| c.level).max();
            VersionView {
                diff_href: (e.version > 1).then(|| {
                    format!(
                        "/accounts/{d}/diff/{}?from={}&to={}",
                        enc(&e.module),
                        e.version - 1,
                        e.version
                    )
                }),
                module: e.module,
                version: e.version,
                created_at: short_time(e.created_at),
                checked_at: short_time(e.checked_at),
                changes: e.changes.len(),
                top_level: top.map(|l| l.as_str().to_string()).unwrap_or_default(),
            }
        })
        .collect();
    // Newest first within each module.
    versions.sort_by(|a, b| a.module.cmp(&b.module).then(b.version.cmp(&a.version)));
    html(&HistoryPage {
        shell: Shell::new(format!("History of {domain}"), "accounts", &session),
        account_href: format!("/accounts/{d}"),
        domain: domain.to_string(),
        module: module.unwrap_or_default(),
        versions,
    })
}

/// `?from=&to=` of the diff.
#[derive(Debug, Deserialize)]
pub struct DiffQuery {
    from: Option<String>,
    to: Option<String>,
}

/// One change, old and new side by side.
pub struct ChangeView {
    pub path: String,
    pub kind: String,
    pub old_html: String,
    pub new_html: String,
}

/// The diff page.
#[derive(Template)]
#[template(path = "diff.html")]
struct DiffPage {
    shell: Shell,
    domain: String,
    module: String,
    account_href: String,
    history_href: String,
    from: i64,
    to: i64,
    latest: i64,
    from_at: String,
    to_at: String,
    changes: Vec<ChangeView>,
    prev_href: Option<String>,
    next_href: Option<String>,
    newest_href: String,
    old_json: String,
    new_json: String,
}

fn version(field: &Option<String>, name: &str) -> Result<Option<i64>, WebError> {
    match opt(field) {
        Some(t) => t
            .parse::<i64>()
            .map(Some)
            .map_err(|_| WebError::invalid(format!("{name}={t:?} is not a version number"))),
        None => Ok(None),
    }
}

/// `GET /accounts/{domain}/diff/{module}?from=&to=` (default: the newest change).
pub async fn diff(
    State(st): State<WebState>,
    Extension(session): Extension<Session>,
    Path((domain, module)): Path<(String, String)>,
    Query(q): Query<DiffQuery>,
) -> Result<Response, WebError> {
    let domain = parse_domain(&domain)?;
    let from = version(&q.from, "from")?;
    let to = version(&q.to, "to")?;
    let diff = st.app.diff(&domain, &module, from, to).await?;
    let d = enc(domain.as_str());
    let m = enc(&module);
    let link = |from: i64, to: i64| format!("/accounts/{d}/diff/{m}?from={from}&to={to}");
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    html(&DiffPage {
        shell: Shell::new(
            format!("{module} of {domain}: v{} → v{}", diff.from, diff.to),
            "accounts",
            &session,
        ),
        account_href: format!("/accounts/{d}"),
        history_href: format!("/accounts/{d}/history?module={m}"),
        prev_href: (diff.from > 1).then(|| link(diff.from - 1, diff.to - 1)),
        next_href: (diff.to < diff.latest).then(|| link(diff.from + 1, diff.to + 1)),
        newest_href: link(diff.latest - 1, diff.latest),
        from_at: short_time(diff.old.created_at),
        to_at: short_time(diff.new.created_at),
        changes: diff
            .changes
            .iter()
            .map(|c| ChangeView {
                path: c.path.clone(),
                kind: c.kind.as_str().to_string(),
                old_html: c.old_value.as_ref().map(render::value).unwrap_or_default(),
                new_html: c.new_value.as_ref().map(render::value).unwrap_or_default(),
            })
            .collect(),
        old_json: pretty(&diff.old.data),
        new_json: pretty(&diff.new.data),
        from: diff.from,
        to: diff.to,
        latest: diff.latest,
        domain: domain.to_string(),
        module,
    })
}
