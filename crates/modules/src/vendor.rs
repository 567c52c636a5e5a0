//! The vendor PartnerForge works for: its product, the competitor products it displaces, its
//! ideal customer profile and its library of case studies (`[vendor]` in `pforge.toml`), plus the
//! persona rules of the buying committee (`[[buying_committee.personas]]`) and the intent
//! scoring policy (`[signal_scoring]`). Policy lives in config so that a revenue team can tune
//! it without a rebuild; the derived modules M10–M15 read it.

use crate::ModulesError;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `[vendor]`: who is selling, against whom, to whom, with which proof.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct VendorConfig {
    /// The vendor company's name (the user's own company).
    pub name: String,
    /// The product being sold, as a brief would name it.
    pub product: String,
    /// One sentence on what the product does, used in the brief's opening.
    pub pitch: String,
    /// Competitor products, by their technology name in the fingerprints.
    pub competitors: Vec<Competitor>,
    /// The ideal customer profile.
    pub icp: Icp,
    /// Proof points: customers who switched, with results.
    pub case_studies: Vec<CaseStudy>,
}

impl VendorConfig {
    /// The competitor entry for a detected technology name, if it is one.
    pub fn competitor(&self, technology: &str) -> Option<&Competitor> {
        self.competitors
            .iter()
            .find(|c| crate::derived::same_name(c.technology(), technology))
    }

    /// The product name for messages (`product`, else `name`, else "our product").
    pub fn product_name(&self) -> &str {
        if !self.product.trim().is_empty() {
            &self.product
        } else if !self.name.trim().is_empty() {
            &self.name
        } else {
            "our product"
        }
    }
}

/// A competitor product: a bare technology name, or a table with a displacement angle.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Competitor {
    /// `"Algolia"`.
    Name(String),
    /// `{ technology = "Algolia", angle = "...", weight = 1.2 }`.
    Detailed {
        /// Technology name as the tech-stack module reports it.
        technology: String,
        /// Why the vendor wins against it (one sentence for the brief).
        #[serde(default)]
        angle: Option<String>,
        /// Relative attractiveness of displacing it (default 1.0).
        #[serde(default)]
        weight: Option<f64>,
    },
}

impl Competitor {
    /// The technology name.
    pub fn technology(&self) -> &str {
        match self {
            Competitor::Name(n) => n,
            Competitor::Detailed { technology, .. } => technology,
        }
    }
    /// The displacement angle, if configured.
    pub fn angle(&self) -> Option<&str> {
        match self {
            Competitor::Name(_) => None,
            Competitor::Detailed { angle, .. } => angle.as_deref(),
        }
    }
    /// The relative weight (1.0 unless configured).
    pub fn weight(&self) -> f64 {
        match self {
            Competitor::Detailed {
                weight: Some(w), ..
            } if w.is_finite() && *w > 0.0 => *w,
            _ => 1.0,
        }
    }
}

/// An inclusive numeric range; either end may be open.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Range {
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Range {
    /// 1.0 inside the range, 0.5 within a factor of two outside it, 0 beyond.
    pub fn fit(&self, v: f64) -> f64 {
        let below = self.min.is_some_and(|m| v < m);
        let above = self.max.is_some_and(|m| v > m);
        if !below && !above {
            1.0
        } else if (below && self.min.is_some_and(|m| v * 2.0 >= m))
            || (above && self.max.is_some_and(|m| v <= m * 2.0))
        {
            0.5
        } else {
            0.0
        }
    }

    /// `200–20,000` style text for explanations.
    pub fn describe(&self) -> String {
        match (self.min, self.max) {
            (Some(a), Some(b)) => format!("{}–{}", human(a), human(b)),
            (Some(a), None) => format!("≥ {}", human(a)),
            (None, Some(b)) => format!("≤ {}", human(b)),
            (None, None) => "any".into(),
        }
    }
}

/// A number in short human form: 1,350 / 4.2B / 50M.
pub fn human(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{}B", trim_float(v / 1e9))
    } else if a >= 1e6 {
        format!("{}M", trim_float(v / 1e6))
    } else {
        let n = v.round() as i64;
        let s = n.abs().to_string();
        let mut out = String::new();
        for (i, ch) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(ch);
        }
        if n < 0 {
            format!("-{out}")
        } else {
            out
        }
    }
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `[vendor.icp]`: what a good account looks like.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Icp {
    /// Industry keywords matched (case-insensitively) against the account's industries.
    pub industries: Vec<String>,
    /// Employee range.
    pub employees: Range,
    /// Annual revenue range in USD.
    pub revenue_usd: Range,
    /// Best (largest) popularity rank that still fits: a site search needs traffic.
    pub max_traffic_rank: Option<u64>,
    /// The account should run at least one of these (empty: no requirement).
    pub required_technologies: Vec<String>,
    /// Each of these the account runs makes it a better fit.
    pub bonus_technologies: Vec<String>,
    /// Countries or regions served (ISO codes or names, matched case-insensitively).
    pub regions: Vec<String>,
    /// Factor weights (names: industry, employees, revenue, traffic, technology, competitor,
    /// region, peers); unset factors use the defaults.
    pub weights: BTreeMap<String, f64>,
    /// Tier thresholds on the 0–100 score.
    pub tiers: Tiers,
}

/// Default factor weights (they need not sum to 100: the score is normalised).
pub const DEFAULT_WEIGHTS: &[(&str, f64)] = &[
    ("industry", 20.0),
    ("employees", 15.0),
    ("revenue", 10.0),
    ("traffic", 15.0),
    ("technology", 10.0),
    ("competitor", 20.0),
    ("region", 5.0),
    ("peers", 5.0),
];

impl Icp {
    /// The weight of factor `name` (configured, else default, else 0).
    pub fn weight(&self, name: &str) -> f64 {
        self.weights
            .get(name)
            .copied()
            .or_else(|| {
                DEFAULT_WEIGHTS
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, w)| *w)
            })
            .filter(|w| w.is_finite() && *w >= 0.0)
            .unwrap_or(0.0)
    }
}

/// `[vendor.icp.tiers]`: minimum scores for tiers A, B and C (below C is D).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Tiers {
    pub a: f64,
    pub b: f64,
    pub c: f64,
}

impl Default for Tiers {
    fn default() -> Self {
        Tiers {
            a: 75.0,
            b: 55.0,
            c: 35.0,
        }
    }
}

impl Tiers {
    /// The tier letter for a score.
    pub fn tier(&self, score: f64) -> &'static str {
        if score >= self.a {
            "A"
        } else if score >= self.b {
            "B"
        } else if score >= self.c {
            "C"
        } else {
            "D"
        }
    }
}

/// One case study in the vendor's library.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CaseStudy {
    /// Stable id (the key in outputs).
    pub id: String,
    /// The customer's name.
    pub customer: String,
    /// The customer's industry (matched against the account's).
    pub industry: String,
    /// The customer's headcount (compared with the account's size band).
    pub employees: Option<u64>,
    /// Technologies the customer replaced with the vendor's product.
    pub replaced: Vec<String>,
    /// The result in one line ("+18% search conversion in 90 days").
    pub headline: String,
    /// Where the published case study lives.
    pub url: String,
}

/// A company size band, for comparing an account with a case study.
pub fn size_band(employees: f64) -> &'static str {
    if employees < 200.0 {
        "SMB"
    } else if employees < 2_000.0 {
        "mid-market"
    } else {
        "enterprise"
    }
}

/// The buying role a persona plays.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Owns the budget and signs.
    Economic,
    /// Evaluates and can veto on technical grounds.
    Technical,
    /// Wants the change and sells it internally.
    Champion,
    /// Uses the product day to day.
    User,
}

impl Role {
    /// The lower-case name used in outputs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Economic => "economic",
            Role::Technical => "technical",
            Role::Champion => "champion",
            Role::User => "user",
        }
    }
}

/// `[buying_committee]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BuyingCommitteeConfig {
    /// Persona rules, tried in priority order (lowest number first) for each title.
    pub personas: Vec<PersonaRule>,
}

/// `[[buying_committee.personas]]`: titles matching `title_regex` play `role`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PersonaRule {
    /// Persona name ("Digital commerce leader").
    pub name: String,
    pub role: Role,
    /// Regex over the job title (use `(?i)` for case-insensitive).
    pub title_regex: String,
    /// Lower is more important; also breaks ties between matching rules.
    #[serde(default = "default_priority")]
    pub priority: u32,
    /// Why this persona matters to the deal (shown in the committee and the brief).
    pub why: String,
}

fn default_priority() -> u32 {
    50
}

/// A persona rule with its compiled regex.
#[derive(Debug, Clone)]
pub struct CompiledPersona {
    pub rule: PersonaRule,
    pub regex: Regex,
}

impl BuyingCommitteeConfig {
    /// Compiles the rules in priority order; a bad regex names the persona.
    pub fn compile(&self) -> Result<Vec<CompiledPersona>, ModulesError> {
        let mut out = Vec::new();
        for r in &self.personas {
            let regex = Regex::new(&r.title_regex).map_err(|e| ModulesError::Config {
                section: format!("[[buying_committee.personas]] name = {:?}", r.name),
                reason: format!("title_regex is not a valid regex: {e}"),
            })?;
            out.push(CompiledPersona {
                rule: r.clone(),
                regex,
            });
        }
        out.sort_by(|a, b| {
            a.rule
                .priority
                .cmp(&b.rule.priority)
                .then(a.rule.name.cmp(&b.rule.name))
        });
        Ok(out)
    }
}

/// `[signal_scoring]`: how buying intent is scored from triggers, hiring and changes.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SignalScoringConfig {
    /// A signal loses half its weight every this many days.
    pub half_life_days: f64,
    /// Signals older than this are ignored.
    pub max_age_days: f64,
    /// Points of a strategic trigger whose type has no entry in `trigger_points`.
    pub default_trigger_points: f64,
    /// Points per trigger type (`funding`, `leadership_change`, ...).
    pub trigger_points: BTreeMap<String, f64>,
    /// Job titles that signal a project the vendor can help with.
    pub relevant_job_regex: String,
    /// Points per relevant open role (at most `max_relevant_jobs` count).
    pub relevant_job_points: f64,
    pub max_relevant_jobs: usize,
    /// Open roles at or above this count add `hiring_volume_points` (a growing team).
    pub hiring_volume_threshold: u64,
    pub hiring_volume_points: f64,
    /// Change events below this significance are ignored.
    pub min_change_significance: i64,
    /// Points of a change event = significance × this.
    pub change_weight: f64,
    /// Total points at which the 0–100 score is ~63 (score = 100·(1−e^(−points/saturation))).
    pub saturation: f64,
}

impl Default for SignalScoringConfig {
    fn default() -> Self {
        SignalScoringConfig {
            half_life_days: 30.0,
            max_age_days: 365.0,
            default_trigger_points: 35.0,
            trigger_points: BTreeMap::new(),
            relevant_job_regex:
                r"(?i)\b(search|relevance|discovery|e-?commerce|merchandis\w*|personali[sz]ation)\b"
                    .into(),
            relevant_job_points: 15.0,
            max_relevant_jobs: 4,
            hiring_volume_threshold: 20,
            hiring_volume_points: 10.0,
            min_change_significance: 25,
            change_weight: 0.6,
            saturation: 100.0,
        }
    }
}

impl SignalScoringConfig {
    /// Checks the numbers and compiles the job regex; errors name the key to fix.
    pub fn validate(&self) -> Result<Regex, ModulesError> {
        let bad = |key: &str, why: &str| ModulesError::Config {
            section: "[signal_scoring]".into(),
            reason: format!("{key} {why}"),
        };
        if !(self.half_life_days.is_finite() && self.half_life_days > 0.0) {
            return Err(bad("half_life_days", "must be a positive number of days"));
        }
        if !(self.saturation.is_finite() && self.saturation > 0.0) {
            return Err(bad("saturation", "must be positive"));
        }
        Regex::new(&self.relevant_job_regex)
            .map_err(|e| bad("relevant_job_regex", &format!("is not a valid regex: {e}")))
    }

    /// The weight left after `age_days` (1.0 at age 0, 0.5 at one half-life; future dates
    /// count as now).
    pub fn decay(&self, age_days: f64) -> f64 {
        0.5f64.powf(age_days.max(0.0) / self.half_life_days)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_fit_and_description() {
        let r = Range {
            min: Some(200.0),
            max: Some(20_000.0),
        };
        assert_eq!(r.fit(1_350.0), 1.0);
        assert_eq!(r.fit(150.0), 0.5);
        assert_eq!(r.fit(50.0), 0.0);
        assert_eq!(r.fit(30_000.0), 0.5);
        assert_eq!(r.fit(50_000.0), 0.0);
        assert_eq!(r.describe(), "200–20,000");
        assert_eq!(human(4_210_000_000.0), "4.21B");
        assert_eq!(human(50_000_000.0), "50M");
        assert_eq!(Range::default().fit(1.0), 1.0);
    }

    #[test]
    fn vendor_config_parses_both_competitor_forms() {
        let v: VendorConfig = toml::from_str(
            r#"
            name = "Acme"
            competitors = ["Coveo", { technology = "Algolia", angle = "cheaper", weight = 1.5 }]
            [icp.weights]
            industry = 40
            "#,
        )
        .unwrap();
        assert_eq!(v.competitors.len(), 2);
        assert_eq!(v.competitor("algolia").unwrap().weight(), 1.5);
        assert_eq!(v.competitor("Coveo").unwrap().angle(), None);
        assert_eq!(v.icp.weight("industry"), 40.0);
        assert_eq!(v.icp.weight("traffic"), 15.0);
        assert_eq!(v.icp.weight("nonsense"), 0.0);
        assert_eq!(v.product_name(), "Acme");
    }

    #[test]
    fn persona_rules_compile_in_priority_order_and_reject_bad_regex() {
        let cfg: BuyingCommitteeConfig = toml::from_str(
            r#"
            [[personas]]
            name = "B"
            role = "technical"
            title_regex = "(?i)cto"
            priority = 20
            why = "b"
            [[personas]]
            name = "A"
            role = "economic"
            title_regex = "(?i)ceo"
            priority = 10
            why = "a"
            "#,
        )
        .unwrap();
        let c = cfg.compile().unwrap();
        assert_eq!(c[0].rule.name, "A");
        let mut bad = cfg.clone();
        bad.personas[0].title_regex = "(unclosed".into();
        let err = bad.compile().unwrap_err().to_string();
        assert!(
            err.contains("name = \"B\"") && err.contains("title_regex"),
            "{err}"
        );
    }

    #[test]
    fn decay_halves_every_half_life() {
        let s = SignalScoringConfig::default();
        assert_eq!(s.decay(0.0), 1.0);
        assert!((s.decay(30.0) - 0.5).abs() < 1e-9);
        assert!((s.decay(60.0) - 0.25).abs() < 1e-9);
        assert_eq!(s.decay(-5.0), 1.0);
        let mut bad = s.clone();
        bad.half_life_days = 0.0;
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("half_life_days"));
    }

    #[test]
    fn tiers_and_bands() {
        let t = Tiers::default();
        assert_eq!(t.tier(80.0), "A");
        assert_eq!(t.tier(60.0), "B");
        assert_eq!(t.tier(40.0), "C");
        assert_eq!(t.tier(10.0), "D");
        assert_eq!(size_band(240.0), "mid-market");
        assert_eq!(size_band(18_200.0), "enterprise");
    }
}
