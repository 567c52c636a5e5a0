//! The company's own site as a source: pages fetched through the homepage provider, the links
//! on them resolved against the site's public URL, and the ranking of candidate pages (about,
//! team, leadership, company) that crawlers try first. Shared by M06, M07 and M09.

use pforge_budget::{Call, GatewayError, Response};
use pforge_core::ModuleContext;
use scraper::{Html, Selector};
use url::Url;

/// A link found on a page: absolute URL (resolved against the site's public URL) and its text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PageLink {
    pub url: Url,
    pub text: String,
}

/// Every `a[href]`, `script[src]` and `iframe[src]` of a page, resolved against `base` (the
/// site's public URL for that page, never the fixture server's). Unparseable hrefs are skipped.
pub(crate) fn page_links(html: &str, base: &Url) -> Vec<PageLink> {
    let doc = Html::parse_document(html);
    let mut out = Vec::new();
    for (css, attr) in [
        ("a[href]", "href"),
        ("script[src]", "src"),
        ("iframe[src]", "src"),
    ] {
        let Ok(sel) = Selector::parse(css) else {
            continue;
        };
        for el in doc.select(&sel) {
            let Some(raw) = el.value().attr(attr) else {
                continue;
            };
            let raw = raw.trim();
            if raw.is_empty() || raw.starts_with('#') || raw.starts_with("mailto:") {
                continue;
            }
            if let Ok(url) = base.join(raw) {
                let text = el.text().collect::<Vec<_>>().join(" ");
                out.push(PageLink {
                    url,
                    text: text.split_whitespace().collect::<Vec<_>>().join(" "),
                });
            }
        }
    }
    out
}

/// The public URL of `path` on the domain's site (`https://{domain}{path}`).
pub(crate) fn site_url(domain: &str, path: &str) -> Option<Url> {
    Url::parse(&format!("https://{domain}/"))
        .ok()?
        .join(path)
        .ok()
}

/// The homepage-provider path (`/careers?x=1`) of a URL on the company's own site (the domain
/// or `www.` + domain, or under the homepage provider's configured base URL), if it is one.
pub(crate) fn same_site_path(ctx: &ModuleContext, url: &str) -> Option<String> {
    let domain = ctx.domain.as_str();
    if let Ok(base) = ctx
        .gateway
        .url_for(&Call::get("homepage", "").for_domain(domain))
    {
        let b = base.as_str().trim_end_matches('/');
        if let Some(rest) = url.strip_prefix(b) {
            if rest.starts_with('/') {
                return Some(rest.to_string());
            }
        }
    }
    let u = Url::parse(url).ok()?;
    let host = u.host_str()?.to_ascii_lowercase();
    if host != domain && host.strip_prefix("www.") != Some(domain) {
        return None;
    }
    let mut p = u.path().to_string();
    if let Some(q) = u.query() {
        p.push('?');
        p.push_str(q);
    }
    Some(p)
}

/// Same-site path of a link, or None for links to other sites.
pub(crate) fn link_path(domain: &str, link: &Url) -> Option<String> {
    let host = link.host_str()?.to_ascii_lowercase();
    if host != domain && host.strip_prefix("www.") != Some(domain) {
        return None;
    }
    Some(link.path().to_string())
}

/// A page fetched from the company's own site through the homepage provider.
pub(crate) async fn fetch_site_page(
    ctx: &ModuleContext,
    module: &str,
    path: &str,
) -> Result<Response, (GatewayError, Call)> {
    let call = Call::get("homepage", path)
        .for_domain(ctx.domain.as_str())
        .by_module(module);
    ctx.gateway.fetch(&call).await.map_err(|e| (e, call))
}

/// Page names that hold a company's leadership, best first.
pub(crate) const LEADERSHIP_PAGES: &[&str] = &[
    "about",
    "about-us",
    "team",
    "our-team",
    "leadership",
    "management",
    "company",
    "people",
];

/// How promising a same-site path is as a leadership page, as (class, preference), lower is
/// better: class 0 is a top-level about/team/leadership/company page, class 1 such a page one
/// level down (`/about/team`), class 2 anything deeper that merely contains such a segment
/// (`/products/team/`, often a product page). `None` for paths with no such segment.
pub(crate) fn leadership_rank(path: &str) -> Option<(usize, usize)> {
    let lower = path.to_ascii_lowercase();
    let segs: Vec<&str> = lower.split('/').filter(|s| !s.is_empty()).collect();
    let pos = |s: &str| LEADERSHIP_PAGES.iter().position(|p| *p == s);
    match segs.as_slice() {
        [one] => pos(one).map(|p| (0, p)),
        [first, second] if pos(first).is_some() => pos(second).or(pos(first)).map(|p| (1, p)),
        _ => segs.iter().rev().find_map(|s| pos(s)).map(|p| (2, p)),
    }
}

/// The candidate pages to try, best first: linked paths and the well-known `defaults` ranked
/// together by [`leadership_rank`]'s class, a linked page before a default of the same class
/// (the site itself pointed at it), each path once (trailing slashes ignored). So `/about` and
/// `/team` are tried before a deep link such as `/products/team/`.
pub(crate) fn rank_leadership_pages(linked: &[String], defaults: &[&str]) -> Vec<String> {
    let mut all: Vec<((usize, bool, usize, usize), String)> = Vec::new();
    let norm = |p: &str| p.trim_end_matches('/').to_ascii_lowercase();
    let candidates = linked
        .iter()
        .map(|p| (p.as_str(), false))
        .chain(defaults.iter().map(|p| (*p, true)));
    for (i, (p, is_default)) in candidates.enumerate() {
        let Some((class, pref)) = leadership_rank(p) else {
            continue;
        };
        if all.iter().any(|(_, q)| norm(q) == norm(p)) {
            continue;
        }
        all.push(((class, is_default, pref, i), p.to_string()));
    }
    all.sort();
    all.into_iter().map(|(_, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn about_and_team_pages_come_before_deep_links() {
        let linked = vec![
            "/products/team/".to_string(),
            "/blog/2024/meet-the-team".to_string(),
            "/company".to_string(),
        ];
        let ranked = rank_leadership_pages(&linked, &["/about", "/team", "/company"]);
        assert_eq!(
            ranked,
            vec!["/company", "/about", "/team", "/products/team/"]
        );
        let ranked = rank_leadership_pages(&["/about/leadership".to_string()], &["/about"]);
        assert_eq!(ranked, vec!["/about", "/about/leadership"]);
        assert_eq!(leadership_rank("/pricing"), None);
    }

    proptest! {
        #[test]
        fn ranking_keeps_each_candidate_once(paths in prop::collection::vec("(/[a-z]{1,8}){1,3}/?", 0..12)) {
            let ranked = rank_leadership_pages(&paths, &["/about", "/team"]);
            let mut seen = std::collections::HashSet::new();
            for p in &ranked {
                prop_assert!(seen.insert(p.trim_end_matches('/').to_string()));
                prop_assert!(leadership_rank(p).is_some());
            }
            prop_assert!(ranked.iter().any(|p| p == "/about"));
        }
    }
}
