//! `Domain::parse` on arbitrary bytes: never panics, and what it accepts is a normalized,
//! bounded, lower-case ASCII name that parses to itself again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pforge_core::Domain;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    match Domain::parse(&input) {
        Ok(d) => {
            let s = d.as_str();
            assert!(!s.is_empty() && s.len() <= 253, "length {}", s.len());
            assert!(
                s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'),
                "not normalized: {s:?}"
            );
            let again = Domain::parse(s).expect("a parsed domain parses again");
            assert_eq!(again.as_str(), s, "parse is not idempotent");
        }
        Err(e) => {
            // The message is one bounded line.
            let msg = e.to_string();
            assert!(!msg.contains('\n'), "multi-line error: {msg:?}");
            assert!(msg.chars().count() < 2_000, "error too long");
        }
    }
});
