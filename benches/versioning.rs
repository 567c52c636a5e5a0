//! Versioning throughput: canonicalize + content hash of a module result, the JSON Patch diff
//! between two versions, and the whole derive step the store runs per new version (patch,
//! verified, scored change events and routed alerts) with the shipped default rules.
//!
//! `cargo bench -p pforge-versioning --bench versioning`

use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pforge_store::{DeriveChanges, NewSnapshot, Snapshot};
use pforge_versioning::{canonicalize, content_hash, diff, SetArray, Versioner, VersioningConfig};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

/// A tech-stack-like result (~3 KB): scalars, a keyed set of technologies, a scalar set.
fn doc(epoch: u64) -> Value {
    let techs: Vec<Value> = (0..40)
        .rev()
        .map(|i| {
            let category = ["cdn", "analytics", "crm", "payments"][i as usize % 4];
            json!({
                "name": format!("Tech{}", (i + epoch * 3) % 60),
                "category": category,
                "confidence": 50 + (i * 7 + epoch) % 50,
                "evidence": format!("header x-tech-{i}"),
            })
        })
        .collect();
    json!({
        "name": "Example Corp",
        "employees": 1200 + epoch * 10,
        "headquarters": {"city": "Dublin", "country": "IE"},
        "technologies": techs,
        "mx": ["mx1.example.com", "mx2.example.com", format!("mx{}.example.net", epoch % 3)],
        "spf_includes": ["_spf.google.com", "sendgrid.net", "mailgun.org"],
    })
}

fn sets() -> Vec<SetArray> {
    vec![
        SetArray::keyed("/technologies", "name"),
        SetArray::scalars("/mx"),
        SetArray::scalars("/spf_includes"),
    ]
}

fn bench_versioning(c: &mut Criterion) {
    let sets = sets();
    let old = canonicalize(&doc(0), &sets);
    let new_raw = doc(1);
    let new = canonicalize(&new_raw, &sets);
    let versioner = Versioner::new(
        &VersioningConfig::defaults().expect("defaults"),
        HashMap::from([("m02_tech_stack".to_string(), sets.clone())]),
    )
    .expect("versioner");
    let prev = Snapshot {
        domain: "example.com".into(),
        module: "m02_tech_stack".into(),
        version: 1,
        data: old.clone(),
        citations: json!([]),
        content_hash: content_hash(&old),
        fetched_at: Utc::now(),
        checked_at: Utc::now(),
        created_at: Utc::now(),
        job_id: None,
        patch: None,
    };
    let next = NewSnapshot {
        domain: "example.com".into(),
        module: "m02_tech_stack".into(),
        content_hash: content_hash(&new),
        data: new.clone(),
        citations: json!([]),
        fetched_at: Utc::now(),
        job_id: None,
        text: None,
    };
    let events = versioner.derive(Some(&prev), &next, 2).events.len();
    assert!(events > 0, "the two versions must differ");

    let mut g = c.benchmark_group("versioning");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(1));
    g.bench_function("canonicalize_and_hash", |b| {
        b.iter(|| content_hash(&canonicalize(&new_raw, &sets)))
    });
    g.bench_function("diff", |b| b.iter(|| diff(&old, &new, &sets)));
    g.bench_function("derive_patch_events_alerts", |b| {
        b.iter(|| versioner.derive(Some(&prev), &next, 2))
    });
    g.finish();
    println!("(derive produces {events} change events per new version of this document)");
}

criterion_group!(benches, bench_versioning);
criterion_main!(benches);
