//! Alert delivery over real HTTP to receivers on 127.0.0.1: Standard Webhooks signatures,
//! retries with a stable id, 410, 429 + Retry-After, dead-lettering, digests, Slack and JSONL.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Duration as CDuration, TimeZone, Utc};
use pforge_store::prelude::*;
use pforge_store::{
    Alert, AlertStatus, Delivery, DeriveChanges, Derived, NewSnapshot, Snapshot, SqliteStore,
};
use pforge_versioning::{verify_webhook, AlertsConfig, Channel, DeliveryConfig, Dispatcher};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The outbox under test: a real SQLite store in a temporary file, filled the way production
/// fills it (saving a snapshot whose derivation raises the alerts) and read back through the
/// store's outbox capability, which is what the dispatcher takes.
struct Outbox {
    _dir: tempfile::TempDir,
    store: SqliteStore,
}

/// Raises the given alerts for whatever snapshot is saved.
struct Raise(Vec<Alert>);

impl DeriveChanges for Raise {
    fn derive(&self, _: Option<&Snapshot>, _: &NewSnapshot, _: i64) -> Derived {
        Derived {
            alerts: self.0.clone(),
            ..Derived::default()
        }
    }
}

impl Outbox {
    async fn with(alerts: Vec<Alert>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("outbox.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        let raised = NewSnapshot {
            domain: "outbox.test".into(),
            module: "m02_tech_stack".into(),
            data: json!({}),
            citations: json!([]),
            content_hash: "h".into(),
            fetched_at: Utc::now(),
            job_id: None,
            text: None,
        };
        store.save_snapshot(&raised, &Raise(alerts)).await.unwrap();
        Outbox { _dir: dir, store }
    }

    async fn get(&self, id: Uuid) -> Alert {
        self.store
            .list_alerts(None, 10_000)
            .await
            .unwrap()
            .into_iter()
            .find(|a| a.id == id)
            .unwrap()
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 10, 0, 0).unwrap()
}

fn alert(channel: &str, delivery: &str, domain: &str, minute: i64) -> Alert {
    let created = t0() + CDuration::minutes(minute);
    Alert {
        id: Uuid::new_v4(),
        rule: "high-and-critical".into(),
        recipient: "crm".into(),
        channel: channel.into(),
        delivery: Delivery::parse(delivery).expect("a delivery name"),
        domain: domain.into(),
        payload: json!({
            "title": format!("{domain}: /technologies/Algolia added"),
            "domain": domain,
            "module": "m02_tech_stack",
            "version": 2,
            "level": "critical",
            "significance": 90,
            "changes": [{
                "path": "/technologies/Algolia", "kind": "added", "level": "critical",
                "rule": "tech-competitor", "summary": "/technologies/Algolia added",
                "new_value": {"name": "Algolia"}, "old_value": null,
                "evidence": format!("https://{domain}/"),
            }],
        }),
        status: AlertStatus::Pending,
        attempts: 0,
        last_error: None,
        created_at: created,
        next_attempt_at: created,
        delivered_at: None,
    }
}

fn delivery(max_attempts: u32) -> DeliveryConfig {
    DeliveryConfig {
        max_attempts,
        min_delay_secs: 10,
        max_delay_secs: 600,
        factor: 2.0,
        jitter: false,
        timeout_secs: 5,
        batch_size: 50,
    }
}

#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: String,
    verified: bool,
    body: Value,
}

/// A receiver that answers from a script of statuses (the last one repeats) and verifies every
/// request's Standard Webhooks signature.
#[derive(Clone)]
struct Receiver {
    script: Arc<Vec<(u16, Option<&'static str>)>>,
    seen: Arc<Mutex<Vec<Received>>>,
}

async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> Response {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let verified = verify_webhook(
        SECRET,
        &h("webhook-id"),
        &h("webhook-timestamp"),
        &h("webhook-signature"),
        &body,
        Utc::now(),
        Duration::from_secs(300),
    )
    .is_ok();
    let n = {
        let mut seen = r.seen.lock().unwrap();
        seen.push(Received {
            id: h("webhook-id"),
            timestamp: h("webhook-timestamp"),
            verified,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        });
        seen.len()
    };
    let (status, retry_after) = r.script[(n - 1).min(r.script.len() - 1)];
    let mut resp = StatusCode::from_u16(status).unwrap().into_response();
    if let Some(ra) = retry_after {
        resp.headers_mut()
            .insert("retry-after", ra.parse().unwrap());
    }
    resp
}

async fn slack_hook(State(r): State<Receiver>, body: Bytes) -> Response {
    r.seen.lock().unwrap().push(Received {
        id: String::new(),
        timestamp: String::new(),
        verified: false,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    (StatusCode::OK, "ok").into_response()
}

async fn serve(script: Vec<(u16, Option<&'static str>)>) -> (String, Arc<Mutex<Vec<Received>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let state = Receiver {
        script: Arc::new(script),
        seen: seen.clone(),
    };
    let app = Router::new()
        .route("/hook", post(hook))
        .route("/slack", post(slack_hook))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}"), seen)
}

fn webhook_dispatcher(base: &str, max_attempts: u32) -> Dispatcher {
    let key = pforge_versioning::decode_secret(SECRET).unwrap();
    let mut channels = BTreeMap::new();
    channels.insert(
        "crm".to_string(),
        Channel::Webhook {
            url: format!("{base}/hook"),
            key,
        },
    );
    Dispatcher::with_channels(channels, delivery(max_attempts)).unwrap()
}

#[tokio::test]
async fn webhook_retries_after_503_with_the_same_id_and_valid_signatures() {
    let (base, seen) = serve(vec![(503, None), (200, None)]).await;
    let d = webhook_dispatcher(&base, 5);
    let a = alert("crm", "immediate", "acme.com", 0);
    let outbox = Outbox::with(vec![a.clone()]).await;

    let r1 = d.dispatch_once(&outbox.store, t0()).await.unwrap();
    assert_eq!((r1.messages, r1.retried, r1.delivered), (1, 1, 0));
    let after1 = outbox.get(a.id).await;
    assert_eq!(after1.status, "pending");
    assert_eq!(after1.attempts, 1);
    assert_eq!(
        after1.last_error.as_deref(),
        Some("HTTP 503 Service Unavailable")
    );
    // First backoff step (no jitter): min_delay.
    assert_eq!(after1.next_attempt_at, t0() + CDuration::seconds(10));

    // Not due yet: nothing is sent.
    let r = d
        .dispatch_once(&outbox.store, t0() + CDuration::seconds(5))
        .await
        .unwrap();
    assert_eq!(r.messages, 0);

    let r2 = d
        .dispatch_once(&outbox.store, t0() + CDuration::seconds(10))
        .await
        .unwrap();
    assert_eq!(r2.delivered, 1);
    let done = outbox.get(a.id).await;
    assert_eq!(done.status, "delivered");
    assert_eq!(done.attempts, 2);
    assert!(done.delivered_at.is_some());
    assert!(done.last_error.is_none());

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert!(
        seen.iter().all(|r| r.verified),
        "every request carries a valid signature"
    );
    assert_eq!(seen[0].id, a.id.to_string());
    assert_eq!(seen[0].id, seen[1].id, "same webhook-id across retries");
    assert_eq!(seen[0].body, seen[1].body, "same body across retries");
    assert!(!seen[0].timestamp.is_empty());
    assert_eq!(seen[0].body["type"], "pforge.alert");
    assert_eq!(seen[0].body["data"]["alert_id"], json!(a.id));
    assert_eq!(seen[0].body["data"]["domain"], "acme.com");

    let attempts = [r1.attempts, r.attempts, r2.attempts].concat();
    let outcomes: Vec<(&str, i64)> = attempts
        .iter()
        .map(|r| (r.outcome.as_str(), r.attempt))
        .collect();
    assert_eq!(outcomes, vec![("retry", 1), ("delivered", 2)]);
}

#[tokio::test]
async fn http_410_disables_the_alert_and_the_endpoint() {
    let (base, seen) = serve(vec![(410, None)]).await;
    let d = webhook_dispatcher(&base, 5);
    let a = alert("crm", "immediate", "acme.com", 0);
    let b = alert("crm", "immediate", "beta.io", 1);
    let outbox = Outbox::with(vec![a.clone(), b.clone()]).await;
    let r = d
        .dispatch_once(&outbox.store, t0() + CDuration::minutes(5))
        .await
        .unwrap();
    assert_eq!(r.disabled, 2);
    assert_eq!(outbox.get(a.id).await.status, "disabled");
    assert_eq!(outbox.get(b.id).await.status, "disabled");
    // Only the first was sent: once the endpoint said 410, the next was not attempted.
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn http_429_retry_after_sets_the_next_attempt() {
    let (base, _seen) = serve(vec![(429, Some("120"))]).await;
    let d = webhook_dispatcher(&base, 5);
    let a = alert("crm", "immediate", "acme.com", 0);
    let outbox = Outbox::with(vec![a.clone()]).await;
    d.dispatch_once(&outbox.store, t0()).await.unwrap();
    let got = outbox.get(a.id).await;
    assert_eq!(got.status, "pending");
    // Backoff would say 10 s; the receiver asked for 120 s.
    assert_eq!(got.next_attempt_at, t0() + CDuration::seconds(120));
    assert!(got.last_error.unwrap().contains("429"));
}

#[tokio::test]
async fn exhausted_attempts_dead_letter_the_alert() {
    let (base, seen) = serve(vec![(500, None)]).await;
    let d = webhook_dispatcher(&base, 3);
    let a = alert("crm", "immediate", "acme.com", 0);
    let outbox = Outbox::with(vec![a.clone()]).await;
    let mut now = t0();
    let mut delays = Vec::new();
    for _ in 0..3 {
        d.dispatch_once(&outbox.store, now).await.unwrap();
        let got = outbox.get(a.id).await;
        delays.push(got.next_attempt_at - now);
        now = got.next_attempt_at;
    }
    let got = outbox.get(a.id).await;
    assert_eq!(got.status, "dead");
    assert_eq!(got.attempts, 3);
    assert_eq!(seen.lock().unwrap().len(), 3);
    // Exponential: 10 s, then 20 s.
    assert_eq!(delays[0], CDuration::seconds(10));
    assert_eq!(delays[1], CDuration::seconds(20));
    // Dead alerts are never picked up again.
    assert_eq!(
        d.dispatch_once(&outbox.store, now + CDuration::days(1))
            .await
            .unwrap()
            .messages,
        0
    );
}

#[tokio::test]
async fn digest_recipient_gets_one_signed_message_for_the_period() {
    let (base, seen) = serve(vec![(200, None)]).await;
    let d = webhook_dispatcher(&base, 5);
    let hourly: Vec<Alert> = (0..3)
        .map(|i| {
            let mut a = alert("crm", "hourly", &format!("d{i}.com"), i);
            a.next_attempt_at = t0() + CDuration::hours(1);
            a
        })
        .collect();
    let outbox = Outbox::with(hourly.clone()).await;
    assert_eq!(
        d.dispatch_once(&outbox.store, t0() + CDuration::minutes(30))
            .await
            .unwrap()
            .messages,
        0
    );
    let r = d
        .dispatch_once(&outbox.store, t0() + CDuration::hours(1))
        .await
        .unwrap();
    assert_eq!((r.messages, r.delivered), (1, 3));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].verified);
    let body = &seen[0].body;
    assert_eq!(body["type"], "pforge.digest");
    assert_eq!(body["data"]["count"], 3);
    let domains: Vec<&str> = body["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["domain"].as_str().unwrap())
        .collect();
    assert_eq!(domains, vec!["d0.com", "d1.com", "d2.com"]);
    for a in &hourly {
        assert_eq!(outbox.get(a.id).await.status, "delivered");
    }
}

#[tokio::test]
async fn slack_payload_shows_account_change_and_evidence() {
    let (base, seen) = serve(vec![(200, None)]).await;
    let cfg: AlertsConfig = toml::from_str(&format!(
        r#"
        [channels.team]
        kind = "slack"
        url = "{base}/slack"
        [recipients.sales]
        channel = "team"
        [[rules]]
        name = "all"
        recipients = ["sales"]
        "#
    ))
    .unwrap();
    let d = Dispatcher::new(&cfg).unwrap();
    let a = alert("team", "immediate", "acme.com", 0);
    let outbox = Outbox::with(vec![a.clone()]).await;
    let r = d.dispatch_once(&outbox.store, t0()).await.unwrap();
    assert_eq!(r.delivered, 1);
    let seen = seen.lock().unwrap().clone();
    let body = &seen[0].body;
    assert!(body["text"].as_str().unwrap().contains("acme.com"));
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert!(blocks[0]["text"]["text"]
        .as_str()
        .unwrap()
        .contains("acme.com"));
    let section = blocks.iter().find(|b| b["type"] == "section").unwrap();
    assert_eq!(section["text"]["type"], "mrkdwn");
    let text = section["text"]["text"].as_str().unwrap();
    assert!(
        text.contains("*acme.com*")
            && text.contains("/technologies/Algolia added")
            && text.contains("CRITICAL"),
        "{text}"
    );
    let context = blocks.iter().find(|b| b["type"] == "context").unwrap();
    assert!(context["elements"][0]["text"]
        .as_str()
        .unwrap()
        .contains("<https://acme.com/|https://acme.com/>"));
}

#[tokio::test]
async fn webhook_channel_reads_its_secret_from_the_environment() {
    let cfg: AlertsConfig = toml::from_str(
        r#"
        [channels.crm]
        kind = "webhook"
        url = "http://127.0.0.1:9/hook"
        secret_env = "PFORGE_TEST_DELIVERY_SECRET_UNSET"
        "#,
    )
    .unwrap();
    let err = Dispatcher::new(&cfg).err().unwrap().to_string();
    assert!(err.contains("PFORGE_TEST_DELIVERY_SECRET_UNSET"), "{err}");
}

#[tokio::test]
async fn jsonl_channel_appends_one_line_per_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/alerts.jsonl");
    let mut channels = BTreeMap::new();
    channels.insert("log".to_string(), Channel::Jsonl { path: path.clone() });
    channels.insert("console".to_string(), Channel::Stdout);
    let d = Dispatcher::with_channels(channels, delivery(3)).unwrap();
    let a = alert("log", "immediate", "acme.com", 0);
    let b = alert("log", "immediate", "beta.io", 1);
    let c = alert("console", "immediate", "gamma.dev", 2);
    let outbox = Outbox::with(vec![a.clone(), b.clone(), c.clone()]).await;
    let r = d
        .dispatch_once(&outbox.store, t0() + CDuration::minutes(5))
        .await
        .unwrap();
    assert_eq!(r.delivered, 3);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["data"]["alert_id"], json!(a.id));
    assert_eq!(lines[1]["data"]["domain"], "beta.io");
    assert_eq!(outbox.get(c.id).await.status, "delivered");
}

#[tokio::test]
async fn unknown_channel_is_retried_then_dead() {
    let d = Dispatcher::with_channels(BTreeMap::new(), delivery(1)).unwrap();
    let a = alert("nowhere", "immediate", "acme.com", 0);
    let outbox = Outbox::with(vec![a.clone()]).await;
    d.dispatch_once(&outbox.store, t0()).await.unwrap();
    let got = outbox.get(a.id).await;
    assert_eq!(got.status, "dead");
    assert!(got.last_error.unwrap().contains("nowhere"));
}
