//! Building an [`Observation`] from a fetched page: headers (every `set-cookie` included),
//! `<meta>` tags, script sources and inline scripts, parsed with `scraper`.

use super::{cut, Observation, HTML_MATCH_LIMIT};
use scraper::{Html, Selector};

impl Observation {
    /// Observation of a page from its URL, response headers and HTML. Header names may be in any
    /// case; cookies come from every `set-cookie` header.
    pub fn from_page(url: &str, headers: &[(String, String)], html: &str) -> Observation {
        let mut obs = Observation {
            url: Some(url.to_string()),
            ..Observation::default()
        };
        for (k, v) in headers {
            let name = k.to_ascii_lowercase();
            if name == "set-cookie" {
                if let Some((cname, cval)) = parse_set_cookie(v) {
                    obs.cookies.insert(cname, cval);
                }
            }
            obs.headers.entry(name).or_default().push(v.clone());
        }
        let base = url::Url::parse(url).ok();
        let html = cut(html, HTML_MATCH_LIMIT);
        obs.html = html.to_string();
        let doc = Html::parse_document(html);
        if let Ok(sel) = Selector::parse("meta") {
            for el in doc.select(&sel) {
                let v = el.value();
                let key = v
                    .attr("name")
                    .or_else(|| v.attr("property"))
                    .or_else(|| v.attr("http-equiv"));
                if let (Some(k), Some(content)) = (key, v.attr("content")) {
                    obs.meta
                        .entry(k.trim().to_ascii_lowercase())
                        .or_default()
                        .push(content.to_string());
                }
            }
        }
        if let Ok(sel) = Selector::parse("script") {
            for el in doc.select(&sel) {
                match el.value().attr("src") {
                    Some(src) if !src.trim().is_empty() => {
                        let src = src.trim();
                        let resolved = base
                            .as_ref()
                            .and_then(|b| b.join(src).ok())
                            .map(|u| u.to_string())
                            .unwrap_or_else(|| src.to_string());
                        obs.script_srcs.push(resolved)
                    }
                    Some(_) => {}
                    None => {
                        let text: String = el.text().collect();
                        if !text.trim().is_empty() {
                            obs.scripts.push(text);
                        }
                    }
                }
            }
        }
        obs
    }

    /// Adds DNS records of a type (`MX`, `TXT`, ...) to the observation.
    pub fn add_dns(&mut self, rtype: &str, records: impl IntoIterator<Item = String>) {
        self.dns
            .entry(rtype.to_ascii_uppercase())
            .or_default()
            .extend(records);
    }
}

/// `name=value; Path=/; ...` -> (name, value). Returns `None` for a line without a name.
fn parse_set_cookie(line: &str) -> Option<(String, String)> {
    let first = line.split(';').next()?.trim();
    let (name, value) = match first.split_once('=') {
        Some((n, v)) => (n.trim(), v.trim()),
        None => (first, ""),
    };
    if name.is_empty() {
        return None;
    }
    Some((name.to_string(), value.trim_matches('"').to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_is_split_into_fields() {
        let headers = vec![
            ("Server".to_string(), "cloudflare".to_string()),
            ("Set-Cookie".to_string(), "_ga=GA1.1.1; Path=/".to_string()),
            (
                "set-cookie".to_string(),
                "__cf_bm=xyz; HttpOnly".to_string(),
            ),
        ];
        let html = r#"<html><head><meta name="Generator" content="WordPress 6.4">
            <meta property="og:type" content="website">
            <script src=" https://www.googletagmanager.com/gtag/js?id=G-1 "></script>
            <script>window.dataLayer = [];</script><script src=""></script></head></html>"#;
        let obs = Observation::from_page("https://example.com/", &headers, html);
        assert_eq!(obs.headers["server"], vec!["cloudflare"]);
        assert_eq!(obs.cookies["_ga"], "GA1.1.1");
        assert_eq!(obs.cookies["__cf_bm"], "xyz");
        assert_eq!(obs.headers["set-cookie"].len(), 2);
        assert_eq!(obs.meta["generator"], vec!["WordPress 6.4"]);
        assert_eq!(obs.meta["og:type"], vec!["website"]);
        assert_eq!(
            obs.script_srcs,
            vec!["https://www.googletagmanager.com/gtag/js?id=G-1"]
        );
        assert_eq!(obs.scripts, vec!["window.dataLayer = [];"]);
        assert_eq!(parse_set_cookie("; x"), None);
    }
}
