//! Spend against every cap (total and per provider, per day and month) as bars, and what
//! explains a slow or skipped provider: its rate-limit waits and its open circuit breakers, as
//! this process's gateway counts them.

use super::{html, Shell};
use crate::auth::Session;
use crate::error::WebError;
use crate::render::short_time;
use crate::svg::{bars, meter, Bar};
use crate::WebState;
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use chrono::{DateTime, Utc};

/// Breakers listed per provider at most (a per-site provider has one per host).
const BREAKERS_PER_PROVIDER: usize = 50;

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

/// One rate-limited provider's waits.
pub struct WaitView {
    pub provider: String,
    pub paced: u64,
    pub waits: u64,
    pub waited: String,
    pub longest: String,
}

/// One breaker that is not simply healthy.
pub struct BreakerView {
    pub provider: String,
    pub host: String,
    pub state: &'static str,
    pub since: String,
    pub failures: String,
    pub retry_at: String,
    pub last_error: String,
}

/// What one run spent this month.
pub struct RunSpendView {
    /// `/jobs/ID` when the job is recorded.
    pub href: Option<String>,
    pub name: String,
    pub started: String,
    pub calls: i64,
    pub credits: String,
    pub top_module: String,
}

/// What one module spent this month.
pub struct ModuleSpendView {
    pub module: String,
    pub calls: i64,
    pub credits: String,
    pub providers: String,
}

/// Runs listed on the page; the rest are counted.
const RUNS_LISTED: usize = 20;

/// The budget page.
#[derive(Template)]
#[template(path = "budget.html")]
struct BudgetPage {
    shell: Shell,
    caps: Vec<CapView>,
    since: String,
    total_calls: i64,
    total_credits: String,
    runs: Vec<RunSpendView>,
    more_runs: usize,
    modules: Vec<ModuleSpendView>,
    modules_chart: String,
    waits: Vec<WaitView>,
    waits_chart: String,
    breakers: Vec<BreakerView>,
    providers: usize,
    open: usize,
}

/// Seconds as the page prints them: `0.35 s`, `12.4 s`, `3 min 5 s`.
fn seconds(s: f64) -> String {
    if s < 10.0 {
        format!("{s:.2} s")
    } else if s < 120.0 {
        format!("{s:.1} s")
    } else {
        format!("{} min {} s", (s / 60.0).floor(), (s % 60.0).round())
    }
}

/// A job id as people compare them: its first eight hex digits.
fn short_id(id: uuid::Uuid) -> String {
    id.simple().to_string()[..8].to_string()
}

/// A breaker's times, to the second: it opens and probes within minutes.
fn to_the_second(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `GET /budget`.
pub async fn page(
    State(st): State<WebState>,
    Extension(session): Extension<Session>,
) -> Result<Response, WebError> {
    let caps = st.app.budget_status().await?;
    let spend = st.app.spend_breakdown(RUNS_LISTED).await?;
    let runs = spend
        .runs
        .iter()
        .map(|r| RunSpendView {
            href: r.created_at.and(r.job_id).map(|id| format!("/jobs/{id}")),
            name: match (&r.label, r.job_id) {
                (Some(label), Some(id)) => format!("{label} · {}", short_id(id)),
                (None, Some(id)) => format!("{} (no longer recorded)", short_id(id)),
                _ => "outside any run".into(),
            },
            started: r.created_at.map(short_time).unwrap_or_else(|| "—".into()),
            calls: r.calls,
            credits: format!("{:.2}", r.credits),
            top_module: r
                .top_module
                .as_ref()
                .map(|(m, c)| format!("{m} ({c:.2})"))
                .unwrap_or_else(|| "—".into()),
        })
        .collect();
    let module_bars: Vec<Bar> = spend
        .modules
        .iter()
        .filter(|m| m.credits > 0.0)
        .map(|m| Bar {
            label: m.module.clone(),
            value: (m.credits * 100.0).round() / 100.0,
            class: "ok".into(),
        })
        .collect();
    let modules_chart = if module_bars.is_empty() {
        String::new()
    } else {
        bars("Credits spent this month, per module", &module_bars)
    };
    let modules = spend
        .modules
        .iter()
        .map(|m| ModuleSpendView {
            module: m.module.clone(),
            calls: m.calls,
            credits: format!("{:.2}", m.credits),
            providers: m.providers.join(", "),
        })
        .collect();
    let health = st.app.provider_health(BREAKERS_PER_PROVIDER)?;
    let waits: Vec<WaitView> = health
        .iter()
        .filter(|h| h.rate_limited)
        .map(|h| WaitView {
            provider: h.provider.clone(),
            paced: h.waits.paced,
            waits: h.waits.waits,
            waited: seconds(h.waits.waited_secs),
            longest: seconds(h.waits.longest_secs),
        })
        .collect();
    let waited: Vec<Bar> = health
        .iter()
        .filter(|h| h.waits.waits > 0)
        .map(|h| Bar {
            label: h.provider.clone(),
            value: (h.waits.waited_secs * 100.0).round() / 100.0,
            class: "warn".into(),
        })
        .collect();
    let waits_chart = if waited.is_empty() {
        String::new()
    } else {
        bars(
            "Seconds spent waiting for a rate-limit permit, per provider",
            &waited,
        )
    };
    let breakers: Vec<BreakerView> = health
        .iter()
        .flat_map(|h| h.breakers.iter())
        .map(|b| BreakerView {
            provider: b.provider.clone(),
            host: b.host.clone().unwrap_or_else(|| "every call".into()),
            state: b.state.as_str(),
            since: to_the_second(b.since),
            failures: format!("{} of {}", b.failures, b.threshold),
            retry_at: b.retry_at.map(to_the_second).unwrap_or_else(|| "—".into()),
            last_error: b.last_error.clone().unwrap_or_else(|| "—".into()),
        })
        .collect();
    let open = breakers.iter().filter(|b| b.state != "closed").count();
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
        since: spend.since.format("%-d %B %Y").to_string(),
        total_calls: spend.calls,
        total_credits: format!("{:.2}", spend.credits),
        runs,
        more_runs: spend.more_runs,
        modules,
        modules_chart,
        waits,
        waits_chart,
        breakers,
        providers: health.len(),
        open,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_read_naturally() {
        assert_eq!(seconds(0.349), "0.35 s");
        assert_eq!(seconds(12.44), "12.4 s");
        assert_eq!(seconds(185.0), "3 min 5 s");
    }
}
