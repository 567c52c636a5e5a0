//! Shared extractors for homepage HTML: title, meta description, Open Graph, JSON-LD (including
//! `@graph`, arrays and the broken JSON found in the wild), the schema.org Organization, and
//! RSS/Atom feed links. Pages in the wild are messy, so every extractor is lenient: broken markup,
//! missing `<head>`, duplicate tags and invalid JSON-LD give fewer facts, never an error.
//!
//! `scraper::Html` is not `Send`, so modules call [`analyze`] (synchronous) and keep the plain
//! [`PageFacts`] it returns across `.await` points.

use regex::Regex;
use scraper::{ElementRef, Html, Selector};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use url::Url;

/// Everything the shared extractors found on one page.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PageFacts {
    pub title: Option<String>,
    pub meta_description: Option<String>,
    /// `og:*` properties, first value per key (e.g. `og:site_name`).
    pub open_graph: BTreeMap<String, String>,
    /// JSON-LD nodes, with top-level arrays and `@graph` flattened into one list.
    pub json_ld: Vec<Value>,
    /// How many `application/ld+json` blocks could not be parsed even after repair.
    pub json_ld_invalid: usize,
    pub organization: Option<Organization>,
    pub feeds: Vec<FeedLink>,
}

/// A schema.org Organization (or subtype) described by the page's JSON-LD.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Organization {
    pub name: Option<String>,
    pub legal_name: Option<String>,
    pub url: Option<String>,
    pub logo: Option<String>,
    pub description: Option<String>,
    /// Profile URLs (`sameAs`): LinkedIn, X/Twitter, GitHub, ...
    pub same_as: Vec<String>,
    pub address: Option<Address>,
    /// As written on the page (`2017`, `1998-02-19`, ...).
    pub founding_date: Option<String>,
    /// `numberOfEmployees` (a number, a string such as `"1,200"`, or a `QuantitativeValue` with
    /// `value` or `minValue`/`maxValue`): the site's own head count, a cited fallback when no
    /// filing or Wikidata gives one.
    pub number_of_employees: Option<i64>,
}

/// A postal address, from a `PostalAddress` object or a plain string (kept in `text`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Address {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// A feed advertised with `<link rel="alternate" type="application/rss+xml" ...>` (or Atom/JSON
/// Feed): later modules read news and blog posts from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedLink {
    /// Absolute when a base URL was given and the href resolved against it.
    pub url: String,
    /// `rss`, `atom` or `json`.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// Runs every extractor over `html`. `base` resolves relative feed links.
pub fn analyze(html: &str, base: Option<&Url>) -> PageFacts {
    let doc = Html::parse_document(html);
    let (json_ld, json_ld_invalid) = json_ld(&doc);
    let organization = organization(&json_ld);
    PageFacts {
        title: title(&doc),
        meta_description: meta_description(&doc),
        open_graph: open_graph(&doc),
        json_ld,
        json_ld_invalid,
        organization,
        feeds: feed_links(&doc, base),
    }
}

fn sel(css: &str) -> Option<Selector> {
    Selector::parse(css).ok()
}

/// Collapses runs of whitespace and trims; `None` when nothing is left.
fn clean(text: &str) -> Option<String> {
    let s = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.is_empty() {
        None
    } else {
        Some(s)
    }
}

/// The document title: the `<title>` in `<head>` first (an SVG `<title>` in the body is not the
/// page title), then any `<title>`.
pub fn title(doc: &Html) -> Option<String> {
    for css in ["head > title", "title"] {
        if let Some(s) = sel(css) {
            for el in doc.select(&s) {
                if let Some(t) = clean(&el.text().collect::<String>()) {
                    return Some(t);
                }
            }
        }
    }
    None
}

/// The `content` of the first `<meta>` whose `name` or `property` equals `key`
/// (case-insensitive) and whose content is not blank.
pub fn meta(doc: &Html, key: &str) -> Option<String> {
    let s = sel("meta")?;
    doc.select(&s).find_map(|el| {
        let v = el.value();
        let matches = ["name", "property", "itemprop"].iter().any(|a| {
            v.attr(a)
                .is_some_and(|n| n.trim().eq_ignore_ascii_case(key))
        });
        if matches {
            v.attr("content").and_then(clean)
        } else {
            None
        }
    })
}

/// `<meta name="description">`.
pub fn meta_description(doc: &Html) -> Option<String> {
    meta(doc, "description")
}

/// All `og:*` meta properties (keys lower-cased, first value wins).
pub fn open_graph(doc: &Html) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(s) = sel("meta") else { return out };
    for el in doc.select(&s) {
        let v = el.value();
        let key = v.attr("property").or_else(|| v.attr("name"));
        let Some(key) = key.map(|k| k.trim().to_ascii_lowercase()) else {
            continue;
        };
        if !key.starts_with("og:") {
            continue;
        }
        if let Some(content) = v.attr("content").and_then(clean) {
            out.entry(key).or_insert(content);
        }
    }
    out
}

fn trailing_comma_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r",(\s*[}\]])").unwrap_or_else(|_| unreachable!()))
}

/// Parses one JSON-LD block, repairing the usual damage: HTML comment / CDATA wrappers, raw
/// newlines or tabs inside strings, trailing commas.
pub fn parse_json_ld_block(text: &str) -> Option<Value> {
    let mut t = text.trim();
    for (open, close) in [
        ("<!--", "-->"),
        ("//<![CDATA[", "//]]>"),
        ("<![CDATA[", "]]>"),
    ] {
        if let Some(rest) = t.strip_prefix(open) {
            t = rest.strip_suffix(close).unwrap_or(rest).trim();
        }
    }
    if t.is_empty() {
        return None;
    }
    if let Ok(v) = serde_json::from_str::<Value>(t) {
        return Some(v);
    }
    let no_controls: String = t
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let repaired = trailing_comma_re().replace_all(&no_controls, "$1");
    serde_json::from_str::<Value>(&repaired).ok()
}

/// Every JSON-LD node on the page (arrays and `@graph` flattened) and the number of blocks that
/// stayed unparseable.
pub fn json_ld(doc: &Html) -> (Vec<Value>, usize) {
    let mut nodes = Vec::new();
    let mut invalid = 0;
    let Some(s) = sel("script[type]") else {
        return (nodes, invalid);
    };
    for el in doc.select(&s) {
        let ty = el.value().attr("type").unwrap_or_default();
        if !ty
            .trim()
            .to_ascii_lowercase()
            .starts_with("application/ld+json")
        {
            continue;
        }
        let text: String = el.text().collect();
        if text.trim().is_empty() {
            continue;
        }
        match parse_json_ld_block(&text) {
            Some(v) => flatten(v, &mut nodes),
            None => invalid += 1,
        }
    }
    (nodes, invalid)
}

fn flatten(v: Value, out: &mut Vec<Value>) {
    match v {
        Value::Array(items) => items.into_iter().for_each(|i| flatten(i, out)),
        Value::Object(mut map) => {
            if let Some(graph) = map.remove("@graph") {
                flatten(graph, out);
                // A block with @graph may still describe a node itself.
                if map.keys().any(|k| k != "@context") {
                    out.push(Value::Object(map));
                }
            } else {
                out.push(Value::Object(map));
            }
        }
        _ => {}
    }
}

/// Types treated as "the company" when found in JSON-LD.
const ORG_TYPES: &[&str] = &[
    "organization",
    "corporation",
    "localbusiness",
    "onlinebusiness",
    "onlinestore",
    "store",
    "ngo",
    "professionalservice",
    "medicalorganization",
    "medicalbusiness",
    "educationalorganization",
    "newsmediaorganization",
    "airline",
    "bankorcreditunion",
    "financialservice",
];

fn types_of(node: &Value) -> Vec<String> {
    match node.get("@type") {
        Some(Value::String(s)) => vec![s.to_ascii_lowercase()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|t| t.as_str().map(|s| s.to_ascii_lowercase()))
            .collect(),
        _ => Vec::new(),
    }
}

fn is_org(node: &Value) -> bool {
    types_of(node).iter().any(|t| {
        let t = t.rsplit(['/', ':']).next().unwrap_or(t);
        ORG_TYPES.contains(&t) || t.ends_with("organization")
    })
}

/// Decodes the HTML entities that appear raw inside JSON-LD (script text is not entity-decoded
/// by the HTML parser, and Yoast writes `&#8211;`).
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        let decoded = tail.find(';').filter(|&end| end <= 10).and_then(|end| {
            let ent = &tail[1..end];
            let c = match ent {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ => {
                    let num = ent.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => num.parse().ok()?,
                    };
                    char::from_u32(code)
                }
            }?;
            Some((c, end + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &tail[len..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn text_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => clean(&decode_entities(s)),
        Value::Array(a) => a.iter().find_map(|x| text_of(Some(x))),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An image given as a URL string, an `ImageObject` (`url` / `contentUrl`), an array of either,
/// or an `@id` reference to an ImageObject elsewhere in the graph.
fn image_url(v: Option<&Value>, nodes: &[Value]) -> Option<String> {
    match v? {
        Value::String(s) => clean(s),
        Value::Array(a) => a.iter().find_map(|x| image_url(Some(x), nodes)),
        Value::Object(o) => text_of(o.get("url"))
            .or_else(|| text_of(o.get("contentUrl")))
            .or_else(|| {
                let id = o.get("@id")?.as_str()?;
                let target = nodes
                    .iter()
                    .find(|n| n.get("@id").and_then(Value::as_str) == Some(id))?;
                text_of(target.get("url")).or_else(|| text_of(target.get("contentUrl")))
            }),
        _ => None,
    }
}

fn address(v: Option<&Value>) -> Option<Address> {
    match v? {
        Value::String(s) => clean(&decode_entities(s)).map(|t| Address {
            text: Some(t),
            ..Default::default()
        }),
        Value::Array(a) => a.iter().find_map(|x| address(Some(x))),
        Value::Object(o) => {
            let country = match o.get("addressCountry") {
                Some(Value::Object(c)) => text_of(c.get("name")),
                other => text_of(other),
            };
            let a = Address {
                street: text_of(o.get("streetAddress")),
                locality: text_of(o.get("addressLocality")),
                region: text_of(o.get("addressRegion")),
                postal_code: text_of(o.get("postalCode")),
                country,
                text: None,
            };
            if a == Address::default() {
                None
            } else {
                Some(a)
            }
        }
        _ => None,
    }
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    match v {
        Some(Value::String(s)) => out.extend(clean(s)),
        Some(Value::Array(a)) => out.extend(a.iter().filter_map(|x| x.as_str().and_then(clean))),
        _ => {}
    }
    out.dedup();
    out
}

/// The page's Organization: the first JSON-LD node of an organization type with a name, or an
/// organization nested as `publisher`/`author`/`provider` of another node.
pub fn organization(nodes: &[Value]) -> Option<Organization> {
    let nested = nodes.iter().flat_map(|n| {
        ["publisher", "author", "provider", "brand", "organization"]
            .into_iter()
            .filter_map(move |k| n.get(k))
            .filter(|v| v.is_object())
    });
    let node = nodes
        .iter()
        .filter(|n| is_org(n))
        .chain(nested.filter(|n| is_org(n)))
        .find(|n| text_of(n.get("name")).is_some())?;
    Some(Organization {
        name: text_of(node.get("name")),
        legal_name: text_of(node.get("legalName")),
        url: text_of(node.get("url")),
        logo: image_url(node.get("logo"), nodes).or_else(|| image_url(node.get("image"), nodes)),
        description: text_of(node.get("description")),
        same_as: string_list(node.get("sameAs")),
        address: address(node.get("address")),
        founding_date: text_of(node.get("foundingDate")),
        number_of_employees: employee_count(node.get("numberOfEmployees")),
    })
}

/// A head count from JSON-LD `numberOfEmployees`: a number, a numeric string (`"1,200"`,
/// `"1200+"`), or a `QuantitativeValue` (`value`, else the middle of `minValue`..`maxValue`,
/// else whichever bound is given). Zero, negative and non-numeric values give `None`.
pub fn employee_count(v: Option<&Value>) -> Option<i64> {
    let n = match v? {
        Value::Number(n) => n.as_f64().map(|f| f as i64),
        Value::String(s) => {
            let digits: String = s
                .trim()
                .trim_end_matches('+')
                .chars()
                .filter(|c| *c != ',' && *c != '_' && !c.is_whitespace())
                .collect();
            digits.parse::<i64>().ok()
        }
        Value::Object(o) => employee_count(o.get("value")).or_else(|| {
            match (
                employee_count(o.get("minValue")),
                employee_count(o.get("maxValue")),
            ) {
                (Some(a), Some(b)) => Some(a / 2 + b / 2),
                (a, b) => a.or(b),
            }
        }),
        Value::Array(a) => a.iter().find_map(|x| employee_count(Some(x))),
        _ => None,
    }?;
    (n > 0).then_some(n)
}

/// RSS, Atom and JSON Feed links advertised in `<link rel="alternate">`.
pub fn feed_links(doc: &Html, base: Option<&Url>) -> Vec<FeedLink> {
    let mut out: Vec<FeedLink> = Vec::new();
    let Some(s) = sel("link[href]") else {
        return out;
    };
    for el in doc.select(&s) {
        if let Some(link) = feed_link(el, base) {
            if !out.iter().any(|f| f.url == link.url) {
                out.push(link);
            }
        }
    }
    out
}

fn feed_link(el: ElementRef<'_>, base: Option<&Url>) -> Option<FeedLink> {
    let v = el.value();
    let rel = v.attr("rel")?.to_ascii_lowercase();
    if !rel.split_whitespace().any(|r| r == "alternate") {
        return None;
    }
    let ty = v.attr("type")?.trim().to_ascii_lowercase();
    let kind = match ty.as_str() {
        "application/rss+xml" => "rss",
        "application/atom+xml" => "atom",
        "application/feed+json" => "json",
        _ => return None,
    };
    let href = v.attr("href")?.trim();
    if href.is_empty() {
        return None;
    }
    let url = match base.and_then(|b| b.join(href).ok()) {
        Some(u) => u.to_string(),
        None => href.to_string(),
    };
    Some(FeedLink {
        url,
        kind: kind.to_string(),
        title: v.attr("title").and_then(clean).map(|t| decode_entities(&t)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture(rel: &str) -> String {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures")
            .join(rel);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn page_without_head_or_closing_tags_still_yields_title() {
        let facts = analyze(
            &fixture("epoch1/homepage/blueharbor-health.com/index.html"),
            None,
        );
        assert_eq!(facts.title.as_deref(), Some("Blue Harbor Health"));
        assert_eq!(facts.meta_description, None);
        assert!(facts.open_graph.is_empty());
        assert!(facts.json_ld.is_empty());
        assert_eq!(facts.organization, None);
    }

    #[test]
    fn fragment_with_no_html_at_all() {
        let facts = analyze("just some text <b>bold", None);
        assert_eq!(facts, PageFacts::default());
        let facts = analyze("", None);
        assert_eq!(facts.title, None);
    }

    #[test]
    fn svg_title_in_body_is_not_the_page_title() {
        let html = "<html><head><title>\n  Acme |\n Home </title></head><body><svg><title>icon</title></svg></body></html>";
        assert_eq!(analyze(html, None).title.as_deref(), Some("Acme | Home"));
        let html = "<body><svg><title>icon</title></svg><p>no head title";
        assert_eq!(analyze(html, None).title.as_deref(), Some("icon"));
    }

    #[test]
    fn meta_lookup_is_case_insensitive_and_skips_blank() {
        let html = r#"<meta name="Description" content="  "><META NAME="DESCRIPTION" CONTENT="Real one">
            <meta property="og:site_name" content="Acme"><meta property="OG:Title" content="T1"><meta property="og:title" content="T2">"#;
        let facts = analyze(html, None);
        assert_eq!(facts.meta_description.as_deref(), Some("Real one"));
        assert_eq!(
            facts.open_graph.get("og:site_name").map(String::as_str),
            Some("Acme")
        );
        assert_eq!(
            facts.open_graph.get("og:title").map(String::as_str),
            Some("T1")
        );
    }

    #[test]
    fn techstart_homepage_organization() {
        let base = Url::parse("https://techstart.io/").unwrap();
        let facts = analyze(
            &fixture("epoch1/homepage/techstart.io/index.html"),
            Some(&base),
        );
        let org = facts.organization.expect("organization");
        assert_eq!(org.name.as_deref(), Some("TechStart Inc"));
        assert_eq!(org.founding_date.as_deref(), Some("2017"));
        assert_eq!(
            org.logo.as_deref(),
            Some("https://techstart.io/static/brand/techstart-logo-512.png")
        );
        assert_eq!(org.same_as.len(), 3);
        assert!(org.same_as[0].contains("linkedin.com/company/techstart-io"));
        let addr = org.address.expect("address");
        assert_eq!(addr.locality.as_deref(), Some("San Francisco"));
        assert_eq!(addr.country.as_deref(), Some("US"));
        assert_eq!(facts.json_ld.len(), 2, "Organization + WebSite");
        assert_eq!(facts.json_ld_invalid, 0);
        assert_eq!(facts.open_graph["og:site_name"], "TechStart");
        assert_eq!(facts.feeds.len(), 1);
        assert_eq!(facts.feeds[0].url, "https://techstart.io/blog/rss.xml");
        assert_eq!(facts.feeds[0].kind, "rss");
    }

    #[test]
    fn yoast_graph_with_entities_and_logo_object() {
        let base = Url::parse("https://www.globex-logistics.com/").unwrap();
        let facts = analyze(
            &fixture("epoch1/homepage/globex-logistics.com/index.html"),
            Some(&base),
        );
        assert_eq!(
            facts.json_ld.len(),
            3,
            "@graph flattened into WebPage, WebSite, Organization"
        );
        let org = facts.organization.expect("organization");
        assert_eq!(org.name.as_deref(), Some("Globex Logistics, Inc."));
        assert_eq!(
            org.logo.as_deref(),
            Some("https://www.globex-logistics.com/wp-content/uploads/2021/08/globex-logo.png")
        );
        assert_eq!(
            facts.title.as_deref(),
            Some("Globex Logistics – Freight, warehousing and supply-chain visibility")
        );
        // Two RSS feeds; the wp-json `application/json` alternate is not a feed.
        assert_eq!(facts.feeds.len(), 2);
        assert_eq!(
            facts.feeds[0].title.as_deref(),
            Some("Globex Logistics » Feed")
        );
    }

    #[test]
    fn invalid_json_ld_is_repaired_or_counted() {
        // Webflow page: trailing commas -> repaired.
        let facts = analyze(&fixture("epoch1/homepage/quantumleaf.ai/index.html"), None);
        assert_eq!(facts.json_ld_invalid, 0);
        assert_eq!(
            facts.organization.and_then(|o| o.name).as_deref(),
            Some("QuantumLeaf AI")
        );
        let html = r##"<script type="application/ld+json">{"@type": "Organization", "name": "Broken" "url": }</script>
            <script type="application/ld+json">
            <!--
            {"@context":"https://schema.org","@type":["Thing","Corporation"],"name":"Line
            Break Corp","logo":{"@id":"#logo"}}
            -->
            </script>
            <script type="application/ld+json">[{"@id":"#logo","@type":"ImageObject","contentUrl":"/l.png"}]</script>
            <script type="application/ld+json">   </script>"##;
        let facts = analyze(html, None);
        assert_eq!(facts.json_ld_invalid, 1);
        assert_eq!(facts.json_ld.len(), 2);
        let org = facts.organization.expect("organization");
        assert_eq!(org.name.as_deref(), Some("Line Break Corp"));
        assert_eq!(org.logo.as_deref(), Some("/l.png"));
    }

    #[test]
    fn multiple_blocks_and_nested_graph_object() {
        let facts = analyze(
            &fixture("epoch1/homepage/initech-software.com/index.html"),
            None,
        );
        assert_eq!(
            facts.json_ld.len(),
            2,
            "WebSite block + Organization from @graph"
        );
        let org = facts.organization.expect("organization");
        assert_eq!(org.name.as_deref(), Some("Initech Software"));
        assert_eq!(org.founding_date.as_deref(), Some("1998-02-19"));
        assert_eq!(facts.feeds[0].kind, "atom");
    }

    #[test]
    fn publisher_nested_organization_and_string_address() {
        let nodes = vec![
            json!({"@type":"WebSite","name":"Site","publisher":{"@type":"Organization","name":"Pub &amp; Co","address":"1 Main St, Springfield","sameAs":"https://x.com/pub"}}),
        ];
        let org = organization(&nodes).expect("organization");
        assert_eq!(org.name.as_deref(), Some("Pub & Co"));
        assert_eq!(org.same_as, vec!["https://x.com/pub".to_string()]);
        assert_eq!(
            org.address.and_then(|a| a.text).as_deref(),
            Some("1 Main St, Springfield")
        );
        assert_eq!(organization(&[json!({"@type":"Organization"})]), None);
        assert_eq!(organization(&[json!("text"), json!(3)]), None);
    }

    #[test]
    fn entity_decoding() {
        assert_eq!(
            decode_entities("A &#8211; B &amp; C &#x27;d&#x27;"),
            "A – B & C 'd'"
        );
        assert_eq!(decode_entities("AT&T &unknown; &"), "AT&T &unknown; &");
    }

    #[test]
    fn employee_counts_in_json_ld() {
        use serde_json::json;
        assert_eq!(employee_count(Some(&json!(240))), Some(240));
        assert_eq!(employee_count(Some(&json!("1,200"))), Some(1200));
        assert_eq!(employee_count(Some(&json!("500+"))), Some(500));
        assert_eq!(
            employee_count(Some(
                &json!({"@type": "QuantitativeValue", "value": 164000})
            )),
            Some(164000)
        );
        assert_eq!(
            employee_count(Some(&json!({"minValue": 100, "maxValue": 200}))),
            Some(150)
        );
        assert_eq!(employee_count(Some(&json!("many"))), None);
        assert_eq!(employee_count(Some(&json!(0))), None);
        assert_eq!(employee_count(None), None);
    }

    proptest::proptest! {
        #[test]
        fn employee_count_reads_any_positive_number_written_with_separators(n in 1i64..10_000_000_000) {
            let with_commas = n
                .to_string()
                .as_bytes()
                .rchunks(3)
                .rev()
                .map(|c| std::str::from_utf8(c).unwrap_or_default())
                .collect::<Vec<_>>()
                .join(",");
            proptest::prop_assert_eq!(employee_count(Some(&serde_json::json!(with_commas))), Some(n));
            proptest::prop_assert_eq!(employee_count(Some(&serde_json::json!(n))), Some(n));
        }

        #[test]
        fn employee_count_never_panics(s in "\\PC{0,30}") {
            let _ = employee_count(Some(&serde_json::json!(s)));
        }
    }
}
