//! The plan: the module DAG the executor runs, drawn as SVG (waves as columns, dependencies as
//! arrows, each module's providers), the same graph as a table, and the DOT file. It asks the
//! application for the plan exactly as `pforge plan` does (`App::plan_for`, with `?modules=`
//! meaning the CLI's `--modules`: those modules and everything they depend on).

use super::{enc, html, opt, Shell};
use crate::auth::Session;
use crate::dag::{self, Node};
use crate::error::WebError;
use crate::WebState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;

/// `?modules=a,b`: plan only these modules and their dependencies (comma-separated ids).
#[derive(Debug, Default, Deserialize)]
pub struct PlanQuery {
    modules: Option<String>,
}

impl PlanQuery {
    /// The ids asked for, as `pforge plan --modules` splits them (empty: every module).
    fn ids(&self) -> Vec<String> {
        opt(&self.modules)
            .map(|s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// One module in the table under the drawing.
pub struct ModuleRow {
    pub id: String,
    pub title: String,
    pub dependencies: String,
    pub providers: String,
}

/// One wave of the table.
pub struct WaveView {
    pub number: usize,
    pub modules: Vec<ModuleRow>,
}

/// The plan page.
#[derive(Template)]
#[template(path = "plan.html")]
struct PlanPage {
    shell: Shell,
    svg: String,
    waves: Vec<WaveView>,
    module_count: usize,
    selection: String,
    dot_href: String,
}

/// `GET /plan`.
pub async fn page(
    State(st): State<WebState>,
    Extension(session): Extension<Session>,
    Query(q): Query<PlanQuery>,
) -> Result<Response, WebError> {
    let ids = q.ids();
    let plan = st.app.plan_for(&ids)?;
    let nodes: Vec<Vec<Node>> = plan
        .waves()
        .iter()
        .map(|wave| {
            wave.iter()
                .filter_map(|id| plan.module(id))
                .map(|m| {
                    let s = m.spec();
                    Node {
                        id: s.id.clone(),
                        title: s.title.clone(),
                        providers: s.providers.clone(),
                        dependencies: s.dependencies.clone(),
                    }
                })
                .collect()
        })
        .collect();
    let svg = dag::draw(
        &format!(
            "Module plan: {} modules in {} waves, dependencies drawn as arrows into the module that needs them",
            plan.len(),
            plan.wave_count()
        ),
        &nodes,
    );
    let dash = |v: &[String]| {
        if v.is_empty() {
            "—".to_string()
        } else {
            v.join(", ")
        }
    };
    let waves = nodes
        .iter()
        .enumerate()
        .map(|(i, wave)| WaveView {
            number: i + 1,
            modules: wave
                .iter()
                .map(|n| ModuleRow {
                    id: n.id.clone(),
                    title: n.title.clone(),
                    dependencies: dash(&n.dependencies),
                    providers: dash(&n.providers),
                })
                .collect(),
        })
        .collect();
    let selection = ids.join(",");
    let dot_href = if selection.is_empty() {
        "/plan.dot".to_string()
    } else {
        format!("/plan.dot?modules={}", enc(&selection))
    };
    html(&PlanPage {
        shell: Shell::new("Plan", "plan", &session),
        svg,
        waves,
        module_count: plan.len(),
        selection,
        dot_href,
    })
}

/// `GET /plan.dot`: the plan as Graphviz DOT, what `pforge plan --dot` prints.
pub async fn dot(
    State(st): State<WebState>,
    Query(q): Query<PlanQuery>,
) -> Result<Response, WebError> {
    let plan = st.app.plan_for(&q.ids())?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/vnd.graphviz; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "inline; filename=\"plan.dot\""),
        ],
        plan.to_dot(),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_are_split_like_the_cli_does() {
        let q = PlanQuery {
            modules: Some(" m05_competitors, ,m04_financials ".into()),
        };
        assert_eq!(q.ids(), vec!["m05_competitors", "m04_financials"]);
        assert!(PlanQuery::default().ids().is_empty());
        assert!(PlanQuery {
            modules: Some("  ".into())
        }
        .ids()
        .is_empty());
    }
}
