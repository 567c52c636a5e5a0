//! Stored values as readable HTML: objects as definition lists, lists of records as tables,
//! lists of names as chips, links only for http(s) URLs, and every text escaped. Provider data
//! is hostile until proven otherwise: nothing here emits markup that came from a provider.

use serde_json::{Map, Value};
use std::fmt::Write;

/// Most rows of one list shown on a page (the rest are counted).
const MAX_ROWS: usize = 200;
/// Nesting below this depth is shown as compact JSON text.
const MAX_DEPTH: usize = 3;

/// HTML-escapes text for element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The URL if it is an absolute http(s) URL (the only links a page makes from stored data).
pub fn safe_url(text: &str) -> Option<url::Url> {
    let u = url::Url::parse(text.trim()).ok()?;
    matches!(u.scheme(), "http" | "https").then_some(u)
}

/// A link to an external http(s) URL, or the escaped text when it is anything else.
pub fn link(text: &str, label: &str) -> String {
    match safe_url(text) {
        Some(u) => format!(
            "<a href=\"{}\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">{}</a>",
            escape(u.as_str()),
            escape(label)
        ),
        None => escape(label),
    }
}

/// `social_profiles` → `Social profiles`.
pub fn humanize(key: &str) -> String {
    let text = key.replace('_', " ");
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().collect::<String>() + chars.as_str(),
        None => String::new(),
    }
}

/// A short label for a URL: host and a shortened path.
fn url_label(u: &url::Url) -> String {
    let host = u.host_str().unwrap_or("");
    let path = u.path();
    let label = if path == "/" || path.is_empty() {
        host.to_string()
    } else {
        format!("{host}{path}")
    };
    if label.chars().count() > 60 {
        label.chars().take(57).collect::<String>() + "…"
    } else {
        label
    }
}

/// Renders any JSON value readably.
pub fn value(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v, 0);
    out
}

fn write_scalar(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("<span class=\"muted\">—</span>"),
        Value::Bool(true) => out.push_str("yes"),
        Value::Bool(false) => out.push_str("no"),
        Value::Number(n) => out.push_str(&escape(&n.to_string())),
        Value::String(s) => match safe_url(s) {
            Some(u) => out.push_str(&link(s, &url_label(&u))),
            None => out.push_str(&escape(s)),
        },
        other => out.push_str(&escape(&other.to_string())),
    }
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Array(_) | Value::Object(_))
}

fn write_value(out: &mut String, v: &Value, depth: usize) {
    match v {
        Value::Array(items) if items.is_empty() => {
            out.push_str("<span class=\"muted\">none</span>")
        }
        Value::Object(m) if m.is_empty() => out.push_str("<span class=\"muted\">none</span>"),
        _ if depth >= MAX_DEPTH && !is_scalar(v) => {
            let _ = write!(
                out,
                "<code class=\"json\">{}</code>",
                escape(&v.to_string())
            );
        }
        Value::Array(items) if items.iter().all(is_scalar) => {
            out.push_str("<ul class=\"chips\">");
            for i in items.iter().take(MAX_ROWS) {
                out.push_str("<li>");
                write_scalar(out, i);
                out.push_str("</li>");
            }
            out.push_str("</ul>");
            more(out, items.len());
        }
        Value::Array(items) if items.iter().all(|i| i.is_object()) => {
            write_table(out, items, depth);
        }
        Value::Array(items) => {
            out.push_str("<ol class=\"list\">");
            for i in items.iter().take(MAX_ROWS) {
                out.push_str("<li>");
                write_value(out, i, depth + 1);
                out.push_str("</li>");
            }
            out.push_str("</ol>");
            more(out, items.len());
        }
        Value::Object(m) => write_object(out, m, depth),
        scalar => write_scalar(out, scalar),
    }
}

fn more(out: &mut String, len: usize) {
    if len > MAX_ROWS {
        let _ = write!(out, "<p class=\"muted\">and {} more</p>", len - MAX_ROWS);
    }
}

fn write_object(out: &mut String, m: &Map<String, Value>, depth: usize) {
    out.push_str("<dl class=\"kv\">");
    for (k, v) in m {
        let _ = write!(out, "<dt>{}</dt><dd>", escape(&humanize(k)));
        write_value(out, v, depth + 1);
        out.push_str("</dd>");
    }
    out.push_str("</dl>");
}

/// A list of records as a table whose columns are the keys in order of first appearance (a
/// `name` column first: it says what each row is). A table nested inside another value (the
/// evidence of each technology, say) is folded into a `<details>` whose summary counts its
/// rows, so that a panel stays a screen or two tall and opens what the reader asks for.
fn write_table(out: &mut String, items: &[Value], depth: usize) {
    let mut columns: Vec<&str> = Vec::new();
    for i in items {
        if let Value::Object(m) = i {
            for k in m.keys() {
                if !columns.contains(&k.as_str()) {
                    columns.push(k);
                }
            }
        }
    }
    if let Some(at) = columns.iter().position(|c| *c == "name") {
        let name = columns.remove(at);
        columns.insert(0, name);
    }
    let folded = depth > 0;
    if folded {
        let _ = write!(
            out,
            "<details class=\"nested\"><summary>{} {}: {}</summary>",
            items.len(),
            if items.len() == 1 { "row" } else { "rows" },
            escape(
                &columns
                    .iter()
                    .map(|c| humanize(c).to_lowercase())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        );
    }
    // A wide table scrolls inside its wrapper; the wrapper takes keyboard focus so that the
    // scroll is reachable without a mouse (axe: scrollable-region-focusable).
    let _ = write!(
        out,
        "<div class=\"table-wrap\" tabindex=\"0\" role=\"region\" aria-label=\"{} table\"><table class=\"data\"><thead><tr>",
        escape(&columns.iter().take(3).map(|c| humanize(c)).collect::<Vec<_>>().join(", "))
    );
    for c in &columns {
        let _ = write!(out, "<th scope=\"col\">{}</th>", escape(&humanize(c)));
    }
    out.push_str("</tr></thead><tbody>");
    for i in items.iter().take(MAX_ROWS) {
        out.push_str("<tr>");
        for c in &columns {
            out.push_str("<td>");
            match i.get(*c) {
                Some(v) => write_value(out, v, depth + 1),
                None => out.push_str("<span class=\"muted\">—</span>"),
            }
            out.push_str("</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    more(out, items.len());
    if folded {
        out.push_str("</details>");
    }
}

/// One citation as the page shows it.
#[derive(Debug, Clone)]
pub struct Badge {
    pub provider: String,
    pub fetched_at: String,
    /// An http(s) link to the source, or the source as text (API calls whose URL holds a secret
    /// are stored as `provider:request`).
    pub source_html: String,
}

/// The citations of `sources` covering top-level `key` (a pointer covers what is beneath it).
pub fn badges_for(sources: &Value, key: &str) -> Vec<Badge> {
    let pointer = format!("/{}", key.replace('~', "~0").replace('/', "~1"));
    let Some(list) = sources.as_array() else {
        return Vec::new();
    };
    list.iter()
        .filter(|c| {
            c.get("covers")
                .and_then(Value::as_array)
                .is_some_and(|covers| {
                    covers.iter().filter_map(Value::as_str).any(|p| {
                        p.is_empty()
                            || p == pointer
                            || pointer.starts_with(&format!("{p}/"))
                            || p.starts_with(&format!("{pointer}/"))
                    })
                })
        })
        .map(|c| {
            let source = c.get("source").and_then(Value::as_str).unwrap_or("");
            let label = safe_url(source)
                .map(|u| url_label(&u))
                .unwrap_or_else(|| source.to_string());
            Badge {
                provider: c
                    .get("provider")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
                    .to_string(),
                fetched_at: c
                    .get("fetched_at")
                    .and_then(Value::as_str)
                    .map(short_time_text)
                    .unwrap_or_default(),
                source_html: link(source, &label),
            }
        })
        .collect()
}

/// `2024-05-01T12:00:00.123Z` → `2024-05-01 12:00 UTC`.
pub fn short_time_text(text: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| short_time(t.with_timezone(&chrono::Utc)))
        .unwrap_or_else(|_| text.to_string())
}

/// A time as pages show it.
pub fn short_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hostile_text_is_escaped_and_only_http_links_are_made() {
        let html = value(&json!({
            "name": "<script>alert(1)</script>",
            "site": "javascript:alert(1)",
            "description": "<img src=x onerror=alert(1)>",
            "home": "https://acme.com/about",
        }));
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("href=\"javascript:"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("href=\"https://acme.com/about\""));
    }

    #[test]
    fn lists_of_records_become_tables() {
        let html =
            value(&json!([{"name": "Algolia", "version": null}, {"name": "React", "extra": 1}]));
        assert!(html.contains("<table"), "{html}");
        assert!(html.contains("<th scope=\"col\">Extra</th>"));
        assert!(html.contains("<td>Algolia</td>"));
    }

    #[test]
    fn nested_tables_fold_and_names_come_first() {
        let html = value(&json!([{
            "confidence": 100,
            "evidence": [{"field": "scriptSrc", "matched": "cdn.x"}, {"field": "html", "matched": "y"}],
            "name": "Algolia",
        }]));
        let outer = html.find("<th scope=\"col\">Name</th>").expect(&html);
        assert!(outer < html.find("<th scope=\"col\">Confidence</th>").expect(&html));
        assert!(
            html.contains("<details class=\"nested\"><summary>2 rows: field, matched</summary>"),
            "{html}"
        );
        assert_eq!(
            html.matches("<details").count(),
            1,
            "the top-level table stays open"
        );
        assert!(html.ends_with("</table></div>"), "{html}");
        let one = value(&json!({"evidence": [{"field": "<b>"}]}));
        assert!(one.contains("<summary>1 row: field</summary>"), "{one}");
        assert!(one.contains("&lt;b&gt;") && one.contains("</details>"));
    }

    #[test]
    fn badges_follow_covering_pointers() {
        let sources = json!([
            {"source": "https://a.com/", "provider": "homepage", "fetched_at": "2024-05-01T12:00:00Z", "covers": ["/name"]},
            {"source": "javascript:alert(1)", "provider": "evil", "fetched_at": "x", "covers": [""]},
            {"source": "https://b.com/", "provider": "dns", "fetched_at": "x", "covers": ["/mx"]},
        ]);
        let b = badges_for(&sources, "name");
        assert_eq!(b.len(), 2);
        assert!(b[0].source_html.contains("href=\"https://a.com/\""));
        assert!(!b[1].source_html.contains("href"), "{}", b[1].source_html);
        assert_eq!(b[0].fetched_at, "2024-05-01 12:00 UTC");
    }
}
