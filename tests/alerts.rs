//! End to end for versioning and alerts (issue 4): enrich epoch 1 then epoch 2 through the real
//! binary; the expected change events appear with their levels; a signed webhook receiver that
//! answers 503 first still sees every alert exactly once; a Slack-shaped payload arrives; a digest
//! recipient gets one message; a SIGKILL between storing and delivering loses nothing.

mod common;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use common::{fixtures, json, repo, Sandbox};
use serde_json::Value;
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SECRET_ENV: &str = "PFORGE_TEST_WEBHOOK_SECRET";
const CORE: &str = "m01_company_context,m02_tech_stack,m03_traffic,m04_financials";

/// What a receiver saw: (webhook-id, signature valid, status it answered).
#[derive(Default)]
struct Seen {
    webhooks: Vec<(String, bool, u16)>,
    bodies: Vec<Value>,
}

/// Behaviour of the webhook receiver's first request.
#[derive(Clone, Copy)]
enum First {
    Unavailable,
    Hang,
}

async fn webhook_receiver(first: First) -> (String, Arc<Mutex<Seen>>) {
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let s = seen.clone();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let s = s.clone();
            async move {
                let h = |k: &str| {
                    headers
                        .get(k)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string()
                };
                let id = h("webhook-id");
                let valid = pforge_versioning::verify_webhook(
                    SECRET,
                    &id,
                    &h("webhook-timestamp"),
                    &h("webhook-signature"),
                    &body,
                    chrono::Utc::now(),
                    Duration::from_secs(300),
                )
                .is_ok();
                let first_call = s.lock().unwrap().webhooks.is_empty();
                let status = match (first_call, first) {
                    (true, First::Unavailable) => StatusCode::SERVICE_UNAVAILABLE,
                    (true, First::Hang) => {
                        s.lock().unwrap().webhooks.push((id, valid, 0));
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        return StatusCode::OK;
                    }
                    _ => StatusCode::OK,
                };
                let mut g = s.lock().unwrap();
                g.webhooks.push((id, valid, status.as_u16()));
                g.bodies
                    .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                status
            }
        }),
    );
    serve(app, seen).await
}

async fn slack_receiver() -> (String, Arc<Mutex<Seen>>) {
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let s = seen.clone();
    let app = Router::new().route(
        "/slack",
        post(move |body: Bytes| {
            let s = s.clone();
            async move {
                s.lock()
                    .unwrap()
                    .bodies
                    .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                "ok"
            }
        }),
    );
    serve(app, seen).await
}

async fn serve(app: Router, seen: Arc<Mutex<Seen>>) -> (String, Arc<Mutex<Seen>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    (url, seen)
}

/// A sandbox whose config routes alerts to the test's receivers and a digest file.
fn alert_sandbox(hook: &str, slack: &str) -> Sandbox {
    let sb = Sandbox::new();
    let mut cfg = std::fs::read_to_string(sb.config()).expect("config");
    cfg = cfg.replace("min_delay_secs = 30", "min_delay_secs = 1");
    let digest = sb.dir.path().join("digest.jsonl");
    cfg.push_str(&format!(
        r#"
[alerts.channels.hook]
kind = "webhook"
url = "{hook}/hook"
secret_env = "{SECRET_ENV}"

[alerts.channels.sales-slack]
kind = "slack"
url = "{slack}/slack"

[alerts.channels.digest-file]
kind = "jsonl"
path = {digest:?}

[alerts.recipients.crm]
channel = "hook"
min_level = "low"

[alerts.recipients.sales]
channel = "sales-slack"
min_level = "high"

[alerts.recipients.revops]
channel = "digest-file"
min_level = "low"
delivery = "hourly"

[[alerts.rules]]
name = "everything"
min_level = "low"
recipients = ["crm", "sales", "revops"]
"#
    ));
    std::fs::write(sb.config(), cfg).expect("write config");
    sb
}

fn enrich(sb: &Sandbox, url: &str) -> std::process::Output {
    let mut cmd = sb.command(&[
        "enrich",
        "--file",
        "fixtures/demo-accounts.csv",
        "--fixtures-url",
        url,
        "--modules",
        CORE,
        "--refresh",
        "all",
        "--no-progress",
    ]);
    cmd.env(SECRET_ENV, SECRET);
    cmd.output().expect("run pforge")
}

#[tokio::test(flavor = "multi_thread")]
async fn epoch_two_raises_scored_changes_and_alerts_delivered_exactly_once() {
    let (hook, hook_seen) = webhook_receiver(First::Unavailable).await;
    let (slack, slack_seen) = slack_receiver().await;
    let sb = alert_sandbox(&hook, &slack);
    let dir = repo().join("fixtures");

    let server = fixtures(&dir, 1).await;
    let out = enrich(&sb, &server.url());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.shutdown().await;
    assert!(
        hook_seen.lock().unwrap().webhooks.is_empty(),
        "first versions raise no alerts"
    );

    let server = fixtures(&dir, 2).await;
    let out = enrich(&sb, &server.url());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.shutdown().await;

    // The expected change events, with their levels.
    let changes = json(&sb.pforge(&["changes", "--json"]));
    let events = changes.as_array().expect("events");
    let find = |domain: &str, path: &str| {
        events
            .iter()
            .find(|e| e["domain"] == domain && e["path"] == path)
            .unwrap_or_else(|| panic!("no event {domain} {path} in {changes}"))
    };
    let algolia = find("techstart.io", "/technologies/Algolia");
    assert_eq!(algolia["kind"], "removed");
    assert!(
        matches!(algolia["level"].as_str(), Some("high" | "critical")),
        "{algolia}"
    );
    let swiftype = find("initech-software.com", "/technologies/Swiftype");
    assert_eq!(swiftype["kind"], "removed");
    assert_eq!(
        swiftype["level"], "critical",
        "a competitor product removed"
    );
    let revenue = find("northwind-retail.com", "/financials/revenue/value");
    assert_eq!(revenue["kind"], "changed");
    assert_eq!(revenue["old_value"], 4_210_000_000u64);
    assert_eq!(revenue["new_value"], 4_630_000_000u64);
    let revenue_down = find("globex-logistics.com", "/financials/revenue/value");
    assert_eq!(
        revenue_down["level"], "high",
        "revenue -11.5% crosses the 10% rule"
    );
    let description = find("techstart.io", "/description");
    assert_eq!(description["level"], "low");
    let high = json(&sb.pforge(&["changes", "--min-level", "high", "--json"]));
    assert!(high.as_array().is_some_and(|a| a
        .iter()
        .all(|e| e["level"] == "high" || e["level"] == "critical")));

    // The webhook answered 503 to the first attempt; a later delivery round retries it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut cmd = sb.command(&["alerts", "deliver", "--flush-digests"]);
    cmd.env(SECRET_ENV, SECRET);
    let out = cmd.output().expect("deliver");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let alerts = json(&sb.pforge(&["alerts", "list", "--json", "--limit", "1000"]));
    let crm: Vec<String> = alerts
        .as_array()
        .expect("alerts")
        .iter()
        .filter(|a| a["recipient"] == "crm")
        .map(|a| a["id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(!crm.is_empty(), "{alerts}");
    assert!(
        alerts
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["status"] == "delivered"),
        "every alert delivered: {alerts}"
    );
    let seen = hook_seen.lock().unwrap();
    assert!(
        seen.webhooks.iter().all(|(_, valid, _)| *valid),
        "every signature verifies"
    );
    assert_eq!(seen.webhooks[0].2, 503);
    let mut delivered: HashMap<&str, usize> = HashMap::new();
    for (id, _, status) in &seen.webhooks {
        if *status == 200 {
            *delivered.entry(id.as_str()).or_default() += 1;
        }
    }
    assert!(
        delivered.values().all(|n| *n == 1),
        "each message delivered once: {delivered:?}"
    );
    assert_eq!(
        delivered.len(),
        crm.len(),
        "one immediate message per alert"
    );
    let retried = &seen.webhooks[0].0;
    assert_eq!(
        delivered.get(retried.as_str()),
        Some(&1),
        "the 503'd message came back with the same id"
    );
    drop(seen);

    // Slack got blocks naming the account and the change.
    let slack = slack_seen.lock().unwrap();
    assert!(!slack.bodies.is_empty());
    let text = serde_json::to_string(&slack.bodies).unwrap();
    assert!(
        slack.bodies.iter().all(|b| b["blocks"].is_array()),
        "{text}"
    );
    assert!(text.contains("initech-software.com"), "{text}");
    drop(slack);

    // The hourly digest recipient received one message rolling up its alerts.
    let digest = std::fs::read_to_string(sb.dir.path().join("digest.jsonl")).expect("digest file");
    let lines: Vec<&str> = digest.lines().collect();
    assert_eq!(lines.len(), 1, "one digest message: {digest}");
    assert!(
        lines[0].contains("techstart.io") && lines[0].contains("northwind-retail.com"),
        "{digest}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_between_storing_and_delivering_loses_nothing() {
    let (hook, hook_seen) = webhook_receiver(First::Hang).await;
    let (slack, _) = slack_receiver().await;
    let sb = alert_sandbox(&hook, &slack);
    let dir = repo().join("fixtures");

    let server = fixtures(&dir, 1).await;
    assert!(enrich(&sb, &server.url()).status.success());
    server.shutdown().await;

    // Epoch 2: the snapshots and their alerts are committed, then delivery hangs on the
    // receiver; the process is killed right there.
    let server = fixtures(&dir, 2).await;
    let mut cmd = sb.command(&[
        "enrich",
        "--file",
        "fixtures/demo-accounts.csv",
        "--fixtures-url",
        &server.url(),
        "--modules",
        CORE,
        "--refresh",
        "all",
        "--no-progress",
    ]);
    cmd.env(SECRET_ENV, SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("spawn");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while hook_seen.lock().unwrap().webhooks.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "delivery never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");

    let pending = json(&sb.pforge(&["alerts", "list", "--status", "pending", "--json"]));
    let pending_ids: Vec<String> = pending
        .as_array()
        .expect("alerts")
        .iter()
        .filter(|a| a["recipient"] == "crm")
        .map(|a| a["id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        !pending_ids.is_empty(),
        "alerts survived the kill: {pending}"
    );

    // The next run stores no duplicate versions and delivers what was pending.
    let out = enrich(&sb, &server.url());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.shutdown().await;
    let history = json(&sb.pforge(&[
        "history",
        "techstart.io",
        "--module",
        "m02_tech_stack",
        "--json",
    ]));
    let versions: Vec<i64> = history
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["version"].as_i64())
        .collect();
    assert_eq!(versions, vec![1, 2], "no duplicate version");
    let seen = hook_seen.lock().unwrap();
    for id in &pending_ids {
        assert!(
            seen.webhooks
                .iter()
                .any(|(seen_id, valid, status)| seen_id == id && *valid && *status == 200),
            "pending alert {id} delivered after restart"
        );
    }
}
