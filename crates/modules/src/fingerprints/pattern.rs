//! One Wappalyzer pattern: a JavaScript regular expression plus `\;version:` and
//! `\;confidence:` tags, compiled for Rust.

use std::borrow::Cow;

/// Longest text kept as evidence of a match, so evidence stays readable in citations.
pub(crate) const SNIPPET_MAX: usize = 160;

/// Compiled regex: the linear-time `regex` engine when it accepts the pattern, `fancy-regex`
/// (backtracking) for the lookarounds and backreferences it does not.
#[derive(Debug)]
pub(crate) enum Matcher {
    Fast(regex::Regex),
    Fancy(Box<fancy_regex::Regex>),
}

/// A parsed, compiled pattern.
#[derive(Debug)]
pub(crate) struct Pattern {
    /// The pattern as written in the database (tags included), for evidence and reports.
    pub source: String,
    pub matcher: Matcher,
    /// Version template (`\1`, `\1?a:b`), if tagged.
    pub version: Option<String>,
    pub confidence: u8,
    /// True for the empty pattern: "present at all" is the evidence.
    pub presence: bool,
}

/// A successful match: the matched text and the version resolved from it.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub snippet: String,
    pub version: Option<String>,
}

impl Pattern {
    /// Parses and compiles `raw`; the error is the compiler's message for the compile report.
    pub fn compile(raw: &str) -> Result<Pattern, String> {
        let mut parts = raw.split("\\;");
        let body = parts.next().unwrap_or("");
        let mut version = None;
        let mut confidence: u8 = 100;
        for tag in parts {
            if let Some((k, v)) = tag.split_once(':') {
                match k.trim() {
                    "version" => version = Some(v.to_string()),
                    "confidence" => {
                        confidence = v
                            .trim()
                            .parse::<u32>()
                            .map(|c| c.min(100) as u8)
                            .unwrap_or(100)
                    }
                    _ => {}
                }
            }
        }
        let translated = js_to_rust(body);
        let matcher = match regex::RegexBuilder::new(&translated)
            .case_insensitive(true)
            .size_limit(4 * 1024 * 1024)
            .build()
        {
            Ok(r) => Matcher::Fast(r),
            Err(fast_err) => match fancy_regex::RegexBuilder::new(&format!("(?i){translated}"))
                .backtrack_limit(200_000)
                .build()
            {
                Ok(r) => Matcher::Fancy(Box::new(r)),
                Err(e) => {
                    let fast = fast_err.to_string();
                    let first = fast.lines().last().unwrap_or("").trim().to_string();
                    return Err(format!("{e}; regex: {first}"));
                }
            },
        };
        Ok(Pattern {
            source: raw.to_string(),
            matcher,
            version,
            confidence,
            presence: body.is_empty(),
        })
    }

    /// Matches `text`, returning the evidence snippet and resolved version.
    pub fn find(&self, text: &str) -> Option<Hit> {
        if self.presence {
            return Some(Hit {
                snippet: truncate(text),
                version: self
                    .version
                    .as_deref()
                    .and_then(|t| resolve_version(t, &[])),
            });
        }
        let groups: Vec<Option<String>> = match &self.matcher {
            Matcher::Fast(r) => {
                if self.version.is_none() {
                    let m = r.find(text)?;
                    vec![Some(m.as_str().to_string())]
                } else {
                    let c = r.captures(text)?;
                    c.iter()
                        .map(|g| g.map(|m| m.as_str().to_string()))
                        .collect()
                }
            }
            // A backtracking limit hit is treated as "no match": one bad pattern must not
            // stall or fail a whole page.
            Matcher::Fancy(r) => {
                let c = r.captures(text).ok()??;
                c.iter()
                    .map(|g| g.map(|m| m.as_str().to_string()))
                    .collect()
            }
        };
        let whole = groups.first().cloned().flatten().unwrap_or_default();
        let snippet = if whole.is_empty() {
            truncate(text)
        } else {
            truncate(&whole)
        };
        let version = self
            .version
            .as_deref()
            .and_then(|t| resolve_version(t, &groups));
        Some(Hit { snippet, version })
    }
}

/// Cuts evidence to [`SNIPPET_MAX`] characters on a char boundary.
pub(crate) fn truncate(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(SNIPPET_MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Rewrites JavaScript regex syntax the Rust engines read differently: a `{` that does not start
/// a quantifier is a literal in JavaScript but an error in Rust, and `[`, `&&`, `~~` inside a
/// class are literals in JavaScript but nesting and set operators in Rust.
fn js_to_rust(p: &str) -> Cow<'_, str> {
    if !p.contains(['{', '}', '[']) {
        return Cow::Borrowed(p);
    }
    let chars: Vec<char> = p.chars().collect();
    let mut out = String::with_capacity(p.len() + 8);
    let mut i = 0;
    let mut in_class = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            out.push(c);
            if let Some(n) = chars.get(i + 1) {
                out.push(*n);
            }
            i += 2;
            continue;
        }
        // `[\w-.]`: JavaScript reads a `-` next to a class shorthand as a literal.
        if in_class && c == '-' {
            let after_shorthand = i >= 2 && chars[i - 2] == '\\' && is_shorthand(chars[i - 1]);
            let before_shorthand = chars.get(i + 1) == Some(&'\\')
                && chars.get(i + 2).is_some_and(|n| is_shorthand(*n));
            if after_shorthand || before_shorthand {
                out.push_str("\\-");
                i += 1;
                continue;
            }
        }
        if in_class {
            match c {
                ']' => {
                    in_class = false;
                    out.push(c);
                }
                // Nested classes and set operators exist in Rust, not in JavaScript.
                '[' | '&' | '~' => {
                    out.push('\\');
                    out.push(c);
                }
                _ => out.push(c),
            }
        } else if c == '[' {
            in_class = true;
            out.push(c);
        } else if c == '{' && is_quantifier(&chars[i..]) {
            // Copy the quantifier through its closing brace.
            while i < chars.len() && chars[i] != '}' {
                out.push(chars[i]);
                i += 1;
            }
            out.push('}');
        } else if c == '{' || c == '}' {
            out.push('\\');
            out.push(c);
        } else {
            out.push(c);
        }
        i += 1;
    }
    Cow::Owned(out)
}

/// Class shorthands (`\\w`, `\\d`, `\\s` and negations) that cannot bound a range.
fn is_shorthand(c: char) -> bool {
    matches!(c, 'w' | 'W' | 'd' | 'D' | 's' | 'S')
}

/// Whether `s` (starting at `{`) is `{n}`, `{n,}` or `{n,m}`.
fn is_quantifier(s: &[char]) -> bool {
    let mut i = 1;
    let mut digits = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    if digits == 0 {
        return false;
    }
    if i < s.len() && s[i] == ',' {
        i += 1;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
        }
    }
    i < s.len() && s[i] == '}'
}

/// Resolves a version template against capture groups (index 0 = whole match), following
/// Wappalyzer: `\N?a:b` yields `a` if group N matched something, else `b`; `\N` is replaced by
/// group N. Returns `None` for an empty result.
pub(crate) fn resolve_version(template: &str, groups: &[Option<String>]) -> Option<String> {
    let mut resolved = template.to_string();
    // Highest index first so `\1` never eats the start of `\10`.
    for idx in (0..groups.len().max(1)).rev() {
        let g = groups.get(idx).cloned().flatten().unwrap_or_default();
        let token = format!("\\{idx}");
        if let Some(pos) = resolved.find(&format!("{token}?")) {
            let rest = &resolved[pos + token.len() + 1..];
            if let Some((yes, no)) = rest.split_once(':') {
                let choice = if g.is_empty() { no } else { yes };
                resolved = format!("{}{}", &resolved[..pos], choice);
            }
        }
        resolved = resolved.replace(&token, &g);
    }
    // Any group the pattern did not have resolves to nothing.
    let mut cleaned = String::new();
    let mut chars = resolved.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek().is_some_and(|n| n.is_ascii_digit()) {
            while chars.peek().is_some_and(|n| n.is_ascii_digit()) {
                chars.next();
            }
            continue;
        }
        cleaned.push(c);
    }
    let v = cleaned.trim();
    if v.is_empty() || v.len() > 40 {
        None
    } else {
        Some(v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_parsed() {
        let p = Pattern::compile(
            "munchkin\\.marketo\\.\\w+/(?:([\\d.]+)/)?munchkin\\.js\\;version:\\1\\;confidence:50",
        )
        .unwrap();
        assert_eq!(p.confidence, 50);
        let hit = p.find("//munchkin.marketo.net/159/munchkin.js").unwrap();
        assert_eq!(hit.version.as_deref(), Some("159"));
        assert_eq!(hit.snippet, "munchkin.marketo.net/159/munchkin.js");
        let hit = p.find("//MUNCHKIN.marketo.net/munchkin.js").unwrap();
        assert_eq!(hit.version, None);
    }

    #[test]
    fn ternary_versions() {
        let p = Pattern::compile("gtag\\([^)]+'(G-)\\;version:\\1?GA4:").unwrap();
        assert_eq!(
            p.find("gtag('config', 'G-ABC')")
                .unwrap()
                .version
                .as_deref(),
            Some("GA4")
        );
        let p = Pattern::compile(
            "skin/frontend/(?:default|(enterprise))\\;version:\\1?1 (Enterprise):1 (Community)",
        )
        .unwrap();
        assert_eq!(
            p.find("/skin/frontend/enterprise/x.js")
                .unwrap()
                .version
                .as_deref(),
            Some("1 (Enterprise)")
        );
        assert_eq!(
            p.find("/skin/frontend/default/x.js")
                .unwrap()
                .version
                .as_deref(),
            Some("1 (Community)")
        );
    }

    #[test]
    fn lookarounds_fall_back_to_fancy_regex() {
        let p = Pattern::compile("/sites/(?!.*(default|all)).*/(?:files|themes|modules)/").unwrap();
        assert!(matches!(p.matcher, Matcher::Fancy(_)));
        assert!(p.find("/sites/example.com/files/x.js").is_some());
        assert!(p.find("/sites/default/files/x.js").is_none());
    }

    #[test]
    fn literal_braces_are_escaped() {
        let p = Pattern::compile("function\\(\\){var a{1,2}").unwrap();
        assert!(p.find("function(){var aa").is_some());
        assert!(Pattern::compile("(unclosed").is_err());
        let p = Pattern::compile("images/[\\w-.]+\\.png").unwrap();
        assert!(p.find("images/a-b.c.png").is_some());
    }

    #[test]
    fn empty_pattern_means_presence() {
        let p = Pattern::compile("\\;version:GA4").unwrap();
        let hit = p.find("GA1.1.123").unwrap();
        assert_eq!(hit.version.as_deref(), Some("GA4"));
        assert_eq!(hit.snippet, "GA1.1.123");
    }

    #[test]
    fn long_snippets_are_truncated() {
        let s = "x".repeat(500);
        assert_eq!(truncate(&s).chars().count(), SNIPPET_MAX + 1);
    }
}
