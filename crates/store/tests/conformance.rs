//! One behavioural contract for every `Store` backend. Each test is written once against
//! `Arc<dyn Store>` (opened through `open_store`, so URL dispatch is exercised too) and
//! instantiated twice by the `conformance!` macro: in `sqlite::` (always, a fresh temp file per
//! test) and in `postgres::` (when `PFORGE_TEST_DATABASE_URL` is set; otherwise each test prints
//! "SKIPPED: ..." and returns). Every PostgreSQL test runs in its own throwaway schema
//! (`CREATE SCHEMA t_<uuid>`, selected through `options=-c search_path=...` in the URL) that is
//! dropped afterwards even if the test panics, so tests run in parallel and reruns start clean.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use pforge_core::Level;
use pforge_store::prelude::*;
use pforge_store::{
    open_store, open_store_with, Alert, AlertStatus, ChangeEvent, ChangeQuery, ChargeRecord,
    Delivery, DeriveChanges, Derived, HoldOutcome, ItemStatus, JobStatus, NewSnapshot,
    NoDerivation, SaveOutcome, Snapshot, SpendCap, StoreError, WorkItem,
};
use pforge_store::{AccountFields, AccountQuery, AccountSort, FieldRef, StoreOptions};
use pforge_store::{Fence, FencedStore, QueueStatus, MAX_QUEUE_ATTEMPTS};
use serde_json::{json, Value};
use uuid::Uuid;

const PG_ENV: &str = "PFORGE_TEST_DATABASE_URL";

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

/// Where one test's database lives. `open()` may be called several times: every call is an
/// independent store (its own pools) on the same database, like another process would be.
#[derive(Clone)]
struct Harness {
    url: String,
    _dir: Option<Arc<tempfile::TempDir>>,
}

impl Harness {
    async fn open(&self) -> Arc<dyn Store> {
        open_store(&self.url).await.expect("open store")
    }
}

/// Sets up the backend, runs `body` as its own task (so a panic is caught), tears down, then
/// re-raises the panic if there was one.
async fn run<F, Fut>(backend: Backend, body: F)
where
    F: FnOnce(Harness) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("pforge.db").display());
            let harness = Harness {
                url,
                _dir: Some(Arc::new(dir)),
            };
            let outcome = tokio::spawn(body(harness)).await;
            if let Err(e) = outcome {
                std::panic::resume_unwind(e.into_panic());
            }
        }
        Backend::Postgres => {
            let Ok(base) = std::env::var(PG_ENV) else {
                println!("SKIPPED: {PG_ENV} not set");
                return;
            };
            let schema = format!("t_{}", Uuid::new_v4().simple());
            let admin = sqlx::PgPool::connect(&base).await.expect("connect admin");
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&admin)
                .await
                .unwrap();
            let sep = if base.contains('?') { '&' } else { '?' };
            let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
            let outcome = tokio::spawn(body(Harness { url, _dir: None })).await;
            // A failed test may leave spawned writers mid-transaction for a moment (they can
            // deadlock with the DROP); retry, and never let cleanup mask the test's own panic.
            let mut dropped = Err(sqlx::Error::PoolClosed);
            for _ in 0..10 {
                dropped = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .execute(&admin)
                    .await;
                if dropped.is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            admin.close().await;
            if let Err(e) = dropped {
                eprintln!("WARNING: could not drop test schema {schema}: {e}");
            }
            if let Err(e) = outcome {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    }
}

/// Instantiates every listed test for both backends.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::run(super::Backend::Sqlite, super::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::run(super::Backend::Postgres, super::$name).await;
                }
            )*
        }
    };
}

conformance!(
    job_lifecycle,
    encoded_text_stores_what_the_values_say,
    cancel_job_and_counts,
    items_upsert_and_overwrite,
    snapshot_versions_unchanged_and_derived_rows,
    history_latest_and_get,
    concurrent_saves_one_store,
    concurrent_saves_two_stores,
    concurrent_saves_different_modules,
    ledger_sums,
    charge_holds_never_pass_a_cap,
    expired_holds_are_unknown_and_stay_counted,
    prune_versions_executes_a_retention_plan,
    data_visible_to_a_second_store,
    queue_enqueue_claim_complete,
    queue_closes_many_rows_at_once,
    spend_is_grouped_by_job_module_and_provider,
    queue_concurrent_claims_never_double_claim,
    queue_leases_expire_and_heartbeats_extend,
    queue_release_cancel_prune,
    queue_gives_up_after_max_attempts,
    queue_at_volume_is_planned_and_vacuumed,
    rate_slots_are_shared,
    keyed_snapshots_and_charges,
    targets_add_list_remove,
    errors_say_what_happened,
    job_specs_are_kept,
    alert_status_and_delivery_are_enums,
    changes_are_filtered_newest_first_in_pages,
    batches_save_like_one_by_one_and_fail_whole,
    concurrent_batches_over_shared_modules_never_deadlock,
    accounts_summary_filters_sorts_and_pages,
    accounts_summary_follows_writes,
    accounts_summary_follows_a_batch_of_mixed_rows,
    accounts_summary_follows_targets_and_removal,
    accounts_summary_rebuilds_for_other_fields,
    accounts_summary_rebuilds_an_old_database,
    accounts_filters_match_exactly_at_the_edges,
    fenced_writes_need_the_claim,
);

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// Both backends keep microseconds; compare with values at that precision.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Records every (previous version, new version) it is asked about and derives a patch, one
/// event and one alert per new version, so tests can see what the store persisted.
#[derive(Default)]
struct Recording {
    calls: Mutex<Vec<(Option<i64>, i64)>>,
}

impl DeriveChanges for Recording {
    fn derive(&self, previous: Option<&Snapshot>, next: &NewSnapshot, version: i64) -> Derived {
        self.calls
            .lock()
            .unwrap()
            .push((previous.map(|p| p.version), version));
        let Some(prev) = previous else {
            return Derived::default();
        };
        let at = now();
        Derived {
            patch: Some(json!([{"op": "replace", "path": "/n", "value": next.data["n"]}])),
            events: vec![ChangeEvent {
                id: Uuid::new_v4(),
                domain: next.domain.clone(),
                module: next.module.clone(),
                version,
                path: "/n".into(),
                kind: pforge_core::ChangeKind::Changed,
                old_value: Some(prev.data["n"].clone()),
                new_value: Some(next.data["n"].clone()),
                significance: 70,
                level: pforge_core::Level::High,
                rule: "n_changed".into(),
                detected_at: at,
            }],
            alerts: vec![Alert {
                id: Uuid::new_v4(),
                rule: "n_changed".into(),
                recipient: "ae@example.com".into(),
                channel: "stdout".into(),
                delivery: Delivery::Immediate,
                domain: next.domain.clone(),
                payload: json!({"version": version, "nested": {"z": [1, 2.5, "é"], "a": null}}),
                status: AlertStatus::Pending,
                attempts: 0,
                last_error: None,
                created_at: at,
                next_attempt_at: at,
                delivered_at: None,
            }],
        }
    }
}

fn snap(domain: &str, module: &str, n: i64) -> NewSnapshot {
    NewSnapshot {
        domain: domain.into(),
        module: module.into(),
        // Nested objects, floats, unicode and null: JSON must round-trip exactly (text vs jsonb).
        data: json!({"n": n, "zeta": {"b": [1, 2.5, "ü"], "a": null}, "alpha": true}),
        citations: json!([{"source": "https://example.com", "n": n}]),
        content_hash: format!("hash-{n}"),
        fetched_at: now(),
        job_id: None,
        text: None,
    }
}

fn item(job: Uuid, domain: &str, module: &str, status: ItemStatus) -> WorkItem {
    WorkItem {
        job_id: job,
        domain: domain.into(),
        module: module.into(),
        status,
        attempts: 0,
        error: None,
        started_at: None,
        finished_at: None,
        version: None,
    }
}

fn is_not_found<T: std::fmt::Debug>(r: &Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::NotFound { .. }))
}

/// Jobs in these tests have no specification to speak of.
fn no_spec() -> Value {
    json!({})
}

/// The change-event query the older tests make: one domain (or all) since a time (or ever).
fn changes(domain: Option<&str>, since: Option<DateTime<Utc>>, limit: u32) -> ChangeQuery {
    ChangeQuery {
        domain: domain.map(str::to_string),
        since,
        limit,
        ..ChangeQuery::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Tests (each written once, run per backend)
// ---------------------------------------------------------------------------------------------

async fn job_lifecycle(h: Harness) {
    let store = h.open().await;
    let a = Uuid::new_v4();
    let b = Uuid::new_v4();
    let job_a = store.create_job(a, "cli", &no_spec()).await.unwrap();
    assert_eq!(job_a.status, JobStatus::Running);
    assert_eq!(job_a.finished_at, None);
    assert_eq!(store.get_job(a).await.unwrap(), Some(job_a.clone()));
    store
        .create_job(b, "daemon:nightly", &no_spec())
        .await
        .unwrap();

    store.finish_job(a, JobStatus::Completed).await.unwrap();
    let done = store.get_job(a).await.unwrap().unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert!(done.finished_at.unwrap() >= done.created_at);

    let listed = store.list_jobs(10).await.unwrap();
    assert_eq!(
        listed.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![b, a],
        "most recent first"
    );
    assert_eq!(store.list_jobs(1).await.unwrap().len(), 1);
    assert!(store.list_jobs(-1).await.unwrap().is_empty());
    assert_eq!(store.get_job(Uuid::new_v4()).await.unwrap(), None);
    let mut both = store
        .get_jobs(&[b, Uuid::new_v4(), a])
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect::<Vec<_>>();
    both.sort();
    let mut expected = vec![a, b];
    expected.sort();
    assert_eq!(both, expected, "the asked jobs that exist");
    assert!(store.get_jobs(&[]).await.unwrap().is_empty());
    assert!(is_not_found(
        &store.finish_job(Uuid::new_v4(), JobStatus::Failed).await
    ));
    // Same id twice is a constraint error, not a silent overwrite.
    assert!(store.create_job(a, "again", &no_spec()).await.is_err());
    assert_eq!(store.get_job(a).await.unwrap().unwrap().label, "cli");
}

async fn cancel_job_and_counts(h: Harness) {
    let store = h.open().await;
    let job = Uuid::new_v4();
    store.create_job(job, "cli", &no_spec()).await.unwrap();
    assert!(store.job_counts(job).await.unwrap().is_empty());

    let statuses = [
        ("a.io", "m01", ItemStatus::NewVersion),
        ("a.io", "m02", ItemStatus::NewVersion),
        ("a.io", "m03", ItemStatus::Failed),
        ("b.io", "m01", ItemStatus::Pending),
        ("b.io", "m02", ItemStatus::Running),
        ("b.io", "m03", ItemStatus::Fresh),
    ];
    for (domain, module, status) in statuses {
        store
            .upsert_item(&item(job, domain, module, status))
            .await
            .unwrap();
    }
    // An overwrite moves the item between buckets instead of adding one.
    store
        .upsert_item(&item(job, "b.io", "m02", ItemStatus::Unchanged))
        .await
        .unwrap();
    // Another job's items do not count.
    let other = Uuid::new_v4();
    store.create_job(other, "other", &no_spec()).await.unwrap();
    store
        .upsert_item(&item(other, "a.io", "m01", ItemStatus::Failed))
        .await
        .unwrap();

    let expected: BTreeMap<ItemStatus, i64> = [
        (ItemStatus::Pending, 1),
        (ItemStatus::NewVersion, 2),
        (ItemStatus::Unchanged, 1),
        (ItemStatus::Fresh, 1),
        (ItemStatus::Failed, 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(store.job_counts(job).await.unwrap(), expected);
    assert!(store.job_counts(Uuid::new_v4()).await.unwrap().is_empty());

    assert!(store.cancel_job(job).await.unwrap(), "was running");
    let cancelled = store.get_job(job).await.unwrap().unwrap();
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    let finished_at = cancelled.finished_at.expect("cancel sets finished_at");
    assert!(finished_at >= cancelled.created_at);
    // Idempotent: a second cancel reports false and changes nothing.
    tokio::time::sleep(Duration::from_millis(2)).await;
    assert!(!store.cancel_job(job).await.unwrap());
    assert_eq!(store.get_job(job).await.unwrap().unwrap(), cancelled);
    // Items keep their status (the record of how far the job got).
    assert_eq!(store.job_counts(job).await.unwrap(), expected);

    // A job that already completed is not turned into a cancelled one.
    store.finish_job(other, JobStatus::Completed).await.unwrap();
    assert!(!store.cancel_job(other).await.unwrap());
    assert_eq!(
        store.get_job(other).await.unwrap().unwrap().status,
        JobStatus::Completed
    );
    assert!(is_not_found(&store.cancel_job(Uuid::new_v4()).await));
}

async fn items_upsert_and_overwrite(h: Harness) {
    let store = h.open().await;
    let job = Uuid::new_v4();
    store.create_job(job, "cli", &no_spec()).await.unwrap();
    let mut first = WorkItem {
        attempts: 1,
        started_at: Some(now()),
        ..item(job, "stripe.com", "m02_tech_stack", ItemStatus::Running)
    };
    store.upsert_item(&first).await.unwrap();
    let other = item(
        job,
        "stripe.com",
        "m01_company_context",
        ItemStatus::Pending,
    );
    store.upsert_item(&other).await.unwrap();
    let upper = item(job, "Zeta.io", "m01", ItemStatus::Pending);
    store.upsert_item(&upper).await.unwrap();

    first.status = ItemStatus::Failed;
    first.attempts = 2;
    first.error = Some("timeout".into());
    first.finished_at = Some(now());
    first.version = Some(3);
    store.upsert_item(&first).await.unwrap();

    let items = store.items_for_job(job).await.unwrap();
    assert_eq!(
        items,
        vec![upper, other, first],
        "overwritten in place, ordered by domain then module (byte order)"
    );
    assert!(store
        .items_for_job(Uuid::new_v4())
        .await
        .unwrap()
        .is_empty());

    // Items must belong to a job.
    let orphan = WorkItem {
        job_id: Uuid::new_v4(),
        ..items[0].clone()
    };
    assert!(store.upsert_item(&orphan).await.is_err());
}

async fn snapshot_versions_unchanged_and_derived_rows(h: Harness) {
    let store = h.open().await;
    let derive = Recording::default();
    let job = Uuid::new_v4();
    let mut first = snap("stripe.com", "m02", 1);
    first.job_id = Some(job);

    let out = store.save_snapshot(&first, &derive).await.unwrap();
    assert_eq!(
        out,
        SaveOutcome::Created {
            version: 1,
            events: vec![],
            alerts: vec![]
        }
    );
    let v1 = store
        .latest_snapshot("stripe.com", "m02")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v1.version, 1);
    assert_eq!(v1.data, first.data);
    assert_eq!(v1.citations, first.citations);
    assert_eq!(v1.content_hash, first.content_hash);
    assert_eq!(v1.job_id, Some(job));
    assert_eq!(v1.patch, None);
    assert_eq!(v1.fetched_at, first.fetched_at);
    assert_eq!(v1.checked_at, v1.created_at);

    tokio::time::sleep(Duration::from_millis(5)).await;
    let out = store.save_snapshot(&first, &derive).await.unwrap();
    assert_eq!(out, SaveOutcome::Unchanged { version: 1 });
    let touched = store
        .latest_snapshot("stripe.com", "m02")
        .await
        .unwrap()
        .unwrap();
    assert!(touched.checked_at > v1.checked_at, "checked_at moved");
    assert_eq!(touched.created_at, v1.created_at);
    assert_eq!(touched.version, 1);
    assert_eq!(touched.data, v1.data);

    let second = snap("stripe.com", "m02", 2);
    let SaveOutcome::Created {
        version,
        events,
        alerts,
    } = store.save_snapshot(&second, &derive).await.unwrap()
    else {
        panic!("expected a new version");
    };
    assert_eq!(version, 2);
    assert_eq!(events.len(), 1);
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        *derive.calls.lock().unwrap(),
        vec![(None, 1), (Some(1), 2)],
        "derive not called for an unchanged result"
    );
    let v2 = store
        .get_snapshot("stripe.com", "m02", 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        v2.patch,
        Some(json!([{"op": "replace", "path": "/n", "value": 2}]))
    );
    assert_eq!(v2.job_id, None);

    // Change events: persisted exactly as derived, filterable by domain and (inclusive) time.
    let stored_events = store
        .list_change_events(&changes(Some("stripe.com"), None, 100))
        .await
        .unwrap()
        .events;
    assert_eq!(stored_events, events);
    assert_eq!(stored_events[0].old_value, Some(json!(1)));
    assert!(store
        .list_change_events(&changes(Some("other.com"), None, 100))
        .await
        .unwrap()
        .events
        .is_empty());
    let later = events[0].detected_at + chrono::Duration::seconds(1);
    assert!(store
        .list_change_events(&changes(None, Some(later), 100))
        .await
        .unwrap()
        .events
        .is_empty());
    assert_eq!(
        store
            .list_change_events(&changes(None, Some(events[0].detected_at), 100))
            .await
            .unwrap()
            .events
            .len(),
        1,
        "since is inclusive"
    );
    assert!(store
        .list_change_events(&changes(None, None, 0))
        .await
        .unwrap()
        .events
        .is_empty());

    // The alert outbox: due alerts only, updates persisted field by field.
    let due = store.pending_alerts(now(), 10).await.unwrap();
    assert_eq!(due, alerts);
    let past = alerts[0].next_attempt_at - chrono::Duration::seconds(1);
    assert!(store.pending_alerts(past, 10).await.unwrap().is_empty());
    assert!(store.pending_alerts(now(), 0).await.unwrap().is_empty());

    let retry_at = now() + chrono::Duration::minutes(5);
    let mut retry = alerts[0].clone();
    retry.attempts = 1;
    retry.last_error = Some("HTTP 503".into());
    retry.next_attempt_at = retry_at;
    retry.payload = json!({"version": 2, "retried": true});
    store.update_alert(&retry).await.unwrap();
    assert!(
        store.pending_alerts(now(), 10).await.unwrap().is_empty(),
        "not due until the retry time"
    );
    assert_eq!(
        store.pending_alerts(retry_at, 10).await.unwrap(),
        vec![retry.clone()],
        "every updated field persisted"
    );

    let mut delivered = retry.clone();
    delivered.status = AlertStatus::Delivered;
    delivered.attempts = 2;
    delivered.last_error = None;
    delivered.delivered_at = Some(now());
    store.update_alert(&delivered).await.unwrap();
    assert!(store
        .pending_alerts(retry_at + chrono::Duration::days(1), 10)
        .await
        .unwrap()
        .is_empty());

    let mut unknown = delivered.clone();
    unknown.id = Uuid::new_v4();
    assert!(is_not_found(&store.update_alert(&unknown).await));

    assert_eq!(
        store.get_snapshot("stripe.com", "m02", 3).await.unwrap(),
        None
    );
    assert_eq!(
        store.latest_snapshot("stripe.com", "nope").await.unwrap(),
        None
    );
}

/// A result whose JSON text the executor wrote beforehand reads back exactly like one whose
/// text the store writes: same data, same citations, in one batch with an unencoded one.
async fn encoded_text_stores_what_the_values_say(h: Harness) {
    let store = h.open().await;
    let plain = snap("acme.io", "m01", 1);
    let encoded = snap("acme.io", "m02", 2).encoded();
    assert!(encoded.text.is_some());
    store
        .save_snapshots(&[plain.clone(), encoded.clone()], &NoDerivation)
        .await
        .unwrap();
    for new in [&plain, &encoded] {
        let stored = store
            .latest_snapshot("acme.io", &new.module)
            .await
            .unwrap()
            .expect("stored");
        assert_eq!(stored.data, new.data, "{}", new.module);
        assert_eq!(stored.citations, new.citations, "{}", new.module);
    }
}

async fn history_latest_and_get(h: Harness) {
    let store = h.open().await;
    for (module, n) in [
        ("m02", 1),
        ("m01", 10),
        ("m02", 2),
        ("M03", 20),
        ("m01", 11),
        ("m02", 3),
    ] {
        store
            .save_snapshot(&snap("acme.io", module, n), &NoDerivation)
            .await
            .unwrap();
    }
    store
        .save_snapshot(&snap("other.io", "m01", 99), &NoDerivation)
        .await
        .unwrap();

    let all = store.snapshot_history("acme.io", None).await.unwrap();
    let seen: Vec<_> = all.iter().map(|s| (s.module.as_str(), s.version)).collect();
    assert_eq!(
        seen,
        vec![
            ("m02", 1),
            ("m01", 1),
            ("m02", 2),
            ("M03", 1),
            ("m01", 2),
            ("m02", 3)
        ],
        "oldest first"
    );
    let m02 = store
        .snapshot_history("acme.io", Some("m02"))
        .await
        .unwrap();
    assert_eq!(
        m02.iter().map(|s| s.data["n"].clone()).collect::<Vec<_>>(),
        vec![json!(1), json!(2), json!(3)]
    );
    assert!(store
        .snapshot_history("none.io", None)
        .await
        .unwrap()
        .is_empty());

    let latest = store.latest_snapshots("acme.io").await.unwrap();
    let seen: Vec<_> = latest
        .iter()
        .map(|s| (s.module.as_str(), s.version))
        .collect();
    assert_eq!(
        seen,
        vec![("M03", 1), ("m01", 2), ("m02", 3)],
        "ordered by module id (byte order)"
    );
    assert!(store.latest_snapshots("none.io").await.unwrap().is_empty());

    // The set-based freshness read agrees with the latest versions, for several domains at once.
    let mut checked = store
        .latest_checked(&["acme.io".into(), "other.io".into(), "none.io".into()])
        .await
        .unwrap();
    checked.sort();
    let mut expect: Vec<(String, String, DateTime<Utc>)> = latest
        .iter()
        .map(|s| (s.domain.clone(), s.module.clone(), s.checked_at))
        .collect();
    let other = store
        .latest_snapshot("other.io", "m01")
        .await
        .unwrap()
        .unwrap();
    expect.push(("other.io".into(), "m01".into(), other.checked_at));
    expect.sort();
    assert_eq!(checked, expect);
    assert!(store.latest_checked(&[]).await.unwrap().is_empty());

    let v2 = store
        .get_snapshot("acme.io", "m01", 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v2.data["n"], json!(11));
    assert_eq!(v2, all[4]);
}

/// 20 concurrent saves of distinct results spread over `stores`: versions must be exactly 1..=20,
/// no result lost, and every derive must have seen the version just before its own.
async fn assert_concurrent_saves_are_sequential(stores: Vec<Arc<dyn Store>>, module: &str) {
    let derive = Arc::new(Recording::default());
    let mut tasks = Vec::new();
    for n in 0..20 {
        let store = stores[n % stores.len()].clone();
        let derive = derive.clone();
        let new = snap("race.io", module, n as i64);
        tasks.push(tokio::spawn(async move {
            store.save_snapshot(&new, derive.as_ref()).await
        }));
    }
    let mut versions = Vec::new();
    for task in tasks {
        match task.await.unwrap().unwrap() {
            SaveOutcome::Created { version, .. } => versions.push(version),
            other => panic!("distinct hashes must all be new versions, got {other:?}"),
        }
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=20).collect::<Vec<_>>());

    let history = stores[0]
        .snapshot_history("race.io", Some(module))
        .await
        .unwrap();
    assert_eq!(
        history.iter().map(|s| s.version).collect::<Vec<_>>(),
        (1..=20).collect::<Vec<_>>()
    );
    let mut hashes: Vec<_> = history.iter().map(|s| s.content_hash.clone()).collect();
    hashes.sort();
    hashes.dedup();
    assert_eq!(hashes.len(), 20, "no result lost");
    let mut calls = derive.calls.lock().unwrap().clone();
    calls.sort_by_key(|c| c.1);
    assert_eq!(calls.len(), 20);
    for (prev, version) in calls {
        assert_eq!(prev, (version > 1).then_some(version - 1), "stale previous");
    }
    // One change event per version after the first, none duplicated.
    let events = stores[0]
        .list_change_events(&changes(Some("race.io"), None, 1000))
        .await
        .unwrap()
        .events;
    let mut event_versions: Vec<_> = events
        .iter()
        .filter(|e| e.module == module)
        .map(|e| e.version)
        .collect();
    event_versions.sort_unstable();
    assert_eq!(event_versions, (2..=20).collect::<Vec<_>>());
}

async fn concurrent_saves_one_store(h: Harness) {
    assert_concurrent_saves_are_sequential(vec![h.open().await], "m01").await;
}

/// Independent stores on one database behave like separate processes: only the database's own
/// locking (SQLite file lock, PostgreSQL advisory lock) keeps them apart.
async fn concurrent_saves_two_stores(h: Harness) {
    let stores = vec![h.open().await, h.open().await, h.open().await];
    assert_concurrent_saves_are_sequential(stores, "m01").await;
}

/// Saves to different modules in parallel do not disturb each other's sequences.
async fn concurrent_saves_different_modules(h: Harness) {
    let a = h.open().await;
    let b = h.open().await;
    tokio::join!(
        assert_concurrent_saves_are_sequential(vec![a.clone(), b.clone()], "m01"),
        assert_concurrent_saves_are_sequential(vec![b, a], "m02"),
    );
}

async fn ledger_sums(h: Harness) {
    let store = h.open().await;
    let t0 = now() - chrono::Duration::days(2);
    let job = Uuid::new_v4();
    let charge = |provider: &str, cost: f64, at: DateTime<Utc>| ChargeRecord {
        provider: provider.into(),
        module: Some("m02_tech_stack".into()),
        domain: Some("stripe.com".into()),
        job_id: Some(job),
        cost,
        status: "200".into(),
        at,
        call_key: None,
    };
    assert_eq!(store.spent_since(None, t0).await.unwrap(), 0.0, "empty");
    assert_eq!(store.spent_since(Some("builtwith"), t0).await.unwrap(), 0.0);

    let yesterday = t0 + chrono::Duration::days(1);
    store
        .record_charge(&charge("builtwith", 1.5, t0))
        .await
        .unwrap();
    store
        .record_charge(&charge("builtwith", 2.25, yesterday))
        .await
        .unwrap();
    store
        .record_charge(&ChargeRecord {
            module: None,
            domain: None,
            job_id: None,
            status: "429".into(),
            ..charge("similarweb", 4.0, yesterday)
        })
        .await
        .unwrap();
    store
        .record_charge(&charge("builtwith", 0.25, now()))
        .await
        .unwrap();

    assert_eq!(store.spent_since(None, t0).await.unwrap(), 8.0);
    assert_eq!(store.spent_since(Some("builtwith"), t0).await.unwrap(), 4.0);
    assert_eq!(
        store
            .spent_since(Some("builtwith"), yesterday)
            .await
            .unwrap(),
        2.5,
        "since is inclusive"
    );
    let just_after = yesterday + chrono::Duration::microseconds(1);
    assert_eq!(
        store
            .spent_since(Some("builtwith"), just_after)
            .await
            .unwrap(),
        0.25
    );
    assert_eq!(store.spent_since(None, yesterday).await.unwrap(), 6.5);
    assert_eq!(
        store.spent_since(Some("similarweb"), t0).await.unwrap(),
        4.0
    );
    assert_eq!(store.spent_since(Some("nobody"), t0).await.unwrap(), 0.0);
    assert_eq!(
        store
            .spent_since(None, now() + chrono::Duration::seconds(1))
            .await
            .unwrap(),
        0.0
    );

    // Concurrent charges from two stores (processes) are all counted.
    let other = h.open().await;
    let since = now();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = if i % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        let c = charge("concurrent", 0.5, since);
        tasks.push(tokio::spawn(async move { s.record_charge(&c).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(
        store.spent_since(Some("concurrent"), since).await.unwrap(),
        10.0
    );
}

fn hold_record(provider: &str, job: Option<Uuid>, cost: f64) -> ChargeRecord {
    ChargeRecord {
        provider: provider.into(),
        module: Some("m03_traffic".into()),
        domain: Some("stripe.com".into()),
        job_id: job,
        cost,
        status: String::new(),
        at: now(),
        call_key: None,
    }
}

fn held(outcome: &HoldOutcome) -> Option<i64> {
    match outcome {
        HoldOutcome::Held(id) => Some(*id),
        HoldOutcome::Refused { .. } => None,
    }
}

/// The reservation rule: 60 holds racing from two stores (two processes) against a daily cap
/// of 10 take exactly 10; released holds free their credits, committed ones keep them; a job's
/// own cap counts that job only; a repeated call key pays once.
async fn charge_holds_never_pass_a_cap(h: Harness) {
    let (a, b) = (h.open().await, h.open().await);
    let since = now() - chrono::Duration::seconds(1);
    let day = vec![SpendCap {
        provider: Some("similarweb".into()),
        job: None,
        since: Some(since),
        limit: 10.0,
    }];
    let mut tasks = Vec::new();
    for i in 0..60 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        let caps = day.clone();
        tasks.push(tokio::spawn(async move {
            s.hold_charge(
                &hold_record("similarweb", None, 1.0),
                &caps,
                Duration::from_secs(60),
            )
            .await
        }));
    }
    let mut ids = Vec::new();
    let mut refused = Vec::new();
    for t in tasks {
        match t.await.unwrap().unwrap() {
            HoldOutcome::Held(id) => ids.push(id),
            HoldOutcome::Refused { cap, spent } => refused.push((cap, spent)),
        }
    }
    assert_eq!(ids.len(), 10, "exactly the cap is held");
    assert_eq!(refused.len(), 50);
    assert!(refused.iter().all(|r| *r == (0, 10.0)), "{refused:?}");
    assert_eq!(
        a.spent_since(Some("similarweb"), since).await.unwrap(),
        10.0
    );
    assert_eq!(a.unknown_since(None, since).await.unwrap(), 0.0);

    // Three released, seven committed (one of them at its real, lower cost).
    for id in &ids[..3] {
        b.release_charge(*id).await.unwrap();
    }
    for (n, id) in ids[3..].iter().enumerate() {
        let cost = if n == 0 { 0.5 } else { 1.0 };
        let key = format!("job|m03|stripe.com|similarweb|GET /x#{n}");
        a.commit_charge(*id, cost, "200", Some(&key)).await.unwrap();
    }
    assert_eq!(a.spent_since(Some("similarweb"), since).await.unwrap(), 6.5);
    // Releasing a committed charge changes nothing.
    a.release_charge(ids[4]).await.unwrap();
    assert_eq!(b.spent_since(Some("similarweb"), since).await.unwrap(), 6.5);
    let record = hold_record("similarweb", None, 1.0);
    let mut more = 0;
    for _ in 0..5 {
        let o = a
            .hold_charge(&record, &day, Duration::from_secs(60))
            .await
            .unwrap();
        more += usize::from(held(&o).is_some());
    }
    assert_eq!(
        more, 3,
        "released credits are free again, committed ones are not"
    );

    // A repeated call key: the second commit drops its hold instead of charging again.
    let dup = held(
        &a.hold_charge(
            &hold_record("other", None, 2.0),
            &[],
            Duration::from_secs(60),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    a.commit_charge(
        dup,
        2.0,
        "200",
        Some("job|m03|stripe.com|similarweb|GET /x#0"),
    )
    .await
    .unwrap();
    assert_eq!(a.spent_since(Some("other"), since).await.unwrap(), 0.0);

    // A job's own cap sums that job across providers and nothing else.
    let (job, other_job) = (Uuid::new_v4(), Uuid::new_v4());
    let job_cap = |j: Uuid| {
        vec![SpendCap {
            provider: None,
            job: Some(j),
            since: None,
            limit: 3.0,
        }]
    };
    for provider in ["p1", "p2", "p1"] {
        let o = b
            .hold_charge(
                &hold_record(provider, Some(job), 1.0),
                &job_cap(job),
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        assert!(held(&o).is_some());
    }
    let o = a
        .hold_charge(
            &hold_record("p2", Some(job), 1.0),
            &job_cap(job),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(o, HoldOutcome::Refused { cap: 0, spent: 3.0 });
    let o = a
        .hold_charge(
            &hold_record("p2", Some(other_job), 1.0),
            &job_cap(other_job),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert!(held(&o).is_some(), "another job has its own cap");
}

/// A hold nobody settles (its process died) becomes "unknown" when it expires: still counted
/// against every cap, reported apart; its holder coming back late can still commit it.
async fn expired_holds_are_unknown_and_stay_counted(h: Harness) {
    let store = h.open().await;
    let since = now() - chrono::Duration::seconds(1);
    let cap = vec![SpendCap {
        provider: Some("similarweb".into()),
        job: None,
        since: Some(since),
        limit: 2.0,
    }];
    let short = Duration::from_millis(100);
    let first = store
        .hold_charge(&hold_record("similarweb", None, 1.0), &cap, short)
        .await
        .unwrap();
    let second = store
        .hold_charge(&hold_record("similarweb", None, 1.0), &cap, short)
        .await
        .unwrap();
    assert_eq!(store.unknown_since(None, since).await.unwrap(), 0.0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.unknown_since(None, since).await.unwrap(), 2.0);
    let third = store
        .hold_charge(&hold_record("similarweb", None, 1.0), &cap, short)
        .await
        .unwrap();
    assert_eq!(
        third,
        HoldOutcome::Refused { cap: 0, spent: 2.0 },
        "expired holds stay counted"
    );
    assert_eq!(
        store.spent_since(Some("similarweb"), since).await.unwrap(),
        2.0
    );
    store
        .commit_charge(held(&first).unwrap(), 1.0, "200", None)
        .await
        .unwrap();
    assert_eq!(store.unknown_since(None, since).await.unwrap(), 1.0);
    assert_eq!(store.spent_since(None, since).await.unwrap(), 2.0);
    store.release_charge(held(&second).unwrap()).await.unwrap();
    assert_eq!(store.unknown_since(None, since).await.unwrap(), 0.0);
    assert_eq!(store.spent_since(None, since).await.unwrap(), 1.0);
}

async fn prune_versions_executes_a_retention_plan(h: Harness) {
    let store = h.open().await;
    let derive = Recording::default();
    for n in 1..=5 {
        store
            .save_snapshot(&snap("acme.io", "m01", n), &derive)
            .await
            .unwrap();
    }
    store
        .save_snapshot(&snap("acme.io", "m02", 1), &derive)
        .await
        .unwrap();
    assert_eq!(
        store.snapshot_keys().await.unwrap(),
        vec![
            ("acme.io".to_string(), "m01".to_string(), 5),
            ("acme.io".to_string(), "m02".to_string(), 1)
        ],
        "the keys retention walks"
    );
    store
        .save_snapshot(&snap("acme.io", "m02", 2), &derive)
        .await
        .unwrap();
    let events_before = store
        .list_change_events(&changes(None, None, 100))
        .await
        .unwrap()
        .events;

    // Refusals change nothing: deleting the latest, or a new base that does not exist.
    assert!(matches!(
        store
            .prune_versions("acme.io", "m01", &[1, 5], Some(2))
            .await,
        Err(StoreError::Invalid(_))
    ));
    assert!(is_not_found(
        &store
            .prune_versions("acme.io", "m01", &[1, 2], Some(9))
            .await
    ));
    assert!(
        is_not_found(
            &store
                .prune_versions("acme.io", "m01", &[1, 2], Some(2))
                .await
        ),
        "the new base must survive the deletion"
    );
    assert_eq!(
        store
            .snapshot_history("acme.io", Some("m01"))
            .await
            .unwrap()
            .len(),
        5,
        "rolled back"
    );

    let v3_before = store
        .get_snapshot("acme.io", "m01", 3)
        .await
        .unwrap()
        .unwrap();
    assert!(v3_before.patch.is_some());
    let deleted = store
        .prune_versions("acme.io", "m01", &[1, 2, 42], Some(3))
        .await
        .unwrap();
    assert_eq!(deleted, 2, "missing versions are ignored");

    let history = store
        .snapshot_history("acme.io", Some("m01"))
        .await
        .unwrap();
    assert_eq!(
        history.iter().map(|s| s.version).collect::<Vec<_>>(),
        vec![3, 4, 5]
    );
    assert_eq!(history[0].patch, None, "new base has no patch");
    assert_eq!(history[0].data, v3_before.data, "new base keeps its data");
    assert!(history[1].patch.is_some(), "later patches untouched");
    // Other modules and change events are untouched.
    assert_eq!(
        store
            .snapshot_history("acme.io", Some("m02"))
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store
            .list_change_events(&changes(None, None, 100))
            .await
            .unwrap()
            .events,
        events_before
    );
    // Versioning continues after the latest, never reusing a number.
    let out = store
        .save_snapshot(&snap("acme.io", "m01", 6), &NoDerivation)
        .await
        .unwrap();
    assert!(matches!(out, SaveOutcome::Created { version: 6, .. }));

    // An empty plan is a no-op; so is a plan without a new base.
    assert_eq!(
        store
            .prune_versions("acme.io", "m01", &[], None)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .prune_versions("acme.io", "m01", &[3], None)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .get_snapshot("acme.io", "m01", 4)
            .await
            .unwrap()
            .unwrap()
            .patch,
        history[1].patch,
        "without new_base no patch is cleared"
    );
    assert_eq!(
        store
            .prune_versions("none.io", "m01", &[1], None)
            .await
            .unwrap(),
        0
    );
}

/// What one store writes, another store (process) on the same database reads.
async fn data_visible_to_a_second_store(h: Harness) {
    let first = h.open().await;
    let job = Uuid::new_v4();
    first.create_job(job, "cli", &no_spec()).await.unwrap();
    first
        .upsert_item(&item(job, "acme.io", "m01", ItemStatus::Pending))
        .await
        .unwrap();
    first
        .save_snapshot(&snap("acme.io", "m01", 1), &NoDerivation)
        .await
        .unwrap();

    let second = h.open().await;
    assert_eq!(second.get_job(job).await.unwrap().unwrap().label, "cli");
    assert_eq!(second.items_for_job(job).await.unwrap().len(), 1);
    assert!(second.cancel_job(job).await.unwrap());
    assert_eq!(
        first.get_job(job).await.unwrap().unwrap().status,
        JobStatus::Cancelled
    );
    let out = second
        .save_snapshot(&snap("acme.io", "m01", 2), &NoDerivation)
        .await
        .unwrap();
    assert!(matches!(out, SaveOutcome::Created { version: 2, .. }));
    assert_eq!(
        first
            .latest_snapshot("acme.io", "m01")
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );
}

// ---------------------------------------------------------------------------------------------
// URL dispatch (backend-independent)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn open_store_selects_backend_by_url() {
    let dir = tempfile::tempdir().unwrap();
    for url in [
        dir.path().join("plain.db").display().to_string(),
        format!("sqlite:{}", dir.path().join("short.db").display()),
        format!("sqlite://{}", dir.path().join("long.db").display()),
        "sqlite::memory:".to_string(),
    ] {
        let store = open_store(&url).await.unwrap();
        store
            .create_job(Uuid::new_v4(), "x", &no_spec())
            .await
            .unwrap();
        assert_eq!(store.list_jobs(10).await.unwrap().len(), 1, "{url}");
    }
    for bad in ["mysql://localhost/db", "", "   ", "sqlite://", "http://x/y"] {
        assert!(
            matches!(open_store(bad).await, Err(StoreError::UnsupportedUrl(_))),
            "{bad:?}"
        );
    }
    // A postgres URL goes to PgStore: with nothing listening the error is a connection error,
    // not "unsupported".
    for url in [
        "postgres://nobody@127.0.0.1:1/db",
        "postgresql://nobody@127.0.0.1:1/db",
    ] {
        assert!(
            matches!(open_store(url).await, Err(StoreError::Open { .. })),
            "{url}"
        );
    }
}

/// The daemon's target list: ordered by domain (byte order), re-adding keeps `added_at`,
/// duplicates count once, removal reports whether the domain was listed, and a second store on
/// the same database sees the same list.
async fn targets_add_list_remove(h: Harness) {
    let store = h.open().await;
    assert!(store.list_targets().await.unwrap().is_empty());
    let added = store
        .add_targets(&[
            "b.example".into(),
            "a.example".into(),
            "B.example".into(),
            "a.example".into(),
        ])
        .await
        .unwrap();
    assert_eq!(added, 3, "the duplicate a.example counts once");
    let first = store.list_targets().await.unwrap();
    let names: Vec<&str> = first.iter().map(|t| t.domain.as_str()).collect();
    assert_eq!(names, ["B.example", "a.example", "b.example"], "byte order");

    tokio::time::sleep(Duration::from_millis(5)).await;
    let added = store
        .add_targets(&["a.example".into(), "c.example".into()])
        .await
        .unwrap();
    assert_eq!(added, 1);
    let second = store.list_targets().await.unwrap();
    let a_before = first.iter().find(|t| t.domain == "a.example").unwrap();
    let a_after = second.iter().find(|t| t.domain == "a.example").unwrap();
    assert_eq!(
        a_before.added_at, a_after.added_at,
        "re-adding keeps added_at"
    );
    let c = second.iter().find(|t| t.domain == "c.example").unwrap();
    assert!(c.added_at > a_after.added_at);
    assert_eq!(store.add_targets(&[]).await.unwrap(), 0);

    assert!(store.remove_target("a.example").await.unwrap());
    assert!(!store.remove_target("a.example").await.unwrap());
    assert!(!store.remove_target("never.example").await.unwrap());

    let other = h.open().await;
    let names: Vec<String> = other
        .list_targets()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.domain)
        .collect();
    assert_eq!(names, ["B.example", "b.example", "c.example"]);
}

// ---------------------------------------------------------------------------------------------
// Work queue, shared pacing, keyed completion (issue 6)
// ---------------------------------------------------------------------------------------------

fn domains(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("d{i:04}.example")).collect()
}

const LONG: Duration = Duration::from_secs(60);

/// Closing finished rows in batches: only the holder's running rows close, the others are left
/// as they are and not reported, and the batch that closes a job's last rows completes it.
async fn queue_closes_many_rows_at_once(h: Harness) {
    let store = h.open().await;
    let job = Uuid::new_v4();
    store
        .enqueue_job(job, "cli:enqueue", &no_spec(), &domains(6))
        .await
        .unwrap();
    let mine = store.claim_queue_items("w1", None, 4, LONG).await.unwrap();
    let theirs = store.claim_queue_items("w2", None, 2, LONG).await.unwrap();
    assert_eq!((mine.len(), theirs.len()), (4, 2));
    assert!(store
        .complete_queue_items_done("w1", &[])
        .await
        .unwrap()
        .is_empty());

    // Three of mine and one of theirs: only mine close.
    let ask = [mine[2].id, theirs[0].id, mine[0].id, mine[1].id];
    let mut expected = vec![mine[0].id, mine[1].id, mine[2].id];
    expected.sort_unstable();
    assert_eq!(
        store.complete_queue_items_done("w1", &ask).await.unwrap(),
        expected
    );
    // Closed rows are not closed twice.
    assert!(store
        .complete_queue_items_done("w1", &ask)
        .await
        .unwrap()
        .is_empty());
    let counts = store.queue_counts(job).await.unwrap();
    assert_eq!(counts[&QueueStatus::Done], 3);
    assert_eq!(counts[&QueueStatus::Running], 3);
    assert_eq!(
        store.get_job(job).await.unwrap().unwrap().status,
        JobStatus::Running
    );

    // The last rows, closed together by their holders: the job completes.
    assert_eq!(
        store
            .complete_queue_items_done("w2", &[theirs[0].id, theirs[1].id])
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store.get_job(job).await.unwrap().unwrap().status,
        JobStatus::Running,
        "w1 still holds one"
    );
    assert_eq!(
        store
            .complete_queue_items_done("w1", &[mine[3].id])
            .await
            .unwrap(),
        vec![mine[3].id]
    );
    let done = store.get_job(job).await.unwrap().unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert!(done.finished_at.is_some());
    let all_done: BTreeMap<QueueStatus, i64> = [(QueueStatus::Done, 6)].into_iter().collect();
    assert_eq!(store.queue_counts(job).await.unwrap(), all_done);
}

/// The budget page's breakdown: charges grouped by (job, module, provider) with their calls
/// and credits, charges before `since` left out, charges outside any job or module kept.
async fn spend_is_grouped_by_job_module_and_provider(h: Harness) {
    let store = h.open().await;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let now = chrono::Utc::now();
    let charge =
        |job: Option<Uuid>, module: Option<&str>, provider: &str, cost: f64, at| ChargeRecord {
            provider: provider.into(),
            module: module.map(str::to_string),
            domain: Some("a.example".into()),
            job_id: job,
            cost,
            status: "200".into(),
            at,
            call_key: None,
        };
    for c in [
        charge(Some(a), Some("m03_traffic"), "similarweb", 1.0, now),
        charge(Some(a), Some("m03_traffic"), "similarweb", 1.0, now),
        charge(Some(a), Some("m05_competitors"), "similarweb", 2.0, now),
        charge(Some(b), Some("m03_traffic"), "similarweb", 1.0, now),
        charge(None, None, "builtwith", 0.5, now),
        charge(
            Some(b),
            Some("m03_traffic"),
            "similarweb",
            7.0,
            now - chrono::Duration::days(40),
        ),
    ] {
        store.record_charge(&c).await.unwrap();
    }
    let mut groups = store
        .spend_groups(now - chrono::Duration::days(1))
        .await
        .unwrap();
    groups.sort_by(|x, y| {
        (x.job_id, &x.module, &x.provider).cmp(&(y.job_id, &y.module, &y.provider))
    });
    /// (job, module, provider, calls, credits)
    type Row<'a> = (Option<Uuid>, Option<&'a str>, &'a str, i64, f64);
    let got: Vec<Row<'_>> = groups
        .iter()
        .map(|g| {
            (
                g.job_id,
                g.module.as_deref(),
                g.provider.as_str(),
                g.calls,
                g.credits,
            )
        })
        .collect();
    let mut want: Vec<Row<'_>> = vec![
        (Some(a), Some("m03_traffic"), "similarweb", 2, 2.0),
        (Some(a), Some("m05_competitors"), "similarweb", 1, 2.0),
        (Some(b), Some("m03_traffic"), "similarweb", 1, 1.0),
        (None, None, "builtwith", 1, 0.5),
    ];
    want.sort_by(|x, y| (x.0, x.1, x.2).cmp(&(y.0, y.1, y.2)));
    assert_eq!(got, want);
}

async fn queue_enqueue_claim_complete(h: Harness) {
    let store = h.open().await;
    let job = Uuid::new_v4();
    let mut list = domains(5);
    list.push("d0001.example".into()); // duplicates count once
    let created = store
        .enqueue_job(job, "cli:enqueue", &no_spec(), &list)
        .await
        .unwrap();
    assert_eq!(created.status, JobStatus::Running);
    assert_eq!(
        store.get_job(job).await.unwrap().unwrap().label,
        "cli:enqueue"
    );
    let pending: BTreeMap<QueueStatus, i64> = [(QueueStatus::Pending, 5)].into_iter().collect();
    assert_eq!(store.queue_counts(job).await.unwrap(), pending);

    let first = store.claim_queue_items("w1", None, 2, LONG).await.unwrap();
    assert_eq!(
        first.iter().map(|i| i.domain.as_str()).collect::<Vec<_>>(),
        vec!["d0000.example", "d0001.example"],
        "oldest first"
    );
    assert!(first.iter().all(|i| i.job_id == job && i.attempts == 1));
    let counts = store.queue_counts(job).await.unwrap();
    assert_eq!(counts[&QueueStatus::Running], 2);
    assert_eq!(counts[&QueueStatus::Pending], 3);

    // Only the holder completes; a second completion changes nothing.
    assert!(!store
        .complete_queue_item("w2", first[0].id, QueueStatus::Done, None)
        .await
        .unwrap());
    assert!(store
        .complete_queue_item("w1", first[0].id, QueueStatus::Done, None)
        .await
        .unwrap());
    assert!(!store
        .complete_queue_item("w1", first[0].id, QueueStatus::Done, None)
        .await
        .unwrap());
    assert!(matches!(
        store
            .complete_queue_item("w1", first[1].id, QueueStatus::Pending, None)
            .await,
        Err(StoreError::Invalid(_))
    ));
    store
        .complete_queue_item("w1", first[1].id, QueueStatus::Failed, Some("boom"))
        .await
        .unwrap();

    let rest = store
        .claim_queue_items("w2", Some(job), 10, LONG)
        .await
        .unwrap();
    assert_eq!(rest.len(), 3);
    assert!(store
        .claim_queue_items("w3", None, 10, LONG)
        .await
        .unwrap()
        .is_empty());
    for item in &rest {
        assert_eq!(
            store.get_job(job).await.unwrap().unwrap().status,
            JobStatus::Running
        );
        assert!(store
            .complete_queue_item("w2", item.id, QueueStatus::Done, None)
            .await
            .unwrap());
    }
    // The last completion completes the job.
    let done = store.get_job(job).await.unwrap().unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert!(done.finished_at.is_some());
    let expected: BTreeMap<QueueStatus, i64> = [(QueueStatus::Done, 4), (QueueStatus::Failed, 1)]
        .into_iter()
        .collect();
    assert_eq!(store.queue_counts(job).await.unwrap(), expected);

    // A job with nothing to do is complete at once.
    let empty = Uuid::new_v4();
    let job = store
        .enqueue_job(empty, "cli", &no_spec(), &[])
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    assert!(
        store
            .enqueue_job(empty, "again", &no_spec(), &[])
            .await
            .is_err(),
        "same id twice"
    );
}

/// Six claimers on three independent stores (like processes) drain 200 rows: every row is
/// claimed exactly once.
async fn queue_concurrent_claims_never_double_claim(h: Harness) {
    let setup = h.open().await;
    let job = Uuid::new_v4();
    setup
        .enqueue_job(job, "cli", &no_spec(), &domains(200))
        .await
        .unwrap();
    let stores = [h.open().await, h.open().await, h.open().await];
    let mut tasks = Vec::new();
    for w in 0..6 {
        let store = stores[w % 3].clone();
        tasks.push(tokio::spawn(async move {
            let owner = format!("w{w}");
            let mut got = Vec::new();
            loop {
                let batch = store
                    .claim_queue_items(&owner, None, 7, LONG)
                    .await
                    .unwrap();
                if batch.is_empty() {
                    break;
                }
                for item in batch {
                    got.push(item.id);
                    assert!(store
                        .complete_queue_item(&owner, item.id, QueueStatus::Done, None)
                        .await
                        .unwrap());
                }
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(n, 200, "no row claimed twice");
    assert_eq!(all.len(), 200, "every row claimed");
    assert_eq!(
        setup.get_job(job).await.unwrap().unwrap().status,
        JobStatus::Completed
    );
}

async fn queue_leases_expire_and_heartbeats_extend(h: Harness) {
    let a = h.open().await;
    let b = h.open().await;
    let job = Uuid::new_v4();
    a.enqueue_job(job, "cli", &no_spec(), &domains(3))
        .await
        .unwrap();
    let lease = Duration::from_millis(600);
    let held = a.claim_queue_items("a", None, 3, lease).await.unwrap();
    assert_eq!(held.len(), 3);
    let ids: Vec<i64> = held.iter().map(|i| i.id).collect();
    assert!(b
        .claim_queue_items("b", None, 3, lease)
        .await
        .unwrap()
        .is_empty());

    // Heartbeats keep the lease alive past its original expiry.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            a.heartbeat_queue_items("a", &ids, lease).await.unwrap(),
            ids
        );
    }
    assert!(b
        .claim_queue_items("b", None, 3, lease)
        .await
        .unwrap()
        .is_empty());

    // "a" dies (stops heartbeating): after the lease, "b" reclaims with attempts 2.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let reclaimed = b.claim_queue_items("b", None, 3, LONG).await.unwrap();
    assert_eq!(reclaimed.iter().map(|i| i.id).collect::<Vec<_>>(), ids);
    assert!(reclaimed.iter().all(|i| i.attempts == 2));
    assert!(a
        .heartbeat_queue_items("a", &ids, lease)
        .await
        .unwrap()
        .is_empty());
    assert!(!a
        .complete_queue_item("a", ids[0], QueueStatus::Done, None)
        .await
        .unwrap());
    assert!(b
        .complete_queue_item("b", ids[0], QueueStatus::Done, None)
        .await
        .unwrap());
}

async fn queue_release_cancel_prune(h: Harness) {
    let store = h.open().await;
    let job = Uuid::new_v4();
    store
        .enqueue_job(job, "cli", &no_spec(), &domains(4))
        .await
        .unwrap();
    let held = store.claim_queue_items("w", None, 2, LONG).await.unwrap();
    assert_eq!(
        store.release_queue_items("w", &[held[1].id]).await.unwrap(),
        1
    );
    assert_eq!(
        store
            .release_queue_items("other", &[held[0].id])
            .await
            .unwrap(),
        0
    );
    // A released row is claimable again and the release did not count as an attempt.
    let again = store.claim_queue_items("v", None, 1, LONG).await.unwrap();
    assert_eq!(again[0].id, held[1].id);
    assert_eq!(again[0].attempts, 1);

    assert!(store.cancel_job(job).await.unwrap());
    let counts = store.queue_counts(job).await.unwrap();
    assert_eq!(
        counts[&QueueStatus::Cancelled],
        2,
        "unclaimed rows are cancelled"
    );
    assert_eq!(counts[&QueueStatus::Running], 2, "claimed rows finish");
    assert!(store
        .claim_queue_items("x", None, 10, LONG)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .complete_queue_item("w", held[0].id, QueueStatus::Done, None)
        .await
        .unwrap());
    assert_eq!(
        store.get_job(job).await.unwrap().unwrap().status,
        JobStatus::Cancelled,
        "a cancelled job stays cancelled"
    );

    // Pruning removes closed rows finished before the cut-off, never open ones.
    assert_eq!(
        store
            .prune_queue(now() - chrono::Duration::hours(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .prune_queue(now() + chrono::Duration::seconds(1))
            .await
            .unwrap(),
        3
    );
    let left: BTreeMap<QueueStatus, i64> = [(QueueStatus::Running, 1)].into_iter().collect();
    assert_eq!(store.queue_counts(job).await.unwrap(), left);
}

/// The queue at volume (issue 15): the claim's look for rows whose holders died too often
/// reads the running rows' index, not the whole table; on PostgreSQL a large enqueue leaves the
/// table analyzed (claims over fresh rows are planned in index order at once) and a large prune
/// leaves it vacuumed (the next round's rows reuse the space).
async fn queue_at_volume_is_planned_and_vacuumed(h: Harness) {
    let store = h.open().await;
    let pg = h.url.starts_with("postgres");
    if pg {
        // Autovacuum working on the table at the wrong moment would make the store's own
        // `VACUUM (SKIP_LOCKED)` skip it: keep it out of this throwaway schema.
        raw_sql(
            &h.url,
            &["ALTER TABLE queue SET (autovacuum_enabled = false)"],
        )
        .await;
    }
    let job = Uuid::new_v4();
    let n = 2_000;
    store
        .enqueue_job(job, "cli", &no_spec(), &domains(n))
        .await
        .unwrap();
    if pg {
        assert!(
            pg_queue_stat(&h.url, "last_analyze").await,
            "analyzed after the enqueue"
        );
    }
    let plan = explain(
        &h.url,
        "SELECT id FROM queue WHERE status = 'running' AND lease_expires_at < '2100-01-01' \
         AND attempts >= 3",
    )
    .await;
    assert!(plan.contains("queue_running"), "{plan}");

    let held = store.claim_queue_items("w", None, 64, LONG).await.unwrap();
    let ids: Vec<i64> = held.iter().map(|i| i.id).collect();
    assert_eq!(ids.len(), 64);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first: {ids:?}");
    assert_eq!(
        store
            .complete_queue_items_done("w", &ids)
            .await
            .unwrap()
            .len(),
        64
    );
    assert!(store.cancel_job(job).await.unwrap());
    let pruned = store
        .prune_queue(now() + chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(pruned, n as u64);
    if pg {
        assert!(
            pg_queue_stat(&h.url, "last_vacuum").await,
            "vacuumed after the prune"
        );
    }
}

/// Whether `pg_stat_user_tables.<column>` (a timestamp) is set for this schema's queue table.
async fn pg_queue_stat(url: &str, column: &str) -> bool {
    let pool = sqlx::PgPool::connect(url).await.expect("connect");
    let set: bool = sqlx::query_scalar(&format!(
        "SELECT {column} IS NOT NULL FROM pg_stat_user_tables \
         WHERE relname = 'queue' AND schemaname = current_schema()"
    ))
    .fetch_one(&pool)
    .await
    .expect("read the queue's statistics");
    pool.close().await;
    set
}

/// The backend's query plan for `sql`, as text.
async fn explain(url: &str, sql: &str) -> String {
    use sqlx::Row;
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.expect("connect");
        let rows = sqlx::query(&format!("EXPLAIN {sql}"))
            .fetch_all(&pool)
            .await
            .expect("explain");
        pool.close().await;
        rows.iter().map(|r| r.get::<String, _>(0) + "\n").collect()
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.expect("connect");
        let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
            .fetch_all(&pool)
            .await
            .expect("explain");
        pool.close().await;
        rows.iter().map(|r| r.get::<String, _>(3) + "\n").collect()
    }
}

/// A row whose holder keeps dying is given up after MAX_QUEUE_ATTEMPTS claims.
async fn queue_gives_up_after_max_attempts(h: Harness) {
    let store = h.open().await;
    let job = Uuid::new_v4();
    store
        .enqueue_job(job, "cli", &no_spec(), &domains(1))
        .await
        .unwrap();
    let lease = Duration::from_millis(50);
    for attempt in 1..=MAX_QUEUE_ATTEMPTS {
        let got = store.claim_queue_items("w", None, 1, lease).await.unwrap();
        assert_eq!(got.len(), 1, "attempt {attempt}");
        assert_eq!(got[0].attempts, attempt);
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
    assert!(store
        .claim_queue_items("w", None, 1, lease)
        .await
        .unwrap()
        .is_empty());
    let counts: BTreeMap<QueueStatus, i64> = [(QueueStatus::Failed, 1)].into_iter().collect();
    assert_eq!(store.queue_counts(job).await.unwrap(), counts);
    assert_eq!(
        store.get_job(job).await.unwrap().unwrap().status,
        JobStatus::Completed
    );
}

/// GCRA slots are shared by every store on the database and advance by count * interval.
async fn rate_slots_are_shared(h: Harness) {
    let a = h.open().await;
    let b = h.open().await;
    let t = Duration::from_millis(100);
    assert_eq!(
        a.reserve_rate_slots("p", t, 5).await.unwrap(),
        Duration::ZERO
    );
    let second = b.reserve_rate_slots("p", t, 5).await.unwrap();
    assert!(
        second > Duration::from_millis(400) && second <= Duration::from_millis(500),
        "{second:?}"
    );
    // Another bucket is independent.
    assert_eq!(
        b.reserve_rate_slots("q", t, 1).await.unwrap(),
        Duration::ZERO
    );
    // Concurrent reservers get disjoint slots: 20 single slots end 2s after the first 10.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            s.reserve_rate_slots("p", t, 1).await.unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let last = a.reserve_rate_slots("p", t, 1).await.unwrap();
    assert!(
        last > Duration::from_millis(2700) && last <= Duration::from_millis(3000),
        "{last:?}"
    );
    // An idle bucket does not bank capacity: after its slots pass, it starts at now again.
    let quick = Duration::from_millis(10);
    a.reserve_rate_slots("r", quick, 3).await.unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(
        a.reserve_rate_slots("r", quick, 1).await.unwrap(),
        Duration::ZERO
    );
}

/// A job stores at most one version per (domain, module), and a keyed charge is counted once.
async fn keyed_snapshots_and_charges(h: Harness) {
    let store = h.open().await;
    let (j, k) = (Uuid::new_v4(), Uuid::new_v4());
    let keyed = |n: i64, job: Uuid| NewSnapshot {
        job_id: Some(job),
        ..snap("key.io", "m01", n)
    };
    let saved = store
        .save_snapshot(&keyed(1, j), &NoDerivation)
        .await
        .unwrap();
    assert!(matches!(saved, SaveOutcome::Created { version: 1, .. }));
    let retry = store
        .save_snapshot(&keyed(2, j), &NoDerivation)
        .await
        .unwrap();
    assert_eq!(retry, SaveOutcome::Unchanged { version: 1 }, "retried item");
    let other = store
        .save_snapshot(&keyed(2, k), &NoDerivation)
        .await
        .unwrap();
    assert!(matches!(other, SaveOutcome::Created { version: 2, .. }));
    assert_eq!(
        store
            .save_snapshot(&keyed(3, j), &NoDerivation)
            .await
            .unwrap(),
        SaveOutcome::Unchanged { version: 1 }
    );
    assert_eq!(
        store.snapshot_history("key.io", None).await.unwrap().len(),
        2
    );
    // Without a job there is no key: every distinct result is a version.
    let free = store
        .save_snapshot(&snap("key.io", "m01", 9), &NoDerivation)
        .await
        .unwrap();
    assert!(matches!(free, SaveOutcome::Created { version: 3, .. }));

    let t0 = now();
    let charge = |key: Option<&str>| ChargeRecord {
        provider: "builtwith".into(),
        module: Some("m02".into()),
        domain: Some("key.io".into()),
        job_id: Some(j),
        cost: 1.0,
        status: "200".into(),
        at: t0,
        call_key: key.map(str::to_string),
    };
    store
        .record_charge(&charge(Some("j|m02|key.io|GET /x#1")))
        .await
        .unwrap();
    store
        .record_charge(&charge(Some("j|m02|key.io|GET /x#1")))
        .await
        .unwrap();
    store
        .record_charge(&charge(Some("j|m02|key.io|GET /x#2")))
        .await
        .unwrap();
    store.record_charge(&charge(None)).await.unwrap();
    store.record_charge(&charge(None)).await.unwrap();
    assert_eq!(store.spent_since(None, t0).await.unwrap(), 4.0);
}

// ---------------------------------------------------------------------------------------------
// Capabilities (issue 12): errors, job specifications, alert enums, the changes query, batches
// ---------------------------------------------------------------------------------------------

/// A [`DeriveChanges`] from a closure, for tests that need particular events or alerts.
struct Emit<F>(F);

impl<F> DeriveChanges for Emit<F>
where
    F: Fn(Option<&Snapshot>, &NewSnapshot, i64) -> Derived + Send + Sync,
{
    fn derive(&self, previous: Option<&Snapshot>, next: &NewSnapshot, version: i64) -> Derived {
        (self.0)(previous, next, version)
    }
}

fn event_for(next: &NewSnapshot, version: i64, level: Level, at: DateTime<Utc>) -> ChangeEvent {
    ChangeEvent {
        id: Uuid::new_v4(),
        domain: next.domain.clone(),
        module: next.module.clone(),
        version,
        path: "/n".into(),
        kind: pforge_core::ChangeKind::Changed,
        old_value: None,
        new_value: Some(next.data["n"].clone()),
        significance: 10,
        level,
        rule: "test".into(),
        detected_at: at,
    }
}

async fn errors_say_what_happened(h: Harness) {
    let store = h.open().await;
    let job = Uuid::new_v4();
    store.create_job(job, "cli", &no_spec()).await.unwrap();
    let dup = store.create_job(job, "again", &no_spec()).await;
    assert!(
        matches!(&dup, Err(StoreError::Conflict { what }) if what.contains(&job.to_string())),
        "{dup:?}"
    );
    assert_eq!(
        dup.unwrap_err().to_string(),
        format!("job {job} already exists")
    );
    assert!(matches!(
        store
            .enqueue_job(job, "again", &no_spec(), &domains(2))
            .await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(
        store.queue_counts(job).await.unwrap().is_empty(),
        "a refused enqueue queues nothing"
    );

    let ghost = Uuid::new_v4();
    let err = store
        .finish_job(ghost, JobStatus::Failed)
        .await
        .unwrap_err();
    assert!(matches!(&err, StoreError::NotFound { .. }), "{err:?}");
    assert_eq!(err.to_string(), format!("no job {ghost}"));
    assert!(matches!(
        store.cancel_job(ghost).await,
        Err(StoreError::NotFound { .. })
    ));
    let orphan = store
        .upsert_item(&item(ghost, "a.io", "m01", ItemStatus::Pending))
        .await;
    assert!(
        matches!(&orphan, Err(StoreError::NotFound { what }) if what.contains(&ghost.to_string())),
        "{orphan:?}"
    );

    let bad = ChangeQuery {
        cursor: Some("not-a-cursor".into()),
        limit: 5,
        ..ChangeQuery::default()
    };
    assert!(matches!(
        store.list_change_events(&bad).await,
        Err(StoreError::Invalid(_))
    ));
    store
        .save_snapshot(&snap("p.io", "m01", 1), &NoDerivation)
        .await
        .unwrap();
    store
        .save_snapshot(&snap("p.io", "m01", 2), &NoDerivation)
        .await
        .unwrap();
    let base = store.prune_versions("p.io", "m01", &[1], Some(7)).await;
    assert!(
        matches!(&base, Err(StoreError::NotFound { what }) if what.contains("version 7 of p.io/m01")),
        "{base:?}"
    );
}

async fn job_specs_are_kept(h: Harness) {
    let store = h.open().await;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let spec_a = json!({"modules": ["m01", "m02"], "refresh": "all", "max_spend": 12.5,
                        "origin": {"kind": "api", "note": "é"}});
    let spec_b = json!({"modules": null, "refresh": "stale"});
    assert_eq!(
        store.create_job(a, "api", &spec_a).await.unwrap().spec,
        spec_a
    );
    let queued = store
        .enqueue_job(b, "cli:enqueue", &spec_b, &domains(2))
        .await
        .unwrap();
    assert_eq!(queued.spec, spec_b);
    assert_eq!(store.get_job(a).await.unwrap().unwrap().spec, spec_a);
    let other = h.open().await;
    let listed = other.list_jobs(10).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|j| (j.id, j.spec.clone()))
            .collect::<Vec<_>>(),
        vec![(b, spec_b), (a, spec_a)]
    );
    assert_eq!(
        listed[0].label, "cli:enqueue",
        "the label stays the job's origin"
    );
}

async fn alert_status_and_delivery_are_enums(h: Harness) {
    let store = h.open().await;
    let at = now();
    let derive = Emit(move |_: Option<&Snapshot>, next: &NewSnapshot, version| {
        let alert = |delivery| Alert {
            id: Uuid::new_v4(),
            rule: "r".into(),
            recipient: "revops".into(),
            channel: "stdout".into(),
            delivery,
            domain: next.domain.clone(),
            payload: json!({"version": version}),
            status: AlertStatus::Pending,
            attempts: 0,
            last_error: None,
            created_at: at,
            next_attempt_at: at,
            delivered_at: None,
        };
        Derived {
            alerts: Delivery::ALL.into_iter().map(alert).collect(),
            ..Derived::default()
        }
    });
    store
        .save_snapshot(&snap("al.io", "m01", 1), &derive)
        .await
        .unwrap();
    let pending = store
        .list_alerts(Some(AlertStatus::Pending), 10)
        .await
        .unwrap();
    let mut deliveries: Vec<Delivery> = pending.iter().map(|a| a.delivery).collect();
    deliveries.sort();
    assert_eq!(deliveries, Delivery::ALL.to_vec());

    let mut dead = pending[0].clone();
    dead.status = AlertStatus::Dead;
    dead.attempts = 5;
    store.update_alert(&dead).await.unwrap();
    assert_eq!(
        store
            .list_alerts(Some(AlertStatus::Dead), 10)
            .await
            .unwrap(),
        vec![dead.clone()]
    );
    assert_eq!(
        store
            .list_alerts(Some(AlertStatus::Pending), 10)
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(store
        .list_alerts(Some(AlertStatus::Disabled), 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.list_alerts(None, 10).await.unwrap().len(), 3);
    let wire = serde_json::to_value(&dead).unwrap();
    assert_eq!(wire["status"], "dead");
    assert_eq!(wire["delivery"], dead.delivery.as_str());
}

/// Sixty events of mixed levels over two domains and two modules, detected a second apart in
/// pairs (so ties in time are broken by id).
async fn changes_are_filtered_newest_first_in_pages(h: Harness) {
    let store = h.open().await;
    let base = now() - chrono::Duration::days(1);
    let levels = [
        Level::Low,
        Level::Medium,
        Level::High,
        Level::Critical,
        Level::Low,
        Level::High,
    ];
    let derive = Emit(move |_: Option<&Snapshot>, next: &NewSnapshot, version| {
        let i = next.data["n"].as_i64().unwrap_or_default();
        Derived {
            events: vec![event_for(
                next,
                version,
                levels[i as usize % levels.len()],
                base + chrono::Duration::seconds(i / 2),
            )],
            ..Derived::default()
        }
    });
    let news: Vec<NewSnapshot> = (0..60)
        .map(|i: i64| {
            let domain = ["a.io", "b.io"][i as usize % 2];
            let module = ["m01", "m02"][(i as usize / 3) % 2];
            snap(domain, module, i)
        })
        .collect();
    let mut all = Vec::new();
    // Half in one batch, half one by one: both paths store events the same way.
    for out in store.save_snapshots(&news[..30], &derive).await.unwrap() {
        let SaveOutcome::Created { events, .. } = out else {
            panic!("distinct results are new versions");
        };
        all.extend(events);
    }
    for new in &news[30..] {
        let SaveOutcome::Created { events, .. } = store.save_snapshot(new, &derive).await.unwrap()
        else {
            panic!("distinct results are new versions");
        };
        all.extend(events);
    }
    assert_eq!(all.len(), 60);
    let newest = |all: &[ChangeEvent], keep: &dyn Fn(&ChangeEvent) -> bool| {
        let mut v: Vec<ChangeEvent> = all.iter().filter(|e| keep(e)).cloned().collect();
        v.sort_by_key(|e| std::cmp::Reverse((e.detected_at, e.id)));
        v
    };

    // The bug this query fixes: the limit applies after the level filter, newest first.
    let high = ChangeQuery {
        min_level: Some(Level::High),
        limit: 5,
        ..ChangeQuery::default()
    };
    let page = store.list_change_events(&high).await.unwrap();
    let expected = newest(&all, &|e| e.level >= Level::High);
    assert_eq!(
        page.events,
        expected[..5].to_vec(),
        "the five newest high-or-critical"
    );
    assert!(page.next_cursor.is_some());

    // Paging returns every matching event exactly once, newest first, while new events arrive.
    let medium = ChangeQuery {
        min_level: Some(Level::Medium),
        limit: 7,
        ..ChangeQuery::default()
    };
    let expected = newest(&all, &|e| e.level >= Level::Medium);
    let (mut seen, mut cursor, mut pages) = (Vec::new(), None, 0);
    loop {
        let page = store
            .list_change_events(&ChangeQuery {
                cursor: cursor.clone(),
                ..medium.clone()
            })
            .await
            .unwrap();
        assert!(page.events.len() <= 7);
        seen.extend(page.events);
        pages += 1;
        if pages == 1 {
            // Concurrent inserts: newer than the cursor, so they never land inside a page.
            let later = Emit(
                |_: Option<&Snapshot>, next: &NewSnapshot, version| Derived {
                    events: vec![event_for(next, version, Level::Critical, now())],
                    ..Derived::default()
                },
            );
            for n in 100..103 {
                let SaveOutcome::Created { events, .. } = store
                    .save_snapshot(&snap("a.io", "m01", n), &later)
                    .await
                    .unwrap()
                else {
                    panic!("a new version");
                };
                all.extend(events);
            }
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, expected, "every match once, newest first");
    assert_eq!(pages, expected.len().div_ceil(7));
    // A fresh first page sees the new events first.
    let fresh = store.list_change_events(&medium).await.unwrap();
    assert_eq!(
        fresh.events,
        newest(&all, &|e| e.level >= Level::Medium)[..7].to_vec()
    );

    // Domain and module filters, alone and together.
    let by = |domain: Option<&str>, module: Option<&str>| ChangeQuery {
        domain: domain.map(str::to_string),
        module: module.map(str::to_string),
        limit: 1000,
        ..ChangeQuery::default()
    };
    let got = store
        .list_change_events(&by(Some("b.io"), None))
        .await
        .unwrap();
    assert_eq!(got.events, newest(&all, &|e| e.domain == "b.io"));
    assert_eq!(got.next_cursor, None);
    let got = store
        .list_change_events(&by(None, Some("m02")))
        .await
        .unwrap();
    assert_eq!(got.events, newest(&all, &|e| e.module == "m02"));
    let got = store
        .list_change_events(&by(Some("a.io"), Some("m01")))
        .await
        .unwrap();
    assert_eq!(
        got.events,
        newest(&all, &|e| e.domain == "a.io" && e.module == "m01")
    );
    assert!(store
        .list_change_events(&by(Some("c.io"), None))
        .await
        .unwrap()
        .events
        .is_empty());

    // since is inclusive, until exclusive; a limit equal to the matches leaves no next page.
    let (since, until) = (
        base + chrono::Duration::seconds(10),
        base + chrono::Duration::seconds(20),
    );
    let window = newest(&all, &|e| e.detected_at >= since && e.detected_at < until);
    assert_eq!(window.len(), 20);
    let got = store
        .list_change_events(&ChangeQuery {
            since: Some(since),
            until: Some(until),
            limit: 20,
            ..ChangeQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(got.events, window);
    assert_eq!(got.next_cursor, None);
    let empty = store
        .list_change_events(&ChangeQuery::default())
        .await
        .unwrap();
    assert_eq!(empty, pforge_store::ChangePage::default(), "limit 0");
}

/// A batch gives the outcomes saving one by one gives (each snapshot sees the ones before it),
/// and a batch that fails writes nothing.
async fn batches_save_like_one_by_one_and_fail_whole(h: Harness) {
    let store = h.open().await;
    let (j, k) = (Uuid::new_v4(), Uuid::new_v4());
    let script = |domain: &str| {
        let at = |module: &str, n: i64, job: Option<Uuid>| NewSnapshot {
            job_id: job,
            ..snap(domain, module, n)
        };
        vec![
            at("m01", 1, None),
            at("M02", 1, None),
            at("m01", 2, None),
            at("m01", 2, None),    // same hash as the version just created
            at("m01", 3, Some(j)), // a new version by job j
            at("m01", 4, Some(j)), // j already stored one: nothing written
            at("m01", 3, Some(k)), // same hash as the latest: unchanged
        ]
    };
    let shape = |out: &[SaveOutcome]| {
        out.iter()
            .map(|o| match o {
                SaveOutcome::Created {
                    version,
                    events,
                    alerts,
                } => ("created", *version, events.len(), alerts.len()),
                SaveOutcome::Unchanged { version } => ("unchanged", *version, 0, 0),
            })
            .collect::<Vec<_>>()
    };
    let batch_derive = Recording::default();
    let batched = store
        .save_snapshots(&script("batch.io"), &batch_derive)
        .await
        .unwrap();
    let single_derive = Recording::default();
    let mut singles = Vec::new();
    for new in script("single.io") {
        singles.push(store.save_snapshot(&new, &single_derive).await.unwrap());
    }
    assert_eq!(shape(&batched), shape(&singles));
    assert_eq!(
        shape(&batched),
        vec![
            ("created", 1, 0, 0),
            ("created", 1, 0, 0),
            ("created", 2, 1, 1),
            ("unchanged", 2, 0, 0),
            ("created", 3, 1, 1),
            ("unchanged", 3, 0, 0),
            ("unchanged", 3, 0, 0),
        ]
    );
    assert_eq!(
        *batch_derive.calls.lock().unwrap(),
        *single_derive.calls.lock().unwrap(),
        "derive saw the same previous versions"
    );
    for domain in ["batch.io", "single.io"] {
        let history = store.snapshot_history(domain, Some("m01")).await.unwrap();
        assert_eq!(
            history
                .iter()
                .map(|s| (s.version, s.data["n"].clone(), s.job_id))
                .collect::<Vec<_>>(),
            vec![
                (1, json!(1), None),
                (2, json!(2), None),
                (3, json!(3), Some(j))
            ]
        );
        assert!(history[1].patch.is_some() && history[2].patch.is_some());
        let events = store
            .list_change_events(&changes(Some(domain), None, 100))
            .await
            .unwrap()
            .events;
        let mut versions: Vec<i64> = events.iter().map(|e| e.version).collect();
        versions.sort_unstable();
        assert_eq!(versions, vec![2, 3]);
    }
    assert_eq!(
        store.snapshot_keys().await.unwrap(),
        vec![
            ("batch.io".to_string(), "M02".to_string(), 1),
            ("batch.io".to_string(), "m01".to_string(), 3),
            ("single.io".to_string(), "M02".to_string(), 1),
            ("single.io".to_string(), "m01".to_string(), 3),
        ],
        "byte order"
    );

    // Two events with one id: the second insert fails, and so does the whole batch.
    let clash = Uuid::new_v4();
    let failing = Emit(
        move |_: Option<&Snapshot>, next: &NewSnapshot, version| Derived {
            events: vec![ChangeEvent {
                id: clash,
                ..event_for(next, version, Level::High, now())
            }],
            ..Derived::default()
        },
    );
    let doomed = [snap("fail.io", "m01", 1), snap("fail.io", "m02", 1)];
    assert!(store.save_snapshots(&doomed, &failing).await.is_err());
    assert_eq!(store.latest_snapshot("fail.io", "m01").await.unwrap(), None);
    assert!(store.latest_snapshots("fail.io").await.unwrap().is_empty());
    assert!(store
        .list_change_events(&changes(Some("fail.io"), None, 10))
        .await
        .unwrap()
        .events
        .is_empty());
    let again = store.save_snapshots(&doomed, &NoDerivation).await.unwrap();
    assert!(
        again
            .iter()
            .all(|o| matches!(o, SaveOutcome::Created { version: 1, .. })),
        "no version number was used up: {again:?}"
    );
    assert!(store
        .save_snapshots(&[], &NoDerivation)
        .await
        .unwrap()
        .is_empty());
}

/// Batches over the same modules in opposite orders, from several stores at once: none
/// deadlocks, and every module's versions stay dense.
async fn concurrent_batches_over_shared_modules_never_deadlock(h: Harness) {
    let stores = [h.open().await, h.open().await];
    let derive = Arc::new(Recording::default());
    let modules = ["m0", "m1", "m2", "m3", "m4"];
    let mut tasks = Vec::new();
    for t in 0..6i64 {
        let store = stores[t as usize % 2].clone();
        let derive = derive.clone();
        tasks.push(tokio::spawn(async move {
            for round in 0..5i64 {
                let mut batch: Vec<NewSnapshot> = modules
                    .iter()
                    .map(|m| snap("lock.io", m, t * 100 + round))
                    .collect();
                if t % 2 == 1 {
                    batch.reverse();
                }
                let out = store.save_snapshots(&batch, derive.as_ref()).await?;
                assert!(out.iter().all(|o| matches!(o, SaveOutcome::Created { .. })));
            }
            Ok::<(), StoreError>(())
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    for m in modules {
        let versions: Vec<i64> = stores[0]
            .snapshot_history("lock.io", Some(m))
            .await
            .unwrap()
            .iter()
            .map(|s| s.version)
            .collect();
        assert_eq!(versions, (1..=30).collect::<Vec<_>>(), "{m}");
    }
    let calls = derive.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 150);
    assert!(calls
        .iter()
        .all(|(prev, v)| *prev == (*v > 1).then_some(v - 1)));
}

// ---------------------------------------------------------------------------------------------
// Accounts summary
// ---------------------------------------------------------------------------------------------

fn account_query() -> AccountQuery {
    AccountQuery {
        fields: AccountFields {
            name: FieldRef::new("co", "name"),
            tier: FieldRef::new("icp", "tier"),
            icp_score: FieldRef::new("icp", "score"),
            intent_score: FieldRef::new("intent", "score"),
            intent_band: FieldRef::new("intent", "level"),
            technologies: FieldRef::new("tech", "technologies"),
            technology_name: "name".into(),
        },
        text: None,
        tier: None,
        min_intent: None,
        technology: None,
        min_change_level: None,
        sort: AccountSort::Domain,
        descending: false,
        offset: 0,
        limit: 50,
    }
}

fn data_snap(domain: &str, module: &str, data: Value) -> NewSnapshot {
    NewSnapshot {
        domain: domain.into(),
        module: module.into(),
        content_hash: format!("{data}"),
        data,
        citations: json!([]),
        fetched_at: now(),
        job_id: None,
        text: None,
    }
}

async fn accounts_summary_filters_sorts_and_pages(h: Harness) {
    let store = h.open().await;
    let accounts = [
        (
            "acme.io",
            "Acme",
            "A",
            80,
            75,
            "hot",
            vec!["Algolia", "React"],
        ),
        ("beta.io", "Beta Corp", "B", 60, 30, "cool", vec!["React"]),
        ("gamma.io", "Gamma", "A", 90, 45, "warm", vec![]),
    ];
    for (d, name, tier, icp, intent, band, tech) in &accounts {
        let techs: Vec<Value> = tech.iter().map(|t| json!({"name": t})).collect();
        for (module, data) in [
            ("co", json!({"name": name})),
            ("icp", json!({"tier": tier, "score": icp})),
            ("intent", json!({"score": intent, "level": band})),
            ("tech", json!({"technologies": techs})),
        ] {
            store
                .save_snapshot(&data_snap(d, module, data), &NoDerivation)
                .await
                .unwrap();
        }
    }
    // An older intent version must not count: only the latest snapshot does.
    store
        .save_snapshot(
            &data_snap("beta.io", "intent", json!({"score": 35, "level": "cool"})),
            &Recording::default(),
        )
        .await
        .unwrap();
    // A target without snapshots is an account with nothing known yet.
    store.add_targets(&["new.io".into()]).await.unwrap();
    // The newest job for acme.io failed one module.
    let job = Uuid::new_v4();
    store.create_job(job, "cli", &no_spec()).await.unwrap();
    let mut failed = item(job, "acme.io", "hiring", ItemStatus::Failed);
    failed.error = Some("HTTP 500".into());
    store.upsert_item(&failed).await.unwrap();
    store
        .upsert_item(&item(job, "acme.io", "co", ItemStatus::Unchanged))
        .await
        .unwrap();

    let page = store.list_accounts(&account_query()).await.unwrap();
    let domains: Vec<&str> = page.rows.iter().map(|r| r.domain.as_str()).collect();
    assert_eq!(domains, ["acme.io", "beta.io", "gamma.io", "new.io"]);
    assert_eq!(page.total, 4);
    let acme = &page.rows[0];
    assert_eq!(acme.name.as_deref(), Some("Acme"));
    assert_eq!(acme.tier.as_deref(), Some("A"));
    assert_eq!((acme.icp_score, acme.intent_score), (Some(80), Some(75)));
    assert_eq!(acme.intent_band.as_deref(), Some("hot"));
    assert_eq!(acme.failing_modules, ["hiring"]);
    assert!(acme.last_enriched.is_some() && acme.last_change_at.is_none());
    let beta = &page.rows[1];
    assert_eq!(beta.intent_score, Some(35), "the latest version counts");
    assert_eq!(beta.last_change_level.as_deref(), Some("high"));
    assert!(beta.last_change_at.is_some() && beta.failing_modules.is_empty());
    assert_eq!(page.rows[3].name, None);
    assert_eq!(
        page.by_tier,
        vec![
            (Some("A".to_string()), 2),
            (Some("B".to_string()), 1),
            (None, 1)
        ]
    );
    assert_eq!(page.by_intent_band.iter().map(|(_, n)| n).sum::<i64>(), 4);

    let list = |q: AccountQuery| {
        let store = store.clone();
        async move {
            let p = store.list_accounts(&q).await.unwrap();
            (
                p.rows.into_iter().map(|r| r.domain).collect::<Vec<_>>(),
                p.total,
            )
        }
    };
    let by_intent = AccountQuery {
        sort: AccountSort::IntentScore,
        descending: true,
        ..account_query()
    };
    assert_eq!(
        list(by_intent).await.0,
        ["acme.io", "gamma.io", "beta.io", "new.io"],
        "missing values last"
    );
    let by_name = AccountQuery {
        sort: AccountSort::Name,
        ..account_query()
    };
    assert_eq!(
        list(by_name).await.0,
        ["acme.io", "beta.io", "gamma.io", "new.io"]
    );
    let tier_a = AccountQuery {
        tier: Some("A".into()),
        ..account_query()
    };
    assert_eq!(
        list(tier_a).await,
        (vec!["acme.io".to_string(), "gamma.io".to_string()], 2)
    );
    let min = AccountQuery {
        min_intent: Some(40),
        ..account_query()
    };
    assert_eq!(list(min).await.1, 2);
    let react = AccountQuery {
        technology: Some("react".into()),
        ..account_query()
    };
    assert_eq!(
        list(react).await.0,
        ["acme.io", "beta.io"],
        "technology names match in any case"
    );
    let text = AccountQuery {
        text: Some("CORP".into()),
        ..account_query()
    };
    assert_eq!(list(text).await.0, ["beta.io"], "text matches the name too");
    let changed = AccountQuery {
        min_change_level: Some(Level::High),
        ..account_query()
    };
    assert_eq!(list(changed).await.0, ["beta.io"]);
    let paged = AccountQuery {
        limit: 2,
        offset: 2,
        ..account_query()
    };
    assert_eq!(
        list(paged).await,
        (vec!["gamma.io".to_string(), "new.io".to_string()], 4)
    );
    let bad = AccountQuery {
        limit: 0,
        ..account_query()
    };
    assert!(matches!(
        store.list_accounts(&bad).await,
        Err(StoreError::Invalid(_))
    ));
}

/// A store opened the way the application opens it: with the summary's fields.
async fn open_with_fields(h: &Harness) -> Arc<dyn Store> {
    let options = StoreOptions {
        account_fields: Some(account_query().fields),
    };
    open_store_with(&h.url, &options).await.expect("open store")
}

/// The one row of `domain` in the summary (with no filter), if it is listed.
async fn account(store: &Arc<dyn Store>, domain: &str) -> Option<pforge_store::AccountRow> {
    let q = AccountQuery {
        text: Some(domain.into()),
        ..account_query()
    };
    let page = store.list_accounts(&q).await.unwrap();
    page.rows.into_iter().find(|r| r.domain == domain)
}

async fn runs(store: &Arc<dyn Store>, tech: &str) -> Vec<String> {
    let q = AccountQuery {
        technology: Some(tech.into()),
        ..account_query()
    };
    let page = store.list_accounts(&q).await.unwrap();
    page.rows.into_iter().map(|r| r.domain).collect()
}

/// The summary follows every write in the write's own transaction: a new version sets the
/// module's columns, an unchanged rerun moves `last_enriched`, a change event becomes the last
/// change, a new tech stack replaces the technologies; the intent history is every version.
async fn accounts_summary_follows_writes(h: Harness) {
    let store = open_with_fields(&h).await;
    assert_eq!(
        store.list_accounts(&account_query()).await.unwrap().total,
        0
    );

    for (module, data) in [
        ("co", json!({"name": "Acme"})),
        ("intent", json!({"score": 40, "level": "cool"})),
        (
            "tech",
            json!({"technologies": [{"name": "Algolia"}, {"name": "React"}]}),
        ),
    ] {
        store
            .save_snapshot(&data_snap("acme.io", module, data), &NoDerivation)
            .await
            .unwrap();
    }
    let first = account(&store, "acme.io").await.expect("listed");
    assert_eq!(first.name.as_deref(), Some("Acme"));
    assert_eq!(
        (first.intent_score, first.intent_band.as_deref()),
        (Some(40), Some("cool"))
    );
    assert_eq!(first.intent_history, [40]);
    assert_eq!(first.last_change_at, None);
    assert_eq!(runs(&store, "ALGOLIA").await, ["acme.io"]);

    // An unchanged rerun only confirms: last_enriched moves, nothing else.
    tokio::time::sleep(Duration::from_millis(5)).await;
    store
        .save_snapshot(
            &data_snap("acme.io", "intent", json!({"score": 40, "level": "cool"})),
            &NoDerivation,
        )
        .await
        .unwrap();
    let rerun = account(&store, "acme.io").await.unwrap();
    assert!(rerun.last_enriched > first.last_enriched, "{rerun:?}");
    assert_eq!(rerun.intent_history, [40]);

    // A new version with a change event.
    store
        .save_snapshot(
            &data_snap("acme.io", "intent", json!({"score": 72.4, "level": "hot"})),
            &Recording::default(),
        )
        .await
        .unwrap();
    let changed = account(&store, "acme.io").await.unwrap();
    assert_eq!(
        (changed.intent_score, changed.intent_band.as_deref()),
        (Some(72), Some("hot"))
    );
    assert_eq!(changed.last_change_level.as_deref(), Some("high"));
    assert!(changed.last_change_at.is_some());
    assert_eq!(changed.intent_history, [40, 72]);
    let hot = AccountQuery {
        min_intent: Some(70),
        ..account_query()
    };
    assert_eq!(store.list_accounts(&hot).await.unwrap().total, 1);

    // A new tech stack replaces the old one: Algolia removed.
    store
        .save_snapshot(
            &data_snap(
                "acme.io",
                "tech",
                json!({"technologies": [{"name": "React"}]}),
            ),
            &NoDerivation,
        )
        .await
        .unwrap();
    assert!(runs(&store, "algolia").await.is_empty());
    assert_eq!(runs(&store, "react").await, ["acme.io"]);

    // A batch holding two versions of one module keeps the later one.
    store
        .save_snapshots(
            &[
                data_snap("beta.io", "co", json!({"name": "Beta 1"})),
                data_snap("beta.io", "co", json!({"name": "Beta 2"})),
            ],
            &NoDerivation,
        )
        .await
        .unwrap();
    assert_eq!(
        account(&store, "beta.io").await.unwrap().name.as_deref(),
        Some("Beta 2")
    );

    // Pruning old versions changes no latest value (the history shrinks).
    store
        .prune_versions("acme.io", "intent", &[1], Some(2))
        .await
        .unwrap();
    let pruned = account(&store, "acme.io").await.unwrap();
    assert_eq!(pruned.intent_score, Some(72));
    assert_eq!(pruned.intent_history, [72]);

    // Another process sees the same summary.
    let other = h.open().await;
    assert_eq!(
        account(&other, "acme.io").await.unwrap().intent_score,
        Some(72)
    );
}

/// Targets are accounts; removing an account hides it and unlists it, keeping its history,
/// and adding or saving it again shows it again.
/// One batch whose domains set different columns (and one domain two versions of a module,
/// with a change event) leaves every row as saving them one by one would.
async fn accounts_summary_follows_a_batch_of_mixed_rows(h: Harness) {
    let store = open_with_fields(&h).await;
    store
        .save_snapshot(
            &data_snap(
                "acme.io",
                "intent",
                json!({"score": 40, "level": "cool", "n": 1}),
            ),
            &NoDerivation,
        )
        .await
        .unwrap();
    let before = account(&store, "acme.io").await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;

    let batch = [
        data_snap("acme.io", "co", json!({"name": "Acme"})),
        data_snap("beta.io", "icp", json!({"tier": "A", "score": 81})),
        data_snap(
            "acme.io",
            "intent",
            json!({"score": 55, "level": "warm", "n": 2}),
        ),
        data_snap(
            "gamma.io",
            "tech",
            json!({"technologies": [{"name": "React"}]}),
        ),
        data_snap(
            "acme.io",
            "intent",
            json!({"score": 72, "level": "hot", "n": 3}),
        ),
        data_snap("beta.io", "co", json!({"name": "Beta"})),
    ];
    store
        .save_snapshots(&batch, &Recording::default())
        .await
        .unwrap();

    let acme = account(&store, "acme.io").await.unwrap();
    assert_eq!(acme.name.as_deref(), Some("Acme"));
    assert_eq!(
        (acme.intent_score, acme.intent_band.as_deref()),
        (Some(72), Some("hot")),
        "the later version of the batch wins"
    );
    assert_eq!((acme.tier.as_deref(), acme.icp_score), (None, None));
    assert_eq!(acme.last_change_level.as_deref(), Some("high"));
    assert!(acme.last_change_at.is_some());
    assert!(acme.last_enriched > before.last_enriched, "{acme:?}");

    let beta = account(&store, "beta.io").await.unwrap();
    assert_eq!(beta.name.as_deref(), Some("Beta"));
    assert_eq!(
        (beta.tier.as_deref(), beta.icp_score),
        (Some("A"), Some(81))
    );
    assert_eq!((beta.intent_score, beta.last_change_at), (None, None));

    let gamma = account(&store, "gamma.io").await.unwrap();
    assert_eq!((gamma.name, gamma.last_change_at), (None, None));
    assert_eq!(runs(&store, "react").await, ["gamma.io"]);
    assert_eq!(acme.last_enriched, beta.last_enriched);
    assert_eq!(beta.last_enriched, gamma.last_enriched);

    // A later version that raised no change event sets its values and keeps the last change.
    let newest = acme.last_change_at;
    let quiet = data_snap(
        "acme.io",
        "intent",
        json!({"score": 10, "level": "cold", "n": 4}),
    );
    store.save_snapshots(&[quiet], &NoDerivation).await.unwrap();
    let acme = account(&store, "acme.io").await.unwrap();
    assert_eq!(acme.intent_score, Some(10));
    assert_eq!(
        acme.last_change_at, newest,
        "no new event, the last change stays"
    );
}

async fn accounts_summary_follows_targets_and_removal(h: Harness) {
    let store = open_with_fields(&h).await;
    store
        .add_targets(&["new.io".into(), "acme.io".into()])
        .await
        .unwrap();
    assert!(account(&store, "new.io").await.is_some());
    assert!(store.remove_target("new.io").await.unwrap());
    assert!(
        account(&store, "new.io").await.is_none(),
        "no snapshots: no account"
    );

    store
        .save_snapshot(
            &data_snap("acme.io", "co", json!({"name": "Acme"})),
            &NoDerivation,
        )
        .await
        .unwrap();
    assert!(store.remove_target("acme.io").await.unwrap());
    assert!(
        account(&store, "acme.io").await.is_some(),
        "snapshots keep it an account"
    );
    store.add_targets(&["acme.io".into()]).await.unwrap();

    assert_eq!(
        store
            .remove_accounts(&["acme.io".into(), "never.io".into()])
            .await
            .unwrap(),
        1
    );
    assert!(account(&store, "acme.io").await.is_none());
    assert_eq!(
        store.list_accounts(&account_query()).await.unwrap().total,
        0
    );
    assert!(
        store.list_targets().await.unwrap().is_empty(),
        "schedules stop"
    );
    assert_eq!(
        store.snapshot_history("acme.io", None).await.unwrap().len(),
        1
    );
    assert_eq!(store.remove_accounts(&["acme.io".into()]).await.unwrap(), 0);

    // Adding it again brings it back with what is known.
    store.add_targets(&["acme.io".into()]).await.unwrap();
    assert_eq!(
        account(&store, "acme.io").await.unwrap().name.as_deref(),
        Some("Acme")
    );

    // So does enriching it again (even when nothing changed).
    store.remove_accounts(&["acme.io".into()]).await.unwrap();
    store
        .save_snapshot(
            &data_snap("acme.io", "co", json!({"name": "Acme"})),
            &NoDerivation,
        )
        .await
        .unwrap();
    assert!(account(&store, "acme.io").await.is_some());

    // A removed account stays removed across a rebuild.
    store.remove_accounts(&["acme.io".into()]).await.unwrap();
    let mut other = account_query();
    other.fields.name = FieldRef::new("co", "legal_name");
    assert_eq!(store.list_accounts(&other).await.unwrap().total, 0);
}

/// Queried with other fields than it was built with, the summary is rebuilt from the
/// snapshots; a process that opens the database without fields follows the recorded ones.
async fn accounts_summary_rebuilds_for_other_fields(h: Harness) {
    let plain = h.open().await;
    plain
        .save_snapshot(
            &data_snap(
                "acme.io",
                "co",
                json!({"name": "Acme", "legal_name": "Acme Inc."}),
            ),
            &NoDerivation,
        )
        .await
        .unwrap();
    plain
        .save_snapshot(
            &data_snap(
                "acme.io",
                "tech",
                json!({"technologies": [{"name": "Algolia"}]}),
            ),
            &NoDerivation,
        )
        .await
        .unwrap();
    assert_eq!(
        account(&plain, "acme.io").await.unwrap().name.as_deref(),
        Some("Acme")
    );
    assert_eq!(runs(&plain, "algolia").await, ["acme.io"]);

    let mut legal = account_query();
    legal.fields.name = FieldRef::new("co", "legal_name");
    let page = plain.list_accounts(&legal).await.unwrap();
    assert_eq!(page.rows[0].name.as_deref(), Some("Acme Inc."));

    // A writer opened without fields keeps the summary with the recorded ones.
    let writer = h.open().await;
    writer
        .save_snapshot(
            &data_snap(
                "acme.io",
                "co",
                json!({"name": "Acme", "legal_name": "Acme Holdings"}),
            ),
            &NoDerivation,
        )
        .await
        .unwrap();
    let page = plain.list_accounts(&legal).await.unwrap();
    assert_eq!(page.rows[0].name.as_deref(), Some("Acme Holdings"));
    assert_eq!(
        runs(&plain, "algolia").await,
        ["acme.io"],
        "rebuilt technologies"
    );
}

/// A database from before the summary existed (its tables empty after the migration) comes up
/// with a correct summary when the application opens it.
async fn accounts_summary_rebuilds_an_old_database(h: Harness) {
    let store = h.open().await;
    for (d, module, data) in [
        ("acme.io", "co", json!({"name": "Acme"})),
        ("acme.io", "icp", json!({"tier": "A", "score": 80})),
        (
            "acme.io",
            "tech",
            json!({"technologies": [{"name": "Algolia"}]}),
        ),
        ("beta.io", "intent", json!({"score": 30, "level": "cool"})),
    ] {
        store
            .save_snapshot(&data_snap(d, module, data), &NoDerivation)
            .await
            .unwrap();
    }
    store
        .save_snapshot(
            &data_snap("beta.io", "intent", json!({"score": 35, "level": "cool"})),
            &Recording::default(),
        )
        .await
        .unwrap();
    store.add_targets(&["new.io".into()]).await.unwrap();
    drop(store);
    raw_sql(
        &h.url,
        &[
            "DELETE FROM account_technologies",
            "DELETE FROM account_summary",
            "DELETE FROM account_summary_meta",
        ],
    )
    .await;

    let store = open_with_fields(&h).await;
    let page = store.list_accounts(&account_query()).await.unwrap();
    let domains: Vec<&str> = page.rows.iter().map(|r| r.domain.as_str()).collect();
    assert_eq!(domains, ["acme.io", "beta.io", "new.io"]);
    let acme = &page.rows[0];
    assert_eq!(
        (acme.name.as_deref(), acme.tier.as_deref(), acme.icp_score),
        (Some("Acme"), Some("A"), Some(80))
    );
    assert!(acme.last_enriched.is_some());
    let beta = &page.rows[1];
    assert_eq!(beta.intent_score, Some(35));
    assert_eq!(beta.last_change_level.as_deref(), Some("high"));
    assert_eq!(beta.intent_history, [30, 35]);
    assert_eq!(runs(&store, "Algolia").await, ["acme.io"]);
    assert_eq!(page.by_tier[0], (Some("A".to_string()), 1));
}

/// The fast paths of the filters (issue 13: a technology list on the row, a precomputed
/// lowercase search text, the counting index) match exactly what the plain definitions do:
/// a text never matches across the domain and the name, `%` and `_` stay wildcards, a
/// technology name holding the row list's separator is still found, descending sorts keep
/// missing values last, and the counts add up to the total.
async fn accounts_filters_match_exactly_at_the_edges(h: Harness) {
    let store = h.open().await;
    for (d, name, intent, tech) in [
        (
            "alpha.io",
            Some("Corp One"),
            Some(10),
            vec!["Algolia", "A\u{1f}B"],
        ),
        ("beta.com", Some("50% Off"), None, vec!["algolia"]),
        ("gamma.io", None, Some(90), vec!["React"]),
        ("delta.io", Some("Io_Corp"), Some(50), vec![]),
    ] {
        if let Some(name) = name {
            store
                .save_snapshot(&data_snap(d, "co", json!({"name": name})), &NoDerivation)
                .await
                .unwrap();
        }
        let techs: Vec<Value> = tech.iter().map(|t| json!({"name": t})).collect();
        store
            .save_snapshot(
                &data_snap(d, "tech", json!({"technologies": techs})),
                &NoDerivation,
            )
            .await
            .unwrap();
        if let Some(score) = intent {
            store
                .save_snapshot(
                    &data_snap(d, "intent", json!({"score": score, "level": "warm"})),
                    &NoDerivation,
                )
                .await
                .unwrap();
        }
    }
    let list = |q: AccountQuery| {
        let store = store.clone();
        async move {
            let p = store.list_accounts(&q).await.unwrap();
            let tiers: i64 = p.by_tier.iter().map(|(_, n)| n).sum();
            let bands: i64 = p.by_intent_band.iter().map(|(_, n)| n).sum();
            assert_eq!((tiers, bands), (p.total, p.total), "{q:?}");
            p.rows.into_iter().map(|r| r.domain).collect::<Vec<_>>()
        }
    };
    let text = |t: &str| AccountQuery {
        text: Some(t.into()),
        ..account_query()
    };
    let tech = |t: &str| AccountQuery {
        technology: Some(t.into()),
        ..account_query()
    };
    assert!(
        list(text("iocorp")).await.is_empty(),
        "not across domain and name"
    );
    assert!(
        list(text("io corp")).await.is_empty(),
        "not across domain and name"
    );
    assert_eq!(
        list(text("IO_CORP")).await,
        ["delta.io"],
        "_ is one character of one column"
    );
    assert_eq!(
        list(text("io%one")).await,
        Vec::<String>::new(),
        "% stays in one column"
    );
    assert_eq!(list(text("0%")).await, ["beta.com"]);
    assert_eq!(list(text("% off")).await, ["beta.com"]);
    assert_eq!(
        list(text(".IO")).await,
        ["alpha.io", "delta.io", "gamma.io"]
    );
    assert_eq!(list(tech("ALGOLIA")).await, ["alpha.io", "beta.com"]);
    assert_eq!(list(tech("a\u{1f}b")).await, ["alpha.io"]);
    assert!(list(tech("a")).await.is_empty(), "a whole name, not a part");
    assert!(list(tech("b")).await.is_empty(), "a whole name, not a part");
    assert_eq!(list(tech("react")).await, ["gamma.io"]);
    let by_intent = |descending: bool| AccountQuery {
        sort: AccountSort::IntentScore,
        descending,
        ..account_query()
    };
    assert_eq!(
        list(by_intent(true)).await,
        ["gamma.io", "delta.io", "alpha.io", "beta.com"],
        "missing last"
    );
    assert_eq!(
        list(by_intent(false)).await,
        ["alpha.io", "delta.io", "gamma.io", "beta.com"],
        "missing last"
    );
    let by_name = AccountQuery {
        sort: AccountSort::Name,
        descending: true,
        ..account_query()
    };
    assert_eq!(
        list(by_name).await,
        ["delta.io", "alpha.io", "beta.com", "gamma.io"],
        "missing last"
    );
    let min = AccountQuery {
        min_intent: Some(50),
        technology: Some("react".into()),
        ..account_query()
    };
    assert_eq!(list(min).await, ["gamma.io"]);
}

/// Runs statements on the harness's database outside the store (what an old schema looked
/// like, for migration tests).
async fn raw_sql(url: &str, statements: &[&str]) {
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.expect("connect");
        for s in statements {
            sqlx::query(s).execute(&pool).await.expect("raw statement");
        }
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.expect("connect");
        for s in statements {
            sqlx::query(s).execute(&pool).await.expect("raw statement");
        }
        pool.close().await;
    }
}

/// Fencing by lease token (issue 15): writes through a worker's [`FencedStore`] land only while
/// the queue row is held by the claim the worker made; after its lease expired and another
/// worker (or the same one, in a new claim) took the row, they fail as `LeaseLost` and write
/// nothing, neither snapshots nor work items.
async fn fenced_writes_need_the_claim(h: Harness) {
    let store = h.open().await;
    let job = Uuid::new_v4();
    let ds = domains(2);
    store
        .enqueue_job(job, "cli", &no_spec(), &ds)
        .await
        .unwrap();
    let lease = Duration::from_millis(500);
    let claimed = store.claim_queue_items("a", None, 2, lease).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let fence_a = Arc::new(Fence::new("a", Duration::from_secs(1)));
    for c in &claimed {
        fence_a.hold(c);
    }
    let a = FencedStore::new(store.clone(), fence_a.clone());
    let result = |d: &str, n: i64| NewSnapshot {
        job_id: Some(job),
        ..snap(d, "m", n)
    };

    // While held: a result and its item are written.
    let running = item(job, &ds[0], "m", ItemStatus::Running);
    a.upsert_item(&running).await.unwrap();
    let done = item(job, &ds[0], "m", ItemStatus::NewVersion);
    let out = a
        .save_snapshots_and_items(
            &[result(&ds[0], 1)],
            &NoDerivation,
            &|_: &[SaveOutcome]| vec![done.clone()],
        )
        .await
        .unwrap();
    assert!(matches!(out[0], SaveOutcome::Created { version: 1, .. }));

    // A domain this worker never claimed is refused.
    let stray = item(job, "other.example", "m", ItemStatus::Running);
    assert!(matches!(
        a.upsert_item(&stray).await,
        Err(StoreError::LeaseLost { domain }) if domain == "other.example"
    ));

    // "a" pauses past its lease; "b" takes both rows.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let taken = store.claim_queue_items("b", None, 2, LONG).await.unwrap();
    assert_eq!(taken.len(), 2);
    let late = a
        .save_snapshots_and_items(
            &[result(&ds[1], 2)],
            &NoDerivation,
            &|_: &[SaveOutcome]| vec![item(job, &ds[1], "m", ItemStatus::NewVersion)],
        )
        .await;
    assert!(
        matches!(&late, Err(StoreError::LeaseLost { domain }) if domain == &ds[1]),
        "{late:?}"
    );
    assert!(matches!(
        a.upsert_items(&[item(job, &ds[0], "m", ItemStatus::Failed)])
            .await,
        Err(StoreError::LeaseLost { .. })
    ));
    assert!(store.latest_snapshot(&ds[1], "m").await.unwrap().is_none());
    let items = store.items_for_job(job).await.unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].status, ItemStatus::NewVersion);

    // The new holder writes; a stale claim of the same owner (an older attempt) does not.
    let fence_b = Arc::new(Fence::new("b", Duration::from_secs(1)));
    for t in &taken {
        fence_b.hold(t);
    }
    let b = FencedStore::new(store.clone(), fence_b);
    b.save_snapshots(&[result(&ds[1], 2)], &NoDerivation)
        .await
        .unwrap();
    let mut stale = taken[0].clone();
    stale.attempts -= 1;
    let fence_old_b = Arc::new(Fence::new("b", Duration::from_secs(1)));
    fence_old_b.hold(&stale);
    let old_b = FencedStore::new(store.clone(), fence_old_b);
    assert!(matches!(
        old_b
            .upsert_item(&item(job, &taken[0].domain, "m", ItemStatus::Failed))
            .await,
        Err(StoreError::LeaseLost { .. })
    ));
    // Closed rows hold no claim at all.
    assert!(store
        .complete_queue_item("b", taken[0].id, QueueStatus::Done, None)
        .await
        .unwrap());
    assert!(matches!(
        b.upsert_item(&item(job, &taken[0].domain, "m", ItemStatus::Failed))
            .await,
        Err(StoreError::LeaseLost { .. })
    ));
}
