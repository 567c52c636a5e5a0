//! Money: caps under concurrency, the ledger across restarts, caching and single flight.

mod support;

use pforge_budget::{
    BudgetConfig, Call, ChargeMode, Gateway, GatewayError, Ledger, MemoryLedger, ProviderCaps,
    ProviderConfig, ProvidersConfig,
};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use support::Server;

fn paid(server: &Server, cost: f64) -> ProvidersConfig {
    let mut p = ProviderConfig::new(format!("{}/paid", server.base));
    p.cost = cost;
    p.retry.max_attempts = 1;
    ProvidersConfig::from([("paid".to_string(), p)])
}

fn daily_cap(credits: f64) -> BudgetConfig {
    let mut caps = BudgetConfig::default();
    caps.providers.insert(
        "paid".into(),
        ProviderCaps {
            daily: Some(credits),
            monthly: None,
        },
    );
    caps
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cap_of_ten_holds_against_64_racing_calls_and_survives_restart() {
    let server = Server::start().await;
    let ledger = Arc::new(MemoryLedger::new());
    let gw = Gateway::builder(paid(&server, 1.0))
        .ledger(ledger.clone())
        .caps(daily_cap(10.0))
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let gw = gw.clone();
            tokio::spawn(async move {
                // Distinct queries so nothing is coalesced; a delay so the calls overlap.
                let call = Call::get("paid", "/ok")
                    .query("i", i.to_string())
                    .query("delay_ms", "50")
                    .by_module("m03_traffic")
                    .for_domain("stripe.com")
                    .for_job("job-1");
                gw.fetch(&call).await
            })
        })
        .collect();
    let mut ok = 0;
    let mut refused = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => refused.push(e),
        }
    }
    let entries = ledger.entries();
    println!(
        "cap=10, 64 racing calls: server saw {}, ok {}, ledger entries {}, budget errors {}",
        server.hits("/paid/ok"),
        ok,
        entries.len(),
        refused.len()
    );
    println!("example refusal: {}", refused[0]);
    assert_eq!(server.hits("/paid/ok"), 10);
    assert_eq!(ok, 10);
    assert_eq!(entries.len(), 10);
    assert_eq!(refused.len(), 54);
    assert!(refused.iter().all(|e| matches!(
        e,
        GatewayError::Budget { cap, resets_at: Some(_), .. } if cap == "paid daily"
    )));
    assert!(refused[0]
        .to_string()
        .contains("raise [budget.providers.paid] daily or wait"));
    let e = &entries[0];
    assert_eq!(
        (
            e.provider.as_str(),
            e.module.as_deref(),
            e.domain.as_deref(),
            e.job.as_deref()
        ),
        (
            "paid",
            Some("m03_traffic"),
            Some("stripe.com"),
            Some("job-1")
        )
    );
    assert_eq!(ledger.spent_since(Some("paid"), e.at).await.unwrap(), 10.0);

    // A new process over the same ledger starts from the persisted spend, not from zero.
    let restarted = Gateway::builder(paid(&server, 1.0))
        .ledger(ledger.clone())
        .caps(daily_cap(10.0))
        .build()
        .unwrap();
    let err = restarted
        .fetch(&Call::get("paid", "/ok").query("i", "new"))
        .await
        .unwrap_err();
    println!("after restart: {err}");
    assert!(err.is_budget());
    assert_eq!(server.hits("/paid/ok"), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_budget_caps_one_run_and_free_calls_are_not_charged() {
    let server = Server::start().await;
    let mut providers = paid(&server, 2.5);
    providers.insert(
        "free".into(),
        ProviderConfig::new(format!("{}/free", server.base)),
    );
    let ledger = Arc::new(MemoryLedger::new());
    let gw = Gateway::builder(providers)
        .ledger(ledger.clone())
        .run_budget(5.0)
        .build()
        .unwrap();
    for i in 0..5 {
        gw.fetch(&Call::get("free", "/ok").query("i", i.to_string()))
            .await
            .unwrap();
    }
    let mut results = Vec::new();
    for i in 0..4 {
        results.push(
            gw.fetch(&Call::get("paid", "/ok").query("i", i.to_string()))
                .await,
        );
    }
    let refused = results.iter().filter(|r| r.is_err()).count();
    let err = results.into_iter().find_map(Result::err).unwrap();
    println!(
        "run budget 5 at 2.5/call: {} paid calls sent, {refused} refused: {err}",
        server.hits("/paid/ok")
    );
    assert_eq!(server.hits("/paid/ok"), 2);
    assert!(matches!(&err, GatewayError::Budget { cap, resets_at: None, .. } if cap == "run"));
    assert!(err.to_string().contains("--max-spend"));
    assert_eq!(gw.spent_this_run(), 5.0);
    assert_eq!(ledger.entries().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn charge_modes_and_endpoint_costs() {
    let server = Server::start().await;
    let mut every = ProviderConfig::new(format!("{}/every", server.base));
    every.cost = 1.0;
    every.endpoint_costs.insert("/big".into(), 4.0);
    every.retry.max_attempts = 1;
    let mut on_success = every.clone();
    on_success.base_url = format!("{}/onsuccess", server.base);
    on_success.charge = ChargeMode::OnSuccess;
    let providers = ProvidersConfig::from([
        ("every".to_string(), every),
        ("onsuccess".to_string(), on_success),
    ]);
    let ledger = Arc::new(MemoryLedger::new());
    let gw = Gateway::builder(providers)
        .ledger(ledger.clone())
        .build()
        .unwrap();
    for p in ["every", "onsuccess"] {
        assert_eq!(
            gw.fetch(&Call::get(p, "/bad-request"))
                .await
                .unwrap_err()
                .status(),
            Some(400)
        );
        gw.fetch(&Call::get(p, "/big")).await.unwrap();
    }
    let costs: Vec<(String, f64, Option<u16>)> = ledger
        .entries()
        .into_iter()
        .map(|e| (e.provider, e.cost, e.status))
        .collect();
    println!("ledger: {costs:?}");
    assert_eq!(
        costs,
        vec![
            ("every".to_string(), 1.0, Some(400)),
            ("every".to_string(), 4.0, Some(200)),
            ("onsuccess".to_string(), 4.0, Some(200)),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_identical_calls_make_one_request_and_the_answer_is_cached() {
    let server = Server::start().await;
    let mut registry = Registry::default();
    let mut providers = paid(&server, 1.0);
    if let Some(p) = providers.get_mut("paid") {
        p.cache_ttl_secs = 60;
    }
    let ledger = Arc::new(MemoryLedger::new());
    let gw = Gateway::builder(providers)
        .ledger(ledger.clone())
        .metrics(&mut registry)
        .build()
        .unwrap();
    let call = Call::get("paid", "/ok")
        .query("delay_ms", "300")
        .for_domain("stripe.com");
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let gw = gw.clone();
            let call = call.clone();
            tokio::spawn(async move { gw.fetch(&call).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().status, 200);
    }
    let after_burst = server.hits("/paid/ok");
    let again = gw.fetch(&call).await.unwrap();
    let m = gw.metrics();
    let label = pforge_budget::ProviderLabel {
        provider: "paid".into(),
    };
    let coalesced = m.coalesced.get_or_create(&label).get();
    let hits = m.cache_hits.get_or_create(&label).get();
    println!(
        "100 identical concurrent calls: server saw {after_burst}; coalesced {coalesced}; \
         then one more call: server saw {}, cache hits {hits}; ledger entries {}",
        server.hits("/paid/ok"),
        ledger.entries().len()
    );
    assert_eq!(after_burst, 1);
    assert_eq!(server.hits("/paid/ok"), 1);
    assert_eq!(ledger.entries().len(), 1);
    assert_eq!(again.body, &br#"{"ok":true}"#[..]);
    assert!(
        coalesced + hits >= 99 && hits >= 1,
        "coalesced {coalesced} hits {hits}"
    );

    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    for series in [
        r#"pforge_provider_requests_total{provider="paid",code="200"} 1"#,
        r#"pforge_provider_spend_total{provider="paid"} 1"#,
        "pforge_provider_coalesced_total",
        "pforge_provider_cache_hits_total",
        "pforge_rate_limit_wait_seconds_bucket",
        "pforge_provider_request_duration_seconds_bucket",
    ] {
        assert!(text.contains(series), "missing {series} in\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_ttl_nothing_is_cached_but_errors_are_never_shared_later() {
    let server = Server::start().await;
    let gw = Gateway::new(paid(&server, 0.0)).unwrap();
    for _ in 0..3 {
        gw.fetch(&Call::get("paid", "/ok")).await.unwrap();
        assert!(gw.fetch(&Call::get("paid", "/bad-request")).await.is_err());
    }
    println!(
        "ttl 0, 3 sequential calls each: ok {} bad {}",
        server.hits("/paid/ok"),
        server.hits("/paid/bad-request")
    );
    assert_eq!(server.hits("/paid/ok"), 3);
    assert_eq!(server.hits("/paid/bad-request"), 3);
}
