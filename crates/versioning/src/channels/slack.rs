//! Slack incoming-webhook payload: Block Kit blocks that show the account, each change and the
//! evidence link, with a plain `text` fallback for notifications.

use crate::alerts::Message;
use serde_json::{json, Value};

/// Slack refuses messages with more than 50 blocks; each alert uses up to 3.
const MAX_ALERTS: usize = 15;
/// Slack's limit for a section's text is 3000 characters.
const MAX_SECTION: usize = 2900;

/// Escapes text for Slack mrkdwn (`&`, `<`, `>` are control characters there).
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn truncate(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let mut t: String = text.chars().take(max).collect();
    t.push('…');
    t
}

/// The JSON body posted to the Slack incoming webhook for `msg`.
pub fn payload(msg: &Message) -> Value {
    let mut blocks: Vec<Value> = Vec::new();
    let heading = if msg.is_digest() {
        format!(
            "PartnerForge {} digest: {} alert(s)",
            msg.delivery.as_str(),
            msg.alerts.len()
        )
    } else {
        let domain = msg.alerts.first().map(|a| a.domain.as_str()).unwrap_or("");
        format!("PartnerForge: {domain}")
    };
    blocks.push(json!({
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(heading.clone(), 140)}
    }));
    for a in msg.alerts.iter().take(MAX_ALERTS) {
        let p = &a.payload;
        let level = p.get("level").and_then(Value::as_str).unwrap_or("low");
        let module = p.get("module").and_then(Value::as_str).unwrap_or("");
        let version = p.get("version").and_then(Value::as_i64).unwrap_or(0);
        let mut text = format!(
            "*{}* · {} v{} · *{}*",
            escape(&a.domain),
            escape(module),
            version,
            level.to_uppercase()
        );
        let mut evidence: Vec<String> = Vec::new();
        for c in p
            .get("changes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let s = c.get("summary").and_then(Value::as_str).unwrap_or("");
            let l = c.get("level").and_then(Value::as_str).unwrap_or("");
            text.push_str(&format!("\n• {} _({l})_", escape(s)));
            if let Some(url) = c.get("evidence").and_then(Value::as_str) {
                if !evidence.iter().any(|e| e == url) {
                    evidence.push(url.to_string());
                }
            }
        }
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": truncate(text, MAX_SECTION)}
        }));
        if !evidence.is_empty() {
            let links: Vec<String> = evidence
                .iter()
                .map(|u| format!("<{}|{}>", escape(u), escape(u)))
                .collect();
            blocks.push(json!({
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": truncate(format!("Evidence: {}", links.join(" · ")), MAX_SECTION)}]
            }));
        }
        blocks.push(json!({"type": "divider"}));
    }
    if msg.alerts.len() > MAX_ALERTS {
        blocks.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": format!("…and {} more alert(s)", msg.alerts.len() - MAX_ALERTS)}]
        }));
    }
    let fallback = msg
        .alerts
        .iter()
        .filter_map(|a| a.payload.get("title").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join("; ");
    json!({
        "text": truncate(if fallback.is_empty() { heading } else { fallback }, MAX_SECTION),
        "blocks": blocks,
    })
}
