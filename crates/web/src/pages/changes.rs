//! The change timeline across accounts: newest first, grouped by day, coloured by level,
//! filtered by account, module and minimum level, paged with the store's cursor; each event
//! links to the diff of the version that raised it.

use super::{enc, html, opt, Shell};
use crate::auth::Session;
use crate::error::WebError;
use crate::render;
use crate::WebState;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::Extension;
use pforge_app::queries::ChangeFilter;
use pforge_core::{Domain, Level};
use serde::Deserialize;

/// Events per page.
const PAGE_SIZE: i64 = 100;

/// The timeline's URL.
#[derive(Debug, Deserialize)]
pub struct ChangesQuery {
    domain: Option<String>,
    module: Option<String>,
    level: Option<String>,
    cursor: Option<String>,
}

/// One event.
pub struct EventView {
    pub time: String,
    pub level: String,
    pub domain: String,
    pub account_href: String,
    pub module: String,
    pub path: String,
    pub kind: String,
    pub old_html: String,
    pub new_html: String,
    pub diff_href: String,
}

/// One day of events.
pub struct Day {
    pub date: String,
    pub events: Vec<EventView>,
}

/// The changes page.
#[derive(Template)]
#[template(path = "changes.html")]
struct ChangesPage {
    shell: Shell,
    domain: String,
    module: String,
    level_options: Vec<super::accounts::Choice>,
    days: Vec<Day>,
    count: usize,
    next_href: Option<String>,
    first_href: Option<String>,
}

/// `GET /changes`.
pub async fn page(
    State(st): State<WebState>,
    Extension(session): Extension<Session>,
    Query(q): Query<ChangesQuery>,
) -> Result<Response, WebError> {
    let domain = opt(&q.domain)
        .map(|d| Domain::parse(&d).map_err(|e| WebError::invalid(e.to_string())))
        .transpose()?;
    let min_level = opt(&q.level)
        .map(|l| {
            Level::parse(&l).ok_or_else(|| {
                WebError::invalid(format!("level={l:?}: use low, medium, high or critical"))
            })
        })
        .transpose()?;
    let filter = ChangeFilter {
        domain: domain.clone(),
        module: opt(&q.module),
        min_level,
        since: None,
        cursor: opt(&q.cursor),
        limit: PAGE_SIZE,
    };
    let page = st.app.changes(&filter).await?;
    let count = page.events.len();
    let mut days: Vec<Day> = Vec::new();
    for e in page.events {
        let date = e.detected_at.format("%A %-d %B %Y").to_string();
        let d = enc(&e.domain);
        let view = EventView {
            time: e.detected_at.format("%H:%M").to_string(),
            level: e.level.as_str().to_string(),
            account_href: format!("/accounts/{d}"),
            diff_href: format!(
                "/accounts/{d}/diff/{}?from={}&to={}",
                enc(&e.module),
                e.version - 1,
                e.version
            ),
            path: e.path,
            kind: e.kind.as_str().to_string(),
            old_html: e.old_value.as_ref().map(render::value).unwrap_or_default(),
            new_html: e.new_value.as_ref().map(render::value).unwrap_or_default(),
            domain: e.domain,
            module: e.module,
        };
        match days.last_mut() {
            Some(day) if day.date == date => day.events.push(view),
            _ => days.push(Day {
                date,
                events: vec![view],
            }),
        }
    }
    let base = {
        let mut parts = Vec::new();
        if let Some(d) = &domain {
            parts.push(format!("domain={}", enc(d.as_str())));
        }
        if let Some(m) = opt(&q.module) {
            parts.push(format!("module={}", enc(&m)));
        }
        if let Some(l) = opt(&q.level) {
            parts.push(format!("level={}", enc(&l)));
        }
        parts
    };
    let next_href = page.next_cursor.map(|c| {
        let mut p = base.clone();
        p.push(format!("cursor={}", enc(&c)));
        format!("/changes?{}", p.join("&"))
    });
    html(&ChangesPage {
        shell: Shell::new("Changes", "changes", &session),
        domain: domain.map(|d| d.to_string()).unwrap_or_default(),
        module: opt(&q.module).unwrap_or_default(),
        level_options: super::accounts::level_options(&opt(&q.level).unwrap_or_default()),
        first_href: opt(&q.cursor).map(|_| format!("/changes?{}", base.join("&"))),
        days,
        count,
        next_href,
    })
}
