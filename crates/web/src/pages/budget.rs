//! Spend against every cap (total and per provider, per day and month) as bars.

use super::{html, Shell};
use crate::auth::Session;
use crate::error::WebError;
use crate::render::short_time;
use crate::svg::meter;
use crate::WebState;
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::Extension;

/// One cap.
pub struct CapView {
    pub scope: String,
    pub period: String,
    pub spent: String,
    pub limit: String,
    pub remaining: String,
    pub resets_at: String,
    pub meter: String,
}

/// The budget page.
#[derive(Template)]
#[template(path = "budget.html")]
struct BudgetPage {
    shell: Shell,
    caps: Vec<CapView>,
}

/// `GET /budget`.
pub async fn page(
    State(st): State<WebState>,
    Extension(session): Extension<Session>,
) -> Result<Response, WebError> {
    let caps = st.app.budget_status().await?;
    html(&BudgetPage {
        shell: Shell::new("Budget", "budget", &session),
        caps: caps
            .into_iter()
            .map(|c| CapView {
                meter: meter(c.spent, c.limit),
                scope: c.scope,
                period: c.period.to_string(),
                spent: format!("{:.2}", c.spent),
                limit: format!("{:.2}", c.limit),
                remaining: format!("{:.2}", c.remaining),
                resets_at: short_time(c.resets_at),
            })
            .collect(),
    })
}
