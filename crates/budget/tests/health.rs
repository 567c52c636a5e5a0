//! `Gateway::health`: real rate-limit waits and a real open circuit against a local server,
//! read back as the budget page reads them.

mod support;

use pforge_budget::{
    BreakerConfig, BreakerState, Call, Gateway, ProviderConfig, ProvidersConfig, RateLimitConfig,
};
use support::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_waits_and_an_open_breaker_with_its_error() {
    let server = Server::start().await;
    let mut paced = ProviderConfig::new(format!("{}/paced", server.base));
    paced.rate_limit = Some(RateLimitConfig {
        per_second: Some(10.0),
        per_minute: None,
        burst: 1,
    });
    let mut flaky = ProviderConfig::new(format!("{}/down", server.base));
    flaky.retry.max_attempts = 1;
    flaky.circuit_breaker = BreakerConfig {
        failures: 2,
        cooldown_secs: 600.0,
    };
    let gw = Gateway::new(ProvidersConfig::from([
        ("paced".to_string(), paced),
        ("flaky".to_string(), flaky),
    ]))
    .unwrap();
    let before = chrono::Utc::now();
    for i in 0..4 {
        gw.fetch(&Call::get("paced", "/ok").query("i", i.to_string()))
            .await
            .unwrap();
    }
    for _ in 0..2 {
        assert!(gw.fetch(&Call::get("flaky", "/flaky")).await.is_err());
    }
    // The open circuit refuses without sending.
    assert!(gw.fetch(&Call::get("flaky", "/flaky")).await.is_err());
    assert_eq!(server.hits("/down/flaky"), 2);

    let health = gw.health(10);
    println!("{health:#?}");
    let ids: Vec<&str> = health.iter().map(|h| h.provider.as_str()).collect();
    assert_eq!(ids, vec!["flaky", "paced"]);
    let p = &health[1];
    assert!(p.rate_limited && p.breakers.is_empty());
    assert_eq!(p.waits.paced, 4);
    // 10 per second, burst 1: the first goes at once, the other three wait ~100 ms each.
    assert_eq!(p.waits.waits, 3, "{:?}", p.waits);
    assert!(
        p.waits.waited_secs > 0.2 && p.waits.longest_secs > 0.05,
        "{:?}",
        p.waits
    );
    let f = &health[0];
    assert!(!f.rate_limited);
    assert_eq!(f.waits.paced, 0, "an unpaced provider counts no waits");
    assert_eq!(f.breakers.len(), 1);
    let b = &f.breakers[0];
    assert_eq!(b.state, BreakerState::Open);
    assert_eq!((b.failures, b.threshold), (2, 2));
    assert!(b.host.is_none());
    assert!(b.since >= before);
    assert!(b
        .retry_at
        .is_some_and(|t| t > chrono::Utc::now() + chrono::Duration::seconds(500)));
    let err = b.last_error.as_deref().unwrap_or_default();
    assert!(err.contains("503"), "{err}");
}
