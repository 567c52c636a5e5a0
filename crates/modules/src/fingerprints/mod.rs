//! Technology fingerprinting over the Wappalyzer JSON format (`technologies/*.json`,
//! `categories.json`). The database is data, not code: the product ships a curated subset under
//! `config/fingerprints/`, and any folder in the same format (such as the full MIT-licensed
//! Wappalyzer 6.10.54 set) can be loaded instead.
//!
//! Supported fields: `headers`, `cookies`, `meta`, `scriptSrc`, `scripts` (inline script text in
//! this format version), `html`, `url`, `dns`, `dom` (existence, `text` and `attributes` checks),
//! `implies`, `excludes`, `requires`, `requiresCategory`, `cats`, `website`, `description`.
//! `js` (runtime JavaScript globals) and `dom` `properties` need a browser and are ignored.

mod dom;
mod page;
mod pattern;

use dom::{DomIndex, DomRule};
use pattern::Pattern;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The most HTML matched: the homepage provider's body cap (`max_body_bytes = 5_242_880` in
/// `pforge.toml`) already bounds what arrives, so a page is seen whole, scripts near its end
/// included. This only guards observations built by hand.
pub const HTML_MATCH_LIMIT: usize = 5 * 1024 * 1024;

/// Most evidence items kept per technology: enough to justify, short enough to cite.
const MAX_EVIDENCE: usize = 6;

/// Why a fingerprint folder could not be loaded at all. Individual bad patterns are not errors:
/// they go to [`FingerprintDb::compile_report`].
#[derive(Debug, Error)]
pub enum FingerprintError {
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("invalid fingerprint file {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// A pattern that could not be compiled; the technology still loads without it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompileFailure {
    pub technology: String,
    /// Field and key, e.g. `html`, `headers:server`, `dom`.
    pub field: String,
    pub pattern: String,
    pub error: String,
}

/// What was seen of one site: the inputs to matching. Build it with
/// [`Observation::from_page`] or by hand (tests, other sources).
#[derive(Debug, Clone, Default)]
pub struct Observation {
    /// The page URL, for `url` patterns.
    pub url: Option<String>,
    /// Response headers by lower-case name; repeated headers keep every value.
    pub headers: BTreeMap<String, Vec<String>>,
    /// Cookie name -> value (from every `set-cookie`).
    pub cookies: BTreeMap<String, String>,
    /// `<meta>` name (or property / http-equiv), lower-case -> content values.
    pub meta: BTreeMap<String, Vec<String>>,
    /// `src` of every `<script>`, resolved against the page URL (protocol-relative and relative
    /// sources become absolute, as a browser sees them).
    pub script_srcs: Vec<String>,
    /// Text of inline `<script>` elements (the `scripts` field).
    pub scripts: Vec<String>,
    /// The page HTML; only the first [`HTML_MATCH_LIMIT`] bytes are matched.
    pub html: String,
    /// DNS records by upper-case type (`MX`, `TXT`, ...), as text.
    pub dns: BTreeMap<String, Vec<String>>,
}

/// Why a technology was detected: the field, the pattern, and what it matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// `headers:server`, `cookies:_ga`, `meta:generator`, `scriptSrc`, `scripts`, `html`,
    /// `url`, `dom`, `dns:TXT`, or `implies`.
    pub field: String,
    /// The database pattern (or, for `implies`, the technology that implied it).
    pub pattern: String,
    /// The matched text, truncated.
    pub matched: String,
}

/// A detected technology.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detection {
    pub name: String,
    /// Category names (ids as text when the folder has no `categories.json`).
    pub categories: Vec<String>,
    pub version: Option<String>,
    /// 1..=100: the sum of matched patterns' confidences, capped.
    pub confidence: u8,
    pub evidence: Vec<Evidence>,
    pub website: Option<String>,
}

#[derive(Debug)]
struct Implied {
    name: String,
    confidence: u8,
    version: Option<String>,
}

#[derive(Debug, Default)]
struct Technology {
    name: String,
    cats: Vec<u32>,
    website: Option<String>,
    description: Option<String>,
    headers: Vec<(String, Vec<Pattern>)>,
    cookies: Vec<(String, Vec<Pattern>)>,
    meta: Vec<(String, Vec<Pattern>)>,
    script_src: Vec<Pattern>,
    scripts: Vec<Pattern>,
    html: Vec<Pattern>,
    url: Vec<Pattern>,
    dns: Vec<(String, Vec<Pattern>)>,
    dom: Vec<DomRule>,
    implies: Vec<Implied>,
    excludes: Vec<String>,
    requires: Vec<String>,
    requires_category: Vec<u32>,
}

/// A loaded, compiled fingerprint database. Compile once, match many pages.
#[derive(Debug)]
pub struct FingerprintDb {
    techs: Vec<Technology>,
    by_name: HashMap<String, usize>,
    categories: BTreeMap<u32, String>,
    report: Vec<CompileFailure>,
    has_dom: bool,
}

/// Summary of one technology, for listings (`pforge fingerprints list`, docs).
#[derive(Debug, Clone, Serialize)]
pub struct TechnologyInfo {
    pub name: String,
    pub categories: Vec<String>,
    pub website: Option<String>,
    pub description: Option<String>,
}

impl FingerprintDb {
    /// Loads a folder in Wappalyzer layout: `technologies/*.json` (or a single
    /// `technologies.json`) and optional `categories.json`.
    pub fn load_dir(dir: &Path) -> Result<FingerprintDb, FingerprintError> {
        let tech_dir = dir.join("technologies");
        let mut files: Vec<PathBuf> = Vec::new();
        if tech_dir.is_dir() {
            let entries = std::fs::read_dir(&tech_dir).map_err(|e| FingerprintError::Read {
                path: tech_dir.clone(),
                reason: e.to_string(),
            })?;
            for entry in entries {
                let entry = entry.map_err(|e| FingerprintError::Read {
                    path: tech_dir.clone(),
                    reason: e.to_string(),
                })?;
                let p = entry.path();
                if p.extension().is_some_and(|x| x == "json") {
                    files.push(p);
                }
            }
            files.sort();
        } else if dir.join("technologies.json").is_file() {
            files.push(dir.join("technologies.json"));
        } else {
            return Err(FingerprintError::Read {
                path: tech_dir,
                reason: "no technologies/ folder or technologies.json: point the fingerprints \
                         setting at a folder in Wappalyzer format"
                    .into(),
            });
        }
        let mut all = Map::new();
        for f in &files {
            match read_json(f)? {
                Value::Object(m) => all.extend(m),
                _ => {
                    return Err(FingerprintError::Invalid {
                        path: f.clone(),
                        reason: "expected a JSON object keyed by technology name".into(),
                    })
                }
            }
        }
        let cat_path = dir.join("categories.json");
        let categories = if cat_path.is_file() {
            Some(read_json(&cat_path)?)
        } else {
            None
        };
        Ok(Self::from_values(&Value::Object(all), categories.as_ref()))
    }

    /// Builds a database from already-parsed JSON: `technologies` is an object keyed by name,
    /// `categories` the `categories.json` object. Entries or patterns that cannot be used are
    /// listed in the compile report.
    pub fn from_values(technologies: &Value, categories: Option<&Value>) -> FingerprintDb {
        let mut report = Vec::new();
        let mut techs = Vec::new();
        if let Some(map) = technologies.as_object() {
            for (name, def) in map {
                techs.push(compile_tech(name, def, &mut report));
            }
        }
        techs.sort_by(|a, b| a.name.cmp(&b.name));
        let by_name = techs
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        let mut cats = BTreeMap::new();
        if let Some(Value::Object(m)) = categories {
            for (id, v) in m {
                if let (Ok(id), Some(name)) =
                    (id.parse::<u32>(), v.get("name").and_then(Value::as_str))
                {
                    cats.insert(id, name.to_string());
                }
            }
        }
        let has_dom = techs.iter().any(|t| !t.dom.is_empty());
        FingerprintDb {
            techs,
            by_name,
            categories: cats,
            report,
            has_dom,
        }
    }

    /// Number of technologies loaded.
    pub fn len(&self) -> usize {
        self.techs.len()
    }

    /// Whether the database holds no technology.
    pub fn is_empty(&self) -> bool {
        self.techs.is_empty()
    }

    /// Patterns that did not compile (technology, field, pattern, error).
    pub fn compile_report(&self) -> &[CompileFailure] {
        &self.report
    }

    /// Whether a technology of that exact name is in the database.
    pub fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// Every technology with its category names, sorted by name.
    pub fn technologies(&self) -> Vec<TechnologyInfo> {
        self.techs
            .iter()
            .map(|t| TechnologyInfo {
                name: t.name.clone(),
                categories: self.category_names(&t.cats),
                website: t.website.clone(),
                description: t.description.clone(),
            })
            .collect()
    }

    fn category_names(&self, ids: &[u32]) -> Vec<String> {
        ids.iter()
            .map(|id| {
                self.categories
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| id.to_string())
            })
            .collect()
    }

    /// Matches an observation against every technology and returns the detections sorted by
    /// name, after `requires`, `excludes` and (transitive) `implies` are applied.
    pub fn detect(&self, obs: &Observation) -> Vec<Detection> {
        let mut acc: BTreeMap<usize, Acc> = BTreeMap::new();
        let html = cut(&obs.html, HTML_MATCH_LIMIT);
        for (i, t) in self.techs.iter().enumerate() {
            let mut a = Acc::default();
            for (name, pats) in &t.headers {
                if let Some(values) = obs.headers.get(name) {
                    for v in values {
                        a.try_all(pats, v, &format!("headers:{name}"));
                    }
                }
            }
            for (name, pats) in &t.cookies {
                for (cname, v) in cookie_matches(&obs.cookies, name) {
                    a.try_all_keyed(pats, v, &format!("cookies:{name}"), cname);
                }
            }
            for (name, pats) in &t.meta {
                if let Some(values) = obs.meta.get(name) {
                    for v in values {
                        a.try_all(pats, v, &format!("meta:{name}"));
                    }
                }
            }
            for src in &obs.script_srcs {
                a.try_all(&t.script_src, src, "scriptSrc");
            }
            for s in &obs.scripts {
                a.try_all(&t.scripts, s, "scripts");
            }
            if !html.is_empty() {
                a.try_all(&t.html, html, "html");
            }
            if let Some(u) = &obs.url {
                a.try_all(&t.url, u, "url");
            }
            for (rtype, pats) in &t.dns {
                if let Some(values) = obs.dns.get(rtype) {
                    for v in values {
                        a.try_all(pats, v, &format!("dns:{rtype}"));
                    }
                }
            }
            if a.hit {
                acc.insert(i, a);
            }
        }
        if self.has_dom && !html.is_empty() {
            let doc = scraper::Html::parse_document(html);
            let idx = DomIndex::build(&doc);
            for (i, t) in self.techs.iter().enumerate() {
                for rule in &t.dom {
                    for h in rule.matches(&doc, &idx) {
                        acc.entry(i).or_default().add(
                            "dom",
                            &h.pattern,
                            h.snippet,
                            h.version,
                            h.confidence,
                        );
                    }
                }
            }
        }
        self.resolve(acc)
    }

    /// Applies `requires`/`requiresCategory`, then `excludes`, then transitive `implies`
    /// (the implied technology gets the lower of the implier's and the tag's confidence).
    fn resolve(&self, mut acc: BTreeMap<usize, Acc>) -> Vec<Detection> {
        loop {
            let present: BTreeSet<&str> =
                acc.keys().map(|i| self.techs[*i].name.as_str()).collect();
            let cats: BTreeSet<u32> = acc
                .keys()
                .flat_map(|i| self.techs[*i].cats.iter().copied())
                .collect();
            let drop: Vec<usize> = acc
                .keys()
                .copied()
                .filter(|i| {
                    let t = &self.techs[*i];
                    (!t.requires.is_empty()
                        && !t.requires.iter().any(|r| present.contains(r.as_str())))
                        || (!t.requires_category.is_empty()
                            && !t.requires_category.iter().any(|c| cats.contains(c)))
                })
                .collect();
            if drop.is_empty() {
                break;
            }
            for i in drop {
                acc.remove(&i);
            }
        }
        let excluded: BTreeSet<usize> = acc
            .keys()
            .flat_map(|i| self.techs[*i].excludes.iter())
            .filter_map(|n| self.by_name.get(n).copied())
            .collect();
        for i in excluded {
            acc.remove(&i);
        }
        // Implies, breadth first; a technology already detected keeps its own evidence.
        let mut queue: Vec<usize> = acc.keys().copied().collect();
        while let Some(i) = queue.pop() {
            let parent_conf = acc.get(&i).map(|a| a.confidence()).unwrap_or(0);
            for imp in &self.techs[i].implies {
                let Some(&j) = self.by_name.get(&imp.name) else {
                    continue;
                };
                if acc.contains_key(&j) {
                    continue;
                }
                let mut a = Acc::default();
                a.add(
                    "implies",
                    &self.techs[i].name,
                    format!("implied by {}", self.techs[i].name),
                    imp.version.clone(),
                    parent_conf.min(imp.confidence),
                );
                acc.insert(j, a);
                queue.push(j);
            }
        }
        acc.into_iter()
            .map(|(i, a)| {
                let t = &self.techs[i];
                Detection {
                    name: t.name.clone(),
                    categories: self.category_names(&t.cats),
                    confidence: a.confidence(),
                    version: a.version,
                    evidence: a.evidence,
                    website: t.website.clone(),
                }
            })
            .collect()
    }
}

/// Evidence gathered for one technology on one page.
#[derive(Debug, Default)]
struct Acc {
    hit: bool,
    confidence: u32,
    version: Option<String>,
    evidence: Vec<Evidence>,
    /// (field, pattern) pairs already counted: a pattern adds its confidence once per page.
    seen: BTreeSet<(String, String)>,
}

impl Acc {
    fn try_all(&mut self, pats: &[Pattern], text: &str, field: &str) {
        for p in pats {
            if self.seen.contains(&(field.to_string(), p.source.clone())) {
                continue;
            }
            if let Some(h) = p.find(text) {
                self.add(field, &p.source, h.snippet, h.version, p.confidence);
            }
        }
    }

    /// Like `try_all` for cookies, whose evidence names the cookie as well as its value.
    fn try_all_keyed(&mut self, pats: &[Pattern], text: &str, field: &str, key: &str) {
        for p in pats {
            if self.seen.contains(&(field.to_string(), p.source.clone())) {
                continue;
            }
            if let Some(h) = p.find(text) {
                let snippet = pattern::truncate(&format!("{key}={}", h.snippet));
                self.add(field, &p.source, snippet, h.version, p.confidence);
            }
        }
    }

    fn add(&mut self, field: &str, pat: &str, matched: String, version: Option<String>, conf: u8) {
        if !self.seen.insert((field.to_string(), pat.to_string())) {
            return;
        }
        self.hit = true;
        self.confidence += u32::from(conf);
        if let Some(v) = version.filter(|v| plausible_version(v)) {
            if better_version(&v, self.version.as_deref()) {
                self.version = Some(v);
            }
        }
        if self.evidence.len() < MAX_EVIDENCE {
            self.evidence.push(Evidence {
                field: field.to_string(),
                pattern: pat.to_string(),
                matched,
            });
        }
    }

    fn confidence(&self) -> u8 {
        self.confidence.min(100) as u8
    }
}

/// Whether `new` should replace `old`: more numeric components or a higher one wins, the way
/// Wappalyzer prefers the most specific version.
fn better_version(new: &str, old: Option<&str>) -> bool {
    let Some(old) = old else { return true };
    let parse = |s: &str| -> Vec<u64> {
        s.split(|c: char| !c.is_ascii_digit())
            .filter_map(|p| p.parse().ok())
            .collect()
    };
    if !plausible_version(new) {
        return false;
    }
    if !plausible_version(old) {
        return true;
    }
    let (a, b) = (parse(new), parse(old));
    match a.cmp(&b) {
        std::cmp::Ordering::Equal => new.len() > old.len(),
        o => o == std::cmp::Ordering::Greater,
    }
}

/// Whether a resolved version string looks like a version, as the Wappalyzer engine judges it:
/// at most 15 characters, starting with a number below 10000 (longer strings and leading
/// numbers that big are dates, ids or hashes the pattern caught by accident).
pub(crate) fn plausible_version(v: &str) -> bool {
    let v = v.trim();
    if v.is_empty() || v.len() > 15 {
        return false;
    }
    let lead: String = v.chars().take_while(|c| c.is_ascii_digit()).collect();
    lead.parse::<u64>().map(|n| n < 10_000).unwrap_or(true)
}

/// Cookies whose name matches `pattern_name` (exact, case-insensitive; a trailing `*` matches
/// any suffix, as in `_ga_*`).
fn cookie_matches<'a>(
    cookies: &'a BTreeMap<String, String>,
    pattern_name: &str,
) -> Vec<(&'a str, &'a str)> {
    match pattern_name.strip_suffix('*') {
        Some(prefix) => {
            let prefix = prefix.to_ascii_lowercase();
            cookies
                .iter()
                .filter(|(k, _)| k.to_ascii_lowercase().starts_with(&prefix))
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect()
        }
        None => cookies
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(pattern_name))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
    }
}

/// The first `limit` bytes of `s`, cut on a char boundary.
fn cut(s: &str, limit: usize) -> &str {
    if s.len() <= limit {
        return s;
    }
    let mut end = limit;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn read_json(path: &Path) -> Result<Value, FingerprintError> {
    let text = std::fs::read_to_string(path).map_err(|e| FingerprintError::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| FingerprintError::Invalid {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// A field value that may be a string or an array of strings.
fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn compile_list(
    tech: &str,
    field: &str,
    v: &Value,
    report: &mut Vec<CompileFailure>,
) -> Vec<Pattern> {
    strings(v)
        .into_iter()
        .filter_map(|raw| match Pattern::compile(&raw) {
            Ok(p) => Some(p),
            Err(error) => {
                report.push(CompileFailure {
                    technology: tech.to_string(),
                    field: field.to_string(),
                    pattern: raw,
                    error,
                });
                None
            }
        })
        .collect()
}

/// `{key: pattern(s)}` fields (headers, cookies, meta, dns). Keys are normalized by `norm`.
fn compile_map(
    tech: &str,
    field: &str,
    v: Option<&Value>,
    norm: fn(&str) -> String,
    report: &mut Vec<CompileFailure>,
) -> Vec<(String, Vec<Pattern>)> {
    let Some(Value::Object(m)) = v else {
        return Vec::new();
    };
    m.iter()
        .map(|(k, pats)| {
            let key = norm(k);
            let compiled = compile_list(tech, &format!("{field}:{k}"), pats, report);
            (key, compiled)
        })
        .filter(|(_, p)| !p.is_empty())
        .collect()
}

fn compile_tech(name: &str, def: &Value, report: &mut Vec<CompileFailure>) -> Technology {
    let mut t = Technology {
        name: name.to_string(),
        ..Technology::default()
    };
    let Some(obj) = def.as_object() else {
        report.push(CompileFailure {
            technology: name.to_string(),
            field: "(entry)".into(),
            pattern: String::new(),
            error: "technology definition is not a JSON object".into(),
        });
        return t;
    };
    let lower = |s: &str| s.to_ascii_lowercase();
    let upper = |s: &str| s.to_ascii_uppercase();
    let keep = |s: &str| s.to_string();
    t.cats = match obj.get("cats") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|c| c.as_u64().map(|c| c as u32))
            .collect(),
        Some(Value::Number(n)) => n.as_u64().map(|c| vec![c as u32]).unwrap_or_default(),
        _ => Vec::new(),
    };
    t.website = obj
        .get("website")
        .and_then(Value::as_str)
        .map(str::to_string);
    t.description = obj
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_string);
    t.headers = compile_map(name, "headers", obj.get("headers"), lower, report);
    t.cookies = compile_map(name, "cookies", obj.get("cookies"), keep, report);
    t.meta = compile_map(name, "meta", obj.get("meta"), lower, report);
    t.dns = compile_map(name, "dns", obj.get("dns"), upper, report);
    if let Some(v) = obj.get("scriptSrc") {
        t.script_src = compile_list(name, "scriptSrc", v, report);
    }
    if let Some(v) = obj.get("scripts") {
        t.scripts = compile_list(name, "scripts", v, report);
    }
    if let Some(v) = obj.get("html") {
        t.html = compile_list(name, "html", v, report);
    }
    if let Some(v) = obj.get("url") {
        t.url = compile_list(name, "url", v, report);
    }
    if let Some(v) = obj.get("dom") {
        t.dom = compile_dom(name, v, report);
    }
    if let Some(v) = obj.get("implies") {
        t.implies = strings(v)
            .into_iter()
            .map(|raw| {
                let mut parts = raw.split("\\;");
                let implied = parts.next().unwrap_or("").trim().to_string();
                let mut imp = Implied {
                    name: implied,
                    confidence: 100,
                    version: None,
                };
                for tag in parts {
                    match tag.split_once(':') {
                        Some(("confidence", c)) => {
                            imp.confidence = c
                                .trim()
                                .parse::<u32>()
                                .map(|c| c.min(100) as u8)
                                .unwrap_or(100)
                        }
                        Some(("version", v)) if !v.contains('\\') => {
                            imp.version = Some(v.to_string())
                        }
                        _ => {}
                    }
                }
                imp
            })
            .collect();
    }
    if let Some(v) = obj.get("excludes") {
        t.excludes = strings(v);
    }
    if let Some(v) = obj.get("requires") {
        t.requires = strings(v);
    }
    t.requires_category = match obj.get("requiresCategory") {
        Some(Value::Number(n)) => n.as_u64().map(|c| vec![c as u32]).unwrap_or_default(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|c| c.as_u64().map(|c| c as u32))
            .collect(),
        _ => Vec::new(),
    };
    t
}

/// `dom`: a selector, a list of selectors (existence), or `{selector: {exists, text,
/// attributes, properties}}`. Rules made only of `properties` need a browser and are skipped.
fn compile_dom(tech: &str, v: &Value, report: &mut Vec<CompileFailure>) -> Vec<DomRule> {
    let mut rules = Vec::new();
    let mut push = |sel: &str,
                    exists: Option<Pattern>,
                    text: Option<Pattern>,
                    attrs: Vec<(String, Pattern)>,
                    report: &mut Vec<CompileFailure>| {
        if exists.is_none() && text.is_none() && attrs.is_empty() {
            return;
        }
        match DomRule::new(sel, exists, text, attrs) {
            Ok(r) => rules.push(r),
            Err(error) => report.push(CompileFailure {
                technology: tech.to_string(),
                field: "dom".into(),
                pattern: sel.to_string(),
                error,
            }),
        }
    };
    match v {
        Value::Object(m) => {
            for (sel, checks) in m {
                let one = |field: &str, x: &Value, report: &mut Vec<CompileFailure>| {
                    compile_list(tech, field, x, report).into_iter().next()
                };
                let exists = checks.get("exists").and_then(|x| one("dom", x, report));
                let text = checks.get("text").and_then(|x| one("dom", x, report));
                let mut attrs = Vec::new();
                if let Some(Value::Object(am)) = checks.get("attributes") {
                    for (an, ap) in am {
                        if let Some(p) = one(&format!("dom:{an}"), ap, report) {
                            attrs.push((an.to_ascii_lowercase(), p));
                        }
                    }
                }
                push(sel, exists, text, attrs, report);
            }
        }
        other => {
            for sel in strings(other) {
                let exists = Pattern::compile("").ok();
                push(&sel, exists, None, Vec::new(), report);
            }
        }
    }
    rules
}

#[cfg(test)]
mod tests;
