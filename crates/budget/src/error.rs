use chrono::{DateTime, Utc};
use thiserror::Error;

/// Why an outbound call produced no usable answer. Each variant names the provider (or the cap)
/// so that a module error read in a summary says where to look and what to change.
#[derive(Debug, Error, Clone)]
pub enum GatewayError {
    /// The call names a provider with no `[providers.*]` table.
    #[error("provider {0:?} is not configured: add [providers.{0}] to pforge.toml")]
    UnknownProvider(String),
    /// The provider's policy is unusable (found when the gateway is built).
    #[error("{provider}: invalid configuration: {reason}")]
    Config { provider: String, reason: String },
    /// The provider needs a secret that is not available; the reason says where to put it.
    #[error("{provider}: no credentials: {reason}")]
    MissingSecret { provider: String, reason: String },
    /// Base URL plus path did not form a URL.
    #[error("{provider}: invalid request URL {url:?}: {reason}")]
    BadUrl {
        provider: String,
        url: String,
        reason: String,
    },
    /// No full answer within `timeout_secs` (transient: retried).
    #[error("{provider}: request to {url} timed out after {secs}s")]
    Timeout {
        provider: String,
        url: String,
        secs: f64,
    },
    /// Connection failed (transient: retried).
    #[error("{provider}: cannot reach {url}: {reason}")]
    Connect {
        provider: String,
        url: String,
        reason: String,
    },
    /// A non-2xx answer, with the provider's own message (429/502/503/504 are retried).
    #[error("{provider}: {url} answered HTTP {status}: {message}")]
    Status {
        provider: String,
        url: String,
        status: u16,
        message: String,
    },
    /// The body exceeded `max_body_bytes`; reading stopped there.
    #[error("{provider}: response from {url} is larger than the {limit} byte limit")]
    TooLarge {
        provider: String,
        url: String,
        limit: u64,
    },
    /// The connection broke while reading the body.
    #[error("{provider}: reading response from {url} failed: {reason}")]
    Body {
        provider: String,
        url: String,
        reason: String,
    },
    /// A JSON provider answered 2xx with something else (often an HTML error page).
    #[error("{provider}: {url} answered with content type {content_type:?}, expected JSON")]
    ContentType {
        provider: String,
        url: String,
        content_type: String,
    },
    /// The SSRF guard refused the target: it is (or resolves to, or redirects to) a loopback,
    /// private, link-local, metadata or otherwise non-public address. Never retried.
    #[error("{provider}: refused to fetch {url}: {reason}")]
    Forbidden {
        provider: String,
        url: String,
        reason: String,
    },
    /// More redirects than `max_redirects`.
    #[error("{provider}: {url} redirected more than {limit} times")]
    TooManyRedirects {
        provider: String,
        url: String,
        limit: u32,
    },
    /// A batch request (see [`crate::BatchConfig`]) was answered, but not with this caller's
    /// item: the item is absent from the answer, or the answer cannot be split at all. Only the
    /// callers whose items are affected get this error.
    #[error("{provider}: batch answer from {url} {reason}")]
    Batch {
        provider: String,
        url: String,
        reason: String,
    },
    /// The provider failed repeatedly and is being skipped until `retry_at`.
    #[error(
        "{provider}: circuit open after {failures} consecutive failures; calls fail fast until \
         {}, then one probe is let through",
        retry_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )]
    CircuitOpen {
        provider: String,
        failures: u32,
        retry_at: DateTime<Utc>,
    },
    /// The breaker is testing the provider with one call; others fail fast meanwhile.
    #[error("{provider}: circuit half-open, a probe call is in flight; calls fail fast until it answers")]
    CircuitProbing { provider: String },
    /// A spending cap would be exceeded; the call was not sent.
    #[error(
        "budget cap `{cap}` reached ({spent}/{limit} credits, this call costs {cost}); {}",
        budget_hint(cap, resets_at)
    )]
    Budget {
        /// Which cap: `similarweb daily`, `total monthly`, `run`, ...
        cap: String,
        /// Credits spent or reserved in the cap's window.
        spent: f64,
        limit: f64,
        /// Credits the refused call would have cost.
        cost: f64,
        /// When the window restarts from zero; None for the per-run cap.
        resets_at: Option<DateTime<Utc>>,
    },
}

fn budget_hint(cap: &str, resets_at: &Option<DateTime<Utc>>) -> String {
    match resets_at {
        None if cap == "job" => {
            "the job's own spend cap (max_spend), counted over every worker running it; \
             raise it for a new job"
                .to_string()
        }
        None => "raise --max-spend or [budget] per_run".to_string(),
        Some(at) => {
            let at = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let key = match cap.split_once(' ') {
                Some(("total", period)) => format!("[budget] total_{period}"),
                Some((provider, period)) => format!("[budget.providers.{provider}] {period}"),
                None => "[budget]".to_string(),
            };
            format!("resets at {at}; raise {key} or wait")
        }
    }
}

impl GatewayError {
    /// HTTP status of the provider's answer, when it answered at all.
    pub fn status(&self) -> Option<u16> {
        match self {
            GatewayError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether trying again later may succeed: connect errors, timeouts, 429, 502, 503, 504.
    /// Only these are retried, and only these count toward opening the circuit breaker.
    pub fn is_transient(&self) -> bool {
        match self {
            GatewayError::Timeout { .. } | GatewayError::Connect { .. } => true,
            GatewayError::Status { status, .. } => matches!(status, 429 | 502 | 503 | 504),
            _ => false,
        }
    }

    /// Whether the call was refused by a spending cap (the run may want to stop early).
    pub fn is_budget(&self) -> bool {
        matches!(self, GatewayError::Budget { .. })
    }

    /// Applies `f` to every free-text field, so secrets can be scrubbed in one place.
    pub(crate) fn map_text(self, f: impl Fn(&str) -> String) -> Self {
        use GatewayError::*;
        match self {
            UnknownProvider(p) => UnknownProvider(p),
            Config { provider, reason } => Config {
                provider,
                reason: f(&reason),
            },
            MissingSecret { provider, reason } => MissingSecret {
                provider,
                reason: f(&reason),
            },
            BadUrl {
                provider,
                url,
                reason,
            } => BadUrl {
                provider,
                url: f(&url),
                reason: f(&reason),
            },
            Timeout {
                provider,
                url,
                secs,
            } => Timeout {
                provider,
                url: f(&url),
                secs,
            },
            Connect {
                provider,
                url,
                reason,
            } => Connect {
                provider,
                url: f(&url),
                reason: f(&reason),
            },
            Status {
                provider,
                url,
                status,
                message,
            } => Status {
                provider,
                url: f(&url),
                status,
                message: f(&message),
            },
            TooLarge {
                provider,
                url,
                limit,
            } => TooLarge {
                provider,
                url: f(&url),
                limit,
            },
            Body {
                provider,
                url,
                reason,
            } => Body {
                provider,
                url: f(&url),
                reason: f(&reason),
            },
            ContentType {
                provider,
                url,
                content_type,
            } => ContentType {
                provider,
                url: f(&url),
                content_type,
            },
            Forbidden {
                provider,
                url,
                reason,
            } => Forbidden {
                provider,
                url: f(&url),
                reason: f(&reason),
            },
            TooManyRedirects {
                provider,
                url,
                limit,
            } => TooManyRedirects {
                provider,
                url: f(&url),
                limit,
            },
            Batch {
                provider,
                url,
                reason,
            } => Batch {
                provider,
                url: f(&url),
                reason: f(&reason),
            },
            other @ (CircuitOpen { .. } | CircuitProbing { .. } | Budget { .. }) => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn budget_message_names_cap_reset_and_fix() {
        let e = GatewayError::Budget {
            cap: "similarweb daily".into(),
            spent: 100.0,
            limit: 100.0,
            cost: 1.0,
            resets_at: Some(Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap()),
        };
        assert_eq!(
            e.to_string(),
            "budget cap `similarweb daily` reached (100/100 credits, this call costs 1); resets at \
             2026-11-22T00:00:00Z; raise [budget.providers.similarweb] daily or wait"
        );
    }
}
