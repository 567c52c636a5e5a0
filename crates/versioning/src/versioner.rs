//! [`Versioner`]: the [`DeriveChanges`] the store calls inside its snapshot transaction. It
//! diffs the previous version against the new one, scores every patch operation as a change
//! event, and turns routed events into outbox alerts, so that a snapshot, its events and its
//! alerts are committed together or not at all.

use crate::alerts::{due_at, AlertRouter, ID_NAMESPACE};
use crate::canonical::{canonicalize, content_hash, SetArray};
use crate::config::{ConfigError, VersioningConfig};
use crate::diff::{apply, changes, diff, patch_to_value, Change, ChangeKind};
use crate::pattern::segments;
use crate::significance::Significance;
use chrono::{DateTime, Utc};
use json_patch::{Patch, PatchOperation, ReplaceOperation};
use pforge_store::{
    Alert, AlertStatus, ChangeEvent, DeriveChanges, Derived, NewSnapshot, Snapshot,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// Source of "now", replaceable so digest windows and timestamps can be tested.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Diffs, scores and routes new snapshot versions. Build once per process from config and the
/// modules' declared set arrays.
pub struct Versioner {
    significance: Significance,
    router: AlertRouter,
    sets: HashMap<String, Vec<SetArray>>,
    clock: Clock,
}

impl Versioner {
    /// Compiles `cfg` (errors name the bad rule) and keeps each module's set arrays
    /// (`ModuleSpec::set_arrays`, keyed by module id).
    pub fn new(
        cfg: &VersioningConfig,
        sets: HashMap<String, Vec<SetArray>>,
    ) -> Result<Self, ConfigError> {
        cfg.retention.validate()?;
        Ok(Versioner {
            significance: Significance::new(&cfg.significance)?,
            router: AlertRouter::new(&cfg.alerts)?,
            sets,
            clock: Arc::new(Utc::now),
        })
    }

    /// Replaces the clock (tests, replays).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The set arrays declared for `module` (none if unknown).
    pub fn sets_for(&self, module: &str) -> &[SetArray] {
        self.sets.get(module).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Builds the [`NewSnapshot`] for a module result: canonical data and its content hash, so
    /// that the store's "unchanged" check is reliable. Callers should always go through this.
    pub fn prepare(
        &self,
        domain: &str,
        module: &str,
        data: &Value,
        citations: Value,
        fetched_at: DateTime<Utc>,
        job_id: Option<Uuid>,
    ) -> NewSnapshot {
        let canonical = canonicalize(data, self.sets_for(module));
        NewSnapshot {
            domain: domain.to_string(),
            module: module.to_string(),
            content_hash: content_hash(&canonical),
            data: canonical,
            citations,
            fetched_at,
            job_id,
            text: None,
        }
    }

    /// The patch from `previous` to `next` and the changes it means. The patch is verified to
    /// reproduce `next` exactly; should that ever fail, a whole-document replace is used instead
    /// so the stored chain stays exact.
    pub fn patch_and_changes(
        &self,
        module: &str,
        previous: &Value,
        next: &Value,
    ) -> (Patch, Vec<Change>) {
        let sets = self.sets_for(module);
        let patch = diff(previous, next, sets);
        let exact = matches!(apply(previous, &patch), Ok(ref v) if v == next);
        if exact {
            if let Ok(ch) = changes(previous, &patch, sets) {
                return (patch, ch);
            }
        }
        tracing::error!(
            module,
            "computed patch did not reproduce the new version; storing a full replace"
        );
        let patch = Patch(vec![PatchOperation::Replace(ReplaceOperation {
            path: Default::default(),
            value: next.clone(),
        })]);
        let ch = vec![Change {
            path: String::new(),
            raw_path: String::new(),
            kind: ChangeKind::Changed,
            old_value: Some(previous.clone()),
            new_value: Some(next.clone()),
        }];
        (patch, ch)
    }

    /// Scores changes into change events for (domain, module, version).
    pub fn events(
        &self,
        domain: &str,
        module: &str,
        version: i64,
        changes: &[Change],
        now: DateTime<Utc>,
    ) -> Vec<ChangeEvent> {
        changes
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let s = self.significance.score(module, c);
                ChangeEvent {
                    id: Uuid::new_v5(
                        &ID_NAMESPACE,
                        format!(
                            "event|{domain}|{module}|{version}|{i}|{}|{}",
                            c.path,
                            c.kind.as_str()
                        )
                        .as_bytes(),
                    ),
                    domain: domain.to_string(),
                    module: module.to_string(),
                    version,
                    path: c.path.clone(),
                    kind: c.kind,
                    old_value: c.old_value.clone(),
                    new_value: c.new_value.clone(),
                    significance: i64::from(s.score),
                    level: s.level,
                    rule: s.rule,
                    detected_at: now,
                }
            })
            .collect()
    }

    /// Outbox alerts for the routed events: one per recipient per snapshot, status `pending`,
    /// due now (immediate) or at the end of the recipient's digest window. Ids are derived from
    /// (domain, module, version, recipient), so re-deriving the same version yields the same ids.
    pub fn alerts(
        &self,
        next: &NewSnapshot,
        version: i64,
        events: &[ChangeEvent],
        raw_paths: &HashMap<Uuid, String>,
        now: DateTime<Utc>,
    ) -> Vec<Alert> {
        self.router
            .route(events)
            .into_iter()
            .map(|r| {
                let changes: Vec<Value> = r
                    .events
                    .iter()
                    .map(|e| {
                        let raw = raw_paths.get(&e.id).map(String::as_str).unwrap_or(&e.path);
                        json!({
                            "event_id": e.id,
                            "path": e.path,
                            "kind": e.kind,
                            "old_value": e.old_value,
                            "new_value": e.new_value,
                            "significance": e.significance,
                            "level": e.level,
                            "rule": e.rule,
                            "summary": summary(e),
                            "evidence": evidence_for(&next.citations, raw, &e.path),
                        })
                    })
                    .collect();
                let top = r.events.iter().map(|e| e.significance).max().unwrap_or(0);
                let level = r.events.iter().map(|e| e.level).max().unwrap_or_default();
                let title = match r.events.as_slice() {
                    [one] => format!("{}: {}", next.domain, summary(one)),
                    many => format!("{}: {} changes in {}", next.domain, many.len(), next.module),
                };
                Alert {
                    id: Uuid::new_v5(
                        &ID_NAMESPACE,
                        format!(
                            "alert|{}|{}|{version}|{}",
                            next.domain, next.module, r.recipient
                        )
                        .as_bytes(),
                    ),
                    rule: r.rules.join(","),
                    recipient: r.recipient.clone(),
                    channel: r.channel.clone(),
                    delivery: r.delivery,
                    domain: next.domain.clone(),
                    payload: json!({
                        "title": title,
                        "domain": next.domain,
                        "module": next.module,
                        "version": version,
                        "level": level.as_str(),
                        "significance": top,
                        "rules": r.rules,
                        "changes": changes,
                        "detected_at": now,
                    }),
                    status: AlertStatus::Pending,
                    attempts: 0,
                    last_error: None,
                    created_at: now,
                    next_attempt_at: due_at(r.delivery, r.digest_hour_utc, now),
                    delivered_at: None,
                }
            })
            .collect()
    }
}

impl DeriveChanges for Versioner {
    /// Version 1 is the baseline: no patch and no events (a first enrichment is not news).
    fn derive(&self, previous: Option<&Snapshot>, next: &NewSnapshot, version: i64) -> Derived {
        let Some(prev) = previous else {
            return Derived::default();
        };
        let now = (self.clock)();
        let (patch, changes) = self.patch_and_changes(&next.module, &prev.data, &next.data);
        let events = self.events(&next.domain, &next.module, version, &changes, now);
        let raw_paths: HashMap<Uuid, String> = events
            .iter()
            .zip(&changes)
            .map(|(e, c)| (e.id, c.raw_path.clone()))
            .collect();
        let alerts = self.alerts(next, version, &events, &raw_paths, now);
        Derived {
            patch: Some(patch_to_value(&patch)),
            events,
            alerts,
        }
    }
}

/// A one-line reading of an event: "/technologies/Algolia added", "/executives/Bo Chan added
/// (Chief Technology Officer)", "/revenue changed 100 → 110".
pub fn summary(e: &ChangeEvent) -> String {
    let last = segments(&e.path)
        .last()
        .map(|s| crate::pattern::unescape(s))
        .unwrap_or_default();
    let with_label = |verb: &str, v: &Option<Value>| match label(v, &last) {
        Some(l) => format!("{} {verb} ({l})", e.path),
        None => format!("{} {verb}", e.path),
    };
    match e.kind {
        ChangeKind::Added => with_label("added", &e.new_value),
        ChangeKind::Removed => with_label("removed", &e.old_value),
        ChangeKind::Changed => format!(
            "{} changed {} → {}",
            e.path,
            show(&e.old_value),
            show(&e.new_value)
        ),
    }
}

/// A value as short text: strings bare, objects by name/title, others as JSON.
fn show(v: &Option<Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(m)) => ["name", "title", "form"]
            .iter()
            .filter_map(|k| m.get(*k).and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(", "),
        Some(other) => other.to_string(),
        None => "∅".to_string(),
    }
}

/// What to add in parentheses after "added"/"removed": the element's descriptive fields that
/// the path does not already say (nothing for "…/Algolia" when its name is Algolia).
fn label(v: &Option<Value>, last: &str) -> Option<String> {
    let text = match v {
        Some(Value::Object(m)) => ["name", "title", "form"]
            .iter()
            .filter_map(|k| m.get(*k).and_then(Value::as_str))
            .filter(|s| *s != last)
            .collect::<Vec<_>>()
            .join(", "),
        other => show(other),
    };
    (!text.is_empty() && text != last).then_some(text)
}

/// The source URL of the citation that best covers an event: the longest `covers` pointer that
/// is a prefix of the raw or identity path (citations are `[{source, covers: [...]}, ...]`).
pub fn evidence_for(citations: &Value, raw_path: &str, path: &str) -> Option<String> {
    let items = citations.as_array()?;
    let covers =
        |p: &str, target: &str| p.is_empty() || target == p || target.starts_with(&format!("{p}/"));
    let mut best: Option<(usize, String)> = None;
    for c in items {
        let Some(source) = c.get("source").and_then(Value::as_str) else {
            continue;
        };
        for p in c
            .get("covers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(p) = p.as_str() else { continue };
            if (covers(p, raw_path) || covers(p, path))
                && best.as_ref().is_none_or(|(len, _)| p.len() > *len)
            {
                best = Some((p.len(), source.to_string()));
            }
        }
    }
    best.map(|(_, s)| s)
}
