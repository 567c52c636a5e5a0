//! Guards: body size, content type, redirects, credentials and secret masking.

mod support;

use pforge_budget::{AuthConfig, Call, Gateway, GatewayError, ProviderConfig, ProvidersConfig};
use std::io::Write;
use support::Server;

fn one(id: &str, cfg: ProviderConfig) -> ProvidersConfig {
    ProvidersConfig::from([(id.to_string(), cfg)])
}

#[tokio::test]
async fn body_over_the_limit_is_refused_with_or_without_content_length() {
    let server = Server::start().await;
    let mut cfg = ProviderConfig::new(format!("{}/g", server.base));
    cfg.max_body_bytes = 1000;
    let gw = Gateway::new(one("g", cfg)).unwrap();
    for path in ["/big", "/big-stream"] {
        let err = gw.fetch(&Call::get("g", path)).await.unwrap_err();
        println!("{path}: {err}");
        assert!(
            matches!(err, GatewayError::TooLarge { limit: 1000, .. }),
            "{err}"
        );
    }
    assert!(gw.fetch(&Call::get("g", "/ok")).await.is_ok());
}

#[tokio::test]
async fn json_providers_reject_other_content_types() {
    let server = Server::start().await;
    let mut cfg = ProviderConfig::new(format!("{}/api", server.base));
    cfg.expect_json = true;
    let gw = Gateway::new(one("api", cfg)).unwrap();
    let err = gw.fetch(&Call::get("api", "/html")).await.unwrap_err();
    println!("html from a JSON provider: {err}");
    assert!(
        matches!(&err, GatewayError::ContentType { content_type, .. } if content_type.starts_with("text/html"))
    );
    assert_eq!(server.hits("/api/html"), 1, "not retried");
    let ok: serde_json::Value = gw
        .fetch(&Call::get("api", "/ok"))
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(ok["ok"], true);
}

#[tokio::test]
async fn redirect_loops_stop_at_the_limit() {
    let server = Server::start().await;
    let mut cfg = ProviderConfig::new(server.base.clone());
    cfg.max_redirects = 3;
    let gw = Gateway::new(one("home", cfg)).unwrap();
    let err = gw.fetch(&Call::get("home", "/redirect")).await.unwrap_err();
    println!(
        "redirect loop: {err} after {} requests",
        server.hits("/redirect") + server.hits("/loop/redirect")
    );
    assert!(
        matches!(err, GatewayError::TooManyRedirects { limit: 3, .. }),
        "{err}"
    );
    assert_eq!(server.hits("/redirect") + server.hits("/loop/redirect"), 4);
}

#[tokio::test]
async fn query_secret_is_sent_but_never_shown() {
    let server = Server::start().await;
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "s3cr3t-KEY-42").unwrap();
    let mut cfg = ProviderConfig::new(format!("{}/sw", server.base));
    cfg.auth = Some(AuthConfig {
        query: Some("api_key".into()),
        file: Some(file.path().to_path_buf()),
        ..Default::default()
    });
    let gw = Gateway::new(one("similarweb", cfg)).unwrap();

    let resp = gw
        .fetch(&Call::get("similarweb", "/ok").query("domain", "stripe.com"))
        .await
        .unwrap();
    println!("citation URL: {}", resp.url);
    assert!(resp.url.contains("api_key=***") && !resp.url.contains("s3cr3t"));
    let sent = server.seen.requests.lock().unwrap()[0].0.clone();
    assert!(sent.contains("api_key=s3cr3t-KEY-42"), "server got {sent}");

    // The provider echoes the key in its error message: masked there too.
    let err = gw
        .fetch(&Call::get("similarweb", "/echo-key"))
        .await
        .unwrap_err();
    println!("401 error: {err}");
    let text = format!("{err} {err:?}");
    assert!(!text.contains("s3cr3t"), "{text}");
    assert!(text.contains("api_key=***"));

    // Connection errors from reqwest normally carry the URL: not ours.
    let mut dead = ProviderConfig::new("http://127.0.0.1:9/sw");
    dead.retry.max_attempts = 1;
    dead.auth = gw.provider("similarweb").unwrap().auth.clone();
    let gw = Gateway::new(one("dead", dead)).unwrap();
    let err = gw.fetch(&Call::get("dead", "/ok")).await.unwrap_err();
    println!("connect error: {err}");
    assert!(!format!("{err} {err:?}").contains("s3cr3t"));
}

#[tokio::test]
async fn header_secret_from_env_and_missing_secret_says_how_to_fix() {
    let server = Server::start().await;
    // Unique variable name: no other test reads or writes it.
    std::env::set_var("PFORGE_TEST_BEARER_SECRET", "h3ader-s3cret");
    let mut cfg = ProviderConfig::new(format!("{}/bw", server.base));
    cfg.auth = Some(AuthConfig {
        header: Some("Authorization".into()),
        prefix: "Bearer ".into(),
        env: Some("PFORGE_TEST_BEARER_SECRET".into()),
        ..Default::default()
    });
    let mut missing = cfg.clone();
    missing.auth.as_mut().unwrap().env = Some("PFORGE_TEST_UNSET_SECRET".into());
    let providers =
        ProvidersConfig::from([("builtwith".into(), cfg), ("crunchbase".into(), missing)]);
    let gw = Gateway::new(providers).unwrap();
    gw.fetch(&Call::get("builtwith", "/need-bearer"))
        .await
        .unwrap();
    assert_eq!(gw.missing_credentials("builtwith"), None);
    let err = gw
        .fetch(&Call::get("crunchbase", "/need-bearer"))
        .await
        .unwrap_err();
    println!("missing key: {err}");
    assert_eq!(
        err.to_string(),
        "crunchbase: no credentials: set the environment variable PFORGE_TEST_UNSET_SECRET"
    );
    assert!(gw.has_provider("crunchbase"));
    assert!(gw.missing_credentials("crunchbase").is_some());
    assert_eq!(server.hits("/bw/need-bearer"), 1);
}

#[tokio::test]
async fn invalid_policy_is_refused_when_the_gateway_is_built() {
    let mut cfg = ProviderConfig::new("http://127.0.0.1:9");
    cfg.auth = Some(AuthConfig {
        query: Some("k".into()),
        ..Default::default()
    });
    let err = Gateway::new(one("x", cfg)).err().unwrap();
    println!("{err}");
    assert_eq!(
        err.to_string(),
        "x: invalid configuration: auth needs exactly one of `env` or `file`"
    );
}
