//! Spending caps as read from `[budget]` in `config/pforge.toml`.

use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Caps on credits spent, in total and per provider. Absent caps are unlimited.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    /// All providers together, per UTC day.
    #[serde(default)]
    pub total_daily: Option<f64>,
    /// All providers together, per calendar month (UTC).
    #[serde(default)]
    pub total_monthly: Option<f64>,
    /// One run of the process (`--max-spend` overrides it).
    #[serde(default)]
    pub per_run: Option<f64>,
    /// Caps for single providers, keyed by provider id.
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderCaps>,
}

/// Caps for one provider.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProviderCaps {
    /// Credits per UTC day.
    #[serde(default)]
    pub daily: Option<f64>,
    /// Credits per calendar month (UTC).
    #[serde(default)]
    pub monthly: Option<f64>,
}

/// The accounting window a cap applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    Day,
    Month,
}

impl Period {
    /// Start of the window containing `now`.
    pub fn start(self, now: DateTime<Utc>) -> DateTime<Utc> {
        let (y, m, d) = match self {
            Period::Day => (now.year(), now.month(), now.day()),
            Period::Month => (now.year(), now.month(), 1),
        };
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0)
            .single()
            .unwrap_or(now)
    }

    /// When the window containing `now` ends and spending starts from zero again.
    pub fn reset(self, now: DateTime<Utc>) -> DateTime<Utc> {
        let start = self.start(now);
        match self {
            Period::Day => start + chrono::Duration::days(1),
            Period::Month => {
                let (y, m) = if start.month() == 12 {
                    (start.year() + 1, 1)
                } else {
                    (start.year(), start.month() + 1)
                };
                Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0)
                    .single()
                    .unwrap_or(start + chrono::Duration::days(31))
            }
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Period::Day => "daily",
            Period::Month => "monthly",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_reset_at_utc_midnight_and_month_start() {
        let t = Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 0).unwrap();
        assert_eq!(
            Period::Day.reset(t),
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
        );
        assert_eq!(
            Period::Month.reset(t),
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
        );
        assert_eq!(
            Period::Month.start(t),
            Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
        );
    }
}
