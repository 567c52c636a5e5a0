//! Entity resolution with evidence: how a domain is tied to an outside entity (an SEC filer, a
//! Wikidata item, a Crunchbase organization, a job board, a feed), how sure that tie is, and
//! what may therefore be attached. Names alone are weak: real ticker lists are full of short
//! common words, so a domain's label matching a title is only ever a *possible* match.
//!
//! - *confirmed*: an independent link ties the entity to the domain (Wikidata's official website
//!   with its CIK, the filer's own website field, a pin by the user). Attach everything.
//! - *probable*: the company's own full name (JSON-LD, `og:site_name`, the input file's name
//!   column) equals the entity's name after normalization. Attach, marked probable.
//! - *possible*: only the domain's label matches (equal to, or the first words of, the name).
//!   Attach nothing; say so, so the user can confirm it with a pin.

use serde::Serialize;
use serde_json::{json, Value};

/// How sure a link between a domain and an outside entity is. Ordered: `Possible < Probable <
/// Confirmed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    Possible,
    Probable,
    Confirmed,
}

impl Confidence {
    /// Whether facts of an entity linked this surely may be attached to the account.
    pub fn attaches(self) -> bool {
        self >= Confidence::Probable
    }

    /// The word used in output and briefs.
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Possible => "possible",
            Confidence::Probable => "probable",
            Confidence::Confirmed => "confirmed",
        }
    }
}

/// One link from the domain to an outside entity, as stored in a module's `entity_links`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntityLink {
    /// What kind of entity: `sec_filer`, `wikidata_item`, `crunchbase_organization`,
    /// `job_board`, `feed`.
    pub kind: String,
    /// The entity's id in its system (a ten-digit CIK, a Q-id, a board token, a feed URL).
    pub id: String,
    /// The entity's name as its system gives it.
    pub name: Option<String>,
    /// How the link was made, e.g. `wikidata_official_website`, `own_name`, `domain_label`.
    pub method: String,
    /// What supports it, one readable sentence each.
    pub evidence: Vec<String>,
    pub confidence: Confidence,
    /// Whether the entity's facts were attached (false for possible matches and rejections).
    pub attached: bool,
}

impl EntityLink {
    /// A link whose `attached` follows from its confidence.
    pub fn new(
        kind: &str,
        id: impl Into<String>,
        name: Option<String>,
        method: &str,
        evidence: Vec<String>,
        confidence: Confidence,
    ) -> Self {
        EntityLink {
            kind: kind.into(),
            id: id.into(),
            name,
            method: method.into(),
            evidence,
            confidence,
            attached: confidence.attaches(),
        }
    }

    /// The stored form (a JSON object; `key` = `kind:id` identifies it in set arrays).
    pub fn to_json(&self) -> Value {
        json!({
            "key": format!("{}:{}", self.kind, self.id),
            "kind": self.kind,
            "id": self.id,
            "name": self.name,
            "method": self.method,
            "evidence": self.evidence,
            "confidence": self.confidence,
            "attached": self.attached,
        })
    }
}

const SUFFIXES: &[&str] = &[
    "inc",
    "incorporated",
    "corp",
    "corporation",
    "co",
    "company",
    "ltd",
    "limited",
    "llc",
    "plc",
    "lp",
    "llp",
    "sa",
    "ag",
    "nv",
    "se",
    "com",
];

/// The words of a company name, lower case, punctuation dropped, `&` read as "and", a leading
/// "The" and trailing legal suffixes (`Inc`, `Corp`, `Ltd`, ...) removed (a lone suffix-like
/// word stays: it is the name).
pub fn name_words(name: &str) -> Vec<String> {
    let lowered = name.to_lowercase().replace('&', " and ");
    let cleaned: String = lowered
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    let mut words: Vec<String> = cleaned.split_whitespace().map(str::to_string).collect();
    if words.len() > 1 && words[0] == "the" {
        words.remove(0);
    }
    while words.len() > 1 && words.last().is_some_and(|w| SUFFIXES.contains(&w.as_str())) {
        words.pop();
    }
    words
}

/// Normalizes a company name for comparison: [`name_words`] joined without spaces, so
/// `NorthwindRetail` and `Northwind Retail Corp.` agree.
pub fn normalize_company_name(name: &str) -> String {
    name_words(name).concat()
}

/// The label of a domain as a name key: `northwind-retail.com` -> `northwindretail`.
pub fn label_key(domain: &str) -> String {
    normalize_company_name(&domain_label(domain))
}

/// The company name a bare domain suggests: `northwind-retail.com` -> `northwind retail`.
pub fn domain_label(domain: &str) -> String {
    domain
        .split('.')
        .next()
        .unwrap_or_default()
        .replace(['-', '_'], " ")
}

/// How a domain's label relates to an entity's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelMatch {
    /// The whole normalized name is the label (`acme.com` / "ACME CORP").
    Equal,
    /// The first word(s) of the name, but not all of them, are the label (`cisco.com` /
    /// "CISCO SYSTEMS, INC.").
    FirstWords,
}

/// Whether the domain's label matches an entity's name, and how. Both are only ever evidence
/// for a *possible* match.
pub fn label_match(domain: &str, name: &str) -> Option<LabelMatch> {
    let label = label_key(domain);
    if label.is_empty() {
        return None;
    }
    let words = name_words(name);
    if words.concat() == label {
        return Some(LabelMatch::Equal);
    }
    let mut prefix = String::new();
    for w in words.iter().take(words.len().saturating_sub(1)) {
        prefix.push_str(w);
        if prefix == label {
            return Some(LabelMatch::FirstWords);
        }
        if prefix.len() >= label.len() {
            break;
        }
    }
    None
}

/// Whether a full company name (as the company gives it) names the same company as an
/// entity's name after normalization.
pub fn same_name(own: &str, entity: &str) -> bool {
    let a = normalize_company_name(own);
    !a.is_empty() && a == normalize_company_name(entity)
}

/// Whether a URL (an official website, a filer's website field) is on the domain: its host is
/// the domain or a subdomain of it. Schemeless values (`www.apple.com`) are read as https.
pub fn url_on_domain(url: &str, domain: &str) -> bool {
    let url = url.trim();
    if url.is_empty() {
        return false;
    }
    let full = if url.contains("://") {
        url.to_string()
    } else {
        format!("https://{url}")
    };
    let Ok(u) = url::Url::parse(&full) else {
        return false;
    };
    let Some(host) = u.host_str() else {
        return false;
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == domain || host.ends_with(&format!(".{domain}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn name_normalization() {
        let n = normalize_company_name;
        assert_eq!(n("NORTHWIND RETAIL CORP"), "northwindretail");
        assert_eq!(n("Northwind Retail Corp."), "northwindretail");
        assert_eq!(n("Globex Logistics, Inc."), "globexlogistics");
        assert_eq!(n("The Home Depot, Inc."), "homedepot");
        assert_eq!(n("AT&T INC"), "atandt");
        assert_eq!(n("AMAZON COM INC"), "amazon");
        assert_eq!(n("Apple Inc."), "apple");
        assert_eq!(n("Co"), "co");
        assert_eq!(n("  "), "");
        assert_ne!(n("TechStart Inc"), n("TechStar Technologies Corp"));
    }

    #[test]
    fn label_matches() {
        assert_eq!(
            label_match("apple.com", "Apple Inc."),
            Some(LabelMatch::Equal)
        );
        assert_eq!(
            label_match("cisco.com", "CISCO SYSTEMS, INC."),
            Some(LabelMatch::FirstWords)
        );
        assert_eq!(
            label_match("northwind-retail.com", "NORTHWIND RETAIL CORP"),
            Some(LabelMatch::Equal)
        );
        assert_eq!(
            label_match("blueharbor-health.com", "Blue Harbor Bancorp, Inc."),
            None
        );
        assert_eq!(
            label_match("blueharbor.com", "Blue Harbor Bancorp, Inc."),
            Some(LabelMatch::FirstWords)
        );
        assert_eq!(
            label_match("techstart.io", "TechStar Technologies Corp"),
            None
        );
        assert_eq!(
            label_match("apple.com", "Apple Hospitality REIT, Inc."),
            Some(LabelMatch::FirstWords)
        );
        assert_eq!(label_match("app.com", "Apple Inc."), None);
    }

    #[test]
    fn urls_on_the_domain() {
        assert!(url_on_domain("https://www.apple.com/", "apple.com"));
        assert!(url_on_domain("www.apple.com", "apple.com"));
        assert!(url_on_domain("http://apple.com", "apple.com"));
        assert!(!url_on_domain(
            "https://apple.com.evil.example/",
            "apple.com"
        ));
        assert!(!url_on_domain("https://pineapple.com/", "apple.com"));
        assert!(!url_on_domain("", "apple.com"));
        assert!(!url_on_domain("not a url at all", "apple.com"));
    }

    #[test]
    fn confidence_decides_attachment() {
        assert!(!Confidence::Possible.attaches());
        assert!(Confidence::Probable.attaches());
        assert!(Confidence::Confirmed.attaches());
        let l = EntityLink::new(
            "sec_filer",
            "0000320193",
            None,
            "domain_label",
            vec![],
            Confidence::Possible,
        );
        assert!(!l.attached);
        assert_eq!(l.to_json()["confidence"], "possible");
        assert_eq!(l.to_json()["key"], "sec_filer:0000320193");
    }

    proptest! {
        #[test]
        fn normalization_is_idempotent_and_ignores_case_and_punctuation(s in "[ -~]{0,40}") {
            let n = normalize_company_name(&s);
            prop_assert_eq!(normalize_company_name(&n), n.clone());
            prop_assert_eq!(normalize_company_name(&s.to_uppercase()), normalize_company_name(&s.to_lowercase()));
            prop_assert!(n.chars().all(char::is_alphanumeric));
        }

        #[test]
        fn legal_suffixes_do_not_change_the_name(base in "[A-Za-z][A-Za-z ]{0,20}[A-Za-z]", suffix in prop::sample::select(vec![", Inc.", " Corp", " LLC", " Ltd.", " plc"])) {
            prop_assume!(!name_words(&base).iter().all(|w| SUFFIXES.contains(&w.as_str())));
            let with = format!("{base}{suffix}");
            prop_assert_eq!(normalize_company_name(&with), normalize_company_name(&base));
        }

        #[test]
        fn a_label_is_never_both_equal_and_a_strict_prefix(label in "[a-z]{1,10}", rest in "[a-z]{1,10}( [a-z]{1,10}){0,2}") {
            let domain = format!("{label}.com");
            let name = format!("{label} {rest}");
            let m = label_match(&domain, &name);
            // The label followed by more words is a first-words match unless the rest is a suffix.
            prop_assert!(m.is_some());
            prop_assert_eq!(label_match(&domain, &label), Some(LabelMatch::Equal));
        }

        #[test]
        fn url_check_never_panics(url in "\\PC{0,60}", label in "[a-z]{1,12}") {
            let _ = url_on_domain(&url, &format!("{label}.com"));
        }
    }
}
