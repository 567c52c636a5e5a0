//! Declarative modules: users add an HTTP-JSON module in `pforge.toml` without recompiling.
//!
//! ```toml
//! [[declarative_modules]]
//! id = "x_github_org"
//! title = "GitHub organization"
//! provider = "github"                       # a [providers.*] entry (base URL, key, limits)
//! path = "/orgs/{m01_company_context./name}?per_page=5"
//! method = "GET"                            # only GET
//! headers = { accept = "application/vnd.github+json" }
//! dependencies = ["m01_company_context"]
//!
//! [[declarative_modules.fields]]
//! name = "public_repos"
//! select = "/public_repos"                  # JSON Pointer ...
//! [[declarative_modules.fields]]
//! name = "repo_names"
//! select = "$.repos[*].name"                # ... or a simple JSONPath
//! ```
//!
//! Placeholders in `path`: `{domain}`, and `{<dependency id>.<JSON Pointer>}` for a value from a
//! declared dependency's output. Every field becomes a top-level output value cited to the
//! fetched URL. The configuration is validated when the modules are built and every error names
//! the config line, so a typo is caught before a run starts, not halfway through a batch.

use async_trait::async_trait;
use pforge_budget::Call;
use pforge_core::{Citation, Module, ModuleContext, ModuleError, ModuleOutput, ModuleSpec};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use thiserror::Error;
use toml::Spanned;

/// Why the declarative modules in the config cannot be built. Each problem names the config file
/// and line.
#[derive(Debug, Error, PartialEq)]
pub enum DeclarativeError {
    /// The TOML itself does not fit the expected shape (unknown key, wrong type, ...).
    #[error("invalid {config}: {message}")]
    Syntax { config: String, message: String },
    /// One or more modules are invalid; every problem is listed.
    #[error("{}", .0.iter().map(|i| i.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Issue>),
}

/// One problem in a declarative module definition.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{config}:{line}: [[declarative_modules]] {module}: {message}")]
pub struct Issue {
    pub config: String,
    /// 1-based line in the config text.
    pub line: usize,
    /// The module id (or `#n` when the id itself is bad).
    pub module: String,
    pub message: String,
}

#[derive(Deserialize)]
struct ConfigFile {
    #[serde(default)]
    declarative_modules: Vec<Spanned<RawModule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModule {
    id: Spanned<String>,
    #[serde(default)]
    title: Option<String>,
    provider: Spanned<String>,
    path: Spanned<String>,
    #[serde(default)]
    method: Option<Spanned<String>>,
    #[serde(default)]
    headers: Option<Spanned<BTreeMap<String, String>>>,
    #[serde(default)]
    dependencies: Vec<String>,
    #[serde(default)]
    fields: Vec<Spanned<RawField>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    name: Spanned<String>,
    select: Spanned<String>,
}

/// One segment of a parsed path template.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Domain,
    Dep { module: String, pointer: String },
}

/// A field selector: JSON Pointer or simple JSONPath.
#[derive(Debug, Clone, PartialEq)]
pub enum Selector {
    /// `/a/b/0`: one value (null when absent).
    Pointer(String),
    /// `$.a.b[0]`, `$.items[*].name`: one value, or a list when it has a wildcard.
    Path(Vec<Step>),
}

/// A JSONPath step.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Key(String),
    Index(usize),
    Wildcard,
}

impl Selector {
    /// Parses `/pointer` or `$.json.path`; the error says what is wrong and where.
    pub fn parse(s: &str) -> Result<Selector, String> {
        if s.is_empty() || s.starts_with('/') {
            check_pointer(s)?;
            Ok(Selector::Pointer(s.to_string()))
        } else if s.starts_with('$') {
            parse_jsonpath(s).map(Selector::Path)
        } else {
            Err(format!(
                "select = {s:?} is neither a JSON Pointer (starting with `/`) nor a JSONPath (starting with `$`)"
            ))
        }
    }

    /// The selected value: pointer or definite path → the value (null when absent); a path with
    /// a wildcard → the list of matches.
    pub fn select(&self, v: &Value) -> Value {
        match self {
            Selector::Pointer(p) => v.pointer(p).cloned().unwrap_or(Value::Null),
            Selector::Path(steps) => {
                let mut nodes: Vec<&Value> = vec![v];
                for step in steps {
                    nodes = nodes
                        .into_iter()
                        .flat_map(|n| -> Vec<&Value> {
                            match (step, n) {
                                (Step::Key(k), Value::Object(m)) => m.get(k).into_iter().collect(),
                                (Step::Index(i), Value::Array(a)) => {
                                    a.get(*i).into_iter().collect()
                                }
                                (Step::Wildcard, Value::Array(a)) => a.iter().collect(),
                                (Step::Wildcard, Value::Object(m)) => m.values().collect(),
                                _ => Vec::new(),
                            }
                        })
                        .collect();
                }
                if steps.contains(&Step::Wildcard) {
                    Value::Array(nodes.into_iter().cloned().collect())
                } else {
                    nodes.first().map(|n| (*n).clone()).unwrap_or(Value::Null)
                }
            }
        }
    }
}

fn check_pointer(p: &str) -> Result<(), String> {
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0') | Some('1')) {
            return Err(format!(
                "JSON Pointer {p:?}: `~` must be followed by 0 or 1 (`~0` is `~`, `~1` is `/`)"
            ));
        }
    }
    Ok(())
}

/// Parses the JSONPath subset: `$` then `.name`, `.*`, `[n]`, `[*]`, `['name']`, `["name"]`.
fn parse_jsonpath(s: &str) -> Result<Vec<Step>, String> {
    let b: Vec<char> = s.chars().collect();
    let err = |at: usize, what: &str| format!("JSONPath {s:?} at column {}: {what}", at + 1);
    let mut i = 1;
    let mut steps = Vec::new();
    let is_name = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    while i < b.len() {
        match b[i] {
            '.' => {
                i += 1;
                if i < b.len() && b[i] == '.' {
                    return Err(err(i, "recursive descent `..` is not supported"));
                }
                if i < b.len() && b[i] == '*' {
                    steps.push(Step::Wildcard);
                    i += 1;
                    continue;
                }
                let start = i;
                while i < b.len() && is_name(b[i]) {
                    i += 1;
                }
                if start == i {
                    return Err(err(start, "expected a field name after `.`"));
                }
                steps.push(Step::Key(b[start..i].iter().collect()));
            }
            '[' => {
                i += 1;
                match b.get(i) {
                    Some('*') => {
                        if b.get(i + 1) != Some(&']') {
                            return Err(err(i + 1, "expected `]` after `[*`"));
                        }
                        steps.push(Step::Wildcard);
                        i += 2;
                    }
                    Some(q @ ('\'' | '"')) => {
                        let q = *q;
                        let start = i + 1;
                        let Some(len) = b[start..].iter().position(|c| *c == q) else {
                            return Err(err(i, "unterminated quoted name"));
                        };
                        let end = start + len;
                        if b.get(end + 1) != Some(&']') {
                            return Err(err(end + 1, "expected `]` after the quoted name"));
                        }
                        steps.push(Step::Key(b[start..end].iter().collect()));
                        i = end + 2;
                    }
                    Some(c) if c.is_ascii_digit() => {
                        let start = i;
                        while i < b.len() && b[i].is_ascii_digit() {
                            i += 1;
                        }
                        if b.get(i) != Some(&']') {
                            return Err(err(i, "expected `]` after the index"));
                        }
                        let n: String = b[start..i].iter().collect();
                        let n = n.parse().map_err(|_| err(start, "index too large"))?;
                        steps.push(Step::Index(n));
                        i += 1;
                    }
                    _ => {
                        return Err(err(
                            i,
                            "expected `*`, an index or a quoted name inside `[...]` (filters and slices are not supported)",
                        ))
                    }
                }
            }
            _ => return Err(err(i, "expected `.` or `[`")),
        }
    }
    Ok(steps)
}

/// Parses a path template into pieces, checking placeholders against the dependencies.
fn parse_template(t: &str, deps: &[String]) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = t;
    while let Some(open) = rest.find(['{', '}']) {
        if rest.as_bytes()[open] == b'}' {
            return Err(format!("path {t:?}: `}}` without a matching `{{`"));
        }
        if open > 0 {
            pieces.push(Piece::Text(rest[..open].to_string()));
        }
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(format!("path {t:?}: `{{` is never closed"));
        };
        let inner = &after[..close];
        if inner.contains('{') {
            return Err(format!("path {t:?}: nested `{{` in a placeholder"));
        }
        if inner == "domain" {
            pieces.push(Piece::Domain);
        } else {
            let Some((module, pointer)) = inner.split_once('.') else {
                return Err(format!(
                    "path {t:?}: placeholder {{{inner}}} must be {{domain}} or {{<dependency>./json/pointer}}"
                ));
            };
            if !deps.iter().any(|d| d == module) {
                return Err(format!(
                    "path {t:?}: placeholder {{{inner}}} reads {module}, which is not in `dependencies`"
                ));
            }
            if !(pointer.is_empty() || pointer.starts_with('/')) {
                return Err(format!(
                    "path {t:?}: placeholder {{{inner}}}: {pointer:?} is not a JSON Pointer (start it with `/`)"
                ));
            }
            check_pointer(pointer).map_err(|e| format!("path {t:?}: {e}"))?;
            pieces.push(Piece::Dep {
                module: module.to_string(),
                pointer: pointer.to_string(),
            });
        }
        rest = &after[close + 1..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    Ok(pieces)
}

/// Percent-encodes a value placed in a URL path (everything but RFC 3986 unreserved chars), so a
/// dependency value can never add path segments or a query.
fn encode_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A module defined in config.
pub struct DeclarativeModule {
    spec: ModuleSpec,
    path: Vec<Piece>,
    query: Vec<(String, Vec<Piece>)>,
    headers: Vec<(String, String)>,
    fields: Vec<(String, Selector)>,
}

impl DeclarativeModule {
    fn resolve(
        &self,
        ctx: &ModuleContext,
        pieces: &[Piece],
        encode: bool,
    ) -> Result<String, ModuleError> {
        let mut s = String::new();
        for p in pieces {
            match p {
                Piece::Text(t) => s.push_str(t),
                Piece::Domain => s.push_str(ctx.domain.as_str()),
                Piece::Dep { module, pointer } => {
                    let dep = ctx
                        .dependency(module)
                        .ok_or_else(|| ModuleError::MissingDependency(module.clone()))?;
                    let text = match dep.data.pointer(pointer) {
                        Some(Value::String(v)) if !v.is_empty() => v.clone(),
                        Some(Value::Number(n)) => n.to_string(),
                        Some(Value::Bool(b)) => b.to_string(),
                        other => {
                            return Err(ModuleError::Other(format!(
                                "placeholder {{{module}.{pointer}}} has no usable value ({}): cannot build the request",
                                match other {
                                    None => "absent".to_string(),
                                    Some(v) => format!("{v}"),
                                }
                            )))
                        }
                    };
                    s.push_str(&if encode { encode_segment(&text) } else { text });
                }
            }
        }
        Ok(s)
    }
}

#[async_trait]
impl Module for DeclarativeModule {
    fn spec(&self) -> &ModuleSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ModuleContext) -> Result<ModuleOutput, ModuleError> {
        let path = self.resolve(ctx, &self.path, true)?;
        let provider = self.spec.providers.first().cloned().unwrap_or_default();
        let mut call = Call::get(provider, path)
            .for_domain(ctx.domain.as_str())
            .by_module(self.spec.id.clone());
        for (k, v) in &self.query {
            call = call.query(k.clone(), self.resolve(ctx, v, false)?);
        }
        for (k, v) in &self.headers {
            call = call.header(k.clone(), v.clone());
        }
        let resp = ctx.gateway.fetch(&call).await?;
        let body: Value = resp
            .json()
            .map_err(|e| ModuleError::parse(&resp.url, format!("not JSON: {e}")))?;
        let cite = Citation::from_response(&resp, &[]);
        let mut out = ModuleOutput::new();
        for (name, sel) in &self.fields {
            out.set(name, sel.select(&body), &cite);
        }
        Ok(out)
    }
}

/// 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map(|t| t.matches('\n').count() + 1)
        .unwrap_or(1)
}

/// Builds the `[[declarative_modules]]` of `config_text` (the whole `pforge.toml`). `config_name`
/// names the file in errors; `known_providers` are the `[providers.*]` ids. All problems are
/// reported together, each with its line.
pub fn declarative_modules(
    config_text: &str,
    config_name: &str,
    known_providers: &[String],
) -> Result<Vec<Arc<dyn Module>>, DeclarativeError> {
    let file: ConfigFile = toml::from_str(config_text).map_err(|e| DeclarativeError::Syntax {
        config: config_name.to_string(),
        message: e.to_string().trim_end().to_string(),
    })?;
    let mut issues = Vec::new();
    let mut modules: Vec<Arc<dyn Module>> = Vec::new();
    let mut ids = BTreeSet::new();
    for (n, m) in file.declarative_modules.iter().enumerate() {
        let raw = m.get_ref();
        let id = raw.id.get_ref().clone();
        let label = if id.is_empty() {
            format!("#{}", n + 1)
        } else {
            id.clone()
        };
        let mut issue = |span: std::ops::Range<usize>, message: String| {
            issues.push(Issue {
                config: config_name.to_string(),
                line: line_of(config_text, span.start),
                module: label.clone(),
                message,
            })
        };
        let mut ok = true;
        let valid_id = !id.is_empty()
            && id.starts_with(|c: char| c.is_ascii_lowercase())
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid_id {
            issue(
                raw.id.span(),
                format!(
                    "id {id:?} must be lower-case letters, digits and `_`, starting with a letter"
                ),
            );
            ok = false;
        } else if !ids.insert(id.clone()) {
            issue(raw.id.span(), format!("id {id:?} is defined twice"));
            ok = false;
        }
        let provider = raw.provider.get_ref();
        if !known_providers.iter().any(|p| p == provider) {
            let mut known: Vec<&str> = known_providers.iter().map(String::as_str).collect();
            known.sort_unstable();
            issue(
                raw.provider.span(),
                format!(
                    "unknown provider {provider:?}: add a [providers.{provider}] section (configured: {})",
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                ),
            );
            ok = false;
        }
        if let Some(method) = &raw.method {
            if !method.get_ref().eq_ignore_ascii_case("GET") {
                issue(
                    method.span(),
                    format!("method {:?} is not supported: only GET", method.get_ref()),
                );
                ok = false;
            }
        }
        let template = raw.path.get_ref();
        let (path_t, query_t) = template.split_once('?').unwrap_or((template, ""));
        let mut path = Vec::new();
        let mut query = Vec::new();
        if !path_t.starts_with('/') {
            issue(raw.path.span(), format!("path {template:?} must start with `/` (it is appended to the provider's base URL)"));
            ok = false;
        } else {
            match parse_template(path_t, &raw.dependencies) {
                Ok(p) => path = p,
                Err(e) => {
                    issue(raw.path.span(), e);
                    ok = false;
                }
            }
            for pair in query_t.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                match parse_template(v, &raw.dependencies) {
                    Ok(p) if !k.is_empty() && !k.contains(['{', '}']) => {
                        query.push((k.to_string(), p))
                    }
                    Ok(_) => {
                        issue(
                            raw.path.span(),
                            format!(
                                "path {template:?}: query parameter {pair:?} needs a plain name"
                            ),
                        );
                        ok = false;
                    }
                    Err(e) => {
                        issue(raw.path.span(), e);
                        ok = false;
                    }
                }
            }
        }
        let mut headers = Vec::new();
        if let Some(h) = &raw.headers {
            for (k, v) in h.get_ref() {
                let name_ok = !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if !name_ok || v.contains(['\r', '\n']) {
                    issue(
                        h.span(),
                        format!("header {k:?} has an invalid name or a line break in its value"),
                    );
                    ok = false;
                } else {
                    headers.push((k.to_ascii_lowercase(), v.clone()));
                }
            }
        }
        if raw.fields.is_empty() {
            issue(
                m.span(),
                "no [[declarative_modules.fields]]: the module would produce nothing".into(),
            );
            ok = false;
        }
        let mut fields = Vec::new();
        let mut names = BTreeSet::new();
        for f in &raw.fields {
            let fr = f.get_ref();
            let name = fr.name.get_ref();
            if name.trim().is_empty() {
                issue(fr.name.span(), "field name is empty".into());
                ok = false;
                continue;
            }
            if !names.insert(name.clone()) {
                issue(fr.name.span(), format!("field {name:?} is defined twice"));
                ok = false;
                continue;
            }
            match Selector::parse(fr.select.get_ref()) {
                Ok(s) => fields.push((name.clone(), s)),
                Err(e) => {
                    issue(fr.select.span(), format!("field {name:?}: {e}"));
                    ok = false;
                }
            }
        }
        if ok {
            modules.push(Arc::new(DeclarativeModule {
                spec: ModuleSpec {
                    id: id.clone(),
                    title: raw.title.clone().unwrap_or_else(|| id.clone()),
                    dependencies: raw.dependencies.clone(),
                    providers: vec![provider.clone()],
                    runs_degraded: false,
                    set_arrays: Vec::new(),
                },
                path,
                query,
                headers,
                fields,
            }));
        }
    }
    if issues.is_empty() {
        Ok(modules)
    } else {
        Err(DeclarativeError::Invalid(issues))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::derived::test_support::ready;
    use axum::extract::{Path as UrlPath, Query};
    use axum::routing::get;
    use axum::{Json, Router};
    use pforge_budget::{Gateway, ProviderConfig, ProvidersConfig};
    use pforge_core::Domain;
    use serde_json::json;
    use std::collections::HashMap;

    fn providers() -> Vec<String> {
        vec!["github".into(), "homepage".into()]
    }

    fn build_err(text: &str, name: &str) -> DeclarativeError {
        match declarative_modules(text, name, &providers()) {
            Ok(m) => panic!("expected an error, built {} module(s)", m.len()),
            Err(e) => e,
        }
    }

    const GOOD: &str = r#"
[run]
concurrency = 4

[[declarative_modules]]
id = "x_org"
title = "Org"
provider = "github"
path = "/orgs/{m01_company_context./name}?domain={domain}&kind=org"
headers = { accept = "application/json" }
dependencies = ["m01_company_context"]

[[declarative_modules.fields]]
name = "repos"
select = "/public_repos"

[[declarative_modules.fields]]
name = "names"
select = "$.items[*].name"

[[declarative_modules.fields]]
name = "first"
select = "$.items[0]['name']"

[[declarative_modules.fields]]
name = "missing"
select = "/nope/0"
"#;

    #[test]
    fn selectors_extract_values() {
        let v = json!({"a": {"b": [10, 20]}, "items": [{"name": "x"}, {"name": "y"}, {"id": 3}], "o": {"k1": 1, "k2": 2}});
        let sel = |s: &str| Selector::parse(s).unwrap().select(&v);
        assert_eq!(sel("/a/b/1"), json!(20));
        assert_eq!(sel("/a/zz"), Value::Null);
        assert_eq!(sel("$.a.b[0]"), json!(10));
        assert_eq!(sel("$.items[*].name"), json!(["x", "y"]));
        assert_eq!(sel("$['items'][1][\"name\"]"), json!("y"));
        assert_eq!(sel("$.o.*"), json!([1, 2]));
        assert_eq!(sel("$.items[9].name"), Value::Null);
        assert_eq!(sel("$"), v);
        for bad in [
            "$..a",
            "$.a[",
            "$.a[?(@.x)]",
            "$.",
            "a.b",
            "/a/~2",
            "$.a['x",
        ] {
            assert!(Selector::parse(bad).is_err(), "{bad} should be rejected");
        }
        let e = Selector::parse("$.a[?(@.x)]").unwrap_err();
        assert!(e.contains("column 5"), "{e}");
    }

    #[test]
    fn builds_valid_modules() {
        let mods = declarative_modules(GOOD, "pforge.toml", &providers()).unwrap();
        assert_eq!(mods.len(), 1);
        let s = mods[0].spec();
        assert_eq!(s.id, "x_org");
        assert_eq!(s.dependencies, vec!["m01_company_context"]);
        assert_eq!(s.providers, vec!["github"]);
        assert!(
            declarative_modules("[run]\nconcurrency = 1\n", "c", &providers())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn validation_errors_point_at_config_lines() {
        let text = r#"# line 1
[[declarative_modules]]
id = "x_bad"
provider = "nosuch"
path = "/orgs/{m09_executives./name}/{oops"
method = "POST"
dependencies = ["m01_company_context"]

[[declarative_modules.fields]]
name = "a"
select = "$.a[?(@.b)]"

[[declarative_modules.fields]]
name = "a"
select = "/x"

[[declarative_modules.fields]]
name = "c"
select = "nope"

[[declarative_modules]]
id = "Bad-Id"
provider = "github"
path = "/x/{m01_company_context.name}"
dependencies = ["m01_company_context"]
"#;
        let err = build_err(text, "pforge.toml");
        let DeclarativeError::Invalid(issues) = &err else {
            panic!("{err:?}")
        };
        let find = |needle: &str| {
            issues
                .iter()
                .find(|i| i.message.contains(needle))
                .unwrap_or_else(|| panic!("no issue containing {needle:?} in {issues:#?}"))
        };
        assert_eq!(find("unknown provider \"nosuch\"").line, 4);
        assert!(find("unknown provider")
            .message
            .contains("configured: github, homepage"));
        let tpl = find("m09_executives");
        assert_eq!(tpl.line, 5);
        assert!(
            tpl.message.contains("not in `dependencies`"),
            "{}",
            tpl.message
        );
        assert_eq!(find("only GET").line, 6);
        assert_eq!(find("field \"a\": JSONPath").line, 11);
        assert_eq!(find("defined twice").line, 14);
        assert_eq!(find("neither a JSON Pointer").line, 19);
        let id = find("lower-case");
        assert_eq!((id.line, id.module.as_str()), (22, "Bad-Id"));
        assert_eq!(find("is not a JSON Pointer").line, 24);
        let shown = err.to_string();
        assert!(
            shown.contains("pforge.toml:4: [[declarative_modules]] x_bad: unknown provider"),
            "{shown}"
        );

        let unclosed = GOOD.replace("{domain}&kind", "{domain&kind");
        let e = build_err(&unclosed, "c.toml").to_string();
        assert!(e.contains("c.toml:9:") && e.contains("never closed"), "{e}");

        let typo = GOOD.replace("select = \"/public_repos\"", "selct = \"/public_repos\"");
        let e = build_err(&typo, "c.toml");
        assert!(matches!(e, DeclarativeError::Syntax { .. }));
        let e = e.to_string();
        assert!(e.contains("line 15") && e.contains("selct"), "{e}");

        let nofields =
            "[[declarative_modules]]\nid = \"x\"\nprovider = \"github\"\npath = \"/a\"\n";
        let e = build_err(nofields, "c").to_string();
        assert!(
            e.contains("c:1:") && e.contains("no [[declarative_modules.fields]]"),
            "{e}"
        );
    }

    async fn org(
        UrlPath(name): UrlPath<String>,
        Query(q): Query<HashMap<String, String>>,
    ) -> Json<Value> {
        Json(json!({
            "login": name,
            "public_repos": 42,
            "domain_seen": q.get("domain"),
            "items": [{"name": "alpha"}, {"name": "beta"}]
        }))
    }

    #[tokio::test]
    async fn fetches_over_http_and_cites_the_url() {
        let app = Router::new().route("/orgs/{name}", get(org));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let mut p = ProvidersConfig::new();
        p.insert(
            "github".into(),
            ProviderConfig::new(format!("http://{addr}")),
        );
        let gw = Gateway::new(p).unwrap();

        let text = GOOD.replace(
            "name = \"missing\"",
            "name = \"domain_seen\"\nselect = \"/domain_seen\"\n\n[[declarative_modules.fields]]\nname = \"missing\"",
        );
        let mods = declarative_modules(&text, "pforge.toml", &providers()).unwrap();
        let m01 = ready(json!({"name": "Acme Corp/../x"}), "https://acme.com/");
        let ctx = ModuleContext::new(
            Domain::parse("acme.com").unwrap(),
            gw.clone(),
            [("m01_company_context".to_string(), m01)]
                .into_iter()
                .collect(),
        );
        let out = mods[0].run(&ctx).await.unwrap();
        out.check_cited().unwrap();
        assert_eq!(out.data["repos"], 42);
        assert_eq!(out.data["names"], json!(["alpha", "beta"]));
        assert_eq!(out.data["first"], "alpha");
        assert_eq!(out.data["missing"], Value::Null);
        assert_eq!(out.data["domain_seen"], "acme.com");
        let src = &out.sources[0].source;
        assert!(
            src.contains("/orgs/Acme%20Corp%2F..%2Fx?"),
            "value is one encoded segment: {src}"
        );
        assert!(
            src.contains("domain=acme.com") && src.contains("kind=org"),
            "{src}"
        );

        // A placeholder whose value is missing fails the run with a clear message.
        let m01 = ready(json!({"name": null}), "https://acme.com/");
        let ctx = ModuleContext::new(
            Domain::parse("acme.com").unwrap(),
            gw,
            [("m01_company_context".to_string(), m01)]
                .into_iter()
                .collect(),
        );
        let e = mods[0].run(&ctx).await.unwrap_err().to_string();
        assert!(
            e.contains("{m01_company_context./name}") && e.contains("no usable value"),
            "{e}"
        );
    }
}
