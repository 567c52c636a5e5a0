//! Static assets embedded in the binary: the stylesheet, the small script (jump bar, live job
//! progress), and one pinned htmx release. Pages link them with a content hash in the query
//! string, so they can be cached for a year and still change with every build that edits them.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// htmx 2.0.4 (`dist/htmx.min.js` of the npm package `htmx.org@2.0.4`).
const HTMX: &[u8] = include_bytes!("../assets/htmx.min.js");
/// The SHA-256 the vendored htmx file must have (checked by a test, so a changed file is noticed).
pub const HTMX_SHA256: &str = "e209dda5c8235479f3166defc7750e1dbcd5a5c1808b7792fc2e6733768fb447";
const STYLE: &[u8] = include_bytes!("../assets/style.css");
const SCRIPT: &[u8] = include_bytes!("../assets/app.js");

/// Every asset: name, bytes, content type.
const ASSETS: [(&str, &[u8], &str); 3] = [
    ("htmx.min.js", HTMX, "text/javascript; charset=utf-8"),
    ("style.css", STYLE, "text/css; charset=utf-8"),
    ("app.js", SCRIPT, "text/javascript; charset=utf-8"),
];

/// The hex SHA-256 of an embedded asset (`None` for an unknown name).
pub fn asset_sha256(name: &str) -> Option<String> {
    let (_, bytes, _) = ASSETS.iter().find(|(n, _, _)| *n == name)?;
    Some(hex(&Sha256::digest(bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `/assets/NAME?v=HASH` for the layout: the hash changes whenever the file does.
pub(crate) fn url(name: &'static str) -> &'static str {
    static URLS: OnceLock<Vec<(&'static str, String)>> = OnceLock::new();
    let urls = URLS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|(n, _, _)| {
                let v = asset_sha256(n).unwrap_or_default();
                (*n, format!("/assets/{n}?v={}", &v[..12.min(v.len())]))
            })
            .collect()
    });
    urls.iter()
        .find(|(n, _)| *n == name)
        .map(|(_, u)| u.as_str())
        .unwrap_or("/assets/missing")
}

/// `GET /assets/{name}`: the embedded file, cacheable for a year (URLs carry the hash).
pub(crate) async fn serve(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, bytes, kind)) => (
            [
                (header::CONTENT_TYPE, *kind),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendored_htmx_is_the_pinned_release() {
        assert_eq!(asset_sha256("htmx.min.js").as_deref(), Some(HTMX_SHA256));
        assert!(std::str::from_utf8(HTMX).unwrap().contains("2.0.4"));
    }

    #[test]
    fn asset_urls_carry_a_content_hash() {
        let u = url("style.css");
        assert!(u.starts_with("/assets/style.css?v="), "{u}");
        assert_eq!(u.len(), "/assets/style.css?v=".len() + 12);
    }
}
