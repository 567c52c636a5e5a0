//! Circuit breaker: after N consecutive transient failures a provider (or, for per-domain
//! providers, one target host) is skipped for a cool-down, then a single probe decides. Each
//! breaker remembers since when it is in its state and the last failure it saw, so the budget
//! page can say why a provider is being skipped and until when.

use crate::config::BreakerConfig;
use crate::health::{BreakerState, BreakerStatus};
use crate::GatewayError;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
enum State {
    Closed { failures: u32 },
    Open { until: DateTime<Utc> },
    HalfOpen { probing: bool },
}

/// One breaker: its state, when it entered it, and the last transient failure it counted.
#[derive(Debug, Clone)]
struct Entry {
    state: State,
    since: DateTime<Utc>,
    last_error: Option<String>,
}

impl Entry {
    fn closed() -> Entry {
        Entry {
            state: State::Closed { failures: 0 },
            since: Utc::now(),
            last_error: None,
        }
    }

    /// Moves to `state`, restarting `since` only when the kind of state changes (a closed
    /// breaker counting failures is still closed since it closed).
    fn set(&mut self, state: State) {
        if std::mem::discriminant(&self.state) != std::mem::discriminant(&state) {
            self.since = Utc::now();
        }
        self.state = state;
    }
}

/// Breakers for one provider, keyed by "" (whole provider) or by target host.
pub(crate) struct Breakers {
    provider: String,
    threshold: u32,
    cooldown: Duration,
    states: Mutex<HashMap<String, Entry>>,
}

/// Leave to send one attempt. Report the outcome with [`Permit::record`]; dropping it unreported
/// (e.g. the budget refused the call) frees a half-open probe slot for the next caller.
pub(crate) struct Permit {
    breakers: Option<Arc<Breakers>>,
    key: String,
    probe: bool,
}

impl Breakers {
    pub(crate) fn new(provider: &str, cfg: &BreakerConfig) -> Self {
        Breakers {
            provider: provider.to_string(),
            threshold: cfg.failures,
            cooldown: Duration::from_secs_f64(cfg.cooldown_secs.max(0.0)),
            states: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.states.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lets an attempt through, or fails fast saying why and until when.
    pub(crate) fn acquire(self: &Arc<Self>, key: &str) -> Result<Permit, GatewayError> {
        if self.threshold == 0 {
            return Ok(Permit {
                breakers: None,
                key: String::new(),
                probe: false,
            });
        }
        let mut states = self.lock();
        let entry = states.entry(key.to_string()).or_insert_with(Entry::closed);
        let probe = match entry.state {
            State::Closed { .. } => false,
            State::Open { until } if Utc::now() < until => {
                return Err(GatewayError::CircuitOpen {
                    provider: self.label(key),
                    failures: self.threshold,
                    retry_at: until,
                });
            }
            State::Open { .. } | State::HalfOpen { probing: false } => {
                entry.set(State::HalfOpen { probing: true });
                true
            }
            State::HalfOpen { probing: true } => {
                return Err(GatewayError::CircuitProbing {
                    provider: self.label(key),
                });
            }
        };
        Ok(Permit {
            breakers: Some(Arc::clone(self)),
            key: key.to_string(),
            probe,
        })
    }

    fn label(&self, key: &str) -> String {
        if key.is_empty() {
            self.provider.clone()
        } else {
            format!("{} ({key})", self.provider)
        }
    }

    /// Counts an attempt's outcome: `failure` is the transient error it ended with, if any.
    fn record(&self, key: &str, failure: Option<String>) {
        let mut states = self.lock();
        let entry = states.entry(key.to_string()).or_insert_with(Entry::closed);
        let failed = failure.is_some();
        let next = match (entry.state, failed) {
            (_, false) => State::Closed { failures: 0 },
            (State::Closed { failures }, true) if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            (_, true) => {
                let cooldown = chrono::Duration::from_std(self.cooldown)
                    .unwrap_or(chrono::Duration::seconds(30));
                State::Open {
                    until: Utc::now() + cooldown,
                }
            }
        };
        if let Some(e) = failure {
            entry.last_error = Some(e);
        }
        entry.set(next);
        if failed && matches!(entry.state, State::Open { .. }) {
            tracing::warn!(provider = %self.label(key), "circuit opened");
        }
        // Forget hosts whose circuit is healthy so a long run stays small.
        if states.len() > 10_000 {
            states.retain(|_, e| !matches!(e.state, State::Closed { failures: 0 }));
        }
    }

    /// Every breaker that is not simply healthy (open, half-open, or closed with failures
    /// counted or a failure remembered), open ones first, then by key; at most `limit` of them.
    pub(crate) fn status(&self, limit: usize) -> Vec<BreakerStatus> {
        let now = Utc::now();
        let states = self.lock();
        let mut out: Vec<BreakerStatus> = states
            .iter()
            .filter(|(_, e)| {
                !matches!(e.state, State::Closed { failures: 0 }) || e.last_error.is_some()
            })
            .map(|(key, e)| {
                let (state, failures, retry_at) = match e.state {
                    State::Closed { failures } => (BreakerState::Closed, failures, None),
                    State::Open { until } if now < until => {
                        (BreakerState::Open, self.threshold, Some(until))
                    }
                    // The cool-down is over: the next call is the probe.
                    State::Open { .. } | State::HalfOpen { .. } => {
                        (BreakerState::HalfOpen, self.threshold, None)
                    }
                };
                BreakerStatus {
                    provider: self.provider.clone(),
                    host: (!key.is_empty()).then(|| key.clone()),
                    state,
                    since: e.since,
                    failures,
                    threshold: self.threshold,
                    retry_at,
                    last_error: e.last_error.clone(),
                }
            })
            .collect();
        out.sort_by(|a, b| (a.state, &a.host).cmp(&(b.state, &b.host)));
        out.truncate(limit);
        out
    }

    fn abandon_probe(&self, key: &str) {
        let mut states = self.lock();
        if let Some(e) = states.get_mut(key) {
            if matches!(e.state, State::HalfOpen { probing: true }) {
                e.state = State::HalfOpen { probing: false };
            }
        }
    }
}

impl Permit {
    /// Reports the attempt's outcome: `failure` is the message of the transient error it ended
    /// with (only those count against the provider), `None` for any other outcome.
    pub(crate) fn record(mut self, failure: Option<String>) {
        if let Some(b) = self.breakers.take() {
            b.record(&self.key, failure);
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let (Some(b), true) = (&self.breakers, self.probe) {
            b.abandon_probe(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_then_lets_one_probe_through() {
        let b = Arc::new(Breakers::new(
            "p",
            &BreakerConfig {
                failures: 2,
                cooldown_secs: 0.0,
            },
        ));
        b.acquire("").unwrap().record(Some("first".into()));
        b.acquire("").unwrap().record(Some("HTTP 500".into()));
        // Cool-down of zero: the next caller is the probe, the one after fails fast.
        let probe = b.acquire("").unwrap();
        assert!(matches!(
            b.acquire(""),
            Err(GatewayError::CircuitProbing { .. })
        ));
        drop(probe);
        let probe = b.acquire("").unwrap();
        probe.record(None);
        assert!(b.acquire("").is_ok());
    }

    #[test]
    fn status_says_open_since_when_until_when_and_why() {
        let b = Arc::new(Breakers::new(
            "p",
            &BreakerConfig {
                failures: 2,
                cooldown_secs: 600.0,
            },
        ));
        assert!(b.status(10).is_empty(), "a healthy breaker is not listed");
        let before = Utc::now();
        b.acquire("a.com")
            .unwrap()
            .record(Some("HTTP 500 one".into()));
        let s = b.status(10);
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].state, s[0].failures), (BreakerState::Closed, 1));
        b.acquire("a.com")
            .unwrap()
            .record(Some("HTTP 500 two".into()));
        b.acquire("b.com").unwrap().record(Some("timeout".into()));
        let s = b.status(10);
        assert_eq!(s[0].state, BreakerState::Open);
        assert_eq!(s[0].host.as_deref(), Some("a.com"));
        assert_eq!(s[0].last_error.as_deref(), Some("HTTP 500 two"));
        assert!(s[0].since >= before);
        assert!(s[0].retry_at.is_some_and(|t| t > Utc::now()));
        assert_eq!(s[1].state, BreakerState::Closed);
        assert_eq!(b.status(1).len(), 1, "the limit holds");
        // A success closes it again but the last error stays on record.
        let zero = Arc::new(Breakers::new(
            "q",
            &BreakerConfig {
                failures: 1,
                cooldown_secs: 0.0,
            },
        ));
        zero.acquire("").unwrap().record(Some("refused".into()));
        assert_eq!(zero.status(10)[0].state, BreakerState::HalfOpen);
        zero.acquire("").unwrap().record(None);
        let s = zero.status(10);
        assert_eq!(s[0].state, BreakerState::Closed);
        assert_eq!(s[0].failures, 0);
        assert_eq!(s[0].last_error.as_deref(), Some("refused"));
    }
}
