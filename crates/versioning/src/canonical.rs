//! Canonical form of module outputs: object keys ordered (serde_json's map is a BTreeMap) and
//! set-like arrays sorted by a stable key, so that an unchanged fact never looks changed.
//! Modules declare their set arrays (`ModuleSpec::set_arrays`).

pub use pforge_core::SetArray;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Returns the canonical form of `value` given the module's set arrays: object keys in order
/// and every declared set array sorted (and de-duplicated). Idempotent, and insensitive to the
/// order of set elements at any depth.
pub fn canonicalize(value: &Value, sets: &[SetArray]) -> Value {
    let mut v = sort_keys(value);
    // Deepest sets first: an outer set's sort key includes its elements' text, which must
    // already be canonical (nested sets sorted) for the order to be stable.
    let mut ordered: Vec<(Vec<&str>, &SetArray)> = sets
        .iter()
        .map(|set| {
            let segments: Vec<&str> = set
                .pointer
                .split('/')
                .skip(1)
                .filter(|s| !s.is_empty())
                .collect();
            (segments, set)
        })
        .collect();
    ordered.sort_by_key(|(segments, _)| std::cmp::Reverse(segments.len()));
    for (segments, set) in ordered {
        sort_at(&mut v, &segments, set.key.as_deref());
    }
    v
}

/// Translates a JSON Pointer into `original` to the same value's pointer in its canonical form
/// (`canonical = canonicalize(original, sets)`): an index into a set array is replaced by the
/// index its element moved to. Citations point into module data by index, so they must follow
/// their element when canonicalization reorders a set. A pointer that cannot be followed is
/// returned unchanged.
pub fn remap_pointer(
    original: &Value,
    canonical: &Value,
    sets: &[SetArray],
    pointer: &str,
) -> String {
    if pointer.is_empty() || !pointer.starts_with('/') {
        return pointer.to_string();
    }
    let set_paths: Vec<(Vec<&str>, Option<&str>)> = sets
        .iter()
        .map(|s| {
            (
                s.pointer
                    .split('/')
                    .skip(1)
                    .filter(|x| !x.is_empty())
                    .collect(),
                s.key.as_deref(),
            )
        })
        .collect();
    let mut path: Vec<String> = Vec::new();
    let mut out = String::new();
    let (mut orig, mut canon) = (Some(original), Some(canonical));
    for raw in pointer.split('/').skip(1) {
        let mut segment = raw.to_string();
        if let (Some(Value::Array(o)), Some(Value::Array(c)), Ok(i)) =
            (orig, canon, raw.parse::<usize>())
        {
            let set = set_paths.iter().find(|(segs, _)| {
                segs.len() == path.len()
                    && segs
                        .iter()
                        .zip(&path)
                        .all(|(s, p)| *s == "*" || *s == p.as_str())
            });
            if let (Some((_, key)), Some(element)) = (set, o.get(i)) {
                let identity = |v: &Value| match key {
                    Some(k) => v.get(*k).cloned(),
                    None => Some(v.clone()),
                };
                let wanted = identity(element);
                if let Some(j) = c
                    .iter()
                    .position(|e| wanted.is_some() && identity(e) == wanted)
                {
                    segment = j.to_string();
                }
            }
        }
        let unescaped = unescape(raw);
        orig = orig.and_then(|v| step(v, &unescaped));
        canon = canon.and_then(|v| step(v, &unescape(&segment)));
        path.push(unescaped);
        out.push('/');
        out.push_str(&segment);
    }
    out
}

fn step<'a>(v: &'a Value, segment: &str) -> Option<&'a Value> {
    match v {
        Value::Object(m) => m.get(segment),
        Value::Array(a) => segment.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    }
}

/// Rebuilds objects with keys in order, whatever map type serde_json was built with (with the
/// `preserve_order` feature a map keeps insertion order, which would make hashes unstable).
fn sort_keys(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sort_keys(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sort_keys).collect()),
        other => other.clone(),
    }
}

fn sort_at(v: &mut Value, segments: &[&str], key: Option<&str>) {
    match segments.split_first() {
        None => {
            if let Value::Array(items) = v {
                items.sort_by_cached_key(|item| sort_key(item, key));
                items.dedup();
            }
        }
        Some((head, rest)) => match v {
            Value::Object(map) => {
                if *head == "*" {
                    for child in map.values_mut() {
                        sort_at(child, rest, key);
                    }
                } else if let Some(child) = map.get_mut(&unescape(head)) {
                    sort_at(child, rest, key);
                }
            }
            Value::Array(items) => {
                if *head == "*" {
                    for child in items.iter_mut() {
                        sort_at(child, rest, key);
                    }
                } else if let Some(child) =
                    head.parse::<usize>().ok().and_then(|i| items.get_mut(i))
                {
                    sort_at(child, rest, key);
                }
            }
            _ => {}
        },
    }
}

fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

/// Sort key: the identifying field (as canonical text), then the whole element to break ties.
fn sort_key(item: &Value, key: Option<&str>) -> (String, String) {
    let id = match key {
        Some(k) => item.get(k).map(text_of).unwrap_or_default(),
        None => text_of(item),
    };
    (id, item.to_string())
}

/// Identity text of a value: strings compare case-insensitively. Citation pointers that index
/// into a reordered set are moved with their element by [`remap_pointer`].
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_lowercase(),
        other => other.to_string(),
    }
}

/// SHA-256 (hex) of the canonical JSON text; equal hashes mean "unchanged". Every module run
/// hashes its output, so the text is streamed into the hash (no copy of it is built) and the
/// hex is written in one string: the same bytes, and so the same hashes, as stored before.
pub fn content_hash(canonical: &Value) -> String {
    /// Feeds serialized JSON straight into the hash.
    struct Hashing(Sha256);
    impl std::io::Write for Hashing {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut h = Hashing(Sha256::new());
    if serde_json::to_writer(&mut h, canonical).is_err() {
        // Writing into a hash cannot fail; a `Value` always serializes. Kept total anyway.
        h = Hashing(Sha256::new());
        h.0.update(canonical.to_string().as_bytes());
    }
    let mut out = String::with_capacity(64);
    for b in h.0.finalize() {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod hash_tests {
    use super::*;
    use serde_json::json;

    /// The hashes already stored were made by hashing `to_string()` and formatting each byte
    /// (the literal below is Python's `sha256('{"a":[1,"xé"],"b":null}'.encode())`).
    fn as_before(v: &Value) -> String {
        let mut h = Sha256::new();
        h.update(v.to_string().as_bytes());
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn hashes_are_those_stored_before() {
        assert_eq!(
            content_hash(&json!({"a": [1, "x\u{e9}"], "b": null})),
            "0d140bd9e055f8c5a305dae1e6baf321456cfaef49e4096ee9ca24d627ac9919"
        );
        for v in [
            json!(null),
            json!({}),
            json!({"name": "Stripe \"Inc\"", "n": 1.5e300, "neg": -0.0, "list": [true, {"z": []}]}),
            json!("tab\there, newline\n, emoji \u{1f600}, control \u{1}"),
        ] {
            assert_eq!(content_hash(&v), as_before(&v), "{v}");
        }
    }
}

#[cfg(test)]
mod remap_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn citation_pointers_follow_their_element_when_a_set_is_reordered() {
        let original = json!({
            "technologies": [
                {"name": "jsDelivr", "evidence": ["a"]},
                {"name": "Algolia", "evidence": ["b", "c"]},
                {"name": "HubSpot", "evidence": []}
            ],
            "mx": ["b.example", "a.example"],
            "plain": [3, 1]
        });
        let sets = vec![
            SetArray::keyed("/technologies", "name"),
            SetArray::scalars("/mx"),
        ];
        let canonical = canonicalize(&original, &sets);
        let remap = |p: &str| remap_pointer(&original, &canonical, &sets, p);
        assert_eq!(remap("/technologies/0"), "/technologies/2");
        assert_eq!(
            remap("/technologies/1/evidence/1"),
            "/technologies/0/evidence/1"
        );
        assert_eq!(remap("/technologies/2"), "/technologies/1");
        assert_eq!(remap("/mx/0"), "/mx/1");
        assert_eq!(remap("/plain/0"), "/plain/0", "not a set: order is data");
        assert_eq!(remap("/technologies"), "/technologies");
        assert_eq!(remap("/missing/3"), "/missing/3");
        assert_eq!(remap(""), "");
        for (i, name) in ["jsDelivr", "Algolia", "HubSpot"].iter().enumerate() {
            let p = remap(&format!("/technologies/{i}"));
            assert_eq!(
                canonical.pointer(&p).and_then(|t| t.get("name")),
                Some(&json!(name))
            );
        }
    }
}
