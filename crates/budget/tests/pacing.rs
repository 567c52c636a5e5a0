//! Time: rate limits measured at the server, Retry-After, retries and the circuit breaker.

mod support;

use pforge_budget::{
    BreakerConfig, Call, Gateway, GatewayError, ProviderConfig, ProvidersConfig, RateLimitConfig,
};
use std::time::{Duration, Instant};
use support::Server;

fn one(id: &str, cfg: ProviderConfig) -> ProvidersConfig {
    ProvidersConfig::from([(id.to_string(), cfg)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn provider_rate_limit_holds_at_the_server() {
    let server = Server::start().await;
    let mut cfg = ProviderConfig::new(format!("{}/rl", server.base));
    cfg.rate_limit = Some(RateLimitConfig {
        per_second: Some(20.0),
        per_minute: None,
        burst: 5,
    });
    let mut registry = prometheus_client::registry::Registry::default();
    let gw = Gateway::builder(one("rl", cfg))
        .metrics(&mut registry)
        .build()
        .unwrap();
    let start = Instant::now();
    let window = Duration::from_secs(3);
    // 50 workers hammering with distinct calls for 3 s.
    let tasks: Vec<_> = (0..50)
        .map(|w| {
            let gw = gw.clone();
            tokio::spawn(async move {
                let mut i = 0;
                while start.elapsed() < window {
                    let call = Call::get("rl", "/ok")
                        .query("w", w.to_string())
                        .query("i", i.to_string());
                    gw.fetch(&call).await.unwrap();
                    i += 1;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let times = server.times("/rl/ok");
    let first = times[0];
    let in_window = times
        .iter()
        .filter(|t| t.duration_since(first) < window)
        .count();
    let max_per_second = times
        .iter()
        .map(|a| {
            times
                .iter()
                .filter(|b| **b >= *a && b.duration_since(*a) < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap();
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    let waits = (
        support::metric(
            &text,
            r#"pforge_rate_limit_wait_seconds_sum{provider="rl"}"#,
        ),
        support::metric(
            &text,
            r#"pforge_rate_limit_wait_seconds_count{provider="rl"}"#,
        ),
    );
    println!(
        "20 req/s burst 5, 50 workers for 3 s: server saw {in_window} in the first 3 s \
         ({:.1} req/s), at most {max_per_second} in any 1 s window (limit+burst = 25), \
         total {}; rate-limit waits: {} observations totalling {:.1}s",
        in_window as f64 / 3.0,
        times.len(),
        waits.1,
        waits.0
    );
    assert!(in_window <= 20 * 3 + 5, "{in_window}");
    assert!(max_per_second <= 25, "{max_per_second}");
    assert!(in_window >= 50, "limiter far too slow: {in_window}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn per_host_politeness_is_kept_per_domain() {
    let server = Server::start().await;
    let mut cfg = ProviderConfig::new(format!("{}/{{domain}}", server.base));
    cfg.per_host_rate_limit = Some(RateLimitConfig::per_second(4.0));
    let gw = Gateway::new(one("homepage", cfg)).unwrap();
    let start = Instant::now();
    let tasks: Vec<_> = ["a.com", "b.com"]
        .iter()
        .flat_map(|d| (0..4).map(move |i| (d.to_string(), i)))
        .map(|(d, i)| {
            let gw = gw.clone();
            tokio::spawn(async move {
                gw.fetch(
                    &Call::get("homepage", "/ok")
                        .query("i", i.to_string())
                        .for_domain(d),
                )
                .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let elapsed = start.elapsed();
    for d in ["a.com", "b.com"] {
        let mut t = server.times(&format!("/{d}/ok"));
        t.sort();
        let gaps: Vec<u128> = t
            .windows(2)
            .map(|w| w[1].duration_since(w[0]).as_millis())
            .collect();
        println!("per-host 4/s, {d}: gaps between requests {gaps:?} ms");
        assert!(gaps.iter().all(|g| *g >= 230), "{gaps:?}");
    }
    println!("2 domains x 4 calls took {elapsed:?} (hosts paced independently)");
    assert!(elapsed < Duration::from_millis(1400), "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retry_after_is_honoured_and_never_shortened() {
    let server = Server::start().await;
    let mut cfg = ProviderConfig::new(format!("{}/ra", server.base));
    cfg.retry.min_delay_ms = 10;
    let gw = Gateway::new(one("ra", cfg)).unwrap();
    let resp = gw.fetch(&Call::get("ra", "/retry-after")).await.unwrap();
    let t = server.times("/ra/retry-after");
    let gap = t[1].duration_since(t[0]);
    println!(
        "429 with Retry-After: 2 -> retry arrived {:.3}s later; answer {}",
        gap.as_secs_f64(),
        resp.text()
    );
    assert_eq!(t.len(), 2);
    assert!(gap >= Duration::from_secs(2), "{gap:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn client_errors_fail_at_once_and_transient_ones_are_retried() {
    let server = Server::start().await;
    let mut cfg = ProviderConfig::new(format!("{}/r", server.base));
    cfg.retry.min_delay_ms = 10;
    cfg.retry.max_attempts = 3;
    cfg.circuit_breaker.failures = 0;
    let gw = Gateway::new(one("r", cfg)).unwrap();
    let err = gw.fetch(&Call::get("r", "/bad-request")).await.unwrap_err();
    println!(
        "400: {} request(s); error: {err}",
        server.hits("/r/bad-request")
    );
    assert_eq!(server.hits("/r/bad-request"), 1);
    assert!(err.to_string().contains("unknown field `domian`"));
    let err = gw.fetch(&Call::get("r", "/unavailable")).await.unwrap_err();
    let retries = gw
        .metrics()
        .retries
        .get_or_create(&pforge_budget::ProviderLabel {
            provider: "r".into(),
        })
        .get();
    println!(
        "503: {} requests, {retries} retries; error: {err}",
        server.hits("/r/unavailable")
    );
    assert_eq!(server.hits("/r/unavailable"), 3);
    assert_eq!(retries, 2);
    assert_eq!(err.status(), Some(503));
    // A refused connection is transient too.
    let mut dead = ProviderConfig::new("http://127.0.0.1:9");
    dead.retry.min_delay_ms = 10;
    dead.retry.max_attempts = 2;
    let gw = Gateway::new(one("dead", dead)).unwrap();
    let err = gw.fetch(&Call::get("dead", "/x")).await.unwrap_err();
    println!("connection refused: {err}");
    assert!(matches!(err, GatewayError::Connect { .. }));
    assert_eq!(
        gw.metrics()
            .retries
            .get_or_create(&pforge_budget::ProviderLabel {
                provider: "dead".into()
            })
            .get(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn circuit_breaker_opens_then_half_opens_for_one_probe() {
    let server = Server::start().await;
    let mut cfg = ProviderConfig::new(format!("{}/cb", server.base));
    cfg.retry.max_attempts = 1;
    cfg.circuit_breaker = BreakerConfig {
        failures: 3,
        cooldown_secs: 1.0,
    };
    let gw = Gateway::new(one("cb", cfg)).unwrap();
    let slow = || Call::get("cb", "/flaky").query("delay_ms", "200");
    for _ in 0..3 {
        assert_eq!(gw.fetch(&slow()).await.unwrap_err().status(), Some(503));
    }
    let open = gw.fetch(&slow()).await.unwrap_err();
    println!(
        "after 3 failures: server saw {}; then: {open}",
        server.hits("/cb/flaky")
    );
    assert!(matches!(
        open,
        GatewayError::CircuitOpen { failures: 3, .. }
    ));
    assert!(open.to_string().contains("one probe is let through"));
    assert_eq!(server.hits("/cb/flaky"), 3);

    // Cool-down over: of 5 concurrent calls exactly one goes through as the probe (and fails).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let calls: Vec<Call> = (0..5).map(|i| slow().query("n", i.to_string())).collect();
    let results = futures::future::join_all(calls.iter().map(|c| gw.fetch(c))).await;
    let probing = results
        .iter()
        .filter(|r| matches!(r, Err(GatewayError::CircuitProbing { .. })))
        .count();
    println!(
        "half-open, 5 concurrent calls: server saw {} more, {probing} failed fast: {}",
        server.hits("/cb/flaky") - 3,
        results
            .iter()
            .find_map(|r| r
                .as_ref()
                .err()
                .filter(|e| matches!(e, GatewayError::CircuitProbing { .. })))
            .unwrap()
    );
    assert_eq!(server.hits("/cb/flaky"), 4);
    assert_eq!(probing, 4);
    assert!(matches!(
        gw.fetch(&slow()).await,
        Err(GatewayError::CircuitOpen { .. })
    ));

    // Provider recovers: the next probe closes the circuit.
    server.set_healthy(true);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    gw.fetch(&slow()).await.unwrap();
    gw.fetch(&slow().query("again", "1")).await.unwrap();
    println!(
        "recovered: probe succeeded, circuit closed; server saw {} in all",
        server.hits("/cb/flaky")
    );
    assert_eq!(server.hits("/cb/flaky"), 6);
}
