//! Circuit breaker: after N consecutive transient failures a provider (or, for per-domain
//! providers, one target host) is skipped for a cool-down, then a single probe decides.

use crate::config::BreakerConfig;
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

/// Breakers for one provider, keyed by "" (whole provider) or by target host.
pub(crate) struct Breakers {
    provider: String,
    threshold: u32,
    cooldown: Duration,
    states: Mutex<HashMap<String, State>>,
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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, State>> {
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
        let state = states
            .entry(key.to_string())
            .or_insert(State::Closed { failures: 0 });
        let probe = match *state {
            State::Closed { .. } => false,
            State::Open { until } if Utc::now() < until => {
                return Err(GatewayError::CircuitOpen {
                    provider: self.label(key),
                    failures: self.threshold,
                    retry_at: until,
                });
            }
            State::Open { .. } | State::HalfOpen { probing: false } => {
                *state = State::HalfOpen { probing: true };
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

    fn record(&self, key: &str, failed: bool) {
        let mut states = self.lock();
        let state = states
            .entry(key.to_string())
            .or_insert(State::Closed { failures: 0 });
        *state = match (*state, failed) {
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
        if failed && matches!(state, State::Open { .. }) {
            tracing::warn!(provider = %self.label(key), "circuit opened");
        }
        // Forget hosts whose circuit is healthy so a long run stays small.
        if states.len() > 10_000 {
            states.retain(|_, s| !matches!(s, State::Closed { failures: 0 }));
        }
    }

    fn abandon_probe(&self, key: &str) {
        let mut states = self.lock();
        if let Some(s @ State::HalfOpen { probing: true }) = states.get_mut(key) {
            *s = State::HalfOpen { probing: false };
        }
    }
}

impl Permit {
    /// Reports the attempt's outcome: only transient failures count against the provider.
    pub(crate) fn record(mut self, failed: bool) {
        if let Some(b) = self.breakers.take() {
            b.record(&self.key, failed);
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
        b.acquire("").unwrap().record(true);
        b.acquire("").unwrap().record(true);
        // Cool-down of zero: the next caller is the probe, the one after fails fast.
        let probe = b.acquire("").unwrap();
        assert!(matches!(
            b.acquire(""),
            Err(GatewayError::CircuitProbing { .. })
        ));
        drop(probe);
        let probe = b.acquire("").unwrap();
        probe.record(false);
        assert!(b.acquire("").is_ok());
    }
}
