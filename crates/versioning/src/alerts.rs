//! Alert rules and preferences (`[alerts]` config): which change events reach whom, on which
//! channel, immediately or rolled up in an hourly/daily digest. Routing is pure; delivery is
//! [`crate::dispatch`]'s.

use crate::diff::ChangeKind;
use crate::pattern::{glob_matches, pointer_matches};
use crate::significance::Level;
use crate::ConfigError;
use chrono::{DateTime, Duration, DurationRound, Utc};
use pforge_store::{Alert, ChangeEvent};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use uuid::Uuid;

/// The `[alerts]` config section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// `[[alerts.rules]]`: every matching rule routes the event to its recipients.
    #[serde(default)]
    pub rules: Vec<AlertRule>,
    /// `[alerts.recipients.<name>]`.
    #[serde(default)]
    pub recipients: BTreeMap<String, Recipient>,
    /// `[alerts.channels.<name>]`.
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelConfig>,
    /// `[alerts.tags]`: tag name → domains carrying it, for rules that match on `tags`.
    #[serde(default)]
    pub tags: BTreeMap<String, Vec<String>>,
    /// `[alerts.delivery]`: retry schedule and batch size of the dispatcher.
    #[serde(default)]
    pub delivery: DeliveryConfig,
}

/// One routing rule. Conditions left empty always hold; all given ones must hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    pub name: String,
    /// Module id globs; empty = any.
    #[serde(default)]
    pub modules: Vec<String>,
    /// Event path globs (see [`crate::pointer_matches`]); empty = any.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Lowest event level this rule routes.
    #[serde(default)]
    pub min_level: Level,
    #[serde(default)]
    pub kinds: Vec<ChangeKind>,
    /// Domains (case-insensitive, `*` globs allowed, e.g. `*.example.com`); empty = any.
    #[serde(default)]
    pub domains: Vec<String>,
    /// Tags from `[alerts.tags]`; the domain must carry at least one. Empty = any.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Names under `[alerts.recipients]`.
    pub recipients: Vec<String>,
}

/// Someone (a person, a team, a system) alerts are delivered to, with their preferences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipient {
    /// Name under `[alerts.channels]`.
    pub channel: String,
    /// Events below this level are not delivered to this recipient, whatever the rule says.
    #[serde(default)]
    pub min_level: Level,
    #[serde(default)]
    pub delivery: Delivery,
    /// Hour (UTC, 0–23) at which the daily digest goes out.
    #[serde(default)]
    pub digest_hour_utc: u32,
}

/// When a recipient's alerts go out: the store's record type, so the outbox and the rules
/// can never disagree about its names.
pub use pforge_store::Delivery;

/// Where messages go. Secrets (webhook signing keys, Slack URLs) can come from the environment
/// so that the config file can be committed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChannelConfig {
    /// One human-readable block per message on standard output.
    Stdout,
    /// One JSON object per line appended to `path`.
    Jsonl { path: PathBuf },
    /// Generic HTTPS webhook signed per the Standard Webhooks spec; the `whsec_…` secret is read
    /// from the environment variable `secret_env`.
    Webhook { url: String, secret_env: String },
    /// Slack incoming webhook: `url`, or the variable `url_env` holding it.
    Slack {
        #[serde(default)]
        url: Option<String>,
        #[serde(default)]
        url_env: Option<String>,
    },
}

/// Retry schedule of the dispatcher (exponential, built with backon).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Attempts before an alert is dead-lettered (status `dead`).
    #[serde(default = "d_max_attempts")]
    pub max_attempts: u32,
    /// Delay after the first failed attempt.
    #[serde(default = "d_min_delay")]
    pub min_delay_secs: u64,
    #[serde(default = "d_max_delay")]
    pub max_delay_secs: u64,
    #[serde(default = "d_factor")]
    pub factor: f32,
    /// Randomize delays (up to +100 %) so that many failed alerts do not retry in lockstep.
    #[serde(default = "d_true")]
    pub jitter: bool,
    /// Per-request timeout for HTTP channels.
    #[serde(default = "d_timeout")]
    pub timeout_secs: u64,
    /// Alerts read from the outbox per dispatch round.
    #[serde(default = "d_batch")]
    pub batch_size: i64,
}

fn d_max_attempts() -> u32 {
    8
}
fn d_min_delay() -> u64 {
    30
}
fn d_max_delay() -> u64 {
    3600
}
fn d_factor() -> f32 {
    2.0
}
fn d_true() -> bool {
    true
}
fn d_timeout() -> u64 {
    10
}
fn d_batch() -> i64 {
    100
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            max_attempts: d_max_attempts(),
            min_delay_secs: d_min_delay(),
            max_delay_secs: d_max_delay(),
            factor: d_factor(),
            jitter: d_true(),
            timeout_secs: d_timeout(),
            batch_size: d_batch(),
        }
    }
}

/// Checks the cross-references of an `[alerts]` section: recipients and channels named by rules
/// exist, channel settings are usable, digest hours are valid.
pub fn validate(cfg: &AlertsConfig) -> Result<(), ConfigError> {
    for rule in &cfg.rules {
        if rule.recipients.is_empty() {
            return Err(ConfigError::Invalid(format!(
                "alert rule {:?} has no recipients",
                rule.name
            )));
        }
        for r in &rule.recipients {
            if !cfg.recipients.contains_key(r) {
                return Err(ConfigError::Invalid(format!(
                    "alert rule {:?} names recipient {:?}, which is not defined under [alerts.recipients]",
                    rule.name, r
                )));
            }
        }
        for t in &rule.tags {
            if !cfg.tags.contains_key(t) {
                return Err(ConfigError::Invalid(format!(
                    "alert rule {:?} names tag {:?}, which is not defined under [alerts.tags]",
                    rule.name, t
                )));
            }
        }
    }
    for (name, r) in &cfg.recipients {
        if !cfg.channels.contains_key(&r.channel) {
            return Err(ConfigError::Invalid(format!(
                "recipient {name:?} uses channel {:?}, which is not defined under [alerts.channels]",
                r.channel
            )));
        }
        if r.digest_hour_utc > 23 {
            return Err(ConfigError::Invalid(format!(
                "recipient {name:?}: digest_hour_utc must be 0-23"
            )));
        }
    }
    for (name, c) in &cfg.channels {
        if let ChannelConfig::Slack { url, url_env } = c {
            if url.is_some() == url_env.is_some() {
                return Err(ConfigError::Invalid(format!(
                    "slack channel {name:?}: set exactly one of url or url_env"
                )));
            }
        }
    }
    let d = &cfg.delivery;
    if d.max_attempts == 0
        || d.batch_size <= 0
        || d.factor < 1.0
        || d.min_delay_secs > d.max_delay_secs
    {
        return Err(ConfigError::Invalid(
            "alerts.delivery: need max_attempts >= 1, batch_size >= 1, factor >= 1, min_delay_secs <= max_delay_secs".into(),
        ));
    }
    Ok(())
}

/// Events routed to one recipient for one snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Routed<'a> {
    pub recipient: String,
    pub channel: String,
    pub delivery: Delivery,
    pub digest_hour_utc: u32,
    /// Names of the rules that routed at least one event, in config order.
    pub rules: Vec<String>,
    pub events: Vec<&'a ChangeEvent>,
}

/// Compiled alert routing.
pub struct AlertRouter {
    cfg: AlertsConfig,
    domain_tags: BTreeMap<String, BTreeSet<String>>,
}

impl AlertRouter {
    /// Validates the section (see [`validate`]) and indexes domain tags.
    pub fn new(cfg: &AlertsConfig) -> Result<Self, ConfigError> {
        validate(cfg)?;
        let mut domain_tags: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (tag, domains) in &cfg.tags {
            for d in domains {
                domain_tags
                    .entry(d.to_lowercase())
                    .or_default()
                    .insert(tag.clone());
            }
        }
        Ok(AlertRouter {
            cfg: cfg.clone(),
            domain_tags,
        })
    }

    /// The config this router was built from.
    pub fn config(&self) -> &AlertsConfig {
        &self.cfg
    }

    fn rule_matches(&self, rule: &AlertRule, ev: &ChangeEvent, level: Level) -> bool {
        let domain = ev.domain.to_lowercase();
        (rule.modules.is_empty() || rule.modules.iter().any(|m| glob_matches(m, &ev.module)))
            && (rule.paths.is_empty() || rule.paths.iter().any(|p| pointer_matches(p, &ev.path)))
            && level >= rule.min_level
            && (rule.kinds.is_empty() || rule.kinds.contains(&ev.kind))
            && (rule.domains.is_empty()
                || rule
                    .domains
                    .iter()
                    .any(|d| glob_matches(&d.to_lowercase(), &domain)))
            && (rule.tags.is_empty()
                || self
                    .domain_tags
                    .get(&domain)
                    .is_some_and(|tags| rule.tags.iter().any(|t| tags.contains(t))))
    }

    /// Groups `events` by recipient: an event reaches a recipient when some rule matching it
    /// names the recipient and the event's level is at least the recipient's `min_level`. Each
    /// event appears once per recipient even when several rules route it.
    pub fn route<'a>(&self, events: &'a [ChangeEvent]) -> Vec<Routed<'a>> {
        let mut out: BTreeMap<String, Routed<'a>> = BTreeMap::new();
        for ev in events {
            let level = ev.level;
            for rule in self
                .cfg
                .rules
                .iter()
                .filter(|r| self.rule_matches(r, ev, level))
            {
                for name in &rule.recipients {
                    let Some(rcpt) = self.cfg.recipients.get(name) else {
                        continue;
                    };
                    if level < rcpt.min_level {
                        continue;
                    }
                    let entry = out.entry(name.clone()).or_insert_with(|| Routed {
                        recipient: name.clone(),
                        channel: rcpt.channel.clone(),
                        delivery: rcpt.delivery,
                        digest_hour_utc: rcpt.digest_hour_utc,
                        rules: Vec::new(),
                        events: Vec::new(),
                    });
                    if !entry.rules.contains(&rule.name) {
                        entry.rules.push(rule.name.clone());
                    }
                    if !entry.events.iter().any(|e| e.id == ev.id) {
                        entry.events.push(ev);
                    }
                }
            }
        }
        out.into_values().collect()
    }
}

/// When an alert created at `now` becomes due: now for immediate delivery, else the end of the
/// digest window it falls in (next full hour; next `digest_hour_utc`:00 for daily).
pub fn due_at(delivery: Delivery, digest_hour_utc: u32, now: DateTime<Utc>) -> DateTime<Utc> {
    match delivery {
        Delivery::Immediate => now,
        Delivery::Hourly => {
            let hour = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
            hour + Duration::hours(1)
        }
        Delivery::Daily => {
            let h = digest_hour_utc.min(23);
            let today = now
                .date_naive()
                .and_hms_opt(h, 0, 0)
                .map(|t| t.and_utc())
                .unwrap_or(now);
            if today > now {
                today
            } else {
                today + Duration::days(1)
            }
        }
    }
}

/// One delivery unit: a single immediate alert, or every due alert of a digest recipient on a
/// channel rolled into one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// `webhook-id`: the alert's id for a single alert; for a digest, a UUID derived from the
    /// sorted alert ids, so a retried digest of the same alerts keeps its id.
    pub id: Uuid,
    pub recipient: String,
    pub channel: String,
    pub delivery: Delivery,
    pub alerts: Vec<Alert>,
}

impl Message {
    /// Whether this message rolls up several alerts for a period.
    pub fn is_digest(&self) -> bool {
        self.delivery != Delivery::Immediate
    }
}

/// Namespace for the deterministic ids this crate derives (events, alerts, digests).
pub(crate) const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f0c_8b1e_4a57_4d7e_9a3c_2f1d_5b6e_7c80);

/// Turns due alerts into messages: immediate alerts one each; hourly/daily alerts grouped per
/// (recipient, channel, delivery) into one digest. Alerts keep their order within a digest
/// (oldest first); messages are ordered by their oldest alert.
pub fn group_messages(alerts: Vec<Alert>) -> Vec<Message> {
    let mut singles = Vec::new();
    let mut digests: BTreeMap<(String, String, Delivery), Vec<Alert>> = BTreeMap::new();
    for a in alerts {
        let delivery = a.delivery;
        if delivery == Delivery::Immediate {
            singles.push(Message {
                id: a.id,
                recipient: a.recipient.clone(),
                channel: a.channel.clone(),
                delivery,
                alerts: vec![a],
            });
        } else {
            digests
                .entry((a.recipient.clone(), a.channel.clone(), delivery))
                .or_default()
                .push(a);
        }
    }
    for ((recipient, channel, delivery), mut alerts) in digests {
        alerts.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        let mut ids: Vec<String> = alerts.iter().map(|a| a.id.to_string()).collect();
        ids.sort();
        let id = Uuid::new_v5(
            &ID_NAMESPACE,
            format!("digest|{}", ids.join(",")).as_bytes(),
        );
        singles.push(Message {
            id,
            recipient,
            channel,
            delivery,
            alerts,
        });
    }
    singles.sort_by_key(|m| m.alerts.iter().map(|a| a.created_at).min());
    singles
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    const CFG: &str = r#"
        [alerts.channels.console]
        kind = "stdout"
        [alerts.channels.log]
        kind = "jsonl"
        path = "alerts.jsonl"

        [alerts.recipients.ae]
        channel = "console"
        min_level = "high"
        [alerts.recipients.revops]
        channel = "log"
        min_level = "medium"
        delivery = "daily"
        digest_hour_utc = 8

        [alerts.tags]
        tier1 = ["stripe.com"]

        [[alerts.rules]]
        name = "tech"
        modules = ["m02_tech_stack"]
        paths = ["/technologies/**"]
        recipients = ["ae", "revops"]

        [[alerts.rules]]
        name = "tier1-anything"
        tags = ["tier1"]
        min_level = "medium"
        recipients = ["revops"]
    "#;

    fn router() -> AlertRouter {
        #[derive(Deserialize)]
        struct W {
            alerts: AlertsConfig,
        }
        let w: W = toml::from_str(CFG).unwrap();
        AlertRouter::new(&w.alerts).unwrap()
    }

    fn ev(domain: &str, module: &str, path: &str, level: &str) -> ChangeEvent {
        ChangeEvent {
            id: Uuid::new_v4(),
            domain: domain.into(),
            module: module.into(),
            version: 2,
            path: path.into(),
            kind: ChangeKind::Added,
            old_value: None,
            new_value: Some(json!("x")),
            significance: 50,
            level: level.parse().unwrap_or_default(),
            rule: "r".into(),
            detected_at: Utc::now(),
        }
    }

    #[test]
    fn routes_by_module_path_level_and_tags() {
        let r = router();
        let events = vec![
            ev(
                "acme.com",
                "m02_tech_stack",
                "/technologies/Algolia",
                "critical",
            ),
            ev(
                "acme.com",
                "m02_tech_stack",
                "/technologies/React",
                "medium",
            ),
            ev("acme.com", "m04_financials", "/revenue", "high"),
            ev("stripe.com", "m04_financials", "/revenue", "high"),
            ev("stripe.com", "m01_company_context", "/description", "low"),
        ];
        let routed = r.route(&events);
        let by: BTreeMap<&str, Vec<&str>> = routed
            .iter()
            .map(|r| {
                (
                    r.recipient.as_str(),
                    r.events.iter().map(|e| e.path.as_str()).collect(),
                )
            })
            .collect();
        // ae: only tech, only >= high.
        assert_eq!(by["ae"], vec!["/technologies/Algolia"]);
        // revops: tech >= medium (its own minimum), and tier1 revenue; not acme revenue, not low.
        assert_eq!(
            by["revops"],
            vec!["/technologies/Algolia", "/technologies/React", "/revenue"]
        );
        let revops = routed.iter().find(|r| r.recipient == "revops").unwrap();
        assert_eq!(revops.rules, vec!["tech", "tier1-anything"]);
        assert_eq!(revops.delivery, Delivery::Daily);
        assert_eq!(revops.events[2].domain, "stripe.com");
    }

    #[test]
    fn unknown_references_are_rejected() {
        let mut cfg = router().config().clone();
        cfg.rules[0].recipients.push("nobody".into());
        assert!(validate(&cfg).unwrap_err().to_string().contains("nobody"));
        let mut cfg = router().config().clone();
        cfg.recipients.get_mut("ae").unwrap().channel = "pager".into();
        assert!(validate(&cfg).unwrap_err().to_string().contains("pager"));
    }

    #[test]
    fn digest_windows() {
        let t = Utc.with_ymd_and_hms(2025, 3, 1, 10, 17, 5).unwrap();
        assert_eq!(due_at(Delivery::Immediate, 0, t), t);
        assert_eq!(
            due_at(Delivery::Hourly, 0, t),
            Utc.with_ymd_and_hms(2025, 3, 1, 11, 0, 0).unwrap()
        );
        assert_eq!(
            due_at(Delivery::Daily, 8, t),
            Utc.with_ymd_and_hms(2025, 3, 2, 8, 0, 0).unwrap()
        );
        assert_eq!(
            due_at(Delivery::Daily, 12, t),
            Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap()
        );
        let eom = Utc.with_ymd_and_hms(2025, 2, 28, 23, 30, 0).unwrap();
        assert_eq!(
            due_at(Delivery::Daily, 0, eom),
            Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap()
        );
    }

    fn alert(recipient: &str, delivery: &str, minute: u32) -> Alert {
        let t = Utc.with_ymd_and_hms(2025, 3, 1, 10, minute, 0).unwrap();
        Alert {
            id: Uuid::new_v4(),
            rule: "r".into(),
            recipient: recipient.into(),
            channel: "c".into(),
            delivery: Delivery::parse(delivery).expect("a delivery name"),
            domain: "acme.com".into(),
            payload: json!({}),
            status: pforge_store::AlertStatus::Pending,
            attempts: 0,
            last_error: None,
            created_at: t,
            next_attempt_at: t,
            delivered_at: None,
        }
    }

    #[test]
    fn digests_roll_up_per_recipient_and_keep_a_stable_id() {
        let a = vec![
            alert("bob", "hourly", 5),
            alert("ann", "immediate", 1),
            alert("bob", "hourly", 2),
            alert("ann", "immediate", 3),
            alert("cat", "daily", 4),
        ];
        let msgs = group_messages(a.clone());
        assert_eq!(msgs.len(), 4);
        let bob = msgs.iter().find(|m| m.recipient == "bob").unwrap();
        assert!(bob.is_digest());
        assert_eq!(bob.alerts.len(), 2);
        assert!(bob.alerts[0].created_at < bob.alerts[1].created_at);
        let ann: Vec<&Message> = msgs.iter().filter(|m| m.recipient == "ann").collect();
        assert_eq!(ann.len(), 2);
        assert_eq!(ann[0].id, ann[0].alerts[0].id);
        // Same alerts in another order → same digest id.
        let mut reversed = a.clone();
        reversed.reverse();
        let again = group_messages(reversed);
        let bob2 = again.iter().find(|m| m.recipient == "bob").unwrap();
        assert_eq!(bob.id, bob2.id);
    }
}
