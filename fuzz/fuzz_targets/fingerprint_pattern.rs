//! Wappalyzer patterns from an untrusted fingerprint file: compiling any pattern text (regex,
//! `\;version:` and `\;confidence:` tags) and matching it against a page never panics or hangs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pforge_modules::fingerprints::{FingerprintDb, Observation};
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // First line: the pattern; the rest: the page it is matched against.
    let (pattern, page) = text.split_once('\n').unwrap_or((&text, "<html>x</html>"));
    let techs = json!({
        "Fuzz": {
            "cats": [1],
            "html": pattern,
            "headers": { "server": pattern },
            "meta": { "generator": pattern },
            "scriptSrc": [pattern],
            "url": pattern,
            "implies": "Fuzz2\\;confidence:50"
        },
        "Fuzz2": { "cats": [1], "cookies": { "sess": pattern } }
    });
    let db = FingerprintDb::from_values(&techs, None);
    let headers = vec![
        ("server".to_string(), page.chars().take(200).collect::<String>()),
        ("set-cookie".to_string(), format!("sess={}", page.chars().take(50).collect::<String>())),
    ];
    let obs = Observation::from_page("https://fuzz.example/", &headers, page);
    let _ = db.detect(&obs);
});
