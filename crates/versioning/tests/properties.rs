//! Property tests: canonical form is idempotent and ignores the order of declared set arrays;
//! the stored patch turns version N into version N+1 exactly, for arbitrary JSON.

use pforge_versioning::{
    apply, canonicalize, changes, content_hash, diff, patch_from_value, patch_to_value, SetArray,
};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        (-1.0e6f64..1.0e6).prop_map(|f| json!(f)),
        "[a-zA-Z0-9 /~_-]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z/~]{0,4}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A tech-stack-like document with keyed and scalar set arrays.
fn arb_tech() -> impl Strategy<Value = Value> {
    let tech = (
        prop::sample::select(vec![
            "Algolia",
            "Elasticsearch",
            "React",
            "Vue",
            "Stripe",
            "Segment",
            "Coveo",
        ]),
        prop::collection::vec(
            prop::sample::select(vec![
                "Search engines",
                "Analytics",
                "Payments",
                "JavaScript frameworks",
            ]),
            0..3,
        ),
        prop::option::of(0u8..5),
    )
        .prop_map(|(name, cats, version)| {
            let mut t = json!({"name": name, "categories": cats});
            if let Some(v) = version {
                t["version"] = json!(v.to_string());
            }
            t
        });
    (
        prop::collection::vec(tech, 0..7),
        prop::collection::vec("[a-d]{1,2}", 0..5),
        any::<u16>(),
    )
        .prop_map(|(techs, hosts, n)| json!({"technologies": techs, "mx": hosts, "count": n}))
}

fn sets() -> Vec<SetArray> {
    vec![
        SetArray::keyed("/technologies", "name"),
        SetArray::scalars("/technologies/*/categories"),
        SetArray::scalars("/mx"),
    ]
}

fn shuffle(v: &mut Value, seed: u64) {
    // Deterministic permutation of every set array (and nested ones).
    fn rot<T>(items: &mut [T], seed: u64) {
        if !items.is_empty() {
            let k = (seed as usize) % items.len();
            items.rotate_left(k);
            if seed % 2 == 1 {
                items.reverse();
            }
        }
    }
    if let Some(Value::Array(t)) = v.get_mut("technologies") {
        rot(t, seed);
        for (i, item) in t.iter_mut().enumerate() {
            if let Some(Value::Array(c)) = item.get_mut("categories") {
                rot(c, seed.wrapping_add(i as u64));
            }
        }
    }
    if let Some(Value::Array(m)) = v.get_mut("mx") {
        rot(m, seed / 3);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn canonicalize_is_idempotent(v in arb_tech()) {
        let once = canonicalize(&v, &sets());
        prop_assert_eq!(canonicalize(&once, &sets()), once);
    }

    #[test]
    fn canonicalize_ignores_set_order(v in arb_tech(), seed in any::<u64>()) {
        let mut shuffled = v.clone();
        shuffle(&mut shuffled, seed);
        let a = canonicalize(&v, &sets());
        let b = canonicalize(&shuffled, &sets());
        prop_assert_eq!(content_hash(&a), content_hash(&b));
        prop_assert_eq!(a, b);
    }

    #[test]
    fn canonicalize_is_idempotent_on_arbitrary_json(v in arb_json()) {
        let s = vec![SetArray::scalars("/a"), SetArray::keyed("/*", "b")];
        let once = canonicalize(&v, &s);
        prop_assert_eq!(canonicalize(&once, &s), once);
    }

    #[test]
    fn patch_reproduces_next_version_exactly(a in arb_json(), b in arb_json()) {
        let p = diff(&a, &b, &[]);
        // Through the stored (JSON) form, as the store keeps it.
        let stored = patch_from_value(&patch_to_value(&p)).unwrap();
        prop_assert_eq!(apply(&a, &stored).unwrap(), b.clone());
        let ch = changes(&a, &p, &[]).unwrap();
        prop_assert_eq!(ch.len(), p.0.len());
        prop_assert_eq!(diff(&a, &a, &[]).0.len(), 0);
    }

    #[test]
    fn set_aware_patch_reproduces_next_version_exactly(a in arb_tech(), b in arb_tech()) {
        let (a, b) = (canonicalize(&a, &sets()), canonicalize(&b, &sets()));
        let p = diff(&a, &b, &sets());
        prop_assert_eq!(apply(&a, &p).unwrap(), b.clone());
        let ch = changes(&a, &p, &sets()).unwrap();
        // No change event ever names a technology by index.
        for c in &ch {
            if let Some(rest) = c.path.strip_prefix("/technologies/") {
                let first = rest.split('/').next().unwrap_or("");
                prop_assert!(first.parse::<usize>().is_err(), "index in {}", c.path);
            }
        }
    }

    #[test]
    fn set_aware_patch_is_exact_even_on_uncanonical_input(a in arb_tech(), b in arb_tech(), seed in any::<u64>()) {
        let mut b2 = b.clone();
        shuffle(&mut b2, seed);
        let p = diff(&a, &b2, &sets());
        prop_assert_eq!(apply(&a, &p).unwrap(), b2);
    }

    #[test]
    fn set_aware_patch_is_exact_on_arbitrary_json(a in arb_json(), b in arb_json()) {
        // Wildcard set pointers over random shapes (keys missing, wrong types, duplicates).
        let s = vec![SetArray::scalars("/a"), SetArray::keyed("/*", "b"), SetArray::keyed("/*/*", "")];
        let p = diff(&a, &b, &s);
        prop_assert_eq!(apply(&a, &p).unwrap(), b.clone());
        changes(&a, &p, &s).unwrap();
    }
}
