//! Significance scoring: rules from config (`[[significance.rules]]`) turn a [`Change`] into a
//! score 0–100 and a level, so that "Algolia removed" outranks "description reworded".
//!
//! Rules are tried in the order written and the **first matching rule wins** (so put specific
//! rules before general ones; a rule can also *lower* a score, e.g. to silence a noisy path). A
//! change that no rule matches is scored by the implicit rule `default` (`default_score`, low).

use crate::diff::{Change, ChangeKind};
use crate::pattern::{glob_matches, pointer_matches};
use crate::ConfigError;
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

pub use pforge_core::Level;

/// Lowest score of each level above `low` (defaults 25 / 50 / 80).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelThresholds {
    pub medium: u8,
    pub high: u8,
    pub critical: u8,
}

impl Default for LevelThresholds {
    fn default() -> Self {
        LevelThresholds {
            medium: 25,
            high: 50,
            critical: 80,
        }
    }
}

impl LevelThresholds {
    /// The level a score falls in.
    pub fn level(&self, score: u8) -> Level {
        if score >= self.critical {
            Level::Critical
        } else if score >= self.high {
            Level::High
        } else if score >= self.medium {
            Level::Medium
        } else {
            Level::Low
        }
    }
}

/// The `[significance]` config section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignificanceConfig {
    /// Tried in order; first match wins.
    #[serde(default)]
    pub rules: Vec<SignificanceRule>,
    /// Named value lists rules refer to with `in_list` (e.g. the vendor's `competitors`).
    #[serde(default)]
    pub lists: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub levels: LevelThresholds,
    /// Score of changes no rule matches.
    #[serde(default = "default_score")]
    pub default_score: u8,
}

impl Default for SignificanceConfig {
    fn default() -> Self {
        SignificanceConfig {
            rules: Vec::new(),
            lists: BTreeMap::new(),
            levels: LevelThresholds::default(),
            default_score: default_score(),
        }
    }
}

fn default_score() -> u8 {
    10
}

/// One scoring rule. Every condition given must hold (they are AND-ed); conditions left out
/// always hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignificanceRule {
    /// Recorded on each event it scores (`ChangeEvent::rule`).
    pub name: String,
    /// Module id globs (`m02_tech_stack`, `m0*`); empty = any module.
    #[serde(default)]
    pub modules: Vec<String>,
    /// JSON Pointer globs over the event path (`/technologies/*`, `/executives/*/title`,
    /// `/**`); empty = any path.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Change kinds; empty = any.
    #[serde(default)]
    pub kinds: Vec<ChangeKind>,
    /// Pointer inside the changed value that `any_of`, `in_list` and `matches` look at (e.g.
    /// `/categories` of an added technology). The value looked at is the new value, or the old
    /// one for removals.
    #[serde(default)]
    pub field: Option<String>,
    /// Numeric relative change |new − old| / |old| ≥ this many percent (old and new must both
    /// be numbers; from 0 to non-zero counts as infinite).
    #[serde(default)]
    pub min_change_pct: Option<f64>,
    /// The value (or any element of it, if an array) equals one of these, case-insensitively.
    #[serde(default)]
    pub any_of: Vec<String>,
    /// Like `any_of`, with a list from `[significance.lists]`.
    #[serde(default)]
    pub in_list: Option<String>,
    /// Regex the value (text, or any text element) must match.
    #[serde(default)]
    pub matches: Option<String>,
    /// 0–100.
    pub score: u8,
}

/// How a change was scored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Score {
    pub score: u8,
    pub level: Level,
    /// Name of the rule that matched, or `default`.
    pub rule: String,
}

struct CompiledRule {
    rule: SignificanceRule,
    values: Option<BTreeSet<String>>,
    regex: Option<Regex>,
}

/// Compiled significance rules, ready to score changes.
pub struct Significance {
    rules: Vec<CompiledRule>,
    levels: LevelThresholds,
    default_score: u8,
}

impl Significance {
    /// Validates and compiles the config: scores within 0–100, thresholds increasing, regexes
    /// valid, `in_list` naming an existing list.
    pub fn new(cfg: &SignificanceConfig) -> Result<Self, ConfigError> {
        let l = cfg.levels;
        if !(l.medium <= l.high && l.high <= l.critical && l.critical <= 100) {
            return Err(ConfigError::Invalid(format!(
                "significance.levels must satisfy medium <= high <= critical <= 100 (got {}, {}, {})",
                l.medium, l.high, l.critical
            )));
        }
        if cfg.default_score > 100 {
            return Err(ConfigError::Invalid(
                "significance.default_score must be 0-100".into(),
            ));
        }
        let mut rules = Vec::new();
        for r in &cfg.rules {
            if r.name.trim().is_empty() {
                return Err(ConfigError::Invalid(
                    "a significance rule has an empty name".into(),
                ));
            }
            if r.score > 100 {
                return Err(ConfigError::Invalid(format!(
                    "significance rule {:?}: score {} is above 100",
                    r.name, r.score
                )));
            }
            let mut values: Option<BTreeSet<String>> = None;
            if !r.any_of.is_empty() {
                values
                    .get_or_insert_with(BTreeSet::new)
                    .extend(r.any_of.iter().map(|s| s.to_lowercase()));
            }
            if let Some(name) = &r.in_list {
                let list = cfg.lists.get(name).ok_or_else(|| {
                    ConfigError::Invalid(format!(
                        "significance rule {:?}: in_list {:?} is not defined under [significance.lists]",
                        r.name, name
                    ))
                })?;
                values
                    .get_or_insert_with(BTreeSet::new)
                    .extend(list.iter().map(|s| s.to_lowercase()));
            }
            let regex = match &r.matches {
                Some(re) => Some(Regex::new(re).map_err(|e| {
                    ConfigError::Invalid(format!("significance rule {:?}: bad regex: {e}", r.name))
                })?),
                None => None,
            };
            rules.push(CompiledRule {
                rule: r.clone(),
                values,
                regex,
            });
        }
        Ok(Significance {
            rules,
            levels: cfg.levels,
            default_score: cfg.default_score,
        })
    }

    /// Scores one change of `module`: first matching rule, else the default rule.
    pub fn score(&self, module: &str, change: &Change) -> Score {
        for c in &self.rules {
            if c.matches(module, change) {
                return Score {
                    score: c.rule.score,
                    level: self.levels.level(c.rule.score),
                    rule: c.rule.name.clone(),
                };
            }
        }
        Score {
            score: self.default_score,
            level: self.levels.level(self.default_score),
            rule: "default".into(),
        }
    }

    /// The level a score falls in under the configured thresholds.
    pub fn level(&self, score: u8) -> Level {
        self.levels.level(score)
    }
}

impl CompiledRule {
    fn matches(&self, module: &str, change: &Change) -> bool {
        let r = &self.rule;
        if !r.modules.is_empty() && !r.modules.iter().any(|m| glob_matches(m, module)) {
            return false;
        }
        if !r.paths.is_empty() && !r.paths.iter().any(|p| pointer_matches(p, &change.path)) {
            return false;
        }
        if !r.kinds.is_empty() && !r.kinds.contains(&change.kind) {
            return false;
        }
        let pick = |v: Option<&Value>| -> Option<Value> {
            let v = v?;
            match &r.field {
                Some(f) => v.pointer(f).cloned(),
                None => Some(v.clone()),
            }
        };
        if let Some(min) = r.min_change_pct {
            let old = pick(change.old_value.as_ref()).and_then(|v| v.as_f64());
            let new = pick(change.new_value.as_ref()).and_then(|v| v.as_f64());
            match (old, new) {
                (Some(o), Some(n)) => {
                    let pct = if o == 0.0 {
                        if n == 0.0 {
                            0.0
                        } else {
                            f64::INFINITY
                        }
                    } else {
                        ((n - o) / o).abs() * 100.0
                    };
                    if pct < min {
                        return false;
                    }
                }
                _ => return false,
            }
        }
        if self.values.is_some() || self.regex.is_some() {
            let subject = pick(change.new_value.as_ref().or(change.old_value.as_ref()));
            let texts = subject.as_ref().map(texts_of).unwrap_or_default();
            if let Some(values) = &self.values {
                if !texts.iter().any(|t| values.contains(&t.to_lowercase())) {
                    return false;
                }
            }
            if let Some(re) = &self.regex {
                if !texts.iter().any(|t| re.is_match(t)) {
                    return false;
                }
            }
        }
        true
    }
}

/// Text forms of a value for list and regex conditions: a scalar's text, or those of an array's
/// scalar elements.
fn texts_of(v: &Value) -> Vec<String> {
    fn scalar(v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    match v {
        Value::Array(items) => items.iter().filter_map(scalar).collect(),
        other => scalar(other).into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(path: &str, kind: ChangeKind, old: Option<Value>, new: Option<Value>) -> Change {
        Change {
            path: path.into(),
            raw_path: path.into(),
            kind,
            old_value: old,
            new_value: new,
        }
    }

    fn sig(toml_text: &str) -> Significance {
        #[derive(Deserialize)]
        struct W {
            significance: SignificanceConfig,
        }
        let w: W = toml::from_str(toml_text).unwrap();
        Significance::new(&w.significance).unwrap()
    }

    const RULES: &str = r#"
        [significance.lists]
        competitors = ["Elasticsearch", "Coveo"]

        [[significance.rules]]
        name = "competitor"
        modules = ["m02_*"]
        paths = ["/technologies/*"]
        kinds = ["added", "removed"]
        field = "/name"
        in_list = "competitors"
        score = 90

        [[significance.rules]]
        name = "search"
        paths = ["/technologies/*"]
        kinds = ["added", "removed"]
        field = "/categories"
        any_of = ["search engines"]
        score = 70

        [[significance.rules]]
        name = "revenue"
        paths = ["/revenue"]
        min_change_pct = 10.0
        score = 60

        [[significance.rules]]
        name = "c-level"
        paths = ["/executives/*"]
        kinds = ["added"]
        field = "/title"
        matches = "^(CEO|CTO|Chief)"
        score = 65
    "#;

    #[test]
    fn first_matching_rule_wins_and_levels_follow_thresholds() {
        let s = sig(RULES);
        let es = json!({"name": "Elasticsearch", "categories": ["Search engines"]});
        let got = s.score(
            "m02_tech_stack",
            &change(
                "/technologies/Elasticsearch",
                ChangeKind::Removed,
                Some(es),
                None,
            ),
        );
        assert_eq!(
            (got.rule.as_str(), got.score, got.level),
            ("competitor", 90, Level::Critical)
        );

        let algolia = json!({"name": "Algolia", "categories": ["Search engines"]});
        let got = s.score(
            "m02_tech_stack",
            &change(
                "/technologies/Algolia",
                ChangeKind::Added,
                None,
                Some(algolia),
            ),
        );
        assert_eq!((got.rule.as_str(), got.level), ("search", Level::High));

        let react = json!({"name": "React", "categories": ["JavaScript frameworks"]});
        let got = s.score(
            "m02_tech_stack",
            &change("/technologies/React", ChangeKind::Added, None, Some(react)),
        );
        assert_eq!(
            (got.rule.as_str(), got.score, got.level),
            ("default", 10, Level::Low)
        );
    }

    #[test]
    fn module_filter_excludes_other_modules() {
        let s = sig(RULES);
        let es = json!({"name": "Elasticsearch", "categories": []});
        let got = s.score(
            "m11_displacement_targets",
            &change(
                "/technologies/Elasticsearch",
                ChangeKind::Added,
                None,
                Some(es),
            ),
        );
        assert_eq!(got.rule, "default");
    }

    #[test]
    fn relative_change_threshold() {
        let s = sig(RULES);
        let up10 = change(
            "/revenue",
            ChangeKind::Changed,
            Some(json!(1000)),
            Some(json!(1100)),
        );
        assert_eq!(s.score("m04_financials", &up10).rule, "revenue");
        let down10 = change(
            "/revenue",
            ChangeKind::Changed,
            Some(json!(1000.0)),
            Some(json!(900)),
        );
        assert_eq!(s.score("m04_financials", &down10).rule, "revenue");
        let up5 = change(
            "/revenue",
            ChangeKind::Changed,
            Some(json!(1000)),
            Some(json!(1050)),
        );
        assert_eq!(s.score("m04_financials", &up5).rule, "default");
        let from_zero = change(
            "/revenue",
            ChangeKind::Changed,
            Some(json!(0)),
            Some(json!(5)),
        );
        assert_eq!(s.score("m04_financials", &from_zero).rule, "revenue");
        let text = change(
            "/revenue",
            ChangeKind::Changed,
            Some(json!("n/a")),
            Some(json!(5)),
        );
        assert_eq!(s.score("m04_financials", &text).rule, "default");
    }

    #[test]
    fn regex_on_a_field_of_the_new_value() {
        let s = sig(RULES);
        let ceo = json!({"name": "Jane Doe", "title": "Chief Revenue Officer"});
        let got = s.score(
            "m09_executives",
            &change("/executives/Jane Doe", ChangeKind::Added, None, Some(ceo)),
        );
        assert_eq!(got.rule, "c-level");
        let vp = json!({"name": "John Roe", "title": "VP Sales"});
        let got = s.score(
            "m09_executives",
            &change("/executives/John Roe", ChangeKind::Added, None, Some(vp)),
        );
        assert_eq!(got.rule, "default");
    }

    #[test]
    fn bad_config_is_rejected_with_the_rule_named() {
        let mut cfg = SignificanceConfig::default();
        cfg.rules.push(SignificanceRule {
            name: "x".into(),
            modules: vec![],
            paths: vec![],
            kinds: vec![],
            field: None,
            min_change_pct: None,
            any_of: vec![],
            in_list: Some("missing".into()),
            matches: None,
            score: 10,
        });
        let err = Significance::new(&cfg).err().unwrap().to_string();
        assert!(err.contains("missing"), "{err}");
        cfg.rules[0].in_list = None;
        cfg.rules[0].matches = Some("(".into());
        assert!(Significance::new(&cfg).is_err());
        cfg.rules[0].matches = None;
        cfg.rules[0].score = 101;
        assert!(Significance::new(&cfg).is_err());
    }
}
