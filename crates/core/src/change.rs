//! What a change is, as every layer sees it: the event a new snapshot version raised, what kind
//! of change it was, and how much it matters. The one ranking of levels lives here (`Level`'s
//! order), so filters, alert rules and the UI can never disagree about "high or above".

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use uuid::Uuid;

/// A change detected between two versions, scored for significance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChangeEvent {
    pub id: Uuid,
    pub domain: String,
    pub module: String,
    /// Version that introduced the change.
    pub version: i64,
    /// JSON Pointer of the changed value.
    pub path: String,
    pub kind: ChangeKind,
    pub old_value: Option<Value>,
    pub new_value: Option<Value>,
    pub significance: i64,
    pub level: Level,
    /// Name of the significance rule that scored it.
    pub rule: String,
    pub detected_at: DateTime<Utc>,
}

/// How much a change matters. Versioning derives it from a change's score (its level
/// thresholds); the variant order *is* the ranking (`Low < Medium < High < Critical`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    #[default]
    Low,
    Medium,
    High,
    Critical,
}

impl Level {
    /// Stable text stored in [`ChangeEvent::level`].
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }

    /// Inverse of [`Level::as_str`]; used when reading stored events back.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "low" => Level::Low,
            "medium" => Level::Medium,
            "high" => Level::High,
            "critical" => Level::Critical,
            _ => return None,
        })
    }
}

impl std::str::FromStr for Level {
    type Err = String;

    /// Parses a level name as users type it (`--min-level high`, `?min_level=high`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Level::parse(&s.trim().to_ascii_lowercase())
            .ok_or_else(|| format!("unknown level {s:?}: use low, medium, high or critical"))
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened at a path, in the words of a change event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

impl ChangeKind {
    /// Stable text stored in [`ChangeEvent::kind`].
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::Changed => "changed",
        }
    }

    /// Inverse of [`ChangeKind::as_str`]; used when reading stored events back.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "added" => ChangeKind::Added,
            "removed" => ChangeKind::Removed,
            "changed" => ChangeKind::Changed,
            _ => return None,
        })
    }
}

impl std::str::FromStr for ChangeKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ChangeKind::parse(&s.trim().to_ascii_lowercase())
            .ok_or_else(|| format!("unknown change kind {s:?}: use added, removed or changed"))
    }
}

/// Levels and kinds compare equal to their stored names, so a test or a filter can say
/// `event.level == "high"` without spelling the enum.
macro_rules! eq_name {
    ($t:ty) => {
        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }
        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}
eq_name!(Level);
eq_name!(ChangeKind);

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_rank_in_one_order_and_round_trip() {
        let all = [Level::Low, Level::Medium, Level::High, Level::Critical];
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        for l in all {
            assert_eq!(Level::parse(l.as_str()), Some(l));
            assert_eq!(l.as_str().to_uppercase().parse::<Level>(), Ok(l));
        }
        assert!("urgent".parse::<Level>().is_err());
        for k in [ChangeKind::Added, ChangeKind::Removed, ChangeKind::Changed] {
            assert_eq!(ChangeKind::parse(k.as_str()), Some(k));
        }
    }
}
