//! SSRF guard, end to end over real sockets: domain-derived URLs, literal IPs, redirects and DNS
//! answers that point at non-public addresses are refused before a byte reaches them, while the
//! host and port of a configured base URL (the fixture server) stay reachable.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use pforge_budget::{AuthConfig, Call, Gateway, GatewayError, ProviderConfig, ProvidersConfig};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A loopback server counting every request; `/go?to=URL` redirects to URL.
struct Target {
    port: u16,
    hits: Arc<AtomicUsize>,
}

async fn target() -> Target {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = Router::new()
        .route(
            "/go",
            get(
                |q: axum::extract::Query<Vec<(String, String)>>| async move {
                    let to = q.0.iter().find(|(k, _)| k == "to").map(|(_, v)| v.clone());
                    Response::builder()
                        .status(StatusCode::FOUND)
                        .header(header::LOCATION, to.unwrap_or_default())
                        .body(axum::body::Body::empty())
                        .unwrap()
                },
            ),
        )
        .fallback(|| async { "<html>internal admin page</html>".into_response() })
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let h = h.clone();
                async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    next.run(req).await
                }
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Target { port, hits }
}

fn gw(id: &str, cfg: ProviderConfig) -> Gateway {
    Gateway::new(ProvidersConfig::from([(id.to_string(), cfg)])).unwrap()
}

fn quick(base: String) -> ProviderConfig {
    let mut cfg = ProviderConfig::new(base);
    cfg.timeout_secs = 2.0;
    cfg.retry.max_attempts = 3;
    cfg.retry.min_delay_ms = 10;
    cfg
}

fn assert_forbidden(err: &GatewayError, want: &str) {
    assert!(
        matches!(err, GatewayError::Forbidden { reason, .. } if reason.contains(want)),
        "expected Forbidden mentioning {want:?}, got: {err}"
    );
    assert!(!err.is_transient(), "a refusal is never retried");
}

#[tokio::test]
async fn domain_derived_urls_to_loopback_names_and_ips_are_refused() {
    let t = target().await;
    // Production shape: the domain is the host. A domain that is (or resolves to) an internal
    // address must not be fetched, whatever port it names.
    let g = gw("homepage", quick(format!("http://{{domain}}:{}", t.port)));
    let cases = [
        ("localhost", "resolves to"),
        ("127.0.0.1", "loopback"),
        ("127.1", "loopback"),
        ("2130706433", "loopback"),
        ("0x7f000001", "loopback"),
        ("[::1]", "loopback"),
        ("[::ffff:127.0.0.1]", "loopback"),
        ("169.254.169.254", "cloud metadata"),
        ("10.0.0.1", "private"),
        ("100.64.1.1", "carrier-grade NAT"),
        ("[fd00:ec2::254]", "unique-local"),
        ("0.0.0.0", "this network"),
    ];
    for (domain, want) in cases {
        let started = std::time::Instant::now();
        let err = g
            .fetch(&Call::get("homepage", "/").for_domain(domain))
            .await
            .unwrap_err();
        println!("{domain}: {err} ({:?})", started.elapsed());
        assert_forbidden(&err, want);
    }
    assert_eq!(
        t.hits.load(Ordering::SeqCst),
        0,
        "nothing reached the target"
    );
}

#[tokio::test]
async fn fixture_host_in_the_base_url_is_allowed_other_loopback_ports_are_not() {
    let fixture = target().await;
    let other = target().await;
    // Offline shape: the CLI rewrites https://{domain} to http://127.0.0.1:PORT/homepage/{domain}.
    let g = gw(
        "homepage",
        quick(format!(
            "http://127.0.0.1:{}/homepage/{{domain}}",
            fixture.port
        )),
    );
    let ok = g
        .fetch(&Call::get("homepage", "/").for_domain("techstart.io"))
        .await
        .unwrap();
    assert_eq!(ok.status, 200);
    assert_eq!(fixture.hits.load(Ordering::SeqCst), 1);

    // Redirects are re-checked: the fixture host may redirect to itself, not elsewhere.
    let to_self = format!("http://127.0.0.1:{}/homepage/x/landing", fixture.port);
    let r = g
        .fetch(
            &Call::get("homepage", "/../../go")
                .query("to", to_self)
                .for_domain("a.com"),
        )
        .await
        .unwrap();
    assert!(r.url.contains("/go"), "{}", r.url);
    for to in [
        format!("http://127.0.0.1:{}/", other.port),
        format!("http://localhost:{}/", other.port),
        format!("http://[::1]:{}/", other.port),
        "http://169.254.169.254/latest/meta-data/iam/".to_string(),
        "http://10.1.2.3/".to_string(),
        "file:///etc/passwd".to_string(),
    ] {
        let err = g
            .fetch(
                &Call::get("homepage", "/../../go")
                    .query("to", to.clone())
                    .for_domain("b.com"),
            )
            .await
            .unwrap_err();
        println!("redirect to {to}: {err}");
        if to.starts_with("file:") {
            // reqwest never follows non-http(s) schemes: the 302 itself is the (failed) answer.
            assert_eq!(err.status(), Some(302), "{err}");
        } else {
            assert!(matches!(&err, GatewayError::Forbidden { .. }), "{err}");
        }
    }
    assert_eq!(
        other.hits.load(Ordering::SeqCst),
        0,
        "no redirect got through"
    );
}

#[tokio::test]
async fn api_providers_keep_their_host_but_not_redirects_off_it() {
    let api = target().await;
    let internal = target().await;
    let g = gw("api", quick(format!("http://localhost:{}/v1", api.port)));
    // The configured host name is trusted as configured (it resolves to loopback here).
    assert_eq!(g.fetch(&Call::get("api", "/x")).await.unwrap().status, 200);
    // Same name, another port (e.g. a redirect to localhost:6379) is refused.
    let err = g
        .fetch(
            &Call::get("api", "/../go").query("to", format!("http://localhost:{}/", internal.port)),
        )
        .await
        .unwrap_err();
    println!("{err}");
    assert_forbidden(&err, "only on the port configured");
    assert_eq!(internal.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn allow_private_opts_a_provider_out() {
    let t = target().await;
    let mut cfg = quick(format!("http://{{domain}}:{}", t.port));
    cfg.allow_private = true;
    let g = gw("intranet", cfg);
    let r = g
        .fetch(&Call::get("intranet", "/").for_domain("localhost"))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(t.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn refusals_cost_nothing_and_show_no_secret() {
    let t = target().await;
    std::env::set_var("PFORGE_SSRF_TEST_KEY", "ssrf-s3cret-KEY-77");
    let mut cfg = quick(format!("http://{{domain}}:{}/", t.port));
    cfg.cost = 1.0;
    cfg.auth = Some(AuthConfig {
        query: Some("api_key".into()),
        env: Some("PFORGE_SSRF_TEST_KEY".into()),
        ..Default::default()
    });
    let g = gw("paid", cfg);
    for domain in ["localhost", "127.0.0.1"] {
        let err = g
            .fetch(&Call::get("paid", "").for_domain(domain))
            .await
            .unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains("ssrf-s3cret-KEY-77"), "{text}");
        assert!(matches!(err, GatewayError::Forbidden { .. }), "{err}");
    }
    assert_eq!(g.spent_this_run(), 0.0, "a refused call is never charged");
    assert_eq!(t.hits.load(Ordering::SeqCst), 0);
}
