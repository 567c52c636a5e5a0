//! Glob matching over JSON Pointers and module ids, small enough not to need a crate: rules in
//! config name paths like `/technologies/*` or `/executives/*/title`, and modules like `m0*`.

/// Splits a JSON Pointer into its (still escaped) segments; `""` is the root and has none.
pub(crate) fn segments(pointer: &str) -> Vec<&str> {
    if pointer.is_empty() {
        Vec::new()
    } else {
        pointer
            .strip_prefix('/')
            .unwrap_or(pointer)
            .split('/')
            .collect()
    }
}

/// Whether `pointer` matches `pattern`. Segments are compared escaped (`~1` for `/`). A pattern
/// segment may hold `*` wildcards that match within one segment; a segment that is exactly `**`
/// matches any number of segments (zero included).
pub fn pointer_matches(pattern: &str, pointer: &str) -> bool {
    segments_match(&segments(pattern), &segments(pointer))
}

/// Segment-list form of [`pointer_matches`].
pub(crate) fn segments_match(pattern: &[&str], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((&"**", rest)) => (0..=path.len()).any(|skip| segments_match(rest, &path[skip..])),
        Some((head, rest)) => match path.split_first() {
            Some((seg, path_rest)) => glob_matches(head, seg) && segments_match(rest, path_rest),
            None => false,
        },
    }
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters (none included).
/// Used for single segments and module ids.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Classic iterative wildcard match with backtracking to the last star.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Escapes one JSON Pointer token (RFC 6901).
pub(crate) fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Inverse of [`escape`].
pub(crate) fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_within_a_segment() {
        assert!(glob_matches("m0*", "m02_tech_stack"));
        assert!(glob_matches("*", ""));
        assert!(glob_matches("*_stack", "m02_tech_stack"));
        assert!(!glob_matches("m1*", "m02_tech_stack"));
        assert!(glob_matches("a*b*c", "aXXbYYc"));
        assert!(!glob_matches("a*b*c", "aXXbYY"));
    }

    #[test]
    fn pointer_patterns_match_by_segment() {
        assert!(pointer_matches("/technologies/*", "/technologies/Algolia"));
        assert!(!pointer_matches(
            "/technologies/*",
            "/technologies/Algolia/version"
        ));
        assert!(pointer_matches(
            "/technologies/**",
            "/technologies/Algolia/version"
        ));
        assert!(pointer_matches("/technologies/**", "/technologies"));
        assert!(pointer_matches("/**", ""));
        assert!(pointer_matches("", ""));
        assert!(!pointer_matches("", "/a"));
        assert!(pointer_matches(
            "/executives/*/title",
            "/executives/Jane Doe/title"
        ));
        assert!(pointer_matches("/a~1b", "/a~1b"));
        assert!(!pointer_matches("/revenue", "/revenue_growth"));
    }
}
