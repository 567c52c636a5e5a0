//! When the daemon runs what: cron schedules (with time zones) over target lists, and the
//! freshness rule that decides which targets are due for a refresh. Pure functions of time and
//! stored snapshots, so they are tested without waiting for clocks.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use pforge_store::Snapshot;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// Schedule and target mistakes, as one line naming the value and the fix.
type Result<T> = std::result::Result<T, String>;

/// Where a schedule's domains come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSource {
    /// The targets table (edited through `/api/v1/targets`), read at each firing.
    Table,
    /// A file of domains (plain list or CSV with a `domain` column), read at each firing.
    File(PathBuf),
}

impl TargetSource {
    /// Parses `table` or `file:PATH` (relative paths are resolved against `base_dir`).
    pub fn parse(text: &str, base_dir: &Path) -> Result<TargetSource> {
        let text = text.trim();
        if text == "table" {
            return Ok(TargetSource::Table);
        }
        match text.strip_prefix("file:") {
            Some(p) if !p.trim().is_empty() => {
                let p = Path::new(p.trim());
                Ok(TargetSource::File(if p.is_absolute() {
                    p.to_path_buf()
                } else {
                    base_dir.join(p)
                }))
            }
            _ => Err("use \"table\" or \"file:PATH\"".to_string()),
        }
    }
}

/// One parsed `[[daemon.schedules]]` entry.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub name: String,
    cron: Cron,
    pub timezone: Tz,
    pub targets: TargetSource,
}

impl Schedule {
    /// Parses the cron pattern (5 fields, or 6 with seconds first) and the IANA time zone.
    pub fn new(name: &str, cron: &str, timezone: &str, targets: TargetSource) -> Result<Schedule> {
        if name.trim().is_empty() {
            return Err("name must not be empty".to_string());
        }
        let parsed = Cron::from_str(cron)
            .map_err(|e| format!("cron = {cron:?}: {e} (use 5 fields, or 6 with seconds first)"))?;
        let tz: Tz = timezone.parse().map_err(|_| {
            format!("timezone = {timezone:?} is not an IANA time zone (like \"UTC\" or \"Europe/Berlin\")")
        })?;
        Ok(Schedule {
            name: name.to_string(),
            cron: parsed,
            timezone: tz,
            targets,
        })
    }

    /// The first firing strictly after `now`, computed in the schedule's time zone (so `0 2 * * *`
    /// in Europe/Berlin is 02:00 Berlin time across daylight-saving changes). `None` when the
    /// pattern never fires again.
    pub fn next_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&self.timezone);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The label jobs of this schedule carry.
    pub fn label(&self) -> String {
        format!("{}schedule:{}", super::LABEL_PREFIX, self.name)
    }
}

/// FNV-1a: a hash that is the same in every build and process, so a (domain, module) keeps its
/// place in the refresh spread across restarts and across daemons sharing a database.
fn stable_hash(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0xff)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// When a module's snapshot is due for a refresh: `checked_at + ttl + offset`, where the offset
/// is a fixed fraction (from the domain and module names) of `spread * ttl`. Never earlier than
/// the TTL, so the executor, which compares against the plain TTL, always re-runs what this
/// calls due.
pub fn due_at(
    domain: &str,
    module: &str,
    checked_at: DateTime<Utc>,
    ttl: Duration,
    spread: f64,
) -> DateTime<Utc> {
    let fraction = (stable_hash(&[domain, module]) % 10_000) as f64 / 10_000.0;
    let extra = ttl.as_secs_f64() * spread.max(0.0) * fraction;
    let total = ttl.as_secs_f64() + extra;
    let total = chrono::Duration::milliseconds((total * 1000.0).min(i64::MAX as f64 / 2.0) as i64);
    checked_at + total
}

/// Whether a target needs a refresh now: one of its modules that has a TTL is past its (spread)
/// due time. Modules without a snapshot (they failed, are not applicable, or the domain was
/// never enriched: that is the schedules' and the API's job) do not make a domain due, or a
/// provider that always fails would be called at every scan.
pub fn is_due(
    domain: &str,
    snapshots: &[Snapshot],
    ttls: &HashMap<String, Duration>,
    spread: f64,
    now: DateTime<Utc>,
) -> bool {
    snapshots.iter().any(|s| {
        ttls.get(&s.module)
            .is_some_and(|ttl| due_at(domain, &s.module, s.checked_at, *ttl, spread) <= now)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn snap(module: &str, checked_at: DateTime<Utc>) -> Snapshot {
        Snapshot {
            domain: "d".into(),
            module: module.into(),
            version: 1,
            data: serde_json::json!({}),
            citations: serde_json::json!([]),
            content_hash: "h".into(),
            fetched_at: checked_at,
            checked_at,
            created_at: checked_at,
            job_id: None,
            patch: None,
        }
    }

    #[test]
    fn cron_fires_in_its_time_zone() {
        let s = Schedule::new("n", "0 2 * * *", "Europe/Berlin", TargetSource::Table).unwrap();
        // 2024-07-01 00:30 UTC is 02:30 in Berlin (CEST, UTC+2): next 02:00 Berlin is the next day
        // at 00:00 UTC.
        let now = Utc.with_ymd_and_hms(2024, 7, 1, 0, 30, 0).unwrap();
        assert_eq!(
            s.next_after(now).unwrap(),
            Utc.with_ymd_and_hms(2024, 7, 2, 0, 0, 0).unwrap()
        );
        // In winter (CET, UTC+1) the same pattern is 01:00 UTC.
        let now = Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap();
        assert_eq!(
            s.next_after(now).unwrap(),
            Utc.with_ymd_and_hms(2024, 1, 2, 1, 0, 0).unwrap()
        );
        let fast = Schedule::new("f", "*/3 * * * * *", "UTC", TargetSource::Table).unwrap();
        let now = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 1).unwrap();
        assert_eq!(
            fast.next_after(now).unwrap(),
            Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 3).unwrap()
        );
        assert_eq!(fast.label(), "daemon:schedule:f");
    }

    #[test]
    fn bad_patterns_and_zones_are_errors() {
        assert!(Schedule::new("n", "not cron", "UTC", TargetSource::Table).is_err());
        assert!(Schedule::new("n", "* * * * *", "Nowhere/Else", TargetSource::Table).is_err());
        assert!(Schedule::new("", "* * * * *", "UTC", TargetSource::Table).is_err());
        assert!(TargetSource::parse("file:", Path::new(".")).is_err());
        assert!(TargetSource::parse("csv", Path::new(".")).is_err());
        assert_eq!(
            TargetSource::parse("file:/abs/list.txt", Path::new("/etc")).unwrap(),
            TargetSource::File("/abs/list.txt".into())
        );
    }

    #[test]
    fn refresh_is_spread_and_never_early() {
        let t0 = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let ttl = Duration::from_secs(3600);
        let mut seconds = std::collections::BTreeSet::new();
        for i in 0..200 {
            let d = format!("domain{i}.example");
            let due = due_at(&d, "m02_tech_stack", t0, ttl, 0.1);
            assert!(
                due >= t0 + chrono::Duration::seconds(3600),
                "never before the TTL"
            );
            assert!(
                due <= t0 + chrono::Duration::seconds(3960),
                "within ttl * (1 + spread)"
            );
            seconds.insert(due.timestamp());
            // Stable: the same inputs give the same time.
            assert_eq!(due, due_at(&d, "m02_tech_stack", t0, ttl, 0.1));
        }
        assert!(
            seconds.len() > 150,
            "200 domains checked in the same second fall due in {} distinct seconds",
            seconds.len()
        );
        assert_eq!(
            due_at("a", "m", t0, ttl, 0.0),
            t0 + chrono::Duration::seconds(3600)
        );
    }

    #[test]
    fn due_rules() {
        let now = Utc.with_ymd_and_hms(2024, 1, 2, 0, 0, 0).unwrap();
        let ttls: HashMap<String, Duration> = [("m02".to_string(), Duration::from_secs(3600))]
            .into_iter()
            .collect();
        assert!(
            !is_due("x.com", &[], &ttls, 0.1, now),
            "never enriched: not a refresh"
        );
        let fresh = snap("m02", now - chrono::Duration::minutes(10));
        let stale = snap("m02", now - chrono::Duration::hours(3));
        let no_ttl = snap("m99", now - chrono::Duration::days(300));
        assert!(!is_due(
            "x.com",
            &[fresh.clone(), no_ttl.clone()],
            &ttls,
            0.1,
            now
        ));
        assert!(is_due("x.com", &[stale, no_ttl], &ttls, 0.1, now));
    }
}
