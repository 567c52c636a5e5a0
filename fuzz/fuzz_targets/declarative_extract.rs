//! Declarative-module extraction: any `select` expression (JSON Pointer or JSONPath) applied to
//! any JSON document yields a value or a parse error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pforge_modules::declarative::Selector;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (select, doc) = text.split_once('\n').unwrap_or((&text, "{}"));
    let Ok(sel) = Selector::parse(select) else {
        return;
    };
    let doc: serde_json::Value = serde_json::from_str(doc).unwrap_or_else(|_| {
        serde_json::json!({"a": [{"b": 1}, {"b": [2, 3]}], "": {"~": null}, "items": [{"name": "x"}]})
    });
    let _ = sel.select(&doc);
});
