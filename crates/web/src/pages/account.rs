//! One account: header (name, domain, tier and scores, re-enrich), one panel per module of the
//! plan (built-in and declarative) with its latest data as tables and lists, each value with its
//! source badges; a module that failed or was skipped says why; the brief as HTML.

use super::{enc, html, Shell};
use crate::auth::Session;
use crate::brief;
use crate::error::WebError;
use crate::render::{self, humanize, short_time, Badge};
use crate::WebState;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Extension;
use pforge_app::queries::{ModuleIntel, BRIEF_MODULE};
use pforge_core::Domain;
use pforge_store::ItemStatus;
use serde_json::Value;
use std::collections::HashMap;

/// One value of a module with its sources.
pub struct Field {
    pub label: String,
    pub html: String,
    pub badges: Vec<Badge>,
}

/// One module's panel.
pub struct Panel {
    pub id: String,
    pub title: String,
    pub version: String,
    pub fetched_at: String,
    pub history_href: String,
    pub diff_href: Option<String>,
    pub fields: Vec<Field>,
    /// Why there is no (fresh) data: failed or skipped with the reason.
    pub problem: Option<String>,
    pub problem_class: &'static str,
    pub brief_html: Option<String>,
    pub footnotes: Vec<brief::Footnote>,
}

/// The account page.
#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    shell: Shell,
    domain: String,
    name: String,
    description: Option<String>,
    tier: String,
    tier_class: String,
    icp_score: String,
    intent_score: String,
    intent_band: String,
    history_href: String,
    panels: Vec<Panel>,
}

fn text(intel: Option<&ModuleIntel>, key: &str) -> Option<String> {
    let v = intel?.data.get(key)?;
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `GET /accounts/{domain}`.
pub async fn page(
    State(st): State<WebState>,
    Extension(session): Extension<Session>,
    Path(domain): Path<String>,
) -> Result<Response, WebError> {
    let domain = Domain::parse(&domain).map_err(|e| WebError::invalid(e.to_string()))?;
    let intel = st.app.latest(&domain, None).await?;
    let by_id: HashMap<&str, &ModuleIntel> = intel
        .modules
        .iter()
        .map(|m| (m.module.as_str(), m))
        .collect();
    // Why modules failed or were skipped: the work items of the newest job that stored a version.
    let history = st.app.history(&domain, None).await?;
    let newest_job = history
        .iter()
        .filter(|v| v.job_id.is_some())
        .max_by_key(|v| v.created_at)
        .and_then(|v| v.job_id);
    let mut problems: HashMap<String, (ItemStatus, String)> = HashMap::new();
    if let Some(job) = newest_job {
        if let Ok(items) = st.app.job_items(job).await {
            for i in items.into_iter().filter(|i| i.domain == domain.as_str()) {
                if matches!(i.status, ItemStatus::Failed | ItemStatus::Skipped) {
                    let why = i.error.unwrap_or_else(|| "no reason was recorded".into());
                    problems.insert(i.module, (i.status, why));
                }
            }
        }
    }
    let mut ids: Vec<(String, String)> = match st.app.plan() {
        Ok(plan) => plan
            .modules()
            .iter()
            .map(|m| (m.spec().id.clone(), m.spec().title.clone()))
            .collect(),
        Err(_) => Vec::new(),
    };
    for m in &intel.modules {
        if !ids.iter().any(|(id, _)| *id == m.module) {
            ids.push((
                m.module.clone(),
                m.title.clone().unwrap_or_else(|| m.module.clone()),
            ));
        }
    }
    let versions: HashMap<&str, i64> = history.iter().fold(HashMap::new(), |mut acc, v| {
        let e = acc.entry(v.module.as_str()).or_insert(0);
        *e = (*e).max(v.version);
        acc
    });
    let d = enc(domain.as_str());
    let panels = ids
        .into_iter()
        .map(|(id, title)| {
            let m = by_id.get(id.as_str()).copied();
            let problem = problems.get(&id).map(|(status, why)| match status {
                ItemStatus::Skipped => format!("Skipped in the last run: {why}"),
                _ => format!("Failed in the last run: {why}"),
            });
            let problem_class = match problems.get(&id) {
                Some((ItemStatus::Skipped, _)) => "skipped",
                Some(_) => "failed",
                None => "",
            };
            let problem = problem.or_else(|| {
                m.is_none().then(|| "No data stored yet: this module has not produced a result for this account.".to_string())
            });
            let mut panel = Panel {
                history_href: format!("/accounts/{d}/history?module={}", enc(&id)),
                diff_href: versions
                    .get(id.as_str())
                    .filter(|v| **v > 1)
                    .map(|_| format!("/accounts/{d}/diff/{}", enc(&id))),
                version: m.map(|m| m.version.to_string()).unwrap_or_default(),
                fetched_at: m.map(|m| short_time(m.fetched_at)).unwrap_or_default(),
                fields: Vec::new(),
                problem,
                problem_class: if problem_class.is_empty() && m.is_none() { "empty" } else { problem_class },
                brief_html: None,
                footnotes: Vec::new(),
                id: id.clone(),
                title,
            };
            if let Some(m) = m {
                if id == BRIEF_MODULE {
                    if let Some(md) = m.data.get("markdown").and_then(Value::as_str) {
                        let notes = brief::footnotes(m.data.get("footnotes").unwrap_or(&Value::Null));
                        panel.brief_html = Some(brief::to_html(md, &notes));
                        panel.footnotes = notes;
                    }
                }
                if let Value::Object(map) = &m.data {
                    for (k, v) in map {
                        if panel.brief_html.is_some() && (k == "markdown" || k == "footnotes") {
                            continue;
                        }
                        panel.fields.push(Field {
                            label: humanize(k),
                            html: render::value(v),
                            badges: render::badges_for(&m.sources, k),
                        });
                    }
                }
            }
            panel
        })
        .collect();
    let company = by_id.get("m01_company_context").copied();
    let icp = by_id.get("m13_icp_priority").copied();
    let intent = by_id.get("m14_signal_scoring").copied();
    let tier = text(icp, "tier");
    html(&AccountPage {
        shell: Shell::new(
            text(company, "name").unwrap_or_else(|| domain.to_string()),
            "accounts",
            &session,
        ),
        name: text(company, "name").unwrap_or_else(|| domain.to_string()),
        description: text(company, "description"),
        tier_class: tier
            .as_deref()
            .map(|t| format!("tier-{}", t.to_ascii_lowercase()))
            .unwrap_or_default(),
        tier: tier.unwrap_or_else(|| "—".into()),
        icp_score: text(icp, "score").unwrap_or_else(|| "—".into()),
        intent_score: text(intent, "score").unwrap_or_else(|| "—".into()),
        intent_band: text(intent, "level").unwrap_or_default(),
        history_href: format!("/accounts/{d}/history"),
        domain: domain.to_string(),
        panels,
    })
}
