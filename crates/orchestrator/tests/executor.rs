//! The executor's failure rules, against a real (in-memory) SQLite store: an error, a panic, a
//! timeout or an uncited value fails that module only; dependents are skipped or run degraded as
//! they declare; other modules and domains go on. No network is involved: these modules compute.

use async_trait::async_trait;
use futures::stream;
use pforge_budget::Gateway;
use pforge_core::{Citation, Domain, Module, ModuleContext, ModuleError, ModuleOutput, ModuleSpec};
use pforge_orchestrator::{Executor, ExecutorConfig, Registry, RunEvent};
use pforge_store::prelude::*;
use pforge_store::{ItemStatus, NoDerivation, SqliteStore};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a test module does when run.
#[derive(Clone, Copy)]
enum Behaviour {
    Ok,
    Fail,
    Panic,
    Hang,
    Uncited,
    /// Succeeds and reports how many dependencies failed.
    CountFailedDeps,
    /// Emits a declared set out of canonical order, with one element cited on its own.
    UnsortedSet,
    /// Fails unless every dependency handed over its output.
    RequireDeps,
}

struct TestModule {
    spec: ModuleSpec,
    behaviour: Behaviour,
}

fn module(id: &str, deps: &[&str], degraded: bool, behaviour: Behaviour) -> Arc<dyn Module> {
    Arc::new(TestModule {
        spec: ModuleSpec {
            id: id.into(),
            title: id.into(),
            dependencies: deps.iter().map(|d| d.to_string()).collect(),
            providers: vec![],
            runs_degraded: degraded,
            set_arrays: vec![],
        },
        behaviour,
    })
}

#[async_trait]
impl Module for TestModule {
    fn spec(&self) -> &ModuleSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ModuleContext) -> Result<ModuleOutput, ModuleError> {
        let cite = Citation::config("test", &[]);
        let mut out = ModuleOutput::new();
        match self.behaviour {
            Behaviour::Ok => {
                out.set("domain", ctx.domain.as_str(), &cite);
            }
            Behaviour::Fail => return Err(ModuleError::Other("provider said no".into())),
            Behaviour::Panic => panic!("module bug"),
            Behaviour::Hang => tokio::time::sleep(Duration::from_secs(3600)).await,
            Behaviour::Uncited => {
                out.data = json!({"secret_sauce": 42});
            }
            Behaviour::CountFailedDeps => {
                out.set("failed_deps", ctx.failed_dependencies().count(), &cite);
            }
            Behaviour::RequireDeps => {
                for d in &self.spec.dependencies {
                    ctx.require(d)?;
                }
                out.set("domain", ctx.domain.as_str(), &cite);
            }
            Behaviour::UnsortedSet => {
                out.set("items", json!([{"id": "zeta"}, {"id": "alpha"}]), &cite);
                let mut own = Citation::config("zeta-source", &[]);
                own.covers = vec!["/items/0".into()];
                out.sources.push(own);
            }
        }
        Ok(out)
    }
}

/// An executor over `modules` with a fresh in-memory store, and a job created in it.
async fn executor(
    modules: Vec<Arc<dyn Module>>,
    cfg: ExecutorConfig,
) -> (Arc<dyn Store>, Executor, uuid::Uuid) {
    let mut registry = Registry::new();
    for m in modules {
        registry.register(m);
    }
    let plan = Arc::new(registry.plan().expect("plan"));
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open("sqlite::memory:").await.expect("store"));
    let exec = Executor::new(
        plan,
        Gateway::new(Default::default()).expect("gateway"),
        store.clone(),
        Arc::new(NoDerivation),
        cfg,
    );
    let job = uuid::Uuid::new_v4();
    store
        .create_job(job, "test", &json!({}))
        .await
        .expect("job");
    (store, exec, job)
}

async fn run(
    modules: Vec<Arc<dyn Module>>,
    domains: &[&str],
) -> (
    Arc<dyn Store>,
    BTreeMap<(String, String), ItemStatus>,
    pforge_orchestrator::RunSummary,
) {
    let (store, exec, job) = executor(
        modules,
        ExecutorConfig {
            module_timeout: Duration::from_millis(300),
            ..Default::default()
        },
    )
    .await;
    let seen: Arc<Mutex<BTreeMap<(String, String), ItemStatus>>> = Arc::default();
    let s = seen.clone();
    let sink = Arc::new(move |e: &RunEvent| {
        if let RunEvent::ModuleFinished {
            domain,
            module,
            status,
            ..
        } = e
        {
            s.lock()
                .unwrap()
                .insert((domain.clone(), module.clone()), *status);
        }
    });
    let ds: Vec<Domain> = domains.iter().map(|d| Domain::parse(d).unwrap()).collect();
    let summary = exec.run(job, stream::iter(ds), sink).await.expect("run");
    let items = store.items_for_job(job).await.expect("items");
    let map = seen.lock().unwrap().clone();
    for i in items {
        assert_eq!(
            map.get(&(i.domain.clone(), i.module.clone())),
            Some(&i.status),
            "stored item matches event"
        );
    }
    (store, map, summary)
}

fn status(map: &BTreeMap<(String, String), ItemStatus>, d: &str, m: &str) -> ItemStatus {
    map[&(d.to_string(), m.to_string())]
}

#[tokio::test]
async fn errors_panics_timeouts_and_uncited_values_fail_only_their_module() {
    let (store, map, summary) = run(
        vec![
            module("ok", &[], false, Behaviour::Ok),
            module("fails", &[], false, Behaviour::Fail),
            module("panics", &[], false, Behaviour::Panic),
            module("hangs", &[], false, Behaviour::Hang),
            module("uncited", &[], false, Behaviour::Uncited),
            module("needs_fails", &["fails"], false, Behaviour::Ok),
            module(
                "degrades",
                &["fails", "panics", "ok"],
                true,
                Behaviour::CountFailedDeps,
            ),
            module("after_skip", &["needs_fails"], false, Behaviour::Ok),
        ],
        &["a-company.com", "b-company.com"],
    )
    .await;
    for d in ["a-company.com", "b-company.com"] {
        assert_eq!(status(&map, d, "ok"), ItemStatus::NewVersion);
        for m in ["fails", "panics", "hangs", "uncited"] {
            assert_eq!(status(&map, d, m), ItemStatus::Failed, "{m}");
        }
        assert_eq!(status(&map, d, "needs_fails"), ItemStatus::Skipped);
        assert_eq!(
            status(&map, d, "after_skip"),
            ItemStatus::Skipped,
            "skips propagate"
        );
        assert_eq!(status(&map, d, "degrades"), ItemStatus::NewVersion);
        let degraded = store.latest_snapshot(d, "degrades").await.unwrap().unwrap();
        assert_eq!(degraded.data["failed_deps"], 2);
        assert!(
            store.latest_snapshot(d, "uncited").await.unwrap().is_none(),
            "an uncited value is never stored"
        );
    }
    let errors: Vec<(&str, &str)> = summary
        .failures
        .iter()
        .map(|f| (f.module.as_str(), f.error.as_str()))
        .collect();
    assert!(errors
        .iter()
        .any(|(m, e)| *m == "panics" && e.contains("panicked: module bug")));
    assert!(errors
        .iter()
        .any(|(m, e)| *m == "hangs" && e.contains("timed out")));
    assert!(errors
        .iter()
        .any(|(m, e)| *m == "uncited" && e.contains("no citation")));
    assert_eq!(summary.domains, 2);
    assert_eq!(summary.domains_with_failures, 2);
}

#[tokio::test]
async fn a_second_identical_result_is_unchanged_not_a_new_version() {
    let mods = || vec![module("ok", &[], false, Behaviour::Ok)];
    let (store, _, _) = run(mods(), &["a-company.com"]).await;
    // Same store, same output: run again through a fresh executor on the same store.
    let mut registry = Registry::new();
    for m in mods() {
        registry.register(m);
    }
    let exec = Executor::new(
        Arc::new(registry.plan().unwrap()),
        Gateway::new(Default::default()).unwrap(),
        store.clone(),
        Arc::new(NoDerivation),
        ExecutorConfig::default(),
    );
    let job = uuid::Uuid::new_v4();
    store
        .create_job(job, "again", &serde_json::json!({}))
        .await
        .unwrap();
    let summary = exec
        .run(
            job,
            stream::iter(vec![Domain::parse("a-company.com").unwrap()]),
            Arc::new(|_: &RunEvent| {}),
        )
        .await
        .unwrap();
    assert_eq!(summary.modules["ok"].unchanged, 1);
    assert_eq!(
        store
            .snapshot_history("a-company.com", Some("ok"))
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn citations_follow_their_element_when_the_executor_sorts_a_set() {
    let mut m = TestModule {
        spec: module("sets", &[], false, Behaviour::Ok).spec().clone(),
        behaviour: Behaviour::UnsortedSet,
    };
    m.spec.set_arrays = vec![pforge_core::SetArray::keyed("/items", "id")];
    let (store, _, _) = run(vec![Arc::new(m)], &["a-company.com"]).await;
    let snap = store
        .latest_snapshot("a-company.com", "sets")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        snap.data["items"][1]["id"], "zeta",
        "stored in canonical order"
    );
    let own = snap
        .citations
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["source"] == "config:zeta-source")
        .unwrap();
    assert_eq!(
        own["covers"],
        json!(["/items/1"]),
        "the citation moved with its element"
    );
}

/// (domain, module or "end", version) in the order the events came.
type EventLog = Arc<Mutex<Vec<(String, String, Option<i64>)>>>;

/// Dependents start from their dependency's output before its save commits, but nothing is
/// reported before it is stored: each module's event comes after its dependencies' events, a
/// domain's end after all of its modules, and every reported version is in the store.
#[tokio::test]
async fn dependents_start_early_but_every_event_follows_its_commit() {
    let (store, exec, job) = executor(
        vec![
            module("a", &[], false, Behaviour::Ok),
            module("b", &["a"], false, Behaviour::RequireDeps),
            module("c", &["b"], false, Behaviour::RequireDeps),
            module("d", &["a", "c"], false, Behaviour::RequireDeps),
        ],
        ExecutorConfig {
            concurrency: 64,
            max_domains_in_flight: 32,
            ..Default::default()
        },
    )
    .await;
    let log: EventLog = Arc::default();
    let l = log.clone();
    let sink = Arc::new(move |e: &RunEvent| {
        let entry = match e {
            RunEvent::ModuleFinished {
                domain,
                module,
                version,
                ..
            } => (domain.clone(), module.clone(), *version),
            RunEvent::DomainFinished { domain, .. } => (domain.clone(), "end".into(), None),
            RunEvent::DomainStarted { .. } => return,
        };
        l.lock().unwrap().push(entry);
    });
    let domains: Vec<String> = (0..100).map(|i| format!("company{i}.com")).collect();
    let ds: Vec<Domain> = domains.iter().map(|d| Domain::parse(d).unwrap()).collect();
    let summary = exec.run(job, stream::iter(ds), sink).await.expect("run");
    assert_eq!(summary.failed(), 0, "{:?}", summary.failures);
    let log = log.lock().unwrap().clone();
    for d in &domains {
        let order: Vec<&str> = log
            .iter()
            .filter(|(domain, _, _)| domain == d)
            .map(|(_, m, _)| m.as_str())
            .collect();
        assert_eq!(order, ["a", "b", "c", "d", "end"], "{d}");
        for (_, m, version) in log
            .iter()
            .filter(|(domain, m, _)| domain == d && m != "end")
        {
            let stored = store.latest_snapshot(d, m).await.unwrap().expect("stored");
            assert_eq!(Some(stored.version), *version, "{d}/{m}");
        }
    }
    let items = store.items_for_job(job).await.expect("items");
    assert_eq!(items.len(), 400);
    assert!(items.iter().all(|i| i.status == ItemStatus::NewVersion));
}

/// Answers only once the test opens its gate.
struct GatedModule {
    spec: ModuleSpec,
    gate: Arc<tokio::sync::Notify>,
}

#[async_trait]
impl Module for GatedModule {
    fn spec(&self) -> &ModuleSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ModuleContext) -> Result<ModuleOutput, ModuleError> {
        self.gate.notified().await;
        let mut out = ModuleOutput::new();
        out.set(
            "domain",
            ctx.domain.as_str(),
            &Citation::config("test", &[]),
        );
        Ok(out)
    }
}

/// Saves of modules that answer at once are queued together, but never held back by a module
/// still waiting: the quick modules are committed and reported while the slow one runs, and the
/// slow one is recorded `running` meanwhile (a module that answers on its first poll writes only
/// its outcome).
#[tokio::test]
async fn quick_modules_are_reported_while_a_slow_one_is_recorded_running() {
    let gate = Arc::new(tokio::sync::Notify::new());
    let slow: Arc<dyn Module> = Arc::new(GatedModule {
        spec: ModuleSpec {
            id: "slow".into(),
            title: "slow".into(),
            dependencies: vec![],
            providers: vec![],
            runs_degraded: false,
            set_arrays: vec![],
        },
        gate: gate.clone(),
    });
    let (store, exec, job) = executor(
        vec![
            module("quick", &[], false, Behaviour::Ok),
            module("after_quick", &["quick"], false, Behaviour::RequireDeps),
            slow,
            module("after_slow", &["slow"], false, Behaviour::RequireDeps),
        ],
        ExecutorConfig::default(),
    )
    .await;
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let sink = Arc::new(move |e: &RunEvent| {
        if let RunEvent::ModuleFinished { module, status, .. } = e {
            let _ = seen_tx.send((module.clone(), *status));
        }
    });
    let ds = vec![Domain::parse("gated-company.com").unwrap()];
    let running = tokio::spawn(async move { exec.run(job, stream::iter(ds), sink).await });

    let mut quick = Vec::new();
    while quick.len() < 2 {
        let (module, status) = tokio::time::timeout(Duration::from_secs(30), seen.recv())
            .await
            .expect("the quick modules are reported while the slow one waits")
            .expect("events until the gate opens");
        assert_eq!(status, ItemStatus::NewVersion, "{module}");
        quick.push(module);
    }
    assert_eq!(
        quick,
        ["quick", "after_quick"],
        "reported before the slow one answers"
    );
    let items = store.items_for_job(job).await.expect("items");
    let state = |m: &str| items.iter().find(|i| i.module == m).map(|i| i.status);
    assert_eq!(state("quick"), Some(ItemStatus::NewVersion));
    assert_eq!(state("after_quick"), Some(ItemStatus::NewVersion));
    // The `running` row is queued without being waited for: it may take a moment to commit.
    let mut tries = 0;
    while store
        .items_for_job(job)
        .await
        .expect("items")
        .iter()
        .all(|i| i.module != "slow")
    {
        tries += 1;
        assert!(tries < 500, "the slow module was never recorded running");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let items = store.items_for_job(job).await.expect("items");
    let slow_item = items
        .iter()
        .find(|i| i.module == "slow")
        .expect("slow item");
    assert_eq!(slow_item.status, ItemStatus::Running);
    assert!(
        items.iter().all(|i| i.module != "after_slow"),
        "not started yet"
    );

    gate.notify_one();
    let summary = running.await.expect("joined").expect("run");
    assert_eq!(summary.failed(), 0, "{:?}", summary.failures);
    let mut rest = Vec::new();
    while let Ok((module, status)) = seen.try_recv() {
        assert_eq!(status, ItemStatus::NewVersion, "{module}");
        rest.push(module);
    }
    assert_eq!(rest, ["slow", "after_slow"]);
    let items = store.items_for_job(job).await.expect("items");
    assert_eq!(items.len(), 4);
    assert!(items.iter().all(|i| i.status == ItemStatus::NewVersion));
}
