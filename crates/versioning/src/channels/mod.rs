//! Delivery channels: standard output, a JSON Lines file, a signed generic webhook and Slack.
//! Each turns a [`Message`] (one alert or a digest) into one delivery and reports an outcome the
//! dispatcher can act on (delivered, retry — maybe after a server-given delay — or gone).

pub mod slack;
pub mod webhook;

use crate::alerts::{ChannelConfig, Message};
use crate::ConfigError;
use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// What happened to one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    /// Failed; try again later. `retry_after` is the receiver's own request (HTTP 429/503).
    Retry {
        error: String,
        retry_after: Option<Duration>,
    },
    /// The endpoint is gone for good (HTTP 410): stop delivering to it.
    Gone {
        error: String,
    },
}

/// A ready-to-use channel (secrets already resolved).
#[derive(Debug, Clone)]
pub enum Channel {
    Stdout,
    Jsonl { path: PathBuf },
    Webhook { url: String, key: Vec<u8> },
    Slack { url: String },
}

impl Channel {
    /// Resolves a channel's config, reading secrets from the environment. A missing or invalid
    /// secret is a config error naming the variable, caught at start-up rather than per alert.
    pub fn from_config(name: &str, cfg: &ChannelConfig) -> Result<Self, ConfigError> {
        let env = |var: &str| {
            std::env::var(var).map_err(|_| {
                ConfigError::Invalid(format!(
                    "channel {name:?}: environment variable {var} is not set"
                ))
            })
        };
        Ok(match cfg {
            ChannelConfig::Stdout => Channel::Stdout,
            ChannelConfig::Jsonl { path } => Channel::Jsonl { path: path.clone() },
            ChannelConfig::Webhook { url, secret_env } => {
                let secret = env(secret_env)?;
                let key = webhook::decode_secret(&secret).map_err(|e| {
                    ConfigError::Invalid(format!("channel {name:?}: {secret_env}: {e}"))
                })?;
                Channel::Webhook {
                    url: url.clone(),
                    key,
                }
            }
            ChannelConfig::Slack { url, url_env } => Channel::Slack {
                url: match (url, url_env) {
                    (Some(u), _) => u.clone(),
                    (None, Some(var)) => env(var)?,
                    (None, None) => {
                        return Err(ConfigError::Invalid(format!(
                            "slack channel {name:?}: set url or url_env"
                        )))
                    }
                },
            },
        })
    }

    /// Short kind name for logs and attempt records.
    pub fn kind(&self) -> &'static str {
        match self {
            Channel::Stdout => "stdout",
            Channel::Jsonl { .. } => "jsonl",
            Channel::Webhook { .. } => "webhook",
            Channel::Slack { .. } => "slack",
        }
    }

    /// Delivers `msg` once.
    pub async fn send(&self, client: &reqwest::Client, msg: &Message) -> DeliveryOutcome {
        match self {
            Channel::Stdout => {
                let text = render_text(msg);
                let mut out = std::io::stdout().lock();
                match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
                    Ok(()) => DeliveryOutcome::Delivered,
                    Err(e) => DeliveryOutcome::Retry {
                        error: format!("stdout: {e}"),
                        retry_after: None,
                    },
                }
            }
            Channel::Jsonl { path } => match append_line(path, &message_body(msg)).await {
                Ok(()) => DeliveryOutcome::Delivered,
                Err(e) => DeliveryOutcome::Retry {
                    error: format!("{}: {e}", path.display()),
                    retry_after: None,
                },
            },
            Channel::Webhook { url, key } => {
                let body = match serde_json::to_vec(&message_body(msg)) {
                    Ok(b) => b,
                    Err(e) => {
                        return DeliveryOutcome::Retry {
                            error: e.to_string(),
                            retry_after: None,
                        }
                    }
                };
                let id = msg.id.to_string();
                // Fresh timestamp and signature per attempt; same id across attempts.
                let ts = Utc::now().timestamp();
                let req = client
                    .post(url)
                    .header(CONTENT_TYPE, "application/json")
                    .header("webhook-id", &id)
                    .header("webhook-timestamp", ts.to_string())
                    .header("webhook-signature", webhook::sign(key, &id, ts, &body))
                    .body(body);
                http_outcome(req.send().await, url)
            }
            Channel::Slack { url } => {
                let req = client.post(url).json(&slack::payload(msg));
                http_outcome(req.send().await, "slack webhook")
            }
        }
    }
}

async fn append_line(path: &PathBuf, value: &Value) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir).await?;
    }
    let mut line = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut f = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await?;
    // One write call per line so concurrent appenders do not interleave within a line.
    f.write_all(&line).await?;
    f.flush().await
}

fn http_outcome(res: reqwest::Result<reqwest::Response>, what: &str) -> DeliveryOutcome {
    match res {
        Err(e) => DeliveryOutcome::Retry {
            error: format!("{what}: {e}"),
            retry_after: None,
        },
        Ok(resp) => classify(resp.status(), resp.headers(), Utc::now()),
    }
}

/// Maps an HTTP answer to an outcome: 2xx delivered; 410 gone; anything else retried, with the
/// `Retry-After` delay (seconds or HTTP date) when the server sent one.
pub fn classify(status: StatusCode, headers: &HeaderMap, now: DateTime<Utc>) -> DeliveryOutcome {
    if status.is_success() {
        return DeliveryOutcome::Delivered;
    }
    if status == StatusCode::GONE {
        return DeliveryOutcome::Gone {
            error: "HTTP 410 Gone: endpoint asked to stop deliveries".into(),
        };
    }
    let retry_after = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, now));
    DeliveryOutcome::Retry {
        error: format!("HTTP {status}"),
        retry_after,
    }
}

/// `Retry-After` as delay-seconds or an HTTP date (a date in the past means "now").
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when: DateTime<Utc> = httpdate::parse_http_date(v).ok()?.into();
    Some((when - now).to_std().unwrap_or(Duration::ZERO))
}

/// The JSON document for webhooks and JSON Lines, in the Standard Webhooks payload shape
/// (`type`, `timestamp`, `data`). Built only from stored fields, so retries send the same body.
pub fn message_body(msg: &Message) -> Value {
    let latest = msg.alerts.iter().map(|a| a.created_at).max();
    if msg.is_digest() {
        json!({
            "type": "pforge.digest",
            "timestamp": latest,
            "data": {
                "id": msg.id,
                "recipient": msg.recipient,
                "delivery": msg.delivery.as_str(),
                "count": msg.alerts.len(),
                "alerts": msg.alerts.iter().map(alert_json).collect::<Vec<_>>(),
            }
        })
    } else {
        json!({
            "type": "pforge.alert",
            "timestamp": latest,
            "data": msg.alerts.first().map(alert_json).unwrap_or(Value::Null),
        })
    }
}

/// One alert as delivered: its payload plus the outbox identity fields.
pub fn alert_json(a: &pforge_store::Alert) -> Value {
    let mut v = match &a.payload {
        Value::Object(m) => Value::Object(m.clone()),
        other => json!({ "payload": other }),
    };
    if let Value::Object(m) = &mut v {
        m.insert("alert_id".into(), json!(a.id));
        m.insert("rule".into(), json!(a.rule));
        m.insert("recipient".into(), json!(a.recipient));
        m.insert("domain".into(), json!(a.domain));
        m.insert("created_at".into(), json!(a.created_at));
    }
    v
}

/// Human-readable rendering for the terminal.
pub fn render_text(msg: &Message) -> String {
    let mut out = String::new();
    if msg.is_digest() {
        out.push_str(&format!(
            "== {} digest for {}: {} alert(s) ==\n",
            msg.delivery.as_str(),
            msg.recipient,
            msg.alerts.len()
        ));
    }
    for a in &msg.alerts {
        let p = &a.payload;
        let level = p.get("level").and_then(Value::as_str).unwrap_or("low");
        let title = p.get("title").and_then(Value::as_str).unwrap_or(&a.domain);
        out.push_str(&format!("[{}] {title}\n", level.to_uppercase()));
        for c in p
            .get("changes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let s = c.get("summary").and_then(Value::as_str).unwrap_or("");
            let l = c.get("level").and_then(Value::as_str).unwrap_or("");
            let rule = c.get("rule").and_then(Value::as_str).unwrap_or("");
            out.push_str(&format!("  - {s} ({l}, rule {rule})"));
            if let Some(ev) = c.get("evidence").and_then(Value::as_str) {
                out.push_str(&format!(" evidence: {ev}"));
            }
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 01 Jan 2025 00:01:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Tue, 31 Dec 2024 00:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn classify_statuses() {
        let now = Utc::now();
        let mut h = HeaderMap::new();
        assert_eq!(
            classify(StatusCode::NO_CONTENT, &h, now),
            DeliveryOutcome::Delivered
        );
        assert!(matches!(
            classify(StatusCode::GONE, &h, now),
            DeliveryOutcome::Gone { .. }
        ));
        h.insert(RETRY_AFTER, "30".parse().unwrap());
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, &h, now),
            DeliveryOutcome::Retry {
                error: "HTTP 429 Too Many Requests".into(),
                retry_after: Some(Duration::from_secs(30))
            }
        );
        assert!(matches!(
            classify(StatusCode::INTERNAL_SERVER_ERROR, &HeaderMap::new(), now),
            DeliveryOutcome::Retry {
                retry_after: None,
                ..
            }
        ));
    }
}
