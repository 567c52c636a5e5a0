//! The `dom` field: CSS selectors evaluated with `scraper`, with a cheap prefilter so that the
//! hundreds of selectors in a full database do not each walk the whole page.

use super::pattern::{truncate, Pattern};
use scraper::{ElementRef, Html, Selector};
use std::collections::HashSet;

/// A compiled `dom` rule of one technology.
#[derive(Debug)]
pub(crate) struct DomRule {
    pub source: String,
    pub selector: Selector,
    /// Per comma-separated alternative, the ids, classes and attribute names it needs; the rule
    /// is skipped when no alternative has all of them on the page.
    needs: Vec<Vec<Need>>,
    /// Whether mere existence of a matching element is evidence.
    pub exists: Option<Pattern>,
    pub text: Option<Pattern>,
    pub attributes: Vec<(String, Pattern)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Need {
    Id(String),
    Class(String),
    Attr(String),
}

/// What the page contains, gathered in one walk, for the prefilter.
#[derive(Debug, Default)]
pub(crate) struct DomIndex {
    ids: HashSet<String>,
    classes: HashSet<String>,
    attrs: HashSet<String>,
}

impl DomIndex {
    /// Collects ids, classes and attribute names of every element.
    pub fn build(doc: &Html) -> Self {
        let mut idx = DomIndex::default();
        for node in doc.tree.nodes() {
            if let Some(el) = node.value().as_element() {
                for (name, value) in el.attrs() {
                    if !idx.attrs.contains(name) {
                        idx.attrs.insert(name.to_ascii_lowercase());
                    }
                    if name == "id" {
                        idx.ids.insert(value.to_string());
                    }
                }
                for c in el.classes() {
                    idx.classes.insert(c.to_string());
                }
            }
        }
        idx
    }

    fn has(&self, need: &Need) -> bool {
        match need {
            Need::Id(s) => self.ids.contains(s),
            Need::Class(s) => self.classes.contains(s),
            Need::Attr(s) => self.attrs.contains(s),
        }
    }
}

/// A DOM match: evidence snippet and version.
pub(crate) struct DomHit {
    pub snippet: String,
    pub version: Option<String>,
    pub confidence: u8,
    pub pattern: String,
}

impl DomRule {
    /// Compiles a selector and its checks. Errors are for the compile report.
    pub fn new(
        selector: &str,
        exists: Option<Pattern>,
        text: Option<Pattern>,
        attributes: Vec<(String, Pattern)>,
    ) -> Result<DomRule, String> {
        let parsed = Selector::parse(selector).map_err(|e| format!("invalid CSS selector: {e}"))?;
        Ok(DomRule {
            source: selector.to_string(),
            selector: parsed,
            needs: selector_needs(selector),
            exists,
            text,
            attributes,
        })
    }

    /// Evaluates the rule; returns every check that matched (at most one per check).
    pub fn matches(&self, doc: &Html, idx: &DomIndex) -> Vec<DomHit> {
        if !self.needs.is_empty() && !self.needs.iter().any(|alt| alt.iter().all(|n| idx.has(n))) {
            return Vec::new();
        }
        let mut hits = Vec::new();
        let mut exists_done = false;
        let mut text_done = false;
        let mut attr_done = vec![false; self.attributes.len()];
        for el in doc.select(&self.selector).take(50) {
            if let (Some(p), false) = (&self.exists, exists_done) {
                exists_done = true;
                hits.push(DomHit {
                    snippet: start_tag(&el),
                    version: p.find("").and_then(|h| h.version),
                    confidence: p.confidence,
                    pattern: self.source.clone(),
                });
            }
            if let (Some(p), false) = (&self.text, text_done) {
                let text: String = el.text().collect();
                if let Some(h) = p.find(&text) {
                    text_done = true;
                    hits.push(DomHit {
                        snippet: h.snippet,
                        version: h.version,
                        confidence: p.confidence,
                        pattern: format!("{} text {}", self.source, p.source),
                    });
                }
            }
            for (i, (name, p)) in self.attributes.iter().enumerate() {
                if attr_done[i] {
                    continue;
                }
                if let Some(v) = el.value().attr(name) {
                    if let Some(h) = p.find(v) {
                        attr_done[i] = true;
                        hits.push(DomHit {
                            snippet: format!("{name}=\"{}\"", h.snippet),
                            version: h.version,
                            confidence: p.confidence,
                            pattern: format!("{} [{name}] {}", self.source, p.source),
                        });
                    }
                }
            }
        }
        hits
    }
}

/// `<tag attr="value" ...>` of an element, truncated, as evidence.
fn start_tag(el: &ElementRef<'_>) -> String {
    let v = el.value();
    let mut s = format!("<{}", v.name());
    for (k, val) in v.attrs() {
        s.push_str(&format!(" {k}=\"{val}\""));
    }
    s.push('>');
    truncate(&s)
}

/// Ids, classes and attribute names each comma-separated alternative of `selector` requires.
/// Anything inside parentheses (`:not(...)`, `:has(...)`) is ignored, so the result is always a
/// necessary condition, never a wrong exclusion.
fn selector_needs(selector: &str) -> Vec<Vec<Need>> {
    let mut alts: Vec<Vec<Need>> = vec![Vec::new()];
    let chars: Vec<char> = selector.chars().collect();
    let mut i = 0;
    let mut paren = 0usize;
    let ident = |start: usize| -> (String, usize) {
        let mut j = start;
        let mut s = String::new();
        while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '-' || chars[j] == '_')
        {
            s.push(chars[j]);
            j += 1;
        }
        (s, j)
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '(' => {
                paren += 1;
                i += 1;
            }
            ')' => {
                paren = paren.saturating_sub(1);
                i += 1;
            }
            _ if paren > 0 => i += 1,
            ',' => {
                alts.push(Vec::new());
                i += 1;
            }
            '#' | '.' => {
                let (name, j) = ident(i + 1);
                if !name.is_empty() {
                    if let Some(alt) = alts.last_mut() {
                        alt.push(if c == '#' {
                            Need::Id(name)
                        } else {
                            Need::Class(name)
                        });
                    }
                }
                i = j.max(i + 1);
            }
            '[' => {
                let mut j = i + 1;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                let (name, _) = ident(j);
                if !name.is_empty() {
                    if let Some(alt) = alts.last_mut() {
                        alt.push(Need::Attr(name.to_ascii_lowercase()));
                    }
                }
                // Skip to the closing bracket, honouring quotes.
                let mut quote: Option<char> = None;
                while j < chars.len() {
                    match (quote, chars[j]) {
                        (None, '"') | (None, '\'') => quote = Some(chars[j]),
                        (Some(q), ch) if ch == q => quote = None,
                        (None, ']') => break,
                        _ => {}
                    }
                    j += 1;
                }
                i = j + 1;
            }
            _ => i += 1,
        }
    }
    alts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_are_extracted_per_alternative() {
        let n = selector_needs(
            "div#topsearchelastic_widget, script[data-requiremodule*='mage/.x'], a.b:not(.c)",
        );
        assert_eq!(n.len(), 3);
        assert_eq!(n[0], vec![Need::Id("topsearchelastic_widget".into())]);
        assert_eq!(n[1], vec![Need::Attr("data-requiremodule".into())]);
        assert_eq!(n[2], vec![Need::Class("b".into())]);
    }

    #[test]
    fn rule_matches_and_prefilter_skips() {
        let doc = Html::parse_document(
            "<html data-wf-site='abc'><body><div class='x'>Powered by Foo 2.1</div></body></html>",
        );
        let idx = DomIndex::build(&doc);
        let r = DomRule::new(
            "html[data-wf-site]",
            Pattern::compile("").ok(),
            None,
            vec![],
        )
        .unwrap();
        let hits = r.matches(&doc, &idx);
        assert_eq!(hits.len(), 1);
        assert!(hits[0].snippet.contains("data-wf-site"));
        let t = DomRule::new(
            "div.x",
            None,
            Pattern::compile("Foo ([\\d.]+)\\;version:\\1").ok(),
            vec![],
        )
        .unwrap();
        assert_eq!(t.matches(&doc, &idx)[0].version.as_deref(), Some("2.1"));
        let missing = DomRule::new(
            "iframe#intercom-frame",
            Pattern::compile("").ok(),
            None,
            vec![],
        )
        .unwrap();
        assert!(missing.matches(&doc, &idx).is_empty());
    }
}
