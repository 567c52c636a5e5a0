//! RFC 6902 JSON Patch between two versions of a module's output, and the change list a patch
//! means for people. Declared set arrays are diffed by element identity, so that a technology
//! added to a sorted list reads "Algolia added" rather than a cascade of index replacements.

use crate::canonical::SetArray;
use crate::pattern::{escape, segments, segments_match};
use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, RemoveOperation, ReplaceOperation};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use thiserror::Error;

/// Why a patch could not be read or applied. Patches we compute always apply; these errors come
/// from stored patches that were edited or corrupted.
#[derive(Debug, Error)]
pub enum DiffError {
    #[error("stored patch is not a valid RFC 6902 document: {0}")]
    Invalid(String),
    #[error("patch does not apply: {0}")]
    Apply(String),
}

pub use pforge_core::ChangeKind;

/// One patch operation explained: where (with set elements named by identity), what kind, and
/// the values before and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// JSON Pointer with set-array indexes replaced by element identity, e.g.
    /// `/technologies/Algolia`. This is what rules match and people read.
    pub path: String,
    /// The operation's own pointer (indexes as in the patch), for evidence lookup.
    pub raw_path: String,
    pub kind: ChangeKind,
    pub old_value: Option<Value>,
    pub new_value: Option<Value>,
}

/// Computes a patch that turns `old` into `new` exactly. Arrays located at a declared set
/// pointer are matched by element identity (the set's key field, or the whole element); other
/// arrays are compared index by index.
pub fn diff(old: &Value, new: &Value, sets: &[SetArray]) -> Patch {
    let mut ops = Vec::new();
    let mut loc = Vec::new();
    diff_at(old, new, &mut loc, sets, &mut ops);
    Patch(ops)
}

/// Applies `patch` to a copy of `doc`.
pub fn apply(doc: &Value, patch: &Patch) -> Result<Value, DiffError> {
    let mut out = doc.clone();
    json_patch::patch(&mut out, &patch.0).map_err(|e| DiffError::Apply(e.to_string()))?;
    Ok(out)
}

/// The JSON form stored in [`pforge_store::Snapshot::patch`].
pub fn patch_to_value(patch: &Patch) -> Value {
    serde_json::to_value(patch).unwrap_or(Value::Array(Vec::new()))
}

/// Reads a stored patch back.
pub fn patch_from_value(value: &Value) -> Result<Patch, DiffError> {
    serde_json::from_value(value.clone()).map_err(|e| DiffError::Invalid(e.to_string()))
}

/// Explains every operation of `patch` (applied to `old`) as a [`Change`]. Indexes into set
/// arrays are resolved to the identity of the element they address at that point of the patch,
/// so removals and additions name the element. `move` yields a removal and an addition, `copy`
/// an addition, `test` nothing.
pub fn changes(old: &Value, patch: &Patch, sets: &[SetArray]) -> Result<Vec<Change>, DiffError> {
    let mut doc = old.clone();
    let mut out = Vec::with_capacity(patch.0.len());
    for op in &patch.0 {
        match op {
            PatchOperation::Add(a) => {
                let previous = a.path.resolve(&doc).ok().cloned();
                let (path, into_array) = identity_path(&doc, a.path.as_str(), sets, Some(&a.value));
                let kind = if previous.is_some() && !into_array {
                    ChangeKind::Changed
                } else {
                    ChangeKind::Added
                };
                out.push(Change {
                    path,
                    raw_path: a.path.to_string(),
                    kind,
                    old_value: if into_array { None } else { previous },
                    new_value: Some(a.value.clone()),
                });
            }
            PatchOperation::Remove(r) => {
                let previous = r.path.resolve(&doc).ok().cloned();
                let (path, _) = identity_path(&doc, r.path.as_str(), sets, None);
                out.push(Change {
                    path,
                    raw_path: r.path.to_string(),
                    kind: ChangeKind::Removed,
                    old_value: previous,
                    new_value: None,
                });
            }
            PatchOperation::Replace(r) => {
                let previous = r.path.resolve(&doc).ok().cloned();
                let (path, _) = identity_path(&doc, r.path.as_str(), sets, None);
                out.push(Change {
                    path,
                    raw_path: r.path.to_string(),
                    kind: ChangeKind::Changed,
                    old_value: previous,
                    new_value: Some(r.value.clone()),
                });
            }
            PatchOperation::Move(m) => {
                let moved = m.from.resolve(&doc).ok().cloned();
                let (from, _) = identity_path(&doc, m.from.as_str(), sets, None);
                out.push(Change {
                    path: from,
                    raw_path: m.from.to_string(),
                    kind: ChangeKind::Removed,
                    old_value: moved.clone(),
                    new_value: None,
                });
                let mut after = doc.clone();
                let _ = m.from.delete(&mut after);
                let (to, _) = identity_path(&after, m.path.as_str(), sets, moved.as_ref());
                out.push(Change {
                    path: to,
                    raw_path: m.path.to_string(),
                    kind: ChangeKind::Added,
                    old_value: None,
                    new_value: moved,
                });
            }
            PatchOperation::Copy(c) => {
                let copied = c.from.resolve(&doc).ok().cloned();
                let (to, _) = identity_path(&doc, c.path.as_str(), sets, copied.as_ref());
                out.push(Change {
                    path: to,
                    raw_path: c.path.to_string(),
                    kind: ChangeKind::Added,
                    old_value: None,
                    new_value: copied,
                });
            }
            PatchOperation::Test(_) => {}
        }
        json_patch::patch(&mut doc, std::slice::from_ref(op))
            .map_err(|e| DiffError::Apply(e.to_string()))?;
    }
    Ok(out)
}

/// Rewrites `pointer` with set-array indexes replaced by element identity, walking `doc` (the
/// document before the operation). `inserted` is the value an `add` puts at the final token.
/// Also says whether the final token addresses an array slot (so an `add` there inserts).
fn identity_path(
    doc: &Value,
    pointer: &str,
    sets: &[SetArray],
    inserted: Option<&Value>,
) -> (String, bool) {
    let raw: Vec<&str> = segments(pointer);
    let mut cur = Some(doc);
    let mut out = String::new();
    let mut into_array = false;
    for (i, seg) in raw.iter().enumerate() {
        let last = i + 1 == raw.len();
        let decoded = crate::pattern::unescape(seg);
        let mut token = seg.to_string();
        into_array = false;
        if let Some(Value::Array(items)) = cur {
            into_array = true;
            if let Some(set) = set_at(&raw[..i], sets) {
                let element = if last && inserted.is_some() {
                    inserted
                } else {
                    decoded.parse::<usize>().ok().and_then(|idx| items.get(idx))
                };
                if let Some(el) = element {
                    token = escape(&identity(el, set.key.as_deref()));
                }
            }
        }
        out.push('/');
        out.push_str(&token);
        cur = match cur {
            Some(Value::Object(map)) => map.get(&decoded),
            Some(Value::Array(items)) => decoded.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
    }
    (out, into_array)
}

/// The declared set whose pointer matches the array at `loc` (escaped segments).
fn set_at<'a>(loc: &[&str], sets: &'a [SetArray]) -> Option<&'a SetArray> {
    sets.iter()
        .find(|s| segments_match(&segments(&s.pointer), loc))
}

/// Identity of a set element as a readable token: the key field's text, or the element's own
/// text for scalar sets. Elements lacking the key fall back to their JSON text.
pub fn identity(element: &Value, key: Option<&str>) -> String {
    let id = match key {
        Some(k) => element.get(k).unwrap_or(element),
        None => element,
    };
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn pointer(loc: &[String]) -> PointerBuf {
    PointerBuf::from_tokens(loc.iter().map(String::as_str))
}

fn diff_at(
    old: &Value,
    new: &Value,
    loc: &mut Vec<String>,
    sets: &[SetArray],
    ops: &mut Vec<PatchOperation>,
) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, nv) in b {
                loc.push(key.clone());
                match a.get(key) {
                    Some(ov) => diff_at(ov, nv, loc, sets, ops),
                    None => ops.push(PatchOperation::Add(AddOperation {
                        path: pointer(loc),
                        value: nv.clone(),
                    })),
                }
                loc.pop();
            }
            for key in a.keys().filter(|k| !b.contains_key(*k)) {
                loc.push(key.clone());
                ops.push(PatchOperation::Remove(RemoveOperation {
                    path: pointer(loc),
                }));
                loc.pop();
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            let escaped: Vec<String> = loc.iter().map(|t| escape(t)).collect();
            let refs: Vec<&str> = escaped.iter().map(String::as_str).collect();
            match set_at(&refs, sets) {
                Some(set) => diff_set(a, b, set.key.as_deref(), loc, sets, ops),
                None => diff_list(a, b, loc, sets, ops),
            }
        }
        _ if old == new => {}
        _ => ops.push(PatchOperation::Replace(ReplaceOperation {
            path: pointer(loc),
            value: new.clone(),
        })),
    }
}

/// Index-by-index diff for ordered arrays.
fn diff_list(
    a: &[Value],
    b: &[Value],
    loc: &mut Vec<String>,
    sets: &[SetArray],
    ops: &mut Vec<PatchOperation>,
) {
    for (i, (ov, nv)) in a.iter().zip(b.iter()).enumerate() {
        loc.push(i.to_string());
        diff_at(ov, nv, loc, sets, ops);
        loc.pop();
    }
    for i in (b.len()..a.len()).rev() {
        loc.push(i.to_string());
        ops.push(PatchOperation::Remove(RemoveOperation {
            path: pointer(loc),
        }));
        loc.pop();
    }
    for (i, nv) in b.iter().enumerate().skip(a.len()) {
        loc.push(i.to_string());
        ops.push(PatchOperation::Add(AddOperation {
            path: pointer(loc),
            value: nv.clone(),
        }));
        loc.pop();
    }
}

/// Identity diff for set arrays: removals of unmatched old elements (highest index first, so
/// indexes stay valid), insertions of new elements at their final index, then nested diffs of
/// matched elements at their final index. Matched elements whose relative order changed are
/// treated as removed and re-added, which keeps the patch exact without `move`.
fn diff_set(
    a: &[Value],
    b: &[Value],
    key: Option<&str>,
    loc: &mut Vec<String>,
    sets: &[SetArray],
    ops: &mut Vec<PatchOperation>,
) {
    let mut by_id: HashMap<String, VecDeque<usize>> = HashMap::new();
    for (i, v) in a.iter().enumerate() {
        by_id.entry(identity_key(v, key)).or_default().push_back(i);
    }
    // match_of[j] = index in `a` of the element that becomes b[j], if any.
    let mut match_of: Vec<Option<usize>> = vec![None; b.len()];
    let mut last: Option<usize> = None;
    for (j, v) in b.iter().enumerate() {
        if let Some(i) = by_id
            .get_mut(&identity_key(v, key))
            .and_then(VecDeque::pop_front)
        {
            if last.is_none_or(|l| i > l) {
                match_of[j] = Some(i);
                last = Some(i);
            }
        }
    }
    let mut kept = vec![false; a.len()];
    for i in match_of.iter().flatten() {
        kept[*i] = true;
    }
    for i in (0..a.len()).rev().filter(|i| !kept[*i]) {
        loc.push(i.to_string());
        ops.push(PatchOperation::Remove(RemoveOperation {
            path: pointer(loc),
        }));
        loc.pop();
    }
    for (j, nv) in b.iter().enumerate() {
        if match_of[j].is_none() {
            loc.push(j.to_string());
            ops.push(PatchOperation::Add(AddOperation {
                path: pointer(loc),
                value: nv.clone(),
            }));
            loc.pop();
        }
    }
    for (j, nv) in b.iter().enumerate() {
        if let Some(i) = match_of[j] {
            loc.push(j.to_string());
            diff_at(&a[i], nv, loc, sets, ops);
            loc.pop();
        }
    }
}

/// Identity used for matching: typed (so `1` and `"1"` differ) and exact.
fn identity_key(v: &Value, key: Option<&str>) -> String {
    match key {
        Some(k) => match v.get(k) {
            Some(id) => format!("k:{id}"),
            None => format!("v:{v}"),
        },
        None => format!("v:{v}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tech_sets() -> Vec<SetArray> {
        vec![
            SetArray::keyed("/technologies", "name"),
            SetArray::scalars("/technologies/*/categories"),
        ]
    }

    #[test]
    fn keyed_set_changes_name_the_element() {
        let old = json!({"technologies": [
            {"name": "Elasticsearch", "categories": ["Search engines"]},
            {"name": "React", "categories": ["JavaScript frameworks"], "version": "17"},
        ]});
        let new = json!({"technologies": [
            {"name": "Algolia", "categories": ["Search engines"]},
            {"name": "React", "categories": ["JavaScript frameworks"], "version": "18"},
        ]});
        let p = diff(&old, &new, &tech_sets());
        assert_eq!(apply(&old, &p).unwrap(), new);
        let ch = changes(&old, &p, &tech_sets()).unwrap();
        let summary: Vec<(String, ChangeKind)> =
            ch.iter().map(|c| (c.path.clone(), c.kind)).collect();
        assert_eq!(
            summary,
            vec![
                (
                    "/technologies/Elasticsearch".to_string(),
                    ChangeKind::Removed
                ),
                ("/technologies/Algolia".to_string(), ChangeKind::Added),
                (
                    "/technologies/React/version".to_string(),
                    ChangeKind::Changed
                ),
            ]
        );
        assert_eq!(
            ch[0].old_value,
            Some(json!({"name": "Elasticsearch", "categories": ["Search engines"]}))
        );
        assert_eq!(
            ch[1].new_value,
            Some(json!({"name": "Algolia", "categories": ["Search engines"]}))
        );
        assert_eq!(ch[2].old_value, Some(json!("17")));
        assert_eq!(ch[2].new_value, Some(json!("18")));
    }

    #[test]
    fn nested_scalar_sets_resolve_identity_too() {
        let old = json!({"technologies": [{"name": "Algolia", "categories": ["Search engines"]}]});
        let new = json!({"technologies": [{"name": "Algolia", "categories": ["Analytics", "Search engines"]}]});
        let p = diff(&old, &new, &tech_sets());
        let ch = changes(&old, &p, &tech_sets()).unwrap();
        assert_eq!(ch.len(), 1);
        assert_eq!(ch[0].path, "/technologies/Algolia/categories/Analytics");
        assert_eq!(ch[0].kind, ChangeKind::Added);
        assert_eq!(apply(&old, &p).unwrap(), new);
    }

    #[test]
    fn plain_arrays_diff_by_index_and_scalars_replace() {
        let old = json!({"a": [1, 2, 3], "b": "x", "gone": true});
        let new = json!({"a": [1, 5], "b": "y", "c": null});
        let p = diff(&old, &new, &[]);
        assert_eq!(apply(&old, &p).unwrap(), new);
        let ch = changes(&old, &p, &[]).unwrap();
        let kinds: Vec<(&str, ChangeKind)> = ch.iter().map(|c| (c.path.as_str(), c.kind)).collect();
        assert!(kinds.contains(&("/a/1", ChangeKind::Changed)));
        assert!(kinds.contains(&("/a/2", ChangeKind::Removed)));
        assert!(kinds.contains(&("/b", ChangeKind::Changed)));
        assert!(kinds.contains(&("/c", ChangeKind::Added)));
        assert!(kinds.contains(&("/gone", ChangeKind::Removed)));
    }

    #[test]
    fn identity_tokens_with_slashes_are_escaped() {
        let sets = vec![SetArray::scalars("/hosts")];
        let old = json!({"hosts": []});
        let new = json!({"hosts": ["a/b~c"]});
        let p = diff(&old, &new, &sets);
        let ch = changes(&old, &p, &sets).unwrap();
        assert_eq!(ch[0].path, "/hosts/a~1b~0c");
    }

    #[test]
    fn reordered_duplicate_keys_still_apply_exactly() {
        let sets = vec![SetArray::keyed("/x", "k")];
        let old = json!({"x": [{"k": 1, "v": "b"}, {"k": 1, "v": "a"}, {"k": 2}]});
        let new = json!({"x": [{"k": 2}, {"k": 1, "v": "a"}]});
        let p = diff(&old, &new, &sets);
        assert_eq!(apply(&old, &p).unwrap(), new);
        changes(&old, &p, &sets).unwrap();
    }

    #[test]
    fn stored_patch_round_trips() {
        let old = json!({"a": 1});
        let new = json!({"a": 2, "b": [1]});
        let p = diff(&old, &new, &[]);
        let stored = patch_to_value(&p);
        let back = patch_from_value(&stored).unwrap();
        assert_eq!(apply(&old, &back).unwrap(), new);
        assert!(patch_from_value(&json!({"op": "nope"})).is_err());
    }

    #[test]
    fn root_type_change_is_a_root_replace() {
        let p = diff(&json!([1]), &json!({"a": 1}), &[]);
        assert_eq!(apply(&json!([1]), &p).unwrap(), json!({"a": 1}));
    }
}
