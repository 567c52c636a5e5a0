//! `DomainHints`: what the user's own input says about a domain besides the domain itself (the
//! company's name from a `domain,name` CSV, a pinned or rejected SEC CIK). Modules use them as
//! evidence for entity resolution: a name the user typed is the company's own full name, which is
//! stronger than the domain's label and weaker than an independent link.

use crate::Domain;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// A pin (or rejection) of an outside entity for one domain, given by the user. A pin is cited
/// as such wherever it decides a match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "pin", content = "value")]
pub enum EntityPin {
    /// This entity id (a CIK, a Wikidata id) is the company.
    Is(String),
    /// The company has no such entity: attach nothing, even if names match.
    None,
}

/// Per-domain hints from the input file. Every field is optional; the default is "nothing said".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainHints {
    /// The company's name as the user gave it (the `name` column).
    pub name: Option<String>,
    /// The SEC filer pin (the `cik` column: digits, or `none` to reject every match).
    pub sec_cik: Option<EntityPin>,
    /// Where the hints came from, for citations (e.g. `input:accounts.csv:3`).
    pub source: Option<String>,
}

impl DomainHints {
    /// Whether the input said anything at all about the domain.
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.sec_cik.is_none()
    }
}

/// The hints of the domains of one run, shared between the input reader (which fills it) and
/// the executor (which hands each module run its domain's hints and forgets them when the domain
/// is done, so memory stays bounded by the domains in flight). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct HintBook(Arc<RwLock<HashMap<Domain, DomainHints>>>);

impl HintBook {
    /// Records hints for a domain (later lines for the same domain replace earlier ones).
    pub fn insert(&self, domain: Domain, hints: DomainHints) {
        if hints.is_empty() {
            return;
        }
        if let Ok(mut m) = self.0.write() {
            m.insert(domain, hints);
        }
    }

    /// The hints recorded for a domain, if any.
    pub fn get(&self, domain: &Domain) -> Option<DomainHints> {
        self.0.read().ok()?.get(domain).cloned()
    }

    /// Forgets a domain's hints (the executor calls this when the domain is finished).
    pub fn remove(&self, domain: &Domain) {
        if let Ok(mut m) = self.0.write() {
            m.remove(domain);
        }
    }

    /// How many domains have hints waiting.
    pub fn len(&self) -> usize {
        self.0.read().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether no domain has hints waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn book_keeps_hints_until_removed() {
        let book = HintBook::default();
        let d = Domain::parse("apple.com").unwrap();
        book.insert(d.clone(), DomainHints::default());
        assert!(book.is_empty(), "empty hints are not stored");
        let h = DomainHints {
            name: Some("Apple Inc.".into()),
            ..Default::default()
        };
        book.insert(d.clone(), h.clone());
        assert_eq!(book.get(&d), Some(h));
        book.remove(&d);
        assert_eq!(book.get(&d), None);
    }
}
