//! Cross-domain batching against a simulated Wikidata `wbgetentities` on 127.0.0.1: at most 50
//! ids per request (more is a 400, as Wikidata refuses them), unknown ids answered as
//! `{"id": .., "missing": ""}`, malformed ids answered with a top-level error, like the real API.
//! Callers ask for their own ids; the gateway merges them, splits the answers back, and each
//! caller's answer cites the request that was actually made.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::Response as HttpResponse;
use axum::Router;
use pforge_budget::{
    AuthConfig, BatchConfig, BudgetConfig, Call, Gateway, GatewayError, Ledger, MemoryLedger,
    ProviderConfig, ProviderLabel, ProvidersConfig, RateLimitConfig, Response,
};
use prometheus_client::registry::Registry;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the simulated Wikidata received.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    /// Path and query exactly as received.
    target: String,
    ids: Vec<String>,
    props: String,
}

#[derive(Default)]
struct Wiki {
    seen: Mutex<Vec<Seen>>,
    /// Answer 503 to this many requests before answering normally.
    fail_503: AtomicU32,
    /// Answer 500 to every request while set.
    fail_500: AtomicBool,
    /// Bytes of padding in every entity's description (to make answers large).
    pad: AtomicUsize,
    /// Milliseconds to wait before answering.
    delay_ms: AtomicU32,
}

struct Server {
    base: String,
    wiki: Arc<Wiki>,
}

impl Server {
    async fn start() -> Server {
        let wiki = Arc::new(Wiki::default());
        let app = Router::new()
            .route("/w/api.php", axum::routing::get(api))
            .with_state(wiki.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server {
            base: format!("http://{addr}"),
            wiki,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.wiki.seen.lock().unwrap().clone()
    }

    fn requests(&self) -> usize {
        self.wiki.seen.lock().unwrap().len()
    }
}

fn entity(id: &str, props: &str, pad: usize) -> Value {
    let n: u64 = id[1..].parse().unwrap_or(0);
    if n >= 900_000_000 {
        return json!({ "id": id, "missing": "" });
    }
    let mut e = json!({ "type": "item", "id": id });
    for prop in props.split('|') {
        match prop {
            "labels" => {
                e["labels"] = json!({ "en": { "language": "en", "value": format!("Item {n}") } })
            }
            "descriptions" => {
                e["descriptions"] = json!({ "en": { "language": "en", "value": "x".repeat(pad) } })
            }
            "claims" => {
                e["claims"] = json!({ "P31": [ { "mainsnak": { "snaktype": "value", "property": "P31",
                    "datavalue": { "value": { "id": format!("Q{}", n % 7 + 1) }, "type": "wikibase-entityid" } } } ] })
            }
            _ => {}
        }
    }
    e
}

fn json_response(status: StatusCode, body: Value) -> HttpResponse {
    HttpResponse::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(axum::body::Body::from(body.to_string()))
        .unwrap()
}

async fn api(State(wiki): State<Arc<Wiki>>, req: Request) -> HttpResponse {
    let target = req.uri().to_string();
    let params: BTreeMap<String, String> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let ids: Vec<String> = params
        .get("ids")
        .map(|v| v.split('|').map(str::to_string).collect())
        .unwrap_or_default();
    let props = params
        .get("props")
        .cloned()
        .unwrap_or_else(|| "labels|descriptions|claims".into());
    wiki.seen.lock().unwrap().push(Seen {
        at: Instant::now(),
        target,
        ids: ids.clone(),
        props: props.clone(),
    });
    let delay = wiki.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay.into())).await;
    }
    if wiki.fail_500.load(Ordering::SeqCst) {
        return json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": {"code": "internal_api_error", "info": "database went away"}}),
        );
    }
    if wiki
        .fail_503
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "upstream busy"}),
        );
    }
    if params.get("action").map(String::as_str) != Some("wbgetentities") {
        return json_response(StatusCode::BAD_REQUEST, json!({"error": "unknown action"}));
    }
    if ids.len() > 50 {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": {"code": "toomanyvalues",
                "info": "Too many values supplied for parameter \"ids\". The limit is 50."}}),
        );
    }
    if let Some(bad) = ids
        .iter()
        .find(|id| !(id.starts_with('Q') && id[1..].parse::<u64>().is_ok()))
    {
        // Wikidata answers a malformed id with an error for the whole request, HTTP 200.
        return json_response(
            StatusCode::OK,
            json!({"error": {"code": "no-such-entity", "info": format!("Could not find an entity with the ID \"{bad}\"."), "id": bad}}),
        );
    }
    let pad = wiki.pad.load(Ordering::SeqCst);
    let mut entities = serde_json::Map::new();
    for id in &ids {
        // Items from Q8888000 up are "lost" by this server: absent from the answer.
        if id[1..]
            .parse::<u64>()
            .is_ok_and(|n| (8_888_000..8_889_000).contains(&n))
        {
            continue;
        }
        entities.insert(id.clone(), entity(id, &props, pad));
    }
    json_response(
        StatusCode::OK,
        json!({ "entities": entities, "success": 1 }),
    )
}

fn wbgetentities() -> BatchConfig {
    BatchConfig {
        path: "/w/api.php".into(),
        match_query: BTreeMap::from([("action".to_string(), "wbgetentities".to_string())]),
        param: "ids".into(),
        separator: "|".into(),
        max_items: 50,
        split: "/entities".into(),
        window_ms: 5,
        max_body_bytes: None,
    }
}

fn wikidata(server: &Server) -> ProviderConfig {
    let mut p = ProviderConfig::new(server.base.clone());
    p.expect_json = true;
    p.cache_ttl_secs = 3600;
    p.retry.min_delay_ms = 20;
    p.retry.max_delay_ms = 50;
    p.batch = vec![wbgetentities()];
    p
}

/// Like [`wikidata`], with a window long enough for every caller a test spawns at once to
/// arrive in it (a debug build under load spawns slowly), so request counts are exact.
fn wikidata_wide(server: &Server) -> ProviderConfig {
    let mut p = wikidata(server);
    p.batch[0].window_ms = 100;
    p
}

fn gateway(p: ProviderConfig) -> Gateway {
    Gateway::new(ProvidersConfig::from([("wikidata".to_string(), p)])).unwrap()
}

fn get(ids: &str, props: &str) -> Call {
    Call::get("wikidata", "/w/api.php")
        .query("action", "wbgetentities")
        .query("ids", ids)
        .query("props", props)
        .query("languages", "en")
        .query("format", "json")
}

/// Fetches each call on its own task, all at once; results in call order.
async fn all(gw: &Gateway, calls: Vec<Call>) -> Vec<Result<Response, GatewayError>> {
    let tasks: Vec<_> = calls
        .into_iter()
        .map(|c| {
            let gw = gw.clone();
            tokio::spawn(async move { gw.fetch(&c).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn entities(r: &Response) -> serde_json::Map<String, Value> {
    let v: Value = r.json().unwrap();
    v["entities"].as_object().cloned().unwrap()
}

fn label(p: &str) -> ProviderLabel {
    ProviderLabel { provider: p.into() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_single_id_callers_share_at_most_five_requests() {
    let server = Server::start().await;
    let mut registry = Registry::default();
    let gw = Gateway::builder(ProvidersConfig::from([(
        "wikidata".to_string(),
        wikidata_wide(&server),
    )]))
    .metrics(&mut registry)
    .build()
    .unwrap();
    let calls = (1..=200)
        .map(|n| get(&format!("Q{n}"), "labels").for_domain(format!("company{n}.com")))
        .collect();
    let results = all(&gw, calls).await;
    let seen = server.seen();
    let sizes: Vec<usize> = seen.iter().map(|s| s.ids.len()).collect();
    println!(
        "200 concurrent single-id callers: {} requests, ids per request {sizes:?}",
        seen.len()
    );
    assert!(seen.len() <= 5, "{sizes:?}");
    assert!(sizes.iter().all(|&n| n <= 50), "{sizes:?}");
    let asked: BTreeSet<&String> = seen.iter().flat_map(|s| &s.ids).collect();
    assert_eq!(asked.len(), 200, "every id asked exactly once");
    assert_eq!(sizes.iter().sum::<usize>(), 200);
    for (n, r) in (1..=200).zip(&results) {
        let r = r.as_ref().unwrap();
        let id = format!("Q{n}");
        let e = entities(r);
        assert_eq!(
            e.keys().collect::<Vec<_>>(),
            vec![&id],
            "caller {id} gets exactly its own entity"
        );
        assert_eq!(e[&id]["labels"]["en"]["value"], format!("Item {n}"));
        let v: Value = r.json().unwrap();
        assert_eq!(v["success"], 1, "the rest of the provider's answer is kept");
        // The citation names the real batch request: one the server saw, holding this id.
        let batch = seen
            .iter()
            .find(|s| r.url == format!("{}{}", server.base, s.target))
            .unwrap_or_else(|| panic!("{} is not a request the server saw", r.url));
        assert!(batch.ids.contains(&id));
        assert_eq!(r.sources, vec![r.url.clone()]);
        // ... and `requested` the caller's own request, whichever batch carried it.
        assert!(
            r.requested.contains(&format!("ids={id}&"))
                || r.requested.ends_with(&format!("ids={id}")),
            "{}",
            r.requested
        );
    }
    let m = gw.metrics();
    assert_eq!(m.batched_items.get_or_create(&label("wikidata")).get(), 200);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    for series in [
        format!(
            r#"pforge_provider_batch_size_count{{provider="wikidata"}} {}"#,
            seen.len()
        ),
        r#"pforge_provider_batch_size_sum{provider="wikidata"} 200.0"#.to_string(),
        r#"pforge_provider_batched_items_total{provider="wikidata"} 200"#.to_string(),
        format!(
            r#"pforge_provider_requests_total{{provider="wikidata",code="200"}} {}"#,
            seen.len()
        ),
    ] {
        assert!(text.contains(&series), "missing {series} in\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn items_are_cached_and_single_flighted_one_by_one() {
    let server = Server::start().await;
    let gw = gateway(wikidata_wide(&server));
    all(
        &gw,
        (1..=60).map(|n| get(&format!("Q{n}"), "labels")).collect(),
    )
    .await;
    let first = server.requests();

    // Repeats within the TTL, alone or several at once, make no request.
    let again = all(
        &gw,
        vec![
            get("Q1", "labels"),
            get("Q2|Q3|Q60", "labels"),
            get("Q60|Q1", "labels"),
        ],
    )
    .await;
    assert_eq!(
        server.requests(),
        first,
        "repeats within TTL are served from the cache"
    );
    let e = entities(again[1].as_ref().unwrap());
    assert_eq!(e.keys().collect::<Vec<_>>(), vec!["Q2", "Q3", "Q60"]);

    // Only the item not seen before is asked for; the answer cites both requests.
    let mixed = gw.fetch(&get("Q5|Q500", "labels")).await.unwrap();
    let seen = server.seen();
    assert_eq!(seen.len(), first + 1);
    assert_eq!(seen[first].ids, vec!["Q500"]);
    assert_eq!(entities(&mixed).len(), 2);
    assert_eq!(mixed.sources.len(), 2, "{:?}", mixed.sources);
    assert!(mixed.sources.iter().any(|u| u.contains("ids=Q500&")));

    // Items in flight are awaited, not asked again: overlapping callers and 50 callers of one
    // new item while it is being fetched.
    server.wiki.delay_ms.store(200, Ordering::SeqCst);
    let mut calls = vec![get("Q601|Q602", "labels"), get("Q602|Q603", "labels")];
    calls.extend((0..50).map(|_| get("Q700", "labels")));
    let results = all(&gw, calls).await;
    let seen = server.seen();
    let fresh: Vec<&Seen> = seen[first + 1..].iter().collect();
    println!(
        "after 60 items cached: 3 repeat calls made 0 requests; Q5|Q500 asked only {:?}; \
         overlapping and 50 identical callers made {} request(s): {:?}",
        seen[first].ids,
        fresh.len(),
        fresh.iter().map(|s| &s.ids).collect::<Vec<_>>()
    );
    let asked: Vec<&String> = fresh.iter().flat_map(|s| &s.ids).collect();
    let distinct: BTreeSet<&String> = asked.iter().copied().collect();
    assert_eq!(
        asked.len(),
        distinct.len(),
        "no item asked twice: {asked:?}"
    );
    assert_eq!(distinct.len(), 4);
    assert!(fresh.len() <= 2);
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(
        entities(results[1].as_ref().unwrap())
            .keys()
            .collect::<Vec<_>>(),
        vec!["Q602", "Q603"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_caller_asking_for_many_ids_is_split_into_requests_of_fifty() {
    let server = Server::start().await;
    let gw = gateway(wikidata(&server));
    let ids: Vec<String> = (1..=120).map(|n| format!("Q{n}")).collect();
    let r = gw.fetch(&get(&ids.join("|"), "labels")).await.unwrap();
    let mut sizes: Vec<usize> = server.seen().iter().map(|s| s.ids.len()).collect();
    println!("one caller asking for 120 ids: requests of {sizes:?}");
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(sizes, vec![50, 50, 20]);
    assert_eq!(entities(&r).len(), 120);
    assert_eq!(r.sources.len(), 3);
    assert_eq!(r.url, r.sources[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lone_caller_sends_exactly_the_request_it_would_have_sent() {
    let server = Server::start().await;
    let gw = gateway(wikidata(&server));
    let call = get("Q42|Q7|Q42", "labels|claims");
    let unbatched = gw.url_for(&call).unwrap().to_string();
    let r = gw.fetch(&call).await.unwrap();
    let seen = server.seen();
    println!("lone caller: {} -> sent {}", unbatched, seen[0].target);
    assert_eq!(seen.len(), 1);
    assert_eq!(
        format!("{}{}", server.base, seen[0].target),
        unbatched.replace("Q42%7CQ7%7CQ42", "Q42%7CQ7"),
        "same parameters in the same order, duplicate id dropped"
    );
    assert_eq!(r.url, format!("{}{}", server.base, seen[0].target));
    assert_eq!(
        entities(&r)["Q7"]["claims"]["P31"][0]["mainsnak"]["property"],
        "P31"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn different_other_parameters_or_headers_never_merge() {
    let server = Server::start().await;
    let gw = gateway(wikidata_wide(&server));
    let mut calls = Vec::new();
    for n in 1..=20 {
        calls.push(get(&format!("Q{n}"), "labels"));
        calls.push(get(&format!("Q{n}"), "claims"));
        calls.push(get(&format!("Q{n}"), "claims").header("Accept-Language", "de"));
    }
    let results = all(&gw, calls).await;
    let seen = server.seen();
    println!(
        "20 ids × (props=labels, props=claims, props=claims + header): {} requests: {:?}",
        seen.len(),
        seen.iter()
            .map(|s| (s.props.clone(), s.ids.len()))
            .collect::<Vec<_>>()
    );
    assert_eq!(seen.len(), 3);
    let mut props: Vec<&str> = seen.iter().map(|s| s.props.as_str()).collect();
    props.sort();
    assert_eq!(props, vec!["claims", "claims", "labels"]);
    assert!(seen.iter().all(|s| s.ids.len() == 20));
    for (i, r) in results.iter().enumerate() {
        let r = r.as_ref().unwrap();
        let e = entities(r);
        let (_, entity) = e.iter().next().unwrap();
        if i % 3 == 0 {
            assert!(entity.get("labels").is_some() && entity.get("claims").is_none());
            assert!(r.url.contains("props=labels"));
        } else {
            assert!(entity.get("claims").is_some() && entity.get("labels").is_none());
            assert!(r.url.contains("props=claims"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_failure_reaches_all_its_callers_and_a_retry_serves_them_all() {
    let server = Server::start().await;
    let gw = gateway(wikidata_wide(&server));

    // 503 once: the batch is retried as one request and every caller gets its entity.
    server.wiki.fail_503.store(1, Ordering::SeqCst);
    let results = all(
        &gw,
        (1..=30).map(|n| get(&format!("Q{n}"), "labels")).collect(),
    )
    .await;
    let seen = server.seen();
    println!(
        "30 callers, first answer 503: {} requests of {:?} ids, {} callers served",
        seen.len(),
        seen.iter().map(|s| s.ids.len()).collect::<Vec<_>>(),
        results.iter().filter(|r| r.is_ok()).count()
    );
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].target, seen[1].target, "the same batch, retried");
    assert!(results.iter().all(Result::is_ok));

    // 500 (not transient): every caller of the batch gets the error; nothing is cached, so the
    // same callers succeed once the provider is back.
    server.wiki.fail_500.store(true, Ordering::SeqCst);
    let ids: Vec<String> = (101..=130).map(|n| format!("Q{n}")).collect();
    let failed = all(&gw, ids.iter().map(|id| get(id, "labels")).collect()).await;
    assert_eq!(server.requests(), 3);
    let errors: Vec<&GatewayError> = failed.iter().filter_map(|r| r.as_ref().err()).collect();
    println!(
        "30 callers, answer 500: {} errors, e.g. {}",
        errors.len(),
        errors[0]
    );
    assert_eq!(errors.len(), 30);
    assert!(errors.iter().all(|e| e.status() == Some(500)));
    server.wiki.fail_500.store(false, Ordering::SeqCst);
    let healed = all(&gw, ids.iter().map(|id| get(id, "labels")).collect()).await;
    assert_eq!(server.requests(), 4);
    assert!(healed.iter().all(Result::is_ok));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn missing_absent_and_malformed_items_fail_only_their_callers() {
    let server = Server::start().await;
    let gw = gateway(wikidata_wide(&server));
    let mut calls: Vec<Call> = (1..=14).map(|n| get(&format!("Q{n}"), "labels")).collect();
    calls.push(get("Q900000001", "labels")); // unknown to Wikidata: "missing"
    calls.push(get("Q8888001", "labels")); // absent from the answer
    calls.push(get("Qbogus", "labels")); // malformed: the whole answer is an error
    let results = all(&gw, calls).await;
    let seen = server.seen();
    println!(
        "17 callers, one malformed id: {} requests {:?}",
        seen.len(),
        seen.iter().map(|s| s.ids.len()).collect::<Vec<_>>()
    );
    for r in &results[..14] {
        assert_eq!(entities(r.as_ref().unwrap()).len(), 1);
    }
    let missing = entities(results[14].as_ref().unwrap());
    assert_eq!(
        missing["Q900000001"],
        json!({"id": "Q900000001", "missing": ""})
    );
    let absent = results[15].as_ref().unwrap_err();
    println!("absent item: {absent}");
    assert!(matches!(absent, GatewayError::Batch { .. }));
    assert!(absent.to_string().contains("no entry for \"Q8888001\""));
    let bogus = results[16].as_ref().unwrap_err();
    println!("malformed item: {bogus}");
    assert!(bogus
        .to_string()
        .contains("Could not find an entity with the ID"));
    // Halving isolates the bad id: far fewer requests than one per caller.
    assert!(seen.len() <= 12, "{}", seen.len());
    assert!(seen.iter().all(|s| s.ids.len() <= 50));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_answer_over_the_body_cap_is_asked_again_in_halves() {
    let server = Server::start().await;
    server.wiki.pad.store(2000, Ordering::SeqCst);
    let mut p = wikidata_wide(&server);
    // 40 padded entities are about 100 KB: over the cap; 10 fit.
    p.batch[0].max_body_bytes = Some(40_000);
    let gw = gateway(p);
    let results = all(
        &gw,
        (1..=40)
            .map(|n| get(&format!("Q{n}"), "labels|descriptions"))
            .collect(),
    )
    .await;
    let sizes: Vec<usize> = server.seen().iter().map(|s| s.ids.len()).collect();
    println!("40 large entities, 40 kB cap: requests of {sizes:?}");
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(sizes[0], 40);
    assert!(sizes.len() <= 7, "{sizes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn budget_is_reserved_and_charged_once_per_batch_request() {
    let server = Server::start().await;
    let mut p = wikidata(&server);
    p.cost = 2.0;
    let ledger = Arc::new(MemoryLedger::new());
    let gw = Gateway::builder(ProvidersConfig::from([("wikidata".to_string(), p)]))
        .ledger(ledger.clone())
        .build()
        .unwrap();
    let (a, b) = (gw.for_job("job-a"), gw.for_job("job-b"));
    let tasks: Vec<_> = (1..=120)
        .map(|n| {
            let gw = if n % 2 == 0 { a.clone() } else { b.clone() };
            let call = get(&format!("Q{n}"), "labels")
                .for_domain(format!("company{n}.com"))
                .by_module("m01_company_context");
            tokio::spawn(async move { gw.fetch(&call).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let requests = server.requests();
    let entries = ledger.entries();
    let total: f64 = entries.iter().map(|e| e.cost).sum();
    println!(
        "120 callers of 2 jobs at cost 2: {requests} batch requests, {} ledger entries, {total} \
         credits; e.g. {:?}",
        entries.len(),
        entries[0]
    );
    assert_eq!(entries.len(), requests);
    assert_eq!(total, 2.0 * requests as f64);
    assert_eq!(gw.spent_this_run(), total);
    for e in &entries {
        assert!(matches!(e.job.as_deref(), Some("job-a" | "job-b")));
        assert_eq!(e.module.as_deref(), Some("m01_company_context"));
        assert!(e
            .domain
            .as_deref()
            .is_some_and(|d| d.starts_with("company")));
        assert!(e.request.as_deref().is_some_and(|r| r.contains("ids=Q")));
    }
    // Entries are in hold order; a hold's time is taken before it waits for the ledger, so the
    // earliest charge is the least `at`, not necessarily the first entry.
    let at = entries.iter().map(|e| e.at).min().unwrap();
    assert_eq!(
        ledger.spent_since(Some("wikidata"), at).await.unwrap(),
        total
    );

    // A run budget of two batch requests: three callers of 50 ids each fill three batches;
    // the third is refused before it is sent and only its caller gets the budget error.
    let server = Server::start().await;
    let mut p = wikidata(&server);
    p.cost = 2.0;
    let gw = Gateway::builder(ProvidersConfig::from([("wikidata".to_string(), p)]))
        .caps(BudgetConfig::default())
        .run_budget(4.0)
        .build()
        .unwrap();
    let calls = (0..3)
        .map(|c| {
            let ids: Vec<String> = (1..=50).map(|n| format!("Q{}", c * 100 + n)).collect();
            get(&ids.join("|"), "labels")
        })
        .collect();
    let results = all(&gw, calls).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let refused = results
        .iter()
        .filter(|r| r.as_ref().is_err_and(GatewayError::is_budget))
        .count();
    println!(
        "run budget 4 at 2 per batch, 3 callers of 50 ids: {} requests sent, {ok} served, \
         {refused} refused",
        server.requests()
    );
    assert_eq!(server.requests(), 2);
    assert_eq!(ok, 2);
    assert_eq!(refused, 1);
    assert_eq!(gw.spent_this_run(), 4.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_batch_request_is_one_request_against_the_rate_limit() {
    let server = Server::start().await;
    let mut p = wikidata(&server);
    p.rate_limit = Some(RateLimitConfig::per_second(5.0));
    let gw = gateway(p);
    // 200 callers arriving in 10 waves, 30 ms apart.
    let mut tasks = Vec::new();
    for wave in 0..10 {
        for i in 0..20 {
            let gw = gw.clone();
            let call = get(&format!("Q{}", wave * 20 + i + 1), "labels");
            tasks.push(tokio::spawn(async move { gw.fetch(&call).await }));
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let seen = server.seen();
    let gaps: Vec<u128> = seen
        .windows(2)
        .map(|w| w[1].at.duration_since(w[0].at).as_millis())
        .collect();
    println!(
        "200 callers over 300 ms at 5 requests/s: {} requests of {:?} ids, gaps {gaps:?} ms",
        seen.len(),
        seen.iter().map(|s| s.ids.len()).collect::<Vec<_>>()
    );
    assert!(gaps.iter().all(|&g| g >= 180), "{gaps:?}");
    assert!(seen.len() <= 6, "{}", seen.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_breaker_sees_one_failure_per_batch_request() {
    let server = Server::start().await;
    server.wiki.fail_503.store(1000, Ordering::SeqCst);
    let mut p = wikidata_wide(&server);
    p.retry.max_attempts = 1;
    p.circuit_breaker.failures = 2;
    p.circuit_breaker.cooldown_secs = 60.0;
    let gw = gateway(p);
    for round in 0..3 {
        let results = all(
            &gw,
            (1..=10)
                .map(|n| get(&format!("Q{}", round * 100 + n), "labels"))
                .collect(),
        )
        .await;
        let e = results[0].as_ref().unwrap_err();
        println!("round {round}: {e}");
        if round < 2 {
            assert_eq!(e.status(), Some(503));
        } else {
            assert!(matches!(e, GatewayError::CircuitOpen { .. }), "{e}");
        }
        assert!(results.iter().all(Result::is_err));
    }
    assert_eq!(server.requests(), 2, "the open circuit sends nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_citation_is_the_batch_url_with_secrets_masked() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "s3cret-k3y\n").unwrap();
    let mut p = wikidata_wide(&server);
    p.auth = Some(AuthConfig {
        query: Some("api_key".into()),
        file: Some(key),
        ..AuthConfig::default()
    });
    let gw = gateway(p);
    let results = all(
        &gw,
        (1..=3).map(|n| get(&format!("Q{n}"), "labels")).collect(),
    )
    .await;
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].target.contains("api_key=s3cret-k3y"));
    for r in &results {
        let r = r.as_ref().unwrap();
        println!("citation: {}", r.url);
        let url = url::Url::parse(&r.url).unwrap();
        let ids: BTreeSet<String> = url
            .query_pairs()
            .filter(|(k, _)| k == "ids")
            .flat_map(|(_, v)| v.split('|').map(str::to_string).collect::<Vec<_>>())
            .collect();
        assert_eq!(ids, BTreeSet::from(["Q1".into(), "Q2".into(), "Q3".into()]));
        assert!(r.url.contains("api_key=***"));
        assert!(!r.url.contains("s3cret"));
        assert_eq!(
            r.url,
            format!("{}{}", server.base, seen[0].target).replace("s3cret-k3y", "***")
        );
    }
}

#[test]
fn batch_declarations_parse_from_toml_and_bad_ones_are_refused_at_build() {
    #[derive(serde::Deserialize)]
    struct File {
        providers: ProvidersConfig,
    }
    let text = r#"
[providers.wikidata]
base_url = "https://www.wikidata.org"

[[providers.wikidata.batch]]
path = "/w/api.php"
match = { action = "wbgetentities" }
param = "ids"
max_items = 50
split = "/entities"
"#;
    let f: File = toml::from_str(text).unwrap();
    let b = &f.providers["wikidata"].batch[0];
    assert_eq!((b.separator.as_str(), b.window_ms), ("|", 5), "defaults");
    assert_eq!(b.match_query["action"], "wbgetentities");
    Gateway::new(f.providers.clone()).unwrap();

    let typo = toml::from_str::<File>(&text.replace("max_items", "max_itmes"));
    assert!(typo.is_err(), "unknown keys are refused");

    for (field, bad, says) in [
        (
            "max_items = 50",
            "max_items = 0",
            "`max_items` must be between 1",
        ),
        (
            "split = \"/entities\"",
            "split = \"entities\"",
            "`split` must be a JSON Pointer",
        ),
        ("param = \"ids\"", "param = \"\"", "`param` must name"),
        (
            "max_items = 50",
            "max_items = 50\nwindow_ms = 60000",
            "`window_ms` must be at most",
        ),
        ("param = \"ids\"", "param = \"action\"", "may not constrain"),
    ] {
        let f: File = toml::from_str(&text.replace(field, bad)).unwrap();
        let err = Gateway::new(f.providers).err().unwrap().to_string();
        println!("{err}");
        assert!(
            err.starts_with("wikidata: invalid configuration: [[providers.wikidata.batch]] #1"),
            "{err}"
        );
        assert!(err.contains(says), "{err}");
    }
}
