//! M14 signal scoring: a 0–100 buying-intent score from strategic triggers (M07), hiring (M06)
//! and the domain's recent change events (a competitor removed, a new 8-K, a new executive),
//! each decaying with age (half-life in `[signal_scoring]`).
//!
//! Points add up and saturate: `score = 100·(1 − e^(−points/saturation))`, so one strong signal
//! gives a warm account and several give a hot one, without a ceiling effect at 100. Only whole
//! points are stored, so the score changes version when it moves, not on every run.

use crate::derived::{array_at, cite, failure_notes, first_str, num_at};
use crate::vendor::SignalScoringConfig;
use crate::ModulesError;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use pforge_core::{
    ChangeEvent, ChangeKind, Citation, Module, ModuleContext, ModuleError, ModuleOutput,
    ModuleSpec, SetArray,
};
use regex::Regex;
use serde_json::{json, Value};

/// Stable module id (storage key).
pub const ID: &str = "m14_signal_scoring";
const HIRING: &str = "m06_hiring";
const TRIGGERS: &str = "m07_strategic_triggers";

/// Modules whose change events this module scores; it runs after them so that the events of
/// the current run are already recorded.
const CHANGE_SOURCES: &[&str] = &[
    "m01_company_context",
    "m02_tech_stack",
    "m03_traffic",
    "m04_financials",
    "m05_competitors",
    "m08_investors",
    "m09_executives",
];

/// Modules whose change events are not counted as intent signals: hiring and triggers are
/// scored from their current output (counting their change events too would double-count), and
/// the derived modules echo changes already counted (counting our own output would feed back).
const SKIPPED_CHANGES: &[&str] = &[
    HIRING,
    TRIGGERS,
    "m10_buying_committee",
    "m11_displacement_targets",
    "m12_case_studies",
    "m13_icp_priority",
    "m14_signal_scoring",
    "m15_strategic_brief",
];

/// The signal-scoring module.
pub struct SignalScoring {
    spec: ModuleSpec,
    cfg: SignalScoringConfig,
    relevant: Regex,
}

impl SignalScoring {
    /// Validates the scoring policy (half-life, regex) once.
    pub fn new(cfg: &SignalScoringConfig) -> Result<Self, ModulesError> {
        let relevant = cfg.validate()?;
        Ok(SignalScoring {
            spec: ModuleSpec {
                id: ID.into(),
                title: "Signal scoring".into(),
                // Hiring and triggers are read; the others are listed so that this module runs
                // after them and sees the change events their runs just recorded.
                dependencies: [HIRING, TRIGGERS]
                    .iter()
                    .chain(CHANGE_SOURCES)
                    .map(|s| s.to_string())
                    .collect(),
                providers: Vec::new(),
                runs_degraded: true,
                set_arrays: vec![
                    SetArray::keyed("/signals", "id"),
                    SetArray::scalars("/why_now"),
                    SetArray::scalars("/notes"),
                ],
            },
            cfg: cfg.clone(),
            relevant,
        })
    }
}

/// A date from the usual spellings (RFC 3339, `YYYY-MM-DD`, or a longer string starting so).
pub(crate) fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.date_naive());
    }
    s.get(..10)
        .and_then(|p| NaiveDate::parse_from_str(p, "%Y-%m-%d").ok())
}

/// One scored signal before it becomes JSON.
struct Signal {
    id: String,
    kind: &'static str,
    description: String,
    date: Option<NaiveDate>,
    base: f64,
    points: f64,
    /// Where to carry citations from: (module, pointer).
    from: Option<(&'static str, String)>,
    url: Option<String>,
}

/// "stopped running Algolia", "filed an 8-K", ... for a change event.
pub(crate) fn describe_change(e: &ChangeEvent) -> String {
    let segs: Vec<String> = e
        .path
        .trim_start_matches('/')
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    let name_of = |v: &Option<Value>| {
        v.as_ref()
            .and_then(|v| first_str(v, &["name", "title", "form"]).map(str::to_string))
    };
    let value = if e.kind == ChangeKind::Removed {
        &e.old_value
    } else {
        &e.new_value
    };
    match (
        e.module.as_str(),
        segs.first().map(String::as_str),
        e.kind.as_str(),
    ) {
        ("m02_tech_stack", Some("technologies"), "added") if segs.len() == 2 => {
            format!("started running {}", segs[1])
        }
        ("m02_tech_stack", Some("technologies"), "removed") if segs.len() == 2 => {
            format!("stopped running {}", segs[1])
        }
        ("m04_financials", Some("filings"), "added") => {
            let on = value
                .as_ref()
                .and_then(|v| first_str(v, &["filing_date", "filed", "date"]))
                .map(|d| format!(" (filed {d})"))
                .unwrap_or_default();
            format!(
                "filed a new {} with the SEC{on}",
                name_of(value).unwrap_or_else(|| "filing".into())
            )
        }
        ("m09_executives", Some("executives"), "added") if segs.len() == 2 => {
            let title = value
                .as_ref()
                .and_then(|v| first_str(v, &["title"]))
                .map(|t| format!(", {t}"))
                .unwrap_or_default();
            format!("new executive: {}{title}", segs[1])
        }
        ("m08_investors", Some("investors"), "added") if segs.len() == 2 => {
            format!("new investor on record: {}", segs[1])
        }
        ("m08_investors", Some("funding_rounds"), "added") => "new funding round on record".into(),
        ("m01_company_context", Some("description"), "changed") => {
            "rewrote its homepage positioning".into()
        }
        ("m01_company_context", Some("name"), "changed") => "changed its company name".into(),
        ("m04_financials", Some("financials"), "changed")
            if segs.len() == 3 && segs[2] == "value" =>
        {
            let num = |v: &Option<Value>| v.as_ref().and_then(Value::as_f64);
            let what = segs[1].replace('_', " ");
            match (num(&e.old_value), num(&e.new_value)) {
                (Some(o), Some(n)) => format!(
                    "reported {what} of {} (was {})",
                    crate::vendor::human(n),
                    crate::vendor::human(o)
                ),
                _ => format!("reported new {what}"),
            }
        }
        ("m09_executives", Some("executives"), "removed") if segs.len() == 2 => {
            format!(
                "executive left: {}",
                name_of(value).unwrap_or_else(|| segs[1].clone())
            )
        }
        _ => {
            let what = segs.join(" › ");
            match e.kind.as_str() {
                "added" => format!("{}: {what} added", e.module),
                "removed" => format!("{}: {what} removed", e.module),
                _ => format!("{}: {what} changed", e.module),
            }
        }
    }
}

impl SignalScoring {
    fn decayed(&self, base: f64, date: Option<NaiveDate>, today: NaiveDate) -> Option<f64> {
        let age = date.map(|d| (today - d).num_days() as f64).unwrap_or(0.0);
        if age > self.cfg.max_age_days {
            return None;
        }
        Some(base * self.cfg.decay(age))
    }

    /// Scores every signal as of `today`. Pure apart from its inputs: the tests drive it.
    fn signals(&self, ctx: &ModuleContext, today: NaiveDate) -> Vec<Signal> {
        let mut out = Vec::new();
        if let Some(t) = ctx.dependency(TRIGGERS) {
            for (i, x) in array_at(&t.data, "/triggers").iter().enumerate() {
                let kind = first_str(x, &["type", "kind", "category"]).unwrap_or("trigger");
                let text = first_str(x, &["title", "summary", "headline", "description", "name"])
                    .unwrap_or(kind);
                let date = first_str(
                    x,
                    &[
                        "date",
                        "published_at",
                        "filed",
                        "detected_at",
                        "occurred_at",
                    ],
                )
                .and_then(parse_date);
                let base = self
                    .cfg
                    .trigger_points
                    .get(kind)
                    .copied()
                    .or_else(|| {
                        ["points", "score", "strength", "significance"]
                            .iter()
                            .find_map(|k| num_at(x, &format!("/{k}")))
                            .map(|s| s.clamp(0.0, 100.0) * 0.6)
                    })
                    .unwrap_or(self.cfg.default_trigger_points);
                if let Some(points) = self.decayed(base, date, today) {
                    let key = first_str(x, &["id", "key"]).unwrap_or(text);
                    out.push(Signal {
                        id: format!("trigger:{kind}:{key}"),
                        kind: "trigger",
                        description: text.to_string(),
                        date,
                        base,
                        points,
                        from: Some((TRIGGERS, format!("/triggers/{i}"))),
                        url: first_str(x, &["url", "source_url", "link"]).map(str::to_string),
                    });
                }
            }
        }
        if let Some(h) = ctx.dependency(HIRING) {
            let jobs = array_at(&h.data, "/jobs");
            let mut relevant = 0;
            for (i, j) in jobs.iter().enumerate() {
                let Some(title) = first_str(j, &["title", "name"]) else {
                    continue;
                };
                let flagged = j.get("signal") == Some(&Value::Bool(true));
                if !(flagged || self.relevant.is_match(title))
                    || relevant >= self.cfg.max_relevant_jobs
                {
                    continue;
                }
                let date = first_str(
                    j,
                    &[
                        "posted_at",
                        "published_at",
                        "updated_at",
                        "created_at",
                        "date",
                    ],
                )
                .and_then(parse_date);
                let base = self.cfg.relevant_job_points;
                if let Some(points) = self.decayed(base, date, today) {
                    relevant += 1;
                    out.push(Signal {
                        id: format!("hiring:{title}"),
                        kind: "hiring",
                        description: format!("hiring: {title}"),
                        date,
                        base,
                        points,
                        from: Some((HIRING, format!("/jobs/{i}"))),
                        url: first_str(j, &["url", "absolute_url", "hostedUrl"])
                            .map(str::to_string),
                    });
                }
            }
            let open = num_at(&h.data, "/open_jobs")
                .or_else(|| num_at(&h.data, "/total_jobs"))
                .unwrap_or(jobs.len() as f64);
            if open >= self.cfg.hiring_volume_threshold as f64
                && self.cfg.hiring_volume_points > 0.0
            {
                out.push(Signal {
                    id: "hiring:volume".into(),
                    kind: "hiring",
                    description: format!("{} open roles: the team is growing", open as u64),
                    date: None,
                    base: self.cfg.hiring_volume_points,
                    points: self.cfg.hiring_volume_points,
                    from: Some((HIRING, "/open_jobs".into())),
                    url: None,
                });
            }
        }
        for e in ctx.recent_changes() {
            if SKIPPED_CHANGES.contains(&e.module.as_str())
                || e.significance < self.cfg.min_change_significance
            {
                continue;
            }
            let date = Some(e.detected_at.date_naive());
            let base = e.significance as f64 * self.cfg.change_weight;
            if let Some(points) = self.decayed(base, date, today) {
                out.push(Signal {
                    id: format!("change:{}{}:{}:v{}", e.module, e.path, e.kind, e.version),
                    kind: "change",
                    description: describe_change(e),
                    date,
                    base,
                    points,
                    from: None,
                    url: None,
                });
            }
        }
        out.sort_by(|a, b| b.points.total_cmp(&a.points).then_with(|| a.id.cmp(&b.id)));
        out
    }
}

/// The intent level of a score.
pub(crate) fn level(score: f64) -> &'static str {
    if score >= 70.0 {
        "hot"
    } else if score >= 40.0 {
        "warm"
    } else if score >= 15.0 {
        "cool"
    } else {
        "cold"
    }
}

#[async_trait]
impl Module for SignalScoring {
    fn spec(&self) -> &ModuleSpec {
        &self.spec
    }

    fn reads_history(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &ModuleContext) -> Result<ModuleOutput, ModuleError> {
        let today = Utc::now().date_naive();
        let signals = self.signals(ctx, today);
        let total: f64 = signals.iter().map(|s| s.points.round()).sum();
        let score = (100.0 * (1.0 - (-total / self.cfg.saturation).exp())).round();
        let policy = Citation::config("signal_scoring", &[]);
        let mut out = ModuleOutput::new();
        let values: Vec<Value> = signals
            .iter()
            .filter(|s| s.points.round() > 0.0)
            .map(|s| {
                json!({
                    "id": s.id,
                    "kind": s.kind,
                    "description": s.description,
                    "date": s.date.map(|d| d.format("%Y-%m-%d").to_string()),
                    "base_points": s.base.round() as i64,
                    "points": s.points.round() as i64,
                    "url": s.url,
                })
            })
            .collect();
        let why_now: Vec<String> = signals
            .iter()
            .filter(|s| s.points.round() > 0.0)
            .take(3)
            .map(|s| s.description.clone())
            .collect();
        out.set("score", score as i64, &policy);
        out.set("level", level(score), &policy);
        out.set("signals", values, &policy);
        out.set("why_now", why_now, &policy);
        out.set("half_life_days", self.cfg.half_life_days, &policy);
        // Only the dependencies read for data; the others order the run (their failure just
        // means fewer change events).
        let mut notes: Vec<String> = failure_notes(ctx)
            .into_iter()
            .filter(|n| n.starts_with(HIRING) || n.starts_with(TRIGGERS))
            .collect();
        if signals.is_empty() {
            notes.push(
                "no intent signal: no trigger, relevant hiring or significant change on record"
                    .into(),
            );
        }
        out.set("notes", notes, &policy);
        let history = Citation {
            source: format!("store:change_events/{}", ctx.domain.as_str()),
            provider: "derived".into(),
            fetched_at: Utc::now(),
            covers: vec![],
            canonical: None,
            via: Vec::new(),
        };
        for (k, s) in signals
            .iter()
            .filter(|s| s.points.round() > 0.0)
            .enumerate()
        {
            let p = format!("/signals/{k}");
            match &s.from {
                Some((m, ptr)) => {
                    if let Some(dep) = ctx.dependency(m) {
                        if crate::derived::carry(&mut out, dep, ptr, &p) == 0 {
                            cite(&mut out, &Citation::derived(m, &[]), &p);
                        }
                    }
                }
                None => cite(&mut out, &history, &p),
            }
        }
        crate::derived::canonical_order(&mut out, &[("signals", "id")]);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::derived::test_support::{ctx_for, failed, ready};
    use chrono::Duration;

    fn event(module: &str, path: &str, kind: &str, sig: i64, days_ago: i64) -> ChangeEvent {
        ChangeEvent {
            id: uuid::Uuid::new_v4(),
            domain: "techstart.io".into(),
            module: module.into(),
            version: 2,
            path: path.into(),
            kind: ChangeKind::parse(kind).expect("test kind"),
            old_value: Some(json!({"name": "Algolia"})),
            new_value: None,
            significance: sig,
            level: pforge_core::Level::Critical,
            rule: "tech-competitor".into(),
            detected_at: Utc::now() - Duration::days(days_ago),
        }
    }

    #[tokio::test]
    async fn combines_triggers_hiring_and_changes_with_decay() {
        let m = SignalScoring::new(&SignalScoringConfig::default()).unwrap();
        assert!(m.reads_history());
        let today = Utc::now().date_naive();
        let d30 = (today - Duration::days(30)).format("%Y-%m-%d").to_string();
        let triggers = ready(
            json!({"triggers": [{"type": "funding", "title": "Raised a $40M Series C", "date": d30, "url": "https://news.example/a"},
                                {"title": "ancient news", "date": "2001-01-01"}]}),
            "https://news.example/feed",
        );
        let hiring = ready(
            json!({"open_jobs": 25, "jobs": [{"title": "Senior Search Relevance Engineer", "url": "https://jobs.example/1"},
                                             {"title": "Office Manager"}]}),
            "https://boards.example/techstart",
        );
        let ctx = ctx_for("techstart.io", vec![(HIRING, hiring), (TRIGGERS, triggers)])
            .with_history(vec![
                event("m02_tech_stack", "/technologies/Algolia", "removed", 90, 0),
                event("m15_strategic_brief", "/markdown", "changed", 90, 0),
                event("m01_company_context", "/description", "changed", 5, 0),
            ]);
        let out = m.run(&ctx).await.unwrap();
        out.check_cited().unwrap();
        let sig = out.data["signals"].as_array().unwrap();
        let by_id = |id: &str| sig.iter().find(|s| s["id"] == id).cloned();
        let change = by_id("change:m02_tech_stack/technologies/Algolia:removed:v2").unwrap();
        assert_eq!(change["points"], 54, "90 × 0.6, today");
        assert_eq!(change["description"], "stopped running Algolia");
        let funding = sig.iter().find(|s| s["kind"] == "trigger").unwrap();
        assert_eq!(funding["base_points"], 35);
        assert_eq!(funding["points"], 18, "one half-life old: 35 / 2 rounded");
        assert!(by_id("hiring:Senior Search Relevance Engineer").is_some());
        assert!(by_id("hiring:volume").is_some());
        assert!(by_id("hiring:Office Manager").is_none());
        assert!(
            sig.iter().all(|s| s["description"] != "ancient news"),
            "older than max_age"
        );
        assert!(
            sig.iter()
                .all(|s| !s["id"].as_str().unwrap().contains("m15")),
            "derived ignored"
        );
        assert!(
            sig.iter()
                .all(|s| !s["id"].as_str().unwrap().contains("description")),
            "low ignored"
        );
        // 54 + 18 + 15 + 10 = 97 points → 100·(1−e^−0.97) = 62.
        assert_eq!(out.data["score"], 62);
        assert_eq!(out.data["level"], "warm");
        assert_eq!(out.data["why_now"][0], "stopped running Algolia");
        assert!(out
            .sources
            .iter()
            .any(|c| c.source == "https://news.example/feed"));
        assert!(out
            .sources
            .iter()
            .any(|c| c.source == "store:change_events/techstart.io"));
    }

    #[tokio::test]
    async fn nothing_known_is_cold_and_says_why() {
        let m = SignalScoring::new(&SignalScoringConfig::default()).unwrap();
        let out = m
            .run(&ctx_for(
                "x.com",
                vec![(HIRING, failed("no board")), (TRIGGERS, failed("none"))],
            ))
            .await
            .unwrap();
        out.check_cited().unwrap();
        assert_eq!(out.data["score"], 0);
        assert_eq!(out.data["level"], "cold");
        assert_eq!(out.data["notes"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn dates_and_descriptions() {
        assert_eq!(
            parse_date("2024-03-04T10:00:00Z"),
            NaiveDate::from_ymd_opt(2024, 3, 4)
        );
        assert_eq!(
            parse_date("2024-03-04"),
            NaiveDate::from_ymd_opt(2024, 3, 4)
        );
        assert_eq!(parse_date("March"), None);
        let mut e = event(
            "m04_financials",
            "/filings/0001999001-25-000011",
            "added",
            70,
            1,
        );
        e.new_value = Some(json!({"form": "8-K"}));
        assert_eq!(describe_change(&e), "filed a new 8-K with the SEC");
        e.new_value = Some(json!({"form": "8-K", "filing_date": "2025-03-04"}));
        assert_eq!(
            describe_change(&e),
            "filed a new 8-K with the SEC (filed 2025-03-04)"
        );
        assert!(SignalScoring::new(&SignalScoringConfig {
            relevant_job_regex: "(".into(),
            ..Default::default()
        })
        .is_err());
    }
}
