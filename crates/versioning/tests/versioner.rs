//! The `DeriveChanges` implementation with the shipped default rules: patches, change events
//! and outbox alerts for realistic module outputs.

use chrono::{DateTime, TimeZone, Utc};
use pforge_store::{DeriveChanges, Snapshot};
use pforge_versioning::{apply, patch_from_value, SetArray, Versioner, VersioningConfig};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 10, 17, 0).unwrap()
}

fn versioner(cfg: VersioningConfig) -> Versioner {
    let mut sets = HashMap::new();
    sets.insert(
        "m02_tech_stack".to_string(),
        vec![
            SetArray::keyed("/technologies", "name"),
            SetArray::scalars("/technologies/*/categories"),
        ],
    );
    sets.insert(
        "m04_financials".to_string(),
        vec![SetArray::keyed("/filings", "accession")],
    );
    sets.insert(
        "m09_executives".to_string(),
        vec![SetArray::keyed("/executives", "name")],
    );
    Versioner::new(&cfg, sets).unwrap().with_clock(Arc::new(t0))
}

fn defaults() -> Versioner {
    versioner(VersioningConfig::defaults().unwrap())
}

fn citations(url: &str, covers: &[&str]) -> Value {
    json!([{"source": url, "provider": "homepage", "fetched_at": t0(), "covers": covers}])
}

/// Stores `data` as the given version the way the store would (from a prepared NewSnapshot).
fn snapshot(v: &Versioner, module: &str, data: Value, version: i64) -> Snapshot {
    let n = v.prepare(
        "acme.com",
        module,
        &data,
        citations("https://acme.com/", &["/technologies"]),
        t0(),
        None,
    );
    Snapshot {
        domain: n.domain,
        module: n.module,
        version,
        data: n.data,
        citations: n.citations,
        content_hash: n.content_hash,
        fetched_at: t0(),
        checked_at: t0(),
        created_at: t0(),
        job_id: None,
        patch: None,
    }
}

fn tech(names: &[(&str, &str)]) -> Value {
    json!({"technologies": names.iter().map(|(n, c)| json!({"name": n, "categories": [c]})).collect::<Vec<_>>()})
}

#[test]
fn first_version_is_a_baseline() {
    let v = defaults();
    let next = v.prepare(
        "acme.com",
        "m02_tech_stack",
        &tech(&[("React", "JavaScript frameworks")]),
        json!([]),
        t0(),
        None,
    );
    let d = v.derive(None, &next, 1);
    assert!(d.patch.is_none() && d.events.is_empty() && d.alerts.is_empty());
}

#[test]
fn tech_added_and_removed_read_by_name_and_score_by_category_and_competitor_list() {
    let v = defaults();
    let prev = snapshot(
        &v,
        "m02_tech_stack",
        tech(&[
            ("Elasticsearch", "Search engines"),
            ("React", "JavaScript frameworks"),
        ]),
        1,
    );
    // Order in the new result is irrelevant: prepare() canonicalizes.
    let next = v.prepare(
        "acme.com",
        "m02_tech_stack",
        &tech(&[
            ("React", "JavaScript frameworks"),
            ("Sajari", "Search engines"),
            ("Hotjar", "Analytics"),
        ]),
        citations("https://acme.com/", &["/technologies"]),
        t0(),
        None,
    );
    let d = v.derive(Some(&prev), &next, 2);

    // The stored patch turns version 1 into version 2 exactly.
    let patch = patch_from_value(d.patch.as_ref().unwrap()).unwrap();
    assert_eq!(apply(&prev.data, &patch).unwrap(), next.data);

    let got: Vec<(&str, &str, &str, &str)> = d
        .events
        .iter()
        .map(|e| {
            (
                e.path.as_str(),
                e.kind.as_str(),
                e.level.as_str(),
                e.rule.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "/technologies/Elasticsearch",
                "removed",
                "critical",
                "tech-competitor"
            ),
            (
                "/technologies/Hotjar",
                "added",
                "medium",
                "tech-added-or-removed"
            ),
            (
                "/technologies/Sajari",
                "added",
                "high",
                "tech-search-category"
            ),
        ]
    );
    let es = &d.events[0];
    assert_eq!(
        es.old_value,
        Some(json!({"name": "Elasticsearch", "categories": ["Search engines"]}))
    );
    assert_eq!(es.new_value, None);
    assert_eq!(es.significance, 90);
    assert_eq!(es.version, 2);
    assert_eq!(es.detected_at, t0());
    assert_eq!(
        d.events[2].new_value,
        Some(json!({"name": "Sajari", "categories": ["Search engines"]}))
    );

    // Default routing: high and critical to the console, one alert for the snapshot.
    assert_eq!(d.alerts.len(), 1);
    let a = &d.alerts[0];
    assert_eq!(
        (
            a.status.as_str(),
            a.recipient.as_str(),
            a.channel.as_str(),
            a.delivery.as_str()
        ),
        ("pending", "console", "console", "immediate")
    );
    assert_eq!(a.next_attempt_at, t0());
    assert_eq!(a.payload["level"], "critical");
    let paths: Vec<&str> = a.payload["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        vec!["/technologies/Elasticsearch", "/technologies/Sajari"]
    );
    assert_eq!(a.payload["changes"][0]["evidence"], "https://acme.com/");
    assert_eq!(
        a.payload["changes"][0]["summary"],
        "/technologies/Elasticsearch removed"
    );
    assert_eq!(a.payload["title"], "acme.com: 2 changes in m02_tech_stack");

    // What the console channel prints for it.
    let msg = pforge_versioning::group_messages(vec![a.clone()]).remove(0);
    let text = pforge_versioning::channels::render_text(&msg);
    assert!(
        text.starts_with("[CRITICAL] acme.com: 2 changes in m02_tech_stack\n")
            && text.contains("  - /technologies/Sajari added (high, rule tech-search-category) evidence: https://acme.com/\n"),
        "{text}"
    );

    // Deriving the same version again yields the same ids (idempotent outbox inserts).
    let again = v.derive(Some(&prev), &next, 2);
    assert_eq!(again.alerts[0].id, a.id);
    assert_eq!(again.events[0].id, es.id);
}

#[test]
fn revenue_up_ten_percent_is_high_and_five_percent_is_low() {
    let v = defaults();
    let prev = snapshot(
        &v,
        "m04_financials",
        json!({"revenue": 1_000_000, "filings": []}),
        3,
    );
    let next = v.prepare(
        "acme.com",
        "m04_financials",
        &json!({"revenue": 1_100_000, "filings": []}),
        json!([]),
        t0(),
        None,
    );
    let d = v.derive(Some(&prev), &next, 4);
    assert_eq!(d.events.len(), 1);
    let e = &d.events[0];
    assert_eq!(
        (
            e.path.as_str(),
            e.kind.as_str(),
            e.level.as_str(),
            e.rule.as_str()
        ),
        ("/revenue", "changed", "high", "revenue-change")
    );
    assert_eq!(
        (e.old_value.clone(), e.new_value.clone()),
        (Some(json!(1_000_000)), Some(json!(1_100_000)))
    );

    let small = v.prepare(
        "acme.com",
        "m04_financials",
        &json!({"revenue": 1_050_000, "filings": []}),
        json!([]),
        t0(),
        None,
    );
    let d = v.derive(Some(&prev), &small, 4);
    assert_eq!(
        (d.events[0].level.as_str(), d.events[0].rule.as_str()),
        ("low", "default")
    );
    assert!(d.alerts.is_empty());
}

#[test]
fn new_8k_filing_is_high() {
    let v = defaults();
    let prev = snapshot(
        &v,
        "m04_financials",
        json!({"filings": [{"accession": "0001-24-1", "form": "10-Q"}]}),
        1,
    );
    let next = v.prepare(
        "acme.com",
        "m04_financials",
        &json!({"filings": [{"accession": "0001-24-1", "form": "10-Q"}, {"accession": "0001-25-7", "form": "8-K"}]}),
        json!([]),
        t0(),
        None,
    );
    let d = v.derive(Some(&prev), &next, 2);
    assert_eq!(d.events.len(), 1);
    assert_eq!(
        (d.events[0].path.as_str(), d.events[0].level.as_str()),
        ("/filings/0001-25-7", "high")
    );
}

#[test]
fn new_c_level_executive_is_high() {
    let v = defaults();
    let prev = snapshot(
        &v,
        "m09_executives",
        json!({"executives": [{"name": "Ann Lee", "title": "CEO"}]}),
        1,
    );
    let next = v.prepare(
        "acme.com",
        "m09_executives",
        &json!({"executives": [{"name": "Ann Lee", "title": "CEO"}, {"name": "Bo Chan", "title": "Chief Technology Officer"}]}),
        json!([]),
        t0(),
        None,
    );
    let d = v.derive(Some(&prev), &next, 2);
    assert_eq!(d.events.len(), 1);
    assert_eq!(
        (
            d.events[0].path.as_str(),
            d.events[0].level.as_str(),
            d.events[0].rule.as_str()
        ),
        (
            "/executives/Bo Chan",
            "high",
            "executive-c-level-joined-or-left"
        )
    );
}

#[test]
fn a_value_that_flips_back_is_a_change() {
    let v = defaults();
    let a = json!({"revenue": 100});
    let b = json!({"revenue": 200});
    let v1 = snapshot(&v, "m04_financials", a.clone(), 1);
    let n2 = v.prepare("acme.com", "m04_financials", &b, json!([]), t0(), None);
    assert_ne!(n2.content_hash, v1.content_hash);
    let d2 = v.derive(Some(&v1), &n2, 2);
    let v2 = snapshot(&v, "m04_financials", b, 2);
    let n3 = v.prepare("acme.com", "m04_financials", &a, json!([]), t0(), None);
    // Same content as version 1, but different from the latest (version 2): a new version.
    assert_eq!(n3.content_hash, v1.content_hash);
    assert_ne!(n3.content_hash, v2.content_hash);
    let d3 = v.derive(Some(&v2), &n3, 3);
    assert_eq!(d3.events.len(), 1);
    assert_eq!(d3.events[0].old_value, Some(json!(200)));
    assert_eq!(d3.events[0].new_value, Some(json!(100)));
    assert_eq!(d3.events[0].level, "high");
    assert_ne!(d2.events[0].id, d3.events[0].id);
    assert_eq!(
        apply(
            &v2.data,
            &patch_from_value(d3.patch.as_ref().unwrap()).unwrap()
        )
        .unwrap(),
        n3.data
    );
}

#[test]
fn digest_recipients_get_alerts_due_at_the_window_end() {
    let mut cfg = VersioningConfig::defaults().unwrap();
    let extra = VersioningConfig::from_toml(
        r#"
        [alerts.channels.log]
        kind = "jsonl"
        path = "alerts.jsonl"
        [alerts.recipients.hourly]
        channel = "log"
        min_level = "medium"
        delivery = "hourly"
        [alerts.recipients.daily]
        channel = "log"
        delivery = "daily"
        digest_hour_utc = 8
        [[alerts.rules]]
        name = "tech-to-digests"
        modules = ["m02_*"]
        recipients = ["hourly", "daily"]
        "#,
    )
    .unwrap();
    cfg.alerts.channels.extend(extra.alerts.channels);
    cfg.alerts.recipients.extend(extra.alerts.recipients);
    cfg.alerts.rules.extend(extra.alerts.rules);
    let v = versioner(cfg);
    let prev = snapshot(
        &v,
        "m02_tech_stack",
        tech(&[("React", "JavaScript frameworks")]),
        1,
    );
    let next = v.prepare(
        "acme.com",
        "m02_tech_stack",
        &tech(&[("Hotjar", "Analytics"), ("React", "JavaScript frameworks")]),
        json!([]),
        t0(),
        None,
    );
    let d = v.derive(Some(&prev), &next, 2);
    // Hotjar added scores medium: not for the console (high+), but for both digests.
    let by: HashMap<&str, DateTime<Utc>> = d
        .alerts
        .iter()
        .map(|a| (a.recipient.as_str(), a.next_attempt_at))
        .collect();
    assert_eq!(by.len(), 2);
    assert_eq!(
        by["hourly"],
        Utc.with_ymd_and_hms(2025, 3, 1, 11, 0, 0).unwrap()
    );
    assert_eq!(
        by["daily"],
        Utc.with_ymd_and_hms(2025, 3, 2, 8, 0, 0).unwrap()
    );
    assert!(d.alerts.iter().all(|a| a.rule == "tech-to-digests"));
}

#[test]
fn summaries_read_like_sentences() {
    use pforge_store::ChangeEvent;
    use pforge_versioning::summary;
    let ev = |path: &str, kind: &str, old: Option<Value>, new: Option<Value>| ChangeEvent {
        id: uuid::Uuid::nil(),
        domain: "acme.com".into(),
        module: "m".into(),
        version: 2,
        path: path.into(),
        kind: kind.parse().expect("a change kind"),
        old_value: old,
        new_value: new,
        significance: 0,
        level: pforge_core::Level::Low,
        rule: "default".into(),
        detected_at: t0(),
    };
    assert_eq!(
        summary(&ev(
            "/executives/Bo Chan",
            "added",
            None,
            Some(json!({"name": "Bo Chan", "title": "CTO"}))
        )),
        "/executives/Bo Chan added (CTO)"
    );
    assert_eq!(
        summary(&ev(
            "/mx/aspmx.l.google.com",
            "removed",
            Some(json!("aspmx.l.google.com")),
            None
        )),
        "/mx/aspmx.l.google.com removed"
    );
    assert_eq!(
        summary(&ev(
            "/revenue",
            "changed",
            Some(json!(100)),
            Some(json!(110))
        )),
        "/revenue changed 100 → 110"
    );
    assert_eq!(
        summary(&ev(
            "/tagline",
            "added",
            None,
            Some(json!("Payments infra"))
        )),
        "/tagline added (Payments infra)"
    );
}
