//! The account brief as HTML: Markdown rendered with pulldown-cmark, its `[n]` citation marks
//! turned into links to the numbered sources, and the result sanitized by ammonia (no script,
//! no event handler, links only to http(s) or this page), whatever the Markdown held.

use crate::render::{escape, link, safe_url};
use serde_json::Value;
use std::collections::HashSet;

/// One numbered source of the brief.
#[derive(Debug, Clone)]
pub struct Footnote {
    pub n: i64,
    /// The source as a link (or escaped text when it is not an http(s) URL).
    pub source_html: String,
}

/// Renders and sanitizes the brief's Markdown.
pub fn to_html(markdown: &str, footnotes: &[Footnote]) -> String {
    let mut text = markdown.to_string();
    for f in footnotes {
        text = text.replace(&format!("[{}]", f.n), &format!("[\\[{0}\\]](#fn-{0})", f.n));
    }
    let mut options = pulldown_cmark::Options::empty();
    options.insert(pulldown_cmark::Options::ENABLE_TABLES);
    options.insert(pulldown_cmark::Options::ENABLE_STRIKETHROUGH);
    let parser = pulldown_cmark::Parser::new_ext(&text, options);
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, parser);
    ammonia::Builder::default()
        .url_schemes(HashSet::from(["http", "https"]))
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(&html)
        .to_string()
}

/// The brief's numbered sources.
pub fn footnotes(value: &Value) -> Vec<Footnote> {
    value
        .as_array()
        .map(|list| {
            list.iter()
                .enumerate()
                .map(|(i, f)| {
                    let n = f.get("n").and_then(Value::as_i64).unwrap_or(i as i64 + 1);
                    let source = f.get("source").and_then(Value::as_str).unwrap_or("");
                    let label = f
                        .get("title")
                        .and_then(Value::as_str)
                        .unwrap_or(source)
                        .to_string();
                    let source_html = if safe_url(source).is_some() {
                        link(source, &label)
                    } else {
                        escape(&label)
                    };
                    Footnote { n, source_html }
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn citations_become_links_and_hostile_markup_is_removed() {
        let notes = footnotes(
            &json!([{"n": 1, "source": "https://acme.com/"}, {"n": 2, "source": "javascript:alert(1)"}]),
        );
        let html = to_html(
            "# Acme\n\nRuns Algolia[1], see [2].\n\n<script>alert(1)</script><img src=x onerror=alert(1)>[x](javascript:alert(1))",
            &notes,
        );
        assert!(html.contains("<h1>Acme</h1>"), "{html}");
        assert!(html.contains("href=\"#fn-1\""), "{html}");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("onerror"), "{html}");
        assert!(!html.contains("href=\"javascript"), "{html}");
        assert!(notes[0].source_html.contains("href=\"https://acme.com/\""));
        assert!(!notes[1].source_html.contains("href"));
    }
}
