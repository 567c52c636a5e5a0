//! M03 traffic: how big the site is, from a Tranco-style popularity list (`rank,domain` CSV,
//! loaded once at construction) and, when configured, the SimilarWeb visits API.
//!
//! With neither source configured the module says so plainly (`status: "no source configured"`)
//! instead of failing, so dependents degrade rather than the run erroring.

use crate::clients::cite::{attempted, cover};
use crate::ModulesError;
use async_trait::async_trait;
use chrono::{Datelike, Months, NaiveDate, Utc};
use pforge_budget::Call;
use pforge_core::{
    Citation, ExpectedCall, Module, ModuleContext, ModuleError, ModuleOutput, ModuleSpec, SetArray,
};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

const ID: &str = "m03_traffic";
const PROVIDER: &str = "similarweb";

/// `[traffic]` in `pforge.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TrafficConfig {
    /// Tranco-style `rank,domain` CSV (no header needed), relative to the config file's folder.
    #[serde(default)]
    pub rank_list: Option<PathBuf>,
}

/// A popularity list held in memory: domain -> best rank.
#[derive(Debug, Clone)]
struct RankList {
    /// Shown in citations (`config:rank_list:<file>`).
    name: String,
    ranks: HashMap<String, u32>,
    /// The deepest rank in the list: "not in the top N".
    depth: u32,
}

impl RankList {
    /// Streams the file line by line; tolerates a header, blank lines, CRLF and bad lines.
    fn load(path: &Path) -> Result<Self, ModulesError> {
        let read_err = |e: std::io::Error| ModulesError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let file = std::fs::File::open(path).map_err(read_err)?;
        let mut ranks: HashMap<String, u32> = HashMap::new();
        let mut depth = 0;
        let mut bad = 0usize;
        for line in BufReader::new(file).lines() {
            let line = line.map_err(read_err)?;
            match parse_rank_line(&line) {
                Some((rank, domain)) => {
                    depth = depth.max(rank);
                    let e = ranks.entry(domain).or_insert(rank);
                    *e = (*e).min(rank);
                }
                None if line.trim().is_empty() => {}
                None => bad += 1,
            }
        }
        if ranks.is_empty() {
            return Err(ModulesError::Invalid {
                path: path.to_path_buf(),
                reason: format!(
                    "no `rank,domain` lines found ({bad} unreadable line(s)); expected a Tranco-style CSV such as `1,google.com`"
                ),
            });
        }
        if bad > 1 {
            tracing::warn!(path = %path.display(), bad, "rank list: skipped unreadable lines");
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        Ok(RankList { name, ranks, depth })
    }
}

/// One `rank,domain` line (a header or junk gives `None`).
fn parse_rank_line(line: &str) -> Option<(u32, String)> {
    let mut parts = line.trim().splitn(2, ',');
    let rank: u32 = parts.next()?.trim().parse().ok()?;
    let domain = parts
        .next()?
        .trim()
        .trim_matches('"')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if rank == 0
        || domain.is_empty()
        || !domain.contains('.')
        || domain.contains(char::is_whitespace)
    {
        return None;
    }
    Some((rank, domain))
}

/// The bucket a rank falls in.
fn bucket(rank: u32) -> &'static str {
    match rank {
        0..=1_000 => "top 1k",
        1_001..=10_000 => "top 10k",
        10_001..=100_000 => "top 100k",
        100_001..=1_000_000 => "top 1M",
        _ => "beyond top 1M",
    }
}

/// A deliberately rough monthly-visits band for a rank (order of magnitude, not a measurement).
fn visits_band(rank: u32) -> Value {
    let (low, high): (u64, Option<u64>) = match rank {
        0..=1_000 => (50_000_000, None),
        1_001..=10_000 => (5_000_000, Some(50_000_000)),
        10_001..=100_000 => (500_000, Some(5_000_000)),
        100_001..=1_000_000 => (50_000, Some(500_000)),
        _ => (0, Some(50_000)),
    };
    json!({"low": low, "high": high, "basis": "rank bucket (rough order of magnitude)"})
}

/// The traffic module (`m03_traffic`).
pub struct Traffic {
    spec: ModuleSpec,
    ranks: Option<RankList>,
}

impl Traffic {
    /// Builds the module, loading the rank list (if configured) once; `base_dir` is the config
    /// file's folder. A missing or empty list is a config error naming the file.
    pub fn new(cfg: &TrafficConfig, base_dir: &Path) -> Result<Self, ModulesError> {
        let ranks = match &cfg.rank_list {
            Some(p) => Some(RankList::load(&base_dir.join(p))?),
            None => None,
        };
        Ok(Traffic {
            spec: ModuleSpec {
                id: ID.into(),
                title: "Traffic".into(),
                dependencies: Vec::new(),
                providers: vec![PROVIDER.into()],
                runs_degraded: false,
                set_arrays: vec![
                    SetArray::keyed("/monthly_visits", "month"),
                    SetArray::scalars("/notes"),
                ],
            },
            ranks,
        })
    }
}

/// The last `n` complete months as (`YYYY-MM` start, `YYYY-MM` end).
fn last_complete_months(today: NaiveDate, n: u32) -> (String, String) {
    let first_of_month = today.with_day(1).unwrap_or(today);
    let end = first_of_month
        .checked_sub_months(Months::new(1))
        .unwrap_or(first_of_month);
    let start = end
        .checked_sub_months(Months::new(n.saturating_sub(1)))
        .unwrap_or(end);
    (
        start.format("%Y-%m").to_string(),
        end.format("%Y-%m").to_string(),
    )
}

/// Monthly visits from a SimilarWeb `total-traffic-and-engagement/visits` answer.
fn parse_visits(v: &Value) -> Option<Vec<(String, f64)>> {
    let rows = v.get("visits")?.as_array()?;
    Some(
        rows.iter()
            .filter_map(|r| {
                let date = r.get("date")?.as_str()?;
                let visits = r.get("visits")?.as_f64()?;
                Some((date.chars().take(7).collect(), visits))
            })
            .collect(),
    )
}

#[async_trait]
impl Module for Traffic {
    fn spec(&self) -> &ModuleSpec {
        &self.spec
    }

    /// The rank list is a local file; only the keyed API costs a call.
    fn expected_calls(&self) -> Vec<ExpectedCall> {
        vec![ExpectedCall::per_domain(PROVIDER, "/v1/website")]
    }

    async fn run(&self, ctx: &ModuleContext) -> Result<ModuleOutput, ModuleError> {
        let mut out = ModuleOutput::new();
        // A configured provider whose key is missing counts as "not configured": say so plainly.
        let has_api = ctx.gateway.has_provider(PROVIDER)
            && ctx.gateway.missing_credentials(PROVIDER).is_none();
        let mut notes: Vec<(String, Citation)> = Vec::new();

        if self.ranks.is_none() && !has_api {
            let c = Citation::config("traffic.rank_list,providers.similarweb", &[]);
            out.set("status", "no source configured", &c);
            out.set(
                "notes",
                vec!["no traffic source configured: set [traffic] rank_list or add [providers.similarweb]"],
                &c,
            );
            return Ok(out);
        }
        out.set("status", "ok", &Citation::config("traffic", &[]));

        if let Some(list) = &self.ranks {
            let c = Citation::config(&format!("rank_list:{}", list.name), &[]);
            let rank = list.ranks.get(ctx.domain.as_str()).copied();
            out.set("rank", rank, &c);
            out.set("rank_list_depth", list.depth, &c);
            out.set("rank_bucket", rank.map(bucket), &c);
            out.set("estimated_monthly_visits", rank.map(visits_band), &c);
            if rank.is_none() {
                notes.push((
                    format!("not in the top {} of the rank list", list.depth),
                    c.clone(),
                ));
            }
        }

        if has_api {
            let (start, end) = last_complete_months(Utc::now().date_naive(), 3);
            let call = Call::get(
                PROVIDER,
                format!(
                    "/v1/website/{}/total-traffic-and-engagement/visits",
                    ctx.domain
                ),
            )
            .query("start_date", start)
            .query("end_date", end)
            .query("country", "world")
            .query("granularity", "monthly")
            .query("main_domain_only", "false")
            .query("format", "json")
            .for_domain(ctx.domain.as_str())
            .by_module(ID);
            match ctx.gateway.fetch(&call).await {
                Ok(resp) => {
                    let v: Value = resp.json()?;
                    let rows = parse_visits(&v).ok_or_else(|| {
                        ModuleError::parse(&resp.url, "SimilarWeb answer has no \"visits\" list")
                    })?;
                    let c = Citation::from_response(&resp, &[]);
                    let avg = if rows.is_empty() {
                        None
                    } else {
                        Some(
                            (rows.iter().map(|r| r.1).sum::<f64>() / rows.len() as f64).round()
                                as u64,
                        )
                    };
                    let monthly: Vec<Value> = rows
                        .iter()
                        .map(|(m, v)| json!({"month": m, "visits": v.round() as u64}))
                        .collect();
                    out.set("monthly_visits", monthly, &c);
                    out.set("average_monthly_visits", avg, &c);
                }
                // SimilarWeb answers 404 for sites it has no data on: that is a fact, not a failure.
                Err(e) if e.status() == Some(404) => {
                    let c = attempted(ctx, &call);
                    notes.push(("SimilarWeb has no data for this domain".into(), c.clone()));
                    out.set("monthly_visits", Value::Null, &c);
                    out.set("average_monthly_visits", Value::Null, &c);
                }
                Err(e) if self.ranks.is_some() => {
                    let c = attempted(ctx, &call);
                    notes.push((format!("SimilarWeb unavailable: {e}"), c.clone()));
                    out.set("monthly_visits", Value::Null, &c);
                    out.set("average_monthly_visits", Value::Null, &c);
                }
                Err(e) => return Err(e.into()),
            }
        }

        let texts: Vec<String> = notes.iter().map(|(t, _)| t.clone()).collect();
        let first = notes
            .first()
            .map(|(_, c)| c.clone())
            .unwrap_or_else(|| Citation::config("traffic", &[]));
        out.set("notes", texts, &first);
        for (_, c) in &notes {
            cover(&mut out, c, "/notes");
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_lines() {
        assert_eq!(
            parse_rank_line("1,google.com"),
            Some((1, "google.com".into()))
        );
        assert_eq!(
            parse_rank_line("42,Example.COM.\r"),
            Some((42, "example.com".into()))
        );
        assert_eq!(parse_rank_line("rank,domain"), None);
        assert_eq!(parse_rank_line("x,y.com"), None);
        assert_eq!(parse_rank_line("0,zero.com"), None);
        assert_eq!(parse_rank_line("5,nodot"), None);
        assert_eq!(parse_rank_line(""), None);
    }

    #[test]
    fn buckets_and_bands() {
        assert_eq!(bucket(1), "top 1k");
        assert_eq!(bucket(2841), "top 10k");
        assert_eq!(bucket(61307), "top 100k");
        assert_eq!(bucket(487221), "top 1M");
        assert_eq!(bucket(2_000_000), "beyond top 1M");
        assert_eq!(visits_band(2841)["low"], 5_000_000);
        assert_eq!(visits_band(10)["high"], Value::Null);
    }

    #[test]
    fn month_window() {
        let d = NaiveDate::from_ymd_opt(2025, 3, 10).unwrap();
        assert_eq!(
            last_complete_months(d, 3),
            ("2024-12".into(), "2025-02".into())
        );
    }

    #[test]
    fn demo_rank_list_loads_with_crlf_and_gaps() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
        let list = RankList::load(&dir.join("tranco-demo.csv")).unwrap();
        assert_eq!(list.ranks.get("google.com"), Some(&1));
        assert_eq!(list.ranks.get("northwind-retail.com"), Some(&2841));
        assert_eq!(list.ranks.get("blueharbor-health.com"), None);
        assert_eq!(list.depth, 1_000_000);
    }

    #[test]
    fn header_and_junk_are_tolerated_but_empty_is_an_error() {
        let dir = std::env::temp_dir().join(format!("pforge-m03-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("list.csv");
        std::fs::write(&p, "rank,domain\n1,a.com\n\ngarbage\n2,b.org\n2,a.com\n").unwrap();
        let list = RankList::load(&p).unwrap();
        assert_eq!(list.ranks.len(), 2);
        assert_eq!(list.ranks["a.com"], 1);
        assert_eq!(list.depth, 2);
        std::fs::write(&p, "rank,domain\n").unwrap();
        assert!(matches!(
            RankList::load(&p),
            Err(ModulesError::Invalid { .. })
        ));
        let missing = Traffic::new(
            &TrafficConfig {
                rank_list: Some("nope.csv".into()),
            },
            &dir,
        );
        assert!(matches!(missing, Err(ModulesError::Read { .. })));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn visits_parsing() {
        let v = json!({"visits": [{"date": "2024-07-01", "visits": 10.4}, {"date": "bad"}]});
        assert_eq!(parse_visits(&v), Some(vec![("2024-07".into(), 10.4)]));
        assert_eq!(parse_visits(&json!({"meta": {}})), None);
    }
}
